// The Cloudflare Worker's admin API in the real workerd (`wrangler dev --local`): dead letters
// reach the DeadLetters Durable Object through the dead-letter queue's consumer with every
// attempt (the main consumer carries the history in the message), and are listed, filtered,
// shown, redriven onto the Queue, purged; a call's or a phone number's data is erased, its
// pending Queue messages dropped unsent; /admin/metrics reports the ledger's counters; the API
// answers 401 without its token (404 when none is configured: cloudflare.test.mjs). The shipped
// Worker runs behind tests/js/worker/sealed-worker.js, whose /__test/storage shows a call's
// Durable Object storage. Nothing leaves 127.0.0.1.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWranglerDev, wranglerSkip } from '../wrangler.mjs';

const root = new URL('../../../', import.meta.url).pathname;
const prerequisite = wranglerSkip ||
  (!existsSync(join(root, 'bindings/js/dist/callhook_wasm.wasm')) &&
    'the npm package is not built (bash bindings/js/build.sh)');
// Under CI a missing prerequisite fails rather than skips.
if (prerequisite && (process.env.CI === 'true' || process.env.CI === '1')) throw new Error(prerequisite);
const skip = prerequisite;

const TOKEN = 'cf-admin-hook-t0ken';
const ADMIN_TOKEN = 'cf-admin-s3cret-0123456789';
const GA4_SECRET = 'ga4-admin-s3cret-value';
const ACCOUNT = 'AC8f2b0e5c1d4a4f7e9b3c6d2a1e0f9b8c';
const complete = readFileSync(join(root, 'examples/payloads/complete.form'), 'utf8').trim();
const webhook = (sid, from = '+14155550123') => complete
  .replace(/Call\.Sid=[^&]*/, `Call.Sid=${sid}`)
  .replace(/Call\.From=[^&]*/, `Call.From=${encodeURIComponent(from)}`);

// Every delivery is recorded; `answer(path, key, n)` (n: the attempt of that key and path)
// gives the status, 200 unless a test says otherwise.
function startReceiver() {
  const received = [];
  const attempts = new Map();
  let answer = () => 200;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const key = req.headers['idempotency-key'] ?? '';
      const path = req.url.split('?')[0];
      const n = (attempts.get(`${path} ${key}`) ?? 0) + 1;
      attempts.set(`${path} ${key}`, n);
      received.push({ path, key, n, body: Buffer.concat(chunks).toString() });
      const status = answer(path, key, n);
      // A retry of the erasure test's call waits long enough for the erasure to come first.
      res.writeHead(status, status === 503 ? { 'Retry-After': key.includes('ERASE') ? '8' : '2' } : {}).end('{}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    server, received, port: server.address().port, answerWith(fn) { answer = fn; },
  })));
}

let receiver;
let dev;
const dir = mkdtempSync(join(tmpdir(), 'callhook-cf-admin-'));

