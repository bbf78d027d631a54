// The npm package (bindings/js, the core built with Emscripten) against the whole vector corpus:
// tests/vectors/payload, engine and correlation, compared by the rules of the native runners
// (tests/core/payload_vectors_test.cpp, engine_vectors_test.cpp; format in
// tests/vectors/README.md). A difference from native is a bug in one of them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { packageDir, packageSkip } from './package-build.mjs';
import { isDeepStrictEqual } from 'node:util';

const root = new URL('../../', import.meta.url).pathname;
const pkg = packageDir;

const skip = packageSkip;
const callhook = skip ? null : await import(join(pkg, 'index.js'));
const runtime = skip ? null : await callhook.init();

function loadVectors(folder) {
  const dir = join(root, 'tests/vectors', folder);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const text = readFileSync(join(dir, f), 'utf8');
      let document = null;
      try {
        document = JSON.parse(text);
      } catch {
        // reported by the file's own test below
      }
      return { file: f, document };
    });
}

// The native runners decode base64 strictly; an invalid string gives what they give.
function base64(text, fallback) {
  const clean = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text);
  return clean ? new Uint8Array(Buffer.from(text, 'base64')) : fallback;
}

// payload_vectors_test.cpp's request_body.
function payloadBody(request) {
  if ('body_base64' in request) return base64(request.body_base64, '\x01invalid');
  if ('body_file' in request) return new Uint8Array(readFileSync(join(root, request.body_file)));
  if ('body_repeat' in request) {
    const r = request.body_repeat;
    return (request.body ?? '') + (r.text ?? '').repeat(r.times ?? 0);
  }
  return request.body ?? '';
}

// engine_vectors_test.cpp's request_from.
function engineRequest(r) {
  let body = r.body ?? '';
  if ('body_base64' in r) body = base64(r.body_base64, '');
  else if ('body_file' in r) body = new Uint8Array(readFileSync(join(root, r.body_file)));
  return { method: r.method ?? 'POST', url: r.url ?? '/', headers: r.headers, body };
}

// (field, code) pairs, sorted: findings are compared as sets.
function findings(list) {
  return (list ?? []).map((d) => [d.field ?? '', d.code ?? '']).sort(
    (a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
}

// True when `actual` holds everything `expected` says: objects by key (extra keys allowed),
// arrays element by element (same length), anything else by equality. `where` gets the path.
function contains(actual, expected, where) {
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)) {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    for (const [key, value] of Object.entries(expected)) {
      if (!Object.hasOwn(actual, key)) {
        where.push(`/${key} (missing)`);
        return false;
      }
      where.push(`/${key}`);
      if (!contains(actual[key], value, where)) return false;
      where.pop();
    }
    return true;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) {
      where.push(' (array length)');
      return false;
    }
    for (let i = 0; i < expected.length; i++) {
      where.push(`/${i}`);
      if (!contains(actual[i], expected[i], where)) return false;
      where.pop();
    }
    return true;
  }
  return isDeepStrictEqual(actual, expected);
}

function expectContains(actual, expected, what) {
  const where = [];
  assert.ok(contains(actual, expected, where),
    `${what} differs at ${where.join('')}\nexpected: ${JSON.stringify(expected)}\n` +
      `actual: ${JSON.stringify(actual)}`);
}

// Headers as an object by name, the first of each name kept.
function headersObject(pairs) {
  const out = {};
  for (const [name, value] of pairs) if (!Object.hasOwn(out, name)) out[name] = value;
  return out;
}

