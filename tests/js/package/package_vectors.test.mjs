// The npm package (bindings/js, the core built with Emscripten) against the whole vector corpus:
// tests/vectors/payload, engine and correlation, compared by the rules of the native runners
// (tests/core/payload_vectors_test.cpp, engine_vectors_test.cpp; format in
// tests/vectors/README.md). A difference from native is a bug in one of them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { packageDir, packageSkip } from '../package-build.mjs';
import {
  attemptConfig, checkAttemptVector,
  checkEngineVector, checkPayloadVector, checkSequence, configTextOf, describeVectors, engineRequest,
  loadVectors, payloadInput, runEngineVector, runPayloadVector, runSequence, sequenceSteps,
} from '../vector-checks.mjs';

const skip = packageSkip;
const callhook = skip ? null : await import(join(packageDir, 'index.js'));
const runtime = skip ? null : await callhook.init();

describe('payload vectors', { skip }, () => {
  test('the corpus holds at least eighty cases', () => {
    const count = loadVectors('payload').reduce((n, f) => n + (f.document?.cases?.length ?? 0), 0);
    assert.ok(count >= 80, `${count} cases`);
  });
  describeVectors('payload', {
    skip,
    check: (c) => {
      const { payload, options } = payloadInput(c);
      checkPayloadVector(c, runPayloadVector(runtime, payload, options));
    },
  });
});

describe('engine vectors', { skip }, () => {
  describeVectors('engine', {
    skip,
    check: (v) => checkEngineVector(v, runEngineVector(runtime, {
      configText: configTextOf(v), secrets: v.secrets ?? {}, now: v.now,
      request: v.request && engineRequest(v.request),
    })),
  });
});

describe('delivery vectors', { skip }, () => {
  describeVectors('delivery', {
    skip,
    check: (c, _index, file) => {
      const engine = runtime.createEngine(attemptConfig(file, c), {});
      try {
        checkAttemptVector(c, engine.attemptResult(c.attempt));
      } finally {
        engine.close();
      }
    },
  });
});

describe('correlation vectors', { skip }, () => {
  describeVectors('correlation', {
    skip,
    check: (v) => {
      const engine = runtime.createEngine(configTextOf(v), { secrets: v.secrets ?? {} });
      try {
        checkSequence(v, runSequence(engine, sequenceSteps(v)));
      } finally {
        engine.close();
      }
    },
  });
});

// tests/vectors/front_door: route, refusal and health, compared as the native runner
// (tests/core/front_door_vectors_test.cpp) compares them.
function checkProblem(response, expect) {
  assert.equal(response.status, expect.status);
  const doc = JSON.parse(response.body);
  assert.equal(doc.type, expect.type);
  assert.equal(doc.status, response.status, "the document's status");
  assert.equal(typeof doc.title, 'string');
  assert.equal(typeof doc.detail, 'string');
  if (expect.code !== undefined) assert.equal(doc.code, expect.code);
  if (expect.detail !== undefined) assert.equal(doc.detail, expect.detail);
}

describe('front door vectors', { skip }, () => {
  describeVectors('front_door', {
    skip,
    check: (c, _index, file) => {
      const { expect } = c;
      if (file.includes('refusals')) {
        if (expect.unknown) {
          assert.throws(() => runtime.refusal(c.kind), /no refusal has that kind/);
          return;
        }
        const response = runtime.refusal(c.kind, c.detail ?? '');
        checkProblem(response, expect);
        assert.deepEqual(Object.fromEntries(response.headers), expect.headers, 'its headers, exactly');
      } else if (file.endsWith('admin.json')) {
        const response = runtime.adminCheck(c.authorization ?? null, c.token);
        if (expect.allowed) {
          assert.equal(response, null);
          return;
        }
        checkProblem(response, expect);
        assert.deepEqual(Object.fromEntries(response.headers), expect.headers, 'its headers, exactly');
        if (c.token) assert.ok(!response.body.includes(c.token), 'no token shown');
      } else if (file.includes('health')) {
        const response = runtime.health(c.state, { pending: c.pending, deadLetters: c.dead_letters });
        assert.equal(response.status, expect.status);
        assert.deepEqual(JSON.parse(response.body), expect.body);
        assert.equal(Object.fromEntries(response.headers)['Content-Type'], 'application/json');
      } else {
        const route = runtime.route(c.method, c.target, c.host);
        assert.equal(route.endpoint, expect.endpoint);
        if (expect.path !== undefined) assert.equal(route.path, expect.path);
        if (route.endpoint !== 'refused') {
          assert.equal(route.response, null);
          return;
        }
        checkProblem(route.response, expect);
        const headers = Object.fromEntries(route.response.headers);
        assert.equal(headers['Content-Type'], 'application/problem+json');
        for (const [name, value] of Object.entries(expect.headers ?? {})) assert.equal(headers[name], value, name);
      }
    },
  });
});
