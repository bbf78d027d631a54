// The delivery sender against a real HTTP receiver on 127.0.0.1: it sends, asks the engine after
// every attempt (the engine's policy comes from the config's `delivery` settings), waits what
// the engine says, keeps dead letters, holds a hung destination to its own slots, refuses past
// the outbox's caps, and resumes from a SQLite folder and from Redis after a restart.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDeliveryQueue, OverflowError } from '../../../bindings/js/delivery.js';
import { createEngine } from '../../../bindings/js/index.js';
import { memoryStore } from '../../../bindings/js/stores.js';
import { sqliteStore } from '../../../bindings/js/sqlite-store.js';
import { redisStore } from '../../../bindings/js/redis-store.js';
import { redisSkip, redisFixture } from '../redis-server.mjs';

// A receiver whose `plan(request, countForThisKey)` answers {status, headers?, delayMs?} or
// "reset" (the connection is destroyed without a response). Every request is recorded.
async function receiver(plan) {
  const requests = [];
  const perKey = new Map();
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const key = req.headers['idempotency-key'] ?? '';
      const n = (perKey.get(key) ?? 0) + 1;
      perKey.set(key, n);
      const entry = { wall: Date.now(), method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), key, n };
      requests.push(entry);
      const answer = plan(entry, n);
      entry.answer = answer;
      if (answer === 'reset') {
        req.socket.destroy();
        return;
      }
      const send = () => {
        res.writeHead(answer.status, answer.headers ?? {});
        res.end(answer.body ?? '');
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    delivered(key) {
      return requests.filter((r) => r.key === key && r.answer !== 'reset' && r.answer.status >= 200 && r.answer.status < 300).length;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

function delivery(url, key, extra = {}) {
  return {
    route: 'every-event',
    destination: 'events-log',
    method: 'POST',
    url: `${url}/events`,
    headers: [['Content-Type', 'application/json'], ['Idempotency-Key', key]],
    body: JSON.stringify({ key }),
    idempotency_key: key,
    ...extra,
  };
}

async function waitFor(cond, ms = 10_000, what = 'condition') {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// An engine whose one destination retries on `delivery` (a 20 ms schedule, no jitter, unless
// given): the queue's whole policy.
async function engineWith(delivery = {}) {
  return createEngine({
    destinations: { 'events-log': { format: 'canonical', url: 'http://127.0.0.1:9/events' } },
    routes: [{ name: 'every-event', to: ['events-log'] }],
    delivery: { schedule_seconds: [0.02], jitter: 0, ...delivery },
  });
}
const fast = await engineWith();

function tmp() {
  return mkdtempSync(path.join(tmpdir(), 'callhook-outbox-'));
}

describe('sending', () => {
  test('a delivery is sent as given: method, URL, headers with the Idempotency-Key, body', async () => {
    const rx = await receiver(() => ({ status: 202 }));
    const events = [];
    const q = createDeliveryQueue({ engine: fast, onEvent: (e) => events.push(e) });
    try {
      await q.enqueue([delivery(rx.url, 'CA1:Call.Complete:every-event', { headers: [['Content-Type', 'application/json'], ['X-Extra', 'yes']] })]);
      await waitFor(() => events.length === 1);
      const [r] = rx.requests;
      assert.equal(r.method, 'POST');
      assert.equal(r.url, '/events');
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal(r.headers['x-extra'], 'yes');
      assert.equal(r.headers['idempotency-key'], 'CA1:Call.Complete:every-event', 'added from idempotency_key');
      assert.equal(r.body, '{"key":"CA1:Call.Complete:every-event"}');
      assert.equal(events[0].type, 'delivered');
      assert.equal(events[0].attempts, 1);
      assert.equal(events[0].status, 202);
      assert.equal((await q.counts()).pending, 0);
    } finally {
      await q.close();
      await rx.close();
    }
  });

  test('500, 429 with Retry-After and a connection reset are retried; the Idempotency-Key never changes', async () => {
    const script = [{ status: 500 }, 'reset', { status: 429, headers: { 'Retry-After': '1' } }, { status: 503 }, { status: 200 }];
    const rx = await receiver((_r, n) => script[n - 1]);
    const events = [];
    const engine = await engineWith({ schedule_seconds: [0.02, 0.04, 0.08, 0.16] });
    const q = createDeliveryQueue({ engine, onEvent: (e) => events.push(e) });
    try {
      await q.enqueue([delivery(rx.url, 'CA2:Call.Initiate:every-event')]);
      await waitFor(() => events.some((e) => e.type === 'delivered'));
      assert.equal(rx.requests.length, 5);
      assert.deepEqual(new Set(rx.requests.map((r) => r.headers['idempotency-key'])), new Set(['CA2:Call.Initiate:every-event']));
      assert.deepEqual(new Set(rx.requests.map((r) => r.body)), new Set(['{"key":"CA2:Call.Initiate:every-event"}']));
      assert.deepEqual(events.map((e) => e.type), ['retried', 'retried', 'retried', 'retried', 'delivered']);
      assert.deepEqual(events.map((e) => e.status), [500, null, 429, 503, 200]);
      assert.match(events[1].error, /fetch failed|socket|ECONNRESET|closed/i);
      // The engine's waits: the schedule's steps, and Retry-After: 1 for the 429.
      assert.deepEqual(events.slice(0, 4).map((e) => e.delayMs), [20, 40, 1000, 160]);
      assert.deepEqual(events.slice(0, 4).map((e) => e.retryAfter), [false, false, true, false]);
      assert.deepEqual(events.map((e) => e.code), ['retryable_status', 'transport_error', 'retryable_status', 'retryable_status', 'delivered']);
      // No attempt goes out before the time the engine chose.
      rx.requests.slice(1).forEach((r, i) => assert.ok(r.wall >= rx.requests[i].wall + events[i].delayMs - 2, `attempt ${i + 2} early`));
    } finally {
      await q.close();
      await rx.close();
    }
  });

  test('the queue holds no policy: a config\'s schedule and jitter are what it waits', async () => {
    const rx = await receiver((r, n) => (n <= 3 ? { status: 502 } : { status: 200 }));
    const events = [];
    const engine = await engineWith({ schedule_seconds: [0.05, 0.1, 0.2], jitter: 0.5 });
    const q = createDeliveryQueue({ engine, random: () => 0, onEvent: (e) => events.push(e) });
    try {
      await q.enqueue([delivery(rx.url, 'jittered')]);
      await waitFor(() => events.some((e) => e.type === 'delivered'));
      // random() = 0 with jitter 0.5 halves each wait.
      assert.deepEqual(events.filter((e) => e.type === 'retried').map((e) => e.delayMs), [25, 50, 100]);
      assert.deepEqual(events.map((e) => e.attempts), [1, 2, 3, 4]);
      assert.equal(events[0].log.msg, 'delivery_retry');
      assert.equal(events[0].log.retry_in_ms, 25);
      assert.equal(events[3].log.msg, 'delivered');
    } finally {
      await q.close();
      await rx.close();
    }
  });

  test('Retry-After is capped by max_retry_after_seconds', async () => {
    const rx = await receiver((_r, n) => (n === 1 ? { status: 503, headers: { 'Retry-After': '3600' } } : { status: 200 }));
    const events = [];
    const q = createDeliveryQueue({ engine: await engineWith({ max_retry_after_seconds: 0.1 }), onEvent: (e) => events.push(e) });
    try {
      await q.enqueue([delivery(rx.url, 'capped')]);
      await waitFor(() => events.some((e) => e.type === 'delivered'), 5000);
      assert.equal(events[0].delayMs, 100);
      assert.equal(events[0].retryAfter, true);
      assert.ok(rx.requests[1].wall >= rx.requests[0].wall + 98);
    } finally {
      await q.close();
      await rx.close();
    }
  });

  test('dead letter once the config\'s attempts are used up, with the engine\'s reason', async () => {
    const rx = await receiver(() => ({ status: 500 }));
    const events = [];
    const q = createDeliveryQueue({ engine: await engineWith({ attempts: 4 }), onEvent: (e) => events.push(e) });
    try {
      await q.enqueue([delivery(rx.url, 'doomed')]);
      await waitFor(() => events.some((e) => e.type === 'dead'));
      assert.equal(rx.requests.length, 4);
      assert.deepEqual(events.map((e) => e.type), ['retried', 'retried', 'retried', 'dead']);
      const [dl] = await q.deadLetters();
      assert.equal(dl.attempts, 4);
      assert.deepEqual(dl.history.map((a) => [a.status, a.code]), [[500, 'retryable_status'], [500, 'retryable_status'], [500, 'retryable_status'], [500, 'attempts_exhausted']]);
      assert.equal(dl.code, 'attempts_exhausted');
      assert.match(dl.reason, /gave up after 4 attempts; the last: HTTP 500/);
      assert.equal(dl.idempotency_key, 'doomed');
      assert.ok(dl.dead_at_ms > 0);
      assert.equal((await q.counts()).pending, 0);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(rx.requests.length, 4, 'nothing more is sent');
    } finally {
      await q.close();
      await rx.close();
    }
  });

  test('a 4xx other than 408/409/425/429 is a dead letter at once; those four are retried', async () => {
    const statuses = { 'k400': 400, 'k404': 404, 'k422': 422, 'k301': 301, 'k408': 408, 'k409': 409, 'k425': 425, 'k429': 429 };
    const rx = await receiver((r, n) => (n === 1 ? { status: statuses[r.key], headers: r.key === 'k301' ? { Location: '/elsewhere' } : {} } : { status: 200 }));
    const events = [];
    const q = createDeliveryQueue({ engine: fast, onEvent: (e) => events.push(e) });
    try {
      await q.enqueue(Object.keys(statuses).map((k) => delivery(rx.url, k)));
      await waitFor(() => events.filter((e) => e.type !== 'retried').length === 8);
      const final = Object.fromEntries(events.filter((e) => e.type !== 'retried').map((e) => [e.idempotency_key, e.type]));
      assert.deepEqual(final, { k400: 'dead', k404: 'dead', k422: 'dead', k301: 'dead', k408: 'delivered', k409: 'delivered', k425: 'delivered', k429: 'delivered' });
      for (const k of ['k400', 'k404', 'k422', 'k301']) assert.equal(rx.requests.filter((r) => r.key === k).length, 1, k);
      assert.equal((await q.deadLetters()).length, 4);
    } finally {
      await q.close();
      await rx.close();
    }
  });

  test('a timeout is retried', async () => {
    const rx = await receiver((_r, n) => (n === 1 ? { status: 200, delayMs: 400 } : { status: 200 }));
    const events = [];
    const q = createDeliveryQueue({ engine: await engineWith({ timeout_seconds: 0.1 }), onEvent: (e) => events.push(e) });
    try {
      // The limit travels with the delivery, as the engine writes it (timeout_seconds: 0.1).
      await q.enqueue([delivery(rx.url, 'slow', { timeout_ms: 100 })]);
      await waitFor(() => events.some((e) => e.type === 'delivered'));
      assert.equal(events[0].type, 'retried');
      assert.equal(events[0].code, 'timeout');
      assert.match(events[0].error, /no answer within 100 ms/);
    } finally {
      await q.close();
      await rx.close();
    }
  });

  test('drain resolves when nothing is in flight or due now, even with a retry scheduled later', async () => {
    const rx = await receiver((r, n) => (r.key === 'later' && n === 1 ? { status: 503, headers: { 'Retry-After': '60' } } : { status: 200 }));
    const q = createDeliveryQueue({ engine: fast });
    try {
      await q.enqueue([delivery(rx.url, 'now1'), delivery(rx.url, 'now2'), delivery(rx.url, 'later')]);
      const started = Date.now();
      await q.drain();
      assert.ok(Date.now() - started < 2000);
      assert.equal(rx.delivered('now1') + rx.delivered('now2'), 2);
      assert.deepEqual(await q.counts(), { pending: 1, byDestination: { 'events-log': 1 }, dead: 0, inflight: 0 });
      assert.equal(rx.requests.filter((r) => r.key === 'later').length, 1, 'the retry waits for its time');
    } finally {
      await q.close();
      await rx.close();
    }
  });

  test('close finishes in-flight sends and leaves the store open; a closed queue refuses new deliveries', async () => {
    const rx = await receiver(() => ({ status: 200, delayMs: 150 }));
    const events = [];
    const q = createDeliveryQueue({ engine: fast, onEvent: (e) => events.push(e) });
    await q.enqueue([delivery(rx.url, 'inflight')]);
    await waitFor(() => rx.requests.length === 1);
    await q.close();
    assert.deepEqual(events.map((e) => e.type), ['delivered']);
    assert.equal((await q.store.counts()).pending, 0, 'the outcome was recorded before close resolved');
    await assert.rejects(q.enqueue([delivery(rx.url, 'x')]), /closed/);
    await rx.close();
  });

  test('concurrency bounds the sends in flight', async () => {
    let inflight = 0;
    let peak = 0;
    const fetch = async (url, init) => {
      inflight += 1;
      peak = Math.max(peak, inflight);
      await new Promise((r) => setTimeout(r, 5));
      inflight -= 1;
      return globalThis.fetch(url, init);
    };
    const rx = await receiver(() => ({ status: 200 }));
    const q = createDeliveryQueue({ engine: fast, fetch, concurrency: 3 });
    try {
      await q.enqueue(Array.from({ length: 20 }, (_, i) => delivery(rx.url, `c${i}`)));
      await waitFor(() => rx.requests.length === 20);
      await q.drain();
      assert.ok(peak <= 3, `peak ${peak}`);
    } finally {
      await q.close();
      await rx.close();
    }
  });

  test('a destination that hangs holds only its own slots; the others are delivered meanwhile', async () => {
    const rx = await receiver((r) => (r.url === '/hung' ? { status: 200, delayMs: 3000 } : { status: 200 }));
    const engine = await createEngine({
      destinations: {
        hung: { format: 'canonical', url: 'http://127.0.0.1:9/hung' },
        fine: { format: 'canonical', url: 'http://127.0.0.1:9/fine' },
      },
      routes: [{ name: 'r', to: ['hung', 'fine'] }],
      delivery: { timeout_seconds: 5 },
    });
    const events = [];
    const q = createDeliveryQueue({ engine, concurrency: 8, perDestination: 2, onEvent: (e) => events.push(e) });
    try {
      await q.enqueue(Array.from({ length: 6 }, (_, i) => delivery(rx.url, `h${i}`, { destination: 'hung', url: `${rx.url}/hung` })));
      await waitFor(() => rx.requests.length === 2, 5000, 'two hung sends');
      await q.enqueue(Array.from({ length: 6 }, (_, i) => delivery(rx.url, `f${i}`, { destination: 'fine', url: `${rx.url}/fine` })));
      await waitFor(() => events.filter((e) => e.destination === 'fine' && e.type === 'delivered').length === 6, 2500, 'the fine destination');
      // Only two sends to the hung destination went out: its slots, never more.
      assert.equal(rx.requests.filter((r) => r.url === '/hung').length, 2);
      assert.equal(events.filter((e) => e.destination === 'hung').length, 0, 'the hung ones are still waiting');
    } finally {
      await q.close();
      await rx.close();
    }
  });

  test('past the caps a commit is refused with what is pending, and nothing is added', async () => {
    const offline = async () => {
      throw new Error('offline');
    };
    const engine = await engineWith({ schedule_seconds: [60] });
    const store = memoryStore();
    const q = createDeliveryQueue({ engine, store, fetch: offline, limits: { total: 5, perDestination: 3 } });
    try {
      await q.enqueue([delivery('http://127.0.0.1:9', 'a1'), delivery('http://127.0.0.1:9', 'a2'), delivery('http://127.0.0.1:9', 'a3')]);
      const err = await q.enqueue([delivery('http://127.0.0.1:9', 'a4')]).then(() => null, (e) => e);
      assert.ok(err instanceof OverflowError, String(err));
      assert.deepEqual(err.full, { ok: false, reason: 'full', destination: 'events-log', pending: 4, limit: 3 });
      await q.enqueue([delivery('http://127.0.0.1:9', 'b1', { destination: 'other' }), delivery('http://127.0.0.1:9', 'b2', { destination: 'other' })]);
      const total = await q.enqueue([delivery('http://127.0.0.1:9', 'b3', { destination: 'third' })]).then(() => null, (e) => e);
      assert.deepEqual(total.full, { ok: false, reason: 'full', destination: null, pending: 6, limit: 5 });
      assert.equal((await store.counts()).pending, 5);
    } finally {
      await q.close();
    }
  });

  test('the outbox keeps the sealed delivery; it is unsealed only to be sent', async () => {
    const rx = await receiver(() => ({ status: 503, headers: { 'Retry-After': '60' } }));
    const engine = await createEngine({
      destinations: { 'events-log': { format: 'canonical', url: `${rx.url}/events?key=\${HOOK_KEY}`, headers: { 'X-Api-Key': '${API_KEY}' } } },
      routes: [{ name: 'every-event', to: ['events-log'] }],
    }, { secrets: { HOOK_KEY: 'query-secret-4096', API_KEY: 'header-secret-8192' } });
    const store = memoryStore();
    const q = createDeliveryQueue({ engine, store });
    try {
      const body = readFileSync(new URL('../../../examples/payloads/complete.form', import.meta.url));
      const outcome = engine.handle({ method: 'POST', url: 'https://x/hook', headers: [['content-type', 'application/x-www-form-urlencoded']], body },
        { now: Date.now() / 1000 });
      assert.equal(outcome.deliveries.length, 1, JSON.stringify(outcome.response));
      const items = q.items(outcome.deliveries);
      assert.ok(!items[0].sealed.includes('query-secret-4096') && !items[0].sealed.includes('header-secret-8192'), items[0].sealed);
      assert.equal((await store.commit({ key: null, items })).ok, true);
      q.committed(items);
      await waitFor(() => rx.requests.length === 1);
      assert.equal(rx.requests[0].url, '/events?key=query-secret-4096');
      assert.equal(rx.requests[0].headers['x-api-key'], 'header-secret-8192');
    } finally {
      await q.close();
      await rx.close();
    }
  });
});

test("items() keeps the delivery's call_sid, record_key and trigger beside it, empty when it has none", async () => {
  const engine = await createEngine({ destinations: { d: { url: 'http://127.0.0.1:9/x' } }, routes: [{ name: 'r', to: ['d'] }] });
  const q = createDeliveryQueue({ engine, store: memoryStore(), pollMs: 60_000 });
  try {
    const [named, bare] = q.items([
      { url: 'http://127.0.0.1:9/x', destination: 'd', route: 'r', idempotency_key: 'CA1:Call.Initiate:r',
        call_sid: 'CA1', record_key: 'AC1:CA1', trigger: 'event' },
      { url: 'http://127.0.0.1:9/x', destination: 'd', route: 'r', idempotency_key: 'k2' },
    ], 5);
    assert.deepEqual([named.call_sid, named.record_key, named.trigger, named.idempotency_key], ['CA1', 'AC1:CA1', 'event', 'CA1:Call.Initiate:r']);
    assert.deepEqual([bare.call_sid, bare.record_key, bare.trigger], ['', '', '']);
  } finally {
    await q.close();
  }
});

// A restart in the middle: sender A stops with deliveries still pending, sender B opens the same
// store again and finishes them; the receiver accepts each idempotency key exactly once.
async function restartScenario(openStore) {
  const keys = Array.from({ length: 20 }, (_, i) => `CA${i}:Call.Complete:every-event`);
  // Every key fails twice (500, then a reset), then succeeds.
  const rx = await receiver((_r, n) => (n === 1 ? { status: 500 } : n === 2 ? 'reset' : { status: 200 }));
  const eventsA = [];
  const storeA = await openStore();
  const a = createDeliveryQueue({ engine: fast, store: storeA, onEvent: (e) => eventsA.push(e) });
  await a.enqueue(keys.slice(0, 10).map((k) => delivery(rx.url, k)));
  await a.enqueue(keys.slice(10).map((k) => delivery(rx.url, k)));
  await waitFor(() => eventsA.filter((e) => e.type === 'delivered').length >= 3, 10_000, 'some deliveries');
  await a.close();
  const leftover = (await storeA.counts()).pending;
  await storeA.close();
  assert.ok(leftover > 0, 'the restart happens in the middle');
  const deliveredByA = eventsA.filter((e) => e.type === 'delivered').length;
  const sentBeforeRestart = rx.requests.length;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(rx.requests.length, sentBeforeRestart, 'a closed sender sends nothing');

  const eventsB = [];
  const storeB = await openStore();
  assert.equal((await storeB.counts()).pending, leftover, 'B finds exactly what A left');
  const b = createDeliveryQueue({ engine: fast, store: storeB, onEvent: (e) => eventsB.push(e) });
  const deadline = Date.now() + 15_000;
  while ((await storeB.counts()).pending > 0) {
    assert.ok(Date.now() < deadline, 'B finishes in time');
    await new Promise((r) => setTimeout(r, 20));
  }
  await b.close();
  for (const k of keys) assert.equal(rx.delivered(k), 1, `${k} accepted exactly once`);
  assert.equal(deliveredByA + eventsB.filter((e) => e.type === 'delivered').length, keys.length);
  assert.deepEqual(await storeB.deadLetters(), []);
  for (const k of keys) {
    const seen = rx.requests.filter((r) => r.key === k);
    assert.equal(seen.length, 3, `${k}: two failures and one success`);
    assert.ok(seen.every((r) => r.body === JSON.stringify({ key: k })));
  }
  await storeB.close();
  await rx.close();
}

describe('sqliteStore', () => {
  test('restart in the middle of deliveries: everything arrives exactly once', async () => {
    const dir = tmp();
    try {
      await restartScenario(() => sqliteStore({ dir: path.join(dir, 'data') }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('dead letters and retry state survive a restart; a redrive sends again', async () => {
    const dir = path.join(tmp(), 'data');
    try {
      const rx = await receiver((r) => (r.key === 'bad' ? { status: 400 } : r.key === 'slow' ? { status: 503, headers: { 'Retry-After': '60' } } : { status: 200 }));
      const storeA = await sqliteStore({ dir });
      const a = createDeliveryQueue({ engine: fast, store: storeA });
      await a.enqueue([delivery(rx.url, 'bad'), delivery(rx.url, 'good'), delivery(rx.url, 'slow')]);
      await waitFor(() => rx.requests.length === 3);
      await a.drain();
      await a.close();
      await storeA.close();

      const storeB = await sqliteStore({ dir });
      const b = createDeliveryQueue({ engine: fast, store: storeB });
      const dead = await storeB.deadLetters();
      assert.deepEqual(dead.map((d) => [d.idempotency_key, d.attempts, d.history.at(-1).status, d.code]), [['bad', 1, 400, 'not_retryable_status']]);
      assert.deepEqual((await storeB.counts()).pending, 1, 'the slow one waits for its retry time');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(rx.requests.filter((r) => r.key === 'slow').length, 1, 'not sent before its time');
      assert.equal(await b.redrive(), 1);
      await waitFor(() => rx.requests.filter((r) => r.key === 'bad').length === 2);
      await b.drain();
      assert.equal((await storeB.deadLetters()).length, 1, 'dead again');
      await b.close();
      await storeB.close();
      await rx.close();
    } finally {
      rmSync(path.dirname(dir), { recursive: true, force: true });
    }
  });

  test('a closed store makes enqueue reject', async () => {
    const dir = tmp();
    try {
      const store = await sqliteStore({ dir: path.join(dir, 'data') });
      const q = createDeliveryQueue({ engine: fast, store });
      await store.close();
      await assert.rejects(q.enqueue([delivery('http://127.0.0.1:9', 'x')]));
      await q.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('redisStore', { skip: redisSkip }, () => {
  const { client } = redisFixture(before, after);

  test('restart in the middle of deliveries: everything arrives exactly once', async () => {
    // Each sender gets its own client and consumer, as a restarted process would.
    let n = 0;
    await restartScenario(async () => redisStore(await client(), { prefix: 'restart:', consumer: `c${++n}`, claimIdleMs: 500, heartbeatMs: 150 }));
  });

  test('two instances share the outbox: each delivery is sent by one of them', async () => {
    const rx = await receiver(() => ({ status: 200, delayMs: 5 }));
    const events = [];
    const stores = [redisStore(await client(), { prefix: 'shared:', consumer: 'a' }), redisStore(await client(), { prefix: 'shared:', consumer: 'b' })];
    const queues = stores.map((store, i) => createDeliveryQueue({ engine: fast, store, onEvent: (e) => events.push([i, e.idempotency_key]) }));
    try {
      for (let i = 0; i < 40; i++) await queues[i % 2].enqueue([delivery(rx.url, `s${i}`)]);
      await waitFor(() => events.length === 40, 10_000, 'every delivery');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(rx.requests.length, 40, 'none sent twice');
      assert.equal(new Set(events.map(([, k]) => k)).size, 40);
    } finally {
      for (const q of queues) await q.close();
      for (const s of stores) await s.close();
      await rx.close();
    }
  });
});
