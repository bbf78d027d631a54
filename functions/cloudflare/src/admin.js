// The Worker's admin API (README, "Cloudflare Workers": the admin API). The front door routes
// /admin and /admin/... here; the core's adminCheck decides who may use it (the token is the
// secret or var CALLHOOK_ADMIN_TOKEN: none set, and the API answers not-found), and every
// refusal is the core's problem document.
//
//   GET  /admin/dead-letters?destination=&route=&code=&since_ms=&until_ms=&limit=
//   GET  /admin/dead-letters/ID        (DELETE: purge that one)
//   POST /admin/dead-letters/redrive   {"ids": [...]} or a filter
//   POST /admin/dead-letters/purge     the same
//   POST /admin/erase                  {"call_sid"} or {"phone"} (and "cursor" to go on)
//   GET  /admin/metrics                Prometheus text
import { toResponse } from 'callhook/fetch-handler';
import { log, messageOf } from './engine.js';
import { CALLS_MESSAGE, sendMessages } from './messages.js';
import { Tally, deadLetterStore, ledger } from './operations.js';

const FILTER_KEYS = ['destination', 'route', 'code', 'since_ms', 'until_ms'];
const SELECTION_KEYS = [...FILTER_KEYS, 'limit'];
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
const MAX_IDS = 1000;
const MAX_BODY_BYTES = 65536;
// A redrive sends at most this many dead letters per request; `complete: false` says more match.
const REDRIVE_PAGE = 100;
const MAX_REDRIVE = 1000;
// An erasure by phone asks at most this many calls' Durable Objects per request (each one is a
// subrequest), this many at once; `complete: false` and a `cursor` say where to go on.
const ERASE_CALLS_PER_REQUEST = 400;
const ERASE_CONCURRENCY = 8;

/** A refusal of the core's, as a Response (thrown by the handlers below, answered once). */
class Refused extends Error {
  constructor(kind, detail, headers) {
    super(detail ?? kind);
    this.kind = kind;
    this.detail = detail;
    this.headers = headers;
  }
}

const badRequest = (detail) => new Refused('bad-admin-request', detail);

function json(value, head) {
  const body = JSON.stringify(value);
  return new Response(head ? null : body, {
    status: 200, headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
  });
}

const isCount = (v) => Number.isSafeInteger(v) && v >= 0;

// ---- what a request selects ---------------------------------------------------------------------

/** The filter of a listing's query: every parameter at most once, times and limit whole numbers. */
function queryFilter(url) {
  const filter = {};
  let limit = DEFAULT_LIMIT;
  const seen = new Set();
  for (const [name, value] of url.searchParams) {
    if (seen.has(name)) throw badRequest(`The query parameter ${name} is given more than once.`);
    seen.add(name);
    if (name === 'destination' || name === 'route' || name === 'code') {
      if (value === '') throw badRequest(`${name} must be a non-empty string.`);
      filter[name] = value;
    } else if (name === 'since_ms' || name === 'until_ms' || name === 'limit') {
      if (!/^[0-9]{1,15}$/.test(value)) throw badRequest(`${name} must be a whole number of milliseconds or items.`);
      const n = Number(value);
      if (name === 'limit') {
        if (n < 1 || n > MAX_LIMIT) throw badRequest(`limit must be from 1 to ${MAX_LIMIT}.`);
        limit = n;
      } else {
        filter[name] = n;
      }
    } else {
      throw badRequest(`Unknown query parameter ${name}: the listing takes ${[...FILTER_KEYS, 'limit'].join(', ')}.`);
    }
  }
  return { filter, limit };
}

