// The Node function's durability, against the real server killed with SIGKILL (never a method
// call standing in for a crash): accepted webhooks are never lost across kills at random
// moments (SQLite), overdue calls are swept at start, a dead Redis instance's held deliveries
// are taken over by another, the outbox and the connections are bounded under load, and no
// secret value is ever at rest (SQLite files, Redis keys, logs).
//
// Seeded randomness: CALLHOOK_DURABILITY_SEED=N replays a run (the seed is printed as a
// diagnostic). Every loop is bounded in count and wall time; no assertion is on a timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisSkip, startRedis } from '../redis-server.mjs';
import { startNodeFunction } from './start-server.mjs';

const root = new URL('../../../', import.meta.url).pathname;
const built = existsSync(join(root, 'bindings/js/dist/callhook_wasm.wasm'));
const skip = !built && 'the npm package is not built (bash bindings/js/build.sh)';
// Under CI a missing redis-server fails the Redis tests (startRedis throws) instead of skipping.
const ci = process.env.CI === 'true' || process.env.CI === '1';
const redisMissing = skip || (ci ? false : redisSkip);
const dir = mkdtempSync(join(tmpdir(), 'callhook-durability-'));
const initiate = readFileSync(join(root, 'examples/payloads/initiate.form'), 'utf8');
const complete = readFileSync(join(root, 'examples/payloads/complete.form'), 'utf8');
const TOKEN = 'durability-t0ken';
const form = { 'content-type': 'application/x-www-form-urlencoded' };

const withSid = (payload, sid) => payload.replace(/Call\.Sid=[^&]+/, `Call.Sid=${sid}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// mulberry32: a small seeded PRNG, so a failing run can be replayed.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const seed = Number(process.env.CALLHOOK_DURABILITY_SEED ?? (Date.now() % 2 ** 31));

// FNV-1a: which keys a receiver fails, fixed by the key and the seed (not by arrival order).
function hash(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * A loopback destination. `answer({key, attempt, path, headers})` gives the status to answer, or
 * 'hang' to hold the request until release(). Every request is recorded; `delivered` maps each
 * idempotency key to the bodies answered 2xx.
 */
function startReceiver(answer = () => 200) {
  const requests = [];
  const delivered = new Map();
  const attempts = new Map();
  const held = [];
  const state = { answer };
  const respond = (entry, res, status) => {
    entry.status = status;
    if (status >= 200 && status < 300) {
      if (!delivered.has(entry.key)) delivered.set(entry.key, []);
      delivered.get(entry.key).push(entry.body);
    }
    if (!res.destroyed) res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const key = req.headers['idempotency-key'] ?? '';
      const attempt = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, attempt);
      const entry = { key, attempt, path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString(), status: null };
      requests.push(entry);
      const status = state.answer(entry);
      if (status === 'hang') held.push({ entry, res });
      else respond(entry, res, status);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: server.address().port, requests, delivered, attempts, held, state,
    /** Drops the held requests unanswered (their senders are gone, or will retry). */
    dropHeld() {
      for (const { entry, res } of held.splice(0)) {
        entry.status = 'dropped';
        res.destroy();
      }
    },
    close() {
      for (const { res } of held.splice(0)) res.destroy();
      server.closeAllConnections();
      server.close();
    },
  })));
}

function writeConfig(name, config) {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

function baseConfig(port, extra = {}) {
  return {
    auth: { token: { value: '${CALLHOOK_TOKEN}', in: 'path' } },
    correlation: { abandon_after_seconds: 3600, retention_seconds: 86400 },
    destinations: { sink: { url: `http://127.0.0.1:${port}/sink` } },
    routes: [{ name: 'each', to: ['sink'] }, { name: 'done', on: 'complete', to: ['sink'] }],
    delivery: { schedule_seconds: [0.05], jitter: 0, attempts: 100 },
    ...extra,
  };
}

function startServer(config, env = {}, options = {}) {
  return startNodeFunction({ env: { CALLHOOK_CONFIG: config, CALLHOOK_TOKEN: TOKEN, ...env }, ...options });
}

// Resolves once the child has exited (at once if it already has).
function stop(child, signal = 'SIGTERM') {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode ?? child.signalCode);
    child.once('exit', (code, sig) => resolve(code ?? sig));
    child.kill(signal);
  });
}
const kill = (child) => stop(child, 'SIGKILL');

