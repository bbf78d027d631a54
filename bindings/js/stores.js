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

// ---- dead letters: which ones a call names --------------------------------------------------

/** How long a dead letter is kept before a store purges it: 30 days. */
export const DEAD_LETTER_RETENTION_MS = 30 * 24 * 3600 * 1000;
/** How many dead letters deadLetters() lists when no limit is given. */
export const DEAD_LETTER_LIMIT = 100;

const FILTER_KEYS = new Set(['destination', 'route', 'code', 'sinceMs', 'untilMs', 'limit']);

/**
 * A dead-letter filter ({destination, route, code, sinceMs, untilMs, limit}) checked: the same
 * refusals in every store (an unknown key is a TypeError, so a misspelt filter never widens to
 * "all"). `limit` defaults to `defaultLimit` (Infinity: every match).
 */
export function checkFilter(filter, defaultLimit = DEAD_LETTER_LIMIT) {
  if (filter === undefined || filter === null) filter = {};
  if (typeof filter !== 'object' || Array.isArray(filter)) throw new TypeError('a dead-letter filter must be an object');
  for (const k of Object.keys(filter)) {
    if (!FILTER_KEYS.has(k)) throw new TypeError(`unknown dead-letter filter field ${k} (destination, route, code, sinceMs, untilMs, limit)`);
  }
  const out = { limit: defaultLimit };
  for (const k of ['destination', 'route', 'code']) {
    if (filter[k] === undefined || filter[k] === null) continue;
    if (typeof filter[k] !== 'string') throw new TypeError(`filter.${k} must be a string`);
    out[k] = filter[k];
  }
  for (const k of ['sinceMs', 'untilMs']) {
    if (filter[k] === undefined || filter[k] === null) continue;
    if (!Number.isFinite(filter[k])) throw new TypeError(`filter.${k} must be epoch milliseconds`);
    out[k] = filter[k];
  }
  if (filter.limit !== undefined && filter.limit !== null) {
    if (filter.limit !== Infinity && !(Number.isSafeInteger(filter.limit) && filter.limit >= 0)) {
      throw new TypeError('filter.limit must be a non-negative integer or Infinity');
    }
    out.limit = filter.limit;
  }
  return out;
}

/** Whether a dead letter passes a checked filter: `sinceMs <= dead_at_ms < untilMs`. */
export function filterMatches(filter, letter) {
  if (filter.destination !== undefined && letter.destination !== filter.destination) return false;
  if (filter.route !== undefined && letter.route !== filter.route) return false;
  if (filter.code !== undefined && letter.code !== filter.code) return false;
  if (filter.sinceMs !== undefined && !(letter.dead_at_ms >= filter.sinceMs)) return false;
  if (filter.untilMs !== undefined && !(letter.dead_at_ms < filter.untilMs)) return false;
  return true;
}

/**
 * What purge() and redrive() take, checked: {ids} (an array: those dead letters), or {filter}
 * (an object: every dead letter it matches, all of them unless it has a limit); undefined is
 * every dead letter.
 */
export function checkSelection(selection) {
  if (selection === undefined || selection === null) return { filter: checkFilter({}, Infinity) };
  if (Array.isArray(selection)) {
    for (const id of selection) if (typeof id !== 'string') throw new TypeError('dead letter ids must be strings');
    return { ids: [...new Set(selection)] };
  }
  return { filter: checkFilter(selection, Infinity) };
}

/** redrive()'s options checked: `sealed` maps a dead letter id to the sealed text to send now. */
export function checkRedriveOptions(options) {
  const sealed = new Map();
  if (options === undefined || options === null) return { sealed };
  if (typeof options !== 'object') throw new TypeError('redrive options must be an object');
  const given = options.sealed;
  if (given === undefined || given === null) return { sealed };
  const entries = given instanceof Map ? [...given] : Object.entries(given);
  for (const [id, text] of entries) {
    if (typeof text !== 'string' || text === '') throw new TypeError(`the sealed text for ${id} must be a non-empty string`);
    sealed.set(String(id), text);
  }
  return { sealed };
}

/** erase()'s predicates checked: record(text, key) and item(item), each returning a boolean. */
export function checkErase(predicates) {
  if (!predicates || typeof predicates !== 'object') throw new TypeError('erase needs {record(text, key), item(item)}');
  const { record = () => false, item = () => false } = predicates;
  if (typeof record !== 'function' || typeof item !== 'function') throw new TypeError('erase: record and item must be functions');
  return { record: (text, key) => record(text, key) === true, item: (i) => item(i) === true };
}

