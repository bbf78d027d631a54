// What an operator needs to see and fix what failed, kept in two SQLite-backed Durable Objects,
// one instance of each (idFromName): the dead letters, and the ledger (delivery counters per
// destination, the index of calls whose record is kept, and erasure tombstones).
//
// - DeadLetters: every dead letter the dead-letter queue's consumer hands it, keyed by an id
//   made from its idempotency key and destination (a dead letter delivered twice by the Queue is
//   kept once), with its sealed delivery, every attempt, the call it belongs to, the core's code
//   and reason. Kept 30 days after the last attempt, then deleted by the object's alarm.
// - Ledger: counters added by the consumers (delivered, retried, dead, erased) and by the
//   producers (queued), from which /admin/metrics reports pending deliveries; the record keys of
//   the calls whose Durable Object holds a record, so erasure can find a call's or a phone
//   number's records (Durable Objects cannot be listed); and tombstones of erased calls, which
//   the Queue consumer checks so that a pending message of an erased call is dropped rather than
//   sent (Queue messages cannot be deleted).
import { DurableObject } from 'cloudflare:workers';
import { engineFor } from './engine.js';

export const DAY_MS = 86_400_000;
export const DEAD_LETTER_RETENTION_MS = 30 * DAY_MS;
// A tombstone outlives any message of the call still on the Queue: the Queue keeps a message
// 14 days at most, and a retried one is sent again with its history within the engine's policy.
export const TOMBSTONE_RETENTION_MS = 30 * DAY_MS;
const PAGE = 500; // rows read at once when every row is asked about
const MAX_BOUND = 90; // SQL parameters in one statement (Durable Object SQLite allows 100)

/** `ids` in chunks a statement can bind. */
function chunks(ids) {
  const out = [];
  for (let i = 0; i < ids.length; i += MAX_BOUND) out.push(ids.slice(i, i + MAX_BOUND));
  return out;
}

/** The one instance of each object. */
export function deadLetterStore(env) {
  return env.DEAD_LETTER_STORE.get(env.DEAD_LETTER_STORE.idFromName('dead-letters'));
}
export function ledger(env) {
  return env.LEDGER.get(env.LEDGER.idFromName('ledger'));
}

