// Types of the callhook package (index.js). The engine is the C++ core compiled to WebAssembly;
// every function behaves as the `callhook` CLI command of the same name.

// ---- loading ----------------------------------------------------------------------------------

/**
 * Where the WebAssembly module comes from:
 * - a `WebAssembly.Module`: what Cloudflare Workers give for `import wasm from "callhook/callhook.wasm"`
 *   (workerd cannot compile from bytes at run time, so this is the way there; the package's
 *   `workerd` export condition does it for you);
 * - a `URL` or URL string (`file:` URLs are read from disk in Node, others fetched);
 * - a `Response` (or what `fetch` resolves to), instantiated streaming when served as
 *   `application/wasm`;
 * - the bytes: an `ArrayBuffer` or any `ArrayBufferView` (a Node `Buffer`).
 *
 * Absent: `dist/callhook_wasm.wasm` next to the package's index.js (read from disk in Node,
 * fetched in browsers).
 */
export type WasmSource =
  | WebAssembly.Module
  | URL
  | string
  | Response
  | ArrayBuffer
  | ArrayBufferView;

export interface InitOptions {
  /** Where the .wasm comes from (see WasmSource). Only the first successful load uses it. */
  wasm?: WasmSource;
}

/**
 * Loads the module once and returns the synchronous API. Every async function below calls it;
 * call it yourself to choose where the wasm comes from or to make calls without `await`. Later
 * calls return the same runtime and ignore their `wasm`.
 */
export function init(options?: InitOptions): Promise<Callhook>;

/**
 * Instantiates a fresh module and returns its raw Embind exports: `inspectPayload`,
 * `matchFilter`, `secretNames`, `engineCreate`, `engineHandle`, `engineSweep`, `engineFree`,
 * `renderDestination`, `schemaText`, `frontDoorRoute`, `frontDoorRefusal`, `frontDoorHealth`,
 * `frontDoorAdminCheck`, `engineMentions`, `erasureSubject`, `_malloc`, `_free`, `HEAPU8`, `HEAPU32`. They speak the
 * byte protocol described in wasm/emscripten/bindings.cpp. For building new bindings only.
 */
export function loadModule(options?: InitOptions): Promise<RawModule>;

export interface RawModule {
  HEAPU8: Uint8Array;
  HEAPU32: Uint32Array;
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  [name: string]: unknown;
}

/** @internal What init() loads when given no `wasm` (the workerd entry sets it). */
export function setDefaultWasm(wasm: WasmSource): void;

// ---- errors -----------------------------------------------------------------------------------

/** One finding: a stable machine `code`, the `field` it concerns and a sentence for people. */
export interface Diagnostic {
  /**
   * For payloads, the parameter's name ("" when the whole payload is concerned). For configs,
   * filters and destinations, the JSON Pointer of the offending value ("" for the root).
   */
  field: string;
  /** Stable: `missing`, `bad_e164`, `unknown_destination`, `bad_filter`, `missing_secret`, ... */
  code: string;
  /** For people; may change between versions. */
  message: string;
}

/** Every error callhook throws or rejects with (argument mistakes are plain TypeErrors). */
export class CallhookError extends Error {
  name: 'CallhookError';
  /**
   * `invalid_payload` (normalize), the decoder's code (parse: `invalid_json`,
   * `body_too_large`, ...), the first config problem's code (createEngine), `bad_filter`
   * (match), `closed` (an engine used after close()), `wasm_required`, `wasm_load`.
   */
  code: string;
  /** Every problem: config problems with their JSON Pointers, filter problems, decode errors. */
  errors?: Diagnostic[];
  /** normalize: the verdict on the invalid payload. */
  report?: Verdict;
}

// ---- payloads ---------------------------------------------------------------------------------

/** A payload: a string (sent as UTF-8) or the bytes as received. */
export type Body = string | Uint8Array | ArrayBuffer | ArrayBufferView | null | undefined;

