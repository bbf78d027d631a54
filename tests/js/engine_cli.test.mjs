// The engine commands as a user runs them: check-config, match, verify, handle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const cli = process.env.CALLHOOK_CLI ?? join(root, 'build/native/callhook');
const secrets = { CALLHOOK_TOKEN: 's3cret-token', GA4_API_SECRET: 'ga4-secret', GOOGLE_ADS_DEVELOPER_TOKEN: 'dev-token' };
const dir = mkdtempSync(join(tmpdir(), 'callhook-engine-'));

function run(args, { input, env = {} } = {}) {
  const r = spawnSync(cli, args, { input, cwd: root, encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('check-config accepts the example and lists every problem with its JSON Pointer', () => {
  const ok = run(['check-config', 'examples/configs/example.json'], { env: secrets });
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /valid \(3 routes, 5 destinations\)/);
  const missing = run(['check-config', 'examples/configs/example.json']);
  assert.equal(missing.code, 1);
  assert.equal(missing.err.trim().split('\n').length, 3, missing.err);
  assert.match(missing.err, /\/auth\/token\/value: The secret CALLHOOK_TOKEN is not set/);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ routes: [{ name: 'r', to: ['nowhere'], when: { x: { $wat: 1 } } }], surprise: 1 }));
  const r = run(['check-config', bad]);
  assert.equal(r.code, 1);
  assert.match(r.err, /\/surprise: .*unknown_key/);
  assert.match(r.err, /\/routes\/0\/to\/0: .*unknown_destination/);
  assert.match(r.err, /\/routes\/0\/when.*bad_filter/);
  assert.equal(run(['check-config']).code, 2);
});

test('match prints true or false and exits 2 on a bad filter', () => {
  const event = run(['normalize', 'examples/payloads/complete.form']).out;
  const yes = run(['match', '{"call": {"duration": {"$gte": 30}, "disposition": "ANSWERED"}}', '-'], { input: event });
  assert.equal(yes.code, 0);
  assert.equal(yes.out, 'true\n');
  const no = run(['match', '{"call.disposition": {"$in": ["BUSY", "FAILED"]}}', '-'], { input: event });
  assert.equal(no.code, 0);
  assert.equal(no.out, 'false\n');
  assert.equal(run(['match', '{"a": {"$bogus": 1}}', '-'], { input: '{}' }).code, 2);
  assert.equal(run(['match', 'not json', '-'], { input: '{}' }).code, 2);
  assert.equal(run(['match', '{}', '-'], { input: 'not json' }).code, 2);
});

test('verify checks a CallRail signature computed by Node\'s own crypto', () => {
  const body = readFileSync(join(root, 'examples/payloads/complete.json'));
  const signature = createHmac('sha1', 'rail-secret').update(body).digest('base64');
  const file = join(dir, 'body.json');
  writeFileSync(file, body);
  const ok = run(['verify', '--scheme', 'callrail', '--secret', 'rail-secret', '--header', `Signature: ${signature}`, file]);
  assert.equal(ok.code, 0, ok.err);
  const tampered = Buffer.concat([body, Buffer.from(' ')]);
  const bad = run(['verify', '--scheme', 'callrail', '--secret', 'rail-secret', '--header', `Signature: ${signature}`, '-'], { input: tampered });
  assert.equal(bad.code, 1);
  assert.doesNotMatch(bad.err, /rail-secret/);
  assert.equal(run(['verify', '--scheme', 'nope', '--secret', 'x', file]).code, 2);
});

test('verify checks a Standard Webhooks signature and its timestamp', () => {
  const key = Buffer.from('0123456789abcdef0123456789abcdef');
  const secret = `whsec_${key.toString('base64')}`;
  const body = '{"Event":"Call.Complete"}';
  const id = 'msg_1';
  const ts = '1714533342';
  const sig = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
  const args = ['verify', '--scheme', 'standard-webhooks', '--secret', secret, '--header', `webhook-id: ${id}`,
    '--header', `webhook-timestamp: ${ts}`, '--header', `webhook-signature: v1,bogus v1,${sig}`];
  assert.equal(run([...args, '--now', '1714533400', '-'], { input: body }).code, 0);
  const stale = run([...args, '--now', '1714543342', '-'], { input: body });
  assert.equal(stale.code, 1);
  assert.match(stale.err, /stale_timestamp/);
});

test('handle prints the outcome: response, deliveries, routes, log', () => {
  const r = run(['handle', '--config', 'examples/configs/example.json', '--now', '1714533342', 'examples/requests/complete-post.json'], { env: secrets });
  assert.equal(r.code, 0, r.err);
  const outcome = JSON.parse(r.out);
  assert.equal(outcome.response.status, 200);
  assert.deepEqual(outcome.deliveries.map((d) => d.destination), ['events-log', 'ga4', 'google-ads', 'crm']);
  assert.equal(outcome.event.call.sid, 'CA5e1f0d9c8b7a6f5e4d3c2b1a0f9e8d7c');
  assert.ok(!r.out.includes('s3cret-token'), 'the URL token never appears in the outcome');
  assert.ok(!JSON.stringify(outcome.log).includes('+14155550123'), 'the log carries no caller number');
  const noConfig = run(['handle', '--config', 'examples/configs/example.json', 'examples/requests/complete-post.json']);
  assert.equal(noConfig.code, 2, 'missing secrets make the config unusable');
  const badRequest = join(dir, 'req.json');
  writeFileSync(badRequest, '{"headers": 5}');
  assert.equal(run(['handle', '--config', 'examples/configs/example.json', badRequest], { env: secrets }).code, 2);
});

const wasi = process.env.CALLHOOK_WASI ?? join(root, 'build/wasi/callhook.wasm');
test('the WASI command handles a request exactly as native does', { skip: !existsSync(wasi) && 'no WASI build' }, () => {
  const args = ['handle', '--config', 'examples/configs/example.json', '--now', '1714533342', 'examples/requests/complete-post.json'];
  const w = spawnSync(process.execPath, ['--no-warnings', join(root, 'tests/js/run-wasi.mjs'), wasi, ...args],
    { cwd: root, encoding: 'utf8', env: { ...process.env, ...secrets } });
  const n = run(args, { env: secrets });
  assert.equal(w.status, 0, w.stderr);
  assert.equal(w.stdout, n.out);
});
