// callhook check-destination against the loopback stand-ins of the platforms (tests/js/platforms.mjs):
// what a destination would get for a payload, printed with every secret as ${NAME}; with --send
// the platform's own check (Google Ads validateOnly, GA4's /debug/mp/collect, Meta's test
// events), the OAuth token fetched first, and the platform's verdict; the exit statuses (0
// accepted, 1 refused or nothing to send, 2 usage, 3 unreachable). No secret value, nor any
// access token the stand-in issued, ever appears in what the command prints. The WASI command
// renders the same and refuses --send.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { startPlatforms } from '../platforms.mjs';

const root = new URL('../../../', import.meta.url).pathname;
const cli = resolve(process.env.CALLHOOK_CLI ?? join(root, 'build/native/callhook'));
const wasi = resolve(process.env.CALLHOOK_WASI ?? join(root, 'build/wasi/callhook.wasm'));
const skip = existsSync(cli) ? false : `no CLI at ${cli}`;
const skipWasi = existsSync(wasi) ? false : `no WASI build at ${wasi}`;

// The secrets, set in the environment as the CLI reads them. Some hold characters that are
// percent-encoded in a form body or escaped in JSON, so every form of them is looked for.
const SECRETS = {
  CALLHOOK_TOKEN: 'hook-t0ken-never-needed',
  ADS_CLIENT_SECRET: 'GOCSPX-cl13nt/s3cret+x=',
  ADS_REFRESH_TOKEN: '1//0gR3fresh-T0ken/abc',
  ADS_DEVELOPER_TOKEN: 'devT0ken-abcdef1234567',
  GA4_API_SECRET: 'ga4-ap1-s3cret-value',
  META_ACCESS_TOKEN: 'EAAB-meta-acc3ss-t0ken',
  CRM_TOKEN: 'crm-bearer-t0ken-42',
};
const CLIENT_ID = 'cli-test-client.apps.googleusercontent.com';

const forms = (value) => [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1),
  new URLSearchParams({ v: value }).toString().slice(2)];

let platforms;
let dir;