export interface Limits {
  /** Body (or GET query) size in bytes; default 65536. */
  max_body_bytes?: number;
  /** Number of parameters; default 200. */
  max_fields?: number;
  /** Bytes of one parameter name after decoding; default 256. */
  max_name_bytes?: number;
  /** Bytes of one parameter value after decoding; default 8192. */
  max_value_bytes?: number;
}

/** The options of parse, validate, normalize and inspect (the CLI's flags). */
export interface PayloadOptions {
  /**
   * The body's media type (`--content-type`): `application/x-www-form-urlencoded`,
   * `application/json` or any `*\/*+json`; parameters such as `; charset=utf-8` are ignored, other
   * types are refused with `unsupported_media_type`. Absent: sniffed (a body whose first
   * non-blank byte is `{` is JSON, anything else a form).
   */
  contentType?: string;
  /**
   * Read the payload from this GET URL's query instead of a body (`--url`); the body must then
   * be empty or absent. A request target (`/hook?...`) or an absolute URL.
   */
  url?: string;
  /**
   * `lenient` (default): unknown parameters, parameters not allowed on the event, duplicates
   * and a Property.Type other than Site are warnings. `strict`: they are errors.
   */
  mode?: 'lenient' | 'strict';
  /** Bounds on one payload; each a whole number from 1 to 2^30. */
  limits?: Limits;
  /**
   * Read the payload as this sender's webhook (README, "Senders"): `voice-webhooks` (the
   * default), `twilio`, `callrail`, `ctm` or `ringba`. Findings then name the sender's fields,
   * and the canonical event starts with `source: {name, sender}` (the name is the sender's).
   */
  sender?: 'voice-webhooks' | 'twilio' | 'callrail' | 'ctm' | 'ringba';
  /** Which of the sender's webhooks it is, as a source's path word says (`pre-call`, `end`). */
  webhook?: string;
}

