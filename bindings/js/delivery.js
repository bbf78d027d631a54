// The delivery sender: takes due deliveries from a store's outbox, sends them, asks the engine
// what each answer means (delivered, retry at a time, dead) and records that in the store. It
// holds no delivery in memory beyond those in flight and no retry policy of its own.
//
// Delivery is at least once. A send whose verdict was not recorded before a crash is sent again
// after the restart (or, with a shared store, by another instance); every attempt carries the
// same Idempotency-Key header, so a receiver deduplicates. Deliveries are kept sealed (the
// core's text with `${NAME}` references, engine.sealDelivery) and unsealed only to be sent.

import { memoryStore } from './stores.js';

// How much of an answer the core may read (Google Ads puts rejected rows inside a 200).
const MAX_ANSWER_BYTES = 64 * 1024;
// A store write that failed after an attempt: the item is given back and tried again after
// this; the delivery's schedule is the core's, this is only the store catching up.
const STORE_RETRY_MS = 1000;

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


/**
 * What a shell keeps between attempts for the core's send planning: each destination's OAuth
 * access token (until the engine's `cache_until_ms`) and its rate-limit bucket. One refresh is
 * shared by every delivery that needs the token at the same time. Kept in memory only: a token
 * is never written to a store or a log.
 */
export function createCredentials({ now = Date.now } = {}) {
  const tokens = new Map(); // destination -> {token, until}
  const minting = new Map(); // destination -> Promise of token_result's outcome
  const paces = new Map(); // destination -> the bucket state the engine returned
  return {
    /** The cached token for a destination, or '' (none, or past the engine's cache time). */
    token(destination) {
      const t = tokens.get(destination);
      if (!t) return '';
      if (now() >= t.until) {
        tokens.delete(destination);
        return '';
      }
      return t.token;
    },
    /** Forgets a destination's token, unless a newer one replaced the refused one meanwhile. */
    drop(destination, token) {
      const t = tokens.get(destination);
      if (t && (token === undefined || t.token === token)) tokens.delete(destination);
    },
    /** Runs `mint()` (send the token request, read it with engine.tokenResult) unless a mint
     * for the destination is already under way, whose outcome is then shared. */
    mint(destination, mint) {
      let p = minting.get(destination);
      if (!p) {
        p = Promise.resolve()
          .then(mint)
          .then((outcome) => {
            if (outcome && typeof outcome.access_token === 'string' && outcome.access_token !== '') {
              tokens.set(destination, { token: outcome.access_token, until: outcome.cache_until_ms });
            }
            return outcome;
          })
          .finally(() => minting.delete(destination));
        minting.set(destination, p);
      }
      return p;
    },
    pace(destination) {
      return paces.get(destination) ?? null;
    },
    setPace(destination, pace) {
      if (pace) paces.set(destination, pace);
    },
  };
}

/**
 * One attempt of a stored (sealed) delivery, every decision the engine's: engine.planSend says
 * whether to send it now (with its credentials), wait for the destination's rate limit, first
 * get an OAuth access token (sent, read by engine.tokenResult and cached in `credentials`), or
 * not send it at all (past the platform's deadline, unsendable); engine.attemptResult reads the
 * answer. A refused cached token is dropped (the engine retries it at once with a fresh one).
 *
 * `item`: {sealed, route, destination, idempotency_key, attempts (made before this one)}.
 * Waits shorter than `maxWaitMs` are slept here; a longer one resolves {wait_ms} for the caller
 * to reschedule without counting an attempt (a Queue consumer cannot sleep for minutes).
 * Resolves {verdict (attemptResult's), answer, status} otherwise.
 */
