// A Fetch-API handler around the engine: `(request, ctx?) => Response` for Node (with any
// Request/Response server adapter), Cloudflare Workers, Deno, Bun. It carries out the README's
// "What a shell does": read the call's record, handle, compare-and-set the new record (on a
// conflict read again and handle again), persist the deliveries only once the record is
// stored, answer the sender.

import { memoryStore, recordMeta } from './stores.js';
import { createDeliveryQueue } from './delivery.js';
// index.js imports this module too; init is only called at request time, after both are loaded.
import { init } from './index.js';

/** The outcome fields this shell needs, whatever the binding's spelling. */
export function outcomeFields(outcome) {
  if (!outcome || typeof outcome !== 'object') {
    return { record: null, recordKey: null, expectedVersion: 0, expiresAt: null, deliveries: [] };
  }
  const raw = outcome.record ?? null;
  return {
    record: raw === null ? null : typeof raw === 'string' ? raw : JSON.stringify(raw),
    recordKey: outcome.recordKey ?? outcome.record_key ?? null,
    expectedVersion: outcome.expectedVersion ?? outcome.expected_version ?? 0,
    expiresAt: outcome.expiresAt ?? outcome.expires_at ?? null,
    deliveries: Array.isArray(outcome.deliveries) ? outcome.deliveries : [],
  };
}

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
  return toResponse((await init()).refusal(kind, detail));
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
 * Runs `run(record | null) -> outcome` (or a promise of one) against the store until its record is stored or there
 * is none to store. `key` is the record's key when known (sweeps); for a request it is learnt
 * from the first outcome (the engine derives it from the payload), then the record is read and
 * the request handled again with it. Returns {outcome, stored, previous, conflicts}.
 */
async function settle({ store, maxConflictRetries }, key, run) {
  let current = null;
  let read = false;
  if (key) {
    current = await store.get(key);
    read = true;
    if (current === null) return { outcome: null, stored: false, previous: null, conflicts: 0 };
  }
  let outcome = await run(current ? current.record : null);
  let conflicts = 0;
  // Each pass is one read or one failed compare-and-set; bound them together.
  for (let passes = 0; passes <= 2 * maxConflictRetries + 2; passes++) {
    const f = outcomeFields(outcome);
    if (f.record === null || !f.recordKey) return { outcome, stored: false, previous: current, conflicts };
    if (!read || f.recordKey !== key) {
      key = f.recordKey;
      read = true;
      current = await store.get(key);
      if (current !== null) {
        outcome = await run(current.record);
        continue;
      }
    }
    if (await store.compareAndSet(key, f.expectedVersion, f.record, f.expiresAt)) {
      return { outcome, stored: true, previous: current, conflicts };
    }
    conflicts += 1;
    if (conflicts > maxConflictRetries) break;
    current = await store.get(key);
    outcome = await run(current ? current.record : null);
  }
  throw new ConflictError(key, conflicts);
}

/** Puts the previous record back after its successor's deliveries could not be persisted. */
async function rollback(store, f, previous) {
  const newVersion = recordMeta(f.record).version;
  let expiresAt = f.expiresAt;
  if (previous) {
    try {
      const old = JSON.parse(previous.record).expires_at;
      if (Number.isFinite(old)) expiresAt = old;
    } catch {
      // keep the new expiry
    }
  }
  return store.compareAndSet(f.recordKey, newVersion, previous ? previous.record : null, expiresAt);
}

/**
 * Stores the outcome's record (done by settle) and persists its deliveries. If the deliveries
 * cannot be persisted the record is put back, so the sender's retry is not taken for a
 * duplicate, and the error is rethrown.
 */
async function persistDeliveries(state, settled) {
  const f = outcomeFields(settled.outcome);
  if (f.deliveries.length === 0) return 0;
  try {
    await state.queue.enqueue(f.deliveries);
  } catch (err) {
    if (settled.stored) {
      let restored = false;
      try {
        restored = await rollback(state.store, f, settled.previous);
      } catch {
        restored = false;
      }
      err.recordRestored = restored;
    }
    throw err;
  }
  return f.deliveries.length;
}

/**
 * Sweeps the records that are due: engine.sweep(record, now) for each key store.due(now)
 * returns, stored with the same compare-and-set loop, deliveries persisted after the store.
 * Per-key failures are collected (and reported to onError), not thrown.
 */
export async function sweepDue(state, now) {
  const keys = await state.store.due(now);
  const result = { keys: keys.length, changed: 0, deliveries: 0, conflicts: 0, errors: [] };
  for (const key of keys) {
    try {
      const settled = await settle(state, key, (record) => (record === null ? null : state.engine.sweep(record, now)));
      result.conflicts += settled.conflicts;
      if (settled.stored) result.changed += 1;
      if (settled.outcome) result.deliveries += await persistDeliveries(state, settled);
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
 */
export function createFetchHandler({
  engine,
  store = memoryStore(),
  queue = createDeliveryQueue({ engine }),
  now = () => Date.now() / 1000,
  onOutcome,
  onError = (err, context) => console.error('callhook:', context?.phase ?? 'error', err),
  maxConflictRetries = 5,
  maxBodyBytes = 1 << 20,
} = {}) {
  if (!engine || typeof engine.handle !== 'function') throw new TypeError('createFetchHandler needs an engine with handle()');
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
    let body;
    try {
      body = await readBody(request, maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return problem('body-too-large', `Requests are limited to ${maxBodyBytes} bytes.`);
      return problem('bad-request', 'The request body could not be read.');
    }
    const req = { method: request.method, url: request.url, headers: [...request.headers], body };
    const t = now();

    let settled;
    try {
      settled = await settle(state, null, async (record) => {
        try {
          return await engine.handle(req, { now: t, record });
        } catch (err) {
          throw new EngineError(err);
        }
      });
    } catch (err) {
      if (err instanceof EngineError) {
        state.onError(err, { phase: 'engine' });
        return problem('internal-error');
      }
      if (err instanceof ConflictError) {
        state.onError(err, { phase: 'store', key: err.key });
        return problem('conflict');
      }
      state.onError(err, { phase: 'store' });
      return problem('store-unavailable');
    }

    let deliveries = 0;
    try {
      deliveries = await persistDeliveries(state, settled);
    } catch (err) {
      state.onError(err, { phase: 'enqueue', key: outcomeFields(settled.outcome).recordKey });
      return problem('outbox-unavailable');
    }
    if (deliveries > 0 && ctx && typeof ctx.waitUntil === 'function') {
      ctx.waitUntil(queue.drain().catch((err) => state.onError(err, { phase: 'deliver' })));
    }

    observe(settled.outcome, { stored: settled.stored, conflicts: settled.conflicts, deliveries });
    return toResponse(settled.outcome?.response);
  }

  handler.sweep = (at = now()) => sweepDue(state, at);
  handler.state = state;
  return handler;
}
