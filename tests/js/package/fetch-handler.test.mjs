// The Fetch-API handler with a small fake engine that mimics the Outcome's shape (the real
// wasm engine gets its own integration tests): the record protocol with compare-and-set,
// conflicts, deliveries persisted only after the record, waitUntil, sweeps, failures.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createFetchHandler, sweepDue } from '../../../bindings/js/fetch-handler.js';
import { memoryStore } from '../../../bindings/js/stores.js';
import { redisStore } from '../../../bindings/js/redis-store.js';
import { createDeliveryQueue } from '../../../bindings/js/delivery.js';
import { createEngine } from '../../../bindings/js/index.js';
import { redisSkip, redisFixture } from '../redis-server.mjs';

const T0 = 1714533342;
const ABANDON_AFTER = 100;
const RETENTION = 1000;
// Delivery decisions are never faked: a real engine with a fast schedule makes them.
const retryingEngine = await createEngine({
  destinations: { sink: { format: 'canonical', url: 'http://127.0.0.1:9/sink' } },
  routes: [{ name: 'r', to: ['sink'] }],
  delivery: { schedule_seconds: [0.02], jitter: 0 },
});

// A fake engine: body {"sid", "event"}; record per call like README "Correlation" (format 1).
// "event" routes fire for each first event, "complete" once on the first Complete, "abandoned"
// from a sweep. The URL must carry /hook/secret.
function fakeEngine({ destination = 'http://127.0.0.1:9/sink' } = {}) {
  const calls = { handle: 0, sweep: 0, seen: [] };
  const outcome = (response, extra = {}) => ({
    response,
    deliveries: [],
    record: null,
    record_key: null,
    expected_version: 0,
    version: null,
    expires_at: null,
    sweep_at: null,
    ...extra,
  });
  const json = (status, body, headers = []) => ({ status, headers: [['Content-Type', 'application/json'], ...headers], body: JSON.stringify(body) });
  const delivery = (sid, what, route) => ({
    route,
    destination: 'sink',
    method: 'POST',
    url: destination,
    headers: [['Content-Type', 'application/json'], ['Idempotency-Key', `${sid}:${what}:${route}`]],
    body: JSON.stringify({ sid, what, route }),
    idempotency_key: `${sid}:${what}:${route}`,
  });
  const finish = (r, expected, now, deliveries, response) => {
    r.version = expected + 1;
    r.expires_at = now + RETENTION;
    r.sweep_at = r.initiate && !r.complete && !r.abandoned ? r.initiate.received_at + ABANDON_AFTER : null;
    return outcome(response, { record: JSON.stringify(r), record_key: r.key, expected_version: expected,
      version: r.version, expires_at: r.expires_at, sweep_at: r.sweep_at, deliveries });
  };
  // The record key, as the real engine's prepare names it: from the payload, once.
  const keyOf = (req) => {
    try {
      if (!new URL(req.url, 'http://x').pathname.startsWith('/hook/secret')) return null;
      const p = JSON.parse(new TextDecoder().decode(req.body));
      return typeof p.sid === 'string' ? `AC1:${p.sid}` : null;
    } catch {
      return null;
    }
  };
  return {
    calls,
    attemptResult: (attempt) => retryingEngine.attemptResult(attempt),
    prepare(req, { now }) {
      calls.prepare = (calls.prepare ?? 0) + 1;
      const engine = this;
      return {
        record_key: keyOf(req),
        decide: ({ now: at = now, record = null } = {}) => engine.handle(req, { now: at, record }),
        close() {},
      };
    },
    handle(req, { now, record }) {
      calls.handle += 1;
      calls.seen.push({ req, now, record });
      if (!new URL(req.url, 'http://x').pathname.startsWith('/hook/secret')) return outcome(json(401, { title: 'Unauthorized' }));
      let p;
      try {
        p = JSON.parse(new TextDecoder().decode(req.body));
      } catch {
        return outcome(json(400, { title: 'Bad Request' }));
      }
      if (p.explode) throw new Error('engine bug');
      const key = `AC1:${p.sid}`;
      let r;
      if (record === null) {
        r = { format: 1, key, version: 0, initiate: null, complete: null, duplicates: 0, abandoned: false, expires_at: 0, sweep_at: null };
      } else {
        try {
          r = JSON.parse(record);
        } catch {
          return outcome(json(503, { title: 'unreadable record' }, [['Retry-After', '30']]));
        }
      }
      const expected = r.version;
      const slot = p.event === 'Call.Initiate' ? 'initiate' : 'complete';
      if (r[slot]) {
        r.duplicates += 1;
        return finish(r, expected, now, [], json(200, { status: 'duplicate' }));
      }
      r[slot] = { received_at: now };
      const deliveries = [delivery(p.sid, p.event, 'every-event')];
      if (slot === 'complete') deliveries.push(delivery(p.sid, 'complete', 'completed-calls'));
      return finish(r, expected, now, deliveries, json(200, { status: 'accepted', deliveries: deliveries.length }));
    },
    sweep(record, now) {
      calls.sweep += 1;
      const r = JSON.parse(record);
      if (r.sweep_at === null || r.sweep_at > now) return outcome(null);
      r.abandoned = true;
      const sid = r.key.split(':')[1];
      return finish(r, r.version, now, [delivery(sid, 'abandoned', 'abandoned-calls')], null);
    },
  };
}

