// The Fastly program in the repository's Compute ABI host delivering to Google Ads (OAuth), GA4
// and Meta through backends named after the destinations (and `ads-token` for the token
// endpoint), each pointed at a loopback stand-in written from the platform's documented contract
// (tests/js/platforms.mjs), through the scenario every delivering target runs
// (tests/js/platform-scenario.mjs). The config names the platforms' own hosts, as a deployment
// does; the backends carry the requests to the stand-ins. The access token is cached in the KV
// Store under tokens/ until shortly before it expires, the one secret kept at rest.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createFastlyHost } from '../../../functions/fastly/host/host.mjs';
import { startPlatforms } from '../platforms.mjs';
import { SECRETS, platformConfig, runPlatformScenario } from '../platform-scenario.mjs';
import { programPath } from './program.mjs';

const root = new URL('../../../', import.meta.url).pathname;
const missing = existsSync(programPath) ? false : 'no Fastly build (bash functions/fastly/build.sh)';
if (missing && (process.env.CI === 'true' || process.env.CI === '1')) throw new Error(missing);

const TOKEN = 'fastly-platforms-hook-t0ken';
const ADMIN_TOKEN = 'fastly-platforms-admin-0123456789';
const RECORDS = 'callhook_records';
let platforms;
let host;
let server;
let clockMs = Date.now();

before(async () => {
  if (missing) return;
  platforms = await startPlatforms();
  host = createFastlyHost({
    wasm: programPath, manifest: join(root, 'functions/fastly/fastly.toml'),
    witxDir: join(root, 'bindings/fastly/witx'), workers: 2, clock: () => clockMs,
    backends: { ads: platforms.url, 'ads-token': platforms.url, ga4: platforms.url, meta: platforms.url },
  });
  server = await host.listen();
  host.setConfigStore('callhook_config', {
    config: JSON.stringify(platformConfig({
      ads: 'https://googleads.googleapis.com', ga4: 'https://www.google-analytics.com',
      meta: 'https://graph.facebook.com', tokenUrl: 'https://oauth2.googleapis.com/token',
    })),
  });
  host.setSecretStore('callhook_secrets', { CALLHOOK_TOKEN: TOKEN, admin_token: ADMIN_TOKEN, ...SECRETS });
});

after(async () => {
  await server?.close();
  await host?.close();
  await platforms?.close();
});

test('Google Ads, GA4 and Meta get what their contracts ask for; their refusals are dead letters', { skip: missing, timeout: 120_000 }, async () => {
  await runPlatformScenario({
    platforms,
    sequential: true,
    nowMs: () => clockMs,
    post: async (body) => {
      const r = await fetch(`${server.url}/hook/${TOKEN}`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body,
      });
      await r.text();
      await host.idle();
      return r.status;
    },
    // Fastly has no timers: a request moves the outbox along once its entries are due.
    pump: async () => {
      clockMs += 1000;
      await (await fetch(`${server.url}/hook/${TOKEN}`)).text();
      await host.idle();
    },
    deadLetters: async () => {
      const r = await fetch(`${server.url}/admin/dead-letters`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const json = await r.json();
      await host.idle();
      return json.dead_letters;
    },
  });
  // The access token is kept under tokens/ (with its expiry), the refresh token never.
  const kept = host.kv.list(RECORDS, { prefix: 'tokens/', limit: 10 }).data;
  assert.equal(kept.length, 1);
  const entry = JSON.parse(host.kv.get(RECORDS, kept[0]).text);
  assert.equal(entry.access_token, platforms.tokens.at(-1).access_token);
  assert.ok(entry.cache_until_ms > clockMs);
  for (const key of host.kv.list(RECORDS, { limit: 1000 }).data) {
    const text = host.kv.get(RECORDS, key)?.text ?? '';
    for (const value of Object.values(SECRETS)) assert.ok(!text.includes(value), `no secret in the KV entry ${key}`);
  }
  const logs = JSON.stringify(host.logs);
  for (const t of platforms.tokens) assert.ok(!logs.includes(t.access_token), 'no access token in a log');
});
