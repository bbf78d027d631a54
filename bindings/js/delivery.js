// The delivery queue: sends the engine's deliveries, retries what can succeed later, keeps what
// cannot as dead letters, and never drops anything it accepted: every accepted delivery is in
// the journal before enqueue() resolves, and a new queue on the same journal resumes it.
//
// Delivery is at least once. A send whose outcome was not journaled before a crash is sent
// again after the restart; every attempt carries the same Idempotency-Key header, so a
// receiver deduplicates. A graceful close() finishes in-flight sends and journals them, so a
// restart after close() sends nothing twice.

import { redisCommand } from './stores.js';

// How much of an answer the core may read (Google Ads puts rejected rows inside a 200).
const MAX_ANSWER_BYTES = 64 * 1024;
// A journal write that failed after an attempt is tried again this soon; the delivery's
// schedule is the core's, this is only the local disk or Redis catching up.
const JOURNAL_RETRY_MS = 1000;

// Up to `limit` bytes of an answer's body as text; the rest is cancelled, never buffered.
async function readSome(response, limit) {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  const all = new Uint8Array(Math.min(size, limit));
  let at = 0;
  for (const c of chunks) {
    const part = c.subarray(0, Math.min(c.byteLength, all.byteLength - at));
    all.set(part, at);
    at += part.byteLength;
    if (at >= all.byteLength) break;
  }
  return new TextDecoder().decode(all);
}

/**
 * Sends one attempt of a delivery (an engine's delivery: method, url, headers, body,
 * timeout_ms) and reports what came back in the core's terms, for engine.attemptResult:
 * {status, headers, body} (at most 64 KiB of it), {redirect: true} (a redirect whose status the
 * runtime hides), {timeout: true} or {error}. Redirects are never followed.
 */
export async function sendAttempt(delivery, fetch = globalThis.fetch) {
  const method = delivery.method || 'POST';
  const init = { method, headers: delivery.headers, redirect: 'manual' };
  if (delivery.body !== null && delivery.body !== undefined && method !== 'GET' && method !== 'HEAD') {
    init.body = delivery.body;
  }
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), delivery.timeout_ms > 0 ? delivery.timeout_ms : 30_000);
  init.signal = timeout.signal;
  try {
    const response = await fetch(delivery.url, init);
    // A browser hides a redirect's status (an opaque redirect, status 0).
    if (response.type === 'opaqueredirect') return { redirect: true };
    const body = await readSome(response, MAX_ANSWER_BYTES);
    if (!(response.status >= 100 && response.status <= 999)) {
      return { error: `the runtime gave no usable HTTP status (${response.status})` };
    }
    return { status: response.status, headers: [...response.headers], body };
  } catch (err) {
    if (timeout.signal.aborted) return { timeout: true };
    return { error: err?.cause?.code ? `${err.message} (${err.cause.code})` : String(err?.message ?? err) };
  } finally {
    clearTimeout(timer);
  }
}

function snapshot(entry) {
  return {
    id: entry.id,
    delivery: entry.delivery,
    attempts: entry.attempts,
    enqueuedAt: entry.enqueuedAt,
    nextAt: entry.nextAt,
    lastStatus: entry.lastStatus ?? null,
    lastError: entry.lastError ?? null,
    ...(entry.deadAt !== undefined ? { deadAt: entry.deadAt, deadCode: entry.deadCode ?? null } : {}),
  };
}

function normalizeDelivery(d) {
  if (!d || typeof d !== 'object') throw new TypeError('a delivery must be an object');
  if (typeof d.url !== 'string' || d.url === '') throw new TypeError('a delivery needs a url');
  const headers = Array.isArray(d.headers)
    ? d.headers.map(([n, v]) => [String(n), String(v)])
    : Object.entries(d.headers ?? {}).map(([n, v]) => [n, String(v)]);
  // The wasm binding spells it idempotencyKey, the CLI's JSON idempotency_key: take either.
  const key = d.idempotency_key ?? d.idempotencyKey ?? null;
  if (key !== null && !headers.some(([n]) => n.toLowerCase() === 'idempotency-key')) {
    headers.push(['Idempotency-Key', String(key)]);
  }
  return {
    route: d.route ?? null,
    destination: d.destination ?? null,
    method: (d.method ?? 'POST').toUpperCase(),
    url: d.url,
    headers,
    body: d.body ?? null,
    idempotency_key: key,
    // Old journal entries have no limit of their own: the core's default.
    timeout_ms: Number.isFinite(d.timeout_ms) && d.timeout_ms > 0 ? d.timeout_ms : 30_000,
  };
}

