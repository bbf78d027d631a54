// The destination stand-ins (tests/js/platforms.mjs) answer as the published contract says the
// platforms do. Other suites trust these answers, so each behaviour is pinned here through
// plain fetch, the way the Node function, the Worker and the CLI will call them.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';

import { e164Digits, sha256Hex, startPlatforms } from './platforms.mjs';

// A fixed clock makes expiry, staleness and "not in the future" checks deterministic.
const NOW = Date.parse('2026-03-05T12:00:00Z');
const ACTION = 'customers/1234567890/conversionActions/987654321';

function form(fields) {
  return new URLSearchParams(fields).toString();
}

async function post(url, body, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (an empty 204, for instance)
  }
  return { status: res.status, headers: res.headers, text, json };
}

const refreshFields = { grant_type: 'refresh_token', refresh_token: 'test-refresh', client_id: 'test-client', client_secret: 'test-secret' };

function token(p, fields = refreshFields, headers = {}) {
  return post(`${p.url}/token`, form(fields), { 'content-type': 'application/x-www-form-urlencoded', ...headers });
}

async function accessToken(p) {
  const r = await token(p);
  assert.equal(r.status, 200);
  return r.json.access_token;
}

function clickRow(overrides = {}) {
  return { gclid: 'Cj0KCQiA_stand_in_gclid_1', conversionAction: ACTION, conversionDateTime: '2026-03-04 15:20:00-05:00', orderId: 'call-7f3a9c', ...overrides };
}

function upload(p, bearer, body, { prefix = '/googleads', version = 23, headers = {} } = {}) {
  return post(`${p.url}${prefix}/v${version}/customers/1234567890:uploadClickConversions`, body, { authorization: `Bearer ${bearer}`, ...headers });
}