/** The request's JSON object body. */
async function bodyOf(request) {
  const declared = Number(request.headers.get('content-length'));
  if (declared > MAX_BODY_BYTES) throw badRequest(`The body is limited to ${MAX_BODY_BYTES} bytes.`);
  const text = await request.text();
  if (text.length > MAX_BODY_BYTES) throw badRequest(`The body is limited to ${MAX_BODY_BYTES} bytes.`);
  let doc;
  try {
    doc = JSON.parse(text === '' ? '{}' : text);
  } catch {
    throw badRequest('The body is not JSON.');
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw badRequest('The body must be a JSON object.');
  return doc;
}

/**
 * A selection of dead letters: {"ids": [...]} alone, or a filter of SELECTION_KEYS (every key
 * given must hold; `limit`: the newest that many; none: every dead letter).
 */
function selectionOf(doc) {
  if ('ids' in doc) {
    if (Object.keys(doc).length !== 1) throw badRequest('Select dead letters by "ids" or by a filter, not both.');
    if (!Array.isArray(doc.ids) || doc.ids.length === 0 || doc.ids.length > MAX_IDS ||
        !doc.ids.every((id) => typeof id === 'string' && id !== '')) {
      throw badRequest(`"ids" must be an array of 1 to ${MAX_IDS} dead letter ids.`);
    }
    return { ids: doc.ids };
  }
  const filter = {};
  for (const [key, value] of Object.entries(doc)) {
    if (!SELECTION_KEYS.includes(key)) throw badRequest(`Unknown field ${key}: select by "ids" or by ${SELECTION_KEYS.join(', ')}.`);
    if (key === 'limit') {
      if (!Number.isSafeInteger(value) || value < 1) throw badRequest('limit must be a whole number from 1.');
    } else if (key.endsWith('_ms')) {
      if (!isCount(value)) throw badRequest(`${key} must be a whole number of milliseconds.`);
    } else if (typeof value !== 'string' || value === '') {
      throw badRequest(`${key} must be a non-empty string.`);
    }
    filter[key] = value;
  }
  return filter;
}

// ---- the handlers -------------------------------------------------------------------------------

async function list(url, env, head) {
  const { filter, limit } = queryFilter(url);
  const letters = await deadLetterStore(env).list(filter, limit);
  return json({ dead_letters: letters, count: letters.length }, head);
}

async function show(id, env, head) {
  const letter = await deadLetterStore(env).get(id);
  if (letter === null) throw new Refused('dead-letter-not-found');
  return json(letter, head);
}

// For an `event` delivery, which event fired it: the middle of its idempotency key
// (`CALL_SID:EVENT:ROUTE`), or ''.
function eventOf(letter) {
  const key = letter.idempotency_key ?? '';
  const head = `${letter.call_sid}:`;
  const tail = `:${letter.route}`;
  if (!letter.call_sid || !key.startsWith(head) || !key.endsWith(tail) || key.length <= head.length + tail.length) return '';
  return key.slice(head.length, key.length - tail.length);
}

// What fired the delivery's route: its sealed text says (a plain name there), or its key.
function triggerOf(letter) {
  try {
    const trigger = JSON.parse(letter.sealed)?.trigger;
    if (typeof trigger === 'string' && trigger !== '') return trigger;
  } catch {
    // not JSON: the key says
  }
  const what = eventOf(letter);
  if (what === 'complete' || what === 'abandoned') return what;
  return what === '' ? '' : 'event';
}

/**
 * Each letter rendered again from its call's record with the config of now: resolves
 * {sealed: Map(id -> new sealed text), skipped: [{id, code, reason}]}.
 */
async function rerendered(env, letters) {
  const sealed = new Map();
  const skipped = [];
  const byRecord = new Map();
  for (const l of letters) {
    if (!l.record_key) {
      skipped.push({ id: l.id, code: 'no_record', reason: 'The dead letter names no call record (correlation off, or stored before it was kept).' });
      continue;
    }
    const asks = byRecord.get(l.record_key) ?? [];
    const trigger = triggerOf(l);
    asks.push({ id: l.id, route: l.route, destination: l.destination, trigger, event: trigger === 'event' ? eventOf(l) : '' });
    byRecord.set(l.record_key, asks);
  }
  await eachLimited([...byRecord], ERASE_CONCURRENCY, async ([key, asks]) => {
    const stub = env.CALL_RECORDS.get(env.CALL_RECORDS.idFromName(key));
    for (const r of await stub.rerender(asks)) {
      if (typeof r.sealed === 'string') sealed.set(r.id, r.sealed);
      else skipped.push({ id: r.id, code: r.code, reason: r.reason });
    }
  });
  return { sealed, skipped };
}

/**
 * Sends the selected dead letters back onto the Queue with their attempts reset (with
 * "rerender", first rendered again from their call's record; those that cannot be are skipped
 * and stay). At most MAX_REDRIVE per request: `complete: false` says more are selected.
 */
async function redrive(request, env) {
  const doc = await bodyOf(request);
  const { rerender = false, ...rest } = doc;
  if (typeof rerender !== 'boolean') throw badRequest('rerender must be true or false.');
  const selection = selectionOf(rest);
  const store = deadLetterStore(env);
  const wanted = Math.min(selection.limit ?? Infinity, MAX_REDRIVE);
  let redriven = 0;
  const skipped = [];
  let complete = true;
  let after = null;
  for (;;) {
    const room = wanted - redriven - skipped.length;
    if (room <= 0) {
      if (wanted < (selection.limit ?? Infinity)) complete = (await store.select(selection, 1, after)).length === 0;
      break;
    }
    const letters = await store.select(selection, Math.min(REDRIVE_PAGE, room), after);
    if (letters.length === 0) break;
    after = { dead_at_ms: letters.at(-1).dead_at_ms, id: letters.at(-1).id };
    let sendable = letters;
    if (rerender) {
      const again = await rerendered(env, letters);
      skipped.push(...again.skipped);
      sendable = letters.filter((l) => again.sealed.has(l.id)).map((l) => ({ ...l, sealed: again.sealed.get(l.id) }));
    }
    if (sendable.length === 0) continue;
    const now = Date.now();
    await sendMessages(env.DELIVERIES, sendable.map((l) => ({
      [CALLS_MESSAGE]: 1, sealed: l.sealed, call_sid: l.call_sid, record_key: l.record_key,
      enqueued_at_ms: now, attempts: 0, history: [],
    })));
    // Queued: only now do they leave the dead letters (a failure in between redrives twice, and
    // the destination sees the same Idempotency-Key).
    await store.remove(sendable.map((l) => l.id));
    redriven += sendable.length;
    const tally = new Tally();
    for (const l of sendable) tally.add(l.destination, 'queued');
    await ledger(env).add(tally.list()).catch((err) => log('warn', 'ledger_count_failed', { error: messageOf(err) }));
  }
  log('info', 'admin_redrive', { rerender, redriven, skipped: skipped.length });
  const answer = rerender ? { redriven, skipped } : { redriven };
  return json(complete ? answer : { ...answer, complete: false });
}

async function purgeOne(id, env) {
  const purged = await deadLetterStore(env).purge({ ids: [id] });
  if (purged === 0) throw new Refused('dead-letter-not-found');
  log('info', 'admin_purge', { purged });
  return json({ purged });
}

async function purge(request, env) {
  const doc = await bodyOf(request);
  if ('rerender' in doc) throw badRequest('rerender is for redrive only.');
  const selection = selectionOf(doc);
  const purged = await deadLetterStore(env).purge(selection);
  log('info', 'admin_purge', { purged });
  return json({ purged });
}

/** Runs `fn` over `items`, `limit` at once. */
async function eachLimited(items, limit, fn) {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  });
  await Promise.all(workers);
}

