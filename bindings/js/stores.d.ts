/** A stored correlation record and what the engine's outcome said to keep beside it. */
export interface StoredRecord {
  /** The record exactly as the engine produced it. */
  record: string;
  /** The outcome's `version`: what the next compare-and-set compares. */
  version: number;
  /** When the store may drop it (epoch seconds), or null. */
  expires_at: number | null;
  /** When to sweep it next (epoch seconds), or null. */
  sweep_at: number | null;
}

/**
 * Where correlation records live. Times are epoch seconds (fractions allowed).
 * Every method may reject when the backing service is unavailable.
 */
export interface RecordStore {
  get(key: string): Promise<StoredRecord | null>;
  /**
   * Stores `entry` under `key` only if the stored version is `expectedVersion` (0: no record may
   * exist); entryOf(outcome) makes the entry from an outcome. Resolves false on a conflict.
   * `entry === null` deletes the record when the version matches (used to undo a store).
   * Rejects with a TypeError for an entry without record text and a positive integer version.
   */
  compareAndSet(key: string, expectedVersion: number, entry: StoredRecord | null): Promise<boolean>;
  /** Keys whose `sweep_at` is at or before `now`. */
  due(now: number): Promise<string[]>;
  close(): Promise<void>;
}

export interface MemoryStoreOptions {
  /** The clock expiry is judged by, epoch seconds (default: the real one). */
  now?: () => number;
  /** How often expired records and dead letters past their retention are purged; the timer
   * never keeps the process alive (60000). */
  purgeIntervalMs?: number;
  /** How long a dead letter is kept, judged by `now` against its `dead_at_ms` (30 days;
   * Infinity: until purged). */
  deadLetterRetentionMs?: number;
}

export interface MemoryStore extends RecordStore {
  /** Records held, expired ones included until purged. */
  readonly size: number;
}

/** A minimal node-redis (v4+) client: what redisStore ("callhook/redis") sends commands through. */
export interface RedisCommandClient {
  sendCommand(args: string[]): Promise<unknown>;
}

/** Records, the outbox and dead letters in memory: one process, nothing survives a restart. */
export function memoryStore(options?: MemoryStoreOptions): MemoryStore & DurableStore;
/** The entry an outcome says to store (record, version, expires_at, sweep_at), or null. */
export function entryOf(outcome: { record: string | null; version: number | null; expires_at: number | null; sweep_at: number | null }): StoredRecord | null;

// ---- Stores that keep the outbox too ------------------------------------------------------------
//
// A store that keeps records, the delivery outbox and dead letters together, so a record change
// and the deliveries it caused commit in one transaction (README, "Durability"). memoryStore
// (one process, nothing survives a restart), sqliteStore (callhook/sqlite: one process, durable
// on disk) and redisStore (several instances sharing Redis; Redis Streams consumer groups) all
// implement it. Times in this part are epoch milliseconds (`*_ms`).

/** One delivery as the outbox keeps it. `sealed` is the core's text (engine.sealDelivery): it
 * holds `${NAME}` references, never secret values, and is stored byte for byte. */
export interface OutboxItem {
  id: string;
  route: string;
  destination: string;
  idempotency_key: string;
  sealed: string;
  enqueued_at_ms: number;
  /** The call the delivery is about ('' when not known: an item written before the field). */
  call_sid?: string;
  /** The call's record key (the correlation record the delivery was rendered from), or ''. */
  record_key?: string;
  /** What fired the route (the engine's delivery `trigger`), or ''. Used to render it again. */
  trigger?: string;
}

/** One attempt of a delivery, as kept with it. */
export interface AttemptRecord {
  at_ms: number;
  /** The destination's status, or null (timeout, transport error). */
  status: number | null;
  /** The core's verdict code (delivered, retryable_status, timeout, ...). */
  code: string;
  /** The core's reason ('' when delivered). */
  reason: string;
}

/** A claimed item: what the sender attempts. */
export interface ClaimedItem extends OutboxItem {
  /** Attempts made before this one. */
  attempts: number;
  history: AttemptRecord[];
}

export interface DeadLetter extends ClaimedItem {
  code: string;
  reason: string;
  /** The last attempt's `at_ms` (the store's clock when it had none). */
  dead_at_ms: number;
}

/**
 * Which dead letters: every field given must hold (`sinceMs <= dead_at_ms < untilMs`). A key not
 * listed here is a TypeError, so a misspelt filter never widens to every dead letter.
 */
