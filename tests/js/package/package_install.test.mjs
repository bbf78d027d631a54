// `npm pack` of bindings/js, installed into a fresh project, works in Node and in a browser page
// (Debian's Chromium driven by playwright-core), as a user would use it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';

const root = new URL('../../../', import.meta.url).pathname;
const built = existsSync(join(root, 'bindings/js/dist/callhook_wasm.wasm'));
const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';
const project = mkdtempSync(join(tmpdir(), 'callhook-fresh-'));
after(() => rmSync(project, { recursive: true, force: true }));

let installed = false;
function install() {
  if (installed) return;
  const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', project], { cwd: join(root, 'bindings/js'), encoding: 'utf8' }).trim().split('\n').pop();
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'fresh-project', private: true, type: 'module' }));
  const r = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund', `./${packed}`], { cwd: project, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  installed = true;
}

test('the packed package installs into a fresh project and runs in Node', { skip: !built && 'the npm package is not built' }, () => {
  install();
  writeFileSync(join(project, 'use.mjs'), `
    import { createEngine, validate } from 'callhook';
    const report = await validate('Action=Webhook&Event=Call.Complete', { contentType: 'application/x-www-form-urlencoded' });
    const engine = await createEngine({ destinations: { d: { url: 'http://127.0.0.1:9/x' } }, routes: [{ name: 'r', to: ['d'] }] });
    const outcome = engine.handle({ method: 'POST', url: '/hook', headers: { 'content-type': 'application/json' },
      body: new TextEncoder().encode(${JSON.stringify(readFileSync(join(root, 'examples/payloads/complete.json'), 'utf8'))}) });
    console.log(JSON.stringify({ valid: report.valid, status: outcome.response.status, deliveries: outcome.deliveries.length }));
  `);
  const r = spawnSync(process.execPath, ['use.mjs'], { cwd: project, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { valid: false, status: 200, deliveries: 1 });
  const files = readFileSync(join(project, 'node_modules/callhook/package.json'), 'utf8');
  assert.match(files, /"name": "callhook"/);
});

test('the installed package runs in a browser page', { skip: (!built && 'the npm package is not built') || (!existsSync(chromium) && 'Chromium is not installed') }, async () => {
  install();
  const { chromium: launcher } = await import('playwright-core');
  writeFileSync(join(project, 'index.html'), `<!doctype html><meta charset="utf-8"><title>callhook in a page</title><link rel="icon" href="data:,">
    <script type="importmap">{"imports": {"callhook": "/node_modules/callhook/index.js"}}</script>
    <pre id="out">loading</pre>
    <script type="module">
      import { normalize, match } from 'callhook';
      const event = await normalize('Action=Webhook&Event=Call.Initiate&Account.Sid=AC1&Property.Sid=PR1&Property.Name=x.com&Property.Type=Site&Call.Sid=CA1&Call.StartDate=2024-05-01+03%3A15%3A42&Call.From=%2B14155550123&Call.To=%2B18005550199&Call.To.Name=Main');
      document.getElementById('out').textContent = JSON.stringify({ sid: event.call.sid, start: event.call.start_date, matched: await match({ 'call.from.anonymous': false }, event) });
    </script>`);
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
  const server = http.createServer((req, res) => {
    const file = normalize(join(project, decodeURIComponent(req.url.split('?')[0]) === '/' ? 'index.html' : decodeURIComponent(req.url.split('?')[0])));
    if (!file.startsWith(project) || !existsSync(file)) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const browser = await launcher.launch({ executablePath: chromium, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => document.getElementById('out').textContent !== 'loading', null, { timeout: 15000 });
    const result = JSON.parse(await page.textContent('#out'));
    assert.deepEqual(result, { sid: 'CA1', start: '2024-05-01T03:15:42Z', matched: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.close();
  }
});
