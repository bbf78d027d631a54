// Starts Debian's redis-server on a random loopback port for one test file, and stops it.
// Tests that need it skip, with this reason, only when redis-server is not installed.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export function redisServerPath() {
  // CALLHOOK_REDIS_SERVER names the program to use (a path that does not exist: as if absent).
  const chosen = process.env.CALLHOOK_REDIS_SERVER;
  if (chosen) return existsSync(chosen) ? chosen : null;
  const dirs = (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/bin', '/usr/sbin', '/usr/local/bin']);
  for (const dir of dirs) {
    if (dir && existsSync(path.join(dir, 'redis-server'))) return path.join(dir, 'redis-server');
  }
  return null;
}

export const redisSkip = redisServerPath()
  ? false
  : 'redis-server is not installed (Debian: apt-get install -y redis-server; scripts/setup.sh installs it)';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function ping(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let data = '';
    sock.setTimeout(500);
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      data += d;
      if (data.includes('\r\n')) {
        sock.destroy();
        resolve(data.startsWith('+PONG'));
      }
    });
    sock.on('error', () => resolve(false));
    sock.on('timeout', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

/** Starts a throwaway redis-server; resolves {port, url, stop()}. */
export async function startRedis() {
  const bin = redisServerPath();
  if (!bin) throw new Error(redisSkip);
  let lastError = null;
  for (let tries = 0; tries < 5; tries++) {
    const port = await freePort();
    const dir = mkdtempSync(path.join(tmpdir(), 'callhook-redis-'));
    const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--daemonize', 'no', '--dir', dir, '--logfile', ''], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    let exited = false;
    const exit = new Promise((resolve) => child.on('exit', () => { exited = true; resolve(); }));
    const deadline = Date.now() + 10_000;
    while (!exited && Date.now() < deadline) {
      if (await ping(port)) {
        return {
          port,
          url: `redis://127.0.0.1:${port}`,
          async stop() {
            if (!exited) child.kill('SIGTERM');
            await exit;
            rmSync(dir, { recursive: true, force: true });
          },
        };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!exited) child.kill('SIGKILL');
    await exit;
    rmSync(dir, { recursive: true, force: true });
    lastError = new Error(`redis-server did not start on port ${port}: ${output.slice(-500)}`);
  }
  throw lastError;
}

/** Closes a node-redis client of any major version. */
export async function closeClient(client) {
  if (typeof client.close === 'function') await client.close();
  else await client.quit();
}

/**
 * For a describe block: a redis-server started before its tests and stopped after them, and
 * `client()` giving a connected node-redis client that is closed at the end.
 */
export function redisFixture(before, after) {
  let server;
  let createClient;
  const clients = [];
  before(async () => {
    ({ createClient } = await import('redis'));
    server = await startRedis();
  });
  after(async () => {
    for (const c of clients) await closeClient(c).catch(() => {});
    if (server) await server.stop();
  });
  return {
    async client() {
      const c = createClient({ url: server.url });
      c.on('error', () => {});
      await c.connect();
      clients.push(c);
      return c;
    },
  };
}
