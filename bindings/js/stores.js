// Stores for the correlation protocol and the delivery outbox (README "Correlation", "What a
// shell does"). memoryStore lives here (it runs anywhere: Node, browsers, workerd); the Node-only
// stores are sqliteStore (./sqlite-store.js, "callhook/sqlite") and redisStore
// (./redis-store.js, "callhook/redis"). Each keeps records, the outbox and dead letters together
// (stores.d.ts, DurableStore); the record methods are:
//   get(key)                                          -> {record, version, expires_at, sweep_at} | null
//   compareAndSet(key, expectedVersion, entry | null) -> true | false
//   due(now)                                          -> keys whose sweep_at <= now
//   close()
//
// An entry is what the engine's outcome says to keep: {record, version, expires_at, sweep_at}
// (the record as text, stored byte for byte; the three numbers beside it). A store never reads
// inside a record. `expectedVersion` 0 means "no record may exist"; a null entry deletes the
// record when its version still matches (the fetch handler's undo of a store whose deliveries
// could not be persisted).
//
// Times are epoch seconds (fractions allowed), like the engine's `now`.

/** The entry the engine's outcome says to store under `outcome.record_key`, or null. */
export function entryOf(outcome) {
  if (!outcome || typeof outcome.record !== 'string') return null;
  return { record: outcome.record, version: outcome.version, expires_at: outcome.expires_at, sweep_at: outcome.sweep_at ?? null };
}

/** An entry as compareAndSet/commit take it, checked (the same refusals in every store). */
export function checkEntry(entry) {
  if (entry === null) return null;
  if (!entry || typeof entry.record !== 'string') throw new TypeError('entry.record must be the record text');
  if (!Number.isSafeInteger(entry.version) || entry.version < 1) throw new TypeError('entry.version must be a positive integer');
  const sweepAt = Number.isFinite(entry.sweep_at) ? entry.sweep_at : null;
  const expiresAt = Number.isFinite(entry.expires_at) ? entry.expires_at : null;
  return { record: entry.record, version: entry.version, expires_at: expiresAt, sweep_at: sweepAt };
}

export function checkKey(key) {
  if (typeof key !== 'string' || key === '') throw new TypeError('key must be a non-empty string');
}

export function checkExpected(expectedVersion) {
  if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) {
    throw new TypeError('expectedVersion must be a non-negative integer (0: must not exist)');
  }
}

/**
 * The embedded default for one process: records, the outbox and dead letters in Maps; nothing
 * survives a restart (the Node function's `CALLHOOK_STORE=memory`, tests, browsers). Expired
 * records vanish on read and are purged every `purgeIntervalMs` by a timer that does not keep
 * the process alive. `now` is the clock expiry is judged by (epoch seconds); give the store the
 * same clock as the handler when the handler's clock is not the real one.
 */
export function memoryStore({ now = () => Date.now() / 1000, purgeIntervalMs = 60_000 } = {}) {
  /** @type {Map<string, {record: string, version: number, sweep_at: number|null, expires_at: number|null}>} */
  const records = new Map();
  const outbox = outboxState();
  let closed = false;

  const live = (key) => {
    const entry = records.get(key);
    if (!entry) return null;
    if (entry.expires_at !== null && entry.expires_at <= now()) {
      records.delete(key);
      return null;
    }
    return entry;
  };

  const purge = () => {
    const t = now();
    for (const [key, entry] of records) if (entry.expires_at !== null && entry.expires_at <= t) records.delete(key);
  };

  let timer = null;
  if (purgeIntervalMs > 0 && typeof setInterval === 'function') {
    timer = setInterval(purge, purgeIntervalMs);
    if (typeof timer === 'object' && timer && typeof timer.unref === 'function') timer.unref();
  }

  const ensureOpen = () => {
    if (closed) throw new Error('store is closed');
  };

  // Checked before comparing so a bad entry is an error, not a silent "conflict".
  const matches = (key, expectedVersion) => {
    const current = live(key);
    return (current ? current.version : 0) === expectedVersion;
  };
  const apply = (key, next) => {
    if (next === null) records.delete(key);
    else records.set(key, next);
  };

  return {
    durable: false,

    async get(key) {
      ensureOpen();
      checkKey(key);
      const entry = live(key);
      return entry ? { ...entry } : null;
    },

    async compareAndSet(key, expectedVersion, entry) {
      ensureOpen();
      checkKey(key);
      checkExpected(expectedVersion);
      const next = checkEntry(entry);
      if (!matches(key, expectedVersion)) return false;
      apply(key, next);
      return true;
    },

    async commit({ key = null, expectedVersion = 0, entry = null, items = [], limits } = {}) {
      ensureOpen();
      const list = items.map(checkItem);
      let next = null;
      if (key !== null) {
        checkKey(key);
        checkExpected(expectedVersion);
        next = checkEntry(entry);
        if (!matches(key, expectedVersion)) return { ok: false, reason: 'conflict' };
      }
      const full = outbox.overCap(list, limits);
      if (full) return full;
      if (key !== null) apply(key, next);
      outbox.add(list);
      return { ok: true };
    },

    async due(at) {
      ensureOpen();
      const t = now();
      const keys = [];
      for (const [key, entry] of records) {
        if (entry.expires_at !== null && entry.expires_at <= t) {
          records.delete(key);
          continue;
        }
        if (entry.sweep_at !== null && entry.sweep_at <= at) keys.push(key);
      }
      return keys;
    },

    async claim({ destination, max, nowMs }) {
      ensureOpen();
      return outbox.claim(destination, max, nowMs);
    },
    async finish(item, result) {
      ensureOpen();
      outbox.finish(item, result);
    },
    async release(items) {
      outbox.release(items);
    },
    async destinations() {
      ensureOpen();
      return outbox.destinations();
    },
    async counts() {
      ensureOpen();
      return outbox.counts();
    },
    async deadLetters(options) {
      ensureOpen();
      return outbox.deadLetters(options);
    },
    async redrive(ids) {
      ensureOpen();
      return outbox.redrive(ids, Date.now());
    },
    async ping() {
      return !closed;
    },

    async close() {
      closed = true;
      if (timer !== null) clearInterval(timer);
      timer = null;
    },

    /** Number of records held (expired ones included until purged); for tests and metrics. */
    get size() {
      return records.size;
    },
  };
}