describe('OAuth token endpoint', () => {
  let p;
  before(async () => {
    p = await startPlatforms({ now: () => NOW, oauth: { expiresIn: 3599 } });
  });
  after(() => p.close());
  beforeEach(() => p.reset());

  test('the refresh grant issues a fresh Bearer token each time and remembers its expiry', async () => {
    const a = await token(p);
    const b = await token(p);
    assert.equal(a.status, 200);
    assert.equal(a.headers.get('cache-control'), 'no-store');
    assert.deepEqual(Object.keys(a.json).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
    assert.equal(a.json.token_type, 'Bearer');
    assert.equal(a.json.expires_in, 3599);
    assert.equal(a.json.scope, 'https://www.googleapis.com/auth/adwords');
    assert.notEqual(a.json.access_token, b.json.access_token);
    assert.equal(p.tokenRequests, 2);
    assert.equal(p.tokens.length, 2);
    assert.equal(p.tokens[0].access_token, a.json.access_token);
    assert.equal(p.tokens[0].expires_at_ms, NOW + 3599 * 1000);
    assert.equal(p.requests[0].headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(p.requests[0].path, '/token');
  });

  test('an unknown refresh token is invalid_grant (400)', async () => {
    const r = await token(p, { ...refreshFields, refresh_token: 'revoked-one' });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
    assert.equal(p.tokens.length, 0);
  });

  test('an unknown client id or a wrong secret is invalid_client (401)', async () => {
    const unknown = await token(p, { ...refreshFields, client_id: 'other-client' });
    assert.equal(unknown.status, 401);
    assert.deepEqual(unknown.json, { error: 'invalid_client', error_description: 'The OAuth client was not found.' });
    const wrong = await token(p, { ...refreshFields, client_secret: 'nope' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error, 'invalid_client');
    // Only a client that tried HTTP Basic is told how to authenticate (RFC 6749 §5.2).
    assert.equal(wrong.headers.get('www-authenticate'), null);
  });

  test('client_credentials and other grants are unsupported_grant_type unless enabled', async () => {
    const basic = `Basic ${Buffer.from('test-client:test-secret').toString('base64')}`;
    const cc = await token(p, { grant_type: 'client_credentials' }, { authorization: basic });
    assert.equal(cc.status, 400);
    assert.deepEqual(cc.json, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type: client_credentials' });
    const pw = await token(p, { grant_type: 'password', username: 'u', password: 'p' });
    assert.equal(pw.status, 400);
    assert.equal(pw.json.error_description, 'Invalid grant_type: password');
  });

  test('missing fields and a non-form body are invalid_request', async () => {
    const noRefresh = await token(p, { grant_type: 'refresh_token', client_id: 'test-client', client_secret: 'test-secret' });
    assert.equal(noRefresh.status, 400);
    assert.equal(noRefresh.json.error, 'invalid_request');
    const noGrant = await token(p, { refresh_token: 'test-refresh', client_id: 'test-client', client_secret: 'test-secret' });
    assert.equal(noGrant.status, 400);
    assert.equal(noGrant.json.error, 'invalid_request');
    const asJson = await post(`${p.url}/token`, refreshFields);
    assert.equal(asJson.status, 400);
    assert.equal(asJson.json.error, 'invalid_request');
  });

  test('failTokens answers the next n token requests with the status, then recovers', async () => {
    p.failTokens(2, 503);
    assert.equal((await token(p)).status, 503);
    assert.equal((await token(p)).status, 503);
    assert.equal((await token(p)).status, 200);
    assert.equal(p.tokenRequests, 3);
    assert.equal(p.tokens.length, 1);
  });
});

describe('OAuth client_credentials when enabled', () => {
  let p;
  before(async () => {
    p = await startPlatforms({ now: () => NOW, oauth: { clientCredentials: true, clients: { 'svc id:1': 's3cr&t' } } });
  });
  after(() => p.close());

  test('accepts HTTP Basic with form-urlencoded id and secret and issues no refresh token', async () => {
    // RFC 6749 §2.3.1: each part is form-urlencoded before the base64.
    const basic = `Basic ${Buffer.from(`${encodeURIComponent('svc id:1')}:${encodeURIComponent('s3cr&t')}`).toString('base64')}`;
    const r = await token(p, { grant_type: 'client_credentials', scope: 'https://www.googleapis.com/auth/adwords' }, { authorization: basic });
    assert.equal(r.status, 200);
    assert.equal(r.json.token_type, 'Bearer');
    assert.equal(r.json.refresh_token, undefined);
    assert.equal(p.tokens.at(-1).client_id, 'svc id:1');
    assert.equal(p.tokens.at(-1).grant_type, 'client_credentials');
  });

  test('a wrong Basic secret is 401 invalid_client with WWW-Authenticate', async () => {
    const basic = `Basic ${Buffer.from(`${encodeURIComponent('svc id:1')}:wrong`).toString('base64')}`;
    const r = await token(p, { grant_type: 'client_credentials' }, { authorization: basic });
    assert.equal(r.status, 401);
    assert.equal(r.json.error, 'invalid_client');
    assert.match(r.headers.get('www-authenticate'), /^Basic /);
  });

  test('body credentials work too', async () => {
    const r = await token(p, { grant_type: 'client_credentials', client_id: 'svc id:1', client_secret: 's3cr&t' });
    assert.equal(r.status, 200);
  });
});

describe('Google Ads uploadClickConversions', () => {
  let p;
  let now;
  before(async () => {
    p = await startPlatforms();
  });
  after(() => p.close());
  beforeEach(() => {
    p.reset();
    now = NOW;
    p.now = () => now;
  });

  test('accepts rows with or without developer-token and answers results and a string jobId', async () => {
    const bearer = await accessToken(p);
    const r = await upload(p, bearer, { conversions: [clickRow()], partialFailure: true, jobId: 4242 }, { headers: { 'developer-token': 'dev-token-22-chars-abc' } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, {
      results: [{ gclid: 'Cj0KCQiA_stand_in_gclid_1', conversionAction: ACTION, conversionDateTime: '2026-03-04 15:20:00-05:00' }],
      jobId: '4242',
    });
    assert.equal(p.googleAds.accepted.length, 1);
    assert.equal(p.googleAds.accepted[0].orderId, 'call-7f3a9c');
    assert.equal(p.googleAds.uploads[0].developerToken, 'dev-token-22-chars-abc');

    // No developer-token, no prefix, a server-chosen jobId in [2^31, 2^63-1].
    const phone = sha256Hex(`+${e164Digits('+1 (650) 555-1212')}`);
    const row = { conversionAction: ACTION, conversionDateTime: '2026-03-04 16:02:11-05:00', orderId: 'call-2', userIdentifiers: [{ userIdentifierSource: 'FIRST_PARTY', hashedPhoneNumber: phone }], consent: { adUserData: 'GRANTED' } };
    const r2 = await upload(p, bearer, { conversions: [row], partialFailure: true }, { prefix: '' });
    assert.equal(r2.status, 200);
    assert.equal(typeof r2.json.jobId, 'string');
    assert.ok(BigInt(r2.json.jobId) >= 2n ** 31n);
    assert.deepEqual(r2.json.results[0].userIdentifiers, row.userIdentifiers);
    assert.equal(p.googleAds.uploads[1].developerToken, null);
  });

  test('a scripted row error comes back as a partial failure in the documented shape', async () => {
    const bearer = await accessToken(p);
    p.googleAds.rowError('Cj0KCQiA_stand_in_gclid_2', { family: 'conversionUploadError', code: 'TOO_RECENT_EVENT', times: 1 });
    const rows = [clickRow(), clickRow({ gclid: 'Cj0KCQiA_stand_in_gclid_2', orderId: 'call-7f3a9d' })];
    const r = await upload(p, bearer, { conversions: rows, partialFailure: true, jobId: 4242 });
    assert.equal(r.status, 200);
    const message = 'The click associated with the given identifier or iOS URL parameter occurred less than 6 hours ago. Retry after 6 hours have passed.';
    assert.deepEqual(r.json, {
      results: [{ gclid: 'Cj0KCQiA_stand_in_gclid_1', conversionAction: ACTION, conversionDateTime: '2026-03-04 15:20:00-05:00' }, {}],
      partialFailureError: {
        code: 3,
        message: `${message}, at conversions[1]`,
        details: [{
          '@type': 'type.googleapis.com/google.ads.googleads.v23.errors.GoogleAdsFailure',
          errors: [{
            errorCode: { conversionUploadError: 'TOO_RECENT_EVENT' },
            message,
            trigger: { stringValue: 'Cj0KCQiA_stand_in_gclid_2' },
            location: { fieldPathElements: [{ fieldName: 'conversions', index: 1 }, { fieldName: 'gclid' }] },
          }],
          requestId: r.headers.get('request-id'),
        }],
      },
      jobId: '4242',
    });
    assert.deepEqual(p.googleAds.accepted.map((a) => a.orderId), ['call-7f3a9c']);
    // times: 1 — the retry of the same row is accepted.
    const retry = await upload(p, bearer, { conversions: [rows[1]], partialFailure: true });
    assert.equal(retry.json.partialFailureError, undefined);
    assert.equal(retry.json.results[0].gclid, 'Cj0KCQiA_stand_in_gclid_2');
  });

  test('an order id already used for the action is ORDER_ID_ALREADY_IN_USE; validateOnly records nothing', async () => {
    const bearer = await accessToken(p);
    const dry = await upload(p, bearer, { conversions: [clickRow()], partialFailure: true, validateOnly: true });
    assert.equal(dry.status, 200);
    assert.deepEqual(dry.json, {});
    assert.equal(p.googleAds.accepted.length, 0);

    const first = await upload(p, bearer, { conversions: [clickRow()], partialFailure: true });
    assert.equal(first.json.partialFailureError, undefined);
    const again = await upload(p, bearer, { conversions: [clickRow({ gclid: 'Cj0KCQiA_other_click' })], partialFailure: true });
    assert.deepEqual(again.json.results, [{}]);
    const [err] = again.json.partialFailureError.details[0].errors;
    assert.deepEqual(err.errorCode, { conversionUploadError: 'ORDER_ID_ALREADY_IN_USE' });
    assert.deepEqual(err.location.fieldPathElements, [{ fieldName: 'conversions', index: 0 }, { fieldName: 'order_id' }]);
    assert.deepEqual(err.trigger, { stringValue: 'call-7f3a9c' });
    assert.equal(p.googleAds.accepted.length, 1);

    // validateOnly reports the reuse too, without results.
    const dry2 = await upload(p, bearer, { conversions: [clickRow()], partialFailure: true, validateOnly: true });
    assert.equal(dry2.json.results, undefined);
    assert.equal(dry2.json.partialFailureError.details[0].errors[0].errorCode.conversionUploadError, 'ORDER_ID_ALREADY_IN_USE');
  });

  test('row validation: unhashed phone, gbraid with wbraid, bad date time, two bad rows in one answer', async () => {
    const bearer = await accessToken(p);
    const rows = [
      clickRow({ gclid: undefined, orderId: 'a', userIdentifiers: [{ hashedPhoneNumber: '+16505551212' }] }),
      clickRow({ gclid: undefined, gbraid: 'gb1', wbraid: 'wb1', orderId: 'b' }),
      clickRow({ orderId: 'c', conversionDateTime: '2026-03-04T15:20:00Z' }),
      clickRow({ orderId: 'd', gclid: 'Cj0KCQiA_ok' }),
    ];
    const r = await upload(p, bearer, { conversions: rows, partialFailure: true });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.results.map((x) => Object.keys(x).length > 0), [false, false, false, true]);
    const errors = r.json.partialFailureError.details[0].errors;
    assert.equal(r.json.partialFailureError.details.length, 1);
    assert.deepEqual(errors.map((e) => [e.location.fieldPathElements[0].index, Object.values(e.errorCode)[0]]), [
      [0, 'INVALID_USER_IDENTIFIER'], [1, 'GBRAID_WBRAID_BOTH_SET'], [2, 'INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET'],
    ]);
    assert.deepEqual(errors[0].location.fieldPathElements, [
      { fieldName: 'conversions', index: 0 }, { fieldName: 'user_identifiers', index: 0 }, { fieldName: 'hashed_phone_number' },
    ]);
    assert.match(r.json.partialFailureError.message, /^Multiple errors in ‘details’. First error: .*, at conversions\[0\]$/);
  });

  test('an expired token is 401 UNAUTHENTICATED with OAUTH_TOKEN_EXPIRED; unknown tokens are OAUTH_TOKEN_INVALID', async () => {
    const bearer = await accessToken(p);
    now += 3599 * 1000; // the moment expires_in runs out
    const r = await upload(p, bearer, { conversions: [clickRow()], partialFailure: true });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, {
      error: {
        code: 401,
        message: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
        status: 'UNAUTHENTICATED',
        details: [{
          '@type': 'type.googleapis.com/google.ads.googleads.v23.errors.GoogleAdsFailure',
          errors: [{ errorCode: { authenticationError: 'OAUTH_TOKEN_EXPIRED' }, message: 'OAuth token in the header has expired.' }],
          requestId: r.headers.get('request-id'),
        }],
      },
    });
    const unknown = await upload(p, 'ya29.not-issued-here', { conversions: [clickRow()], partialFailure: true });
    assert.equal(unknown.status, 401);
    assert.deepEqual(unknown.json.error.details[0].errors[0].errorCode, { authenticationError: 'OAUTH_TOKEN_INVALID' });
    assert.equal(p.googleAds.accepted.length, 0);
  });

  test('revokeAll makes every issued token fail', async () => {
    const bearer = await accessToken(p);
    p.revokeAll();
    const r = await upload(p, bearer, { conversions: [clickRow()], partialFailure: true });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json.error.details[0].errors[0].errorCode, { authenticationError: 'OAUTH_TOKEN_REVOKED' });
  });

  test('partialFailure missing is a whole-request 400 PARTIAL_FAILURE_MODE_REQUIRED', async () => {
    const bearer = await accessToken(p);
    const r = await upload(p, bearer, { conversions: [clickRow()] });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 400);
    assert.equal(r.json.error.status, 'INVALID_ARGUMENT');
    assert.deepEqual(r.json.error.details[0].errors[0].errorCode, { partialFailureError: 'PARTIAL_FAILURE_MODE_REQUIRED' });
    assert.equal(p.googleAds.accepted.length, 0);
  });

  test('unknown fields, debugEnabled after v20 and more than 2000 rows are rejected whole', async () => {
    const bearer = await accessToken(p);
    const typo = await upload(p, bearer, { conversions: [clickRow({ order_idd: 'x' })], partialFailure: true });
    assert.equal(typo.status, 400);
    assert.match(typo.json.error.message, /Unknown name "order_idd" at 'conversions\[0\]'/);
    const debug = await upload(p, bearer, { conversions: [clickRow()], partialFailure: true, debugEnabled: true }, { version: 21 });
    assert.equal(debug.status, 400);
    const v20 = await upload(p, bearer, { conversions: [clickRow()], partialFailure: true, debugEnabled: true }, { version: 20 });
    assert.equal(v20.status, 200);
    const many = Array.from({ length: 2001 }, (_, i) => clickRow({ orderId: `o${i}` }));
    const big = await upload(p, bearer, { conversions: many, partialFailure: true });
    assert.equal(big.status, 400);
    assert.deepEqual(big.json.error.details[0].errors[0].errorCode, { conversionUploadError: 'TOO_MANY_CONVERSIONS_IN_REQUEST' });
  });

  test('failNext answers whole-request quota errors with a retryDelay, then recovers', async () => {
    const bearer = await accessToken(p);
    p.googleAds.failNext(1, 429, { quotaError: 'RESOURCE_TEMPORARILY_EXHAUSTED' });
    const r = await upload(p, bearer, { conversions: [clickRow()], partialFailure: true });
    assert.equal(r.status, 429);
    assert.equal(r.json.error.status, 'RESOURCE_EXHAUSTED');
    const [err] = r.json.error.details[0].errors;
    assert.deepEqual(err.errorCode, { quotaError: 'RESOURCE_TEMPORARILY_EXHAUSTED' });
    assert.deepEqual(err.details, { quotaErrorDetails: { retryDelay: '30s' } });
    p.googleAds.failNext(1, 503);
    const down = await upload(p, bearer, { conversions: [clickRow()], partialFailure: true });
    assert.equal(down.status, 503);
    assert.equal(down.json.error.status, 'UNAVAILABLE');
    const ok = await upload(p, bearer, { conversions: [clickRow()], partialFailure: true });
    assert.equal(ok.status, 200);
  });

  test('uploadCallConversions checks the caller id and answers call results without jobId', async () => {
    const bearer = await accessToken(p);
    const call = { callerId: '+16502531234', callStartDateTime: '2026-03-04 15:00:00-05:00', conversionAction: ACTION, conversionDateTime: '2026-03-04 15:20:00-05:00' };
    const url = `${p.url}/googleads/v23/customers/1234567890:uploadCallConversions`;
    const r = await post(url, { conversions: [call, { ...call, callerId: '6502531234' }], partialFailure: true }, { authorization: `Bearer ${bearer}` });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.results[0], call);
    assert.deepEqual(r.json.results[1], {});
    assert.equal(r.json.jobId, undefined);
    assert.deepEqual(r.json.partialFailureError.details[0].errors[0].errorCode, { conversionUploadError: 'UNPARSEABLE_CALLERS_PHONE_NUMBER' });
    const again = await post(url, { conversions: [call], partialFailure: true }, { authorization: `Bearer ${bearer}` });
    assert.deepEqual(again.json.partialFailureError.details[0].errors[0].errorCode, { conversionUploadError: 'CALL_CONVERSION_ALREADY_EXISTS' });
  });
});

