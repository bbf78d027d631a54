// How a JavaScript shell runs the vectors of tests/vectors (format in tests/vectors/README.md):
// a payload or engine vector through the npm package's runtime (what `init()` resolves to), and a
// correlation sequence over any engine with the package's `handle` and `sweep`, with the step
// rules of the native runner (tests/core/engine_vectors_test.cpp, SequenceVector).
//
// Plain JavaScript with no Node or Workers API: the Node runners (through vector-checks.mjs) and
// the workerd test Worker beside this file import it alike. What it returns is JSON, so a run
// inside workerd crosses back to Node unchanged and is compared there (vector-checks.mjs).

/** The `now` of a vector or step that gives none. */
export const DEFAULT_NOW = 1714533342;

// ---- bytes over JSON --------------------------------------------------------------------------

function base64Of(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function bytesOf(base64) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** JSON text of a value whose bodies may be bytes: a Uint8Array becomes {"$bytes": base64}. */
export function wireStringify(value) {
  return JSON.stringify(value, (key, v) => (v instanceof Uint8Array ? { $bytes: base64Of(v) } : v));
}

/** The value wireStringify was given. */
export function wireParse(text) {
  return JSON.parse(text, (key, v) =>
    v !== null && typeof v === 'object' && typeof v.$bytes === 'string' && Object.keys(v).length === 1
      ? bytesOf(v.$bytes)
      : v);
}

// ---- runs -------------------------------------------------------------------------------------

// A call's result or what it threw, as JSON.
function attempt(call) {
  try {
    return { value: call() };
  } catch (e) {
    return { error: { name: e?.name, code: e?.code, message: String(e?.message ?? e), report: e?.report } };
  }
}

/**
 * A payload vector through the runtime: `inspect` (the one pass) and the one-step functions
 * `validate`, `normalize` and `parse`, each as {value} or {error}.
 */
export function runPayloadVector(runtime, payload, options) {
  return {
    inspect: attempt(() => runtime.inspect(payload, options)),
    validate: attempt(() => runtime.validate(payload, options)),
    normalize: attempt(() => runtime.normalize(payload, options)),
    parse: attempt(() => runtime.parse(payload, options)),
  };
}

/**
 * An engine vector through the runtime: {refused: true, errors, message} when createEngine
 * throws, else {refused: false, outcome} (outcome null when the vector has no request).
 */
export function runEngineVector(runtime, { configText, secrets, request, now }) {
  let engine;
  try {
    engine = runtime.createEngine(configText, { secrets });
  } catch (e) {
    return { refused: true, errors: e?.errors ?? null, message: String(e?.message ?? e) };
  }
  try {
    return { refused: false, outcome: request ? engine.handle(request, { now: now ?? DEFAULT_NOW }) : null };
  } finally {
    engine.close();
  }
}

/**
 * A correlation sequence against one engine and an in-memory record store. `steps` are the
 * vector's, each request already what `engine.handle` takes. Returns {steps: [{outcome,
 * storedVersion}], records: {key: text}, failure}: `storedVersion` is the version of the record
 * the outcome's record replaces (present when it has one to store), `failure` why the sequence
 * stopped early.
 */
export function runSequence(engine, steps) {
  const store = new Map(); // key -> {record, version}: what the outcomes said to keep
  const trace = [];
  const records = () => Object.fromEntries([...store].map(([key, entry]) => [key, entry.record]));
  const done = (failure) => ({ steps: trace, records: records(), ...(failure ? { failure } : {}) });
  for (const step of steps) {
    const now = step.now ?? DEFAULT_NOW;
    let outcome;
    if (step.sweep) {
      const key = step.key ?? '';
      if (!store.has(key)) return done(`step ${trace.length}: no record for ${key}`);
      outcome = engine.sweep(store.get(key).record, now);
    } else if ('record' in step) {
      // A record given as is (e.g. one that cannot be read): nothing is stored.
      trace.push({ outcome: engine.handle(step.request, { now, record: step.record }) });
      continue;
    } else if (typeof engine.prepare === 'function') {
      // As a shell does: prepare once, read the record the engine names, decide on it.
      const prepared = engine.prepare(step.request, { now });
      outcome = prepared.decide({ now, record: store.get(prepared.record_key)?.record ?? null });
      prepared.close();
    } else {
      // An engine with handle alone (the CLI): learn the key from a first decision, then decide
      // on the stored record (handle is pure, so deciding twice changes nothing).
      outcome = engine.handle(step.request, { now });
      if (outcome.record !== null && store.has(outcome.record_key)) {
        outcome = engine.handle(step.request, { now, record: store.get(outcome.record_key).record });
      }
    }
    const entry = { outcome };
    if (outcome.record !== null) {
      entry.storedVersion = store.get(outcome.record_key)?.version ?? 0;
      store.set(outcome.record_key, { record: outcome.record, version: outcome.version });
    }
    trace.push(entry);
  }
  return done(null);
}