async function until(check, ms = 5000, every = 25) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await sleep(every);
  }
  return Boolean(await check());
}

/** POSTs a webhook: {status, headers, text, json} or {error} (refused, reset, timed out). */
async function post(url, body, timeoutMs = 10_000) {
  try {
    const r = await fetch(url, { method: 'POST', headers: form, body, signal: AbortSignal.timeout(timeoutMs) });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, headers: r.headers, text, json };
  } catch (error) {
    return { error: String(error?.cause?.code ?? error?.message ?? error) };
  }
}

/** /healthz over a fresh connection: {status, json} or {error}. */
function healthz(url, timeoutMs = 3000) {
  return new Promise((resolve) => {
    const req = http.get(`${url}/healthz`, { agent: false, timeout: timeoutMs }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error) => resolve({ error: String(error.message) }));
  });
}

// Runs fn over items with at most `limit` at once.
async function pool(items, limit, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await fn(item);
    }
  }));
}

function shuffle(list, random) {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}

const accepted = (answer) => answer.status === 200 && (answer.json?.status === 'accepted' || answer.json?.status === 'duplicate');

test('SQLite: killed with SIGKILL at random moments, every accepted webhook is delivered and deduplicated', { skip, timeout: 90_000 }, async (t) => {
  t.diagnostic(`seed ${seed} (CALLHOOK_DURABILITY_SEED=${seed} replays it)`);
  const random = prng(seed);
  // Fails the first attempt of about a third of the keys, so retries cross the kills too.
  const receiver = await startReceiver(({ key, attempt }) => (attempt === 1 && hash(`${seed}:${key}`) % 3 === 0 ? 500 : 200));
  const config = writeConfig('kill', baseConfig(receiver.port, { correlation: { abandon_after_seconds: 86400, retention_seconds: 172800 } }));
  const env = { CALLHOOK_DATA_DIR: join(dir, 'kill-data'), CALLHOOK_SWEEP_SECONDS: '3600' };

  // A webhook: kind 'initiate' | 'complete'; `pairedAfter`: for a Complete, its Initiate was
  // accepted before this Complete was first sent.
  const webhooks = [];
  const make = (kind, sid, extra = {}) => {
    const w = { id: webhooks.length, kind, sid, body: withSid(kind === 'initiate' ? initiate : complete, sid),
      accepted: false, acceptedRound: null, answers: [], ...extra };
    webhooks.push(w);
    return w;
  };
  const calls = []; // {sid, initiate, complete}
  const resends = []; // {of, round, answers}: re-sends of webhooks accepted in an earlier round
  let unanswered = []; // sends with no accepting answer: the sender tries again next round
  const rounds = 4;
  let sid = 0;

  for (let round = 0; round < rounds; round++) {
    const server = await startServer(config, env);
    const hook = `${server.url}/hook/${TOKEN}`;
    const sends = [];
    for (let i = 0; i < 8; i++) {
      const s = `CAkill${seed}x${sid++}`;
      const call = { sid: s, initiate: make('initiate', s), complete: null };
      calls.push(call);
      sends.push({ webhook: call.initiate });
    }
    for (let i = 0; i < 2; i++) sends.push({ webhook: make('complete', `CAorphan${seed}x${sid++}`, { orphan: true }) });
    for (const call of calls) {
      if (call.complete === null && call.initiate.accepted && call.initiate.acceptedRound < round) {
        call.complete = make('complete', call.sid, { pairedAfter: true });
        sends.push({ webhook: call.complete });
      }
    }
    const earlier = webhooks.filter((w) => w.accepted && w.acceptedRound < round);
    for (const w of shuffle([...earlier], random).slice(0, 6)) {
      const resend = { of: w, round, answers: [] };
      resends.push(resend);
      sends.push({ webhook: w, resend });
    }
    sends.push(...unanswered);
    unanswered = [];
    shuffle(sends, random);

    // SIGKILL once a random number of them has been answered: the others are in flight.
    const killAfter = 1 + Math.floor(random() * Math.max(1, sends.length - 3));
    let answered = 0;
    let killed = null;
    await pool(sends, 6, async (send) => {
      const answer = await post(hook, send.webhook.body);
      (send.resend ?? send.webhook).answers.push({ round, ...answer });
      if (accepted(answer)) {
        if (!send.webhook.accepted) {
          send.webhook.accepted = true;
          send.webhook.acceptedRound = round;
        }
      } else {
        unanswered.push(send);
      }
      if (answer.status !== undefined) answered += 1;
      if (answered >= killAfter && !killed) killed = kill(server.child);
    });
    if (!killed) killed = kill(server.child);
    await killed;
    t.diagnostic(`round ${round}: ${sends.length} sent, killed after ${killAfter} answers, ${unanswered.length} to send again`);
  }

  // The last start: the sender's retries go through and the outbox drains.
  const server = await startServer(config, env);
  const hook = `${server.url}/hook/${TOKEN}`;
  try {
    for (let tries = 0; tries < 5 && unanswered.length > 0; tries++) {
      const again = unanswered;
      unanswered = [];
      await pool(again, 6, async (send) => {
        const answer = await post(hook, send.webhook.body);
        (send.resend ?? send.webhook).answers.push({ round: rounds, ...answer });
        if (accepted(answer)) {
          if (!send.webhook.accepted) {
            send.webhook.accepted = true;
            send.webhook.acceptedRound = rounds;
          }
        } else {
          unanswered.push(send);
        }
      });
    }
    assert.deepEqual(unanswered.map((s) => s.webhook.answers.at(-1)), [], 'the server up for good accepts every retry');

    const expected = new Set();
    for (const w of webhooks.filter((x) => x.accepted)) {
      if (w.kind === 'initiate') expected.add(`${w.sid}:Call.Initiate:each`);
      else {
        expected.add(`${w.sid}:Call.Complete:each`);
        expected.add(`${w.sid}:complete:done`);
      }
    }
    const missing = () => [...expected].filter((k) => !receiver.delivered.has(k));
    let health = null;
    await until(async () => {
      health = await healthz(server.url);
      return health.json?.pending === 0 && missing().length === 0;
    }, 30_000, 100);
    t.diagnostic(`${webhooks.filter((w) => w.accepted).length} webhooks accepted, ${expected.size} deliveries expected, ` +
      `${receiver.requests.length} requests at the destination, health ${JSON.stringify(health)}`);
    assert.deepEqual(missing(), [], `every delivery of every accepted webhook arrived (seed ${seed})`);
    assert.equal(health.json?.pending, 0, 'the outbox drained');

    // Every answer a server gave to a first send or a retry was an acceptance (200).
    const refused = webhooks.flatMap((w) => w.answers.filter((a) => a.status !== undefined && a.status !== 200)
      .map((a) => ({ sid: w.sid, kind: w.kind, round: a.round, status: a.status, text: a.text })));
    assert.deepEqual(refused, [], 'no webhook was refused');

    // A webhook accepted in an earlier round, sent again, is a duplicate whenever it is answered.
    const resendAnswers = resends.flatMap((r) => r.answers.filter((a) => a.status !== undefined)
      .map((a) => ({ sid: r.of.sid, kind: r.of.kind, accepted: r.of.acceptedRound, sent: r.round, status: a.status, body: a.json?.status })));
    assert.ok(resendAnswers.length > 0, 'some re-sends were answered');
    assert.deepEqual(resendAnswers.filter((a) => a.status !== 200 || a.body !== 'duplicate'), [],
      `every answered re-send of an accepted webhook is a duplicate (seed ${seed})`);

    // A Complete sent only after its Initiate was accepted sees the Initiate.
    const paired = webhooks.filter((w) => w.pairedAfter && w.accepted);
    assert.ok(paired.length > 0, 'some Completes followed their accepted Initiate');
    const unseen = [];
    for (const w of paired) {
      for (const body of receiver.delivered.get(`${w.sid}:complete:done`) ?? []) {
        if (JSON.parse(body).correlation?.initiate_seen !== true) unseen.push({ sid: w.sid, correlation: JSON.parse(body).correlation });
      }
    }
    assert.deepEqual(unseen, [], `complete routes carry correlation.initiate_seen: true (seed ${seed})`);
  } finally {
    await stop(server.child);
    receiver.close();
  }
});