// A queue that records what it was given, in order with the store's operations.
function recordingQueue(log = []) {
  const enqueued = [];
  return {
    log,
    enqueued,
    drains: 0,
    failNext: false,
    async enqueue(deliveries) {
      if (this.failNext) {
        this.failNext = false;
        throw new Error('journal unavailable');
      }
      log.push(['enqueue', deliveries.map((d) => d.idempotency_key)]);
      enqueued.push(...deliveries);
    },
    async drain() {
      this.drains += 1;
    },
  };
}

// Wraps a store: logs operations, and can pause before a compare-and-set to force races.
function instrumented(store, log = []) {
  return {
    log,
    beforeCas: null,
    async get(key) {
      const v = await store.get(key);
      log.push(['get', key, v ? v.version : 0]);
      return v;
    },
    async compareAndSet(key, expected, entry) {
      if (this.beforeCas) await this.beforeCas(key, expected);
      const ok = await store.compareAndSet(key, expected, entry);
      log.push(['cas', key, expected, ok]);
      return ok;
    },
    due: (now) => store.due(now),
    close: () => store.close(),
  };
}

const hook = (body, { path = '/hook/secret', headers = {} } = {}) =>
  new Request(`https://hooks.example.com${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

const event = (sid, ev) => hook(JSON.stringify({ sid, event: ev }));

// A store clock that matches the fake engine's fixed `now`.
const storeAt = () => memoryStore({ now: () => T0 });

describe('createFetchHandler', () => {
  test('Initiate then Complete: records stored by CAS, deliveries enqueued after the store, responses passed through', async () => {
    const log = [];
    const engine = fakeEngine();
    const store = instrumented(storeAt(), log);
    const queue = recordingQueue(log);
    const outcomes = [];
    const handler = createFetchHandler({ engine, store, queue, now: () => T0, onOutcome: (o, info) => outcomes.push(info) });

    const r1 = await handler(event('CA1', 'Call.Initiate'));
    assert.equal(r1.status, 200);
    assert.equal(r1.headers.get('content-type'), 'application/json');
    assert.deepEqual(await r1.json(), { status: 'accepted', deliveries: 1 });
    const r2 = await handler(event('CA1', 'Call.Complete'));
    assert.deepEqual(await r2.json(), { status: 'accepted', deliveries: 2 });

    assert.deepEqual(log, [
      ['get', 'AC1:CA1', 0],
      ['cas', 'AC1:CA1', 0, true],
      ['enqueue', ['CA1:Call.Initiate:every-event']],
      ['get', 'AC1:CA1', 1],
      ['cas', 'AC1:CA1', 1, true],
      ['enqueue', ['CA1:Call.Complete:every-event', 'CA1:complete:completed-calls']],
    ]);
    const stored = await store.get('AC1:CA1');
    assert.equal(stored.version, 2);
    assert.equal(JSON.parse(stored.record).sweep_at, null);
    assert.deepEqual(outcomes, [
      { stored: true, conflicts: 0, deliveries: 1 },
      { stored: true, conflicts: 0, deliveries: 2 },
    ]);
    // The second request was handled again with the stored record.
    assert.equal(JSON.parse(engine.calls.seen.at(-1).record).version, 1);
  });

  test('the engine gets the request as received: method, URL, headers, body bytes, now', async () => {
    const engine = fakeEngine();
    const handler = createFetchHandler({ engine, store: storeAt(), queue: recordingQueue(), now: () => T0 + 0.5 });
    const bytes = new Uint8Array([0x7b, 0x22, 0x73, 0x69, 0x64, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]); // {"sid":"\xff\xfe"}
    const res = await handler(new Request('https://hooks.example.com/hook/secret?x=1', { method: 'POST', headers: { 'X-Test': 'a b', 'content-type': 'application/json' }, body: bytes }));
    assert.equal(res.status, 200);
    const { req, now } = engine.calls.seen[0];
    assert.equal(req.method, 'POST');
    assert.equal(req.url, 'https://hooks.example.com/hook/secret?x=1');
    assert.ok(req.body instanceof Uint8Array);
    assert.deepEqual([...req.body], [...bytes]);
    assert.deepEqual(req.headers.find(([n]) => n === 'x-test'), ['x-test', 'a b']);
    assert.equal(now, T0 + 0.5);
    // The same bytes are handed again when the record is re-read.
    assert.deepEqual([...engine.calls.seen.at(-1).req.body], [...bytes]);
  });

  test('a rejected request stores nothing and enqueues nothing', async () => {
    const log = [];
    const handler = createFetchHandler({ engine: fakeEngine(), store: instrumented(storeAt(), log), queue: recordingQueue(log), now: () => T0 });
    const res = await handler(hook('{"sid":"CA1","event":"Call.Initiate"}', { path: '/hook/wrong' }));
    assert.equal(res.status, 401);
    assert.deepEqual(log, []);
    const bad = await handler(hook('not json'));
    assert.equal(bad.status, 400);
    assert.deepEqual(log, []);
  });

  test('a duplicate is answered, counted in the record, and delivers nothing', async () => {
    const queue = recordingQueue();
    const store = storeAt();
    const handler = createFetchHandler({ engine: fakeEngine(), store, queue, now: () => T0 });
    await handler(event('CA2', 'Call.Complete'));
    const dup = await handler(event('CA2', 'Call.Complete'));
    assert.deepEqual(await dup.json(), { status: 'duplicate' });
    assert.equal(queue.enqueued.length, 2);
    assert.equal(JSON.parse((await store.get('AC1:CA2')).record).duplicates, 1);
  });

  test('a CAS conflict re-reads and handles again: a racing Initiate and Complete both land, routes fire once', async () => {
    const log = [];
    const store = instrumented(storeAt(), log);
    // Both requests read "no record" before either stores: one CAS must lose.
    let waiting = [];
    store.beforeCas = () =>
      new Promise((resolve) => {
        waiting.push(resolve);
        if (waiting.length === 2) {
          store.beforeCas = null;
          waiting.forEach((r) => r());
          waiting = [];
        }
      });
    const queue = recordingQueue();
    const infos = [];
    const handler = createFetchHandler({ engine: fakeEngine(), store, queue, now: () => T0, onOutcome: (o, info) => infos.push(info) });
    const [a, b] = await Promise.all([handler(event('CA3', 'Call.Initiate')), handler(event('CA3', 'Call.Complete'))]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.deepEqual(log.filter(([op]) => op === 'cas').map(([, , v, ok]) => [v, ok]).sort(), [[0, false], [0, true], [1, true]]);
    assert.deepEqual(infos.map((i) => i.conflicts).sort(), [0, 1]);
    const final = JSON.parse((await store.get('AC1:CA3')).record);
    assert.equal(final.version, 2);
    assert.ok(final.initiate && final.complete);
    assert.deepEqual(queue.enqueued.map((d) => d.idempotency_key).sort(), ['CA3:Call.Complete:every-event', 'CA3:Call.Initiate:every-event', 'CA3:complete:completed-calls']);
  });

  test('ten concurrent copies of one webhook deliver once', async () => {
    const store = memoryStore({ now: () => T0 });
    const slow = {
      get: async (k) => {
        await new Promise((r) => setTimeout(r, Math.random() * 5));
        return store.get(k);
      },
      compareAndSet: async (...a) => {
        await new Promise((r) => setTimeout(r, Math.random() * 5));
        return store.compareAndSet(...a);
      },
      due: (n) => store.due(n),
      close: () => store.close(),
    };
    const queue = recordingQueue();
    const handler = createFetchHandler({ engine: fakeEngine(), store: slow, queue, now: () => T0, maxConflictRetries: 20 });
    const responses = await Promise.all(Array.from({ length: 10 }, () => handler(event('CA4', 'Call.Initiate'))));
    const bodies = await Promise.all(responses.map((r) => r.json()));
    assert.equal(bodies.filter((b) => b.status === 'accepted').length, 1);
    assert.equal(bodies.filter((b) => b.status === 'duplicate').length, 9);
    assert.deepEqual(queue.enqueued.map((d) => d.idempotency_key), ['CA4:Call.Initiate:every-event']);
    const final = JSON.parse((await store.get('AC1:CA4')).record);
    assert.equal(final.version, 10);
    assert.equal(final.duplicates, 9);
  });

  test('conflicts past the bound answer 503 with Retry-After and enqueue nothing', async () => {
    const base = storeAt();
    const store = { ...instrumented(base), compareAndSet: async () => false };
    const queue = recordingQueue();
    const errors = [];
    const handler = createFetchHandler({ engine: fakeEngine(), store, queue, now: () => T0, maxConflictRetries: 3, onError: (e, c) => errors.push([e.name, c.phase]) });
    const res = await handler(event('CA5', 'Call.Initiate'));
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    const doc = await res.json();
    assert.equal(doc.status, 503);
    assert.equal(doc.type, 'urn:callhook:problem:conflict');
    assert.deepEqual(queue.enqueued, []);
    assert.deepEqual(errors, [['ConflictError', 'store']]);
  });

  test('a failing store answers 503; a failing engine answers 503 too, never 500', async () => {
    const errors = [];
    const broken = { get: async () => { throw new Error('ECONNREFUSED'); }, compareAndSet: async () => true, due: async () => [], close: async () => {} };
    const h1 = createFetchHandler({ engine: fakeEngine(), store: broken, queue: recordingQueue(), now: () => T0, onError: (e, c) => errors.push(c.phase) });
    const r1 = await h1(event('CA6', 'Call.Initiate'));
    assert.equal(r1.status, 503);
    assert.equal(r1.headers.get('retry-after'), '5');
    assert.equal((await r1.json()).type, 'urn:callhook:problem:store-unavailable');
    const h2 = createFetchHandler({ engine: fakeEngine(), store: storeAt(), queue: recordingQueue(), now: () => T0, onError: (e, c) => errors.push(c.phase) });
    const r2 = await h2(hook('{"sid":"CA6","explode":true}'));
    assert.equal(r2.status, 503);
    const doc = await r2.json();
    assert.equal(doc.type, 'urn:callhook:problem:internal-error');
    assert.equal(doc.status, 503);
    assert.deepEqual(errors, ['store', 'engine']);
  });

  test('deliveries that cannot be persisted: 503, the record is put back, the retry delivers', async () => {
    const store = storeAt();
    const queue = recordingQueue();
    const errors = [];
    const handler = createFetchHandler({ engine: fakeEngine(), store, queue, now: () => T0, onError: (e, c) => errors.push([c.phase, e.recordRestored]) });
    // First event of the call: "put back" means deleted.
    queue.failNext = true;
    const r1 = await handler(event('CA7', 'Call.Initiate'));
    assert.equal(r1.status, 503);
    assert.equal(await store.get('AC1:CA7'), null);
    const r2 = await handler(event('CA7', 'Call.Initiate'));
    assert.deepEqual(await r2.json(), { status: 'accepted', deliveries: 1 });
    // A later event: the previous record comes back.
    queue.failNext = true;
    const r3 = await handler(event('CA7', 'Call.Complete'));
    assert.equal(r3.status, 503);
    const back = await store.get('AC1:CA7');
    assert.equal(back.version, 1);
    assert.equal(JSON.parse(back.record).complete, null);
    const r4 = await handler(event('CA7', 'Call.Complete'));
    assert.deepEqual(await r4.json(), { status: 'accepted', deliveries: 2 });
    assert.deepEqual(queue.enqueued.map((d) => d.idempotency_key), ['CA7:Call.Initiate:every-event', 'CA7:Call.Complete:every-event', 'CA7:complete:completed-calls']);
    assert.deepEqual(errors, [['enqueue', true], ['enqueue', true]]);
  });

  test('ctx.waitUntil carries the background sending when the runtime has it', async () => {
    const queue = recordingQueue();
    const handler = createFetchHandler({ engine: fakeEngine(), store: storeAt(), queue, now: () => T0 });
    const waited = [];
    const ctx = { waitUntil: (p) => waited.push(p) };
    await handler(event('CA8', 'Call.Initiate'), ctx);
    assert.equal(waited.length, 1);
    await Promise.all(waited);
    assert.equal(queue.drains, 1);
    await handler(event('CA8', 'Call.Initiate'), ctx); // duplicate: nothing to send
    assert.equal(waited.length, 1);
    await handler(event('CA9', 'Call.Initiate')); // no ctx: the queue's own loop sends
    assert.equal(queue.drains, 1);
  });

  test('a body past maxBodyBytes is refused with 413 before the engine runs', async () => {
    const engine = fakeEngine();
    const handler = createFetchHandler({ engine, store: storeAt(), queue: recordingQueue(), now: () => T0, maxBodyBytes: 16 });
    const res = await handler(hook(JSON.stringify({ sid: 'CA10', event: 'Call.Initiate', pad: 'x'.repeat(100) })));
    assert.equal(res.status, 413);
    // No Content-Length (a stream): counted while reading.
    const stream = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('x'.repeat(40))); c.close(); } });
    const res2 = await handler(new Request('https://h.example/hook/secret', { method: 'POST', body: stream, duplex: 'half' }));
    assert.equal(res2.status, 413);
    assert.equal(engine.calls.handle, 0);
  });

  test('a GET with no body reaches the engine with an empty body', async () => {
    const engine = fakeEngine();
    const handler = createFetchHandler({ engine, store: storeAt(), queue: recordingQueue(), now: () => T0 });
    const res = await handler(new Request('https://h.example/hook/secret?Event=x'));
    assert.equal(res.status, 400);
    assert.equal(engine.calls.seen[0].req.body.byteLength, 0);
    assert.equal(engine.calls.seen[0].req.method, 'GET');
  });
});

describe('sweeps', () => {
  test('handler.sweep abandons due calls once, with the CAS protocol; completed calls are not due', async () => {
    let t = T0;
    const store = memoryStore({ now: () => t });
    const queue = recordingQueue();
    const handler = createFetchHandler({ engine: fakeEngine(), store, queue, now: () => t });
    await handler(event('S1', 'Call.Initiate'));
    await handler(event('S2', 'Call.Initiate'));
    await handler(event('S2', 'Call.Complete'));
    queue.enqueued.length = 0;
    assert.deepEqual(await handler.sweep(T0 + 50), { keys: 0, changed: 0, deliveries: 0, conflicts: 0, errors: [] });
    t = T0 + ABANDON_AFTER + 1;
    const r = await handler.sweep();
    assert.deepEqual(r, { keys: 1, changed: 1, deliveries: 1, conflicts: 0, errors: [] });
    assert.deepEqual(queue.enqueued.map((d) => d.idempotency_key), ['S1:abandoned:abandoned-calls']);
    const rec = JSON.parse((await store.get('AC1:S1')).record);
    assert.equal(rec.abandoned, true);
    assert.equal(rec.sweep_at, null);
    assert.equal((await handler.sweep()).keys, 0, 'nothing due any more');
  });

  test('a sweep that races a Complete retries on the fresh record', async () => {
    const log = [];
    const base = memoryStore({ now: () => T0 });
    const store = instrumented(base, log);
    const engine = fakeEngine();
    const queue = recordingQueue();
    const handler = createFetchHandler({ engine, store, queue, now: () => T0 + ABANDON_AFTER + 5 });
    // The Initiate arrived long ago (its own clock).
    const early = createFetchHandler({ engine, store: base, queue, now: () => T0 });
    await early(event('S3', 'Call.Initiate'));
    // The Complete lands between the sweep's read and its compare-and-set.
    store.beforeCas = async () => {
      store.beforeCas = null;
      const res = await handler(event('S3', 'Call.Complete'));
      assert.equal(res.status, 200);
    };
    const r = await sweepDue(handler.state, T0 + ABANDON_AFTER + 5);
    assert.equal(r.conflicts, 1);
    assert.equal(r.changed, 0, 'after the re-read the call is complete: nothing to abandon');
    assert.equal(r.deliveries, 0);
    const rec = JSON.parse((await base.get('AC1:S3')).record);
    assert.equal(rec.abandoned, false);
    assert.ok(rec.complete);
    assert.ok(!queue.enqueued.some((d) => d.idempotency_key.includes('abandoned')));
  });
});

// The handler's own path with a real queue: the record and its deliveries are one commit.
const patientEngine = await createEngine({
  destinations: { sink: { format: 'canonical', url: 'http://127.0.0.1:9/sink' } },
  routes: [{ name: 'r', to: ['sink'] }],
  delivery: { schedule_seconds: [600], jitter: 0 },
});
describe('a record and its deliveries commit together', () => {
  const offline = async () => {
    throw new Error('offline');
  };

  test('a full outbox answers 503 outbox-full and stores neither the record nor a delivery; with room again the re-send is accepted', async () => {
    const store = memoryStore({ now: () => T0 });
    const queue = createDeliveryQueue({ engine: patientEngine, store, fetch: offline, limits: { total: 2, perDestination: 10 } });
    const errors = [];
    const handler = createFetchHandler({ engine: fakeEngine(), store, queue, now: () => T0, onError: (e, c) => errors.push(c.phase) });
    try {
      assert.equal((await handler(event('CA1', 'Call.Initiate'))).status, 200);
      assert.equal((await store.counts()).pending, 1);
      const full = await handler(event('CA1', 'Call.Complete'));
      assert.equal(full.status, 503);
      assert.ok(Number(full.headers.get('retry-after')) > 0, 'Retry-After tells the sender when to try again');
      const doc = await full.json();
      assert.equal(doc.type, 'urn:callhook:problem:outbox-full');
      assert.match(doc.detail, /cap of 2/);
      assert.deepEqual(errors, ['outbox']);
      assert.equal((await store.get('AC1:CA1')).version, 1, 'the Complete left the record as it was');
      assert.equal((await store.counts()).pending, 1, 'and added no delivery');
      // Room again: the pending delivery is done (as a sender would finish it).
      const held = await store.claim({ destination: 'sink', max: 10, nowMs: Date.now() + 3_600_000 });
      for (const item of held) await store.finish(item, { verdict: 'delivered', code: 'delivered', reason: '', attempt: { at_ms: Date.now(), status: 200, code: 'delivered', reason: '' } });
      const again = await handler(event('CA1', 'Call.Complete'));
      assert.equal(again.status, 200);
      assert.equal((await again.json()).status, 'accepted', 'not taken for a duplicate');
      assert.equal((await store.get('AC1:CA1')).version, 2);
      assert.equal((await store.counts()).pending, 2);
    } finally {
      await queue.close();
    }
  });

  test('ten concurrent copies of one webhook commit one record change and one delivery', async () => {
    const base = memoryStore({ now: () => T0 });
    // Every read waits a little, so the copies race for the same version.
    const store = Object.assign(Object.create(base), { get: async (k) => { await new Promise((r) => setTimeout(r, 2)); return base.get(k); } });
    for (const m of ['commit', 'compareAndSet', 'due', 'claim', 'finish', 'release', 'destinations', 'counts', 'deadLetters', 'redrive', 'ping', 'close']) store[m] = base[m].bind(base);
    const queue = createDeliveryQueue({ engine: patientEngine, store, fetch: offline });
    const handler = createFetchHandler({ engine: fakeEngine(), store, queue, now: () => T0, maxConflictRetries: 20 });
    try {
      const answers = await Promise.all(Array.from({ length: 10 }, () => handler(event('CA2', 'Call.Initiate'))));
      const statuses = await Promise.all(answers.map(async (r) => [r.status, (await r.json()).status]));
      assert.equal(statuses.filter(([, s]) => s === 'accepted').length, 1, JSON.stringify(statuses));
      assert.equal(statuses.filter(([, s]) => s === 'duplicate').length, 9);
      assert.equal((await base.counts()).pending, 1);
    } finally {
      await queue.close();
    }
  });
});

// End to end with real parts: Redis records shared by two handler instances, real delivery
// queues sending to a loopback receiver.
describe('two instances on Redis with real delivery', { skip: redisSkip }, () => {
  const { client } = redisFixture(before, after);

  test('racing webhooks across instances: every route delivered exactly once', async () => {
    const received = new Map();
    const rx = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const k = req.headers['idempotency-key'];
        received.set(k, (received.get(k) ?? 0) + 1);
        res.writeHead(204).end();
      });
    });
    await new Promise((r) => rx.listen(0, '127.0.0.1', r));
    const sink = `http://127.0.0.1:${rx.address().port}/sink`;
    const instances = [];
    for (let i = 0; i < 2; i++) {
      const c = await client();
      // The real clock: Redis judges expiry by its own. Records and outbox on one store.
      const store = redisStore(c, { prefix: 'e2e:', consumer: `instance-${i}` });
      const queue = createDeliveryQueue({ engine: retryingEngine, store });
      instances.push({ queue, handler: createFetchHandler({ engine: fakeEngine({ destination: sink }), store, queue, maxConflictRetries: 20 }) });
    }
    const requests = [];
    for (let call = 0; call < 15; call++) {
      for (const ev of ['Call.Initiate', 'Call.Complete', 'Call.Complete', 'Call.Initiate']) {
        requests.push(instances[requests.length % 2].handler(event(`E${call}`, ev)));
      }
    }
    const responses = await Promise.all(requests);
    assert.ok(responses.every((r) => r.status === 200), responses.map((r) => r.status).join());
    for (const { queue } of instances) await queue.drain();
    await Promise.all(instances.map(({ queue }) => queue.close()));
    await new Promise((r) => rx.close(r));
    assert.equal(received.size, 15 * 3);
    assert.ok([...received.values()].every((n) => n === 1), JSON.stringify([...received]));
  });
});
