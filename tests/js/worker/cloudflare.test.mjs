// The Cloudflare Worker (functions/cloudflare) in the real workerd, started by `wrangler dev
// --local` with a test config whose destinations are a receiver on 127.0.0.1: webhooks are
// accepted or refused as natively, deliveries reach the receiver through the Queue (retried
// when the receiver fails), the Durable Object keeps concurrent Initiates and Completes of one
// call from racing, and `wrangler deploy --dry-run` bundles offline. Nothing leaves 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWranglerDev, wranglerBin, wranglerEnv, wranglerSkip } from '../wrangler.mjs';

const root = new URL('../../../', import.meta.url).pathname;
const skip = wranglerSkip ||
  (!existsSync(join(root, 'bindings/js/dist/callhook_wasm.wasm')) &&
    'the npm package is not built (bash bindings/js/build.sh)');

const TOKEN = 'cf-t0ken-s3cret';
const initiate = readFileSync(join(root, 'examples/payloads/initiate.form'), 'utf8');
const complete = readFileSync(join(root, 'examples/payloads/complete.form'), 'utf8');
const withSid = (form, sid) => form.replace(/Call\.Sid=[^&]*/, `Call.Sid=${sid}`);

// Records every delivery; keys containing FLAKY fail their first attempt with 503 Retry-After: 1.
function startReceiver() {
  const received = [];
  const attempts = new Map();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const key = req.headers['idempotency-key'] ?? '';
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      if (key.includes('FLAKY') && n === 1) {
        res.writeHead(503, { 'Retry-After': '1' }).end();
        return;
      }
      received.push({ path: req.url, key, body: Buffer.concat(chunks).toString() });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, received, attempts, port: server.address().port })));
}

let receiver;
let dev;
let base;
const dir = mkdtempSync(join(tmpdir(), 'callhook-cloudflare-'));

