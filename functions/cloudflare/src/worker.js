// The callhook Cloudflare Worker: the npm package's engine (resolved through its "workerd"
// export condition, which imports the .wasm as a module) in a module Worker.
//
// - fetch: `/hook` and `/hook/*` take webhooks, `/healthz` answers, anything else is the
//   playground's static files (the [assets] binding) or 404.
// - A webhook is prepared once here (authenticated, decoded, validated), which names its call's
//   record key (refused requests have none and are answered at once). The prepared request, as
//   text, then goes to that call's Durable Object (idFromName(key)), which reads the record,
//   decides on it, stores what the outcome says to keep and puts the deliveries on the Queue,
//   one request at a time: an Initiate and a Complete of one call cannot race.
// - The Durable Object's alarm drops the record at expires_at and sweeps it at sweep_at
//   (an Initiate whose Complete is overdue fires the `abandoned` routes once).
// - queue: sends each delivery with fetch and asks the engine what follows: ack, retry through
//   the Queue after the wait the engine chose, or the dead-letter queue with the engine's reason.
// - Queue messages and dead letters hold each delivery sealed (engine.sealDelivery: `${NAME}`
//   references, never secret values); the consumer unseals it with the secrets of now, and one
//   that cannot be unsealed (a secret taken out of the config) is unsendable: dead at once.
import { DurableObject } from 'cloudflare:workers';
import { createEngine, entryOf, init } from 'callhook';
import { sendAttempt } from 'callhook/delivery';
import { problem, readRequest, toResponse } from 'callhook/fetch-handler';
import exampleConfig from '../../../examples/configs/example.json';

const QUEUE_BATCH = 100; // sendBatch's message limit

// ---- the engine, one per isolate (and per config text) ------------------------------------------

let cached = null; // {configText, promise}

function configText(env) {
  const text = typeof env.CALLHOOK_CONFIG === 'string' ? env.CALLHOOK_CONFIG.trim() : '';
  if (text !== '') return text;
  if (env.CALLHOOK_CONFIG && typeof env.CALLHOOK_CONFIG === 'object') return JSON.stringify(env.CALLHOOK_CONFIG);
  return JSON.stringify(exampleConfig);
}

/** The engine for this env: secrets (`wrangler secret put NAME`) are read from `env`. */
function engineFor(env) {
  const text = configText(env);
  if (!cached || cached.configText !== text) {
    const promise = createEngine(text, {
      secrets: (name) => (typeof env[name] === 'string' ? env[name] : undefined),
    });
    cached = { configText: text, promise };
    promise.then((engine) => {
      if (cached?.promise === promise) redactor = engine;
    }, () => {});
    promise.catch(() => {
      if (cached?.promise === promise) cached = null; // try again on the next request
    });
  }
  return cached.promise;
}

// ---- small helpers ------------------------------------------------------------------------------

/** The core's refusal of `kind` as the plain {status, headers, body} the Durable Object returns. */
async function refusal(kind, detail) {
  return (await init()).refusal(kind, detail);
}

// Every line goes through the core's redaction: the engine's (secrets and caller numbers) once
// it is built, until then the runtime's (caller numbers).
let redactor = null;
function log(level, msg, fields = {}) {
  const text = JSON.stringify({ level, msg, ...fields });
  const line = redactor ? redactor.redact(text) : text;
  if (level === 'error') console.error(line);
  else console.log(line);
}



/** Puts the deliveries on the Queue, sealed (in batches of at most 100 messages). */
async function enqueue(env, engine, deliveries) {
  const sealed = deliveries.map((d) => ({ body: engine.sealDelivery(d), contentType: 'text' }));
  for (let i = 0; i < sealed.length; i += QUEUE_BATCH) {
    await env.DELIVERIES.sendBatch(sealed.slice(i, i + QUEUE_BATCH));
  }
}

/** When the call's Durable Object must wake up: its sweep or its expiry, whichever is first. */
function nextAlarm(entry) {
  const times = [entry?.sweep_at, entry?.expires_at].filter((t) => typeof t === 'number' && Number.isFinite(t));
  return times.length ? Math.min(...times) * 1000 : null;
}

