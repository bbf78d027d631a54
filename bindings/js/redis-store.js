// A DurableStore in Redis (stores.d.ts, "Stores that keep the outbox too"), shared by every
// instance that uses the same Redis and prefix: correlation records, the delivery outbox and
// the dead letters. The outbox is a Redis Stream per destination read through one consumer
// group, so an instance that dies holding deliveries loses nothing: its entries stay in the
// group's pending list and another instance takes them over (XAUTOCLAIM) once they have been
// idle `claimIdleMs`. Delivery is at least once; the idempotency key travels with the item.
//
// Key layout (p = prefix, d = a destination name):
//   p record:<key>     hash {record, version, expires_at (epoch ms), expires_at_s, sweep_at}, PXAT expiry
//   p sweep            zset call key -> sweep_at (epoch s)
//   p items            hash item id -> where it is: its stream entry id, or "retry"
//   p destinations     set of destinations with pending items
//   p q:<d>            stream of due or held items {id, item: JSON}; consumer group "callhook"
//   p retry:<d>        zset item id -> next_at_ms: scheduled retries
//   p retry-item:<d>   hash item id -> item JSON, for those retries
//   p dead             hash item id -> dead letter JSON
//   p dead-at          zset item id -> dead_at_ms; p dead-at:<d> the same for one destination
//   p autoclaim        hash d -> the XAUTOCLAIM cursor of d's pending list
// Pending in all = HLEN items; pending of d = XLEN q:<d> + ZCARD retry:<d>. Every change is one
// Lua script, so these stay exact. Scripts are handed their keys in KEYS, except due(), which
// reads the record keys its sweep entries name: on Redis Cluster put a hash tag in the prefix
// ("{callhook}:") so every key lives in one slot.

import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  checkEntry, checkErase, checkExpected, checkFilter, checkItem, checkKey, checkRedriveOptions, checkRetention, checkSelection,
  DEAD_LETTER_RETENTION_MS, filterMatches,
} from './stores.js';

const GROUP = 'callhook';
const PROMOTE_BATCH = 500; // most due retries one claim moves back into the stream
const KEY_BATCH = 200; // ids per redrive, purge or erase script
const SCAN_BATCH = 500; // keys, entries or index members read per round trip
// Retention is applied on every listing, and by counts() at most this often.
const EXPIRE_EVERY_MS = 60_000;
const NO_CAP = '-1';

const VERDICTS = new Set(['delivered', 'retry', 'dead']);

/** Sends one command through node-redis (v4 and later) and returns its raw reply. */
function redisCommand(client, args) {
  return client.sendCommand(args.map(String));
}

// ---- scripts -----------------------------------------------------------------------------------

// The record's compare-and-set, shared by CAS and COMMIT. KEYS[1] the record, KEYS[2] the sweep.
// ARGV[2] expected version, ARGV[3] mode ("set" | "del"), ARGV[4] record, ARGV[5] version,
// ARGV[6] expiry in epoch ms ("" for none), ARGV[7] expires_at as given (epoch s, exact text),
// ARGV[8] sweep_at ("" for none), ARGV[9] the call key (the sweep's member).
// A key that is not such a hash compares as version -1, so it is never overwritten by accident.
const RECORD_LUA = `
local function record_matches()
  local v = 0
  local t = redis.call('TYPE', KEYS[1])['ok']
  if t == 'hash' then
    v = tonumber(redis.call('HGET', KEYS[1], 'version')) or -1
  elseif t ~= 'none' then
    v = -1
  end
  return v == tonumber(ARGV[2])
end
local function record_apply()
  redis.call('DEL', KEYS[1])
  if ARGV[3] == 'del' then
    redis.call('ZREM', KEYS[2], ARGV[9])
    return
  end
  redis.call('HSET', KEYS[1], 'record', ARGV[4], 'version', ARGV[5], 'expires_at', ARGV[6], 'expires_at_s', ARGV[7], 'sweep_at', ARGV[8])
  if ARGV[6] ~= '' then redis.call('PEXPIREAT', KEYS[1], ARGV[6]) end
  if ARGV[8] == '' then
    redis.call('ZREM', KEYS[2], ARGV[9])
  else
    redis.call('ZADD', KEYS[2], ARGV[8], ARGV[9])
  end
end
`;

const CAS_SCRIPT = `${RECORD_LUA}
if not record_matches() then return 0 end
record_apply()
return 1
`;

// KEYS[1] the sweep. ARGV: now, limit, the record key prefix.
// Members whose record has expired are dropped here, atomically with the check, so a record
// created again meanwhile never loses its sweep entry.
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

