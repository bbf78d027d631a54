// The browser playground (examples/playground) in Debian's Chromium through playwright-core:
// served from a small static server, driven like a user, a screenshot of each state written to
// tests/artifacts/playground-*.png. Skipped when Chromium or the built package is missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, statSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const site = join(root, 'examples/playground');
const pkg = join(root, 'bindings/js');
const artifacts = join(root, 'tests/artifacts');
const chromiumPath = '/usr/bin/chromium';
const packageFiles = ['index.js', 'stores.js', 'delivery.js', 'fetch-handler.js',
  'dist/callhook_wasm.mjs', 'dist/callhook_wasm.wasm'];

let skip = false;
if (!existsSync(chromiumPath)) skip = `${chromiumPath} is not installed`;
else if (!packageFiles.every((file) => existsSync(join(pkg, file)))) skip = 'the package is not built (bash bindings/js/build.sh)';

// vendor/ is a copy of the package made by build.sh: (re)make it when missing or stale.
function vendorIsStale() {
  return packageFiles.some((file) => {
    const copy = join(site, 'vendor', file);
    return !existsSync(copy) || statSync(copy).mtimeMs < statSync(join(pkg, file)).mtimeMs;
  });
}

const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.wasm': 'application/wasm', '.png': 'image/png' };

let server;
let browser;
let base;

