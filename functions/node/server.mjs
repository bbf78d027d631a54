// The callhook edge function for Node: an HTTP server on node:http around the npm package.
// Configuration comes from the environment (see the README, "The Node function").
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { extname, isAbsolute, join, relative, resolve } from 'node:path';
import { hostname } from 'node:os';
import { createEngine, init, outcomeLogLine } from '../../bindings/js/index.js';
import { memoryStore } from '../../bindings/js/stores.js';
import { createDeliveryQueue } from '../../bindings/js/delivery.js';
import { createFetchHandler } from '../../bindings/js/fetch-handler.js';
import { Metrics } from './metrics.mjs';
import { createAdmin } from './admin.mjs';

const env = process.env;
const root = new URL('../../', import.meta.url).pathname;
const settings = {
  host: env.HOST ?? '127.0.0.1',
  port: Number(env.PORT ?? 8787),
  config: env.CALLHOOK_CONFIG ?? join(root, 'examples/configs/example.json'),
  redisUrl: env.CALLHOOK_REDIS_URL,
  // sqlite (the durable default), redis (several instances; the default with a Redis URL) or
  // memory (nothing survives a restart: tests and throwaway runs).
  store: env.CALLHOOK_STORE ?? (env.CALLHOOK_REDIS_URL ? 'redis' : 'sqlite'),
  dataDir: resolve(env.CALLHOOK_DATA_DIR ?? 'callhook-data'),
  redisPrefix: env.CALLHOOK_REDIS_PREFIX ?? 'callhook:',
  // A delivery held by an instance that stopped answering is taken over after this.
  claimIdleMs: 1000 * Number(env.CALLHOOK_REDIS_CLAIM_IDLE_SECONDS ?? 30),
  sweepSeconds: Number(env.CALLHOOK_SWEEP_SECONDS ?? 30),
  maxBodyBytes: Number(env.CALLHOOK_MAX_REQUEST_BYTES ?? 1024 * 1024),
  // A client that has not sent its headers, or its whole request, by then gets a 408.
  headersTimeoutMs: 1000 * Number(env.CALLHOOK_HEADERS_TIMEOUT_SECONDS ?? 5),
  requestTimeoutMs: 1000 * Number(env.CALLHOOK_REQUEST_TIMEOUT_SECONDS ?? 10),
  maxConnections: Number(env.CALLHOOK_MAX_CONNECTIONS ?? 512),
  // Past these many pending deliveries, new webhooks are answered 503 outbox-full.
  maxPending: Number(env.CALLHOOK_MAX_PENDING ?? 10000),
  maxPendingPerDestination: Number(env.CALLHOOK_MAX_PENDING_PER_DESTINATION ?? 5000),
  deliveryConcurrency: Number(env.CALLHOOK_DELIVERY_CONCURRENCY ?? 16),
  destinationConcurrency: Number(env.CALLHOOK_DESTINATION_CONCURRENCY ?? 4),
  playground: env.CALLHOOK_PLAYGROUND ?? join(root, 'examples/playground'),
  instance: env.CALLHOOK_INSTANCE ?? hostname(),
  // Without it the admin API does not exist (/admin is not-found).
  adminToken: env.CALLHOOK_ADMIN_TOKEN ?? '',
};

// Logs are JSON lines; the core takes secret values and caller numbers out of every one.
let redact = (text) => text; // replaced by the engine's as soon as it exists
function log(entry) {
  push(redact(JSON.stringify({ time: isoNow(), ...entry })));
}
// The core's own line (an outcome's: redacted by the core already), with the time put first.
function logCoreLine(line) {
  push(`{"time":"${isoNow()}",${line.slice(1)}`);
}
// The time as lines show it, written once per millisecond however many lines that one has.
let isoAt = -1;
let iso = '';
function isoNow() {
  const ms = Date.now();
  if (ms !== isoAt) {
    isoAt = ms;
    iso = new Date(ms).toISOString();
  }
  return iso;
}
function push(line) {
  pendingLog.push(line);
  if (pendingLog.length === 1) setImmediate(flushLog);
}
// Lines are written in batches, once per turn of the event loop: one write per request costs
// more than the rest of the request's logging.
const pendingLog = [];
function flushLog() {
  if (pendingLog.length === 0) return;
  process.stdout.write(pendingLog.join('\n') + '\n');
  pendingLog.length = 0;
}