function parseOrString(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// engine_vectors_test.cpp's check_outcome, over the package's Outcome.
function checkOutcome(outcome, expect) {
  if ('status' in expect) assert.equal(outcome.response.status, expect.status, 'status');
  if ('response_headers' in expect) {
    expectContains(headersObject(outcome.response.headers), expect.response_headers,
      'response headers');
  }
  if ('response_body' in expect) {
    expectContains(parseOrString(outcome.response.body), expect.response_body, 'response body');
  }
  if ('verdict_errors' in expect) {
    assert.deepEqual(outcome.verdict.errors.map((d) => ({ field: d.field, code: d.code })),
      expect.verdict_errors, 'verdict errors');
  }
  if ('routes' in expect) {
    expectContains(outcome.routes.map((r) => ({ name: r.name, matched: r.matched, skipped: r.skipped })),
      expect.routes, 'routes');
  }
  if ('deliveries' in expect) {
    const actual = outcome.deliveries.map((d) => ({
      route: d.route,
      destination: d.destination,
      method: d.method,
      url: d.url,
      headers: headersObject(d.headers),
      body: parseOrString(d.body),
      idempotency_key: d.idempotency_key,
    }));
    expectContains(actual, expect.deliveries, 'deliveries');
  }
  if ('log' in expect) expectContains(outcome.log, expect.log, 'log');
  if ('duplicate' in expect) assert.equal(outcome.duplicate, expect.duplicate, 'duplicate');
}

// The native runners' secret lookup: only string values count.
const secretsOf = (vector) => vector.secrets ?? {};

// JSON with sorted keys, to sort sets of objects the same way on both sides.
function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function secretValues(secrets) {
  return Object.entries(secrets).filter(([, v]) => typeof v === 'string' && v.length >= 4);
}

describe('payload vectors', { skip }, () => {
  const files = skip ? [] : loadVectors('payload');
  test('the corpus holds at least eighty cases', () => {
    const count = files.reduce((n, f) => n + (f.document?.cases?.length ?? 0), 0);
    assert.ok(count >= 80, `${count} cases`);
  });
  for (const { file, document } of files) {
    describe(file, () => {
      if (!document?.cases) {
        test('file is valid', () => assert.fail(`${file} is not a vector file`));
        return;
      }
      for (const c of document.cases) {
        test(c.name, () => {
          const { request, expect } = c;
          assert.ok(request && typeof request === 'object', 'vector has no request');
          assert.ok(expect && typeof expect === 'object', 'vector has no expect');
          assert.ok('valid' in expect, 'vector must say whether the payload is valid');
          const method = request.method ?? 'POST';
          const body = payloadBody(request);
          // The C++ runner's PayloadSource: GET reads the url's query, anything else the body.
          const options = {};
          let payload = body;
          if (method === 'GET') {
            options.url = request.url ?? '/';
            payload = undefined;
          }
          if ('content_type' in request) options.contentType = request.content_type;
          if (c.options?.mode) options.mode = c.options.mode;
          if (c.options?.limits) options.limits = c.options.limits;

          const result = runtime.inspect(payload, options);
          const { verdict } = result;
          if ('fields' in expect) assert.deepEqual(result.fields, expect.fields, 'fields');
          assert.equal(verdict.valid, expect.valid, 'valid');
          if ('event' in expect) assert.equal(verdict.event, expect.event, 'event');
          assert.deepEqual(findings(verdict.errors), findings(expect.errors), 'errors');
          assert.deepEqual(findings(verdict.warnings), findings(expect.warnings), 'warnings');
          assert.equal(result.event !== null, verdict.valid, 'canonical written iff valid');
          if ('canonical' in expect) assert.deepEqual(result.event, expect.canonical, 'canonical');

          // The one-step functions say the same as the one pass.
          assert.deepEqual(runtime.validate(payload, options), verdict, 'validate()');
          if (verdict.valid) {
            assert.deepEqual(runtime.normalize(payload, options), result.event, 'normalize()');
          } else {
            assert.throws(() => runtime.normalize(payload, options), (e) => {
              assert.equal(e.code, 'invalid_payload');
              assert.deepEqual(e.report, verdict);
              return true;
            });
          }
          if ('fields' in expect) assert.deepEqual(runtime.parse(payload, options), expect.fields);
        });
      }
    });
  }
});

describe('engine vectors', { skip }, () => {
  for (const { file, document } of skip ? [] : loadVectors('engine')) {
    describe(file, () => {
      if (!document?.cases) {
        test('file is valid', () => assert.fail(`${file} is not a vector file`));
        return;
      }
      for (const v of document.cases) {
        test(v.name, () => {
          const configText = 'config_file' in v
            ? readFileSync(join(root, v.config_file), 'utf8')
            : JSON.stringify(v.config ?? {});
          const secrets = secretsOf(v);
          const { expect } = v;
          let engine = null;
          let failure = null;
          try {
            engine = runtime.createEngine(configText, { secrets });
          } catch (e) {
            failure = e;
          }
          if ('config_errors' in expect) {
            assert.equal(engine, null, 'the config should be refused');
            assert.ok(Array.isArray(failure?.errors), `a CallhookError with errors, not ${failure}`);
            const byKey = (a, b) => (canonicalJson(a) < canonicalJson(b) ? -1 : 1);
            const actual = failure.errors.map((d) => ({ field: d.field, code: d.code })).sort(byKey);
            const wanted = [...expect.config_errors].sort(byKey);
            assert.deepEqual(actual, wanted, 'config errors');
            for (const [name, value] of secretValues(secrets)) {
              for (const d of failure.errors) {
                assert.ok(!d.message.includes(value), `config error echoes secret ${name}`);
              }
              assert.ok(!failure.message.includes(value), `error message echoes secret ${name}`);
            }
            return;
          }
          assert.ok(engine, `config refused: ${failure?.message}`);
          assert.ok(v.request, 'vector has a request');
          try {
            const outcome = engine.handle(engineRequest(v.request), { now: v.now ?? 1714533342 });
            checkOutcome(outcome, expect);
            // Whatever the case, no secret may leak into the response or the log.
            const log = JSON.stringify(outcome.log);
            for (const [name, value] of secretValues(secrets)) {
              assert.ok(!outcome.response.body.includes(value), `response echoes ${name}`);
              assert.ok(!log.includes(value), `log echoes ${name}`);
            }
          } finally {
            engine.close();
          }
        });
      }
    });
  }
});

describe('correlation vectors', { skip }, () => {
  for (const { file, document } of skip ? [] : loadVectors('correlation')) {
    describe(file, () => {
      if (!document?.cases) {
        test('file is valid', () => assert.fail(`${file} is not a vector file`));
        return;
      }
      for (const v of document.cases) {
        test(v.name ?? 'case', () => {
          const engine = runtime.createEngine(JSON.stringify(v.config ?? {}),
            { secrets: secretsOf(v) });
          const store = new Map();
          try {
            (v.steps ?? []).forEach((step, index) => {
              const now = step.now ?? 1714533342;
              const where = `step ${index}`;
              let outcome;
              if (step.sweep) {
                const key = step.key ?? '';
                assert.ok(store.has(key), `${where}: no record for ${key}`);
                outcome = engine.sweep(store.get(key), now);
              } else {
                const request = engineRequest(step.request);
                if ('record' in step) { // a record given as is, e.g. a corrupt one
                  outcome = engine.handle(request, { now, record: step.record });
                  checkOutcome(outcome, step.expect ?? {});
                  return;
                }
                // Learn the call's key from a first decision, then decide on the stored record
                // (handle is pure, so deciding twice changes nothing).
                outcome = engine.handle(request, { now });
                if (outcome.record !== null && store.has(outcome.recordKey)) {
                  outcome = engine.handle(request, { now, record: store.get(outcome.recordKey) });
                }
              }
              if (outcome.record !== null) {
                const stored = store.get(outcome.recordKey);
                const version = stored === undefined ? 0 : (JSON.parse(stored).version ?? 0);
                assert.equal(outcome.expectedVersion, version, `${where}: expected version`);
                store.set(outcome.recordKey, outcome.record);
              }
              try {
                checkOutcome(outcome, step.expect ?? {});
              } catch (e) {
                e.message = `${where}: ${e.message}`;
                throw e;
              }
            });
            for (const [key, expected] of Object.entries(v.records ?? {})) {
              assert.ok(store.has(key), `no record stored for ${key}`);
              expectContains(JSON.parse(store.get(key)), expected, `record ${key}`);
            }
          } finally {
            engine.close();
          }
        });
      }
    });
  }
});
