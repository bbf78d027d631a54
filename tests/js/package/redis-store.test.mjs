// redisStore (bindings/js/redis-store.js) on a real redis-server: the DurableStore conformance
// suite, the key layout, and what several instances sharing one Redis rely on: work shared
// without double claims, a killed holder's items taken over after claimIdleMs, heartbeated items
// never taken, a restart under the same consumer name taking its items back at once, and caps
// that hold across stores committing at the same time. Under CI=true a missing redis-server is
// a failure, not a skip.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { redisStore } from '../../../bindings/js/redis-store.js';
import { redisSkip, redisFixture } from '../redis-server.mjs';
import { runDurableStoreConformance, outboxItem, recordEntry } from '../store-conformance.mjs';

const storeUrl = new URL('../../../bindings/js/redis-store.js', import.meta.url).href;
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const T0 = 1_800_000_000_000;
const ci = process.env.CI === 'true' || process.env.CI === '1';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const attempt = (atMs, status, code, reason = '') => ({ at_ms: atMs, status, code, reason });
const delivered = (at = T0) => ({ verdict: 'delivered', code: 'delivered', reason: '', attempt: attempt(at, 200, 'delivered') });
const ids = (items) => items.map((i) => i.id).sort();

/** Calls `step()` until it returns a truthy value, at most `tries` times and `ms` long. */
async function until(step, { ms = 15_000, tries = 1000, every = 50, what = 'the condition' } = {}) {
  const deadline = Date.now() + ms;
  for (let n = 0; n < tries && Date.now() < deadline; n++) {
    const v = await step();
    if (v) return v;
    await sleep(every);
  }
  throw new Error(`${what} did not happen within ${ms} ms / ${tries} tries`);
}

