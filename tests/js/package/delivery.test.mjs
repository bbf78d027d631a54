// The delivery queue against a real HTTP receiver on 127.0.0.1: it sends, asks the engine after
// every attempt (the engine's policy comes from the config's `delivery` settings), waits what
// the engine says, keeps dead letters, and restarts on a JSON-lines journal and a Redis journal.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, readFileSync, appendFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDeliveryQueue, jsonlJournal, redisJournal } from '../../../bindings/js/delivery.js';
import { createEngine } from '../../../bindings/js/index.js';
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
  return mkdtempSync(path.join(tmpdir(), 'callhook-journal-'));
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
      assert.deepEqual(q.pending(), []);
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
      const [dl] = q.deadLetters();
      assert.equal(dl.attempts, 4);
      assert.equal(dl.lastStatus, 500);
      assert.equal(dl.deadCode, 'attempts_exhausted');
      assert.match(dl.lastError, /gave up after 4 attempts; the last: HTTP 500/);
      assert.equal(dl.delivery.idempotency_key, 'doomed');
      assert.ok(dl.deadAt > 0);
      assert.deepEqual(q.pending(), []);
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
      const final = Object.fromEntries(events.filter((e) => e.type !== 'retried').map((e) => [e.delivery.idempotency_key, e.type]));
      assert.deepEqual(final, { k400: 'dead', k404: 'dead', k422: 'dead', k301: 'dead', k408: 'delivered', k409: 'delivered', k425: 'delivered', k429: 'delivered' });
      for (const k of ['k400', 'k404', 'k422', 'k301']) assert.equal(rx.requests.filter((r) => r.key === k).length, 1, k);
      assert.equal(q.deadLetters().length, 4);
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
      const [p] = q.pending();
      assert.equal(p.delivery.idempotency_key, 'later');
      assert.equal(p.attempts, 1);
      assert.ok(p.nextAt > Date.now() + 50_000);
    } finally {
      await q.close();
      await rx.close();
    }
  });

  test('close finishes in-flight sends; a closed queue refuses new deliveries', async () => {
    const rx = await receiver(() => ({ status: 200, delayMs: 150 }));
    const events = [];
    const q = createDeliveryQueue({ engine: fast, onEvent: (e) => events.push(e) });
    await q.enqueue([delivery(rx.url, 'inflight')]);
    await waitFor(() => rx.requests.length === 1);
    await q.close();
    assert.deepEqual(events.map((e) => e.type), ['delivered']);
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
});

// A restart in the middle: queue A is closed with deliveries still pending, queue B opens on
// the same journal and finishes them; the receiver accepts each idempotency key exactly once.
async function restartScenario(openJournal) {
  const keys = Array.from({ length: 20 }, (_, i) => `CA${i}:Call.Complete:every-event`);
  // Every key fails twice (500, then a reset), then succeeds.
  const rx = await receiver((_r, n) => (n === 1 ? { status: 500 } : n === 2 ? 'reset' : { status: 200 }));
  const eventsA = [];
  const a = createDeliveryQueue({ engine: fast, journal: await openJournal(), onEvent: (e) => eventsA.push(e) });
  await a.enqueue(keys.slice(0, 10).map((k) => delivery(rx.url, k)));
  await a.enqueue(keys.slice(10).map((k) => delivery(rx.url, k)));
  await waitFor(() => eventsA.filter((e) => e.type === 'delivered').length >= 3, 10_000, 'some deliveries');
  await a.close();
  const leftover = a.pending();
  assert.ok(leftover.length > 0, 'the restart happens in the middle');
  const deliveredByA = eventsA.filter((e) => e.type === 'delivered').length;
  const sentBeforeRestart = rx.requests.length;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(rx.requests.length, sentBeforeRestart, 'a closed queue sends nothing');

  const eventsB = [];
  const b = createDeliveryQueue({ engine: fast, journal: await openJournal(), onEvent: (e) => eventsB.push(e) });
  await b.ready;
  assert.equal(b.pending().length, leftover.length, 'B resumes exactly what A left');
  await waitFor(() => b.pending().length === 0, 15_000, 'B to finish');
  await b.close();
  for (const k of keys) assert.equal(rx.delivered(k), 1, `${k} accepted exactly once`);
  assert.equal(deliveredByA + eventsB.filter((e) => e.type === 'delivered').length, keys.length);
  assert.deepEqual(b.deadLetters(), []);
  for (const k of keys) {
    const seen = rx.requests.filter((r) => r.key === k);
    assert.equal(seen.length, 3, `${k}: two failures and one success`);
    assert.ok(seen.every((r) => r.body === JSON.stringify({ key: k })));
  }
  await rx.close();
}