// Every answer this server gives of its own (404, 413, 503, ...) is the core's: its front door
// (README, "The engine") routes the request and writes the refusal. It needs no config.
const runtime = await init();

/** Sends a {status, headers, body} of the core's (headers as pairs or an object), as
 * toResponse would: a missing response is a bodiless 500, 204/205/304 carry no body. */
function send(res, response) {
  const status = Number(response?.status ?? 500);
  const given = response?.headers ?? [];
  const headers = {};
  for (const [name, value] of Array.isArray(given) ? given : Object.entries(given)) {
    const key = name.toLowerCase();
    headers[key] = key in headers ? `${headers[key]}, ${value}` : String(value);
  }
  const body = status === 204 || status === 205 || status === 304 ? '' : response?.body ?? '';
  if (!(status === 204 || status === 304)) headers['content-length'] = Buffer.byteLength(body);
  res.writeHead(status, headers);
  res.end(body);
}

function problem(res, kind, detail = '') {
  send(res, runtime.refusal(kind, detail));
}

/** The core's refusal as a raw HTTP/1.1 response, for a socket node:http gave up on. */
function rawResponse(response) {
  const lines = [`HTTP/1.1 ${response.status} ${http.STATUS_CODES[response.status] ?? ''}`];
  for (const [name, value] of response.headers) if (name.toLowerCase() !== 'connection') lines.push(`${name}: ${value}`);
  lines.push(`Content-Length: ${Buffer.byteLength(response.body)}`, 'Connection: close', '', '');
  return lines.join('\r\n') + response.body;
}

