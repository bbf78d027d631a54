// What a fresh Node process loads on its way to the first handled webhook: loading the wasm from
// the package's own file, building an engine and handling a request load neither undici nor the
// network modules it brings (the first use of the global Response, fetch or Headers loads them,
// which takes longer than compiling and instantiating the wasm).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageDir, packageSkip } from '../package-build.mjs';

const root = new URL('../../../', import.meta.url).pathname;

const probe = `
const before = new Set(process.moduleLoadList);
const callhook = await import(${JSON.stringify(join(packageDir, 'index.js'))});
const runtime = await callhook.init();
const engine = runtime.createEngine(${JSON.stringify(readFileSync(join(root, 'examples/configs/example.json'), 'utf8'))},
  { secrets: { CALLHOOK_TOKEN: 't', GA4_API_SECRET: 'g', GOOGLE_ADS_DEVELOPER_TOKEN: 'd' } });
const { response } = engine.handle({ method: 'POST', url: '/hook/t',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: ${JSON.stringify(readFileSync(join(root, 'examples/payloads/complete.form'), 'utf8').trim())} },
  { now: 1714533342 });
console.log(JSON.stringify({ status: response.status,
  loaded: process.moduleLoadList.filter((m) => !before.has(m) && m.startsWith('NativeModule ')) }));
`;

test('a fresh process loads no HTTP client on its way to the first webhook', { skip: packageSkip }, () => {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const { status, loaded } = JSON.parse(run.stdout);
  assert.equal(status, 200);
  const network = loaded.filter((m) => /undici|^NativeModule (net|tls|https?|http2|crypto|zlib)$/.test(m));
  assert.deepEqual(network, []);
});
