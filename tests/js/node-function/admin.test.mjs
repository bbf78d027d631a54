// The Node function's admin API over real loopback HTTP (README, "Operating"), with SQLite and
// with a real redis-server: no token, no API; a wrong token is 401; a destination answering 400
// makes dead letters, which are listed with each filter, shown (sealed: references, no secret),
// redriven (the receiver gets the same Idempotency-Key again), re-rendered after the config's
// template changed and the server restarted (another body, the same key), purged; erasure by
// call sid and by phone removes the record (the webhook sent again is accepted anew), the
// outbox items and the dead letters; /metrics has the delivery and outbox series. Then
// createAdmin in this process for what a server cannot easily stage (a record that is gone).
//
// Under CI=true a missing redis-server fails the Redis test instead of skipping it. Every wait
// is bounded; nothing asserts on a timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisSkip, startRedis } from '../redis-server.mjs';
import { startNodeFunction } from './start-server.mjs';

const root = new URL('../../../', import.meta.url).pathname;
const built = existsSync(join(root, 'bindings/js/dist/callhook_wasm.wasm'));
const skip = !built && 'the npm package is not built (bash bindings/js/build.sh)';
const ci = process.env.CI === 'true' || process.env.CI === '1';
const redisMissing = skip || (ci ? false : redisSkip);
const dir = mkdtempSync(join(tmpdir(), 'callhook-admin-'));
const initiateForm = readFileSync(join(root, 'examples/payloads/initiate.form'), 'utf8');
const completeForm = readFileSync(join(root, 'examples/payloads/complete.form'), 'utf8');
const TOKEN = 'admin-test-hook-t0ken';
const ADMIN = 'admin-s3cret-t0ken-value';
const CRM_TOKEN = 'crm-bearer-s3cret-value';
const form = { 'content-type': 'application/x-www-form-urlencoded' };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A payload for another call and caller.
const call = (payload, sid, phone = '+14155550123') => payload
  .replace(/Call\.Sid=[^&]+/, `Call.Sid=${sid}`)
  .replace(/Call\.From=[^&]+/, `Call.From=${encodeURIComponent(phone)}`);

/** A destination whose answer is `state.answer(entry)`: a status, or [status, headers]. */
function startReceiver(answer) {
  const requests = [];
  const state = { answer };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const entry = { path: req.url, key: req.headers['idempotency-key'] ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() };
      const a = state.answer(entry);
      const [status, headers] = Array.isArray(a) ? a : [a, {}];
      entry.status = status;
      requests.push(entry);
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end('{}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: server.address().port, requests, state,
    close() {
      server.closeAllConnections();
      server.close();
    },
  })));
}

function writeConfig(name, port, version) {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({
    auth: { token: { value: '${CALLHOOK_TOKEN}', in: 'path' } },
    correlation: { abandon_after_seconds: 3600, retention_seconds: 86400 },
    destinations: {
      crm: { format: 'template', url: `http://127.0.0.1:${port}/crm`, headers: { Authorization: 'Bearer ${CRM_TOKEN}' },
        options: { body: { id: '{{ call.sid }}', template: version } } },
      log: { format: 'canonical', url: `http://127.0.0.1:${port}/log` },
    },
    routes: [{ name: 'each', to: ['crm', 'log'] }, { name: 'done', on: 'complete', to: ['crm'] }],
    delivery: { schedule_seconds: [0.05], jitter: 0, attempts: 3 },
  }));
  return path;
}

function startServer(config, env) {
  return startNodeFunction({ env: { CALLHOOK_CONFIG: config, CALLHOOK_TOKEN: TOKEN, CRM_TOKEN, ...env } });
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

async function until(check, what, ms = 10_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(25);
  }
  assert.ok(await check(), `${what} within ${ms} ms`);
}

async function hook(url, body) {
  const r = await fetch(`${url}/hook/${TOKEN}`, { method: 'POST', headers: form, body });
  return { status: r.status, json: await r.json() };
}

