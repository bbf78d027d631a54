// callhook rerender: a dead delivery (from handle's outcome) rendered again from the record
// handle --record-out wrote, by a config whose template has been fixed, under the same
// idempotency key; refusals exit 1 with their code; the WASI command prints the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = new URL('../../../', import.meta.url).pathname;
const cli = resolve(process.env.CALLHOOK_CLI ?? join(root, 'build/native/callhook'));
const wasi = resolve(process.env.CALLHOOK_WASI ?? join(root, 'build/wasi/callhook.wasm'));
const skip = existsSync(cli) ? false : `no CLI at ${cli}`;
const dir = mkdtempSync(join(tmpdir(), 'callhook-rerender-'));
const env = { PATH: process.env.PATH, CRM_KEY: 'crm-key-value' };

const config = (body) => ({
  destinations: { crm: { format: 'template', url: 'https://crm.example/leads?key=${CRM_KEY}', options: { body } } },
  routes: [{ name: 'leads', to: ['crm'] }, { name: 'calls', on: 'complete', to: ['crm'] }],
});
writeFileSync(join(dir, 'old.json'), JSON.stringify(config({ id: '{{ call.sid }}', seconds: '{{ call.duraton }}' })));
writeFileSync(join(dir, 'new.json'), JSON.stringify(config({ id: '{{ call.sid }}', seconds: '{{ call.duration }}' })));
writeFileSync(join(dir, 'request.json'), JSON.stringify({
  method: 'POST', url: '/hook', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  body: readFileSync(join(root, 'examples/payloads/complete.form'), 'utf8').trim(),
}));

const run = (args) => {
  const r = spawnSync(cli, args, { cwd: dir, encoding: 'utf8', env });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

function deadLetters() {
  const r = run(['handle', '--config', 'old.json', '--now', '1714533342', '--record-out', 'record.json', 'request.json']);
  assert.equal(r.code, 0, r.err);
  const { deliveries } = JSON.parse(r.out);
  assert.equal(deliveries.length, 2);
  deliveries.forEach((d, i) => writeFileSync(join(dir, `dead${i}.json`), JSON.stringify(d)));
  return deliveries;
}

test('rerender renders a dead delivery with the fixed template under its key', { skip }, () => {
  const dead = deadLetters();
  assert.equal(JSON.parse(dead[1].body).seconds, null, 'the old template misspelt the path');
  for (const [i, args] of [
    [0, ['--route', 'leads', '--destination', 'crm', '--trigger', 'event', '--event', 'Call.Complete']],
    [1, ['--route', 'calls', '--destination', 'crm', '--trigger', 'complete']],
    [0, ['--delivery', 'dead0.json']],
    [1, ['--delivery', 'dead1.json']],
  ]) {
    const r = run(['rerender', '--config', 'new.json', '--record', 'record.json', ...args]);
    assert.equal(r.code, 0, r.err);
    const d = JSON.parse(r.out);
    assert.deepEqual({ ...d, body: undefined }, { ...dead[i], body: undefined });
    assert.deepEqual(JSON.parse(d.body), { id: 'CA5e1f0d9c8b7a6f5e4d3c2b1a0f9e8d7c', seconds: 187 });
  }
  // With the config that sent it, exactly the delivery that died.
  const same = run(['rerender', '--config', 'old.json', '--record', 'record.json', '--delivery', 'dead1.json']);
  assert.deepEqual(JSON.parse(same.out), dead[1]);
});

test('refusals exit 1 with their code; bad usage exits 2', { skip }, () => {
  deadLetters();
  const r = run(['rerender', '--config', 'new.json', '--record', 'record.json', '--route', 'gone', '--destination', 'crm', '--trigger', 'complete']);
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  assert.match(r.err, /\(unknown_route\)/);
  const initiate = run(['rerender', '--config', 'new.json', '--record', 'record.json', '--route', 'leads', '--destination', 'crm', '--trigger', 'event', '--event', 'Call.Initiate']);
  assert.match(initiate.err, /\(record_missing_event\)/);
  assert.equal(run(['rerender', '--config', 'new.json', '--record', 'record.json']).code, 2);
  assert.equal(run(['rerender', '--config', 'new.json', '--record', 'record.json', '--delivery', 'dead0.json', '--route', 'x']).code, 2);
  assert.equal(run(['rerender', '--record', 'record.json', '--delivery', 'dead0.json']).code, 2);
  assert.equal(run(['rerender', '--help']).code, 0);
});

test('the WASI command rerenders exactly as native does', { skip: skip || (!existsSync(wasi) && 'no WASI build') }, () => {
  deadLetters();
  const args = ['rerender', '--config', 'new.json', '--record', 'record.json', '--delivery', 'dead1.json'];
  const w = spawnSync(process.execPath, ['--no-warnings', join(root, 'tests/js/run-wasi.mjs'), wasi, ...args],
    { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(w.status, 0, w.stderr);
  assert.equal(w.stdout, run(args).out);
});
