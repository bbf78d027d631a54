// The npm package's attemptDelivery, the loop the Node function and the Worker run for every
// attempt, with createCredentials: concurrent deliveries of an OAuth destination share one token
// request; a cached token refused with 401 is dropped and the engine retries at once (the next
// attempt mints a new one); a token endpoint that refuses the credentials makes the delivery
// dead without sending it; a rate-limited destination's deliveries wait for the bucket (slept,
// or handed back past maxWaitMs, no attempt counted); a delivery past its platform's deadline is
// dead unsent. The token endpoint is the loopback stand-in of tests/js/platforms.mjs; the
// destination a fetch function that records what it is sent. The clock is the test's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { packageDir, packageSkip } from '../package-build.mjs';
import { startPlatforms } from '../platforms.mjs';

const skip = packageSkip;
const ch = skip ? null : await import(join(packageDir, 'index.js'));
const NOW = 1_714_533_342_000;
const SECRETS = { CLIENT_SECRET: 'test-secret', REFRESH_TOKEN: 'test-refresh' };

describe('attemptDelivery', { skip }, () => {
  let platforms;
  let engine;
  let clock = NOW;
  const now = () => clock;
  const sent = [];
  let answers = [];
  // The destination: records each request, answers from `answers` (200 once they run out); the
  // token endpoint's requests go to the stand-in.
  const fetchFn = async (url, init) => {
    if (url.startsWith(platforms.url)) return fetch(url, init);
    sent.push({ url, headers: new Headers(init.headers), body: init.body });
    return new Response('{}', { status: answers.shift() ?? 200 });
  };

  before(async () => {
    platforms = await startPlatforms();
    platforms.now = now;
    const oauth = (refresh) => ({
      type: 'oauth2', token_url: `${platforms.url}/token`, client_id: 'test-client',
      client_secret: '${CLIENT_SECRET}', refresh_token: refresh,
    });
    engine = await ch.createEngine({
      destinations: {
        api: { url: 'https://api.invalid/in', auth: oauth('${REFRESH_TOKEN}'), delivery: { attempts: 3, schedule_seconds: [10], jitter: 0 } },
        revoked: { url: 'https://api.invalid/in', auth: oauth('not-a-known-refresh-token') },
        paced: { url: 'https://api.invalid/paced', rate_limit: { per_second: 1, burst: 1 } },
      },
    }, { secrets: SECRETS });
  });
  after(async () => {
    engine?.close();
    await platforms?.close();
  });

  const item = (destination, n = 0, more = {}) => ({
    route: 'r', destination, idempotency_key: `CA${n}:Call.Complete:r`, attempts: 0,
    sealed: engine.sealDelivery({
      route: 'r', destination, method: 'POST', url: `https://api.invalid/${destination}`,
      headers: [['Content-Type', 'application/json']], body: `{"n":${n}}`,
      idempotency_key: `CA${n}:Call.Complete:r`, timeout_ms: 5000, ...more,
    }),
  });

  test('concurrent deliveries share one token request; the token is sent as a bearer token', async () => {
    platforms.clear();
    sent.length = 0;
    const credentials = ch.createCredentials({ now });
    const results = await Promise.all([1, 2, 3].map((n) => ch.attemptDelivery(item('api', n), { engine, credentials, fetch: fetchFn, now })));
    assert.deepEqual(results.map((r) => r.verdict.verdict), ['delivered', 'delivered', 'delivered']);
    assert.equal(platforms.tokenRequests, 1);
    const token = platforms.tokens.at(-1).access_token;
    assert.deepEqual(sent.map((s) => s.headers.get('authorization')), [`Bearer ${token}`, `Bearer ${token}`, `Bearer ${token}`]);
    assert.equal(credentials.token('api'), token, 'cached for the next deliveries');
    // Past its cache time (5 minutes before it expires) a new one is minted.
    clock += 3_599_000 - 300_000;
    await ch.attemptDelivery(item('api', 4), { engine, credentials, fetch: fetchFn, now });
    assert.equal(platforms.tokenRequests, 2);
    clock = NOW;
  });

  test('a cached token refused with 401 is dropped; the retry is at once and mints a new one', async () => {
    platforms.clear();
    sent.length = 0;
    const credentials = ch.createCredentials({ now });
    await ch.attemptDelivery(item('api', 5), { engine, credentials, fetch: fetchFn, now });
    const first = credentials.token('api');
    answers = [401];
    const refused = await ch.attemptDelivery(item('api', 6), { engine, credentials, fetch: fetchFn, now });
    assert.equal(refused.verdict.verdict, 'retry');
    assert.equal(refused.verdict.code, 'token_rejected');
    assert.equal(refused.verdict.delay_ms, 0);
    assert.equal(credentials.token('api'), '', 'the refused token is forgotten');
    const again = await ch.attemptDelivery({ ...item('api', 6), attempts: 1 }, { engine, credentials, fetch: fetchFn, now });
    assert.equal(again.verdict.verdict, 'delivered');
    assert.notEqual(credentials.token('api'), first);
    assert.equal(platforms.tokenRequests, 2);
    // A token minted for this very attempt and still refused: the credentials are wrong.
    answers = [401];
    credentials.drop('api');
    const fresh = await ch.attemptDelivery(item('api', 7), { engine, credentials, fetch: fetchFn, now });
    assert.equal(fresh.verdict.verdict, 'dead');
    assert.equal(fresh.verdict.drop_token, true);
  });

  test('a refused refresh token is a dead delivery with the endpoint\'s reason; nothing is sent', async () => {
    sent.length = 0;
    const credentials = ch.createCredentials({ now });
    const r = await ch.attemptDelivery(item('revoked', 8), { engine, credentials, fetch: fetchFn, now });
    assert.equal(r.verdict.verdict, 'dead');
    assert.equal(r.verdict.code, 'token_refused');
    assert.match(r.verdict.reason, /invalid_grant/);
    assert.ok(!r.verdict.reason.includes('not-a-known-refresh-token'));
    assert.equal(sent.length, 0);
  });

  test('a rate-limited destination waits for its bucket; past maxWaitMs the wait is handed back', async () => {
    sent.length = 0;
    const credentials = ch.createCredentials({ now });
    const slept = [];
    const sleep = async (ms) => {
      slept.push(ms);
      clock += ms;
    };
    for (const n of [10, 11, 12]) {
      const r = await ch.attemptDelivery(item('paced', n), { engine, credentials, fetch: fetchFn, now, sleep });
      assert.equal(r.verdict.verdict, 'delivered');
    }
    assert.equal(sent.length, 3);
    assert.equal(slept.length, 2, 'the second and third waited');
    for (const ms of slept) assert.ok(ms > 0 && ms <= 1000, `one token a second: waited ${ms} ms`);
    const held = await ch.attemptDelivery(item('paced', 13), { engine, credentials, fetch: fetchFn, now, sleep, maxWaitMs: 0 });
    assert.ok(held.wait_ms > 0 && held.verdict === undefined, 'handed back, not attempted');
    assert.equal(sent.length, 3);
    clock = NOW;
  });

  test('a delivery past its platform\'s deadline is dead without being sent', async () => {
    sent.length = 0;
    const credentials = ch.createCredentials({ now });
    const r = await ch.attemptDelivery(item('api', 14, { not_after_ms: NOW - 1 }), { engine, credentials, fetch: fetchFn, now });
    assert.equal(r.verdict.verdict, 'dead');
    assert.equal(r.verdict.code, 'deadline_passed');
    assert.equal(sent.length, 0);
  });
});