/** A dead letter's id: the first 128 bits of SHA-256(idempotency key, newline, destination), hex. */
export async function deadLetterId(idempotencyKey, destination) {
  const bytes = new TextEncoder().encode(`${idempotencyKey}\n${destination}`);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return [...digest.slice(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// The WHERE clause of a filter {destination, route, code, since_ms, until_ms} (every field
// given must hold; since_ms <= dead_at_ms < until_ms). The admin API checked its shape; a
// selection by ids ({ids}) is read id by id chunk instead.
function where(selection) {
  const parts = [];
  const args = [];
  for (const name of ['destination', 'route', 'code']) {
    if (typeof selection?.[name] === 'string') {
      parts.push(`${name} = ?`);
      args.push(selection[name]);
    }
  }
  if (Number.isFinite(selection?.since_ms)) {
    parts.push('dead_at_ms >= ?');
    args.push(selection.since_ms);
  }
  if (Number.isFinite(selection?.until_ms)) {
    parts.push('dead_at_ms < ?');
    args.push(selection.until_ms);
  }
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', args };
}

const COLUMNS = 'id, route, destination, idempotency_key, call_sid, record_key, attempts, history, code, reason, dead_at_ms, enqueued_at_ms';

function letterOf(row, withSealed) {
  const letter = {
    id: row.id, route: row.route, destination: row.destination, idempotency_key: row.idempotency_key,
    call_sid: row.call_sid, record_key: row.record_key, attempts: row.attempts,
    history: JSON.parse(row.history), code: row.code, reason: row.reason,
    dead_at_ms: row.dead_at_ms, enqueued_at_ms: row.enqueued_at_ms ?? null,
  };
  if (withSealed) letter.sealed = row.sealed;
  return letter;
}

export class DeadLetters extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS dead_letters (
      id TEXT PRIMARY KEY, route TEXT NOT NULL, destination TEXT NOT NULL,
      idempotency_key TEXT NOT NULL, call_sid TEXT NOT NULL, record_key TEXT NOT NULL,
      attempts INTEGER NOT NULL, history TEXT NOT NULL, code TEXT NOT NULL, reason TEXT NOT NULL,
      dead_at_ms INTEGER NOT NULL, enqueued_at_ms INTEGER, sealed TEXT NOT NULL)`);
    this.sql.exec('CREATE INDEX IF NOT EXISTS dead_letters_by_time ON dead_letters (dead_at_ms)');
    this.sql.exec('CREATE INDEX IF NOT EXISTS dead_letters_by_call ON dead_letters (call_sid)');
  }

  /** Deletes the dead letters past their retention; the alarm comes back daily while any remain. */
  async prune(now = Date.now()) {
    this.sql.exec('DELETE FROM dead_letters WHERE dead_at_ms < ?', now - DEAD_LETTER_RETENTION_MS);
    const { n } = this.sql.exec('SELECT COUNT(*) AS n FROM dead_letters').one();
    if (n === 0) await this.ctx.storage.deleteAlarm();
    else if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(now + DAY_MS);
  }

  async alarm() {
    await this.prune();
  }

  /** Keeps dead letters (each with its id and sealed text); one already kept is replaced. */
  async keep(letters) {
    for (const l of letters) {
      this.sql.exec(`INSERT OR REPLACE INTO dead_letters (${COLUMNS}, sealed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
        l.id, l.route, l.destination, l.idempotency_key, l.call_sid, l.record_key, l.attempts,
        JSON.stringify(l.history), l.code, l.reason, l.dead_at_ms, l.enqueued_at_ms ?? null, l.sealed);
    }
    await this.prune();
    return letters.length;
  }

  /** The dead letters a filter matches, newest first, at most `limit`, without their sealed text. */
  async list(filter, limit) {
    await this.prune();
    const w = where(filter);
    return this.sql.exec(`SELECT ${COLUMNS} FROM dead_letters ${w.sql} ORDER BY dead_at_ms DESC, id DESC LIMIT ?`,
      ...w.args, limit).toArray().map((row) => letterOf(row, false));
  }

  /** One dead letter with its sealed text, or null. */
  async get(id) {
    await this.prune();
    const rows = this.sql.exec(`SELECT ${COLUMNS}, sealed FROM dead_letters WHERE id = ?`, id).toArray();
    return rows.length ? letterOf(rows[0], true) : null;
  }

  /**
   * The newest `limit` dead letters a selection holds after `after` ({dead_at_ms, id} of the
   * last one of the page before, in the same order), with their sealed text (for a redrive).
   */
  select(selection, limit, after = null) {
    const later = (row) => after === null || row.dead_at_ms < after.dead_at_ms ||
      (row.dead_at_ms === after.dead_at_ms && row.id < after.id);
    if (Array.isArray(selection?.ids)) {
      const rows = [];
      for (const ids of chunks([...new Set(selection.ids)])) {
        rows.push(...this.sql.exec(`SELECT ${COLUMNS}, sealed FROM dead_letters WHERE id IN (${ids.map(() => '?').join(',')})`,
          ...ids).toArray());
      }
      rows.sort((a, b) => b.dead_at_ms - a.dead_at_ms || (a.id < b.id ? 1 : -1));
      return rows.filter(later).slice(0, limit).map((row) => letterOf(row, true));
    }
    const w = where(selection);
    const parts = w.sql ? [w.sql] : [];
    const args = [...w.args];
    if (after !== null) {
      parts.push(`${w.sql ? 'AND' : 'WHERE'} (dead_at_ms < ? OR (dead_at_ms = ? AND id < ?))`);
      args.push(after.dead_at_ms, after.dead_at_ms, after.id);
    }
    return this.sql.exec(`SELECT ${COLUMNS}, sealed FROM dead_letters ${parts.join(' ')} ORDER BY dead_at_ms DESC, id DESC LIMIT ?`,
      ...args, limit).toArray().map((row) => letterOf(row, true));
  }

  /** Deletes these ids; resolves how many were kept. */
  remove(ids) {
    let n = 0;
    for (const id of ids) n += this.sql.exec('DELETE FROM dead_letters WHERE id = ?', id).rowsWritten;
    return n;
  }

  /** Deletes what a selection holds (a filter's `limit`: its newest that many); resolves how many. */
  purge(selection) {
    if (Array.isArray(selection?.ids)) return this.remove([...new Set(selection.ids)]);
    const w = where(selection);
    if (Number.isSafeInteger(selection?.limit)) {
      return this.sql.exec(`DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters ${w.sql}
        ORDER BY dead_at_ms DESC, id DESC LIMIT ?)`, ...w.args, selection.limit).rowsWritten;
    }
    return this.sql.exec(`DELETE FROM dead_letters ${w.sql}`, ...w.args).rowsWritten;
  }

  /**
   * Deletes every dead letter of the call, of the calls `callSids` (those whose records the
   * erasure deleted), or whose sealed delivery the engine's mentions() says concerns `subject`
   * ({call_sid} or {phone}). Resolves {dead_letters, call_sids} (the calls they belonged to).
   */
  async erase(subject, callSids = []) {
    const engine = await engineFor(this.env);
    const calls = new Set(callSids);
    if (typeof subject.call_sid === 'string') calls.add(subject.call_sid);
    const doomed = [];
    let after = '';
    for (;;) {
      const rows = this.sql.exec('SELECT id, call_sid, sealed FROM dead_letters WHERE id > ? ORDER BY id LIMIT ?',
        after, PAGE).toArray();
      for (const row of rows) {
        if (calls.has(row.call_sid) || engine.mentions(row.sealed, subject)) doomed.push(row);
      }
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1].id;
    }
    this.remove(doomed.map((r) => r.id));
    return { dead_letters: doomed.length, call_sids: [...new Set(doomed.map((r) => r.call_sid).filter(Boolean))] };
  }

  /** Dead letters kept, by destination. */
  async counts() {
    await this.prune();
    const counts = {};
    for (const row of this.sql.exec('SELECT destination, COUNT(*) AS n FROM dead_letters GROUP BY destination')) {
      counts[row.destination] = row.n;
    }
    return counts;
  }
}

