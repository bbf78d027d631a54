// Tests of the local Fastly Compute host (functions/fastly/host): its witx reader and import
// check, and its hostcalls, each exercised by a small C program built for wasm32-wasi at test
// time (clang-19 with Debian's wasi-libc, or $WASI_SDK_PATH). The probe program picks what it
// exercises from the request path and answers with what it saw, one `name=value` fact at a time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { createFastlyHost } from '../../../functions/fastly/host/host.mjs';
import { createHostcalls, implementedHostcalls } from '../../../functions/fastly/host/worker.mjs';
import { checkImports, defaultWitxDir, loadWitx, wasmImports } from '../../../functions/fastly/host/witx.mjs';

const witxDir = defaultWitxDir();
const witxSkip = !witxDir && 'the Fastly witx files are not found (set CALLHOOK_FASTLY_ABI to the shared/fastly-abi folder)';

// The compiler: a wasi-sdk when WASI_SDK_PATH is set, else Debian's clang-19 and wasi-libc.
const sdk = process.env.WASI_SDK_PATH;
const cc = sdk ? join(sdk, 'bin', 'clang') : 'clang-19';
const ccArgs = sdk ? [`--sysroot=${join(sdk, 'share', 'wasi-sysroot')}`] : ['--target=wasm32-wasi', '--sysroot=/usr'];
const haveCc = spawnSync(cc, ['--version']).status === 0;
const haveLibc = sdk ? existsSync(join(sdk, 'share', 'wasi-sysroot')) : existsSync('/usr/lib/wasm32-wasi/libc.a');
const skip = (!haveCc && `${cc} is not installed: these tests build their wasm programs with it (apt-get install clang-19 lld-19 wasi-libc)`)
  || (!haveLibc && 'wasi-libc is not installed: these tests build their wasm programs with it (apt-get install wasi-libc)')
  || witxSkip;

