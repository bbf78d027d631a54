// What one sqliteStore commit costs (a record compare-and-set and two deliveries, with caps),
// and what counting the pending deliveries in SQL would add to it, at several backlog sizes.
//   node bench/sqlite-commit.mjs [commits per size (500)]
// The store keeps its pending counts in memory; the COUNT columns show the alternative.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { sqliteStore } from '../bindings/js/sqlite-store.js';

const commits = Number(process.argv[2] ?? 500);
const limits = { total: 1_000_000, perDestination: 1_000_000 };
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'callhook-sqlite-bench-'));

const item = (id, destination) => ({
  id, route: 'all', destination, idempotency_key: `${id}:completed:all`,
  sealed: JSON.stringify({ url: 'https://crm.example/${PATH}', headers: { Authorization: 'Bearer ${TOKEN}' }, body: 'x'.repeat(600) }),
  enqueued_at_ms: Date.now(),
});
const entry = (v) => ({ record: JSON.stringify({ format: 1, v, pad: 'r'.repeat(300) }), version: v, expires_at: Date.now() / 1000 + 86_400, sweep_at: null });

const us = (ns, n) => (Number(ns) / 1000 / n).toFixed(1);
console.log('backlog   commit µs (fsync)   COUNT(*) total µs   COUNT(*) one destination µs');
for (const backlog of [0, 10_000, 100_000]) {
  const dir = path.join(base, String(backlog));
  let s = sqliteStore({ dir });
  for (let i = 0; i < backlog; i += 1000) {
    const items = [];
    for (let j = i; j < Math.min(backlog, i + 1000); j++) items.push(item(`b${j}`, j % 2 ? 'crm' : 'ga4'));
    await s.commit({ key: null, items });
  }
  let t = process.hrtime.bigint();
  for (let i = 0; i < commits; i++) {
    const r = await s.commit({ key: `AC1:CA${i}`, expectedVersion: 0, entry: entry(1), items: [item(`c${i}a`, 'crm'), item(`c${i}b`, 'ga4')], limits });
    if (!r.ok) throw new Error(JSON.stringify(r));
  }
  const commitNs = process.hrtime.bigint() - t;
  await s.close();

  const db = new Database(path.join(dir, 'callhook.sqlite'));
  const total = db.prepare('SELECT COUNT(*) AS n FROM outbox');
  const one = db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE destination = ?');
  const reps = 200;
  t = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) total.get();
  const totalNs = process.hrtime.bigint() - t;
  t = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) one.get('crm');
  const oneNs = process.hrtime.bigint() - t;
  db.close();
  console.log(`${String(backlog).padStart(7)}   ${us(commitNs, commits).padStart(17)}   ${us(totalNs, reps).padStart(17)}   ${us(oneNs, reps).padStart(27)}`);
}
fs.rmSync(base, { recursive: true, force: true });
