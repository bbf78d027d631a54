// The vector corpus (tests/vectors, format in tests/vectors/README.md) for the JavaScript runners:
// loading it, turning its requests into what a runner passes on, and comparing what a target
// gave with what a vector expects by the rules of the native runners
// (tests/core/payload_vectors_test.cpp, engine_vectors_test.cpp). The npm package in Node, the
// WASI command and the package inside workerd are all checked here, so a difference between
// targets is a difference in the target, never in the checks.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

export {
  DEFAULT_NOW, runEngineVector, runPayloadVector, runSequence, wireStringify,
} from './workerd-vectors/vector-runs.mjs';

export const root = new URL('../../', import.meta.url).pathname;

// ---- the corpus -------------------------------------------------------------------------------

/** The vector files of one folder, in name order: {file, document} (document null if unreadable). */
export function loadVectors(folder) {
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
        // reported by the file's own test
      }
      return { file: f, document };
    });
}

/**
 * One node:test suite per vector file of `folder`, one test per case: `check(case, index, file)`.
 * `prepare(cases, file)`, when given, runs once before the file's tests (to run them all at once
 * on a target). A file that is not a vector file fails.
 */
export function describeVectors(folder, { skip, prepare, check }) {
  for (const { file, document } of skip ? [] : loadVectors(folder)) {
    describe(file, () => {
      if (!Array.isArray(document?.cases)) {
        test('file is valid', () => assert.fail(`${file} is not a vector file`));
        return;
      }
      if (prepare) before(() => prepare(document.cases, file));
      document.cases.forEach((c, index) => {
        test(c.name ?? `case ${index}`, () => check(c, index, file));
      });
    });
  }
}

// ---- delivery vectors ---------------------------------------------------------------------------

/** The config of a delivery vector: its own, or its file's. */
export function attemptConfig(file, c) {
  if (c.config) return JSON.stringify(c.config);
  const { document } = loadVectors('delivery').find((f) => f.file === file);
  return JSON.stringify(document.config);
}

/** A verdict against a delivery vector's `expect`, as the native runner compares it. */
export function checkAttemptVector(c, verdict) {
  for (const [key, expected] of Object.entries(c.expect)) {
    assert.deepEqual(verdict[key], expected, `${key} in ${JSON.stringify(verdict)}`);
  }
  assert.equal(verdict.log.attempt, c.attempt.attempt);
  assert.ok(!JSON.stringify(verdict).includes('http://'), 'the verdict never carries a URL');
}

/** The config text of an engine vector: `config` as JSON, or the file `config_file` names. */
export function configTextOf(vector) {
  return 'config_file' in vector
    ? readFileSync(join(root, vector.config_file), 'utf8')
    : JSON.stringify(vector.config ?? {});
}

/** The secrets the CLI reads from its environment: the native runners count only strings. */
export function secretEnvironment(secrets = {}) {
  return Object.fromEntries(Object.entries(secrets).filter(([, v]) => typeof v === 'string'));
}

// ---- requests ---------------------------------------------------------------------------------

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

/**
 * A payload vector as the package takes it: {payload, options}. The C++ runner's PayloadSource:
 * GET reads the url's query (payload undefined), anything else the body.
 */
export function payloadInput(c) {
  const { request } = c;
  assert.ok(request && typeof request === 'object', 'vector has no request');
  const options = {};
  let payload = payloadBody(request);
  if ((request.method ?? 'POST') === 'GET') {
    options.url = request.url ?? '/';
    payload = undefined;
  }
  if ('content_type' in request) options.contentType = request.content_type;
  if (c.options?.mode) options.mode = c.options.mode;
  if (c.options?.limits) options.limits = c.options.limits;
  return { payload, options };
}

/** engine_vectors_test.cpp's request_from: {method, url, headers, body (text or bytes)}. */
export function engineRequest(r) {
  let body = r.body ?? '';
  if ('body_base64' in r) body = base64(r.body_base64, '');
  else if ('body_file' in r) body = new Uint8Array(readFileSync(join(root, r.body_file)));
  return { method: r.method ?? 'POST', url: r.url ?? '/', headers: r.headers, body };
}

// ---- comparisons ------------------------------------------------------------------------------

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

// JSON with sorted keys, to sort sets of objects the same way on both sides.
function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

// Secrets worth looking for in what a target says: string values of 4 bytes or more.
function secretValues(secrets = {}) {
  return Object.entries(secrets).filter(([, v]) => typeof v === 'string' && v.length >= 4);
}

// The value of a runPayloadVector attempt; fails with what it threw.
function valueOf(attempted, what) {
  assert.ok(attempted && !attempted.error, `${what} threw: ${attempted?.error?.message}`);
  return attempted.value;
}

/**
 * The verdict and canonical event part of a payload vector's expectations: validity, event,
 * errors and warnings as sets of (field, code), and the canonical event (null when invalid).
 */
