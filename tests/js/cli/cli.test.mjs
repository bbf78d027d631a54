// The callhook CLI as a user runs it: exit codes, help, NDJSON, and the published schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../../', import.meta.url).pathname;
const cli = process.env.CALLHOOK_CLI ?? join(root, 'build/native/callhook');
const example = (name) => join(root, 'examples/payloads', name);

function run(args, input) {
  const r = spawnSync(cli, args, { input, cwd: root, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('every command answers --help with its usage and exit 0', () => {
  for (const command of ['parse', 'validate', 'normalize', 'schema']) {
    const r = run([command, '--help']);
    assert.equal(r.code, 0, command);
    assert.match(r.out, new RegExp(`^Usage: callhook ${command}`), command);
  }
  const top = run(['--help']);
  assert.equal(top.code, 0);
  assert.match(top.out, /validate/);
});

test('validate exits 0 on a valid payload and prints the verdict', () => {
  const r = run(['validate', example('complete.form')]);
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.out), { valid: true, event: 'Call.Complete', errors: [], warnings: [] });
});

test('validate exits 1 on an invalid payload and lists every error', () => {
  const body = readFileSync(example('complete.form'), 'utf8')
    .replace('Call.Duration=187', 'Call.Duration=abc')
    .replace('Call.From=%2B14155550123', 'Call.From=+14155550123');
  const r = run(['validate', '-'], body);
  assert.equal(r.code, 1);
  const report = JSON.parse(r.out);
  assert.equal(report.valid, false);
  assert.deepEqual(report.errors.map((e) => [e.field, e.code]).sort(), [
    ['Call.Duration', 'not_integer'],
    ['Call.From', 'bad_e164'],
  ]);
  assert.match(report.errors.find((e) => e.field === 'Call.From').message, /%2B/);
});

test('strict mode turns unknown fields into errors', () => {
  const body = readFileSync(example('initiate.form'), 'utf8') + '&Custom.Thing=1';
  const lenient = run(['validate', '-'], body);
  assert.equal(lenient.code, 0);
  assert.equal(JSON.parse(lenient.out).warnings[0].code, 'unknown_field');
  const strict = run(['validate', '--strict', '-'], body);
  assert.equal(strict.code, 1);
  assert.equal(JSON.parse(strict.out).errors[0].code, 'unknown_field');
});

test('usage errors and unreadable files exit 2 with a message', () => {
  const bad = run(['validate', '--strict', '--lenient', example('complete.form')]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /exclude each other/);
  const missing = run(['validate', join(root, 'no/such/file')]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /cannot open/);
  const unknown = run(['validate', '--frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown option --frobnicate/);
  assert.equal(run(['no-such-command']).code, 2);
  assert.equal(run(['validate', '--max-fields', 'lots', '-'], '').code, 2);
});

test('normalize prints the canonical event, or the verdict when invalid', () => {
  const ok = run(['normalize', '--content-type', 'application/json', example('complete.json')]);
  assert.equal(ok.code, 0);
  const event = JSON.parse(ok.out);
  assert.equal(event.call.duration, 0);
  assert.equal(event.call.from.anonymous, true);
  assert.equal(event.call.start_date, '2024-05-01T09:02:10Z');
  const bad = run(['normalize', '-'], 'Action=Webhook');
  assert.equal(bad.code, 1);
  assert.equal(JSON.parse(bad.out).valid, false);
});

test('--url reads the payload from a GET query', () => {
  const url = readFileSync(example('initiate.url'), 'utf8').trim();
  const r = run(['normalize', '--url', url]);
  assert.equal(r.code, 0);
  assert.equal(JSON.parse(r.out).call.from.city, 'Oakland');
});

test('--ndjson answers one line per payload line, in order', () => {
  const lines = [
    readFileSync(example('initiate.form'), 'utf8'),
    '',
    JSON.stringify(JSON.parse(readFileSync(example('complete.json'), 'utf8'))),
    'Action=Webhook&Event=Call.Nope',
    readFileSync(example('initiate.url'), 'utf8').trim(),
  ];
  const r = run(['validate', '--ndjson', '-'], lines.join('\n') + '\n');
  assert.equal(r.code, 1, 'one invalid line makes the run exit 1');
  const results = r.out.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(results.map((x) => x.valid), [true, true, false, true]);
  assert.deepEqual(results.map((x) => x.event), ['Call.Initiate', 'Call.Complete', null, 'Call.Initiate']);
  const dir = mkdtempSync(join(tmpdir(), 'callhook-'));
  writeFileSync(join(dir, 'ok.ndjson'), lines[0] + '\r\n' + lines[2] + '\n');
  const norm = run(['normalize', '--ndjson', join(dir, 'ok.ndjson')]);
  assert.equal(norm.code, 0);
  assert.deepEqual(norm.out.trim().split('\n').map((l) => JSON.parse(l).event), ['Call.Initiate', 'Call.Complete']);
});

test('parse prints pairs in order with duplicates, and refuses past a limit', () => {
  const r = run(['parse', '-'], 'a=1&a=2&b');
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.out), [['a', '1'], ['a', '2'], ['b', '']]);
  const big = run(['parse', '--max-fields', '2', '-'], 'a=1&b=2&c=3');
  assert.equal(big.code, 1);
  assert.match(big.err, /too_many_fields/);
});

test('the published canonical event schema is the one the spec table generates', () => {
  const r = run(['schema', 'event']);
  assert.equal(r.code, 0);
  assert.equal(r.out, readFileSync(join(root, 'core/schema/call-event.schema.json'), 'utf8'),
    'regenerate with: build/native/callhook schema event > core/schema/call-event.schema.json');
});

const wasi = process.env.CALLHOOK_WASI ?? join(root, 'build/wasi/callhook.wasm');
test('the WASI command gives the same verdicts as native', { skip: !existsSync(wasi) && 'no WASI build' }, () => {
  const runner = join(root, 'tests/js/run-wasi.mjs');
  for (const [file, type] of [['complete.form', 'application/x-www-form-urlencoded'], ['complete.json', 'application/json']]) {
    const args = ['normalize', '--content-type', type, `examples/payloads/${file}`];
    const w = spawnSync(process.execPath, ['--no-warnings', runner, wasi, ...args], { cwd: root, encoding: 'utf8' });
    const n = run(args);
    assert.equal(w.status, n.code, file);
    assert.equal(w.stdout, n.out, file);
  }
});

test('the README has each sender\'s table as the core generates it', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  for (const sender of ['twilio', 'callrail', 'ctm', 'ringba']) {
    const table = readme.split(`<!-- sender:${sender}:begin -->\n`)[1]?.split(`<!-- sender:${sender}:end -->`)[0];
    assert.equal(table, run(['schema', 'sender', sender]).out,
      `regenerate the README table with: build/native/callhook schema sender ${sender}`);
  }
  assert.equal(run(['schema', 'sender', 'fonedynamics']).code, 2);
});

