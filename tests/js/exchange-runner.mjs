// The exchange corpus (tests/vectors/exchanges/, format in tests/vectors/README.md) played against
// a shell. One module for every shell: it loads and checks the corpus, builds each request, runs
// the loopback receiver that answers as a sequence's script says and records what arrives, plays a
// sequence against a target and compares what came out. A shell's test file only writes the
// target: how to start it on a config, send a request, let time pass, trigger sweeps and read its
// dead letters.
//
// A target (one per config) is
//   { send(request) -> {status, headers: {lower-case name: value}, body: string},
//     clock() -> epoch ms on the shell's clock (a delivery's arrival is timed on it),
//     deliveryClock() (optional, default clock) -> the clock the shell's delivery loop decides
//       retries on, when it is not the same (Retry-After dates are written on it),
//     pass(ms) -> let the shell's clock move on by ms (sleep, or jump a test clock),
//     sweep() -> make the shell sweep overdue calls now (or wait for its timer),
//     deadLetters() -> [{destination, key, code}] so far,
//     slackMs, quietMs (how long past the expected times to wait, and to watch for extras),
//     stop() }
// where request is {method, path, headers: [[name, value]], body: Buffer | null}.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';

export const root = new URL('../../', import.meta.url).pathname;
export const corpusDir = join(root, 'tests/vectors/exchanges');
export const SHELLS = ['fetch-handler', 'node', 'cloudflare', 'fastly', 'chromium'];
const PROBLEM = 'urn:callhook:problem:';
// How early a delivery may arrive against its `after` (clock reads on both sides of a socket).
const EARLY_TOLERANCE_MS = 50;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the corpus -------------------------------------------------------------------------------

const payloads = {
  initiate: () => readFileSync(join(root, 'examples/payloads/initiate.form'), 'utf8').trim(),
  complete: () => readFileSync(join(root, 'examples/payloads/complete.form'), 'utf8').trim(),
};

/** The corpus: {secrets, configs: {name: config with {receiver}}, files: [{file, description, sequences}]}. */
export function loadCorpus() {
  const { secrets, configs } = JSON.parse(readFileSync(join(corpusDir, 'configs.json'), 'utf8'));
  const files = [];
  for (const file of readdirSync(corpusDir).filter((f) => f.endsWith('.json') && f !== 'configs.json').sort()) {
    const doc = JSON.parse(readFileSync(join(corpusDir, file), 'utf8'));
    files.push({ file, description: doc.description, sequences: doc.sequences });
  }
  const corpus = { secrets, configs, files };
  checkCorpus(corpus);
  return corpus;
}

/** The Call.Sid an idempotency key or a delivery belongs to. */
const sidOf = (key) => String(key ?? '').split(':')[0];

/** Every Call.Sid a sequence sends or expects. */
export function sidsOf(seq) {
  const sids = new Set();
  for (const step of seq.steps ?? []) if (step.send?.sid) sids.add(step.send.sid);
  for (const d of [...(seq.deliveries ?? []), ...(seq.dead_letters ?? [])]) sids.add(sidOf(d.key));
  for (const a of seq.answers ?? []) if (a.key) sids.add(sidOf(a.key));
  return sids;
}

/** The corpus's own rules: names and Call.Sids unique, configs known, marks for known shells. */
function checkCorpus({ configs, files }) {
  const owner = new Map();
  const names = new Set();
  for (const { file, sequences } of files) {
    assert.ok(Array.isArray(sequences) && sequences.length > 0, `${file}: no sequences`);
    for (const seq of sequences) {
      const where = `${file}: ${seq.name}`;
      assert.ok(seq.name && !names.has(seq.name), `${where}: names must be unique`);
      names.add(seq.name);
      assert.ok(configs[seq.config ?? 'main'], `${where}: unknown config ${seq.config}`);
      assert.ok(Array.isArray(seq.deliveries) && Array.isArray(seq.dead_letters), `${where}: deliveries and dead_letters are required`);
      let at = 0;
      for (const step of seq.steps) {
        assert.ok(typeof step.at === 'number' && step.at >= at, `${where}: steps go forward in time`);
        at = step.at;
        assert.ok(step.send || step.sweep || step.wait, `${where}: a step sends, sweeps or waits`);
        if (step.send) assert.ok(step.expect && typeof step.expect.status === 'number', `${where}: a request's expect needs a status`);
      }
      for (const sid of sidsOf(seq)) {
        assert.ok(!owner.has(sid) || owner.get(sid) === seq.name, `${where}: Call.Sid ${sid} is also used by "${owner.get(sid)}"`);
        owner.set(sid, seq.name);
      }
      for (const [shell, mark] of Object.entries(seq.shells ?? {})) {
        assert.ok(SHELLS.includes(shell), `${where}: unknown shell ${shell}`);
        assert.ok(typeof (mark.skip ?? mark.known_failure) === 'string', `${where}: a mark on ${shell} needs its reason`);
      }
    }
  }
}