/** A store's dead-letter retention option, checked (Infinity or 0: kept until purged). */
export function checkRetention(ms) {
  if (ms === Infinity || ms === 0) return Infinity;
  if (!(Number.isFinite(ms) && ms > 0)) throw new TypeError('deadLetterRetentionMs must be a positive number of milliseconds (Infinity: keep)');
  return ms;
}

/**
 * The embedded default for one process: records, the outbox and dead letters in Maps; nothing
 * survives a restart (the Node function's `CALLHOOK_STORE=memory`, tests, browsers). Expired
 * records vanish on read and are purged every `purgeIntervalMs` by a timer that does not keep
 * the process alive. `now` is the clock expiry is judged by (epoch seconds); give the store the
 * same clock as the handler when the handler's clock is not the real one.
 */
export function memoryStore({
  now = () => Date.now() / 1000,
  purgeIntervalMs = 60_000,
  deadLetterRetentionMs = DEAD_LETTER_RETENTION_MS,
} = {}) {
  const retention = checkRetention(deadLetterRetentionMs);
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
    outbox.expire(t * 1000 - retention);
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
    async deadLetters(filter) {
      ensureOpen();
      const checked = checkFilter(filter);
      outbox.expire(now() * 1000 - retention);
      return outbox.deadLetters(checked);
    },
    async deadLetter(id) {
      ensureOpen();
      outbox.expire(now() * 1000 - retention);
      return outbox.deadLetter(String(id));
    },
    async purge(selection) {
      ensureOpen();
      return outbox.purge(checkSelection(selection));
    },
    async redrive(selection, options) {
      ensureOpen();
      return outbox.redrive(checkSelection(selection), checkRedriveOptions(options));
    },
    async erase(predicates) {
      ensureOpen();
      const accept = checkErase(predicates);
      let erased = 0;
      for (const [key, entry] of records) {
        if (accept.record(entry.record, key)) {
          records.delete(key);
          erased += 1;
        }
      }
      return { records: erased, ...outbox.erase(accept.item) };
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
    call_sid: String(item.call_sid ?? ''),
    record_key: String(item.record_key ?? ''),
    trigger: String(item.trigger ?? ''),
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
  const claimed = (p) => {
    const { next_at_ms: _n, ...item } = p;
    return { ...item, history: [...p.history] };
  };
  const copy = (d) => ({ ...d, history: [...d.history] });
  // The ids a checked selection names that are dead letters, newest first for a filter.
  const select = (selection) => (selection.ids
    ? selection.ids.filter((id) => dead.has(id))
    : [...dead.values()].reverse().filter((d) => filterMatches(selection.filter, d))
      .sort((a, b) => b.dead_at_ms - a.dead_at_ms).slice(0, selection.filter.limit).map((d) => d.id));
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
    // Newest first: by dead_at_ms, the later dead first among equals.
    deadLetters(filter) {
      const all = [...dead.values()].reverse().filter((d) => filterMatches(filter, d));
      all.sort((a, b) => b.dead_at_ms - a.dead_at_ms);
      return all.slice(0, filter.limit).map(copy);
    },
    deadLetter(id) {
      const d = dead.get(id);
      return d ? copy(d) : null;
    },
    expire(cutoffMs) {
      for (const [id, d] of dead) if (d.dead_at_ms < cutoffMs) dead.delete(id);
    },
    purge(selection) {
      const chosen = select(selection);
      for (const id of chosen) dead.delete(id);
      return chosen.length;
    },
    redrive(selection, { sealed }) {
      const chosen = select(selection).filter((id) => !pending.has(id));
      for (const id of chosen) {
        const { code: _c, reason: _r, dead_at_ms: _d, ...item } = dead.get(id);
        dead.delete(id);
        if (sealed.has(id)) item.sealed = sealed.get(id);
        pending.set(id, { ...item, attempts: 0, next_at_ms: 0 });
        count(item.destination, 1);
      }
      return chosen.length;
    },
    erase(accept) {
      let outbox = 0;
      let letters = 0;
      for (const p of [...pending.values()]) {
        const { next_at_ms: _n, ...item } = p;
        if (accept(copy(item))) {
          remove(p.id);
          outbox += 1;
        }
      }
      for (const [id, d] of [...dead]) {
        if (accept(copy(d))) {
          dead.delete(id);
          letters += 1;
        }
      }
      return { outbox, dead_letters: letters };
    },
  };
}
