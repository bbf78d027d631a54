// The npm package's API (bindings/js): the one-step functions, the engine, error cases, every
// way a body, headers, secrets and the wasm itself may be given, and agreement with the native
// CLI commands of the same names.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync }
  from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageDir, packageSkip } from '../package-build.mjs';
import { pathToFileURL } from 'node:url';

const root = new URL('../../../', import.meta.url).pathname;
const pkg = packageDir;
const cli = process.env.CALLHOOK_CLI ?? join(root, 'build/native/callhook');

const skip = packageSkip;
const ch = skip ? null : await import(join(pkg, 'index.js'));
const wasmPath = join(pkg, 'dist/callhook_wasm.wasm');

const example = (name) => readFileSync(join(root, 'examples/payloads', name), 'utf8');
const completeForm = skip ? '' : example('complete.form').trim();
const initiateForm = skip ? '' : example('initiate.form').trim();
const exampleConfig = skip ? null
  : JSON.parse(readFileSync(join(root, 'examples/configs/example.json'), 'utf8'));
const SECRETS = {
  CALLHOOK_TOKEN: 'tok-3f9a1c77e2',
  GA4_API_SECRET: 'ga4-secret-value',
  GOOGLE_ADS_DEVELOPER_TOKEN: 'dev-token-value',
};
const NOW = 1714533342;

// The same body in every form the API takes.
function bodyForms(text) {
  const bytes = new TextEncoder().encode(text);
  const offset = new Uint8Array(bytes.length + 7);
  offset.set(bytes, 7);
  return {
    string: text,
    Uint8Array: bytes,
    ArrayBuffer: bytes.slice().buffer,
    Buffer: Buffer.from(text),
    'Uint8Array at an offset': offset.subarray(7),
    DataView: new DataView(offset.buffer, 7, bytes.length),
  };
}