/** Runs a CLI (native, or the WASI build under node:wasi) without blocking the stand-ins. */
function run(args, { env = {}, stdin, wasm = false } = {}) {
  const childEnv = { PATH: process.env.PATH, ...SECRETS, ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  const [command, argv] = wasm
    ? [process.execPath, ['--no-warnings', join(root, 'tests/js/run-wasi.mjs'), wasi, ...args]]
    : [cli, args];
  return new Promise((resolveRun) => {
    const child = spawn(command, argv, { env: childEnv, cwd: dir });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    if (stdin !== undefined) child.stdin.end(stdin);
    else child.stdin.end();
    child.on('close', (status) => {
      const printed = stdout + stderr;
      for (const [name, value] of Object.entries(SECRETS)) {
        for (const form of forms(value)) {
          assert.ok(!printed.includes(form), `the secret ${name} (as ${form}) is never printed:\n${printed}`);
        }
      }
      for (const t of platforms?.tokens ?? []) {
        assert.ok(!printed.includes(t.access_token), 'an access token is never printed');
      }
      resolveRun({ status, stdout, stderr });
    });
  });
}

function writeConfig(name, config) {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

// A port nothing listens on.
async function closedPort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

function configFor(base, { refreshToken = '${ADS_REFRESH_TOKEN}', tokenUrl = `${base}/token`, adsEndpoint = base, metaOptions = {} } = {}) {
  return {
    auth: { token: { value: '${CALLHOOK_TOKEN}', in: 'path' } },
    destinations: {
      ads: {
        format: 'google-ads',
        options: {
          customer_id: '1234567890',
          conversion_action: 'customers/1234567890/conversionActions/987654321',
          developer_token: '${ADS_DEVELOPER_TOKEN}',
          endpoint: adsEndpoint,
          value: 50,
          currency: 'USD',
        },
        auth: { type: 'oauth2', token_url: tokenUrl, client_id: CLIENT_ID, client_secret: '${ADS_CLIENT_SECRET}', refresh_token: refreshToken },
      },
      ga4: {
        format: 'ga4',
        options: { measurement_id: 'G-CLITEST1', api_secret: '${GA4_API_SECRET}', endpoint: base, event_name: 'phone_call' },
      },
      meta: {
        format: 'meta-capi',
        options: { pixel_id: '123456789012', access_token: '${META_ACCESS_TOKEN}', endpoint: base, ...metaOptions },
      },
      slack: { format: 'slack', url: `${base}/slack` },
      crm: { format: 'canonical', url: `${base}/crm`, auth: { type: 'bearer', token: '${CRM_TOKEN}' } },
    },
    routes: [
      { name: 'answered', when: { call: { disposition: 'ANSWERED' } }, to: ['ads', 'ga4', 'meta', 'slack', 'crm'] },
      { name: 'missed', when: { 'Call.Disposition': { $in: ['NO ANSWER', 'BUSY'] } }, to: ['slack'] },
      { name: 'abandoned-calls', on: 'abandoned', to: ['slack'] },
    ],
  };
}

// A Call.Complete of a few minutes ago, as a form body.
function payload(changes = {}) {
  const started = new Date(Date.now() - 10 * 60 * 1000).toISOString().slice(0, 19).replace('T', ' ');
  const fields = {
    Action: 'Webhook', Event: 'Call.Complete', 'Account.Sid': 'AC8f2b0e5c1d4a4f7e9b3c6d2a1e0f9b8c',
    'Property.Sid': 'PR2c7d9e1f3a5b4c6d8e0f1a2b3c4d5e6f', 'Property.Name': 'www.example-plumbing.com',
    'Property.Type': 'Site', 'Call.Sid': 'CA5e1f0d9c8b7a6f5e4d3c2b1a0f9e8d7c', 'Call.StartDate': started,
    'Call.From': '+14155550123', 'Call.From.Country': 'US', 'Call.To': '+18005550199', 'Call.To.Type': 'Dynamic',
    'Call.To.Name': 'Google Ads Number', 'Call.Duration': '187', 'Call.Disposition': 'ANSWERED',
    'Attribution.Source': 'google', 'Attribution.Medium': 'cpc', 'Attribution.Campaign': 'spring',
    'Attribution.Content': 'variation 1', 'Session.Traffic.Type': 'Campaign',
    'Session.ConversionUri': 'https://www.example-plumbing.com/contact',
    'Session.LandingUri': 'https://www.example-plumbing.com/?gclid=EAIaIQobChMIx8v2',
    'Google.Analytics.ClientId': 'GA1.2.1234567890.1714530000', 'Google.AdWords.ClickId': 'EAIaIQobChMIx8v2',
    ...changes,
  };
  for (const [k, v] of Object.entries(fields)) if (v === undefined) delete fields[k];
  return new URLSearchParams(fields).toString();
}

function payloadFile(name, changes) {
  const path = join(dir, name);
  writeFileSync(path, payload(changes));
  return path;
}

describe('check-destination', { skip }, () => {
  let config;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'callhook-check-destination-'));
    platforms = await startPlatforms({
      oauth: { clients: { [CLIENT_ID]: SECRETS.ADS_CLIENT_SECRET }, refreshTokens: [SECRETS.ADS_REFRESH_TOKEN] },
      meta: { accessToken: SECRETS.META_ACCESS_TOKEN },
    });
    config = writeConfig('config.json', configFor(platforms.url));
  });
  after(async () => {
    await platforms?.close();
  });

  test('--help, and the command is listed', async () => {
    const help = await run(['check-destination', '--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^Usage: callhook check-destination --config FILE NAME \[PAYLOAD\|-\] \[--send\]/);
    assert.match(help.stdout, /Exit status: 0/);
    const top = await run(['--help']);
    assert.match(top.stdout, /^\s+check-destination\s+\S/m);
    // The other commands' summaries still line up with it.
    const columns = top.stdout.split('\n').filter((l) => /^ {2}[a-z-]+ +\S/.test(l)).map((l) => l.search(/(?<=^ {2}[a-z-]+ +)\S/));
    assert.equal(new Set(columns).size, 1, top.stdout);
  });

  test('usage errors exit 2 and send nothing', async () => {
    platforms.clear();
    const cases = [
      [['check-destination', 'ads'], /--config is required/],
      [['check-destination', '--config', config], /name the destination/],
      [['check-destination', '--config', config, 'ads', 'a', 'b'], /at most one payload/],
      [['check-destination', '--config', config, 'ads', '--bogus'], /unknown option --bogus/],
      [['check-destination', '--config', config, 'nowhere'], /no destination 'nowhere' \(it has: ads, crm, ga4, meta, slack\)/],
      [['check-destination', '--config', config, 'meta', '--test-event-code', 'X1'], /--test-event-code is for --send/],
      [['check-destination', '--config', config, 'meta', '--send', '--test-event-code'], /--test-event-code needs a value/],
      [['check-destination', '--config', join(dir, 'missing.json'), 'ads'], /cannot open/],
      [['check-destination', '--config', config, 'ads', join(dir, 'missing.form')], /cannot open/],
      // Formats with no check of their own: never a real delivery.
      [['check-destination', '--config', config, 'slack', '--send'], /cannot --send to slack: .*nothing was sent/],
      [['check-destination', '--config', config, 'crm', '--send'], /cannot --send to crm: .*nothing was sent/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
    // A config that names a secret the environment lacks is a config error, said by name.
    const r = await run(['check-destination', '--config', config, 'ads'], { env: { ADS_REFRESH_TOKEN: undefined } });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /ADS_REFRESH_TOKEN/);
    assert.equal(platforms.requests.length, 0, 'nothing reached a platform');
  });

  test('Google Ads (oauth2): the token request and the upload, masked; nothing is sent', async () => {
    platforms.clear();
    const r = await run(['check-destination', '--config', config, 'ads']);
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /^ads \(google-ads\): 1 delivery for the sample Call\.Complete CA/);
    assert.match(out, /Secrets are shown as \$\{NAME\}/);
    assert.match(out, /== route answered \(on event\) -> ads/);
    // The token request: a form POST to the token URL, its secrets as references.
    assert.match(out, /-- token request[^\n]*\nPOST http:\/\/127\.0\.0\.1:\d+\/token\n/);
    assert.match(out, /Content-Type: application\/x-www-form-urlencoded/);
    assert.match(out, /refresh_token=\$\{ADS_REFRESH_TOKEN\}/);
    assert.match(out, /client_secret=\$\{ADS_CLIENT_SECRET\}/);
    assert.match(out, /grant_type=refresh_token/);
    // The upload itself, with the bearer token in words.
    assert.match(out, /-- request\nPOST http:\/\/127\.0\.0\.1:\d+\/v\d+\/customers\/1234567890:uploadClickConversions\n/);
    assert.ok(out.includes(`Authorization: Bearer <access token from ${platforms.url}/token>`), out);
    assert.match(out, /developer-token: \$\{ADS_DEVELOPER_TOKEN\}/i);
    assert.match(out, /Idempotency-Key: CA0c4ec4de57100000000000000000c4ec:Call\.Complete:answered/);
    const body = JSON.parse(out.split('\n').find((l) => l.startsWith('{"conversions"')));
    assert.equal(body.partialFailure, true);
    assert.equal(body.conversions[0].gclid, 'EAIaIQobChMIx8v2');
    assert.equal(body.conversions[0].conversionAction, 'customers/1234567890/conversionActions/987654321');
    assert.equal(body.validateOnly, undefined, 'the delivery as it would be sent, not the check');
    assert.equal(platforms.requests.length, 0, 'without --send nothing is sent');
  });

  test('GA4: the api_secret in the URL is a reference; a bearer destination shows its header masked', async () => {
    const ga4 = await run(['check-destination', '--config', config, 'ga4']);
    assert.equal(ga4.status, 0, ga4.stderr);
    assert.match(ga4.stdout, /POST http:\/\/127\.0\.0\.1:\d+\/mp\/collect\?measurement_id=G-CLITEST1&api_secret=\$\{GA4_API_SECRET\}\n/);
    assert.match(ga4.stdout, /"client_id":"1234567890\.1714530000"/);
    assert.ok(!/token request/.test(ga4.stdout));
    const crm = await run(['check-destination', '--config', config, 'crm']);
    assert.equal(crm.status, 0, crm.stderr);
    assert.match(crm.stdout, /Authorization: Bearer \$\{CRM_TOKEN\}/);
  });

  test('--json: one document with the same facts', async () => {
    const r = await run(['check-destination', '--config', config, 'ads', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.destination, 'ads');
    assert.equal(doc.format, 'google-ads');
    assert.equal(doc.event, 'Call.Complete');
    assert.equal(doc.sample, true);
    assert.equal(doc.accepted, null);
    assert.equal(doc.deliveries.length, 1);
    const [d] = doc.deliveries;
    assert.equal(d.route, 'answered');
    assert.equal(d.trigger, 'event');
    assert.equal(d.check, null);
    assert.equal(d.not_sent, null);
    assert.equal(d.token_request.method, 'POST');
    assert.equal(d.token_request.url, `${platforms.url}/token`);
    assert.match(d.token_request.body, /client_secret=\$\{ADS_CLIENT_SECRET\}/);
    assert.equal(d.request.method, 'POST');
    assert.match(d.request.url, /:uploadClickConversions$/);
    const headers = Object.fromEntries(d.request.headers.map(([n, v]) => [n.toLowerCase(), v]));
    assert.equal(headers.authorization, `Bearer <access token from ${platforms.url}/token>`);
    assert.equal(headers['developer-token'], '${ADS_DEVELOPER_TOKEN}');
    assert.equal(JSON.parse(d.request.body).conversions.length, 1);
    const answered = doc.routes.find((x) => x.name === 'answered');
    assert.deepEqual({ ...answered, why: undefined }, { name: 'answered', on: 'event', sends_here: true, matched: true, skipped: [], why: undefined });
    assert.deepEqual(doc.reasons, []);
  });

  test('Google Ads --send: the token, then validateOnly, accepted', async () => {
    platforms.clear();
    const r = await run(['check-destination', '--config', config, 'ads', '--send']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /-- access token: obtained from the token URL \(not shown\)/);
    assert.match(r.stdout, /-- check sent: Google Ads validateOnly\nPOST http:\/\/127\.0\.0\.1:\d+\/v\d+\/customers\/1234567890:uploadClickConversions/);
    assert.match(r.stdout, /"validateOnly":true/);
    assert.match(r.stdout, /-- answer: HTTP 200\n-- verdict: accepted/);
    assert.match(r.stdout, /1 of 1 delivery accepted by the platform/);
    assert.equal(platforms.tokenRequests, 1);
    assert.equal(platforms.googleAds.uploads.length, 1);
    assert.equal(platforms.googleAds.uploads[0].validateOnly, true);
    assert.equal(platforms.googleAds.accepted.length, 0, 'validateOnly records nothing');
    const upload = platforms.requests.find((q) => q.route === 'googleAds');
    assert.equal(upload.headers['developer-token'], SECRETS.ADS_DEVELOPER_TOKEN, 'the real values are sent');
    assert.match(upload.headers.authorization, /^Bearer ya29\./);
  });

  test('Google Ads --send: a row error is reported with Google\'s code, exit 1', async () => {
    platforms.clear();
    platforms.googleAds.rowError('EAIaIQobChMIx8v2', { code: 'EXPIRED_EVENT', times: 1 });
    const r = await run(['check-destination', '--config', config, 'ads', '--send', '--json']);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.accepted, false);
    const { check } = doc.deliveries[0];
    assert.equal(check.kind, 'Google Ads validateOnly');
    assert.deepEqual(check.token, { obtained: true });
    assert.equal(check.answer.status, 200);
    assert.equal(check.accepted, false);
    assert.ok(check.messages.some((m) => /EXPIRED_EVENT/.test(m)), check.messages.join('\n'));
    assert.match(JSON.parse(check.request.body).validateOnly.toString(), /true/);
    // The same in words.
    platforms.googleAds.rowError('EAIaIQobChMIx8v2', { code: 'UNPARSEABLE_GCLID', times: 1 });
    const text = await run(['check-destination', '--config', config, 'ads', '--send']);
    assert.equal(text.status, 1);
    assert.match(text.stdout, /-- verdict: rejected\n {3}.*UNPARSEABLE_GCLID/);
    assert.match(text.stdout, /0 of 1 delivery accepted/);
  });

  test('Google Ads --send: a refused OAuth token (invalid_grant) is said plainly, nothing uploaded', async () => {
    const bad = writeConfig('bad-refresh.json', configFor(platforms.url, { refreshToken: '${STALE_REFRESH_TOKEN}' }));
    platforms.clear();
    const r = await run(['check-destination', '--config', bad, 'ads', '--send'], { env: { STALE_REFRESH_TOKEN: '1//revoked-refresh-t0ken' } });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /-- access token: not obtained: .*invalid_grant.*\(token_refused\)/);
    assert.match(r.stdout, /-- verdict: not checked \(no access token\)/);
    assert.ok(!r.stdout.includes('1//revoked-refresh-t0ken'));
    assert.equal(platforms.tokenRequests, 1);
    assert.equal(platforms.googleAds.uploads.length, 0);
    const json = await run(['check-destination', '--config', bad, 'ads', '--send', '--json'], { env: { STALE_REFRESH_TOKEN: '1//revoked-refresh-t0ken' } });
    assert.equal(json.status, 1);
    const { check } = JSON.parse(json.stdout).deliveries[0];
    assert.equal(check.token.obtained, false);
    assert.equal(check.token.code, 'token_refused');
    assert.equal(check.token.status, 400);
    assert.match(check.token.reason, /invalid_grant/);
    assert.equal(check.answer, null);
  });

  test('GA4 --send: the validation server\'s messages, exit 1; a clean payload is accepted', async () => {
    platforms.clear();
    const ok = await run(['check-destination', '--config', config, 'ga4', '--send']);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /-- check sent: GA4 validation server \(\/debug\/mp\/collect\)\nPOST http:\/\/127\.0\.0\.1:\d+\/debug\/mp\/collect\?measurement_id=G-CLITEST1&api_secret=\$\{GA4_API_SECRET\}/);
    assert.match(ok.stdout, /-- verdict: accepted/);
    assert.equal(platforms.ga4.collected.length, 0, 'nothing was collected');
    assert.equal(platforms.requests.filter((q) => q.route === 'ga4Debug').length, 1);
    assert.equal(platforms.requests.find((q) => q.route === 'ga4Debug').query.api_secret, SECRETS.GA4_API_SECRET);

    // A call whose start the sender's clock put two hours ahead: GA4's validation server
    // refuses a timestamp in the future, and says so.
    const ahead = new Date(Date.now() + 2 * 3600 * 1000).toISOString().slice(0, 19).replace('T', ' ');
    const file = payloadFile('ahead.form', { 'Call.StartDate': ahead });
    const r = await run(['check-destination', '--config', config, 'ga4', file, '--send', '--json']);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.sample, false);
    const { check } = doc.deliveries[0];
    assert.equal(check.accepted, false);
    assert.ok(check.messages.some((m) => /timestamp_micros/.test(m) && /VALUE_INVALID/.test(m)), check.messages.join('\n'));
    const text = await run(['check-destination', '--config', config, 'ga4', file, '--send']);
    assert.equal(text.status, 1);
    assert.match(text.stdout, /-- verdict: rejected\n {3}timestamp_micros: .*in the future.* \(VALUE_INVALID\)/);
  });

  test('Meta --send: the test event code from the flag, or the option; none is a usage error', async () => {
    platforms.clear();
    const none = await run(['check-destination', '--config', config, 'meta', '--send']);
    assert.equal(none.status, 2, none.stdout + none.stderr);
    assert.match(none.stderr, /cannot --send to meta: .*test.event.code/i);
    assert.equal(platforms.requests.length, 0);

    const r = await run(['check-destination', '--config', config, 'meta', '--send', '--test-event-code', 'TESTCLI42']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /-- check sent: Meta test events \(test_event_code\)\nPOST http:\/\/127\.0\.0\.1:\d+\/v\d+\.\d+\/123456789012\/events/);
    assert.match(r.stdout, /\$\{META_ACCESS_TOKEN\}/);
    assert.match(r.stdout, /-- verdict: accepted/);
    assert.equal(platforms.meta.received.length, 1);
    assert.equal(platforms.meta.received[0].test_event_code, 'TESTCLI42');

    const withOption = writeConfig('meta-option.json', configFor(platforms.url, { metaOptions: { test_event_code: 'TESTOPT7' } }));
    platforms.clear();
    const opt = await run(['check-destination', '--config', withOption, 'meta', '--send', '--json']);
    assert.equal(opt.status, 0, opt.stdout + opt.stderr);
    assert.equal(JSON.parse(opt.stdout).deliveries[0].check.accepted, true);
    assert.equal(platforms.meta.received[0].test_event_code, 'TESTOPT7');
  });

  test('past the platform\'s deadline: shown, not sent, exit 1', async () => {
    platforms.clear();
    const old = join(root, 'examples/payloads/complete.form'); // a call of 2024
    const r = await run(['check-destination', '--config', config, 'meta', old, '--send', '--test-event-code', 'TESTCLI42']);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /-- request\nPOST http:\/\/127\.0\.0\.1:\d+\/v\d+\.\d+\/123456789012\/events\n/);
    assert.match(r.stdout, /-- the engine would not send it: .*7 days.*\(deadline_passed\)/);
    assert.equal(platforms.requests.length, 0, 'nothing reached Meta');
    const json = JSON.parse((await run(['check-destination', '--config', config, 'meta', old, '--json'])).stdout);
    assert.equal(json.deliveries[0].not_sent.code, 'deadline_passed');
  });

  test('Meta --send: a refusal carries Meta\'s error, exit 1', async () => {
    platforms.clear();
    platforms.meta.failNext(1, { code: 100, error_subcode: 2804050, status: 400, message: 'Invalid parameter', is_transient: false });
    const r = await run(['check-destination', '--config', config, 'meta', '--send', '--test-event-code', 'TESTCLI42', '--json']);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const { check } = JSON.parse(r.stdout).deliveries[0];
    assert.equal(check.answer.status, 400);
    assert.equal(check.accepted, false);
    assert.ok(check.messages.some((m) => /Invalid parameter|2804050|100/.test(m)), check.messages.join('\n'));
  });

  test('nothing goes to the destination: which routes matched, and why not, exit 1', async () => {
    const missed = payloadFile('missed.form', { 'Call.Disposition': 'NO ANSWER', 'Call.Duration': '0' });
    const r = await run(['check-destination', '--config', config, 'ads', missed]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^ads \(google-ads\): 0 deliveries for Call\.Complete/);
    assert.match(r.stdout, /route answered: its filter \(`when`\) does not match this payload/);
    assert.match(r.stdout, /missed: matched, but does not send to ads/);
    assert.match(r.stdout, /abandoned-calls: fires on abandoned calls/);
    assert.match(r.stderr, /nothing goes to ads for this payload/);

    // GA4 with no client id: the route matched, the format skipped it, and says why.
    const noClient = payloadFile('no-client.form', { 'Google.Analytics.ClientId': undefined });
    const ga4 = await run(['check-destination', '--config', config, 'ga4', noClient, '--json']);
    assert.equal(ga4.status, 1, ga4.stdout + ga4.stderr);
    const doc = JSON.parse(ga4.stdout);
    assert.deepEqual(doc.deliveries, []);
    const answered = doc.routes.find((x) => x.name === 'answered');
    assert.equal(answered.matched, true);
    assert.ok(answered.skipped.some((s) => s.startsWith('ga4: ')), answered.skipped.join());
    assert.match(doc.reasons[0], /^route answered: matched, but /);

    // An invalid payload: refused before routing, with the validator's findings.
    const invalid = join(dir, 'invalid.form');
    writeFileSync(invalid, payload({ 'Call.Duration': '3m' }));
    const bad = await run(['check-destination', '--config', config, 'ads', invalid]);
    assert.equal(bad.status, 1);
    assert.match(bad.stdout, /the payload was refused \(HTTP 400\)/);
    assert.match(bad.stdout, /Call\.Duration: .*\(not_integer\)/);
  });

  test('a JSON payload from stdin', async () => {
    const fields = Object.fromEntries(new URLSearchParams(payload()));
    const r = await run(['check-destination', '--config', config, 'ga4', '-', '--json'], { stdin: JSON.stringify(fields) });
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.sample, false);
    assert.equal(doc.call_sid, 'CA5e1f0d9c8b7a6f5e4d3c2b1a0f9e8d7c');
    assert.equal(doc.deliveries.length, 1);
  });

  test('a platform or token endpoint that cannot be reached: exit 3, no secret in the error', async () => {
    const port = await closedPort();
    const down = writeConfig('down.json', configFor(platforms.url, { adsEndpoint: `http://127.0.0.1:${port}` }));
    const r = await run(['check-destination', '--config', down, 'ads', '--send']);
    assert.equal(r.status, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /-- no answer: /);
    const noToken = writeConfig('token-down.json', configFor(platforms.url, { tokenUrl: `http://127.0.0.1:${port}/token` }));
    const t = await run(['check-destination', '--config', noToken, 'ads', '--send', '--json']);
    assert.equal(t.status, 3, t.stdout + t.stderr);
    const { check } = JSON.parse(t.stdout).deliveries[0];
    assert.equal(check.token.obtained, false);
    assert.equal(check.token.code, 'token_unavailable');
  });

  test('the WASI command renders the same, and refuses --send (no network)', { skip: skipWasi }, async () => {
    const native = await run(['check-destination', '--config', 'config.json', 'ga4', '--json']);
    const wasm = await run(['check-destination', '--config', 'config.json', 'ga4', '--json'], { wasm: true });
    assert.equal(wasm.status, 0, wasm.stderr);
    const strip = (text) => {
      const doc = JSON.parse(text);
      for (const d of doc.deliveries) d.request.body = JSON.parse(d.request.body);
      for (const d of doc.deliveries) delete d.request.body.timestamp_micros;
      return doc;
    };
    assert.deepEqual(strip(wasm.stdout).deliveries.map((d) => d.request.url), strip(native.stdout).deliveries.map((d) => d.request.url));
    platforms.clear();
    const send = await run(['check-destination', '--config', 'config.json', 'ads', '--send'], { wasm: true });
    assert.equal(send.status, 2);
    assert.match(send.stderr, /not available in the WASI build \(it has no network\)/);
    assert.equal(platforms.requests.length, 0);
  });
});