async function waitFor(predicate, ms = 10000, what = 'condition') {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (predicate()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const deliveriesFor = (sid) => receiver.received.filter((r) => r.key.startsWith(`${sid}:`));

before(async () => {
  if (skip) return;
  receiver = await startReceiver();
  const sink = `http://127.0.0.1:${receiver.port}`;
  const config = {
    auth: { token: { value: '${CALLHOOK_TOKEN}', in: 'path' } },
    destinations: {
      events: { url: `${sink}/events` },
      done: { url: `${sink}/complete` },
    },
    routes: [
      { name: 'each', to: ['events'] },
      { name: 'done', on: 'complete', to: ['done'] },
    ],
    // The engine's policy, which the Queue consumer follows: a first retry after 1 s.
    delivery: { schedule_seconds: [1], jitter: 0 },
  };
  // The repository's wrangler.toml with the test's config, token and a fresh local state.
  const toml = readFileSync(join(root, 'functions/cloudflare/wrangler.toml'), 'utf8')
    .replace(/^main = .*$/m, `main = ${JSON.stringify(join(root, 'functions/cloudflare/src/worker.js'))}`)
    .replace(/^directory = .*$/m, `directory = ${JSON.stringify(join(root, 'examples/playground'))}`)
    .replace(/^CALLHOOK_CONFIG = .*$/m, `CALLHOOK_CONFIG = ${JSON.stringify(JSON.stringify(config))}\nCALLHOOK_TOKEN = "${TOKEN}"`);
  dev = await startWranglerDev({ toml, dir });
  base = dev.base;
});

after(async () => {
  await dev?.stop();
  receiver?.server.close();
  rmSync(dir, { recursive: true, force: true });
});

const post = (body, path = `/hook/${TOKEN}`, contentType = 'application/x-www-form-urlencoded') =>
  fetch(`${base}${path}`, { method: 'POST', headers: contentType ? { 'Content-Type': contentType } : {}, body });

test('healthz answers ok', { skip }, async () => {
  const r = await fetch(`${base}/healthz`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { status: 'ok' });
});

test('a valid POST is accepted and its delivery reaches the receiver with the Idempotency-Key', { skip }, async () => {
  const sid = 'CAPOST0001';
  const r = await post(withSid(complete, sid));
  const body = await r.json();
  assert.equal(r.status, 200, JSON.stringify(body));
  assert.equal(body.status, 'accepted');
  assert.equal(body.call_sid, sid);
  await waitFor(() => deliveriesFor(sid).length >= 2, 10000, 'the deliveries');
  const keys = deliveriesFor(sid).map((d) => d.key).sort();
  assert.deepEqual(keys, [`${sid}:Call.Complete:each`, `${sid}:complete:done`]);
  const event = JSON.parse(deliveriesFor(sid).find((d) => d.path === '/events').body);
  assert.equal(event.call.sid, sid);
});

test('GET with the payload in the query is accepted', { skip }, async () => {
  const sid = 'CAGET00001';
  const r = await fetch(`${base}/hook/${TOKEN}?${withSid(initiate, sid)}`);
  const body = await r.json();
  assert.equal(r.status, 200, JSON.stringify(body));
  assert.equal(body.status, 'accepted');
  assert.equal(body.event, 'Call.Initiate');
  await waitFor(() => deliveriesFor(sid).length >= 1, 10000, 'the delivery');
  assert.equal(deliveriesFor(sid)[0].key, `${sid}:Call.Initiate:each`);
});

test('a wrong token is answered 401 with a problem document', { skip }, async () => {
  const r = await post(withSid(complete, 'CAWRONG001'), '/hook/not-the-token');
  assert.equal(r.status, 401);
  assert.match(r.headers.get('content-type'), /application\/problem\+json/);
  const body = await r.json();
  assert.equal(body.status, 401);
  assert.ok(!JSON.stringify(body).includes(TOKEN));
});

test('a duplicate is answered duplicate and delivered once', { skip }, async () => {
  const sid = 'CADUP00001';
  const first = await post(withSid(complete, sid));
  assert.equal((await first.json()).status, 'accepted');
  const second = await post(withSid(complete, sid));
  assert.equal(second.status, 200);
  assert.equal((await second.json()).status, 'duplicate');
  await waitFor(() => deliveriesFor(sid).length >= 2, 10000, 'the deliveries');
  await new Promise((r) => setTimeout(r, 1500)); // a second delivery would have come by now
  assert.equal(deliveriesFor(sid).length, 2);
});

test('concurrent Initiate and Complete of 10 calls fire each complete route exactly once', { skip }, async () => {
  const sids = Array.from({ length: 10 }, (_, i) => `CARACE${String(i).padStart(4, '0')}`);
  const requests = sids.flatMap((sid) => [post(withSid(initiate, sid)), post(withSid(complete, sid))]);
  const answers = await Promise.all(requests.map(async (p) => {
    const r = await p;
    return { status: r.status, body: await r.json() };
  }));
  for (const a of answers) {
    assert.equal(a.status, 200, JSON.stringify(a.body));
    assert.equal(a.body.status, 'accepted');
  }
  // Per call: one delivery per event for `each`, one for `done`.
  await waitFor(() => sids.every((sid) => deliveriesFor(sid).length >= 3), 15000, 'every call\'s deliveries');
  await new Promise((r) => setTimeout(r, 1500));
  for (const sid of sids) {
    const done = deliveriesFor(sid).filter((d) => d.key === `${sid}:complete:done`);
    assert.equal(done.length, 1, `${sid}: complete route fired ${done.length} times`);
    // `each` once per event; `done` once, whichever event arrived first.
    assert.deepEqual(deliveriesFor(sid).map((d) => d.key).sort(),
      [`${sid}:Call.Complete:each`, `${sid}:Call.Initiate:each`, `${sid}:complete:done`]);
    assert.equal(JSON.parse(done[0].body).correlation.complete_seen, true);
  }
});

test('a receiver that fails once gets the delivery through the Queue retry', { skip }, async () => {
  const sid = 'CAFLAKY001';
  const r = await post(withSid(initiate, sid));
  assert.equal(r.status, 200);
  await waitFor(() => deliveriesFor(sid).length >= 1, 15000, 'the retried delivery');
  assert.equal(receiver.attempts.get(`${sid}:Call.Initiate:each`), 2);
  // The retry is queued anew with the attempt in its history (admin_cloudflare.test.mjs reads
  // that history from the dead letters).
});

test('without CALLHOOK_ADMIN_TOKEN the admin API does not exist: the core\'s not-found', { skip }, async () => {
  for (const [path, init] of [['/admin/dead-letters', {}], ['/admin/metrics', { headers: { Authorization: 'Bearer anything' } }],
    ['/admin/erase', { method: 'POST', body: '{"call_sid":"CA1"}' }]]) {
    const r = await fetch(`${base}${path}`, init);
    assert.equal(r.status, 404, path);
    assert.equal((await r.json()).type, 'urn:callhook:problem:not-found');
  }
});

// A few payload vectors: the Worker answers 200 where native says valid, else the refusal.
function vectorCases() {
  const dir = join(root, 'tests/vectors/payload');
  const picked = [];
  for (const file of ['smoke.json', 'validate_call.json', 'decode_form.json', 'decode_query_utf8.json']) {
    if (!existsSync(join(dir, file))) continue;
    const { cases } = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const usable = cases.filter((c) => !c.options && !c.request.body_repeat && !c.request.body_base64 &&
      (c.request.body !== undefined || c.request.body_file || c.request.method === 'GET'));
    picked.push(...usable.filter((c) => c.expect.valid).slice(0, 2).map((c) => ({ file, c })));
    picked.push(...usable.filter((c) => !c.expect.valid).slice(0, 2).map((c) => ({ file, c })));
  }
  return picked;
}

test('payload vectors give the native verdict', { skip }, async () => {
  const cases = vectorCases();
  assert.ok(cases.length >= 6, `only ${cases.length} usable vectors`);
  for (const { file, c } of cases) {
    const req = c.request;
    const codes = (c.expect.errors ?? []).map((e) => e.code);
    const expected = c.expect.valid ? 200 : codes.includes('unsupported_media_type') ? 415
      : codes.includes('body_too_large') ? 413 : 400;
    let r;
    if ((req.method ?? 'POST') === 'GET') {
      const query = (req.url ?? '').split('?').slice(1).join('?');
      r = await fetch(`${base}/hook/${TOKEN}${query ? `?${query}` : ''}`);
    } else {
      const body = req.body_file ? readFileSync(join(root, req.body_file)) : Buffer.from(req.body ?? '', 'utf8');
      const headers = req.content_type ? { 'Content-Type': req.content_type } : {};
      r = await fetch(`${base}/hook/${TOKEN}`, { method: 'POST', headers, body });
    }
    const text = await r.text();
    assert.equal(r.status, expected, `${file}: ${c.name}: ${text}`);
    if (expected === 200) assert.match(JSON.parse(text).status, /^(accepted|duplicate)$/, `${file}: ${c.name}`);
    else assert.deepEqual(
      [...new Set(JSON.parse(text).errors?.map((e) => e.code) ?? [])].sort(),
      [...new Set(codes)].sort(), `${file}: ${c.name}`);
  }
});

test('other paths are the playground or 404', { skip }, async () => {
  const r = await fetch(`${base}/nope-not-here`, { method: 'POST' });
  assert.equal(r.status, 404);
  assert.equal(r.headers.get('content-type'), 'application/problem+json');
  const doc = await r.json();
  assert.deepEqual([doc.type, doc.status, doc.code], ['urn:callhook:problem:not-found', 404, 'not_found']);
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<html/i);
});

test('wrangler deploy --dry-run bundles offline', { skip }, () => {
  const out = join(dir, 'bundle');
  const r = spawnSync(process.execPath, [wranglerBin, 'deploy', '--dry-run', '--outdir', out,
    '--config', join(root, 'functions/cloudflare/wrangler.toml')], { cwd: join(root, 'functions/cloudflare'), env: wranglerEnv(), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const files = readdirSync(out);
  assert.ok(files.includes('worker.js'), files.join(', '));
  assert.ok(files.some((f) => f.endsWith('.wasm')), files.join(', '));
  const bytes = files.reduce((n, f) => n + statSync(join(out, f)).size, 0);
  assert.ok(bytes < 3 * 1024 * 1024, `bundle is ${bytes} bytes`);
});