// A real node process holding claimed items until it is killed.
function startHolder({ url, prefix, consumer, max, claimIdleMs, heartbeatMs }) {
  const code = `
    import { createClient } from 'redis';
    import { redisStore } from ${JSON.stringify(storeUrl)};
    const c = createClient({ url: process.env.REDIS_URL });
    c.on('error', () => {});
    await c.connect();
    const s = redisStore(c, { prefix: process.env.PREFIX, consumer: process.env.CONSUMER,
      claimIdleMs: ${claimIdleMs}, heartbeatMs: ${heartbeatMs} });
    const got = await s.claim({ destination: 'crm', max: ${max}, nowMs: Date.now() });
    console.log(JSON.stringify(got.map((i) => i.id)));
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    cwd: repoRoot, env: { ...process.env, REDIS_URL: url, PREFIX: prefix, CONSUMER: consumer }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const claimed = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`holder printed nothing in 15 s: ${err}`)), 15_000);
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n')[0];
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
    child.stderr.on('data', (d) => { err += d; });
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`holder exited (${code}) before claiming: ${err}`));
    });
  });
  return { child, claimed, exited };
}

test('the package exports it as callhook/redis and ships both files', async () => {
  const pkg = JSON.parse(readFileSync(new URL('../../../bindings/js/package.json', import.meta.url), 'utf8'));
  assert.deepEqual(pkg.exports['./redis'], { types: './redis-store.d.ts', default: './redis-store.js' });
  for (const f of ['redis-store.js', 'redis-store.d.ts']) assert.ok(pkg.files.includes(f), f);
  assert.equal((await import('callhook/redis')).redisStore, redisStore);
});

const missing = redisSkip && ci ? redisSkip : false;

if (missing) {
  test('redisStore: prerequisites', () => assert.fail(`CI=true and a prerequisite is missing: ${missing}`));
} else {
  describe('redisStore', { skip: redisSkip }, () => {
    const fixture = redisFixture(before, after);
    let n = 0;
    const fresh = () => `rs${++n}:`;
    let url;
    before(async () => {
      const c = await fixture.client();
      url = c.options?.url;
    });

    runDurableStoreConformance('redisStore', async () => redisStore(await fixture.client(), { prefix: fresh() }));

    test('options: a client is required, the heartbeat must be below claimIdleMs', async () => {
      const c = await fixture.client();
      assert.throws(() => redisStore(null), TypeError);
      assert.throws(() => redisStore(c, { claimIdleMs: 1000, heartbeatMs: 1000 }), RangeError);
      assert.throws(() => redisStore(c, { consumer: '' }), TypeError);
      const a = redisStore(c);
      const b = redisStore(c);
      assert.notEqual(a.consumer, b.consumer, 'the default consumer is unique per store');
      assert.equal(redisStore(c, { consumer: 'web-1' }).consumer, 'web-1');
    });

    test('the key layout: records, streams with the callhook group, retries, dead letters', async () => {
      const c = await fixture.client();
      const p = fresh();
      const s = redisStore(c, { prefix: p });
      const k = 'AC1:CA1';
      const expiresAt = Date.now() / 1000 + 3600;
      const entry = recordEntry(k, 1, { sweepAt: 99, expiresAt });
      assert.deepEqual(await s.commit({ key: k, expectedVersion: 0, entry, items: [outboxItem('a'), outboxItem('b'), outboxItem('g', 'ga4')] }), { ok: true });
      assert.equal(await c.sendCommand(['TYPE', `${p}record:${k}`]), 'hash');
      assert.equal(Number(await c.sendCommand(['PEXPIRETIME', `${p}record:${k}`])), Math.round(expiresAt * 1000), 'PXAT expiry');
      assert.deepEqual(await c.sendCommand(['ZRANGE', `${p}sweep`, '0', '-1']), [k]);
      assert.equal(Number(await c.sendCommand(['ZSCORE', `${p}sweep`, k])), 99);
      assert.equal(await c.sendCommand(['TYPE', `${p}q:crm`]), 'stream');
      assert.equal(Number(await c.sendCommand(['XLEN', `${p}q:crm`])), 2);
      const groups = await c.sendCommand(['XINFO', 'GROUPS', `${p}q:crm`]);
      assert.equal(groups.length, 1);
      // RESP3 (node-redis 5+) answers a map, RESP2 a flat list.
      assert.equal(Array.isArray(groups[0]) ? groups[0][1] : groups[0].name, 'callhook');
      assert.deepEqual((await c.sendCommand(['SMEMBERS', `${p}destinations`])).sort(), ['crm', 'ga4']);
      assert.equal(Number(await c.sendCommand(['HLEN', `${p}items`])), 3);

      const [x, y] = await s.claim({ destination: 'crm', max: 2, nowMs: T0 });
      await s.finish(x, { verdict: 'retry', next_at_ms: T0 + 5000, code: 'timeout', reason: 't', attempt: attempt(T0, null, 'timeout', 't') });
      assert.equal(Number(await c.sendCommand(['XLEN', `${p}q:crm`])), 1, 'a retry leaves the stream');
      assert.deepEqual(await c.sendCommand(['ZRANGE', `${p}retry:crm`, '0', '-1']), [x.id]);
      assert.equal(Number(await c.sendCommand(['ZSCORE', `${p}retry:crm`, x.id])), T0 + 5000);
      assert.equal(JSON.parse(await c.sendCommand(['HGET', `${p}retry-item:crm`, x.id])).attempts, 1);
      assert.equal(await c.sendCommand(['HGET', `${p}items`, x.id]), 'retry');
      await s.finish(y, { verdict: 'dead', code: 'permanent_status', reason: 'HTTP 400', attempt: attempt(T0 + 1, 400, 'permanent_status', 'HTTP 400') });
      assert.equal(JSON.parse(await c.sendCommand(['HGET', `${p}dead`, y.id])).code, 'permanent_status');
      assert.deepEqual(await c.sendCommand(['ZRANGE', `${p}dead-at`, '0', '-1']), [y.id]);
      assert.equal(Number(await c.sendCommand(['ZSCORE', `${p}dead-at`, y.id])), T0 + 1);
      assert.deepEqual(await c.sendCommand(['ZRANGE', `${p}dead-at:crm`, '0', '-1']), [y.id]);
      const pending = await c.sendCommand(['XPENDING', `${p}q:crm`, 'callhook']);
      assert.equal(Number(pending[0]), 0, 'nothing is left in the pending list');
      assert.deepEqual(await s.counts(), { pending: 2, byDestination: { crm: 1, ga4: 1 }, dead: 1 });
    });

    test('record expiry keeps the expires_at given, byte for byte, beside the PXAT milliseconds', async () => {
      const c = await fixture.client();
      const p = fresh();
      const s = redisStore(c, { prefix: p });
      const entry = { record: 'r', version: 1, expires_at: Date.now() / 1000 + 3600.0001234, sweep_at: null };
      assert.equal(await s.compareAndSet('k', 0, entry), true);
      assert.deepEqual(await s.get('k'), entry);
      assert.equal(await c.sendCommand(['HGET', `${p}record:k`, 'expires_at']), String(Math.round(entry.expires_at * 1000)));
    });

    test('two stores with different consumers share the work; no item is claimed twice at once', async () => {
      const p = fresh();
      const stores = [redisStore(await fixture.client(), { prefix: p, consumer: 'a' }), redisStore(await fixture.client(), { prefix: p, consumer: 'b' })];
      const all = [];
      for (let i = 0; i < 120; i++) all.push(outboxItem(`w${i}`, i % 3 === 0 ? 'ga4' : 'crm'));
      for (let i = 0; i < all.length; i += 20) assert.deepEqual(await stores[i % 2].commit({ key: null, items: all.slice(i, i + 20) }), { ok: true });
      const seen = new Map(); // "id#attempts" -> the store that got it
      const doneBy = new Map();
      const holding = new Set();
      async function worker(s, name) {
        for (let round = 0; round < 400; round++) {
          const got = [...await s.claim({ destination: 'crm', max: 5, nowMs: T0 }), ...await s.claim({ destination: 'ga4', max: 5, nowMs: T0 })];
          for (const item of got) {
            const tag = `${item.id}#${item.attempts}`;
            assert.ok(!seen.has(tag), `${tag} claimed by ${name} and ${seen.get(tag)}`);
            assert.ok(!holding.has(item.id), `${item.id} claimed while held`);
            seen.set(tag, name);
            holding.add(item.id);
          }
          await Promise.all(got.map(async (item) => {
            holding.delete(item.id);
            // Every fourth item needs a second attempt, due at once: retries are promoted too.
            if (item.attempts === 0 && Number(item.id.slice(1)) % 4 === 0) {
              await s.finish(item, { verdict: 'retry', next_at_ms: T0, code: 'retryable_status', reason: 'HTTP 503', attempt: attempt(T0, 503, 'retryable_status', 'HTTP 503') });
            } else {
              doneBy.set(item.id, name);
              await s.finish(item, delivered());
            }
          }));
          if (doneBy.size === all.length) return;
          if (got.length === 0) await sleep(5);
        }
      }
      let timer;
      const limit = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('workers took over 30 s')), 30_000); });
      try {
        await Promise.race([Promise.all([worker(stores[0], 'a'), worker(stores[1], 'b')]), limit]);
      } finally {
        clearTimeout(timer);
      }
      assert.deepEqual([...doneBy.keys()].sort(), ids(all));
      assert.equal(seen.size, all.length + all.filter((i) => Number(i.id.slice(1)) % 4 === 0).length);
      assert.ok(new Set(doneBy.values()).size === 2, 'both stores did some of the work');
      assert.deepEqual(await stores[0].counts(), { pending: 0, byDestination: {}, dead: 0 });
      assert.deepEqual(await stores[1].destinations(), []);
    });

    test('a killed holder: a child process claims, is killed with SIGKILL, another store takes its items after claimIdleMs', async (t) => {
      const p = fresh();
      const s = redisStore(await fixture.client(), { prefix: p, consumer: 'survivor', claimIdleMs: 1500, heartbeatMs: 300 });
      const items = [outboxItem('k1'), outboxItem('k2'), outboxItem('k3')];
      assert.deepEqual(await s.commit({ key: null, items }), { ok: true });
      const holder = startHolder({ url, prefix: p, consumer: 'doomed', max: 10, claimIdleMs: 1500, heartbeatMs: 200 });
      t.after(() => holder.child.kill('SIGKILL'));
      assert.deepEqual((await holder.claimed).sort(), ids(items));

      // While the child lives its heartbeat keeps them: more than twice claimIdleMs of claims get nothing.
      const watchUntil = Date.now() + 3500;
      for (let i = 0; i < 100 && Date.now() < watchUntil; i++) {
        assert.deepEqual(await s.claim({ destination: 'crm', max: 10, nowMs: T0 }), [], 'a heartbeated item is not taken');
        await sleep(100);
      }

      holder.child.kill('SIGKILL');
      assert.equal((await holder.exited).signal, 'SIGKILL');
      const taken = [];
      await until(async () => {
        taken.push(...await s.claim({ destination: 'crm', max: 10, nowMs: T0 }));
        return taken.length >= items.length;
      }, { ms: 15_000, every: 100, what: 'the take-over' });
      assert.deepEqual(ids(taken), ids(items));
      for (const item of taken) {
        assert.equal(item.attempts, 0);
        assert.equal(item.idempotency_key, outboxItem(item.id).idempotency_key, 'the idempotency key travels with it');
        await s.finish(item, delivered());
      }
      assert.deepEqual(await s.counts(), { pending: 0, byDestination: {}, dead: 0 });
    });

    test('a holder silent past claimIdleMs loses its item; its late retry or dead verdict then changes nothing', async () => {
      const p = fresh();
      const slow = redisStore(await fixture.client(), { prefix: p, consumer: 'slow', claimIdleMs: 60_000, heartbeatMs: 30_000 });
      const eager = redisStore(await fixture.client(), { prefix: p, consumer: 'eager', claimIdleMs: 50, heartbeatMs: 20 });
      await slow.commit({ key: null, items: [outboxItem('s1')] });
      const [mine] = await slow.claim({ destination: 'crm', max: 1, nowMs: T0 });
      assert.equal(mine.id, 's1');
      const [theirs] = await until(async () => {
        const got = await eager.claim({ destination: 'crm', max: 1, nowMs: T0 });
        return got.length > 0 ? got : null;
      }, { ms: 10_000, every: 60, what: 'the take-over' });
      assert.equal(theirs.id, 's1');
      await slow.finish(mine, { verdict: 'retry', next_at_ms: T0, code: 'timeout', reason: 't', attempt: attempt(T0, null, 'timeout', 't') });
      await slow.finish(mine, { verdict: 'dead', code: 'permanent_status', reason: 'x', attempt: attempt(T0, 400, 'permanent_status', 'x') });
      await slow.release([mine]);
      assert.deepEqual(await slow.counts(), { pending: 1, byDestination: { crm: 1 }, dead: 0 }, 'still held by eager, unchanged');
      assert.deepEqual(await slow.claim({ destination: 'crm', max: 1, nowMs: T0 + 1e9 }), []);
      await eager.finish(theirs, delivered());
      assert.deepEqual(await eager.counts(), { pending: 0, byDestination: {}, dead: 0 });
    });

    test('a delivered verdict is final even from a holder that lost the item', async () => {
      const p = fresh();
      const slow = redisStore(await fixture.client(), { prefix: p, consumer: 'slow', claimIdleMs: 60_000, heartbeatMs: 30_000 });
      const eager = redisStore(await fixture.client(), { prefix: p, consumer: 'eager', claimIdleMs: 50, heartbeatMs: 20 });
      await slow.commit({ key: null, items: [outboxItem('f1')] });
      const [mine] = await slow.claim({ destination: 'crm', max: 1, nowMs: T0 });
      const [theirs] = await until(async () => {
        const got = await eager.claim({ destination: 'crm', max: 1, nowMs: T0 });
        return got.length > 0 ? got : null;
      }, { ms: 10_000, every: 60, what: 'the take-over' });
      await eager.finish(theirs, { verdict: 'retry', next_at_ms: T0 + 1000, code: 'timeout', reason: 't', attempt: attempt(T0, null, 'timeout', 't') });
      await slow.finish(mine, delivered());
      assert.deepEqual(await eager.counts(), { pending: 0, byDestination: {}, dead: 0 }, 'the scheduled retry is gone too');
      assert.deepEqual(await eager.claim({ destination: 'crm', max: 1, nowMs: T0 + 1e9 }), []);
    });

    test('a held item that is heartbeated is not taken by a store with a short claimIdleMs', async () => {
      const p = fresh();
      const holder = redisStore(await fixture.client(), { prefix: p, consumer: 'holder', claimIdleMs: 60_000, heartbeatMs: 100 });
      const other = redisStore(await fixture.client(), { prefix: p, consumer: 'other', claimIdleMs: 1000, heartbeatMs: 100 });
      await holder.commit({ key: null, items: [outboxItem('h1'), outboxItem('h2')] });
      const held = await holder.claim({ destination: 'crm', max: 2, nowMs: T0 });
      assert.equal(held.length, 2);
      const watchUntil = Date.now() + 3000;
      for (let i = 0; i < 100 && Date.now() < watchUntil; i++) {
        assert.deepEqual(await other.claim({ destination: 'crm', max: 10, nowMs: T0 }), [], 'not taken while heartbeated');
        await sleep(100);
      }
      for (const item of held) await holder.finish(item, delivered());
      assert.deepEqual(await other.counts(), { pending: 0, byDestination: {}, dead: 0 });
      // Once the holder stops (close ends its heartbeat) the other takes what it still holds.
      await holder.commit({ key: null, items: [outboxItem('h3')] });
      assert.equal((await holder.claim({ destination: 'crm', max: 1, nowMs: T0 })).length, 1);
      await holder.close();
      const got = await until(async () => {
        const g = await other.claim({ destination: 'crm', max: 10, nowMs: T0 });
        return g.length > 0 ? g : null;
      }, { ms: 15_000, every: 100, what: 'the take-over after close' });
      assert.deepEqual(ids(got), ['h3']);
    });

    test('a store started again under the same consumer name takes its items back on its first claim', async () => {
      const p = fresh();
      const c1 = await fixture.client();
      const before = redisStore(c1, { prefix: p, consumer: 'web-1', claimIdleMs: 60_000, heartbeatMs: 20_000 });
      const other = redisStore(await fixture.client(), { prefix: p, consumer: 'web-2', claimIdleMs: 60_000, heartbeatMs: 20_000 });
      await before.commit({ key: null, items: [outboxItem('m1'), outboxItem('m2'), outboxItem('m3')] });
      assert.equal((await before.claim({ destination: 'crm', max: 10, nowMs: T0 })).length, 3);
      c1.destroy(); // the process dies: no close, no release

      assert.deepEqual(await other.claim({ destination: 'crm', max: 10, nowMs: T0 }), [], 'another name waits for claimIdleMs');
      const again = redisStore(await fixture.client(), { prefix: p, consumer: 'web-1', claimIdleMs: 60_000, heartbeatMs: 20_000 });
      assert.deepEqual(await again.commit({ key: 'AC1:CA-r', expectedVersion: 0, entry: recordEntry('AC1:CA-r', 1), items: [outboxItem('m4')] }), { ok: true }, 'commits at once: no lease');
      const got = await again.claim({ destination: 'crm', max: 10, nowMs: T0 });
      assert.deepEqual(ids(got), ['m1', 'm2', 'm3', 'm4']);
      for (const item of got) await again.finish(item, delivered());
      assert.deepEqual(await again.counts(), { pending: 0, byDestination: {}, dead: 0 });
    });

    test('caps hold across two stores committing at the same time', async () => {
      const p = fresh();
      const a = redisStore(await fixture.client(), { prefix: p });
      const b = redisStore(await fixture.client(), { prefix: p });
      const limits = { total: 40, perDestination: 25 };
      const commits = [];
      for (let i = 0; i < 60; i++) {
        const items = [outboxItem(`cap${i}`, i % 2 ? 'crm' : 'ga4')];
        if (i % 5 === 0) items.push(outboxItem(`cap${i}b`, 'crm'));
        commits.push((i % 2 ? a : b).commit({ key: `AC1:CA-cap${i}`, expectedVersion: 0, entry: recordEntry(`AC1:CA-cap${i}`, 1), items, limits }));
      }
      const results = await Promise.all(commits);
      for (const r of results) {
        if (r.ok) continue;
        assert.equal(r.reason, 'full');
        assert.ok(r.pending > r.limit);
      }
      const counts = await a.counts();
      assert.ok(counts.pending <= 40, `total ${counts.pending} within its cap`);
      for (const [d, n] of Object.entries(counts.byDestination)) assert.ok(n <= 25, `${d}: ${n} within its cap`);
      assert.equal(counts.pending, Object.values(counts.byDestination).reduce((x, y) => x + y, 0));
      // What each commit said is what was written: records and items, or neither.
      let expected = 0;
      for (let i = 0; i < 60; i++) {
        const stored = await a.get(`AC1:CA-cap${i}`);
        assert.equal(stored !== null, results[i].ok, `commit ${i}: the record follows the verdict`);
        if (results[i].ok) expected += i % 5 === 0 ? 2 : 1;
      }
      assert.equal(counts.pending, expected);
      assert.ok(counts.pending >= 39, `the caps were reached (${counts.pending})`);
    });

    test('a retry scheduled by one store is claimed by another when due, with its history', async () => {
      const p = fresh();
      const a = redisStore(await fixture.client(), { prefix: p });
      const b = redisStore(await fixture.client(), { prefix: p });
      await a.commit({ key: null, items: [outboxItem('r1')] });
      const [c] = await a.claim({ destination: 'crm', max: 1, nowMs: T0 });
      const a1 = attempt(T0 + 1, 503, 'retryable_status', 'HTTP 503');
      await a.finish(c, { verdict: 'retry', next_at_ms: T0 + 10_000, code: 'retryable_status', reason: 'HTTP 503', attempt: a1 });
      assert.deepEqual(await b.claim({ destination: 'crm', max: 1, nowMs: T0 + 9_999 }), []);
      const [again] = await b.claim({ destination: 'crm', max: 1, nowMs: T0 + 10_000 });
      assert.equal(again.attempts, 1);
      assert.deepEqual(again.history, [a1]);
      assert.deepEqual(await a.claim({ destination: 'crm', max: 1, nowMs: T0 + 1e9 }), []);
      await b.finish(again, { verdict: 'dead', code: 'permanent_status', reason: 'HTTP 404', attempt: attempt(T0 + 10_001, 404, 'permanent_status', 'HTTP 404') });
      const [letter] = await a.deadLetters({ destination: 'crm' });
      assert.equal(letter.attempts, 2);
      assert.equal(letter.dead_at_ms, T0 + 10_001);
      assert.equal(await a.redrive(), 1);
      const [redriven] = await b.claim({ destination: 'crm', max: 1, nowMs: T0 });
      assert.equal(redriven.id, 'r1');
      assert.equal(redriven.attempts, 0);
    });

    test('dead letters are listed newest first, by destination, up to the limit', async () => {
      const s = redisStore(await fixture.client(), { prefix: fresh() });
      const items = [];
      for (let i = 0; i < 6; i++) items.push(outboxItem(`d${i}`, i % 2 ? 'crm' : 'ga4'));
      await s.commit({ key: null, items });
      for (const d of ['crm', 'ga4']) {
        for (const item of await s.claim({ destination: d, max: 10, nowMs: T0 })) {
          const at = T0 + Number(item.id.slice(1));
          await s.finish(item, { verdict: 'dead', code: 'permanent_status', reason: 'HTTP 400', attempt: attempt(at, 400, 'permanent_status', 'HTTP 400') });
        }
      }
      assert.deepEqual((await s.deadLetters()).map((d) => d.id), ['d5', 'd4', 'd3', 'd2', 'd1', 'd0']);
      assert.deepEqual((await s.deadLetters({ destination: 'crm', limit: 2 })).map((d) => d.id), ['d5', 'd3']);
      assert.deepEqual((await s.deadLetters({ limit: 0 })), []);
    });

    test('the heartbeat timer never keeps a process alive', async () => {
      const p = fresh();
      const s = redisStore(await fixture.client(), { prefix: p });
      await s.commit({ key: null, items: [outboxItem('t1')] });
      const code = `
        import { createClient } from 'redis';
        import { redisStore } from ${JSON.stringify(storeUrl)};
        const c = createClient({ url: process.env.REDIS_URL });
        c.on('error', () => {});
        await c.connect();
        const s = redisStore(c, { prefix: process.env.PREFIX, claimIdleMs: 1000, heartbeatMs: 50 });
        const got = await s.claim({ destination: 'crm', max: 1, nowMs: Date.now() });
        console.log(got.length);
        c.destroy();
      `;
      const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: repoRoot, env: { ...process.env, REDIS_URL: url, PREFIX: p }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      let timer;
      const exit = await new Promise((resolve) => {
        timer = setTimeout(() => { child.kill('SIGKILL'); resolve('still running after 15 s'); }, 15_000);
        child.on('exit', (code) => resolve(code));
      });
      clearTimeout(timer);
      assert.equal(exit, 0);
      assert.equal(out.trim(), '1');
    });

    test('ping is false once the client is gone', async () => {
      const c = await fixture.client();
      const s = redisStore(c, { prefix: fresh() });
      assert.equal(await s.ping(), true);
      c.destroy();
      assert.equal(await s.ping(), false);
    });
  });
}
