// The exchange corpus (tests/vectors/exchanges) through the shipped Cloudflare Worker
// (functions/cloudflare) in the real workerd, started by `wrangler dev --local` (tests/js/wrangler.mjs)
// once per config, spoken to over HTTP on 127.0.0.1. Deliveries go through the local Queue, whose
// retries wait whole seconds (delaySeconds) plus its batch timeout: the times are lower bounds, so
// they hold, only later. workerd's clock is real: the sequences that need a minute to pass (abandoned
// calls) are marked as not for this shell in the corpus. Dead letters are the consumer's
// `delivery_dead` log lines (the engine's), read from wrangler's output. The Queue's retries take
// whole seconds, so the sequences of a file run side by side (their Call.Sids keep them apart).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineExchangeTests, httpSend, prerequisite, root, sleep } from '../exchange-runner.mjs';
import { startWranglerDev, wranglerSkip } from '../wrangler.mjs';

const missing = prerequisite(wranglerSkip ||
  (!existsSync(join(root, 'bindings/js/dist/callhook_wasm.wasm')) && 'the npm package is not built (bash bindings/js/build.sh)'));

// The JSON log lines of the engine in wrangler's output.
function logLines(output) {
  const lines = [];
  for (const match of output.matchAll(/\{"level":"[a-z]+","msg":"delivery_[a-z]+".*\}/g)) {
    try {
      lines.push(JSON.parse(match[0]));
    } catch {
      // a line that only looks like one
    }
  }
  return lines;
}

// wrangler's dev proxy answers a request its workerd restarted under with a 503 of its own
// ("Your worker restarted mid-request. Please try sending the request again."), which happened
// once in a CI run on a loaded machine. It is not the Worker's answer: send it again, as a sender
// does after any 503, at most twice. Every answer of the Worker itself counts as it is.
async function sendAgainIfRestarted(base, request) {
  for (let attempt = 0; ; attempt++) {
    const answer = await httpSend(base, request);
    if (attempt >= 2 || answer.status !== 503 || !answer.body.includes('Your worker restarted mid-request')) {
      return answer;
    }
    await sleep(500);
  }
}

defineExchangeTests('cloudflare', {
  missing,
  // The Queue's retries wait whole seconds: the sequences of a file run side by side.
  concurrency: 8,
  async start(configText, secrets) {
    const dir = mkdtempSync(join(tmpdir(), 'callhook-exchanges-cf-'));
    const vars = Object.entries(secrets).map(([name, value]) => `${name} = ${JSON.stringify(value)}`).join('\n');
    const toml = readFileSync(join(root, 'functions/cloudflare/wrangler.toml'), 'utf8')
      .replace(/^main = .*$/m, `main = ${JSON.stringify(join(root, 'functions/cloudflare/src/worker.js'))}`)
      .replace(/^directory = .*$/m, `directory = ${JSON.stringify(join(root, 'examples/playground'))}`)
      .replace(/^CALLHOOK_CONFIG = .*$/m, `CALLHOOK_CONFIG = ${JSON.stringify(configText)}\n${vars}`);
    const dev = await startWranglerDev({ toml, dir, timeoutMs: 60000, logLevel: 'log' });
    return {
      clock: Date.now,
      pass: sleep,
      send: (request) => sendAgainIfRestarted(dev.base, request),
      sweep: () => sleep(100), // the Durable Object's alarm sweeps; nothing to trigger
      deadLetters: () => logLines(dev.output()).filter((l) => l.msg === 'delivery_dead')
        .map((l) => ({ destination: l.destination, key: l.idempotency_key, code: l.code })),
      slackMs: 8000,
      quietMs: 1200,
      async stop() {
        await dev.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
