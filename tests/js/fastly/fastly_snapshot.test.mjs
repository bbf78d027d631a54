// The pre-initialized Fastly program: functions/fastly/build.sh runs Wizer on the program, which
// calls its `wizer.initialize` (constructors, the compiled-in config read with its secrets
// unbound, and its engine when it names no secret) and writes the instance out as the program to deploy, `_start` being
// `wizer.resume`. Checked here: what Wizer leaves (exports, the same imports), that a request takes
// the snapshot's engine exactly when it may (the compiled-in config, named by no Config Store
// `config` or by that very text) and answers as the program built per request does, that a config
// naming secrets is held read and binds the Secret Store's values per request (a missing or
// refused value answering as the program built per request does), and that the package holds
// the pre-initialized program. Where the engine came from is what the program traces (Config Store
// `trace` = `outcomes`): each trace line says "engine": "snapshot" or "built". No timing is
// asserted. A compiled-in config without secrets is made by rewriting, byte for byte and at the
// same length, the example config compiled into the program (its ${NAME} references become
// literals), so no second build is needed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFastlyHost } from '../../../functions/fastly/host/host.mjs';
import { wasmImports } from '../../../functions/fastly/host/witx.mjs';
import { plainProgram, programPath, wizenedProgram } from './program.mjs';

const root = new URL('../../../', import.meta.url).pathname;
// The program before Wizer: the one CALLHOOK_FASTLY_WASM names (its plain build when it names a
// .wizer.wasm), else build/wasi's.
const plain = process.env.CALLHOOK_FASTLY_WASM
  ? process.env.CALLHOOK_FASTLY_WASM.replace(/\.wizer\.wasm$/, '.wasm')
  : plainProgram;
const wizer = process.env.WIZER || join(root, 'node_modules/.bin/wizer');
const exampleText = readFileSync(join(root, 'examples/configs/example.json'), 'utf8');
const missing = !existsSync(plain) ? 'no Fastly build (cmake --preset wasi && cmake --build --preset wasi)'
  : !existsSync(wizer) ? 'no Wizer (npm ci)' : false;
// Under CI a missing prerequisite fails rather than skips.
if (missing && (process.env.CI === 'true' || process.env.CI === '1')) throw new Error(missing);
const plainBytes = missing ? null : readFileSync(plain);
const embedded = plainBytes ? plainBytes.indexOf(Buffer.from(exampleText)) : -1;
const notExample = !missing && embedded < 0 ? 'another config than examples/configs/example.json is compiled in' : false;

const RECORDS = 'callhook_records';
const NOW_MS = 1_800_000_000_000;
const TOKEN = 'demo-token';  // fastly.toml's CALLHOOK_TOKEN

// The example config with each ${NAME} a literal of the same length: `s-name-in-lower-case-`.
const literal = (name) => `s-${name.toLowerCase().replaceAll('_', '-')}-`;
const freeText = exampleText.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_, name) => literal(name));
const freeToken = literal('CALLHOOK_TOKEN');

const wizen = (input, output) => execFileSync(wizer, [input, '--rename-func=_start=wizer.resume', '-o', output], { stdio: 'pipe' });

function startReceiver() {
  const received = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({ url: req.url, key: req.headers['idempotency-key'], body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      origin: `http://127.0.0.1:${server.address().port}`,
      received,
      close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => done()); }),
    }));
  });
}

