import type { DurableStore } from './stores.js';

export interface SqliteStoreOptions {
  /**
   * The data folder (required). Created owner-only (0700); an existing folder with wider
   * permissions is tightened to 0700, one owned by another user is refused. The database, its
   * -wal and a `<file>.pid` note of the owning process live in it, owner-only (0600).
   */
  dir: string;
  /** The database's file name inside `dir` (default "callhook.sqlite"); no path separators. */
  file?: string;
  /** The clock record expiry and dead-letter retention are judged by, epoch seconds (default:
   * the real one); a dead letter whose last attempt has no `at_ms` takes its `dead_at_ms` from it. */
  now?: () => number;
  /** How often expired records and dead letters past their retention are purged and the WAL
   * truncated; the timer never keeps the process alive (60000; 0: never, reads still hide
   * expired records and listings purge old dead letters). */
  purgeIntervalMs?: number;
  /** How long a dead letter is kept after its `dead_at_ms` (30 days; Infinity: until purged). */
  deadLetterRetentionMs?: number;
}

export interface SqliteStore extends DurableStore {
  /** The database's absolute path. */
  readonly path: string;
}

/**
 * The Node function's durable embedded store: records, the outbox and dead letters in one SQLite
 * database (better-sqlite3, an optional peer dependency), WAL with `synchronous = FULL`, so a
 * resolved commit() survives the process being killed. Group commit: the commits made in one
 * turn of the event loop (at most 256) are applied in order in one transaction, one fsync for
 * all, each with its own compare-and-set and caps as the earlier ones left them; each promise
 * settles once that transaction has committed. A commit whose statement fails alone rejects
 * alone; when the transaction fails every commit of it rejects and none was written.
 *
 * Synchronous: returns the open store or throws. One process owns the folder: the database is
 * held with `locking_mode = EXCLUSIVE` from open to close(), and a second store on it (another
 * process, or this one) throws an Error with `code` 'CALLHOOK_STORE_LOCKED' at once.
 *
 * - Claims are held in this process's memory only: after a restart every pending item is
 *   claimable again (delivery is at least once; the Idempotency-Key makes it safe).
 * - A new item is due at its `enqueued_at_ms`; claim() gives due items oldest `next_at_ms`
 *   first.
 * - Pending counts (caps, counts(), destinations()) are kept in memory, read from the database
 *   at open: this process is the only writer.
 * - redrive() ignores the caps, resets attempts to 0, makes the item due at once and keeps its
 *   history (earlier attempts stay on record).
 * - Only an attempt's four fields (at_ms, status, code, reason) are kept in a history.
 * - deadLetters() lists newest first, at most `limit` (100).
 * - A schema 1 database (before call_sid, record_key and trigger) gains their columns at open.
 * - ping() resolves false (never rejects) when the store is closed or the database fails;
 *   release() after close() does nothing (nothing is held any more); every other method
 *   rejects once the store is closed.
 */
export function sqliteStore(options: SqliteStoreOptions): SqliteStore;