export async function attemptDelivery(item, {
  engine, credentials, fetch = globalThis.fetch, now = Date.now, random = Math.random,
  maxWaitMs = Infinity, sleep = (ms) => new Promise((r) => setTimeout(r, ms)), isClosed = () => false,
}) {
  const destination = item.destination;
  const attempt = item.attempts + 1;
  const base = { route: item.route, destination, idempotency_key: item.idempotency_key, attempt };
  let fresh = false;
  for (let round = 0; round < 8; round += 1) {
    const token = credentials.token(destination);
    const plan = engine.planSend(item.sealed, { accessToken: token, pace: credentials.pace(destination), nowMs: now() });
    if (plan.plan === 'dead') return { verdict: plan.verdict, answer: null, status: null };
    if (plan.plan === 'wait') {
      credentials.setPace(destination, plan.pace);
      if (plan.wait_ms > maxWaitMs || isClosed()) return { wait_ms: plan.wait_ms };
      await sleep(plan.wait_ms);
      round -= 1; // waiting for the bucket is not a planning round
      continue;
    }
    if (plan.plan === 'token') {
      const outcome = await credentials.mint(destination, async () => {
        const answer = await sendAttempt(plan.request, fetch);
        return engine.tokenResult({ ...base, answer, now_ms: now(), random: random() });
      });
      if (outcome.verdict) return { verdict: outcome.verdict, answer: null, status: null };
      fresh = true;
      continue;
    }
    credentials.setPace(destination, plan.pace);
    const answer = await sendAttempt(plan.request, fetch);
    const verdict = engine.attemptResult({
      ...base, now_ms: now(), random: random(), answer,
      not_after_ms: plan.request.not_after_ms ?? 0, fresh_token: fresh,
    });
    if (verdict.drop_token) credentials.drop(destination, token || undefined);
    return { verdict, answer, status: answer.status ?? null };
  }
  // The planner kept asking for a token it was just given: the token answer cannot be used.
  return {
    verdict: engine.attemptResult({
      ...base, now_ms: now(), random: random(),
      answer: { unsendable: 'the destination asked for an access token again and again' },
    }),
    answer: null,
    status: null,
  };
}

/** Thrown by enqueue() when the outbox is at a cap: `full` is the store's refusal. */
export class OverflowError extends Error {
  constructor(full) {
    super(full.destination === null
      ? `the outbox would hold ${full.pending} deliveries, past its cap of ${full.limit}`
      : `the outbox would hold ${full.pending} deliveries for ${full.destination}, past its cap of ${full.limit}`);
    this.name = 'OverflowError';
    this.full = full;
  }
}

// The delivery as the engine seals it: an outcome's delivery, or one a caller wrote by hand.
function normalizeDelivery(d) {
  if (!d || typeof d !== 'object') throw new TypeError('a delivery must be an object');
  if (typeof d.url !== 'string' || d.url === '') throw new TypeError('a delivery needs a url');
  const headers = Array.isArray(d.headers)
    ? d.headers.map(([n, v]) => [String(n), String(v)])
    : Object.entries(d.headers ?? {}).map(([n, v]) => [n, String(v)]);
  // The wasm binding spells it idempotencyKey, the CLI's JSON idempotency_key: take either.
  const key = d.idempotency_key ?? d.idempotencyKey ?? '';
  if (key !== '' && !headers.some(([n]) => n.toLowerCase() === 'idempotency-key')) {
    headers.push(['Idempotency-Key', String(key)]);
  }
  return {
    route: String(d.route ?? ''),
    destination: String(d.destination || 'default'),
    method: String(d.method ?? 'POST').toUpperCase(),
    url: d.url,
    headers,
    body: d.body ?? '',
    idempotency_key: String(key),
    timeout_ms: Number.isFinite(d.timeout_ms) && d.timeout_ms > 0 ? d.timeout_ms : 30_000,
    // The platform's deadline travels with the sealed delivery: the planner dead-letters it after.
    not_after_ms: Number.isFinite(d.not_after_ms) && d.not_after_ms > 0 ? d.not_after_ms : 0,
    ...originOf(d),
  };
}

// What an outbox item keeps beside the sealed delivery (admin listing, erasure, re-rendering):
// the engine's delivery names its call, its record and what fired it ('' when it does not).
function originOf(d) {
  return {
    call_sid: String(d.call_sid ?? ''),
    record_key: String(d.record_key ?? ''),
    trigger: String(d.trigger ?? ''),
  };
}

const NO_LIMITS = Object.freeze({ total: Infinity, perDestination: Infinity });

/**
 * Creates a delivery sender over a store's outbox. Options:
 * - engine: the engine whose config the deliveries came from. It seals each delivery for the
 *   store (engine.sealDelivery), unseals it to send it, and decides after every attempt whether
 *   it is delivered, retried (and when) or dead (engine.attemptResult). Required.
 * - store: where the outbox lives (memoryStore() by default; sqliteStore, redisStore); the
 *   fetch handler commits records and their deliveries to the same store
 * - fetch: the Fetch API function (globalThis.fetch)
 * - concurrency (16): sends in flight at once in all; perDestination (4, or the destination's
 *   own `concurrency` in the config): for one destination,
 *   so a destination that hangs holds only its own slots
 * - limits ({total, perDestination}, no caps by default): past them a commit is refused and the
 *   sender of the webhook is answered outbox-full
 * - pollMs (250): how often the outbox is looked at for due deliveries when nothing kicks it
 * - onEvent(e): {type: "delivered"|"retried"|"dead", id, route, destination, idempotency_key,
 *   attempts, status, error, code, delayMs, durationMs, log}: `code`, `error` (the reason) and
 *   `log` (a JSON log line) are the core's
 * - random: the jitter source (Math.random), for tests; now: epoch milliseconds (Date.now)
 */
