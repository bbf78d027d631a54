// The engine commands as a user runs them: check-config, match, verify, handle, sweep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../../', import.meta.url).pathname;
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

test('match takes a plain value under $not as not equal, and an uncomparable operand as false', () => {
  const event = run(['normalize', 'examples/payloads/complete.form']).out;
  const cases = [
    ['{"call.disposition": {"$not": "ANSWERED"}}', 'false'],
    ['{"call.disposition": {"$not": "BUSY"}}', 'true'],
    ['{"call.duration": {"$not": "187"}}', 'false'], // a numeric string equals the number 187
    ['{"$not": true}', 'true'],
    ['{"call.survey.nothing": {"$not": "x"}}', 'true'], // missing, as $neq
  ];
  for (const [filter, expected] of cases) {
    const r = run(['match', filter, '-'], { input: event });
    assert.equal(r.code, 0, `${filter}: ${r.err}`);
    assert.equal(r.out, `${expected}\n`, filter);
    assert.equal(r.err, '', filter);
  }
  for (const [doc, filter, expected] of [['"created"', '{"$not": "created"}', 'false'], ['1', '{"$not": 2}', 'true']]) {
    assert.equal(run(['match', filter, '-'], { input: doc }).out, `${expected}\n`, `${doc} against ${filter}`);
  }
  const gt = run(['match', '{"test": {"$gt": [1, 2, 3]}}', '-'], { input: '{"test": 1}' });
  assert.equal(gt.code, 0, 'an operand the operator cannot use is not a bad filter');
  assert.equal(gt.out, 'false\n');
  assert.match(gt.err, /warning: \/test\/\$gt: .*false.*\(uncomparable_operand\)/);
});

