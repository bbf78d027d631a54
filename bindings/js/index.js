// callhook for JavaScript: the C++ core compiled with Emscripten, behind a small API that runs
// unchanged in Node 20+, browsers and Cloudflare Workers (workerd).
//
// How bytes cross: every call copies its inputs once into one reusable buffer on the wasm heap
// (the payload as bytes, then small UTF-8 JSON metadata), calls one Embind function with
// pointer and lengths, and decodes the JSON it returns. See wasm/emscripten/bindings.cpp.
import createCallhookModule from './dist/callhook_wasm.mjs';

const WASM_FILE = 'callhook_wasm.wasm';
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

// Status bytes of the module's answers (bindings.cpp).
const RESULT = 0x52; // 'R'
const INVALID = 0x49; // 'I'
const CLEAN = 0x56; // 'V': a verdict without errors or warnings, in short (VERB.verdict)
const OUTCOME = 0x4f; // 'O': an outcome's skeleton and its three texts (Runtime.outcome)
// Where an outcome decoded from its texts keeps the core's log line (outcomeLogLine).
const LOG_LINE = Symbol('callhook.logLine');

const VERB = { parse: 0, validate: 1, normalize: 2, inspect: 3, verdict: 4 };
const LIMIT_NAMES = ['max_body_bytes', 'max_fields', 'max_name_bytes', 'max_value_bytes'];
const OPTION_NAMES = new Set(['contentType', 'url', 'mode', 'limits', 'sender', 'webhook']);
const SENDERS = ['voice-webhooks', 'twilio', 'callrail', 'ctm', 'ringba'];

/** An error from callhook: `code` is stable; `errors` and `report` say more when there are any. */
export class CallhookError extends Error {
  constructor(message, { code, errors, report } = {}) {
    super(message);
    this.name = 'CallhookError';
    this.code = code;
    if (errors !== undefined) this.errors = errors;
    if (report !== undefined) this.report = report;
  }
}

// ---- loading ------------------------------------------------------------------------------------

let loading = null; // Promise<Runtime>
let defaultWasm = null; // what init() loads when given nothing (set by the workerd entry)

/** @internal Sets what `init()` loads when no `wasm` option is given (used by workerd.js). */
export function setDefaultWasm(wasm) {
  defaultWasm = wasm;
}

function isNode() {
  return typeof process === 'object' && process !== null && typeof process.versions === 'object' &&
    process.versions !== null && typeof process.versions.node === 'string' &&
    !(typeof navigator === 'object' && navigator?.userAgent === 'Cloudflare-Workers');
}

async function readNodeFile(url) {
  // A computed specifier keeps bundlers for browsers and Workers from trying to resolve it.
  const fsModule = ['node', 'fs/promises'].join(':');
  const { readFile } = await import(/* webpackIgnore: true */ /* @vite-ignore */ fsModule);
  return readFile(url);
}

// Instantiates the wasm from whatever `source` is; resolves to a WebAssembly.Instance.
async function instantiateFrom(source, imports) {
  if (source === undefined || source === null) {
    if (typeof navigator === 'object' && navigator?.userAgent === 'Cloudflare-Workers') {
      throw new CallhookError(
        'Cloudflare Workers cannot compile WebAssembly at run time: import the module and pass ' +
          'it, e.g. `import wasm from "callhook/callhook.wasm"; await init({ wasm })`',
        { code: 'wasm_required' });
    }
    source = new URL(`./dist/${WASM_FILE}`, import.meta.url);
  }
  if (typeof source === 'string') source = new URL(source, import.meta.url);
  if (source instanceof WebAssembly.Module) return WebAssembly.instantiate(source, imports);
  if (source instanceof URL) {
    if (source.protocol === 'file:') {
      if (!isNode()) throw new CallhookError(`cannot read ${source} here`, { code: 'wasm_load' });
      source = await readNodeFile(source);
    } else {
      source = await fetch(source);
    }
  }
  const isBytes = (x) => x instanceof ArrayBuffer || ArrayBuffer.isView(x);
  // Bytes never touch the global Response: in Node its first use loads undici, which takes
  // longer than compiling and instantiating the wasm.
  if (!isBytes(source) && typeof Response === 'function' && source instanceof Response) {
    if (!source.ok) {
      throw new CallhookError(`fetching the callhook wasm failed: ${source.status}`,
        { code: 'wasm_load' });
    }
    if (typeof WebAssembly.instantiateStreaming === 'function' &&
        source.headers.get('Content-Type')?.startsWith('application/wasm')) {
      return (await WebAssembly.instantiateStreaming(source, imports)).instance;
    }
    source = await source.arrayBuffer();
  }
  if (isBytes(source)) return (await WebAssembly.instantiate(source, imports)).instance;
  throw new TypeError('wasm must be a WebAssembly.Module, a URL, a Response or the bytes');
}

/**
 * Loads the Emscripten module (once) and returns its raw Embind exports, for code that builds
 * on the byte protocol of wasm/emscripten/bindings.cpp. Most code wants `init()` instead.
 */
export async function loadModule({ wasm } = {}) {
  let failed;
  const failure = new Promise((_, reject) => {
    failed = reject;
  });
  const ready = createCallhookModule({
    // The runtime never fetches or reads the .wasm itself: workerd forbids compiling from bytes
    // at run time, and Node's ES-module loader has no __dirname (see wasm/emscripten/pre.js).
    instantiateWasm(imports, receive) {
      instantiateFrom(wasm ?? defaultWasm, imports).then((instance) => receive(instance), failed);
      return {};
    },
    locateFile: (path) => path,
    onAbort() {
      loading = null; // a module that aborted is unusable: the next call loads a fresh one
    },
  });
  return Promise.race([ready, failure]);
}

