// The promises of the DurableStore interface (bindings/js/stores.d.ts, "Stores that keep the
// outbox too"), checked the same way for every implementation:
//
//   import { runDurableStoreConformance } from '../store-conformance.mjs';
//   runDurableStoreConformance('sqliteStore', async () => sqliteStore({ dir: freshDir() }));
//
// `makeStore()` (sync or async) returns a fresh, empty store; the suite closes every store it
// made. Nothing here depends on timing: times are values handed to the store (`nowMs`,
// `next_at_ms`, expiry in the past or far in the future), never waits.
//
// What the suite takes as the interface's meaning where stores.d.ts leaves a detail open:
// - a new item is due at its `enqueued_at_ms` (claims here use a nowMs at or after it);
// - `pending` in a 'full' result is what would be pending once the items were added (so it is
//   above `limit`); caps are checked only after the record's compare-and-set, so a conflict
//   answers 'conflict' even when the items would not fit;
// - a finished attempt counts: after finish(retry) the item has attempts + 1, and a dead letter
//   carries every attempt in `attempts` and `history`, the last one included;
// - finish() of an item that is no longer pending (already delivered or dead) changes nothing;
// - counts().byDestination has no zero entries; dead letters are not pending;
// - a malformed item (no id, destination, sealed text or enqueued_at_ms) rejects the commit
//   with a TypeError and writes nothing, like a malformed entry;
// - redrive() resets attempts to 0 and makes the item due at once; whether history is kept is
//   the implementation's choice (not checked);
// - an item's call_sid, record_key and trigger come back as given ('' when it had none);
// - deadLetters() lists newest first by dead_at_ms (ties are not checked), a filter's window is
//   sinceMs <= dead_at_ms < untilMs, and a filter with a key it does not know is a TypeError;
// - dead letters whose dead_at_ms is more than the retention (30 days) before the store's clock
//   are gone by the next listing; erase() asks the record predicate about every record before
//   it asks the item predicate about anything.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';

const T0 = 1_800_000_000_000; // epoch ms, the suite's "now" for the outbox
// A record expiry a day ahead, in whole seconds (a store keeping milliseconds gives it back exactly).
const LATER = Math.floor(Date.now() / 1000) + 86_400;

/** An outbox item as the Node function makes it; `sealed` holds `${NAME}` references. */
export function outboxItem(id, destination = 'crm', { route = 'all', enqueuedAtMs = T0, sealed, callSid = `CA${id}`, trigger = 'complete' } = {}) {
  return {
    id,
    route,
    destination,
    idempotency_key: `${callSid}:completed:${route}`,
    sealed: sealed ?? JSON.stringify({ url: 'https://example.test/${HOOK_PATH}', headers: { Authorization: 'Bearer ${CRM_TOKEN}' }, body: `{"id":"${id}"}` }),
    enqueued_at_ms: enqueuedAtMs,
    call_sid: callSid,
    record_key: `AC1:${callSid}`,
    trigger,
  };
}

/** A record entry as entryOf(outcome) gives it. */
export function recordEntry(key, version, { sweepAt = null, expiresAt = LATER, ...extra } = {}) {
  return { record: JSON.stringify({ format: 1, key, version, ...extra }), version, expires_at: expiresAt, sweep_at: sweepAt };
}

const attempt = (atMs, status, code, reason = '') => ({ at_ms: atMs, status, code, reason });
const ids = (items) => items.map((i) => i.id).sort();
const itemFields = (i) => ({
  id: i.id, route: i.route, destination: i.destination, idempotency_key: i.idempotency_key, sealed: i.sealed, enqueued_at_ms: i.enqueued_at_ms,
  call_sid: i.call_sid, record_key: i.record_key, trigger: i.trigger,
});
const DAY_MS = 24 * 3600 * 1000;