const dir = mkdtempSync(join(tmpdir(), 'fastly-host-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function build(name, source) {
  const src = join(dir, `${name}.c`);
  const out = join(dir, `${name}.wasm`);
  writeFileSync(src, source);
  const r = spawnSync(cc, [...ccArgs, '-O2', '-Wall', '-o', out, src, '-Wl,--strip-all'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building ${name}.c failed:\n${r.stderr}`);
  return out;
}

// The probe's facts: `name=value` lines whose value may hold spaces (body, value, json, uri,
// method, metadata, x_backend, and `h:NAME` header lines, which collect every value), and
// `a=1 b=2` pairs on the other lines.
function facts(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const whole = /^(body|value|json|uri|method|metadata|x_backend|h:[^=]+)=(.*)$/.exec(line);
    if (whole) {
      if (whole[1].startsWith('h:')) (out[whole[1]] ??= []).push(whole[2]); else out[whole[1]] = whole[2];
      continue;
    }
    for (const m of line.matchAll(/(\w+)=(\S*)/g)) out[m[1]] = m[2];
  }
  return out;
}

const PROBE_C = String.raw`// A probe program for the host's tests: the request path picks what it exercises, and it
// answers with what it saw, one 'name=value' line per fact.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(m, n) __attribute__((import_module(#m), import_name(#n)))
typedef uint32_t h_t;
typedef int32_t st_t;

IMPORT(fastly_abi, init) st_t abi_init(uint64_t);
IMPORT(fastly_http_req, body_downstream_get) st_t req_body_downstream_get(h_t*, h_t*);
IMPORT(fastly_http_req, method_get) st_t req_method_get(h_t, char*, size_t, size_t*);
IMPORT(fastly_http_req, uri_get) st_t req_uri_get(h_t, char*, size_t, size_t*);
IMPORT(fastly_http_req, header_names_get) st_t req_header_names_get(h_t, char*, size_t, uint32_t, int64_t*, size_t*);
IMPORT(fastly_http_req, header_values_get) st_t req_header_values_get(h_t, const char*, size_t, char*, size_t, uint32_t, int64_t*, size_t*);
IMPORT(fastly_http_req, new) st_t req_new(h_t*);
IMPORT(fastly_http_req, method_set) st_t req_method_set(h_t, const char*, size_t);
IMPORT(fastly_http_req, uri_set) st_t req_uri_set(h_t, const char*, size_t);
IMPORT(fastly_http_req, header_append) st_t req_header_append(h_t, const char*, size_t, const char*, size_t);
IMPORT(fastly_http_req, send) st_t req_send(h_t, h_t, const char*, size_t, h_t*, h_t*);
IMPORT(fastly_http_req, send_async) st_t req_send_async(h_t, h_t, const char*, size_t, h_t*);
IMPORT(fastly_http_req, pending_req_poll) st_t req_pending_poll(h_t, uint32_t*, h_t*, h_t*);
IMPORT(fastly_http_req, pending_req_select) st_t req_pending_select(const h_t*, size_t, uint32_t*, h_t*, h_t*);
IMPORT(fastly_http_req, pending_req_wait) st_t req_pending_wait(h_t, h_t*, h_t*);
IMPORT(fastly_http_resp, new) st_t resp_new(h_t*);
IMPORT(fastly_http_resp, status_set) st_t resp_status_set(h_t, uint32_t);
IMPORT(fastly_http_resp, status_get) st_t resp_status_get(h_t, uint16_t*);
IMPORT(fastly_http_resp, header_append) st_t resp_header_append(h_t, const char*, size_t, const char*, size_t);
IMPORT(fastly_http_resp, header_value_get) st_t resp_header_value_get(h_t, const char*, size_t, char*, size_t, size_t*);
IMPORT(fastly_http_resp, send_downstream) st_t resp_send_downstream(h_t, h_t, uint32_t);
IMPORT(fastly_http_body, new) st_t body_new(h_t*);
IMPORT(fastly_http_body, read) st_t body_read(h_t, uint8_t*, size_t, size_t*);
IMPORT(fastly_http_body, write) st_t body_write(h_t, const void*, size_t, uint32_t, size_t*);
IMPORT(fastly_http_body, close) st_t body_close(h_t);
IMPORT(fastly_log, endpoint_get) st_t log_endpoint_get(const char*, size_t, h_t*);
IMPORT(fastly_log, write) st_t log_write(h_t, const char*, size_t, size_t*);
IMPORT(fastly_config_store, open) st_t cs_open(const char*, size_t, h_t*);
IMPORT(fastly_config_store, get) st_t cs_get(h_t, const char*, size_t, char*, size_t, size_t*);
IMPORT(fastly_secret_store, open) st_t ss_open(const char*, size_t, h_t*);
IMPORT(fastly_secret_store, get) st_t ss_get(h_t, const char*, size_t, h_t*);
IMPORT(fastly_secret_store, plaintext) st_t ss_plaintext(h_t, char*, size_t, size_t*);
IMPORT(fastly_kv_store, open) st_t kv_open(const char*, size_t, h_t*);
IMPORT(fastly_kv_store, lookup) st_t kv_lookup(h_t, const char*, size_t, uint32_t, void*, h_t*);
IMPORT(fastly_kv_store, lookup_wait_v2) st_t kv_lookup_wait_v2(h_t, h_t*, char*, size_t, size_t*, uint64_t*, uint32_t*);
IMPORT(fastly_kv_store, insert) st_t kv_insert(h_t, const char*, size_t, h_t, uint32_t, void*, h_t*);
IMPORT(fastly_kv_store, insert_wait) st_t kv_insert_wait(h_t, uint32_t*);
IMPORT(fastly_kv_store, delete) st_t kv_delete(h_t, const char*, size_t, uint32_t, void*, h_t*);
IMPORT(fastly_kv_store, delete_wait) st_t kv_delete_wait(h_t, uint32_t*);
IMPORT(fastly_kv_store, list) st_t kv_list(h_t, uint32_t, void*, h_t*);
IMPORT(fastly_kv_store, list_wait) st_t kv_list_wait(h_t, h_t*, uint32_t*);
IMPORT(fastly_geo, lookup) st_t geo_lookup(const char*, size_t, char*, size_t, size_t*);

struct kv_insert_config { uint32_t mode, unused; const char* metadata; uint32_t metadata_len, ttl; uint64_t igm; };
struct kv_list_config { uint32_t mode; const char* cursor; uint32_t cursor_len, limit; const char* prefix; uint32_t prefix_len; };

static char out[65536];
static size_t out_len;
static void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void say(const char* fmt, ...) {
  va_list ap; va_start(ap, fmt);
  int n = vsnprintf(out + out_len, sizeof out - out_len, fmt, ap);
  va_end(ap);
  if (n > 0) out_len += (size_t)n < sizeof out - out_len ? (size_t)n : sizeof out - out_len - 1;
}
static void say_bytes(const char* label, const char* p, size_t n) { say("%s=%.*s\n", label, (int)n, p); }

static h_t req, req_body;
static char uri[4096];
static size_t uri_len;
static const char* path;  // the path of the request, e.g. "/kv/add"

// The value of query parameter 'name' (no percent-decoding: tests use plain values).
static const char* param(const char* name, size_t* len) {
  const char* q = strchr(path, '?');
  size_t nl = strlen(name);
  while (q) {
    q++;
    const char* end = strchr(q, '&');
    size_t seg = end ? (size_t)(end - q) : strlen(q);
    if (seg > nl && strncmp(q, name, nl) == 0 && q[nl] == '=') { *len = seg - nl - 1; return q + nl + 1; }
    q = end;
  }
  *len = 0;
  return NULL;
}
static int is(const char* p) { size_t n = strlen(p); return strncmp(path, p, n) == 0 && (path[n] == 0 || path[n] == '?'); }
static int param_int(const char* name, int dflt) {
  size_t n; const char* v = param(name, &n);
  if (!v) return dflt;
  char tmp[32]; snprintf(tmp, sizeof tmp, "%.*s", (int)n, v);
  return atoi(tmp);
}

static void respond_status(uint32_t status, int streaming) {
  h_t resp, body; size_t nw;
  resp_new(&resp);
  resp_status_set(resp, status);
  resp_header_append(resp, "x-probe", 7, "1", 1);
  body_new(&body);
  body_write(body, out, out_len, 0, &nw);
  st_t st = resp_send_downstream(resp, body, streaming);
  if (st != 0) fprintf(stderr, "send_downstream=%d\n", st);
  if (streaming) {
    for (int i = 0; i < 3; i++) { char c[16]; int n = snprintf(c, sizeof c, "chunk%d\n", i); body_write(body, c, n, 0, &nw); }
    body_close(body);
  }
}
static void respond(void) { respond_status(200, 0); }

static void echo(void) {
  char buf[256]; size_t nw;
  st_t st = req_method_get(req, buf, sizeof buf, &nw);
  say("method_status=%d\n", st); say_bytes("method", buf, nw);
  say_bytes("uri", uri, uri_len);
  st = req_uri_get(req, buf, 4, &nw);
  say("uri_small_status=%d nwritten=%zu\n", st, nw);
  // Header names through a small buffer, so that the cursor has to continue.
  uint32_t cursor = 0;
  for (;;) {
    char names[24]; int64_t ending = -2;
    st = req_header_names_get(req, names, sizeof names, cursor, &ending, &nw);
    if (st != 0) { say("names_status=%d nwritten=%zu\n", st, nw); break; }
    for (size_t i = 0; i < nw;) {
      size_t l = strlen(names + i);
      char vals[512]; int64_t vend; size_t vnw;
      st_t vs = req_header_values_get(req, names + i, l, vals, sizeof vals, 0, &vend, &vnw);
      for (size_t j = 0; vs == 0 && j < vnw;) { size_t vl = strlen(vals + j); say("h:%.*s=%.*s\n", (int)l, names + i, (int)vl, vals + j); j += vl + 1; }
      i += l + 1;
    }
    if (ending < 0) break;
    cursor = (uint32_t)ending;
  }
  say("body=");
  uint8_t chunk[7];
  for (;;) { st = body_read(req_body, chunk, sizeof chunk, &nw); if (st != 0 || nw == 0) break; say("%.*s", (int)nw, chunk); }
  say("\n");
  respond();
}

static h_t open_kv(void) {
  size_t n; const char* s = param("store", &n);
  if (!s) { s = "calls"; n = 5; }
  h_t store = 0;
  st_t st = kv_open(s, n, &store);
  say("open=%d\n", st);
  return st == 0 ? store : 0xffffffff;
}

static void kv(void) {
  h_t store = open_kv();
  size_t kl, vl; const char* key = param("key", &kl); const char* val = param("val", &vl);
  if (is("/kv/get")) {
    h_t l, b = 0; char meta[64]; size_t mnw = 0; uint64_t gen = 0; uint32_t err = 0;
    st_t st = kv_lookup(store, key, kl, 0, NULL, &l);
    say("lookup=%d\n", st);
    st = kv_lookup_wait_v2(l, &b, meta, sizeof meta, &mnw, &gen, &err);
    say("wait=%d kv_error=%u\n", st, err);
    if (err == 1) {
      char v[256]; size_t nw; body_read(b, (uint8_t*)v, sizeof v, &nw);
      say("generation=%llu\n", (unsigned long long)gen); say_bytes("value", v, nw); say_bytes("metadata", meta, mnw);
    }
  } else if (is("/kv/put")) {
    struct kv_insert_config cfg = {0};
    uint32_t mask = 0;
    size_t ml; const char* meta = param("meta", &ml);
    cfg.mode = (uint32_t)param_int("mode", 0);
    if (meta) { mask |= 8; cfg.metadata = meta; cfg.metadata_len = ml; }
    if (param("ttl", &ml)) { mask |= 16; cfg.ttl = (uint32_t)param_int("ttl", 0); }
    if (param("gen", &ml)) { mask |= 32; cfg.igm = (uint64_t)param_int("gen", 0); }
    h_t b, ins; size_t nw; uint32_t err = 0;
    body_new(&b); body_write(b, val, vl, 0, &nw);
    st_t st = kv_insert(store, key, kl, b, mask, &cfg, &ins);
    say("insert=%d\n", st);
    st = kv_insert_wait(ins, &err);
    say("wait=%d kv_error=%u\n", st, err);
  } else if (is("/kv/delete")) {
    h_t d; uint32_t err = 0;
    st_t st = kv_delete(store, key, kl, 0, NULL, &d);
    st_t w = kv_delete_wait(d, &err);
    say("delete=%d wait=%d kv_error=%u\n", st, w, err);
  } else if (is("/kv/list")) {
    struct kv_list_config cfg = {0};
    uint32_t mask = 0;
    size_t pl, cl; const char* prefix = param("prefix", &pl); const char* cur = param("cursor", &cl);
    if (prefix) { mask |= 8; cfg.prefix = prefix; cfg.prefix_len = pl; }
    if (cur) { mask |= 2; cfg.cursor = cur; cfg.cursor_len = cl; }
    if (param("limit", &pl)) { mask |= 4; cfg.limit = (uint32_t)param_int("limit", 0); }
    h_t li, b = 0; uint32_t err = 0;
    st_t st = kv_list(store, mask, &cfg, &li);
    st_t w = kv_list_wait(li, &b, &err);
    say("list=%d wait=%d kv_error=%u\n", st, w, err);
    char v[4096]; size_t nw; body_read(b, (uint8_t*)v, sizeof v, &nw); say_bytes("json", v, nw);
  } else if (is("/kv/badkey")) {
    h_t l; st_t st = kv_lookup(store, "a#b", 3, 0, NULL, &l);
    say("lookup=%d\n", st);
  }
  respond();
}

static void config(void) {
  size_t sl, kl; const char* s = param("store", &sl); const char* k = param("key", &kl);
  int len = param_int("len", 64);
  h_t store = 0; char buf[256]; size_t nw = 0;
  st_t st = cs_open(s, sl, &store);
  say("open=%d\n", st);
  if (st == 0) {
    st = cs_get(store, k, kl, buf, (size_t)len, &nw);
    say("get=%d nwritten=%zu\n", st, nw);
    if (st == 0) say_bytes("value", buf, nw);
  }
  respond();
}

static void secret(void) {
  size_t sl, kl; const char* s = param("store", &sl); const char* k = param("key", &kl);
  int len = param_int("len", 64);
  h_t store = 0, sec = 0; char buf[256]; size_t nw = 0;
  st_t st = ss_open(s, sl, &store);
  say("open=%d\n", st);
  if (st == 0) {
    st = ss_get(store, k, kl, &sec);
    say("get=%d\n", st);
    if (st == 0) {
      st = ss_plaintext(sec, buf, (size_t)len, &nw);
      say("plaintext=%d nwritten=%zu\n", st, nw);
      if (st == 0) say_bytes("value", buf, nw);
    }
  }
  respond();
}

static void send(int after) {
  size_t bl, pl; const char* backend = param("backend", &bl); const char* p = param("path", &pl);
  h_t r, b, resp = 0, rb = 0; size_t nw;
  char target[512]; int tl = snprintf(target, sizeof target, "https://api.example.com%.*s", (int)pl, p);
  req_new(&r);
  req_method_set(r, "POST", 4);
  req_uri_set(r, target, (size_t)tl);
  req_header_append(r, "x-test", 6, "yes", 3);
  body_new(&b); body_write(b, "ping", 4, 0, &nw);
  if (after) respond();  // answer first, then talk to the backend
  st_t st = req_send(r, b, backend, bl, &resp, &rb);
  say("send=%d\n", st);
  if (st == 0) {
    uint16_t status = 0; resp_status_get(resp, &status);
    say("status=%u\n", status);
    char v[256]; st_t hs = resp_header_value_get(resp, "x-backend", 9, v, sizeof v, &nw);
    say("x_backend_status=%d\n", hs); if (hs == 0) say_bytes("x_backend", v, nw);
    hs = resp_header_value_get(resp, "x-absent", 8, v, sizeof v, &nw);
    say("x_absent_status=%d\n", hs);
    // Read the whole body; show its start, its length and a checksum.
    static uint8_t chunk[8192];
    char shown[256]; size_t shown_len = 0, total = 0; uint32_t sum = 0; st_t rs;
    for (;;) {
      rs = body_read(rb, chunk, sizeof chunk, &nw);
      if (rs != 0 || nw == 0) break;
      for (size_t i = 0; i < nw; i++) { sum += chunk[i]; if (shown_len < sizeof shown) shown[shown_len++] = (char)chunk[i]; }
      total += nw;
    }
    say("read=%d total=%zu sum=%u\n", rs, total, sum); say_bytes("body", shown, shown_len);
  }
  if (after) {
    h_t ep; log_endpoint_get("after", 5, &ep);
    log_write(ep, out, out_len, &nw);
  } else {
    respond();
  }
}

// Two requests in flight at once: the slow one first, then a fast one; select must pick the
// fast one, and the slow one is waited for after.
static void send_async(void) {
  size_t bl; const char* backend = param("backend", &bl);
  const char* paths[2] = {"/slow?ms=300", "/hook?async=1"};
  h_t pending[2]; size_t nw;
  for (int i = 0; i < 2; i++) {
    h_t r, b;
    req_new(&r);
    req_uri_set(r, paths[i], strlen(paths[i]));
    body_new(&b);
    say("async%d=%d\n", i, req_send_async(r, b, backend, bl, &pending[i]));
  }
  uint32_t done = 9; h_t resp = 0, body = 0;
  st_t st = req_pending_poll(pending[0], &done, &resp, &body);
  say("poll=%d done=%u\n", st, done);
  uint32_t index = 9;
  st = req_pending_select(pending, 2, &index, &resp, &body);
  char buf[64]; body_read(body, (uint8_t*)buf, sizeof buf, &nw);
  say("select=%d index=%u first=%.*s\n", st, index, (int)nw, buf);
  st = req_pending_wait(pending[0], &resp, &body);
  body_read(body, (uint8_t*)buf, sizeof buf, &nw);
  uint16_t status = 0; resp_status_get(resp, &status);
  say("wait=%d status=%u second=%.*s\n", st, status, (int)nw, buf);
  respond();
}

static void logs(void) {
  size_t nl, ml; const char* name = param("name", &nl); const char* msg = param("msg", &ml);
  h_t ep = 0; size_t nw = 0;
  st_t st = log_endpoint_get(name, nl, &ep);
  say("endpoint=%d\n", st);
  st = log_write(ep, msg, ml, &nw);
  say("write=%d nwritten=%zu\n", st, nw);
  char two[64]; int tl = snprintf(two, sizeof two, "second %.*s\n", (int)ml, msg);
  log_write(ep, two, (size_t)tl, &nw);
  h_t reserved; say("stdout_endpoint=%d\n", log_endpoint_get("stdout", 6, &reserved));
  printf("to stdout\n");
  fprintf(stderr, "to stderr\n");
  respond();
}

int main(void) {
  if (abi_init(1) != 0) return 3;
  if (req_body_downstream_get(&req, &req_body) != 0) return 4;
  if (req_uri_get(req, uri, sizeof uri - 1, &uri_len) != 0) return 5;
  uri[uri_len] = 0;
  path = strstr(uri, "://"); path = path ? strchr(path + 3, '/') : uri;
  if (!path) path = "/";
  if (is("/echo")) echo();
  else if (strncmp(path, "/kv/", 4) == 0) kv();
  else if (is("/config")) config();
  else if (is("/secret")) secret();
  else if (is("/send")) send(0);
  else if (is("/send-after")) send(1);
  else if (is("/send-async")) send_async();
  else if (is("/log")) logs();
  else if (is("/unsupported")) { char b[64]; size_t nw; say("geo=%d\n", geo_lookup("\x7f\0\0\1", 4, b, sizeof b, &nw)); respond(); }
  else if (is("/trap")) { __builtin_trap(); }
  else if (is("/count")) { static int runs; say("count=%d\n", ++runs); respond(); }
  else if (is("/spin")) { for (volatile int i = 0;; i++) {} }
  else if (is("/exit")) { return param_int("code", 0); }
  else if (is("/stream")) { say("head\n"); respond_status(201, 1); }
  else { say("unknown path\n"); respond_status(404, 0); }
  return 0;
}
`;

const BAD_C = String.raw`// Imports one function the witx does not define and one with the wrong signature: the host
// must still instantiate it, answer 'unsupported' from both, and record that they were called.
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#define IMPORT(m, n) __attribute__((import_module(#m), import_name(#n)))
IMPORT(fastly_abi, init) int32_t abi_init_wrong(uint32_t);
IMPORT(fastly_http_req, bogus_call) int32_t bogus_call(uint32_t);
IMPORT(fastly_http_resp, new) int32_t resp_new(uint32_t*);
IMPORT(fastly_http_body, new) int32_t body_new(uint32_t*);
IMPORT(fastly_http_body, write) int32_t body_write(uint32_t, const void*, size_t, uint32_t, size_t*);
IMPORT(fastly_http_resp, send_downstream) int32_t resp_send_downstream(uint32_t, uint32_t, uint32_t);
int main(void) {
  char out[64];
  int n = snprintf(out, sizeof out, "init=%d bogus=%d", abi_init_wrong(1), bogus_call(7));
  uint32_t resp, body; size_t nw;
  resp_new(&resp); body_new(&body); body_write(body, out, (size_t)n, 0, &nw);
  resp_send_downstream(resp, body, 0);
  return 0;
}
`;

// A loopback backend: records what reaches it; /base/slow answers late, /base/big answers 1 MB.
const seen = [];
let slowAnswered = false;
const BIG = Buffer.alloc(1 << 20, 0).map((_, i) => (i * 31 + 7) & 0xff);
const bigSum = BIG.reduce((s, b) => (s + b) >>> 0, 0);
let backend;
let backendUrl;
let closedPort;
let host;
let clockMs = 1_000_000;
const logged = [];

before(async () => {
  if (skip) return;
  build('probe', PROBE_C);
  build('bad', BAD_C);
  backend = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      if (req.url.startsWith('/base/slow')) {
        const ms = Number(new URL(req.url, 'http://x').searchParams.get('ms') ?? 500);
        setTimeout(() => { slowAnswered = true; res.end('slow pong'); }, ms);
      } else if (req.url.startsWith('/base/big')) {
        res.end(BIG);
      } else {
        res.setHeader('x-backend', `${req.method} ${req.url}`);
        res.end('pong');
      }
    });
  });
  await new Promise((r) => backend.listen(0, '127.0.0.1', r));
  backendUrl = `http://127.0.0.1:${backend.address().port}`;
  const probe = http.createServer();
  await new Promise((r) => probe.listen(0, '127.0.0.1', r));
  closedPort = probe.address().port;
  await new Promise((r) => probe.close(r));
  host = createFastlyHost({
    wasm: join(dir, 'probe.wasm'),
    workers: 3,
    clock: () => clockMs,
    backends: {
      origin: `${backendUrl}/base`,
      overridden: { url: backendUrl, overrideHost: 'override.example' },
      closed: `http://127.0.0.1:${closedPort}`,
    },
    kvStores: { calls: {}, listing: {} },
    log: (name, line) => logged.push([name, line]),
  });
});

after(async () => {
  await host?.close();
  backend?.close();
});

async function get(path, init, h = host) {
  const res = await h.fetch(new Request(`http://probe.test${path}`, init));
  const text = await res.text();
  return { res, text, f: facts(text) };
}

test('the witx reader lowers the ABI as wiggle does', { skip: witxSkip }, () => {
  const { functions } = loadWitx(witxDir);
  const i32 = (n) => Array(n).fill('i32');
  assert.deepEqual(functions.get('fastly_abi.init'), { module: 'fastly_abi', name: 'init', params: ['i64'], results: ['i32'] });
  assert.deepEqual(functions.get('fastly_http_req.body_downstream_get').params, i32(2));  // a tuple: two out-pointers
  assert.deepEqual(functions.get('fastly_http_req.send').params, i32(6));
  assert.deepEqual(functions.get('fastly_http_req.header_values_get').params, i32(8));
  assert.deepEqual(functions.get('fastly_http_body.read').params, i32(4));
  assert.deepEqual(functions.get('fastly_kv_store.lookup_wait_v2').params, i32(7));
  assert.deepEqual(functions.get('fastly_config_store.get').params, i32(6));  // from config-store.witx
  assert.deepEqual(functions.get('fastly_http_resp.status_set'), { module: 'fastly_http_resp', name: 'status_set', params: i32(2), results: ['i32'] });
  assert.equal(functions.has('fastly_http_req.no_such_call'), false);
});

test('every hostcall the host implements is in the witx, with its arity', { skip: witxSkip }, () => {
  const { functions } = loadWitx(witxDir);
  const calls = createHostcalls(null);
  const names = implementedHostcalls();
  assert.ok(names.length > 40);
  for (const name of names) {
    const [m, f] = name.split('.');
    assert.ok(functions.has(name), `${name} is not in the witx`);
    assert.equal(calls[m][f].length, functions.get(name).params.length, `${name} arity`);
  }
});

test('checkImports accepts the probe and flags a bogus import and a wrong signature', { skip }, () => {
  assert.deepEqual(checkImports(readFileSync(join(dir, 'probe.wasm')), witxDir), []);
  const problems = checkImports(readFileSync(join(dir, 'bad.wasm')), witxDir);
  assert.deepEqual(problems.map((p) => [`${p.module}.${p.name}`, p.code]).sort(), [
    ['fastly_abi.init', 'signature'],
    ['fastly_http_req.bogus_call', 'not-in-witx'],
  ]);
  assert.match(problems.find((p) => p.code === 'signature').message, /\(i32\) -> \(i32\) differs from the witx \(i64\) -> \(i32\)/);
});

test('checkImports flags a non-function import and an unknown module', { skip: witxSkip }, () => {
  const name = (s) => [s.length, ...Buffer.from(s)];
  const section = (id, body) => [id, body.length, ...body];
  const bytes = Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, [1, 0x60, 1, 0x7f, 1, 0x7f]),
    ...section(2, [2, ...name('fastly_http_req'), ...name('mem'), 2, 0, 1, ...name('env'), ...name('foo'), 0, 0]),
  ]);
  assert.ok(new WebAssembly.Module(bytes));
  assert.deepEqual(wasmImports(bytes), [
    { module: 'fastly_http_req', name: 'mem', kind: 'memory' },
    { module: 'env', name: 'foo', kind: 'function', params: ['i32'], results: ['i32'] },
  ]);
  assert.deepEqual(checkImports(bytes, witxDir).map((p) => p.code), ['not-a-function', 'unknown-module']);
});