/**
 * Loads the module, once: later calls return the same runtime (their `wasm` is then ignored).
 * Every other function calls it; call it yourself to load from a given place, or to get the
 * synchronous API.
 */
export function init(options = {}) {
  if (!loading) {
    loading = loadModule(options).then((module) => new Runtime(module));
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}

// ---- the byte protocol --------------------------------------------------------------------------

function toBytes(body, what = 'body') {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) {
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  }
  if (typeof ReadableStream === 'function' && body instanceof ReadableStream) {
    throw new TypeError(`${what} is a stream: read it first (await request.arrayBuffer())`);
  }
  throw new TypeError(`${what} must be a string, a Uint8Array or an ArrayBuffer`);
}

function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

class Runtime {
  constructor(module) {
    this.module = module;
    this.ptr = 0;
    this.capacity = 0;
    this.lengths = [0, 0, 0, 0];
    this.engines = typeof FinalizationRegistry === 'function'
      ? new FinalizationRegistry((handle) => module.engineFree(handle))
      : null;
    this.prepared = typeof FinalizationRegistry === 'function'
      ? new FinalizationRegistry((id) => module.preparedFree(id))
      : null;
  }

  // Copies `parts` (strings as UTF-8, or bytes) one after another into the input buffer and
  // returns its address; their lengths are in this.lengths. No wasm call may run in between.
  write(parts) {
    let bound = 0;
    for (const p of parts) bound += typeof p === 'string' ? p.length * 3 : p.byteLength;
    if (bound > this.capacity) {
      const { module } = this;
      if (this.ptr) module._free(this.ptr);
      this.capacity = Math.max(bound, this.capacity * 2, 64 * 1024);
      this.ptr = module._malloc(this.capacity);
      if (!this.ptr) {
        this.capacity = 0;
        throw new RangeError('callhook: out of wasm memory');
      }
    }
    const heap = this.module.HEAPU8; // read after malloc: growing the memory replaces it
    let at = this.ptr;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      let n;
      if (typeof p === 'string') {
        n = p.length === 0 ? 0
          : encoder.encodeInto(p, heap.subarray(at, at + p.length * 3)).written;
      } else {
        heap.set(p, at);
        n = p.byteLength;
      }
      this.lengths[i] = n;
      at += n;
    }
    return this.ptr;
  }

  // Decodes an answer (the address of its {address, length}): [status, text].
  answer(where) {
    const { HEAPU8, HEAPU32 } = this.module;
    const at = HEAPU32[where >>> 2];
    const length = HEAPU32[(where >>> 2) + 1];
    return [HEAPU8[at], decoder.decode(HEAPU8.subarray(at + 1, at + length))];
  }

  // Decodes an outcome's answer (bindings.cpp outcome()): the skeleton's JSON, the record's text
  // put in as it is (no escapes to undo), the event and the log parsed only when first read.
  // Any other answer is an error, thrown as a CallhookError about `what`.
  outcome(where, what) {
    const { HEAPU8, HEAPU32 } = this.module;
    const w = where >>> 2;
    const at = HEAPU32[w];
    const end = at + HEAPU32[w + 1];
    if (HEAPU8[at] !== OUTCOME) throw Runtime.fail(decoder.decode(HEAPU8.subarray(at + 1, end)), what);
    const logAt = end - HEAPU32[w + 4];
    const recordAt = logAt - HEAPU32[w + 3];
    const eventAt = recordAt - HEAPU32[w + 2];
    const outcome = JSON.parse(decoder.decode(HEAPU8.subarray(at + 1, eventAt)));
    if (outcome.event === 0) parsedOnRead(outcome, 'event', decoder.decode(HEAPU8.subarray(eventAt, recordAt)));
    if (outcome.record === 0) outcome.record = decoder.decode(HEAPU8.subarray(recordAt, logAt));
    if (outcome.log === 0) {
      const line = decoder.decode(HEAPU8.subarray(logAt, end));
      parsedOnRead(outcome, 'log', line);
      Object.defineProperty(outcome, LOG_LINE, { value: line });
    }
    return outcome;
  }

  static fail(text, what) {
    const errors = JSON.parse(text);
    const first = errors[0] ?? { code: 'error', message: 'failed' };
    const where = first.field ? `${first.field}: ` : '';
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
    return new CallhookError(`${what}: ${where}${first.message}${more}`,
      { code: first.code, errors });
  }

  payloadCall(verb, body, options) {
    const meta = payloadMeta(body, options);
    const ptr = this.write(meta === '' ? [toBytes(body)] : [toBytes(body), meta]);
    return this.answer(
      this.module.inspectPayload(verb, ptr, this.lengths[0], meta === '' ? 0 : this.lengths[1]));
  }

  parse(body, options) {
    const [status, text] = this.payloadCall(VERB.parse, body, options);
    if (status !== RESULT) throw Runtime.fail(text, 'the payload cannot be decoded');
    return JSON.parse(text);
  }

  validate(body, options) {
    const [status, text] = this.payloadCall(VERB.verdict, body, options);
    if (status !== CLEAN) return JSON.parse(text);
    // Its validity ('1' or '0'), then its event's name (none: no event).
    return { valid: text[0] === '1', event: text.length > 1 ? text.slice(1) : null, errors: [],
      warnings: [] };
  }

  normalize(body, options) {
    const [status, text] = this.payloadCall(VERB.normalize, body, options);
    if (status === RESULT) return JSON.parse(text);
    const report = JSON.parse(text);
    if (status !== INVALID) throw Runtime.fail(text, 'normalize');
    const first = report.errors[0];
    const count = report.errors.length;
    throw new CallhookError(
      `the payload is invalid: ${count === 1 ? '1 problem' : `${count} problems, the first`}: ` +
        `${first.field ? `${first.field}: ` : ''}${first.message}`,
      { code: 'invalid_payload', errors: report.errors, report });
  }

  inspect(body, options) {
    const [status, text] = this.payloadCall(VERB.inspect, body, options);
    if (status !== RESULT) throw Runtime.fail(text, 'inspect');
    return JSON.parse(text);
  }

  match(filter, document) {
    const f = jsonText(filter, 'filter');
    const d = jsonText(document, 'document');
    const ptr = this.write([f, d]);
    const [status, text] =
      this.answer(this.module.matchFilter(ptr, this.lengths[0], this.lengths[1]));
    if (status !== RESULT) throw Runtime.fail(text, 'bad filter');
    return text === 'true';
  }

  render(destination, event, { secrets } = {}) {
    return this.withSecrets(configFor(destination), secrets, (config, values) => {
      const ptr = this.write([config, values, jsonText(event, 'event')]);
      const [status, text] = this.answer(
        this.module.renderDestination(ptr, this.lengths[0], this.lengths[1], this.lengths[2]));
      if (status !== RESULT) throw Runtime.fail(text, 'bad destination');
      return JSON.parse(text);
    });
  }

  schema(name = 'event') {
    if (name !== 'event' && name !== 'fields') throw new TypeError('schema is "event" or "fields"');
    const text = this.answer(this.module.schemaText(name === 'event' ? 0 : 1))[1];
    return name === 'event' ? JSON.parse(text) : text;
  }

  // ---- the front door (engine-independent: a shell answers with these even without a config)

  /**
   * Which endpoint a request is for: {endpoint: "hook"|"healthz"|"metrics"|"static"|"refused",
   * path, response}; `response` ({status, headers, body}) is the refusal when refused. `host` is
   * the Host header (null or undefined when the shell has none).
   */
  route(method, target, host) {
    if (typeof method !== 'string' || typeof target !== 'string') {
      throw new TypeError('route needs the method and the request target as strings');
    }
    const hasHost = host !== undefined && host !== null;
    if (hasHost && typeof host !== 'string') throw new TypeError('host must be a string');
    const ptr = this.write([method, target, hasHost ? host : '']);
    const [status, text] = this.answer(this.module.frontDoorRoute(ptr, this.lengths[0],
      this.lengths[1], this.lengths[2], hasHost));
    if (status !== RESULT) throw Runtime.fail(text, 'route');
    return JSON.parse(text);
  }

  /** `text` without callers' phone numbers (an engine's redact also takes out its secrets). */
  redact(text) {
    return this.redactWith(0, text);
  }

  redactWith(handle, text) {
    if (typeof text !== 'string') throw new TypeError('text must be a string');
    const ptr = this.write([text]);
    const [status, out] = this.answer(this.module.redactText(handle, ptr, this.lengths[0]));
    if (status !== RESULT) throw Runtime.fail(out, 'redact');
    return out;
  }

  /** A shell's refusal ("not-found", "body-too-large", ...) as {status, headers, body}. */
  refusal(kind, detail = '') {
    if (typeof kind !== 'string') throw new TypeError('kind must be a string');
    if (typeof detail !== 'string') throw new TypeError('detail must be a string');
    const ptr = this.write([kind, detail]);
    const [status, text] =
      this.answer(this.module.frontDoorRefusal(ptr, this.lengths[0], this.lengths[1]));
    if (status !== RESULT) throw Runtime.fail(text, `refusal ${kind}`);
    return JSON.parse(text);
  }

  /**
   * Whether a request may use the admin API: null when it may, otherwise the answer to give
   * ({status, headers, body}): `not-found` when `token` (the configured admin token) is empty,
   * `unauthorized` (401, WWW-Authenticate: Bearer) when `authorization` (the request's
   * Authorization header; null or undefined when it has none) is not `Bearer <token>`.
   * Compared in constant time in the core.
   */
  adminCheck(authorization, token) {
    const hasAuthorization = authorization !== undefined && authorization !== null;
    if (hasAuthorization && typeof authorization !== 'string') {
      throw new TypeError('authorization must be a string (or null when there is none)');
    }
    if (token !== undefined && token !== null && typeof token !== 'string') {
      throw new TypeError('token must be a string (empty or null when none is configured)');
    }
    const ptr = this.write([hasAuthorization ? authorization : '', token ?? '']);
    const [status, text] = this.answer(this.module.frontDoorAdminCheck(ptr, this.lengths[0],
      this.lengths[1], hasAuthorization));
    if (status !== RESULT) throw Runtime.fail(text, 'adminCheck');
    return JSON.parse(text);
  }

  /**
   * An erasure subject checked once: {call_sid, phone} with the phone in E.164 ("" when not
   * given), e.g. to refuse a bad admin request before scanning anything. Throws a CallhookError
   * whose `code` is `bad_phone` or `empty_subject`.
   */
  erasureSubject(subject) {
    const ptr = this.write([subjectText(subject)]);
    const [status, text] = this.answer(this.module.erasureSubject(ptr, this.lengths[0]));
    if (status !== RESULT) throw Runtime.fail(text, 'erasureSubject');
    return JSON.parse(text);
  }

  /** The /healthz answer for `state` ("ok", "closing", "error") as {status, headers, body}. */
  health(state, { pending, deadLetters } = {}) {
    if (typeof state !== 'string') throw new TypeError('state must be a string');
    const ptr = this.write([state]);
    const [, text] = this.answer(this.module.frontDoorHealth(ptr, this.lengths[0],
      Number.isFinite(pending) ? pending : -1, Number.isFinite(deadLetters) ? deadLetters : -1));
    return JSON.parse(text);
  }

  // The secret values a config references, looked up once; `then(values)` gets them as JSON.
  // Returns a promise only when the lookup does.
  withSecrets(configText, secrets, then) {
    const ptr = this.write([configText]);
    const names = JSON.parse(this.answer(this.module.secretNames(ptr, this.lengths[0]))[1]);
    const values = {};
    const pending = [];
    for (const name of names) {
      const value = lookupSecret(secrets, name);
      if (value !== null && typeof value === 'object' && typeof value.then === 'function') {
        pending.push(Promise.resolve(value).then((v) => {
          if (typeof v === 'string') values[name] = v;
        }));
      } else if (typeof value === 'string') {
        values[name] = value;
      }
    }
    if (pending.length) {
      return Promise.all(pending).then(() => then(configText, JSON.stringify(values)));
    }
    return then(configText, JSON.stringify(values));
  }

  // An engine from a config text and its secret values (JSON), or a CallhookError.
  engineFrom(text, values) {
    const ptr = this.write([text, values]);
    const [status, answer] =
      this.answer(this.module.engineCreate(ptr, this.lengths[0], this.lengths[1]));
    if (status !== RESULT) throw Runtime.fail(answer, 'invalid callhook config');
    return new Engine(this, Number(answer));
  }

  createEngine(config, { secrets } = {}) {
    return this.withSecrets(configText(config), secrets, (text, values) =>
      this.engineFrom(text, values));
  }

  checkConfig(config, { secrets } = {}) {
    return this.withSecrets(configText(config), secrets, (text, values) => {
      try {
        this.engineFrom(text, values).close();
        return { valid: true, errors: [] };
      } catch (e) {
        if (e instanceof CallhookError && e.errors) return { valid: false, errors: e.errors };
        throw e;
      }
    });
  }
}

