// The Node function's group commit (bindings/js/sqlite-store.js): webhooks decided in the same
// turn of the event loop share one SQLite transaction, and none is answered before it commits.
// Against the real server, killed with SIGKILL as soon as answers have arrived (and once while
// others are still in flight): every webhook answered 200 is in the database, with its
// deliveries; the Initiate and Complete of one call sent at the same moment both land in the
// call's record (re-sent, each is a duplicate: neither write was lost), and the same webhook
// sent twice at once is accepted once and a duplicate once.
//
// Bounded: two rounds of 230 webhooks, 48 at a time. No assertion is on a timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startNodeFunction } from './start-server.mjs';

const root = new URL('../../../', import.meta.url).pathname;
const built = existsSync(join(root, 'bindings/js/dist/callhook_wasm.wasm'));
const skip = !built && 'the npm package is not built (bash bindings/js/build.sh)';
const dir = mkdtempSync(join(tmpdir(), 'callhook-group-commit-'));
const initiate = readFileSync(join(root, 'examples/payloads/initiate.form'), 'utf8');
const complete = readFileSync(join(root, 'examples/payloads/complete.form'), 'utf8');
const TOKEN = 'group-t0ken';
const withSid = (payload, sid) => payload.replace(/Call\.Sid=[^&]+/, `Call.Sid=${sid}`);

// A destination that never answers: every delivery stays in the outbox, to be read after the kill.
function startSilentReceiver() {
  const held = [];
  const server = http.createServer((req, res) => held.push(res));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: server.address().port,
    close() {
      for (const res of held.splice(0)) res.destroy();
      server.closeAllConnections();
      server.close();
    },
  })));
}

function stop(child, signal) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** POSTs over `agent`: {status, json} or {error}. */
function post(agent, url, body) {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', agent, timeout: 20_000,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, json, text });
      });
      res.on('error', (error) => resolve({ error: String(error.code ?? error.message) }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error) => resolve({ error: String(error.code ?? error.message) }));
    req.end(body);
  });
}

/** The round's webhooks: per call an Initiate and a Complete, sent together; some Initiates twice. */
function roundWebhooks(round) {
  const webhooks = [];
  for (let i = 0; i < 100; i++) {
    const sid = `CAgroup${round}x${i}`;
    webhooks.push({ sid, kind: 'initiate', body: withSid(initiate, sid) });
    webhooks.push({ sid, kind: 'complete', body: withSid(complete, sid) });
    if (i % 10 < 3) webhooks.push({ sid, kind: 'initiate', body: withSid(initiate, sid), twice: true });
  }
  return webhooks;
}

// The deliveries an accepted webhook adds (the config's routes), by idempotency key.
const deliveryKeys = (w) => (w.kind === 'initiate' ? [`${w.sid}:Call.Initiate:each`] : [`${w.sid}:Call.Complete:each`, `${w.sid}:complete:done`]);

/** Every record key and outbox idempotency key in the data folder's database (the server is dead). */
function readDatabase(dataDir) {
  const db = new Database(join(dataDir, 'callhook.sqlite'));
  try {
    return {
      records: db.prepare('SELECT key FROM records').all().map((r) => r.key),
      outbox: new Set(db.prepare('SELECT idempotency_key FROM outbox').all().map((r) => r.idempotency_key)),
    };
  } finally {
    db.close();
  }
}