async function waitFor(predicate, ms = 20000, what = 'condition') {
  const until = Date.now() + ms;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > until) {
      const lines = dev.output().split('\n').filter((l) => !/ (GET|POST) \/admin/.test(l));
      assert.fail(`timed out waiting for ${what}; wrangler's last lines:\n${lines.slice(-40).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const admin = (path, init = {}) => fetch(`${dev.base}${path}`, { ...init, headers: { ...auth, ...init.headers } });
const adminJson = async (path, body) => {
  const r = await admin(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text);
};
const list = async (query = '') => {
  const r = await admin(`/admin/dead-letters${query}`);
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text);
};
const lettersOf = async (sid, query = '') => (await list(query)).dead_letters.filter((l) => l.call_sid === sid);
const post = (sid, from) => fetch(`${dev.base}/hook/${TOKEN}`, {
  method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: webhook(sid, from),
});
const storage = async (sid) => (await fetch(`${dev.base}/__test/storage?key=${ACCOUNT}:${sid}`)).json();
const metrics = async () => {
  const r = await admin('/admin/metrics');
  assert.equal(r.status, 200);
  return r.text();
};
const metric = (text, name, labels) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1));
};

before(async () => {
  if (skip) return;
  receiver = await startReceiver();
  const sink = `http://127.0.0.1:${receiver.port}`;
  const config = {
    auth: { token: { value: '${CALLHOOK_TOKEN}', in: 'path' } },
    destinations: {
      events: { url: `${sink}/events` },
      crm: { url: `${sink}/crm?key=\${GA4_API_SECRET}` },
    },
    routes: [{ name: 'each', to: ['events', 'crm'] }],
    delivery: { schedule_seconds: [1], jitter: 0, attempts: 2 },
  };
  const vars = [`CALLHOOK_TOKEN = "${TOKEN}"`, `CALLHOOK_ADMIN_TOKEN = "${ADMIN_TOKEN}"`, `GA4_API_SECRET = "${GA4_SECRET}"`].join('\n');
  const toml = readFileSync(join(root, 'functions/cloudflare/wrangler.toml'), 'utf8')
    .replace(/^main = .*$/m, `main = ${JSON.stringify(join(root, 'tests/js/worker/sealed-worker.js'))}`)
    .replace(/^directory = .*$/m, `directory = ${JSON.stringify(join(root, 'examples/playground'))}`)
    .replace(/^CALLHOOK_CONFIG = .*$/m, `CALLHOOK_CONFIG = ${JSON.stringify(JSON.stringify(config))}\n${vars}`);
  dev = await startWranglerDev({ toml, dir, timeoutMs: 60000, logLevel: 'log' });
});

after(async () => {
  await dev?.stop();
  receiver?.server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the admin API takes its bearer token only; refusals are the core\'s', { skip }, async () => {
  for (const headers of [{}, { Authorization: 'Bearer wrong-token' }, { Authorization: `Basic ${ADMIN_TOKEN}` }]) {
    const r = await fetch(`${dev.base}/admin/dead-letters`, { headers });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm="callhook-admin"/);
    assert.equal(r.headers.get('content-type'), 'application/problem+json');
    assert.equal((await r.json()).type, 'urn:callhook:problem:unauthorized');
  }
  const unknown = await admin('/admin/nothing-here');
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).type, 'urn:callhook:problem:not-found');
  const wrongMethod = await admin('/admin/dead-letters/redrive');
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get('allow'), 'POST');
  const badQuery = await admin('/admin/dead-letters?limit=0');
  assert.equal(badQuery.status, 400);
  assert.equal((await badQuery.json()).type, 'urn:callhook:problem:bad-admin-request');
  const unknownQuery = await admin('/admin/dead-letters?color=red');
  assert.equal(unknownQuery.status, 400);
  const missing = await admin('/admin/dead-letters/0123456789abcdef0123456789abcdef');
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).type, 'urn:callhook:problem:dead-letter-not-found');
  const badBody = await admin('/admin/dead-letters/purge', { method: 'POST', body: '{"ids": []}' });
  assert.equal(badBody.status, 400);
});

