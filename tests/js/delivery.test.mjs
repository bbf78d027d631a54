// The delivery queue against a real HTTP receiver on 127.0.0.1: retries, backoff with jitter,
// Retry-After, dead letters, and restarts on a JSON-lines journal and on a Redis journal.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, readFileSync, appendFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  createDeliveryQueue, jsonlJournal, redisJournal, backoffDelay, parseRetryAfter, classifyStatus,
} from '../../bindings/js/delivery.js';
import { redisSkip, redisFixture } from './redis-server.mjs';

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
      const entry = { at: performance.now(), method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), key, n };
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

const gaps = (reqs) => reqs.slice(1).map((r, i) => r.at - reqs[i].at);

function tmp() {
  return mkdtempSync(path.join(tmpdir(), 'callhook-journal-'));
}

describe('policy functions', () => {
  test('classifyStatus', () => {
    for (const s of [200, 201, 202, 204, 299]) assert.equal(classifyStatus(s), 'delivered', String(s));
    for (const s of [400, 401, 403, 404, 410, 413, 422]) assert.equal(classifyStatus(s), 'dead', String(s));
    for (const s of [408, 409, 425, 429, 500, 502, 503, 504]) assert.equal(classifyStatus(s), 'retry', String(s));
    for (const s of [301, 302, 307, 308]) assert.equal(classifyStatus(s), 'dead', String(s));
  });

  test('backoffDelay: full jitter under an exponentially growing cap, capped by maxDelayMs', () => {
    const opts = { baseDelayMs: 20, maxDelayMs: 300 };
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((f) => backoffDelay(f, { ...opts, random: () => 0.999999 })), [19, 39, 79, 159, 299, 299]);
    assert.deepEqual([1, 2, 3].map((f) => backoffDelay(f, { ...opts, random: () => 0 })), [0, 0, 0]);
    for (let f = 1; f < 40; f++) {
      const d = backoffDelay(f, opts);
      assert.ok(d >= 0 && d < Math.min(300, 20 * 2 ** (f - 1)), `failure ${f}: ${d}`);
    }
    assert.equal(backoffDelay(2000, { baseDelayMs: 1000, maxDelayMs: 3_600_000, random: () => 0.5 }), 1_800_000);
  });

  test('parseRetryAfter: delta seconds and HTTP dates', () => {
    const now = Date.parse('Wed, 01 May 2024 03:15:42 GMT');
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
    assert.equal(parseRetryAfter('Wed, 01 May 2024 03:16:42 GMT', now), 60_000);
    assert.equal(parseRetryAfter('Wed, 01 May 2024 03:00:00 GMT', now), 0, 'a past date: now');
    assert.equal(parseRetryAfter('soon', now), null);
    assert.equal(parseRetryAfter('-5', now), null);
    assert.equal(parseRetryAfter(null, now), null);
  });
});