/** The verdict, exactly as `callhook validate` prints it. */
export interface Verdict {
  valid: boolean;
  /** null when `Event` is missing or not one of the two events. */
  event: 'Call.Initiate' | 'Call.Complete' | null;
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

/**
 * The canonical call event (schema: core/schema/call-event.schema.json, or `schema("event")`).
 */
export interface CanonicalEvent {
  event: 'Call.Initiate' | 'Call.Complete';
  account: { sid: string };
  property: { sid: string; name: string; type: string };
  call: Record<string, unknown> & { sid: string; start_date: string };
  [section: string]: unknown;
}

export interface Inspection {
  /** The decoded pairs, in order, duplicates kept (those decoded before a refusal too). */
  fields: [string, string][];
  verdict: Verdict;
  /** The canonical event when the payload is valid, else null. */
  event: CanonicalEvent | null;
}

/** The decoded [name, value] pairs, in order, duplicates kept (`callhook parse`). Throws a
 * CallhookError with the decoder's code (`invalid_json`, `body_too_large`, ...) when refused. */
export function parse(body: Body, options?: PayloadOptions): Promise<[string, string][]>;
/** The verdict on a payload (`callhook validate`). Never throws for a bad payload. */
export function validate(body: Body, options?: PayloadOptions): Promise<Verdict>;
/** The canonical event of a valid payload (`callhook normalize`); an invalid one throws a
 * CallhookError with code `invalid_payload`, `errors` and the verdict in `report`. */
export function normalize(body: Body, options?: PayloadOptions): Promise<CanonicalEvent>;
/** Decoded pairs, verdict and canonical event from one pass (for tools such as a playground). */
export function inspect(body: Body, options?: PayloadOptions): Promise<Inspection>;

/**
 * Whether `document` satisfies `filter`, a filter in Hookdeck's syntax given as a JSON value
 * (`callhook match`). A bad filter throws a CallhookError (`bad_filter`) listing every problem
 * with its JSON Pointer.
 */
export function match(filter: unknown, document: unknown): Promise<boolean>;

/** A destination as in the config's `destinations` (README, "Render formats"). */
export interface DestinationConfig {
  /** `canonical` (default), `ga4`, `google-ads`, `slack` or `template`. */
  format?: 'canonical' | 'ga4' | 'google-ads' | 'slack' | 'template';
  url: string;
  /** Default POST. */
  method?: string;
  headers?: Record<string, string>;
  /** Format settings: ga4 `event_name`, `params`; google-ads `conversion_action`, `value`,
   * `currency`; template `body`. */
  options?: Record<string, unknown>;
  /** How its requests are authorized when sent (README, "Destination credentials"). */
  auth?: DestinationAuthConfig;
  /** A token bucket: `per_second` or `per_minute`, `burst` (default per_second, at least 1). */
  rate_limit?: { per_second: number; burst?: number } | { per_minute: number; burst?: number };
  /** Sends in flight at once in one shell (1 to 64); default the shell's. */
  concurrency?: number;
}

/** `destinations.NAME.auth`; reference secrets as `${NAME}`. */
export type DestinationAuthConfig =
  | { type: 'bearer'; token: string }
  | { type: 'header'; name: string; value: string }
  | {
    type: 'oauth2';
    /** Default for google-ads: https://oauth2.googleapis.com/token. */
    token_url?: string;
    client_id: string;
    client_secret?: string;
    /** Set: the refresh-token grant. */
    refresh_token?: string;
    /** Default for google-ads: https://www.googleapis.com/auth/adwords. */
    scope?: string;
    /** Without refresh_token, "client_credentials" must be written. */
    grant?: 'refresh_token' | 'client_credentials';
  };

export interface RenderOptions {
  /** Resolves `${NAME}` references in the destination (see EngineOptions.secrets). */
  secrets?: Secrets;
}

export type Rendered =
  | { body: string; contentType: string; skipped: null }
  | { body: null; contentType: null; skipped: string };

/**
 * The body `destination` would receive for `event`: a canonical event, or any document with
 * the keys templates read (`call.duration`, `Call.Sid`, `fields`, `headers`, `query`). A
 * destination that cannot take the call (ga4 without a client id, google-ads without a GCLID)
 * gives `skipped` with the reason. A bad destination throws a CallhookError whose `errors` have
 * pointers relative to the destination.
 */
export function render(destination: DestinationConfig, event: unknown,
  options?: RenderOptions): Promise<Rendered>;

/** The canonical event's JSON Schema, or the spec table as Markdown (`callhook schema`). */
export function schema(name?: 'event'): Promise<Record<string, unknown>>;
export function schema(name: 'fields'): Promise<string>;

// ---- the engine -------------------------------------------------------------------------------

/**
 * `${NAME}` secret lookup: an object of strings (a Worker's `env`, `process.env`), or a function
 * returning the value, undefined when unset, or a promise of either. Only the names the config
 * references are looked up; a missing one is a config error (`missing_secret`), never an empty
 * string. Secret values never appear in errors, responses or logs.
 */
export type Secrets =
  | Record<string, string | undefined>
  | ((name: string) => string | undefined | null | Promise<string | undefined | null>);

/** The config document (schema: core/schema/config.schema.json; README, "The config"). */
export interface Config {
  $schema?: string;
  auth?: Record<string, unknown>;
  /** Senders whose webhooks arrive at /hook/NAME (README, "Senders"). */
  sources?: Record<string, {
    sender: 'voice-webhooks' | 'twilio' | 'callrail' | 'ctm' | 'ringba';
    auth?: Record<string, unknown>;
    mode?: 'lenient' | 'strict';
    defaults?: Record<string, string>;
    fields?: Record<string, string>;
  }>;
  validation?: { mode?: 'lenient' | 'strict'; limits?: Limits };
  response?: { always_200?: boolean };
  destinations?: Record<string, DestinationConfig>;
  routes?: { name: string; when?: unknown; to: string[]; on?: 'event' | 'complete' | 'abandoned' }[];
  correlation?: { enabled?: boolean; abandon_after_seconds?: number; retention_seconds?: number };
}

export interface EngineOptions extends InitOptions {
  /** Resolves the config's `${NAME}` references. */
  secrets?: Secrets;
}

/** A header list: an object, [[name, value], ...] (repeats kept) or a `Headers`. Object values
 * may be arrays (Node's IncomingHttpHeaders): each element is one header. */
export type HeadersInit =
  | Record<string, string | string[] | undefined>
  | Iterable<[string, string]>
  | Headers;

/** One HTTP request as received, body read (the shell reads a stream before calling). */
export interface RequestInit {
  /** Default POST. Anything but GET and POST is answered 405 once authenticated. */
  method?: string;
  /** The request target (`/hook/TOKEN?x=1`) or the absolute URL. Default `/`. */
  url?: string;
  headers?: HeadersInit;
  /** The body as received: bytes for signature checks over exact bytes, or a string (UTF-8). */
  body?: Body;
  /** Alternatively the body in base64, as the CLI's request files may give it. */
  body_base64?: string;
}

export interface HandleOptions {
  /** When the request was received, in seconds since the Unix epoch (fractions are dropped).
   * Default: now (`Date.now() / 1000`). */
  now?: number;
  /** The call's stored correlation record, as the text a previous outcome gave, or null/absent
   * when none is stored yet. */
  record?: string | null;
}

export type HeaderList = [string, string][];

/** One request the shell must send to a destination. */
export interface Delivery {
  route: string;
  destination: string;
  method: string;
  url: string;
  /** Includes Content-Type and Idempotency-Key. */
  headers: HeaderList;
  body: string;
  /** `Call.Sid:event:route` (or `:complete:`/`:abandoned:`): the same for every retry. */
  idempotency_key: string;
  /** One attempt's limit in milliseconds (the destination's `delivery.timeout_seconds`). */
  timeout_ms: number;
  /** The call's Call.Sid. */
  call_sid: string;
  /** The call's correlation record key (`Account.Sid:Call.Sid`), "" with correlation off. */
  record_key: string;
  /** What fired the route (its `on`); "" only for a delivery stored before this was kept
   * whose idempotency key does not say. */
  trigger: 'event' | 'complete' | 'abandoned' | '';
  /** The last moment (epoch ms) the platform still accepts it (GA4: 72 hours after the event;
   * Meta: 7 days); absent: no deadline. */
  not_after_ms?: number;
}

/** What Engine.rerender renders again: a dead delivery's call, route, destination, trigger. */
export interface RerenderOptions {
  /** The call's stored correlation record (its text, as stored; the delivery's record_key). */
  record: string | Uint8Array;
  route: string;
  destination: string;
  trigger: 'event' | 'complete' | 'abandoned';
  /** For trigger `event`: which event of the call fired it. */
  event?: 'Call.Initiate' | 'Call.Complete' | null;
  /** When to render at, epoch milliseconds (default now): GA4 leaves out timestamp_micros past
   * 72 hours, and the platforms' deadlines count from the event. */
  nowMs?: number;
}

/** Why Engine.rerender gives no delivery (the CallhookError's `code`). */
export type RerenderErrorCode =
  | 'bad_trigger' | 'bad_event' | 'unknown_route' | 'route_trigger_changed'
  | 'unknown_destination' | 'route_does_not_send_there' | 'bad_record' | 'record_missing_event'
  | 'route_does_not_match' | 'destination_skipped';

/** Whom to erase: a call and/or a caller's phone number (any spelling; E.164 once checked). */
export interface ErasureSubject {
  call_sid?: string | null;
  phone?: string | null;
}

export interface RouteDecision {
  name: string;
  matched: boolean;
  /** "destination: reason" for each destination that could not take the call. */
  skipped: string[];
}

/**
 * What the shell must do: the same JSON as the CLI's `handle` output (one spelling everywhere):
 * the record as text, stored byte for byte, with the facts a store keeps beside it.
 */
export interface Outcome {
  /** The answer to the sender; `status` is 0 for sweeps (nobody to answer). */
  response: { status: number; headers: HeaderList; body: string };
  /** Send these only once the record is stored. */
  deliveries: Delivery[];
  routes: RouteDecision[];
  authenticated: boolean;
  /** The signature scheme that passed, if any. */
  auth_scheme: string | null;
  /** This event of this call was accepted before: nothing is routed. */
  duplicate: boolean;
  /**
   * The record to store, as text, byte for byte; null when there is nothing to store
   * (correlation off, a refused request, a sweep with nothing due).
   */
  record: string | null;
  /** The store key (`Account.Sid:Call.Sid`) when `record` is set. */
  record_key: string | null;
  /** Store `record` only if the stored version is still this (0: none may exist yet). */
  expected_version: number | null;
  /** The new record's version: what the store keeps beside it for the next compare-and-set. */
  version: number | null;
  /** When the store may drop the record (epoch seconds). */
  expires_at: number | null;
  /** When to sweep this call next (epoch seconds): engine.sweep(record) then. Null: never. */
  sweep_at: number | null;
  /** The verdict (empty when refused before decoding). */
  verdict: Verdict;
  /** The canonical event when accepted, else null. */
  event: CanonicalEvent | null;
  /** One structured log line (no secrets, tokens or caller numbers). */
  log: Record<string, unknown> | null;
}

/** One finished attempt of a delivery, as a shell reports it to the core. */
export interface AttemptInput {
  route?: string;
  destination: string;
  idempotency_key?: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** Milliseconds since the Unix epoch. */
  now_ms: number;
  /** In [0, 1): the jitter's source. */
  random: number;
  /** The planned request's deadline (`request.not_after_ms` of planSend; 0 or absent: none): a
   * retry that would come after it is dead `deadline_passed`. */
  not_after_ms?: number;
  /** The OAuth access token this attempt carried was minted for it, not cached: a 401 then is
   * dead, not retried with another token. */
  fresh_token?: boolean;
  answer:
    | { status: number; headers?: HeaderList | Record<string, string>; body?: string }
    | { timeout: true }
    | { error: string }
    /** A redirect whose status the runtime hides (a browser's opaque redirect): dead. */
    | { redirect: true }
    /** The delivery could not even be sent (unsealDelivery threw: its message): dead at once. */
    | { unsendable: string };
}

/** The core's decision after an attempt. */
export interface AttemptVerdict {
  verdict: 'delivered' | 'retry' | 'dead';
  /** delivered, already_recorded (delivered); retryable_status, timeout, transport_error,
   * platform_retry, token_rejected (a cached access token was refused: at once, with a fresh
   * one), token_unavailable (the token endpoint failed for now) (retry); not_retryable_status,
   * redirect, attempts_exhausted, rejected, unsendable, deadline_passed, token_refused (dead). */
  code: string;
  /** For people: what the destination said and why this verdict. */
  reason: string;
  /** When to try again (epoch ms), for a retry; else null. */
  retry_at_ms: number | null;
  delay_ms: number | null;
  /** The wait came from the destination's Retry-After. */
  retry_after: boolean;
  /** Forget the destination's cached OAuth access token: it was refused. */
  drop_token: boolean;
  /** One structured log line (no URL, no secrets). */
  log: Record<string, unknown>;
}

/** A destination's token bucket as a plan gives it; keep it per destination between plans. */
export interface PaceState {
  /** Tokens left (fractional); -1: a bucket never used (full). */
  tokens: number;
  at_ms: number;
}

export interface PlanSendOptions {
  /** The destination's cached OAuth access token; '' or absent: none. */
  accessToken?: string | null;
  /** The destination's bucket as the last plan gave it; null or absent: a fresh one. */
  pace?: PaceState | null;
  /** Epoch milliseconds. Default: Date.now(). */
  nowMs?: number;
}

/** What to do with a stored delivery that is due (Engine.planSend). */
export type SendPlan =
  /** Send `request` (the delivery with its credentials), then give the answer to attemptResult
   * with `not_after_ms: request.not_after_ms ?? 0`. */
  | { plan: 'send'; request: Delivery; pace: PaceState }
  /** Send `request` (the token request: POST, a form body that holds the credentials; never log
   * it) and give its answer to tokenResult, then plan again with the token. No bucket token is
   * taken: keep the pace you had. */
  | { plan: 'token'; request: Delivery }
  /** The destination's rate limit: keep `pace`, plan again after `wait_ms`. No attempt is spent. */
  | { plan: 'wait'; wait_ms: number; pace: PaceState }
  /** Do not send: record `verdict` as this attempt's (unsendable, deadline_passed). */
  | { plan: 'dead'; verdict: AttemptVerdict };

/** What Engine.tokenResult read in the token endpoint's answer. */
export type TokenOutcome =
  /** Cache the token for the destination until `cache_until_ms` (a few minutes before it
   * expires). */
  | { access_token: string; cache_until_ms: number }
  /** No token: record this as the delivery's attempt (retry `token_unavailable`; dead
   * `token_refused`, `attempts_exhausted`, `deadline_passed`). */
  | { verdict: AttemptVerdict };

/** Per destination: what a shell sizes its sending by (Engine.destinationLimits). */
export interface DestinationLimits {
  /** Sends in flight at once in one shell; null: the shell's default. */
  concurrency: number | null;
  /** The token bucket planSend keeps to; null: none. */
  rate_limit: { per_second: number; burst: number } | null;
  /** Its credentials are OAuth access tokens (planSend may ask for one). */
  oauth: boolean;
}

/** A request after its first step (Engine.prepare): decoded and checked once. */
export interface Prepared {
  /** The record to read before deciding; null when there is none to read. */
  readonly record_key: string | null;
  /** The answer is known already (refused, or nothing to correlate): decide() returns it. */
  readonly finished: boolean;
  /** Folds the prepared request into the call's record (null: none yet) and routes it. */
  decide(options?: { now?: number; record?: string | null }): Outcome;
  /** The prepared request as text, for Engine.decidePrepared in another place. */
  text(): string;
  /** Frees its wasm memory now (it is also freed when garbage-collected). */
  close(): void;
}

export interface Engine {
  /** `text` without the config's secret values (as `${NAME}`) and callers' phone numbers
   * (`[number]`): every log line a shell writes goes through it. */
  redact(text: string): string;
  /** Authenticates, decodes, validates and normalizes once; see Prepared. */
  prepare(request: RequestInit, options?: { now?: number }): Prepared;
  /** Prepared.decide for a prepared request that travelled as text. */
  decidePrepared(text: string, options?: { now?: number; record?: string | null }): Outcome;
  /**
   * What follows one attempt of a delivery: delivered, retry at a time, or dead with a reason,
   * decided by the destination's `delivery` settings and its format's reading of the answer.
   */
  attemptResult(attempt: AttemptInput): AttemptVerdict;
  /**
   * The step before each attempt of a stored delivery (sealDelivery's text): its deadline, its
   * destination's rate limit and credentials (bearer, header, OAuth) decide. See SendPlan.
   */
  planSend(sealed: string, options?: PlanSendOptions): SendPlan;
  /**
   * Reads the token endpoint's answer to a `token` plan's request; `attempt` is the delivery's
   * (its number, time and random number) with that answer.
   */
  tokenResult(attempt: AttemptInput): TokenOutcome;
  /** Every destination's concurrency, rate limit and whether it uses OAuth. */
  destinationLimits(): Record<string, DestinationLimits>;
  /**
   * The delivery as a shell keeps it at rest (outbox, queue message, KV entry): one JSON text,
   * `{"sealed":1,"route","destination","method","url","headers":[[name,value]],"body",
   * "idempotency_key","timeout_ms"}`, whose method, URL, header values and body hold each of
   * the config's secret values (4 bytes or more) as `${NAME}` (percent-encoded: `${NAME:pct}`,
   * JSON-escaped: `${NAME:json}`) and each `$` of their own as `$$`. Throws a CallhookError
   * (`bad_delivery`) when `delivery` is not a delivery object.
   */
  sealDelivery(delivery: Delivery): string;
  /**
   * sealDelivery's text back as the delivery, byte for byte, with the secrets' values of this
   * engine's config: a payload's own `${NAME}` text is never resolved. Throws a CallhookError
   * whose `code` is `missing_secret` (a secret the config no longer sets, named in the message)
   * or `bad_sealed` (not a sealed delivery); report that attempt as `{unsendable: message}`.
   */
  unsealDelivery(sealed: string): Delivery;
  /**
   * A dead delivery rendered again by this engine's config (a template fixed since), under the
   * idempotency key it had, from the call's stored record: for `event` deliveries the stored
   * event (parameters by spec name rebuilt from it; no headers or query), for `complete` the
   * merged call as the record holds it now, for `abandoned` the call as it was when abandoned.
   * Throws a CallhookError whose `code` is one of RerenderErrorCode.
   */
  rerender(options: RerenderOptions): Delivery;
  /**
   * Whether a stored text (a record, a sealed or plain delivery, a shell's dead-letter entry)
   * concerns the subject's call or phone number: records are read precisely (the caller, not the
   * business's own numbers), other text is searched for every form of the number (`+1415...`,
   * `%2B1415...`, `\u002B1415...`, the digits alone as a word, the SHA-256 hex of both). Throws a
   * CallhookError whose `code` is `bad_phone` (the message says why) or `empty_subject`.
   */
  mentions(text: string, subject: ErasureSubject): boolean;
  /**
   * Decides what to do with one request. Pure: on a compare-and-set conflict read the record
   * again and call handle again. Throws a TypeError for a malformed request object.
   */
  handle(request: RequestInit, options?: HandleOptions): Outcome;
  /**
   * Looks at a stored record at `now` (default: now): an Initiate whose Complete is overdue
   * becomes an abandoned call and fires the `abandoned` routes once. Store the outcome's record
   * as for handle.
   */
  sweep(record: string, now?: number): Outcome;
  /** Frees the engine's memory now (it is also freed when garbage-collected). */
  close(): void;
}

/**
 * Builds an engine. Rejects with a CallhookError whose `errors` lists every config problem
 * with its JSON Pointer (`[{field, code, message}]`).
 */
export function createEngine(config: Config | string, options?: EngineOptions): Promise<Engine>;

/**
 * An outcome's log line as the core wrote it (one JSON text, without secrets or caller numbers),
 * or null when it has none: `outcome.log` as the engine gave it, not parsed and written again.
 */
export function outcomeLogLine(outcome: Outcome): string | null;

/** Checks a config without keeping an engine (`callhook check-config`). */
export function checkConfig(config: Config | string, options?: EngineOptions):
  Promise<{ valid: boolean; errors: Diagnostic[] }>;

/** The synchronous API, once loaded (`await init()`). With an asynchronous secrets function,
 * createEngine, checkConfig and render return promises. */
export interface Callhook {
  parse(body: Body, options?: PayloadOptions): [string, string][];
  validate(body: Body, options?: PayloadOptions): Verdict;
  normalize(body: Body, options?: PayloadOptions): CanonicalEvent;
  inspect(body: Body, options?: PayloadOptions): Inspection;
  match(filter: unknown, document: unknown): boolean;
  render(destination: DestinationConfig, event: unknown, options?: RenderOptions):
    Rendered | Promise<Rendered>;
  schema(name?: 'event'): Record<string, unknown>;
  schema(name: 'fields'): string;
  createEngine(config: Config | string, options?: { secrets?: Secrets }): Engine | Promise<Engine>;
  checkConfig(config: Config | string, options?: { secrets?: Secrets }):
    { valid: boolean; errors: Diagnostic[] } | Promise<{ valid: boolean; errors: Diagnostic[] }>;
  /** Which endpoint a request is for (see FrontDoor.route). */
  route(method: string, target: string, host?: string | null): FrontDoorRoute;
  /** A shell's refusal as a response (see FrontDoor.refusal). */
  refusal(kind: RefusalKind, detail?: string): ShellResponse;
  /** `text` without callers' phone numbers, for a shell with no engine yet (Engine.redact
   * also takes out the config's secrets). */
  redact(text: string): string;
  /** The /healthz answer (see FrontDoor.health). */
  health(state: 'ok' | 'closing' | 'error' | string, counts?: HealthCounts): ShellResponse;
  /**
   * An erasure subject checked once: the phone normalized to E.164 ("" when not given). Throws a
   * CallhookError whose `code` is `bad_phone` or `empty_subject`.
   */
  erasureSubject(subject: ErasureSubject): { call_sid: string; phone: string };
  /** Whether a request may use the admin API (see FrontDoor.adminCheck). */
  adminCheck(authorization: string | null | undefined, token: string | null | undefined):
    ShellResponse | null;
  /** The raw module (see loadModule). */
  readonly module: RawModule;
}

/** A response a shell sends as it is: the problem documents are RFC 9457, `urn:callhook:problem:*`. */
export interface ShellResponse {
  status: number;
  headers: [string, string][];
  body: string;
}

/** Every answer a shell gives on its own (README, "The engine", problem types). */
export type RefusalKind =
  | 'not-found' | 'method-not-allowed' | 'bad-request' | 'body-too-large' | 'headers-too-large'
  | 'request-timeout' | 'store-unavailable' | 'outbox-unavailable' | 'outbox-full' | 'conflict'
  | 'config-unavailable' | 'config-invalid' | 'internal-error' | 'shutting-down' | 'overloaded'
  | 'unauthorized' | 'bad-admin-request' | 'dead-letter-not-found';

export interface FrontDoorRoute {
  /** `admin`: GET, HEAD, POST or DELETE of /admin and /admin/... (ask adminCheck first). */
  endpoint: 'hook' | 'healthz' | 'metrics' | 'static' | 'admin' | 'refused';
  /** The target's path, query and fragment stripped, not percent-decoded. */
  path: string;
  /** The refusal (404, 405, 400 for a bad target or Host) when `endpoint` is "refused". */
  response: ShellResponse | null;
}

export interface HealthCounts {
  pending?: number;
  deadLetters?: number;
}

/** The front door every shell shares; it needs no config, so a shell answers even without one. */
export const frontDoor: {
  /** The endpoint of `method` + `target` (origin-form or absolute URL); `host` is the Host
   * header when there is one (empty, or holding '/', spaces or control characters, is a 400). */
  route(method: string, target: string, host?: string | null): Promise<FrontDoorRoute>;
  /** The refusal of `kind` (an empty detail takes the kind's default; never put a secret in it). */
  refusal(kind: RefusalKind, detail?: string): Promise<ShellResponse>;
  /** {status, pending?, dead_letters?}: 200 when "ok", 503 otherwise. */
  health(state: string, counts?: HealthCounts): Promise<ShellResponse>;
  /**
   * Whether a request may use the admin API: null when it may, otherwise the answer to give.
   * `authorization` is the request's Authorization header (null or undefined: none), `token`
   * the configured admin token (empty, null or undefined: none, and the answer is always
   * `not-found`: the admin API does not exist). A header that is not `Bearer <token>` (the
   * scheme in any case) with exactly that token is `unauthorized` (401, `WWW-Authenticate:
   * Bearer realm="callhook-admin"`). Compared in constant time.
   */
  adminCheck(authorization: string | null | undefined, token: string | null | undefined):
    Promise<ShellResponse | null>;
};

export { memoryStore, entryOf } from './stores.js';
export { attemptDelivery, createCredentials, createDeliveryQueue, OverflowError, sendAttempt } from './delivery.js';
import type { FetchHandlerOptions, FetchHandler } from './fetch-handler.js';

/** Options of the config-based createFetchHandler: a config (or a ready engine) plus the
 * options of the engine-based handler in "callhook/fetch-handler". */
export interface ConfigFetchHandlerOptions extends Omit<FetchHandlerOptions, 'engine'> {
  config?: Config | string;
  secrets?: Secrets;
  engine?: Engine;
  wasm?: WasmSource;
  /** Receives the deliveries once the record is stored, when no `queue` is given. */
  deliver?: (deliveries: Delivery[]) => void | Promise<void>;
}

/** `(request, ctx?) => Promise<Response>` for any Fetch-API runtime; the engine is created on
 * first use (`ready` resolves once it is), `sweep(now)` runs due sweeps. */
export function createFetchHandler(options: ConfigFetchHandlerOptions):
  ((request: Request, ctx?: { waitUntil?(p: Promise<unknown>): void }) => Promise<Response>) &
  { ready: Promise<FetchHandler>; sweep(now?: number): Promise<unknown> };