// A binary min-heap of entries by nextAt: the entries waiting for their next attempt.
class Schedule {
  constructor() {
    this.items = [];
  }
  get size() {
    return this.items.length;
  }
  peek() {
    return this.items[0];
  }
  push(entry) {
    const a = this.items;
    a.push(entry);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p].nextAt <= a[i].nextAt) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop() {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l].nextAt < a[m].nextAt) m = l;
        if (r < a.length && a[r].nextAt < a[m].nextAt) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

/** A journal that keeps nothing: the queue's default, for tests and throwaway processes. */
export function memoryJournal() {
  return {
    durable: false,
    async load() {
      return { pending: [], dead: [] };
    },
    async append() {},
    async close() {},
  };
}

/**
 * Creates a delivery queue. Options:
 * - engine: the engine whose config the deliveries came from; it decides after every attempt
 *   whether the delivery is delivered, retried (and when) or dead (`engine.attemptResult`), from
 *   the destination's `delivery` settings. The queue holds no retry policy of its own.
 * - fetch: the Fetch API function (globalThis.fetch)
 * - concurrency (8): sends in flight at once
 * - journal: where accepted deliveries persist (jsonlJournal, redisJournal; default memoryJournal)
 * - onEvent(e): {type: "delivered"|"retried"|"dead", id, delivery, attempts, status, error,
 *   code, delayMs, log}: `code`, `error` (the reason) and `log` (a JSON log line) are the core's
 * - random: the jitter source (Math.random), for tests
 * - now: the clock in epoch milliseconds (Date.now), for tests
 */
