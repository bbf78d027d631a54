// The WASI build of the CLI (build/wasi/callhook.wasm) under Node's WASI: it imports nothing
// beyond WASI preview 1, and the payload vector corpus gives the same verdicts and canonical
// events through it as the vectors expect of native.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WASI } from 'node:wasi';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const wasmPath = process.env.CALLHOOK_WASI ?? join(root, 'build/wasi/callhook.wasm');
const skip = !existsSync(wasmPath) && 'no WASI build (cmake --preset wasi && cmake --build --preset wasi)';
const dir = mkdtempSync(join(tmpdir(), 'callhook-wasi-'));

let module;
function compiled() {
  module ??= new WebAssembly.Module(readFileSync(wasmPath));
  return module;
}

// Runs the CLI once with the body in a preopened folder; returns {code, stdout}.
function run(args, body = '') {
  writeFileSync(join(dir, 'body'), body);
  const out = openSync(join(dir, 'out'), 'w');
  const wasi = new WASI({ version: 'preview1', args: ['callhook', ...args], env: {}, preopens: { '/data': dir },
    stdout: out, returnOnExit: true });
  const instance = new WebAssembly.Instance(compiled(), wasi.getImportObject());
  const code = wasi.start(instance);
  closeSync(out);
  return { code, stdout: readFileSync(join(dir, 'out'), 'utf8') };
}

test('the WASI command imports only WASI preview 1', { skip }, () => {
  const imports = WebAssembly.Module.imports(compiled());
  assert.ok(imports.length > 0);
  for (const i of imports) {
    assert.equal(i.module, 'wasi_snapshot_preview1', `${i.module}.${i.name}`);
    assert.equal(i.kind, 'function');
  }
});

const findings = (list) => (list ?? []).map((d) => `${d.field}|${d.code}`).sort();

test('every payload vector gives the expected verdict and canonical event through WASI', { skip }, () => {
  const folder = join(root, 'tests/vectors/payload');
  let checked = 0;
  for (const file of readdirSync(folder).filter((f) => f.endsWith('.json'))) {
    for (const c of JSON.parse(readFileSync(join(folder, file), 'utf8')).cases) {
      const r = c.request;
      const limits = c.options?.limits ?? {};
      const flags = [];
      if (c.options?.mode === 'strict') flags.push('--strict');
      for (const [k, flag] of [['max_body_bytes', '--max-body'], ['max_fields', '--max-fields'], ['max_name_bytes', '--max-name'], ['max_value_bytes', '--max-value']]) {
        if (limits[k] !== undefined) flags.push(flag, String(limits[k]));
      }
      let body;
      if (r.body_base64 !== undefined) body = Buffer.from(r.body_base64, 'base64');
      else if (r.body_file !== undefined) body = readFileSync(join(root, r.body_file));
      else body = Buffer.from((r.body ?? '') + (r.body_repeat ? r.body_repeat.text.repeat(r.body_repeat.times) : ''));
      const get = (r.method ?? 'POST') === 'GET';
      if (get) flags.push('--url', r.url);
      else if (r.content_type !== undefined) flags.push('--content-type', r.content_type);
      const input = get ? [] : ['/data/body'];
      const report = run(['validate', ...flags, ...input], body);
      const verdict = JSON.parse(report.stdout);
      const name = `${file}: ${c.name}`;
      assert.equal(verdict.valid, c.expect.valid, name);
      assert.equal(report.code, c.expect.valid ? 0 : 1, name);
      assert.deepEqual(findings(verdict.errors), findings(c.expect.errors), name);
      assert.deepEqual(findings(verdict.warnings), findings(c.expect.warnings), name);
      if (c.expect.canonical) {
        const normalized = run(['normalize', ...flags, ...input], body);
        assert.deepEqual(JSON.parse(normalized.stdout), c.expect.canonical, name);
      }
      checked++;
    }
  }
  assert.ok(checked >= 280, `checked ${checked}`);
});
