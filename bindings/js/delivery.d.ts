import type { DeadLetter, DeadLetterFilter, DeadLetterSelection, DurableStore, OutboxCounts, OutboxItem, OutboxLimits } from './stores.js';

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
  /** The call it is about, its record's key and what fired the route, as the engine's
   * deliveries carry them; kept beside the item ('' when absent). */
  call_sid?: string | null;
  record_key?: string | null;
  trigger?: string | null;
}

export interface DeliveryEvent {
  type: 'delivered' | 'retried' | 'dead';
  /** The outbox item's id. */
  id: string;
  route: string;
  destination: string;
  idempotency_key: string;
  /** Attempts made, this one included. */
  attempts: number;
  /** The response status, or null when no response came (network error, timeout). */
  status: number | null;
  /** The core's reason when not delivered. */
  error: string | null;
  /** The core's code for this verdict. */
  code: string;
  /** The core's log line for this attempt (no URL, no secrets). */
  log: Record<string, unknown>;
  /** How long the attempt took, in milliseconds. */
  durationMs: number;
  /** For "retried": the wait before the next attempt. */
  delayMs?: number;
  /** For "retried": whether the wait came from Retry-After. */
  retryAfter?: boolean;
}

export interface DeliveryQueueOptions {
  /**
   * The engine the deliveries came from: it seals each delivery for the store, unseals it to
   * send it, and after each attempt decides delivered, retry at a time, or dead (the
   * destination's `delivery` settings in the config). Required.
   */
  engine: {
    attemptResult(attempt: object): { verdict: string; code: string; reason: string; retry_at_ms: number | null; delay_ms: number | null; retry_after: boolean; log: object };
    sealDelivery(delivery: object): string;
    unsealDelivery(text: string): object;
  };
  /** Where the outbox lives (memoryStore() by default: nothing survives a restart). */
  store?: DurableStore;
  fetch?: typeof globalThis.fetch;
  /** Sends in flight at once in all (16). */
  concurrency?: number;
  /** Sends in flight at once for one destination (4). */
  perDestination?: number;
  /** Caps on pending deliveries; past them commits are refused (none by default). */
  limits?: Partial<OutboxLimits>;
  /** How often the outbox is looked at when nothing kicks it (250 ms). */
  pollMs?: number;
  onEvent?: (event: DeliveryEvent) => void;
  /** Jitter source (Math.random). */
  random?: () => number;
  /** The clock in epoch milliseconds (Date.now). */
  now?: () => number;
}

export interface DeliveryQueue {
  readonly store: DurableStore;
  readonly limits: OutboxLimits;
  /** The outbox items for deliveries: sealed, with fresh ids, and each delivery's call_sid,
   * record_key and trigger beside it ('' where the delivery has none). */
  items(deliveries: DeliveryInput[] | DeliveryInput, nowMs?: number): OutboxItem[];
  /** Commits deliveries on their own (no record); rejects with OverflowError past a cap. */
  enqueue(deliveries: DeliveryInput[] | DeliveryInput): Promise<void>;
  /** Tells the sender a commit added these items, so it looks at once. */
  committed(items?: OutboxItem[]): void;
  kick(): void;
  counts(): Promise<OutboxCounts & { inflight: number }>;
  /** The store's dead letters, newest first. */
  deadLetters(filter?: DeadLetterFilter): Promise<DeadLetter[]>;
  /** Sends the selected dead letters (all when omitted) again with attempts reset and the same
   * idempotency key, `sealed` replacing a letter's text; resolves how many. */
  redrive(selection?: DeadLetterSelection, options?: { sealed?: Record<string, string> | Map<string, string> }): Promise<number>;
  /** The last error met reading or writing the store, null once a pass succeeds. */
  readonly lastError: unknown;
  /** Resolves when nothing is in flight and nothing is due now. */
  drain(): Promise<void>;
  /** Stops looking at the outbox and waits for in-flight sends to be recorded; the store stays open. */
  close(): Promise<void>;
}

export class OverflowError extends Error {
  readonly full: { ok: false; reason: 'full'; destination: string | null; pending: number; limit: number };
}

export function createDeliveryQueue(options: DeliveryQueueOptions): DeliveryQueue;
/** One attempt of an engine's delivery, reported in the core's terms for engine.attemptResult. */
export function sendAttempt(
  delivery: { method?: string; url: string; headers: [string, string][]; body?: string | null; timeout_ms?: number },
  fetch?: typeof globalThis.fetch,
): Promise<{ status: number; headers: [string, string][]; body: string } | { redirect: true } | { timeout: true } | { error: string }>;

/** A destination's OAuth access token and rate-limit bucket, kept in memory between attempts. */
export interface Credentials {
  /** The cached token, or '' (none, or past the engine's cache time). */
  token(destination: string): string;
  /** Forgets the destination's token (only if it is still `token`, when given). */
  drop(destination: string, token?: string): void;
  /** Runs `mint` unless one is under way for the destination, whose outcome is then shared; a
   * token it yields is cached until its `cache_until_ms`. */
  mint<T extends { access_token?: string; cache_until_ms?: number }>(destination: string, mint: () => Promise<T> | T): Promise<T>;
  pace(destination: string): { tokens: number; at_ms: number } | null;
  setPace(destination: string, pace: { tokens: number; at_ms: number } | null | undefined): void;
}

export function createCredentials(options?: { now?: () => number }): Credentials;

/** A stored delivery, as attemptDelivery needs it. */
export interface AttemptItem {
  sealed: string;
  route: string;
  destination: string;
  idempotency_key: string;
  /** Attempts made before this one. */
  attempts: number;
}

/**
 * One attempt of a sealed delivery, each step the engine's (engine.planSend, engine.tokenResult,
 * engine.attemptResult): resolves the attempt's verdict, or {wait_ms} when the destination's rate
 * limit asks for a wait longer than `maxWaitMs` (nothing was attempted).
 */
export function attemptDelivery(
  item: AttemptItem,
  options: {
    engine: unknown;
    credentials: Credentials;
    fetch?: typeof globalThis.fetch;
    now?: () => number;
    random?: () => number;
    maxWaitMs?: number;
    sleep?: (ms: number) => Promise<void>;
    isClosed?: () => boolean;
  },
): Promise<
  | { verdict: Record<string, unknown> & { verdict: 'delivered' | 'retry' | 'dead'; code: string }; answer: unknown; status: number | null; wait_ms?: undefined }
  | { wait_ms: number; verdict?: undefined }
>;
