// Record stores: the compare-and-set contract on the memory store and on a real redis-server,
// expiry, the sweep index, and CAS races between independent clients; the memory store's
// outbox against the DurableStore conformance suite.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { memoryStore, entryOf } from '../../../bindings/js/stores.js';
import { redisStore } from '../../../bindings/js/redis-store.js';
import { redisSkip, redisFixture } from '../redis-server.mjs';
import { runDurableStoreConformance } from '../store-conformance.mjs';

const storesUrl = new URL('../../../bindings/js/stores.js', import.meta.url).href;

// An entry as an outcome gives it: the record text and, beside it, what the store keeps.
function rec(key, version, { sweepAt = null, ...extra } = {}) {
  const record = JSON.stringify({ format: 1, key, version, duplicates: 0, abandoned: false, sweep_at: sweepAt, ...extra });
  return { record, version, sweep_at: sweepAt, expires_at: null };
}

// compareAndSet with the entry expiring at `expiresAt` (null entry: delete).
const cas = (store, key, expected, entry, expiresAt) =>
  store.compareAndSet(key, expected, entry === null || typeof entry !== 'object' ? entry : { ...entry, expires_at: expiresAt });

const later = () => Date.now() / 1000 + 3600;

// The contract every store keeps; `make()` returns a fresh, empty store.
function contract(make) {
  test('get of a missing key is null', async () => {
    const s = await make();
    assert.equal(await s.get('AC1:CA-missing'), null);
  });

  test('compareAndSet: 0 creates, a stale version conflicts, the current version updates', async () => {
    const s = await make();
    const k = 'AC1:CA1';
    assert.equal(await cas(s, k, 0, rec(k, 1), later()), true);
    const first = await s.get(k);
    assert.deepEqual([first.record, first.version, first.sweep_at], [rec(k, 1).record, 1, null]);
    assert.ok(Math.abs(first.expires_at - later()) < 5, 'the expiry is kept beside the record');
    assert.equal(await cas(s, k, 0, rec(k, 1, { other: true }), later()), false, '0 means must not exist');
    assert.equal(await cas(s, k, 1, rec(k, 2), later()), true);
    assert.equal(await cas(s, k, 1, rec(k, 2, { stale: true }), later()), false, 'stale version');
    const second = await s.get(k);
    assert.deepEqual([second.record, second.version], [rec(k, 2).record, 2]);
    assert.equal(await cas(s, 'AC1:CA-none', 3, rec('AC1:CA-none', 4), later()), false, 'nonzero on a missing key');
  });

  test('compareAndSet with record null deletes when the version matches', async () => {
    const s = await make();
    const k = 'AC1:CA-del';
    await cas(s, k, 0, rec(k, 1, { sweepAt: 10 }), later());
    assert.equal(await cas(s, k, 2, null, later()), false);
    assert.equal(await cas(s, k, 1, null, later()), true);
    assert.equal(await s.get(k), null);
    assert.deepEqual(await s.due(100), []);
  });

  test('an entry without record text and a positive version is refused', async () => {
    const s = await make();
    await assert.rejects(s.compareAndSet('k', 0, 'a record without its version'), TypeError);
    await assert.rejects(s.compareAndSet('k', 0, { record: '{}', version: 0 }), TypeError);
    await assert.rejects(s.compareAndSet('k', 0, { record: 5, version: 1 }), TypeError);
    await assert.rejects(cas(s, 'k', -1, rec('k', 1), later()), TypeError);
    assert.equal(await s.get('k'), null);
  });

  test('due lists keys whose sweep_at has passed, and follows updates', async () => {
    const s = await make();
    await cas(s, 'a', 0, rec('a', 1, { sweepAt: 100 }), later());
    await cas(s, 'b', 0, rec('b', 1, { sweepAt: 200 }), later());
    await cas(s, 'c', 0, rec('c', 1), later());
    assert.deepEqual((await s.due(50)).sort(), []);
    assert.deepEqual((await s.due(100)).sort(), ['a']);
    assert.deepEqual((await s.due(250)).sort(), ['a', 'b']);
    // Completed: sweep_at back to null leaves the index.
    await cas(s, 'a', 1, rec('a', 2), later());
    assert.deepEqual((await s.due(250)).sort(), ['b']);
    await cas(s, 'c', 1, rec('c', 2, { sweepAt: 150.5 }), later());
    assert.deepEqual((await s.due(150.5)).sort(), ['c']);
  });

  test('a record whose expiry has passed is gone', async () => {
    const s = await make();
    await cas(s, 'old', 0, rec('old', 1, { sweepAt: 1 }), Date.now() / 1000 - 10);
    assert.equal(await s.get('old'), null);
    assert.deepEqual(await s.due(1e12), []);
    // ... and may be created again from scratch.
    assert.equal(await cas(s, 'old', 0, rec('old', 1), later()), true);
  });

  test('records expire at expiresAt (sub-second)', async () => {
    const s = await make();
    await cas(s, 'soon', 0, rec('soon', 1, { sweepAt: 5 }), Date.now() / 1000 + 0.25);
    assert.equal((await s.get('soon')).version, 1);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await s.get('soon'), null);
    assert.deepEqual(await s.due(1e12), []);
  });

  test('concurrent increments through read-modify-CAS lose no update', async () => {
    const s = await make();
    const k = 'AC1:counter';
    const workers = 4;
    const each = 25;
    let conflicts = 0;
    async function worker() {
      for (let i = 0; i < each; i++) {
        for (;;) {
          const cur = await s.get(k);
          const v = cur ? cur.version : 0;
          const n = cur ? JSON.parse(cur.record).n : 0;
          if (await cas(s, k, v, rec(k, v + 1, { n: n + 1 }), later())) break;
          conflicts += 1;
        }
      }
    }
    await Promise.all(Array.from({ length: workers }, worker));
    const final = await s.get(k);
    assert.equal(final.version, workers * each);
    assert.equal(JSON.parse(final.record).n, workers * each);
    void conflicts;
  });
}

