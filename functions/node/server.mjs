// The callhook edge function for Node: an HTTP server on node:http around the npm package.
// Configuration comes from the environment (see the README, "The Node function").
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { extname, join, normalize as normalizePath } from 'node:path';
import { hostname } from 'node:os';
import { createEngine } from '../../bindings/js/index.js';
import { memoryStore, redisStore } from '../../bindings/js/stores.js';
import { createDeliveryQueue, jsonlJournal, redisJournal } from '../../bindings/js/delivery.js';
import { createFetchHandler } from '../../bindings/js/fetch-handler.js';
import { Metrics } from './metrics.mjs';

const env = process.env;
const root = new URL('../../', import.meta.url).pathname;
const settings = {
  host: env.HOST ?? '127.0.0.1',
  port: Number(env.PORT ?? 8787),
  config: env.CALLHOOK_CONFIG ?? join(root, 'examples/configs/example.json'),
  redisUrl: env.CALLHOOK_REDIS_URL,
  journal: env.CALLHOOK_JOURNAL ?? join(process.cwd(), 'callhook-deliveries.jsonl'),
  sweepSeconds: Number(env.CALLHOOK_SWEEP_SECONDS ?? 30),
  maxBodyBytes: Number(env.CALLHOOK_MAX_REQUEST_BYTES ?? 1024 * 1024),
  playground: env.CALLHOOK_PLAYGROUND ?? join(root, 'examples/playground'),
  instance: env.CALLHOOK_INSTANCE ?? hostname(),
};

// Logs are JSON lines; caller numbers and URL tokens never reach them.
function log(entry) {
  const line = JSON.stringify({ time: new Date().toISOString(), ...entry }, (key, value) =>
    typeof value === 'string' ? redact(value) : value);
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
function redact(text) {
  let out = text.replace(/\+\d{7,15}\b/g, '[number]');
  for (const secret of secretValues) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  return out;
}
const secretValues = [];

function problem(res, status, title, detail, extra = {}) {
  const body = JSON.stringify({ type: `urn:callhook:problem:${title.toLowerCase().replace(/[^a-z]+/g, '-')}`, title, status, detail, ...extra });
  res.writeHead(status, { 'content-type': 'application/problem+json', ...(extra.headers ?? {}) });
  res.end(body);
}

async function main() {
  const configText = await readFile(settings.config, 'utf8');
  // Secrets are the environment's; remember those the config uses so logs can redact them.
  for (const [, name] of configText.matchAll(/\$\{([A-Z_][A-Z0-9_]*)\}/g)) {
    if (env[name] !== undefined) secretValues.push(env[name]);
  }
  const engine = await createEngine(configText, { secrets: (name) => env[name] });
  const metrics = new Metrics();

  let redis;
  if (settings.redisUrl) {
    const { createClient } = await import('redis');
    redis = createClient({ url: settings.redisUrl });
    redis.on('error', (error) => log({ level: 'error', msg: 'redis', error: String(error) }));
    await redis.connect();
  }
  const store = redis ? redisStore(redis, { prefix: 'callhook:' }) : memoryStore();
  // Records are shared by every instance; each instance journals its own deliveries.
  const journal = redis ? redisJournal(redis, { prefix: `callhook:deliveries:${settings.instance}:` }) : jsonlJournal(settings.journal);
  // When each attempt happens, and what an answer means, is the engine's decision.
  const queue = await createDeliveryQueue({
    engine,
    journal,
    onEvent: (event) => {
      metrics.delivery(event.type);
      log(event.log);
    },
  });
  const handle = createFetchHandler({
    engine,
    store,
    queue,
    onOutcome: (outcome) => {
      metrics.outcome(outcome);
      const entry = typeof outcome.log === 'string' ? JSON.parse(outcome.log) : outcome.log;
      log(entry ?? { level: 'info', msg: 'outcome', status: outcome.response.status });
    },
  });

  let inFlight = 0;
  let closing = false;
  const server = http.createServer(async (req, res) => {
    const started = process.hrtime.bigint();
    inFlight++;
    try {
      await route(req, res);
    } catch (error) {
      log({ level: 'error', msg: 'unhandled', error: String(error?.stack ?? error) });
      if (!res.headersSent) problem(res, 500, 'Internal error', 'The request could not be handled; it was not accepted.');
      else res.destroy();
    } finally {
      inFlight--;
      metrics.latency(Number(process.hrtime.bigint() - started) / 1e9);
    }
  });

  async function route(req, res) {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(closing ? 503 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: closing ? 'closing' : 'ok', pending: queue.pending().length, dead_letters: queue.deadLetters().length }));
      return;
    }
    if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(metrics.render());
      return;
    }
    if (path === '/hook' || path.startsWith('/hook/')) {
      metrics.received();
      const body = await readBody(req, res);
      if (body === null) return;  // already answered (too large)
      const request = new Request(`http://${req.headers.host ?? 'localhost'}${req.url}`, {
        method: req.method,
        headers: Object.entries(req.headers).flatMap(([n, v]) => (Array.isArray(v) ? v.map((x) => [n, x]) : [[n, v]])),
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
      });
      const response = await handle(request);
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(Buffer.from(await response.arrayBuffer()));
      return;
    }
    if (req.method === 'GET' && existsSync(settings.playground)) {
      if (await serveStatic(path, res)) return;
    }
    problem(res, 404, 'Not found', 'Post webhooks to /hook (or /hook/TOKEN when a path token is configured).');
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
          problem(res, 413, 'Payload too large', `Requests are limited to ${settings.maxBodyBytes} bytes.`, { headers: { connection: 'close' } });
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
  async function serveStatic(path, res) {
    const file = normalizePath(join(settings.playground, path === '/' ? 'index.html' : path));
    if (!file.startsWith(settings.playground)) return false;
    try {
      const data = await readFile(file);
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
      res.end(data);
      return true;
    } catch {
      return false;
    }
  }

  const sweeper = setInterval(() => {
    handle.sweep(Date.now() / 1000).catch((error) => log({ level: 'error', msg: 'sweep', error: String(error) }));
  }, settings.sweepSeconds * 1000);
  sweeper.unref();

  server.listen(settings.port, settings.host, () => {
    const { port } = server.address();
    const url = `http://${settings.host}:${port}/hook`;
    log({ level: 'info', msg: 'listening', url, config: settings.config, store: redis ? 'redis' : 'memory' });
    if (process.stdout.isTTY || env.CALLHOOK_BANNER) {
      process.stderr.write(`\ncallhook is listening: post webhooks to ${url}\n`);
    }
  });

  // Graceful shutdown: stop accepting, finish in-flight requests and sends, keep the rest
  // journaled for the next start.
  async function shutdown(signal) {
    if (closing) return;
    closing = true;
    log({ level: 'info', msg: 'shutting_down', signal });
    clearInterval(sweeper);
    await new Promise((resolve) => server.close(resolve));
    while (inFlight > 0) await new Promise((r) => setTimeout(r, 10));
    await queue.close();
    await store.close?.();
    if (redis) await redis.quit();
    log({ level: 'info', msg: 'stopped' });
    flushLog();
    process.exit(0);
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error) => {
  log({ level: 'error', msg: 'start_failed', error: error?.errors ? error.errors : String(error?.message ?? error) });
  flushLog();
  process.exit(1);
});