/**
 * Erases a call ({"call_sid"}) or everything that concerns a phone number ({"phone"}): the
 * records of the calls the ledger knows whose record the engine says concerns it, the dead
 * letters it mentions, and (Queue messages cannot be deleted) a tombstone for each such call,
 * so the consumers drop its messages queued before now unsent. A phone erasure that has more
 * calls to ask than one request may answers complete: false and a cursor to send again.
 */
async function erase(request, env, runtime) {
  const doc = await bodyOf(request);
  for (const key of Object.keys(doc)) {
    if (!['call_sid', 'phone', 'cursor'].includes(key)) throw badRequest(`Unknown field ${key}: erase takes "call_sid" or "phone".`);
  }
  const hasSid = 'call_sid' in doc;
  if (hasSid === ('phone' in doc)) throw badRequest('The body must be exactly one of {"call_sid": "CA..."} or {"phone": "+1..."}.');
  const value = hasSid ? doc.call_sid : doc.phone;
  if (typeof value !== 'string' || value.trim() === '') {
    throw badRequest('The body must be exactly one of {"call_sid": "CA..."} or {"phone": "+1..."}.');
  }
  if ('cursor' in doc && typeof doc.cursor !== 'string') throw badRequest('"cursor" must be the string a previous erasure answered.');
  // The core checks the subject once (a number that is not one is refused here, before anything
  // is asked) and gives the phone in the E.164 form mentions() matches.
  let subject;
  try {
    const checked = runtime.erasureSubject(hasSid ? { call_sid: value } : { phone: value });
    subject = hasSid ? { call_sid: checked.call_sid } : { phone: checked.phone };
  } catch (err) {
    throw badRequest(messageOf(err));
  }
  const led = ledger(env);
  const now = Date.now();

  // The calls to ask.
  let calls;
  let cursor = null;
  if (hasSid) {
    calls = await led.callsOf(subject.call_sid);
  } else {
    calls = await led.calls(doc.cursor ?? '', ERASE_CALLS_PER_REQUEST + 1);
    if (calls.length > ERASE_CALLS_PER_REQUEST) {
      calls = calls.slice(0, ERASE_CALLS_PER_REQUEST);
      cursor = calls.at(-1).record_key;
    }
  }
  const erasedCalls = [];
  await eachLimited(calls, ERASE_CONCURRENCY, async (call) => {
    const stub = env.CALL_RECORDS.get(env.CALL_RECORDS.idFromName(call.record_key));
    if ((await stub.erase(subject)) > 0) erasedCalls.push(call);
  });
  const dead = await deadLetterStore(env).erase(subject, erasedCalls.map((c) => c.call_sid));
  const sids = new Set([...erasedCalls.map((c) => c.call_sid), ...dead.call_sids]);
  if (hasSid) sids.add(subject.call_sid);
  await led.tombstone([...sids], now);
  await led.unregister(erasedCalls.map((c) => c.record_key));
  log('info', 'admin_erase', { by: hasSid ? 'call_sid' : 'phone', records: erasedCalls.length, dead_letters: dead.dead_letters, calls: sids.size });
  const answer = { records: erasedCalls.length, outbox: 0, dead_letters: dead.dead_letters, tombstoned_calls: sids.size };
  if (cursor !== null) return json({ ...answer, complete: false, cursor });
  return json({ ...answer, complete: true });
}