function runCli(args, input) {
  const r = spawnSync(cli, args, { input, encoding: 'utf8', env: { ...process.env, ...SECRETS } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const haveCli = existsSync(cli);

describe('payload functions', { skip }, () => {
  test('validate, normalize and parse agree for a body as string, bytes or buffer', async () => {
    for (const text of [completeForm, example('complete.json'), 'Action=Webhook&Call.From=+1415\u00e9&x=%FF%']) {
      const forms = bodyForms(text);
      const expected = {
        verdict: await ch.validate(text),
        fields: await ch.parse(text),
        inspect: await ch.inspect(text),
      };
      for (const [name, body] of Object.entries(forms)) {
        assert.deepEqual(await ch.validate(body), expected.verdict, name);
        assert.deepEqual(await ch.parse(body), expected.fields, name);
        assert.deepEqual(await ch.inspect(body), expected.inspect, name);
      }
    }
  });

  test('validate returns the verdict the module writes as JSON, when it answers in short too', async () => {
    // The runtime asks for verdicts without findings in short (bindings.cpp, kVerdict); the
    // module's full answer for the same payload is the JSON text of the same verdict.
    const module = await ch.loadModule();
    const verdictText = (text) => {
      const bytes = new TextEncoder().encode(text);
      const ptr = module._malloc(bytes.length + 1);
      module.HEAPU8.set(bytes, ptr);
      const where = module.inspectPayload(1, ptr, bytes.length, 0) >>> 2;
      const [at, length] = [module.HEAPU32[where], module.HEAPU32[where + 1]];
      const answer = new TextDecoder().decode(module.HEAPU8.subarray(at + 1, at + length));
      module._free(ptr);
      return answer;
    };
    for (const body of [initiateForm, completeForm, example('complete.json'),
      `${completeForm}&Extra.Thing=1`, 'Action=Webhook', '']) {
      assert.equal(JSON.stringify(await ch.validate(body)), verdictText(body), body.slice(0, 40));
    }
  });

  test('validate returns the verdict and normalize the canonical event', async () => {
    assert.deepEqual(await ch.validate(completeForm),
      { valid: true, event: 'Call.Complete', errors: [], warnings: [] });
    const event = await ch.normalize(completeForm);
    assert.equal(event.event, 'Call.Complete');
    assert.equal(event.call.duration, 187);
    assert.equal(event.call.start_date, '2024-05-01T03:15:42Z');
  });

  test('normalize throws a CallhookError with the verdict for an invalid payload', async () => {
    const body = completeForm.replace('Call.Duration=187', 'Call.Duration=abc');
    await assert.rejects(ch.normalize(body), (e) => {
      assert.ok(e instanceof ch.CallhookError);
      assert.equal(e.code, 'invalid_payload');
      assert.equal(e.report.valid, false);
      assert.deepEqual(e.report.errors.map((d) => [d.field, d.code]), [['Call.Duration', 'not_integer']]);
      assert.deepEqual(e.errors, e.report.errors);
      assert.match(e.message, /Call\.Duration/);
      return true;
    });
  });

  test('parse keeps duplicates in order and refuses what cannot be decoded', async () => {
    assert.deepEqual(await ch.parse('a=1&b=2&a=3'), [['a', '1'], ['b', '2'], ['a', '3']]);
    assert.deepEqual(await ch.parse('{"Call":{"Sid":"CA1"}}'), [['Call.Sid', 'CA1']]);
    await assert.rejects(ch.parse('{"a":', { contentType: 'application/json' }), (e) => {
      assert.equal(e.code, 'invalid_json');
      assert.equal(e.errors.length, 1);
      return true;
    });
    await assert.rejects(ch.parse('a=1', { contentType: 'text/plain' }),
      (e) => e.code === 'unsupported_media_type');
  });

  test('options: url, contentType, mode and limits act as the CLI flags do', async () => {
    const fromUrl = await ch.validate(undefined, { url: `/hook?${initiateForm}` });
    assert.deepEqual(fromUrl, await ch.validate(initiateForm));
    const extra = `${initiateForm}&Custom.Thing=1`;
    assert.equal((await ch.validate(extra)).warnings[0].code, 'unknown_field');
    assert.equal((await ch.validate(extra, { mode: 'strict' })).errors[0].code, 'unknown_field');
    const limited = await ch.validate(completeForm, { limits: { max_fields: 3 } });
    assert.deepEqual(limited.errors.map((e) => e.code), ['too_many_fields']);
    assert.equal((await ch.validate(completeForm, { contentType: 'application/json' })).errors[0].code,
      'invalid_json');
  });

  test('bad options are TypeErrors or RangeErrors, not verdicts', async () => {
    await assert.rejects(ch.validate('a=1', { mode: 'loose' }), TypeError);
    await assert.rejects(ch.validate('a=1', { colour: 'red' }), TypeError);
    await assert.rejects(ch.validate('a=1', { limits: { max_things: 1 } }), TypeError);
    await assert.rejects(ch.validate('a=1', { limits: { max_fields: 0 } }), RangeError);
    await assert.rejects(ch.validate('a=1', { limits: { max_fields: 1.5 } }), RangeError);
    await assert.rejects(ch.validate('a=1', { url: '/?a=1' }), /either a body or a url/);
    await assert.rejects(ch.validate(42), TypeError);
    await assert.rejects(ch.validate({ body: 'a=1' }), TypeError);
  });

  test('a body far larger than the buffer grows the memory and later calls still work', async () => {
    const big = `${completeForm}&x=${'y'.repeat(3_000_000)}`;
    assert.deepEqual((await ch.validate(big)).errors.map((e) => e.code), ['body_too_large']);
    const raised = await ch.validate(big, { limits: { max_body_bytes: 4_000_000, max_value_bytes: 4_000_000 } });
    assert.equal(raised.valid, true);
    assert.equal((await ch.normalize(completeForm)).call.duration, 187);
  });

  test('match evaluates filters and throws on bad ones with their pointers', async () => {
    const event = await ch.normalize(completeForm);
    assert.equal(await ch.match({ call: { duration: { $gte: 30 } } }, event), true);
    assert.equal(await ch.match({ 'call.disposition': 'BUSY' }, event), false);
    assert.equal(await ch.match({ 'Call.Duration': 187 }, { 'Call.Duration': '187' }), true);
    await assert.rejects(ch.match({ call: { $regex: 'x' } }, event), (e) => {
      assert.ok(e instanceof ch.CallhookError);
      assert.equal(e.code, 'bad_filter');
      assert.deepEqual(e.errors.map((d) => d.field), ['/call/$regex']);
      return true;
    });
    await assert.rejects(ch.match({ $or: [] }, {}), (e) => e.errors[0].field === '/$or');
    await assert.rejects(ch.match(undefined, {}), TypeError);
  });

  test('render makes a destination body, or says why it cannot', async () => {
    const event = await ch.normalize(completeForm);
    const canonical = await ch.render({ url: 'https://example.test/' }, event);
    assert.deepEqual(JSON.parse(canonical.body), event);
    assert.equal(canonical.contentType, 'application/json');
    assert.equal(canonical.skipped, null);
    const template = await ch.render({
      format: 'template', url: 'https://example.test/',
      options: { body: { id: '{{ call.sid }}', seconds: '{{ call.duration }}', key: '${API_KEY}' } },
    }, event, { secrets: { API_KEY: 'k-123456' } });
    assert.deepEqual(JSON.parse(template.body), { id: event.call.sid, seconds: 187, key: 'k-123456' });
    const { google, ...noGoogle } = event;
    const skipped = await ch.render({ format: 'ga4', url: 'https://example.test/' }, noGoogle);
    assert.equal(skipped.body, null);
    assert.match(skipped.skipped, /ClientId/);
    await assert.rejects(ch.render({ format: 'fax', url: 'https://example.test/' }, event), (e) => {
      assert.deepEqual(e.errors.map((d) => d.field), ['/format']);
      return true;
    });
    await assert.rejects(ch.render({ url: '${NOPE}' }, event), (e) => e.errors[0].code === 'missing_secret');
  });

  test('schema gives the published event schema and the spec table', async () => {
    assert.deepEqual(await ch.schema('event'),
      JSON.parse(readFileSync(join(root, 'core/schema/call-event.schema.json'), 'utf8')));
    assert.match(await ch.schema('fields'), /\| `Call\.Sid` \|/);
  });
});

describe('engine', { skip }, () => {
  const request = (body = completeForm, extra = {}) => ({
    method: 'POST',
    url: `/hook/${SECRETS.CALLHOOK_TOKEN}`,
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body,
    ...extra,
  });

  test('handle returns the outcome with the record as text', async () => {
    const engine = await ch.createEngine(exampleConfig, { secrets: SECRETS });
    const outcome = engine.handle(request(), { now: NOW });
    // One spelling for every binding: the CLI prints the same keys.
    assert.deepEqual(Object.keys(outcome).sort(), ['auth_scheme', 'authenticated', 'deliveries',
      'duplicate', 'event', 'expected_version', 'expires_at', 'log', 'record', 'record_key',
      'response', 'routes', 'sweep_at', 'verdict', 'version'].sort());
    assert.equal(outcome.response.status, 200);
    assert.deepEqual(outcome.response.headers, [['Content-Type', 'application/json']]);
    assert.equal(JSON.parse(outcome.response.body).status, 'accepted');
    assert.equal(typeof outcome.record, 'string');
    const record = JSON.parse(outcome.record);
    assert.equal(record.version, 1);
    assert.equal(outcome.record_key, record.key);
    assert.equal(outcome.expected_version, 0);
    assert.equal(outcome.version, record.version);
    assert.equal(outcome.expires_at, record.expires_at);
    assert.equal(outcome.sweep_at, record.sweep_at ?? null);
    assert.equal(outcome.event.call.duration, 187);
    assert.equal(outcome.verdict.valid, true);
    assert.equal(outcome.log.msg, 'accepted');
    // The event and the log are parsed when first read: written, spread or cloned before or
    // after, an outcome is the same data, and both can be set.
    const data = JSON.parse(JSON.stringify(outcome));
    assert.deepEqual(Object.keys(data), Object.keys(outcome));
    assert.equal(JSON.stringify(engine.handle(request(), { now: NOW })), JSON.stringify(outcome));
    assert.deepEqual({ ...engine.handle(request(), { now: NOW }) }, data);
    assert.deepEqual(structuredClone(engine.handle(request(), { now: NOW })), data);
    const fresh = engine.handle(request(), { now: NOW });
    assert.equal(ch.outcomeLogLine(fresh), JSON.stringify(data.log));
    fresh.event = null;
    fresh.log = { msg: 'changed' };
    assert.deepEqual([fresh.event, fresh.log], [null, { msg: 'changed' }]);
    assert.deepEqual(Object.keys(fresh), Object.keys(outcome));
    assert.deepEqual(outcome.deliveries.map((d) => [d.route, d.destination]), [
      ['every-event', 'events-log'], ['answered-long-calls', 'ga4'],
      ['answered-long-calls', 'google-ads'], ['answered-long-calls', 'crm']]);
    const d = outcome.deliveries[0];
    assert.equal(d.idempotency_key, `${outcome.event.call.sid}:Call.Complete:every-event`);
    assert.deepEqual(d.headers[1], ['Idempotency-Key', d.idempotency_key]);
    // The stored record makes a repeat a duplicate.
    const again = engine.handle(request(), { now: NOW + 5, record: outcome.record });
    assert.equal(again.duplicate, true);
    assert.equal(again.deliveries.length, 0);
    assert.equal(again.expected_version, 1);
    engine.close();
  });

  test('a body as string, bytes or buffer, and headers in any form, give one outcome', async () => {
    const engine = await ch.createEngine(exampleConfig, { secrets: SECRETS });
    const expected = engine.handle(request(), { now: NOW });
    for (const [name, body] of Object.entries(bodyForms(completeForm))) {
      assert.deepEqual(engine.handle(request(body), { now: NOW }), expected, name);
    }
    const base64 = Buffer.from(completeForm).toString('base64');
    assert.deepEqual(engine.handle(request(undefined, { body: undefined, body_base64: base64 }),
      { now: NOW }), expected, 'body_base64');
    const forms = {
      pairs: [['Content-Type', 'application/x-www-form-urlencoded']],
      Headers: new Headers({ 'Content-Type': 'application/x-www-form-urlencoded' }),
      Map: new Map([['Content-Type', 'application/x-www-form-urlencoded']]),
      'array values': { 'Content-Type': ['application/x-www-form-urlencoded'] },
    };
    for (const [name, headers] of Object.entries(forms)) {
      const outcome = engine.handle(request(completeForm, { headers }), { now: NOW });
      assert.deepEqual(outcome.deliveries.map((x) => x.body), expected.deliveries.map((x) => x.body), name);
      assert.equal(outcome.response.body, expected.response.body, name);
    }
    engine.close();
  });

  test('a bad config rejects with every problem and its JSON Pointer', async () => {
    const config = {
      auth: { token: { value: '${MISSING_TOKEN}' } },
      validation: { mode: 'picky' },
      destinations: { a: { url: 'https://example.test/', format: 'fax' } },
      routes: [{ name: 'r', to: ['a', 'nowhere'], on: 'sometimes' }],
    };
    await assert.rejects(ch.createEngine(config), (e) => {
      assert.ok(e instanceof ch.CallhookError);
      assert.match(e.message, /invalid callhook config/);
      const got = e.errors.map((d) => [d.field, d.code]).sort();
      assert.deepEqual(got, [
        ['/auth/token/value', 'missing_secret'],
        ['/destinations/a/format', 'bad_value'],
        ['/routes/0/on', 'bad_value'],
        ['/routes/0/to/1', 'unknown_destination'],
        ['/validation/mode', 'bad_value'],
      ].sort());
      for (const d of e.errors) assert.equal(typeof d.message, 'string');
      return true;
    });
    await assert.rejects(ch.createEngine('{"routes": ['), (e) => {
      assert.deepEqual(e.errors.map((d) => [d.field, d.code]), [['', 'invalid_json']]);
      return true;
    });
    await assert.rejects(ch.createEngine(42), TypeError);
    assert.deepEqual(await ch.checkConfig(exampleConfig, { secrets: SECRETS }), { valid: true, errors: [] });
    assert.equal((await ch.checkConfig(config)).valid, false);
  });

  test('config as an object or a JSON string behaves the same', async () => {
    const a = await ch.createEngine(exampleConfig, { secrets: SECRETS });
    const b = await ch.createEngine(JSON.stringify(exampleConfig), { secrets: SECRETS });
    assert.deepEqual(a.handle(request(), { now: NOW }), b.handle(request(), { now: NOW }));
    a.close();
    b.close();
  });

  test('secrets: an object, a function or an async function; only referenced names asked', async () => {
    const asked = [];
    const lookup = (name) => {
      asked.push(name);
      return SECRETS[name];
    };
    const viaObject = await ch.createEngine(exampleConfig, { secrets: SECRETS });
    const viaFunction = await ch.createEngine(exampleConfig, { secrets: lookup });
    const viaAsync = await ch.createEngine(exampleConfig, {
      secrets: async (name) => SECRETS[name],
    });
    assert.deepEqual([...new Set(asked)].sort(), Object.keys(SECRETS).sort());
    const expected = viaObject.handle(request(), { now: NOW });
    assert.deepEqual(viaFunction.handle(request(), { now: NOW }), expected);
    assert.deepEqual(viaAsync.handle(request(), { now: NOW }), expected);
    // Inherited properties are not secrets.
    await assert.rejects(ch.createEngine(exampleConfig, { secrets: Object.create(SECRETS) }),
      (e) => e.errors.every((d) => d.code === 'missing_secret'));
    for (const engine of [viaObject, viaFunction, viaAsync]) engine.close();
  });

  test('no secret appears in responses, logs or errors', async () => {
    const config = {
      auth: { token: { value: '${CALLHOOK_TOKEN}' }, basic: { username: 'u', password: '${PASS}' } },
      destinations: { d: { url: 'https://example.test/${GA4_API_SECRET}' } },
      routes: [{ name: 'all', to: ['d'] }],
    };
    const secrets = { ...SECRETS, PASS: 'pass-word-42' };
    const engine = await ch.createEngine(config, { secrets });
    const basic = `Basic ${btoa('u:pass-word-42')}`;
    const attempts = [
      request(completeForm, { url: '/hook/wrong' }),
      request(completeForm, { headers: { Authorization: 'Basic eDp5' } }),
      request(completeForm, { headers: { Authorization: basic } }),
      request('Action=Webhook', { headers: { Authorization: basic } }),
      request(`${completeForm}&Leak=${SECRETS.GA4_API_SECRET}`, { headers: { Authorization: basic } }),
    ];
    for (const r of attempts) {
      const outcome = engine.handle(r, { now: NOW });
      const visible = outcome.response.body + JSON.stringify(outcome.log) + JSON.stringify(outcome.verdict);
      for (const value of [secrets.CALLHOOK_TOKEN, secrets.PASS]) {
        assert.ok(!visible.includes(value), `leaked into ${visible}`);
      }
      assert.ok(!JSON.stringify(outcome.log).includes(SECRETS.GA4_API_SECRET));
    }
    engine.close();
    const wrong = { ...config, routes: [{ name: 'all', to: ['nowhere'] }] };
    await assert.rejects(ch.createEngine(wrong, { secrets }), (e) => {
      const text = e.message + JSON.stringify(e.errors);
      for (const value of Object.values(secrets)) assert.ok(!text.includes(value));
      return true;
    });
  });

  test('sweep abandons an Initiate whose Complete is overdue', async () => {
    const engine = await ch.createEngine({
      correlation: { abandon_after_seconds: 600 },
      destinations: { sink: { url: 'http://127.0.0.1:9400/sink' } },
      routes: [{ name: 'lost', on: 'abandoned', to: ['sink'] }],
    });
    const first = engine.handle({ url: '/hook', body: initiateForm }, { now: NOW });
    assert.equal(JSON.parse(first.record).sweep_at, NOW + 600);
    assert.equal(first.sweep_at, NOW + 600, 'the outcome says when to sweep');
    const early = engine.sweep(first.record, NOW + 10);
    assert.equal(early.record, null);
    assert.equal(early.deliveries.length, 0);
    const due = engine.sweep(first.record, NOW + 601);
    assert.equal(due.response.status, 0);
    assert.equal(due.expected_version, 1);
    assert.equal(due.sweep_at, null, 'an abandoned call is not swept again');
    assert.deepEqual(due.deliveries.map((d) => d.route), ['lost']);
    assert.equal(JSON.parse(due.record).abandoned, true);
    assert.throws(() => engine.sweep(null, NOW), TypeError);
    engine.close();
  });

  test('now defaults to the current time', async () => {
    const engine = await ch.createEngine({});
    const before = Math.floor(Date.now() / 1000);
    const outcome = engine.handle({ body: initiateForm });
    const receivedAt = JSON.parse(outcome.record).initiate.received_at;
    assert.ok(receivedAt >= before && receivedAt <= Math.floor(Date.now() / 1000) + 1);
    assert.throws(() => engine.handle({ body: initiateForm }, { now: -1 }), TypeError);
    engine.close();
  });

  test('malformed requests are TypeErrors; a closed engine says so', async () => {
    const engine = await ch.createEngine({});
    assert.throws(() => engine.handle(null), TypeError);
    assert.throws(() => engine.handle({ body: 12 }), TypeError);
    assert.throws(() => engine.handle({ headers: { a: 1 } }), TypeError);
    assert.throws(() => engine.handle({ headers: [['a']] }), TypeError);
    assert.throws(() => engine.handle({ body: new ReadableStream() }), /read it first/);
    assert.throws(() => engine.handle({ method: 1 }), TypeError);
    engine.close();
    engine.close();
    assert.throws(() => engine.handle({ body: initiateForm }), (e) => e.code === 'closed');
  });
});

describe('loading the wasm', { skip }, () => {
  const sources = {
    'a WebAssembly.Module': () => new WebAssembly.Module(readFileSync(wasmPath)),
    'a Uint8Array': () => new Uint8Array(readFileSync(wasmPath)),
    'an ArrayBuffer': () => new Uint8Array(readFileSync(wasmPath)).slice().buffer,
    'a file URL': () => pathToFileURL(wasmPath),
    'a Response': () => new Response(readFileSync(wasmPath), { headers: { 'Content-Type': 'application/wasm' } }),
  };
  for (const [name, make] of Object.entries(sources)) {
    test(`from ${name}`, async () => {
      const module = await ch.loadModule({ wasm: make() });
      assert.equal(typeof module.inspectPayload, 'function');
      assert.ok(module.HEAPU8 instanceof Uint8Array);
    });
  }

  test('a wrong source rejects instead of hanging', async () => {
    await assert.rejects(ch.loadModule({ wasm: { not: 'wasm' } }), TypeError);
    await assert.rejects(ch.loadModule({ wasm: new Uint8Array([0, 1, 2, 3]) }), WebAssembly.CompileError);
  });

  test('init returns one runtime with the synchronous API', async () => {
    const a = await ch.init();
    const b = await ch.init({ wasm: new WebAssembly.Module(readFileSync(wasmPath)) });
    assert.equal(a, b);
    assert.equal(a.validate(completeForm).valid, true);
    const engine = a.createEngine({});
    assert.equal(engine.handle({ body: completeForm }, { now: NOW }).response.status, 200);
    engine.close();
  });

  test('the entry loads in a fresh Node process and leaves its process hooks alone', () => {
    const script = `const events = ['unhandledRejection', 'uncaughtException', 'exit'];
      const before = events.map((e) => process.listenerCount(e));
      const { validate } = await import(${JSON.stringify(pathToFileURL(join(pkg, 'index.js')).href)});
      const v = await validate('Action=Webhook');
      const hooks = events.map((e, i) => process.listenerCount(e) - before[i]);
      console.log(JSON.stringify([v.valid, hooks]));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.stderr, '');
    assert.equal(r.stdout.trim(), JSON.stringify([false, [0, 0, 0]]));
  });
});

// The functions behave as the CLI commands of the same names.
describe('agreement with the native CLI', { skip: skip || (!haveCli && `no CLI at ${cli}`) }, () => {
  const payloads = skip ? [] : [completeForm, initiateForm, example('complete.json'),
    completeForm.replace('%2B14155550123', '+14155550123'), 'Action=Webhook&Event=Nope', '{"a":[{}]}'];

  test('parse, validate and normalize print what the package returns', async () => {
    for (const body of payloads) {
      for (const mode of ['lenient', 'strict']) {
        const flag = `--${mode}`;
        assert.deepEqual(await ch.validate(body, { mode }), JSON.parse(runCli(['validate', flag, '-'], body).out));
        const normalized = JSON.parse(runCli(['normalize', flag, '-'], body).out);
        if (normalized.valid === false) {
          await assert.rejects(ch.normalize(body, { mode }), (e) => {
            assert.deepEqual(e.report, normalized);
            return true;
          });
        } else {
          assert.deepEqual(await ch.normalize(body, { mode }), normalized);
        }
      }
      const parsed = runCli(['parse', '-'], body);
      if (parsed.code === 0) assert.deepEqual(await ch.parse(body), JSON.parse(parsed.out));
      else await assert.rejects(ch.parse(body), (e) => parsed.err.includes(e.code));
    }
  });

  test('match prints what the package returns', async () => {
    const event = await ch.normalize(completeForm);
    for (const filter of [{ call: { duration: { $gte: 30 } } }, { 'call.prompts.keys': '9' },
      { $not: { event: 'Call.Initiate' } }]) {
      const r = runCli(['match', JSON.stringify(filter), '-'], JSON.stringify(event));
      assert.equal(String(await ch.match(filter, event)), r.out.trim());
    }
  });

  test('handle prints the outcome the engine returns', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'callhook-package-'));
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify(exampleConfig));
    const engine = await ch.createEngine(exampleConfig, { secrets: SECRETS });
    for (const [body, url] of [[completeForm, `/hook/${SECRETS.CALLHOOK_TOKEN}`],
      [initiateForm, `/hook/${SECRETS.CALLHOOK_TOKEN}`], [completeForm, '/hook/nope'],
      ['Action=Webhook', `/hook/${SECRETS.CALLHOOK_TOKEN}`]]) {
      const req = { method: 'POST', url, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body };
      const requestPath = join(dir, 'request.json');
      writeFileSync(requestPath, JSON.stringify(req));
      const printed = JSON.parse(runCli(['handle', '--config', configPath, '--now', String(NOW), requestPath]).out);
      const o = engine.handle(req, { now: NOW });
      // One spelling: the package's outcome is the CLI's, key for key and in its order, also
      // written, spread or cloned without reading it first; the log line is the CLI's.
      assert.equal(ch.outcomeLogLine(o), printed.log === null ? null : JSON.stringify(printed.log));
      assert.equal(JSON.stringify(engine.handle(req, { now: NOW })), JSON.stringify(printed));
      assert.deepEqual({ ...engine.handle(req, { now: NOW }) }, printed);
      assert.deepEqual(structuredClone(engine.handle(req, { now: NOW })), printed);
      assert.deepEqual(o, printed);
    }
    engine.close();
  });
});
