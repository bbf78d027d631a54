// The operator's page (GET /admin/ on the Node function) in Debian's Chromium through
// playwright-core: the real server on loopback, a destination that refuses a delivery (a dead
// letter), the page lists it once the admin token is typed in, and its Redrive button sends the
// delivery again with the same Idempotency-Key.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prerequisite } from '../exchange-runner.mjs';
import { startNodeFunction } from '../node-function/start-server.mjs';

const root = new URL('../../../', import.meta.url).pathname;
const chromiumPath = '/usr/bin/chromium';
const missing = prerequisite(!existsSync(chromiumPath) ? `${chromiumPath} is not installed`
  : !existsSync(join(root, 'bindings/js/dist/callhook_wasm.wasm')) ? 'the npm package is not built (bash bindings/js/build.sh)' : false);
const skip = missing && !missing.fail ? missing : false;
const ADMIN = 'page-admin-t0ken-value';
const TOKEN = 'page-hook-t0ken';
const dir = mkdtempSync(join(tmpdir(), 'callhook-admin-page-'));
const initiate = readFileSync(join(root, 'examples/payloads/initiate.form'), 'utf8');

let browser;
let receiver;
let server;
const received = [];
let refusing = true;

before(async () => {
  if (missing) return;
  receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received.push({ key: req.headers['idempotency-key'], status: refusing ? 400 : 200 });
      res.writeHead(refusing ? 400 : 200).end(refusing ? '{"error":"bad lead"}' : '{}');
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({
    auth: { token: { value: '${CALLHOOK_TOKEN}', in: 'path' } },
    destinations: { crm: { url: `http://127.0.0.1:${receiver.address().port}/leads` } },
    routes: [{ name: 'each', to: ['crm'] }],
  }));
  server = await startNodeFunction({ env: { CALLHOOK_CONFIG: config, CALLHOOK_TOKEN: TOKEN, CALLHOOK_ADMIN_TOKEN: ADMIN,
    CALLHOOK_DATA_DIR: join(dir, 'data') } });
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  if (server && server.child.exitCode === null) {
    const exited = new Promise((resolve) => server.child.once('exit', resolve));
    server.child.kill('SIGTERM');
    await exited;
  }
  receiver?.close();
});

async function until(check, ms = 10_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

if (missing?.fail) {
  test('admin page: prerequisites', () => assert.fail(`CI=true and a prerequisite is missing: ${missing.fail}`));
}

test('the page lists a dead letter once the token is given, and redrives it with the same Idempotency-Key', { skip }, async () => {
  const sent = await fetch(`${server.url}/hook/${TOKEN}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: initiate });
  assert.equal(sent.status, 200);
  const deadLetters = async () => (await (await fetch(`${server.url}/admin/dead-letters`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()).count;
  assert.ok(await until(async () => (await deadLetters()) === 1), 'the 400 made a dead letter');

  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(String(error)));
  try {
    const response = await page.goto(`${server.url}/admin/`);
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-security-policy'] ?? '', /frame-ancestors 'none'/);
    // Nothing is shown before the token is given.
    assert.equal(await page.locator('#rows tr[data-id]').count(), 0);
    await page.fill('#token', 'not-the-token');
    await page.click('#load');
    await page.waitForFunction(() => document.querySelector('#status').textContent.includes('401'));
    assert.equal(await page.locator('#rows tr[data-id]').count(), 0, 'a wrong token shows nothing');

    await page.fill('#token', ADMIN);
    await page.click('#load');
    await page.waitForSelector('#rows tr[data-id]');
    const row = page.locator('#rows tr[data-id]');
    assert.equal(await row.count(), 1);
    const text = await row.innerText();
    assert.match(text, /crm/);
    assert.match(text, /not_retryable_status/);
    assert.match(text, /HTTP 400/);

    refusing = false;
    await row.locator('input[type=checkbox]').check();
    await page.click('#redrive');
    await page.waitForFunction(() => document.querySelector('#status').textContent.startsWith('Redriven: 1'));
    assert.ok(await until(() => received.some((r) => r.status === 200)), 'the redriven delivery arrived');
    const keys = new Set(received.map((r) => r.key));
    assert.equal(keys.size, 1, 'the same Idempotency-Key both times');
    assert.ok(await until(async () => (await deadLetters()) === 0));
    await page.click('#load');
    await page.waitForFunction(() => document.querySelector('#rows').textContent.includes('No dead letters.'));
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