// `key` of `object` as an own enumerable property whose value is `text` parsed when first read
// (JSON.stringify, spreading and structuredClone read it as any other); it can be set.
function parsedOnRead(object, key, text) {
  Object.defineProperty(object, key, {
    get() {
      const value = JSON.parse(text);
      Object.defineProperty(this, key, { value, writable: true, enumerable: true, configurable: true });
      return value;
    },
    set(value) {
      Object.defineProperty(this, key, { value, writable: true, enumerable: true, configurable: true });
    },
    enumerable: true,
    configurable: true,
  });
}

/**
 * An outcome's log line as the core wrote it (one JSON text, without secrets or caller numbers),
 * or null when it has none: the data of `outcome.log` as the engine gave it, without parsing and
 * writing it again (changes made to `outcome.log` since are not in it).
 */
export function outcomeLogLine(outcome) {
  const line = outcome?.[LOG_LINE];
  if (typeof line === 'string') return line;
  const log = outcome?.log;
  if (log === undefined || log === null) return null;
  return typeof log === 'string' ? log : JSON.stringify(log);
}

function lookupSecret(secrets, name) {
  if (secrets === undefined || secrets === null) return undefined;
  if (typeof secrets === 'function') return secrets(name);
  if (typeof secrets === 'object') return Object.hasOwn(secrets, name) ? secrets[name] : undefined;
  throw new TypeError('secrets must be an object or a function (name) => string | undefined');
}