// ---- the Durable Object: one per call -----------------------------------------------------------

const RECORD = 'record';

export class CallRecord extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.lock = Promise.resolve();
  }

  /** Runs `fn` after every earlier call has finished (the engine's read-decide-write is atomic). */
  serialized(fn) {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => {});
    return run;
  }

  /**
   * Stores (or deletes) the entry the engine's outcome said to keep ({record, version,
   * expires_at, sweep_at}) and schedules the alarm for its sweep or expiry.
   */
  async store(entry) {
    const storage = this.ctx.storage;
    if (entry === null) {
      await storage.delete(RECORD);
      await storage.deleteAlarm();
      return;
    }
    await storage.put(RECORD, entry);
    const at = nextAlarm(entry);
    if (at === null) await storage.deleteAlarm();
    else await storage.setAlarm(at);
  }

  /**
   * Decides one webhook for this call (RPC from the Worker, which prepared it once: the text of
   * Prepared) at `now`, expecting the record key `key`. Returns the response for the sender.
   */
  handle(preparedText, now, key) {
    return this.serialized(async () => {
      const engine = await engineFor(this.env);
      const previous = (await this.ctx.storage.get(RECORD)) ?? null;
      const outcome = engine.decidePrepared(preparedText, { now, record: previous?.record ?? null });
      if (outcome.record !== null && outcome.record_key !== key) {
        log('error', 'record_key_mismatch', { expected: key, got: outcome.record_key });
        return refusal('internal-error');
      }
      if (outcome.record !== null) await this.store(entryOf(outcome));
      try {
        await enqueue(this.env, engine, outcome.deliveries);
      } catch (err) {
        // Put the previous record back so the sender's retry is not taken for a duplicate.
        if (outcome.record !== null) await this.store(previous);
        log('error', 'enqueue_failed', { key, error: String(err?.message ?? err) });
        return refusal('outbox-unavailable');
      }
      if (outcome.log) log('info', 'webhook', { ...outcome.log });
      return outcome.response;
    });
  }

  /** Drops an expired record; sweeps one whose sweep_at has passed. Throwing retries the alarm. */
  alarm() {
    return this.serialized(async () => {
      const entry = (await this.ctx.storage.get(RECORD)) ?? null;
      if (entry === null) return;
      const now = Date.now() / 1000;
      if (typeof entry.expires_at === 'number' && entry.expires_at <= now) {
        await this.ctx.storage.deleteAll();
        await this.ctx.storage.deleteAlarm();
        return;
      }
      if (typeof entry.sweep_at === 'number' && entry.sweep_at <= now) {
        const engine = await engineFor(this.env);
        const outcome = engine.sweep(entry.record, now);
        if (outcome.record !== null) await this.store(entryOf(outcome));
        try {
          await enqueue(this.env, engine, outcome.deliveries);
        } catch (err) {
          if (outcome.record !== null) await this.store(entry);
          throw err;
        }
        if (outcome.deliveries.length) log('info', 'swept', { key: outcome.record_key, deliveries: outcome.deliveries.length });
        return;
      }
      const at = nextAlarm(entry);
      if (at !== null) await this.ctx.storage.setAlarm(at);
    });
  }
}

// ---- fetch --------------------------------------------------------------------------------------

async function handleWebhook(request, env) {
  let engine;
  try {
    engine = await engineFor(env);
  } catch (err) {
    log('error', 'config', { code: err?.code, errors: err?.errors });
    return problem('config-invalid');
  }
  const limit = Number(env.CALLHOOK_MAX_REQUEST_BYTES) > 0 ? Number(env.CALLHOOK_MAX_REQUEST_BYTES) : 1 << 20;
  const read = await readRequest(request, limit);
  if (read.response) return read.response;
  const req = read.request;
  const now = Date.now() / 1000;
  // Decoded and checked once, here; the call's Durable Object decides on its record.
  const prepared = engine.prepare(req, { now });
  const key = prepared.record_key;
  if (key === null) {
    // Refused requests, and everything when correlation is off, end here.
    const outcome = prepared.decide({ now });
    try {
      await enqueue(env, engine, outcome.deliveries);
    } catch (err) {
      log('error', 'enqueue_failed', { error: String(err?.message ?? err) });
      return problem('outbox-unavailable');
    }
    if (outcome.log) log('info', 'webhook', { ...outcome.log });
    return toResponse(outcome.response);
  }
  const text = prepared.text();
  prepared.close();
  const stub = env.CALL_RECORDS.get(env.CALL_RECORDS.idFromName(key));
  try {
    return toResponse(await stub.handle(text, now, key));
  } catch (err) {
    log('error', 'durable_object', { key, error: String(err?.message ?? err) });
    return problem('store-unavailable');
  }
}

