// The Node function over real loopback HTTP: accepted webhooks reach a local receiver, bad
// requests get the right problem document and the server stays up, deliveries survive a
// restart, and two instances sharing a real redis-server route each completed call once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisSkip, startRedis } from '../redis-server.mjs';
import { startNodeFunction } from './start-server.mjs';

const root = new URL('../../../', import.meta.url).pathname;
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
  return startNodeFunction({ env: { CALLHOOK_CONFIG: config, CALLHOOK_TOKEN: 'tok3n-s3cret',
    CALLHOOK_DATA_DIR: join(dir, `data-${Math.random()}`), ...env } });
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

test('a destination echoing the token and the caller back: the log lines carry neither', { skip }, async () => {
  // A Google Ads stand-in refusing the row inside a 200, quoting what it was sent.
  const echo = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({
      partialFailureError: { code: 3, message: 'caller +14155550123 via tok3n-s3cret has no click' } })));
  });
  await new Promise((r) => echo.listen(0, '127.0.0.1', r));
  const config = writeConfig('echo', echo.address().port, {
    destinations: { ads: { format: 'google-ads', url: `http://127.0.0.1:${echo.address().port}/\${CALLHOOK_TOKEN}`,
      options: { conversion_action: 'customers/1/conversionActions/2' } } },
    routes: [{ name: 'each', to: ['ads'] }],
  });
  const { child, url, logs } = await startServer(config);
  try {
    // The sample Complete carries a click id (Google.AdWords.ClickId), so the row is sent.
    const r = await fetch(`${url}/hook/tok3n-s3cret`, { method: 'POST', headers: form, body: complete });
    assert.equal(r.status, 200);
    assert.ok(await until(() => logs.some((l) => l.msg === 'delivery_dead')), 'the rejected row is a dead letter');
    const dead = logs.find((l) => l.msg === 'delivery_dead');
    assert.equal(dead.code, 'rejected');
    assert.match(dead.reason, /caller \[number\] via \$\{CALLHOOK_TOKEN\} has no click/);
    const text = JSON.stringify(logs);
    assert.ok(!text.includes('tok3n-s3cret'), 'the token never reaches the logs');
    assert.ok(!text.includes('+14155550123'), 'caller numbers never reach the logs');
  } finally {
    assert.equal(await stop(child), 0);
    echo.close();
  }
});

test('a client too slow to send its headers gets the core\'s 408 problem document', { skip }, async () => {
  const receiver = await startReceiver();
  const { child, url } = await startServer(writeConfig('slow', receiver.port),
    { CALLHOOK_HEADERS_TIMEOUT_SECONDS: '1', CALLHOOK_REQUEST_TIMEOUT_SECONDS: '2' });
  try {
    const { port } = new URL(url);
    const answer = await new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write('POST /hook/tok3n-s3cret HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // and nothing more
      });
      let text = '';
      socket.on('data', (c) => { text += c; });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
      setTimeout(() => { socket.destroy(); resolve(text); }, 10_000); // bounded: never hangs
    });
    assert.match(answer, /^HTTP\/1\.1 408 /);
    const doc = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
    assert.equal(doc.type, 'urn:callhook:problem:request-timeout');
    assert.equal(doc.status, 408);
    assert.equal((await fetch(`${url}/healthz`)).status, 200, 'the server stays up');
  } finally {
    assert.equal(await stop(child), 0);
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

// Sends raw bytes and returns what came back once the server closes or `ms` pass: for requests
// fetch() cannot make (TRACE, a bad Host, a body never sent).
function rawExchange(url, text, ms = 3000) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(text));
    let data = '';
    const timer = setTimeout(() => { socket.destroy(); resolve(data); }, ms);
    socket.on('data', (chunk) => {
      data += chunk;
      // One whole answer (its body is a problem document or JSON) is enough.
      const at = data.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(data);
      if (at >= 0 && length && data.length >= at + 4 + Number(length[1])) {
        clearTimeout(timer);
        socket.destroy();
        resolve(data);
      }
    });
    socket.on('end', () => { clearTimeout(timer); resolve(data); });
    socket.on('error', (error) => { clearTimeout(timer); data ? resolve(data) : reject(error); });
  });
}

function parseRaw(text) {
  const at = text.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = text.slice(0, at).split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body: text.slice(at + 4) };
}

