// callhook seal and callhook unseal as a user runs them: an outcome's deliveries sealed with the
// config's secrets from the environment (no secret value in what is printed), unsealed back
// exactly, and the errors on stderr with a non-zero exit; the WASI command prints the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../../', import.meta.url).pathname;
const cli = process.env.CALLHOOK_CLI ?? join(root, 'build/native/callhook');
const wasi = process.env.CALLHOOK_WASI ?? join(root, 'build/wasi/callhook.wasm');
const secrets = { CALLHOOK_TOKEN: 's3cret-token', GA4_API_SECRET: 'ga4/secret+value', GOOGLE_ADS_DEVELOPER_TOKEN: 'dev-token-value' };
const config = 'examples/configs/example.json';
const dir = mkdtempSync(join(tmpdir(), 'callhook-seal-'));
const skip = existsSync(cli) ? false : `no CLI at ${cli}`;

function run(args, { input, env = secrets } = {}) {
  const r = spawnSync(cli, args, { input, cwd: root, encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function deliveries() {
  const r = run(['handle', '--config', config, '--now', '1714533342', 'examples/requests/complete-post.json']);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out).deliveries;
}

test('seal prints ${NAME} references and no secret; unseal gives the delivery back exactly', { skip }, () => {
  const list = deliveries();
  assert.equal(list.length, 4);
  assert.ok(list.some((d) => d.url.includes('api_secret=ga4/secret+value')), 'the GA4 URL carries its secret');
  for (const d of list) {
    const sealed = run(['seal', '--config', config, '-'], { input: JSON.stringify(d) });
    assert.equal(sealed.code, 0, sealed.err);
    for (const value of Object.values(secrets)) {
      for (const form of [value, encodeURIComponent(value)]) {
        assert.ok(!sealed.out.includes(form), `${form} in ${sealed.out}`);
      }
    }
    assert.equal(JSON.parse(sealed.out).sealed, 1);
    const file = join(dir, `${d.destination}.sealed`);
    writeFileSync(file, sealed.out);
    const back = run(['unseal', '--config', config, file]);
    assert.equal(back.code, 0, back.err);
    assert.deepEqual(JSON.parse(back.out), d);
  }
  const ga4 = list.find((d) => d.destination === 'ga4');
  assert.match(run(['seal', '--config', config], { input: JSON.stringify(ga4) }).out, /api_secret=\$\{GA4_API_SECRET\}/);
});

test('unseal: a secret no longer set is missing_secret, other text bad_sealed, both exit 1', { skip }, () => {
  const ads = deliveries().find((d) => d.destination === 'google-ads');
  const sealed = run(['seal', '--config', config], { input: JSON.stringify(ads) }).out;
  // A config that references another name for the token: GOOGLE_ADS_DEVELOPER_TOKEN is gone.
  const other = join(dir, 'other.json');
  writeFileSync(other, JSON.stringify({ destinations: { sink: { url: 'https://example.com/?k=${OTHER_SECRET}' } }, routes: [] }));
  const gone = run(['unseal', '--config', other], { input: sealed, env: { ...secrets, OTHER_SECRET: 'other-secret' } });
  assert.equal(gone.code, 1);
  assert.equal(gone.out, '');
  assert.match(gone.err, /GOOGLE_ADS_DEVELOPER_TOKEN.*\(missing_secret\)/);
  assert.ok(!gone.err.includes('dev-token-value'));
  for (const input of ['not json', '{}', sealed.replace('${GOOGLE_ADS_DEVELOPER_TOKEN}', '${lower}')]) {
    const bad = run(['unseal', '--config', config], { input });
    assert.equal(bad.code, 1, input);
    assert.match(bad.err, /\(bad_sealed\)/);
  }
  // Usage: no config, a delivery that is not one, two files.
  assert.equal(run(['seal'], { input: '{}' }).code, 2);
  assert.equal(run(['seal', '--config', config], { input: '{"route": 1}' }).code, 2);
  assert.equal(run(['unseal', '--config', config, 'a', 'b']).code, 2);
  assert.equal(run(['seal', '--help']).code, 0);
});

test('the WASI command seals and unseals exactly as native does', { skip: skip || (!existsSync(wasi) && 'no WASI build') }, () => {
  const ga4 = deliveries().find((d) => d.destination === 'ga4');
  const wasiRun = (args, input) => spawnSync(process.execPath, ['--no-warnings', join(root, 'tests/js/run-wasi.mjs'), wasi, ...args],
    { cwd: root, encoding: 'utf8', input, env: { ...process.env, ...secrets } });
  const sealed = run(['seal', '--config', config], { input: JSON.stringify(ga4) });
  const w = wasiRun(['seal', '--config', config, '-'], JSON.stringify(ga4));
  assert.equal(w.status, 0, w.stderr);
  assert.equal(w.stdout, sealed.out);
  const back = wasiRun(['unseal', '--config', config, '-'], sealed.out);
  assert.equal(back.status, 0, back.stderr);
  assert.equal(back.stdout, run(['unseal', '--config', config], { input: sealed.out }).out);
});
