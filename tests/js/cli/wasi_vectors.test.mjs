// The WASI build of the CLI (build/wasi/callhook.wasm) under Node's WASI against the whole vector
// corpus: it imports nothing beyond WASI preview 1, and every payload, engine and correlation
// vector gives through its commands what the vectors expect of native, compared by the same
// checks as the npm package's (vector-checks.mjs).
//
// - payload: `validate`, `normalize` and `parse` (when the vector expects fields);
// - engine: `handle` with the vector's config, secrets (the environment, as the CLI reads them)
//   and `--now`; a refused config's problems come from `check-config --json`;
// - correlation: each step is `handle` (with `--record` for the stored record) or `sweep`, the
//   record to store written by `--record-out` and stored byte for byte between steps.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WASI } from 'node:wasi';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  attemptConfig, checkAttemptVector,
  DEFAULT_NOW, checkEngineVector, checkPayloadVector, checkSequence, configTextOf, describeVectors,
  engineRequest, payloadInput, root, runSequence, secretEnvironment, sequenceSteps,
} from '../vector-checks.mjs';

const wasmPath = process.env.CALLHOOK_WASI ?? join(root, 'build/wasi/callhook.wasm');
const skip = !existsSync(wasmPath) &&
  `no WASI build at ${wasmPath} (cmake --preset wasi && cmake --build --preset wasi)`;