function jsonText(value, what) {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`${what} must be a JSON value`);
  return text;
}

function configText(config) {
  if (typeof config === 'string') return config;
  if (config === null || typeof config !== 'object') {
    throw new TypeError('config must be an object or a JSON string');
  }
  return JSON.stringify(config);
}

function configFor(destination) {
  if (destination === null || typeof destination !== 'object' || Array.isArray(destination)) {
    throw new TypeError('destination must be an object {format, url, method, headers, options}');
  }
  return JSON.stringify({ destinations: { destination } });
}

// The options of parse/validate/normalize/inspect as the module's metadata JSON ('' for none).
function payloadMeta(body, options) {
  if (options === undefined || options === null) return '';
  if (typeof options !== 'object') throw new TypeError('options must be an object');
  let meta = null;
  for (const key of Object.keys(options)) {
    if (options[key] === undefined) continue;
    if (!OPTION_NAMES.has(key)) throw new TypeError(`unknown option ${key}`);
    meta ??= {};
  }
  if (meta === null) return '';
  const { contentType, url, mode, limits, sender, webhook } = options;
  if (sender !== undefined) {
    if (!SENDERS.includes(sender)) throw new TypeError(`sender is one of ${SENDERS.join(', ')}`);
    meta.sender = sender;
  }
  if (webhook !== undefined) {
    if (typeof webhook !== 'string') throw new TypeError('webhook must be a string');
    meta.webhook = webhook;
  }
  if (url !== undefined) {
    if (typeof url !== 'string') throw new TypeError('url must be a string');
    const empty = body === undefined || body === null || body === '' ||
      (typeof body === 'object' && body.byteLength === 0);
    if (!empty) throw new TypeError('give either a body or a url, not both');
    meta.method = 'GET';
    meta.url = url;
  }
  if (contentType !== undefined) {
    if (typeof contentType !== 'string') throw new TypeError('contentType must be a string');
    meta.contentType = contentType;
  }
  if (mode !== undefined) {
    if (mode !== 'lenient' && mode !== 'strict') {
      throw new TypeError('mode is "lenient" or "strict"');
    }
    meta.mode = mode;
  }
  if (limits !== undefined) {
    if (limits === null || typeof limits !== 'object') {
      throw new TypeError('limits must be an object');
    }
    meta.limits = {};
    for (const [name, value] of Object.entries(limits)) {
      if (value === undefined) continue;
      if (!LIMIT_NAMES.includes(name)) {
        throw new TypeError(`unknown limit ${name} (known: ${LIMIT_NAMES.join(', ')})`);
      }
      if (!Number.isInteger(value) || value < 1 || value > 2 ** 30) {
        throw new RangeError(`${name} takes a positive whole number, not ${value}`);
      }
      meta.limits[name] = value;
    }
  }
  return JSON.stringify(meta);
}

