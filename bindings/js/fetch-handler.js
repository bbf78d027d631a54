// A Fetch-API handler around the engine: `(request, ctx?) => Response` for Node (with any
// Request/Response server adapter), Cloudflare Workers, Deno, Bun. It carries out the README's
// loop: prepare the request once, read the record it names, decide, commit the new record and
// its deliveries in one transaction of the store (compare-and-set; on a conflict read again and
// decide again), answer the sender. It never reads inside a record.

import { memoryStore, entryOf } from './stores.js';
import { createDeliveryQueue } from './delivery.js';
// index.js imports this module too; init is only called at request time, after both are loaded.
import { init } from './index.js';

export class ConflictError extends Error {
  constructor(key, attempts) {
    super(`the record ${key} changed under ${attempts} compare-and-set attempts`);
    this.name = 'ConflictError';
    this.key = key;
  }
}

export class EngineError extends Error {
  constructor(cause) {
    super(`the engine failed: ${cause?.message ?? cause}`, { cause });
    this.name = 'EngineError';
  }
}

export class BodyTooLargeError extends Error {
  constructor(limit) {
    super(`request body exceeds ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * The core's refusal of `kind` ("not-found", "body-too-large", "store-unavailable", ...; README,
 * "The engine") as a Response: an RFC 9457 document of the urn:callhook:problem: scheme with
 * its status and headers. `detail` (optional) must never hold a secret. Needs no config.
 */
export async function problem(kind, detail = '') {
  return toResponse(await refusal(kind, detail));
}

// The same refusal as the engine's response object ({status, headers, body}).
async function refusal(kind, detail = '') {
  return (await init()).refusal(kind, detail);
}

/** The engine's response object ({status, headers, body}) as a Response. */
export function toResponse(response) {
  const status = Number(response?.status ?? 500);
  const headers = new Headers();
  const h = response?.headers ?? [];
  for (const [name, value] of Array.isArray(h) ? h : Object.entries(h)) headers.append(name, String(value));
  const nullBody = status === 204 || status === 205 || status === 304;
  const body = nullBody ? null : response?.body ?? '';
  return new Response(body, { status, headers });
}

/** The request body as bytes; throws BodyTooLargeError past `limit` without reading on. */
export async function readBody(request, limit) {
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) throw new BodyTooLargeError(limit);
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLargeError(limit);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const body = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.byteLength;
  }
  return body;
}

/**
 * The request as the engine takes it ({method, url, headers, body}), its body read up to
 * `limit` bytes; or, for a body past the limit or one that cannot be read, the core's refusal as
 * a Response: {request} or {response}.
 */
export async function readRequest(request, limit) {
  try {
    const body = await readBody(request, limit);
    return { request: { method: request.method, url: request.url, headers: [...request.headers], body } };
  } catch (err) {
    if (err instanceof BodyTooLargeError) return { response: await problem('body-too-large', `Requests are limited to ${limit} bytes.`) };
    return { response: await problem('bad-request', 'The request body could not be read.') };
  }
}

export class OutboxUnavailableError extends Error {
  constructor(cause) {
    super(`the deliveries could not be handed over: ${cause?.message ?? cause}`, { cause });
    this.name = 'OutboxUnavailableError';
  }
}

export class OutboxFullError extends Error {
  constructor(full) {
    super(full.destination
      ? `The deliveries waiting for ${full.destination} are at their cap of ${full.limit}`
      : `The deliveries waiting are at their cap of ${full.limit}`);
    this.name = 'OutboxFullError';
    this.full = full;
  }
}

/**
 * Runs `run(record | null) -> outcome` against the record under `key` until the outcome's record
 * and its deliveries are committed (one transaction in the store), or there is nothing to
 * commit. `key` null: there is no record to read (correlation off, or a refused request). With
 * `existing`, a missing record means there is nothing to do (sweeps). Throws OutboxFullError
 * when the outbox is at a cap (nothing was written). Returns {outcome, stored, conflicts,
 * deliveries}.
 */
async function settle({ store, queue, maxConflictRetries }, key, run, { existing = false } = {}) {
  let current = key ? await store.get(key) : null;
  if (existing && current === null) return { outcome: null, stored: false, conflicts: 0, deliveries: 0 };
  let outcome = await run(current ? current.record : null);
  let conflicts = 0;
  for (;;) {
    if (!outcome) return { outcome, stored: false, conflicts, deliveries: 0 };
    const deliveries = outcome.deliveries ?? [];
    const hasRecord = outcome.record !== null && outcome.record !== undefined && Boolean(outcome.record_key);
    if (!hasRecord && deliveries.length === 0) return { outcome, stored: false, conflicts, deliveries: 0 };
    if (!queue.items) {
      // A queue that is only a callback: the record first, then the deliveries handed over.
      if (hasRecord && !(await store.compareAndSet(outcome.record_key, outcome.expected_version, entryOf(outcome)))) {
        outcome = await conflicted();
        continue;
      }
      if (deliveries.length > 0) {
        try {
          await queue.enqueue(deliveries);
        } catch (err) {
          // Put the previous record back, so the sender's retry is not taken for a duplicate.
          const restored = hasRecord
            ? await store.compareAndSet(outcome.record_key, outcome.version, current).catch(() => false)
            : false;
          const failure = new OutboxUnavailableError(err);
          failure.recordRestored = restored;
          throw failure;
        }
      }
      return { outcome, stored: hasRecord, conflicts, deliveries: deliveries.length };
    }
    const items = queue.items(deliveries);
    const result = await store.commit(hasRecord
      ? { key: outcome.record_key, expectedVersion: outcome.expected_version, entry: entryOf(outcome), items, limits: queue.limits }
      : { key: null, items, limits: queue.limits });
    if (result.ok) {
      if (items.length > 0) queue.committed(items);
      return { outcome, stored: hasRecord, conflicts, deliveries: items.length };
    }
    if (result.reason === 'full') throw new OutboxFullError(result);
    outcome = await conflicted();
  }

  async function conflicted() {
    conflicts += 1;
    if (conflicts > maxConflictRetries) throw new ConflictError(outcome.record_key, conflicts);
    current = await store.get(outcome.record_key);
    return run(current ? current.record : null);
  }
}

/**
 * Sweeps the records that are due: engine.sweep(record, now) for each key store.due(now)
 * returns, committed with the same loop as a webhook's outcome. Per-key failures are collected
 * (and reported to onError), not thrown.
 */
export async function sweepDue(state, now) {
  const keys = await state.store.due(now);
  const result = { keys: keys.length, changed: 0, deliveries: 0, conflicts: 0, errors: [] };
  for (const key of keys) {
    try {
      const settled = await settle(state, key, (record) => (record === null ? null : state.engine.sweep(record, now)),
        { existing: true });
      result.conflicts += settled.conflicts;
      if (settled.stored) result.changed += 1;
      result.deliveries += settled.deliveries;
    } catch (err) {
      result.errors.push({ key, error: err });
      state.onError(err, { phase: 'sweep', key });
    }
  }
  return result;
}

/**
 * createFetchHandler({engine, store, queue, now, onOutcome, onError, maxConflictRetries,
 * maxBodyBytes}) -> async (request, ctx?) => Response, with .sweep(now?) and .state.
 * - store: a record store (memoryStore() by default: one process only)
 * - queue: a delivery queue (by default one with no journal: nothing survives a restart)
 * - now: the clock, epoch seconds
 * - onOutcome(outcome, info): after every handled request; info {stored, conflicts, deliveries}
 * - onError(error, context): unexpected failures (store, journal, engine); console.error by default
 * - frontDoor (true): route by the core first (/hook and /hook/... to the engine, /healthz, every
 *   other path not-found); false hands every request to the engine, for a handler mounted
 *   under a path of its own
 */
export function createFetchHandler({
  engine,
  queue: givenQueue,
  store = givenQueue?.store ?? memoryStore(),
  now = () => Date.now() / 1000,
  onOutcome,
  onError = (err, context) => console.error('callhook:', context?.phase ?? 'error', err),
  maxConflictRetries = 5,
  maxBodyBytes = 1 << 20,
  frontDoor = true,
} = {}) {
  if (!engine || typeof engine.prepare !== 'function') throw new TypeError('createFetchHandler needs an engine with prepare()');
  const queue = givenQueue ?? createDeliveryQueue({ engine, store });
  if (queue.store && queue.store !== store) {
    throw new TypeError("the queue's store must be the handler's store: a record and its deliveries commit together");
  }
  const state = { engine, store, queue, maxConflictRetries, onError: safe(onError) };

  function safe(fn) {
    return (...args) => {
      try {
        fn?.(...args);
      } catch {
        // observers never break the request
      }
    };
  }
  const observe = safe(onOutcome);

  async function handler(request, ctx) {
    if (frontDoor) {
      // Which endpoint, and every refusal, is the core's: /hook and /hook/... are webhooks,
      // /healthz answers, anything else is not found (this handler serves no files).
      const runtime = await init();
      const route = runtime.route(request.method, request.url, request.headers.get('host'));
      if (route.endpoint === 'healthz') return toResponse(runtime.health('ok'));
      if (route.endpoint !== 'hook') return toResponse(route.response ?? runtime.refusal('not-found'));
    }
    const read = await readRequest(request, maxBodyBytes);
    if (read.response) return read.response;
    return toResponse(await handleRead(read.request, ctx));
  }

  // The loop for a webhook already read and routed ({method, url, headers, body}, as
  // readRequest gives it): the engine's response ({status, headers, body}), or the core's refusal.
  async function handleRead(req, ctx) {
    const t = now();

    let settled;
    let prepared = null;
    try {
      // Authenticated, decoded and validated once; decided on the record it names.
      try {
        prepared = engine.prepare(req, { now: t });
      } catch (err) {
        throw new EngineError(err);
      }
      settled = await settle(state, prepared.record_key, (record) => {
        try {
          return prepared.decide({ now: t, record });
        } catch (err) {
          throw new EngineError(err);
        }
      });
    } catch (err) {
      if (err instanceof EngineError) {
        state.onError(err, { phase: 'engine' });
        return refusal('internal-error');
      }
      if (err instanceof ConflictError) {
        state.onError(err, { phase: 'store', key: err.key });
        return refusal('conflict');
      }
      if (err instanceof OutboxFullError) {
        state.onError(err, { phase: 'outbox' });
        return refusal('outbox-full', err.message + '; the webhook was not accepted, send it again later.');
      }
      if (err instanceof OutboxUnavailableError) {
        state.onError(err, { phase: 'enqueue' });
        return refusal('outbox-unavailable');
      }
      state.onError(err, { phase: 'store' });
      return refusal('store-unavailable');
    } finally {
      prepared?.close();
    }

    const deliveries = settled.deliveries;
    if (deliveries > 0 && ctx && typeof ctx.waitUntil === 'function') {
      ctx.waitUntil(queue.drain().catch((err) => state.onError(err, { phase: 'deliver' })));
    }

    observe(settled.outcome, { stored: settled.stored, conflicts: settled.conflicts, deliveries });
    return settled.outcome?.response;
  }

  // For a server that reads and routes requests itself (the Node function on node:http): the
  // same loop without a Request and a Response around it.
  handler.handleRead = handleRead;
  handler.sweep = (at = now()) => sweepDue(state, at);
  handler.state = state;
  return handler;
}
