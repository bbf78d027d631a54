// A local host for Fastly Compute programs, written from the published ABI (the witx files in
// shared/fastly-abi): it runs a WASI command module the way Fastly's local runtime (Viceroy)
// does, one fresh instance per downstream request, with the hostcalls implemented in worker.mjs.
// This module holds what the runs share: the manifest's backends, config, secret and KV stores,
// the log endpoints, the worker pool, the HTTP server and the statistics.
//
//   const host = createFastlyHost({ wasm: 'program.wasm', manifest: 'fastly.toml' });
//   const res = await host.fetch(new Request('http://localhost/hook/x', { method: 'POST', body }));
//   await host.idle();   // the program may go on after answering (deliveries)
//   await host.close();

import { readFileSync } from 'node:fs';
import { dirname, resolve, isAbsolute } from 'node:path';
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import http from 'node:http';
import https from 'node:https';
import { gunzipSync } from 'node:zlib';
import { parse as parseToml } from 'smol-toml';
import { checkImports, defaultWitxDir, wasmImports } from './witx.mjs';
import {
  FastlyStatus, KvError, SendErrorTag, RPC_CONTROL_BYTES, encodeRpcResult, implementedHostcalls,
} from './worker.mjs';

export { FastlyStatus, KvError } from './worker.mjs';

const S = FastlyStatus;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
const HOST_LOG = '(host)';

// ---------------------------------------------------------------------------------------------
// The manifest

const asBytes = (v) => (v instanceof Uint8Array ? new Uint8Array(v) : new TextEncoder().encode(String(v)));

function backendEntry(name, value) {
  const spec = typeof value === 'string' || value instanceof URL ? { url: String(value) } : value ?? {};
  let url;
  try { url = new URL(spec.url); } catch { throw new Error(`backend "${name}": invalid url ${JSON.stringify(spec.url)}`); }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`backend "${name}": url must be http or https`);
  return { name, url, overrideHost: spec.override_host ?? spec.overrideHost ?? null };
}