before(async () => {
  if (skip) return;
  if (vendorIsStale()) execFileSync('bash', [join(site, 'build.sh')], { stdio: 'ignore' });
  mkdirSync(artifacts, { recursive: true });
  server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = normalize(join(site, path.endsWith('/') ? `${path}index.html` : path));
    if (!file.startsWith(site + sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const data = await readFile(file);
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(data);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}/`;
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  server?.close();
});

// A page with its console errors collected; resolves once the first evaluation is shown.
async function open(url = base, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(String(error)));
  await page.goto(url);
  await page.waitForFunction(() => /Evaluated in/.test(document.querySelector('#status').textContent));
  return { page, context, problems };
}

// Edits are evaluated after a 50 ms pause: run the edit, then wait for the next evaluation.
async function settle(page, edit) {
  const count = () => page.evaluate(() => Number(document.body.dataset.evaluations ?? 0));
  const before = await count();
  await edit();
  await page.waitForFunction((n) => Number(document.body.dataset.evaluations ?? 0) > n, before);
  await page.waitForTimeout(80); // a later keystroke's evaluation may still be pending
  const seen = await count();
  await page.waitForTimeout(60);
  if ((await count()) !== seen) await page.waitForTimeout(100);
}

const shot = (page, name, options = {}) =>
  page.screenshot({ path: join(artifacts, `playground-${name}.png`), ...options });

test('loads with no console errors and routes the valid Complete sample', { skip }, async () => {
  const { page, context, problems } = await open();
  await settle(page, () => page.selectOption('#sample', 'complete'));
  const route = page.locator('#routes li[data-route="answered-long-calls"]');
  assert.match(await route.textContent(), /answered-long-calls\s*matched/);
  assert.match(await page.locator('#routes li[data-route="missed-calls-to-slack"]').textContent(), /not matched/);
  assert.equal(await page.locator('#response-status').textContent(), '200');
  assert.equal(await page.locator('#deliveries .delivery').count(), 4);
  assert.match(await page.locator('#event').textContent(), /"disposition": "ANSWERED"/);
  assert.match(await page.locator('#curl').textContent(), /curl -i -X POST 'http:\/\/127\.0\.0\.1:8787\/hook\/demo-token'/);
  assert.match(await page.locator('#status').textContent(), /Evaluated in \d+\.\d ms/);
  await shot(page, 'complete', { fullPage: true });
  // The README's picture (examples/playground/screenshot.png is a copy of this one).
  await page.setViewportSize({ width: 1200, height: 760 });
  await shot(page, 'readme');
  assert.deepEqual(problems, []);
  await context.close();
});

test('an unencoded + in Call.From shows the bad_e164 message in its row', { skip }, async () => {
  const { page, context, problems } = await open();
  await settle(page, () => page.selectOption('#sample', 'plus'));
  const row = page.locator('#fields tr[data-field="Call.From"]');
  const text = await row.textContent();
  assert.match(text, /bad_e164/);
  assert.match(text, /The '\+' arrived as a space: in a form or query string it must be encoded as %2B\./);
  assert.equal(await row.getAttribute('class'), 'has-error');
  assert.equal(await page.locator('#response-status').textContent(), '400');
  await shot(page, 'invalid', { fullPage: true });
  // The same at a phone's width stays readable (one column, no sideways scrolling of the page).
  await page.setViewportSize({ width: 375, height: 800 });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 375));
  await shot(page, 'invalid-375', { fullPage: true });
  assert.deepEqual(problems, []);
  await context.close();
});

test('config problems are listed with their JSON Pointers', { skip }, async () => {
  const { page, context } = await open();
  const config = await page.inputValue('#config');
  await settle(page, () => page.fill('#config', config.replace('"to": ["slack"]', '"to": ["pager"]')));
  assert.match(await page.locator('#config-errors').textContent(), /\/routes\/2\/to\/0\s*unknown_destination/);
  await shot(page, 'config-error');
  await context.close();
});

test('a shared link restores the state in a new page (secrets stay out)', { skip }, async () => {
  const { page, context } = await open();
  const config = (await page.inputValue('#config')).replace('"every-event"', '"all-events"');
  await settle(page, async () => {
    await page.selectOption('#sample', 'duration');
    await page.selectOption('#kind', 'form');
    await page.fill('#config', config);
    await page.click('details summary');
    await page.fill('#secrets', 'CALLHOOK_TOKEN=not-in-the-link\nGA4_API_SECRET=x\nGOOGLE_ADS_DEVELOPER_TOKEN=y');
  });
  const payload = await page.inputValue('#payload');
  const url = page.url();
  assert.match(url, /#state=[A-Za-z0-9_-]+$/);
  const state = JSON.parse(Buffer.from(url.split('#state=')[1], 'base64url').toString('utf8'));
  assert.equal(state.payload, payload);
  assert.ok(!JSON.stringify(state).includes('not-in-the-link'));
  await context.close();

  const restored = await open(url);
  assert.equal(await restored.page.inputValue('#payload'), payload);
  assert.equal(await restored.page.inputValue('#config'), config);
  assert.equal(await restored.page.inputValue('#kind'), 'form');
  assert.match(await restored.page.locator('#fields tr[data-field="Call.Duration"]').textContent(), /not_integer/);
  assert.match(await restored.page.locator('#routes').textContent(), /Nothing routed: the request was refused \(400/);
  await shot(restored.page, 'shared', { fullPage: true });
  assert.deepEqual(restored.problems, []);
  await restored.context.close();
});

test('sequence mode plays the steps through one engine and shows the duplicate', { skip }, async () => {
  const { page, context, problems } = await open();
  await settle(page, () => page.check('input[name=view][value=sequence]'));
  const moments = page.locator('#timeline > li');
  assert.equal(await moments.count(), 4);
  assert.match(await moments.nth(0).textContent(), /200 accepted.*Call\.Initiate.*1 delivery/);
  assert.match(await moments.nth(1).textContent(), /200 accepted.*Call\.Complete.*4 deliveries/);
  assert.match(await moments.nth(2).textContent(), /200 duplicate.*duplicate.*0 deliveries/);
  assert.equal(await moments.nth(2).getAttribute('class'), 'moment duplicate');
  assert.match(await moments.nth(3).textContent(), /sweep/);
  await shot(page, 'sequence', { fullPage: true });
  // The view is part of the shared state too.
  const again = await open(page.url());
  assert.equal(await again.page.locator('#timeline > li.duplicate').count(), 1);
  await again.context.close();
  assert.deepEqual(problems, []);
  await context.close();
});

test('keeps working offline once loaded (service worker)', { skip }, async () => {
  const { page, context } = await open();
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.reload(); // now controlled by the worker, which has cached the files
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
  await context.setOffline(true);
  await page.reload();
  await page.waitForFunction(() => /Evaluated in/.test(document.querySelector('#status').textContent));
  await settle(page, () => page.selectOption('#sample', 'lowercase'));
  assert.match(await page.locator('#fields tr[data-field="Call.Disposition"]').textContent(), /case-sensitive: use NO ANSWER/);
  await context.close();
});

// The deliveries panel shows each request exactly as it would be sent (method, URL, headers,
// body), every secret as ${NAME} (engine.sealDelivery), and for an oauth2 destination a note that
// an access token from its token URL is added when it is sent.
const SECRET_VALUES = {
  GA4_API_SECRET: 'pg-ga4-s3cret-value', GOOGLE_ADS_DEVELOPER_TOKEN: 'pg-dev-t0ken-value',
  ADS_CLIENT_SECRET: 'pg-client/s3cret+x', ADS_REFRESH_TOKEN: '1//pg-refresh-t0ken', CALLHOOK_TOKEN: 'pg-hook-t0ken',
};
const secretLines = Object.entries(SECRET_VALUES).map(([name, value]) => `${name}=${value}`).join('\n');
const secretForms = (value) => [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)];

function assertNoSecret(text, where) {
  for (const [name, value] of Object.entries(SECRET_VALUES)) {
    for (const form of secretForms(value)) assert.ok(!text.includes(form), `${where} shows ${name} (${form}):\n${text}`);
  }
}

test('deliveries show the exact request with secrets as ${NAME}, and the oauth2 token note', { skip }, async () => {
  const { page, context, problems } = await open();
  await settle(page, async () => {
    await page.click('details summary');
    await page.fill('#secrets', secretLines);
    await page.selectOption('#sample', 'complete');
  });
  const ga4 = page.locator('#deliveries .delivery[data-destination="ga4"]');
  const ga4Request = await ga4.locator('pre.request').textContent();
  assert.match(ga4Request, /^POST http:\/\/127\.0\.0\.1:9400\/ga4\/mp\/collect\?measurement_id=G-XXXXXXX&api_secret=\$\{GA4_API_SECRET\}\n/);
  assert.match(ga4Request, /\nContent-Type: application\/json\n/);
  assert.match(ga4Request, /\nIdempotency-Key: CA5e1f0d9c8b7a6f5e4d3c2b1a0f9e8d7c:Call\.Complete:answered-long-calls\n/);
  const body = JSON.parse(ga4Request.split('\n\n').slice(1).join('\n\n'));
  assert.equal(body.client_id, '1234567890.1714530000', 'the body as sent, byte for byte');
  const ads = await page.locator('#deliveries .delivery[data-destination="google-ads"] pre.request').textContent();
  assert.match(ads, /\ndeveloper-token: \$\{GOOGLE_ADS_DEVELOPER_TOKEN\}\n/);
  assert.match(await page.locator('#deliveries .delivery-note').textContent(), /secret shown as \$\{NAME\}/);
  assert.equal(await page.locator('#deliveries .oauth-note').count(), 0, 'no oauth2 destination here');
  assertNoSecret(await page.locator('#deliveries').textContent(), 'the deliveries panel');

  // google-ads with OAuth 2.0 credentials: the note names the token URL.
  const config = (await page.inputValue('#config')).replace(
    '"headers": {"developer-token": "${GOOGLE_ADS_DEVELOPER_TOKEN}"},',
    '"headers": {"developer-token": "${GOOGLE_ADS_DEVELOPER_TOKEN}"},\n      "auth": {"type": "oauth2", "token_url": "https://oauth2.example.test/token", ' +
    '"client_id": "pg-client", "client_secret": "${ADS_CLIENT_SECRET}", "refresh_token": "${ADS_REFRESH_TOKEN}"},');
  assert.notEqual(config, await page.inputValue('#config'));
  await settle(page, () => page.fill('#config', config));
  assert.match(await page.locator('#config-status').textContent(), /Config is valid/);
  const oauth = page.locator('#deliveries .delivery[data-destination="google-ads"]');
  const note = await oauth.locator('.oauth-note').textContent();
  assert.match(note, /access token from https:\/\/oauth2\.example\.test\/token is added/);
  assert.match(note, /Authorization: Bearer …/);
  const withToken = await oauth.locator('pre.request').textContent();
  assert.match(withToken, /^POST http:\/\/127\.0\.0\.1:9400\/google-ads\n/);
  // With the package's send planning the request also shows where the token goes and the token
  // request itself, masked.
  const planned = await page.evaluate(async () => {
    const { init } = await import('./vendor/index.js');
    const callhook = await init();
    const engine = callhook.createEngine('{"destinations": {"x": {"url": "http://127.0.0.1:1/"}}, "routes": []}');
    const has = typeof engine.planSend === 'function';
    engine.close();
    return has;
  });
  if (planned) {
    assert.match(withToken, /\nAuthorization: Bearer <access token from https:\/\/oauth2\.example\.test\/token>\n/);
    await oauth.locator('details.token-request summary').click();
    const tokenRequest = await oauth.locator('details.token-request pre').textContent();
    assert.match(tokenRequest, /^POST https:\/\/oauth2\.example\.test\/token\n/);
    assert.match(tokenRequest, /client_secret=\$\{ADS_CLIENT_SECRET\}/);
    assert.match(tokenRequest, /refresh_token=\$\{ADS_REFRESH_TOKEN\}/);
  }
  assertNoSecret(await page.locator('#deliveries').textContent(), 'the deliveries panel (oauth2)');
  await shot(page, 'deliveries', { fullPage: true });

  // The sequence timeline lists each delivery's method and URL, masked the same way.
  await settle(page, () => page.check('input[name=view][value=sequence]'));
  const timeline = await page.locator('#timeline').textContent();
  assert.match(timeline, /api_secret=\$\{GA4_API_SECRET\}/);
  assertNoSecret(timeline, 'the timeline');
  assert.deepEqual(problems, []);
  await context.close();
});

// Other senders: the sender selector runs a payload through the engine as that sender's source
// (the playground's own source, without auth, merged into the config), at /hook/SOURCE[/WEBHOOK],
// with the sender's method and content type; the samples are each sender's.
const SENDER_CASES = [
  { sender: 'twilio', label: 'Twilio', method: 'POST', path: '/hook/twilio', type: 'application/x-www-form-urlencoded',
    initiate: { id: 'twilio-initiate', sid: 'CA00000000000000000000000000000042' },
    complete: { id: 'twilio-complete', sid: 'CA00000000000000000000000000000042', disposition: 'ANSWERED', duration: 95 } },
  { sender: 'callrail', label: 'CallRail', method: 'POST', path: '/hook/callrail', type: 'application/json',
    initiate: { id: 'callrail-pre-call', sid: 'CAL00000000000000000000000000000101', webhook: 'pre-call' },
    complete: { id: 'callrail-post-call', sid: 'CAL00000000000000000000000000000101', webhook: 'post-call',
      disposition: 'ANSWERED', duration: 95 } },
  { sender: 'ctm', label: 'CallTrackingMetrics', method: 'POST', path: '/hook/ctm', type: 'application/json',
    initiate: { id: 'ctm-start', sid: '100000201', webhook: 'start' },
    complete: { id: 'ctm-end', sid: '100000201', webhook: 'end', disposition: 'ANSWERED', duration: 110 } },
  { sender: 'ringba', label: 'Ringba', method: 'GET', path: '/hook/ringba', type: null,
    initiate: { id: 'ringba-incoming', sid: '00000000-0000-4000-8000-000000000301' },
    complete: { id: 'ringba-finalized', sid: '00000000-0000-4000-8000-000000000301', disposition: 'ANSWERED', duration: 95 } },
];

// The verdict line, the canonical event (null when there is none) and the curl command shown.
async function shown(page) {
  const eventText = await page.locator('#event').textContent();
  return {
    verdict: await page.locator('#verdict').textContent(),
    event: eventText.startsWith('{') ? JSON.parse(eventText) : null,
    curl: await page.locator('#curl').textContent(),
    status: await page.locator('#response-status').textContent(),
  };
}

for (const c of SENDER_CASES) {
  test(`${c.label}: its samples pass as its source, Initiate and Complete`, { skip }, async () => {
    const { page, context, problems } = await open();
    await settle(page, () => page.selectOption('#sender', c.sender));
    // The sample list is the sender's own; choosing the sender loads its Complete.
    const ids = await page.locator('#sample option').evaluateAll((options) => options.map((o) => o.value));
    assert.ok(ids.includes(c.initiate.id) && ids.includes(c.complete.id), ids.join(' '));
    assert.ok(ids.filter(Boolean).every((id) => id.startsWith(`${c.sender}-`)), ids.join(' '));
    assert.match(await page.locator('#sender-note').textContent(), new RegExp(`${c.label} payloads are sent as .* to /hook/${c.sender}`));

    for (const [which, want] of [['Call.Initiate', c.initiate], ['Call.Complete', c.complete]]) {
      await settle(page, () => page.selectOption('#sample', want.id));
      const { verdict, event, curl, status } = await shown(page);
      assert.match(verdict, new RegExp(`^Valid ${which.replace('.', '\\.')} from ${c.label}: `), verdict);
      assert.equal(event.event, which);
      assert.deepEqual(event.source, { name: c.sender, sender: c.sender });
      assert.equal(event.call.sid, want.sid);
      if (want.disposition) {
        assert.equal(event.call.disposition, want.disposition);
        assert.equal(event.call.duration, want.duration);
      }
      const path = `${c.path}${want.webhook ? `/${want.webhook}` : ''}`;
      if (c.method === 'GET') {
        assert.match(curl, new RegExp(`^curl -i 'http://127\\.0\\.0\\.1:8787${path}\\?event=`), curl);
      } else {
        assert.match(curl, new RegExp(`^curl -i -X POST 'http://127\\.0\\.0\\.1:8787${path}'`), curl);
        assert.match(curl, new RegExp(`-H 'Content-Type: ${c.type.replace('/', '\\/')}'`), curl);
      }
      assert.equal(status, '200');
      if (which === 'Call.Complete') {
        // Routed by the example config's routes, as Voice Webhooks are.
        assert.match(await page.locator('#routes li[data-route="every-event"]').textContent(), /every-event\s*matched/);
        assert.ok(await page.locator('#deliveries .delivery').count() >= 1);
      }
    }
    await shot(page, `sender-${c.sender}`, { fullPage: true });
    assert.deepEqual(problems, []);
    await context.close();
  });
}