test('check-config warns about filter operands that make their operator false', () => {
  const file = join(dir, 'uncomparable.json');
  writeFileSync(file, JSON.stringify({
    destinations: { d: { url: 'https://example.com/x' } },
    routes: [{ name: 'ok', to: ['d'], when: { call: { disposition: { $not: 'BUSY' } } } },
      { name: 'never', to: ['d'], when: { $or: [{ 'call.duration': { $gt: [1, 2] } }, { 'call.sid': { $exist: 'yes' } }] } }],
  }));
  const text = run(['check-config', file]);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /valid \(2 routes, 1 destination\)/);
  assert.match(text.err, /warning: \/routes\/1\/when\/\$or\/0\/call\.duration\/\$gt: .*\(uncomparable_operand\)/);
  assert.match(text.err, /warning: \/routes\/1\/when\/\$or\/1\/call\.sid\/\$exist: /);
  assert.equal(text.err.trim().split('\n').length, 2, text.err);
  const json = run(['check-config', '--json', file]);
  assert.equal(json.code, 0);
  const report = JSON.parse(json.out);
  assert.equal(report.valid, true);
  assert.deepEqual(report.errors, []);
  assert.deepEqual(report.warnings.map((w) => [w.field, w.code]), [
    ['/routes/1/when/$or/0/call.duration/$gt', 'uncomparable_operand'],
    ['/routes/1/when/$or/1/call.sid/$exist', 'uncomparable_operand'],
  ]);
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

test('verify checks a Standard Webhooks v1a (Ed25519) signature made by Node\'s own crypto', () => {
  // A fresh key pair each run: the core's Ed25519 must agree with OpenSSL's on any key.
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);  // SPKI ends with the key
  const whpk = `whpk_${raw.toString('base64')}`;
  const body = readFileSync(join(root, 'examples/payloads/complete.json'));
  const id = `msg_${Date.now()}`;
  const ts = '1714533342';
  const signed = (content) => sign(null, Buffer.from(content), privateKey).toString('base64');
  const sig = signed(Buffer.concat([Buffer.from(`${id}.${ts}.`), body]));
  const headers = (prefix, signature) => ['--header', `${prefix}-id: ${id}`, '--header', `${prefix}-timestamp: ${ts}`,
    '--header', `${prefix}-signature: ${signature}`];
  const verify = (scheme, hdrs, input = body) =>
    run(['verify', '--scheme', scheme, '--secret', whpk, ...hdrs, '--now', '1714533400', '-'], { input });
  const ok = verify('standard-webhooks', headers('webhook', `v1a,${sig}`));
  assert.equal(ok.code, 0, ok.err);
  assert.equal(verify('svix', headers('svix', `v1,bogus v1a,${sig}`)).code, 0, 'svix names and alias');
  const tampered = verify('standard-webhooks', headers('webhook', `v1a,${sig}`), Buffer.concat([body, Buffer.from(' ')]));
  assert.equal(tampered.code, 1);
  assert.match(tampered.err, /bad_signature/);
  assert.doesNotMatch(tampered.err, new RegExp(raw.toString('base64').replace(/[+/=]/g, '.')));
  // Another message signed by the same key does not verify this one.
  assert.equal(verify('standard-webhooks', headers('webhook', `v1a,${signed('other')}`)).code, 1);
  // An HMAC v1 entry means nothing to a public key.
  const hmac = createHmac('sha256', raw).update(`${id}.${ts}.`).update(body).digest('base64');
  assert.equal(verify('standard-webhooks', headers('webhook', `v1,${hmac}`)).code, 1);
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

// Correlation through the CLI, as a shell would do it with files: a token-protected config with
// an `event`, a `complete` and an `abandoned` route, and requests built from the example payloads.
const correlationConfig = {
  auth: { token: { value: '${CALLHOOK_TOKEN}', in: 'path' } },
  correlation: { abandon_after_seconds: 600, retention_seconds: 86400 },
  destinations: { sink: { url: 'http://127.0.0.1:9400/sink' } },
  routes: [
    { name: 'each', to: ['sink'] },
    { name: 'done', on: 'complete', to: ['sink'] },
    { name: 'lost', on: 'abandoned', to: ['sink'] },
  ],
};
const sid = 'CA5e1f0d9c8b7a6f5e4d3c2b1a0f9e8d7c';
const recordKey = `AC8f2b0e5c1d4a4f7e9b3c6d2a1e0f9b8c:${sid}`;
const tokenEnv = { CALLHOOK_TOKEN: secrets.CALLHOOK_TOKEN };

// A fresh directory holding the config and one request file per example payload (and one with a
// wrong token); returns their paths.
function correlationFixture() {
  const at = mkdtempSync(join(dir, 'corr-'));
  const config = join(at, 'config.json');
  writeFileSync(config, JSON.stringify(correlationConfig));
  const request = (name, payload, token) => {
    const file = join(at, `${name}.request.json`);
    const body = readFileSync(join(root, `examples/payloads/${payload}.form`), 'utf8').trimEnd();
    writeFileSync(file, JSON.stringify({ method: 'POST', url: `/hook/${token}`,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body }));
    return file;
  };
  return {
    at,
    config,
    initiate: request('initiate', 'initiate', secrets.CALLHOOK_TOKEN),
    complete: request('complete', 'complete', secrets.CALLHOOK_TOKEN),
    wrongToken: request('wrong-token', 'complete', 'not-the-token'),
  };
}

function outcomeOf(r) {
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out);
}

const routesOf = (outcome) => outcome.deliveries.map((d) => d.route);
const keyOf = (delivery) => delivery.headers.find(([name]) => name === 'Idempotency-Key')?.[1];

test('handle --record/--record-out carries a call from Initiate to Complete through one file', () => {
  const f = correlationFixture();
  const record = join(f.at, 'record.json');
  const handle = (request, now) => run(['handle', '--config', f.config, '--now', String(now),
    '--record', record, '--record-out', record, request], { env: tokenEnv });

  // The Initiate: no record yet, so no --record; --record-out creates the file.
  const firstRun = run(['handle', '--config', f.config, '--now', '1714533342', '--record-out', record, f.initiate],
    { env: tokenEnv });
  const first = outcomeOf(firstRun);
  assert.equal(first.response.status, 200);
  assert.equal(first.duplicate, false);
  assert.deepEqual(routesOf(first), ['each']);
  assert.equal(first.expected_version, 0, 'no record was stored before');
  assert.ok(existsSync(record), '--record-out writes the record');
  const stored1 = readFileSync(record, 'utf8');
  assert.equal(first.record, stored1, 'the record is written byte for byte as the outcome carries it');
  const r1 = JSON.parse(stored1);
  assert.equal(r1.format, 1);
  assert.equal(r1.key, recordKey);
  assert.equal(r1.version, 1);
  assert.equal(r1.initiate.received_at, 1714533342);
  assert.equal(r1.complete ?? null, null);
  assert.equal(r1.sweep_at, 1714533342 + 600, 'an Initiate waits for its Complete');
  assert.equal(first.version, 1, 'the outcome says which version it stores');
  assert.equal(first.sweep_at, r1.sweep_at, 'and when the call is swept next, so no shell reads the record');

  // The Complete, passing the stored record back and writing over it.
  const secondRun = handle(f.complete, 1714533372);
  const second = outcomeOf(secondRun);
  assert.equal(second.record, readFileSync(record, 'utf8'), 'written byte for byte');
  assert.equal(second.response.status, 200);
  assert.equal(JSON.parse(second.response.body).status, 'accepted');
  assert.equal(second.duplicate, false);
  assert.equal(second.expected_version, 1, 'the shell must find version 1 still stored');
  assert.deepEqual(routesOf(second), ['each', 'done'], 'the complete route fires with the event route');
  assert.equal(keyOf(second.deliveries[1]), `${sid}:complete:done`);
  const r2 = JSON.parse(readFileSync(record, 'utf8'));
  assert.equal(r2.version, 2);
  assert.equal(r2.initiate.received_at, 1714533342);
  assert.equal(r2.complete.received_at, 1714533372);
  assert.equal(r2.sweep_at, null, 'a completed call is not swept');
  assert.equal(r2.duplicates, 0);

  // The same Complete again: a duplicate, answered 200, nothing routed. The README counts it in
  // the record ("counted"), and every change grows the version, so the record moves to 3 with
  // duplicates 1 and the stored events untouched.
  const third = outcomeOf(handle(f.complete, 1714533400));
  assert.equal(third.duplicate, true);
  assert.equal(third.response.status, 200);
  assert.equal(JSON.parse(third.response.body).status, 'duplicate');
  assert.deepEqual(third.deliveries, []);
  assert.equal(third.expected_version, 2);
  const r3 = JSON.parse(readFileSync(record, 'utf8'));
  assert.equal(r3.version, 3);
  assert.equal(r3.duplicates, 1);
  assert.deepEqual(r3.initiate, r2.initiate);
  assert.deepEqual(r3.complete, r2.complete);
});

test('handle --record-out leaves the file alone when a request is refused', () => {
  const f = correlationFixture();
  const record = join(f.at, 'record.json');
  outcomeOf(run(['handle', '--config', f.config, '--now', '1714533342', '--record-out', record, f.initiate],
    { env: tokenEnv }));
  const before = readFileSync(record);

  const refused = outcomeOf(run(['handle', '--config', f.config, '--now', '1714533372', '--record', record,
    '--record-out', record, f.wrongToken], { env: tokenEnv }));
  assert.equal(refused.response.status, 401);
  assert.equal(refused.record, null);
  assert.deepEqual(refused.deliveries, []);
  assert.ok(readFileSync(record).equals(before), 'the stored record is byte-identical');

  // Nothing to store and no file yet: none is created (not even an empty one).
  const fresh = join(f.at, 'fresh.json');
  outcomeOf(run(['handle', '--config', f.config, '--now', '1714533372', '--record-out', fresh, f.wrongToken],
    { env: tokenEnv }));
  assert.equal(existsSync(fresh), false);

  // The refused request did not touch the call: the real Complete still completes it.
  const complete = outcomeOf(run(['handle', '--config', f.config, '--now', '1714533372', '--record', record,
    '--record-out', record, f.complete], { env: tokenEnv }));
  assert.equal(complete.duplicate, false);
  assert.deepEqual(routesOf(complete), ['each', 'done']);
  assert.equal(JSON.parse(readFileSync(record, 'utf8')).version, 2);
});

test('sweep fires the abandoned route once, when due, and writes the abandoned record', () => {
  const f = correlationFixture();
  const initiated = join(f.at, 'initiated.json');
  outcomeOf(run(['handle', '--config', f.config, '--now', '1714533342', '--record-out', initiated, f.initiate],
    { env: tokenEnv }));
  const before = readFileSync(initiated);
  const sweepAt = JSON.parse(before).sweep_at;
  assert.equal(sweepAt, 1714533942);
  const sweep = (now, file, out) => run(['sweep', '--config', f.config, '--now', String(now), '--record-out', out, file],
    { env: tokenEnv });

  // A second before the abandon time: exit 0, an empty outcome (status 0, record null, nothing
  // routed), and the file written back to itself is untouched.
  const early = outcomeOf(sweep(sweepAt - 1, initiated, initiated));
  assert.equal(early.response.status, 0);
  assert.equal(early.record, null);
  assert.deepEqual(early.deliveries, []);
  assert.ok(readFileSync(initiated).equals(before));
  const notCreated = join(f.at, 'not-created.json');
  outcomeOf(sweep(sweepAt - 1, initiated, notCreated));
  assert.equal(existsSync(notCreated), false, 'nothing due, nothing written');

  // At the abandon time: the abandoned route fires once, nobody is answered.
  const abandoned = join(f.at, 'abandoned.json');
  const due = outcomeOf(sweep(sweepAt, initiated, abandoned));
  assert.equal(due.response.status, 0);
  assert.deepEqual(routesOf(due), ['lost']);
  assert.equal(keyOf(due.deliveries[0]), `${sid}:abandoned:lost`);
  assert.equal(JSON.parse(due.deliveries[0].body).correlation.state, 'abandoned');
  assert.equal(due.log.msg, 'abandoned');
  const r = JSON.parse(readFileSync(abandoned, 'utf8'));
  assert.equal(r.abandoned, true);
  assert.equal(r.version, 2);
  assert.equal(r.key, recordKey);
  assert.equal(r.sweep_at, null, 'an abandoned call is not swept again');
  assert.ok(readFileSync(initiated).equals(before), 'the input record is left alone');

  // Sweeping the abandoned record again, even much later, fires nothing and writes nothing.
  const abandonedBytes = readFileSync(abandoned);
  const again = outcomeOf(sweep(sweepAt + 86000, abandoned, abandoned));
  assert.deepEqual(again.deliveries, []);
  assert.equal(again.record, null);
  assert.ok(readFileSync(abandoned).equals(abandonedBytes));

  // A Complete that arrives after all still completes the call; the abandoned route stays fired.
  const late = outcomeOf(run(['handle', '--config', f.config, '--now', String(sweepAt + 100), '--record', abandoned,
    '--record-out', abandoned, f.complete], { env: tokenEnv }));
  assert.equal(late.duplicate, false);
  assert.deepEqual(routesOf(late), ['each', 'done']);
});

test('sweep --help works, and a missing record file is a usage error, not a crash', () => {
  const help = run(['sweep', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /^Usage: callhook sweep --config FILE .*RECORD_FILE/);
  assert.match(help.out, /abandoned/);
  assert.equal(help.err, '');
  assert.match(run(['--help']).out, /^\s+sweep\s/m, 'the command list names sweep');

  const f = correlationFixture();
  const none = run(['sweep', '--config', f.config, '--now', '1714533342'], { env: tokenEnv });
  assert.equal(none.code, 2);
  assert.equal(none.out, '');
  assert.match(none.err, /callhook sweep: takes one record file/);
  assert.match(none.err, /Try 'callhook sweep --help'/);

  const absent = join(f.at, 'no-such-record.json');
  const missing = run(['sweep', '--config', f.config, '--now', '1714533342', absent], { env: tokenEnv });
  assert.equal(missing.code, 2);
  assert.equal(missing.out, '');
  assert.equal(missing.err, `callhook sweep: cannot open ${absent}: No such file or directory\n`);

  const noConfig = run(['sweep', absent]);
  assert.equal(noConfig.code, 2);
  assert.match(noConfig.err, /--config is required/);
});

// Resolves an RFC 6901 JSON Pointer in a document; undefined when it leads nowhere.
function resolvePointer(doc, pointer) {
  if (pointer === '') return doc;
  assert.match(pointer, /^(\/([^~/]|~[01])*)+$/, `${pointer} is a JSON Pointer`);
  let at = doc;
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (at === null || typeof at !== 'object' || !Object.hasOwn(at, token)) return undefined;
    at = at[token];
  }
  return at;
}

test('check-config --json reports validity and counts on stdout', () => {
  const ok = run(['check-config', '--json', 'examples/configs/example.json'], { env: secrets });
  assert.equal(ok.code, 0, ok.err);
  assert.equal(ok.err, '');
  assert.deepEqual(JSON.parse(ok.out), { valid: true, routes: 3, destinations: 5, errors: [], warnings: [] });
  for (const value of Object.values(secrets)) {
    assert.ok(!ok.out.includes(value) && !ok.err.includes(value), `${value} never appears`);
  }

  const unset = run(['check-config', '--json', 'examples/configs/example.json']);
  assert.equal(unset.code, 1);
  assert.equal(unset.err, '', 'with --json the problems go to stdout');
  const report = JSON.parse(unset.out);
  assert.equal(report.valid, false);
  assert.equal(report.routes, undefined, 'no counts for an invalid config');
  assert.deepEqual(report.errors.map((e) => [e.field, e.code]), [
    ['/auth/token/value', 'missing_secret'],
    ['/destinations/ga4/url', 'missing_secret'],
    ['/destinations/google-ads/headers/developer-token', 'missing_secret'],
  ]);
  assert.match(report.errors[0].message, /CALLHOOK_TOKEN/);
});

test('check-config --json lists every problem with a JSON Pointer into the config and a code', () => {
  const at = mkdtempSync(join(dir, 'config-'));
  const config = {
    surprise: 1,
    correlation: { abandon_after_seconds: 5 },
    destinations: { 'a/b~c': { url: 'not a url' }, d: { url: 'https://example.com/x', format: 'nope' } },
    routes: [{ name: 'r', to: ['nowhere'], when: { x: { $wat: 1 } } }],
  };
  const file = join(at, 'bad.json');
  writeFileSync(file, JSON.stringify(config));
  const r = run(['check-config', '--json', file]);
  assert.equal(r.code, 1, 'an invalid config exits 1');
  assert.equal(r.err, '');
  const report = JSON.parse(r.out);
  assert.equal(report.valid, false);
  const found = Object.fromEntries(report.errors.map((e) => [e.field, e.code]));
  assert.deepEqual(found, {
    '/surprise': 'unknown_key',
    '/correlation/abandon_after_seconds': 'out_of_range',
    '/destinations/a~1b~0c/url': 'bad_value',
    '/destinations/d/format': 'bad_value',
    '/routes/0/to/0': 'unknown_destination',
    '/routes/0/when/x/$wat': 'bad_filter',
  });
  for (const e of report.errors) {
    assert.deepEqual(Object.keys(e).sort(), ['code', 'field', 'message']);
    assert.notEqual(resolvePointer(config, e.field), undefined, `${e.field} points into the config`);
    assert.match(e.code, /^[a-z_]+$/);
    assert.ok(e.message.length > 0);
  }

  const notJson = join(at, 'not.json');
  writeFileSync(notJson, 'not json');
  const broken = run(['check-config', '--json', notJson]);
  assert.equal(broken.code, 1);
  assert.deepEqual(JSON.parse(broken.out).errors.map((e) => [e.field, e.code]), [['', 'invalid_json']]);
  assert.equal(run(['check-config', '--json', join(at, 'absent.json')]).code, 2);
});

test('check-config never prints a secret\'s value, whatever is wrong with the config', () => {
  const at = mkdtempSync(join(dir, 'secret-'));
  const value = 'zz9-plural z-alpha';
  const file = join(at, 'config.json');
  writeFileSync(file, JSON.stringify({
    auth: { token: { value: '${LEAKY}', in: 'nowhere' }, basic: { username: 'u', password: '${LEAKY}' } },
    destinations: {
      bare: { url: '${LEAKY}', headers: { 'x-key': '${LEAKY}' } },
      path: { url: 'https://example.com/${LEAKY}', format: 'ga4', options: { event_name: '${LEAKY}' } },
    },
    routes: [{ name: 'r', to: ['bare', 'path', 'missing'], when: { a: { $eq: '${LEAKY}', $zz: 1 } } }],
  }));
  for (const args of [['check-config', '--json', file], ['check-config', file]]) {
    const r = run(args, { env: { LEAKY: value } });
    assert.equal(r.code, 1);
    const fields = args.includes('--json') ? JSON.parse(r.out).errors.map((e) => e.field)
      : r.err.trim().split('\n').map((line) => line.split(': ')[1]);
    // The values holding the secret are themselves refused, so their messages are where it would leak.
    for (const field of ['/destinations/bare/url', '/destinations/path/url']) assert.ok(fields.includes(field), fields);
    assert.ok(!r.out.includes(value) && !r.err.includes(value), `the secret leaked: ${r.out}${r.err}`);
    assert.ok(!r.out.includes('zz9') && !r.err.includes('zz9'), 'not even part of it');
  }
});

test('check-config never prints a secret\'s value from a bad template placeholder', () => {
  const at = mkdtempSync(join(dir, 'template-'));
  const file = join(at, 'config.json');
  writeFileSync(file, JSON.stringify({
    destinations: { crm: { url: 'https://example.com/', format: 'template',
      options: { body: { id: '{{ call.sid | default:"${LEAKY}" | bogus }}' } } } },
    routes: [{ name: 'r', to: ['crm'] }],
  }));
  const r = run(['check-config', '--json', file], { env: { LEAKY: 'zz9plural' } });
  assert.equal(r.code, 1);
  assert.ok(!r.out.includes('zz9plural'), r.out);
  // The message still says where: it names the reference instead of the value.
  const [error] = JSON.parse(r.out).errors;
  assert.equal(error.code, 'bad_template');
  assert.match(error.message, /\$\{LEAKY\}/);
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
