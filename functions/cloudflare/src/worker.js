// The callhook Cloudflare Worker: the npm package's engine (resolved through its "workerd"
// export condition, which imports the .wasm as a module) in a module Worker.
//
// - fetch: `/hook` and `/hook/*` take webhooks, `/healthz` answers, `/admin/...` is the admin
//   API (admin.js, behind CALLHOOK_ADMIN_TOKEN), anything else is the playground's static files
//   (the [assets] binding) or 404.
// - A webhook is prepared once here (authenticated, decoded, validated), which names its call's
//   record key (refused requests have none and are answered at once). The prepared request, as
//   text, then goes to that call's Durable Object (idFromName(key)), which reads the record,
//   decides on it, stores what the outcome says to keep and puts the deliveries on the Queue,
//   one request at a time: an Initiate and a Complete of one call cannot race. A call's first
//   record is noted in the ledger (operations.js), so erasure can find it.
// - The Durable Object's alarm drops the record at expires_at and sweeps it at sweep_at
//   (an Initiate whose Complete is overdue fires the `abandoned` routes once).
// - queue (callhook-deliveries): sends each delivery with fetch and asks the engine what
//   follows: ack; retry, by queueing the message again after the wait the engine chose with
//   this attempt added to its history; or the dead-letter queue with the engine's code, reason
//   and every attempt. A message of a call erased since it was queued is dropped unsent.
// - queue (callhook-deliveries-dead): keeps each dead letter in the DeadLetters Durable Object,
//   where the admin API lists, shows, redrives and purges them.
// - Queue messages and dead letters hold each delivery sealed (engine.sealDelivery: `${NAME}`
//   references, never secret values); the consumer unseals it with the secrets of now, and one
//   that cannot be unsealed (a secret taken out of the config) is unsendable: dead at once.
import { DurableObject } from 'cloudflare:workers';
import { entryOf, init } from 'callhook';
import { attemptDelivery, createCredentials } from 'callhook/delivery';
import { problem, readRequest, toResponse } from 'callhook/fetch-handler';
import { handleAdmin } from './admin.js';
import { engineFor, log, messageOf, refusal, useRuntimeRedactor } from './engine.js';
import { DAY_MS, Tally, deadLetterId, deadLetterStore, ledger } from './operations.js';
import {
  CALLS_MESSAGE, DEAD_LETTER_QUEUE, envelopeOf, sendMessages,
} from './messages.js';

export { DeadLetters, Ledger } from './operations.js';

// ---- the Queue: what is put on it ---------------------------------------------------------------

/**
 * Puts the deliveries on the Queue, each a message {sealed, call_sid, record_key,
 * enqueued_at_ms, attempts: 0, history: []} (messages.js), and counts them as queued in the
 * ledger without waiting for it (`waitUntil`). `recordKey` is the outcome's.
 */
export async function enqueue(env, engine, deliveries, recordKey, waitUntil) {
  if (deliveries.length === 0) return;
  const now = Date.now();
  const bodies = deliveries.map((d) => ({
    [CALLS_MESSAGE]: 1,
    sealed: engine.sealDelivery(d),
    call_sid: d.call_sid || String(d.idempotency_key ?? '').split(':')[0],
    record_key: d.record_key || recordKey || '',
    enqueued_at_ms: now,
    attempts: 0,
    history: [],
  }));
  await sendMessages(env.DELIVERIES, bodies);
  const tally = new Tally();
  for (const d of deliveries) tally.add(d.destination, 'queued');
  count(env, tally, waitUntil);
}

/** Adds a Tally to the ledger's counters, in the background: metrics never hold a delivery up. */
export function count(env, tally, waitUntil) {
  if (tally.size === 0) return;
  const p = ledger(env).add(tally.list()).catch((err) => log('warn', 'ledger_count_failed', { error: messageOf(err) }));
  waitUntil?.(p);
}

/** When the call's Durable Object must wake up: its sweep or its expiry, whichever is first. */
function nextAlarm(entry) {
  const times = [entry?.sweep_at, entry?.expires_at].filter((t) => typeof t === 'number' && Number.isFinite(t));
  return times.length ? Math.min(...times) * 1000 : null;
}

// ---- the Durable Object: one per call -----------------------------------------------------------

