// Record stores for the correlation protocol (README "Correlation", "What a shell does").
//
// Every store has the same four methods:
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

function checkEntry(entry) {
  if (entry === null) return null;
  if (!entry || typeof entry.record !== 'string') throw new TypeError('entry.record must be the record text');
  if (!Number.isSafeInteger(entry.version) || entry.version < 1) throw new TypeError('entry.version must be a positive integer');
  const sweepAt = Number.isFinite(entry.sweep_at) ? entry.sweep_at : null;
  const expiresAt = Number.isFinite(entry.expires_at) ? entry.expires_at : null;
  return { record: entry.record, version: entry.version, expires_at: expiresAt, sweep_at: sweepAt };
}

function checkKey(key) {
  if (typeof key !== 'string' || key === '') throw new TypeError('key must be a non-empty string');
}

function checkExpected(expectedVersion) {
  if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) {
    throw new TypeError('expectedVersion must be a non-negative integer (0: must not exist)');
  }
}

/**
 * The embedded default: records in a Map, for one process. Expired records vanish on read and
 * are purged every `purgeIntervalMs` by a timer that does not keep the process alive.
 * `now` is the clock expiry is judged by (epoch seconds); give the store the same clock as the
 * handler when the handler's clock is not the real one.
 */
export function memoryStore({ now = () => Date.now() / 1000, purgeIntervalMs = 60_000 } = {}) {
  /** @type {Map<string, {record: string, version: number, sweep_at: number|null, expires_at: number|null}>} */
  const records = new Map();
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

  return {
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
      // Checked before comparing so a bad entry is an error, not a silent "conflict".
      const next = checkEntry(entry);
      const current = live(key);
      if ((current ? current.version : 0) !== expectedVersion) return false;
      if (next === null) records.delete(key);
      else records.set(key, next);
      return true;
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

// KEYS[1] the record (a hash: record, version, expires_at, sweep_at), KEYS[2] the sweep index.
// ARGV: expected version, mode ("set" | "del"), record, version, expiry in epoch ms ("" for
// none), sweep_at ("" for none), the call key (the sweep index's member).
// A key that is not such a hash compares as version -1, so it is never overwritten by accident.
const CAS_SCRIPT = `
local v = 0
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'hash' then
  v = tonumber(redis.call('HGET', KEYS[1], 'version')) or -1
elseif t ~= 'none' then
  v = -1
end
if v ~= tonumber(ARGV[1]) then return 0 end
if ARGV[2] == 'del' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[7])
  return 1
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'record', ARGV[3], 'version', ARGV[4], 'expires_at', ARGV[5], 'sweep_at', ARGV[6])
if ARGV[5] ~= '' then redis.call('PEXPIREAT', KEYS[1], ARGV[5]) end
if ARGV[6] == '' then
  redis.call('ZREM', KEYS[2], ARGV[7])
else
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[7])
end
return 1
`;

// KEYS[1] the sweep index. ARGV: now, limit, the record key prefix.
// Members whose record has expired are dropped here, atomically with the check, so a record
// created again meanwhile never loses its index entry.
const DUE_SCRIPT = `
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, m in ipairs(members) do
  if redis.call('EXISTS', ARGV[3] .. m) == 1 then
    out[#out + 1] = m
  else
    redis.call('ZREM', KEYS[1], m)
  end
end
return out
`;

/** Sends one command through node-redis (v4 and later) and returns its raw reply. */
export function redisCommand(client, args) {
  if (!client || typeof client.sendCommand !== 'function') {
    throw new TypeError('expected a connected node-redis client (createClient from "redis")');
  }
  return client.sendCommand(args.map(String));
}

/**
 * Records in Redis, shared by every instance that uses the same client target and prefix.
 * The record lives at `${prefix}record:${key}` with Redis's own expiry (PXAT); a sorted set
 * `${prefix}sweep` holds each key's sweep_at. The record lives in a hash beside its version, expiry
 * and sweep_at. Compare-and-set is one Lua script, atomic on the
 * server. The script reads `${prefix}record:*` keys it is not handed, so on Redis Cluster put
 * a hash tag in the prefix (`{callhook}:`), which keeps every key on one slot.
 * `close()` leaves the client open: whoever created it closes it.
 */
export function redisStore(client, { prefix = 'callhook:', dueLimit = 1000 } = {}) {
  const recordPrefix = `${prefix}record:`;
  const sweepKey = `${prefix}sweep`;
  let closed = false;
  const ensureOpen = () => {
    if (closed) throw new Error('store is closed');
  };

  return {
    async get(key) {
      ensureOpen();
      checkKey(key);
      const reply = await redisCommand(client, ['HMGET', recordPrefix + key, 'record', 'version', 'expires_at', 'sweep_at']);
      if (!Array.isArray(reply) || reply[0] === null || reply[0] === undefined) return null;
      const [record, version, expiresMs, sweepAt] = reply.map((v) => (v === null || v === undefined ? '' : String(v)));
      return {
        record,
        version: Number(version),
        expires_at: expiresMs === '' ? null : Number(expiresMs) / 1000,
        sweep_at: sweepAt === '' ? null : Number(sweepAt),
      };
    },

    async compareAndSet(key, expectedVersion, entry) {
      ensureOpen();
      checkKey(key);
      checkExpected(expectedVersion);
      const next = checkEntry(entry);
      const expiryMs = next && next.expires_at !== null ? String(Math.max(1, Math.round(next.expires_at * 1000))) : '';
      const args = [
        'EVAL', CAS_SCRIPT, '2', recordPrefix + key, sweepKey,
        String(expectedVersion),
        next === null ? 'del' : 'set',
        next === null ? '' : next.record,
        next === null ? '' : String(next.version),
        expiryMs,
        next === null || next.sweep_at === null ? '' : String(next.sweep_at),
        key,
      ];
      const reply = await redisCommand(client, args);
      return Number(reply) === 1;
    },

    async due(now) {
      ensureOpen();
      const reply = await redisCommand(client, ['EVAL', DUE_SCRIPT, '1', sweepKey, String(now), String(dueLimit), recordPrefix]);
      return Array.isArray(reply) ? reply.map(String) : [];
    },

    async close() {
      closed = true;
    },
  };
}
