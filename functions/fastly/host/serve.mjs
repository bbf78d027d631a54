#!/usr/bin/env node
// Serves a Fastly Compute program locally, like `viceroy`:
//
//   node functions/fastly/host/serve.mjs [-C fastly.toml] [--addr 127.0.0.1:7676] program.wasm
//
// Each request runs a fresh instance of the program. Log endpoint lines, and the program's
// stdout and stderr, are printed as `name :: line` with newlines escaped, the way Viceroy
// prints them; `(host) :: ...` lines are the host's own notes. Ctrl-C stops.

import { parseArgs } from 'node:util';
import { createFastlyHost } from './host.mjs';

const usage = `usage: serve.mjs [-C fastly.toml] [--addr HOST:PORT] [--workers N] [--timeout-ms MS] program.wasm

  -C, --config FILE   the fastly.toml whose [local_server] section sets backends and stores
  --addr HOST:PORT    where to listen (default 127.0.0.1:7676)
  --workers N         how many requests run at once (default 4)
  --timeout-ms MS     stop a run that takes longer (default 60000; 0 never)
  -h, --help          this text`;

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'C' },
      addr: { type: 'string', default: '127.0.0.1:7676' },
      workers: { type: 'string', default: '4' },
      'timeout-ms': { type: 'string', default: '60000' },
      help: { type: 'boolean', short: 'h' },
    },
  });
} catch (e) {
  console.error(`${e.message}\n\n${usage}`);
  process.exit(2);
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (positionals.length !== 1) {
  console.error(usage);
  process.exit(2);
}

const addr = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(values.addr);
if (!addr) {
  console.error(`--addr must be HOST:PORT, not ${values.addr}`);
  process.exit(2);
}

let host;
try {
  host = createFastlyHost({
    wasm: positionals[0],
    manifest: values.config ?? null,
    workers: Number(values.workers),
    timeoutMs: Number(values['timeout-ms']),
    log: (name, line) => console.log(`${name} :: ${line.replaceAll('\n', '\\n')}`),
  });
} catch (e) {
  console.error(`cannot start: ${e.message}`);
  process.exit(1);
}

for (const [name, b] of host.backends) console.log(`backend ${name} -> ${b.url.href}`);
const server = await host.listen({ host: addr[1] ?? addr[2], port: Number(addr[3]) });
console.log(`Listening on ${server.url}`);

let stopping = false;
const stop = async () => {
  if (stopping) process.exit(130);
  stopping = true;
  await server.close();
  await host.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
