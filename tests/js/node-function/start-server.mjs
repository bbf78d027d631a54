// Starts the shipped Node function as a user would (functions/node/server.mjs in a child
// process) and resolves once it logs `listening`: {child, logs, url}, `url` without /hook. Its
// log lines are parsed into `logs` as they come. `preload` modules run first (--import).
// `fileSizeLimitKb` starts it under `ulimit -f` (no file it writes may grow past that size).
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const root = new URL('../../../', import.meta.url).pathname;

export function startNodeFunction({ env = {}, preload = [], ipc = false, fileSizeLimitKb = null } = {}) {
  const args = [...preload.flatMap((m) => ['--import', m]), join(root, 'functions/node/server.mjs')];
  const [command, argv] = fileSizeLimitKb === null ? [process.execPath, args]
    : ['/bin/sh', ['-c', `ulimit -f ${Number(fileSizeLimitKb)} && exec "$0" "$@"`, process.execPath, ...args]];
  const child = spawn(command, argv, {
    env: { PATH: process.env.PATH, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? ['ipc'] : [])],
  });
  const logs = [];
  let buffer = '';
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += c; });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        try { logs.push(JSON.parse(line)); } catch { logs.push({ raw: line }); }
        const last = logs[logs.length - 1];
        if (last.msg === 'listening') resolve({ child, logs, url: last.url.replace(/\/hook$/, '') });
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${stderr} ${JSON.stringify(logs)}`)));
  });
}