test('sender edge cases: never answered, anonymous caller, no geo', { skip }, async () => {
  const { page, context, problems } = await open();
  const cases = [
    ['twilio', 'twilio-no-answer', (e) => { assert.equal(e.call.disposition, 'NO ANSWER'); assert.equal(e.call.duration, 0); }],
    ['twilio', 'twilio-anonymous', (e) => { assert.equal(e.call.from.anonymous, true); assert.equal(e.call.from.city, null); }],
    ['twilio', 'twilio-no-geo', (e) => { assert.equal(e.call.from.number, '+14155550101'); assert.equal(e.call.from.city, null); }],
    ['callrail', 'callrail-unanswered', (e) => { assert.equal(e.call.disposition, 'NO ANSWER'); assert.equal(e.call.duration, 0); }],
    ['callrail', 'callrail-anonymous', (e) => assert.equal(e.call.from.anonymous, true)],
    ['callrail', 'callrail-no-geo', (e) => assert.equal(e.call.from.city, null)],
    ['ctm', 'ctm-no-answer', (e) => assert.equal(e.call.disposition, 'NO ANSWER')],
    ['ctm', 'ctm-anonymous', (e) => assert.equal(e.call.from.anonymous, true)],
    ['ringba', 'ringba-unanswered', (e) => { assert.equal(e.call.disposition, 'NO ANSWER'); assert.equal(e.call.duration, 0); }],
    ['ringba', 'ringba-anonymous', (e) => assert.equal(e.call.from.anonymous, true)],
    ['ringba', 'ringba-no-geo', (e) => assert.equal(e.call.from.region, null)],
  ];
  for (const [sender, id, check] of cases) {
    if (await page.inputValue('#sender') !== sender) await settle(page, () => page.selectOption('#sender', sender));
    await settle(page, () => page.selectOption('#sample', id));
    const { verdict, event, status } = await shown(page);
    assert.match(verdict, /^Valid Call\.Complete from /, `${id}: ${verdict}`);
    assert.equal(event.source.sender, sender, id);
    check(event);
    assert.equal(status, '200', id);
  }
  // A missed call reaches the example config's Slack route whatever the sender.
  assert.match(await page.locator('#routes li[data-route="missed-calls-to-slack"]').textContent(), /not matched/);
  await settle(page, () => page.selectOption('#sample', 'ringba-unanswered'));
  assert.match(await page.locator('#routes li[data-route="missed-calls-to-slack"]').textContent(), /matched/);
  assert.equal(await page.locator('#deliveries .delivery[data-destination="slack"]').count(), 1);
  assert.deepEqual(problems, []);
  await context.close();
});

