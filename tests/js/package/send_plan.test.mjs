// Sending a stored delivery through the npm package: engine.planSend(sealed, {accessToken, pace,
// nowMs}) says send (with the destination's credentials), get an OAuth token first, wait for the
// rate limit, or do not send; engine.tokenResult reads the token endpoint's answer;
// engine.destinationLimits sizes a shell. The OAuth endpoint is the loopback stand-in written
// from the destination contract (tests/js/platforms.mjs); the destination a small local sink.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { packageDir, packageSkip } from '../package-build.mjs';
import { assertNoSecret } from '../sealed-secrets.mjs';
import { startPlatforms } from '../platforms.mjs';

const skip = packageSkip;
const ch = skip ? null : await import(join(packageDir, 'index.js'));

const NOW = 1_714_533_342_000;
const SECRETS = Object.freeze({
  API_TOKEN: 'bearer/s3cret+token',
  API_KEY: 'key-s3cret-value',
  CLIENT_SECRET: 'test-secret',
  REFRESH_TOKEN: 'test-refresh',
});

// The destination: answers what `sink.next` says (default 200) and records each request.
function startSink() {
  const sink = { requests: [], next: [], url: '' };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      sink.requests.push({ method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString() });
      const status = sink.next.shift() ?? 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 401 ? '{"error":"invalid token"}' : '{}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    sink.url = `http://127.0.0.1:${server.address().port}/hook`;
    sink.close = () => new Promise((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
    resolve(sink);
  }));
}

// A planned request sent as a shell sends it, reported in the core's terms.
async function send(request) {
  const res = await fetch(request.url, { method: request.method, headers: request.headers, body: request.body });
  return { status: res.status, headers: [...res.headers], body: await res.text() };
}

function delivery(destination, more = {}) {
  return {
    route: 'r', destination, method: 'POST', url: 'https://placeholder.example/', headers: [['Content-Type', 'application/json']],
    body: '{"call":"CA1"}', idempotency_key: 'CA1:Call.Complete:r', timeout_ms: 30000,
    call_sid: 'CA1', record_key: 'AC1:CA1', trigger: 'event', ...more,
  };
}

const attemptOf = (answer, more = {}) => ({
  route: 'r', destination: 'ads', idempotency_key: 'CA1:Call.Complete:r', attempt: 1, now_ms: NOW,
  random: 0.5, answer, ...more,
});