// ---- the engine ---------------------------------------------------------------------------------

function headerPairs(headers) {
  const pairs = [];
  if (headers === undefined || headers === null) return pairs;
  const add = (name, value) => {
    if (typeof name !== 'string') throw new TypeError('header names must be strings');
    if (Array.isArray(value)) {
      for (const v of value) add(name, v);
      return;
    }
    if (typeof value !== 'string') throw new TypeError(`header ${name} must be a string`);
    pairs.push([name, value]);
  };
  if (typeof headers[Symbol.iterator] === 'function') {
    for (const pair of headers) {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new TypeError('headers must be an object, [[name, value], ...] or a Headers');
      }
      add(pair[0], pair[1]);
    }
  } else if (typeof headers === 'object') {
    for (const name of Object.keys(headers)) add(name, headers[name]);
  } else {
    throw new TypeError('headers must be an object, [[name, value], ...] or a Headers');
  }
  return pairs;
}

function epochNow(now) {
  if (now === undefined || now === null) return Math.floor(Date.now() / 1000);
  if (typeof now !== 'number' || !Number.isFinite(now) || now < 0) {
    throw new TypeError('now is seconds since the Unix epoch');
  }
  return Math.floor(now);
}

// An erasure subject {call_sid?, phone?} as the JSON the core reads.
function subjectText(subject) {
  if (subject === null || typeof subject !== 'object' || Array.isArray(subject)) {
    throw new TypeError('the subject is an object {call_sid, phone}');
  }
  const { call_sid: callSid, phone } = subject;
  for (const [name, value] of [['call_sid', callSid], ['phone', phone]]) {
    if (value !== undefined && value !== null && typeof value !== 'string') {
      throw new TypeError(`${name} must be a string`);
    }
  }
  return JSON.stringify({ call_sid: callSid ?? '', phone: phone ?? '' });
}

function recordText(record) {
  if (record === undefined || record === null) return null;
  if (typeof record === 'string') return record;
  if (record instanceof Uint8Array || record instanceof ArrayBuffer) {
    return toBytes(record, 'record');
  }
  throw new TypeError('record must be the stored record text (a string) or null');
}

// A request and its metadata as the wasm takes them.
function encodeRequest(request) {
  if (request === null || typeof request !== 'object') {
    throw new TypeError('request must be an object {method, url, headers, body}');
  }
  const method = request.method ?? 'POST';
  const url = request.url ?? '/';
  if (typeof method !== 'string' || typeof url !== 'string') {
    throw new TypeError('request.method and request.url must be strings');
  }
  const body = typeof request.body_base64 === 'string'
    ? fromBase64(request.body_base64)
    : toBytes(request.body, 'request.body');
  return { body, meta: JSON.stringify({ method, url, headers: headerPairs(request.headers) }) };
}

// A prepared request (Engine.prepare). Finished ones (refused, or nothing to correlate) carry
// their outcome and hold no wasm memory.
class Prepared {
  constructor(engine, { id, record_key: recordKey, outcome }) {
    this.engine = engine;
    this.id = id;
    this.record_key = recordKey ?? null;
    this.finished = id === 0;
    this.outcome = outcome ?? null;
    if (id) engine.runtime.prepared?.register(this, id, this);
  }

  decide({ now, record } = {}) {
    if (this.finished) return this.outcome;
    if (!this.id) throw new CallhookError('this prepared request has been closed', { code: 'closed' });
    const stored = recordText(record);
    const { runtime } = this.engine;
    const handle = this.engine.live();
    const ptr = runtime.write(stored === null ? [] : [stored]);
    return runtime.outcome(runtime.module.engineDecide(handle, this.id, ptr,
      stored === null ? 0 : runtime.lengths[0], stored !== null, epochNow(now)), 'decide');
  }

