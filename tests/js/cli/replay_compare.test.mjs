// callhook replay --config NEW --compare OLD LOG: both configs over one log, the deliveries
// added, removed and changed per route and destination, body diffs per JSON Pointer, answers
// whose status changed; no secret value or caller's number in either form of the report; the
// WASI command reports exactly what the native one does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = new URL('../../../', import.meta.url).pathname;
// Resolved here: the commands run in a temporary folder (the WASI command sees only that one).
const cli = resolve(process.env.CALLHOOK_CLI ?? join(root, 'build/native/callhook'));
const wasi = resolve(process.env.CALLHOOK_WASI ?? join(root, 'build/wasi/callhook.wasm'));
const skip = existsSync(cli) ? false : `no CLI at ${cli}`;
const dir = mkdtempSync(join(tmpdir(), 'callhook-compare-'));
const secrets = { HOOK_TOKEN: 'hook-token-1', SINK_KEY: 'sink/key+secret', CRM_TOKEN: 'crm-bearer-value' };
const start = 1714533342;

// Calls 0..7: an Initiate, then (but for call 7, which is abandoned) a Complete 30 s later
// lasting i * 20 s, answered when i is even; one duplicate; one unreadable line.
function makeLog(token = 'hook-token-1') {
  const initiate = readFileSync(join(root, 'examples/payloads/initiate.form'), 'utf8').trim();
  const complete = readFileSync(join(root, 'examples/payloads/complete.form'), 'utf8').trim();
  const lines = [];
  const request = (body, at) => ({ method: 'POST', url: `/hook/${token}`, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body, received_at: at });
  for (let i = 0; i < 8; i++) {
    const sid = (b) => b.replace(/Call\.Sid=CA[0-9a-f]+/, `Call.Sid=CA${i}`);
    lines.push(request(sid(initiate), start + i * 10));
    if (i === 7) continue;
    const c = sid(complete).replace(/Call\.Duration=\d+/, `Call.Duration=${i * 20}`)
      .replace('Call.Disposition=ANSWERED', `Call.Disposition=${i % 2 === 0 ? 'ANSWERED' : 'NO+ANSWER'}`);
    lines.push(request(c, start + i * 10 + 30));
  }
  lines.push(lines[1]);
  const text = lines.map((l) => JSON.stringify(l));
  text.splice(3, 0, 'not json');
  // Past the abandon timeout, so call 7 is swept.
  text.push(JSON.stringify(request(initiate.replace(/Call\.Sid=CA[0-9a-f]+/, 'Call.Sid=CA99'), start + 2000)));
  return text.join('\n') + '\n';
}

function baseConfig() {
  return {
    auth: { token: { value: '${HOOK_TOKEN}', in: 'path' } },
    correlation: { abandon_after_seconds: 600, retention_seconds: 86400 },
    destinations: {
      sink: { url: 'https://sink.example/in?key=${SINK_KEY}' },
      crm: {
        format: 'template', url: 'https://crm.example/leads',
        headers: { Authorization: 'Bearer ${CRM_TOKEN}' },
        options: { body: { id: '{{ call.sid }}', seconds: '{{ call.duration }}', phone: '{{ call.from.number }}', note: 'from {{ call.from.city }}' } },
      },
      slack: { format: 'slack', url: 'https://hooks.slack.example/x' },
    },
    routes: [
      { name: 'every', to: ['sink'] },
      { name: 'long', on: 'complete', when: { call: { duration: { $gte: 60 } } }, to: ['crm', 'sink'] },
      { name: 'lost', on: 'abandoned', to: ['slack'] },
    ],
  };
}

let n = 0;
function write(value, name = `c${n++}.json`) {
  writeFileSync(join(dir, name), typeof value === 'string' ? value : JSON.stringify(value));
  return name;
}
const log = write(makeLog(), 'log.ndjson');