test('a dead letter reaches the Durable Object with its sealed delivery, every attempt and its call', { skip }, async () => {
  const sid = 'CAADMDEAD1';
  // crm: 503 (retried after the engine's 1 s, the attempt carried in the message), then 400.
  receiver.answerWith((path, key, n) => (key.startsWith(sid) && path === '/crm' ? (n === 1 ? 503 : 400) : 200));
  const r = await post(sid);
  assert.equal(r.status, 200, await r.text());
  const [letter] = await waitFor(async () => {
    const l = await lettersOf(sid);
    return l.length ? l : null;
  }, 20000, 'the dead letter');
  assert.equal(letter.destination, 'crm');
  assert.equal(letter.route, 'each');
  assert.equal(letter.idempotency_key, `${sid}:Call.Complete:each`);
  assert.equal(letter.call_sid, sid);
  assert.equal(letter.record_key, `${ACCOUNT}:${sid}`);
  assert.equal(letter.attempts, 2);
  assert.equal(letter.code, 'not_retryable_status');
  assert.match(letter.id, /^[0-9a-f]{32}$/);
  assert.deepEqual(letter.history.map((a) => [a.status, a.code]), [[503, 'retryable_status'], [400, 'not_retryable_status']]);
  assert.equal(letter.reason, letter.history[1].reason);
  assert.equal(letter.dead_at_ms, letter.history[1].at_ms);
  assert.ok(letter.enqueued_at_ms <= letter.history[0].at_ms, JSON.stringify(letter));
  assert.ok(letter.history[0].at_ms < letter.history[1].at_ms);
  assert.equal(letter.sealed, undefined, 'the listing leaves the sealed text out');
  // One by id: with the sealed delivery, whose secret is a reference.
  const one = await admin(`/admin/dead-letters/${letter.id}`);
  assert.equal(one.status, 200);
  const shown = await one.json();
  assert.deepEqual({ ...shown, sealed: undefined }, { ...letter, sealed: undefined });
  const sealed = JSON.parse(shown.sealed);
  assert.equal(sealed.sealed, 1);
  assert.match(sealed.url, /key=\$\{GA4_API_SECRET\}$/);
  assert.ok(!JSON.stringify(shown).includes(GA4_SECRET));
  // The events delivery of that call was delivered.
  assert.ok(receiver.received.some((d) => d.path === '/events' && d.key.startsWith(`${sid}:`)));
});

test('dead letters are listed newest first and filtered by destination, route, code and time', { skip }, async () => {
  const sid = 'CAADMDEAD2';
  receiver.answerWith((path, key) => (key.startsWith(sid) ? 404 : 200));
  const before = Date.now();
  assert.equal((await post(sid)).status, 200);
  await waitFor(async () => (await lettersOf(sid)).length === 2, 20000, 'two dead letters');
  const all = (await list()).dead_letters;
  assert.ok(all.length >= 3);
  for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].dead_at_ms >= all[i].dead_at_ms, 'newest first');
  const { dead_letters: events, count } = await list('?destination=events');
  assert.equal(count, events.length);
  assert.ok(events.length >= 1 && events.every((l) => l.destination === 'events'));
  assert.ok((await list('?route=each')).count >= 3);
  assert.equal((await list('?route=other')).count, 0);
  assert.ok((await list('?code=not_retryable_status')).dead_letters.every((l) => l.code === 'not_retryable_status'));
  const recent = (await list(`?since_ms=${before}`)).dead_letters;
  assert.deepEqual(recent.map((l) => l.call_sid), [sid, sid]);
  const older = (await list(`?until_ms=${before}`)).dead_letters;
  assert.ok(older.every((l) => l.dead_at_ms < before) && older.some((l) => l.call_sid === 'CAADMDEAD1'));
  assert.equal((await list('?limit=1')).dead_letters.length, 1);
  assert.deepEqual((await list('?limit=1')).dead_letters[0].id, all[0].id);
});

test('a redrive sends the dead letter again through the Queue, with the same Idempotency-Key and attempts reset', { skip }, async () => {
  receiver.answerWith(() => 200);
  const [letter] = await lettersOf('CAADMDEAD1');
  const sent = receiver.received.length;
  assert.deepEqual(await adminJson('/admin/dead-letters/redrive', { ids: [letter.id] }), { redriven: 1 });
  const again = await waitFor(() => receiver.received.slice(sent).find((d) => d.path === '/crm' && d.key === letter.idempotency_key), 15000, 'the redriven delivery');
  assert.equal(again.key, 'CAADMDEAD1:Call.Complete:each');
  assert.equal((await lettersOf('CAADMDEAD1')).length, 0, 'no longer a dead letter');
  assert.equal((await admin(`/admin/dead-letters/${letter.id}`)).status, 404);
  // By filter: the events letter of CAADMDEAD2.
  assert.deepEqual(await adminJson('/admin/dead-letters/redrive', { destination: 'events', route: 'each' }), { redriven: 1 });
  await waitFor(() => receiver.received.slice(sent).some((d) => d.path === '/events' && d.key.startsWith('CAADMDEAD2:')), 15000, 'the second redrive');
  assert.deepEqual((await lettersOf('CAADMDEAD2')).map((l) => l.destination), ['crm']);
  // Nothing selected, nothing sent.
  assert.deepEqual(await adminJson('/admin/dead-letters/redrive', { ids: ['0123456789abcdef0123456789abcdef'] }), { redriven: 0 });
});