describe('sending', () => {
  test('a delivery is sent as given: method, URL, headers with the Idempotency-Key, body', async () => {
    const rx = await receiver(() => ({ status: 202 }));
    const events = [];
    const q = createDeliveryQueue({ baseDelayMs: 20, onEvent: (e) => events.push(e) });
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
    const q = createDeliveryQueue({ baseDelayMs: 20, maxDelayMs: 5000, onEvent: (e) => events.push(e) });
    try {
      await q.enqueue([delivery(rx.url, 'CA2:Call.Initiate:every-event')]);
      await waitFor(() => events.some((e) => e.type === 'delivered'));
      assert.equal(rx.requests.length, 5);
      assert.deepEqual(new Set(rx.requests.map((r) => r.headers['idempotency-key'])), new Set(['CA2:Call.Initiate:every-event']));
      assert.deepEqual(new Set(rx.requests.map((r) => r.body)), new Set(['{"key":"CA2:Call.Initiate:every-event"}']));
      assert.deepEqual(events.map((e) => e.type), ['retried', 'retried', 'retried', 'retried', 'delivered']);
      assert.deepEqual(events.map((e) => e.status), [500, null, 429, 503, 200]);
      assert.match(events[1].error, /fetch failed|socket|ECONNRESET|closed/i);
      // Retry-After: 1 was honoured: the 4th request came at least 1 s after the 3rd.
      const g = gaps(rx.requests);
      assert.equal(events[2].delayMs, 1000);
      assert.equal(events[2].retryAfter, true);
      assert.ok(g[2] >= 990, `waited ${g[2]} ms after Retry-After: 1`);
      // The others used the backoff: failures 1, 2, 4 -> caps 20, 40, 160 ms.
      assert.ok(events[0].delayMs < 20 && events[1].delayMs < 40 && events[3].delayMs < 160);
    } finally {
      await q.close();
      await rx.close();
    }
  });

  test('backoff grows exponentially (jitter at its maximum) and stays within full-jitter bounds', async () => {
    const rx = await receiver((r, n) => (r.key === 'grow' ? (n <= 5 ? { status: 502 } : { status: 200 }) : n <= 5 ? { status: 500 } : { status: 200 }));
    const eventsMax = [];
    const eventsRandom = [];
    const qMax = createDeliveryQueue({ baseDelayMs: 20, random: () => 0.999999, onEvent: (e) => eventsMax.push(e) });
    const qRandom = createDeliveryQueue({ baseDelayMs: 20, onEvent: (e) => eventsRandom.push(e) });
    try {
      await qMax.enqueue([delivery(rx.url, 'grow')]);
      await qRandom.enqueue([delivery(rx.url, 'jitter')]);
      await waitFor(() => eventsMax.some((e) => e.type === 'delivered') && eventsRandom.some((e) => e.type === 'delivered'));
      const caps = [20, 40, 80, 160, 320];
      assert.deepEqual(eventsMax.filter((e) => e.type === 'retried').map((e) => e.delayMs), caps.map((c) => c - 1));
      const grow = gaps(rx.requests.filter((r) => r.key === 'grow'));
      grow.forEach((g, i) => {
        assert.ok(g >= caps[i] - 2, `gap ${i} = ${g} ms, at least ${caps[i] - 1}`);
        assert.ok(g < caps[i] + 150, `gap ${i} = ${g} ms, not far beyond ${caps[i]}`);
      });
      for (let i = 1; i < grow.length; i++) assert.ok(grow[i] > grow[i - 1], `gaps grow: ${grow.join(', ')}`);
      const jittered = eventsRandom.filter((e) => e.type === 'retried');
      jittered.forEach((e, i) => assert.ok(e.delayMs >= 0 && e.delayMs < caps[i], `jitter ${i}: ${e.delayMs} < ${caps[i]}`));
      gaps(rx.requests.filter((r) => r.key === 'jitter')).forEach((g, i) => assert.ok(g < caps[i] + 150, `jittered gap ${i}: ${g}`));
    } finally {
      await qMax.close();
      await qRandom.close();
      await rx.close();
    }
  });

  test('Retry-After is capped by maxDelayMs', async () => {
    const rx = await receiver((_r, n) => (n === 1 ? { status: 503, headers: { 'Retry-After': '3600' } } : { status: 200 }));
    const events = [];
    const q = createDeliveryQueue({ baseDelayMs: 20, maxDelayMs: 100, onEvent: (e) => events.push(e) });
    try {
      await q.enqueue([delivery(rx.url, 'capped')]);
      await waitFor(() => events.some((e) => e.type === 'delivered'), 3000);
      assert.equal(events[0].delayMs, 100);
      const [g] = gaps(rx.requests);
      assert.ok(g >= 95 && g < 600, `gap ${g}`);
    } finally {
      await q.close();
      await rx.close();
    }
  });

  test('dead letter after maxAttempts', async () => {
    const rx = await receiver(() => ({ status: 500 }));
    const events = [];
    const q = createDeliveryQueue({ baseDelayMs: 10, maxAttempts: 4, onEvent: (e) => events.push(e) });
    try {
      await q.enqueue([delivery(rx.url, 'doomed')]);
      await waitFor(() => events.some((e) => e.type === 'dead'));
      assert.equal(rx.requests.length, 4);
      assert.deepEqual(events.map((e) => e.type), ['retried', 'retried', 'retried', 'dead']);
      const [dl] = q.deadLetters();
      assert.equal(dl.attempts, 4);
      assert.equal(dl.lastStatus, 500);
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
    const q = createDeliveryQueue({ baseDelayMs: 10, onEvent: (e) => events.push(e) });
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
    const q = createDeliveryQueue({ baseDelayMs: 10, timeoutMs: 100, onEvent: (e) => events.push(e) });
    try {
      await q.enqueue([delivery(rx.url, 'slow')]);
      await waitFor(() => events.some((e) => e.type === 'delivered'));
      assert.equal(events[0].type, 'retried');
      assert.match(events[0].error, /timeout|abort/i);
    } finally {
      await q.close();
      await rx.close();
    }
  });

  test('drain resolves when nothing is in flight or due now, even with a retry scheduled later', async () => {
    const rx = await receiver((r, n) => (r.key === 'later' && n === 1 ? { status: 503, headers: { 'Retry-After': '60' } } : { status: 200 }));
    const q = createDeliveryQueue({ baseDelayMs: 10 });
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
    const q = createDeliveryQueue({ onEvent: (e) => events.push(e) });
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
    const q = createDeliveryQueue({ fetch, concurrency: 3 });
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
  const a = createDeliveryQueue({ baseDelayMs: 20, maxDelayMs: 200, journal: await openJournal(), onEvent: (e) => eventsA.push(e) });
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
  const b = createDeliveryQueue({ baseDelayMs: 20, maxDelayMs: 200, journal: await openJournal(), onEvent: (e) => eventsB.push(e) });
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
    const q = createDeliveryQueue({ journal: jsonlJournal(file), fetch: offline, baseDelayMs: 60_000 });
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
      const a = createDeliveryQueue({ baseDelayMs: 10, journal: jsonlJournal(file) });
      await a.enqueue([delivery(rx.url, 'bad'), delivery(rx.url, 'good'), delivery(rx.url, 'slow')]);
      await waitFor(() => rx.requests.length === 3);
      await a.drain();
      await a.close();
      const before = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).type);
      assert.deepEqual(before.sort(), ['attempt-failed', 'dead', 'delivered', 'enqueued', 'enqueued', 'enqueued']);
      appendFileSync(file, '{"type":"delivered","id":"tor'); // a crash mid-write

      const j = jsonlJournal(file);
      const b = createDeliveryQueue({ journal: j });
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
      const q = createDeliveryQueue({ journal: jsonlJournal(path.join(dir, 'missing-dir', 'j.jsonl')) });
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
    const a = createDeliveryQueue({ journal: redisJournal(await client(), { prefix: 'dead:' }) });
    await a.enqueue([delivery(rx.url, 'gone')]);
    await waitFor(() => a.deadLetters().length === 1);
    await a.close();
    const b = createDeliveryQueue({ journal: redisJournal(await client(), { prefix: 'dead:' }) });
    await b.ready;
    assert.deepEqual(b.deadLetters().map((d) => [d.delivery.idempotency_key, d.lastStatus]), [['gone', 410]]);
    assert.deepEqual(b.pending(), []);
    await b.close();
    await rx.close();
  });

  test('one queue per journal: a second queue on a held journal is refused', async () => {
    const a = createDeliveryQueue({ journal: redisJournal(await client(), { prefix: 'lease:', leaseMs: 5000 }) });
    await a.ready;
    const b = createDeliveryQueue({ journal: redisJournal(await client(), { prefix: 'lease:' }) });
    await assert.rejects(b.ready, /in use by another queue/);
    await assert.rejects(b.enqueue([delivery('http://127.0.0.1:9', 'x')]), /in use/);
    await b.close();
    await a.close();
    const c = createDeliveryQueue({ journal: redisJournal(await client(), { prefix: 'lease:' }) });
    await c.ready;
    await c.close();
  });
});
