// The Node function's admin API (README, "Operating"): dead letters listed, shown, redriven
// (optionally rendered again with the config of now) and purged, and a call's or a phone
// number's data erased. The same contract as the Worker's and Fastly's.
//
// The shell stays thin: whether a request may use the API (the token, compared in constant time)
// and every refusal are the core's (runtime.adminCheck, runtime.refusal); which records and
// deliveries concern a call or a number is the core's too (engine.mentions); a re-rendered
// delivery is the engine's (engine.rerender). What is here is reading the request, asking the
// store, and writing the JSON answer.

import { readFileSync } from 'node:fs';

const JSON_HEADERS = [['Content-Type', 'application/json'], ['Cache-Control', 'no-store']];
// The operator's page at /admin/: static, it holds no data; everything it shows it asks the API
// for with the token the operator types in.
const PAGE = readFileSync(new URL('./admin-page.html', import.meta.url), 'utf8');
const PAGE_HEADERS = [
  ['Content-Type', 'text/html; charset=utf-8'],
  ['Cache-Control', 'no-store'],
  ['Content-Security-Policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'"],
  ['X-Content-Type-Options', 'nosniff'],
  ['Referrer-Policy', 'no-referrer'],
];
// Most dead letters one listing returns, and the default.
const MAX_LIMIT = 1000;
const DEFAULT_LIMIT = 100;
// Most ids one redrive or purge names.
const MAX_IDS = 1000;

// The filter's names on the wire (query parameters, JSON fields) and in the store.
const FILTER_FIELDS = { destination: 'destination', route: 'route', code: 'code', since_ms: 'sinceMs', until_ms: 'untilMs' };

class BadRequest extends Error {}

/** A dead letter as the API shows it (`sealed` only when asked for one by id). */
function view(letter, redact, { sealed = false } = {}) {
  const out = {
    id: letter.id,
    route: letter.route,
    destination: letter.destination,
    idempotency_key: letter.idempotency_key,
    call_sid: letter.call_sid ?? '',
    record_key: letter.record_key ?? '',
    attempts: letter.attempts,
    history: (letter.history ?? []).map((a) => ({ at_ms: a.at_ms, status: a.status ?? null, code: a.code, reason: redact(a.reason ?? '') })),
    code: letter.code,
    reason: redact(letter.reason ?? ''),
    dead_at_ms: letter.dead_at_ms,
    enqueued_at_ms: letter.enqueued_at_ms,
  };
  if (sealed) out.sealed = letter.sealed;
  return out;
}

function epochMs(value, name) {
  const n = typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : value;
  if (!Number.isSafeInteger(n) || n < 0) throw new BadRequest(`${name} must be epoch milliseconds (a whole number).`);
  return n;
}

function limitOf(value, max) {
  const n = typeof value === 'string' && /^\d{1,7}$/.test(value) ? Number(value) : value;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new BadRequest(`limit must be a whole number from 1 to ${max}.`);
  return n;
}

/** The store filter for wire fields ({destination, route, code, since_ms, until_ms, limit}). */
function filterOf(fields, { defaultLimit, maxLimit }) {
  const filter = {};
  for (const [wire, value] of Object.entries(fields)) {
    if (wire === 'limit') {
      filter.limit = limitOf(value, maxLimit);
      continue;
    }
    const name = FILTER_FIELDS[wire];
    if (!name) throw new BadRequest(`Unknown field ${JSON.stringify(wire)}: a filter takes destination, route, code, since_ms, until_ms and limit.`);
    if (name === 'sinceMs' || name === 'untilMs') filter[name] = epochMs(value, wire);
    else if (typeof value === 'string' && value !== '') filter[name] = value;
    else throw new BadRequest(`${wire} must be a non-empty string.`);
  }
  if (filter.limit === undefined && defaultLimit !== undefined) filter.limit = defaultLimit;
  return filter;
}

/** What a redrive or purge body selects: {selection: ids | filter, rerender}. */
function selectionOf(body) {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new BadRequest('The body must be a JSON object: {"ids": [...]} or a filter.');
  }
  const { ids, rerender, ...rest } = body;
  if (rerender !== undefined && typeof rerender !== 'boolean') throw new BadRequest('rerender must be true or false.');
  if (ids === undefined) return { selection: filterOf(rest, { maxLimit: Infinity }), rerender: rerender === true };
  if (Object.keys(rest).length > 0) throw new BadRequest('Give either ids or a filter, not both.');
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_IDS || !ids.every((id) => typeof id === 'string' && id !== '')) {
    throw new BadRequest(`ids must be an array of 1 to ${MAX_IDS} dead letter ids.`);
  }
  return { selection: ids, rerender: rerender === true };
}

// The Call.Sid part of a record key (the core's `ACCOUNT_SID:CALL_SID`).
function callSidOfKey(key) {
  const colon = key.indexOf(':');
  return colon >= 0 ? key.slice(colon + 1) : '';
}

