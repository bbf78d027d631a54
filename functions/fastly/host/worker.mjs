// The per-request runner of the local Fastly Compute host. Each request runs a fresh instance of
// the program (a WASI command, `_start`) in a worker thread, with the Fastly hostcalls it imports
// implemented here from the witx ABI. Hostcalls are synchronous, but backends and the KV stores
// live in the main thread: a hostcall that needs them posts `{op, args}` to the main thread and
// blocks on a SharedArrayBuffer (Atomics.wait) until the main thread has written the result
// bytes into it and notified. Where the witx is silent the behaviour follows Viceroy, Fastly's
// local runtime.
//
// This module is also imported by the main thread (host.mjs) for the status codes, the RPC
// encoding and the list of implemented hostcalls; it only starts serving when it is the script
// of a worker created by host.mjs.

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { openSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** `$fastly_status` (typenames.witx). */
export const FastlyStatus = Object.freeze({
  OK: 0, ERROR: 1, INVAL: 2, BADF: 3, BUFLEN: 4, UNSUPPORTED: 5, BADALIGN: 6, HTTPINVALID: 7,
  HTTPUSER: 8, HTTPINCOMPLETE: 9, NONE: 10, HTTPHEADTOOLARGE: 11, HTTPINVALIDSTATUS: 12,
  LIMITEXCEEDED: 13, AGAIN: 14,
});

/** `$kv_error` (typenames.witx). */
export const KvError = Object.freeze({
  UNINITIALIZED: 0, OK: 1, BAD_REQUEST: 2, NOT_FOUND: 3, PRECONDITION_FAILED: 4,
  PAYLOAD_TOO_LARGE: 5, INTERNAL_ERROR: 6, TOO_MANY_REQUESTS: 7,
});

/** `$send_error_detail_tag` (typenames.witx), the values this host reports. */
export const SendErrorTag = Object.freeze({
  UNINITIALIZED: 0, OK: 1, DNS_TIMEOUT: 2, DNS_ERROR: 3, DESTINATION_NOT_FOUND: 4,
  DESTINATION_UNAVAILABLE: 5, DESTINATION_IP_UNROUTABLE: 6, CONNECTION_REFUSED: 7,
  CONNECTION_TERMINATED: 8, CONNECTION_TIMEOUT: 9, TLS_CERTIFICATE_ERROR: 11,
  HTTP_INCOMPLETE_RESPONSE: 13, HTTP_RESPONSE_TIMEOUT: 16, HTTP_PROTOCOL_ERROR: 19,
  INTERNAL_ERROR: 22,
});

const S = FastlyStatus;
const INVALID_HANDLE = 0xffffffff;

// ---------------------------------------------------------------------------------------------
// The synchronous RPC: a control block and a data area in one SharedArrayBuffer per worker.
// ctrl[0]: 0 while the worker waits, 1 when a chunk is ready; ctrl[1]: total result length;
// ctrl[2]: length of the chunk in the data area. A result longer than the data area arrives in
// several chunks, the worker asking for the next with an `rpc-more` message.

/** Bytes of the control block at the start of the shared buffer. */
export const RPC_CONTROL_BYTES = 16;

const textEncoder = new TextEncoder();

/**
 * Encodes an RPC result: a JSON header and an optional binary blob.
 * @param {object} json
 * @param {Uint8Array} [blob]
 * @returns {Uint8Array} `[u32 json length][json][blob]`
 */
export function encodeRpcResult(json, blob) {
  const head = textEncoder.encode(JSON.stringify(json));
  const body = blob ?? new Uint8Array(0);
  const out = new Uint8Array(4 + head.length + body.length);
  new DataView(out.buffer).setUint32(0, head.length, true);
  out.set(head, 4);
  out.set(body, 4 + head.length);
  return out;
}

/**
 * Decodes {@link encodeRpcResult}'s bytes.
 * @param {Uint8Array} bytes
 * @returns {{json: any, blob: Uint8Array}}
 */
export function decodeRpcResult(bytes) {
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  const json = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + len)));
  return { json, blob: bytes.subarray(4 + len) };
}

function createRpcClient(sab, port) {
  const ctrl = new Int32Array(sab, 0, 4);
  const data = new Uint8Array(sab, RPC_CONTROL_BYTES);
  return function call(op, args) {
    Atomics.store(ctrl, 0, 0);
    port.postMessage({ type: 'rpc', op, args });
    let out = null;
    let got = 0;
    for (;;) {
      Atomics.wait(ctrl, 0, 0);
      const total = ctrl[1];
      const chunk = ctrl[2];
      if (!out) out = new Uint8Array(total);
      out.set(data.subarray(0, chunk), got);
      got += chunk;
      if (got >= total) break;
      Atomics.store(ctrl, 0, 0);
      port.postMessage({ type: 'rpc-more' });
    }
    Atomics.store(ctrl, 0, 0);
    return decodeRpcResult(out);
  };
}

// ---------------------------------------------------------------------------------------------
// Guest memory and handles

/** A hostcall argument error: the hostcall returns `status` instead of trapping. */
class GuestFault extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Lossy = new TextDecoder('utf-8');