  /** The prepared request as text, for Engine.decidePrepared elsewhere (a Durable Object). */
  text() {
    if (this.finished || !this.id) throw new CallhookError('only an open, unfinished prepared request has a text', { code: 'closed' });
    const { runtime } = this.engine;
    const [status, text] = runtime.answer(runtime.module.preparedText(this.id));
    if (status !== RESULT) throw Runtime.fail(text, 'prepare');
    return text;
  }

  close() {
    if (!this.id) return;
    this.engine.runtime.prepared?.unregister(this);
    this.engine.runtime.module.preparedFree(this.id);
    this.id = 0;
  }
}

class Engine {
  constructor(runtime, handle) {
    this.runtime = runtime;
    this.handle_ = handle;
    this.token = {};
    runtime.engines?.register(this, handle, this.token);
  }

  live() {
    if (!this.handle_) throw new CallhookError('this engine has been closed', { code: 'closed' });
    return this.handle_;
  }

  handle(request, { now, record } = {}) {
    const { body, meta } = encodeRequest(request);
    const stored = recordText(record);
    const { runtime } = this;
    const handle = this.live();
    const ptr = runtime.write(stored === null ? [body, meta] : [body, meta, stored]);
    return runtime.outcome(runtime.module.engineHandle(handle, ptr,
      runtime.lengths[0], runtime.lengths[1], stored === null ? 0 : runtime.lengths[2],
      stored !== null, epochNow(now)), 'handle');
  }

  /**
   * The first step of handle: authenticates, decodes, validates and normalizes the request once.
   * Returns a Prepared: `record_key` names the record to read (null: none), then
   * `decide({now, record})` folds it in, as often as a compare-and-set needs; `close()` frees it.
   */
  prepare(request, { now } = {}) {
    const { body, meta } = encodeRequest(request);
    const { runtime } = this;
    const handle = this.live();
    const ptr = runtime.write([body, meta]);
    const [status, text] = runtime.answer(runtime.module.enginePrepare(handle, ptr,
      runtime.lengths[0], runtime.lengths[1], epochNow(now)));
    if (status !== RESULT) throw Runtime.fail(text, 'prepare');
    return new Prepared(this, JSON.parse(text));
  }

  /** decide() for a prepared request that travelled as text (Prepared.text()). */
  decidePrepared(preparedText, { now, record } = {}) {
    if (typeof preparedText !== 'string') throw new TypeError('the prepared request must be its text');
    const stored = recordText(record);
    const { runtime } = this;
    const handle = this.live();
    const ptr = runtime.write(stored === null ? [preparedText] : [preparedText, stored]);
    return runtime.outcome(runtime.module.engineDecideText(handle, ptr,
      runtime.lengths[0], stored === null ? 0 : runtime.lengths[1], stored !== null, epochNow(now)), 'decide');
  }

  sweep(record, now) {
    const stored = recordText(record);
    if (stored === null) throw new TypeError('sweep needs the stored record');
    const { runtime } = this;
    const handle = this.live();
    const ptr = runtime.write([stored]);
    return runtime.outcome(
      runtime.module.engineSweep(handle, ptr, runtime.lengths[0], epochNow(now)), 'sweep');
  }

  /**
   * What follows one attempt of a delivery: {verdict: "delivered"|"retry"|"dead", code, reason,
   * retry_at_ms, delay_ms, retry_after, drop_token, log}. `attempt` is {route, destination,
   * idempotency_key, attempt (1 for the first), now_ms, random in [0, 1), not_after_ms (the
   * planned request's, 0: none), fresh_token (its OAuth token was minted for this attempt),
   * answer: {status, headers, body} | {timeout: true} | {error} | {redirect: true} |
   * {unsendable: why}}. The destination's `delivery` settings and its format decide;
   * unsendable (a delivery unsealDelivery refused) is dead at once. `drop_token`: forget the
   * destination's cached access token.
   */
  attemptResult(attempt) {
    if (attempt === null || typeof attempt !== 'object') throw new TypeError('attempt must be an object');
    const { runtime } = this;
    const handle = this.live();
    const ptr = runtime.write([JSON.stringify(attempt)]);
    const [status, text] = runtime.answer(runtime.module.engineAttempt(handle, ptr, runtime.lengths[0]));
    if (status !== RESULT) throw Runtime.fail(text, 'attemptResult');
    return JSON.parse(text);
  }

  /**
   * The step before each attempt of a stored delivery: `sealed` is sealDelivery's text. Returns
   * {plan: "send", request, pace} (send `request`, the delivery with its credentials, then give
   * the answer to attemptResult with `not_after_ms: request.not_after_ms ?? 0`; keep `pace` for
   * the destination) | {plan: "token", request} (send `request` to the token endpoint, give its
   * answer to tokenResult, then plan again with the token) | {plan: "wait", wait_ms, pace} (the
   * destination's rate limit: keep `pace`, plan again after wait_ms) | {plan: "dead", verdict}
   * (record verdict as this attempt's). `accessToken` is the destination's cached OAuth token
   * ('' for none), `pace` the destination's bucket as the last plan gave it (null: fresh),
   * `nowMs` the time in epoch milliseconds.
   */
  planSend(sealed, { accessToken = '', pace = null, nowMs = Date.now() } = {}) {
    if (typeof sealed !== 'string') throw new TypeError('the sealed delivery must be its text (a string)');
    if (accessToken === undefined || accessToken === null) accessToken = '';
    if (typeof accessToken !== 'string') throw new TypeError('accessToken must be a string');
    if (typeof nowMs !== 'number' || !Number.isFinite(nowMs) || nowMs < 0) {
      throw new TypeError('nowMs is milliseconds since the Unix epoch');
    }
    let tokens = -1;
    let atMs = 0;
    if (pace !== null && pace !== undefined) {
      if (typeof pace !== 'object' || typeof pace.tokens !== 'number' || typeof pace.at_ms !== 'number') {
        throw new TypeError('pace must be {tokens, at_ms} as a plan gave it, or null');
      }
      tokens = pace.tokens;
      atMs = pace.at_ms;
    }
    const { runtime } = this;
    const handle = this.live();
    const ptr = runtime.write([sealed, accessToken]);
    const [status, text] = runtime.answer(runtime.module.enginePlanSend(handle, ptr,
      runtime.lengths[0], runtime.lengths[1], tokens, atMs, nowMs));
    if (status !== RESULT) throw Runtime.fail(text, 'planSend');
    return JSON.parse(text);
  }