test('a request reaches the program whole: method, URI, every header value, body', { skip }, async () => {
  const { response, done } = host.run({
    method: 'POST', url: 'http://probe.test/echo?x=1', body: 'hello body!',
    headers: [['X-Multi', '1'], ['x-multi', '2'], ['x-cursor-check', 'v'], ['content-type', 'text/plain']],
  });
  const res = await response;
  const f = facts(await res.text());
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-probe'), '1');
  assert.equal(f.method, 'POST');
  assert.equal(f.uri, 'http://probe.test/echo?x=1');
  assert.equal(f.uri_small_status, '4');  // buflen, with the size it needs
  assert.equal(f.nwritten, String('http://probe.test/echo?x=1'.length));
  assert.deepEqual(f['h:host'], ['probe.test']);
  assert.deepEqual(f['h:x-multi'], ['1', '2']);
  assert.deepEqual(f['h:x-cursor-check'], ['v']);
  assert.equal(f.body, 'hello body!');
  const stats = await done;
  assert.ok(stats.hostcalls['fastly_http_req.header_names_get'] >= 2, 'a 24-byte buffer takes the cursor more than once');
  assert.equal(stats.responded, true);
  assert.equal(stats.exitCode, 0);
  assert.equal(stats.trap, null);
  assert.ok(stats.instantiateMs >= 0 && stats.totalMs >= stats.instantiateMs);

  // A header name longer than the buffer: buflen, and the size it needs.
  const longName = `x-${'l'.repeat(28)}`;
  const long = await get('/echo', { headers: { [longName]: '1' } });
  assert.equal(long.f.names_status, '4');
  assert.equal(long.f.nwritten, String(longName.length + 1));
});

