import type { RedisCommandClient } from './stores.js';

/**
 * One request the engine decided to send (an Outcome's `deliveries[i]`), as the queue keeps it.
 * enqueue() also takes the binding's spelling `idempotencyKey`, and headers as an object; an
 * Idempotency-Key header is added from the key when the headers lack one.
 */
export interface Delivery {
  route: string | null;
  destination: string | null;
  method: string;
  url: string;
  headers: Array<[string, string]>;
  body: string | null;
  idempotency_key: string | null;
}

/** What enqueue() accepts. */
export interface DeliveryInput {
  route?: string | null;
  destination?: string | null;
  /** Default POST. */
  method?: string;
  url: string;
  headers?: Array<[string, string]> | Record<string, string>;
  body?: string | null;
  idempotency_key?: string | null;
  idempotencyKey?: string | null;
}

/** A delivery as the queue tracks it. Times are epoch milliseconds. */
export interface QueueEntry {
  id: string;
  delivery: Delivery;
  /** Attempts made so far. */
  attempts: number;
  enqueuedAt: number;
  /** When the next attempt is due. */
  nextAt: number;
  lastStatus: number | null;
  lastError: string | null;
  deadAt?: number;
}

export interface PendingEntry extends QueueEntry {
  inflight: boolean;
}

export interface DeliveryEvent {
  type: 'delivered' | 'retried' | 'dead';
  id: string;
  delivery: Delivery;
  attempts: number;
  /** The response status, or null when no response came (network error, timeout). */
  status: number | null;
  error: string | null;
  /** For "retried": the wait before the next attempt. */
  delayMs?: number;
  /** For "retried": whether the wait came from Retry-After. */
  retryAfter?: boolean;
}

export interface JournalRecord {
  type: 'enqueued' | 'attempt-failed' | 'delivered' | 'dead';
  entry: QueueEntry;
}

/** Where a queue persists what it accepted. One queue uses a journal at a time. */
export interface Journal {
  readonly durable: boolean;
  load(): Promise<{ pending: QueueEntry[]; dead: QueueEntry[] }>;
  /** `sync`: resolve only once the records are durable. */
  append(records: JournalRecord[], options?: { sync?: boolean }): Promise<void>;
  close(): Promise<void>;
}

export interface DeliveryQueueOptions {
  fetch?: typeof globalThis.fetch;
  /** Attempts before a retryable failure becomes a dead letter (8). */
  maxAttempts?: number;
  /** Full-jitter backoff: uniform in [0, min(maxDelayMs, baseDelayMs * 2^(failures-1))) (1000). */
  baseDelayMs?: number;
  /** Cap of the backoff and of Retry-After (3600000). */
  maxDelayMs?: number;
  /** One attempt's time limit; a timeout is retried (30000). */
  timeoutMs?: number;
  /** Sends in flight at once (8). */
  concurrency?: number;
  /** Default: memoryJournal() (nothing survives a restart). */
  journal?: Journal;
  onEvent?: (event: DeliveryEvent) => void;
  /** Jitter source (Math.random). */
  random?: () => number;
}

export interface DeliveryQueue {
  /** Resolves once the journal is loaded; rejects if it cannot be. */
  readonly ready: Promise<void>;
  /** Resolves once the deliveries are persisted in the journal. */
  enqueue(deliveries: DeliveryInput[] | DeliveryInput): Promise<void>;
  pending(): PendingEntry[];
  deadLetters(): QueueEntry[];
  /** Sends dead letters (all, or those ids) again with attempts reset; resolves how many. */
  redrive(ids?: string[]): Promise<number>;
  /** Resolves when nothing is in flight and nothing is due now. */
  drain(): Promise<void>;
  /** Stops timers, finishes in-flight sends, closes the journal. */
  close(): Promise<void>;
}

export function createDeliveryQueue(options?: DeliveryQueueOptions): DeliveryQueue;
export function memoryJournal(): Journal;
/** Append-only JSON lines, compacted on open, fsync before enqueue resolves (Node only). */
export function jsonlJournal(path: string): Journal & { readonly path: string };
/** Hashes in Redis with a lease so one queue at a time owns the prefix; close() leaves the client open. */
export function redisJournal(client: RedisCommandClient, options?: { prefix?: string; leaseMs?: number }): Journal;

export function classifyStatus(status: number): 'delivered' | 'retry' | 'dead';
export function backoffDelay(
  failures: number,
  options?: { baseDelayMs?: number; maxDelayMs?: number; random?: () => number },
): number;
/** Retry-After (delta seconds or HTTP date) in milliseconds from nowMs, or null. */
export function parseRetryAfter(value: string | null | undefined, nowMs?: number): number | null;