  /**
   * Reads the token endpoint's answer to a {plan: "token"} request: {access_token,
   * cache_until_ms} (cache it for the destination until then) or {verdict} (no token: record the
   * verdict, retry `token_unavailable` or dead `token_refused`, as the delivery's attempt).
   * `attempt` is as for attemptResult: the delivery's {route, destination, idempotency_key,
   * attempt, now_ms, random} with the token endpoint's `answer`.
   */
  tokenResult(attempt) {
    if (attempt === null || typeof attempt !== 'object') throw new TypeError('attempt must be an object');
    const { runtime } = this;
    const handle = this.live();
    const ptr = runtime.write([JSON.stringify(attempt)]);
    const [status, text] = runtime.answer(runtime.module.engineTokenResult(handle, ptr, runtime.lengths[0]));
    if (status !== RESULT) throw Runtime.fail(text, 'tokenResult');
    return JSON.parse(text);
  }

  /**
   * Per destination of the config, what a shell sizes its sending by: {[name]: {concurrency
   * (null: the shell's default), rate_limit: {per_second, burst} | null, oauth}}.
   */
  destinationLimits() {
    const { runtime } = this;
    const [status, text] = runtime.answer(runtime.module.engineDestinationLimits(this.live()));
    if (status !== RESULT) throw Runtime.fail(text, 'destinationLimits');
    return JSON.parse(text);
  }

  /**
   * The delivery as a shell keeps it at rest (an outbox, a queue message, a KV entry): one JSON
   * text whose method, URL, header values and body hold the config's secrets as `${NAME}`
   * references, never their values (README, "Sealed deliveries"). `delivery` is an outcome's
   * delivery object ({route, destination, method, url, headers: [[name, value]], body,
   * idempotency_key, timeout_ms}). Throws a CallhookError (`bad_delivery`) for anything else.
   */
  sealDelivery(delivery) {
    if (delivery === null || typeof delivery !== 'object' || Array.isArray(delivery)) {
      throw new TypeError('delivery must be a delivery object, as an outcome gives it');
    }
    const { runtime } = this;
    const handle = this.live();
    const ptr = runtime.write([JSON.stringify(delivery)]);
    const [status, text] = runtime.answer(runtime.module.engineSeal(handle, ptr, runtime.lengths[0]));
    if (status !== RESULT) throw Runtime.fail(text, 'sealDelivery');
    return text;
  }

  /**
   * sealDelivery's text back as the delivery object, with the secrets' values of this engine's
   * config. Throws a CallhookError whose `code` is `missing_secret` (it references a secret the
   * config no longer sets; the message names it) or `bad_sealed` (not a sealed delivery): a shell
   * then reports the attempt as `{unsendable: err.message}` to attemptResult, which is dead.
   */
  unsealDelivery(sealed) {
    if (typeof sealed !== 'string') throw new TypeError('the sealed delivery must be its text (a string)');
    const { runtime } = this;
    const handle = this.live();
    const ptr = runtime.write([sealed]);
    const [status, text] = runtime.answer(runtime.module.engineUnseal(handle, ptr, runtime.lengths[0]));
    if (status !== RESULT) throw Runtime.fail(text, 'unsealDelivery');
    return JSON.parse(text);
  }

  /** `text` without the config's secret values and callers' phone numbers: for every log line. */
  redact(text) {
    return this.runtime.redactWith(this.live(), text);
  }

  /**
   * A dead delivery rendered again by this engine's config, under the idempotency key it had:
   * `{record, route, destination, trigger, event}` are the call's stored record text, the
   * delivery's route and destination, its trigger (`event`, `complete`, `abandoned`) and, for
   * `event`, its event (`Call.Initiate`, `Call.Complete`). Returns the delivery object (as an
   * outcome's), rendered at `nowMs` (default now: GA4 leaves out a timestamp past 72 hours).
   * Throws a CallhookError whose `code` says why not (README, "Delivery").
   */
  rerender({ record, route, destination, trigger, event, nowMs = Date.now() } = {}) {
    const stored = recordText(record);
    if (stored === null) throw new TypeError('rerender needs the call\'s stored record');
    for (const [name, value] of [['route', route], ['destination', destination], ['trigger', trigger]]) {
      if (typeof value !== 'string') throw new TypeError(`rerender needs the ${name} (a string)`);
    }
    if (event !== undefined && event !== null && typeof event !== 'string') {
      throw new TypeError('event must be a string');
    }
    const { runtime } = this;
    const handle = this.live();
    const now = Number.isFinite(nowMs) ? Math.floor(nowMs / 1000) : 0;
    const ptr = runtime.write([stored, JSON.stringify({ route, destination, trigger, event: event ?? '', now })]);
    const [status, text] = runtime.answer(runtime.module.engineRerender(handle, ptr,
      runtime.lengths[0], runtime.lengths[1]));
    if (status !== RESULT) throw Runtime.fail(text, 'rerender');
    return JSON.parse(text);
  }