test('the HTTP server turns each request into a run, streamed responses included', { skip }, async () => {
  const server = await host.listen({ host: '127.0.0.1', port: 0 });
  try {
    const res = await fetch(`${server.url}/echo`, { method: 'POST', body: 'via http', headers: { 'x-multi': 'a' } });
    const f = facts(await res.text());
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-probe'), '1');
    assert.equal(f.uri, `${server.url}/echo`);
    assert.deepEqual(f['h:x-multi'], ['a']);
    assert.equal(f.body, 'via http');
    const streamed = await fetch(`${server.url}/stream`);
    assert.equal(streamed.status, 201);
    assert.equal(await streamed.text(), 'head\nchunk0\nchunk1\nchunk2\n');
  } finally {
    await server.close();
  }
  const direct = await get('/stream');
  assert.equal(direct.res.status, 201);
  assert.equal(direct.text, 'head\nchunk0\nchunk1\nchunk2\n');
});

test('KV: add, generations, if_generation_match, delete', { skip }, async () => {
  assert.equal((await get('/kv/put?key=call-1&val=first&mode=1')).f.kv_error, '1');
  assert.equal((await get('/kv/put?key=call-1&val=second&mode=1')).f.kv_error, '4', 'add on an existing key');
  let f = (await get('/kv/get?key=call-1')).f;
  assert.deepEqual([f.wait, f.kv_error, f.value, f.generation], ['0', '1', 'first', '1']);
  assert.equal((await get('/kv/put?key=call-1&val=third&gen=7')).f.kv_error, '4', 'a generation that does not match');
  assert.equal(host.kv.get('calls', 'call-1').text, 'first');
  assert.equal((await get('/kv/put?key=call-1&val=third&gen=1&meta=m1')).f.kv_error, '1');
  assert.equal(host.kv.generation('calls', 'call-1'), 2);
  f = (await get('/kv/get?key=call-1')).f;
  assert.deepEqual([f.value, f.generation, f.metadata], ['third', '2', 'm1']);
  f = (await get('/kv/get?key=absent')).f;
  assert.deepEqual([f.lookup, f.wait, f.kv_error], ['0', '0', '3'], 'a missing key: ok, kv_error not_found');
  assert.equal((await get('/kv/put?key=absent&val=x&gen=1')).f.kv_error, '4');
  assert.equal((await get('/kv/delete?key=call-1')).f.kv_error, '1');
  assert.equal((await get('/kv/delete?key=call-1')).f.kv_error, '3');
  assert.equal(host.kv.get('calls', 'call-1'), null);
  assert.equal((await get('/kv/put?key=call-1&val=again&mode=1')).f.kv_error, '1');
  assert.equal(host.kv.generation('calls', 'call-1'), 3, 'the generation goes on after a delete');
  assert.equal((await get('/kv/badkey')).f.lookup, '2', 'a key with # is inval');
  assert.equal((await get('/kv/get?store=nope&key=a')).f.open, '2', 'an unknown store is inval');
  // The test API writes what the program reads.
  host.kv.put('calls', 'from-js', 'js value', { metadata: 'js meta' });
  f = (await get('/kv/get?key=from-js')).f;
  assert.deepEqual([f.value, f.metadata, f.generation], ['js value', 'js meta', '1']);
});