test("the server's own answers are the core's problem documents, never a 500", { skip }, async () => {
  const receiver = await startReceiver();
  // A playground with a sibling folder whose name starts the same: the sibling is not served.
  const playground = join(dir, 'playground');
  mkdirSync(playground, { recursive: true });
  mkdirSync(join(dir, 'playground-x'), { recursive: true });
  writeFileSync(join(playground, 'index.html'), '<p>playground</p>');
  writeFileSync(join(dir, 'playground-x', 'secret.txt'), 'not for you');
  const { child, url } = await startServer(writeConfig('door', receiver.port),
    { CALLHOOK_PLAYGROUND: playground, CALLHOOK_MAX_REQUEST_BYTES: '1000' });
  const problemOf = (r, status, type) => {
    assert.equal(r.status, status, JSON.stringify(r));
    assert.match(r.headers['content-type'], /application\/problem\+json/);
    const doc = JSON.parse(r.body);
    assert.equal(doc.status, status);
    assert.equal(doc.type, `urn:callhook:problem:${type}`);
    assert.doesNotMatch(r.body, /\n\s+at |\.mjs:/, 'no stack trace');
    return doc;
  };
  try {
    const trace = parseRaw(await rawExchange(url, 'TRACE /hook/tok3n-s3cret HTTP/1.1\r\nHost: localhost\r\n\r\n'));
    problemOf(trace, 405, 'method-not-allowed');
    assert.equal(trace.headers.allow, 'GET, POST');
    problemOf(parseRaw(await rawExchange(url, 'TRACE / HTTP/1.1\r\nHost: localhost\r\n\r\n')), 404, 'not-found');
    problemOf(parseRaw(await rawExchange(url, 'POST /hook/tok3n-s3cret HTTP/1.1\r\nHost: a b\r\nContent-Length: 0\r\n\r\n')), 400, 'bad-request');
    problemOf(parseRaw(await rawExchange(url, 'POST /hook/tok3n-s3cret HTTP/1.1\r\nHost: evil.com/x\r\nContent-Length: 0\r\n\r\n')), 400, 'bad-request');
    // Content-Length past the cap: refused at once, although the body never comes.
    const started = Date.now();
    const big = parseRaw(await rawExchange(url,
      'POST /hook/tok3n-s3cret HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000\r\n\r\n', 2500));
    problemOf(big, 413, 'body-too-large');
    assert.ok(Date.now() - started < 2000, 'answered before the body was sent');
    // Headers past node:http's limit: 431 from the core, not node's bare answer.
    const huge = parseRaw(await rawExchange(url, `GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`));
    problemOf(huge, 431, 'headers-too-large');
    // The playground, and nothing beside it.
    const index = await fetch(`${url}/`);
    assert.equal(index.status, 200);
    assert.equal(await index.text(), '<p>playground</p>');
    const sibling = parseRaw(await rawExchange(url, 'GET /../playground-x/secret.txt HTTP/1.1\r\nHost: localhost\r\n\r\n'));
    problemOf(sibling, 404, 'not-found');
    assert.ok(!sibling.body.includes('not for you'));
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal((await health.json()).status, 'ok');
  } finally {
    await stop(child);
    receiver.server.close();
  }
});

test('deliveries retry with backoff and survive a restart of the server', { skip }, async () => {
  const data = join(dir, 'restart-data');
  const receiver = await startReceiver({ failures: 1000 });  // down for now
  const config = writeConfig('restart', receiver.port);
  let server = await startServer(config, { CALLHOOK_DATA_DIR: data });
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
  // The outbox holds the old URL; point the new receiver at it by restarting on the same port.
  await new Promise((resolve) => healthy.server.close(resolve));
  const again = http.createServer();
  const received = [];
  again.on('request', (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => { received.push(req.headers['idempotency-key']); res.writeHead(200).end(); });
  });
  await new Promise((resolve) => again.listen(receiver.port, '127.0.0.1', resolve));
  server = await startServer(config, { CALLHOOK_DATA_DIR: data });
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

test('with Redis unreachable, /healthz is 503 and a webhook is answered 503 store-unavailable at once', { skip: skip || redisSkip }, async () => {
  const redis = await startRedis();
  const receiver = await startReceiver();
  const config = writeConfig('unreachable', receiver.port);
  const server = await startServer(config, { CALLHOOK_REDIS_URL: redis.url, CALLHOOK_INSTANCE: 'lonely' });
  try {
    const ok = await fetch(`${server.url}/healthz`);
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).status, 'ok');
    await redis.stop();
    assert.ok(await until(async () => (await fetch(`${server.url}/healthz`)).status === 503, 10_000), 'healthz turns 503');
    const health = await (await fetch(`${server.url}/healthz`)).json();
    assert.equal(health.status, 'unavailable');
    const r = await fetch(`${server.url}/hook/tok3n-s3cret`, { method: 'POST', headers: form, body: complete, signal: AbortSignal.timeout(10_000) });
    assert.equal(r.status, 503);
    assert.equal((await r.json()).type, 'urn:callhook:problem:store-unavailable');
    assert.ok(Number(r.headers.get('retry-after')) > 0);
  } finally {
    await stop(server.child);
    receiver.server.close();
  }
});