describe('Google Ads with a manager account', () => {
  let p;
  before(async () => {
    p = await startPlatforms({ now: () => NOW, googleAds: { loginCustomerId: '1112223333' } });
  });
  after(() => p.close());

  test('login-customer-id is required when configured: 403 USER_PERMISSION_DENIED without it', async () => {
    const bearer = await accessToken(p);
    const body = { conversions: [clickRow()], partialFailure: true };
    const missing = await upload(p, bearer, body);
    assert.equal(missing.status, 403);
    assert.equal(missing.json.error.status, 'PERMISSION_DENIED');
    assert.deepEqual(missing.json.error.details[0].errors[0].errorCode, { authorizationError: 'USER_PERMISSION_DENIED' });
    const ok = await upload(p, bearer, body, { headers: { 'login-customer-id': '1112223333' } });
    assert.equal(ok.status, 200);
    assert.equal(p.googleAds.uploads.at(-1).loginCustomerId, '1112223333');
  });
});

describe('GA4 Measurement Protocol', () => {
  let p;
  before(async () => {
    p = await startPlatforms({ now: () => NOW });
  });
  after(() => p.close());
  beforeEach(() => p.reset());

  const valid = () => ({
    client_id: '1234567890.1712345678',
    timestamp_micros: (NOW - 3600 * 1000) * 1000,
    consent: { ad_user_data: 'GRANTED', ad_personalization: 'DENIED' },
    events: [{ name: 'phone_call_conversion', params: { session_id: '1712345678', engagement_time_msec: 100, value: 120, currency: 'USD' } }],
  });
  const qs = '?measurement_id=G-STANDIN1&api_secret=secret-1';

  test('collect answers 204 with an empty body, even for invalid input, and records it', async () => {
    const ok = await post(`${p.url}/ga4/mp/collect${qs}`, valid());
    assert.equal(ok.status, 204);
    assert.equal(ok.text, '');
    const bad = await post(`${p.url}/mp/collect${qs}`, '{not json');
    assert.equal(bad.status, 204);
    assert.equal(bad.text, '');
    assert.equal(p.ga4.collected.length, 2);
    const [first, second] = p.ga4.collected;
    assert.equal(first.measurementId, 'G-STANDIN1');
    assert.equal(first.apiSecret, 'secret-1');
    assert.equal(first.events[0].name, 'phone_call_conversion');
    assert.deepEqual(first.validationMessages, []);
    assert.equal(second.validationMessages[0].validationCode, 'VALUE_INVALID');
  });

  test('debug: a valid payload gives an empty list', async () => {
    const r = await post(`${p.url}/ga4/debug/mp/collect${qs}`, valid());
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { validationMessages: [] });
    assert.equal(p.ga4.collected.length, 0);
  });

  test('debug: a bad event name, in the validation server\'s words', async () => {
    const body = valid();
    body.events[0].name = '_call';
    const r = await post(`${p.url}/debug/mp/collect${qs}`, body);
    assert.deepEqual(r.json, {
      validationMessages: [{
        fieldPath: 'events',
        description: 'Event at index: [0] has invalid name [_call]. Names must start with an alphabetic character.',
        validationCode: 'NAME_INVALID',
      }],
    });
  });

  test('debug: a timestamp more than 72 hours old, a missing client_id, reserved names, too many events', async () => {
    const stale = valid();
    stale.timestamp_micros = (NOW - 73 * 3600 * 1000) * 1000;
    const r1 = await post(`${p.url}/debug/mp/collect${qs}`, stale);
    assert.equal(r1.json.validationMessages.length, 1);
    assert.equal(r1.json.validationMessages[0].fieldPath, 'timestamp_micros');
    assert.equal(r1.json.validationMessages[0].validationCode, 'VALUE_INVALID');

    const future = valid();
    future.timestamp_micros = (NOW + 60 * 1000) * 1000;
    const r1b = await post(`${p.url}/debug/mp/collect${qs}`, future);
    assert.equal(r1b.json.validationMessages[0].fieldPath, 'timestamp_micros');

    const noClient = valid();
    delete noClient.client_id;
    noClient.events[0].name = 'session_start';
    const r2 = await post(`${p.url}/debug/mp/collect${qs}`, noClient);
    assert.deepEqual(r2.json.validationMessages.map((m) => [m.fieldPath, m.validationCode]), [
      ['client_id', 'VALUE_REQUIRED'], ['events', 'NAME_RESERVED'],
    ]);

    const many = valid();
    many.events = Array.from({ length: 26 }, () => ({ name: 'call' }));
    const r3 = await post(`${p.url}/debug/mp/collect${qs}`, many);
    assert.deepEqual(r3.json.validationMessages.map((m) => m.validationCode), ['EXCEEDED_MAX_ENTITIES']);

    const long = valid();
    long.events[0].params.note = 'x'.repeat(101);
    long.consent.ad_user_data = 'YES';
    const r4 = await post(`${p.url}/debug/mp/collect${qs}`, long);
    assert.deepEqual(r4.json.validationMessages.map((m) => [m.fieldPath, m.validationCode]), [
      ['consent.ad_user_data', 'VALUE_INVALID'], ['events.params', 'VALUE_OUT_OF_BOUNDS'],
    ]);
  });
});

