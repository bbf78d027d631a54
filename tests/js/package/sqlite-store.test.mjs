// sqliteStore (callhook/sqlite): the DurableStore conformance suite, then what only a store on
// disk promises: data survives a reopen and a SIGKILL of a real process, the folder and files
// are owner-only, a second process is refused, the WAL stays bounded, the purge timer neither
// keeps the process alive nor misses expired records.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { sqliteStore } from '../../../bindings/js/sqlite-store.js';
import { runDurableStoreConformance, outboxItem, recordEntry } from '../store-conformance.mjs';

const storeUrl = new URL('../../../bindings/js/sqlite-store.js', import.meta.url).href;
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'callhook-sqlite-'));
after(() => fs.rmSync(base, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => path.join(base, `d${++dirs}`);
const mode = (p) => fs.statSync(p).mode & 0o777;
const T0 = 1_800_000_000_000;
const attempt = (code, status = null) => ({ at_ms: T0, status, code, reason: code === 'delivered' ? '' : code });

// Runs an ES module snippet in a child process with `m` the store module.
function nodeChild(code) {
  return spawn(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(storeUrl)});\n${code}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
function nodeChildSync(code, timeout = 20_000) {
  return spawnSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(storeUrl)});\n${code}`], {
    encoding: 'utf8', timeout,
  });
}

runDurableStoreConformance('sqliteStore', () => sqliteStore({ dir: freshDir() }));

describe('sqliteStore on disk', () => {
  it('everything survives close and reopen; nothing is held after it', async () => {
    const dir = freshDir();
    let s = sqliteStore({ dir });
    assert.deepEqual(await s.commit({ key: 'AC1:CA1', expectedVersion: 0, entry: recordEntry('AC1:CA1', 1, { sweepAt: 99 }), items: [outboxItem('a'), outboxItem('b'), outboxItem('c', 'ga4')] }), { ok: true });
    const claimed = await s.claim({ destination: 'crm', max: 10, nowMs: T0 });
    const a = claimed.find((c) => c.id === 'a');
    const b = claimed.find((c) => c.id === 'b');
    await s.finish(a, { verdict: 'retry', next_at_ms: T0 + 1000, code: 'timeout', reason: 'timeout', attempt: attempt('timeout') });
    const [c] = await s.claim({ destination: 'ga4', max: 1, nowMs: T0 });
    await s.finish(c, { verdict: 'dead', code: 'permanent_status', reason: 'HTTP 400', attempt: attempt('permanent_status', 400) });
    assert.ok(b, 'b is held when the store closes');
    await s.close();

    s = sqliteStore({ dir });
    assert.deepEqual(await s.get('AC1:CA1'), recordEntry('AC1:CA1', 1, { sweepAt: 99 }));
    assert.deepEqual(await s.due(100), ['AC1:CA1']);
    assert.deepEqual(await s.counts(), { pending: 2, byDestination: { crm: 2 }, dead: 1 });
    const again = await s.claim({ destination: 'crm', max: 10, nowMs: T0 + 1000 });
    assert.deepEqual(again.map((x) => [x.id, x.attempts, x.history.length]).sort(), [['a', 1, 1], ['b', 0, 0]]);
    const [dead] = await s.deadLetters();
    assert.deepEqual([dead.id, dead.code, dead.attempts], ['c', 'permanent_status', 1]);
    await s.close();
  });

  it('redrive keeps the history and resets attempts', async () => {
    const s = sqliteStore({ dir: freshDir() });
    await s.commit({ key: null, items: [outboxItem('h')] });
    let [h] = await s.claim({ destination: 'crm', max: 1, nowMs: T0 });
    await s.finish(h, { verdict: 'dead', code: 'permanent_status', reason: 'HTTP 404', attempt: attempt('permanent_status', 404) });
    assert.equal(await s.redrive(['h']), 1);
    [h] = await s.claim({ destination: 'crm', max: 1, nowMs: 0 });
    assert.equal(h.attempts, 0);
    assert.deepEqual(h.history, [attempt('permanent_status', 404)]);
    await s.close();
  });

  it('the folder is 0700 (a wider one is tightened) and the database, -wal and pid note are 0600', async () => {
    const dir = freshDir();
    fs.mkdirSync(dir, { mode: 0o755 });
    fs.chmodSync(dir, 0o755);
    const s = sqliteStore({ dir });
    await s.commit({ key: 'k', expectedVersion: 0, entry: recordEntry('k', 1), items: [outboxItem('p')] });
    assert.equal(mode(dir), 0o700);
    const names = fs.readdirSync(dir).sort();
    assert.ok(names.includes('callhook.sqlite') && names.includes('callhook.sqlite-wal'), names.join(' '));
    for (const name of names) assert.equal(mode(path.join(dir, name)), 0o600, `${name} is owner-only`);
    assert.equal(names.includes('callhook.sqlite-shm'), false, 'exclusive WAL keeps no shared-memory file');
    await s.close();

    const nested = path.join(freshDir(), 'a', 'b');
    const t = sqliteStore({ dir: nested, file: 'other.db' });
    assert.equal(mode(nested), 0o700);
    assert.equal(t.path, path.join(fs.realpathSync(nested), 'other.db'));
    await t.close();
  });

  it('an existing database with wider permissions is tightened', async () => {
    const dir = freshDir();
    await sqliteStore({ dir }).close();
    fs.chmodSync(path.join(dir, 'callhook.sqlite'), 0o644);
    const s = sqliteStore({ dir });
    assert.equal(mode(path.join(dir, 'callhook.sqlite')), 0o600);
    await s.close();
  });

  it('a folder owned by another user is refused', { skip: process.getuid?.() === 0 ? false : 'needs root to give a folder away' }, () => {
    const dir = freshDir();
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.chownSync(dir, 65534, 65534);
    assert.throws(() => sqliteStore({ dir }), /belongs to uid 65534/);
  });

  it('the package exports it as callhook/sqlite and ships both files', async () => {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../../bindings/js/package.json', import.meta.url), 'utf8'));
    assert.deepEqual(pkg.exports['./sqlite'], { types: './sqlite-store.d.ts', default: './sqlite-store.js' });
    for (const f of ['sqlite-store.js', 'sqlite-store.d.ts']) assert.ok(pkg.files.includes(f), f);
    assert.equal(pkg.peerDependenciesMeta['better-sqlite3'].optional, true);
    assert.equal((await import('callhook/sqlite')).sqliteStore, sqliteStore);
  });

  it('bad options are TypeErrors', () => {
    assert.throws(() => sqliteStore(), TypeError);
    assert.throws(() => sqliteStore({ dir: freshDir(), file: '../escape.sqlite' }), TypeError);
    assert.throws(() => sqliteStore({ dir: freshDir(), file: 'a/b.sqlite' }), TypeError);
  });

  it('a second store on the folder is refused, in another process and in this one, until the first closes', async () => {
    const dir = freshDir();
    const s = sqliteStore({ dir });
    await s.commit({ key: 'k', expectedVersion: 0, entry: recordEntry('k', 1), items: [] });
    const tryOpen = `try { const s = m.sqliteStore({ dir: ${JSON.stringify(dir)} }); console.log('opened', (await s.get('k'))?.version); await s.close(); }
      catch (err) { console.log(err.code); console.log(err.message); process.exitCode = 3; }`;
    const refused = nodeChildSync(tryOpen);
    assert.equal(refused.status, 3, refused.stderr);
    const [code, message] = refused.stdout.trim().split('\n');
    assert.equal(code, 'CALLHOOK_STORE_LOCKED');
    assert.match(message, new RegExp(`in use by another store \\(process ${process.pid}`));
    assert.throws(() => sqliteStore({ dir }), (err) => err.code === 'CALLHOOK_STORE_LOCKED');
    // The raw database refuses too: the lock is SQLite's, not only this package's.
    const raw = nodeChildSync(`const { default: D } = await import('better-sqlite3');
      try { new D(${JSON.stringify(path.join(dir, 'callhook.sqlite'))}, { timeout: 0 }).prepare('SELECT COUNT(*) FROM records').get(); console.log('read'); }
      catch (err) { console.log(err.code); }`);
    assert.equal(raw.stdout.trim(), 'SQLITE_BUSY', raw.stderr);
    await s.close();
    const opened = nodeChildSync(tryOpen);
    assert.equal(opened.status, 0, opened.stderr);
    assert.equal(opened.stdout.trim(), 'opened 1');
  });

  it('a process killed with SIGKILL loses no commit or finish it acknowledged', async (t) => {
    const dir = freshDir();
    // The child commits a record and a delivery per call, finishes every other delivery (those
    // to crm; the others go to ga4) as delivered, and prints each after its promise resolved:
    // "c <n>" committed, "d <n>" delivered.
    const child = nodeChild(`
      const s = m.sqliteStore({ dir: ${JSON.stringify(dir)} });
      const deadline = Date.now() + 60_000;
      for (let n = 0; n < 200_000 && Date.now() < deadline; n++) {
        const key = 'AC1:CA' + n;
        const r = await s.commit({ key, expectedVersion: 0, entry: { record: JSON.stringify({ n }), version: 1, expires_at: null, sweep_at: null },
          items: [{ id: 'i' + n, route: 'all', destination: n % 2 === 0 ? 'crm' : 'ga4', idempotency_key: key + ':completed:all', sealed: 'sealed ' + n, enqueued_at_ms: n }] });
        if (!r.ok) throw new Error(JSON.stringify(r));
        process.stdout.write('c ' + n + '\\n');
        if (n % 2 === 0) {
          const [c] = await s.claim({ destination: 'crm', max: 1, nowMs: n });
          if (c.id !== 'i' + n) throw new Error('claimed ' + c.id);
          await s.finish(c, { verdict: 'delivered', code: 'delivered', reason: '', attempt: { at_ms: n, status: 200, code: 'delivered', reason: '' } });
          process.stdout.write('d ' + n + '\\n');
        }
      }`);
    const committed = new Set();
    const delivered = new Set();
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    let buffered = '';
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the child acknowledged only ${committed.size} commits in 60 s: ${stderr}`)), 60_000);
      child.stdout.on('data', (d) => {
        buffered += d;
        const lines = buffered.split('\n');
        buffered = lines.pop();
        for (const line of lines) {
          const [kind, n] = line.split(' ');
          (kind === 'c' ? committed : delivered).add(Number(n));
        }
        // Killed mid-stream, at some point after the 300th acknowledgement.
        if (committed.size >= 300 && !child.killed) {
          clearTimeout(timer);
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => {
        clearTimeout(timer);
        if (!child.killed) reject(new Error(`the child exited before it was killed: ${stderr}`));
      });
    });
    assert.deepEqual(await exited, { code: null, signal: 'SIGKILL' });
    t.diagnostic(`killed after ${committed.size} acknowledged commits and ${delivered.size} deliveries`);

    const s = sqliteStore({ dir });
    const pending = new Set();
    for (const destination of ['crm', 'ga4']) {
      for (let round = 0; round < 1000; round++) {
        const batch = await s.claim({ destination, max: 1000, nowMs: Number.MAX_SAFE_INTEGER });
        if (batch.length === 0) break;
        for (const c of batch) pending.add(Number(c.id.slice(1)));
      }
    }
    // The one finish that may have been under way at the kill: done but not yet acknowledged.
    const inFlight = Math.max(...[...committed].filter((n) => n % 2 === 0 && !delivered.has(n)), -1);
    for (const n of committed) {
      const rec = await s.get(`AC1:CA${n}`);
      assert.ok(rec && JSON.parse(rec.record).n === n, `the acknowledged record ${n} is there`);
      if (delivered.has(n)) assert.equal(pending.has(n), false, `the delivered item ${n} stays delivered`);
      else if (n !== inFlight) assert.ok(pending.has(n), `the acknowledged item ${n} is pending`);
    }
    assert.ok(inFlight === -1 || inFlight === Math.max(...committed), 'only the last commit can have an unacknowledged finish');
    const counts = await s.counts();
    assert.equal(counts.pending, pending.size);
    await s.close();
  });

  it('the WAL stays bounded over 20k commits and finishes, and is emptied at close', async (t) => {
    const dir = freshDir();
    const s = sqliteStore({ dir });
    const wal = path.join(dir, 'callhook.sqlite-wal');
    const sealed = 'x'.repeat(800);
    const deadline = Date.now() + 240_000;
    let largest = 0;
    let n = 0;
    for (; n < 20_000 && Date.now() < deadline; n++) {
      const key = `AC1:CA${n}`;
      await s.commit({ key, expectedVersion: 0, entry: recordEntry(key, 1), items: [outboxItem(`w${n}`, 'crm', { sealed })] });
      if (n % 10 === 9) {
        for (const c of await s.claim({ destination: 'crm', max: 10, nowMs: T0 })) {
          await s.finish(c, { verdict: 'delivered', code: 'delivered', reason: '', attempt: attempt('delivered', 200) });
        }
      }
      if (n % 500 === 0) largest = Math.max(largest, fs.statSync(wal).size);
    }
    largest = Math.max(largest, fs.statSync(wal).size);
    t.diagnostic(`${n} commits; largest -wal ${largest} bytes`);
    // Unchecked, the WAL would hold every page written: about 3 pages of 4 KiB per commit.
    assert.ok(largest <= 8 * 1024 * 1024, `the -wal reached ${largest} bytes`);
    assert.deepEqual(await s.counts(), { pending: 0, byDestination: {}, dead: 0 });
    await s.close();
    assert.equal(fs.existsSync(wal) ? fs.statSync(wal).size : 0, 0);
  });

  it('expired records are purged by the timer, without a read', async () => {
    const dir = freshDir();
    let clock = 1000;
    const s = sqliteStore({ dir, now: () => clock, purgeIntervalMs: 10 });
    await s.compareAndSet('old', 0, recordEntry('old', 1, { expiresAt: 1010 }));
    await s.compareAndSet('new', 0, recordEntry('new', 1, { expiresAt: 5000 }));
    clock = 1010;
    // The timer has fired at least once in 50 of its intervals; no assertion on how fast.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await s.close();
    const raw = new Database(path.join(dir, 'callhook.sqlite'), { readonly: true });
    assert.deepEqual(raw.prepare('SELECT key FROM records').all().map((r) => r.key), ['new']);
    raw.close();
  });

  it('the purge timer does not keep the process alive, and a store never closed reopens whole', async () => {
    const dir = freshDir();
    const r = nodeChildSync(`const s = m.sqliteStore({ dir: ${JSON.stringify(dir)}, purgeIntervalMs: 50 });
      await s.commit({ key: 'k', expectedVersion: 0, entry: { record: 'r', version: 1, expires_at: null, sweep_at: null },
        items: [{ id: 'x', route: 'all', destination: 'crm', idempotency_key: 'x', sealed: 's', enqueued_at_ms: 1 }] });
      console.log('committed');`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'committed');
    const s = sqliteStore({ dir });
    assert.equal((await s.get('k')).record, 'r');
    assert.deepEqual((await s.claim({ destination: 'crm', max: 5, nowMs: 1 })).map((c) => c.id), ['x']);
    await s.close();
  });

  it('a schema 1 database gains call_sid, record_key and item_trigger at open; its rows read them as empty', async () => {
    const dir = freshDir();
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const raw = new Database(path.join(dir, 'callhook.sqlite'));
    raw.exec(`
      CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      INSERT INTO meta VALUES ('schema', '1');
      CREATE TABLE records (key TEXT PRIMARY KEY, record TEXT NOT NULL, version INTEGER NOT NULL, expires_at REAL, sweep_at REAL);
      CREATE TABLE outbox (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, route TEXT NOT NULL, destination TEXT NOT NULL,
        idempotency_key TEXT NOT NULL, sealed TEXT NOT NULL, enqueued_at_ms REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        next_at_ms REAL NOT NULL, history TEXT NOT NULL DEFAULT '[]');
      CREATE INDEX outbox_by_destination_due ON outbox (destination, next_at_ms);
      CREATE TABLE dead_letters (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, route TEXT NOT NULL, destination TEXT NOT NULL,
        idempotency_key TEXT NOT NULL, sealed TEXT NOT NULL, enqueued_at_ms REAL NOT NULL, attempts INTEGER NOT NULL,
        history TEXT NOT NULL, code TEXT NOT NULL, reason TEXT NOT NULL, dead_at_ms REAL NOT NULL);
      INSERT INTO outbox (id, route, destination, idempotency_key, sealed, enqueued_at_ms, next_at_ms) VALUES ('old', 'all', 'crm', 'k1', 's1', 1, 1);
      INSERT INTO dead_letters (id, route, destination, idempotency_key, sealed, enqueued_at_ms, attempts, history, code, reason, dead_at_ms)
        VALUES ('gone', 'all', 'crm', 'k2', 's2', 1, 1, '[]', 'redirect', 'HTTP 302', ${T0});
    `);
    raw.close();
    const s = sqliteStore({ dir });
    const [c] = await s.claim({ destination: 'crm', max: 5, nowMs: 1 });
    assert.deepEqual([c.id, c.sealed, c.call_sid, c.record_key, c.trigger], ['old', 's1', '', '', '']);
    const [d] = await s.deadLetters();
    assert.deepEqual([d.id, d.code, d.call_sid, d.record_key, d.trigger], ['gone', 'redirect', '', '', '']);
    await s.commit({ key: null, items: [outboxItem('new')] });
    const fresh = (await s.claim({ destination: 'crm', max: 5, nowMs: T0 })).find((x) => x.id === 'new');
    assert.deepEqual([fresh.call_sid, fresh.record_key, fresh.trigger], ['CAnew', 'AC1:CAnew', 'complete']);
    await s.close();
    const after = new Database(path.join(dir, 'callhook.sqlite'), { readonly: true });
    assert.equal(after.prepare("SELECT v FROM meta WHERE k = 'schema'").get().v, '2');
    after.close();
    // Opened again: the columns are there already, nothing is added twice.
    const again = sqliteStore({ dir });
    assert.equal((await again.counts()).pending, 2);
    await again.close();
  });
});
