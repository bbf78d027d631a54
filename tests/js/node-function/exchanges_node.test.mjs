// The exchange corpus (tests/vectors/exchanges) through the shipped Node function
// (functions/node/server.mjs), spawned as a user runs it and spoken to over real HTTP on
// 127.0.0.1. Its clock is moved on by tests/js/exchange-clock.mjs (preloaded; Date.now plus an
// offset set over IPC), so a call abandoned after a minute is swept by the server's own timer
// (CALLHOOK_SWEEP_SECONDS=0.2) within moments. Dead letters are read from its log lines.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNodeFunction } from './start-server.mjs';
import { defineExchangeTests, httpSend, passWithJumps, prerequisite, root, sleep } from '../exchange-runner.mjs';

const built = existsSync(join(root, 'bindings/js/dist/callhook_wasm.wasm'));
const missing = prerequisite(!built && 'the npm package is not built (bash bindings/js/build.sh)');
const SWEEP_SECONDS = 0.2;

async function startServer(configText, secrets) {
  const dir = mkdtempSync(join(tmpdir(), 'callhook-exchanges-node-'));
  const config = join(dir, 'config.json');
  writeFileSync(config, configText);
  const server = await startNodeFunction({
    preload: [join(root, 'tests/js/exchange-clock.mjs')],
    ipc: true,
    env: { ...secrets, CALLHOOK_CONFIG: config, HOST: '127.0.0.1', CALLHOOK_DATA_DIR: join(dir, 'data'),
      CALLHOOK_SWEEP_SECONDS: String(SWEEP_SECONDS) },
  });
  return { ...server, dir, base: server.url };
}

defineExchangeTests('node', {
  missing,
  async start(configText, secrets) {
    const server = await startServer(configText, secrets);
    let offsetMs = 0;
    const jump = (ms) => new Promise((resolve) => {
      offsetMs += ms;
      const onMessage = (m) => {
        if (m?.clockOffsetMs === offsetMs) {
          server.child.off('message', onMessage);
          resolve();
        }
      };
      server.child.on('message', onMessage);
      server.child.send({ clockOffsetMs: offsetMs });
    });
    return {
      clock: () => Date.now() + offsetMs,
      pass: passWithJumps(jump),
      send: (request) => httpSend(server.base, request),
      // The server sweeps on its own timer: give it two turns.
      sweep: () => sleep(2 * SWEEP_SECONDS * 1000 + 50),
      deadLetters: () => server.logs.filter((l) => l.msg === 'delivery_dead')
        .map((l) => ({ destination: l.destination, key: l.idempotency_key, code: l.code })),
      slackMs: 2000,
      quietMs: 300,
      stop: () => new Promise((resolve) => {
        if (server.child.exitCode !== null) return resolve();
        server.child.once('exit', () => {
          rmSync(server.dir, { recursive: true, force: true });
          resolve();
        });
        server.child.kill('SIGTERM');
      }),
    };
  },
});