async function main() {
  const configText = await readFile(settings.config, 'utf8');
  const engine = await createEngine(configText, { secrets: (name) => env[name] });
  redact = (text) => engine.redact(text);
  const metrics = new Metrics();

  const { store, redis } = await openStore();
  // When each attempt happens, and what an answer means, is the engine's decision.
  const queue = createDeliveryQueue({
    engine,
    store,
    concurrency: settings.deliveryConcurrency,
    perDestination: settings.destinationConcurrency,
    limits: { total: settings.maxPending, perDestination: settings.maxPendingPerDestination },
    onEvent: (event) => {
      metrics.delivery(event);
      log(event.log);
    },
  });
  const handle = createFetchHandler({
    engine,
    store,
    queue,
    onOutcome: (outcome) => {
      metrics.outcome(outcome);
      const line = outcomeLogLine(outcome);
      if (line !== null && line.length > 2 && line[0] === '{') logCoreLine(line);
      else log(line === null ? { level: 'info', msg: 'outcome', status: outcome.response.status } : JSON.parse(line));
    },
    onError: (error, context) => log({ level: 'error', msg: context?.phase ?? 'error', error: String(error?.message ?? error) }),
  });

  const admin = createAdmin({ runtime, engine, store, queue, token: settings.adminToken, log });

  let inFlight = 0;
  let closing = false;
  const server = http.createServer({
    headersTimeout: settings.headersTimeoutMs,
    requestTimeout: settings.requestTimeoutMs,
    // node:http looks for overdue clients this often (30 s by default, far past the timeouts).
    connectionsCheckingInterval: Math.max(100, Math.min(1000, settings.headersTimeoutMs / 2)),
  }, async (req, res) => {
    const started = process.hrtime.bigint();
    inFlight++;
    try {
      await route(req, res);
    } catch (error) {
      log({ level: 'error', msg: 'unhandled', error: String(error?.stack ?? error) });
      if (!res.headersSent) problem(res, 'internal-error');
      else res.destroy();
    } finally {
      inFlight--;
      metrics.latency(Number(process.hrtime.bigint() - started) / 1e9);
    }
  });

  // Past the connection limit a new connection gets the core's overloaded answer and is closed.
  let connections = 0;
  server.on('connection', (socket) => {
    connections += 1;
    socket.once('close', () => {
      connections -= 1;
    });
    if (connections > settings.maxConnections) {
      metrics.rejected('overloaded');
      socket.end(rawResponse(runtime.refusal('overloaded')));
      socket.destroySoon?.();
    }
  });

  function withinSecond(promise) {
    const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), 1000).unref());
    return Promise.race([promise, timeout]);
  }

  // Ok only while a webhook can be accepted: the store answers within a second.
  async function health() {
    if (closing) return runtime.health('closing');
    try {
      const counts = await withinSecond((async () => {
        if (!(await store.ping())) throw new Error('the store does not answer');
        return store.counts();
      })());
      return runtime.health('ok', { pending: counts.pending, deadLetters: counts.dead });
    } catch {
      return runtime.health('unavailable');
    }
  }

  // node:http's own refusals (headers too large, a slow client, a request it cannot parse) are the
  // core's documents too, written straight to the socket.
  server.on('clientError', (error, socket) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const kind = error.code === 'HPE_HEADER_OVERFLOW' ? 'headers-too-large'
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request-timeout' : 'bad-request';
    metrics.rejected(kind.replace(/-/g, '_'));
    socket.end(rawResponse(runtime.refusal(kind)));
  });

  // The core's routing of a method, target and Host, with the URL a webhook is handed to the
  // engine with (as a Request normalizes it): the same for the same three, and a server sees
  // few of them, so each is worked out once (a bounded memo, emptied when full).
  const doors = new Map();
  function frontDoor(method, target, host) {
    const key = `${method}\0${host ?? '\u0001'}\0${target}`;
    let door = doors.get(key);
    if (door === undefined) {
      door = runtime.route(method, target, host);
      if (door.endpoint === 'hook') {
        const url = new URL(target.startsWith('/') ? `http://${host ?? 'localhost'}${target}` : target).href;
        door = { ...door, url };
      }
      if (doors.size >= 1024) doors.clear();
      doors.set(key, door);
    }
    return door;
  }

  async function route(req, res) {
    const host = req.headers.host ?? null;
    const door = frontDoor(req.method, req.url ?? '', host);
    if (door.endpoint === 'healthz') {
      send(res, await health());
      return;
    }
    if (door.endpoint === 'metrics') {
      // The outbox gauges are read from the store now; a store that does not answer within a
      // second leaves them out of this scrape.
      const counts = await withinSecond(store.counts()).catch(() => null);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(metrics.render(counts));
      return;
    }
    if (door.endpoint === 'admin') {
      const response = await admin.handle({
        method: req.method, path: door.path, target: req.url ?? '', authorization: req.headers.authorization,
        readBody: () => readBody(req, res),
      });
      if (response) send(res, response);
      return;
    }
    if (door.endpoint === 'hook') {
      metrics.received();
      if (closing) return problem(res, 'shutting-down');
      // A declared length past the cap is refused before a byte of the body is read.
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > settings.maxBodyBytes) {
        metrics.rejected('body_too_large');
        return problem(res, 'body-too-large', `Requests are limited to ${settings.maxBodyBytes} bytes.`);
      }
      const body = await readBody(req, res);
      if (body === null) return;  // already answered (too large)
      // Handed to the engine as the fetch handler's readRequest would give it (the URL as a
      // Request normalizes it, header names lowercased and sorted), without building a Request
      // and a Response around it: those cost more than the rest of the shell's work.
      const headers = [];
      for (const [name, value] of Object.entries(req.headers)) {
        if (Array.isArray(value)) for (const v of value) headers.push([name, v]);
        else headers.push([name, value]);
      }
      headers.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      const empty = req.method === 'GET' || req.method === 'HEAD';
      send(res, await handle.handleRead({ method: req.method, url: door.url, headers, body: empty ? new Uint8Array(0) : body }));
      return;
    }
    if (door.endpoint === 'static' && existsSync(settings.playground)) {
      if (await serveStatic(door.path, res)) return;
    }
    send(res, door.response ?? runtime.refusal('not-found'));
  }

  // Reads the body, refusing at once past the server's cap rather than buffering it.
  function readBody(req, res) {
    return new Promise((resolve) => {
      const chunks = [];
      let size = 0;
      req.on('data', (chunk) => {
        size += chunk.length;
        if (size > settings.maxBodyBytes) {
          metrics.rejected('body_too_large');
          problem(res, 'body-too-large', `Requests are limited to ${settings.maxBodyBytes} bytes.`);
          req.destroy();
          resolve(null);
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', () => resolve(null));
    });
  }

  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
    '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml' };
  const playground = resolve(settings.playground);
  async function serveStatic(path, res) {
    const file = join(playground, path === '/' ? 'index.html' : path);
    // Only files inside the playground folder: not a sibling whose name merely starts the same.
    const inside = relative(playground, file);
    if (inside === '' || inside === '..' || inside.startsWith('../') || isAbsolute(inside)) return false;
    try {
      const data = await readFile(file);
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
      res.end(data);
      return true;
    } catch {
      return false;
    }
  }

  // Overdue calls kept across a restart are swept at once, then every sweepSeconds.
  const sweep = () => handle.sweep(Date.now() / 1000).catch((error) => log({ level: 'error', msg: 'sweep', error: String(error) }));
  sweep();
  const sweeper = setInterval(sweep, settings.sweepSeconds * 1000);
  sweeper.unref();

  server.listen(settings.port, settings.host, () => {
    const { port } = server.address();
    const url = `http://${settings.host}:${port}/hook`;
    log({ level: 'info', msg: 'listening', url, config: settings.config, store: settings.store,
      ...(settings.store === 'sqlite' ? { data_dir: settings.dataDir } : {}) });
    if (process.stdout.isTTY || env.CALLHOOK_BANNER) {
      process.stderr.write(`\ncallhook is listening: post webhooks to ${url}\n`);
    }
  });

  // Graceful shutdown: stop accepting, finish in-flight requests and sends; the rest stays in
  // the store for the next start (or, with Redis, for the other instances).
  async function shutdown(signal) {
    if (closing) return;
    closing = true;
    log({ level: 'info', msg: 'shutting_down', signal });
    clearInterval(sweeper);
    await new Promise((resolve) => server.close(resolve));
    while (inFlight > 0) await new Promise((r) => setTimeout(r, 10));
    await queue.close();
    await store.close();
    if (redis) await redis.quit();
    log({ level: 'info', msg: 'stopped' });
    flushLog();
    process.exit(0);
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

// The store named by CALLHOOK_STORE: records, the outbox and dead letters together.
async function openStore() {
  if (settings.store === 'memory') return { store: memoryStore() };
  if (settings.store === 'sqlite') {
    const { sqliteStore } = await import('../../bindings/js/sqlite-store.js');
    return { store: await sqliteStore({ dir: settings.dataDir }) };
  }
  if (settings.store === 'redis') {
    if (!settings.redisUrl) throw new Error('CALLHOOK_STORE=redis needs CALLHOOK_REDIS_URL');
    const { createClient } = await import('redis');
    // No offline queue: while Redis is unreachable a command fails at once, so a webhook is
    // answered 503 (the sender retries) instead of waiting on a reconnect.
    const redis = createClient({ url: settings.redisUrl, disableOfflineQueue: true });
    redis.on('error', (error) => log({ level: 'error', msg: 'redis', error: String(error) }));
    await redis.connect();
    const { redisStore } = await import('../../bindings/js/redis-store.js');
    return { store: redisStore(redis, {
      prefix: settings.redisPrefix,
      consumer: `${settings.instance}:${process.pid}`,
      claimIdleMs: settings.claimIdleMs,
      heartbeatMs: Math.max(100, Math.floor(settings.claimIdleMs / 3)),
    }), redis };
  }
  throw new Error(`CALLHOOK_STORE must be sqlite, redis or memory, not ${settings.store}`);
}

main().catch((error) => {
  log({ level: 'error', msg: 'start_failed', error: error?.errors ? error.errors : String(error?.message ?? error) });
  flushLog();
  process.exit(1);
});