describe('the pre-initialized Fastly program', { skip: missing || notExample }, () => {
  let dir;
  let receiver;
  const hosts = {};
  const programs = {};

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'callhook-snapshot-'));
    receiver = await startReceiver();
    // The program with a config that names no secret compiled in: same length, same place.
    assert.equal(Buffer.byteLength(freeText), Buffer.byteLength(exampleText));
    const free = Buffer.from(plainBytes);
    free.write(freeText, embedded, 'utf8');
    programs.plain = plain;
    programs.wizened = join(dir, 'example.wizer.wasm');
    programs.free = join(dir, 'free.wasm');
    programs.freeWizened = join(dir, 'free.wizer.wasm');
    writeFileSync(programs.free, free);
    wizen(plain, programs.wizened);
    wizen(programs.free, programs.freeWizened);
    for (const [name, wasm] of Object.entries(programs)) {
      hosts[name] = createFastlyHost({
        wasm,
        manifest: join(root, 'functions/fastly/fastly.toml'),
        workers: 1,
        clock: () => NOW_MS,
        backends: Object.fromEntries(['events-log', 'ga4', 'google-ads', 'slack', 'crm'].map((n) => [n, receiver.origin])),
        configStores: { callhook_config: { trace: 'outcomes' } },
      });
    }
  });
  after(async () => {
    await Promise.all(Object.values(hosts).map((h) => h.close()));
    await receiver?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const initiate = () => readFileSync(join(root, 'examples/payloads/initiate.form'), 'utf8').trim();
  // One request on a fresh store; resolves with the status, the trace line and what was delivered.
  async function send(name, { token = TOKEN, sid = 'CA00000000000000000000000000snap' } = {}) {
    const host = hosts[name];
    for (const key of host.kv.list(RECORDS, { limit: 1000 }).data) host.kv.delete(RECORDS, key);
    receiver.received.length = 0;
    const from = host.logs.callhook_trace?.length ?? 0;
    const { response, done } = host.run({
      method: 'POST', url: `https://callhook.test/hook/${token}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: initiate().replace(/Call\.Sid=[^&]*/, `Call.Sid=${sid}`),
    });
    const res = await response;
    const body = await res.text();
    const stats = await done;
    assert.equal(stats.trap, null, `the program trapped: ${stats.trap}`);
    assert.deepEqual(stats.unsupported, []);
    const traces = (host.logs.callhook_trace ?? []).slice(from).map((line) => JSON.parse(line));
    const trace = traces.find((t) => !('sweep' in t));
    assert.ok(trace, `no outcome traced: ${res.status} ${body}`);
    const delivered = receiver.received.map((r) => `${r.url} ${r.key}`).sort();
    return { status: res.status, body, trace, delivered, hostcalls: stats.hostcalls };
  }

  test('Wizer leaves `_start` and the memory, takes out its entry points and keeps the imports', () => {
    const exportsOf = (file) => WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(file))).map((e) => e.name).sort();
    assert.deepEqual(exportsOf(programs.plain), ['_start', 'memory', 'wizer.initialize', 'wizer.resume']);
    assert.deepEqual(exportsOf(programs.wizened), ['_start', 'memory']);
    assert.deepEqual(wasmImports(readFileSync(programs.wizened)), wasmImports(plainBytes));
  });

  test('a compiled-in config that names no secret: each request takes the engine from the snapshot', async () => {
    const snap = await send('freeWizened', { token: freeToken });
    assert.equal(snap.status, 200, snap.body);
    assert.equal(snap.trace.engine, 'snapshot');
    assert.ok(snap.delivered.length > 0, 'the accepted webhook was delivered');
    // The program that is not pre-initialized builds the same engine per request, and answers alike.
    const built = await send('free', { token: freeToken });
    assert.equal(built.trace.engine, 'built');
    assert.deepEqual(snap.trace.outcome, built.trace.outcome);
    assert.deepEqual(snap.delivered, built.delivered);
    assert.equal(snap.body, built.body);
    // A wrong token is refused by the snapshot's engine too.
    const refused = await send('freeWizened', { token: 'not-the-token' });
    assert.equal(refused.status, 401);
    assert.equal(refused.trace.engine, 'snapshot');
  });

  test('a Config Store `config` of the very same text takes the snapshot; any other text is built', async () => {
    const host = hosts.freeWizened;
    try {
      host.setConfigStore('callhook_config', { config: freeText, trace: 'outcomes' });
      const same = await send('freeWizened', { token: freeToken });
      assert.equal(same.trace.engine, 'snapshot');
      // One byte more (the same config to a reader) is another text: built, with the same answer.
      host.setConfigStore('callhook_config', { config: `${freeText} `, trace: 'outcomes' });
      const other = await send('freeWizened', { token: freeToken });
      assert.equal(other.trace.engine, 'built');
      assert.deepEqual(other.trace.outcome, same.trace.outcome);
      // A config that differs for real is the one used.
      const noRoutes = JSON.stringify({ ...JSON.parse(freeText), routes: [] });
      host.setConfigStore('callhook_config', { config: noRoutes, trace: 'outcomes' });
      const changed = await send('freeWizened', { token: freeToken });
      assert.equal(changed.trace.engine, 'built');
      assert.equal(changed.status, 200);
      assert.deepEqual(changed.trace.outcome.deliveries, []);
    } finally {
      host.setConfigStore('callhook_config', { trace: 'outcomes' });
    }
  });

  test('the example config names secrets: the snapshot holds it read, each request binds the Secret Store\'s values', async () => {
    const wizened = await send('wizened');
    assert.equal(wizened.status, 200, wizened.body);
    assert.equal(wizened.trace.engine, 'snapshot');
    assert.ok((wizened.hostcalls['fastly_secret_store.get'] ?? 0) > 0, 'the secrets were read for this request');
    const built = await send('plain');
    assert.equal(built.trace.engine, 'built');
    assert.deepEqual(wizened.trace.outcome, built.trace.outcome);
    assert.deepEqual(wizened.delivered, built.delivered);
    assert.equal(wizened.body, built.body);
  });

  test('secrets are bound per request: a changed value applies, a missing or refused one answers as the program built per request', async () => {
    const manifestSecrets = { CALLHOOK_TOKEN: TOKEN, GA4_API_SECRET: 'demo-ga4-secret', GOOGLE_ADS_DEVELOPER_TOKEN: 'demo-developer-token' };
    const withSecrets = (entries) => {
      for (const name of ['wizened', 'plain']) hosts[name].setSecretStore('callhook_secrets', entries);
    };
    try {
      withSecrets({ ...manifestSecrets, CALLHOOK_TOKEN: 'another-token' });
      const changed = await send('wizened', { token: 'another-token' });
      assert.equal(changed.status, 200, changed.body);
      assert.equal(changed.trace.engine, 'snapshot');
      const old = await send('wizened');
      assert.equal(old.status, 401);
      assert.equal(old.trace.engine, 'snapshot');
      // A secret that is not set, and one whose value its setting refuses (an empty token): the
      // config is parsed with them, for the same problem document and errors.
      const { GA4_API_SECRET: _, ...missing } = manifestSecrets;
      for (const entries of [missing, { ...manifestSecrets, CALLHOOK_TOKEN: '' }]) {
        withSecrets(entries);
        const a = await send('wizened');
        const b = await send('plain');
        assert.equal(a.status, 503, a.body);
        assert.equal(JSON.parse(a.body).type.endsWith('config-invalid'), true, a.body);
        assert.equal(a.body, b.body);
        assert.equal(a.trace.refused, true);
        assert.equal(a.trace.engine, 'built');
        assert.deepEqual(a.trace.errors, b.trace.errors);
        assert.ok(a.trace.errors.length > 0);
      }
    } finally {
      withSecrets(manifestSecrets);
    }
  });

  const pkg = join(root, 'functions/fastly/pkg/callhook.tar.gz');
  const packed = existsSync(pkg) && existsSync(wizenedProgram) && programPath === wizenedProgram
    ? false : 'no package made by build.sh from this build (bash functions/fastly/build.sh)';
  test('build.sh packs the pre-initialized program, and the Fastly tests run it', { skip: packed }, () => {
    const main = execFileSync('tar', ['xzf', pkg, '-O', 'callhook/bin/main.wasm'], { maxBuffer: 1 << 24 });
    assert.ok(Buffer.compare(main, readFileSync(wizenedProgram)) === 0, 'the packed main.wasm is build/wasi/callhook-fastly.wizer.wasm');
    const names = WebAssembly.Module.exports(new WebAssembly.Module(main)).map((e) => e.name);
    assert.ok(!names.includes('wizer.initialize'), 'the packed program is pre-initialized');
  });
});