export function runDurableStoreConformance(name, makeStore) {
  describe(`DurableStore conformance: ${name}`, () => {
    const made = [];
    after(async () => {
      for (const s of made) await s.close().catch(() => {});
    });
    const fresh = async () => {
      const s = await makeStore();
      made.push(s);
      return s;
    };

    describe('records (get, compareAndSet, due)', () => {
      it('get of a missing key is null', async () => {
        const s = await fresh();
        assert.equal(await s.get('AC1:CA-missing'), null);
      });

      it('version 0 means must not exist; a stale version conflicts; the current one updates', async () => {
        const s = await fresh();
        const k = 'AC1:CA1';
        const e1 = recordEntry(k, 1);
        assert.equal(await s.compareAndSet(k, 0, e1), true);
        assert.deepEqual(await s.get(k), e1);
        assert.equal(await s.compareAndSet(k, 0, recordEntry(k, 1, { other: true })), false, '0 means must not exist');
        assert.equal(await s.compareAndSet(k, 1, recordEntry(k, 2)), true);
        assert.equal(await s.compareAndSet(k, 1, recordEntry(k, 2, { stale: true })), false, 'stale version');
        assert.deepEqual(await s.get(k), recordEntry(k, 2));
        assert.equal(await s.compareAndSet('AC1:none', 3, recordEntry('AC1:none', 4)), false, 'nonzero on a missing key');
        assert.equal(await s.get('AC1:none'), null);
      });

      it('a null entry deletes when the version matches, and only then', async () => {
        const s = await fresh();
        const k = 'AC1:CA-del';
        await s.compareAndSet(k, 0, recordEntry(k, 1, { sweepAt: 10 }));
        assert.equal(await s.compareAndSet(k, 2, null), false);
        assert.equal((await s.get(k)).version, 1);
        assert.equal(await s.compareAndSet(k, 1, null), true);
        assert.equal(await s.get(k), null);
        assert.deepEqual(await s.due(100), []);
        assert.equal(await s.compareAndSet(k, 0, recordEntry(k, 1)), true, 'created again from scratch');
      });

      it('an entry without record text and a positive integer version, or a bad expected version, is a TypeError', async () => {
        const s = await fresh();
        await assert.rejects(s.compareAndSet('k', 0, 'a record without its version'), TypeError);
        await assert.rejects(s.compareAndSet('k', 0, { record: '{}', version: 0 }), TypeError);
        await assert.rejects(s.compareAndSet('k', 0, { record: 5, version: 1 }), TypeError);
        await assert.rejects(s.compareAndSet('k', -1, recordEntry('k', 1)), TypeError);
        await assert.rejects(s.compareAndSet('', 0, recordEntry('k', 1)), TypeError);
        assert.equal(await s.get('k'), null);
      });

      it('record text is kept byte for byte, never read', async () => {
        const s = await fresh();
        const text = 'not JSON at all \u2028 \u00e9\u{1F600} "quotes" \\ {"version": 99}';
        const entry = { record: text, version: 7, expires_at: null, sweep_at: 5.25 };
        assert.equal(await s.compareAndSet('k', 0, entry), true);
        assert.deepEqual(await s.get('k'), entry);
      });

      it('due lists keys whose sweep_at is at or before now, and follows updates', async () => {
        const s = await fresh();
        await s.compareAndSet('a', 0, recordEntry('a', 1, { sweepAt: 100 }));
        await s.compareAndSet('b', 0, recordEntry('b', 1, { sweepAt: 200 }));
        await s.compareAndSet('c', 0, recordEntry('c', 1));
        assert.deepEqual((await s.due(50)).sort(), []);
        assert.deepEqual((await s.due(100)).sort(), ['a']);
        assert.deepEqual((await s.due(250)).sort(), ['a', 'b']);
        await s.compareAndSet('a', 1, recordEntry('a', 2));
        assert.deepEqual((await s.due(250)).sort(), ['b'], 'sweep_at back to null leaves the sweep');
        await s.compareAndSet('c', 1, recordEntry('c', 2, { sweepAt: 150.5 }));
        assert.deepEqual((await s.due(150.5)).sort(), ['c']);
      });

      it('a record whose expiry has passed is gone: get, due and compareAndSet all see no record', async () => {
        const s = await fresh();
        const past = Date.now() / 1000 - 10;
        assert.equal(await s.compareAndSet('old', 0, recordEntry('old', 1, { sweepAt: 1, expiresAt: past })), true);
        assert.equal(await s.get('old'), null);
        assert.deepEqual(await s.due(1e12), []);
        assert.equal(await s.compareAndSet('old', 1, recordEntry('old', 2)), false, 'an expired record has no version');
        assert.equal(await s.compareAndSet('old', 0, recordEntry('old', 1)), true, 'created again from scratch');
        assert.equal((await s.get('old')).version, 1);
      });

      it('concurrent creators of one key: exactly one wins', async () => {
        const s = await fresh();
        const wins = await Promise.all(Array.from({ length: 8 }, (_, n) => s.compareAndSet('race', 0, recordEntry('race', 1, { by: n }))));
        assert.equal(wins.filter(Boolean).length, 1);
        assert.equal(JSON.parse((await s.get('race')).record).by, wins.indexOf(true));
      });
    });

    describe('commit', () => {
      it('a record and its items in one commit; items are claimable with 0 attempts, fields byte for byte', async () => {
        const s = await fresh();
        const sealed = 'sealed \u0000 NUL, ${CRM_TOKEN}, \u2028, \u{1F4DE}, "json" {';
        const items = [outboxItem('i1', 'crm', { sealed }), outboxItem('i2', 'ga4', { route: 'r2' })];
        assert.deepEqual(await s.commit({ key: 'AC1:CA1', expectedVersion: 0, entry: recordEntry('AC1:CA1', 1), items }), { ok: true });
        assert.equal((await s.get('AC1:CA1')).version, 1);
        const [c1] = await s.claim({ destination: 'crm', max: 10, nowMs: T0 });
        assert.deepEqual(itemFields(c1), items[0]);
        assert.equal(c1.attempts, 0);
        assert.deepEqual(c1.history, []);
        const [c2] = await s.claim({ destination: 'ga4', max: 10, nowMs: T0 });
        assert.deepEqual(itemFields(c2), items[1]);
        assert.deepEqual(await s.counts(), { pending: 2, byDestination: { crm: 1, ga4: 1 }, dead: 0 });
      });

      it('a conflicting commit writes neither the record nor the items', async () => {
        const s = await fresh();
        const k = 'AC1:CA2';
        await s.compareAndSet(k, 0, recordEntry(k, 1));
        const r = await s.commit({ key: k, expectedVersion: 0, entry: recordEntry(k, 1, { second: true }), items: [outboxItem('x1')] });
        assert.deepEqual(r, { ok: false, reason: 'conflict' });
        const r2 = await s.commit({ key: 'AC1:missing', expectedVersion: 4, entry: recordEntry('AC1:missing', 5), items: [outboxItem('x2')] });
        assert.deepEqual(r2, { ok: false, reason: 'conflict' });
        assert.deepEqual(await s.get(k), recordEntry(k, 1));
        assert.equal(await s.get('AC1:missing'), null);
        assert.deepEqual(await s.claim({ destination: 'crm', max: 10, nowMs: T0 + 1e9 }), []);
        assert.deepEqual(await s.counts(), { pending: 0, byDestination: {}, dead: 0 });
        assert.deepEqual(await s.destinations(), []);
      });

      it('the current version updates the record and adds the items; a null entry deletes it', async () => {
        const s = await fresh();
        const k = 'AC1:CA3';
        assert.deepEqual(await s.commit({ key: k, expectedVersion: 0, entry: recordEntry(k, 1, { sweepAt: 50 }), items: [] }), { ok: true });
        assert.deepEqual(await s.due(50), [k]);
        assert.deepEqual(await s.commit({ key: k, expectedVersion: 1, entry: recordEntry(k, 2), items: [outboxItem('u1')] }), { ok: true });
        assert.deepEqual(await s.get(k), recordEntry(k, 2));
        assert.deepEqual(await s.due(50), []);
        assert.deepEqual(await s.commit({ key: k, expectedVersion: 2, entry: null, items: [outboxItem('u2')] }), { ok: true });
        assert.equal(await s.get(k), null);
        assert.deepEqual(ids(await s.claim({ destination: 'crm', max: 10, nowMs: T0 })), ['u1', 'u2']);
      });

      it('key null adds only items, whatever entry says', async () => {
        const s = await fresh();
        assert.deepEqual(await s.commit({ key: null, items: [outboxItem('n1'), outboxItem('n2', 'ga4')] }), { ok: true });
        assert.deepEqual((await s.destinations()).sort(), ['crm', 'ga4']);
        assert.deepEqual(await s.counts(), { pending: 2, byDestination: { crm: 1, ga4: 1 }, dead: 0 });
      });

      it('a malformed entry or item rejects with a TypeError and writes nothing', async () => {
        const s = await fresh();
        const k = 'AC1:CA4';
        await assert.rejects(s.commit({ key: k, expectedVersion: 0, entry: { record: 'r', version: 0 }, items: [outboxItem('m1')] }), TypeError);
        const bad = [
          { ...outboxItem('m2'), id: '' },
          { ...outboxItem('m3'), destination: undefined },
          { ...outboxItem('m4'), sealed: 42 },
          { ...outboxItem('m5'), enqueued_at_ms: 'soon' },
        ];
        for (const b of bad) {
          await assert.rejects(s.commit({ key: k, expectedVersion: 0, entry: recordEntry(k, 1), items: [outboxItem('ok'), b] }), TypeError);
        }
        assert.equal(await s.get(k), null);
        assert.deepEqual(await s.counts(), { pending: 0, byDestination: {}, dead: 0 });
      });

      it('concurrent commits on one key: exactly one writes its record and its items', async () => {
        const s = await fresh();
        const k = 'AC1:CA-race';
        const results = await Promise.all(Array.from({ length: 8 }, (_, n) =>
          s.commit({ key: k, expectedVersion: 0, entry: recordEntry(k, 1, { by: n }), items: [outboxItem(`race${n}`)] })));
        const winners = results.map((r, n) => (r.ok ? n : -1)).filter((n) => n >= 0);
        assert.equal(winners.length, 1);
        for (const r of results) if (!r.ok) assert.deepEqual(r, { ok: false, reason: 'conflict' });
        assert.equal(JSON.parse((await s.get(k)).record).by, winners[0]);
        assert.deepEqual(ids(await s.claim({ destination: 'crm', max: 100, nowMs: T0 })), [`race${winners[0]}`]);
      });
    });

    describe('caps', () => {
      it('the total cap: a commit that would pass it writes nothing and names the numbers', async () => {
        const s = await fresh();
        const limits = { total: 3, perDestination: Infinity };
        assert.deepEqual(await s.commit({ key: null, items: [outboxItem('t1'), outboxItem('t2', 'ga4')], limits }), { ok: true });
        const k = 'AC1:CA-cap';
        const r = await s.commit({ key: k, expectedVersion: 0, entry: recordEntry(k, 1), items: [outboxItem('t3'), outboxItem('t4', 'ga4')], limits });
        assert.deepEqual(r, { ok: false, reason: 'full', destination: null, pending: 4, limit: 3 });
        assert.equal(await s.get(k), null, 'the record is not written either');
        assert.deepEqual(await s.counts(), { pending: 2, byDestination: { crm: 1, ga4: 1 }, dead: 0 });
        assert.deepEqual(await s.commit({ key: k, expectedVersion: 0, entry: recordEntry(k, 1), items: [outboxItem('t3')], limits }), { ok: true },
          'exactly at the cap is allowed');
        assert.equal((await s.get(k)).version, 1);
        assert.deepEqual(await s.counts(), { pending: 3, byDestination: { crm: 2, ga4: 1 }, dead: 0 });
        assert.deepEqual(await s.commit({ key: null, items: [], limits }), { ok: true }, 'no items never pass a cap');
      });

      it('the per-destination cap: names the destination; other destinations are unaffected', async () => {
        const s = await fresh();
        const limits = { total: Infinity, perDestination: 2 };
        assert.deepEqual(await s.commit({ key: null, items: [outboxItem('d1'), outboxItem('d2')], limits }), { ok: true });
        const k = 'AC1:CA-dcap';
        const r = await s.commit({ key: k, expectedVersion: 0, entry: recordEntry(k, 1), items: [outboxItem('g1', 'ga4'), outboxItem('d3')], limits });
        assert.deepEqual(r, { ok: false, reason: 'full', destination: 'crm', pending: 3, limit: 2 });
        assert.equal(await s.get(k), null);
        assert.deepEqual(await s.counts(), { pending: 2, byDestination: { crm: 2 }, dead: 0 }, 'not even the ga4 item');
        assert.deepEqual(await s.commit({ key: k, expectedVersion: 0, entry: recordEntry(k, 1), items: [outboxItem('g1', 'ga4'), outboxItem('g2', 'ga4')], limits }), { ok: true });
        assert.deepEqual(await s.counts(), { pending: 4, byDestination: { crm: 2, ga4: 2 }, dead: 0 });
      });

      it('a conflict is answered before the caps', async () => {
        const s = await fresh();
        const k = 'AC1:CA-both';
        await s.compareAndSet(k, 0, recordEntry(k, 1));
        const r = await s.commit({ key: k, expectedVersion: 0, entry: recordEntry(k, 1), items: [outboxItem('b1'), outboxItem('b2')], limits: { total: 1, perDestination: 1 } });
        assert.deepEqual(r, { ok: false, reason: 'conflict' });
      });

      it('delivered and dead items free their place under the caps', async () => {
        const s = await fresh();
        const limits = { total: 2, perDestination: 2 };
        assert.deepEqual(await s.commit({ key: null, items: [outboxItem('f1'), outboxItem('f2')], limits }), { ok: true });
        assert.equal((await s.commit({ key: null, items: [outboxItem('f3')], limits })).ok, false);
        const [a, b] = await s.claim({ destination: 'crm', max: 2, nowMs: T0 });
        await s.finish(a, { verdict: 'delivered', code: 'delivered', reason: '', attempt: attempt(T0, 200, 'delivered') });
        await s.finish(b, { verdict: 'dead', code: 'permanent_status', reason: 'HTTP 400', attempt: attempt(T0, 400, 'permanent_status', 'HTTP 400') });
        assert.deepEqual(await s.commit({ key: null, items: [outboxItem('f3'), outboxItem('f4')], limits }), { ok: true });
        assert.deepEqual(await s.counts(), { pending: 2, byDestination: { crm: 2 }, dead: 1 });
      });
    });

    describe('claim, finish, release', () => {
      it('claim returns only due items of that destination, at most max, never one already held', async () => {
        const s = await fresh();
        await s.commit({ key: null, items: [outboxItem('c1'), outboxItem('c2'), outboxItem('c3'), outboxItem('o1', 'other')] });
        const first = await s.claim({ destination: 'crm', max: 2, nowMs: T0 });
        assert.equal(first.length, 2);
        for (const c of first) assert.equal(c.destination, 'crm');
        const second = await s.claim({ destination: 'crm', max: 10, nowMs: T0 });
        assert.equal(second.length, 1);
        assert.deepEqual([...ids(first), ...ids(second)].sort(), ['c1', 'c2', 'c3']);
        assert.deepEqual(await s.claim({ destination: 'crm', max: 10, nowMs: T0 + 1e9 }), [], 'all held');
        assert.deepEqual(await s.claim({ destination: 'nowhere', max: 10, nowMs: T0 }), []);
        assert.deepEqual(ids(await s.claim({ destination: 'other', max: 10, nowMs: T0 })), ['o1']);
        assert.deepEqual(await s.claim({ destination: 'other', max: 10, nowMs: T0 }), []);
        assert.deepEqual(await s.counts(), { pending: 4, byDestination: { crm: 3, other: 1 }, dead: 0 }, 'held items are still pending');
      });

      it('release gives held items back unattempted', async () => {
        const s = await fresh();
        await s.commit({ key: null, items: [outboxItem('r1'), outboxItem('r2')] });
        const held = await s.claim({ destination: 'crm', max: 10, nowMs: T0 });
        assert.equal(held.length, 2);
        await s.release([held[0]]);
        const again = await s.claim({ destination: 'crm', max: 10, nowMs: T0 });
        assert.deepEqual(ids(again), [held[0].id]);
        assert.equal(again[0].attempts, 0);
        assert.deepEqual(again[0].history, []);
        await s.release([...held, ...again]);
        assert.deepEqual(ids(await s.claim({ destination: 'crm', max: 10, nowMs: T0 })), ['r1', 'r2']);
        await s.release([]);
      });

      it('finish delivered removes the item', async () => {
        const s = await fresh();
        await s.commit({ key: null, items: [outboxItem('fd1'), outboxItem('fd2')] });
        const [a, b] = await s.claim({ destination: 'crm', max: 10, nowMs: T0 });
        await s.finish(a, { verdict: 'delivered', code: 'delivered', reason: '', attempt: attempt(T0 + 5, 204, 'delivered') });
        assert.deepEqual(await s.counts(), { pending: 1, byDestination: { crm: 1 }, dead: 0 });
        await s.release([b]);
        assert.deepEqual(ids(await s.claim({ destination: 'crm', max: 10, nowMs: T0 + 1e9 })), [b.id]);
        assert.deepEqual(await s.deadLetters(), []);
      });

      it('finish retry: attempts + 1, history appended, released, due again at next_at_ms', async () => {
        const s = await fresh();
        await s.commit({ key: null, items: [outboxItem('rt')] });
        const [c] = await s.claim({ destination: 'crm', max: 1, nowMs: T0 });
        const a1 = attempt(T0 + 10, 503, 'retryable_status', 'HTTP 503');
        await s.finish(c, { verdict: 'retry', next_at_ms: T0 + 60_000, code: 'retryable_status', reason: 'HTTP 503', attempt: a1 });
        assert.deepEqual(await s.claim({ destination: 'crm', max: 1, nowMs: T0 + 59_999 }), [], 'not due before next_at_ms');
        assert.deepEqual(await s.counts(), { pending: 1, byDestination: { crm: 1 }, dead: 0 }, 'a scheduled retry is pending');
        assert.deepEqual(await s.destinations(), ['crm']);
        const [c2] = await s.claim({ destination: 'crm', max: 1, nowMs: T0 + 60_000 });
        assert.deepEqual(itemFields(c2), outboxItem('rt'));
        assert.equal(c2.attempts, 1);
        assert.deepEqual(c2.history, [a1]);
        const a2 = attempt(T0 + 60_010, null, 'timeout', 'no answer in 10000 ms');
        await s.finish(c2, { verdict: 'retry', next_at_ms: T0 + 120_000, code: 'timeout', reason: 'no answer in 10000 ms', attempt: a2 });
        const [c3] = await s.claim({ destination: 'crm', max: 1, nowMs: T0 + 1e9 });
        assert.equal(c3.attempts, 2);
        assert.deepEqual(c3.history, [a1, a2]);
      });

      it('finish dead: moved to the dead letters with code, reason, every attempt; counts follow', async () => {
        const s = await fresh();
        await s.commit({ key: null, items: [outboxItem('dd1'), outboxItem('dd2', 'ga4'), outboxItem('keep')] });
        const a1 = attempt(T0 + 1, 500, 'retryable_status', 'HTTP 500');
        const claimed = await s.claim({ destination: 'crm', max: 10, nowMs: T0 });
        const first = claimed.find((c) => c.id === 'dd1');
        await s.release(claimed.filter((c) => c !== first));
        await s.finish(first, { verdict: 'retry', next_at_ms: T0 + 1000, code: 'retryable_status', reason: 'HTTP 500', attempt: a1 });
        const reclaimed = await s.claim({ destination: 'crm', max: 10, nowMs: T0 + 1000 });
        const again = reclaimed.find((c) => c.id === 'dd1');
        await s.release(reclaimed.filter((c) => c !== again));
        const a2 = attempt(T0 + 1001, 410, 'permanent_status', 'HTTP 410 Gone');
        await s.finish(again, { verdict: 'dead', code: 'permanent_status', reason: 'HTTP 410 Gone', attempt: a2 });
        const [g] = await s.claim({ destination: 'ga4', max: 10, nowMs: T0 });
        const a3 = attempt(T0 + 2, null, 'transport_error', 'ECONNREFUSED');
        await s.finish(g, { verdict: 'dead', code: 'transport_error', reason: 'ECONNREFUSED', attempt: a3 });

        assert.deepEqual(await s.counts(), { pending: 1, byDestination: { crm: 1 }, dead: 2 });
        assert.deepEqual(await s.destinations(), ['crm']);
        const dead = await s.deadLetters();
        assert.deepEqual(ids(dead), ['dd1', 'dd2']);
        const d1 = dead.find((d) => d.id === 'dd1');
        assert.deepEqual(itemFields(d1), outboxItem('dd1'));
        assert.equal(d1.code, 'permanent_status');
        assert.equal(d1.reason, 'HTTP 410 Gone');
        assert.equal(d1.attempts, 2);
        assert.deepEqual(d1.history, [a1, a2]);
        assert.ok(Number.isFinite(d1.dead_at_ms));
        assert.deepEqual(ids(await s.deadLetters({ destination: 'ga4' })), ['dd2']);
        assert.deepEqual(await s.deadLetters({ destination: 'nowhere' }), []);
        assert.equal((await s.deadLetters({ limit: 1 })).length, 1);
        assert.deepEqual(ids(await s.claim({ destination: 'crm', max: 10, nowMs: T0 + 1e9 })), ['keep'], 'a dead item is never claimed');
      });

      it('finish of an item that is no longer pending changes nothing', async () => {
        const s = await fresh();
        await s.commit({ key: null, items: [outboxItem('gone'), outboxItem('died')] });
        const [a, b] = await s.claim({ destination: 'crm', max: 10, nowMs: T0 });
        const [gone, died] = a.id === 'gone' ? [a, b] : [b, a];
        await s.finish(gone, { verdict: 'delivered', code: 'delivered', reason: '', attempt: attempt(T0, 200, 'delivered') });
        await s.finish(died, { verdict: 'dead', code: 'permanent_status', reason: 'HTTP 400', attempt: attempt(T0, 400, 'permanent_status', 'HTTP 400') });
        await s.finish(gone, { verdict: 'dead', code: 'permanent_status', reason: 'HTTP 400', attempt: attempt(T0, 400, 'permanent_status', 'HTTP 400') });
        await s.finish(gone, { verdict: 'retry', next_at_ms: T0, code: 'timeout', reason: 't', attempt: attempt(T0, null, 'timeout', 't') });
        await s.finish(died, { verdict: 'retry', next_at_ms: T0, code: 'timeout', reason: 't', attempt: attempt(T0, null, 'timeout', 't') });
        await s.finish(died, { verdict: 'dead', code: 'other', reason: 'again', attempt: attempt(T0, 400, 'permanent_status', 'HTTP 400') });
        assert.deepEqual(await s.counts(), { pending: 0, byDestination: {}, dead: 1 });
        const [d] = await s.deadLetters();
        assert.equal(d.code, 'permanent_status');
        assert.equal(d.attempts, 1);
        assert.deepEqual(await s.claim({ destination: 'crm', max: 10, nowMs: T0 + 1e9 }), []);
      });
    });

    describe('dead letters and redrive', () => {
      async function withDead(s, specs) {
        await s.commit({ key: null, items: specs.map(([id, dest]) => outboxItem(id, dest)) });
        for (const dest of new Set(specs.map(([, d]) => d))) {
          for (const c of await s.claim({ destination: dest, max: 100, nowMs: T0 })) {
            await s.finish(c, { verdict: 'dead', code: 'permanent_status', reason: `HTTP 400 for ${c.id}`, attempt: attempt(T0, 400, 'permanent_status', 'HTTP 400') });
          }
        }
      }

      it('redrive of the given ids: back to pending with attempts 0, due at once; others stay dead', async () => {
        const s = await fresh();
        await withDead(s, [['x1', 'crm'], ['x2', 'crm'], ['x3', 'ga4']]);
        assert.deepEqual(await s.counts(), { pending: 0, byDestination: {}, dead: 3 });
        assert.equal(await s.redrive(['x1', 'x3', 'not-a-dead-letter']), 2);
        assert.deepEqual(await s.counts(), { pending: 2, byDestination: { crm: 1, ga4: 1 }, dead: 1 });
        assert.deepEqual(ids(await s.deadLetters()), ['x2']);
        const [c] = await s.claim({ destination: 'crm', max: 10, nowMs: T0 });
        assert.equal(c.id, 'x1');
        assert.equal(c.attempts, 0);
        assert.deepEqual(itemFields(c), outboxItem('x1'));
        assert.equal(await s.redrive(['x1']), 0, 'a pending item is not a dead letter');
      });

      it('redrive of all', async () => {
        const s = await fresh();
        await withDead(s, [['y1', 'crm'], ['y2', 'ga4']]);
        assert.equal(await s.redrive(), 2);
        assert.deepEqual(await s.counts(), { pending: 2, byDestination: { crm: 1, ga4: 1 }, dead: 0 });
        assert.deepEqual(await s.deadLetters(), []);
        assert.equal(await s.redrive(), 0);
        assert.deepEqual(ids(await s.claim({ destination: 'ga4', max: 10, nowMs: T0 })), ['y2']);
      });
    });

    describe('dead letters: filters, one by id, purge, redrive by filter, retention', () => {
      // Dead letters [id, destination, route, code, dead_at_ms], each dead on its first attempt.
      async function letters(s, specs) {
        await s.commit({ key: null, items: specs.map(([id, dest, route]) => outboxItem(id, dest, { route })) });
        const byId = new Map(specs.map((spec) => [spec[0], spec]));
        for (const dest of new Set(specs.map((spec) => spec[1]))) {
          for (const c of await s.claim({ destination: dest, max: 100, nowMs: T0 + 1e9 })) {
            const [, , , code, at] = byId.get(c.id);
            await s.finish(c, { verdict: 'dead', code, reason: `${code} for ${c.id}`, attempt: attempt(at, 400, code, `${code} for ${c.id}`) });
          }
        }
      }
      const SPECS = [
        ['a1', 'crm', 'r1', 'not_retryable_status', T0 + 1000],
        ['a2', 'crm', 'r2', 'attempts_exhausted', T0 + 2000],
        ['a3', 'ga4', 'r1', 'not_retryable_status', T0 + 3000],
        ['a4', 'ga4', 'r2', 'redirect', T0 + 4000],
        ['a5', 'crm', 'r1', 'redirect', T0 + 5000],
      ];
      const order = (list) => list.map((d) => d.id);

      it('items keep call_sid, record_key and trigger through claim, retry and death; absent ones read as empty', async () => {
        const s = await fresh();
        const bare = outboxItem('bare');
        delete bare.call_sid;
        delete bare.record_key;
        delete bare.trigger;
        await s.commit({ key: null, items: [outboxItem('full', 'crm', { callSid: 'CAxyz', trigger: 'event' }), bare] });
        const claimed = await s.claim({ destination: 'crm', max: 10, nowMs: T0 });
        const full = claimed.find((c) => c.id === 'full');
        assert.deepEqual([full.call_sid, full.record_key, full.trigger], ['CAxyz', 'AC1:CAxyz', 'event']);
        const b = claimed.find((c) => c.id === 'bare');
        assert.deepEqual([b.call_sid, b.record_key, b.trigger], ['', '', '']);
        await s.finish(full, { verdict: 'retry', next_at_ms: T0 + 10, code: 'timeout', reason: 't', attempt: attempt(T0, null, 'timeout', 't') });
        const [again] = await s.claim({ destination: 'crm', max: 10, nowMs: T0 + 10 });
        assert.deepEqual(itemFields(again), outboxItem('full', 'crm', { callSid: 'CAxyz', trigger: 'event' }));
        await s.finish(again, { verdict: 'dead', code: 'redirect', reason: 'HTTP 302', attempt: attempt(T0 + 20, 302, 'redirect', 'HTTP 302') });
        const d = await s.deadLetter('full');
        assert.deepEqual(itemFields(d), outboxItem('full', 'crm', { callSid: 'CAxyz', trigger: 'event' }));
        assert.equal(d.dead_at_ms, T0 + 20, "dead_at_ms is the last attempt's at_ms");
      });

      it('deadLetters lists newest first and filters by destination, route, code and time', async () => {
        const s = await fresh();
        await letters(s, SPECS);
        assert.deepEqual(order(await s.deadLetters()), ['a5', 'a4', 'a3', 'a2', 'a1']);
        assert.deepEqual(order(await s.deadLetters({ destination: 'crm' })), ['a5', 'a2', 'a1']);
        assert.deepEqual(order(await s.deadLetters({ route: 'r1' })), ['a5', 'a3', 'a1']);
        assert.deepEqual(order(await s.deadLetters({ code: 'redirect' })), ['a5', 'a4']);
        assert.deepEqual(order(await s.deadLetters({ sinceMs: T0 + 2000 })), ['a5', 'a4', 'a3', 'a2'], 'since is inclusive');
        assert.deepEqual(order(await s.deadLetters({ untilMs: T0 + 3000 })), ['a2', 'a1'], 'until is exclusive');
        assert.deepEqual(order(await s.deadLetters({ sinceMs: T0 + 2000, untilMs: T0 + 5000, route: 'r2' })), ['a4', 'a2']);
        assert.deepEqual(order(await s.deadLetters({ destination: 'crm', route: 'r1', code: 'not_retryable_status' })), ['a1']);
        assert.deepEqual(order(await s.deadLetters({ limit: 2 })), ['a5', 'a4']);
        assert.deepEqual(order(await s.deadLetters({ destination: 'ga4', limit: 1 })), ['a4']);
        assert.deepEqual(await s.deadLetters({ limit: 0 }), []);
        assert.deepEqual(await s.deadLetters({ code: 'nothing' }), []);
        const [a3] = await s.deadLetters({ destination: 'ga4', code: 'not_retryable_status' });
        assert.deepEqual(itemFields(a3), outboxItem('a3', 'ga4', { route: 'r1' }));
        assert.deepEqual([a3.code, a3.reason, a3.attempts, a3.dead_at_ms], ['not_retryable_status', 'not_retryable_status for a3', 1, T0 + 3000]);
      });

      it('a filter key the store does not know, or a value of the wrong type, is a TypeError', async () => {
        const s = await fresh();
        await assert.rejects(s.deadLetters({ destinaton: 'crm' }), TypeError);
        await assert.rejects(s.deadLetters({ since_ms: 5 }), TypeError);
        await assert.rejects(s.deadLetters({ sinceMs: 'yesterday' }), TypeError);
        await assert.rejects(s.deadLetters({ limit: -1 }), TypeError);
        await assert.rejects(s.purge({ route: 5 }), TypeError);
        await assert.rejects(s.redrive({ codes: ['x'] }), TypeError);
      });

      it('deadLetter(id): the dead letter, or null (unknown, or still pending)', async () => {
        const s = await fresh();
        await letters(s, SPECS.slice(0, 2));
        await s.commit({ key: null, items: [outboxItem('live')] });
        const d = await s.deadLetter('a2');
        assert.deepEqual(itemFields(d), outboxItem('a2', 'crm', { route: 'r2' }));
        assert.deepEqual([d.code, d.reason, d.attempts, d.history.length], ['attempts_exhausted', 'attempts_exhausted for a2', 1, 1]);
        assert.equal(await s.deadLetter('nope'), null);
        assert.equal(await s.deadLetter('live'), null);
      });

      it('purge by ids and by filter deletes only those; counts follow', async () => {
        const s = await fresh();
        await letters(s, SPECS);
        assert.equal(await s.purge(['a1', 'a1', 'missing']), 1);
        assert.equal(await s.deadLetter('a1'), null);
        assert.equal(await s.purge({ destination: 'ga4', code: 'redirect' }), 1);
        assert.deepEqual(order(await s.deadLetters()), ['a5', 'a3', 'a2']);
        assert.equal((await s.counts()).dead, 3);
        assert.equal(await s.purge({ route: 'r1', limit: 1 }), 1, 'a limit purges the newest first');
        assert.deepEqual(order(await s.deadLetters()), ['a3', 'a2']);
        assert.equal(await s.purge({ sinceMs: T0 + 9000 }), 0);
        assert.equal(await s.purge({}), 2, 'an empty filter is every dead letter');
        assert.deepEqual(await s.counts(), { pending: 0, byDestination: {}, dead: 0 });
      });

      it('redrive by filter; with sealed replacements the new text is sent, the key unchanged', async () => {
        const s = await fresh();
        await letters(s, SPECS);
        assert.equal(await s.redrive({ code: 'redirect' }, { sealed: { a5: 'rerendered ${CRM_TOKEN}', other: 'ignored' } }), 2);
        assert.deepEqual(order(await s.deadLetters()), ['a3', 'a2', 'a1']);
        assert.deepEqual(await s.counts(), { pending: 2, byDestination: { crm: 1, ga4: 1 }, dead: 3 });
        const [c5] = await s.claim({ destination: 'crm', max: 10, nowMs: T0 });
        assert.equal(c5.id, 'a5');
        assert.equal(c5.sealed, 'rerendered ${CRM_TOKEN}');
        assert.equal(c5.idempotency_key, outboxItem('a5', 'crm', { route: 'r1' }).idempotency_key);
        assert.equal(c5.call_sid, 'CAa5');
        assert.equal(c5.attempts, 0);
        const [c4] = await s.claim({ destination: 'ga4', max: 10, nowMs: T0 });
        assert.deepEqual(itemFields(c4), outboxItem('a4', 'ga4', { route: 'r2' }), 'no replacement: the stored text');
        assert.equal(await s.redrive(['a1'], { sealed: { a1: 'new' } }), 1);
        const [c1] = await s.claim({ destination: 'crm', max: 10, nowMs: T0 });
        assert.equal(c1.sealed, 'new');
        await assert.rejects(s.redrive(['a2'], { sealed: { a2: 5 } }), TypeError);
      });

      it('dead letters past the retention (30 days by the store\'s clock) are gone by the next listing', async () => {
        const s = await fresh();
        const nowMs = Date.now();
        await letters(s, [
          ['old', 'crm', 'r1', 'redirect', nowMs - 31 * DAY_MS],
          ['young', 'crm', 'r1', 'redirect', nowMs - 29 * DAY_MS],
          ['old-ga4', 'ga4', 'r1', 'redirect', nowMs - 40 * DAY_MS],
        ]);
        assert.deepEqual(order(await s.deadLetters()), ['young']);
        assert.deepEqual(order(await s.deadLetters({ destination: 'ga4' })), []);
        assert.equal(await s.deadLetter('old'), null);
        assert.equal((await s.counts()).dead, 1);
        assert.equal(await s.redrive(['old', 'old-ga4']), 0);
      });
    });

    describe('erase', () => {
      it('deletes the records, pending items (held, scheduled or not) and dead letters its predicates accept', async () => {
        const s = await fresh();
        await s.commit({ key: 'AC1:CAgone', expectedVersion: 0, entry: recordEntry('AC1:CAgone', 1, { sweepAt: 10, phone: '+15550001' }),
          items: [outboxItem('g1', 'crm', { callSid: 'CAgone' }), outboxItem('g2', 'ga4', { callSid: 'CAgone' })] });
        await s.commit({ key: 'AC1:CAkept', expectedVersion: 0, entry: recordEntry('AC1:CAkept', 1, { phone: '+15550002' }),
          items: [outboxItem('k1', 'crm', { callSid: 'CAkept' })] });
        await s.commit({ key: null, items: [outboxItem('g3', 'crm', { callSid: 'CAgone' }), outboxItem('g4', 'crm', { callSid: 'CAgone' })] });
        // g1 held, g2 dead, g3 scheduled for a retry, g4 waiting.
        const crm = await s.claim({ destination: 'crm', max: 10, nowMs: T0 });
        const g1 = crm.find((c) => c.id === 'g1');
        const g3 = crm.find((c) => c.id === 'g3');
        await s.release(crm.filter((c) => c !== g1 && c !== g3));
        await s.finish(g3, { verdict: 'retry', next_at_ms: T0 + 60_000, code: 'timeout', reason: 't', attempt: attempt(T0, null, 'timeout', 't') });
        const [g2] = await s.claim({ destination: 'ga4', max: 10, nowMs: T0 });
        await s.finish(g2, { verdict: 'dead', code: 'redirect', reason: 'HTTP 302', attempt: attempt(T0, 302, 'redirect', 'HTTP 302') });

        const seen = [];
        const keys = new Set();
        const result = await s.erase({
          record(text, key) {
            seen.push(`record ${key}`);
            if (!text.includes('+15550001')) return false;
            keys.add(key);
            return true;
          },
          item(item) {
            seen.push(`item ${item.id}`);
            return keys.has(item.record_key);
          },
        });
        assert.deepEqual(result, { records: 1, outbox: 3, dead_letters: 1 });
        const firstItem = seen.findIndex((x) => x.startsWith('item'));
        assert.deepEqual(seen.slice(0, firstItem).sort(), ['record AC1:CAgone', 'record AC1:CAkept'], 'every record before any item');
        assert.deepEqual(seen.slice(firstItem).sort(), ['item g1', 'item g2', 'item g3', 'item g4', 'item k1']);
        assert.equal(await s.get('AC1:CAgone'), null);
        assert.equal((await s.get('AC1:CAkept')).version, 1);
        assert.deepEqual(await s.due(100), []);
        assert.deepEqual(await s.counts(), { pending: 1, byDestination: { crm: 1 }, dead: 0 });
        assert.deepEqual(await s.destinations(), ['crm']);
        assert.deepEqual(await s.deadLetters(), []);
        // The held one's sender finishes late: nothing comes back.
        await s.finish(g1, { verdict: 'dead', code: 'redirect', reason: 'HTTP 302', attempt: attempt(T0, 302, 'redirect', 'HTTP 302') });
        assert.deepEqual(await s.deadLetters(), []);
        assert.deepEqual(ids(await s.claim({ destination: 'crm', max: 10, nowMs: T0 + 1e9 })), ['k1']);
        assert.equal(await s.compareAndSet('AC1:CAgone', 0, recordEntry('AC1:CAgone', 1)), true, 'the call can be stored anew');
      });

      it('nothing accepted: nothing deleted; a predicate that is not a function is a TypeError', async () => {
        const s = await fresh();
        await s.commit({ key: 'AC1:CA1', expectedVersion: 0, entry: recordEntry('AC1:CA1', 1), items: [outboxItem('n1')] });
        assert.deepEqual(await s.erase({ record: () => false, item: () => false }), { records: 0, outbox: 0, dead_letters: 0 });
        assert.deepEqual(await s.erase({}), { records: 0, outbox: 0, dead_letters: 0 });
        await assert.rejects(s.erase({ record: 'yes' }), TypeError);
        assert.equal((await s.get('AC1:CA1')).version, 1);
        assert.equal((await s.counts()).pending, 1);
      });
    });

    describe('health and lifecycle', () => {
      it('ping answers true', async () => {
        const s = await fresh();
        assert.equal(await s.ping(), true);
      });

      it('an empty store has nothing', async () => {
        const s = await fresh();
        assert.deepEqual(await s.counts(), { pending: 0, byDestination: {}, dead: 0 });
        assert.deepEqual(await s.destinations(), []);
        assert.deepEqual(await s.deadLetters(), []);
        assert.deepEqual(await s.due(1e12), []);
        assert.deepEqual(await s.claim({ destination: 'crm', max: 0, nowMs: T0 }), []);
      });

      it('after close every method rejects', async () => {
        const s = await makeStore();
        await s.close();
        await assert.rejects(s.get('k'));
        await assert.rejects(s.commit({ key: null, items: [outboxItem('late')] }));
        await assert.rejects(s.claim({ destination: 'crm', max: 1, nowMs: T0 }));
      });
    });
  });
}
