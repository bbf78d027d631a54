// The Fastly program's admin API in the repository's Compute ABI host (functions/fastly/host),
// one fresh instance per request as Fastly runs it: each dead letter under dead/ keeps its
// sealed delivery, every attempt and its call; the API (token: the Secret Store's admin_token)
// lists, filters, shows, redrives (back into the KV outbox), purges and erases a call's or a
// phone number's records, outbox entries, dead letters and sweep index entries, in pages past
// its per-request lookup budget; delivery counts go to the log endpoint as delivery_counts
// lines, and /admin/metrics gives the outbox and dead-letter gauges.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { createFastlyHost } from '../../../functions/fastly/host/host.mjs';
import { programPath } from './program.mjs';

const root = new URL('../../../', import.meta.url).pathname;
// CALLHOOK_FASTLY_WASM runs another build of the program (one in your own build folder); else the
// pre-initialized one build.sh packs, when it is up to date (./program.mjs).
const missing = existsSync(programPath) ? false : 'no Fastly build (bash functions/fastly/build.sh)';
// Under CI a missing prerequisite fails rather than skips.
if (missing && (process.env.CI === 'true' || process.env.CI === '1')) throw new Error(missing);
const RECORDS = 'callhook_records';
const TOKEN = 'admin-hook-token-1234';
const ADMIN_TOKEN = 'fastly-admin-s3cret-0123456789';
const CRM_SECRET = 'crm-s3cret-value-42';
const ACCOUNT = 'AC8f2b0e5c1d4a4f7e9b3c6d2a1e0f9b8c';
const T0 = 1_800_000_000;

const config = {
  auth: { token: { value: '${CALLHOOK_TOKEN}', in: 'path' } },
  destinations: {
    events: { url: 'https://events.example/in' },
    crm: { url: 'https://crm.example/leads?key=${CRM_KEY}' },
  },
  routes: [{ name: 'each', to: ['events', 'crm'] }],
  correlation: { abandon_after_seconds: 3600 },
  delivery: { schedule_seconds: [60], jitter: 0, attempts: 2 },
};
const SECRETS = { CALLHOOK_TOKEN: TOKEN, CRM_KEY: CRM_SECRET, admin_token: ADMIN_TOKEN };

const form = (name) => (missing ? '' : readFileSync(join(root, `examples/payloads/${name}.form`), 'utf8').trim());
const complete = form('complete');
const initiate = form('initiate');
const webhook = (sid, { from = '+14155550123', payload = complete } = {}) => payload
  .replace(/Call\.Sid=[^&]*/, `Call.Sid=${sid}`)
  .replace(/Call\.From=[^&]*/, `Call.From=${encodeURIComponent(from)}`);

function startReceiver() {
  const received = [];
  let answer = () => 200;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const entry = { url: req.url, key: req.headers['idempotency-key'] ?? '', body: Buffer.concat(chunks).toString('utf8') };
      received.push(entry);
      res.writeHead(answer(entry), { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      origin: `http://127.0.0.1:${server.address().port}`,
      received,
      answerWith(fn) { answer = fn; },
      close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => done()); }),
    }));
  });
}