export function createDeliveryQueue({
  engine,
  fetch = globalThis.fetch,
  concurrency = 8,
  journal = memoryJournal(),
  onEvent,
  random = Math.random,
  now: clock = Date.now,
} = {}) {
  if (typeof fetch !== 'function') throw new TypeError('no fetch function available');
  if (!engine || typeof engine.attemptResult !== 'function') {
    throw new TypeError('createDeliveryQueue needs the engine that decides each attempt (engine.attemptResult)');
  }

  /** @type {Map<string, object>} pending entries by id (waiting or in flight) */
  const pending = new Map();
  /** @type {Map<string, object>} dead letters by id */
  const dead = new Map();
  const schedule = new Schedule();
  const inflight = new Set(); // promises of running sends
  let inflightCount = 0;
  let timer = null;
  let timerAt = Infinity;
  let closed = false;
  let closing = null;
  let drainWaiters = [];

  const emit = (event) => {
    if (!onEvent) return;
    try {
      onEvent(event);
    } catch {
      // Metrics must never break delivery.
    }
  };

  const ready = (async () => {
    const state = await journal.load();
    for (const e of state.dead ?? []) dead.set(e.id, { ...e });
    for (const e of state.pending ?? []) {
      if (dead.has(e.id)) continue;
      const entry = { ...e, nextAt: Number.isFinite(e.nextAt) ? e.nextAt : clock() };
      pending.set(entry.id, entry);
      schedule.push(entry);
    }
    pump();
  })();
  // A failed load surfaces through enqueue/drain/close; don't also crash the process here.
  ready.catch(() => {});

  function checkDrain() {
    if (drainWaiters.length === 0) return;
    if (inflightCount > 0) return;
    if (schedule.size > 0 && schedule.peek().nextAt <= clock() && !closed) return;
    const waiters = drainWaiters;
    drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  function armTimer() {
    if (closed || schedule.size === 0 || inflightCount >= concurrency) {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      timerAt = Infinity;
      return;
    }
    const at = schedule.peek().nextAt;
    if (timer !== null && timerAt === at) return;
    if (timer !== null) clearTimeout(timer);
    const delay = Math.min(Math.max(0, at - clock()), 2 ** 31 - 1);
    timerAt = at;
    timer = setTimeout(() => {
      timer = null;
      timerAt = Infinity;
      pump();
    }, delay);
    // Waiting deliveries are journaled; they must not keep a process alive on their own.
    if (typeof timer === 'object' && timer && typeof timer.unref === 'function') timer.unref();
  }

  function pump() {
    if (closed) return;
    const now = clock();
    while (inflightCount < concurrency && schedule.size > 0 && schedule.peek().nextAt <= now) {
      const entry = schedule.pop();
      if (!pending.has(entry.id)) continue;
      start(entry);
    }
    armTimer();
    checkDrain();
  }

  function start(entry) {
    inflightCount += 1;
    entry.inflight = true;
    const p = attempt(entry)
      .catch((err) => {
        // Only a journal failure lands here. The entry stays pending in memory and is retried;
        // the journal still holds its last persisted state.
        entry.lastError = `journal: ${err?.message ?? err}`;
        if (!closed && pending.has(entry.id)) {
          entry.nextAt = clock() + JOURNAL_RETRY_MS;
          schedule.push(entry);
        }
      })
      .finally(() => {
        entry.inflight = false;
        inflightCount -= 1;
        inflight.delete(p);
        pump();
        checkDrain();
      });
    inflight.add(p);
  }

  async function attempt(entry) {
    entry.attempts += 1;
    const answer = await sendAttempt(entry.delivery, fetch);
    const d = entry.delivery;
    const v = engine.attemptResult({
      route: d.route ?? '', destination: d.destination ?? '', idempotency_key: d.idempotency_key ?? '',
      attempt: entry.attempts, now_ms: clock(), random: random(), answer,
    });
    const status = answer.status ?? null;
    entry.lastStatus = status;
    entry.lastError = v.verdict === 'delivered' ? null : v.reason;
    const base = { id: entry.id, delivery: d, attempts: entry.attempts, status, error: entry.lastError, code: v.code, log: v.log };

    if (v.verdict === 'delivered') {
      await journal.append([{ type: 'delivered', entry: snapshot(entry) }], { sync: false });
      pending.delete(entry.id);
      emit({ type: 'delivered', ...base });
      return;
    }
    if (v.verdict === 'dead') {
      entry.deadAt = clock();
      entry.deadCode = v.code;
      // Synced: a dead letter is kept for an operator, and its state must not regress.
      await journal.append([{ type: 'dead', entry: snapshot(entry) }], { sync: true });
      pending.delete(entry.id);
      const { inflight: _ignored, ...rest } = entry;
      dead.set(entry.id, rest);
      emit({ type: 'dead', ...base });
      return;
    }
    entry.nextAt = v.retry_at_ms;
    await journal.append([{ type: 'attempt-failed', entry: snapshot(entry) }], { sync: false });
    // Scheduled even when closing: pending() still lists it, and the journal has it for a restart.
    schedule.push(entry);
    emit({ type: 'retried', ...base, delayMs: v.delay_ms, retryAfter: v.retry_after });
  }

  const queue = {
    /** Resolves once the journal has been read and the queue runs. */
    ready,

    /** Accepts deliveries; resolves once they are persisted in the journal. */
    async enqueue(deliveries) {
      if (closed) throw new Error('delivery queue is closed');
      await ready;
      if (closed) throw new Error('delivery queue is closed');
      const list = Array.isArray(deliveries) ? deliveries : [deliveries];
      if (list.length === 0) return;
      const now = clock();
      const entries = list.map((d) => ({
        id: globalThis.crypto.randomUUID(),
        delivery: normalizeDelivery(d),
        attempts: 0,
        enqueuedAt: now,
        nextAt: now,
        lastStatus: null,
        lastError: null,
      }));
      await journal.append(
        entries.map((entry) => ({ type: 'enqueued', entry: snapshot(entry) })),
        { sync: true },
      );
      for (const entry of entries) {
        pending.set(entry.id, entry);
        schedule.push(entry);
      }
      if (!closed) pump();
    },

    /** Deliveries not yet delivered nor dead, with their attempts and next attempt time (ms). */
    pending() {
      return [...pending.values()].map((e) => ({ ...snapshot(e), inflight: Boolean(e.inflight) }));
    },

    /** Deliveries given up on: a final 4xx/3xx, or maxAttempts failures. Kept across restarts. */
    deadLetters() {
      return [...dead.values()].map((e) => ({ ...snapshot(e), deadAt: e.deadAt }));
    },

    /** Moves dead letters (all, or the given ids) back to the queue with their attempts reset. */
    async redrive(ids) {
      if (closed) throw new Error('delivery queue is closed');
      await ready;
      const chosen = (ids ?? [...dead.keys()]).filter((id) => dead.has(id));
      if (chosen.length === 0) return 0;
      const now = clock();
      const entries = chosen.map((id) => {
        const d = dead.get(id);
        return { id, delivery: d.delivery, attempts: 0, enqueuedAt: d.enqueuedAt ?? now, nextAt: now, lastStatus: null, lastError: null };
      });
      await journal.append(entries.map((entry) => ({ type: 'enqueued', entry: snapshot(entry) })), { sync: true });
      for (const entry of entries) {
        dead.delete(entry.id);
        pending.set(entry.id, entry);
        schedule.push(entry);
      }
      pump();
      return entries.length;
    },

    /** Resolves when nothing is in flight and nothing is due now (later retries may wait). */
    async drain() {
      await ready;
      return new Promise((resolve) => {
        drainWaiters.push(resolve);
        checkDrain();
      });
    },

    /** Stops the timers, waits for in-flight sends and their journal writes, closes the journal. */
    close() {
      if (closing) return closing;
      closed = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      closing = (async () => {
        try {
          await ready;
        } catch {
          // nothing was loaded: nothing to finish
        }
        while (inflight.size > 0) await Promise.allSettled([...inflight]);
        checkDrain();
        await journal.close();
      })();
      return closing;
    },
  };
  return queue;
}

// ---------------------------------------------------------------------------------------------
// Journals. A journal is {load() -> {pending, dead}, append(records, {sync}), close()} where a
// record is {type: "enqueued"|"attempt-failed"|"delivered"|"dead", entry: snapshot}.

function foldRecord(state, rec) {
  const { pending, dead } = state;
  switch (rec.type) {
    case 'enqueued':
      dead.delete(rec.id);
      pending.set(rec.id, { ...rec.entry, id: rec.id });
      break;
    case 'attempt-failed': {
      const e = pending.get(rec.id);
      if (e) Object.assign(e, { attempts: rec.attempts, nextAt: rec.nextAt, lastStatus: rec.status ?? null, lastError: rec.error ?? null });
      break;
    }
    case 'delivered':
      pending.delete(rec.id);
      break;
    case 'dead':
      pending.delete(rec.id);
      dead.set(rec.id, { ...rec.entry, id: rec.id });
      break;
    default:
      break;
  }
}

function journalLine(rec) {
  const { type, entry } = rec;
  switch (type) {
    case 'enqueued':
    case 'dead':
      return JSON.stringify({ type, id: entry.id, entry });
    case 'attempt-failed':
      return JSON.stringify({ type, id: entry.id, attempts: entry.attempts, nextAt: entry.nextAt, status: entry.lastStatus, error: entry.lastError });
    case 'delivered':
      return JSON.stringify({ type, id: entry.id, at: Date.now() });
    default:
      throw new TypeError(`unknown journal record type ${type}`);
  }
}

/**
 * An append-only JSON-lines journal in one file (Node only). Opening it folds the lines into
 * the current state and rewrites the file with just that (pending and dead entries), through a
 * temporary file, fsync and rename. Appends that must be durable (enqueue, dead) are fsynced
 * before they resolve; concurrent appends share one write and one fsync. A torn last line from
 * a crash is skipped. One queue per file at a time.
 */
export function jsonlJournal(path) {
  let fh = null;
  let buffer = [];
  let waiters = [];
  let wantSync = false;
  let flushing = false;
  let closed = false;
  let fs = null;

  async function flush() {
    if (flushing) return;
    flushing = true;
    try {
      while (buffer.length > 0) {
        const lines = buffer;
        const batch = waiters;
        const sync = wantSync;
        buffer = [];
        waiters = [];
        wantSync = false;
        try {
          await fh.write(lines.join(''));
          if (sync) await fh.datasync();
          for (const w of batch) w.resolve();
        } catch (err) {
          for (const w of batch) w.reject(err);
        }
      }
    } finally {
      flushing = false;
    }
  }

  return {
    durable: true,
    path,
    async load() {
      // A computed specifier keeps bundlers for Workers and browsers from resolving node:fs.
      const fsModule = ['node', 'fs/promises'].join(':');
      fs = await import(/* webpackIgnore: true */ /* @vite-ignore */ fsModule);
      const slash = path.lastIndexOf('/');
      const dir = slash < 0 ? '.' : slash === 0 ? '/' : path.slice(0, slash);
      const base = path.slice(slash + 1);
      let text = '';
      try {
        text = await fs.readFile(path, 'utf8');
      } catch (err) {
        if (err.code !== 'ENOENT') throw err;
      }
      const state = { pending: new Map(), dead: new Map() };
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue;
        let rec;
        try {
          rec = JSON.parse(line);
        } catch {
          continue; // a torn write at the end of the file
        }
        if (rec && typeof rec === 'object' && typeof rec.id === 'string') foldRecord(state, rec);
      }
      const compacted = [
        ...[...state.pending.values()].map((entry) => journalLine({ type: 'enqueued', entry })),
        ...[...state.dead.values()].map((entry) => journalLine({ type: 'dead', entry })),
      ];
      const tmp = `${dir}/.${base}.${process.pid}.tmp`;
      const out = await fs.open(tmp, 'w');
      try {
        await out.write(compacted.map((l) => `${l}\n`).join(''));
        await out.sync();
      } finally {
        await out.close();
      }
      await fs.rename(tmp, path);
      try {
        const dirHandle = await fs.open(dir, 'r');
        try {
          await dirHandle.sync();
        } finally {
          await dirHandle.close();
        }
      } catch {
        // Some filesystems refuse fsync on a directory; the rename still happened.
      }
      fh = await fs.open(path, 'a');
      return { pending: [...state.pending.values()], dead: [...state.dead.values()] };
    },
    append(records, { sync = false } = {}) {
      if (closed || fh === null) return Promise.reject(new Error('journal is not open'));
      return new Promise((resolve, reject) => {
        for (const rec of records) buffer.push(`${journalLine(rec)}\n`);
        waiters.push({ resolve, reject });
        if (sync) wantSync = true;
        flush();
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      while (flushing || buffer.length > 0) {
        await new Promise((r) => setTimeout(r, 1));
        if (!flushing && buffer.length > 0) flush();
      }
      if (fh !== null) {
        await fh.sync().catch(() => {});
        await fh.close();
        fh = null;
      }
    },
  };
}

// KEYS[1] pending hash, KEYS[2] dead hash, KEYS[3] lease. ARGV[1] lease token, ARGV[2] lease ms,
// then (op, id, json) triples. Refuses to write once another queue holds the lease.
const JOURNAL_APPLY_SCRIPT = `
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[1] then return redis.error_reply('CALLHOOK_LEASE journal is held by another queue') end
if not holder then redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2]) end
for i = 3, #ARGV, 3 do
  local op, id, js = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if op == 'enqueued' then
    redis.call('HSET', KEYS[1], id, js)
    redis.call('HDEL', KEYS[2], id)
  elseif op == 'attempt-failed' then
    if redis.call('HEXISTS', KEYS[1], id) == 1 then redis.call('HSET', KEYS[1], id, js) end
  elseif op == 'delivered' then
    redis.call('HDEL', KEYS[1], id)
  elseif op == 'dead' then
    redis.call('HDEL', KEYS[1], id)
    redis.call('HSET', KEYS[2], id, js)
  end
end
return 1
`;

// KEYS[1] lease. ARGV[1] token, ARGV[2] ms. 1: held by us now; 0: held by another.
const LEASE_SCRIPT = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;

function hashEntries(reply) {
  if (reply === null || reply === undefined) return [];
  if (reply instanceof Map) return [...reply.entries()];
  if (Array.isArray(reply)) {
    const out = [];
    for (let i = 0; i + 1 < reply.length; i += 2) out.push([reply[i], reply[i + 1]]);
    return out;
  }
  if (typeof reply === 'object') return Object.entries(reply);
  return [];
}

/**
 * A journal in Redis: hashes `${prefix}pending` and `${prefix}dead` (entry id -> JSON entry),
 * updated atomically per append by a Lua script. A lease key `${prefix}lease` (renewed while
 * the queue runs, released on close) makes sure only one queue at a time resumes and sends a
 * journal's deliveries: give each process its own prefix, and a replacement process the prefix
 * of the one it replaces. Durability is Redis's: run it with appendonly yes / appendfsync
 * everysec (or always) where an accepted delivery must survive a Redis crash.
 * close() leaves the client open.
 */
export function redisJournal(client, { prefix = 'callhook:deliveries:', leaseMs = 30_000 } = {}) {
  const pendingKey = `${prefix}pending`;
  const deadKey = `${prefix}dead`;
  const leaseKey = `${prefix}lease`;
  const token = globalThis.crypto.randomUUID();
  let renewTimer = null;
  let open = false;

  const parse = (json) => {
    try {
      const e = JSON.parse(String(json));
      return e && typeof e === 'object' && typeof e.id === 'string' ? e : null;
    } catch {
      return null;
    }
  };

  return {
    durable: true,
    async load() {
      const got = await redisCommand(client, ['EVAL', LEASE_SCRIPT, '1', leaseKey, token, String(leaseMs)]);
      if (Number(got) !== 1) throw new Error(`delivery journal ${prefix} is in use by another queue (lease ${leaseKey})`);
      open = true;
      renewTimer = setInterval(() => {
        redisCommand(client, ['EVAL', LEASE_SCRIPT, '1', leaseKey, token, String(leaseMs)]).catch(() => {});
      }, Math.max(10, Math.floor(leaseMs / 3)));
      if (typeof renewTimer === 'object' && typeof renewTimer.unref === 'function') renewTimer.unref();
      const [p, d] = await Promise.all([
        redisCommand(client, ['HGETALL', pendingKey]),
        redisCommand(client, ['HGETALL', deadKey]),
      ]);
      const dead = hashEntries(d).map(([, v]) => parse(v)).filter(Boolean);
      const deadIds = new Set(dead.map((e) => e.id));
      const pending = hashEntries(p).map(([, v]) => parse(v)).filter((e) => e && !deadIds.has(e.id));
      return { pending, dead };
    },
    async append(records) {
      if (!open) throw new Error('journal is not open');
      if (records.length === 0) return;
      const args = ['EVAL', JOURNAL_APPLY_SCRIPT, '3', pendingKey, deadKey, leaseKey, token, String(leaseMs)];
      for (const { type, entry } of records) args.push(type, entry.id, JSON.stringify(entry));
      await redisCommand(client, args);
    },
    async close() {
      if (!open) return;
      open = false;
      if (renewTimer !== null) clearInterval(renewTimer);
      renewTimer = null;
      await redisCommand(client, ['EVAL', RELEASE_SCRIPT, '1', leaseKey, token]).catch(() => {});
    },
  };
}