/** An outbox item as commit() takes it, checked. */
export function checkItem(item) {
  if (!item || typeof item !== 'object') throw new TypeError('an outbox item must be an object');
  for (const field of ['id', 'destination', 'sealed']) {
    if (typeof item[field] !== 'string' || item[field] === '') throw new TypeError(`an outbox item needs a ${field}`);
  }
  if (!Number.isFinite(item.enqueued_at_ms)) throw new TypeError('an outbox item needs enqueued_at_ms (epoch ms)');
  return {
    id: item.id,
    route: String(item.route ?? ''),
    destination: item.destination,
    idempotency_key: String(item.idempotency_key ?? ''),
    sealed: item.sealed,
    enqueued_at_ms: item.enqueued_at_ms,
  };
}

/** Which cap `list` would cross, as commit()'s refusal (with what would be pending once the
 * items were added), or null. */
export function capRefusal(list, limits, pendingTotal, pendingOf) {
  if (!limits || list.length === 0) return null;
  const total = Number.isFinite(limits.total) ? limits.total : Infinity;
  const per = Number.isFinite(limits.perDestination) ? limits.perDestination : Infinity;
  if (pendingTotal + list.length > total) return { ok: false, reason: 'full', destination: null, pending: pendingTotal + list.length, limit: total };
  const adding = new Map();
  for (const item of list) adding.set(item.destination, (adding.get(item.destination) ?? 0) + 1);
  for (const [destination, n] of adding) {
    const pending = pendingOf(destination);
    if (pending + n > per) return { ok: false, reason: 'full', destination, pending: pending + n, limit: per };
  }
  return null;
}

// The outbox of a one-process store: pending items by id, with the ids this process holds.
function outboxState() {
  const pending = new Map(); // id -> {item..., attempts, history, next_at_ms}
  const held = new Set();
  const dead = new Map(); // id -> dead letter
  const perDestination = new Map();
  const count = (destination, delta) => {
    const n = (perDestination.get(destination) ?? 0) + delta;
    if (n <= 0) perDestination.delete(destination);
    else perDestination.set(destination, n);
  };
  const claimed = (p) => ({ ...p, history: [...p.history] });
  const remove = (id) => {
    const p = pending.get(id);
    if (!p) return null;
    pending.delete(id);
    held.delete(id);
    count(p.destination, -1);
    return p;
  };
  return {
    overCap(list, limits) {
      return capRefusal(list, limits, pending.size, (d) => perDestination.get(d) ?? 0);
    },
    add(list) {
      for (const item of list) {
        if (pending.has(item.id)) continue;
        pending.set(item.id, { ...item, attempts: 0, history: [], next_at_ms: item.enqueued_at_ms });
        count(item.destination, 1);
      }
    },
    claim(destination, max, nowMs) {
      const out = [];
      for (const p of pending.values()) {
        if (out.length >= max) break;
        if (p.destination !== destination || held.has(p.id) || p.next_at_ms > nowMs) continue;
        held.add(p.id);
        out.push(claimed(p));
      }
      return out;
    },
    finish(item, { verdict, next_at_ms, code, reason, attempt }) {
      const p = pending.get(item.id);
      if (!p) return;
      p.history.push(attempt);
      p.attempts += 1;
      if (verdict === 'retry') {
        p.next_at_ms = next_at_ms;
        held.delete(p.id);
        return;
      }
      remove(p.id);
      if (verdict === 'dead') {
        const { next_at_ms: _n, ...rest } = p;
        dead.set(p.id, { ...rest, code, reason, dead_at_ms: attempt?.at_ms ?? Date.now() });
      }
    },
    release(items) {
      for (const item of items) held.delete(item.id);
    },
    destinations() {
      return [...perDestination.keys()];
    },
    counts() {
      return { pending: pending.size, byDestination: Object.fromEntries(perDestination), dead: dead.size };
    },
    deadLetters({ limit = 100, destination } = {}) {
      const all = [...dead.values()].filter((d) => destination === undefined || d.destination === destination);
      all.sort((a, b) => b.dead_at_ms - a.dead_at_ms);
      return all.slice(0, limit).map((d) => ({ ...d, history: [...d.history] }));
    },
    redrive(ids, nowMs) {
      const chosen = (ids ?? [...dead.keys()]).filter((id) => dead.has(id));
      for (const id of chosen) {
        const { code: _c, reason: _r, dead_at_ms: _d, ...item } = dead.get(id);
        dead.delete(id);
        pending.set(id, { ...item, attempts: 0, next_at_ms: nowMs });
        count(item.destination, 1);
      }
      return chosen.length;
    },
  };
}