// A preloaded clock for the server (real time plus CALLHOOK_TEST_CLOCK_OFFSET_MS), as the
// exchange tests preload theirs: the shell itself is unchanged.
const clockPreload = `data:text/javascript,${encodeURIComponent(
  'const offset = Number(process.env.CALLHOOK_TEST_CLOCK_OFFSET_MS || 0); const now = Date.now.bind(Date); Date.now = () => now() + offset;')}`;

test('overdue Initiates kept across a SIGKILL are swept when the server starts again', { skip, timeout: 60_000 }, async (t) => {
  const receiver = await startReceiver();
  const extra = {
    routes: [{ name: 'each', to: ['sink'] }, { name: 'gone', on: 'abandoned', to: ['sink'] }],
  };
  // The core refuses abandon_after_seconds below 60, so the overdue call is made by starting
  // the second server 61 s ahead on a preloaded clock instead of waiting.
  const tooShort = writeConfig('abandon-1s', baseConfig(receiver.port, { ...extra, correlation: { abandon_after_seconds: 1, retention_seconds: 3600 } }));
  const refused = await startServer(tooShort, { CALLHOOK_STORE: 'memory' }).then(({ child }) => kill(child).then(() => 'started'), (error) => String(error.message));
  t.diagnostic(`abandon_after_seconds 1: ${refused.slice(0, 300)}`);
  assert.match(refused, /start_failed|exited 1/, 'a config with abandon_after_seconds 1 is refused at start');

  const config = writeConfig('abandon', baseConfig(receiver.port, { ...extra, correlation: { abandon_after_seconds: 60, retention_seconds: 3600 } }));
  const env = { CALLHOOK_DATA_DIR: join(dir, 'abandon-data'), CALLHOOK_SWEEP_SECONDS: '3600' };
  const sid = `CAabandon${seed}`;
  let server = await startServer(config, env);
  const answer = await post(`${server.url}/hook/${TOKEN}`, withSid(initiate, sid));
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.json.status, 'accepted');
  await kill(server.child);
  await sleep(1500);
  server = await startServer(config, { ...env, CALLHOOK_TEST_CLOCK_OFFSET_MS: '61000' }, { preload: [clockPreload] });
  try {
    assert.ok(await until(() => receiver.delivered.has(`${sid}:abandoned:gone`), 10_000),
      `the abandoned route's delivery arrives: ${JSON.stringify(receiver.requests.map((r) => [r.key, r.status]))}`);
    assert.ok(await until(() => receiver.delivered.has(`${sid}:Call.Initiate:each`), 5000), 'and the Initiate\'s own delivery');
    const body = JSON.parse(receiver.delivered.get(`${sid}:abandoned:gone`)[0]);
    assert.equal(body.correlation?.state, 'abandoned');
  } finally {
    await stop(server.child);
    receiver.close();
  }
});