export interface DeadLetterFilter {
  destination?: string;
  route?: string;
  /** The core's code the delivery died with (not_retryable_status, redirect, ...). */
  code?: string;
  sinceMs?: number;
  untilMs?: number;
  /** The newest `limit` of those that match: deadLetters() 100 by default; purge() and
   * redrive() every match by default. */
  limit?: number;
}

/** Dead letters by id (ids that are not dead letters are skipped), or those a filter matches;
 * omitted: every dead letter. */
export type DeadLetterSelection = string[] | DeadLetterFilter;

/** erase()'s questions: each answers true for what must go. */
export interface ErasePredicates {
  /** About every record (its text as stored, and its key), before any item is asked about. */
  record?(text: string, key: string): boolean;
  /** About every pending item (held ones included) and every dead letter. */
  item?(item: ClaimedItem | DeadLetter): boolean;
}

export interface EraseResult {
  records: number;
  outbox: number;
  dead_letters: number;
}

export interface OutboxLimits {
  /** Most pending deliveries in all (Infinity: no cap). */
  total: number;
  /** Most pending deliveries of one destination (Infinity: no cap). */
  perDestination: number;
}

export type CommitResult =
  | { ok: true }
  | { ok: false; reason: 'conflict' }
  /** Over a cap: nothing was written. `destination` null when the total cap was hit. */
  | { ok: false; reason: 'full'; destination: string | null; pending: number; limit: number };

export interface CommitInput {
  /** The record's key, or null when only deliveries are added. */
  key: string | null;
  /** Compared as compareAndSet compares it (ignored when key is null). */
  expectedVersion?: number;
  /** entryOf(outcome); null deletes (only with key). Omitted with key null. */
  entry?: StoredRecord | null;
  /** Deliveries to add, due at once with 0 attempts. */
  items: OutboxItem[];
  limits?: OutboxLimits;
}

export interface FinishInput {
  verdict: 'delivered' | 'retry' | 'dead';
  /** For retry: when the next attempt is due. */
  next_at_ms?: number;
  /** The core's code and reason for this verdict. */
  code: string;
  reason: string;
  /** This attempt, appended to the item's history. */
  attempt: AttemptRecord;
}

export interface OutboxCounts {
  /** Pending deliveries (waiting, scheduled for a retry or in flight). */
  pending: number;
  byDestination: Record<string, number>;
  dead: number;
}

export interface DurableStore extends RecordStore {
  /**
   * One transaction: the record's compare-and-set (when `key` is given) and the items. A conflict
   * or a cap writes nothing. Caps count what is pending once the items are added.
   */
  commit(input: CommitInput): Promise<CommitResult>;
  /**
   * Up to `max` due items of `destination` that no live sender holds, now held by this store
   * until finish() or release(). An item whose holder died is given to another after a bounded
   * time (redisStore: `claimIdleMs`).
   */
  claim(input: { destination: string; max: number; nowMs: number }): Promise<ClaimedItem[]>;
  /** Records an attempt's verdict: delivered removes the item, retry reschedules it (attempts + 1,
   * history appended, released), dead moves it to the dead letters. */
  finish(item: ClaimedItem, input: FinishInput): Promise<void>;
  /** Gives held items back unattempted (a graceful close). */
  release(items: ClaimedItem[]): Promise<void>;
  /** Destinations that have pending items. */
  destinations(): Promise<string[]>;
  counts(): Promise<OutboxCounts>;
  /** Dead letters newest first (by dead_at_ms), at most `limit` (100). Those older than the
   * store's `deadLetterRetentionMs` (30 days) are purged first. */
  deadLetters(filter?: DeadLetterFilter): Promise<DeadLetter[]>;
  /** One dead letter, or null (unknown, purged, or pending again). */
  deadLetter(id: string): Promise<DeadLetter | null>;
  /** Deletes the selected dead letters; resolves how many there were. */
  purge(selection?: DeadLetterSelection): Promise<number>;
  /**
   * The selected dead letters back to pending with attempts reset, due at once, with the same
   * id and idempotency key; resolves how many. `sealed` replaces a letter's sealed text (the
   * delivery rendered again), in the same step. A letter whose id is pending again is skipped.
   */
  redrive(selection?: DeadLetterSelection, options?: { sealed?: Record<string, string> | Map<string, string> }): Promise<number>;
  /**
   * Deletes every record `record` accepts, then every pending item and dead letter `item`
   * accepts (a held item's later finish() changes nothing). memoryStore and sqliteStore do it
   * in one step; redisStore walks its keys (SCAN) and deletes as it goes.
   */
  erase(predicates: ErasePredicates): Promise<EraseResult>;
  /** Whether the backing service answers (for /healthz). */
  ping(): Promise<boolean>;
}