const RECORD = 'record';
// Until when the ledger knows of this call (ms): noted again once the record outlives it.
const REGISTERED = 'registered_until_ms';
// How much longer than the record's current expiry the ledger keeps the call: a record whose
// expiry moves on by less is not noted again.
const REGISTRATION_SLACK_MS = 7 * DAY_MS;

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

  waitUntil(p) {
    if (typeof this.ctx.waitUntil === 'function') this.ctx.waitUntil(p);
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
   * Tells the ledger this call has a record (so erasure can find it), once, and again only when
   * the record comes to outlive what the ledger was told. A ledger that fails is logged: the
   * webhook is not refused for it.
   */
  async register(key, callSid, entry) {
    if (typeof entry?.expires_at !== 'number') return;
    const expires = entry.expires_at * 1000;
    const known = (await this.ctx.storage.get(REGISTERED)) ?? 0;
    if (known >= expires) return;
    const until = expires + REGISTRATION_SLACK_MS;
    try {
      await ledger(this.env).register(key, callSid, until);
      await this.ctx.storage.put(REGISTERED, until);
    } catch (err) {
      log('error', 'ledger_register_failed', { key, error: messageOf(err) });
    }
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
        await enqueue(this.env, engine, outcome.deliveries, key, (p) => this.waitUntil(p));
      } catch (err) {
        // Put the previous record back so the sender's retry is not taken for a duplicate.
        if (outcome.record !== null) await this.store(previous);
        log('error', 'enqueue_failed', { key, error: messageOf(err) });
        return refusal('outbox-unavailable');
      }
      if (outcome.record !== null) {
        await this.register(key, outcome.event?.call?.sid ?? key.slice(key.indexOf(':') + 1), entryOf(outcome));
      }
      if (outcome.log) log('info', 'webhook', { ...outcome.log });
      return outcome.response;
    });
  }

  /**
   * Erasure (RPC from the admin API): deletes everything this object keeps when its record
   * concerns the call or phone number of `subject` ({call_sid} or {phone}), as the engine's
   * mentions() reads it. Resolves how many records went (0 or 1).
   */
  erase(subject) {
    return this.serialized(async () => {
      const entry = (await this.ctx.storage.get(RECORD)) ?? null;
      if (entry === null) return 0;
      const engine = await engineFor(this.env);
      if (!engine.mentions(entry.record, subject)) return 0;
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
      return 1;
    });
  }

  /**
   * Renders dead deliveries of this call again from its record with the config of now (RPC from
   * the admin API's redrive with "rerender"): each ask {id, route, destination, trigger, event}
   * gives {id, sealed} or {id, code, reason} (the engine's, redacted).
   */
  rerender(asks) {
    return this.serialized(async () => {
      const entry = (await this.ctx.storage.get(RECORD)) ?? null;
      if (entry === null) {
        return asks.map(({ id }) => ({
          id, code: 'record_gone',
          reason: "The call's record is gone (expired or erased); redrive it without rerender to send it as it was.",
        }));
      }
      const engine = await engineFor(this.env);
      return asks.map(({ id, route, destination, trigger, event }) => {
        try {
          const delivery = engine.rerender({ record: entry.record, route, destination, trigger, event: event || null });
          return { id, sealed: engine.sealDelivery(delivery) };
        } catch (err) {
          return { id, code: typeof err?.code === 'string' ? err.code : 'rerender_failed', reason: engine.redact(messageOf(err)) };
        }
      });
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
          await enqueue(this.env, engine, outcome.deliveries, outcome.record_key, (p) => this.waitUntil(p));
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

async function handleWebhook(request, env, ctx) {
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
      await enqueue(env, engine, outcome.deliveries, null, (p) => ctx?.waitUntil?.(p));
    } catch (err) {
      log('error', 'enqueue_failed', { error: messageOf(err) });
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
    log('error', 'durable_object', { key, error: messageOf(err) });
    return problem('store-unavailable');
  }
}

async function fetchHandler(request, env, ctx) {
  // Which endpoint, and every refusal, is the core's decision (README, "The engine").
  const runtime = await init();
  useRuntimeRedactor(runtime);
  const route = runtime.route(request.method, request.url, request.headers.get('host'));
  if (route.endpoint === 'hook') return handleWebhook(request, env, ctx);
  if (route.endpoint === 'admin') return handleAdmin(request, env, runtime, route);
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

// The Queue's own limit on a message's delay (12 hours): a longer wait the core asks for is cut
// to it, and the next attempt then asks the core again.
const QUEUE_MAX_DELAY_SECONDS = 43200;
// A message held back because the ledger could not say whether its call was erased.
const HOLD_SECONDS = 30;
// A rate-limit wait up to this is slept inside the consumer; a longer one goes back to the Queue.
const PACE_SLEEP_MS = 5000;
// OAuth access tokens and rate-limit buckets, per destination, for as long as this isolate lives
// (memory only: a token is never written to a Queue, a Durable Object or a log).
const credentials = createCredentials();

/**
 * One attempt of one message (attemptDelivery: the engine plans it, reads the answer and decides
 * what follows), carried out: acknowledged, queued again with a delay, or dead-lettered. `tally` gathers the batch's counters.
 */
async function deliver(msg, message, env, engine, tally) {
  const attempt = message.attempts + 1;
  // A message queued before deliveries were sealed is sealed now: the planner reads sealed text
  // (and calls text that is not a delivery unsendable: dead at once, with the reason).
  let sealed = message.sealed;
  if (sealed === null) {
    try {
      sealed = engine.sealDelivery(message.delivery);
    } catch {
      sealed = '';
    }
  }
  const d = { route: message.route, destination: message.destination, idempotency_key: message.idempotency_key };
  // Sending now, waiting for the destination's rate limit, getting an OAuth token first, or not
  // sending at all (past the platform's deadline, unsendable): the engine decides each step.
  const result = await attemptDelivery({ ...d, sealed, attempts: message.attempts }, {
    engine, credentials, maxWaitMs: PACE_SLEEP_MS,
  });
  if (result.wait_ms !== undefined) {
    // The rate limit allows nothing for a while: the Queue holds it, no attempt counted.
    msg.retry({ delaySeconds: Math.min(QUEUE_MAX_DELAY_SECONDS, Math.max(1, Math.ceil(result.wait_ms / 1000))) });
    tally.add(d.destination, 'paced');
    return;
  }
  const v = result.verdict;
  const nowMs = Date.now();
  const answer = { status: result.status };
  console.log(JSON.stringify(v.log)); // the engine's line, redacted by the engine
  // The reason may quote the destination's answer, which may echo what it was sent: it is kept
  // through the core's redaction, as everything at rest.
  const reason = v.verdict === 'delivered' ? '' : engine.redact(v.reason);
  const history = [...message.history, { at_ms: nowMs, status: answer.status ?? null, code: v.code, reason }];
  const stillSealed = sealed;
  if (v.verdict === 'delivered') {
    msg.ack();
    tally.add(d.destination, 'delivered', v.code);
    return;
  }
  if (v.verdict === 'retry') {
    const delaySeconds = Math.min(QUEUE_MAX_DELAY_SECONDS, Math.ceil(v.delay_ms / 1000));
    try {
      // The same delivery again, with this attempt in its history (a Queue message cannot be
      // changed, so it is queued anew and this one acknowledged).
      await env.DELIVERIES.send({ ...message.body, sealed: stillSealed, attempts: attempt, history },
        { contentType: 'json', delaySeconds });
      msg.ack();
    } catch (err) {
      log('warn', 'requeue_failed', { idempotency_key: d.idempotency_key, error: messageOf(err) });
      msg.retry({ delaySeconds }); // the Queue keeps it; this attempt is not in its history
    }
    tally.add(d.destination, 'retried', v.code);
    return;
  }
  try {
    // Still sealed: the dead letter holds what the Queue held, and every attempt.
    await env.DEAD_LETTERS.send({
      [DEAD_LETTER_QUEUE]: 1,
      route: d.route, destination: d.destination, idempotency_key: d.idempotency_key,
      call_sid: message.call_sid, record_key: message.record_key, sealed: stillSealed,
      attempts: attempt, history, code: v.code, reason, dead_at_ms: nowMs,
      enqueued_at_ms: message.enqueued_at_ms,
    }, { contentType: 'json' });
    msg.ack();
    tally.add(d.destination, 'dead', v.code);
  } catch {
    msg.retry({ delaySeconds: 60 }); // the dead-letter queue is unreachable: keep the delivery
  }
}

async function consumeDeliveries(batch, env, ctx) {
  const engine = await engineFor(env);
  const messages = batch.messages.map((msg) => ({ msg, message: envelopeOf(msg.body, msg.attempts) }));
  // Messages of calls erased since they were queued are dropped, unsent.
  let erased;
  try {
    erased = await ledger(env).erased(messages.map(({ message }) => ({
      call_sid: message.call_sid, enqueued_at_ms: message.enqueued_at_ms,
    })));
  } catch (err) {
    log('error', 'ledger_unavailable', { error: messageOf(err) });
    for (const { msg } of messages) msg.retry({ delaySeconds: HOLD_SECONDS });
    return;
  }
  const tally = new Tally();
  await Promise.all(messages.map(({ msg, message }, i) => {
    if (!erased[i]) return deliver(msg, message, env, engine, tally);
    msg.ack();
    tally.add(message.destination, 'erased');
    log('info', 'erased_delivery_dropped', { destination: message.destination, idempotency_key: message.idempotency_key });
    return undefined;
  }));
  count(env, tally, (p) => ctx?.waitUntil?.(p));
}

// ---- queue: keep the dead letters ---------------------------------------------------------------

/**
 * The dead letter a message of the dead-letter queue holds: one the consumer sent (the engine's
 * code and reason, every attempt), or a delivery message the Queue itself moved there after its
 * max_retries (the consumer failed on it that often), kept with code queue_retries_exhausted.
 */
async function deadLetterOf(msg) {
  const body = msg.body;
  let letter;
  let backstop = false;
  if (body && typeof body === 'object' && body[DEAD_LETTER_QUEUE] === 1 && typeof body.sealed === 'string') {
    letter = body;
  } else {
    backstop = true;
    const m = envelopeOf(body, msg.attempts);
    const last = m.history.at(-1);
    letter = {
      route: m.route, destination: m.destination, idempotency_key: m.idempotency_key,
      call_sid: m.call_sid, record_key: m.record_key,
      sealed: m.sealed ?? JSON.stringify(m.delivery ?? null),
      attempts: m.attempts, history: m.history, code: 'queue_retries_exhausted',
      reason: 'the Queue moved the delivery to the dead-letter queue after its max_retries',
      dead_at_ms: last?.at_ms ?? Date.now(), enqueued_at_ms: m.enqueued_at_ms,
    };
  }
  const text = (v) => (typeof v === 'string' ? v : '');
  const kept = {
    route: text(letter.route), destination: text(letter.destination),
    idempotency_key: text(letter.idempotency_key), call_sid: text(letter.call_sid),
    record_key: text(letter.record_key), sealed: letter.sealed,
    attempts: Number.isInteger(letter.attempts) ? letter.attempts : 0,
    history: Array.isArray(letter.history) ? letter.history : [],
    code: text(letter.code), reason: text(letter.reason),
    dead_at_ms: Number.isFinite(letter.dead_at_ms) ? letter.dead_at_ms : Date.now(),
    enqueued_at_ms: Number.isFinite(letter.enqueued_at_ms) ? letter.enqueued_at_ms : null,
  };
  if (!kept.call_sid) kept.call_sid = kept.idempotency_key.split(':')[0];
  kept.id = await deadLetterId(kept.idempotency_key, kept.destination);
  return { letter: kept, backstop };
}

async function consumeDeadLetters(batch, env, ctx) {
  const letters = await Promise.all(batch.messages.map(deadLetterOf));
  // A dead letter of a call erased since it was queued is not kept. Failing here throws, and the
  // Queue delivers the batch again.
  const erased = await ledger(env).erased(letters.map(({ letter }) => letter));
  const kept = letters.filter((_, i) => !erased[i]);
  await deadLetterStore(env).keep(kept.map(({ letter }) => letter));
  const tally = new Tally();
  // A letter the main consumer sent was counted dead there; one the Queue moved was not counted.
  letters.forEach(({ letter, backstop }, i) => {
    if (backstop) tally.add(letter.destination, erased[i] ? 'erased' : 'dead', erased[i] ? '' : letter.code);
  });
  count(env, tally, (p) => ctx?.waitUntil?.(p));
  batch.ackAll();
  for (const { letter } of kept) {
    log('info', 'dead_letter_kept', { id: letter.id, destination: letter.destination, code: letter.code });
  }
}

export default {
  fetch: fetchHandler,
  // Two queues come here (wrangler.toml): the deliveries, and their dead-letter queue, whose
  // name ends in -dead.
  async queue(batch, env, ctx) {
    if (batch.queue.endsWith('-dead')) return consumeDeadLetters(batch, env, ctx);
    return consumeDeliveries(batch, env, ctx);
  },
};
