// The Fastly Compute program (functions/fastly) run the way Fastly runs it, one fresh instance per
// request, in the repository's Node host for the Compute ABI (functions/fastly/host): its imports
// against the witx, the package `fastly compute pack` made, the whole vector corpus through real
// HTTP requests with the native runner's expectations, and the flows a deployment relies on —
// deliveries to loopback backends, retries from the KV outbox, concurrent events of one call,
// sweeps of abandoned calls, and the refusals. Where `viceroy` is on PATH the program's answers
// are checked under it too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { createFastlyHost } from '../../../functions/fastly/host/host.mjs';
import { checkImports, wasmImports } from '../../../functions/fastly/host/witx.mjs';
import {
  DEFAULT_NOW, checkEngineVector, checkSequence, checkVerdict, configTextOf,
  engineRequest, loadVectors, payloadInput, root, secretEnvironment,
} from '../vector-checks.mjs';
import { programPath } from './program.mjs';

// CALLHOOK_FASTLY_WASM runs another build of the program (one in your own build folder); else the
// pre-initialized one build.sh packs, when it is up to date (./program.mjs).
const witxDir = join(root, 'bindings/fastly/witx');
const manifest = join(root, 'functions/fastly/fastly.toml');
const skip = existsSync(programPath) ? false : 'no Fastly build (cmake --preset wasi && cmake --build --preset wasi)';
const RECORDS = 'callhook_records';

// ---- a loopback receiver standing in for every backend ---------------------------------------

function startReceiver() {
  const received = [];
  let answer = () => ({ status: 200 });
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const entry = {
        method: req.method, url: req.url, headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      received.push(entry);
      const { status, headers = {} } = answer(entry);
      res.writeHead(status, headers).end('ok');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      origin: `http://127.0.0.1:${server.address().port}`,
      received,
      answerWith(fn) { answer = fn; },
      reset() { received.length = 0; answer = () => ({ status: 200 }); },
      close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => done()); }),
    }));
  });
}

// Every destination name the corpus and the examples use, so each has a backend.
function destinationNames() {
  const names = new Set(['events-log', 'ga4', 'google-ads', 'slack', 'crm', 'sink']);
  const add = (text) => {
    try {
      for (const name of Object.keys(JSON.parse(text).destinations ?? {})) names.add(name);
    } catch {
      // a config that is not JSON has no destinations
    }
  };
  for (const folder of ['engine', 'correlation']) {
    for (const { document } of loadVectors(folder)) {
      for (const c of document?.cases ?? []) add(configTextOf(c));
    }
  }
  return [...names];
}

// ---- running requests through the program ------------------------------------------------------

let host;
let receiver;
let clockMs = DEFAULT_NOW * 1000;

function clearStore() {
  for (;;) {
    const page = host.kv.list(RECORDS, { limit: 1000 });
    if (page.data.length === 0) return;
    for (const key of page.data) host.kv.delete(RECORDS, key);
  }
}