/** The config's text for a shell: every {receiver} replaced by the receiver's origin. */
export function configText(corpus, name, origin) {
  return JSON.stringify(corpus.configs[name]).replaceAll('{receiver}', origin);
}

// Form pairs kept raw (as sent), compared by decoded name.
const decode = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
const encode = (s) => encodeURIComponent(s).replace(/%20/g, '+');
function splitForm(text) {
  return text.split('&').filter(Boolean).map((pair) => {
    const eq = pair.indexOf('=');
    return eq < 0 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)];
  });
}
function setPair(pairs, name, rawValue) {
  const at = pairs.findIndex(([n]) => decode(n) === name);
  if (at >= 0) pairs[at] = [pairs[at][0], rawValue];
  else pairs.push([encode(name), rawValue]);
}

/**
 * A step's `send` as {method, path, headers: [[name, value]], body: Buffer | null}: `payload`
 * (initiate | complete, examples/payloads) with `sid`, `set`, `set_raw`, `drop`, `pad`, sent
 * `as` form (default), json or query; or `body` / `body_repeat`; `path` (default
 * /hook/{token}), `query`, `headers`, `basic`.
 */
export function buildRequest(send, secrets) {
  let method = send.method ?? 'POST';
  let path = (send.path ?? '/hook/{token}').replaceAll('{token}', secrets.CALLHOOK_TOKEN);
  const headers = [];
  let body = null;
  const query = [];
  if (send.payload) {
    const pairs = splitForm(payloads[send.payload]());
    if (send.sid) setPair(pairs, 'Call.Sid', encode(send.sid));
    for (const [n, v] of Object.entries(send.set ?? {})) setPair(pairs, n, encode(v));
    for (const [n, v] of Object.entries(send.set_raw ?? {})) setPair(pairs, n, v);
    const kept = pairs.filter(([n]) => !(send.drop ?? []).includes(decode(n)));
    let form = kept.map(([n, v]) => `${n}=${v}`).join('&');
    if (send.pad) form += `&Pad=${'a'.repeat(Math.max(0, send.pad - form.length - 5))}`;
    const as = send.as ?? 'form';
    if (as === 'query') {
      method = send.method ?? 'GET';
      query.push(form);
    } else if (as === 'json') {
      const object = {};
      for (const [n, v] of kept) object[decode(n)] = decode(v);
      body = Buffer.from(JSON.stringify(object));
      headers.push(['Content-Type', 'application/json']);
    } else {
      body = Buffer.from(form);
      headers.push(['Content-Type', 'application/x-www-form-urlencoded']);
    }
  } else if (send.body !== undefined && send.body !== null) {
    body = Buffer.from(send.body + (send.body_repeat ? send.body_repeat.text.repeat(send.body_repeat.times) : ''));
  }
  if (send.query) query.push(send.query);
  if (query.length) path += `${path.includes('?') ? '&' : '?'}${query.join('&')}`;
  if (send.basic) headers.push(['Authorization', `Basic ${Buffer.from(send.basic.join(':')).toString('base64')}`]);
  for (const [n, v] of Object.entries(send.headers ?? {})) {
    const at = headers.findIndex(([h]) => h.toLowerCase() === n.toLowerCase());
    if (at >= 0) headers[at] = [n, v];
    else headers.push([n, v]);
  }
  if (method === 'GET' || method === 'HEAD') body = null;
  return { method, path, headers, body };
}

// ---- the loopback receiver -----------------------------------------------------------------------

