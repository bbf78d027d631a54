/** A stored correlation record and the version it carries. */
export interface StoredRecord {
  /** The record JSON exactly as the engine produced it. */
  record: string;
  /** The record's `version` (-1 for a stored value that is not a readable record). */
  version: number;
}

/**
 * Where correlation records live. Times are epoch seconds (fractions allowed).
 * Every method may reject when the backing service is unavailable.
 */
export interface RecordStore {
  get(key: string): Promise<StoredRecord | null>;
  /**
   * Stores `record` under `key` only if the stored version is `expectedVersion`
   * (0: no record may exist), expiring at `expiresAt`. Resolves false on a conflict.
   * `record === null` deletes the record when the version matches (used to undo a store).
   * Rejects with a TypeError for a record that is not JSON with a positive integer `version`.
   */
  compareAndSet(key: string, expectedVersion: number, record: string | null, expiresAt: number | null): Promise<boolean>;
  /** Keys whose record's `sweep_at` is at or before `now`. */
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
/** Reads `version` and `sweep_at` from a record; throws TypeError on a record the engine cannot have made. */
export function recordMeta(record: string): { version: number; sweepAt: number | null };
export function redisCommand(client: RedisCommandClient, args: Array<string | number>): Promise<unknown>;