export function createDeliveryQueue({
  engine,
  store = memoryStore(),
  fetch = globalThis.fetch,
  concurrency = 16,
  perDestination = 4,
  limits = NO_LIMITS,
  pollMs = 250,
  onEvent,
  random = Math.random,
  now: clock = Date.now,
} = {}) {
  if (typeof fetch !== 'function') throw new TypeError('no fetch function available');
  if (!engine || typeof engine.attemptResult !== 'function' || typeof engine.sealDelivery !== 'function') {
    throw new TypeError('createDeliveryQueue needs the engine that seals and decides each delivery');
  }
  if (!store || typeof store.claim !== 'function' || typeof store.commit !== 'function') {
    throw new TypeError('createDeliveryQueue needs a store that keeps an outbox (memoryStore, sqliteStore, redisStore)');
  }
  const caps = { total: limits?.total ?? Infinity, perDestination: limits?.perDestination ?? Infinity };

  const credentials = createCredentials({ now: clock });
  // A destination's own `concurrency` (the config's) over the sender's default.
  const limitsOf = typeof engine.destinationLimits === 'function' ? engine.destinationLimits() : {};
  const slotsFor = (destination) => limitsOf?.[destination]?.concurrency || perDestination;
  const inflight = new Map(); // destination -> sends in flight
  const claiming = new Set(); // destinations with a claim under way
  const running = new Set(); // promises of sends
  const known = new Set(); // destinations seen
  let total = 0;
  let closed = false;
  let timer = null;
  let pumping = null;
  let again = false;
  let lastError = null;
  let drainWaiters = [];

  const redactReason = (text) => (typeof engine.redact === 'function' ? engine.redact(String(text ?? '')) : String(text ?? ''));

  const emit = (event) => {
    if (!onEvent) return;
    try {
      onEvent(event);
    } catch {
      // Metrics must never break delivery.
    }
  };

  let timerAt = Infinity;
  // Looks at the outbox again at `at` (epoch ms), or after pollMs: a retry the engine scheduled
  // sooner than the next poll is attempted on time.
  function schedule(at = clock() + pollMs) {
    if (closed || at >= timerAt) return;
    if (timer !== null) clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(() => {
      timer = null;
      timerAt = Infinity;
      kick();
    }, Math.min(Math.max(0, at - clock()), 2 ** 31 - 1));
    if (typeof timer === 'object' && timer && typeof timer.unref === 'function') timer.unref();
  }

  /** Looks at the outbox now (after a commit, a finished send, a timer). */
  function kick() {
    if (closed) return;
    if (pumping) {
      again = true;
      return;
    }
    pass();
  }

  // One pass over the outbox; `then(claimed)` sees how many items it started. Kicks that came
  // meanwhile get a pass of their own.
  function pass(then) {
    pumping = pump()
      .then(then, (err) => {
        lastError = err;
      })
      .finally(() => {
        pumping = null;
        if (again) {
          again = false;
          kick();
          return;
        }
        schedule();
        if (!then) settleDrain();
      });
  }

  async function pump() {
    for (const d of await store.destinations()) known.add(d);
    let claimed = 0;
    for (const destination of known) {
      if (closed) return claimed;
      const free = Math.min(slotsFor(destination) - (inflight.get(destination) ?? 0), concurrency - total);
      if (free <= 0 || claiming.has(destination)) continue;
      claiming.add(destination);
      let items;
      try {
        items = await store.claim({ destination, max: free, nowMs: clock() });
      } finally {
        claiming.delete(destination);
      }
      if (closed) {
        await store.release(items).catch(() => {});
        return claimed;
      }
      for (const item of items) start(item);
      claimed += items.length;
    }
    lastError = null;
    return claimed;
  }

  function start(item) {
    total += 1;
    inflight.set(item.destination, (inflight.get(item.destination) ?? 0) + 1);
    const p = attempt(item)
      .catch(async (err) => {
        // Only a store failure lands here: the verdict was not recorded. The item is given back
        // and sent again (at least once).
        lastError = err;
        await new Promise((r) => setTimeout(r, STORE_RETRY_MS));
        await store.release([item]).catch(() => {});
      })
      .finally(() => {
        total -= 1;
        inflight.set(item.destination, inflight.get(item.destination) - 1);
        running.delete(p);
        kick();
      });
    running.add(p);
  }

  async function attempt(item) {
    const started = clock();
    const result = await attemptDelivery(item, {
      engine, credentials, fetch, now: clock, random, isClosed: () => closed,
    });
    if (result.wait_ms !== undefined) {
      // Closing while it waited for the destination's rate limit: given back, not attempted.
      await store.release([item]);
      return;
    }
    const at = clock();
    const v = result.verdict;
    const status = result.status;
    // A reason may quote the destination's answer (Google Ads' partialFailureError), which may
    // echo what it was sent: kept and reported without secret values or callers' numbers.
    const reason = v.verdict === 'delivered' ? '' : redactReason(v.reason);
    await store.finish(item, {
      verdict: v.verdict,
      next_at_ms: v.retry_at_ms ?? undefined,
      code: v.code,
      reason,
      attempt: { at_ms: at, status, code: v.code, reason },
    });
    if (v.verdict === 'retry' && Number.isFinite(v.retry_at_ms)) schedule(v.retry_at_ms);
    const type = v.verdict === 'delivered' ? 'delivered' : v.verdict === 'dead' ? 'dead' : 'retried';
    emit({
      type, id: item.id, route: item.route, destination: item.destination, idempotency_key: item.idempotency_key,
      attempts: item.attempts + 1, status, error: reason || null, code: v.code, log: v.log, durationMs: at - started,
      ...(type === 'retried' ? { delayMs: v.delay_ms, retryAfter: v.retry_after } : {}),
    });
  }

  function settleDrain() {
    if (closed || drainWaiters.length === 0 || total > 0 || pumping) return;
    // One more look: a drain resolves only once a pass claimed nothing and nothing runs.
    pass((claimed) => {
      if (claimed > 0 || total > 0) return;
      const waiters = drainWaiters;
      drainWaiters = [];
      for (const resolve of waiters) resolve();
    });
  }

  const queue = {
    store,
    limits: caps,

    /** The outbox items for an outcome's deliveries: sealed, with fresh ids, due at `nowMs`. */
    items(deliveries, nowMs = clock()) {
      const list = Array.isArray(deliveries) ? deliveries : [deliveries];
      return list.map((d) => {
        const delivery = normalizeDelivery(d);
        return {
          id: globalThis.crypto.randomUUID(),
          route: delivery.route,
          destination: delivery.destination,
          idempotency_key: delivery.idempotency_key,
          sealed: engine.sealDelivery(delivery),
          enqueued_at_ms: nowMs,
          ...originOf(d),
        };
      });
    },

    /** Accepts deliveries on their own (no record): resolves once the store has them. */
    async enqueue(deliveries) {
      if (closed) throw new Error('delivery queue is closed');
      const items = queue.items(deliveries);
      if (items.length === 0) return;
      const result = await store.commit({ key: null, items, limits: caps });
      if (!result.ok) throw new OverflowError(result);
      queue.committed(items);
    },

    /** Tells the sender that a commit added `items` (the fetch handler's transaction). */
    committed(items = []) {
      for (const item of items) known.add(item.destination);
      kick();
    },

    kick,

    /** {pending, byDestination, dead, inflight}. */
    async counts() {
      return { ...(await store.counts()), inflight: total };
    },

    /** Dead letters, newest first ({destination, route, code, sinceMs, untilMs, limit}). */
    deadLetters(filter) {
      return store.deadLetters(filter);
    },

    /** Sends dead letters (all, the given ids, or those a filter matches) again with attempts
     * reset and the same idempotency key ({sealed}: new text for some); resolves how many. */
    async redrive(selection, options) {
      if (closed) throw new Error('delivery queue is closed');
      const n = await store.redrive(selection, options);
      kick();
      return n;
    },

    /** The last error the sender met reading or writing the store (null once a pass succeeds). */
    get lastError() {
      return lastError;
    },

    /** Resolves when nothing is in flight and nothing is due now (later retries may wait). */
    drain() {
      return new Promise((resolve) => {
        drainWaiters.push(resolve);
        kick();
        settleDrain();
      });
    },

    /** Stops looking at the outbox and waits for the sends in flight to be recorded. The store
     * stays open: whoever made it closes it. */
    async close() {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      timerAt = Infinity;
      while (running.size > 0 || pumping) await Promise.allSettled([...running, pumping]);
      for (const resolve of drainWaiters) resolve();
      drainWaiters = [];
    },
  };
  kick();
  return queue;
}
