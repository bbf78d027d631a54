import type { DurableStore } from './stores.js';
import type { DeliveryInput, DeliveryQueue } from './delivery.js';

/** The request the engine is handed. */
export interface EngineRequest {
  method: string;
  url: string;
  headers: Array<[string, string]>;
  body: Uint8Array;
}

/** The Outcome fields this shell reads (the engine's Outcome carries more). */
export interface HandlerOutcome {
  response: { status: number; headers: Array<[string, string]> | Record<string, string>; body: string | null } | null;
  deliveries: DeliveryInput[];
  record: string | null;
  record_key: string | null;
  expected_version: number | null;
  version: number | null;
  expires_at: number | null;
  sweep_at: number | null;
}

/** What createFetchHandler needs of an engine (createEngine's result). */
export interface HandlerEngine {
  prepare(request: EngineRequest, facts: { now: number }): {
    record_key: string | null;
    decide(facts: { now: number; record: string | null }): HandlerOutcome;
    close(): void;
  };
  sweep(record: string, now: number): HandlerOutcome | null | Promise<HandlerOutcome | null>;
  attemptResult(attempt: object): object;
  sealDelivery(delivery: object): string;
  unsealDelivery(text: string): object;
}

export interface FetchHandlerOptions {
  engine: HandlerEngine;
  /** Where records, the outbox and dead letters live: the queue's store, else memoryStore()
   * (one process, nothing survives a restart). A record and its deliveries commit together. */
  store?: DurableStore;
  /** Default: createDeliveryQueue({engine, store}). A queue that only has enqueue/drain (a
   * callback) gets the deliveries after the record is stored instead. */
  queue?: DeliveryQueue | Pick<DeliveryQueue, 'enqueue' | 'drain'>;
  /** Epoch seconds. */
  now?: () => number;
  onOutcome?: (outcome: HandlerOutcome, info: { stored: boolean; conflicts: number; deliveries: number }) => void;
  /** Unexpected failures; phase is "store", "engine", "outbox", "enqueue", "deliver" or "sweep". Default console.error. */
  onError?: (error: Error, context: { phase: string; key?: string }) => void;
  /** Compare-and-set conflicts before answering 503 (5). */
  maxConflictRetries?: number;
  /** Bodies past this are answered 413 before the engine runs (1 MiB). */
  maxBodyBytes?: number;
  /** Route by the core first: /hook and /hook/... to the engine, /healthz, else not-found
   * (true). false: every request goes to the engine (a handler mounted under its own path). */
  frontDoor?: boolean;
}

export interface HandlerState {
  engine: HandlerEngine;
  store: DurableStore;
  queue: DeliveryQueue | Pick<DeliveryQueue, 'enqueue' | 'drain'>;
  maxConflictRetries: number;
  onError: (error: Error, context: { phase: string; key?: string }) => void;
}

export interface SweepResult {
  /** Keys the store reported due. */
  keys: number;
  /** Records the sweep changed and stored. */
  changed: number;
  /** Deliveries persisted. */
  deliveries: number;
  conflicts: number;
  errors: Array<{ key: string; error: Error }>;
}

export interface FetchHandler {
  (request: Request, ctx?: { waitUntil?(promise: Promise<unknown>): void }): Promise<Response>;
  /** Sweeps the records due at `now` (default: the handler's clock). */
  sweep(now?: number): Promise<SweepResult>;
  /** The same loop for a webhook a server has already read and routed (its body within its own
   * cap): the engine's response, or the core's refusal, without a Request or a Response. */
  handleRead(request: EngineRequest, ctx?: { waitUntil(promise: Promise<unknown>): void }): Promise<{ status: number; headers: [string, string][] | Record<string, string>; body: string } | undefined>;
  readonly state: HandlerState;
}

export function createFetchHandler(options: FetchHandlerOptions): FetchHandler;
export function sweepDue(state: HandlerState, now: number): Promise<SweepResult>;

export class ConflictError extends Error {
  key: string;
}
export class EngineError extends Error {}
export class BodyTooLargeError extends Error {}

/** The core's refusal of `kind` as a Response: an RFC 9457 document of the urn:callhook:problem:
 * scheme with its real status and headers (Retry-After, Allow, ...). Needs no config. */
export function problem(kind: import('./index.js').RefusalKind, detail?: string): Promise<Response>;
/** The engine's response object ({status, headers, body}) as a Response. */
export function toResponse(response: { status: number; headers?: [string, string][] | Record<string, string>; body?: string }): Response;
/** The request as the engine takes it, or the core's refusal (413, 400) as a Response. */
export function readRequest(request: Request, limit: number): Promise<{ request: EngineRequest; response?: undefined } | { request?: undefined; response: Response }>;
/** The request body as bytes; rejects with BodyTooLargeError past `limit` without reading on. */
export function readBody(request: Request, limit: number): Promise<Uint8Array>;