  /**
   * Whether a stored text (a record, a sealed delivery, a dead-letter entry) concerns the call
   * `subject.call_sid` or the caller `subject.phone` (any spelling an operator types; found in
   * every form the core writes it: README, "Erasure"). Throws a CallhookError whose `code` is
   * `bad_phone` (the number is not one; the message says why) or `empty_subject`.
   */
  mentions(text, subject) {
    if (typeof text !== 'string') throw new TypeError('text must be a string');
    const ptr = this.runtime.write([text, subjectText(subject)]);
    const { runtime } = this;
    const [status, out] = runtime.answer(runtime.module.engineMentions(this.live(), ptr,
      runtime.lengths[0], runtime.lengths[1]));
    if (status !== RESULT) throw Runtime.fail(out, 'mentions');
    return out === 'true';
  }

  close() {
    if (!this.handle_) return;
    this.runtime.engines?.unregister(this.token);
    this.runtime.module.engineFree(this.handle_);
    this.handle_ = 0;
  }
}

// ---- the public API -----------------------------------------------------------------------------

/**
 * Builds an engine from a config. Rejects with a CallhookError whose `errors` lists every
 * problem ({field: JSON Pointer, code, message}) when the config is invalid.
 */
export async function createEngine(config, { secrets, wasm } = {}) {
  const runtime = await init({ wasm });
  return runtime.createEngine(config, { secrets });
}

/** Checks a config: {valid, errors}. */
export async function checkConfig(config, { secrets, wasm } = {}) {
  return (await init({ wasm })).checkConfig(config, { secrets });
}

/** The decoded [name, value] pairs, in order, duplicates kept (`callhook parse`). */
export async function parse(body, options) {
  return (await init()).parse(body, options);
}

/** The verdict {valid, event, errors, warnings} (`callhook validate`). */
export async function validate(body, options) {
  return (await init()).validate(body, options);
}

/** The canonical event of a valid payload (`callhook normalize`); throws when it is invalid. */
export async function normalize(body, options) {
  return (await init()).normalize(body, options);
}

/** Decoded pairs, verdict and canonical event (or null) from one pass. */
export async function inspect(body, options) {
  return (await init()).inspect(body, options);
}

/** Whether `document` satisfies `filter` (`callhook match`); throws on a bad filter. */
export async function match(filter, document) {
  return (await init()).match(filter, document);
}

/** The body a destination would receive for an event. */
export async function render(destination, event, options) {
  return (await init()).render(destination, event, options);
}

/** The canonical event's JSON Schema ("event") or the spec table as Markdown ("fields"). */
export async function schema(name) {
  return (await init()).schema(name);
}

/**
 * The front door every shell shares: `route(method, target, host?)`, `refusal(kind, detail?)`,
 * `health(state, {pending, deadLetters}?)` and `adminCheck(authorization, token)`, each
 * resolving to what the runtime's method of the same name returns. They need no config.
 */
export const frontDoor = Object.freeze({
  route: async (method, target, host) => (await init()).route(method, target, host),
  refusal: async (kind, detail) => (await init()).refusal(kind, detail),
  health: async (state, counts) => (await init()).health(state, counts),
  adminCheck: async (authorization, token) => (await init()).adminCheck(authorization, token),
});

// ---------------------------------------------------------------------------------------------
// The shell pieces, re-exported so `import { createFetchHandler } from "callhook"` is enough.

export { memoryStore, entryOf } from './stores.js';
export { attemptDelivery, createCredentials, createDeliveryQueue, OverflowError, sendAttempt } from './delivery.js';
import { createFetchHandler as handlerForEngine } from './fetch-handler.js';

/**
 * A `(request, ctx?) => Promise<Response>` handler for any Fetch-API runtime, built from a
 * config: it authenticates, decides, stores the call's record with compare-and-set (retrying
 * on conflict), answers the sender, and hands the deliveries to `queue` (a delivery queue) or,
 * when only `deliver(deliveries)` is given, to that function once the record is stored.
 * The engine is created on first use; `handler.ready` resolves once it is.
 */
export function createFetchHandler({ config, secrets, engine, store, queue, deliver, wasm, ...options } = {}) {
  const deliveryQueue = queue ?? (deliver ? callbackQueue(deliver) : undefined);
  const ready = (engine ? Promise.resolve(engine) : createEngine(config, { secrets, wasm }))
    .then((e) => handlerForEngine({ engine: e, store, queue: deliveryQueue, ...options }));
  const handler = async (request, ctx) => (await ready)(request, ctx);
  handler.ready = ready;
  handler.sweep = async (now) => (await ready).sweep(now);
  return handler;
}

// A queue that hands deliveries to a callback (the caller owns retries and persistence).
function callbackQueue(deliver) {
  return {
    enqueue: async (deliveries) => { await deliver(deliveries); },
    pending: () => [],
    deadLetters: () => [],
    drain: async () => {},
    close: async () => {},
  };
}
