// One scenario for every target that delivers (the Node function, the Worker, the Fastly
// program): a config that sends answered calls to Google Ads (OAuth refresh-token grant), GA4 and
// Meta's Conversions API, run against the loopback stand-ins of tests/js/platforms.mjs, which
// follow each platform's documented contract. What each target must show:
// - one access token minted for two calls sent at once (one refresh shared), sent as a bearer
//   token beside the developer-token header; Google's rows, GA4's events and Meta's events in
//   each platform's shape, with hashed caller numbers and no secret anywhere but where it goes;
// - a row Google rejects inside its 200 (EXPIRED_EVENT) is a dead letter with Google's code;
// - every access token revoked: the next upload's 401 mints a new token and the call lands;
// - a call eight days old: Meta's delivery is dead (past its 7 days, never sent), GA4 gets the
//   event without timestamp_micros.
// Nothing here contacts a real platform.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { e164Digits, sha256Hex } from './platforms.mjs';

const root = new URL('../../', import.meta.url).pathname;

export const SECRETS = {
  GOOGLE_CLIENT_SECRET: 'test-secret',
  GOOGLE_REFRESH_TOKEN: 'test-refresh',
  GOOGLE_DEVELOPER_TOKEN: 'devtoken-s3cret-0123456789',
  GA4_API_SECRET: 'ga4-api-s3cret-value',
  META_ACCESS_TOKEN: 'test-meta-token',
};
export const CALLER = '+14155550123';
export const SIDS = {
  first: 'CA00000000000000000000000000000a01',
  second: 'CA00000000000000000000000000000a02',
  expired: 'CA00000000000000000000000000000a03',
  afterRevoke: 'CA00000000000000000000000000000a04',
  old: 'CA00000000000000000000000000000a05',
};
const EXPIRED_GCLID = 'EAIaIQobExpiredClick';

/**
 * The config: `endpoints(format)` gives each format's base URL (the stand-in's, or for Fastly the
 * platform's own host, which a backend maps onto the stand-in) and `tokenUrl` the token endpoint.
 */
export function platformConfig({ ads, ga4, meta, tokenUrl, hookTokenSecret = 'CALLHOOK_TOKEN' }) {
  return {
    auth: { token: { value: `\${${hookTokenSecret}}`, in: 'path' } },
    destinations: {
      ads: {
        format: 'google-ads',
        auth: {
          type: 'oauth2', token_url: tokenUrl, client_id: 'test-client',
          client_secret: '${GOOGLE_CLIENT_SECRET}', refresh_token: '${GOOGLE_REFRESH_TOKEN}',
        },
        options: {
          endpoint: ads, customer_id: '123-456-7890', conversion_action: '987654321',
          developer_token: '${GOOGLE_DEVELOPER_TOKEN}', value: 120, currency: 'USD', enhanced_conversions: true,
        },
      },
      ga4: { format: 'ga4', options: { endpoint: ga4, measurement_id: 'G-TEST12345', api_secret: '${GA4_API_SECRET}' } },
      meta: {
        format: 'meta-capi',
        options: { endpoint: meta, pixel_id: '1234567890123', access_token: '${META_ACCESS_TOKEN}', custom_data: { value: 120, currency: 'USD' } },
      },
    },
    routes: [{ name: 'conversions', when: { event: { $eq: 'Call.Complete' } }, to: ['ads', 'ga4', 'meta'] }],
    delivery: { schedule_seconds: [0.2], jitter: 0, attempts: 3 },
  };
}

const complete = readFileSync(join(root, 'examples/payloads/complete.form'), 'utf8').trim();

/** The example Call.Complete for another call, started at `startMs`, with its own GCLID. */
export function callForm(sid, { startMs, gclid = `EAIaIQob${sid.slice(-6)}` }) {
  const start = new Date(startMs).toISOString().slice(0, 19).replace('T', ' ');
  return complete
    .replace(/Call\.Sid=[^&]*/, `Call.Sid=${sid}`)
    .replace(/Call\.StartDate=[^&]*/, `Call.StartDate=${encodeURIComponent(start)}`)
    .replace(/Call\.From=[^&]*/, `Call.From=${encodeURIComponent(CALLER)}`)
    .replace(/Google\.AdWords\.ClickId=[^&]*/, `Google.AdWords.ClickId=${gclid}`);
}

async function until(check, what, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Runs the scenario. `post(form)` sends a webhook to the target and resolves its status;
 * `deadLetters()` resolves the target's dead letters (its admin API's list); `nowMs()` is the
 * time the target's engine sees (the stand-ins' clock is set to it); `pump()`, when given, makes
 * the target look at its outbox (Fastly sends on requests only).
 */
