// The shipped Node function delivering to Google Ads (OAuth), GA4 and Meta, each a loopback
// stand-in written from the platform's documented contract (tests/js/platforms.mjs), through the
// scenario every delivering target runs (tests/js/platform-scenario.mjs): the token minted once
// and refreshed after a 401, rows rejected inside a 200 dead-lettered with Google's code, Meta's
// 7-day window, GA4 without a stale timestamp. The server runs on its default SQLite store.
import { after, before, test } from 'node:test';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlatforms } from '../platforms.mjs';
import { SECRETS, platformConfig, runPlatformScenario } from '../platform-scenario.mjs';
import { startNodeFunction } from './start-server.mjs';

const root = new URL('../../../', import.meta.url).pathname;
const built = existsSync(join(root, 'bindings/js/dist/callhook_wasm.wasm'));
if (!built && (process.env.CI === 'true' || process.env.CI === '1')) throw new Error('the npm package is not built');
const skip = !built && 'the npm package is not built (bash bindings/js/build.sh)';

const TOKEN = 'platforms-hook-t0ken';
const ADMIN = 'platforms-admin-t0ken-value';
const dir = mkdtempSync(join(tmpdir(), 'callhook-platforms-'));
let platforms;
let server;

before(async () => {
  if (skip) return;
  platforms = await startPlatforms();
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify(platformConfig({
    ads: `${platforms.url}/googleads`, ga4: platforms.url, meta: platforms.url, tokenUrl: `${platforms.url}/token`,
  })));
  server = await startNodeFunction({
    env: {
      CALLHOOK_CONFIG: config, CALLHOOK_TOKEN: TOKEN, CALLHOOK_ADMIN_TOKEN: ADMIN,
      CALLHOOK_DATA_DIR: join(dir, 'data'), ...SECRETS,
    },
  });
});

after(async () => {
  server?.child.kill('SIGTERM');
  await platforms?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('Google Ads, GA4 and Meta get what their contracts ask for; their refusals are dead letters', { skip, timeout: 120_000 }, async () => {
  await runPlatformScenario({
    platforms,
    post: async (body) => (await fetch(`${server.url}/hook/${TOKEN}`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body,
    })).status,
    deadLetters: async () => {
      const r = await fetch(`${server.url}/admin/dead-letters`, { headers: { authorization: `Bearer ${ADMIN}` } });
      return (await r.json()).dead_letters;
    },
  });
  // Neither a token nor a secret in the server's logs.
  const logs = JSON.stringify(server.logs);
  for (const t of platforms.tokens) if (logs.includes(t.access_token)) throw new Error('an access token was logged');
  for (const value of Object.values(SECRETS)) if (logs.includes(value)) throw new Error('a secret was logged');
});