export function checkVerdict(expect, verdict, event) {
  assert.equal(verdict.valid, expect.valid, 'valid');
  if ('event' in expect) assert.equal(verdict.event, expect.event, 'event');
  assert.deepEqual(findings(verdict.errors), findings(expect.errors), 'errors');
  assert.deepEqual(findings(verdict.warnings), findings(expect.warnings), 'warnings');
  assert.equal(event !== null, verdict.valid, 'canonical written iff valid');
  if ('canonical' in expect) assert.deepEqual(event, expect.canonical, 'canonical');
}

/** payload_vectors_test.cpp's checks over what runPayloadVector gives (or a target's equivalent). */
export function checkPayloadVector(c, observed) {
  const { expect } = c;
  assert.ok(expect && typeof expect === 'object', 'vector has no expect');
  assert.ok('valid' in expect, 'vector must say whether the payload is valid');
  const result = valueOf(observed.inspect, 'inspect()');
  const { verdict } = result;
  if ('fields' in expect) assert.deepEqual(result.fields, expect.fields, 'fields');
  checkVerdict(expect, verdict, result.event);

  // The one-step functions say the same as the one pass.
  assert.deepEqual(valueOf(observed.validate, 'validate()'), verdict, 'validate()');
  if (verdict.valid) {
    assert.deepEqual(valueOf(observed.normalize, 'normalize()'), result.event, 'normalize()');
  } else {
    const { error } = observed.normalize;
    assert.ok(error, 'normalize() of an invalid payload throws');
    assert.equal(error.code, 'invalid_payload', 'normalize() error code');
    assert.deepEqual(error.report, verdict, 'normalize() error report');
  }
  if ('fields' in expect) assert.deepEqual(valueOf(observed.parse, 'parse()'), expect.fields, 'parse()');
}

/** engine_vectors_test.cpp's check_outcome, over an Outcome as the package gives it. */
export function checkOutcome(outcome, expect) {
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
      call_sid: d.call_sid,
      record_key: d.record_key,
      trigger: d.trigger,
    }));
    expectContains(actual, expect.deliveries, 'deliveries');
  }
  if ('log' in expect) expectContains(outcome.log, expect.log, 'log');
  if ('duplicate' in expect) assert.equal(outcome.duplicate, expect.duplicate, 'duplicate');
}

/**
 * An engine vector's checks (EngineVector in engine_vectors_test.cpp) over what runEngineVector
 * gives: {refused: true, errors, message} or {refused: false, outcome}. `message` is whatever
 * else the target said about a refused config (an exception's message, the CLI's stderr).
 */
export function checkEngineVector(v, result) {
  const { expect } = v;
  const secrets = secretValues(v.secrets);
  if ('config_errors' in expect) {
    assert.ok(result.refused, 'the config should be refused');
    assert.ok(Array.isArray(result.errors), `the refusal lists its errors, not: ${result.message}`);
    const byKey = (a, b) => (canonicalJson(a) < canonicalJson(b) ? -1 : 1);
    const actual = result.errors.map((d) => ({ field: d.field, code: d.code })).sort(byKey);
    const wanted = [...expect.config_errors].sort(byKey);
    assert.deepEqual(actual, wanted, 'config errors');
    for (const [name, value] of secrets) {
      for (const d of result.errors) {
        assert.ok(!d.message.includes(value), `config error echoes secret ${name}`);
      }
      assert.ok(!result.message.includes(value), `error message echoes secret ${name}`);
    }
    return;
  }
  assert.ok(!result.refused, `config refused: ${result.message}`);
  assert.ok(v.request, 'vector has a request');
  checkOutcome(result.outcome, expect);
  // Whatever the case, no secret may leak into the response or the log.
  const log = JSON.stringify(result.outcome.log);
  for (const [name, value] of secrets) {
    assert.ok(!result.outcome.response.body.includes(value), `response echoes ${name}`);
    assert.ok(!log.includes(value), `log echoes ${name}`);
  }
}

/** The steps of a correlation vector as runSequence takes them, given a way to make requests. */
export function sequenceSteps(v, request = engineRequest) {
  return (v.steps ?? []).map((step) => (step.request ? { ...step, request: request(step.request) } : step));
}

/** SequenceVector's checks over what runSequence gives for the vector. */
export function checkSequence(v, trace) {
  const steps = v.steps ?? [];
  trace.steps.forEach((entry, index) => {
    const where = `step ${index}`;
    const { outcome } = entry;
    if ('storedVersion' in entry) {
      assert.equal(outcome.expected_version, entry.storedVersion, `${where}: expected version`);
    }
    try {
      checkOutcome(outcome, steps[index].expect ?? {});
    } catch (e) {
      e.message = `${where}: ${e.message}`;
      throw e;
    }
  });
  if (trace.failure) assert.fail(trace.failure);
  assert.equal(trace.steps.length, steps.length, 'every step ran');
  for (const [key, expected] of Object.entries(v.records ?? {})) {
    assert.ok(Object.hasOwn(trace.records, key), `no record stored for ${key}`);
    expectContains(JSON.parse(trace.records[key]), expected, `record ${key}`);
  }
}