// The record's compare-and-set, then the caps, then every item: all or nothing.
// KEYS[1] record (the sweep again when there is no record), KEYS[2] sweep, KEYS[3] items,
// KEYS[4] destinations, then for destination n (1-based): KEYS[3 + 2n] its stream, KEYS[4 + 2n]
// its retries. ARGV[1] "1" with a record, ARGV[2..9] as RECORD_LUA, ARGV[10] the total cap and
// ARGV[11] the per-destination cap ("-1": none), ARGV[12] group, ARGV[13] N destinations,
// ARGV[14..13+N] their names, then (destination n, item id, item JSON) triples.
// An item whose id is already pending is not added again. 'full' counts what would be pending.
const COMMIT_SCRIPT = `${RECORD_LUA}
local has_record = ARGV[1] == '1'
if has_record and not record_matches() then return {'conflict'} end
local nd = tonumber(ARGV[13])
local first = 14 + nd
local adding = {}
local fresh = {}
local seen = {}
for i = first, #ARGV, 3 do
  local id = ARGV[i + 1]
  if not seen[id] and redis.call('HEXISTS', KEYS[3], id) == 0 then
    seen[id] = true
    local n = tonumber(ARGV[i])
    adding[n] = (adding[n] or 0) + 1
    fresh[#fresh + 1] = i
  end
end
if #fresh > 0 then
  local total_cap = tonumber(ARGV[10])
  if total_cap >= 0 then
    local pending = redis.call('HLEN', KEYS[3]) + #fresh
    if pending > total_cap then return {'full', '', pending, total_cap} end
  end
  local per_cap = tonumber(ARGV[11])
  if per_cap >= 0 then
    for n = 1, nd do
      if adding[n] then
        local pending = redis.call('XLEN', KEYS[3 + 2 * n]) + redis.call('ZCARD', KEYS[4 + 2 * n]) + adding[n]
        if pending > per_cap then return {'full', ARGV[13 + n], pending, per_cap} end
      end
    end
  end
end
if has_record then record_apply() end
for n = 1, nd do
  if adding[n] then
    if redis.call('EXISTS', KEYS[3 + 2 * n]) == 0 then
      redis.call('XGROUP', 'CREATE', KEYS[3 + 2 * n], ARGV[12], '0', 'MKSTREAM')
    end
    redis.call('SADD', KEYS[4], ARGV[13 + n])
  end
end
for _, i in ipairs(fresh) do
  local sid = redis.call('XADD', KEYS[3 + 2 * tonumber(ARGV[i])], '*', 'id', ARGV[i + 1], 'item', ARGV[i + 2])
  redis.call('HSET', KEYS[3], ARGV[i + 1], sid)
end
return {'ok'}
`;

// Moves due retries into the stream, then takes (a) on the first claim of this store, what this
// consumer name already holds (a previous process under the same name, which is gone), (b)
// entries idle longer than the idle time, whoever holds them (XAUTOCLAIM, from a cursor kept
// per destination so a long pending list is walked through, not rescanned from its start), (c)
// new entries. KEYS[1] stream, KEYS[2] retries, KEYS[3] retry items, KEYS[4] items, KEYS[5]
// autoclaim cursors. ARGV[1] group, ARGV[2] consumer, ARGV[3] max, ARGV[4] now ms, ARGV[5] idle
// ms, ARGV[6] destination, ARGV[7] most retries to move, ARGV[8] "1": take (a).
// Returns (stream entry id, item JSON) pairs.
const CLAIM_SCRIPT = `
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4], 'LIMIT', 0, tonumber(ARGV[7]))
if #due > 0 and redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
end
for _, id in ipairs(due) do
  local json = redis.call('HGET', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  if json then
    redis.call('HSET', KEYS[4], id, redis.call('XADD', KEYS[1], '*', 'id', id, 'item', json))
  else
    redis.call('HDEL', KEYS[4], id)
  end
end
local out = {}
if redis.call('EXISTS', KEYS[1]) == 0 then return out end
local room = tonumber(ARGV[3])
local function take(entries)
  for _, e in ipairs(entries) do
    local fields = e[2]
    if fields then
      for j = 1, #fields, 2 do
        if fields[j] == 'item' then
          out[#out + 1] = e[1]
          out[#out + 1] = fields[j + 1]
          room = room - 1
        end
      end
    end
  end
end
local function read(from)
  local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', room, 'STREAMS', KEYS[1], from)
  if r and r[1] then take(r[1][2]) end
end
if ARGV[8] == '1' then read('0') end
if room > 0 then
  local cursor = redis.call('HGET', KEYS[5], ARGV[6]) or '0-0'
  local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[5], cursor, 'COUNT', room)
  if r[1] ~= cursor then redis.call('HSET', KEYS[5], ARGV[6], r[1]) end
  take(r[2])
end
if room > 0 then read('>') end
return out
`;

// Keeps held entries from being taken over: resets their idle time (XCLAIM to ourselves,
// JUSTID), but only for those this consumer still holds. KEYS[1] stream. ARGV[1] group,
// ARGV[2] consumer, ARGV[3..] entry ids. Returns the ids no longer ours.
const HEARTBEAT_SCRIPT = `
local lost = {}
local exists = redis.call('EXISTS', KEYS[1]) == 1
for i = 3, #ARGV do
  local p = exists and redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1) or {}
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
`;

