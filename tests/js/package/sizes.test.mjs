// The size budget of the edge artifacts: every wasm under 300 KB of gzip -9 (the npm package's,
// the WASI command, the Fastly program, and the Worker bundle's when one was made with
// `wrangler deploy --dry-run --outdir build/cloudflare`), and the Fastly and WASI programs are
// WASI commands: they export `_start` and their memory. Sizes only; timings are in
// bench/edge-report.sh. An artifact not built is skipped, saying how to build it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const root = new URL('../../../', import.meta.url).pathname;
const BUDGET = 300 * 1024; // 307200 bytes of gzip -9

const wasmIn = (dir) => (existsSync(join(root, dir))
  ? readdirSync(join(root, dir)).filter((f) => f.endsWith('.wasm')).map((f) => join(dir, f))
  : []);

const artifacts = [
  { name: 'the npm package (Emscripten)', files: wasmIn('bindings/js/dist'), build: 'bash bindings/js/build.sh' },
  { name: 'the WASI command', files: ['build/wasi/callhook.wasm'], command: true, build: 'cmake --preset wasi && cmake --build --preset wasi' },
  { name: 'the Fastly program', files: ['build/wasi/callhook-fastly.wasm'], command: true, build: 'cmake --preset wasi && cmake --build --preset wasi' },
  { name: 'the Worker bundle', files: wasmIn('build/cloudflare'), build: 'cd functions/cloudflare && npx wrangler deploy --dry-run --outdir ../../build/cloudflare' },
];

for (const a of artifacts) {
  const present = a.files.filter((f) => existsSync(join(root, f)));
  const skip = present.length === 0 && `${a.name} is not built (${a.build})`;

  test(`${a.name}: each wasm is under 300 KB gzip`, { skip }, () => {
    for (const f of present) {
      const gzip = gzipSync(readFileSync(join(root, f)), { level: 9 }).length;
      assert.ok(gzip < BUDGET, `${f} is ${gzip} bytes of gzip -9, over the budget of ${BUDGET}`);
    }
  });

  if (a.command) {
    test(`${a.name} is a WASI command: it exports _start and memory`, { skip }, () => {
      for (const f of present) {
        const exports = WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(join(root, f))));
        const kinds = Object.fromEntries(exports.map((e) => [e.name, e.kind]));
        assert.equal(kinds._start, 'function', `${f} exports no _start function: ${JSON.stringify(exports)}`);
        assert.equal(kinds.memory, 'memory', `${f} exports no memory: ${JSON.stringify(exports)}`);
      }
    });
  }
}