test('normalize --sender reads another sender\'s webhook onto the canonical event', () => {
  const body = JSON.stringify({ resource_id: 'CAL1', company_id: 'COM1', customer_phone_number: '+14155550101',
    tracking_phone_number: '+14155550199', start_time: '2025-01-14T09:01:30-08:00', answered: false, duration: 0 });
  const pre = run(['normalize', '--sender', 'callrail', '--webhook', 'pre-call', '-'], body);
  assert.equal(pre.code, 0, pre.out);
  const event = JSON.parse(pre.out);
  assert.deepEqual(event.source, { name: 'callrail', sender: 'callrail' });
  assert.equal(event.event, 'Call.Initiate');
  assert.equal(event.call.start_date, '2025-01-14T17:01:30Z');
  const post = JSON.parse(run(['normalize', '--sender', 'callrail', '-'], body).out);
  assert.equal(post.event, 'Call.Complete');
  assert.equal(post.call.disposition, 'NO ANSWER');
  const bad = run(['validate', '--sender', 'twilio', '-'], 'CallStatus=completed&AccountSid=AC1');
  assert.equal(bad.code, 1);
  assert.ok(JSON.parse(bad.out).errors.some((e) => e.field === 'CallSid' && e.code === 'missing'), bad.out);
  assert.equal(run(['validate', '--sender', 'nobody', '-'], '').code, 2);
});

test('the README field table is the one the spec table generates', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const table = readme.split('<!-- fields:begin -->\n')[1]?.split('<!-- fields:end -->')[0];
  assert.equal(table, run(['schema', 'fields']).out,
    'regenerate the README table with: build/native/callhook schema fields');
});