test('KV: concurrent adds of one key from concurrent instances: exactly one wins', { skip }, async () => {
  const results = await Promise.all(Array.from({ length: 6 }, (_, i) => get(`/kv/put?key=race&val=v${i}&mode=1`)));
  assert.deepEqual(results.map((r) => r.f.kv_error).sort(), ['1', '4', '4', '4', '4', '4']);
  const winner = results.find((r) => r.f.kv_error === '1');
  assert.ok(winner);
  assert.match(host.kv.get('calls', 'race').text, /^v[0-5]$/);
  assert.equal(host.kv.generation('calls', 'race'), 1);
});

test('KV: time to live on the host clock', { skip }, async () => {
  assert.equal((await get('/kv/put?key=short&val=v&ttl=10')).f.kv_error, '1');
  assert.equal((await get('/kv/get?key=short')).f.kv_error, '1');
  clockMs += 9_000;
  assert.equal((await get('/kv/get?key=short')).f.kv_error, '1');
  clockMs += 2_000;
  assert.equal((await get('/kv/get?key=short')).f.kv_error, '3', 'expired keys are absent');
  assert.equal(host.kv.get('calls', 'short'), null);
  assert.ok(!host.kv.list('calls').data.includes('short'));
  assert.equal((await get('/kv/put?key=short&val=w&mode=1')).f.kv_error, '1', 'an expired key can be added again');
});