// The downstream URL Fastly gives the program: absolute, https (Compute serves port 443 only),
// its authority from the Host header.
function downstreamUrl(request) {
  if (/^https?:\/\//.test(request.url)) return request.url;
  const headers = Object.entries(request.headers ?? {});
  const hostHeader = headers.find(([name]) => name.toLowerCase() === 'host')?.[1] ?? 'callhook.test';
  return `https://${hostHeader}${request.url}`;
}

/**
 * Runs one request at `now` (epoch seconds); resolves when the program has exited with
 * {status, headers, body, traces: [parsed callhook_trace lines of this run]}.
 */
async function send(request, now = DEFAULT_NOW) {
  clockMs = now * 1000;
  const from = host.logs.callhook_trace?.length ?? 0;
  const { response, done } = host.run({
    method: request.method ?? 'POST',
    url: downstreamUrl(request),
    headers: Object.entries(request.headers ?? {}),
    body: request.body ?? '',
  });
  const res = await response;
  const body = await res.text();
  const stats = await done;
  assert.equal(stats.trap, null, `the program trapped: ${stats.trap}`);
  assert.deepEqual(stats.unsupported, [], 'the program called hostcalls the ABI host lacks');
  const traces = (host.logs.callhook_trace ?? []).slice(from).map((line) => JSON.parse(line));
  return { status: res.status, headers: [...res.headers], body, traces, stats };
}

function useConfig(configText, secrets = {}) {
  host.setConfigStore('callhook_config', { config: configText, trace: 'outcomes' });
  host.setSecretStore('callhook_secrets', secretEnvironment(secrets));
}

// The answer the client got is the outcome's response: same status, same body.
function assertAnswered(run, outcome) {
  assert.equal(run.status, outcome.response.status, 'downstream status = outcome status');
  assert.equal(run.body, outcome.response.body, 'downstream body = outcome body');
}

// What the backends received is what the outcome said to deliver (the receiver answers 200).
function assertDelivered(received, outcome) {
  const expected = outcome.deliveries.map((d) => ({
    method: d.method, target: new URL(d.url).pathname + new URL(d.url).search, key: d.idempotency_key, body: d.body,
  }));
  const actual = received.map((r) => ({ method: r.method, target: r.url, key: r.headers['idempotency-key'], body: r.body }));
  const order = (a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);
  assert.deepEqual(actual.sort(order), expected.sort(order), 'deliveries received by the backends');
}

// Requests the shells do not hand to the engine: they serve /hook and /hook/... only.
function outsideHook(request) {
  const path = new URL(downstreamUrl(request)).pathname;
  return !(path === '/hook' || path.startsWith('/hook/'));
}

// The version of each call record in the store: what the next write must replace.
function storedVersions() {
  const versions = {};
  for (const key of host.kv.list(RECORDS, { limit: 1000 }).data) {
    if (key.includes('/')) continue;  // outbox/, dead/, due/
    try {
      versions[key] = JSON.parse(host.kv.get(RECORDS, key).text).version ?? 0;
    } catch {
      versions[key] = 0;  // a record that cannot be read
    }
  }
  return versions;
}

describe('the Fastly program', { skip }, () => {
  before(async () => {
    receiver = await startReceiver();
    host = createFastlyHost({
      wasm: programPath,
      manifest,
      witxDir,
      workers: 4,
      clock: () => clockMs,
      backends: Object.fromEntries(destinationNames().map((name) => [name, receiver.origin])),
    });
  });
  after(async () => {
    await host?.close();
    await receiver?.close();
  });

  describe('its module', () => {
    const bytes = skip ? null : readFileSync(programPath);

    test('imports only WASI preview 1 and hostcalls the witx declares, with their signatures', () => {
      assert.deepEqual(checkImports(bytes, witxDir), []);
      const modules = new Set(wasmImports(bytes).map((i) => i.module));
      for (const m of modules) assert.ok(m === 'wasi_snapshot_preview1' || m.startsWith('fastly_'), m);
      assert.ok(wasmImports(bytes).some((i) => i.module === 'fastly_abi' && i.name === 'init'));
    });

    test('is a WASI command: exports _start and its memory', () => {
      const exports = WebAssembly.Module.exports(new WebAssembly.Module(bytes));
      assert.ok(exports.some((e) => e.name === '_start' && e.kind === 'function'));
      assert.ok(exports.some((e) => e.name === 'memory' && e.kind === 'memory'));
    });

    const pkg = join(root, 'functions/fastly/pkg/callhook.tar.gz');
    test('fastly compute pack made a package holding this program', { skip: existsSync(pkg) ? false : 'no package (bash functions/fastly/build.sh)' }, () => {
      const listing = execFileSync('tar', ['tzf', pkg], { encoding: 'utf8' }).split('\n');
      assert.ok(listing.includes('callhook/fastly.toml'), listing.join(' '));
      const packed = execFileSync('tar', ['xzf', pkg, '-O', 'callhook/bin/main.wasm'], { maxBuffer: 1 << 24 });
      assert.ok(Buffer.compare(packed, bytes) === 0, 'the packed main.wasm is the program built');
    });
  });

  describe('engine vectors', () => {
    for (const { file, document } of skip ? [] : loadVectors('engine')) {
      describe(file, () => {
        for (const v of document?.cases ?? []) {
          const request = v.request ? engineRequest(v.request) : null;
          let reason = request && outsideHook(request) ? 'the shells serve /hook only' : false;
          const proto = Object.entries(request?.headers ?? {}).find(([n]) => n.toLowerCase() === 'x-forwarded-proto');
          if (proto && proto[1] !== 'https') reason = 'Fastly Compute serves https only';
          test(v.name, { skip: reason }, async () => {
            clearStore();
            receiver.reset();
            useConfig(configTextOf(v), v.secrets);
            const run = await send(request ?? { method: 'POST', url: '/hook', body: '' }, v.now ?? DEFAULT_NOW);
            const trace = run.traces.find((t) => !('sweep' in t));
            assert.ok(trace, `the program traced no outcome: ${run.status} ${run.body}`);
            if (trace.refused) {
              assert.equal(run.status, 503, 'a refused config answers 503 config-invalid');
              checkEngineVector(v, { refused: true, errors: trace.errors, message: run.body });
              return;
            }
            checkEngineVector(v, { refused: false, outcome: trace.outcome });
            assertAnswered(run, trace.outcome);
            assertDelivered(receiver.received, trace.outcome);
          });
        }
      });
    }
  });

  describe('payload vectors (through a config with no routes)', () => {
    for (const { file, document } of skip ? [] : loadVectors('payload')) {
      describe(file, () => {
        for (const c of document?.cases ?? []) {
          const get = (c.request?.method ?? 'POST') === 'GET';
          const reason = get && outsideHook({ url: c.request.url ?? '/' }) ? 'the shells serve /hook only' : false;
          test(c.name, { skip: reason }, async () => {
            const { payload, options } = payloadInput(c);
            const validation = { mode: options.mode ?? 'lenient' };
            if (options.limits) validation.limits = options.limits;
            clearStore();
            useConfig(JSON.stringify({ validation, correlation: { enabled: false } }));
            const method = c.request.method ?? 'POST';
            const headers = {};
            if (options.contentType !== undefined) headers['Content-Type'] = options.contentType;
            const url = method === 'GET' ? options.url : '/hook';
            const run = await send({ method: method === 'GET' ? 'GET' : 'POST', url, headers, body: payload ?? '' });
            const trace = run.traces.find((t) => !('sweep' in t));
            assert.ok(trace && !trace.refused, `no outcome traced: ${run.status} ${run.body}`);
            const { outcome } = trace;
            assertAnswered(run, outcome);
            checkVerdict(c.expect, outcome.verdict, outcome.event);
          });
        }
      });
    }
  });

  describe('HTTP flows', () => {
    const initiate = skip ? '' : readFileSync(join(root, 'examples/payloads/initiate.form'), 'utf8');
    const complete = skip ? '' : readFileSync(join(root, 'examples/payloads/complete.form'), 'utf8');
    const withSid = (form, sid) => form.replace(/Call\.Sid=[^&]*/, `Call.Sid=${sid}`);
    const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
    const flowConfig = JSON.stringify({
      auth: { token: { value: '${CALLHOOK_TOKEN}', in: 'path' } },
      destinations: { sink: { url: 'http://127.0.0.1:9/sink' } },
      routes: [
        { name: 'each', to: ['sink'] },
        { name: 'done', on: 'complete', to: ['sink'] },
        { name: 'lost', on: 'abandoned', to: ['sink'] },
      ],
      correlation: { abandon_after_seconds: 60 },
    });
    // The same without abandoned calls within a day, for the retry tests that move the clock on.
    const retryConfig = JSON.stringify({ ...JSON.parse(flowConfig), correlation: { abandon_after_seconds: 86400 } });
    const T0 = 1_800_000_000;
    let server;
    const post = (path, body, headers = FORM) => fetch(`${server.url}${path}`, { method: 'POST', headers, body });
    const outbox = () => host.kv.list(RECORDS, { prefix: 'outbox/', limit: 1000 }).data;
    const dead = () => host.kv.list(RECORDS, { prefix: 'dead/', limit: 1000 }).data;
    const byRoute = (route) => receiver.received.filter((r) => r.headers['idempotency-key']?.endsWith(`:${route}`));

    before(async () => {
      server = await host.listen();
    });
    after(async () => {
      await server?.close();
    });
    const fresh = (config = flowConfig) => {
      clearStore();
      receiver.reset();
      host.setConfigStore('callhook_config', { config });
      host.setSecretStore('callhook_secrets', { CALLHOOK_TOKEN: 'flow-token-1234' });
      clockMs = T0 * 1000;
    };

    test('the compiled-in config with fastly.toml: accepted over HTTP, delivered to the backends, then a duplicate', async () => {
      clearStore();
      receiver.reset();
      host.setConfigStore('callhook_config', null);
      host.setSecretStore('callhook_secrets', { CALLHOOK_TOKEN: 'demo-token', GA4_API_SECRET: 'g', GOOGLE_ADS_DEVELOPER_TOKEN: 'd' });
      const first = await post('/hook/demo-token', complete);
      assert.equal(first.status, 200);
      assert.equal((await first.json()).status, 'accepted');
      await host.idle();
      assert.equal(receiver.received.length, 4, 'every-event + three answered-long-calls destinations');
      assert.ok(receiver.received.every((r) => r.headers['idempotency-key']?.startsWith('CA5e1f0d9c8b7a6f5e4d3c2b1a0f9e8d7c:')));
      assert.deepEqual(outbox(), [], 'delivered entries leave the outbox');
      const again = await post('/hook/demo-token', complete);
      assert.equal((await again.json()).status, 'duplicate');
      await host.idle();
      assert.equal(receiver.received.length, 4, 'a duplicate routes nothing');
      const log = host.logs.callhook_log.map((l) => JSON.parse(l));
      assert.ok(log.some((l) => l.msg === 'accepted') && log.some((l) => l.msg === 'duplicate'));
      assert.ok(!host.logs.callhook_log.join('\n').includes('+14155550123'), 'caller numbers stay out of the log');
    });

    test('GET webhooks, /healthz, unknown paths, wrong tokens, methods and oversized bodies', async () => {
      fresh();
      const query = withSid(initiate, 'CAget1');
      const get = await fetch(`${server.url}/hook/flow-token-1234?${query}`);
      assert.equal(get.status, 200);
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
      const missing = await fetch(`${server.url}/elsewhere`);
      assert.equal(missing.status, 404);
      assert.equal(missing.headers.get('content-type'), 'application/problem+json');
      assert.equal((await missing.json()).type, 'urn:callhook:problem:not-found');
      const wrong = await post('/hook/flow-token-9999', complete);
      assert.equal(wrong.status, 401);
      const text = await wrong.text();
      assert.equal(JSON.parse(text).status, 401);
      assert.ok(!text.includes('flow-token'), 'the problem document echoes no token');
      const put = await fetch(`${server.url}/hook/flow-token-1234`, { method: 'PUT', headers: FORM, body: complete });
      assert.equal(put.status, 405);
      const huge = await post('/hook/flow-token-1234', 'x'.repeat((1 << 20) + 1));
      assert.equal(huge.status, 413);
      const tooLarge = await huge.json();
      assert.deepEqual([tooLarge.status, tooLarge.type], [413, 'urn:callhook:problem:body-too-large']);
      await host.idle();
      assert.equal(receiver.received.length, 1, 'only the GET webhook was routed');
    });

    test('an invalid config in the Config Store answers 503 and logs every error, secrets unechoed', async () => {
      fresh(JSON.stringify({ routes: [{ name: 'x', to: ['nowhere'] }], auth: { token: { value: '${CALLHOOK_TOKEN}' } }, bogus: 1 }));
      const res = await post('/hook/flow-token-1234', complete);
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '60');
      const doc = await res.json();
      assert.equal(doc.status, 503);
      assert.equal(doc.type, 'urn:callhook:problem:config-invalid');
      await host.idle();
      const line = host.logs.callhook_log.map((l) => JSON.parse(l)).findLast((l) => l.msg === 'the engine could not be built');
      assert.match(line.detail, /\/bogus/);
      assert.match(line.detail, /\/routes\/0\/to\/0/);
      assert.ok(!JSON.stringify(host.logs).includes('flow-token-1234'), 'the token is never logged');
    });

    test('Initiate and Complete of ten calls at once: each event routed once, the call once', async () => {
      fresh();
      const sids = Array.from({ length: 10 }, (_, i) => `CAconc${i}`);
      const answers = await Promise.all(sids.flatMap((sid) => [
        post('/hook/flow-token-1234', withSid(initiate, sid)),
        post('/hook/flow-token-1234', withSid(complete, sid)),
      ]));
      // A compare-and-set that lost too often answers 503 with Retry-After: the sender retries.
      for (let i = 0; i < answers.length; i++) {
        let res = answers[i];
        while (res.status === 503) {
          assert.ok(res.headers.get('retry-after'));
          const sid = sids[i >> 1];
          res = await post('/hook/flow-token-1234', withSid(i % 2 ? complete : initiate, sid));
        }
        assert.equal(res.status, 200, await res.clone().text());
      }
      await host.idle();
      for (const sid of sids) {
        const keys = receiver.received.map((r) => r.headers['idempotency-key']).filter((k) => k.startsWith(`${sid}:`));
        assert.deepEqual(keys.sort(), [`${sid}:Call.Complete:each`, `${sid}:Call.Initiate:each`, `${sid}:complete:done`].sort(), sid);
      }
      assert.deepEqual(outbox(), []);
    });

    test('a backend answering 503 + Retry-After: kept in the outbox, retried by a later request, then delivered once', async () => {
      fresh(retryConfig);
      receiver.answerWith(() => ({ status: 503, headers: { 'Retry-After': '120' } }));
      const res = await post('/hook/flow-token-1234', withSid(initiate, 'CAretry'));
      assert.equal(res.status, 200, 'the sender is answered: the delivery is kept');
      await host.idle();
      assert.equal(receiver.received.length, 1);
      assert.equal(outbox().length, 1);
      const entry = JSON.parse(host.kv.get(RECORDS, outbox()[0]).text);
      assert.equal(entry.attempts, 1);
      // Retry-After: 120 from the moment of the attempt (the run's clock moves on from T0),
      // rounded up to the whole second the outbox keeps: never early.
      assert.ok(entry.next_at >= T0 + 120 && entry.next_at <= T0 + 121, `next_at ${entry.next_at - T0} s after T0`);
      assert.equal(entry.code, 'retryable_status');

      receiver.answerWith(() => ({ status: 200 }));
      clockMs = (T0 + 60) * 1000;  // not yet due
      await fetch(`${server.url}/hook/flow-token-1234`);
      await host.idle();
      assert.equal(receiver.received.length, 1, 'not retried before its time');
      clockMs = (T0 + 121) * 1000;
      await fetch(`${server.url}/hook/flow-token-1234`);
      await host.idle();
      assert.equal(receiver.received.length, 2, 'retried by the next request after its time');
      assert.equal(receiver.received[1].headers['idempotency-key'], 'CAretry:Call.Initiate:each');
      assert.deepEqual(outbox(), []);
    });

    test('a backend that is down: the webhook is still accepted and delivered once it is back', async () => {
      fresh();
      const down = createFastlyHost({
        wasm: programPath, manifest, witxDir, workers: 1, clock: () => clockMs,
        backends: { sink: 'http://127.0.0.1:9' },
        configStores: { callhook_config: { config: flowConfig } },
        secretStores: { callhook_secrets: { CALLHOOK_TOKEN: 'flow-token-1234' } },
      });
      try {
        const res = await down.fetch(new Request('https://callhook.test/hook/flow-token-1234', { method: 'POST', headers: FORM, body: withSid(initiate, 'CAdown') }));
        assert.equal(res.status, 200);
        await down.idle();
        const kept = down.kv.list(RECORDS, { prefix: 'outbox/' }).data;
        assert.equal(kept.length, 1, 'the delivery waits in the outbox');
        assert.equal(JSON.parse(down.kv.get(RECORDS, kept[0]).text).attempts, 1);
        // The engine's log line says why: the transport failed, and the next attempt's wait.
        const line = down.logs.callhook_log.map((l) => JSON.parse(l)).find((l) => l.msg === 'delivery_retry');
        assert.equal(line.code, 'transport_error');
        assert.match(line.reason, /^transport error: fastly_http_req\.send: error$/);
        assert.equal(line.destination, 'sink');
      } finally {
        await down.close();
      }
    });

    test('a backend refusing with 400 dead-letters the delivery at once', async () => {
      fresh();
      receiver.answerWith(() => ({ status: 400 }));
      await post('/hook/flow-token-1234', withSid(initiate, 'CAdead'));
      await host.idle();
      assert.deepEqual(outbox(), []);
      assert.equal(dead().length, 1);
      assert.equal(JSON.parse(host.kv.get(RECORDS, dead()[0]).text).delivery?.route ?? JSON.parse(host.kv.get(RECORDS, dead()[0]).text).route, 'each');
    });

    test('the config\'s attempts used up move a delivery to dead/, with the engine\'s reason', async () => {
      fresh(JSON.stringify({ ...JSON.parse(retryConfig), delivery: { attempts: 5, schedule_seconds: [3600], jitter: 0 } }));
      receiver.answerWith(() => ({ status: 500 }));
      await post('/hook/flow-token-1234', withSid(initiate, 'CAmany'));
      await host.idle();
      for (let i = 0; i < 10 && outbox().length > 0; i++) {
        clockMs += 7200 * 1000;  // past the longest backoff
        await fetch(`${server.url}/healthz`);  // does no background work
        await fetch(`${server.url}/hook/flow-token-1234`);
        await host.idle();
      }
      assert.equal(byRoute('each').length, 5, 'five attempts in all, as the config says');
      assert.deepEqual(outbox(), []);
      assert.equal(dead().length, 1);
      const letter = JSON.parse(host.kv.get(RECORDS, dead()[0]).text);
      assert.equal(letter.code, 'attempts_exhausted');
      assert.match(letter.reason, /gave up after 5 attempts; the last: HTTP 500/);
    });

    test('an Initiate with no Complete is swept as abandoned by a later request, once', async () => {
      fresh();
      await post('/hook/flow-token-1234', withSid(initiate, 'CAlost'));
      await host.idle();
      assert.equal(host.kv.list(RECORDS, { prefix: 'due/' }).data.length, 1, 'the call is in the sweep index');
      clockMs = (T0 + 30) * 1000;
      await fetch(`${server.url}/hook/flow-token-1234`);
      await host.idle();
      assert.equal(byRoute('lost').length, 0, 'not abandoned before its time');
      clockMs = (T0 + 61) * 1000;
      await fetch(`${server.url}/hook/flow-token-1234`);
      await host.idle();
      assert.deepEqual(byRoute('lost').map((r) => r.headers['idempotency-key']), ['CAlost:abandoned:lost']);
      clockMs = (T0 + 600) * 1000;
      await fetch(`${server.url}/hook/flow-token-1234`);
      await host.idle();
      assert.equal(byRoute('lost').length, 1, 'abandoned exactly once');
      assert.deepEqual(host.kv.list(RECORDS, { prefix: 'due/' }).data, []);
      const record = JSON.parse(host.kv.get(RECORDS, 'AC8f2b0e5c1d4a4f7e9b3c6d2a1e0f9b8c:CAlost').text);
      assert.equal(record.abandoned, true);
    });
  });

  describe('correlation sequences', () => {
    for (const { file, document } of skip ? [] : loadVectors('correlation')) {
      describe(file, () => {
        for (const v of document?.cases ?? []) {
          test(v.name, async () => {
            clearStore();
            receiver.reset();
            useConfig(configTextOf(v), v.secrets);
            const trace = { steps: [], records: {} };
            for (const step of v.steps ?? []) {
              const now = step.now ?? DEFAULT_NOW;
              const before = storedVersions();
              if (step.sweep) {
                // No timers on Fastly: a later request sweeps what is due. Any request will do.
                const run = await send({ method: 'GET', url: '/hook' }, now);
                const swept = run.traces.filter((t) => t.sweep === step.key);
                assert.ok(swept.length <= 1, 'a call is swept once per run');
                // Nothing due: the program did nothing, which is engine.sweep's empty outcome.
                const outcome = swept[0]?.outcome ?? {
                  response: { status: 200, headers: [], body: '' }, deliveries: [], routes: [],
                  record: null, record_key: null, expected_version: null, duplicate: false, log: null,
                };
                const entry = { outcome };
                if (outcome.record !== null) entry.storedVersion = before[outcome.record_key] ?? 0;
                trace.steps.push(entry);
                continue;
              }
              const request = engineRequest(step.request);
              if ('record' in step) {
                // A record given as is: put it where the program will read it.
                const form = new URLSearchParams(typeof request.body === 'string' ? request.body : '');
                host.kv.put(RECORDS, `${form.get('Account.Sid')}:${form.get('Call.Sid')}`, step.record);
              }
              const run = await send(request, now);
              const traced = run.traces.find((t) => !('sweep' in t));
              assert.ok(traced && !traced.refused, `no outcome traced: ${run.status} ${run.body}`);
              assertAnswered(run, traced.outcome);
              const entry = { outcome: traced.outcome };
              if (traced.outcome.record !== null && !('record' in step)) {
                entry.storedVersion = before[traced.outcome.record_key] ?? 0;
              }
              trace.steps.push(entry);
              if ('record' in step) clearStore();
            }
            for (const key of host.kv.list(RECORDS, { limit: 1000 }).data) {
              if (!key.includes('/')) trace.records[key] = host.kv.get(RECORDS, key).text;
            }
            checkSequence(v, trace);
          });
        }
      });
    }
  });
});