test('Redis: an instance killed for good while holding deliveries; the other delivers them', { skip: redisMissing, timeout: 90_000 }, async (t) => {
  const redis = await startRedis();
  // Holds every request until the destination is made healthy.
  const receiver = await startReceiver(() => 'hang');
  const config = writeConfig('redis-kill', baseConfig(receiver.port, {
    delivery: { schedule_seconds: [0.2], jitter: 0, attempts: 100, timeout_seconds: 60 },
  }));
  const env = {
    CALLHOOK_REDIS_URL: redis.url, CALLHOOK_REDIS_PREFIX: `kill${seed}:`, CALLHOOK_REDIS_CLAIM_IDLE_SECONDS: '2',
    CALLHOOK_DELIVERY_CONCURRENCY: '64', CALLHOOK_DESTINATION_CONCURRENCY: '64', CALLHOOK_SWEEP_SECONDS: '3600',
  };
  const children = [];
  const start = async (instance) => {
    const server = await startServer(config, { ...env, CALLHOOK_INSTANCE: instance });
    children.push(server.child);
    return server;
  };
  try {
    const a = await start('a');
    const sent = [];
    for (let i = 0; i < 8; i++) {
      const sid = `CAredis${seed}x${i}`;
      sent.push({ sid, body: withSid(initiate, sid), keys: [`${sid}:Call.Initiate:each`] });
      sent.push({ sid, body: withSid(complete, sid), keys: [`${sid}:Call.Complete:each`, `${sid}:complete:done`] });
    }
    for (const w of sent) {
      w.answer = await post(`${a.url}/hook/${TOKEN}`, w.body);
      assert.equal(w.answer.status, 200, w.answer.text);
    }
    const expected = sent.flatMap((w) => w.keys);
    // A claims them and holds them in flight (the destination does not answer).
    const heldByA = await until(() => new Set(receiver.held.map((h) => h.entry.key)).size === expected.length, 10_000);
    t.diagnostic(`A holds ${new Set(receiver.held.map((h) => h.entry.key)).size} of ${expected.length} deliveries in flight`);
    assert.ok(heldByA, 'A has every delivery in flight before it is killed');
    const b = await start('b');
    await kill(a.child);
    // The destination is healthy from now on; what A held was never answered.
    receiver.state.answer = () => 200;
    receiver.dropHeld();
    const missing = () => expected.filter((k) => !receiver.delivered.has(k));
    assert.ok(await until(() => missing().length === 0, 20_000, 100), `B delivered every delivery A held: missing ${JSON.stringify(missing())}`);

    // A's webhooks sent again to B are duplicates.
    for (const w of sent.slice(0, 4)) {
      const again = await post(`${b.url}/hook/${TOKEN}`, w.body);
      assert.equal(again.status, 200, again.text);
      assert.equal(again.json.status, 'duplicate', `${w.sid} re-sent to B`);
    }

    // B killed and started again under the same name accepts at once.
    await kill(b.child);
    const b2 = await start('b');
    const sid = `CAredis${seed}after`;
    const first = await post(`${b2.url}/hook/${TOKEN}`, withSid(initiate, sid));
    assert.equal(first.status, 200, `accepted at once after the restart, not 503: ${first.text}`);
    assert.equal(first.json.status, 'accepted');
    const health = await healthz(b2.url);
    assert.equal(health.status, 200, JSON.stringify(health));
    assert.ok(await until(() => receiver.delivered.has(`${sid}:Call.Initiate:each`), 10_000), 'its delivery arrives');
    await stop(b2.child);
  } finally {
    for (const child of children) await kill(child);
    receiver.close();
    await redis.stop();
  }
});