test('entryOf takes what an outcome says to keep, never reading the record', () => {
  const outcome = { record: 'opaque text', record_key: 'k', expected_version: 2, version: 3, expires_at: 99, sweep_at: 12.5 };
  assert.deepEqual(entryOf(outcome), { record: 'opaque text', version: 3, expires_at: 99, sweep_at: 12.5 });
  assert.equal(entryOf({ record: null }), null);
});

test('a store never reads inside a record: any text is kept byte for byte', async () => {
  const s = memoryStore();
  const text = 'not JSON at all \u2028 ' + '{"version": 99}';
  assert.equal(await s.compareAndSet('k', 0, { record: text, version: 1, expires_at: null, sweep_at: 5 }), true);
  assert.deepEqual(await s.get('k'), { record: text, version: 1, expires_at: null, sweep_at: 5 });
  assert.deepEqual(await s.due(5), ['k']);
  await s.close();
});

describe('memoryStore', () => {
  const open = [];
  after(async () => {
    for (const s of open) await s.close();
  });
  contract(async () => {
    const s = memoryStore();
    open.push(s);
    return s;
  });

  test('expiry follows the injected clock; the purge timer removes expired records', async () => {
    let t = 1000;
    const s = memoryStore({ now: () => t, purgeIntervalMs: 10 });
    await cas(s, 'a', 0, rec('a', 1, { sweepAt: 1005 }), 1010);
    await cas(s, 'b', 0, rec('b', 1), 2000);
    assert.deepEqual(await s.due(1006), ['a']);
    t = 1010;
    assert.equal(s.size, 2);
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(s.size, 1, 'purged without a read');
    assert.equal(await s.get('a'), null);
    assert.equal((await s.get('b')).version, 1);
    await s.close();
    await assert.rejects(s.get('b'), /closed/);
  });

  test('the purge timer does not keep the process alive', () => {
    const code = `import(${JSON.stringify(storesUrl)}).then(async (m) => {
      const s = m.memoryStore({ purgeIntervalMs: 50 });
      await s.compareAndSet('k', 0, { record: 'r', version: 1, expires_at: Date.now() / 1000 + 60, sweep_at: null });
      console.log('set');
    });`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'set');
  });
});

