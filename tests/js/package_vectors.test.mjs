// The npm package (bindings/js, the core built with Emscripten) against the whole vector corpus:
// tests/vectors/payload, engine and correlation, compared by the rules of the native runners
// (tests/core/payload_vectors_test.cpp, engine_vectors_test.cpp; format in
// tests/vectors/README.md). A difference from native is a bug in one of them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { packageDir, packageSkip } from './package-build.mjs';
import {
  attemptConfig, checkAttemptVector,
  checkEngineVector, checkPayloadVector, checkSequence, configTextOf, describeVectors, engineRequest,
  loadVectors, payloadInput, runEngineVector, runPayloadVector, runSequence, sequenceSteps,
} from './vector-checks.mjs';

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
