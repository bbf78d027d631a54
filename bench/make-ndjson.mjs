// Writes N webhook payloads, one form body per line, to stdout: Initiate and Complete events of
// distinct calls built from the bundled examples. Usage: node bench/make-ndjson.mjs N
import { readFileSync } from 'node:fs';

const count = Number(process.argv[2] ?? 50000);
const root = new URL('../examples/payloads/', import.meta.url);
const templates = ['initiate.form', 'complete.form'].map((f) => readFileSync(new URL(f, root), 'utf8'));
const lines = [];
for (let i = 0; i < count; i++) {
  const params = new URLSearchParams(templates[i % 2]);
  params.set('Call.Sid', `CA${(i >> 1).toString(16).padStart(32, '0')}`);
  if (i % 2) params.set('Call.Duration', String((i * 7) % 900));
  lines.push(params.toString());
  if (lines.length === 1000) {
    process.stdout.write(lines.join('\n') + '\n');
    lines.length = 0;
  }
}
if (lines.length) process.stdout.write(lines.join('\n') + '\n');