// One attempt's verdict. KEYS[1] items, KEYS[2] destinations, KEYS[3] stream, KEYS[4] retries,
// KEYS[5] retry items, KEYS[6] dead, KEYS[7] dead-at, KEYS[8] dead-at of the destination.
// ARGV[1] group, ARGV[2] consumer, ARGV[3] verdict, ARGV[4] item id, ARGV[5] destination,
// ARGV[6] the item's next JSON (retry: the scheduled item; dead: the dead letter), ARGV[7] its
// score (next_at_ms, dead_at_ms). Delivered removes the item wherever it is. Retry and dead
// apply only while this consumer holds it: once another took it over, that one decides.
// Returns 1 when something changed.
const FINISH_SCRIPT = `
local id = ARGV[4]
local at = redis.call('HGET', KEYS[1], id)
if not at then return 0 end
local verdict = ARGV[3]
if at == 'retry' then
  if verdict ~= 'delivered' then return 0 end
  redis.call('ZREM', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
else
  if verdict ~= 'delivered' then
    local p = redis.call('XPENDING', KEYS[3], ARGV[1], at, at, 1)
    if not (p[1] and p[1][2] == ARGV[2]) then return 0 end
  end
  redis.call('XACK', KEYS[3], ARGV[1], at)
  redis.call('XDEL', KEYS[3], at)
end
redis.call('HDEL', KEYS[1], id)
if verdict == 'retry' then
  redis.call('ZADD', KEYS[4], ARGV[7], id)
  redis.call('HSET', KEYS[5], id, ARGV[6])
  redis.call('HSET', KEYS[1], id, 'retry')
elseif verdict == 'dead' then
  redis.call('HSET', KEYS[6], id, ARGV[6])
  redis.call('ZADD', KEYS[7], ARGV[7], id)
  redis.call('ZADD', KEYS[8], ARGV[7], id)
end
if redis.call('XLEN', KEYS[3]) + redis.call('ZCARD', KEYS[4]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[5])
end
return 1
`;

// Gives held entries back: each one this consumer still holds is acknowledged, deleted and
// added anew at the stream's end, where any consumer reads it at once. KEYS[1] items, KEYS[2]
// stream. ARGV[1] group, ARGV[2] consumer, ARGV[3..] item ids.
const RELEASE_SCRIPT = `
local n = 0
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
for i = 3, #ARGV do
  local id = ARGV[i]
  local at = redis.call('HGET', KEYS[1], id)
  if at and at ~= 'retry' then
    local p = redis.call('XPENDING', KEYS[2], ARGV[1], at, at, 1)
    local e = redis.call('XRANGE', KEYS[2], at, at)
    if p[1] and p[1][2] == ARGV[2] and e[1] then
      local fields = e[1][2]
      redis.call('XACK', KEYS[2], ARGV[1], at)
      redis.call('XDEL', KEYS[2], at)
      redis.call('HSET', KEYS[1], id, redis.call('XADD', KEYS[2], '*', unpack(fields)))
      n = n + 1
    end
  end
end
return n
`;

// Dead letters back to pending, due at once. KEYS[1] items, KEYS[2] destinations, KEYS[3] dead,
// KEYS[4] dead-at, then for destination n: KEYS[3 + 2n] its stream, KEYS[4 + 2n] its dead-at.
// ARGV[1] group, ARGV[2] N, ARGV[3..2+N] names, then (destination n, id, item JSON) triples.
// A letter redriven meanwhile (by another instance), or whose id is pending again, is skipped.
const REDRIVE_SCRIPT = `
local nd = tonumber(ARGV[2])
local count = 0
for i = 3 + nd, #ARGV, 3 do
  local n = tonumber(ARGV[i])
  local id = ARGV[i + 1]
  if redis.call('HEXISTS', KEYS[3], id) == 1 and redis.call('HEXISTS', KEYS[1], id) == 0 then
    local stream = KEYS[3 + 2 * n]
    if redis.call('EXISTS', stream) == 0 then
      redis.call('XGROUP', 'CREATE', stream, ARGV[1], '0', 'MKSTREAM')
    end
    redis.call('HDEL', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
    redis.call('ZREM', KEYS[4 + 2 * n], id)
    redis.call('HSET', KEYS[1], id, redis.call('XADD', stream, '*', 'id', id, 'item', ARGV[i + 2]))
    redis.call('SADD', KEYS[2], ARGV[2 + n])
    count = count + 1
  end
end
return count
`;

// Dead letters deleted. KEYS[1] dead, KEYS[2] dead-at, then KEYS[2 + n] the dead-at of destination
// n. ARGV (n, id) pairs; n 0: the destination is not known (only the two shared keys).
// Returns how many were dead letters.
const DELETE_DEAD_SCRIPT = `
local count = 0
for i = 1, #ARGV, 2 do
  local n = tonumber(ARGV[i])
  local id = ARGV[i + 1]
  count = count + redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  if n > 0 then redis.call('ZREM', KEYS[2 + n], id) end
end
return count
`;

// Pending items of one destination deleted, wherever they are (in the stream, held or not, or
// scheduled for a retry). KEYS[1] items, KEYS[2] destinations, KEYS[3] stream, KEYS[4] retries,
// KEYS[5] retry items. ARGV[1] group, ARGV[2] destination, ARGV[3..] item ids. A holder's later
// finish() of one finds nothing and changes nothing. Returns how many were pending.
const ERASE_ITEMS_SCRIPT = `
local count = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local at = redis.call('HGET', KEYS[1], id)
  if at then
    if at == 'retry' then
      redis.call('ZREM', KEYS[4], id)
      redis.call('HDEL', KEYS[5], id)
    elseif redis.call('EXISTS', KEYS[3]) == 1 then
      redis.call('XACK', KEYS[3], ARGV[1], at)
      redis.call('XDEL', KEYS[3], at)
    end
    redis.call('HDEL', KEYS[1], id)
    count = count + 1
  end
end
if redis.call('XLEN', KEYS[3]) + redis.call('ZCARD', KEYS[4]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[2])
end
return count
`;