test('KV: list in ascending byte order, with prefix, limit and cursor', { skip }, async () => {
  for (const k of ['b', 'a', 'p/2', 'p/10', 'p/1', 'z', 'é']) host.kv.put('listing', k, 'v');
  let f = (await get('/kv/list?store=listing')).f;
  assert.equal(f.kv_error, '1');
  assert.deepEqual(JSON.parse(f.json), { data: ['a', 'b', 'p/1', 'p/10', 'p/2', 'z', 'é'], meta: { limit: 1000 } });
  f = (await get('/kv/list?store=listing&prefix=p/&limit=2')).f;
  const page = JSON.parse(f.json);
  assert.deepEqual(page.data, ['p/1', 'p/10']);
  assert.equal(page.meta.limit, 2);
  assert.equal(typeof page.meta.next_cursor, 'string');
  f = (await get(`/kv/list?store=listing&prefix=p/&limit=2&cursor=${page.meta.next_cursor}`)).f;
  assert.deepEqual(JSON.parse(f.json), { data: ['p/2'], meta: { limit: 2 } });
  assert.deepEqual(host.kv.list('listing', { prefix: 'p/' }).data, ['p/1', 'p/10', 'p/2']);
});

test('config, secret and KV stores from fastly.toml: values, none, badf and buflen', { skip }, async () => {
  writeFileSync(join(dir, 'modes.json'), JSON.stringify({ mode: 'strict' }));
  writeFileSync(join(dir, 'secret.txt'), 'from a file');
  writeFileSync(join(dir, 'fastly.toml'), `
manifest_version = 3
name = "probe"
[local_server.backends.origin]
url = "${backendUrl}/base"
[local_server.config_stores.settings]
format = "inline-toml"
[local_server.config_stores.settings.contents]
greeting = "hello from toml"
[local_server.config_stores.fromjson]
format = "json"
file = "modes.json"
[[local_server.secret_stores.creds]]
key = "token"
data = "tok-123"
[[local_server.secret_stores.creds]]
key = "fromfile"
file = "secret.txt"
[[local_server.kv_stores.seeded]]
key = "k1"
data = "v1"
metadata = "m1"
`);
  const h = createFastlyHost({ wasm: join(dir, 'probe.wasm'), manifest: join(dir, 'fastly.toml'), workers: 1 });
  try {
    const g = async (path) => (await get(path, undefined, h)).f;
    let f = await g('/config?store=settings&key=greeting');
    assert.deepEqual([f.open, f.get, f.value], ['0', '0', 'hello from toml']);
    f = await g('/config?store=settings&key=greeting&len=3');
    assert.deepEqual([f.get, f.nwritten], ['4', '15'], 'buflen with the size needed');
    assert.equal((await g('/config?store=settings&key=absent')).get, '10', 'an absent key is none');
    assert.equal((await g('/config?store=fromjson&key=mode')).value, 'strict');
    assert.equal((await g('/config?store=nosuch&key=a')).open, '3', 'an unknown config store is badf');
    f = await g('/secret?store=creds&key=token');
    assert.deepEqual([f.open, f.get, f.plaintext, f.value], ['0', '0', '0', 'tok-123']);
    f = await g('/secret?store=creds&key=token&len=2');
    assert.deepEqual([f.plaintext, f.nwritten], ['4', '7']);
    assert.equal((await g('/secret?store=creds&key=fromfile')).value, 'from a file');
    assert.equal((await g('/secret?store=creds&key=absent')).get, '10');
    assert.equal((await g('/secret?store=nosuch&key=a')).open, '10');
    f = await g('/kv/get?store=seeded&key=k1');
    assert.deepEqual([f.value, f.metadata], ['v1', 'm1']);
    f = await g('/send?backend=origin&path=/hook');
    assert.equal(f.send, '0');
    assert.equal(seen.at(-1).url, '/base/hook');
  } finally {
    await h.close();
  }
});

