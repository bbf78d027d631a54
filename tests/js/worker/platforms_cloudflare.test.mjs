// The Cloudflare Worker in the real workerd (`wrangler dev --local`) delivering to Google Ads
// (OAuth), GA4 and Meta, each a loopback stand-in written from the platform's documented
// contract (tests/js/platforms.mjs), through the scenario every delivering target runs
// (tests/js/platform-scenario.mjs). Deliveries go through the Queue consumer, dead letters
// through the dead-letter queue into the DeadLetters Durable Object, read by the admin API.
import { after, before, test } from 'node:test';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlatforms } from '../platforms.mjs';
import { SECRETS, platformConfig, runPlatformScenario } from '../platform-scenario.mjs';
import { startWranglerDev, wranglerSkip } from '../wrangler.mjs';

const root = new URL('../../../', import.meta.url).pathname;
const prerequisite = wranglerSkip ||
  (!existsSync(join(root, 'bindings/js/dist/callhook_wasm.wasm')) &&
    'the npm package is not built (bash bindings/js/build.sh)');
// Under CI a missing prerequisite fails rather than skips.
if (prerequisite && (process.env.CI === 'true' || process.env.CI === '1')) throw new Error(prerequisite);
const skip = prerequisite;

const TOKEN = 'cf-platforms-hook-t0ken';
const ADMIN_TOKEN = 'cf-platforms-admin-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'callhook-cf-platforms-'));
let platforms;
let dev;

before(async () => {
  if (skip) return;
  platforms = await startPlatforms();
  const config = platformConfig({
    ads: `${platforms.url}/googleads`, ga4: platforms.url, meta: platforms.url, tokenUrl: `${platforms.url}/token`,
  });
  const vars = Object.entries({ CALLHOOK_TOKEN: TOKEN, CALLHOOK_ADMIN_TOKEN: ADMIN_TOKEN, ...SECRETS })
    .map(([name, value]) => `${name} = ${JSON.stringify(value)}`).join('\n');
  const toml = readFileSync(join(root, 'functions/cloudflare/wrangler.toml'), 'utf8')
    .replace(/^directory = .*$/m, `directory = ${JSON.stringify(join(root, 'examples/playground'))}`)
    .replace(/^main = .*$/m, `main = ${JSON.stringify(join(root, 'functions/cloudflare/src/worker.js'))}`)
    .replace(/^CALLHOOK_CONFIG = .*$/m, `CALLHOOK_CONFIG = ${JSON.stringify(JSON.stringify(config))}\n${vars}`);
  dev = await startWranglerDev({ toml, dir, timeoutMs: 60000, logLevel: 'log' });
});

after(async () => {
  await dev?.stop();
  await platforms?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('Google Ads, GA4 and Meta get what their contracts ask for; their refusals are dead letters', { skip, timeout: 180_000 }, async () => {
  await runPlatformScenario({
    platforms,
    post: async (body) => (await fetch(`${dev.base}/hook/${TOKEN}`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body,
    })).status,
    deadLetters: async () => {
      const r = await fetch(`${dev.base}/admin/dead-letters`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return (await r.json()).dead_letters;
    },
  });
  // Neither a token nor a secret in what the Worker logged (its JSON lines; wrangler's own
  // listing of the vars it was given is not the Worker's).
  const output = dev.output().split('\n').filter((l) => l.includes('{')).join('\n');
  for (const t of platforms.tokens) if (output.includes(t.access_token)) throw new Error('an access token was logged');
  for (const value of Object.values(SECRETS)) if (output.includes(value)) throw new Error('a secret was logged');
});