class GuestMemory {
  constructor(memory) { this.memory = memory; }
  get u8() { return new Uint8Array(this.memory.buffer); }
  get dv() { return new DataView(this.memory.buffer); }
  check(ptr, len, align = 1) {
    if (ptr % align !== 0) throw new GuestFault(S.BADALIGN, `pointer ${ptr} is not ${align}-aligned`);
    if (ptr + len > this.memory.buffer.byteLength) throw new GuestFault(S.INVAL, `pointer ${ptr}+${len} out of bounds`);
  }
  read(ptr, len) {
    ptr >>>= 0; len >>>= 0;
    this.check(ptr, len);
    return this.u8.slice(ptr, ptr + len);
  }
  str(ptr, len) {
    try { return utf8.decode(this.read(ptr, len)); } catch (e) {
      if (e instanceof GuestFault) throw e;
      throw new GuestFault(S.INVAL, 'string is not UTF-8');
    }
  }
  latin1(ptr, len) { return Buffer.from(this.read(ptr, len)).toString('latin1'); }
  write(ptr, bytes) {
    ptr >>>= 0;
    this.check(ptr, bytes.length);
    this.u8.set(bytes, ptr);
  }
  u32(ptr) { ptr >>>= 0; this.check(ptr, 4, 4); return this.dv.getUint32(ptr, true); }
  u64(ptr) { ptr >>>= 0; this.check(ptr, 8, 8); return this.dv.getBigUint64(ptr, true); }
  setU16(ptr, v) { ptr >>>= 0; this.check(ptr, 2, 2); this.dv.setUint16(ptr, v, true); }
  setU32(ptr, v) { ptr >>>= 0; this.check(ptr, 4, 4); this.dv.setUint32(ptr, v >>> 0, true); }
  setU64(ptr, v) { ptr >>>= 0; this.check(ptr, 8, 8); this.dv.setBigUint64(ptr, BigInt.asUintN(64, BigInt(v)), true); }
  setI64(ptr, v) { ptr >>>= 0; this.check(ptr, 8, 8); this.dv.setBigInt64(ptr, BigInt(v), true); }
}

class HandleTable {
  constructor() { this.next = 1; this.map = new Map(); }
  add(kind, value) {
    const h = this.next++;
    this.map.set(h, { kind, value });
    return h;
  }
  get(h, kind) {
    const e = this.map.get(h >>> 0);
    if (!e || e.kind !== kind) throw new GuestFault(S.BADF, `invalid ${kind} handle ${h >>> 0}`);
    return e.value;
  }
  take(h, kind) {
    const v = this.get(h, kind);
    this.map.delete(h >>> 0);
    return v;
  }
  values(kind) { return [...this.map.values()].filter((e) => e.kind === kind).map((e) => e.value); }
}

