// The npm package (bindings/js: the core in wasm through Embind) against the pipeline a
// JavaScript developer would write instead (bench/node-baseline.mjs: URLSearchParams, an ajv
// schema with the spec's rules, a nested object, JSON.stringify), per call, in one process run.
// Also prints the package's size, raw and compressed. Ratios, not absolute times, are what to
// compare between machines.
//
// Usage: node bench/package-bench.mjs [PAYLOADS]   (build first: bash bindings/js/build.sh)
import { readFileSync, statSync } from 'node:fs';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import { pipelineObject } from './node-baseline.mjs';

const root = new URL('../', import.meta.url);
const dist = new URL('bindings/js/dist/', root);
const count = Number(process.argv[2] ?? 20000);

// ---- sizes --------------------------------------------------------------------------------------

console.log('package size (bindings/js/dist):');
let totals = [0, 0, 0];
for (const file of ['callhook_wasm.wasm', 'callhook_wasm.mjs', '../index.js']) {
  const bytes = readFileSync(new URL(file, dist));
  const gz = gzipSync(bytes, { level: 9 }).length;
  const br = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  totals = [totals[0] + bytes.length, totals[1] + gz, totals[2] + br];
  console.log(`  ${file.replace('../', '').padEnd(20)} ${String(bytes.length).padStart(8)} bytes` +
    `  gzip ${String(gz).padStart(7)}  brotli ${String(br).padStart(7)}`);
}
console.log(`  ${'total'.padEnd(20)} ${String(totals[0]).padStart(8)} bytes  gzip ${String(totals[1]).padStart(7)}` +
  `  brotli ${String(totals[2]).padStart(7)}`);

// ---- payloads, as bench/make-ndjson.mjs makes them ---------------------------------------------

const templates = ['initiate.form', 'complete.form'].map((f) =>
  readFileSync(new URL(`examples/payloads/${f}`, root), 'utf8').trim());
const payloads = [];
for (let i = 0; i < count; i++) {
  const params = new URLSearchParams(templates[i % 2]);
  params.set('Call.Sid', `CA${(i >> 1).toString(16).padStart(32, '0')}`);
  if (i % 2) params.set('Call.Duration', String((i * 7) % 900));
  payloads.push(params.toString());
}
const payloadBytes = payloads.reduce((n, p) => n + p.length, 0);

// ---- the JavaScript pipeline: bench/node-baseline.mjs's, per payload -----------------------------

const baselineObject = pipelineObject;
const baselineJson = (line) => JSON.stringify(baselineObject(line));

// ---- the package --------------------------------------------------------------------------------

const callhook = await import(new URL('bindings/js/index.js', root));
const runtime = await callhook.init();
const bytesPayloads = payloads.map((p) => new TextEncoder().encode(p));
const engine = runtime.createEngine(
  JSON.parse(readFileSync(new URL('examples/configs/example.json', root), 'utf8')),
  { secrets: { CALLHOOK_TOKEN: 'bench-token', GA4_API_SECRET: 'x', GOOGLE_ADS_DEVELOPER_TOKEN: 'y' } });
const requests = payloads.map((body) => ({
  method: 'POST', url: '/hook/bench-token',
  headers: { 'content-type': 'application/x-www-form-urlencoded' }, body,
}));

const completeBody = readFileSync(new URL('examples/payloads/complete.form', root), 'utf8');
const completeRequests = Array.from({ length: Math.min(count, 5000) }, () => ({
  method: 'POST', url: '/hook/bench-token',
  headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: completeBody,
}));

// Sanity: both pipelines accept every payload.
for (let i = 0; i < 2; i++) {
  if (!runtime.validate(payloads[i]).valid || baselineObject(payloads[i]).valid === false) {
    throw new Error('a generated payload is not valid');
  }
}

// ns per call: the best of `rounds` passes over the payloads, after a warm-up pass.
function time(fn, inputs, rounds = 5) {
  let sink = 0;
  for (const x of inputs) sink ^= fn(x) ? 1 : 0;
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (const x of inputs) sink ^= fn(x) ? 1 : 0;
    best = Math.min(best, Number(process.hrtime.bigint() - start) / inputs.length);
  }
  if (sink === 42) console.log('');
  return best;
}
async function timeAsync(fn, inputs, rounds = 3) {
  for (const x of inputs) await fn(x);
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (const x of inputs) await fn(x);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / inputs.length);
  }
  return best;
}

const raw = runtime.module;
const rawNormalizeText = (body) => {
  // The same crossing without JSON.parse: the canonical event's JSON text, as the baseline's
  // JSON.stringify gives it.
  const ptr = runtime.write([body]);
  return runtime.answer(raw.inspectPayload(2, ptr, runtime.lengths[0], 0))[1];
};

const results = {
  baselineJson: time(baselineJson, payloads),
  baselineObject: time(baselineObject, payloads),
  validate: time((b) => runtime.validate(b), payloads),
  normalize: time((b) => runtime.normalize(b), payloads),
  normalizeBytes: time((b) => runtime.normalize(b), bytesPayloads),
  normalizeText: time(rawNormalizeText, payloads),
  normalizeAsync: await timeAsync((b) => callhook.normalize(b), payloads),
  handle: time((r) => engine.handle(r, { now: 1714533342 }), requests),
  // What callhook_bench's BM_HandleThreeRoutes times natively: the example Complete, always.
  handleComplete: time((r) => engine.handle(r, { now: 1714533342 }), completeRequests),
};

const kb = payloadBytes / payloads.length;
console.log(`\n${count} form payloads (Initiate and Complete), ${kb.toFixed(0)} bytes each on average;` +
  ` Node ${process.version}`);
const row = (name, ns, against) => {
  const ratio = against === undefined ? '' : `  ${(against / ns).toFixed(2)}x the JS pipeline`;
  console.log(`  ${name.padEnd(70)} ${(ns / 1000).toFixed(2).padStart(7)} µs/call${ratio}`);
};
row('JS pipeline -> JSON text (bench/node-baseline.mjs)', results.baselineJson);
row('JS pipeline -> object (no JSON.stringify)', results.baselineObject);
row('package normalize(string) -> JSON text (no JSON.parse)', results.normalizeText, results.baselineJson);
row('package normalize(string) -> object', results.normalize, results.baselineObject);
row('package normalize(Uint8Array) -> object', results.normalizeBytes, results.baselineObject);
row('package validate(string) -> verdict object', results.validate, results.baselineObject);
row('package await normalize(string) (async API) -> object', results.normalizeAsync, results.baselineObject);
row('package engine.handle(request) (example config, 4 routes)', results.handle);
row('package engine.handle(the example Complete; natively BM_HandleThreeRoutes)', results.handleComplete);
console.log('\nratio > 1: the package is faster than the JS pipeline by that factor.');
engine.close();