export async function runPlatformScenario({ platforms, post, deadLetters, nowMs = Date.now, pump = async () => {}, sequential = false }) {
  platforms.now = nowMs;
  platforms.googleAds.rowError(EXPIRED_GCLID, { code: 'EXPIRED_EVENT' });
  const waitFor = (check, what) => until(async () => {
    await pump();
    return check();
  }, what);
  const adsRows = (sid) => platforms.googleAds.accepted.filter((r) => r.orderId === sid);
  const metaEvents = (sid) => platforms.meta.events.filter((e) => String(e.event_id).startsWith(sid));
  const ga4Events = (sid) => platforms.ga4.collected.filter((c) => c.events.some((e) => e.params?.call_sid === sid));

  // Two calls at once: one token minted for both. (`sequential`: one after the other, for a
  // target whose runs share the token through its store only once it is written: Fastly.)
  const firstTwo = [SIDS.first, SIDS.second].map((sid) => () => post(callForm(sid, { startMs: nowMs() - 60_000 })));
  const statuses = sequential ? [await firstTwo[0](), await firstTwo[1]()] : await Promise.all(firstTwo.map((f) => f()));
  assert.deepEqual(statuses, [200, 200]);
  await waitFor(() => adsRows(SIDS.first).length && adsRows(SIDS.second).length, 'both Google Ads rows');
  await waitFor(() => ga4Events(SIDS.first).length && metaEvents(SIDS.first).length, 'GA4 and Meta events');
  assert.equal(platforms.tokens.length, 1, 'one access token for two concurrent deliveries');
  const [token] = platforms.tokens;
  assert.equal(token.grant_type, 'refresh_token');
  assert.equal(token.client_id, 'test-client');

  const upload = platforms.requests.find((r) => r.route === 'googleAds' && r.json?.conversions?.[0]?.orderId === SIDS.first);
  assert.equal(upload.headers.authorization, `Bearer ${token.access_token}`);
  assert.equal(upload.headers['developer-token'], SECRETS.GOOGLE_DEVELOPER_TOKEN);
  assert.match(upload.path, /\/v\d+\/customers\/1234567890:uploadClickConversions$/);
  assert.equal(upload.json.partialFailure, true);
  const row = upload.json.conversions[0];
  assert.equal(row.gclid, `EAIaIQob${SIDS.first.slice(-6)}`);
  assert.equal(row.conversionAction, 'customers/1234567890/conversionActions/987654321');
  assert.match(row.conversionDateTime, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\+00:00$/);
  assert.equal(row.conversionValue, 120);
  assert.equal(row.currencyCode, 'USD');
  assert.deepEqual(row.userIdentifiers.map((u) => u.hashedPhoneNumber), [sha256Hex(CALLER)]);

  const [collected] = ga4Events(SIDS.first);
  assert.equal(collected.measurementId, 'G-TEST12345');
  assert.equal(collected.apiSecret, SECRETS.GA4_API_SECRET);
  assert.deepEqual(collected.validationMessages, [], 'what GA4 got passes its validation server');
  assert.equal(collected.payload.client_id, '1234567890.1714530000');
  assert.equal(typeof collected.payload.timestamp_micros, 'number');

  const [event] = metaEvents(SIDS.first);
  assert.equal(event.action_source, 'phone_call');
  assert.equal(event.event_name, 'Lead');
  assert.deepEqual(event.user_data.ph, [sha256Hex(e164Digits(CALLER))]);
  assert.deepEqual(event.user_data.country, [sha256Hex('us')]);
  assert.equal(event.custom_data.value, 120);

  // A row Google refuses inside its 200: a dead letter carrying Google's code.
  assert.equal(await post(callForm(SIDS.expired, { startMs: nowMs() - 60_000, gclid: EXPIRED_GCLID })), 200);
  const expired = await waitFor(async () => (await deadLetters()).find((l) => l.call_sid === SIDS.expired && l.destination === 'ads'), 'the EXPIRED_EVENT dead letter');
  assert.equal(expired.code, 'rejected');
  assert.match(expired.reason, /EXPIRED_EVENT/);
  assert.equal(platforms.tokens.length, 1, 'the cached token was used again');

  // Every token revoked: the 401 mints a new one and the upload lands.
  platforms.revokeAll();
  assert.equal(await post(callForm(SIDS.afterRevoke, { startMs: nowMs() - 60_000 })), 200);
  await waitFor(() => adsRows(SIDS.afterRevoke).length, 'the upload after the token was refused');
  assert.equal(platforms.tokens.length, 2, 'one new token after the 401');

  // Eight days old: Meta's delivery is dead unsent, GA4's goes without timestamp_micros.
  const metaBefore = platforms.meta.received.length;
  assert.equal(await post(callForm(SIDS.old, { startMs: nowMs() - 8 * 86_400_000 })), 200);
  const late = await waitFor(async () => (await deadLetters()).find((l) => l.call_sid === SIDS.old && l.destination === 'meta'), 'the late Meta dead letter');
  assert.equal(late.code, 'deadline_passed');
  assert.match(late.reason, /7 days/);
  await waitFor(() => ga4Events(SIDS.old).length, 'the late GA4 event');
  assert.equal(ga4Events(SIDS.old)[0].payload.timestamp_micros, undefined);
  assert.equal(metaEvents(SIDS.old).length, 0);
  assert.equal(platforms.meta.received.length, metaBefore);

  // No secret left the config but towards its own platform.
  for (const r of platforms.requests) {
    const text = JSON.stringify(r);
    if (r.route !== 'token') assert.ok(!text.includes(SECRETS.GOOGLE_REFRESH_TOKEN) && !text.includes(SECRETS.GOOGLE_CLIENT_SECRET), `no OAuth secret sent to ${r.route}`);
    if (r.route !== 'meta') assert.ok(!text.includes(SECRETS.META_ACCESS_TOKEN), `no Meta token sent to ${r.route}`);
  }
}
