// Per-request time of the Fastly Compute program in the repository's Node host
// (functions/fastly/host), one fresh instance per request as Fastly runs it, with the config
// compiled in (no Config Store `config`): the program as CMake builds it against the one
// functions/fastly/build.sh pre-initializes with Wizer.
//
//   bash functions/fastly/build.sh && node bench/fastly-request.mjs [-n 400] [PLAIN.wasm]
//
// Four programs take turns request by request (so that whatever else the machine does weighs on
// each alike): PLAIN (default build/wasi/callhook-fastly.wasm) and PLAIN after Wizer, each with
// the config compiled in (examples/configs/example.json, which names secrets: the snapshot holds
// it read, and each request binds the Secret Store's values) and with that config rewritten in
// place to name none (its ${NAME} references made literals of the same length, as
// tests/js/fastly/fastly_snapshot.test.mjs does: the snapshot holds its engine). For each program and kind of request it prints the
// median and the 10th percentile (the quiet-machine figure) of
//   instantiate: creating the instance (imports linked, memory made, data segments copied);
//   response:    from the start of the instance to the downstream answer (the sender's wait);
//   total:       from the start of the instance to the program's exit (deliveries and the
//                outbox's background work included).
// Kinds: `healthz` (the floor: no engine, no store), `refused` (a webhook with a wrong token:
// the engine, then a 401), `initiate` (a new call accepted: engine, KV record, one delivery to a
// loopback backend). Runs are sequential (one worker each); the first --warmup of each kind warm
// V8 up and are not counted. A benchmark, not a test: times move with the machine, ratios less.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createFastlyHost } from '../functions/fastly/host/host.mjs';

const root = new URL('..', import.meta.url).pathname;
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { n: { type: 'string', short: 'n', default: '400' }, warmup: { type: 'string', default: '40' } },
});
const runs = Number(values.n);
const warmup = Number(values.warmup);
const plain = positionals[0] ?? join(root, 'build/wasi/callhook-fastly.wasm');
const wizer = process.env.WIZER || join(root, 'node_modules/.bin/wizer');
if (!existsSync(plain) || !existsSync(wizer)) {
  console.error(`needs ${plain} (bash functions/fastly/build.sh) and Wizer (npm ci)`);
  process.exit(2);
}

// The programs.
const dir = mkdtempSync(join(tmpdir(), 'callhook-bench-'));
const wizen = (input, output) => {
  execFileSync(wizer, [input, '--rename-func=_start=wizer.resume', '-o', output], { stdio: 'pipe' });
  return output;
};
const exampleText = readFileSync(join(root, 'examples/configs/example.json'), 'utf8');
const literal = (name) => `s-${name.toLowerCase().replaceAll('_', '-')}-`;
const freeText = exampleText.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_, name) => literal(name));
const bytes = readFileSync(plain);
const at = bytes.indexOf(Buffer.from(exampleText));
const programs = [
  { label: 'example, built per request', wasm: plain, token: 'demo-token' },
  { label: 'example, pre-initialized', wasm: wizen(plain, join(dir, 'example.wizer.wasm')), token: 'demo-token' },
];
if (at >= 0) {
  const free = Buffer.from(bytes);
  free.write(freeText, at, 'utf8');
  writeFileSync(join(dir, 'free.wasm'), free);
  programs.push(
    { label: 'no secrets, built per request', wasm: join(dir, 'free.wasm'), token: literal('CALLHOOK_TOKEN') },
    { label: 'no secrets, pre-initialized', wasm: wizen(join(dir, 'free.wasm'), join(dir, 'free.wizer.wasm')), token: literal('CALLHOOK_TOKEN') },
  );
} else {
  console.log('(another config than examples/configs/example.json is compiled in: no secret-free variant)');
}

// A backend that accepts every delivery.
const receiver = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
});
await new Promise((done) => receiver.listen(0, '127.0.0.1', done));
const origin = `http://127.0.0.1:${receiver.address().port}`;

const initiate = readFileSync(join(root, 'examples/payloads/initiate.form'), 'utf8').trim();
const form = { 'content-type': 'application/x-www-form-urlencoded' };
let sid = 0;
const kinds = {
  healthz: () => ({ method: 'GET', url: 'https://callhook.test/healthz' }),
  refused: () => ({ method: 'POST', url: 'https://callhook.test/hook/not-the-token', headers: form, body: initiate }),
  initiate: (token) => {
    const params = new URLSearchParams(initiate);
    params.set('Call.Sid', `CA${(sid++).toString(16).padStart(32, '0')}`);
    return { method: 'POST', url: `https://callhook.test/hook/${token}`, headers: form, body: params.toString() };
  },
};

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const fmt = (xs) => `${quantile(xs, 0.5).toFixed(3)} (p10 ${quantile(xs, 0.1).toFixed(3)})`;

const hosts = programs.map(({ wasm }) => createFastlyHost({
  wasm,
  manifest: join(root, 'functions/fastly/fastly.toml'),
  workers: 1,
  backends: Object.fromEntries(['events-log', 'ga4', 'google-ads', 'slack', 'crm'].map((n) => [n, origin])),
}));
const results = programs.map(() => ({}));
for (const [kind, make] of Object.entries(kinds)) {
  for (const r of results) r[kind] = { instantiate: [], response: [], total: [], status: new Set() };
  for (let i = 0; i < warmup + runs; i++) {
    for (const [p, host] of hosts.entries()) {
      const { response, done } = host.run(make(programs[p].token));
      await (await response).arrayBuffer();
      const s = await done;
      if (s.trap) throw new Error(`${programs[p].label}: ${kind}: the program trapped: ${s.trap}`);
      const seen = results[p][kind];
      seen.status.add(s.status);
      if (i < warmup) continue;
      seen.instantiate.push(s.instantiateMs);
      seen.response.push(s.responseMs);
      seen.total.push(s.totalMs);
    }
  }
}
console.log(`ms per request, median (10th percentile), ${runs} runs per kind and program`);
for (const [p, { label, wasm }] of programs.entries()) {
  console.log(`${label}: ${wasm} (${readFileSync(wasm).length} bytes)`);
  for (const [kind, r] of Object.entries(results[p])) {
    console.log(`  ${kind.padEnd(9)} ${[...r.status].join('/')}  instantiate ${fmt(r.instantiate)}  response ${fmt(r.response)}  total ${fmt(r.total)}`);
  }
}
console.log('response time, pre-initialized against built per request (median; p10):');
for (let p = 1; p < programs.length; p += 2) {
  for (const kind of Object.keys(kinds)) {
    const [a, b] = [results[p - 1][kind].response, results[p][kind].response];
    const ratio = (q) => (quantile(b, q) / quantile(a, q)).toFixed(2);
    const less = (q) => ((quantile(a, q) - quantile(b, q)) * 1000).toFixed(0);
    console.log(`  ${programs[p].label.padEnd(28)} ${kind.padEnd(9)} ${ratio(0.5)}x (${less(0.5)} us less); p10 ${ratio(0.1)}x (${less(0.1)} us less)`);
  }
}
await Promise.all(hosts.map((h) => h.close()));
receiver.close();
rmSync(dir, { recursive: true, force: true });