describe('the Fastly program\'s admin API', { skip: missing }, () => {
  let host;
  let receiver;
  let server;
  let clockMs = T0 * 1000;

  before(async () => {
    receiver = await startReceiver();
    host = createFastlyHost({
      wasm: programPath, manifest: join(root, 'functions/fastly/fastly.toml'),
      witxDir: join(root, 'bindings/fastly/witx'), workers: 2, clock: () => clockMs,
      backends: { events: receiver.origin, crm: receiver.origin },
    });
    server = await host.listen();
  });
  after(async () => {
    await server?.close();
    await host?.close();
    await receiver?.close();
  });

  const keys = (prefix = '') => host.kv.list(RECORDS, { prefix, limit: 1000 }).data;
  const stored = (key) => JSON.parse(host.kv.get(RECORDS, key).text);
  const post = async (sid, options) => {
    const r = await fetch(`${server.url}/hook/${TOKEN}`, {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: webhook(sid, options),
    });
    assert.equal(r.status, 200, await r.text());
    await host.idle();
  };
  // Any request moves the outbox along once its entries are due (Fastly has no timers).
  const later = async (seconds) => {
    clockMs += seconds * 1000;
    await fetch(`${server.url}/hook/${TOKEN}`);
    await host.idle();
  };
  const admin = async (path, { method = 'GET', body, headers = {} } = {}) => {
    const r = await fetch(`${server.url}${path}`, {
      method, headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    await host.idle();
    return { status: r.status, headers: r.headers, text, json: () => JSON.parse(text) };
  };
  const ok = async (path, init) => {
    const r = await admin(path, init);
    assert.equal(r.status, 200, r.text);
    return r.json();
  };
  const list = (query = '') => ok(`/admin/dead-letters${query}`);
  const logLines = () => (host.logs.callhook_log ?? []).map((l) => JSON.parse(l));

  function fresh(secrets = SECRETS) {
    for (const key of keys()) host.kv.delete(RECORDS, key);
    receiver.received.length = 0;
    receiver.answerWith(() => 200);
    host.setConfigStore('callhook_config', { config: JSON.stringify(config) });
    host.setSecretStore('callhook_secrets', secrets);
    clockMs = T0 * 1000;
  }

  test('without admin_token in the Secret Store the admin API does not exist; otherwise it takes its bearer token only', async () => {
    fresh({ CALLHOOK_TOKEN: TOKEN, CRM_KEY: CRM_SECRET });
    for (const path of ['/admin/dead-letters', '/admin/metrics', '/admin/erase']) {
      const r = await admin(path);
      assert.equal(r.status, 404, path);
      assert.equal(r.json().type, 'urn:callhook:problem:not-found');
    }
    fresh();
    for (const authorization of [undefined, 'Bearer wrong', `Basic ${ADMIN_TOKEN}`]) {
      const r = await fetch(`${server.url}/admin/dead-letters`, { headers: authorization ? { Authorization: authorization } : {} });
      assert.equal(r.status, 401);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm="callhook-admin"/);
      assert.equal((await r.json()).type, 'urn:callhook:problem:unauthorized');
    }
    assert.deepEqual(await list(), { dead_letters: [], count: 0 });
    assert.equal((await admin('/admin/nothing')).status, 404);
    const wrong = await admin('/admin/dead-letters/purge');
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'POST');
    for (const query of ['?limit=0', '?limit=1001', '?color=red', '?since_ms=yesterday', '?code=a&code=b', '?route=%zz']) {
      const r = await admin(`/admin/dead-letters${query}`);
      assert.equal(r.status, 400, query);
      assert.equal(r.json().type, 'urn:callhook:problem:bad-admin-request');
    }
    const notFound = await admin('/admin/dead-letters/0000000000000-0000000000000000');
    assert.equal(notFound.status, 404);
    assert.equal(notFound.json().type, 'urn:callhook:problem:dead-letter-not-found');
    for (const body of [{ ids: [] }, { ids: ['x'], code: 'c' }, { colour: 'red' }, { since_ms: -1 }]) {
      assert.equal((await admin('/admin/dead-letters/purge', { method: 'POST', body })).status, 400, JSON.stringify(body));
    }
  });

  test('a dead letter keeps its sealed delivery, every attempt and its call', async () => {
    fresh();
    const sid = 'CAfadead01';
    // crm: 503 first (retried 60 s later), then 400.
    let crmAttempts = 0;
    receiver.answerWith((r) => (r.url.startsWith('/leads') ? (++crmAttempts === 1 ? 503 : 400) : 200));
    await post(sid);
    assert.equal(keys('outbox/').length, 1);
    await later(61);
    assert.deepEqual(keys('outbox/'), []);
    const [deadKey] = keys('dead/');
    assert.match(deadKey, /^dead\/\d{13}-[0-9a-f]{16}$/);
    const { dead_letters: [letter], count } = await list();
    assert.equal(count, 1);
    assert.equal(letter.id, deadKey.slice('dead/'.length));
    assert.equal(letter.destination, 'crm');
    assert.equal(letter.route, 'each');
    assert.equal(letter.idempotency_key, `${sid}:Call.Complete:each`);
    assert.equal(letter.call_sid, sid);
    assert.equal(letter.record_key, `${ACCOUNT}:${sid}`);
    assert.equal(letter.attempts, 2);
    assert.equal(letter.code, 'not_retryable_status');
    assert.deepEqual(letter.history.map((a) => [a.status, a.code]), [[503, 'retryable_status'], [400, 'not_retryable_status']]);
    assert.equal(letter.history[1].at_ms - letter.history[0].at_ms >= 60000, true);
    assert.equal(letter.dead_at_ms, letter.history[1].at_ms);
    assert.equal(letter.reason, letter.history[1].reason);
    // Written when the webhook was accepted (the host's clock moves on with real time in a run).
    assert.ok(letter.enqueued_at_ms >= T0 * 1000 && letter.enqueued_at_ms <= letter.history[0].at_ms, JSON.stringify(letter));
    assert.equal(letter.sealed, undefined);
    // By id, with the sealed text: a reference where the secret was.
    const shown = await ok(`/admin/dead-letters/${letter.id}`);
    assert.deepEqual({ ...shown, sealed: undefined }, { ...letter, sealed: undefined });
    const sealed = JSON.parse(shown.sealed);
    assert.equal(sealed.sealed, 1);
    assert.match(sealed.url, /key=\$\{CRM_KEY\}$/);
    assert.ok(!JSON.stringify(shown).includes(CRM_SECRET));
    assert.ok(!host.kv.get(RECORDS, deadKey).text.includes(CRM_SECRET));
    // What the log endpoint got: one delivery_counts line per destination per run.
    const counts = logLines().filter((l) => l.msg === 'delivery_counts');
    const sum = (destination, field) => counts.filter((l) => l.destination === destination).reduce((n, l) => n + l[field], 0);
    assert.equal(sum('events', 'delivered'), 1);
    assert.equal(sum('crm', 'retried'), 1);
    assert.equal(sum('crm', 'dead'), 1);
  });

  // Three dead letters at T0, T0+100 s and T0+200 s: two calls' crm (400) and one events.
  async function threeDead() {
    fresh();
    receiver.answerWith((r) => (r.key.startsWith('CAfaX') || r.url.startsWith('/leads') ? 400 : 200));
    await post('CAfaA00001');
    clockMs += 100_000;
    await post('CAfaB00002');
    clockMs += 100_000;
    await post('CAfaX00003');
    return (await list()).dead_letters;
  }

  test('dead letters are listed newest first and filtered by destination, route, code and time', async () => {
    const all = await threeDead();
    assert.deepEqual(all.map((l) => l.call_sid), ['CAfaX00003', 'CAfaX00003', 'CAfaB00002', 'CAfaA00001']);
    for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].dead_at_ms >= all[i].dead_at_ms);
    assert.equal((await list('?destination=events')).count, 1);
    assert.equal((await list('?destination=crm&code=not_retryable_status')).count, 3);
    assert.equal((await list('?route=each')).count, 4);
    assert.equal((await list('?route=other')).count, 0);
    const t1 = (T0 + 100) * 1000;
    assert.deepEqual((await list(`?since_ms=${t1}`)).dead_letters.map((l) => l.call_sid).sort(),
      ['CAfaB00002', 'CAfaX00003', 'CAfaX00003']);
    assert.deepEqual((await list(`?until_ms=${t1}`)).dead_letters.map((l) => l.call_sid), ['CAfaA00001']);
    assert.deepEqual((await list(`?since_ms=${t1}&until_ms=${t1 + 100_000}`)).dead_letters.map((l) => l.call_sid), ['CAfaB00002']);
    const first = await list('?limit=1');
    assert.equal(first.count, 1);
    assert.equal(first.dead_letters[0].id, all[0].id);
  });

  test('a redrive moves dead letters back into the outbox, same Idempotency-Key, attempts reset, and sends them', async () => {
    const all = await threeDead();
    receiver.answerWith(() => 200);
    receiver.received.length = 0;
    const a = all.find((l) => l.call_sid === 'CAfaA00001');
    assert.deepEqual(await ok('/admin/dead-letters/redrive', { method: 'POST', body: { ids: [a.id, a.id, 'nope'] } }), { redriven: 1 });
    // The admin request's run moved it along at once.
    assert.deepEqual(receiver.received.map((r) => r.key), ['CAfaA00001:Call.Complete:each']);
    assert.equal((await list()).count, 3);
    assert.deepEqual(keys('outbox/'), []);
    // A redriven delivery that fails waits in the outbox with its attempts from 1.
    receiver.answerWith(() => 503);
    assert.deepEqual(await ok('/admin/dead-letters/redrive', { method: 'POST', body: { destination: 'events' } }), { redriven: 1 });
    const [waiting] = keys('outbox/');
    const entry = stored(waiting);
    assert.equal(entry.attempts, 1);
    assert.deepEqual(entry.history.map((h) => h.status), [503]);
    assert.equal(entry.idempotency_key, 'CAfaX00003:Call.Complete:each');
    assert.equal((await list()).count, 2);
    // Redriving all that is left; nothing is left after.
    receiver.answerWith(() => 200);
    assert.deepEqual(await ok('/admin/dead-letters/redrive', { method: 'POST', body: {} }), { redriven: 2 });
    assert.equal((await list()).count, 0);
  });

  test('a redrive with rerender renders the dead letter again from its record with the config of now', async () => {
    fresh();
    receiver.answerWith(() => 404);
    await post('CAfaRR0001');
    const { dead_letters: letters } = await list('?destination=crm');
    assert.equal(letters.length, 1);
    // The crm URL is fixed in the config; the rerendered delivery goes to the new one.
    host.setConfigStore('callhook_config', {
      config: JSON.stringify({ ...config, destinations: { ...config.destinations, crm: { url: 'https://crm.example/v2/leads?key=${CRM_KEY}' } } }),
    });
    receiver.answerWith(() => 200);
    receiver.received.length = 0;
    const answer = await ok('/admin/dead-letters/redrive', { method: 'POST', body: { ids: [letters[0].id], rerender: true } });
    assert.deepEqual(answer, { redriven: 1, skipped: [] });
    assert.equal(receiver.received.length, 1);
    assert.ok(receiver.received[0].url.startsWith('/v2/leads?key='), receiver.received[0].url);
    assert.equal(receiver.received[0].key, 'CAfaRR0001:Call.Complete:each');
    // Without the record, a rerender is skipped and the letter stays.
    receiver.answerWith(() => 404);
    await post('CAfaRR0002');
    const [other] = (await list('?destination=crm')).dead_letters;
    host.kv.delete(RECORDS, `${ACCOUNT}:CAfaRR0002`);
    const skipped = await ok('/admin/dead-letters/redrive', { method: 'POST', body: { ids: [other.id], rerender: true } });
    assert.equal(skipped.redriven, 0);
    assert.deepEqual(skipped.skipped.map((s) => [s.id, s.code]), [[other.id, 'record_gone']]);
    assert.equal((await list('?destination=crm')).count, 1);
  });

  test('a dead letter kept before this form (its key the delivery\'s, no history) is listed, shown and redriven', async () => {
    const all = await threeDead();
    // As the program wrote them before: dead/<idempotency key>/<destination>, no call, no times.
    const crm = all.find((l) => l.call_sid === 'CAfaX00003' && l.destination === 'crm');
    const { call_sid: _c, record_key: _r, enqueued_at_ms: _e, history: _h, dead_at_ms: _d, ...old } = stored(`dead/${crm.id}`);
    const oldKey = 'dead/CAfaOLD001:Call.Complete:each/crm';
    host.kv.put(RECORDS, oldKey, JSON.stringify(old).replaceAll('CAfaX00003', 'CAfaOLD001'));
    const listed = (await list()).dead_letters;
    assert.equal(listed.length, 5);
    const last = listed.at(-1);
    assert.deepEqual([last.id, last.call_sid, last.history, last.dead_at_ms, last.enqueued_at_ms],
      ['CAfaOLD001:Call.Complete:each/crm', 'CAfaOLD001', [], 0, null]);
    assert.equal((await list(`?since_ms=${T0 * 1000}`)).count, 4, 'a time filter leaves out what has no time');
    const shown = await ok(`/admin/dead-letters/${encodeURIComponent(last.id)}`);
    assert.equal(JSON.parse(shown.sealed).sealed, 1);
    receiver.answerWith(() => 200);
    receiver.received.length = 0;
    assert.deepEqual(await ok('/admin/dead-letters/redrive', { method: 'POST', body: { ids: [last.id] } }), { redriven: 1 });
    assert.deepEqual(receiver.received.map((r) => r.key), ['CAfaOLD001:Call.Complete:each']);
    assert.equal(host.kv.get(RECORDS, oldKey), null);
  });

  test('a purge deletes the selected dead letters', async () => {
    const all = await threeDead();
    const [newest] = all;
    assert.deepEqual(await ok('/admin/dead-letters/purge', { method: 'POST', body: { ids: [newest.id] } }), { purged: 1 });
    const one = all[1];
    assert.deepEqual(await ok(`/admin/dead-letters/${one.id}`, { method: 'DELETE' }), { purged: 1 });
    assert.equal((await admin(`/admin/dead-letters/${one.id}`, { method: 'DELETE' })).status, 404);
    assert.deepEqual(await ok('/admin/dead-letters/purge', { method: 'POST', body: { code: 'not_retryable_status' } }), { purged: 2 });
    assert.deepEqual(keys('dead/'), []);
  });

  test('erasing a call deletes its record, sweep index entry, outbox entries and dead letters, and nothing of other calls', async () => {
    fresh();
    const sid = 'CAfaERASE1';
    // An Initiate (a record and a due/ sweep entry) whose deliveries: events dead, crm retrying.
    receiver.answerWith((r) => (r.url.startsWith('/in') ? 400 : 503));
    await post(sid, { payload: initiate });
    await post('CAfaKEEP01', { payload: initiate });
    assert.ok(host.kv.get(RECORDS, `${ACCOUNT}:${sid}`));
    assert.equal(keys('due/').length, 2);
    assert.equal(keys('outbox/').length, 2);
    assert.equal(keys('dead/').length, 2);
    const answer = await ok('/admin/erase', { method: 'POST', body: { call_sid: sid } });
    assert.deepEqual(answer, { records: 1, outbox: 1, dead_letters: 1 });
    assert.equal(host.kv.get(RECORDS, `${ACCOUNT}:${sid}`), null);
    assert.ok(keys().every((k) => !k.includes(sid)), keys().join('\n'));
    // The other call keeps everything.
    assert.ok(host.kv.get(RECORDS, `${ACCOUNT}:CAfaKEEP01`));
    assert.equal(keys('due/').length, 1);
    assert.equal(keys('outbox/').length, 1);
    assert.equal(keys('dead/').length, 1);
    // Erasing again finds nothing.
    assert.deepEqual(await ok('/admin/erase', { method: 'POST', body: { call_sid: sid } }), { records: 0, outbox: 0, dead_letters: 0 });
    const line = logLines().findLast((l) => l.msg === 'admin_erase');
    assert.equal(line.records, 0);
    assert.ok(!JSON.stringify(line).includes(sid));
  });

  test('erasing a phone number deletes what concerns it, in pages past the lookup budget', async () => {
    fresh();
    const phone = '+14155550777';
    receiver.answerWith(() => 422);
    await post('CAfaPHONE1', { from: phone });
    await post('CAfaOTHER1', { from: '+14155550888' });
    // Enough records of other calls that one request cannot look at them all.
    for (let i = 0; i < 300; i++) host.kv.put(RECORDS, `${ACCOUNT}:CAfiller${String(i).padStart(4, '0')}`, '{"not":"a record"}');
    const bad = await admin('/admin/erase', { method: 'POST', body: { phone: '4155550777' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json().type, 'urn:callhook:problem:bad-admin-request');
    let answer = await ok('/admin/erase', { method: 'POST', body: { phone } });
    let requests = 1;
    while (answer.complete === false) {
      assert.ok(answer.cursor && typeof answer.cursor === 'object');
      answer = await ok('/admin/erase', { method: 'POST', body: { phone, cursor: answer.cursor } });
      requests++;
      assert.ok(requests < 10);
    }
    assert.ok(requests >= 2, 'the erasure took more than one request');
    assert.deepEqual({ records: answer.records, outbox: answer.outbox, dead_letters: answer.dead_letters },
      { records: 1, outbox: 0, dead_letters: 2 });
    assert.equal(host.kv.get(RECORDS, `${ACCOUNT}:CAfaPHONE1`), null);
    assert.ok(host.kv.get(RECORDS, `${ACCOUNT}:CAfaOTHER1`));
    assert.deepEqual((await list()).dead_letters.map((l) => l.call_sid), ['CAfaOTHER1', 'CAfaOTHER1']);
    assert.equal(keys().filter((k) => k.includes('CAfiller')).length, 300);
  });

  test('/admin/metrics: outbox pending by destination and dead letters, from KV listings', async () => {
    fresh();
    receiver.answerWith((r) => (r.url.startsWith('/leads') ? 503 : 400));
    await post('CAfaMETR01');
    await post('CAfaMETR02');
    const r = await admin('/admin/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    assert.match(r.text, /^callhook_outbox_pending\{destination="crm"\} 2$/m);
    assert.doesNotMatch(r.text, /destination="events"/);
    assert.match(r.text, /^callhook_dead_letters 2$/m);
  });
});