function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return 1024 * Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)[1]);
}

test('under load the outbox is capped: outbox-full 503s with Retry-After, pending bounded, memory flat', { skip, timeout: 90_000 }, async (t) => {
  const receiver = await startReceiver(() => 503);
  const cap = 200;
  const config = writeConfig('load', baseConfig(receiver.port, {
    // Webhooks from country ZZ match no route: no deliveries.
    routes: [{ name: 'each', when: { 'Call.From.Country': { $neq: 'ZZ' } }, to: ['sink'] }],
    delivery: { schedule_seconds: [0.5], jitter: 0, attempts: 1000 },
  }));
  const server = await startServer(config, { CALLHOOK_DATA_DIR: join(dir, 'load-data'), CALLHOOK_MAX_PENDING: String(cap),
    CALLHOOK_SWEEP_SECONDS: '3600' });
  const hook = `${server.url}/hook/${TOKEN}`;
  let maxPending = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const h = await healthz(server.url);
      if (Number.isFinite(h.json?.pending)) maxPending = Math.max(maxPending, h.json.pending);
      await sleep(50);
    }
  })();
  try {
    const total = 1500;
    const answers = [];
    let rssEarly = null;
    let clock = 0; // orders sends and answers
    for (let batch = 0; batch < total / 100; batch++) {
      const items = Array.from({ length: 100 }, (_, i) => batch * 100 + i);
      await pool(items, 20, async (n) => {
        const sentAt = clock++;
        answers[n] = { ...(await post(hook, withSid(initiate, `CAload${seed}x${n}`))), sentAt, answeredAt: clock++ };
      });
      if (batch === 2) rssEarly = rssBytes(server.child.pid);
    }
    const rssLate = rssBytes(server.child.pid);
    const ok = answers.filter((a) => a.status === 200);
    const full = answers.filter((a) => a.status === 503);
    const other = answers.filter((a) => a.status !== 200 && a.status !== 503);
    t.diagnostic(`${ok.length} accepted, ${full.length} answered 503, ${other.length} other; max pending ${maxPending}; ` +
      `RSS ${(rssEarly / 2 ** 20).toFixed(1)} MB after 300, ${(rssLate / 2 ** 20).toFixed(1)} MB after ${total}`);
    assert.deepEqual(other.map((a) => a.status ?? a.error), [], 'every webhook was answered 200 or 503');
    assert.equal(ok.length, cap, 'exactly as many accepted as the cap holds (the destination never takes one)');
    assert.ok(full.length > 0, 'the cap was reached');
    // Nothing leaves the outbox (the destination never takes a delivery), so every webhook sent
    // after the first refusal was answered is refused too.
    const firstFull = Math.min(...full.map((a) => a.answeredAt));
    const afterFull = answers.filter((a) => a.sentAt > firstFull);
    assert.ok(afterFull.length > 1000, `${afterFull.length} sent after the first refusal`);
    assert.deepEqual([...new Set(afterFull.map((a) => a.status))], [503], 'once full, every new webhook is refused');
    for (const a of full) {
      assert.match(a.headers.get('content-type') ?? '', /application\/problem\+json/);
      assert.ok(a.headers.get('retry-after'), 'a Retry-After header');
      assert.equal(a.json?.type, 'urn:callhook:problem:outbox-full', a.text);
      assert.equal(a.json?.status, 503);
    }
    const health = await healthz(server.url);
    maxPending = Math.max(maxPending, health.json?.pending ?? 0);
    assert.equal(health.status, 200, 'healthy while full: the store answers');
    assert.ok(maxPending <= cap, `pending never exceeds the cap (${maxPending})`);
    assert.ok(rssLate - rssEarly < 60 * 2 ** 20, `RSS stays flat: ${rssEarly} → ${rssLate} bytes`);

    // A webhook with no deliveries asks nothing of the outbox: accepted while it is full.
    const noRoute = await post(hook, withSid(initiate, `CAload${seed}none`).replace(/Call\.From\.Country=[^&]*/, 'Call.From.Country=ZZ'));
    t.diagnostic(`a webhook matching no route while full: ${noRoute.status} ${noRoute.text}`);
    assert.equal(noRoute.status, 200, noRoute.text);
    assert.equal(noRoute.json.status, 'accepted');
    assert.equal(noRoute.json.deliveries, 0);
  } finally {
    polling = false;
    await poller;
    await stop(server.child);
    receiver.close();
  }
});

