// sqliteStore: the Node function's durable embedded store. Records, the delivery outbox and dead
// letters in one SQLite database (better-sqlite3), so a record change and the deliveries it
// caused commit in one transaction (the DurableStore interface, stores.d.ts). Node only.
//
// One process owns the data folder: the database is opened with `locking_mode = EXCLUSIVE` and
// written at open, so SQLite holds an exclusive lock on the file until close() or the process
// dies (the kernel drops it on SIGKILL too); another process, or another store in this one,
// fails at once with code CALLHOOK_STORE_LOCKED. Because only this process writes, what a claim
// holds is an in-memory set, and after a crash nothing is held: every pending item is claimable
// again (at least once).
//
// Durability: WAL with `synchronous = FULL`, so a commit is fsynced before it resolves; an
// acknowledged commit survives the process being killed (and the OS crashing, as far as the disk
// honours fsync). Commits made in the same turn of the event loop share one transaction and one
// fsync (group commit, below); each resolves only once that transaction has committed. The WAL is checkpointed automatically every 1000 pages and truncated back to
// `journal_size_limit` after each checkpoint, and on the purge timer and at close with
// `wal_checkpoint(TRUNCATE)`, so it stays bounded under a long stream of commits.
//
// Files: the folder is made owner-only (0700; a folder with wider permissions is tightened, one
// owned by another user is refused), the database and its -wal owner-only (0600).

import Database from 'better-sqlite3';
import {
  checkEntry, checkErase, checkExpected, checkFilter, checkItem, checkKey, checkRedriveOptions, checkRetention, checkSelection,
  DEAD_LETTER_RETENTION_MS,
} from './stores.js';
import fs from 'node:fs';
import path from 'node:path';

// 2: outbox items and dead letters carry call_sid, record_key and item_trigger (added to a
// version 1 database at open); dead letters are indexed by dead_at_ms.
const SCHEMA_VERSION = 2;
// Columns added after version 1, with what an existing row gets.
const ADDED_COLUMNS = ["call_sid TEXT NOT NULL DEFAULT ''", "record_key TEXT NOT NULL DEFAULT ''", "item_trigger TEXT NOT NULL DEFAULT ''"];
// The WAL is cut back to this size after a checkpoint (SQLite's journal_size_limit).
const WAL_SIZE_LIMIT = 4 * 1024 * 1024;

