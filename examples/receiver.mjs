// A stand-in for the destinations of examples/configs/example.json: accepts every delivery on
// 127.0.0.1:9400 and prints one line per delivery, so the demo routes somewhere you can see.
// Usage: node examples/receiver.mjs [PORT]
import http from 'node:http';

const port = Number(process.argv[2] ?? 9400);
const seen = new Set();
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const key = req.headers['idempotency-key'] ?? '';
    const where = `${req.url.split('?')[0]} ${key}`;
    const repeat = seen.has(where) ? ' (a retry: same destination, same Idempotency-Key)' : '';
    seen.add(where);
    const body = Buffer.concat(chunks).toString('utf8');
    process.stdout.write(`receiver: ${req.method} ${req.url.split('?')[0]} key=${key}${repeat} ${body.length} bytes\n`);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
}).listen(port, '127.0.0.1', () => process.stdout.write(`receiver: listening on http://127.0.0.1:${port}\n`));