describe('redisStore', { skip: redisSkip }, () => {
  const { client } = redisFixture(before, after);
  let n = 0;

  // Each contract test gets its own prefix on the shared server.
  contract(async () => redisStore(await client(), { prefix: `t${++n}:` }));

  test('CAS races between two store clients: exactly one creator wins each key', async () => {
    const a = redisStore(await client(), { prefix: 'race:' });
    const b = redisStore(await client(), { prefix: 'race:' });
    for (let i = 0; i < 50; i++) {
      const k = `AC1:CA${i}`;
      const [x, y] = await Promise.all([
        cas(a, k, 0, rec(k, 1, { by: 'a' }), later()),
        cas(b, k, 0, rec(k, 1, { by: 'b' }), later()),
      ]);
      assert.equal(x !== y, true, `exactly one wins ${k}`);
      const stored = await b.get(k);
      assert.equal(JSON.parse(stored.record).by, x ? 'a' : 'b');
    }
  });

  test('CAS races between two store clients: concurrent increments lose nothing', async () => {
    const stores = [redisStore(await client(), { prefix: 'inc:' }), redisStore(await client(), { prefix: 'inc:' })];
    const k = 'AC1:CA-inc';
    let conflicts = 0;
    async function worker(s, count) {
      for (let i = 0; i < count; i++) {
        for (;;) {
          const cur = await s.get(k);
          const v = cur ? cur.version : 0;
          const list = cur ? JSON.parse(cur.record).list : [];
          if (await cas(s, k, v, rec(k, v + 1, { list: [...list, v + 1] }), later())) break;
          conflicts += 1;
        }
      }
    }
    await Promise.all([worker(stores[0], 40), worker(stores[1], 40), worker(stores[0], 40), worker(stores[1], 40)]);
    const final = await stores[0].get(k);
    assert.equal(final.version, 160);
    assert.deepEqual(JSON.parse(final.record).list, Array.from({ length: 160 }, (_, i) => i + 1));
    assert.ok(conflicts > 0, 'the race really happened');
  });

  test('records are shared between clients and keyed under the prefix', async () => {
    const c = await client();
    const a = redisStore(c, { prefix: 'shared:' });
    const b = redisStore(await client(), { prefix: 'shared:' });
    const other = redisStore(c, { prefix: 'other:' });
    await cas(a, 'AC1:CA9', 0, rec('AC1:CA9', 1, { sweepAt: 7 }), later());
    assert.equal((await b.get('AC1:CA9')).version, 1);
    assert.equal(await other.get('AC1:CA9'), null);
    assert.equal(await c.sendCommand(['EXISTS', 'shared:record:AC1:CA9']), 1);
    const ttl = await c.sendCommand(['PTTL', 'shared:record:AC1:CA9']);
    assert.ok(ttl > 3_500_000 && ttl <= 3_600_000, `PXAT expiry set (pttl ${ttl})`);
    assert.deepEqual(await b.due(7), ['AC1:CA9']);
  });

  test('a value the store did not write is never overwritten by CAS', async () => {
    const c = await client();
    const s = redisStore(c, { prefix: 'bad:' });
    await c.sendCommand(['SET', 'bad:record:k', 'garbage']);
    assert.equal(await cas(s, 'k', 0, rec('k', 1), later()), false);
    assert.equal(await cas(s, 'k', 1, rec('k', 2), later()), false);
    assert.equal(await c.sendCommand(['GET', 'bad:record:k']), 'garbage');
  });

  test('due drops index entries of expired records', async () => {
    const c = await client();
    const s = redisStore(c, { prefix: 'exp:' });
    await cas(s, 'gone', 0, rec('gone', 1, { sweepAt: 1 }), Date.now() / 1000 + 0.05);
    await cas(s, 'kept', 0, rec('kept', 1, { sweepAt: 1 }), later());
    await new Promise((r) => setTimeout(r, 120));
    assert.deepEqual(await s.due(10), ['kept']);
    assert.equal(await c.sendCommand(['ZCARD', 'exp:sweep']), 1);
  });
});

runDurableStoreConformance('memoryStore', () => memoryStore());