function readJsonFile(baseDir, file, what) {
  const path = isAbsolute(file) ? file : resolve(baseDir, file);
  const doc = JSON.parse(readFileSync(path, 'utf8'));
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${what}: ${path} must hold one JSON object`);
  return doc;
}

function configStoreEntry(name, spec, baseDir) {
  let contents;
  if (spec.format === 'json') contents = readJsonFile(baseDir, spec.file, `config store "${name}"`);
  else if (spec.format === 'inline-toml' || spec.contents) contents = spec.contents ?? {};
  else throw new Error(`config store "${name}": format must be "inline-toml" (with contents) or "json" (with file)`);
  const out = {};
  for (const [k, v] of Object.entries(contents)) {
    if (typeof v !== 'string') throw new Error(`config store "${name}": the value of "${k}" must be a string`);
    out[k] = v;
  }
  return out;
}

function itemBytes(item, baseDir, what) {
  if (item.data !== undefined) return asBytes(item.data);
  if (item.file !== undefined) return new Uint8Array(readFileSync(isAbsolute(item.file) ? item.file : resolve(baseDir, item.file)));
  if (item.env !== undefined) return asBytes(process.env[item.env] ?? '');
  throw new Error(`${what}: item "${item.key}" needs data or file`);
}

function secretStoreEntry(name, spec, baseDir) {
  const out = {};
  if (Array.isArray(spec)) {
    for (const item of spec) out[item.key] = itemBytes(item, baseDir, `secret store "${name}"`);
  } else if (spec?.format === 'json') {
    for (const [k, v] of Object.entries(readJsonFile(baseDir, spec.file, `secret store "${name}"`))) out[k] = asBytes(v);
  } else {
    throw new Error(`secret store "${name}": expected a list of {key, data|file|env} or {format = "json", file}`);
  }
  return out;
}

function kvStoreEntry(name, spec, baseDir) {
  const out = [];
  if (Array.isArray(spec)) {
    for (const item of spec) out.push({ key: item.key, value: itemBytes(item, baseDir, `kv store "${name}"`), metadata: item.metadata });
  } else if (spec?.format === 'json') {
    for (const [k, v] of Object.entries(readJsonFile(baseDir, spec.file, `kv store "${name}"`))) {
      if (typeof v === 'string') out.push({ key: k, value: asBytes(v) });
      else out.push({ key: k, value: itemBytes({ key: k, ...v }, baseDir, `kv store "${name}"`), metadata: v.metadata });
    }
  } else {
    throw new Error(`kv store "${name}": expected a list of {key, data|file} or {format = "json", file}`);
  }
  return out;
}

/**
 * Reads the `[local_server]` part of a fastly.toml the way Viceroy does: `backends`,
 * `config_stores` (and the older `dictionaries`), `secret_stores`, `kv_stores` (and the older
 * `object_stores`). File paths are relative to the manifest's directory.
 * @param {string|object|null} manifest path to fastly.toml, or the parsed document
 * @returns {{backends: Map<string, {name: string, url: URL, overrideHost: string|null}>,
 *   configStores: Record<string, Record<string, string>>,
 *   secretStores: Record<string, Record<string, Uint8Array>>,
 *   kvStores: Record<string, Array<{key: string, value: Uint8Array, metadata?: string}>>}}
 */
export function loadManifest(manifest) {
  let doc = {};
  let baseDir = process.cwd();
  if (typeof manifest === 'string') {
    doc = parseToml(readFileSync(manifest, 'utf8'));
    baseDir = dirname(resolve(manifest));
  } else if (manifest) {
    doc = manifest;
  }
  const ls = doc.local_server ?? {};
  const backends = new Map();
  for (const [name, spec] of Object.entries(ls.backends ?? {})) backends.set(name, backendEntry(name, spec));
  const configStores = {};
  for (const [name, spec] of Object.entries({ ...ls.dictionaries, ...ls.config_stores })) configStores[name] = configStoreEntry(name, spec, baseDir);
  const secretStores = {};
  for (const [name, spec] of Object.entries(ls.secret_stores ?? {})) secretStores[name] = secretStoreEntry(name, spec, baseDir);
  const kvStores = {};
  for (const [name, spec] of Object.entries({ ...ls.object_stores, ...ls.kv_stores })) kvStores[name] = kvStoreEntry(name, spec, baseDir);
  return { backends, configStores, secretStores, kvStores };
}

// ---------------------------------------------------------------------------------------------
// KV stores: shared by every instance, a generation per key, TTLs on the host clock.

const byteOrder = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));

class KvStores {
  constructor(clock) {
    this.clock = clock;
    this.stores = new Map();
  }
  create(name) {
    if (!this.stores.has(name)) this.stores.set(name, new Map());
    return this.stores.get(name);
  }
  has(name) { return this.stores.has(name); }
  live(rec) { return Boolean(rec && rec.value && (rec.expiresAt === null || rec.expiresAt > this.clock())); }
  lookup(store, key) {
    const rec = this.stores.get(store)?.get(key);
    return this.live(rec) ? rec : null;
  }
  insert(store, key, value, { mode = 0, ttlSec, ifGenerationMatch, metadata } = {}) {
    const s = this.stores.get(store);
    if (!s) return { kvError: KvError.NOT_FOUND };
    const rec = s.get(key);
    const live = this.live(rec);
    if (ifGenerationMatch !== undefined && ifGenerationMatch !== null
        && (!live || BigInt(rec.generation) !== BigInt(ifGenerationMatch))) {
      return { kvError: KvError.PRECONDITION_FAILED };
    }
    if (mode === 1 && live) return { kvError: KvError.PRECONDITION_FAILED };
    let bytes = asBytes(value);
    if (mode === 2 && live) bytes = Buffer.concat([rec.value, bytes]);
    if (mode === 3 && live) bytes = Buffer.concat([bytes, rec.value]);
    const generation = (rec?.generation ?? 0) + 1;
    s.set(key, {
      value: new Uint8Array(bytes),
      metadata: metadata === undefined ? new Uint8Array(0) : asBytes(metadata),
      generation,
      expiresAt: ttlSec === undefined || ttlSec === null ? null : this.clock() + ttlSec * 1000,
    });
    return { kvError: KvError.OK, generation };
  }
  delete(store, key) {
    const s = this.stores.get(store);
    const rec = s?.get(key);
    if (!this.live(rec)) return KvError.NOT_FOUND;
    s.set(key, { ...rec, value: null, metadata: null });  // the generation goes on counting
    return KvError.OK;
  }
  list(store, { prefix = '', limit, cursor } = {}) {
    const s = this.stores.get(store);
    if (!s) return { kvError: KvError.NOT_FOUND };
    const max = limit > 0 ? limit : 1000;
    let keys = [...s.entries()].filter(([k, rec]) => this.live(rec) && k.startsWith(prefix)).map(([k]) => k).sort(byteOrder);
    if (cursor) {
      const after = Buffer.from(cursor, 'base64url').toString('utf8');
      keys = keys.filter((k) => byteOrder(k, after) > 0);
    }
    const data = keys.slice(0, max);
    const meta = { limit: max };
    if (keys.length > max) meta.next_cursor = Buffer.from(data[data.length - 1]).toString('base64url');
    return { kvError: KvError.OK, data, meta };
  }
}

// ---------------------------------------------------------------------------------------------
// Backends

function splitUri(uri) {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^#]*)/.exec(uri);
  if (m) return { authority: m[2], pathAndQuery: m[3] || '/' };
  return { authority: null, pathAndQuery: uri.startsWith('/') ? uri : `/${uri}` };
}

// Viceroy's rule: the backend URL's path is a prefix, then the request's path and query.
function backendPath(prefix, pathAndQuery) {
  let out = prefix || '/';
  if (!out.endsWith('/')) out += '/';
  return out + pathAndQuery.replace(/^\//, '');
}

function sendErrorFor(err, gotResponse) {
  const code = err?.code ?? '';
  if (code === 'ECONNREFUSED') return { status: S.ERROR, detail: SendErrorTag.CONNECTION_REFUSED };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { status: S.ERROR, detail: SendErrorTag.DNS_ERROR };
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') return { status: S.ERROR, detail: SendErrorTag.HTTP_RESPONSE_TIMEOUT };
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return { status: S.ERROR, detail: SendErrorTag.DESTINATION_IP_UNROUTABLE };
  if (code.startsWith('HPE_')) return { status: S.HTTPINVALID, detail: SendErrorTag.HTTP_PROTOCOL_ERROR };
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) return { status: S.ERROR, detail: SendErrorTag.TLS_CERTIFICATE_ERROR };
  if (gotResponse) return { status: S.HTTPINCOMPLETE, detail: SendErrorTag.HTTP_INCOMPLETE_RESPONSE };
  if (code === 'ECONNRESET' || code === 'EPIPE') return { status: S.ERROR, detail: SendErrorTag.CONNECTION_TERMINATED };
  return { status: S.ERROR, detail: SendErrorTag.INTERNAL_ERROR };
}

// ---------------------------------------------------------------------------------------------
// The host

/**
 * @typedef {object} RunStats
 * @property {number} id
 * @property {string} method
 * @property {string} url
 * @property {number|null} status the status answered downstream
 * @property {boolean} responded whether the program itself sent a response
 * @property {number|null} exitCode the program's exit status (null after a trap)
 * @property {string|null} trap the trap or host error that ended the run
 * @property {number|null} instantiateMs time to create the instance (imports linked, memory made)
 * @property {number|null} responseMs time from the start of the instance to the downstream response
 * @property {number} totalMs time from the start of the instance to the program's exit
 * @property {Record<string, number>} hostcalls calls per `module.name`
 * @property {string[]} unsupported imports the program called that this host does not implement
 */

/**
 * @typedef {object} HostOptions
 * @property {string|Uint8Array|ArrayBuffer|WebAssembly.Module} wasm the program: a path, its
 *   bytes, or a compiled module (a module's imports cannot be checked against the witx, and a
 *   stub for an unimplemented import then cannot know its result type)
 * @property {string|object} [manifest] path to fastly.toml, or its parsed document
 * @property {Record<string, string>} [env] extra environment variables for the program
 * @property {(endpoint: string, line: string) => void} [log] called for every log line:
 *   Fastly log endpoints by name, `stdout` and `stderr` of the program, and `(host)` for the
 *   host's own notes (traps, unsupported hostcalls)
 * @property {Record<string, string|URL|{url: string, overrideHost?: string}>} [backends]
 * @property {Record<string, Record<string, string>>} [configStores]
 * @property {Record<string, Record<string, string|Uint8Array>>} [secretStores]
 * @property {Record<string, Record<string, string|Uint8Array|{value: string|Uint8Array, metadata?: string}>>} [kvStores]
 * @property {number} [workers=4] size of the worker pool (concurrent runs)
 * @property {number} [timeoutMs=60000] a run still going after this is stopped (0: never)
 * @property {number} [backendTimeoutMs=15000] idle time after which a backend request fails
 * @property {() => number} [clock=Date.now] milliseconds clock: the program's realtime clock
 *   (WASI `clock_time_get`, read at the start of each run and moving on with real time from
 *   there) and KV time-to-live, so tests can set the time a run sees
 * @property {string|null} [witxDir] the witx files used to check the program's imports
 * @property {number} [rpcBufferBytes=1048576] size of each worker's shared result buffer
 * @property {number} [maxRecords=10000] how many runs `stats`, and lines each `logs` entry, keep
 */

/**
 * Creates a host for one program.
 * @param {HostOptions} options
 * @returns {{
 *   fetch(request: Request, init?: {clientAddress?: string}): Promise<Response>,
 *   run(request: Request|{method?: string, url: string, headers?: Array<[string, string]>|Record<string, string>, body?: Uint8Array|string, clientAddress?: string}):
 *     {response: Promise<Response>, done: Promise<RunStats>},
 *   listen(opts?: {host?: string, port?: number}): Promise<{url: string, port: number, close(): Promise<void>}>,
 *   idle(): Promise<void>,
 *   close(): Promise<void>,
 *   kv: {get(store: string, key: string): {value: Uint8Array, text: string, metadata: string, generation: number}|null,
 *        put(store: string, key: string, value: string|Uint8Array, opts?: {mode?: 'overwrite'|'add'|'append'|'prepend', ttlSec?: number, ifGenerationMatch?: number|bigint, metadata?: string}): {kvError: number, generation?: number},
 *        delete(store: string, key: string): number,
 *        list(store: string, opts?: {prefix?: string, limit?: number, cursor?: string}): {data: string[], meta: {limit: number, next_cursor?: string}},
 *        generation(store: string, key: string): number|undefined,
 *        stores(): string[]},
 *   logs: Record<string, string[]>,
 *   stats: RunStats[],
 *   importProblems: Array<{module: string, name: string, code: string, message: string}>,
 *   imports: Array<{module: string, name: string, kind: string, link: 'impl'|'wasi'|'stub'}>,
 *   backends: Map<string, {name: string, url: URL, overrideHost: string|null}>,
 * }}
 */
export function createFastlyHost(options) {
  const {
    wasm, manifest = null, env = {}, log = null, workers: poolSize = 4, timeoutMs = 60000,
    backendTimeoutMs = 15000, clock = Date.now, rpcBufferBytes = 1 << 20, maxRecords = 10000,
  } = options ?? {};
  if (!wasm) throw new Error('createFastlyHost: `wasm` is required');

  // The program.
  let module;
  let bytes = null;
  if (wasm instanceof WebAssembly.Module) {
    module = wasm;
  } else {
    if (typeof wasm === 'string') bytes = new Uint8Array(readFileSync(wasm));
    else if (wasm instanceof ArrayBuffer) bytes = new Uint8Array(wasm);
    else bytes = new Uint8Array(wasm.buffer, wasm.byteOffset, wasm.byteLength);
    module = new WebAssembly.Module(bytes);
  }
  const witxDir = options?.witxDir === undefined ? defaultWitxDir() : options.witxDir;
  const importProblems = bytes && witxDir ? checkImports(bytes, witxDir) : [];
  const mismatched = new Set(importProblems.filter((p) => p.code === 'signature').map((p) => `${p.module}.${p.name}`));
  const implemented = new Set(implementedHostcalls());
  const rawImports = bytes ? wasmImports(bytes) : WebAssembly.Module.imports(module);
  const plan = rawImports.map((imp) => {
    const key = `${imp.module}.${imp.name}`;
    let link = 'stub';
    if (imp.module === 'wasi_snapshot_preview1') link = 'wasi';
    else if (implemented.has(key) && !mismatched.has(key)) link = 'impl';
    return { ...imp, link };
  });

  // What the runs share.
  const cfg = loadManifest(manifest);
  for (const [name, spec] of Object.entries(options?.backends ?? {})) cfg.backends.set(name, backendEntry(name, spec));
  for (const [name, store] of Object.entries(options?.configStores ?? {})) cfg.configStores[name] = configStoreEntry(name, { format: 'inline-toml', contents: store }, process.cwd());
  for (const [name, store] of Object.entries(options?.secretStores ?? {})) {
    cfg.secretStores[name] = Object.fromEntries(Object.entries(store).map(([k, v]) => [k, asBytes(v)]));
  }
  const kvStores = new KvStores(clock);
  const seed = (name, items) => {
    kvStores.create(name);
    for (const item of items) kvStores.insert(name, item.key, item.value, { metadata: item.metadata });
  };
  for (const [name, items] of Object.entries(cfg.kvStores)) seed(name, items);
  for (const [name, store] of Object.entries(options?.kvStores ?? {})) {
    seed(name, Object.entries(store).map(([key, v]) => (v instanceof Uint8Array || typeof v === 'string'
      ? { key, value: v } : { key, value: v.value ?? v.data, metadata: v.metadata })));
  }
  const workerConfig = {
    configStores: cfg.configStores,
    secretStores: cfg.secretStores,
    backendNames: [...cfg.backends.keys()],
  };

  const logs = {};
  const stats = [];
  const emit = (name, line) => {
    const lines = (logs[name] ??= []);
    lines.push(line);
    if (lines.length > maxRecords) lines.splice(0, lines.length - maxRecords);
    if (log) log(name, line);
  };
  for (const p of importProblems) emit(HOST_LOG, `import problem: ${p.message}`);

  const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

  function sendToBackend(args) {
    const backend = cfg.backends.get(args.backend);
    if (!backend) {
      emit(HOST_LOG, `backend "${args.backend}" does not exist; defined backends: ${[...cfg.backends.keys()].join(', ') || '(none)'}`);
      return Promise.resolve({ json: { status: S.INVAL, detail: SendErrorTag.DESTINATION_NOT_FOUND } });
    }
    const { authority, pathAndQuery } = splitUri(args.uri);
    const headers = {};
    let hostHeader = null;
    for (const [name, value] of args.headers) {
      if (name === 'host') { hostHeader ??= value; continue; }
      if (HOP_BY_HOP.has(name) || name === 'content-length') continue;
      (headers[name] ??= []).push(value);
    }
    headers.host = backend.overrideHost ?? hostHeader ?? authority ?? backend.url.host;
    const body = args.body ?? new Uint8Array(0);
    if (body.length > 0 || ['POST', 'PUT', 'PATCH'].includes(args.method)) headers['content-length'] = String(body.length);
    const u = backend.url;
    return new Promise((resolveSend) => {
      let gotResponse = false;
      let settled = false;
      const finish = (json, blob) => { if (!settled) { settled = true; resolveSend({ json, blob }); } };
      const req = (u.protocol === 'https:' ? https : http).request({
        host: u.hostname.replace(/^\[|\]$/g, ''),
        port: u.port || (u.protocol === 'https:' ? 443 : 80),
        method: args.method,
        path: backendPath(u.pathname, pathAndQuery),
        headers,
        agent: agents[u.protocol],
        servername: u.protocol === 'https:' ? u.hostname : undefined,
        timeout: backendTimeoutMs,
      }, (res) => {
        gotResponse = true;
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', (e) => finish(sendErrorFor(e, true)));
        res.on('aborted', () => finish(sendErrorFor({ code: 'ECONNRESET' }, true)));
        res.on('end', () => {
          const pairs = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) pairs.push([res.rawHeaders[i].toLowerCase(), res.rawHeaders[i + 1]]);
          let blob = Buffer.concat(chunks);
          let outPairs = pairs;
          const encoding = pairs.find(([n]) => n === 'content-encoding')?.[1]?.toLowerCase();
          if ((args.decompress & 1) && (encoding === 'gzip' || encoding === 'x-gzip')) {
            try {
              blob = gunzipSync(blob);
              outPairs = pairs.filter(([n]) => n !== 'content-encoding' && n !== 'content-length');
            } catch { /* a body that does not inflate is passed on as it came */ }
          }
          finish({ status: S.OK, response: { status: res.statusCode, headers: outPairs } }, new Uint8Array(blob));
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('backend timeout'), { code: 'ETIMEDOUT' })));
      req.on('error', (e) => {
        emit(HOST_LOG, `backend "${args.backend}" (${u.origin}): ${e.code ?? ''} ${e.message}`.trim());
        finish(sendErrorFor(e, gotResponse));
      });
      req.end(body.length ? Buffer.from(body) : undefined);
    });
  }

  // -- RPC from the workers --------------------------------------------------------------------

  const ops = {
    send: (args) => sendToBackend(args),
    sendAsync: (args, run) => {
      if (!cfg.backends.has(args.backend)) return sendToBackend(args);
      const entry = { settled: null };
      entry.promise = sendToBackend(args).then((r) => { entry.settled = r; return r; });
      run.pending.set(args.id, entry);
      return { json: { status: S.OK } };
    },
    pendingWait: async ({ id }, run) => {
      const entry = run.pending.get(id);
      if (!entry) return { json: { status: S.BADF } };
      run.pending.delete(id);
      return entry.promise;
    },
    pendingPoll: ({ id }, run) => {
      const entry = run.pending.get(id);
      if (!entry) return { json: { status: S.BADF, done: true } };
      if (!entry.settled) return { json: { done: false } };
      run.pending.delete(id);
      return { json: { ...entry.settled.json, done: true }, blob: entry.settled.blob };
    },
    pendingSelect: async ({ ids }, run) => {
      const entries = ids.map((id) => run.pending.get(id));
      const { i, r } = await Promise.race(entries.map((e, i) => e.promise.then((r) => ({ i, r }))));
      run.pending.delete(ids[i]);
      return { json: { ...r.json, index: i }, blob: r.blob };
    },
    kvOpen: ({ store }) => ({ json: { exists: kvStores.has(store) } }),
    kvLookup: ({ store, key }) => {
      const rec = kvStores.lookup(store, key);
      if (!rec) return { json: { found: false, kvError: KvError.NOT_FOUND } };
      return { json: { found: true, generation: rec.generation, metadata: Buffer.from(rec.metadata).toString('base64') }, blob: rec.value };
    },
    kvInsert: (a) => ({
      json: kvStores.insert(a.store, a.key, a.value, {
        mode: a.mode, ttlSec: a.ttlSec, ifGenerationMatch: a.ifGenerationMatch,
        metadata: a.metadata === undefined ? undefined : Buffer.from(a.metadata, 'base64'),
      }),
    }),
    kvDelete: ({ store, key }) => ({ json: { kvError: kvStores.delete(store, key) } }),
    kvList: (a) => {
      const r = kvStores.list(a.store, a);
      if (r.kvError !== KvError.OK) return { json: { kvError: r.kvError } };
      return { json: { kvError: KvError.OK }, blob: new TextEncoder().encode(JSON.stringify({ data: r.data, meta: r.meta })) };
    },
  };

  function answerRpc(w, bytes) {
    if (w.dead) return;
    w.pending = bytes;
    w.pendingOffset = 0;
    writeChunk(w);
  }

  function writeChunk(w) {
    const n = Math.min(w.data.length, w.pending.length - w.pendingOffset);
    w.data.set(w.pending.subarray(w.pendingOffset, w.pendingOffset + n));
    w.pendingOffset += n;
    w.ctrl[1] = w.pending.length;
    w.ctrl[2] = n;
    Atomics.store(w.ctrl, 0, 1);
    Atomics.notify(w.ctrl, 0);
  }

  async function serveRpc(w, msg) {
    const run = w.run;
    let result;
    try {
      const op = ops[msg.op];
      if (!op || !run) throw new Error(`unknown operation ${msg.op}`);
      result = await op(msg.args, run);
    } catch (e) {
      emit(HOST_LOG, `host error in ${msg.op}: ${e?.stack ?? e}`);
      result = { json: { status: S.ERROR, kvError: KvError.INTERNAL_ERROR, detail: SendErrorTag.INTERNAL_ERROR } };
    }
    if (w.run === run) answerRpc(w, encodeRpcResult(result.json, result.blob));
  }

  // -- the worker pool --------------------------------------------------------------------------

  const pool = [];
  const queue = [];
  const active = new Set();
  let idleWaiters = [];
  let closed = false;
  let nextRunId = 0;

  function spawnWorker() {
    const sab = new SharedArrayBuffer(RPC_CONTROL_BYTES + rpcBufferBytes);
    const worker = new Worker(new URL('./worker.mjs', import.meta.url), {
      workerData: { kind: 'callhook-fastly-host', module, plan, config: workerConfig, sab },
      // The worker is a module file: flags about the main script (node -e, --input-type) do not apply.
      execArgv: process.execArgv.filter((a) => !/^--(input-type|eval|print)\b/.test(a)),
    });
    const w = { worker, ctrl: new Int32Array(sab, 0, 4), data: new Uint8Array(sab, RPC_CONTROL_BYTES), run: null, dead: false };
    worker.on('message', (m) => onWorkerMessage(w, m));
    worker.on('error', (e) => workerGone(w, `host worker failed: ${e?.stack ?? e}`));
    worker.on('exit', (code) => workerGone(w, `host worker exited (${code})`));
    worker.unref();
    pool.push(w);
    return w;
  }

  function workerGone(w, reason) {
    if (w.dead) return;
    w.dead = true;
    pool.splice(pool.indexOf(w), 1);
    if (w.run) finishRun(w.run, { trap: reason, exitCode: null, responded: w.run.responded, hostcalls: {}, unsupported: [], instantiateMs: null });
    dispatch();
  }

  function dispatch() {
    while (queue.length && !closed) {
      const w = pool.find((x) => !x.run && !x.dead) ?? (pool.length < poolSize ? spawnWorker() : null);
      if (!w) return;
      startOn(w, queue.shift());
    }
  }

  function startOn(w, run) {
    w.run = run;
    run.worker = w;
    run.startedAt = performance.now();
    w.worker.ref();
    if (timeoutMs > 0) {
      run.timer = setTimeout(() => {
        emit(HOST_LOG, `run ${run.id} still going after ${timeoutMs} ms: stopped`);
        const reason = `the run exceeded ${timeoutMs} ms`;
        workerGone(w, reason);
        w.worker.terminate();
      }, timeoutMs);
    }
    // The stores go with each run, so that setConfigStore/setSecretStore apply from the next run on.
    w.worker.postMessage({ type: 'run', request: run.input, env: run.env, clockMs: clock(), config: workerConfig });
  }

  function onWorkerMessage(w, m) {
    const run = w.run;
    switch (m.type) {
      case 'rpc': serveRpc(w, m); return;
      case 'rpc-more': writeChunk(w); return;
      case 'ready': return;
      default: break;
    }
    if (!run) return;
    switch (m.type) {
      case 'log': emit(m.name, m.line); break;
      case 'response': respond(run, m); break;
      case 'stream-chunk': run.stream?.enqueue(m.chunk); break;
      case 'stream-end':
        if (run.stream) {
          if (m.error) run.stream.error(new Error(m.error)); else run.stream.close();
          run.stream = null;
        }
        break;
      case 'done':
        w.run = null;
        w.worker.unref();
        finishRun(run, m.result);
        dispatch();
        break;
      default: break;
    }
  }

  function respond(run, m) {
    if (run.responded) return;
    run.responded = true;
    run.status = m.status;
    run.responseMs = m.atMs ?? performance.now() - run.startedAt;
    let stream = null;
    if (m.streaming) {
      stream = new ReadableStream({
        start(controller) {
          // The consumer may have cancelled the stream (a HEAD request, a client that went
          // away): chunks that arrive after that are dropped.
          const safely = (f) => { try { f(); } catch { /* cancelled */ } };
          run.stream = {
            enqueue: (c) => safely(() => controller.enqueue(new Uint8Array(c))),
            close: () => safely(() => controller.close()),
            error: (e) => safely(() => controller.error(e)),
          };
        },
      });
      if (m.body?.length) run.stream.enqueue(m.body);
    }
    run.resolveResponse({ status: m.status, headers: m.headers, body: m.streaming ? null : new Uint8Array(m.body), stream });
  }

  function finishRun(run, result) {
    if (run.finished) return;
    run.finished = true;
    clearTimeout(run.timer);
    active.delete(run);
    if (run.stream) { run.stream.error(new Error(result.trap ?? 'the run ended')); run.stream = null; }
    if (result.trap) emit(HOST_LOG, `run ${run.id} (${run.input.method} ${run.input.url}): ${result.trap}`);
    for (const name of result.unsupported ?? []) emit(HOST_LOG, `run ${run.id}: unsupported hostcall ${name} called`);
    if (!run.responded) {
      run.responded = false;
      let status = 200;
      let body = new Uint8Array(0);
      if (result.trap || (result.exitCode ?? 0) !== 0) {
        // Viceroy answers 500 with the error for a trap or a non-zero exit, and an empty 200
        // when the program exits cleanly without answering.
        status = 500;
        body = new TextEncoder().encode(result.trap ?? `the program exited with status ${result.exitCode}`);
      } else {
        emit(HOST_LOG, `run ${run.id}: the program exited without sending a response`);
      }
      run.status = status;
      run.resolveResponse({ status, headers: [], body, stream: null });
    }
    // Times are the worker's, from the start of the instance: a worker's own start-up is not
    // the program's.
    const totalMs = result.runMs ?? performance.now() - (run.startedAt ?? performance.now());
    const s = {
      id: run.id, method: run.input.method, url: run.input.url, status: run.status,
      responded: Boolean(result.responded), exitCode: result.exitCode ?? null, trap: result.trap ?? null,
      instantiateMs: result.instantiateMs ?? null, responseMs: run.responseMs ?? totalMs, totalMs,
      hostcalls: result.hostcalls ?? {}, unsupported: result.unsupported ?? [],
    };
    stats.push(s);
    if (stats.length > maxRecords) stats.splice(0, stats.length - maxRecords);
    run.resolveDone(s);
    if (active.size === 0 && queue.length === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const f of waiters) f();
    }
  }

  function fastlyEnv(id) {
    return {
      FASTLY_CACHE_GENERATION: '0',
      FASTLY_CUSTOMER_ID: '0000000000000000000000',
      FASTLY_POP: 'XXX',
      FASTLY_REGION: 'Somewhere',
      FASTLY_SERVICE_ID: '0000000000000000000000',
      FASTLY_SERVICE_VERSION: '0',
      FASTLY_HOSTNAME: 'localhost',
      FASTLY_TRACE_ID: id.toString(16).padStart(32, '0'),
      ...env,
    };
  }

  /** Starts a run for an already normalised request; resolves with the internal response. */
  function startRun(input) {
    if (closed) throw new Error('the host is closed');
    const id = nextRunId++;
    const run = { id, input, env: fastlyEnv(id), responded: false, pending: new Map(), stream: null, finished: false };
    run.internalResponse = new Promise((res) => { run.resolveResponse = res; });
    run.done = new Promise((res) => { run.resolveDone = res; });
    active.add(run);
    queue.push(run);
    dispatch();
    return run;
  }

  async function normaliseRequest(request, extra = {}) {
    if (request instanceof Request) {
      const url = new URL(request.url);
      const headers = [...request.headers];
      if (!headers.some(([n]) => n === 'host')) headers.unshift(['host', url.host]);
      const body = request.body ? new Uint8Array(await request.arrayBuffer()) : new Uint8Array(0);
      return { method: request.method, url: request.url, headers, body, clientAddress: extra.clientAddress ?? '127.0.0.1', serverAddress: '127.0.0.1' };
    }
    const url = new URL(request.url);
    let headers = request.headers ?? [];
    if (!Array.isArray(headers)) headers = Object.entries(headers);
    headers = headers.map(([n, v]) => [String(n).toLowerCase(), String(v)]);
    if (!headers.some(([n]) => n === 'host')) headers.unshift(['host', url.host]);
    return {
      method: request.method ?? 'GET', url: request.url, headers,
      body: request.body === undefined || request.body === null ? new Uint8Array(0) : asBytes(request.body),
      clientAddress: request.clientAddress ?? extra.clientAddress ?? '127.0.0.1', serverAddress: '127.0.0.1',
    };
  }

  function toWebResponse(r, method) {
    const headers = new Headers();
    for (const [n, v] of r.headers) if (!HOP_BY_HOP.has(n)) headers.append(n, v);
    const nullBody = NULL_BODY_STATUS.has(r.status) || method === 'HEAD';
    if (nullBody && r.stream) r.stream.cancel().catch(() => {});
    return new Response(nullBody ? null : (r.stream ?? r.body), { status: r.status, headers });
  }

  /**
   * Runs the program for one request.
   * @returns {{response: Promise<Response>, done: Promise<RunStats>}} `response` resolves when
   *   the program answers, `done` when it has exited
   */
  function run(request, extra) {
    const started = normaliseRequest(request, extra).then((input) => startRun(input));
    const response = started.then((r) => r.internalResponse.then((resp) => toWebResponse(resp, r.input.method)));
    const done = started.then((r) => r.done);
    done.catch(() => {});  // a failure to start is reported through `response`
    return { response, done };
  }

  const servers = new Set();

  async function handleNodeRequest(req, res) {
    try {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const headers = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i].toLowerCase(), req.rawHeaders[i + 1]]);
      const hostHeader = req.headers.host ?? `${req.socket.localAddress}:${req.socket.localPort}`;
      const target = /^[a-z][a-z0-9+.-]*:\/\//i.test(req.url) ? splitUri(req.url).pathAndQuery : req.url;
      const r = startRun({
        method: req.method, url: `http://${hostHeader}${target}`, headers, body: new Uint8Array(Buffer.concat(chunks)),
        clientAddress: req.socket.remoteAddress, serverAddress: req.socket.localAddress,
      });
      const out = await r.internalResponse;
      res.statusCode = out.status;
      const grouped = new Map();
      for (const [n, v] of out.headers) {
        if (HOP_BY_HOP.has(n) || (n === 'content-length' && !out.stream)) continue;
        if (!grouped.has(n)) grouped.set(n, []);
        grouped.get(n).push(v);
      }
      for (const [n, vs] of grouped) res.setHeader(n, vs.length === 1 ? vs[0] : vs);
      if (out.stream) {
        try {
          for await (const chunk of out.stream) res.write(chunk);
          res.end();
        } catch (e) {
          res.destroy(e);
        }
      } else {
        res.end(Buffer.from(out.body));
      }
    } catch (e) {
      emit(HOST_LOG, `serving ${req.method} ${req.url}: ${e?.stack ?? e}`);
      if (!res.headersSent) { res.statusCode = 500; res.end(); } else res.destroy();
    }
  }

  const host = {
    /**
     * Runs the program for one request and resolves with its response as soon as the program
     * sends it (the program may go on running: see `idle()`).
     * @param {Request} request
     * @param {{clientAddress?: string}} [init]
     * @returns {Promise<Response>}
     */
    fetch(request, init) { return run(request, init).response; },
    run,
    /**
     * Serves HTTP on a local address, one run per downstream request.
     * @param {{host?: string, port?: number}} [opts]
     * @returns {Promise<{url: string, port: number, close(): Promise<void>}>}
     */
    listen({ host: address = '127.0.0.1', port = 0 } = {}) {
      const server = http.createServer((req, res) => { handleNodeRequest(req, res); });
      servers.add(server);
      return new Promise((resolveListen, reject) => {
        server.once('error', reject);
        server.listen(port, address, () => {
          const a = server.address();
          const hostPart = a.family === 'IPv6' || a.family === 6 ? `[${a.address}]` : a.address;
          resolveListen({
            url: `http://${hostPart}:${a.port}`,
            port: a.port,
            close: () => new Promise((done) => {
              servers.delete(server);
              server.close(() => done());
              server.closeAllConnections();
            }),
          });
        });
      });
    },
    /**
     * Replaces (or creates, or with null removes) a Config Store; runs started from now on see it.
     * @param {string} name
     * @param {Record<string, string>|null} entries
     */
    setConfigStore(name, entries) {
      if (entries === null) delete workerConfig.configStores[name];
      else workerConfig.configStores[name] = configStoreEntry(name, { format: 'inline-toml', contents: entries }, process.cwd());
    },
    /**
     * Replaces (or creates, or with null removes) a Secret Store; runs started from now on see it.
     * @param {string} name
     * @param {Record<string, string|Uint8Array>|null} entries
     */
    setSecretStore(name, entries) {
      if (entries === null) delete workerConfig.secretStores[name];
      else workerConfig.secretStores[name] = Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, asBytes(v)]));
    },
    /** @returns {Promise<void>} resolves when no run is queued or running */
    idle() {
      if (active.size === 0 && queue.length === 0) return Promise.resolve();
      return new Promise((res) => idleWaiters.push(res));
    },
    /** Stops the servers and the workers; runs still queued fail. @returns {Promise<void>} */
    async close() {
      if (closed) return;
      closed = true;
      for (const server of servers) { server.close(); server.closeAllConnections(); }
      servers.clear();
      for (const r of queue.splice(0)) finishRun(r, { trap: 'the host closed before the run started' });
      await Promise.all(pool.map((w) => { w.dead = true; return w.worker.terminate(); }));
      for (const r of [...active]) finishRun(r, { trap: 'the host closed during the run' });
      pool.length = 0;
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
    kv: {
      get(store, key) {
        const rec = kvStores.lookup(store, key);
        if (!rec) return null;
        return {
          value: new Uint8Array(rec.value), text: Buffer.from(rec.value).toString('utf8'),
          metadata: Buffer.from(rec.metadata).toString('utf8'), generation: rec.generation,
        };
      },
      put(store, key, value, opts = {}) {
        kvStores.create(store);
        const modes = { overwrite: 0, add: 1, append: 2, prepend: 3 };
        return kvStores.insert(store, key, value, { ...opts, mode: modes[opts.mode ?? 'overwrite'] });
      },
      delete(store, key) { return kvStores.delete(store, key); },
      list(store, opts) {
        const r = kvStores.list(store, opts);
        return r.kvError === KvError.OK ? { data: r.data, meta: r.meta } : null;
      },
      generation(store, key) { return kvStores.lookup(store, key)?.generation; },
      stores() { return [...kvStores.stores.keys()]; },
    },
    logs,
    stats,
    importProblems,
    imports: plan.map(({ module: m, name, kind, link }) => ({ module: m, name, kind, link })),
    backends: cfg.backends,
  };
  return host;
}