describe('Meta Conversions API', () => {
  let p;
  before(async () => {
    p = await startPlatforms({ now: () => NOW });
  });
  after(() => p.close());
  beforeEach(() => p.reset());

  const nowS = Math.floor(NOW / 1000);
  const event = (overrides = {}) => ({
    event_name: 'Lead',
    event_time: nowS - 3600,
    event_id: 'call-7f3a9c',
    action_source: 'phone_call',
    user_data: { ph: [sha256Hex(e164Digits('+1 (650) 555-1212'))], country: [sha256Hex('us')], external_id: ['crm-42'] },
    custom_data: { value: 120, currency: 'USD' },
    ...overrides,
  });
  const eventsUrl = (p2) => `${p2.url}/meta/v25.0/1234567890/events`;

  test('the helpers reproduce the contract\'s hashes', () => {
    assert.equal(e164Digits('+1 (650) 555-1212'), '16505551212');
    assert.equal(e164Digits('0044 20 7031 3000'), '442070313000');
    assert.equal(sha256Hex('16505551212'), 'e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176');
    assert.equal(sha256Hex('+16505551212'), '1e231c66011e7a2d867a9cfae267a6aff103cf4913640b6e71a99850fc0ffbc8');
    assert.equal(sha256Hex('us'), '79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621');
  });

  test('accepts hashed events and answers events_received, messages and fbtrace_id', async () => {
    const r = await post(eventsUrl(p), { data: [event(), event({ event_id: 'call-2' })], test_event_code: 'TEST12345', access_token: 'test-meta-token' });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json).sort(), ['events_received', 'fbtrace_id', 'messages']);
    assert.equal(r.json.events_received, 2);
    assert.deepEqual(r.json.messages, []);
    assert.equal(typeof r.json.fbtrace_id, 'string');
    assert.equal(p.meta.received.length, 1);
    assert.equal(p.meta.received[0].test_event_code, 'TEST12345');
    assert.equal(p.meta.received[0].pixelId, '1234567890');
    assert.deepEqual(p.meta.events.map((e) => e.event_id), ['call-7f3a9c', 'call-2']);
    // The token may travel in the query string instead.
    const q = await post(`${eventsUrl(p)}?access_token=test-meta-token`, { data: [event()] });
    assert.equal(q.status, 200);
    assert.equal(p.meta.received[1].test_event_code, null);
  });

  test('one event older than 7 days rejects the whole request', async () => {
    const r = await post(eventsUrl(p), { data: [event(), event({ event_time: nowS - 7 * 86400 - 1 })], access_token: 'test-meta-token' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 100);
    assert.equal(r.json.error.error_subcode, 2804003);
    assert.equal(r.json.error.type, 'OAuthException');
    assert.match(r.json.error.error_user_msg, /event_time .* too far in the past/);
    assert.equal(p.meta.received.length, 0);
    const future = await post(eventsUrl(p), { data: [event({ event_time: nowS + 61 })], access_token: 'test-meta-token' });
    assert.equal(future.status, 400);
    assert.match(future.json.error.error_user_msg, /in the future/);
  });

  test('an unhashed phone number is rejected, naming the field', async () => {
    const r = await post(eventsUrl(p), { data: [event({ user_data: { ph: ['16505551212'] } })], access_token: 'test-meta-token' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 100);
    assert.match(r.json.error.error_user_msg, /data\[0\]\.user_data\.ph must be SHA-256 hashed/);
    const empty = await post(eventsUrl(p), { data: [event({ user_data: {} })], access_token: 'test-meta-token' });
    assert.equal(empty.status, 400);
    assert.equal(empty.json.error.error_subcode, 2804050);
    const source = await post(eventsUrl(p), { data: [event({ action_source: 'phone' })], access_token: 'test-meta-token' });
    assert.equal(source.status, 400);
    assert.match(source.json.error.error_user_msg, /action_source/);
    assert.equal(p.meta.received.length, 0);
  });

  test('a wrong or missing access token is OAuthException code 190', async () => {
    const r = await post(eventsUrl(p), { data: [event()], access_token: 'EAAB-wrong' });
    assert.equal(r.status, 400);
    assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'fbtrace_id', 'message', 'type']);
    assert.equal(r.json.error.message, 'Invalid OAuth access token - Cannot parse access token');
    assert.equal(r.json.error.type, 'OAuthException');
    assert.equal(r.json.error.code, 190);
    const none = await post(eventsUrl(p), { data: [event()] });
    assert.equal(none.json.error.code, 190);
  });

  test('failNext scripts throttling and outages, then recovers', async () => {
    p.meta.failNext(1, { code: 17 });
    p.meta.failNext(1, { code: 2 });
    const body = { data: [event()], access_token: 'test-meta-token' };
    const throttled = await post(eventsUrl(p), body);
    assert.equal(throttled.status, 400);
    assert.equal(throttled.json.error.code, 17);
    assert.equal(throttled.json.error.is_transient, true);
    const down = await post(eventsUrl(p), body);
    assert.equal(down.status, 503);
    assert.equal(down.json.error.code, 2);
    assert.equal((await post(eventsUrl(p), body)).status, 200);
  });
});

describe('transport scripting', () => {
  let p;
  before(async () => {
    p = await startPlatforms({ now: () => NOW });
  });
  after(() => p.close());

  test('dropNext closes the connection without an answer; delayNext holds the answer', async () => {
    p.dropNext(1, 'ga4');
    await assert.rejects(fetch(`${p.url}/mp/collect`, { method: 'POST', body: '{}' }));
    p.delayNext(1, 150, 'ga4');
    const started = Date.now();
    const r = await fetch(`${p.url}/mp/collect`, { method: 'POST', body: '{}' });
    assert.equal(r.status, 204);
    assert.ok(Date.now() - started >= 140);
    assert.equal(p.requests.filter((x) => x.route === 'ga4').length, 2);
    const unknown = await fetch(`${p.url}/elsewhere`, { method: 'POST' });
    assert.equal(unknown.status, 404);
  });
});