test('webhooks committed together: every one answered 200 is in the database after a SIGKILL, correlation intact', { skip, timeout: 120_000 }, async (t) => {
  const receiver = await startSilentReceiver();
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify({
    auth: { token: { value: '${CALLHOOK_TOKEN}', in: 'path' } },
    correlation: { abandon_after_seconds: 3600, retention_seconds: 86400 },
    destinations: { sink: { url: `http://127.0.0.1:${receiver.port}/sink`, delivery: { timeout_seconds: 60 } } },
    routes: [{ name: 'each', to: ['sink'] }, { name: 'done', on: 'complete', to: ['sink'] }],
    delivery: { schedule_seconds: [3600], jitter: 0, attempts: 10 },
  }));
  const dataDir = join(dir, 'data');
  const env = { CALLHOOK_CONFIG: configPath, CALLHOOK_TOKEN: TOKEN, CALLHOOK_DATA_DIR: dataDir, CALLHOOK_SWEEP_SECONDS: '3600' };
  let agent = null;
  const answered = []; // every webhook answered 200, over both rounds
  try {
    // Round 0: killed once every answer has arrived. Round 1: killed at the 120th answer,
    // the rest still in flight.
    for (const [round, killAt] of [[0, Infinity], [1, 120]]) {
      const server = await startNodeFunction({ env });
      const hook = `${server.url}/hook/${TOKEN}`;
      agent = new http.Agent({ keepAlive: true, maxSockets: 48 });
      const webhooks = roundWebhooks(round);
      let answers = 0;
      let killed = null;
      await Promise.all(webhooks.map(async (w) => {
        w.answer = await post(agent, hook, w.body);
        if (w.answer.status !== undefined) answers += 1;
        if (answers >= killAt && !killed) killed = stop(server.child, 'SIGKILL');
      }));
      if (!killed) killed = stop(server.child, 'SIGKILL');
      await killed;
      agent.destroy();

      const ok = webhooks.filter((w) => w.answer.status === 200);
      const other = webhooks.filter((w) => w.answer.status !== undefined && w.answer.status !== 200);
      t.diagnostic(`round ${round}: ${webhooks.length} sent, ${ok.length} answered 200, ${other.length} answered otherwise, ` +
        `${webhooks.length - ok.length - other.length} unanswered at the kill`);
      assert.deepEqual(other.map((w) => w.answer.text), [], 'no webhook was refused');
      if (killAt === Infinity) assert.equal(ok.length, webhooks.length, 'every webhook was answered before the kill');
      else assert.ok(ok.length >= killAt && ok.length < webhooks.length, `killed with webhooks in flight (${ok.length} answered)`);

      // Every answered webhook's record and deliveries are in the database the killed process left.
      const { records, outbox } = readDatabase(dataDir);
      const recordOf = new Set(records.map((key) => key.slice(key.lastIndexOf(':') + 1)));
      assert.deepEqual(ok.filter((w) => !recordOf.has(w.sid)).map((w) => w.sid), [], 'every answered webhook has its record');
      const accepted = ok.filter((w) => w.answer.json?.status === 'accepted');
      assert.deepEqual(accepted.flatMap(deliveryKeys).filter((k) => !outbox.has(k)), [], 'every accepted webhook has its deliveries');

      // The same webhook sent twice at once: accepted once, a duplicate once, never accepted twice.
      for (const w of webhooks.filter((x) => x.twice)) {
        const both = webhooks.filter((x) => x.sid === w.sid && x.kind === 'initiate').map((x) => x.answer);
        if (both.every((a) => a.status === 200)) {
          assert.deepEqual(both.map((a) => a.json?.status).sort(), ['accepted', 'duplicate'], `${w.sid}'s Initiate sent twice at once`);
        } else {
          assert.ok(both.filter((a) => a.json?.status === 'accepted').length <= 1, `${w.sid}'s Initiate accepted at most once`);
        }
      }
      // The Initiate and Complete of one call, sent at once, are both accepted when all of the
      // call's webhooks were answered (an Initiate sent twice: one of the two).
      const pairs = new Map();
      for (const w of webhooks) pairs.set(w.sid, [...(pairs.get(w.sid) ?? []), w]);
      const notBoth = [...pairs].filter(([, ws]) => ws.every((x) => x.answer.status === 200)).map(([sid, ws]) => [sid, ws.map((x) => x.answer)])
        .filter(([, a]) => a.filter((x) => x.json?.status === 'accepted').length !== 2);
      assert.deepEqual(notBoth.map(([sid, a]) => [sid, a.map((x) => x.json?.status)]), [], 'both events of a call are accepted');
      answered.push(...ok);
    }

    // Started again: every webhook answered 200 before a kill is a duplicate now. Both the
    // Initiate and the Complete of a call sent together are in its record: neither overwrote the other.
    const server = await startNodeFunction({ env });
    const hook = `${server.url}/hook/${TOKEN}`;
    const again = new http.Agent({ keepAlive: true, maxSockets: 16 });
    try {
      const resent = await Promise.all(answered.map(async (w) => ({ w, answer: await post(again, hook, w.body) })));
      const notDuplicate = resent.filter(({ answer }) => answer.status !== 200 || answer.json?.status !== 'duplicate')
        .map(({ w, answer }) => ({ sid: w.sid, kind: w.kind, status: answer.status, body: answer.json?.status ?? answer.error }));
      t.diagnostic(`${resent.length} answered webhooks re-sent after the kills`);
      assert.deepEqual(notDuplicate, [], 'every webhook answered before a kill is a duplicate after it');
    } finally {
      again.destroy();
      // Killed: a graceful stop would wait for the deliveries the silent destination holds.
      await stop(server.child, 'SIGKILL');
    }
  } finally {
    agent?.destroy();
    receiver.close();
  }
});