test('a redrive with rerender renders the dead letter again from its call\'s record', { skip }, async () => {
  const sid = 'CAADMRERND';
  receiver.answerWith((path, key) => (key.startsWith(sid) && path === '/crm' ? 400 : 200));
  assert.equal((await post(sid)).status, 200);
  const [letter] = await waitFor(async () => {
    const l = await lettersOf(sid);
    return l.length ? l : null;
  }, 20000, 'the dead letter');
  receiver.answerWith(() => 200);
  const sent = receiver.received.length;
  const answer = await adminJson('/admin/dead-letters/redrive', { ids: [letter.id], rerender: true });
  assert.deepEqual(answer, { redriven: 1, skipped: [] });
  const again = await waitFor(() => receiver.received.slice(sent).find((d) => d.path === '/crm' && d.key.startsWith(sid)), 15000, 'the rerendered delivery');
  assert.equal(again.key, `${sid}:Call.Complete:each`);
  assert.equal(JSON.parse(again.body).call.sid, sid);
  assert.equal((await lettersOf(sid)).length, 0);
  const bad = await admin('/admin/dead-letters/purge', { method: 'POST', body: '{"rerender": true}' });
  assert.equal(bad.status, 400);
});

test('a purge deletes the selected dead letters', { skip }, async () => {
  const sid = 'CAADMPURGE';
  receiver.answerWith((path, key) => (key.startsWith(sid) ? 410 : 200));
  assert.equal((await post(sid)).status, 200);
  const letters = await waitFor(async () => {
    const l = await lettersOf(sid);
    return l.length === 2 ? l : null;
  }, 20000, 'two dead letters');
  const byDestination = Object.fromEntries(letters.map((l) => [l.destination, l]));
  assert.deepEqual(await adminJson('/admin/dead-letters/purge', { ids: [byDestination.events.id] }), { purged: 1 });
  const gone = await admin(`/admin/dead-letters/${byDestination.crm.id}`, { method: 'DELETE' });
  assert.equal(gone.status, 200);
  assert.deepEqual(await gone.json(), { purged: 1 });
  assert.equal((await admin(`/admin/dead-letters/${byDestination.crm.id}`, { method: 'DELETE' })).status, 404);
  assert.equal((await lettersOf(sid)).length, 0);
  // By filter: every letter left of the code.
  const left = (await list('?code=not_retryable_status')).count;
  assert.deepEqual(await adminJson('/admin/dead-letters/purge', { code: 'not_retryable_status' }), { purged: left });
  assert.equal((await list('?code=not_retryable_status')).count, 0);
});