// A record deleted, with its sweep entry. KEYS[1] the record, KEYS[2] the sweep. ARGV[1] the
// call key. Returns 1 when there was a record.
const DELETE_RECORD_SCRIPT = `
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
`;

// KEYS[1] items, KEYS[2] dead, KEYS[3] destinations, then for destination n: KEYS[2 + 2n] its
// stream, KEYS[3 + 2n] its retries. Returns {pending, dead, {destinations now}, per n: count}.
const COUNTS_SCRIPT = `
local out = {redis.call('HLEN', KEYS[1]), redis.call('HLEN', KEYS[2]), redis.call('SMEMBERS', KEYS[3])}
for k = 4, #KEYS, 2 do
  out[#out + 1] = redis.call('XLEN', KEYS[k]) + redis.call('ZCARD', KEYS[k + 1])
end
return out
`;

function script(source) {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const SCRIPTS = {
  cas: script(CAS_SCRIPT),
  due: script(DUE_SCRIPT),
  commit: script(COMMIT_SCRIPT),
  claim: script(CLAIM_SCRIPT),
  heartbeat: script(HEARTBEAT_SCRIPT),
  finish: script(FINISH_SCRIPT),
  release: script(RELEASE_SCRIPT),
  redrive: script(REDRIVE_SCRIPT),
  counts: script(COUNTS_SCRIPT),
  deleteDead: script(DELETE_DEAD_SCRIPT),
  eraseItems: script(ERASE_ITEMS_SCRIPT),
  deleteRecord: script(DELETE_RECORD_SCRIPT),
};

// A prefix as a SCAN MATCH pattern matches it literally.
const globEscape = (text) => text.replace(/[\\*?[\]]/g, (c) => `\\${c}`);

/** A consumer name unique to this process start: host, pid and 6 random bytes. */
function defaultConsumer() {
  let host = 'host';
  try {
    host = hostname() || host;
  } catch {
    // Keep the placeholder.
  }
  return `${host}:${process.pid}:${randomBytes(6).toString('hex')}`;
}

const asText = (v) => (v === null || v === undefined ? '' : String(v));

/**
 * The Redis DurableStore. `client` is a connected node-redis (v4+) client; close() leaves it
 * open. Options:
 * - prefix ("callhook:"): of every key; "{callhook}:" on Redis Cluster
 * - consumer: this instance's name in the consumer group; unique per process start by default.
 *   Names must differ between live instances. A process started again under the same name takes
 *   back what its predecessor held on its first claim of each destination.
 * - claimIdleMs (30000): how long a held item must have been idle (its holder sending no
 *   heartbeat) before another instance takes it over
 * - heartbeatMs (10000): how often held items are marked alive; below claimIdleMs
 * - dueLimit (1000): most keys one due() returns
 * - now: epoch ms (Date.now): dead_at_ms of an attempt without at_ms, and the retention's clock
 * - deadLetterRetentionMs (30 days; Infinity: keep): older dead letters are deleted by every
 *   listing and by counts() at most once a minute
 */
export function redisStore(client, {
  prefix = 'callhook:',
  consumer = defaultConsumer(),
  claimIdleMs = 30_000,
  heartbeatMs = 10_000,
  dueLimit = 1000,
  now = Date.now,
  deadLetterRetentionMs = DEAD_LETTER_RETENTION_MS,
} = {}) {
  const retention = checkRetention(deadLetterRetentionMs);
  if (!client || typeof client.sendCommand !== 'function') {
    throw new TypeError('expected a connected node-redis client (createClient from "redis")');
  }
  if (typeof prefix !== 'string') throw new TypeError('prefix must be a string');
  if (typeof consumer !== 'string' || consumer === '') throw new TypeError('consumer must be a non-empty string');
  if (!Number.isSafeInteger(claimIdleMs) || claimIdleMs < 1) throw new RangeError('claimIdleMs must be a positive integer');
  if (!Number.isSafeInteger(heartbeatMs) || heartbeatMs < 1 || heartbeatMs >= claimIdleMs) {
    throw new RangeError('heartbeatMs must be a positive integer below claimIdleMs');
  }

  const key = {
    record: (k) => `${prefix}record:${k}`,
    sweep: `${prefix}sweep`,
    items: `${prefix}items`,
    destinations: `${prefix}destinations`,
    stream: (d) => `${prefix}q:${d}`,
    retry: (d) => `${prefix}retry:${d}`,
    retryItem: (d) => `${prefix}retry-item:${d}`,
    dead: `${prefix}dead`,
    deadAt: `${prefix}dead-at`,
    deadAtOf: (d) => `${prefix}dead-at:${d}`,
    autoclaim: `${prefix}autoclaim`,
  };

  let closed = false;
  const ensureOpen = () => {
    if (closed) throw new Error('store is closed');
  };

  // EVALSHA, loading the script with EVAL when the server does not have it yet.
  async function run(s, keys, args) {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await redisCommand(client, ['EVALSHA', s.sha, ...tail]);
    } catch (err) {
      if (!/NOSCRIPT/.test(String(err?.message ?? err))) throw err;
      return redisCommand(client, ['EVAL', s.source, ...tail]);
    }
  }

  // What this store holds: destination -> Map(item id -> stream entry id), heartbeated.
  const held = new Map();
  const firstClaimDone = new Set();
  let timer = null;
  let beating = false;

  const heldOf = (destination) => {
    let m = held.get(destination);
    if (!m) held.set(destination, (m = new Map()));
    return m;
  };
  const drop = (destination, id) => {
    const m = held.get(destination);
    if (!m) return;
    m.delete(id);
    if (m.size === 0) held.delete(destination);
  };

  async function heartbeat() {
    if (beating || closed) return;
    beating = true;
    try {
      for (const [destination, m] of [...held]) {
        if (m.size === 0) continue;
        const byEntry = new Map([...m].map(([id, sid]) => [sid, id]));
        const lost = await run(SCRIPTS.heartbeat, [key.stream(destination)], [GROUP, consumer, ...byEntry.keys()]);
        // Another consumer took these over (we were silent too long): it decides them now.
        for (const sid of Array.isArray(lost) ? lost : []) {
          const id = byEntry.get(String(sid));
          if (id !== undefined && m.get(id) === String(sid)) drop(destination, id);
        }
      }
    } catch {
      // Redis unreachable: try again on the next beat. Past claimIdleMs others may take over.
    } finally {
      beating = false;
    }
  }

  function startHeartbeat() {
    if (timer !== null || closed) return;
    timer = setInterval(heartbeat, heartbeatMs);
    if (typeof timer === 'object' && timer && typeof timer.unref === 'function') timer.unref();
  }

  function recordArgs(k, expectedVersion, next) {
    const expiryMs = next && next.expires_at !== null ? String(Math.max(1, Math.round(next.expires_at * 1000))) : '';
    return [
      String(expectedVersion),
      next === null ? 'del' : 'set',
      next === null ? '' : next.record,
      next === null ? '' : String(next.version),
      expiryMs,
      next === null || next.expires_at === null ? '' : String(next.expires_at),
      next === null || next.sweep_at === null ? '' : String(next.sweep_at),
      k,
    ];
  }

  const pendingJson = (item, attempts, history, sealed = item.sealed) => JSON.stringify({
    id: item.id, route: item.route, destination: item.destination, idempotency_key: item.idempotency_key,
    sealed, enqueued_at_ms: item.enqueued_at_ms,
    call_sid: item.call_sid ?? '', record_key: item.record_key ?? '', trigger: item.trigger ?? '', attempts, history,
  });

  // The item fields of a parsed JSON (those written before call_sid, record_key and trigger
  // existed read as '').
  const fieldsOf = (v) => ({
    id: v.id, route: v.route, destination: v.destination, idempotency_key: v.idempotency_key,
    sealed: v.sealed, enqueued_at_ms: v.enqueued_at_ms,
    call_sid: asText(v.call_sid), record_key: asText(v.record_key), trigger: asText(v.trigger),
    attempts: Number.isSafeInteger(v.attempts) ? v.attempts : 0,
    history: Array.isArray(v.history) ? v.history : [],
  });

  function parseItem(json) {
    try {
      const v = JSON.parse(json);
      if (!v || typeof v.id !== 'string') return null;
      return fieldsOf(v);
    } catch {
      return null;
    }
  }

  function parseDead(json) {
    if (json === null || json === undefined) return null;
    try {
      const v = JSON.parse(String(json));
      if (!v || typeof v.id !== 'string') return null;
      return { ...fieldsOf(v), code: asText(v.code), reason: asText(v.reason), dead_at_ms: Number(v.dead_at_ms) };
    } catch {
      return null;
    }
  }

  // Deletes dead letters ({id, destination} each; destination null when unknown), in batches.
  async function deleteDead(letters) {
    let count = 0;
    for (let start = 0; start < letters.length; start += KEY_BATCH) {
      const batch = letters.slice(start, start + KEY_BATCH);
      const names = [];
      const index = new Map();
      const args = [];
      for (const { id, destination } of batch) {
        let n = 0;
        if (typeof destination === 'string' && destination !== '') {
          if (!index.has(destination)) {
            names.push(destination);
            index.set(destination, names.length);
          }
          n = index.get(destination);
        }
        args.push(String(n), id);
      }
      count += Number(await run(SCRIPTS.deleteDead, [key.dead, key.deadAt, ...names.map(key.deadAtOf)], args));
    }
    return count;
  }

  // Dead letters older than the retention, deleted (from the oldest, a batch at a time).
  let expiredAt = -Infinity;
  async function expire() {
    if (retention === Infinity) return;
    expiredAt = Date.now();
    const cutoff = `(${now() - retention}`;
    for (;;) {
      const ids = await redisCommand(client, ['ZRANGEBYSCORE', key.deadAt, '-inf', cutoff, 'LIMIT', '0', String(SCAN_BATCH)]);
      if (!Array.isArray(ids) || ids.length === 0) return;
      const jsons = await redisCommand(client, ['HMGET', key.dead, ...ids.map(String)]);
      await deleteDead(ids.map((id, i) => ({ id: String(id), destination: parseDead(jsons?.[i])?.destination ?? null })));
      if (ids.length < SCAN_BATCH) return;
    }
  }

  // The dead letters a checked filter matches, newest first, at most its limit: the time index
  // (of the destination when the filter names one) read from the newest, a batch at a time.
  async function matching(filter) {
    const out = [];
    if (filter.limit === 0) return out;
    const index = filter.destination === undefined ? key.deadAt : key.deadAtOf(filter.destination);
    const max = filter.untilMs === undefined ? '+inf' : `(${filter.untilMs}`;
    const min = filter.sinceMs === undefined ? '-inf' : String(filter.sinceMs);
    for (let offset = 0; ; offset += SCAN_BATCH) {
      const ids = await redisCommand(client, ['ZREVRANGEBYSCORE', index, max, min, 'LIMIT', String(offset), String(SCAN_BATCH)]);
      if (!Array.isArray(ids) || ids.length === 0) return out;
      const jsons = await redisCommand(client, ['HMGET', key.dead, ...ids.map(String)]);
      for (const json of Array.isArray(jsons) ? jsons : []) {
        const letter = parseDead(json); // null: redriven or purged between the two reads
        if (letter && filterMatches(filter, letter)) out.push(letter);
        if (out.length >= filter.limit) return out;
      }
      if (ids.length < SCAN_BATCH) return out;
    }
  }

  // The dead letters a checked selection names ({ids} or {filter}).
  async function selected(selection) {
    if (!selection.ids) return matching(selection.filter);
    const out = [];
    for (let start = 0; start < selection.ids.length; start += KEY_BATCH) {
      const batch = selection.ids.slice(start, start + KEY_BATCH);
      const jsons = await redisCommand(client, ['HMGET', key.dead, ...batch]);
      batch.forEach((id, i) => {
        const letter = parseDead(Array.isArray(jsons) ? jsons[i] : null);
        if (letter && letter.id === id) out.push(letter);
      });
    }
    return out;
  }

  // Every key of one kind under the prefix, a SCAN batch at a time.
  async function* scanKeys(pattern, type) {
    let cursor = '0';
    do {
      const reply = await redisCommand(client, ['SCAN', cursor, 'MATCH', pattern, 'COUNT', String(SCAN_BATCH), 'TYPE', type]);
      cursor = String(reply[0]);
      for (const k of reply[1]) yield String(k);
    } while (cursor !== '0');
  }

  // Every (field, value) of a hash, an HSCAN batch at a time.
  async function* scanHash(hash) {
    let cursor = '0';
    do {
      const reply = await redisCommand(client, ['HSCAN', hash, cursor, 'COUNT', String(SCAN_BATCH)]);
      cursor = String(reply[0]);
      const list = reply[1];
      for (let i = 0; i + 1 < list.length; i += 2) yield [String(list[i]), String(list[i + 1])];
    } while (cursor !== '0');
  }

  // Every pending item of a destination: in its stream (held or not) and scheduled for retry.
  async function* pendingOf(d) {
    let from = '-';
    for (;;) {
      const entries = await redisCommand(client, ['XRANGE', key.stream(d), from, '+', 'COUNT', String(SCAN_BATCH)]);
      if (!Array.isArray(entries) || entries.length === 0) break;
      for (const [, fields] of entries) {
        for (let j = 0; j + 1 < fields.length; j += 2) {
          if (String(fields[j]) !== 'item') continue;
          const item = parseItem(String(fields[j + 1]));
          if (item) yield item;
        }
      }
      if (entries.length < SCAN_BATCH) break;
      from = `(${String(entries[entries.length - 1][0])}`;
    }
    for await (const [, json] of scanHash(key.retryItem(d))) {
      const item = parseItem(json);
      if (item) yield item;
    }
  }

  const store = {
    /** This store's name in the consumer group. */
    consumer,

    async get(k) {
      ensureOpen();
      checkKey(k);
      const reply = await redisCommand(client, ['HMGET', key.record(k), 'record', 'version', 'expires_at', 'sweep_at', 'expires_at_s']);
      if (!Array.isArray(reply) || reply[0] === null || reply[0] === undefined) return null;
      const [record, version, expiresMs, sweepAt, expiresS] = reply.map(asText);
      let expiresAt = null;
      if (expiresS !== '') expiresAt = Number(expiresS);
      else if (expiresMs !== '') expiresAt = Number(expiresMs) / 1000;
      return { record, version: Number(version), expires_at: expiresAt, sweep_at: sweepAt === '' ? null : Number(sweepAt) };
    },

    async compareAndSet(k, expectedVersion, entry) {
      ensureOpen();
      checkKey(k);
      checkExpected(expectedVersion);
      const next = checkEntry(entry);
      const reply = await run(SCRIPTS.cas, [key.record(k), key.sweep], ['1', ...recordArgs(k, expectedVersion, next)]);
      return Number(reply) === 1;
    },

    async due(at) {
      ensureOpen();
      const reply = await run(SCRIPTS.due, [key.sweep], [String(at), String(dueLimit), `${prefix}record:`]);
      return Array.isArray(reply) ? reply.map(String) : [];
    },

    async commit({ key: k = null, expectedVersion = 0, entry = null, items = [], limits } = {}) {
      ensureOpen();
      if (!Array.isArray(items)) throw new TypeError('items must be an array');
      const list = items.map(checkItem);
      let next = null;
      if (k !== null) {
        checkKey(k);
        checkExpected(expectedVersion);
        next = checkEntry(entry);
      }
      if (k === null && list.length === 0) return { ok: true };
      const cap = (v) => (Number.isFinite(v) ? String(Math.max(0, Math.floor(v))) : NO_CAP);
      const names = [...new Set(list.map((i) => i.destination))];
      const index = new Map(names.map((d, n) => [d, n + 1]));
      const keys = [k === null ? key.sweep : key.record(k), key.sweep, key.items, key.destinations];
      for (const d of names) keys.push(key.stream(d), key.retry(d));
      const args = [
        k === null ? '0' : '1',
        ...(k === null ? ['0', 'set', '', '', '', '', '', ''] : recordArgs(k, expectedVersion, next)),
        cap(limits?.total), cap(limits?.perDestination), GROUP, String(names.length), ...names,
      ];
      for (const item of list) args.push(String(index.get(item.destination)), item.id, pendingJson(item, 0, []));
      const reply = await run(SCRIPTS.commit, keys, args);
      const [verdict, destination, pending, limit] = Array.isArray(reply) ? reply.map(asText) : [asText(reply)];
      if (verdict === 'ok') return { ok: true };
      if (verdict === 'conflict') return { ok: false, reason: 'conflict' };
      if (verdict === 'full') {
        return { ok: false, reason: 'full', destination: destination === '' ? null : destination, pending: Number(pending), limit: Number(limit) };
      }
      throw new Error(`unexpected commit reply from Redis: ${JSON.stringify(reply)}`);
    },

    async claim({ destination, max, nowMs }) {
      ensureOpen();
      if (typeof destination !== 'string' || destination === '') throw new TypeError('destination must be a non-empty string');
      if (!Number.isFinite(nowMs)) throw new TypeError('nowMs must be epoch milliseconds');
      const count = Math.floor(Number(max));
      if (!(count > 0)) return [];
      // Decided before the first await, so two claims at once never both read our own history.
      const first = !firstClaimDone.has(destination);
      firstClaimDone.add(destination);
      let reply;
      try {
        reply = await run(
          SCRIPTS.claim,
          [key.stream(destination), key.retry(destination), key.retryItem(destination), key.items, key.autoclaim],
          [GROUP, consumer, String(count), String(nowMs), String(claimIdleMs), destination, String(PROMOTE_BATCH), first ? '1' : '0'],
        );
      } catch (err) {
        if (first) firstClaimDone.delete(destination);
        throw err;
      }
      const out = [];
      const mine = heldOf(destination);
      const list = Array.isArray(reply) ? reply : [];
      for (let i = 0; i + 1 < list.length; i += 2) {
        const sid = String(list[i]);
        const item = parseItem(String(list[i + 1]));
        if (!item) continue;
        // Ours already (taken back after a late heartbeat): its sender here still has it.
        if (mine.has(item.id)) {
          mine.set(item.id, sid);
          continue;
        }
        mine.set(item.id, sid);
        out.push(item);
      }
      if (mine.size === 0) held.delete(destination);
      if (closed) return out;
      if (held.size > 0) startHeartbeat();
      return out;
    },

    async finish(item, { verdict, next_at_ms, code, reason, attempt } = {}) {
      ensureOpen();
      if (!item || typeof item.id !== 'string' || typeof item.destination !== 'string') {
        throw new TypeError('finish needs a claimed item');
      }
      if (!VERDICTS.has(verdict)) throw new TypeError('verdict must be delivered, retry or dead');
      if (verdict === 'retry' && !Number.isFinite(next_at_ms)) throw new TypeError('a retry needs next_at_ms');
      const d = item.destination;
      const history = [...(Array.isArray(item.history) ? item.history : []), ...(attempt ? [attempt] : [])];
      const attempts = (Number.isSafeInteger(item.attempts) ? item.attempts : 0) + 1;
      let json = '';
      let score = '0';
      if (verdict === 'retry') {
        json = pendingJson(item, attempts, history);
        score = String(next_at_ms);
      } else if (verdict === 'dead') {
        const deadAt = Number.isFinite(attempt?.at_ms) ? attempt.at_ms : now();
        json = JSON.stringify({
          id: item.id, route: item.route, destination: d, idempotency_key: item.idempotency_key, sealed: item.sealed,
          enqueued_at_ms: item.enqueued_at_ms, call_sid: item.call_sid ?? '', record_key: item.record_key ?? '', trigger: item.trigger ?? '',
          attempts, history, code: String(code ?? ''), reason: String(reason ?? ''), dead_at_ms: deadAt,
        });
        score = String(deadAt);
      }
      await run(
        SCRIPTS.finish,
        [key.items, key.destinations, key.stream(d), key.retry(d), key.retryItem(d), key.dead, key.deadAt, key.deadAtOf(d)],
        [GROUP, consumer, verdict, item.id, d, json, score],
      );
      drop(d, item.id);
    },

    async release(items) {
      ensureOpen();
      const byDestination = new Map();
      for (const item of items ?? []) {
        if (!item || typeof item.id !== 'string' || typeof item.destination !== 'string') continue;
        if (!byDestination.has(item.destination)) byDestination.set(item.destination, new Set());
        byDestination.get(item.destination).add(item.id);
      }
      for (const [d, ids] of byDestination) {
        await run(SCRIPTS.release, [key.items, key.stream(d)], [GROUP, consumer, ...ids]);
        for (const id of ids) drop(d, id);
      }
    },

    async destinations() {
      ensureOpen();
      const reply = await redisCommand(client, ['SMEMBERS', key.destinations]);
      return (Array.isArray(reply) ? reply.map(String) : []).sort();
    },

    async counts() {
      ensureOpen();
      if (Date.now() - expiredAt >= EXPIRE_EVERY_MS) await expire();
      let names = await store.destinations();
      // The destinations are read first, then counted in one script; when the set changed in
      // between, count again (a few times at most).
      for (let tries = 0; ; tries++) {
        const keys = [key.items, key.dead, key.destinations];
        for (const d of names) keys.push(key.stream(d), key.retry(d));
        const reply = await run(SCRIPTS.counts, keys, []);
        const current = (Array.isArray(reply[2]) ? reply[2].map(String) : []).sort();
        const same = current.length === names.length && current.every((d, i) => d === names[i]);
        if (same || tries >= 4) {
          const byDestination = {};
          names.forEach((d, i) => {
            const n = Number(reply[3 + i]);
            if (n > 0) byDestination[d] = n;
          });
          return { pending: Number(reply[0]), byDestination, dead: Number(reply[1]) };
        }
        names = current;
      }
    },

    async deadLetters(filter) {
      ensureOpen();
      const checked = checkFilter(filter);
      await expire();
      return matching(checked);
    },

    async deadLetter(id) {
      ensureOpen();
      await expire();
      const letter = parseDead(await redisCommand(client, ['HGET', key.dead, String(id)]));
      return letter && letter.id === String(id) ? letter : null;
    },

    async purge(selection) {
      ensureOpen();
      const checked = checkSelection(selection);
      return deleteDead(await selected(checked));
    },

    async redrive(selection, options) {
      ensureOpen();
      const checked = checkSelection(selection);
      const { sealed } = checkRedriveOptions(options);
      const chosen = await selected(checked);
      let count = 0;
      for (let start = 0; start < chosen.length; start += KEY_BATCH) {
        const batch = chosen.slice(start, start + KEY_BATCH);
        const names = [];
        const index = new Map();
        const triples = [];
        for (const letter of batch) {
          if (typeof letter.destination !== 'string' || letter.destination === '') continue;
          if (!index.has(letter.destination)) {
            names.push(letter.destination);
            index.set(letter.destination, names.length);
          }
          triples.push(String(index.get(letter.destination)), letter.id, pendingJson(letter, 0, [], sealed.get(letter.id) ?? letter.sealed));
        }
        if (triples.length === 0) continue;
        const keys = [key.items, key.destinations, key.dead, key.deadAt];
        for (const d of names) keys.push(key.stream(d), key.deadAtOf(d));
        count += Number(await run(SCRIPTS.redrive, keys, [GROUP, String(names.length), ...names, ...triples]));
      }
      return count;
    },

    /**
     * Records first (every one under the prefix, by SCAN), then every pending item, then every
     * dead letter; each deleted when its predicate accepts it. Not one transaction: a webhook
     * arriving meanwhile for the same call may store a new record.
     */
    async erase(predicates) {
      ensureOpen();
      const accept = checkErase(predicates);
      const recordPrefix = `${prefix}record:`;
      let records = 0;
      for await (const full of scanKeys(`${globEscape(recordPrefix)}*`, 'hash')) {
        const k = full.slice(recordPrefix.length);
        const text = await redisCommand(client, ['HGET', full, 'record']);
        if (text === null || text === undefined) continue;
        if (accept.record(String(text), k)) records += Number(await run(SCRIPTS.deleteRecord, [full, key.sweep], [k]));
      }
      let outbox = 0;
      for (const d of await store.destinations()) {
        const ids = [];
        for await (const item of pendingOf(d)) if (accept.item(item)) ids.push(item.id);
        for (let start = 0; start < ids.length; start += KEY_BATCH) {
          outbox += Number(await run(SCRIPTS.eraseItems,
            [key.items, key.destinations, key.stream(d), key.retry(d), key.retryItem(d)],
            [GROUP, d, ...ids.slice(start, start + KEY_BATCH)]));
        }
        for (const id of ids) drop(d, id);
      }
      const letters = [];
      for await (const [, json] of scanHash(key.dead)) {
        const letter = parseDead(json);
        if (letter && accept.item(letter)) letters.push(letter);
      }
      const deadLetters = await deleteDead(letters);
      return { records, outbox, dead_letters: deadLetters };
    },

    async ping() {
      ensureOpen();
      try {
        return String(await redisCommand(client, ['PING'])) === 'PONG';
      } catch {
        return false;
      }
    },

    /** Stops the heartbeat; held items are taken over by others after claimIdleMs (or at once
     * by a store started again under the same consumer name). The client stays open. */
    async close() {
      closed = true;
      if (timer !== null) clearInterval(timer);
      timer = null;
      held.clear();
    },
  };
  return store;
}