async function fetchHandler(request, env) {
  // Which endpoint, and every refusal, is the core's decision (README, "The engine").
  const runtime = await init();
  redactor ??= runtime;
  const route = runtime.route(request.method, request.url, request.headers.get('host'));
  if (route.endpoint === 'hook') return handleWebhook(request, env);
  if (route.endpoint === 'healthz') {
    try {
      await engineFor(env);
      return toResponse(runtime.health('ok'));
    } catch (err) {
      log('error', 'config', { code: err?.code, errors: err?.errors });
      return toResponse(runtime.health('error'));
    }
  }
  if (route.endpoint === 'static' && env.ASSETS) return env.ASSETS.fetch(request);
  return toResponse(route.response ?? runtime.refusal('not-found'));
}

// ---- queue: send the deliveries -----------------------------------------------------------------

// The Queue's own limit on a retry's delay (12 hours): a longer wait the core asks for is cut to
// it, and the next attempt then asks the core again.
const QUEUE_MAX_DELAY_SECONDS = 43200;

// The names a sealed delivery carries as they are (its route, destination and key), for a
// delivery that cannot be unsealed; nothing else is read from it.
function namesOf(sealed) {
  try {
    const doc = JSON.parse(sealed);
    const text = (v) => (typeof v === 'string' ? v : '');
    return { route: text(doc?.route), destination: text(doc?.destination), idempotency_key: text(doc?.idempotency_key) };
  } catch {
    return { route: '', destination: '', idempotency_key: '' };
  }
}

async function deliver(msg, env, engine) {
  // A message is the delivery's sealed text; one queued before deliveries were sealed is the
  // delivery object itself.
  const sealed = typeof msg.body === 'string' ? msg.body : null;
  let d = sealed === null ? msg.body : null;
  let answer;
  if (sealed !== null) {
    try {
      d = engine.unsealDelivery(sealed);
    } catch (err) {
      d = namesOf(sealed);
      answer = { unsendable: String(err?.message ?? err) };
    }
  }
  answer ??= await sendAttempt(d);
  // Whether it is delivered, when to try again, or why it is dead: the engine decides.
  const v = engine.attemptResult({
    route: d.route, destination: d.destination, idempotency_key: d.idempotency_key,
    attempt: msg.attempts, now_ms: Date.now(), random: Math.random(), answer,
  });
  console.log(JSON.stringify(v.log)); // the engine's line, redacted by the engine
  if (v.verdict === 'delivered') {
    msg.ack();
  } else if (v.verdict === 'retry') {
    msg.retry({ delaySeconds: Math.min(QUEUE_MAX_DELAY_SECONDS, Math.ceil(v.delay_ms / 1000)) });
  } else {
    try {
      // Still sealed: the dead letter holds what the Queue held.
      await env.DEAD_LETTERS.send({
        route: d.route, destination: d.destination, idempotency_key: d.idempotency_key,
        delivery: sealed ?? engine.sealDelivery(d), status: answer.status ?? null,
        attempts: msg.attempts, code: v.code, reason: v.reason,
      }, { contentType: 'json' });
      msg.ack();
    } catch {
      msg.retry({ delaySeconds: 60 }); // the dead-letter queue is unreachable: keep the delivery
    }
  }
}

export default {
  fetch: fetchHandler,
  async queue(batch, env) {
    const engine = await engineFor(env);
    await Promise.all(batch.messages.map((msg) => deliver(msg, env, engine)));
  },
};
