// Record stores for the correlation protocol (README "Correlation", "What a shell does").
//
// Every store has the same four methods:
//   get(key)                                   -> {record, version} | null
//   compareAndSet(key, expectedVersion, record, expiresAt) -> true | false
//   due(now)                                   -> keys whose record's sweep_at <= now
//   close()
//
// A store never interprets a record beyond the two numbers the protocol needs, both read from
// the record JSON the engine produced: `version` (what compare-and-set compares) and
// `sweep_at` (what `due` looks at). `expectedVersion` 0 means "no record may exist". As an
// extension used by the fetch handler to undo a store whose deliveries could not be
// persisted, `record === null` deletes the record when its version still matches.
//
// Times are epoch seconds (fractions allowed), like the engine's `now`.

/** Reads the two protocol numbers from a record; throws on a record the engine cannot have made. */
export function recordMeta(record) {
  if (typeof record !== 'string') throw new TypeError('record must be a JSON string');
  let parsed;
  try {
    parsed = JSON.parse(record);
  } catch {
    throw new TypeError('record is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object') throw new TypeError('record is not a JSON object');
  const { version } = parsed;
  if (!Number.isSafeInteger(version) || version < 1) throw new TypeError('record has no positive integer "version"');
  const sweepAt = typeof parsed.sweep_at === 'number' && Number.isFinite(parsed.sweep_at) ? parsed.sweep_at : null;
  return { version, sweepAt };
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
  /** @type {Map<string, {record: string, version: number, sweepAt: number|null, expiresAt: number}>} */
  const records = new Map();
  let closed = false;

  const live = (key) => {
    const entry = records.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= now()) {
      records.delete(key);
      return null;
    }
    return entry;
  };

  const purge = () => {
    const t = now();
    for (const [key, entry] of records) if (entry.expiresAt <= t) records.delete(key);
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
      return entry ? { record: entry.record, version: entry.version } : null;
    },

    async compareAndSet(key, expectedVersion, record, expiresAt) {
      ensureOpen();
      checkKey(key);
      checkExpected(expectedVersion);
      // Validate before comparing so a bad record is an error, not a silent "conflict".
      const meta = record === null ? null : recordMeta(record);
      const current = live(key);
      if ((current ? current.version : 0) !== expectedVersion) return false;
      if (meta === null) {
        records.delete(key);
        return true;
      }
      const expiry = Number.isFinite(expiresAt) ? expiresAt : Infinity;
      records.set(key, { record, version: meta.version, sweepAt: meta.sweepAt, expiresAt: expiry });
      return true;
    },

    async due(at) {
      ensureOpen();
      const t = now();
      const keys = [];
      for (const [key, entry] of records) {
        if (entry.expiresAt <= t) {
          records.delete(key);
          continue;
        }
        if (entry.sweepAt !== null && entry.sweepAt <= at) keys.push(key);
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

// KEYS[1] the record, KEYS[2] the sweep index.
// ARGV: expected version, mode ("set" | "del"), record, expiry in epoch ms ("" for none),
// sweep_at ("" for none), the call key (the sweep index's member).
// A stored value that is not a record with a numeric version compares as version -1, so it
// can never be overwritten by accident (the engine answers 503 for it, and it expires).
const CAS_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
local v = 0
if cur then
  local ok, d = pcall(cjson.decode, cur)
  if ok and type(d) == 'table' and type(d.version) == 'number' then v = d.version else v = -1 end
end
if v ~= tonumber(ARGV[1]) then return 0 end
if ARGV[2] == 'del' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[6])
  return 1
end
if ARGV[4] == '' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[3], 'PXAT', ARGV[4])
end
if ARGV[5] == '' then
  redis.call('ZREM', KEYS[2], ARGV[6])
else
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
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
 * `${prefix}sweep` holds each key's sweep_at. Compare-and-set is one Lua script, atomic on the
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
      const record = await redisCommand(client, ['GET', recordPrefix + key]);
      if (record === null || record === undefined) return null;
      const text = typeof record === 'string' ? record : String(record);
      let version = -1;
      try {
        version = recordMeta(text).version;
      } catch {
        // Unreadable: handed to the engine as is (it answers 503); never matches a CAS.
      }
      return { record: text, version };
    },

    async compareAndSet(key, expectedVersion, record, expiresAt) {
      ensureOpen();
      checkKey(key);
      checkExpected(expectedVersion);
      const meta = record === null ? null : recordMeta(record);
      const expiryMs = Number.isFinite(expiresAt) ? String(Math.max(1, Math.round(expiresAt * 1000))) : '';
      const args = [
        'EVAL', CAS_SCRIPT, '2', recordPrefix + key, sweepKey,
        String(expectedVersion),
        meta === null ? 'del' : 'set',
        record === null ? '' : record,
        expiryMs,
        meta === null || meta.sweepAt === null ? '' : String(meta.sweepAt),
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
