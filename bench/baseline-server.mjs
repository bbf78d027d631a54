// The server a JS developer would write instead of callhook, for the load comparison:
// node:http, URLSearchParams, ajv and JSON.stringify (bench/node-baseline.mjs's pipeline).
import http from 'node:http';
import { pipeline } from './node-baseline.mjs';

const port = Number(process.env.PORT ?? 8788);
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const result = pipeline(Buffer.concat(chunks).toString('utf8'));
    res.writeHead(result.valid ? 200 : 400, { 'content-type': 'application/json' });
    res.end(result.valid ? '{"status":"accepted"}' : result.json);
  });
}).listen(port, '127.0.0.1', () => process.stdout.write(`baseline listening on ${port}\n`));