function compare(after, before, extra = [], env = secrets) {
  const r = spawnSync(cli, ['replay', '--config', after, '--compare', before, ...extra, log],
    { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function report(after, before, extra = []) {
  const r = compare(after, before, ['--json', ...extra]);
  assert.equal(r.code, 0, r.err);
  return { ...JSON.parse(r.out).compare, text: compare(after, before, extra).out };
}
const row = (rep, route, destination) => rep.routes.find((x) => x.route === route && x.destination === destination);

test('identical configs: no change, every delivery the same, exit 0 even with --fail-on-change', { skip }, () => {
  const a = write(baseConfig());
  const b = write(baseConfig());
  const rep = report(a, b);
  assert.equal(rep.identical, true);
  assert.equal(rep.requests, 18);
  assert.deepEqual(rep.unreadable, [{ line: 4, error: 'not JSON' }]);
  // every: 8 + 7 + 1 Initiates and Completes (the duplicate routes nothing); long: calls 3..6
  // to crm and sink; lost: call 7.
  assert.deepEqual(rep.deliveries, { old: 25, new: 25, added: 0, removed: 0, changed: 0, unchanged: 25 });
  assert.deepEqual(row(rep, 'long', 'crm'), { route: 'long', destination: 'crm', old: 4, new: 4, added: 0, removed: 0, changed: 0, unchanged: 4 });
  assert.deepEqual(row(rep, 'lost', 'slack').unchanged, 1);
  assert.equal(rep.statuses.changed, 0);
  assert.deepEqual([rep.changed, rep.added, rep.removed], [[], [], []]);
  assert.match(rep.text, /no difference: the same 25 deliveries, no answer changed status/);
  assert.equal(compare(a, b, ['--fail-on-change']).code, 0);
});

test('a route added and a destination removed: added and removed deliveries per route', { skip }, () => {
  const old = write(baseConfig());
  const next = baseConfig();
  next.routes.push({ name: 'missed', when: { 'Call.Disposition': 'NO ANSWER' }, to: ['slack'] });
  next.routes[1].to = ['crm'];
  const rep = report(write(next), old);
  assert.equal(rep.identical, false);
  assert.deepEqual(row(rep, 'missed', 'slack'), { route: 'missed', destination: 'slack', old: 0, new: 3, added: 3, removed: 0, changed: 0, unchanged: 0 });
  assert.deepEqual([row(rep, 'long', 'sink').removed, row(rep, 'long', 'crm').unchanged], [4, 4]);
  assert.deepEqual(rep.deliveries, { old: 25, new: 24, added: 3, removed: 4, changed: 0, unchanged: 21 });
  assert.deepEqual(rep.added.map((d) => d.idempotency_key), ['CA1:Call.Complete:missed', 'CA3:Call.Complete:missed', 'CA5:Call.Complete:missed']);
  assert.deepEqual(Object.keys(rep.added[0]), ['route', 'destination', 'idempotency_key', 'line', 'now']);
  assert.deepEqual(rep.removed.map((d) => d.idempotency_key), ['CA3:complete:long', 'CA4:complete:long', 'CA5:complete:long', 'CA6:complete:long']);
  assert.match(rep.text, /missed -> slack\s+0\s+3\s+3\s+0\s+0/);
  assert.match(rep.text, /added \(3\):\n  missed -> slack  CA1:Call\.Complete:missed  \(line 5\)/);
  const failing = compare(write(next), old, ['--fail-on-change']);
  assert.equal(failing.code, 1);
});

test('a template changed: the first changes with a per-JSON-Pointer body diff, --diff-limit', { skip }, () => {
  const old = write(baseConfig());
  const next = baseConfig();
  next.destinations.crm.options.body = { id: '{{ call.sid }}', minutes: '{{ call.duration }}', note: 'call from {{ call.from.city }}', phone: '{{ call.from.number }}' };
  const rep = report(write(next), old, ['--diff-limit', '2']);
  assert.deepEqual(row(rep, 'long', 'crm'), { route: 'long', destination: 'crm', old: 4, new: 4, added: 0, removed: 0, changed: 4, unchanged: 0 });
  assert.equal(rep.diff_limit, 2);
  assert.equal(rep.changed.length, 2);
  const first = rep.changed[0];
  assert.equal(first.idempotency_key, 'CA3:complete:long');
  assert.deepEqual(first.fields, []);
  assert.deepEqual(first.body, { json: true, more: 0, changes: [
    { pointer: '/note', old: 'from San Francisco', new: 'call from San Francisco' },
    { pointer: '/seconds', old: 60 },
    { pointer: '/minutes', new: 60 },
  ] });
  assert.match(rep.text, /changed \(4, the first 2 shown\):/);
  assert.match(rep.text, /    body \/note: "from San Francisco" -> "call from San Francisco"/);
  assert.match(rep.text, /    body \/minutes: \(none\) -> 60/);
});

test('a filter changed: the route\'s deliveries move to other calls', { skip }, () => {
  const old = write(baseConfig());
  const next = baseConfig();
  next.routes[1].when = { call: { duration: { $lt: 60 } } };
  const rep = report(write(next), old, ['--diff-limit', '10']);
  assert.deepEqual(row(rep, 'long', 'crm'), { route: 'long', destination: 'crm', old: 4, new: 3, added: 3, removed: 4, changed: 0, unchanged: 0 });
  assert.deepEqual(rep.added.filter((d) => d.destination === 'crm').map((d) => d.idempotency_key), ['CA0:complete:long', 'CA1:complete:long', 'CA2:complete:long']);
  assert.deepEqual(rep.removed.filter((d) => d.destination === 'crm').map((d) => d.idempotency_key), ['CA3:complete:long', 'CA4:complete:long', 'CA5:complete:long', 'CA6:complete:long']);
});

test('an auth change: answers whose status changed, and the deliveries they no longer make', { skip }, () => {
  const old = write(baseConfig());
  const next = baseConfig();
  next.auth.token.value = '${CRM_TOKEN}'; // the log's token is no longer the one
  const rep = report(write(next), old);
  assert.deepEqual(rep.statuses.transitions, [{ old: 200, new: 401, count: 17 }]);
  assert.equal(rep.statuses.changed, 17);
  assert.deepEqual(rep.statuses.first[0], { line: 1, old: 200, new: 401 });
  assert.equal(rep.statuses.first.length, 5);
  assert.deepEqual(rep.deliveries, { old: 25, new: 0, added: 0, removed: 25, changed: 0, unchanged: 0 });
  assert.match(rep.text, /answers: 17 changed status \(200 -> 401: 17\)/);
  assert.match(rep.text, /  line 1: 200 -> 401/);
});

test('no secret value and no caller number is printed, whatever changed', { skip }, () => {
  const old = write(baseConfig());
  const next = baseConfig();
  // Every place a secret is: the URL (changed), a header (changed), a body (changed).
  next.destinations.sink.url = 'https://sink.example/v2?key=${SINK_KEY}';
  next.destinations.crm.headers = { Authorization: 'Token ${CRM_TOKEN}', 'X-Hook': '${HOOK_TOKEN}' };
  next.destinations.crm.options.body.auth = '${SINK_KEY}';
  next.destinations.crm.options.body.phone = 'caller {{ call.from.number }}';
  const after = write(next);
  const rep = report(after, old, ['--diff-limit', '50']);
  const sink = rep.changed.find((c) => c.destination === 'sink');
  assert.deepEqual(sink.fields, [{ field: 'url', old: 'https://sink.example/in?key=${SINK_KEY}', new: 'https://sink.example/v2?key=${SINK_KEY}' }]);
  const crm = rep.changed.find((c) => c.destination === 'crm');
  assert.deepEqual(crm.fields, [
    { field: 'header', name: 'Authorization', old: 'Bearer ${CRM_TOKEN}', new: 'Token ${CRM_TOKEN}' },
    { field: 'header', name: 'X-Hook', old: null, new: '${HOOK_TOKEN}' },
  ]);
  assert.deepEqual(crm.body.changes, [
    { pointer: '/phone', old: '[number]', new: 'caller [number]' },
    { pointer: '/auth', new: '${SINK_KEY}' },
  ]);
  for (const out of [rep.text, compare(after, old, ['--json', '--diff-limit', '50']).out]) {
    for (const value of Object.values(secrets)) {
      for (const form of [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]) {
        assert.ok(!out.includes(form), `${form} printed`);
      }
    }
    assert.ok(!out.includes('4155550123'), 'a caller number printed');
    assert.match(out, /\$\{CRM_TOKEN\}/);
  }
});

test('bad usage, a bad config and an unreadable log exit 2', { skip }, () => {
  const good = write(baseConfig());
  const bad = write({ routes: [{ name: 'x', to: ['nowhere'] }] });
  assert.equal(compare(good, bad).code, 2);
  assert.equal(compare(bad, good).code, 2);
  assert.equal(compare(good, good, ['--state', 'st']).code, 2);
  assert.equal(compare(good, good, ['--diff-limit', 'many']).code, 2);
  const missing = spawnSync(cli, ['replay', '--config', good, '--compare', good, 'no-such.ndjson'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, ...secrets } });
  assert.equal(missing.status, 2);
  const help = spawnSync(cli, ['replay', '--compare', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--fail-on-change/);
  assert.match(spawnSync(cli, ['replay', '--help'], { encoding: 'utf8' }).stdout, /--compare OLD/);
});

test('the WASI command reports exactly what the native one does', { skip: skip || (!existsSync(wasi) && 'no WASI build') }, () => {
  const old = write(baseConfig());
  const next = baseConfig();
  next.destinations.crm.options.body.seconds = '{{ call.duration | default:0 }}s';
  next.routes.push({ name: 'missed', when: { 'Call.Disposition': 'NO ANSWER' }, to: ['slack'] });
  const after = write(next);
  for (const extra of [['--json'], []]) {
    const args = ['replay', '--config', after, '--compare', old, ...extra, log];
    const w = spawnSync(process.execPath, ['--no-warnings', join(root, 'tests/js/run-wasi.mjs'), wasi, ...args],
      { cwd: dir, encoding: 'utf8', env: { ...process.env, ...secrets } });
    assert.equal(w.status, 0, w.stderr);
    assert.equal(w.stdout, compare(after, old, extra).out);
    if (extra.length) assert.equal(JSON.parse(w.stdout).compare.deliveries.added, 3);
  }
});
