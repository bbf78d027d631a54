// The Node function over real loopback HTTP: accepted webhooks reach a local receiver, bad
// requests get the right problem document and the server stays up, deliveries survive a
// restart, and two instances sharing a real redis-server route each completed call once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisSkip, startRedis } from './redis-server.mjs';

const root = new URL('../../', import.meta.url).pathname;
const built = existsSync(join(root, 'bindings/js/dist/callhook_wasm.wasm'));
const skip = !built && 'the npm package is not built (bash bindings/js/build.sh)';
const dir = mkdtempSync(join(tmpdir(), 'callhook-server-'));
const initiate = readFileSync(join(root, 'examples/payloads/initiate.form'), 'utf8');
const complete = readFileSync(join(root, 'examples/payloads/complete.form'), 'utf8');

// A receiver that fails the first `failures` requests of each idempotency key with 500.
function startReceiver({ failures = 0 } = {}) {
  const received = [];
  const attempts = new Map();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const key = req.headers['idempotency-key'];
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      if (n <= failures) {
        res.writeHead(500).end();
        return;
      }
      received.push({ path: req.url, key, body: Buffer.concat(chunks).toString() });
      res.writeHead(200).end('{}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, received, attempts, port: server.address().port })));
}

function writeConfig(name, receiverPort, extra = {}) {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({
    auth: { token: { value: '${CALLHOOK_TOKEN}', in: 'path' } },
    correlation: { abandon_after_seconds: 600, retention_seconds: 86400 },
    destinations: { sink: { url: `http://127.0.0.1:${receiverPort}/sink` } },
    routes: [{ name: 'each', to: ['sink'] }, { name: 'done', on: 'complete', to: ['sink'] }],
    delivery: { schedule_seconds: [0.02], jitter: 0 },
    ...extra,
  }));
  return path;
}