// For an `event` delivery, which event fired it: the middle of its idempotency key
// (`CALL_SID:EVENT:ROUTE`, the core's), or ''.
function eventOf(letter) {
  const key = letter.idempotency_key ?? '';
  const head = `${letter.call_sid}:`;
  const tail = `:${letter.route}`;
  if (!letter.call_sid || !key.startsWith(head) || !key.endsWith(tail) || key.length <= head.length + tail.length) return '';
  return key.slice(head.length, key.length - tail.length);
}

/**
 * The admin API over one engine, store and delivery queue. `token` is CALLHOOK_ADMIN_TOKEN
 * (undefined or '': the API does not exist, every /admin request is the core's not-found).
 * handle({method, path, target, authorization, readBody}) resolves the {status, headers, body}
 * to send, or null when readBody already answered (a body past the cap).
 */
export function createAdmin({ runtime, engine, store, queue, token, log = () => {}, now = Date.now }) {
  const redact = (text) => (typeof engine.redact === 'function' ? engine.redact(String(text)) : String(text));

  const ok = (doc) => ({ status: 200, headers: JSON_HEADERS, body: JSON.stringify(doc) });
  const refuse = (kind, detail = '') => runtime.refusal(kind, detail);
  const notAllowed = (allow) => {
    const r = refuse('method-not-allowed', `This admin endpoint answers ${allow}.`);
    return { ...r, headers: r.headers.map(([n, v]) => (n.toLowerCase() === 'allow' ? [n, allow] : [n, v])) };
  };
  const missing = (what) => refuse('internal-error', `This build of the engine has no ${what}; update callhook.`);

  async function jsonBody(readBody) {
    const bytes = await readBody();
    if (bytes === null) return { answered: true };
    const text = Buffer.from(bytes).toString('utf8');
    if (text.trim() === '') return { value: {} };
    try {
      return { value: JSON.parse(text) };
    } catch {
      throw new BadRequest('The body is not JSON.');
    }
  }

  async function list(query) {
    const fields = {};
    for (const [name, value] of query) {
      if (name in fields) throw new BadRequest(`${name} is given twice.`);
      fields[name] = value;
    }
    const letters = await store.deadLetters(filterOf(fields, { defaultLimit: DEFAULT_LIMIT, maxLimit: MAX_LIMIT }));
    return ok({ dead_letters: letters.map((l) => view(l, redact)), count: letters.length });
  }

  async function show(id) {
    const letter = await store.deadLetter(id);
    if (!letter) return refuse('dead-letter-not-found');
    return ok(view(letter, redact, { sealed: true }));
  }

  // Each selected dead letter rendered again from its call's record with the config of now,
  // then redriven with the new sealed text; those that cannot be are reported, not redriven.
  async function rerenderAndRedrive(selection) {
    if (typeof engine.rerender !== 'function') return missing('engine.rerender (re-rendering a dead letter)');
    const letters = Array.isArray(selection)
      ? (await Promise.all(selection.map((id) => store.deadLetter(id)))).filter(Boolean)
      : await store.deadLetters({ ...selection, limit: selection.limit ?? Infinity });
    const sealed = new Map();
    const skipped = [];
    const at = now();
    for (const letter of letters) {
      const skip = (code, reason) => skipped.push({ id: letter.id, code, reason: redact(reason) });
      if (!letter.record_key) {
        skip('no_record', 'The dead letter names no call record (correlation off, or stored before it was kept).');
        continue;
      }
      const stored = await store.get(letter.record_key);
      if (!stored) {
        skip('record_gone', "The call's record is gone (expired or erased); redrive it without rerender to send it as it was.");
        continue;
      }
      let result;
      try {
        result = engine.rerender({
          record: stored.record, route: letter.route, destination: letter.destination,
          trigger: letter.trigger || '', event: letter.trigger === 'event' ? eventOf(letter) : '', now: at / 1000,
        });
      } catch (err) {
        skip(err?.code ?? 'rerender_failed', String(err?.message ?? err));
        continue;
      }
      const delivery = result && typeof result === 'object' && 'delivery' in result ? result.delivery : result;
      if (!delivery || typeof delivery !== 'object') {
        skip(result?.error?.code ?? 'not_rendered', result?.error?.message ?? 'The route renders no delivery for this call now.');
        continue;
      }
      sealed.set(letter.id, engine.sealDelivery(delivery));
    }
    const redriven = sealed.size > 0 ? await queue.redrive([...sealed.keys()], { sealed }) : 0;
    log({ level: 'info', msg: 'admin_redrive', rerender: true, redriven, skipped: skipped.length });
    return ok({ redriven, skipped });
  }

  async function redrive(readBody) {
    const body = await jsonBody(readBody);
    if (body.answered) return null;
    const { selection, rerender } = selectionOf(body.value);
    if (rerender) return rerenderAndRedrive(selection);
    const redriven = await queue.redrive(selection);
    log({ level: 'info', msg: 'admin_redrive', rerender: false, redriven });
    return ok({ redriven });
  }

  async function purge(readBody) {
    const body = await jsonBody(readBody);
    if (body.answered) return null;
    const { selection, rerender } = selectionOf(body.value);
    if (rerender) throw new BadRequest('rerender is for redrive only.');
    const purged = await store.purge(selection);
    log({ level: 'info', msg: 'admin_purge', purged });
    return ok({ purged });
  }

  async function purgeOne(id) {
    const purged = await store.purge([id]);
    if (purged === 0) return refuse('dead-letter-not-found');
    log({ level: 'info', msg: 'admin_purge', purged });
    return ok({ purged });
  }

  // A call's (call_sid) or a caller's (phone) data: the records the core says concern it, then
  // every outbox item and dead letter that is about those calls or whose sealed text the core
  // says concerns it.
  async function erase(readBody) {
    const body = await jsonBody(readBody);
    if (body.answered) return null;
    const value = body.value;
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new BadRequest('The body must be {"call_sid": ...} or {"phone": ...}.');
    const names = Object.keys(value);
    if (names.length !== 1 || !['call_sid', 'phone'].includes(names[0]) || typeof value[names[0]] !== 'string' || value[names[0]].trim() === '') {
      throw new BadRequest('The body must be exactly one of {"call_sid": "CA..."} or {"phone": "+1..."}.');
    }
    if (typeof engine.mentions !== 'function') return missing('engine.mentions (finding what concerns a call or a number)');
    let who = { [names[0]]: value[names[0]] };
    try {
      // Checked once (a number that is not one is refused before anything is read), the phone
      // in the core's E.164 form from then on.
      const subject = runtime.erasureSubject(who);
      who = names[0] === 'phone' ? { phone: subject.phone } : { call_sid: subject.call_sid };
    } catch (err) {
      if (err?.code === 'bad_phone' || err?.code === 'empty_subject') throw new BadRequest(String(err.message));
      throw err;
    }
    const sids = new Set(who.call_sid ? [who.call_sid] : []);
    const keys = new Set();
    const result = await store.erase({
      record(text, key) {
        if (!engine.mentions(text, who)) return false;
        keys.add(key);
        const sid = callSidOfKey(key);
        if (sid) sids.add(sid);
        return true;
      },
      item(item) {
        if (item.call_sid && sids.has(item.call_sid)) return true;
        if (item.record_key && keys.has(item.record_key)) return true;
        if (engine.mentions(item.sealed, who)) return true;
        for (const sid of sids) if (sid !== who.call_sid && engine.mentions(item.sealed, { call_sid: sid })) return true;
        return false;
      },
    });
    log({ level: 'info', msg: 'admin_erase', by: names[0], ...result });
    return ok({ records: result.records, outbox: result.outbox, dead_letters: result.dead_letters });
  }

  async function dispatch(method, path, query, readBody) {
    const read = method === 'GET' || method === 'HEAD';
    if (path === '/admin/dead-letters') return read ? list(query) : notAllowed('GET, HEAD');
    if (path === '/admin/dead-letters/redrive') return method === 'POST' ? redrive(readBody) : notAllowed('POST');
    if (path === '/admin/dead-letters/purge') return method === 'POST' ? purge(readBody) : notAllowed('POST');
    if (path === '/admin/erase') return method === 'POST' ? erase(readBody) : notAllowed('POST');
    const one = /^\/admin\/dead-letters\/([^/]+)$/.exec(path);
    if (one) {
      let id;
      try {
        id = decodeURIComponent(one[1]);
      } catch {
        throw new BadRequest('The dead letter id is not valid percent-encoding.');
      }
      if (read) return show(id);
      if (method === 'DELETE') return purgeOne(id);
      return notAllowed('GET, HEAD, DELETE');
    }
    return refuse('not-found', 'The admin API has /admin/dead-letters, /admin/dead-letters/ID, /admin/dead-letters/redrive, /admin/dead-letters/purge and /admin/erase.');
  }

  return {
    /** Whether the admin API exists (a token is configured). */
    enabled: typeof token === 'string' && token !== '',

    async handle({ method, path, target, authorization, readBody }) {
      // The page needs no token to be fetched (a browser cannot send one on navigation) and
      // shows nothing until the API answers with one; without a token configured it does not
      // exist either.
      if (this.enabled && (method === 'GET' || method === 'HEAD') && (path === '/admin' || path === '/admin/')) {
        return { status: 200, headers: PAGE_HEADERS, body: method === 'HEAD' ? '' : PAGE };
      }
      // Allowed, or the core's not-found (no token) or unauthorized: before the body is read.
      const refused = runtime.adminCheck(authorization ?? null, token ?? null);
      if (refused) return refused;
      const query = new URL(target ?? path, 'http://admin.invalid').searchParams;
      try {
        return await dispatch(method, path, query, readBody);
      } catch (err) {
        if (err instanceof BadRequest) return refuse('bad-admin-request', err.message);
        if (err instanceof TypeError) return refuse('bad-admin-request', redact(err.message));
        throw err;
      }
    },
  };
}