/**
 * One receiver for every destination of every sequence: destination NAME is {origin}/d/NAME.
 * Requests are told apart by their Idempotency-Key's Call.Sid, so a late retry of an earlier
 * sequence is never counted for the current one. Answers CORS preflights (the page in Chromium
 * sends from another origin) without recording them.
 */
export function startReceiver() {
  const bySid = new Map(); // sid -> the sequence's context
  const strays = [];
  const held = new Set();
  // Connection: close, so no shell reuses a socket: browsers resend a request on their own when a
  // reused connection is reset or answers 408, which would look like an extra attempt.
  const cors = {
    Connection: 'close',
    'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Headers': '*',
    'Access-Control-Allow-Methods': '*', 'Access-Control-Expose-Headers': '*', 'Access-Control-Max-Age': '600',
  };
  const server = http.createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors).end();
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const key = req.headers['idempotency-key'] ?? '';
      const destination = (req.url.match(/^\/d\/([^/?]+)/) ?? [])[1] ?? null;
      const ctx = bySid.get(sidOf(key));
      const arrival = { destination, key, method: req.method, path: req.url, body: Buffer.concat(chunks).toString('utf8') };
      if (!ctx) {
        strays.push(arrival);
        res.writeHead(200, cors).end('{}');
        return;
      }
      arrival.atMs = ctx.clock() - ctx.startMs;
      const n = ctx.arrivals.filter((a) => a.destination === destination && a.key === key).length + 1;
      arrival.attempt = n;
      ctx.arrivals.push(arrival);
      const script = (ctx.answers ?? []).find((a) => (a.destination ?? destination) === destination && (a.key ?? key) === key);
      const replies = script?.replies ?? [];
      const reply = replies.length ? replies[Math.min(n, replies.length) - 1] : { status: 200 };
      answer(req, res, reply, ctx);
    });
  });

  function answer(req, res, reply, ctx) {
    if (reply.transport_error) {
      req.socket.destroy();
      return;
    }
    if (reply.timeout) {
      // Held past any timeout the corpus configures; the shell gives up and closes first.
      const timer = setTimeout(() => req.socket.destroy(), 5000);
      held.add(req.socket);
      req.socket.on('close', () => {
        clearTimeout(timer);
        held.delete(req.socket);
      });
      return;
    }
    const headers = { ...cors, ...(reply.headers ?? {}) };
    // An HTTP date on the clock of whoever decides the retry (the shell's delivery loop).
    if (reply.retry_after_date !== undefined) headers['Retry-After'] = new Date(ctx.deliveryClock() + reply.retry_after_date * 1000).toUTCString();
    res.writeHead(reply.status ?? 200, headers).end(reply.body ?? '{}');
  }

  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    origin: `http://127.0.0.1:${server.address().port}`,
    strays,
    /** Starts recording for a sequence; returns its context ({arrivals}). */
    open(seq, clock, deliveryClock = clock) {
      const ctx = { seq, clock, deliveryClock, startMs: clock(), arrivals: [], answers: seq.answers ?? [] };
      for (const sid of sidsOf(seq)) bySid.set(sid, ctx);
      return ctx;
    },
    close: () => new Promise((done) => {
      for (const s of held) s.destroy();
      server.closeAllConnections();
      server.close(() => done());
    }),
  })));
}

// ---- HTTP for the shells that listen on a socket -----------------------------------------------

/**
 * Sends a request over node:http (any method, any Host) to `base`. A shell may answer and close
 * before a large body is written: the answer counts, the write error does not.
 */