test('a send goes to the backend URL with the request path and query; its answer comes back', { skip }, async () => {
  let f = (await get('/send?backend=origin&path=/hook?q=1')).f;
  assert.deepEqual([f.send, f.status, f.x_backend_status, f.x_backend, f.x_absent_status, f.read, f.body],
    ['0', '200', '0', 'POST /base/hook?q=1', '10', '0', 'pong']);
  const r = seen.at(-1);
  assert.equal(r.method, 'POST');
  assert.equal(r.url, '/base/hook?q=1');
  assert.equal(r.headers.host, 'api.example.com', 'the Host is the request URI authority');
  assert.equal(r.headers['x-test'], 'yes');
  assert.equal(r.body, 'ping');
  f = (await get('/send?backend=overridden&path=/x')).f;
  assert.equal(f.send, '0');
  assert.equal(seen.at(-1).url, '/x');
  assert.equal(seen.at(-1).headers.host, 'override.example');
});

test('a send to a closed port is error; to an unknown backend, inval', { skip }, async () => {
  const before = seen.length;
  assert.equal((await get('/send?backend=closed&path=/')).f.send, '1');
  assert.equal((await get('/send?backend=nonexistent&path=/')).f.send, '2');
  assert.equal(seen.length, before);
  assert.ok(host.logs['(host)'].some((l) => l.includes('ECONNREFUSED')));
  assert.ok(host.logs['(host)'].some((l) => l.includes('"nonexistent" does not exist')));
});