class Body {
  constructor(initial) {
    this.parts = initial && initial.length ? [initial] : [];
    this.length = initial ? initial.length : 0;
    this.streaming = false;
  }
  append(bytes) { if (bytes.length) { this.parts.push(bytes); this.length += bytes.length; } }
  prepend(bytes) { if (bytes.length) { this.parts.unshift(bytes); this.length += bytes.length; } }
  bytes() { return this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts); }
  read(max) {
    const out = [];
    let n = 0;
    while (n < max && this.parts.length) {
      const p = this.parts[0];
      const take = Math.min(p.length, max - n);
      out.push(p.subarray(0, take));
      n += take;
      if (take === p.length) this.parts.shift(); else this.parts[0] = p.subarray(take);
    }
    this.length -= n;
    return out.length === 1 ? out[0] : Buffer.concat(out);
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function headerName(bytes) {
  const name = Buffer.from(bytes).toString('latin1');
  if (!TOKEN.test(name) || name.length > 65535) throw new GuestFault(S.ERROR, `invalid header name ${JSON.stringify(name)}`);
  return name.toLowerCase();
}

function headerValue(bytes) {
  for (const b of bytes) {
    if ((b < 0x20 && b !== 0x09) || b === 0x7f) throw new GuestFault(S.ERROR, 'invalid header value');
  }
  return Buffer.from(bytes).toString('latin1');
}

/** An ordered header list, names lowercased, values kept as latin1 strings (one char per byte). */
class HeaderList {
  constructor(pairs = []) { this.list = pairs.map(([n, v]) => [String(n).toLowerCase(), String(v)]); }
  names() { return [...new Set(this.list.map(([n]) => n))]; }
  values(name) { return this.list.filter(([n]) => n === name).map(([, v]) => v); }
  append(name, value) { this.list.push([name, value]); }
  insert(name, value) {
    const i = this.list.findIndex(([n]) => n === name);
    if (i < 0) { this.list.push([name, value]); return; }
    this.list = this.list.filter(([n], j) => n !== name || j === i);
    this.list[this.list.findIndex(([n]) => n === name)] = [name, value];
  }
  remove(name) {
    const before = this.list.length;
    this.list = this.list.filter(([n]) => n !== name);
    return this.list.length !== before;
  }
  setValues(name, values) {
    this.remove(name);
    for (const v of values) this.list.push([name, v]);
  }
}

const latin1Bytes = (s) => Buffer.from(s, 'latin1');

// Viceroy's multi-value writer: as many values as fit, each followed by `term`; the ending
// cursor is -1 when all were written, else the index to continue from; if not even the first
// value fits, buflen with the size it needs in nwritten_out.
function writeMultiValue(mem, items, buf, bufLen, cursor, ecOut, nwOut) {
  bufLen >>>= 0;
  cursor >>>= 0;
  let off = 0;
  let next = cursor;
  let finished = true;
  for (let i = cursor; i < items.length; i++) {
    const need = items[i].length + 1;
    if (off + need > bufLen) {
      if (off === 0) {
        mem.setU32(nwOut, need);
        if (ecOut >>> 0) mem.setI64(ecOut, -1);
        return S.BUFLEN;
      }
      finished = false;
      break;
    }
    const chunk = new Uint8Array(need);
    chunk.set(items[i]);
    mem.write((buf >>> 0) + off, chunk);
    off += need;
    next = i + 1;
  }
  if (ecOut >>> 0) mem.setI64(ecOut, finished ? -1 : next);
  mem.setU32(nwOut, off);
  return S.OK;
}

function writeBuffer(mem, bytes, buf, bufLen, nwOut) {
  if (bytes.length > (bufLen >>> 0)) {
    mem.setU32(nwOut, bytes.length);
    return S.BUFLEN;
  }
  mem.write(buf, bytes);
  mem.setU32(nwOut, bytes.length);
  return S.OK;
}

// Fastly's rules for KV keys (as Viceroy checks them).
function validKvKey(key) {
  const len = Buffer.byteLength(key);
  if (len < 1 || len > 1024) return false;
  if (key.startsWith('.well-known/acme-challenge')) return false;
  if (key === '.' || key === '..') return false;
  return !/[\r\n[\]*?#]/.test(key);
}

const RESERVED_ENDPOINT = /^(stdout|stderr)$|^fst_managed_/i;

function ipOctets(address) {
  if (!address) return Uint8Array.from([127, 0, 0, 1]);
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/i.exec(address);
  if (v4) return Uint8Array.from(v4.slice(1, 5).map(Number));
  const [head, tail = ''] = address.split('::');
  const hs = head ? head.split(':') : [];
  const ts = tail ? tail.split(':') : [];
  const groups = [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => { const v = parseInt(g || '0', 16); out[2 * i] = v >> 8; out[2 * i + 1] = v & 0xff; });
  return out;
}

// ---------------------------------------------------------------------------------------------
// The hostcalls

/**
 * Builds the hostcall implementations for one run. Each function takes the lowered wasm
 * arguments (see witx.mjs) and returns a `$fastly_status`.
 * @param {object} run the run's state (see `runProgram`); may be null to list the names
 * @returns {Record<string, Record<string, Function>>} module name -> function name -> impl
 */
export function createHostcalls(run) {
  const r = run;
  const mem = () => r.mem;
  const H = () => r.handles;

  const reqOrResp = (kind) => (h) => H().get(h, kind);

  const headerCalls = (kind) => ({
    header_names_get(h, buf, bufLen, cursor, ecOut, nwOut) {
      const m = reqOrResp(kind)(h);
      return writeMultiValue(mem(), m.headers.names().map(latin1Bytes), buf, bufLen, cursor, ecOut, nwOut);
    },
    header_values_get(h, namePtr, nameLen, buf, bufLen, cursor, ecOut, nwOut) {
      const m = reqOrResp(kind)(h);
      const name = headerName(mem().read(namePtr, nameLen));
      return writeMultiValue(mem(), m.headers.values(name).map(latin1Bytes), buf, bufLen, cursor, ecOut, nwOut);
    },
    // Fastly answers `none` for an absent header (Viceroy answers `inval`).
    header_value_get(h, namePtr, nameLen, buf, bufLen, nwOut) {
      const m = reqOrResp(kind)(h);
      const name = headerName(mem().read(namePtr, nameLen));
      const values = m.headers.values(name);
      if (values.length === 0) return S.NONE;
      return writeBuffer(mem(), latin1Bytes(values[0]), buf, bufLen, nwOut);
    },
    header_values_set(h, namePtr, nameLen, valuesPtr, valuesLen) {
      const m = reqOrResp(kind)(h);
      const name = headerName(mem().read(namePtr, nameLen));
      const raw = mem().read(valuesPtr, valuesLen);
      const parts = [];
      let start = 0;
      for (let i = 0; i < raw.length; i++) if (raw[i] === 0) { parts.push(raw.subarray(start, i)); start = i + 1; }
      m.headers.setValues(name, parts.map(headerValue));
      return S.OK;
    },
    header_insert(h, namePtr, nameLen, valuePtr, valueLen) {
      const m = reqOrResp(kind)(h);
      m.headers.insert(headerName(mem().read(namePtr, nameLen)), headerValue(mem().read(valuePtr, valueLen)));
      return S.OK;
    },
    header_append(h, namePtr, nameLen, valuePtr, valueLen) {
      const m = reqOrResp(kind)(h);
      m.headers.append(headerName(mem().read(namePtr, nameLen)), headerValue(mem().read(valuePtr, valueLen)));
      return S.OK;
    },
    header_remove(h, namePtr, nameLen) {
      const m = reqOrResp(kind)(h);
      return m.headers.remove(headerName(mem().read(namePtr, nameLen))) ? S.OK : S.INVAL;
    },
    version_get(h, out) {
      mem().setU32(out, reqOrResp(kind)(h).version);
      return S.OK;
    },
    version_set(h, version) {
      const m = reqOrResp(kind)(h);
      if (version >>> 0 > 4) return S.INVAL;
      m.version = version >>> 0;
      return S.OK;
    },
    framing_headers_mode_set(h, mode) {
      reqOrResp(kind)(h);
      if (mode >>> 0 > 1) return S.INVAL;
      return mode === 0 ? S.OK : S.ERROR;  // manual framing is not available locally (Viceroy too)
    },
  });

  // A backend request, synchronously through the main thread.
  const send = (reqH, bodyH, backendPtr, backendLen, detailPtr) => {
    const backend = mem().str(backendPtr, backendLen);
    const req = H().get(reqH, 'req');
    const body = H().get(bodyH, 'body');
    if (body.streaming) return { status: S.INVAL };
    H().take(reqH, 'req');
    H().take(bodyH, 'body');
    const res = r.rpc('send', {
      backend, method: req.method, uri: req.uri, headers: req.headers.list, body: body.bytes(),
      decompress: req.decompress,
    });
    if (detailPtr !== undefined) writeSendErrorDetail(detailPtr, res.json.detail ?? SendErrorTag.OK);
    return res;
  };

  const writeSendErrorDetail = (ptr, tag) => {
    if ((ptr >>> 0) === 0) return;
    mem().setU32(ptr, tag);
    mem().setU32(ptr + 4, 0);  // no optional fields populated
  };

  const storeResponse = (res, respOut, bodyOut) => {
    if (res.json.status !== S.OK) return res.json.status;
    const resp = { status: res.json.response.status, headers: new HeaderList(res.json.response.headers), version: 2 };
    mem().setU32(respOut, H().add('resp', resp));
    mem().setU32(bodyOut, H().add('body', new Body(new Uint8Array(res.blob))));
    return S.OK;
  };

  const sendAsync = (reqH, bodyH, backendPtr, backendLen, out) => {
    const backend = mem().str(backendPtr, backendLen);
    const req = H().get(reqH, 'req');
    const body = H().get(bodyH, 'body');
    if (body.streaming) return S.INVAL;
    H().take(reqH, 'req');
    H().take(bodyH, 'body');
    const id = r.nextPendingId++;
    const res = r.rpc('sendAsync', {
      id, backend, method: req.method, uri: req.uri, headers: req.headers.list, body: body.bytes(),
      decompress: req.decompress,
    });
    if (res.json.status !== S.OK) return res.json.status;
    mem().setU32(out, H().add('pending-req', { id }));
    return S.OK;
  };

  const pendingWait = (ph, detailPtr, respOut, bodyOut) => {
    const p = H().take(ph, 'pending-req');
    const res = r.rpc('pendingWait', { id: p.id });
    if (detailPtr !== undefined) writeSendErrorDetail(detailPtr, res.json.detail ?? SendErrorTag.OK);
    return storeResponse(res, respOut, bodyOut);
  };

  const pendingPoll = (ph, detailPtr, doneOut, respOut, bodyOut) => {
    const p = H().get(ph, 'pending-req');
    const res = r.rpc('pendingPoll', { id: p.id });
    if (!res.json.done) {
      mem().setU32(doneOut, 0);
      mem().setU32(respOut, INVALID_HANDLE);
      mem().setU32(bodyOut, INVALID_HANDLE);
      return S.OK;
    }
    H().take(ph, 'pending-req');
    if (detailPtr !== undefined) writeSendErrorDetail(detailPtr, res.json.detail ?? SendErrorTag.OK);
    const status = storeResponse(res, respOut, bodyOut);
    if (status === S.OK) mem().setU32(doneOut, 1);
    return status;
  };

  const pendingSelect = (hsPtr, hsLen, detailPtr, doneIdxOut, respOut, bodyOut) => {
    const n = hsLen >>> 0;
    if (n === 0) return S.INVAL;
    const handles = [];
    for (let i = 0; i < n; i++) handles.push(mem().u32((hsPtr >>> 0) + 4 * i));
    const ids = handles.map((h) => H().get(h, 'pending-req').id);
    const res = r.rpc('pendingSelect', { ids });
    H().take(handles[res.json.index], 'pending-req');
    mem().setU32(doneIdxOut, res.json.index);
    if (detailPtr !== undefined) writeSendErrorDetail(detailPtr, res.json.detail ?? SendErrorTag.OK);
    return storeResponse(res, respOut, bodyOut);
  };

  const configStore = (kind) => ({
    open(namePtr, nameLen, out) {
      const name = mem().str(namePtr, nameLen);
      const store = r.config.configStores[name];
      if (!store) return S.BADF;  // Viceroy: an unknown dictionary is badf
      mem().setU32(out, H().add(kind, store));
      return S.OK;
    },
    get(h, keyPtr, keyLen, buf, bufLen, nwOut) {
      const store = H().get(h, kind);
      const key = mem().str(keyPtr, keyLen);
      if (!Object.hasOwn(store, key)) return S.NONE;
      return writeBuffer(mem(), textEncoder.encode(store[key]), buf, bufLen, nwOut);
    },
  });

  const kvLookupWait = (generation64) => (h, bodyOut, metaBuf, metaLen, nwOut, genOut, kvErrOut) => {
    const p = H().get(h, 'kv-lookup');
    if (!p.found) {
      H().take(h, 'kv-lookup');
      mem().setU32(kvErrOut, p.kvError);
      return S.OK;
    }
    const meta = p.metadata;
    if (meta.length > (metaLen >>> 0)) {
      mem().setU32(nwOut, meta.length);
      return S.BUFLEN;  // the lookup stays valid so that the guest may retry with a larger buffer
    }
    H().take(h, 'kv-lookup');
    if (meta.length) mem().write(metaBuf, meta);
    mem().setU32(nwOut, meta.length);
    mem().setU32(bodyOut, H().add('body', new Body(p.value)));
    if (generation64) mem().setU64(genOut, BigInt(p.generation)); else mem().setU32(genOut, 0);
    mem().setU32(kvErrOut, KvError.OK);
    return S.OK;
  };

  const calls = {
    fastly_abi: {
      init(version) {
        return BigInt(version) === 1n ? S.OK : S.ERROR;
      },
    },

    fastly_http_req: {
      ...headerCalls('req'),
      body_downstream_get(reqOut, bodyOut) {
        if (r.downstreamTaken) return S.ERROR;
        r.downstreamTaken = true;
        const d = r.request;
        const req = { method: d.method, uri: d.url, headers: new HeaderList(d.headers), version: 2, decompress: 0, downstream: true };
        mem().setU32(reqOut, H().add('req', req));
        mem().setU32(bodyOut, H().add('body', new Body(d.body)));
        return S.OK;
      },
      new(out) {
        mem().setU32(out, H().add('req', { method: 'GET', uri: '/', headers: new HeaderList(), version: 2, decompress: 0 }));
        return S.OK;
      },
      close(h) {
        H().take(h, 'req');
        return S.OK;
      },
      method_get(h, buf, bufLen, nwOut) {
        return writeBuffer(mem(), textEncoder.encode(H().get(h, 'req').method), buf, bufLen, nwOut);
      },
      method_set(h, ptr, len) {
        const req = H().get(h, 'req');
        const method = mem().str(ptr, len);
        if (!TOKEN.test(method)) return S.ERROR;
        req.method = method;
        return S.OK;
      },
      uri_get(h, buf, bufLen, nwOut) {
        return writeBuffer(mem(), textEncoder.encode(H().get(h, 'req').uri), buf, bufLen, nwOut);
      },
      uri_set(h, ptr, len) {
        const req = H().get(h, 'req');
        const uri = mem().str(ptr, len);
        if (!/^[\x21-\x7e]+$/.test(uri)) return S.ERROR;
        req.uri = uri;
        return S.OK;
      },
      // This host has no cache: overrides are accepted and have no effect.
      cache_override_set(h, _tag, _ttl, _swr) { H().get(h, 'req'); return S.OK; },
      cache_override_v2_set(h, _tag, _ttl, _swr, _skPtr, _skLen) { H().get(h, 'req'); return S.OK; },
      auto_decompress_response_set(h, encodings) {
        H().get(h, 'req').decompress = encodings >>> 0;
        return S.OK;
      },
      send(reqH, bodyH, backendPtr, backendLen, respOut, bodyOut) {
        const res = send(reqH, bodyH, backendPtr, backendLen);
        return res.json ? storeResponse(res, respOut, bodyOut) : res.status;
      },
      send_v2(reqH, bodyH, backendPtr, backendLen, detailPtr, respOut, bodyOut) {
        const res = send(reqH, bodyH, backendPtr, backendLen, detailPtr);
        return res.json ? storeResponse(res, respOut, bodyOut) : res.status;
      },
      send_v3(reqH, bodyH, backendPtr, backendLen, detailPtr, respOut, bodyOut) {
        const res = send(reqH, bodyH, backendPtr, backendLen, detailPtr);
        return res.json ? storeResponse(res, respOut, bodyOut) : res.status;
      },
      send_async(reqH, bodyH, backendPtr, backendLen, out) {
        return sendAsync(reqH, bodyH, backendPtr, backendLen, out);
      },
      send_async_v2(reqH, bodyH, backendPtr, backendLen, streaming, out) {
        if (streaming >>> 0) return S.UNSUPPORTED;
        return sendAsync(reqH, bodyH, backendPtr, backendLen, out);
      },
      pending_req_wait(ph, respOut, bodyOut) { return pendingWait(ph, undefined, respOut, bodyOut); },
      pending_req_wait_v2(ph, detailPtr, respOut, bodyOut) { return pendingWait(ph, detailPtr, respOut, bodyOut); },
      pending_req_poll(ph, doneOut, respOut, bodyOut) { return pendingPoll(ph, undefined, doneOut, respOut, bodyOut); },
      pending_req_poll_v2(ph, detailPtr, doneOut, respOut, bodyOut) { return pendingPoll(ph, detailPtr, doneOut, respOut, bodyOut); },
      pending_req_select(hsPtr, hsLen, doneIdxOut, respOut, bodyOut) {
        return pendingSelect(hsPtr, hsLen, undefined, doneIdxOut, respOut, bodyOut);
      },
      pending_req_select_v2(hsPtr, hsLen, detailPtr, doneIdxOut, respOut, bodyOut) {
        return pendingSelect(hsPtr, hsLen, detailPtr, doneIdxOut, respOut, bodyOut);
      },
      downstream_client_ip_addr(out, nwOut) {
        const octets = ipOctets(r.request.clientAddress);
        mem().write(out, octets);
        mem().setU32(nwOut, octets.length);
        return S.OK;
      },
      downstream_server_ip_addr(out, nwOut) {
        const octets = ipOctets(r.request.serverAddress);
        mem().write(out, octets);
        mem().setU32(nwOut, octets.length);
        return S.OK;
      },
    },

    fastly_http_downstream: {
      downstream_client_ip_addr(h, out, nwOut) {
        H().get(h, 'req');
        const octets = ipOctets(r.request.clientAddress);
        mem().write(out, octets);
        mem().setU32(nwOut, octets.length);
        return S.OK;
      },
      downstream_server_ip_addr(h, out, nwOut) {
        H().get(h, 'req');
        const octets = ipOctets(r.request.serverAddress);
        mem().write(out, octets);
        mem().setU32(nwOut, octets.length);
        return S.OK;
      },
    },

    fastly_http_resp: {
      ...headerCalls('resp'),
      new(out) {
        mem().setU32(out, H().add('resp', { status: 200, headers: new HeaderList(), version: 2 }));
        return S.OK;
      },
      status_get(h, out) {
        mem().setU16(out, H().get(h, 'resp').status);
        return S.OK;
      },
      status_set(h, status) {
        const resp = H().get(h, 'resp');
        if (status < 100 || status > 999) return S.INVAL;
        resp.status = status;
        return S.OK;
      },
      close(h) {
        H().take(h, 'resp');
        return S.OK;
      },
      http_keepalive_mode_set(h, mode) {
        H().get(h, 'resp');
        if (mode >>> 0 > 1) return S.INVAL;
        return mode === 0 ? S.OK : S.ERROR;  // not available locally (Viceroy too)
      },
      send_downstream(respH, bodyH, streaming) {
        const resp = H().get(respH, 'resp');
        const body = H().get(bodyH, 'body');
        if (r.responded) return S.ERROR;
        if (body.streaming) return S.INVAL;
        H().take(respH, 'resp');
        r.responded = true;
        const initial = body.bytes();
        if (streaming >>> 0) {
          body.parts = [];
          body.length = 0;
          body.streaming = true;
          r.streamingBody = body;
        } else {
          H().take(bodyH, 'body');
        }
        r.post({
          type: 'response', status: resp.status, headers: resp.headers.list, body: initial,
          streaming: Boolean(streaming >>> 0), atMs: performance.now() - r.startedAt,
        });
        return S.OK;
      },
    },

    fastly_http_body: {
      new(out) {
        mem().setU32(out, H().add('body', new Body()));
        return S.OK;
      },
      read(h, buf, bufLen, nwOut) {
        const body = H().get(h, 'body');
        if (body.streaming) return S.BADF;
        const bytes = body.read(bufLen >>> 0);
        mem().write(buf, bytes);
        mem().setU32(nwOut, bytes.length);
        return S.OK;
      },
      write(h, ptr, len, end, nwOut) {
        const body = H().get(h, 'body');
        const bytes = mem().read(ptr, len);
        if (end >>> 0 > 1) return S.INVAL;
        if (body.streaming) {
          if (end === 1) return S.INVAL;
          if (bytes.length) r.post({ type: 'stream-chunk', chunk: bytes });
        } else if (end === 1) {
          body.prepend(bytes);
        } else {
          body.append(bytes);
        }
        mem().setU32(nwOut, bytes.length);
        return S.OK;
      },
      append(dest, src) {
        const d = H().get(dest, 'body');
        const s = H().get(src, 'body');
        if (s.streaming || dest >>> 0 === src >>> 0) return S.INVAL;
        H().take(src, 'body');
        const bytes = s.bytes();
        if (d.streaming) { if (bytes.length) r.post({ type: 'stream-chunk', chunk: bytes }); } else d.append(bytes);
        return S.OK;
      },
      close(h) {
        const body = H().take(h, 'body');
        if (body.streaming) {
          r.post({ type: 'stream-end' });
          r.streamingBody = null;
        }
        return S.OK;
      },
      abandon(h) {
        const body = H().take(h, 'body');
        if (body.streaming) {
          r.post({ type: 'stream-end', error: 'the program abandoned the streaming body' });
          r.streamingBody = null;
        }
        return S.OK;
      },
      known_length(h, out) {
        const body = H().get(h, 'body');
        if (body.streaming) return S.NONE;
        mem().setU64(out, body.length);
        return S.OK;
      },
    },

    fastly_log: {
      endpoint_get(namePtr, nameLen, out) {
        const name = utf8Lossy.decode(mem().read(namePtr, nameLen));
        if (RESERVED_ENDPOINT.test(name)) return S.INVAL;
        if (!r.endpoints.has(name)) r.endpoints.set(name, H().add('log', { name }));
        mem().setU32(out, r.endpoints.get(name));
        return S.OK;
      },
      write(h, ptr, len, nwOut) {
        const { name } = H().get(h, 'log');
        let msg = utf8Lossy.decode(mem().read(ptr, len));
        if (msg.endsWith('\n')) msg = msg.slice(0, -1);
        if (msg.length) r.post({ type: 'log', name, line: msg });
        mem().setU32(nwOut, len >>> 0);
        return S.OK;
      },
    },

    fastly_config_store: configStore('config-store'),
    fastly_dictionary: configStore('dictionary'),

    fastly_secret_store: {
      open(namePtr, nameLen, out) {
        const name = mem().str(namePtr, nameLen);
        const store = r.config.secretStores[name];
        if (!store) return S.NONE;
        mem().setU32(out, H().add('secret-store', store));
        return S.OK;
      },
      get(h, keyPtr, keyLen, out) {
        const store = H().get(h, 'secret-store');
        const key = mem().str(keyPtr, keyLen);
        if (!Object.hasOwn(store, key)) return S.NONE;
        mem().setU32(out, H().add('secret', store[key]));
        return S.OK;
      },
      plaintext(h, buf, bufLen, nwOut) {
        return writeBuffer(mem(), H().get(h, 'secret'), buf, bufLen, nwOut);
      },
      from_bytes(ptr, len, out) {
        mem().setU32(out, H().add('secret', mem().read(ptr, len)));
        return S.OK;
      },
    },

    fastly_kv_store: {
      open(namePtr, nameLen, out) {
        const name = mem().str(namePtr, nameLen);
        if (!r.rpc('kvOpen', { store: name }).json.exists) return S.INVAL;
        mem().setU32(out, H().add('kv-store', { name }));
        return S.OK;
      },
      lookup(storeH, keyPtr, keyLen, _mask, _cfg, out) {
        const store = H().get(storeH, 'kv-store');
        const key = mem().str(keyPtr, keyLen);
        if (!validKvKey(key)) return S.INVAL;
        const res = r.rpc('kvLookup', { store: store.name, key });
        const p = res.json.found
          ? { found: true, value: new Uint8Array(res.blob), metadata: Buffer.from(res.json.metadata, 'base64'), generation: res.json.generation }
          : { found: false, kvError: res.json.kvError };
        mem().setU32(out, H().add('kv-lookup', p));
        return S.OK;
      },
      lookup_wait: kvLookupWait(false),
      lookup_wait_v2: kvLookupWait(true),
      insert(storeH, keyPtr, keyLen, bodyH, mask, cfg, out) {
        const store = H().get(storeH, 'kv-store');
        const key = mem().str(keyPtr, keyLen);
        H().get(bodyH, 'body');
        if (!validKvKey(key)) return S.INVAL;
        mask >>>= 0;
        const m = mem();
        const mode = m.u32(cfg);
        if (mode > 3) return S.INVAL;
        let metadata;
        if (mask & 8) {
          const len = m.u32(cfg + 12);
          if (len === 0) return S.INVAL;
          metadata = m.read(m.u32(cfg + 8), len);
        }
        const ttlSec = mask & 16 ? m.u32(cfg + 16) : undefined;
        const ifGenerationMatch = mask & 32 ? m.u64(cfg + 24).toString() : undefined;
        const body = H().take(bodyH, 'body');
        if (body.streaming) return S.INVAL;
        const res = r.rpc('kvInsert', {
          store: store.name, key, value: body.bytes(), mode, ttlSec, ifGenerationMatch,
          metadata: metadata ? Buffer.from(metadata).toString('base64') : undefined,
        });
        mem().setU32(out, H().add('kv-insert', { kvError: res.json.kvError }));
        return S.OK;
      },
      insert_wait(h, kvErrOut) {
        const p = H().take(h, 'kv-insert');
        mem().setU32(kvErrOut, p.kvError);
        return S.OK;
      },
      delete(storeH, keyPtr, keyLen, _mask, _cfg, out) {
        const store = H().get(storeH, 'kv-store');
        const key = mem().str(keyPtr, keyLen);
        if (!validKvKey(key)) return S.INVAL;
        const res = r.rpc('kvDelete', { store: store.name, key });
        mem().setU32(out, H().add('kv-delete', { kvError: res.json.kvError }));
        return S.OK;
      },
      delete_wait(h, kvErrOut) {
        const p = H().take(h, 'kv-delete');
        mem().setU32(kvErrOut, p.kvError);
        return S.OK;
      },
      list(storeH, mask, cfg, out) {
        const store = H().get(storeH, 'kv-store');
        mask >>>= 0;
        const m = mem();
        const args = { store: store.name };
        if (mask & 2) args.cursor = m.str(m.u32(cfg + 4), m.u32(cfg + 8));
        if (mask & 4) args.limit = m.u32(cfg + 12);
        if (mask & 8) args.prefix = m.str(m.u32(cfg + 16), m.u32(cfg + 20));
        const res = r.rpc('kvList', args);
        mem().setU32(out, H().add('kv-list', { kvError: res.json.kvError, body: new Uint8Array(res.blob) }));
        return S.OK;
      },
      list_wait(h, bodyOut, kvErrOut) {
        const p = H().take(h, 'kv-list');
        if (p.kvError === KvError.OK) mem().setU32(bodyOut, H().add('body', new Body(p.body)));
        mem().setU32(kvErrOut, p.kvError);
        return S.OK;
      },
    },

    fastly_backend: {
      exists(namePtr, nameLen, out) {
        const name = mem().str(namePtr, nameLen);
        mem().setU32(out, r.config.backendNames.includes(name) ? 1 : 0);
        return S.OK;
      },
      is_healthy(namePtr, nameLen, out) {
        const name = mem().str(namePtr, nameLen);
        if (!r.config.backendNames.includes(name)) return S.INVAL;
        mem().setU32(out, 0);  // $backend_health unknown: no health checks locally
        return S.OK;
      },
    },

    fastly_compute_runtime: {
      get_vcpu_ms(out) {
        mem().setU64(out, Math.round(performance.now() - r.startedAt));
        return S.OK;
      },
    },
  };
  return calls;
}

/**
 * The hostcalls this host implements, as `module.name` strings.
 * @returns {string[]}
 */
export function implementedHostcalls() {
  const calls = createHostcalls(null);
  return Object.entries(calls).flatMap(([m, fns]) => Object.keys(fns).map((n) => `${m}.${n}`)).sort();
}

// ---------------------------------------------------------------------------------------------
// One run

const WASI_ENOSYS = 52;

function runProgram(msg, ctx) {
  const { WASI } = ctx;
  const startedAt = performance.now();
  const counts = {};
  const unsupported = new Set();
  const run = {
    request: msg.request,
    config: msg.config ?? ctx.config,
    handles: new HandleTable(),
    endpoints: new Map(),
    mem: null,
    responded: false,
    downstreamTaken: false,
    streamingBody: null,
    nextPendingId: 1,
    startedAt,
    rpc: ctx.rpc,
    post: (m) => ctx.port.postMessage(m),
  };
  const std = { 1: '', 2: '' };
  const stdName = { 1: 'stdout', 2: 'stderr' };
  const flushStd = (fd, all) => {
    const lines = std[fd].split('\n');
    std[fd] = all ? '' : lines.pop();
    if (all && lines.length && lines[lines.length - 1] === '') lines.pop();
    for (const line of lines) run.post({ type: 'log', name: stdName[fd], line });
  };

  const wasi = new WASI({
    version: 'preview1', args: ['main.wasm'], env: { ...msg.env }, returnOnExit: true,
    stdin: ctx.nullFd, stdout: ctx.nullFd, stderr: ctx.nullFd,
  });
  const wasiImport = { ...wasi.wasiImport };
  // The realtime clock starts from the host's clock at the start of the run (the host may set
  // it, for tests); the other clocks are node:wasi's.
  const origClock = wasiImport.clock_time_get;
  const clockBase = typeof msg.clockMs === 'number' ? msg.clockMs : Date.now();
  const clockStart = performance.now();
  wasiImport.clock_time_get = (id, precision, timePtr) => {
    if (id !== 0) return origClock(id, precision, timePtr);
    try {
      const ms = clockBase + (performance.now() - clockStart);
      run.mem.setU64(timePtr, BigInt(Math.floor(ms * 1e6)));
    } catch {
      return 21;  // EFAULT
    }
    return 0;
  };
  const origFdWrite = wasiImport.fd_write;
  // The program's stdout and stderr go to the host's logs, line by line.
  wasiImport.fd_write = (fd, iovs, iovsLen, nwrittenPtr) => {
    if (fd !== 1 && fd !== 2) return origFdWrite(fd, iovs, iovsLen, nwrittenPtr);
    const m = run.mem;
    let total = 0;
    try {
      for (let i = 0; i < iovsLen; i++) {
        const ptr = m.u32(iovs + 8 * i);
        const len = m.u32(iovs + 8 * i + 4);
        std[fd] += utf8Lossy.decode(m.read(ptr, len), { stream: false });
        total += len;
      }
      m.setU32(nwrittenPtr, total);
    } catch {
      return 21;  // EFAULT
    }
    flushStd(fd, false);
    return 0;
  };

  const calls = createHostcalls(run);
  const imports = {};
  for (const imp of ctx.plan) {
    const key = `${imp.module}.${imp.name}`;
    imports[imp.module] ??= {};
    if (imp.kind !== 'function') continue;
    let fn;
    if (imp.link === 'wasi' && typeof wasiImport[imp.name] === 'function') {
      fn = wasiImport[imp.name];
    } else if (imp.link === 'impl' && calls[imp.module]?.[imp.name]) {
      const impl = calls[imp.module][imp.name];
      fn = (...args) => {
        counts[key] = (counts[key] ?? 0) + 1;
        try {
          return impl(...args);
        } catch (e) {
          if (e instanceof GuestFault) return e.status;
          throw e;
        }
      };
    } else {
      const ret = imp.module === 'wasi_snapshot_preview1' ? WASI_ENOSYS : S.UNSUPPORTED;
      const result = imp.results?.[0];
      fn = () => {
        counts[key] = (counts[key] ?? 0) + 1;
        unsupported.add(key);
        return result === 'i64' ? BigInt(ret) : result === 'i32' ? ret : undefined;
      };
    }
    imports[imp.module][imp.name] = fn;
  }

  let exitCode = null;
  let trap = null;
  let instantiateMs = null;
  try {
    const instance = new WebAssembly.Instance(ctx.module, imports);
    run.mem = new GuestMemory(instance.exports.memory);
    instantiateMs = performance.now() - startedAt;
    const code = wasi.start(instance);
    exitCode = typeof code === 'number' ? code : 0;
  } catch (e) {
    trap = e instanceof WebAssembly.RuntimeError ? `wasm trap: ${e.message}` : `${e?.name ?? 'Error'}: ${e?.message ?? e}`;
    if (instantiateMs === null) trap = `instantiation failed: ${e?.message ?? e}`;
  }
  flushStd(1, true);
  flushStd(2, true);
  if (run.streamingBody) run.post({ type: 'stream-end', error: 'the program exited without closing the streaming body' });
  return {
    exitCode, trap, instantiateMs, responded: run.responded,
    hostcalls: counts, unsupported: [...unsupported].sort(),
    runMs: performance.now() - startedAt,
  };
}

// ---------------------------------------------------------------------------------------------
// Worker bootstrap

if (!isMainThread && workerData?.kind === 'callhook-fastly-host') {
  // node:wasi warns once per thread that it is experimental; the host says so in its docs.
  const emitWarning = process.emitWarning;
  process.emitWarning = (warning, ...rest) => {
    if (String(warning).includes('WASI')) return;
    emitWarning.call(process, warning, ...rest);
  };
  const { WASI } = await import('node:wasi');
  const ctx = {
    WASI,
    module: workerData.module,
    plan: workerData.plan,
    config: workerData.config,
    port: parentPort,
    rpc: createRpcClient(workerData.sab, parentPort),
    nullFd: openSync('/dev/null', 'r+'),
  };
  parentPort.on('message', (msg) => {
    if (msg.type !== 'run') return;
    const result = runProgram(msg, ctx);
    parentPort.postMessage({ type: 'done', result });
  });
  parentPort.postMessage({ type: 'ready' });
}
