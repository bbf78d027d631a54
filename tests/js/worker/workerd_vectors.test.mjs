// The npm package inside the real workerd against the whole vector corpus: a small Worker
// (tests/js/workerd-vectors) imports the package as functions/cloudflare does and runs under
// `wrangler dev --local`. Each vector file's cases are posted to it at once; it runs them inside
// workerd (payload vectors through inspect/validate/normalize/parse, engine vectors through
// createEngine and handle with the vector's config, secrets and now, correlation sequences step
// by step against one engine and a record store) and answers the results, which are compared
// here by the same checks as the package's in Node and the WASI command's (vector-checks.mjs).
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageSkip } from '../package-build.mjs';
import {
  checkEngineVector, checkPayloadVector, checkSequence, configTextOf, describeVectors, engineRequest,
  payloadInput, root, sequenceSteps, wireStringify,
} from '../vector-checks.mjs';
import { startWranglerDev, wranglerSkip } from '../wrangler.mjs';

const skip = wranglerSkip || packageSkip;
const workerDir = join(root, 'tests/js/workerd-vectors');
const dir = mkdtempSync(join(tmpdir(), 'callhook-workerd-vectors-'));
let dev;

before(async () => {
  if (skip) return;
  const toml = readFileSync(join(workerDir, 'wrangler.toml'), 'utf8')
    .replace(/^main = .*$/m, `main = ${JSON.stringify(join(workerDir, 'worker.js'))}`);
  dev = await startWranglerDev({ toml, dir, timeoutMs: 60000 });
});

after(async () => {
  await dev?.stop();
  rmSync(dir, { recursive: true, force: true });
});

// Runs vectors (as vector-runs.mjs takes them) inside workerd; one result per vector, in order.
async function runInWorkerd(kind, vectors) {
  const r = await fetch(`${dev.base}/${kind}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: wireStringify(vectors),
  });
  const text = await r.text();
  assert.equal(r.status, 200, `the Worker answered ${r.status}: ${text}\n${dev.output()}`);
  const results = JSON.parse(text);
  assert.equal(results.length, vectors.length, 'one result per vector');
  return results;
}

// One describe per corpus folder: `input(case)` is what the Worker gets for a case, `check(case,
// result)` compares what it gave.
function describeInWorkerd(folder, kind, input, check) {
  describe(`${folder} vectors in workerd`, { skip }, () => {
    const results = new Map(); // file -> results
    describeVectors(folder, {
      skip,
      prepare: async (cases, file) => results.set(file, await runInWorkerd(kind, cases.map(input))),
      check: (c, index, file) => {
        const result = results.get(file)?.[index];
        assert.ok(result, 'no result from the Worker');
        if ('exception' in result) assert.fail(`the Worker threw: ${result.exception}`);
        check(c, result.value);
      },
    });
  });
}

describeInWorkerd('payload', 'payload', payloadInput, checkPayloadVector);

describeInWorkerd('engine', 'engine', (v) => ({
  configText: configTextOf(v), secrets: v.secrets ?? {}, now: v.now,
  request: v.request && engineRequest(v.request),
}), checkEngineVector);

describeInWorkerd('correlation', 'sequence', (v) => ({
  configText: configTextOf(v), secrets: v.secrets ?? {}, steps: sequenceSteps(v),
}), checkSequence);