// Starts the server as a user would; resolves with its URL once it logs `listening`.
function startServer(config, env = {}) {
  const child = spawn(process.execPath, [join(root, 'functions/node/server.mjs')], {
    env: { PATH: process.env.PATH, CALLHOOK_CONFIG: config, CALLHOOK_TOKEN: 'tok3n-s3cret', PORT: '0',
      CALLHOOK_JOURNAL: join(dir, `journal-${Math.random()}.jsonl`), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = [];
  let buffer = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        try { logs.push(JSON.parse(line)); } catch { logs.push({ raw: line }); }
        const last = logs[logs.length - 1];
        if (last.msg === 'listening') resolve({ child, logs, url: last.url.replace('/hook', '') });
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${JSON.stringify(logs)}`)));
  });
}

function stop(child, signal = 'SIGTERM') {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
    child.kill(signal);
  });
}

async function until(check, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

const form = { 'content-type': 'application/x-www-form-urlencoded' };

test('accepts a webhook, routes it with its idempotency key, reports metrics and health', { skip }, async () => {
  const receiver = await startReceiver();
  const { child, url, logs } = await startServer(writeConfig('basic', receiver.port));
  try {
    const r = await fetch(`${url}/hook/tok3n-s3cret`, { method: 'POST', headers: form, body: initiate });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).status, 'accepted');
    assert.ok(await until(() => receiver.received.length === 1), 'the delivery arrives');
    assert.match(receiver.received[0].key, /:Call\.Initiate:each$/);
    const again = await fetch(`${url}/hook/tok3n-s3cret`, { method: 'POST', headers: form, body: initiate });
    assert.equal((await again.json()).status, 'duplicate');
    const health = await (await fetch(`${url}/healthz`)).json();
    assert.equal(health.status, 'ok');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /callhook_webhooks_received_total 2/);
    assert.match(metrics, /callhook_webhooks_accepted_total 1/);
    assert.match(metrics, /callhook_webhooks_duplicate_total 1/);
    assert.ok(await until(async () => /callhook_deliveries_delivered_total 1/.test(await (await fetch(`${url}/metrics`)).text())));
    const text = JSON.stringify(logs);
    assert.ok(!text.includes('tok3n-s3cret'), 'the token never reaches the logs');
    assert.ok(!text.includes('+14155550123'), 'caller numbers never reach the logs');
  } finally {
    assert.equal(await stop(child), 0, 'graceful shutdown exits 0');
    receiver.server.close();
  }
});

test('bad requests of every kind get the right status and a problem document; the server stays up', { skip }, async () => {
  const receiver = await startReceiver();
  const { child, url } = await startServer(writeConfig('bad', receiver.port));
  try {
    const hook = `${url}/hook/tok3n-s3cret`;
    const cases = [
      [`${url}/hook/wrong`, { method: 'POST', headers: form, body: initiate }, 401, 'bad_token'],
      [`${url}/hook`, { method: 'POST', headers: form, body: initiate }, 401, 'bad_token'],
      [hook, { method: 'PUT', headers: form, body: initiate }, 405],
      [hook, { method: 'DELETE' }, 405],
      [hook, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: initiate }, 415],
      [hook, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"Action": ' }, 400, 'invalid_json'],
      [hook, { method: 'POST', headers: form, body: 'Action=Webhook&Event=Call.Complete' }, 400, 'missing'],
      [hook, { method: 'POST', headers: form, body: '' }, 400, 'empty_payload'],
      [hook, { method: 'POST', headers: form, body: Buffer.alloc(70 * 1024, 'a') }, 413],
      [hook, { method: 'POST', headers: form, body: Buffer.alloc(2 * 1024 * 1024, 'a') }, 413],
      [hook, { method: 'POST', headers: form, body: Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x3d, 0x26]) }, 400],
      [`${url}/elsewhere`, { method: 'GET' }, 404],
    ];
    for (const [target, init, status, code] of cases) {
      const r = await fetch(target, init).catch((error) => ({ status: 'connection closed', error }));
      if (status === 413 && r.status === 'connection closed') continue;  // refused mid-upload
      assert.equal(r.status, status, `${init.method} ${target} → ${status}`);
      assert.match(r.headers.get('content-type'), /application\/problem\+json/);
      const body = await r.json();
      assert.equal(body.status, status);
      if (code) assert.ok(body.code === code || body.errors?.some((e) => e.code === code), `${code} in ${JSON.stringify(body)}`);
    }
    const get = await fetch(`${hook}?${initiate}`);
    assert.equal(get.status, 200, 'a GET with the payload in the query is accepted');
    assert.equal((await fetch(`${url}/healthz`)).status, 200, 'still up');
    assert.equal(receiver.received.length === 0 || receiver.received.every((d) => d.key.includes('Call.Initiate')), true);
  } finally {
    await stop(child);
    receiver.server.close();
  }
});

test('deliveries retry with backoff and survive a restart of the server', { skip }, async () => {
  const journal = join(dir, 'restart.jsonl');
  const receiver = await startReceiver({ failures: 1000 });  // down for now
  const config = writeConfig('restart', receiver.port);
  let server = await startServer(config, { CALLHOOK_JOURNAL: journal });
  const r = await fetch(`${server.url}/hook/tok3n-s3cret`, { method: 'POST', headers: form, body: complete });
  assert.equal(r.status, 200);
  assert.ok(await until(() => [...receiver.attempts.values()].some((n) => n >= 2)), 'retried while the receiver fails');
  assert.equal(await stop(server.child), 0);
  const attemptsBefore = [...receiver.attempts.values()].reduce((a, b) => a + b, 0);
  assert.ok(attemptsBefore >= 2);
  receiver.attempts.clear();
  receiver.server.close();
  const healthy = await startReceiver();
  const restarted = writeConfig('restart', healthy.port);  // same routes, receiver on a new port
  assert.equal(restarted, config);
  // The journal holds the old URL; point the new receiver at it by restarting on the same port.
  await new Promise((resolve) => healthy.server.close(resolve));
  const again = http.createServer();
  const received = [];
  again.on('request', (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => { received.push(req.headers['idempotency-key']); res.writeHead(200).end(); });
  });
  await new Promise((resolve) => again.listen(receiver.port, '127.0.0.1', resolve));
  server = await startServer(config, { CALLHOOK_JOURNAL: journal });
  try {
    assert.ok(await until(() => received.length >= 2, 8000), `pending deliveries resumed: ${received}`);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(new Set(received).size, received.length, 'each delivery arrives once');
    assert.deepEqual(received.map((k) => k.split(':').slice(1).join(':')).sort(), ['Call.Complete:each', 'complete:done']);
  } finally {
    await stop(server.child);
    again.close();
  }
});

test('two instances sharing redis route each completed call exactly once', { skip: skip || redisSkip }, async () => {
  const redis = await startRedis();
  const receiver = await startReceiver();
  const config = writeConfig('shared', receiver.port);
  const env = { CALLHOOK_REDIS_URL: `redis://127.0.0.1:${redis.port}` };
  const a = await startServer(config, { ...env, CALLHOOK_INSTANCE: 'a' });
  const b = await startServer(config, { ...env, CALLHOOK_INSTANCE: 'b' });
  try {
    const calls = 30;
    const sends = [];
    for (let i = 0; i < calls; i++) {
      const sid = `CAshared${i}`;
      const ini = initiate.replace(/Call\.Sid=[^&]+/, `Call.Sid=${sid}`);
      const com = complete.replace(/Call\.Sid=[^&]+/, `Call.Sid=${sid}`);
      // Initiate and Complete of one call at once, to different instances; the Complete twice.
      sends.push(fetch(`${a.url}/hook/tok3n-s3cret`, { method: 'POST', headers: form, body: ini }));
      sends.push(fetch(`${b.url}/hook/tok3n-s3cret`, { method: 'POST', headers: form, body: com }));
      sends.push(fetch(`${a.url}/hook/tok3n-s3cret`, { method: 'POST', headers: form, body: com }));
    }
    const statuses = (await Promise.all(sends)).map((r) => r.status);
    assert.ok(statuses.every((s) => s === 200), `all answered 200: ${statuses}`);
    assert.ok(await until(() => receiver.received.filter((d) => d.key.includes(':complete:done')).length >= calls, 10000));
    await new Promise((r) => setTimeout(r, 300));
    const done = receiver.received.filter((d) => d.key.includes(':complete:done')).map((d) => d.key);
    assert.equal(done.length, calls, 'one complete route per call');
    assert.equal(new Set(done).size, calls);
    const each = receiver.received.filter((d) => d.key.endsWith(':each')).map((d) => d.key);
    assert.equal(each.length, 2 * calls, 'each event routed once, duplicates not');
  } finally {
    await stop(a.child);
    await stop(b.child);
    receiver.server.close();
    await redis.stop();
  }
});