export function httpSend(base, request) {
  const url = new URL(request.path, base);
  return new Promise((resolve, reject) => {
    const headers = {};
    for (const [n, v] of request.headers) headers[n] = v;
    if (request.body) headers['Content-Length'] = String(request.body.length);
    const req = http.request({ host: url.hostname, port: url.port, method: request.method, path: url.pathname + url.search, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: lowerHeaders(Object.entries(res.headers)), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', (err) => setTimeout(() => reject(err), 100)); // a response may still be on its way
    if (request.body) req.end(request.body);
    else req.end();
  });
}

/** Response headers as {lower-case name: value}. */
export function lowerHeaders(entries) {
  const out = {};
  for (const [n, v] of entries) out[n.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
  return out;
}

// ---- comparison rules ----------------------------------------------------------------------------

/** Expected JSON values by containment: objects hold the keys, arrays match element by element. */
function contains(actual, expected, path = '') {
  if (expected && typeof expected === 'object' && !Array.isArray(expected) && '$match' in expected) {
    assert.match(String(actual), new RegExp(expected.$match), `${path}`);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual) && actual.length === expected.length, `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    expected.forEach((e, i) => contains(actual[i], e, `${path}[${i}]`));
    return;
  }
  if (expected && typeof expected === 'object') {
    assert.ok(actual && typeof actual === 'object', `${path}: expected an object, got ${JSON.stringify(actual)}`);
    for (const [k, v] of Object.entries(expected)) contains(actual[k], v, `${path}.${k}`);
    return;
  }
  assert.deepEqual(actual, expected, `${path}`);
}

/** The answer to the sender against a step's expect: status, problem type and code, headers, body. */
export function checkAnswer(expect, answer, where) {
  const text = `${where}: ${answer.status} ${answer.body.slice(0, 400)}`;
  assert.equal(answer.status, expect.status, text);
  let doc = null;
  try {
    doc = JSON.parse(answer.body);
  } catch {
    // checked below when the step expects a document
  }
  if (expect.type || expect.code || expect.errors) {
    assert.match(answer.headers['content-type'] ?? '', /^application\/problem\+json/, `${text}: a problem document`);
    assert.ok(doc, `${text}: the body is JSON`);
    assert.equal(doc.status, expect.status, `${text}: the document's status`);
  }
  if (expect.type) assert.equal(doc.type, expect.type, text);
  if (expect.code) assert.equal(doc.code, expect.code, text);
  if (expect.errors) {
    const codes = [...new Set((doc.errors ?? []).map((e) => e.code))].sort();
    assert.deepEqual(codes, [...new Set(expect.errors)].sort(), `${text}: error codes`);
  }
  for (const [name, value] of Object.entries(expect.headers ?? {})) contains(answer.headers[name.toLowerCase()], value, `${text}: header ${name}`);
  if (expect.body) {
    assert.ok(doc, `${text}: the body is JSON`);
    contains(doc, expect.body, `${text}: body`);
  }
}

const deliveryId = (d) => `${d.destination} ${d.key} #${d.attempt}`;

/** What arrived against `deliveries`: the same set of (destination, key, attempt), none early. */
export function checkDeliveries(expected, arrivals, where) {
  const want = expected.map(deliveryId).sort();
  const got = arrivals.map(deliveryId).sort();
  const timeline = arrivals.map((a) => `${(a.atMs / 1000).toFixed(3)}s ${deliveryId(a)}`).join('\n  ');
  assert.deepEqual(got, want, `${where}: deliveries received\n  ${timeline}`);
  for (const e of expected) {
    const a = arrivals.find((x) => deliveryId(x) === deliveryId(e));
    assert.ok(a.atMs >= e.after * 1000 - EARLY_TOLERANCE_MS,
      `${where}: ${deliveryId(e)} arrived at ${(a.atMs / 1000).toFixed(3)} s, before its earliest time ${e.after} s\n  ${timeline}`);
  }
}

/** Dead letters against `dead_letters`: the same set of (destination, key, code). */
export function checkDeadLetters(expected, actual, where) {
  const id = (d) => `${d.destination} ${d.key} ${d.code}`;
  assert.deepEqual(actual.map(id).sort(), expected.map(id).sort(), `${where}: dead letters`);
}

// ---- playing a sequence --------------------------------------------------------------------------

/** Lets the target's clock reach `atMs` (epoch ms). */
async function reach(target, atMs) {
  const left = atMs - target.clock();
  if (left > 0) await target.pass(left);
}

/**
 * Plays `seq` against `target`, with `receiver` answering its destinations. `firstAttemptsOnly`
 * compares only the deliveries of attempt 1 and no dead letters (for targets that cannot watch
 * retries). Throws (assert) on the first difference.
 */
export async function playSequence(target, seq, receiver, secrets, { firstAttemptsOnly = false } = {}) {
  const ctx = receiver.open(seq, () => target.clock(), () => (target.deliveryClock ?? target.clock)());
  const start = ctx.startMs;
  const sids = sidsOf(seq);
  for (const [i, step] of seq.steps.entries()) {
    await reach(target, start + step.at * 1000);
    const where = `step ${i + 1} (at ${step.at} s)`;
    if (step.send) {
      const answer = await target.send(buildRequest(step.send, secrets));
      checkAnswer(step.expect, answer, where);
    } else if (step.sweep) {
      await target.sweep();
    }
  }
  const expected = firstAttemptsOnly ? seq.deliveries.filter((d) => d.attempt === 1) : seq.deliveries;
  const expectedDead = firstAttemptsOnly ? [] : seq.dead_letters;
  const last = Math.max(seq.steps.at(-1).at, ...expected.map((d) => d.after));
  const deadline = start + last * 1000 + target.slackMs;
  const mine = async () => (await target.deadLetters()).filter((d) => sids.has(sidOf(d.key)));
  const arrived = () => (firstAttemptsOnly ? ctx.arrivals.filter((a) => a.attempt === 1) : ctx.arrivals);
  for (;;) {
    const got = new Set(arrived().map(deliveryId));
    const done = expected.every((d) => got.has(deliveryId(d))) && (await mine()).length >= expectedDead.length;
    if (done || target.clock() >= deadline) break;
    await target.pass(50);
  }
  // Then watch a while longer for anything that should not come.
  await target.pass(target.quietMs);
  checkDeliveries(expected, arrived(), 'deliveries');
  if (!firstAttemptsOnly) checkDeadLetters(expectedDead, await mine(), 'dead letters');
}

// ---- node:test wiring --------------------------------------------------------------------------

/**
 * Whether a prerequisite is missing: false, or the reason. Under CI=true a missing prerequisite
 * is a failure, not a skip: returns {fail: reason} then.
 */
export function prerequisite(reason) {
  if (!reason) return false;
  if (process.env.CI === 'true' || process.env.CI === '1') return { fail: reason };
  return reason;
}

/**
 * Defines one test per sequence for `shell`. `start(configText, secrets, receiver)` starts a
 * target on a config (once per config, stopped after the file). `missing` is prerequisite()'s
 * answer. Marks in the corpus: `skip` skips, `known_failure` runs the sequence as a todo (its
 * failure is reported, not counted). `options` go to playSequence. `concurrency` sequences of
 * a file run at once (their Call.Sids keep them apart; only for targets whose clock is not
 * jumped, since a jump moves every sequence's time).
 */
export function defineExchangeTests(shell, { start, missing = false, options = {}, concurrency = 1 }) {
  if (missing && typeof missing === 'object') {
    test(`${shell}: prerequisites`, () => assert.fail(`CI=true and a prerequisite is missing: ${missing.fail}`));
    return;
  }
  const corpus = loadCorpus();
  let receiver = null;
  let receiverStarting = null;
  const targets = new Map();
  const targetFor = async (name) => {
    receiverStarting ??= startReceiver();
    receiver = await receiverStarting;
    if (!targets.has(name)) targets.set(name, start(configText(corpus, name, receiver.origin), corpus.secrets, receiver));
    return targets.get(name);
  };
  after(async () => {
    for (const t of targets.values()) await (await t.catch(() => null))?.stop();
    await receiver?.close();
  });
  for (const { file, sequences } of corpus.files) {
    describe(`${shell}: ${file}`, { concurrency }, () => {
      for (const seq of sequences) {
        const mark = seq.shells?.[shell] ?? {};
        const opts = missing ? { skip: missing } : mark.skip ? { skip: mark.skip } : mark.known_failure ? { todo: `known failure: ${mark.known_failure}` } : {};
        test(seq.name, opts, async () => {
          const target = await targetFor(seq.config ?? 'main');
          await playSequence(target, seq, receiver, corpus.secrets, options);
        });
      }
    });
  }
  test(`${shell}: no delivery arrived for a Call.Sid no sequence owns`, { skip: missing || false }, () => {
    assert.deepEqual(receiver?.strays ?? [], []);
  });
}

/**
 * A target's pass(ms) for a shell with a test clock: short waits are slept (deliveries and their
 * retries run on real timers), long ones jump the clock by `jump(ms)` and then give the shell a
 * moment.
 */
export function passWithJumps(jump, { sleepUpToMs = 1500, afterJumpMs = 30 } = {}) {
  return async (ms) => {
    if (ms <= sleepUpToMs) return sleep(ms);
    await jump(ms);
    return sleep(afterJumpMs);
  };
}
