// Runs a Worker in the real workerd for the tests: `wrangler dev --local` (the wrangler pinned in
// the repository's package.json) on 127.0.0.1 at a free port, offline, with its config and
// state in a folder of the test's, so nothing is written into the repository and nothing
// leaves 127.0.0.1.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
export const wranglerBin = join(root, 'node_modules/wrangler/bin/wrangler.js');

/** false, or why wrangler cannot run here. */
export const wranglerSkip = existsSync(wranglerBin)
  ? false
  : 'wrangler is not installed (npm install at the repository root)';

/**
 * Wrangler's environment, offline: no metrics, no update check (it comes with the banner), no
 * `Request.cf` download, no account.
 */
export function wranglerEnv() {
  const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_HIDE_BANNER: 'true',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false', NO_COLOR: '1', CI: '1' };
  delete env.CLOUDFLARE_API_TOKEN;
  delete env.CLOUDFLARE_ACCOUNT_ID;
  return env;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Writes `toml` to `dir`/wrangler.toml (its `main` should be an absolute path) and starts
 * `wrangler dev --local` on it, with state in `dir`/state. Resolves once GET `readyPath` answers
 * 200 (workerd compiled the Worker and it is ready) to {base, output(), stop()}; fails with
 * wrangler's output when it exits or is not ready within `timeoutMs`. `logLevel` 'log' also
 * puts the Worker's console.log lines in the output ('info', the default, leaves them out).
 */
export async function startWranglerDev({ toml, dir, readyPath = '/healthz', timeoutMs = 30000, logLevel = 'info' }) {
  const config = join(dir, 'wrangler.toml');
  writeFileSync(config, toml);
  const port = await freePort();
  const inspector = await freePort();
  const child = spawn(process.execPath, [wranglerBin, 'dev', '--config', config, '--local',
    '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector),
    '--persist-to', join(dir, 'state'), '--show-interactive-dev-session=false', '--log-level', logLevel], {
    cwd: dir, env: wranglerEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  let output = '';
  child.stdout.on('data', (c) => { output += c; });
  child.stderr.on('data', (c) => { output += c; });
  // wrangler runs in its own process group; should the test process end without stop() (an
  // uncaught error, a signal from the test runner), the group goes with it rather than staying
  // behind.
  const orphanGuard = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const onSignal = (name) => {
    orphanGuard();
    process.kill(process.pid, name); // then end as the signal would have
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  process.on('exit', orphanGuard);
  for (const name of signals) process.once(name, onSignal);
  child.on('exit', () => {
    process.off('exit', orphanGuard);
    for (const name of signals) process.off(name, onSignal);
  });

  // The whole process group: wrangler and the workerd it started.
  const stop = () => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const signal = (name) => {
      try {
        process.kill(-child.pid, name);
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      signal('SIGKILL');
      resolve();
    }, 3000);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    signal('SIGTERM');
  });

  const base = `http://127.0.0.1:${port}`;
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) assert.fail(`wrangler dev exited:\n${output}`);
    try {
      const r = await fetch(`${base}${readyPath}`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) {
      await stop();
      assert.fail(`wrangler dev did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { base, output: () => output, stop };
}