describe('jsonlJournal', () => {
  test('restart in the middle of deliveries: everything arrives exactly once', async () => {
    const dir = tmp();
    try {
      const file = path.join(dir, 'deliveries.jsonl');
      await restartScenario(async () => jsonlJournal(file));
      // After a clean finish, compaction on open leaves an empty journal.
      const j = jsonlJournal(file);
      assert.deepEqual(await j.load(), { pending: [], dead: [] });
      await j.close();
      assert.equal(readFileSync(file, 'utf8'), '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('enqueue resolves with the delivery already in the file', async () => {
    const dir = tmp();
    const file = path.join(dir, 'j.jsonl');
    const offline = async () => {
      throw new Error('offline');
    };
    const q = createDeliveryQueue({ engine: await engineWith({ schedule_seconds: [60] }), journal: jsonlJournal(file), fetch: offline });
    try {
      await q.enqueue([delivery('http://127.0.0.1:9', 'persisted')]);
      const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(lines[0].type, 'enqueued');
      assert.equal(lines[0].entry.delivery.idempotency_key, 'persisted');
      await q.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('dead letters and retry state survive a restart; compaction keeps only live state; a torn line is skipped', async () => {
    const dir = tmp();
    const file = path.join(dir, 'j.jsonl');
    try {
      const rx = await receiver((r) => (r.key === 'bad' ? { status: 400 } : r.key === 'slow' ? { status: 503, headers: { 'Retry-After': '60' } } : { status: 200 }));
      const a = createDeliveryQueue({ engine: fast, journal: jsonlJournal(file) });
      await a.enqueue([delivery(rx.url, 'bad'), delivery(rx.url, 'good'), delivery(rx.url, 'slow')]);
      await waitFor(() => rx.requests.length === 3);
      await a.drain();
      await a.close();
      const before = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).type);
      assert.deepEqual(before.sort(), ['attempt-failed', 'dead', 'delivered', 'enqueued', 'enqueued', 'enqueued']);
      appendFileSync(file, '{"type":"delivered","id":"tor'); // a crash mid-write

      const j = jsonlJournal(file);
      const b = createDeliveryQueue({ engine: fast, journal: j });
      await b.ready;
      assert.deepEqual(b.deadLetters().map((d) => [d.delivery.idempotency_key, d.attempts, d.lastStatus]), [['bad', 1, 400]]);
      const [p] = b.pending();
      assert.equal(p.delivery.idempotency_key, 'slow');
      assert.equal(p.attempts, 1);
      assert.ok(p.nextAt > Date.now() + 50_000, 'the retry time is kept');
      const after = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(after.map((l) => l.type), ['enqueued', 'dead']);
      // Redrive the dead letter: it goes out again (and dies again).
      assert.equal(await b.redrive(), 1);
      await waitFor(() => rx.requests.filter((r) => r.key === 'bad').length === 2);
      await waitFor(() => b.deadLetters().length === 1);
      await b.close();
      await rx.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a journal that cannot be written makes enqueue reject', async () => {
    const dir = tmp();
    try {
      const q = createDeliveryQueue({ engine: fast, journal: jsonlJournal(path.join(dir, 'missing-dir', 'j.jsonl')) });
      await assert.rejects(q.enqueue([delivery('http://127.0.0.1:9', 'x')]), /ENOENT/);
      await q.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('redisJournal', { skip: redisSkip }, () => {
  const { client } = redisFixture(before, after);

  test('restart in the middle of deliveries: everything arrives exactly once', async () => {
    // Each queue gets its own client, as a restarted process would.
    await restartScenario(async () => redisJournal(await client(), { prefix: 'restart:' }));
    const c = await client();
    assert.equal(await c.sendCommand(['HLEN', 'restart:pending']), 0);
    assert.equal(await c.sendCommand(['EXISTS', 'restart:lease']), 0, 'the lease is released on close');
  });

  test('dead letters persist in Redis across a restart', async () => {
    const rx = await receiver(() => ({ status: 410 }));
    const a = createDeliveryQueue({ engine: fast, journal: redisJournal(await client(), { prefix: 'dead:' }) });
    await a.enqueue([delivery(rx.url, 'gone')]);
    await waitFor(() => a.deadLetters().length === 1);
    await a.close();
    const b = createDeliveryQueue({ engine: fast, journal: redisJournal(await client(), { prefix: 'dead:' }) });
    await b.ready;
    assert.deepEqual(b.deadLetters().map((d) => [d.delivery.idempotency_key, d.lastStatus]), [['gone', 410]]);
    assert.deepEqual(b.pending(), []);
    await b.close();
    await rx.close();
  });

  test('one queue per journal: a second queue on a held journal is refused', async () => {
    const a = createDeliveryQueue({ engine: fast, journal: redisJournal(await client(), { prefix: 'lease:', leaseMs: 5000 }) });
    await a.ready;
    const b = createDeliveryQueue({ engine: fast, journal: redisJournal(await client(), { prefix: 'lease:' }) });
    await assert.rejects(b.ready, /in use by another queue/);
    await assert.rejects(b.enqueue([delivery('http://127.0.0.1:9', 'x')]), /in use/);
    await b.close();
    await a.close();
    const c = createDeliveryQueue({ engine: fast, journal: redisJournal(await client(), { prefix: 'lease:' }) });
    await c.ready;
    await c.close();
  });
});
