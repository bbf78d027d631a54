// callhook replay on a generated log of over 100,000 requests: the summary must match the
// generator's truth, and a second replay against the same state must route nothing again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../../', import.meta.url).pathname;
const cli = process.env.CALLHOOK_CLI ?? join(root, 'build/native/callhook');
const dir = mkdtempSync(join(tmpdir(), 'callhook-replay-'));
const config = join(dir, 'config.json');
writeFileSync(config, JSON.stringify({
  correlation: { abandon_after_seconds: 600, retention_seconds: 86400 },
  destinations: { sink: { url: 'http://127.0.0.1:9/sink' } },
  routes: [{ name: 'each', to: ['sink'] }, { name: 'done', on: 'complete', to: ['sink'] }, { name: 'lost', on: 'abandoned', to: ['sink'] }],
}));

function generate(calls, name) {
  const log = join(dir, `${name}.ndjson`);
  const truthPath = join(dir, `${name}.truth.json`);
  const r = spawnSync(process.execPath, [join(root, 'tests/js/make-replay-log.mjs'), String(calls), log, truthPath], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { log, truth: JSON.parse(readFileSync(truthPath, 'utf8')) };
}

function replay(args) {
  const r = spawnSync(cli, ['replay', '--config', config, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const lines = r.stdout.trim().split('\n');
  return { code: r.status, lines, summary: JSON.parse(lines[lines.length - 1]).summary, err: r.stderr };
}

test('replay of 100,000+ requests reports what the generator knows to be true', () => {
  const { log, truth } = generate(48000, 'big');
  assert.ok(truth.requests >= 100000, `only ${truth.requests} requests`);
  const { code, summary, lines, err } = replay([log]);
  assert.equal(code, 0, err);
  for (const k of ['requests', 'calls', 'completed', 'abandoned', 'open', 'duplicates', 'rejected', 'accepted']) {
    assert.equal(summary[k], truth[k], k);
  }
  // Each accepted event routed once, each completed call once, each abandoned call once.
  assert.deepEqual(summary.deliveries, { each: truth.accepted, done: truth.completed, lost: truth.abandoned });
  assert.equal(lines.length, truth.requests + truth.abandoned + 1, 'one line per request and per abandoned call, then the summary');
});

test('replaying the same log again on the same state routes nothing twice', () => {
  const { log, truth } = generate(600, 'small');
  const state = join(dir, 'state');
  const first = replay(['--state', state, log]);
  assert.equal(first.code, 0, first.err);
  assert.equal(first.summary.completed, truth.completed);
  assert.equal(readdirSync(state).filter((f) => f.endsWith('.json')).length, truth.calls, 'one record file per call');
  const second = replay(['--state', state, log]);
  assert.equal(second.code, 0, second.err);
  assert.equal(second.summary.accepted, 0);
  assert.equal(second.summary.duplicates, truth.accepted + truth.duplicates);
  assert.deepEqual(second.summary.deliveries, {});
});

test('replay reports unreadable lines and takes the receipt time from --now-from', () => {
  const log = join(dir, 'mixed.ndjson');
  const body = readFileSync(join(root, 'examples/payloads/complete.form'), 'utf8');
  writeFileSync(log, [
    JSON.stringify({ url: '/hook', body, at: '2024-05-01T03:20:00Z' }),
    'not json',
    JSON.stringify({ url: '/hook', body }),
  ].join('\n'));
  const r = replay(['--now-from', 'at', log]);
  assert.equal(r.code, 1);
  assert.equal(r.summary.unreadable, 2);
  assert.equal(r.summary.accepted, 1);
  assert.equal(JSON.parse(r.lines[0]).now, 1714533600);
  assert.match(JSON.parse(r.lines[2]).error, /no receipt time in at/);
});
