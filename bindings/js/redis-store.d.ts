import type { DurableStore, RedisCommandClient } from './stores.js';

export type { RedisCommandClient } from './stores.js';

export interface RedisDurableStoreOptions {
  /** Prefix of every key (default "callhook:"); on Redis Cluster use a hash tag such as
   * "{callhook}:", which keeps every key in one slot. */
  prefix?: string;
  /** This instance's name in the consumer group "callhook" (default: host, pid and random bytes,
   * unique per process start). Live instances must have different names. A process started
   * again under the name of one that is gone takes back what that one held on its first claim
   * of each destination, without waiting for claimIdleMs. */
  consumer?: string;
  /** How long a held item must have gone without a heartbeat before another instance takes it
   * over (30000). This bounds how long a dead instance's deliveries wait. */
  claimIdleMs?: number;
  /** How often the items this store holds are marked alive (10000); must be below claimIdleMs.
   * The timer never keeps the process alive. */
  heartbeatMs?: number;
  /** Most keys one due() call returns (1000). */
  dueLimit?: number;
  /** Epoch milliseconds (Date.now): dead_at_ms of a dead letter whose attempt has no at_ms, and
   * the clock retention is judged by. */
  now?: () => number;
  /** How long a dead letter is kept after its dead_at_ms (30 days; Infinity: until purged):
   * older ones are deleted by every listing, and by counts() at most once a minute. */
  deadLetterRetentionMs?: number;
}

export interface RedisDurableStore extends DurableStore {
  /** This store's name in the consumer group. */
  readonly consumer: string;
}

/**
 * Records, the outbox and dead letters in Redis, shared by several instances: one stream per
 * destination read through the consumer group "callhook", held items heartbeated and taken over
 * (XAUTOCLAIM) once idle past claimIdleMs. Delivery is at least once. Every change is one Lua
 * script. close() stops the heartbeat and leaves the client open.
 */
export function redisStore(client: RedisCommandClient, options?: RedisDurableStoreOptions): RedisDurableStore;