// ---- the ledger ---------------------------------------------------------------------------------

// The counters /admin/metrics reports, per destination: `queued` (put on the Queue), the
// attempts' outcomes `delivered`, `retried`, `dead` by the core's code, and `erased` (messages
// and dead letters of erased calls dropped unsent).
export const KINDS = ['queued', 'delivered', 'retried', 'dead', 'erased'];

/** Counts gathered for Ledger.add: add(destination, kind, code) once per event. */
export class Tally {
  constructor() {
    this.counts = new Map();
  }
  add(destination, kind, code = '') {
    const key = JSON.stringify([String(destination ?? ''), kind, String(code ?? '')]);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  get size() {
    return this.counts.size;
  }
  list() {
    return [...this.counts].map(([key, n]) => {
      const [destination, kind, code] = JSON.parse(key);
      return { destination, kind, code, n };
    });
  }
}

export class Ledger extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS counters (
      destination TEXT NOT NULL, kind TEXT NOT NULL, code TEXT NOT NULL, value INTEGER NOT NULL,
      PRIMARY KEY (destination, kind, code))`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS calls (
      record_key TEXT PRIMARY KEY, call_sid TEXT NOT NULL, until_ms INTEGER NOT NULL)`);
    this.sql.exec('CREATE INDEX IF NOT EXISTS calls_by_sid ON calls (call_sid)');
    this.sql.exec(`CREATE TABLE IF NOT EXISTS tombstones (
      call_sid TEXT PRIMARY KEY, erased_at_ms INTEGER NOT NULL, until_ms INTEGER NOT NULL)`);
  }

  async prune(now = Date.now()) {
    this.sql.exec('DELETE FROM calls WHERE until_ms < ?', now);
    this.sql.exec('DELETE FROM tombstones WHERE until_ms < ?', now);
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(now + DAY_MS);
  }

  async alarm() {
    await this.prune();
  }

  /** Adds counts: [{destination, kind, code ('' for queued and erased), n}]. */
  add(counts) {
    for (const { destination, kind, code = '', n } of counts) {
      if (!KINDS.includes(kind) || !Number.isSafeInteger(n) || n <= 0) continue;
      this.sql.exec(`INSERT INTO counters (destination, kind, code, value) VALUES (?, ?, ?, ?)
        ON CONFLICT (destination, kind, code) DO UPDATE SET value = value + excluded.value`,
      String(destination), kind, String(code), n);
    }
  }

  /** Every counter: [{destination, kind, code, value}]. */
  counters() {
    return this.sql.exec('SELECT destination, kind, code, value FROM counters ORDER BY destination, kind, code').toArray();
  }

  /** Notes that the call's Durable Object holds a record until about `until_ms`. */
  async register(recordKey, callSid, untilMs) {
    this.sql.exec(`INSERT INTO calls (record_key, call_sid, until_ms) VALUES (?, ?, ?)
      ON CONFLICT (record_key) DO UPDATE SET until_ms = MAX(until_ms, excluded.until_ms)`, recordKey, callSid, untilMs);
    await this.prune();
  }

  unregister(recordKeys) {
    for (const key of recordKeys) this.sql.exec('DELETE FROM calls WHERE record_key = ?', key);
  }

  /** The record keys of a call. */
  callsOf(callSid) {
    return this.sql.exec('SELECT record_key, call_sid FROM calls WHERE call_sid = ? ORDER BY record_key', callSid).toArray();
  }

  /** Up to `limit` calls after the record key `after`, in key order. */
  calls(after, limit) {
    return this.sql.exec('SELECT record_key, call_sid FROM calls WHERE record_key > ? ORDER BY record_key LIMIT ?',
      after, limit).toArray();
  }

  /** Marks calls erased at `atMs`: their messages queued until then are dropped. */
  async tombstone(callSids, atMs) {
    for (const sid of callSids) {
      this.sql.exec(`INSERT INTO tombstones (call_sid, erased_at_ms, until_ms) VALUES (?, ?, ?)
        ON CONFLICT (call_sid) DO UPDATE SET erased_at_ms = MAX(erased_at_ms, excluded.erased_at_ms),
        until_ms = MAX(until_ms, excluded.until_ms)`, sid, atMs, atMs + TOMBSTONE_RETENTION_MS);
    }
    await this.prune();
    return callSids.length;
  }

  /**
   * For each message ({call_sid, enqueued_at_ms}), whether its call was erased after it was
   * queued (a message whose queueing time is unknown counts as queued before).
   */
  erased(messages) {
    const sids = [...new Set(messages.map((m) => m.call_sid).filter(Boolean))];
    if (sids.length === 0) return messages.map(() => false);
    const at = new Map();
    for (const some of chunks(sids)) {
      for (const row of this.sql.exec(`SELECT call_sid, erased_at_ms FROM tombstones WHERE call_sid IN (${some.map(() => '?').join(',')})`, ...some)) {
        at.set(row.call_sid, row.erased_at_ms);
      }
    }
    return messages.map((m) => at.has(m.call_sid) &&
      !(Number.isFinite(m.enqueued_at_ms) && m.enqueued_at_ms > at.get(m.call_sid)));
  }
}