describe('engine.planSend, engine.tokenResult and engine.destinationLimits', { skip }, () => {
  let platforms;
  let sink;
  let engine;
  before(async () => {
    platforms = await startPlatforms({ oauth: { clientCredentials: true, clients: { 'test-client': 'test-secret', 'svc:one': 'p@ss w+rd' } } });
    sink = await startSink();
    engine = await ch.createEngine({
      destinations: {
        bearer: { url: sink.url, auth: { type: 'bearer', token: '${API_TOKEN}' } },
        keyed: { url: sink.url, headers: { 'x-api-key': 'old' }, auth: { type: 'header', name: 'X-Api-Key', value: '${API_KEY}' } },
        ads: {
          url: sink.url,
          auth: {
            type: 'oauth2', token_url: `${platforms.url}/token`, client_id: 'test-client',
            client_secret: '${CLIENT_SECRET}', refresh_token: '${REFRESH_TOKEN}',
          },
          delivery: { attempts: 3, schedule_seconds: [10], jitter: 0 },
          concurrency: 2,
        },
        service: {
          url: sink.url,
          auth: {
            type: 'oauth2', grant: 'client_credentials', token_url: `${platforms.url}/token`,
            client_id: 'svc:one', client_secret: 'p@ss w+rd', scope: 'events.write',
          },
        },
        paced: { url: sink.url, rate_limit: { per_second: 2 } },
        plain: { url: sink.url },
      },
    }, { secrets: SECRETS });
  });
  after(async () => {
    engine?.close();
    await platforms?.close();
    await sink?.close();
  });

  const sealedFor = (destination, more) => engine.sealDelivery(delivery(destination, { url: sink.url, ...more }));

  test('bearer and header credentials are added when sent, never sealed', () => {
    const sealed = sealedFor('bearer');
    assertNoSecret(sealed, 'the sealed delivery', SECRETS);
    let plan = engine.planSend(sealed, { nowMs: NOW });
    assert.equal(plan.plan, 'send');
    assert.deepEqual(plan.request.headers.find(([n]) => n === 'Authorization'), ['Authorization', `Bearer ${SECRETS.API_TOKEN}`]);
    assert.equal(plan.request.url, sink.url);
    assert.equal(plan.request.body, '{"call":"CA1"}');
    assert.deepEqual(plan.pace, { tokens: -1, at_ms: 0 }, 'no limit: the pace is left as it was');

    plan = engine.planSend(engine.sealDelivery(delivery('keyed', { url: sink.url, headers: [['x-api-key', 'old']] })), { nowMs: NOW });
    assert.equal(plan.plan, 'send');
    const keys = plan.request.headers.filter(([n]) => n.toLowerCase() === 'x-api-key');
    assert.deepEqual(keys, [['X-Api-Key', SECRETS.API_KEY]], 'the same-named header is replaced');
  });

  test('an OAuth destination: token request, token, send, delivered', async () => {
    platforms.clear();
    const sealed = sealedFor('ads');
    const first = engine.planSend(sealed, { nowMs: NOW });
    assert.equal(first.plan, 'token');
    assert.deepEqual(Object.keys(first).sort(), ['plan', 'request']);
    assert.equal(first.request.method, 'POST');
    assert.equal(first.request.url, `${platforms.url}/token`);
    assert.equal(first.request.body,
      'grant_type=refresh_token&refresh_token=test-refresh&client_id=test-client&client_secret=test-secret');
    assert.deepEqual(first.request.headers, [['Content-Type', 'application/x-www-form-urlencoded'], ['Accept', 'application/json']]);
    assert.deepEqual([first.request.route, first.request.destination, first.request.idempotency_key], ['r', 'ads', 'CA1:Call.Complete:r']);

    const outcome = engine.tokenResult(attemptOf(await send(first.request)));
    assert.equal(platforms.tokenRequests, 1);
    assert.equal(typeof outcome.access_token, 'string');
    assert.equal(outcome.access_token, platforms.tokens.at(-1).access_token);
    assert.equal(outcome.cache_until_ms, NOW + 3_599_000 - 300_000, 'five minutes before it expires');
    assert.equal(outcome.verdict, undefined);

    const plan = engine.planSend(sealed, { accessToken: outcome.access_token, nowMs: NOW });
    assert.equal(plan.plan, 'send');
    const answer = await send(plan.request);
    assert.equal(sink.requests.at(-1).headers.authorization, `Bearer ${outcome.access_token}`);
    const verdict = engine.attemptResult(attemptOf(answer, { not_after_ms: plan.request.not_after_ms ?? 0, fresh_token: true }));
    assert.deepEqual([verdict.verdict, verdict.code, verdict.drop_token], ['delivered', 'delivered', false]);
  });

  test('a refused cached token is retried at once with a fresh one; a refused fresh one is dead', async () => {
    const sealed = sealedFor('ads');
    sink.next.push(401, 401);
    const plan = engine.planSend(sealed, { accessToken: 'ya29.cached-token', nowMs: NOW });
    let verdict = engine.attemptResult(attemptOf(await send(plan.request)));
    assert.deepEqual([verdict.verdict, verdict.code, verdict.delay_ms, verdict.retry_at_ms, verdict.drop_token],
      ['retry', 'token_rejected', 0, NOW, true]);
    assert.equal(verdict.log.msg, 'delivery_retry');
    verdict = engine.attemptResult(attemptOf(await send(plan.request), { attempt: 2, fresh_token: true }));
    assert.deepEqual([verdict.verdict, verdict.code, verdict.drop_token], ['dead', 'not_retryable_status', true]);
    assert.ok(!JSON.stringify(verdict).includes('ya29.cached-token'));
  });

  test('the client-credentials grant authenticates with Basic and gets a token from the stand-in', async () => {
    const plan = engine.planSend(sealedFor('service'), { nowMs: NOW });
    assert.equal(plan.plan, 'token');
    assert.equal(plan.request.body, 'grant_type=client_credentials&scope=events.write');
    const basic = plan.request.headers.find(([n]) => n === 'Authorization')[1];
    assert.equal(Buffer.from(basic.slice('Basic '.length), 'base64').toString(), 'svc%3Aone:p%40ss%20w%2Brd');
    const outcome = engine.tokenResult(attemptOf(await send(plan.request), { destination: 'service' }));
    assert.ok(outcome.access_token?.startsWith('ya29.'), JSON.stringify(outcome));
    assert.equal(platforms.tokens.at(-1).grant_type, 'client_credentials');
  });

  test('a revoked refresh token is token_refused, with the endpoint\'s words and no secret', async () => {
    platforms.revokeRefreshToken('test-refresh');
    try {
      const plan = engine.planSend(sealedFor('ads'), { nowMs: NOW });
      const outcome = engine.tokenResult(attemptOf(await send(plan.request)));
      assert.equal(outcome.access_token, undefined);
      assert.deepEqual([outcome.verdict.verdict, outcome.verdict.code], ['dead', 'token_refused']);
      assert.equal(outcome.verdict.reason, 'token endpoint refused: invalid_grant: Token has been expired or revoked.');
      assert.equal(outcome.verdict.log.msg, 'token_dead');
      assert.equal(outcome.verdict.log.destination, 'ads');
      assertNoSecret(JSON.stringify(outcome), 'the token verdict', SECRETS);
    } finally {
      platforms.oauth.refreshTokens.set('test-refresh', null);
    }
  });

  test('a failing token endpoint is token_unavailable on the delivery\'s schedule, then exhausted', async () => {
    platforms.failTokens(2, 503);
    const plan = engine.planSend(sealedFor('ads'), { nowMs: NOW });
    let outcome = engine.tokenResult(attemptOf(await send(plan.request)));
    assert.deepEqual([outcome.verdict.verdict, outcome.verdict.code, outcome.verdict.delay_ms],
      ['retry', 'token_unavailable', 10_000]);
    assert.equal(outcome.verdict.log.msg, 'token_retry');
    outcome = engine.tokenResult(attemptOf(await send(plan.request), { attempt: 3 }));
    assert.deepEqual([outcome.verdict.verdict, outcome.verdict.code], ['dead', 'attempts_exhausted']);
    outcome = engine.tokenResult(attemptOf({ timeout: true }));
    assert.equal(outcome.verdict.code, 'token_unavailable');
  });

  test('the rate limit: a full bucket, then waits of exactly what one token takes', () => {
    const sealed = sealedFor('paced');
    let plan = engine.planSend(sealed, { pace: null, nowMs: NOW });
    assert.deepEqual([plan.plan, plan.pace], ['send', { tokens: 1, at_ms: NOW }]);
    plan = engine.planSend(sealed, { pace: plan.pace, nowMs: NOW });
    assert.deepEqual([plan.plan, plan.pace], ['send', { tokens: 0, at_ms: NOW }]);
    const waiting = engine.planSend(sealed, { pace: plan.pace, nowMs: NOW + 100 });
    assert.deepEqual(waiting, { plan: 'wait', wait_ms: 400, pace: { tokens: 0.2, at_ms: NOW + 100 } });
    plan = engine.planSend(sealed, { pace: waiting.pace, nowMs: NOW + 500 });
    assert.equal(plan.plan, 'send');
  });

  test('past its deadline a delivery is not sent; before it, the deadline travels with the request', () => {
    let plan = engine.planSend(sealedFor('plain', { not_after_ms: NOW - 1000 }), { nowMs: NOW });
    assert.equal(plan.plan, 'dead');
    assert.deepEqual([plan.verdict.verdict, plan.verdict.code], ['dead', 'deadline_passed']);
    plan = engine.planSend(sealedFor('plain', { not_after_ms: NOW + 1000 }), { nowMs: NOW });
    assert.equal(plan.plan, 'send');
    assert.equal(plan.request.not_after_ms, NOW + 1000);
    // A retry that would come after it is dead now.
    const verdict = engine.attemptResult({ ...attemptOf({ status: 503 }), destination: 'plain', not_after_ms: NOW + 1000 });
    assert.deepEqual([verdict.verdict, verdict.code], ['dead', 'deadline_passed']);
    assert.match(verdict.reason, /the last attempt: HTTP 503$/);
  });

  test('what cannot be unsealed is dead; bad arguments are TypeErrors', () => {
    const plan = engine.planSend('{"sealed":1}', { nowMs: NOW });
    assert.deepEqual([plan.plan, plan.verdict.code], ['dead', 'unsendable']);
    assert.match(plan.verdict.reason, /^not sent: /);
    assert.throws(() => engine.planSend(5), TypeError);
    assert.throws(() => engine.planSend('x', { pace: { tokens: 'a' } }), TypeError);
    assert.throws(() => engine.planSend('x', { nowMs: -1 }), TypeError);
    assert.throws(() => engine.planSend('x', { accessToken: 5 }), TypeError);
    assert.throws(() => engine.tokenResult(null), TypeError);
    assert.throws(() => engine.tokenResult({ answer: { status: 42 } }), (err) => err instanceof ch.CallhookError && err.code === 'bad_attempt');
  });

  test('destinationLimits gives each destination\'s concurrency, rate limit and OAuth use', () => {
    const limits = engine.destinationLimits();
    assert.deepEqual(Object.keys(limits).sort(), ['ads', 'bearer', 'keyed', 'paced', 'plain', 'service']);
    assert.deepEqual(limits.ads, { concurrency: 2, rate_limit: null, oauth: true });
    assert.deepEqual(limits.paced, { concurrency: null, rate_limit: { per_second: 2, burst: 2 }, oauth: false });
    assert.deepEqual(limits.bearer, { concurrency: null, rate_limit: null, oauth: false });
  });

  test('the config\'s auth problems are errors with pointers', async () => {
    await assert.rejects(ch.createEngine({
      destinations: {
        a: { url: 'https://a.example/', auth: { type: 'oauth2', token_url: 'ftp://x', client_id: 'c', refresh_token: 'r' } },
        b: { url: 'https://b.example/', auth: { type: 'digest' }, rate_limit: { per_second: 1, per_minute: 60 }, concurrency: 100 },
      },
    }), (err) => {
      const got = err.errors.map((e) => `${e.field} ${e.code}`).sort();
      assert.deepEqual(got, [
        '/destinations/a/auth/token_url bad_value',
        '/destinations/b/auth/type bad_value',
        '/destinations/b/concurrency out_of_range',
        '/destinations/b/rate_limit/per_minute bad_value',
      ]);
      return true;
    });
  });
});
