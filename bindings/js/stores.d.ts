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
  /** How often expired records are purged; the timer never keeps the process alive (60000). */
  purgeIntervalMs?: number;
}

export interface MemoryStore extends RecordStore {
  /** Records held, expired ones included until purged. */
  readonly size: number;
}

export interface RedisStoreOptions {
  /** Prefix of every key (default "callhook:"); use a hash tag such as "{callhook}:" on Redis Cluster. */
  prefix?: string;
  /** Most keys one due() call returns (1000). */
  dueLimit?: number;
}

/** A minimal node-redis (v4+) client: what the stores and the Redis journal use. */
export interface RedisCommandClient {
  sendCommand(args: string[]): Promise<unknown>;
}

export function memoryStore(options?: MemoryStoreOptions): MemoryStore;
/** Records in Redis with PXAT expiry and a sorted set of sweep times; close() leaves the client open. */
export function redisStore(client: RedisCommandClient, options?: RedisStoreOptions): RecordStore;
/** The entry an outcome says to store (record, version, expires_at, sweep_at), or null. */
export function entryOf(outcome: { record: string | null; version: number | null; expires_at: number | null; sweep_at: number | null }): StoredRecord | null;
export function redisCommand(client: RedisCommandClient, args: Array<string | number>): Promise<unknown>;