// Folders opened by a store of this process (real paths), for a clear error before SQLite's.
const openHere = new Set();

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  k TEXT PRIMARY KEY,
  v TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
  key TEXT PRIMARY KEY,
  record TEXT NOT NULL,
  version INTEGER NOT NULL,
  expires_at REAL,
  sweep_at REAL
);
CREATE INDEX IF NOT EXISTS records_by_sweep ON records (sweep_at) WHERE sweep_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_by_expiry ON records (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  route TEXT NOT NULL,
  destination TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  sealed TEXT NOT NULL,
  enqueued_at_ms REAL NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at_ms REAL NOT NULL,
  history TEXT NOT NULL DEFAULT '[]',
  call_sid TEXT NOT NULL DEFAULT '',
  record_key TEXT NOT NULL DEFAULT '',
  item_trigger TEXT NOT NULL DEFAULT ''
);
-- One index serves a destination's due items in order (destination, next_at_ms, seq) and its
-- pending count (a range of the same index).
CREATE INDEX IF NOT EXISTS outbox_by_destination_due ON outbox (destination, next_at_ms);
CREATE TABLE IF NOT EXISTS dead_letters (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  route TEXT NOT NULL,
  destination TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  sealed TEXT NOT NULL,
  enqueued_at_ms REAL NOT NULL,
  attempts INTEGER NOT NULL,
  history TEXT NOT NULL,
  code TEXT NOT NULL,
  reason TEXT NOT NULL,
  dead_at_ms REAL NOT NULL,
  call_sid TEXT NOT NULL DEFAULT '',
  record_key TEXT NOT NULL DEFAULT '',
  item_trigger TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS dead_letters_by_destination ON dead_letters (destination, seq);
`;
// After the columns exist (a version 1 database gets them first).
const INDEXES = `
CREATE INDEX IF NOT EXISTS dead_letters_by_time ON dead_letters (dead_at_ms);
`;

const ITEM_COLUMNS = 'id, route, destination, idempotency_key, sealed, enqueued_at_ms, call_sid, record_key, item_trigger';
const DEAD_COLUMNS = `${ITEM_COLUMNS}, attempts, history, code, reason, dead_at_ms`;

function checkLimit(value, name) {
  if (value === undefined) return Infinity;
  if (value !== Infinity && !(Number.isSafeInteger(value) && value >= 0)) {
    throw new TypeError(`limits.${name} must be a non-negative integer or Infinity`);
  }
  return value;
}

// Only the four fields of an AttemptRecord are kept.
function attemptText(attempt) {
  if (!attempt || typeof attempt !== 'object') throw new TypeError('finish: attempt must be an attempt record');
  const status = Number.isFinite(attempt.status) ? attempt.status : null;
  return JSON.stringify({ at_ms: attempt.at_ms, status, code: String(attempt.code ?? ''), reason: String(attempt.reason ?? '') });
}

function claimedOf(row) {
  return {
    id: row.id,
    route: row.route,
    destination: row.destination,
    idempotency_key: row.idempotency_key,
    sealed: row.sealed,
    enqueued_at_ms: row.enqueued_at_ms,
    call_sid: row.call_sid,
    record_key: row.record_key,
    trigger: row.item_trigger,
    attempts: row.attempts,
    history: JSON.parse(row.history),
  };
}

function deadOf(row) {
  return { ...claimedOf(row), code: row.code, reason: row.reason, dead_at_ms: row.dead_at_ms };
}

// A version 1 table gains the columns added since (ALTER TABLE ADD COLUMN, once each).
function addMissingColumns(db, table) {
  const have = new Set(db.prepare(`PRAGMA table_info(${table})`).all().map((c) => c.name));
  for (const column of ADDED_COLUMNS) {
    const name = column.split(' ')[0];
    if (!have.has(name)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column}`);
  }
}

// The WHERE clause and its values for a checked dead-letter filter.
function filterSql(filter) {
  const where = [];
  const args = [];
  for (const [field, column] of [['destination', 'destination'], ['route', 'route'], ['code', 'code']]) {
    if (filter[field] !== undefined) {
      where.push(`${column} = ?`);
      args.push(filter[field]);
    }
  }
  if (filter.sinceMs !== undefined) {
    where.push('dead_at_ms >= ?');
    args.push(filter.sinceMs);
  }
  if (filter.untilMs !== undefined) {
    where.push('dead_at_ms < ?');
    args.push(filter.untilMs);
  }
  const limit = filter.limit === Infinity ? -1 : filter.limit;
  return { sql: `${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY dead_at_ms DESC, seq DESC LIMIT ?`, args: [...args, limit] };
}

function lockedError(dbPath, cause) {
  let owner = '';
  try {
    const pid = fs.readFileSync(`${dbPath}.pid`, 'utf8').trim();
    if (/^\d+$/.test(pid)) owner = ` (process ${pid}, by ${path.basename(dbPath)}.pid)`;
  } catch {
    // No pid file: the message goes without it.
  }
  const err = new Error(`callhook: ${dbPath} is in use by another store${owner}; one process at a time owns the data folder`);
  err.code = 'CALLHOOK_STORE_LOCKED';
  if (cause) err.cause = cause;
  return err;
}

// The folder, created or tightened to 0700; refused when it belongs to someone else.
function prepareFolder(dir) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.statSync(dir);
  if (!st.isDirectory()) throw new Error(`callhook: ${dir} is not a folder`);
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new Error(`callhook: ${dir} belongs to uid ${st.uid}, not to this process (uid ${process.getuid()}); the data folder must be its own`);
  }
  if ((st.mode & 0o777) !== 0o700) fs.chmodSync(dir, 0o700);
}