const dir = mkdtempSync(join(tmpdir(), 'callhook-wasi-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

let module;
function compiled() {
  module ??= new WebAssembly.Module(readFileSync(wasmPath));
  return module;
}

// Runs the CLI once with `dir` preopened as /data and `env` as its whole environment; returns
// {code, stdout, stderr}.
function run(args, env = {}) {
  const out = openSync(join(dir, 'stdout'), 'w');
  const err = openSync(join(dir, 'stderr'), 'w');
  const wasi = new WASI({ version: 'preview1', args: ['callhook', ...args], env, preopens: { '/data': dir },
    stdout: out, stderr: err, returnOnExit: true });
  let code;
  try {
    code = wasi.start(new WebAssembly.Instance(compiled(), wasi.getImportObject()));
  } finally {
    closeSync(out);
    closeSync(err);
  }
  return { code, stdout: readFileSync(join(dir, 'stdout'), 'utf8'), stderr: readFileSync(join(dir, 'stderr'), 'utf8') };
}

const data = (name) => `/data/${name}`;
const put = (name, content) => writeFileSync(join(dir, name), content);

test('the WASI command imports only WASI preview 1', { skip }, () => {
  const imports = WebAssembly.Module.imports(compiled());
  assert.ok(imports.length > 0);
  for (const i of imports) {
    assert.equal(i.module, 'wasi_snapshot_preview1', `${i.module}.${i.name}`);
    assert.equal(i.kind, 'function');
  }
});

// ---- payload vectors: validate, normalize, parse --------------------------------------------

const LIMIT_FLAGS = { max_body_bytes: '--max-body', max_fields: '--max-fields', max_name_bytes: '--max-name',
  max_value_bytes: '--max-value' };

// What the commands say, in the shape runPayloadVector gives for the package: `inspect` is
// validate's verdict with normalize's event (when valid) and parse's fields; `normalize` of an
// invalid payload prints the verdict and exits 1, the package's invalid_payload error.
function payloadThroughCli(c) {
  const { payload, options } = payloadInput(c);
  const input = [];
  if (options.url !== undefined) {
    input.push('--url', options.url);
  } else {
    put('body', payload);
    if (options.contentType !== undefined) input.push('--content-type', options.contentType);
    input.push(data('body'));
  }
  for (const [name, value] of Object.entries(options.limits ?? {})) input.push(LIMIT_FLAGS[name], String(value));
  const mode = options.mode ? [`--${options.mode}`] : [];

  const validated = run(['validate', ...mode, ...input]);
  const verdict = JSON.parse(validated.stdout);
  assert.equal(validated.code, verdict.valid ? 0 : 1, `validate exit status: ${validated.stderr}`);
  const normalized = run(['normalize', ...mode, ...input]);
  assert.equal(normalized.code, verdict.valid ? 0 : 1, `normalize exit status: ${normalized.stderr}`);
  const normal = JSON.parse(normalized.stdout);
  const parsed = 'fields' in c.expect ? run(['parse', ...input]) : { code: 1, stderr: 'not run' };
  const fields = parsed.code === 0 ? JSON.parse(parsed.stdout) : undefined;
  return {
    inspect: { value: { fields, verdict, event: verdict.valid ? normal : null } },
    validate: { value: verdict },
    normalize: verdict.valid ? { value: normal } : { error: { code: 'invalid_payload', report: normal } },
    parse: parsed.code === 0 ? { value: fields } : { error: { message: parsed.stderr } },
  };
}

describe('payload vectors through validate, normalize and parse', { skip }, () => {
  describeVectors('payload', { skip, check: (c) => checkPayloadVector(c, payloadThroughCli(c)) });
});

// ---- engine and correlation vectors: handle, sweep, check-config ---------------------------

// A request as the CLI's REQUEST_FILE takes it: a body that is bytes goes as body_base64.
function requestFile(request) {
  const { body, ...rest } = request;
  const doc = body instanceof Uint8Array ? { ...rest, body_base64: Buffer.from(body).toString('base64') } : { ...rest, body };
  if (doc.headers === undefined) delete doc.headers;
  return JSON.stringify(doc);
}

// The engine of one config as the CLI runs it: each call is one run of `handle` or `sweep`,
// answering with the package's Outcome shape (the record as the text --record-out wrote).
function cliEngine(configText, secrets) {
  put('config', configText);
  const env = secretEnvironment(secrets);
  const call = (args) => {
    rmSync(join(dir, 'record-out'), { force: true });
    const r = run([...args, '--config', data('config'), '--record-out', data('record-out')], env);
    if (r.code !== 0) return { ...r, outcome: null };
    const outcome = JSON.parse(r.stdout);
    if (outcome.record === null) return { ...r, outcome };
    const text = readFileSync(join(dir, 'record-out'), 'utf8');
    assert.equal(text, outcome.record, 'the record written by --record-out is the one printed');
    return { ...r, outcome };
  };
  const outcomeOf = (r) => {
    if (r.outcome === null) assert.fail(`callhook exited ${r.code}: ${r.stderr}`);
    return r.outcome;
  };
  return {
    handleRun(request, { now = DEFAULT_NOW, record } = {}) {
      put('request', requestFile(request));
      const stored = [];
      if (record !== undefined) {
        put('record', record);
        stored.push('--record', data('record'));
      }
      return call(['handle', '--now', String(now), ...stored, data('request')]);
    },
    handle(request, options) {
      return outcomeOf(this.handleRun(request, options));
    },
    sweep(record, now = DEFAULT_NOW) {
      put('record', record);
      return outcomeOf(call(['sweep', '--now', String(now), data('record')]));
    },
    // check-config --json: {valid, errors}
    check() {
      const r = run(['check-config', '--json', data('config')], env);
      const checked = JSON.parse(r.stdout);
      assert.equal(r.code, checked.valid ? 0 : 1, `check-config exit status: ${r.stderr}`);
      return checked;
    },
  };
}

// An engine vector through `handle`, as runEngineVector gives it for the package. A config the
// CLI refuses (exit 2) lists its problems through check-config --json; handle's stderr is what
// else it said (checked for secrets).
function engineThroughCli(v) {
  const engine = cliEngine(configTextOf(v), v.secrets ?? {});
  if (!v.request) {
    const checked = engine.check();
    return checked.valid ? { refused: false, outcome: null } : { refused: true, errors: checked.errors, message: '' };
  }
  const r = engine.handleRun(engineRequest(v.request), { now: v.now ?? DEFAULT_NOW });
  if (r.outcome) return { refused: false, outcome: r.outcome };
  const checked = engine.check();
  assert.ok(!checked.valid, `handle exited ${r.code} on a valid config: ${r.stderr}`);
  return { refused: true, errors: checked.errors, message: r.stderr };
}

describe('delivery vectors through attempt', { skip }, () => {
  describeVectors('delivery', {
    skip,
    check: (c, _index, file) => {
      put('config', attemptConfig(file, c));
      put('attempt', JSON.stringify(c.attempt));
      const r = run(['attempt', '--config', data('config'), data('attempt')]);
      assert.equal(r.code, 0, r.stderr);
      checkAttemptVector(c, JSON.parse(r.stdout));
    },
  });
});

describe('engine vectors through handle', { skip }, () => {
  describeVectors('engine', { skip, check: (v) => checkEngineVector(v, engineThroughCli(v)) });
});

describe('correlation vectors through handle and sweep', { skip }, () => {
  describeVectors('correlation', {
    skip,
    check: (v) => checkSequence(v, runSequence(cliEngine(configTextOf(v), v.secrets ?? {}), sequenceSteps(v))),
  });
});
