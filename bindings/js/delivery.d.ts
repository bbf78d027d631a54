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
  /** The core's reason for the last failed attempt. */
  lastError: string | null;
  deadAt?: number;
  /** Why it is dead: the core's code (not_retryable_status, redirect, attempts_exhausted, rejected). */
  deadCode?: string | null;
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
  /** The core's reason when not delivered. */
  error: string | null;
  /** The core's code for this verdict. */
  code: string;
  /** The core's log line for this attempt (no URL, no secrets). */
  log: Record<string, unknown>;
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
  /**
   * The engine the deliveries came from: after each attempt it decides delivered, retry at a
   * time, or dead (the destination's `delivery` settings in the config). Required.
   */
  engine: { attemptResult(attempt: object): { verdict: string; code: string; reason: string; retry_at_ms: number | null; delay_ms: number | null; retry_after: boolean; log: object } };
  fetch?: typeof globalThis.fetch;
  /** Sends in flight at once (8). */
  concurrency?: number;
  /** Default: memoryJournal() (nothing survives a restart). */
  journal?: Journal;
  onEvent?: (event: DeliveryEvent) => void;
  /** Jitter source (Math.random). */
  random?: () => number;
  /** The clock in epoch milliseconds (Date.now). */
  now?: () => number;
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
/** One attempt of an engine's delivery, reported in the core's terms for engine.attemptResult. */
export function sendAttempt(
  delivery: { method?: string; url: string; headers: [string, string][]; body?: string | null; timeout_ms?: number },
  fetch?: typeof globalThis.fetch,
): Promise<{ status: number; headers: [string, string][]; body: string } | { redirect: true } | { timeout: true } | { error: string }>;