test('an invalid sender payload names the sender\'s field: Twilio without CallSid', { skip }, async () => {
  const { page, context, problems } = await open();
  await settle(page, () => page.selectOption('#sender', 'twilio'));
  await settle(page, () => page.selectOption('#sample', 'twilio-no-sid'));
  const { verdict, event, status } = await shown(page);
  assert.match(verdict, /^Invalid .*from Twilio: .*1 error/, verdict);
  assert.equal(event, null);
  const row = page.locator('#fields tr[data-field="CallSid"]');
  assert.equal(await row.getAttribute('class'), 'has-error');
  const text = await row.textContent();
  assert.match(text, /not sent/);
  assert.match(text, /CallSid is required on Twilio's Call\.Complete webhooks/);
  assert.match(text, /\(missing\)/);
  assert.equal(status, '400');
  assert.match(await page.locator('#routes').textContent(), /Nothing routed: the request was refused \(400/);
  // The sender's own fields are listed as decoded, each "ok" unless a finding names it.
  assert.match(await page.locator('#fields tr[data-field="CallStatus"]').textContent(), /completed\s*ok/);
  // Other senders' mistakes name their fields too.
  await settle(page, () => page.selectOption('#sender', 'ringba'));
  await settle(page, () => page.selectOption('#sample', 'ringba-no-event'));
  assert.match(await page.locator('#fields tr[data-field="event"]').textContent(), /\(unknown_event\)/);
  await settle(page, () => page.selectOption('#sample', 'ringba-duration'));
  assert.match(await page.locator('#fields tr[data-field="duration"]').textContent(), /\(not_integer\)/);
  await settle(page, () => page.selectOption('#sender', 'ctm'));
  await settle(page, () => page.selectOption('#sample', 'ctm-no-id'));
  assert.match(await page.locator('#fields tr[data-field="id"]').textContent(), /\(missing\)/);
  await shot(page, 'sender-invalid', { fullPage: true });
  assert.deepEqual(problems, []);
  await context.close();
});

test('a config\'s own source is used without its auth; a pasted payload survives a sender change', { skip }, async () => {
  const { page, context, problems } = await open();
  const config = await readFile(join(root, 'examples/configs/senders.json'), 'utf8');
  await settle(page, async () => {
    await page.click('details summary');
    await page.fill('#secrets', 'CALLHOOK_TOKEN=t\nTWILIO_AUTH_TOKEN=t\nCALLRAIL_SIGNING_KEY=k\nCTM_SECRET=c');
    await page.fill('#config', config);
    await page.selectOption('#sender', 'ringba');
  });
  assert.match(await page.locator('#config-status').textContent(), /Config is valid/);
  const note = await page.locator('#sender-note').textContent();
  assert.match(note, /read by this config's source "ringba"/);
  assert.match(note, /its auth left out/);
  assert.match(note, /"Call\.To":"\+14155550199"/);
  const { verdict, event } = await shown(page);
  assert.match(verdict, /^Valid Call\.Complete from Ringba/);
  assert.equal(event.call.to.number, '+14155550199');
  assert.match(await page.locator('#routes li[data-route="every-call"]').textContent(), /matched/);

  // Something pasted is not replaced by the next sender's sample.
  const pasted = 'CallSid=CA1&AccountSid=AC1&CallStatus=ringing&From=%2B14155550101&To=%2B14155550199';
  await settle(page, () => page.fill('#payload', pasted));
  await settle(page, () => page.selectOption('#sender', 'twilio'));
  assert.equal(await page.inputValue('#payload'), pasted);
  assert.match((await shown(page)).verdict, /^Valid Call\.Initiate from Twilio/);
  assert.deepEqual(problems, []);
  await context.close();
});

test('a shared link keeps the sender and webhook; a sender\'s sequence correlates its calls', { skip }, async () => {
  const { page, context, problems } = await open();
  await settle(page, () => page.selectOption('#sender', 'callrail'));
  await settle(page, () => page.selectOption('#sample', 'callrail-pre-call'));
  assert.equal(await page.inputValue('#webhook'), 'pre-call');
  assert.equal(await page.isVisible('#webhook'), true);
  const restored = await open(page.url());
  assert.equal(await restored.page.inputValue('#sender'), 'callrail');
  assert.equal(await restored.page.inputValue('#webhook'), 'pre-call');
  assert.match((await shown(restored.page)).verdict, /^Valid Call\.Initiate from CallRail/);
  await restored.context.close();

  // Sequence: pre-call, post-call, the post-call again (a duplicate), a sweep; each step with
  // its webhook word.
  await settle(page, () => page.check('input[name=view][value=sequence]'));
  assert.deepEqual(await page.locator('#steps .step-webhook').evaluateAll((s) => s.map((x) => x.value)),
    ['pre-call', 'post-call', 'post-call']);
  const moments = page.locator('#timeline > li');
  assert.equal(await moments.count(), 4);
  assert.match(await moments.nth(0).textContent(), /200 accepted.*Call\.Initiate/);
  // No GA client id in CallRail's example: ga4 is skipped, the other three are sent.
  assert.match(await moments.nth(1).textContent(), /200 accepted.*Call\.Complete.*3 deliveries/);
  assert.match(await moments.nth(2).textContent(), /200 duplicate.*duplicate.*0 deliveries/);
  await shot(page, 'sender-sequence', { fullPage: true });
  // Voice Webhooks again: its own samples and sequence come back, the webhook choice goes.
  await settle(page, () => page.selectOption('#sender', 'voice-webhooks'));
  assert.equal(await page.isVisible('#webhook'), false);
  assert.match(await moments.nth(1).textContent(), /200 accepted.*Call\.Complete.*4 deliveries/);
  assert.ok(await page.locator('#step-sample option[value="complete"]').count() === 1);
  assert.deepEqual(problems, []);
  await context.close();
});