/** Connects and collects what arrives until the server closes or `ms` pass: {text, closed}. */
function rawSocket(url, write = null, ms = 5000) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname, () => { if (write) socket.write(write); });
    let text = '';
    const timer = setTimeout(() => { socket.destroy(); resolve({ text, closed: false }); }, ms);
    socket.on('data', (c) => { text += c; });
    socket.on('close', () => { clearTimeout(timer); resolve({ text, closed: true }); });
    socket.on('error', () => {});
  });
}

function parseRaw(text) {
  const at = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = text.slice(0, Math.max(0, at)).split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  let body = null;
  try { body = JSON.parse(text.slice(at + 4)); } catch { /* none */ }
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

test('past CALLHOOK_MAX_CONNECTIONS a connection gets the overloaded 503; a slow client gets a 408', { skip, timeout: 60_000 }, async () => {
  const receiver = await startReceiver();
  const config = writeConfig('conns', baseConfig(receiver.port));
  let server = await startServer(config, { CALLHOOK_STORE: 'memory', CALLHOOK_MAX_CONNECTIONS: '5',
    CALLHOOK_HEADERS_TIMEOUT_SECONDS: '20', CALLHOOK_REQUEST_TIMEOUT_SECONDS: '30' });
  const { hostname, port } = new URL(server.url);
  const idle = [];
  try {
    for (let i = 0; i < 5; i++) {
      idle.push(await new Promise((resolve, reject) => {
        const s = net.connect(Number(port), hostname, () => resolve(s));
        s.on('error', reject);
      }));
    }
    await sleep(100); // let the server take them in
    const sixth = await rawSocket(server.url);
    assert.ok(sixth.closed, 'the sixth connection is closed by the server');
    const answer = parseRaw(sixth.text);
    assert.equal(answer.status, 503, sixth.text);
    assert.match(answer.headers['content-type'] ?? '', /application\/problem\+json/);
    assert.equal(answer.body?.type, 'urn:callhook:problem:overloaded');
    assert.equal(answer.body?.status, 503);
    for (const s of idle) s.destroy();
    assert.ok(await until(async () => (await healthz(server.url)).status === 200, 5000), 'a new request goes through once they are closed');
    const hook = await new Promise((resolve) => {
      const req = http.request(`${server.url}/hook/${TOKEN}`, { method: 'POST', agent: false, headers: form }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', (e) => resolve(String(e)));
      req.end(withSid(initiate, `CAconn${seed}`));
    });
    assert.equal(hook, 200, 'and a webhook is accepted');
  } finally {
    for (const s of idle) s.destroy();
    await stop(server.child);
  }

  server = await startServer(config, { CALLHOOK_STORE: 'memory', CALLHOOK_HEADERS_TIMEOUT_SECONDS: '1', CALLHOOK_REQUEST_TIMEOUT_SECONDS: '2' });
  try {
    const slow = await rawSocket(server.url, `POST /hook/${TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n`, 10_000); // half its headers
    const answer = parseRaw(slow.text);
    assert.equal(answer.status, 408, slow.text);
    assert.equal(answer.body?.type, 'urn:callhook:problem:request-timeout');
    assert.equal(answer.body?.status, 408);
    assert.equal((await healthz(server.url)).status, 200, 'the server stays up');
  } finally {
    await stop(server.child);
    receiver.close();
  }
});

// Long, distinctive secret values: in a URL query, a header and the webhook's path token.
const secrets = {
  GA4_SECRET: `ga4-api-secret-${randomBytes(16).toString('hex')}`,
  API_TOKEN: `crm-api-token-${randomBytes(16).toString('hex')}`,
  CALLHOOK_TOKEN: `path-token-${randomBytes(16).toString('hex')}`,
};

function secretConfig(name, port) {
  return writeConfig(name, {
    auth: { token: { value: '${CALLHOOK_TOKEN}', in: 'path' } },
    correlation: { abandon_after_seconds: 3600, retention_seconds: 86400 },
    destinations: {
      // Retried for as long as the test runs: stays in the outbox.
      ga4: { url: `http://127.0.0.1:${port}/mp/collect?measurement_id=G-TEST&api_secret=\${GA4_SECRET}`,
        delivery: { attempts: 1000, schedule_seconds: [0.3] } },
      // Two attempts, then a dead letter (or at once, on a 400).
      crm: { url: `http://127.0.0.1:${port}/crm`, headers: { Authorization: 'Bearer ${API_TOKEN}', 'X-Api-Token': '${API_TOKEN}' },
        delivery: { attempts: 2, schedule_seconds: [0.05] } },
    },
    routes: [{ name: 'each', to: ['ga4', 'crm'] }, { name: 'done', on: 'complete', to: ['ga4', 'crm'] }],
    delivery: { jitter: 0 },
  });
}

// The destination: 400 for complete routes (dead at once), 500 for the rest (retried).
const failing = ({ key }) => (key.includes(':complete:') ? 400 : 500);

/** Runs webhooks through a server whose destination fails, until both pending and dead letters exist. */
async function secretTraffic(server, receiver) {
  const hook = `${server.url}/hook/${secrets.CALLHOOK_TOKEN}`;
  for (let i = 0; i < 6; i++) {
    const sid = `CAsecret${seed}x${i}`;
    for (const body of [withSid(initiate, sid), withSid(complete, sid), withSid(complete, sid)]) {
      const answer = await post(hook, body);
      assert.equal(answer.status, 200, answer.text);
    }
  }
  let health = null;
  const settled = await until(async () => {
    health = await healthz(server.url);
    return health.json?.pending > 0 && health.json?.dead_letters >= 12;
  }, 15_000, 100);
  assert.ok(settled, `deliveries pending and dead letters kept: ${JSON.stringify(health)}`);
  // The secrets were really used: the destination saw each of them.
  const seen = receiver.requests.map((r) => `${r.path} ${JSON.stringify(r.headers)}`).join('\n');
  assert.ok(seen.includes(`api_secret=${secrets.GA4_SECRET}`), 'the query secret reached the destination');
  assert.ok(seen.includes(`Bearer ${secrets.API_TOKEN}`), 'the header secret reached the destination');
}

function assertNoSecret(text, where) {
  for (const [name, value] of Object.entries(secrets)) {
    for (const form of [value, encodeURIComponent(value), Buffer.from(value).toString('base64').slice(0, 24)]) {
      assert.ok(!text.includes(form), `${where} holds ${name}`);
    }
  }
}

// Everything a server printed: its parsed log lines up to `listening`, raw bytes after.
function captureOutput(server) {
  const raw = [];
  server.child.stdout.on('data', (c) => raw.push(c));
  server.child.stderr.on('data', (c) => raw.push(c));
  return () => JSON.stringify(server.logs) + Buffer.concat(raw).toString('latin1');
}

function listFiles(path) {
  return readdirSync(path, { withFileTypes: true }).flatMap((e) => (e.isDirectory()
    ? [join(path, e.name), ...listFiles(join(path, e.name))] : [join(path, e.name)]));
}

test('no secret at rest: SQLite files, their modes and the server output, after a SIGKILL', { skip, timeout: 60_000 }, async (t) => {
  const receiver = await startReceiver(failing);
  const data = join(dir, 'secret-data');
  const server = await startServer(secretConfig('secret', receiver.port), { ...secrets, CALLHOOK_DATA_DIR: data, CALLHOOK_SWEEP_SECONDS: '3600' });
  const output = captureOutput(server);
  try {
    await secretTraffic(server, receiver);
  } finally {
    await kill(server.child);
    receiver.close();
  }
  const entries = listFiles(data);
  t.diagnostic(`files: ${entries.map((f) => `${f.slice(data.length + 1)} ${(statSync(f).mode & 0o777).toString(8)} ${statSync(f).size}`).join(', ')}`);
  assert.ok(entries.some((f) => f.endsWith('-wal')), 'the WAL is there to be read');
  assert.equal(statSync(data).mode & 0o777, 0o700, 'the data dir is 0700');
  for (const file of entries) {
    const st = statSync(file);
    if (st.isDirectory()) {
      assert.equal(st.mode & 0o777, 0o700, `${file} is 0700`);
      continue;
    }
    assert.equal(st.mode & 0o777, 0o600, `${file} is 0600`);
    assertNoSecret(readFileSync(file).toString('latin1'), file);
  }
  // What was read holds the deliveries, sealed: references where the secrets were.
  const all = entries.filter((f) => statSync(f).isFile()).map((f) => readFileSync(f).toString('latin1')).join('\n');
  for (const reference of ['CAsecret', '${GA4_SECRET}', '${API_TOKEN}']) assert.ok(all.includes(reference), `the files hold ${reference}`);
  assertNoSecret(output(), 'the server output');
});

/** Every key and value in a Redis database, as text, read by each key's type. */
async function dumpRedis(client) {
  const flat = (v) => (Array.isArray(v) ? v.map(flat).join('\n') : v && typeof v === 'object' && !Buffer.isBuffer(v)
    ? Object.entries(v).map(([k, x]) => `${k}\n${flat(x)}`).join('\n') : String(v));
  const parts = [];
  let cursor = '0';
  let keys = 0;
  do {
    const [next, batch] = await client.sendCommand(['SCAN', cursor, 'COUNT', '1000']);
    cursor = String(next);
    for (const key of batch.map(String)) {
      keys += 1;
      const type = String(await client.sendCommand(['TYPE', key]));
      const read = {
        string: ['GET', key], hash: ['HGETALL', key], list: ['LRANGE', key, '0', '-1'], set: ['SMEMBERS', key],
        zset: ['ZRANGE', key, '0', '-1', 'WITHSCORES'], stream: ['XINFO', 'STREAM', key, 'FULL'],
      }[type];
      parts.push(`${type} ${key}`);
      if (read) parts.push(flat(await client.sendCommand(read)));
      if (type === 'stream') parts.push(flat(await client.sendCommand(['XRANGE', key, '-', '+'])));
    }
  } while (cursor !== '0');
  return { keys, text: parts.join('\n') };
}

test('no secret at rest: every Redis key and value, and the server output', { skip: redisMissing, timeout: 60_000 }, async (t) => {
  const redis = await startRedis();
  const receiver = await startReceiver(failing);
  const { createClient } = await import('redis');
  const client = createClient({ url: redis.url });
  client.on('error', () => {});
  try {
    const server = await startServer(secretConfig('secret-redis', receiver.port), { ...secrets, CALLHOOK_REDIS_URL: redis.url,
      CALLHOOK_INSTANCE: 'secret', CALLHOOK_SWEEP_SECONDS: '3600' });
    const output = captureOutput(server);
    try {
      await secretTraffic(server, receiver);
    } finally {
      await kill(server.child);
    }
    await client.connect();
    const { keys, text } = await dumpRedis(client);
    t.diagnostic(`${keys} keys, ${text.length} characters of values`);
    for (const reference of ['CAsecret', '${GA4_SECRET}', '${API_TOKEN}']) assert.ok(text.includes(reference), `the dump holds ${reference}`);
    assertNoSecret(text, 'Redis');
    assertNoSecret(output(), 'the server output');
  } finally {
    await client.quit().catch(() => {});
    receiver.close();
    await redis.stop();
  }
});