// The database file, created 0600 before SQLite opens it; SQLite gives the -wal the database
// file's permissions, and whatever is there already is tightened too.
function prepareFiles(dbPath) {
  const fd = fs.openSync(dbPath, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  try {
    fs.fchmodSync(fd, 0o600);
  } finally {
    fs.closeSync(fd);
  }
  tightenSidecars(dbPath);
}

function tightenSidecars(dbPath) {
  for (const suffix of ['-wal', '-shm', '-journal', '.pid']) {
    try {
      fs.chmodSync(dbPath + suffix, 0o600);
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
  }
}

/**
 * Opens (creating when needed) the store in `dir`. Synchronous: returns the store, or throws
 * (CALLHOOK_STORE_LOCKED when another store owns the folder).
 */
export function sqliteStore({
  dir,
  file = 'callhook.sqlite',
  now = () => Date.now() / 1000,
  purgeIntervalMs = 60_000,
  deadLetterRetentionMs = DEAD_LETTER_RETENTION_MS,
} = {}) {
  if (typeof dir !== 'string' || dir === '') throw new TypeError('sqliteStore: dir (the data folder) is required');
  if (typeof file !== 'string' || file === '' || file !== path.basename(file) || file === '.' || file === '..') {
    throw new TypeError('sqliteStore: file must be a plain file name inside dir');
  }
  if (typeof now !== 'function') throw new TypeError('sqliteStore: now must be a function returning epoch seconds');
  const retention = checkRetention(deadLetterRetentionMs);

  prepareFolder(dir);
  const realDir = fs.realpathSync(dir);
  const dbPath = path.join(realDir, file);
  if (openHere.has(dbPath)) throw lockedError(dbPath);
  prepareFiles(dbPath);

  // timeout 0: a lock held elsewhere fails at once instead of waiting.
  const db = new Database(dbPath, { timeout: 0 });
  try {
    // EXCLUSIVE before the first access: the lock is taken by the first write below and kept
    // until close, and SQLite never creates a shared-memory -shm file.
    db.pragma('locking_mode = EXCLUSIVE');
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal') throw new Error(`callhook: ${dbPath} could not be put in WAL mode (${mode})`);
    db.pragma('synchronous = FULL');
    db.pragma('wal_autocheckpoint = 1000');
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
    db.pragma('foreign_keys = OFF');
    db.transaction(() => {
      db.exec(SCHEMA);
      const row = db.prepare("SELECT v FROM meta WHERE k = 'schema'").get();
      if (row && Number(row.v) > SCHEMA_VERSION) {
        throw new Error(`callhook: ${dbPath} has schema ${row.v}, newer than this package's ${SCHEMA_VERSION}`);
      }
      addMissingColumns(db, 'outbox');
      addMissingColumns(db, 'dead_letters');
      db.exec(INDEXES);
      db.prepare("INSERT OR REPLACE INTO meta (k, v) VALUES ('schema', ?), ('opened_at_ms', ?)").run(String(SCHEMA_VERSION), String(Date.now()));
    }).immediate();
  } catch (err) {
    try {
      db.close();
    } catch {
      // Already failing.
    }
    if (err && (err.code === 'SQLITE_BUSY' || err.code === 'SQLITE_LOCKED')) throw lockedError(dbPath, err);
    throw err;
  }
  openHere.add(dbPath);
  try {
    fs.writeFileSync(`${dbPath}.pid`, `${process.pid}\n`, { mode: 0o600 });
  } catch {
    // Informational only: the lock is SQLite's.
  }
  tightenSidecars(dbPath);

  const q = {
    recordGet: db.prepare('SELECT record, version, expires_at, sweep_at FROM records WHERE key = ?'),
    recordPut: db.prepare('INSERT OR REPLACE INTO records (key, record, version, expires_at, sweep_at) VALUES (?, ?, ?, ?, ?)'),
    recordDelete: db.prepare('DELETE FROM records WHERE key = ?'),
    recordsPurge: db.prepare('DELETE FROM records WHERE expires_at IS NOT NULL AND expires_at <= ?'),
    recordsDue: db.prepare('SELECT key FROM records WHERE sweep_at IS NOT NULL AND sweep_at <= ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY sweep_at'),
    outboxInsert: db.prepare(`INSERT INTO outbox (${ITEM_COLUMNS}, attempts, next_at_ms, history) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, '[]')`),
    outboxDue: db.prepare(`SELECT ${ITEM_COLUMNS}, attempts, history FROM outbox WHERE destination = ? AND next_at_ms <= ? ORDER BY next_at_ms, seq`),
    outboxGet: db.prepare(`SELECT ${ITEM_COLUMNS}, attempts, history FROM outbox WHERE id = ?`),
    outboxDelete: db.prepare('DELETE FROM outbox WHERE id = ? RETURNING destination'),
    outboxRetry: db.prepare("UPDATE outbox SET attempts = attempts + 1, history = json_insert(history, '$[#]', json(?)), next_at_ms = ? WHERE id = ?"),
    outboxCounts: db.prepare('SELECT destination, COUNT(*) AS n FROM outbox GROUP BY destination'),
    deadInsert: db.prepare(`INSERT OR REPLACE INTO dead_letters (${DEAD_COLUMNS})
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, json_insert(?, '$[#]', json(?)), ?, ?, ?)`),
    deadCount: db.prepare('SELECT COUNT(*) AS n FROM dead_letters'),
    deadGet: db.prepare(`SELECT ${DEAD_COLUMNS} FROM dead_letters WHERE id = ?`),
    deadExpire: db.prepare('DELETE FROM dead_letters WHERE dead_at_ms < ?'),
    outboxHas: db.prepare('SELECT 1 AS one FROM outbox WHERE id = ?'),
    redriveOne: db.prepare(`INSERT INTO outbox (${ITEM_COLUMNS}, attempts, next_at_ms, history)
      SELECT id, route, destination, idempotency_key, coalesce(?, sealed), enqueued_at_ms, call_sid, record_key, item_trigger, 0, 0, history
      FROM dead_letters WHERE id = ?`),
    deadDelete: db.prepare('DELETE FROM dead_letters WHERE id = ?'),
    recordsAll: db.prepare('SELECT key, record FROM records'),
    outboxAll: db.prepare(`SELECT ${ITEM_COLUMNS}, attempts, history FROM outbox ORDER BY seq`),
    deadAll: db.prepare(`SELECT ${DEAD_COLUMNS} FROM dead_letters ORDER BY seq`),
    ping: db.prepare('SELECT 1 AS one'),
  };

  // Pending counts, kept in memory (this process is the only writer) from the database at open;
  // changed only after the transaction that changes the rows has committed.
  const pendingBy = new Map();
  let pendingTotal = 0;
  let deadTotal = 0;
  for (const { destination, n } of q.outboxCounts.all()) {
    pendingBy.set(destination, n);
    pendingTotal += n;
  }
  deadTotal = q.deadCount.get().n;
  const addPending = (destination, n) => {
    const next = (pendingBy.get(destination) ?? 0) + n;
    if (next > 0) pendingBy.set(destination, next);
    else pendingBy.delete(destination);
    pendingTotal += n;
  };

  // Ids handed out by claim() and not yet finished or released.
  const held = new Set();
  let closed = false;

  // The record under `key` unless it has expired (an expired one is deleted on the way).
  const liveRecord = (key, t) => {
    const row = q.recordGet.get(key);
    if (!row) return null;
    if (row.expires_at !== null && row.expires_at <= t) {
      q.recordDelete.run(key);
      return null;
    }
    return row;
  };

  const writeRecord = (key, next) => {
    if (next === null) q.recordDelete.run(key);
    else q.recordPut.run(key, next.record, next.version, next.expires_at, next.sweep_at);
  };

  const casTx = db.transaction((key, expectedVersion, next, t) => {
    const current = liveRecord(key, t);
    if ((current ? current.version : 0) !== expectedVersion) return false;
    writeRecord(key, next);
    return true;
  });

  const CONFLICT = Object.freeze({ ok: false, reason: 'conflict' });
  const OK = Object.freeze({ ok: true });

  // Group commit: commit() only queues its input; every commit queued in the same turn of the
  // event loop (at most MAX_BATCH) is applied in ONE transaction, so one fsync serves them all,
  // and each caller's promise settles only once that transaction has committed. The commits are
  // applied in the order they were made, each with its own compare-and-set checked against the
  // records as the earlier ones of the batch left them (the caller of a conflict reads again and
  // decides again, after the batch has committed), and the caps count what the earlier ones add.
  // Each commit is a savepoint inside the batch: one whose statement fails (a duplicate item id,
  // say) is rolled back alone and only its caller is rejected. A failure that loses the
  // transaction, or of the COMMIT itself, rejects every caller of the batch: nothing of it was
  // written, and nobody is told otherwise.
  const MAX_BATCH = 256;
  let batch = [];
  let flushScheduled = false;
  // What the commits of the batch being applied add to the pending counts.
  const batchPending = new Map();
  let batchTotal = 0;

  const oneTx = db.transaction(({ key, expectedVersion, next, items, total, perDestination }, t) => {
    // 1. The record's compare-and-set, checked before anything is written.
    if (key !== null) {
      const current = liveRecord(key, t);
      if ((current ? current.version : 0) !== expectedVersion) return CONFLICT;
    }
    // 2. The caps, on what would be pending once the items are added (after the batch's
    //    earlier commits).
    if (items.length > 0) {
      const pendingNow = pendingTotal + batchTotal;
      if (pendingNow + items.length > total) {
        return { ok: false, reason: 'full', destination: null, pending: pendingNow + items.length, limit: total };
      }
      if (perDestination !== Infinity) {
        const adding = new Map();
        for (const item of items) adding.set(item.destination, (adding.get(item.destination) ?? 0) + 1);
        for (const [destination, n] of adding) {
          const pending = (pendingBy.get(destination) ?? 0) + (batchPending.get(destination) ?? 0) + n;
          if (pending > perDestination) return { ok: false, reason: 'full', destination, pending, limit: perDestination };
        }
      }
    }
    // 3. The writes.
    if (key !== null) writeRecord(key, next);
    for (const item of items) {
      q.outboxInsert.run(item.id, item.route, item.destination, item.idempotency_key, item.sealed, item.enqueued_at_ms,
        item.call_sid, item.record_key, item.trigger, item.enqueued_at_ms);
    }
    return OK;
  });

  const batchTx = db.transaction((entries, t) => {
    batchPending.clear();
    batchTotal = 0;
    const results = [];
    for (const entry of entries) {
      let result;
      try {
        result = oneTx(entry, t); // a savepoint: nested in this transaction
      } catch (err) {
        // Rolled back to the savepoint; if SQLite dropped the whole transaction, so does the batch.
        if (!db.inTransaction) throw err;
        result = { error: err };
      }
      if (result.ok) {
        for (const item of entry.items) batchPending.set(item.destination, (batchPending.get(item.destination) ?? 0) + 1);
        batchTotal += entry.items.length;
      }
      results.push(result);
    }
    return results;
  });

  // Applies the queued commits in one transaction, then settles each caller.
  const flush = () => {
    flushScheduled = false;
    if (batch.length === 0) return;
    const entries = batch;
    batch = [];
    let results;
    try {
      results = batchTx.immediate(entries, now());
    } catch (err) {
      for (const entry of entries) entry.reject(err);
      return;
    } finally {
      batchPending.clear();
      batchTotal = 0;
    }
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      const result = results[i];
      if (result.error) {
        entry.reject(result.error);
        continue;
      }
      if (result.ok) for (const item of entry.items) addPending(item.destination, 1);
      entry.resolve(result.ok ? { ok: true } : { ...result });
    }
  };

  const enqueueCommit = (input) => new Promise((resolve, reject) => {
    batch.push({ ...input, resolve, reject });
    if (batch.length >= MAX_BATCH) flush();
    else if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  });

  const deadTx = db.transaction((id, code, reason, attempt, deadAtMs) => {
    const row = q.outboxGet.get(id);
    if (!row) return null;
    q.deadInsert.run(row.id, row.route, row.destination, row.idempotency_key, row.sealed, row.enqueued_at_ms,
      row.call_sid, row.record_key, row.item_trigger, row.attempts + 1, row.history, attempt, code, reason, deadAtMs);
    q.outboxDelete.get(id);
    return row.destination;
  });

  // The dead letters a checked selection names: {id, destination} rows, newest first for a filter.
  const selected = (selection) => {
    if (selection.ids) return selection.ids.map((id) => q.deadGet.get(id)).filter(Boolean);
    const { sql, args } = filterSql(selection.filter);
    return db.prepare(`SELECT id, destination FROM dead_letters ${sql}`).all(...args);
  };

  const redriveTx = db.transaction((selection, sealed) => {
    const moved = new Map();
    for (const row of selected(selection)) {
      if (q.outboxHas.get(row.id)) continue;
      q.redriveOne.run(sealed.get(row.id) ?? null, row.id);
      q.deadDelete.run(row.id);
      moved.set(row.destination, (moved.get(row.destination) ?? 0) + 1);
    }
    return moved;
  });

  const purgeTx = db.transaction((selection) => {
    let n = 0;
    for (const row of selected(selection)) n += q.deadDelete.run(row.id).changes;
    return n;
  });

  // Records first (so the item predicate can use what the record predicate saw), then the
  // outbox, then the dead letters: one transaction, the predicates called synchronously.
  const eraseTx = db.transaction((accept) => {
    let records = 0;
    for (const { key, record } of q.recordsAll.all()) {
      if (accept.record(record, key)) records += q.recordDelete.run(key).changes;
    }
    const outbox = [];
    for (const row of q.outboxAll.all()) {
      if (accept.item(claimedOf(row)) && q.outboxDelete.get(row.id)) outbox.push(row);
    }
    let letters = 0;
    for (const row of q.deadAll.all()) {
      if (accept.item(deadOf(row))) letters += q.deadDelete.run(row.id).changes;
    }
    return { records, outbox, letters };
  });

  const expireDead = () => {
    if (retention === Infinity) return;
    const gone = q.deadExpire.run(now() * 1000 - retention).changes;
    deadTotal -= gone;
  };

  const purge = () => {
    if (closed) return;
    try {
      q.recordsPurge.run(now());
      expireDead();
      db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // A full disk, say: the next tick tries again, and every read still hides expired records.
    }
  };
  let timer = null;
  if (purgeIntervalMs > 0) {
    timer = setInterval(purge, purgeIntervalMs);
    timer.unref();
  }

  const ensureOpen = () => {
    if (closed) throw new Error('store is closed');
  };

  return {
    /** Where the database is (for logs and tests). */
    get path() {
      return dbPath;
    },

    async get(key) {
      ensureOpen();
      checkKey(key);
      const t = now();
      const row = q.recordGet.get(key);
      if (!row) return null;
      if (row.expires_at !== null && row.expires_at <= t) {
        q.recordDelete.run(key);
        return null;
      }
      return { record: row.record, version: row.version, expires_at: row.expires_at, sweep_at: row.sweep_at };
    },

    async compareAndSet(key, expectedVersion, entry) {
      ensureOpen();
      checkKey(key);
      checkExpected(expectedVersion);
      const next = checkEntry(entry);
      return casTx.immediate(key, expectedVersion, next, now());
    },

    async due(at) {
      ensureOpen();
      const t = now();
      q.recordsPurge.run(t);
      return q.recordsDue.all(at, t).map((r) => r.key);
    },

    async commit({ key = null, expectedVersion, entry, items = [], limits } = {}) {
      ensureOpen();
      let next = null;
      if (key !== null) {
        checkKey(key);
        checkExpected(expectedVersion);
        next = checkEntry(entry);
      }
      if (!Array.isArray(items)) throw new TypeError('commit: items must be an array');
      const list = items.map(checkItem);
      const total = checkLimit(limits?.total, 'total');
      const perDestination = checkLimit(limits?.perDestination, 'perDestination');
      return enqueueCommit({ key, expectedVersion: key === null ? 0 : expectedVersion, next, items: list, total, perDestination });
    },

    async claim({ destination, max, nowMs }) {
      ensureOpen();
      if (typeof destination !== 'string') throw new TypeError('claim: destination must be a string');
      if (!Number.isFinite(nowMs)) throw new TypeError('claim: nowMs must be a finite number (epoch ms)');
      const out = [];
      const most = Math.floor(max);
      if (!(most >= 1)) return out;
      for (const row of q.outboxDue.iterate(destination, nowMs)) {
        if (held.has(row.id)) continue;
        out.push(claimedOf(row));
        if (out.length >= most) break;
      }
      for (const item of out) held.add(item.id);
      return out;
    },

    async finish(item, { verdict, next_at_ms: nextAtMs, code, reason, attempt } = {}) {
      ensureOpen();
      if (!item || typeof item.id !== 'string') throw new TypeError('finish: item must be a claimed item');
      const attemptJson = attemptText(attempt);
      if (verdict === 'delivered') {
        const gone = q.outboxDelete.get(item.id);
        if (gone) addPending(gone.destination, -1);
      } else if (verdict === 'retry') {
        if (!Number.isFinite(nextAtMs)) throw new TypeError('finish: a retry needs next_at_ms (epoch ms)');
        q.outboxRetry.run(attemptJson, nextAtMs, item.id);
      } else if (verdict === 'dead') {
        const deadAtMs = Number.isFinite(attempt.at_ms) ? attempt.at_ms : now() * 1000;
        const destination = deadTx.immediate(item.id, String(code ?? ''), String(reason ?? ''), attemptJson, deadAtMs);
        if (destination !== null) {
          addPending(destination, -1);
          deadTotal += 1;
        }
      } else {
        throw new TypeError("finish: verdict must be 'delivered', 'retry' or 'dead'");
      }
      held.delete(item.id);
    },

    async release(items) {
      // After close nothing is held, so a late release has nothing to give back.
      for (const item of items ?? []) if (item && typeof item.id === 'string') held.delete(item.id);
    },

    async destinations() {
      ensureOpen();
      return [...pendingBy.keys()];
    },

    async counts() {
      ensureOpen();
      return { pending: pendingTotal, byDestination: Object.fromEntries(pendingBy), dead: deadTotal };
    },

    async deadLetters(filter) {
      ensureOpen();
      const checked = checkFilter(filter);
      expireDead();
      const { sql, args } = filterSql(checked);
      return db.prepare(`SELECT ${DEAD_COLUMNS} FROM dead_letters ${sql}`).all(...args).map(deadOf);
    },

    async deadLetter(id) {
      ensureOpen();
      expireDead();
      const row = q.deadGet.get(String(id));
      return row ? deadOf(row) : null;
    },

    async purge(selection) {
      ensureOpen();
      const n = purgeTx.immediate(checkSelection(selection));
      deadTotal -= n;
      return n;
    },

    async erase(predicates) {
      ensureOpen();
      flush(); // commits made before the erasure are applied before it, not after
      const { records, outbox, letters } = eraseTx.immediate(checkErase(predicates));
      for (const row of outbox) {
        addPending(row.destination, -1);
        held.delete(row.id);
      }
      deadTotal -= letters;
      return { records, outbox: outbox.length, dead_letters: letters };
    },

    async redrive(selection, options) {
      ensureOpen();
      const moved = redriveTx.immediate(checkSelection(selection), checkRedriveOptions(options).sealed);
      let n = 0;
      for (const [destination, count] of moved) {
        addPending(destination, count);
        deadTotal -= count;
        n += count;
      }
      return n;
    },

    async ping() {
      if (closed) return false;
      try {
        return q.ping.get().one === 1;
      } catch {
        return false;
      }
    },

    async close() {
      if (closed) return;
      flush(); // commits already made are applied (and their callers answered) first
      closed = true;
      if (timer !== null) clearInterval(timer);
      timer = null;
      held.clear();
      try {
        db.pragma('wal_checkpoint(TRUNCATE)');
      } finally {
        db.close();
        openHere.delete(dbPath);
        try {
          fs.unlinkSync(`${dbPath}.pid`);
        } catch {
          // Already gone.
        }
      }
    },
  };
}