test('erasing a call deletes its record and dead letters, and its pending Queue messages are dropped unsent', { skip }, async () => {
  const sid = 'CAADMERASE';
  // events: dead at once; crm: 503 with Retry-After: 2, so a retry waits on the Queue.
  receiver.answerWith((path, key) => (key.startsWith(sid) ? (path === '/events' ? 400 : 503) : 200));
  assert.equal((await post(sid)).status, 200);
  await waitFor(async () => (await lettersOf(sid)).length === 1, 20000, 'the events dead letter');
  await waitFor(() => receiver.received.some((d) => d.path === '/crm' && d.key.startsWith(sid)), 10000, 'the first crm attempt');
  assert.ok((await storage(sid)).record, 'the call has a record');
  const erasedBefore = metric(await metrics(), 'callhook_deliveries_erased_total', 'destination="crm"') ?? 0;
  const answer = await adminJson('/admin/erase', { call_sid: sid });
  assert.equal(answer.records, 1);
  assert.equal(answer.dead_letters, 1);
  assert.equal(answer.outbox, 0, 'Queue messages cannot be deleted: they are dropped when they come');
  assert.equal(answer.tombstoned_calls, 1);
  assert.equal(answer.complete, true);
  assert.deepEqual(await storage(sid), {});
  assert.equal((await lettersOf(sid)).length, 0);
  // The crm retry comes off the Queue and is dropped, not sent.
  await waitFor(async () => (metric(await metrics(), 'callhook_deliveries_erased_total', 'destination="crm"') ?? 0) > erasedBefore,
    20000, 'the dropped message');
  assert.equal(receiver.received.filter((d) => d.path === '/crm' && d.key.startsWith(sid)).length, 1, 'never sent again');
  // Erasing it again finds nothing; a webhook for the call after the erasure is handled as new.
  assert.deepEqual({ ...(await adminJson('/admin/erase', { call_sid: sid })), tombstoned_calls: 1 },
    { records: 0, outbox: 0, dead_letters: 0, tombstoned_calls: 1, complete: true });
  receiver.answerWith(() => 200);
  const sent = receiver.received.length;
  assert.equal((await post(sid)).status, 200);
  await waitFor(() => receiver.received.slice(sent).filter((d) => d.key.startsWith(sid)).length === 2, 15000, 'the new deliveries');
});

test('erasing a phone number deletes the records and dead letters that mention it, and nothing else', { skip }, async () => {
  const phone = '+14155550777';
  const sid = 'CAADMPHONE';
  const other = 'CAADMOTHER';
  receiver.answerWith((path, key) => (key.startsWith(sid) || key.startsWith(other) ? 422 : 200));
  assert.equal((await post(sid, phone)).status, 200);
  assert.equal((await post(other, '+14155550888')).status, 200);
  await waitFor(async () => (await lettersOf(sid)).length === 2 && (await lettersOf(other)).length === 2, 20000, 'the dead letters');
  const answer = await adminJson('/admin/erase', { phone });
  assert.equal(answer.records, 1);
  assert.equal(answer.dead_letters, 2);
  assert.equal(answer.complete, true);
  assert.deepEqual(await storage(sid), {});
  assert.equal((await lettersOf(sid)).length, 0);
  assert.ok((await storage(other)).record, 'another caller\'s call stays');
  assert.equal((await lettersOf(other)).length, 2);
  const bad = await admin('/admin/erase', { method: 'POST', body: JSON.stringify({ phone, call_sid: sid }) });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).type, 'urn:callhook:problem:bad-admin-request');
});

test('/admin/metrics: deliveries by destination, outcome and code, pending and dead letters', { skip }, async () => {
  const text = await metrics();
  assert.match(text, /# TYPE callhook_deliveries_total counter/);
  assert.ok(metric(text, 'callhook_deliveries_total', 'destination="events",outcome="delivered",code="delivered"') >= 1, text);
  assert.ok(metric(text, 'callhook_deliveries_total', 'destination="crm",outcome="retried",code="retryable_status"') >= 1, text);
  assert.ok(metric(text, 'callhook_deliveries_total', 'destination="crm",outcome="dead",code="not_retryable_status"') >= 1, text);
  assert.ok(metric(text, 'callhook_deliveries_queued_total', 'destination="crm"') >= 6, text);
  assert.ok(metric(text, 'callhook_outbox_pending', 'destination="crm"') >= 0, text);
  assert.equal(metric(text, 'callhook_dead_letters', 'destination="crm"'), (await list('?destination=crm')).count);
  const head = await admin('/admin/metrics', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');
});