// ---- metrics ------------------------------------------------------------------------------------

const label = (v) => String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

async function metrics(env, head) {
  const [counters, dead] = await Promise.all([ledger(env).counters(), deadLetterStore(env).counts()]);
  const lines = [];
  lines.push("# HELP callhook_deliveries_total Delivery attempts, by destination, outcome (delivered, retried, dead) and the core's code.",
    '# TYPE callhook_deliveries_total counter');
  const totals = new Map(); // destination -> {kind: n}
  for (const { destination, kind, code, value } of counters) {
    const t = totals.get(destination) ?? {};
    t[kind] = (t[kind] ?? 0) + value;
    totals.set(destination, t);
    if (kind === 'delivered' || kind === 'retried' || kind === 'dead') {
      lines.push(`callhook_deliveries_total{destination="${label(destination)}",outcome="${kind}",code="${label(code)}"} ${value}`);
    }
  }
  const destinations = [...new Set([...totals.keys(), ...Object.keys(dead)])].sort();
  const of = (d, kind) => totals.get(d)?.[kind] ?? 0;
  lines.push('# HELP callhook_deliveries_queued_total Deliveries put on the Queue (webhooks, sweeps and redrives), by destination.',
    '# TYPE callhook_deliveries_queued_total counter');
  for (const d of destinations) lines.push(`callhook_deliveries_queued_total{destination="${label(d)}"} ${of(d, 'queued')}`);
  lines.push('# HELP callhook_deliveries_erased_total Queued deliveries of erased calls dropped unsent, by destination.',
    '# TYPE callhook_deliveries_erased_total counter');
  for (const d of destinations) lines.push(`callhook_deliveries_erased_total{destination="${label(d)}"} ${of(d, 'erased')}`);
  lines.push('# HELP callhook_outbox_pending Deliveries queued and not yet delivered, dead or dropped, by destination (from the counters: approximate, as delivery is at least once).',
    '# TYPE callhook_outbox_pending gauge');
  for (const d of destinations) {
    const pending = Math.max(0, of(d, 'queued') - of(d, 'delivered') - of(d, 'dead') - of(d, 'erased'));
    lines.push(`callhook_outbox_pending{destination="${label(d)}"} ${pending}`);
  }
  lines.push('# HELP callhook_dead_letters Dead letters kept (until redriven, purged or 30 days after their last attempt), by destination.',
    '# TYPE callhook_dead_letters gauge');
  for (const d of destinations) lines.push(`callhook_dead_letters{destination="${label(d)}"} ${dead[d] ?? 0}`);
  return new Response(head ? null : `${lines.join('\n')}\n`, {
    status: 200, headers: { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Cache-Control': 'no-store' },
  });
}

// ---- dispatch -----------------------------------------------------------------------------------

const PREFIX = '/admin/dead-letters/';

/** [allowed methods, handler] for the path, or null. */
function endpointOf(path) {
  if (path === '/admin/dead-letters') return ['GET, HEAD', (r, env, url, head) => list(url, env, head)];
  if (path === '/admin/dead-letters/redrive') return ['POST', (r, env) => redrive(r, env)];
  if (path === '/admin/dead-letters/purge') return ['POST', (r, env) => purge(r, env)];
  if (path === '/admin/erase') return ['POST', (r, env, url, head, runtime) => erase(r, env, runtime)];
  if (path === '/admin/metrics') return ['GET, HEAD', (r, env, url, head) => metrics(env, head)];
  if (path.startsWith(PREFIX) && path.length > PREFIX.length && !path.slice(PREFIX.length).includes('/')) {
    let id;
    try {
      id = decodeURIComponent(path.slice(PREFIX.length));
    } catch {
      return ['GET, HEAD, DELETE', () => { throw badRequest('The dead letter id is not valid percent-encoding.'); }];
    }
    return ['GET, HEAD, DELETE', (r, env, url, head) => (r.method === 'DELETE' ? purgeOne(id, env) : show(id, env, head))];
  }
  return null;
}

/** Answers one admin request; the front door routed it here (`route.path`: its path). */
export async function handleAdmin(request, env, runtime, route) {
  const token = typeof env.CALLHOOK_ADMIN_TOKEN === 'string' ? env.CALLHOOK_ADMIN_TOKEN : '';
  const denied = runtime.adminCheck(request.headers.get('authorization'), token);
  if (denied) return toResponse(denied);
  const answerOf = (err) => {
    const response = runtime.refusal(err.kind, err.detail);
    if (err.headers) response.headers = [...response.headers.filter(([n]) => n.toLowerCase() !== 'allow'), ...err.headers];
    return toResponse(response);
  };
  try {
    const endpoint = endpointOf(route.path);
    if (endpoint === null) {
      throw new Refused('not-found', 'The admin API has /admin/dead-letters, /admin/dead-letters/ID, /admin/dead-letters/redrive, /admin/dead-letters/purge, /admin/erase and /admin/metrics.');
    }
    const [allowed, handler] = endpoint;
    const head = request.method === 'HEAD';
    const method = head ? 'GET' : request.method;
    if (!allowed.split(', ').includes(method)) {
      throw new Refused('method-not-allowed', `This admin endpoint answers ${allowed}.`, [['Allow', allowed]]);
    }
    return await handler(request, env, new URL(request.url), head, runtime);
  } catch (err) {
    if (err instanceof Refused) return answerOf(err);
    log('error', 'admin', { path: route.path, error: messageOf(err) });
    return answerOf(new Refused('store-unavailable'));
  }
}