// Ignores SIGXFSZ in the server, so a write past `ulimit -f` fails (EFBIG) instead of killing it.
const ignoreFileSizeSignal = `data:text/javascript,${encodeURIComponent("process.on('SIGXFSZ', () => {});")}`;

test('a batch whose commit fails answers every webhook in it store-unavailable, and none of it is stored', { skip, timeout: 120_000 }, async (t) => {
  const configPath = join(dir, 'config-full.json');
  writeFileSync(configPath, JSON.stringify({
    auth: { token: { value: '${CALLHOOK_TOKEN}', in: 'path' } },
    correlation: { abandon_after_seconds: 3600, retention_seconds: 86400 },
    routes: [], destinations: {},
  }));
  const dataDir = join(dir, 'data-full');
  // The database and its WAL may not grow past 384 KiB: after some batches every commit fails.
  const server = await startNodeFunction({
    env: { CALLHOOK_CONFIG: configPath, CALLHOOK_TOKEN: TOKEN, CALLHOOK_DATA_DIR: dataDir, CALLHOOK_SWEEP_SECONDS: '3600' },
    preload: [ignoreFileSizeSignal], fileSizeLimitKb: 384,
  });
  const hook = `${server.url}/hook/${TOKEN}`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const webhooks = [];
  try {
    // Rounds of 32 at once, until a round has refusals (at most 40 rounds).
    for (let round = 0; round < 40 && !webhooks.some((w) => w.answer.status === 503); round++) {
      const sent = Array.from({ length: 32 }, (_, i) => {
        const sid = `CAfull${round}x${i}`;
        return { sid, body: withSid(i % 2 ? complete : initiate, sid) };
      });
      await Promise.all(sent.map(async (w) => { w.answer = await post(agent, hook, w.body); }));
      webhooks.push(...sent);
    }
  } finally {
    agent.destroy();
    await stop(server.child, 'SIGKILL');
  }
  const ok = webhooks.filter((w) => w.answer.status === 200);
  const refused = webhooks.filter((w) => w.answer.status === 503);
  t.diagnostic(`${webhooks.length} sent: ${ok.length} answered 200, ${refused.length} answered 503`);
  assert.deepEqual(webhooks.filter((w) => w.answer.status !== 200 && w.answer.status !== 503).map((w) => w.answer.text ?? w.answer.error), [],
    'every webhook was answered 200 or 503');
  assert.ok(ok.length > 0 && refused.length > 0, 'some batches committed, then the commits failed');
  for (const w of refused) assert.equal(w.answer.json?.type, 'urn:callhook:problem:store-unavailable', w.answer.text);
  const { records } = readDatabase(dataDir);
  const stored = new Set(records.map((key) => key.slice(key.lastIndexOf(':') + 1)));
  assert.deepEqual(ok.filter((w) => !stored.has(w.sid)).map((w) => w.sid), [], 'every webhook answered 200 is stored');
  assert.deepEqual(refused.filter((w) => stored.has(w.sid)).map((w) => w.sid), [], 'no webhook answered 503 is stored');
});