test('a backend body larger than the shared buffer arrives whole', { skip }, async () => {
  const h = createFastlyHost({ wasm: join(dir, 'probe.wasm'), workers: 1, rpcBufferBytes: 16 * 1024, backends: { origin: `${backendUrl}/base` } });
  try {
    const f = (await get('/send?backend=origin&path=/big', undefined, h)).f;
    assert.deepEqual([f.send, f.read, f.total, f.sum], ['0', '0', String(BIG.length), String(bigSum)]);
  } finally {
    await h.close();
  }
});

test('send_downstream answers at once; the program goes on; idle() waits for it', { skip }, async () => {
  slowAnswered = false;
  const res = await host.fetch(new Request('http://probe.test/send-after?backend=origin&path=/slow'));
  assert.equal(res.status, 200);
  assert.equal(slowAnswered, false, 'the response came before the backend answered');
  await res.text();
  await host.idle();
  assert.equal(slowAnswered, true);
  const f = facts(host.logs.after.at(-1));
  assert.deepEqual([f.send, f.status, f.body], ['0', '200', 'slow pong']);
});

test('requests in flight at once: send_async, poll, select, wait', { skip }, async () => {
  const f = (await get('/send-async?backend=origin')).f;
  assert.deepEqual([f.async0, f.async1], ['0', '0']);
  assert.deepEqual([f.poll, f.done], ['0', '0'], 'the slow request is not done yet');
  assert.deepEqual([f.select, f.index, f.first], ['0', '1', 'pong'], 'select returns the fast one');
  assert.deepEqual([f.wait, f.status, f.second], ['0', '200', 'slow']);
  assert.deepEqual(seen.slice(-2).map((r) => r.url).sort(), ['/base/hook?async=1', '/base/slow?ms=300']);
});

test('log endpoints, stdout and stderr are collected by name', { skip }, async () => {
  const f = (await get('/log?name=ep1&msg=hello')).f;
  assert.deepEqual([f.endpoint, f.write, f.nwritten], ['0', '0', '5']);
  assert.equal(f.stdout_endpoint, '2', 'stdout is a reserved endpoint name');
  await host.idle();
  assert.deepEqual(host.logs.ep1, ['hello', 'second hello']);
  assert.ok(host.logs.stdout.includes('to stdout'));
  assert.ok(host.logs.stderr.includes('to stderr'));
  assert.ok(logged.some(([n, l]) => n === 'ep1' && l === 'hello'));
});

test('an unsupported hostcall answers unsupported and is recorded', { skip }, async () => {
  const { response, done } = host.run(new Request('http://probe.test/unsupported'));
  assert.equal(facts(await (await response).text()).geo, '5');
  const stats = await done;
  assert.deepEqual(stats.unsupported, ['fastly_geo.lookup']);
  assert.equal(stats.hostcalls['fastly_geo.lookup'], 1);
  assert.ok(host.logs['(host)'].some((l) => l.includes(`run ${stats.id}: unsupported hostcall fastly_geo.lookup`)));
  assert.equal(host.imports.find((i) => i.name === 'lookup' && i.module === 'fastly_geo').link, 'stub');
});

test('a program importing outside the witx still runs; those imports answer unsupported', { skip }, async () => {
  const h = createFastlyHost({ wasm: join(dir, 'bad.wasm'), workers: 1 });
  try {
    assert.deepEqual(h.importProblems.map((p) => p.code).sort(), ['not-in-witx', 'signature']);
    const res = await h.fetch(new Request('http://probe.test/'));
    assert.equal(await res.text(), 'init=5 bogus=5');
    await h.idle();
    assert.deepEqual(h.stats[0].unsupported, ['fastly_abi.init', 'fastly_http_req.bogus_call']);
  } finally {
    await h.close();
  }
});

test('a trap answers 500 and is recorded; so does a non-zero exit; a clean exit without an answer is an empty 200', { skip }, async () => {
  let { response, done } = host.run(new Request('http://probe.test/trap'));
  let res = await response;
  assert.equal(res.status, 500);
  assert.match(await res.text(), /unreachable/);
  let stats = await done;
  assert.match(stats.trap, /wasm trap: unreachable/);
  assert.deepEqual([stats.exitCode, stats.responded, stats.status], [null, false, 500]);
  assert.ok(host.logs['(host)'].some((l) => l.includes(`run ${stats.id}`) && l.includes('unreachable')));

  ({ response, done } = host.run(new Request('http://probe.test/exit?code=2')));
  res = await response;
  assert.equal(res.status, 500);
  stats = await done;
  assert.deepEqual([stats.exitCode, stats.trap], [2, null]);

  ({ response, done } = host.run(new Request('http://probe.test/exit?code=0')));
  res = await response;
  assert.equal(res.status, 200);
  assert.equal(await res.text(), '');
  stats = await done;
  assert.deepEqual([stats.exitCode, stats.responded], [0, false]);
});

test('every request gets a fresh instance', { skip }, async () => {
  for (let i = 0; i < 4; i++) assert.equal((await get('/count')).f.count, '1');
});

test('a run past its time limit is stopped with 500 and the host goes on', { skip }, async () => {
  const h = createFastlyHost({ wasm: join(dir, 'probe.wasm'), workers: 1, timeoutMs: 300 });
  try {
    const { response, done } = h.run(new Request('http://probe.test/spin'));
    assert.equal((await response).status, 500);
    assert.match((await done).trap, /exceeded 300 ms/);
    assert.equal((await get('/count', undefined, h)).f.count, '1');
  } finally {
    await h.close();
  }
});