/** An admin request: {status, headers, json}. */
async function admin(url, path, { method = 'GET', body, token = ADMIN } = {}) {
  const headers = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, json, text };
}

const list = async (url, query = '') => {
  const r = await admin(url, `/admin/dead-letters${query}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.count, r.json.dead_letters.length);
  return r.json.dead_letters;
};
const problemType = (r) => r.json?.type ?? r.json?.problem?.type ?? '';

const SID_A = 'CA0000000000000000000000000000000a';
const SID_B = 'CA0000000000000000000000000000000b';
const SID_D = 'CA0000000000000000000000000000000d';
const SID_E = 'CA0000000000000000000000000000000e';
const PHONE_B = '+14155550777';
const PHONE_E = '+14155550999';

test('without CALLHOOK_ADMIN_TOKEN there is no admin API; a wrong or missing token is 401', { skip, timeout: 60_000 }, async () => {
  const receiver = await startReceiver(() => 200);
  const config = writeConfig('none', receiver.port, 1);
  const data = join(dir, 'data-none');
  let server = await startServer(config, { CALLHOOK_DATA_DIR: data });
  try {
    for (const [method, path] of [['GET', '/admin/dead-letters'], ['GET', '/admin'], ['POST', '/admin/erase'], ['POST', '/admin/dead-letters/purge']]) {
      const r = await admin(server.url, path, { method, body: method === 'POST' ? {} : undefined });
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.match(problemType(r), /not-found/);
    }
  } finally {
    assert.equal(await stop(server.child), 0);
  }
  server = await startServer(config, { CALLHOOK_DATA_DIR: data, CALLHOOK_ADMIN_TOKEN: ADMIN });
  try {
    for (const token of [null, 'wrong-token', `${ADMIN}x`, '']) {
      const r = await admin(server.url, '/admin/dead-letters', { token });
      assert.equal(r.status, 401, `token ${token}`);
      assert.match(problemType(r), /unauthorized/);
      assert.ok(!r.text.includes(ADMIN), 'the token is never echoed');
    }
    const purge = await admin(server.url, '/admin/dead-letters/purge', { method: 'POST', body: {}, token: 'wrong' });
    assert.equal(purge.status, 401);
    const ok = await admin(server.url, '/admin/dead-letters');
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json, { dead_letters: [], count: 0 });
    assert.equal((await admin(server.url, '/admin/nothing-here')).status, 404);
    assert.equal((await admin(server.url, '/admin/dead-letters?colour=red')).status, 400, 'an unknown filter is refused');
    assert.equal((await admin(server.url, '/admin/dead-letters?limit=0')).status, 400);
    assert.equal((await admin(server.url, '/admin/dead-letters?since_ms=yesterday')).status, 400);
    assert.equal((await admin(server.url, '/admin/dead-letters/redrive', { method: 'POST', body: { ids: 'x' } })).status, 400);
    assert.equal((await admin(server.url, '/admin/dead-letters/redrive', { method: 'POST', body: { ids: ['x'], route: 'r' } })).status, 400);
    assert.equal((await admin(server.url, '/admin/erase', { method: 'POST', body: { call_sid: SID_A, phone: PHONE_B } })).status, 400);
    assert.equal((await admin(server.url, '/admin/erase', { method: 'POST', body: {} })).status, 400);
    const badPhone = await admin(server.url, '/admin/erase', { method: 'POST', body: { phone: 'call me maybe' } });
    assert.equal(badPhone.status, 400, 'a number that is not one is refused before anything is erased');
    assert.match(problemType(badPhone), /bad-admin-request/);
    assert.equal((await admin(server.url, '/admin/dead-letters/redrive')).status, 405, 'redrive is a POST');
    const missing = await admin(server.url, '/admin/dead-letters/no-such-id');
    assert.equal(missing.status, 404);
    assert.match(problemType(missing), /dead-letter-not-found/);
  } finally {
    assert.equal(await stop(server.child), 0);
    receiver.close();
  }
});

// The whole operator's round on one store; `env` names it (data folder, or Redis URL and prefix).
async function operatorRound(t, env) {
  // /crm refuses every request (400: dead at once); /log refuses call B with a redirect.
  const receiver = await startReceiver((e) => (e.path === '/crm' ? 400 : e.body.includes(SID_B) ? 302 : 200));
  const name = `round-${Math.random().toString(36).slice(2)}`;
  let server = await startServer(writeConfig(`${name}-v1`, receiver.port, 1), { ...env, CALLHOOK_ADMIN_TOKEN: ADMIN });
  try {
    assert.equal((await hook(server.url, call(initiateForm, SID_A))).json.status, 'accepted');
    assert.equal((await hook(server.url, call(completeForm, SID_A))).json.status, 'accepted');
    assert.equal((await hook(server.url, call(initiateForm, SID_B, PHONE_B))).json.status, 'accepted');
    // A: each (initiate), each and done (complete) to crm; B: each to crm, and to log (302).
    await until(async () => (await list(server.url)).length === 5, 'five dead letters');

    await t.test('list: newest first, each filter', async () => {
      const all = await list(server.url);
      for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].dead_at_ms >= all[i].dead_at_ms, 'newest first');
      const fields = ['id', 'route', 'destination', 'idempotency_key', 'call_sid', 'record_key', 'attempts', 'history', 'code', 'reason', 'dead_at_ms', 'enqueued_at_ms'];
      assert.deepEqual(Object.keys(all[0]).sort(), [...fields].sort());
      assert.ok(!('sealed' in all[0]), 'a listing carries no sealed text');
      assert.deepEqual((await list(server.url, '?destination=log')).map((d) => [d.code, d.idempotency_key.startsWith(SID_B)]), [['redirect', true]]);
      assert.equal((await list(server.url, '?destination=crm')).length, 4);
      const done = await list(server.url, '?route=done');
      assert.equal(done.length, 1);
      assert.ok(done[0].idempotency_key.startsWith(SID_A));
      assert.equal((await list(server.url, '?code=not_retryable_status')).length, 4);
      assert.equal((await list(server.url, '?code=redirect&destination=crm')).length, 0);
      assert.deepEqual((await list(server.url, '?limit=2')).map((d) => d.id), all.slice(0, 2).map((d) => d.id));
      const pivot = all[2].dead_at_ms;
      const since = await list(server.url, `?since_ms=${pivot}`);
      const before = await list(server.url, `?until_ms=${pivot}`);
      assert.equal(since.length + before.length, 5, 'since_ms and until_ms split the letters');
      assert.ok(since.every((d) => d.dead_at_ms >= pivot) && before.every((d) => d.dead_at_ms < pivot));
      assert.equal((await list(server.url, `?since_ms=${Date.now() + 3_600_000}`)).length, 0);
      const [first] = all;
      assert.equal(first.attempts, 1);
      assert.equal(first.history.length, 1);
      assert.deepEqual(Object.keys(first.history[0]).sort(), ['at_ms', 'code', 'reason', 'status']);
    });

    await t.test('show: the dead letter with its sealed text, references and no secret value', async () => {
      const [letter] = await list(server.url, '?route=done');
      const r = await admin(server.url, `/admin/dead-letters/${encodeURIComponent(letter.id)}`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.id, letter.id);
      assert.equal(r.json.code, 'not_retryable_status');
      assert.equal(r.json.call_sid, SID_A);
      assert.match(r.json.sealed, /\$\{CRM_TOKEN\}/);
      assert.ok(!r.text.includes(CRM_TOKEN), 'no secret value in the answer');
      assert.equal(r.headers.get('cache-control'), 'no-store');
    });

    await t.test('redrive by id: sent again with the same Idempotency-Key', async () => {
      const [letter] = (await list(server.url, '?destination=crm')).filter((d) => d.idempotency_key.startsWith(SID_A) && d.route === 'each' && /Initiate/.test(d.idempotency_key));
      assert.ok(letter, 'the Initiate delivery of A to crm is dead');
      receiver.state.answer = (e) => (e.path === '/crm' ? (e.key === letter.idempotency_key ? 200 : 400) : e.body.includes(SID_B) ? 302 : 200);
      assert.ok(receiver.requests.some((q) => q.key === letter.idempotency_key && q.status === 400), 'it was refused before');
      const r = await admin(server.url, '/admin/dead-letters/redrive', { method: 'POST', body: { ids: [letter.id, 'not-a-dead-letter'] } });
      assert.deepEqual(r.json, { redriven: 1 });
      await until(() => receiver.requests.some((q) => q.key === letter.idempotency_key && q.status === 200), 'the redriven delivery arrives');
      assert.equal((await admin(server.url, `/admin/dead-letters/${letter.id}`)).status, 404, 'no longer a dead letter');
      assert.equal((await list(server.url)).length, 4);
    });
  } finally {
    assert.equal(await stop(server.child), 0);
  }

  // The crm template changes; the server starts again on the same store.
  server = await startServer(writeConfig(`${name}-v2`, receiver.port, 2), { ...env, CALLHOOK_ADMIN_TOKEN: ADMIN });
  try {
    await t.test('redrive with rerender after the template changed: another body, the same key', async () => {
      receiver.state.answer = (e) => (e.path === '/crm' ? (e.body.includes('"template":2') ? 200 : 400) : e.body.includes(SID_B) ? 302 : 200);
      const [letter] = await list(server.url, '?route=done');
      const before = receiver.requests.filter((q) => q.key === letter.idempotency_key);
      assert.ok(before.length >= 1 && before.every((q) => q.body.includes('"template":1')));
      const r = await admin(server.url, '/admin/dead-letters/redrive', { method: 'POST', body: { route: 'done', rerender: true } });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { redriven: 1, skipped: [] });
      await until(() => receiver.requests.some((q) => q.key === letter.idempotency_key && q.status === 200), 'the re-rendered delivery arrives');
      const sent = receiver.requests.find((q) => q.key === letter.idempotency_key && q.status === 200);
      assert.notEqual(sent.body, before[0].body);
      assert.match(sent.body, /"template":2/);
      assert.equal(sent.headers.authorization, `Bearer ${CRM_TOKEN}`);
    });

    await t.test('purge by filter and one by id', async () => {
      const log = await list(server.url, '?destination=log');
      assert.equal(log.length, 1);
      assert.deepEqual((await admin(server.url, '/admin/dead-letters/purge', { method: 'POST', body: { destination: 'log' } })).json, { purged: 1 });
      assert.equal((await list(server.url, '?destination=log')).length, 0);
      const left = await list(server.url);
      assert.equal(left.length, 2);
      const one = await admin(server.url, `/admin/dead-letters/${left[0].id}`, { method: 'DELETE' });
      assert.deepEqual(one.json, { purged: 1 });
      assert.deepEqual((await admin(server.url, '/admin/dead-letters/purge', { method: 'POST', body: { ids: [left[0].id] } })).json, { purged: 0 });
      assert.deepEqual((await admin(server.url, '/admin/dead-letters/purge', { method: 'POST', body: {} })).json, { purged: 1 }, '{} is every dead letter');
      assert.equal((await list(server.url)).length, 0);
    });

    await t.test('erase by call sid and by phone: record, outbox items and dead letters', async () => {
      // crm refuses (dead letters), log answers 503 with a Retry-After of an hour (items stay pending).
      receiver.state.answer = (e) => (e.path === '/crm' ? 400 : [503, { 'retry-after': '3600' }]);
      assert.equal((await hook(server.url, call(initiateForm, SID_D, '+14155550444'))).json.status, 'accepted');
      assert.equal((await hook(server.url, call(initiateForm, SID_E, PHONE_E))).json.status, 'accepted');
      assert.equal((await hook(server.url, call(initiateForm, SID_D, '+14155550444'))).json.status, 'duplicate');
      const about = (sid) => async () => {
        const dead = (await list(server.url)).filter((d) => d.idempotency_key.startsWith(sid));
        const retried = receiver.requests.filter((q) => q.path === '/log' && q.key.startsWith(sid));
        return dead.length === 1 && retried.length >= 1;
      };
      await until(about(SID_D), 'D has a dead letter and a pending item');
      await until(about(SID_E), 'E has a dead letter and a pending item');
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(metrics, /callhook_outbox_pending\{destination="log"\} [1-9]/);

      const byCall = await admin(server.url, '/admin/erase', { method: 'POST', body: { call_sid: SID_D } });
      assert.equal(byCall.status, 200, byCall.text);
      assert.deepEqual(byCall.json, { records: 1, outbox: 1, dead_letters: 1 });
      assert.equal((await list(server.url)).filter((d) => d.idempotency_key.startsWith(SID_D)).length, 0);
      assert.equal((await list(server.url)).filter((d) => d.idempotency_key.startsWith(SID_E)).length, 1, "E's is kept");
      assert.equal((await hook(server.url, call(initiateForm, SID_D, '+14155550444'))).json.status, 'accepted', 'accepted anew, not a duplicate');

      const byPhone = await admin(server.url, '/admin/erase', { method: 'POST', body: { phone: PHONE_E } });
      assert.equal(byPhone.status, 200, byPhone.text);
      assert.deepEqual(byPhone.json, { records: 1, outbox: 1, dead_letters: 1 });
      assert.equal((await list(server.url)).filter((d) => d.idempotency_key.startsWith(SID_E)).length, 0);
      assert.equal((await hook(server.url, call(initiateForm, SID_E, PHONE_E))).json.status, 'accepted');
      const erasedAgain = await admin(server.url, '/admin/erase', { method: 'POST', body: { phone: '+19995550000' } });
      assert.deepEqual(erasedAgain.json, { records: 0, outbox: 0, dead_letters: 0 });
    });

    await t.test('/metrics: delivery outcomes and times by destination, the outbox and dead letters', async () => {
      await until(async () => /callhook_deliveries_total\{destination="crm",outcome="dead",code="not_retryable_status"\} [1-9]/
        .test(await (await fetch(`${server.url}/metrics`)).text()), 'the dead deliveries are counted');
      // Once the re-sent webhooks' crm deliveries are dead: none pending there, the gauge = the listing.
      let text = '';
      await until(async () => {
        text = await (await fetch(`${server.url}/metrics`)).text();
        const dead = Number(/^callhook_dead_letters (\d+)$/m.exec(text)?.[1]);
        return /callhook_outbox_pending\{destination="crm"\} 0/.test(text) && dead === (await list(server.url, '?limit=1000')).length;
      }, 'the outbox gauges follow the store');
      assert.match(text, /callhook_deliveries_total\{destination="log",outcome="retried",code="retryable_status"\} [1-9]/);
      assert.match(text, /# TYPE callhook_delivery_duration_seconds histogram/);
      assert.match(text, /callhook_delivery_duration_seconds_bucket\{destination="crm",le="\+Inf"\} [1-9]/);
      assert.match(text, /callhook_delivery_duration_seconds_count\{destination="log"\} [1-9]/);
      assert.match(text, /callhook_outbox_pending\{destination="log"\} [1-9]/);
      for (const old of ['callhook_webhooks_received_total', 'callhook_deliveries_dead_lettered_total', 'callhook_deliveries_retried_total',
        'callhook_request_duration_seconds_bucket']) assert.ok(text.includes(old), `${old} is still there`);
    });
  } finally {
    assert.equal(await stop(server.child), 0);
    receiver.close();
  }
  const logs = JSON.stringify(server.logs);
  assert.ok(!logs.includes(ADMIN) && !logs.includes(CRM_TOKEN), 'no token in the logs');
}

test('SQLite: list, show, redrive, rerender, purge, erase, metrics', { skip, timeout: 120_000 }, async (t) => {
  await operatorRound(t, { CALLHOOK_STORE: 'sqlite', CALLHOOK_DATA_DIR: join(dir, 'data-sqlite') });
});

test('Redis: list, show, redrive, rerender, purge, erase, metrics', { skip: redisMissing, timeout: 120_000 }, async (t) => {
  const redis = await startRedis();
  try {
    await operatorRound(t, { CALLHOOK_REDIS_URL: redis.url, CALLHOOK_REDIS_PREFIX: 'admin-test:' });
  } finally {
    await redis.stop();
  }
});

test('rerender reports a dead letter whose record is gone, and redrives the others', { skip, timeout: 30_000 }, async () => {
  const { init, createEngine } = await import('../../../bindings/js/index.js');
  const { memoryStore } = await import('../../../bindings/js/stores.js');
  const { createDeliveryQueue } = await import('../../../bindings/js/delivery.js');
  const { createAdmin } = await import('../../../functions/node/admin.mjs');
  const receiver = await startReceiver((e) => (e.body.includes('"template":2') ? 200 : 400));
  const runtime = await init();
  const v1 = await createEngine(readFileSync(writeConfig('unit-v1', receiver.port, 1), 'utf8'), { secrets: { CALLHOOK_TOKEN: TOKEN, CRM_TOKEN } });
  const v2 = await createEngine(readFileSync(writeConfig('unit-v2', receiver.port, 2), 'utf8'), { secrets: { CALLHOOK_TOKEN: TOKEN, CRM_TOKEN } });
  const store = memoryStore();
  const first = createDeliveryQueue({ engine: v1, store, pollMs: 50 });
  const handle = (await import('../../../bindings/js/fetch-handler.js')).createFetchHandler({ engine: v1, store, queue: first, onError: () => {} });
  for (const sid of [SID_A, SID_B]) {
    const r = await handle(new Request(`http://x/hook/${TOKEN}`, { method: 'POST', headers: form, body: call(initiateForm, sid) }));
    assert.equal(r.status, 200);
  }
  await until(async () => (await store.counts()).dead === 4, 'four dead letters');
  await first.close();
  const queue = createDeliveryQueue({ engine: v2, store, pollMs: 50 });
  try {
    const admin = createAdmin({ runtime, engine: v2, store, queue, token: ADMIN });
    const letters = await store.deadLetters({ destination: 'crm' });
    const gone = letters.find((d) => d.idempotency_key.startsWith(SID_B));
    assert.ok(gone.record_key, 'the dead letter names its record');
    assert.equal(await store.compareAndSet(gone.record_key, (await store.get(gone.record_key)).version, null), true);
    const answer = await admin.handle({
      method: 'POST', path: '/admin/dead-letters/redrive', target: '/admin/dead-letters/redrive', authorization: `Bearer ${ADMIN}`,
      readBody: async () => Buffer.from(JSON.stringify({ destination: 'crm', rerender: true })),
    });
    assert.equal(answer.status, 200, answer.body);
    const doc = JSON.parse(answer.body);
    assert.equal(doc.redriven, 1);
    assert.deepEqual(doc.skipped.map((s) => [s.id, s.code]), [[gone.id, 'record_gone']]);
    await until(() => receiver.requests.some((q) => q.status === 200 && q.key.startsWith(SID_A)), 'A is sent re-rendered');
    assert.ok(await store.deadLetter(gone.id), 'the one whose record is gone stays a dead letter');
  } finally {
    await queue.close();
    await store.close();
    receiver.close();
  }
});