// Fastly's own local runtime, wherever it is installed: the same program, the same answers.
const viceroy = spawnSync('viceroy', ['--version'], { encoding: 'utf8' });
const viceroySkip = skip || (viceroy.status === 0 ? false : 'viceroy is not on PATH (the Node host above stands in for it)');
test('under Viceroy: accepted and delivered to the local backends', { skip: viceroySkip }, async () => {
  const rx = await startReceiver();
  const port = 20000 + Math.floor(Math.random() * 20000);
  const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'callhook-viceroy-'));
  const toml = readFileSync(manifest, 'utf8').replaceAll('http://127.0.0.1:9400', rx.origin);
  (await import('node:fs')).writeFileSync(join(dir, 'fastly.toml'), toml);
  const child = spawn('viceroy', ['-C', join(dir, 'fastly.toml'), '--addr', `127.0.0.1:${port}`, programPath], { stdio: 'ignore' });
  try {
    const body = readFileSync(join(root, 'examples/payloads/complete.form'));
    let res;
    for (let i = 0; i < 100 && !res; i++) {
      res = await fetch(`http://127.0.0.1:${port}/hook/demo-token`, {
        method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body,
      }).catch(() => new Promise((r) => setTimeout(r, 100)));
    }
    assert.equal(res?.status, 200);
    assert.equal((await res.json()).status, 'accepted');
    for (let i = 0; i < 50 && rx.received.length < 4; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(rx.received.length, 4);
  } finally {
    child.kill();
    await rx.close();
  }
});
