// The exchange corpus (tests/vectors/exchanges) in Debian's Chromium through playwright-core: the
// npm package loaded in a page as the playground loads it (import('./vendor/index.js'), served here
// straight from bindings/js so the page runs the package as built), with createFetchHandler, a
// memory store and a delivery queue whose fetch is the browser's own, sending to the loopback
// receiver across origins (it answers CORS). The handler's clock is a test clock in the page (real
// time plus jumps, for abandoned calls); the queue keeps real time, as in Node.
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { defineExchangeTests, lowerHeaders, passWithJumps, prerequisite, root } from '../exchange-runner.mjs';

const chromiumPath = '/usr/bin/chromium';
const pkg = join(root, 'bindings/js');
const packageFiles = ['index.js', 'stores.js', 'delivery.js', 'fetch-handler.js', 'dist/callhook_wasm.mjs', 'dist/callhook_wasm.wasm'];
const missing = prerequisite(
  (!existsSync(chromiumPath) && `${chromiumPath} is not installed`) ||
  (!packageFiles.every((f) => existsSync(join(pkg, f))) && 'the package is not built (bash bindings/js/build.sh)'));

const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };

// A blank page at /, the package at /vendor/.
function startSite() {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (path === '/') {
      res.writeHead(200, { 'content-type': types['.html'] }).end('<!doctype html><title>exchanges</title>');
      return;
    }
    const file = normalize(join(pkg, path.replace(/^\/vendor\//, '/')));
    if (!path.startsWith('/vendor/') || !file.startsWith(pkg + sep)) {
      res.writeHead(404).end();
      return;
    }
    try {
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(await readFile(file));
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, base: `http://127.0.0.1:${server.address().port}/` })));
}

let shared = null; // {browser, site}, started by the first target
async function browserAndSite() {
  if (!shared) {
    shared = (async () => {
      const site = await startSite();
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({
        executablePath: chromiumPath,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
          '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      return { site, browser };
    })();
  }
  return shared;
}

defineExchangeTests('chromium', {
  missing,
  async start(configText, secrets) {
    const { site, browser } = await browserAndSite();
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (error) => problems.push(String(error)));
    await page.goto(site.base);
    await page.evaluate(async ({ configText, secrets }) => {
      const m = await import('./vendor/index.js');
      const engine = await m.createEngine(configText, { secrets });
      window.offsetMs = 0;
      const clock = () => Date.now() + window.offsetMs;
      const store = m.memoryStore();
      const queue = m.createDeliveryQueue({ engine, store });
      const handler = m.createFetchHandler({ engine, store, queue, now: () => clock() / 1000, onError: () => {} });
      window.exchange = { handler, queue, clock };
    }, { configText, secrets });
    let offsetMs = 0;
    const clock = () => Date.now() + offsetMs;
    return {
      clock,
      deliveryClock: Date.now, // the page's queue keeps real time
      pass: passWithJumps(async (ms) => {
        offsetMs += ms;
        await page.evaluate((o) => { window.offsetMs = o; }, offsetMs);
      }),
      send: async (request) => {
        const answer = await page.evaluate(async ({ method, path, headers, body }) => {
          const bytes = body === null ? undefined : Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
          const r = await window.exchange.handler(new Request(`http://callhook.test${path}`, { method, headers, body: bytes }));
          return { status: r.status, headers: [...r.headers], body: await r.text() };
        }, { ...request, body: request.body === null ? null : request.body.toString('base64') });
        return { ...answer, headers: lowerHeaders(answer.headers) };
      },
      sweep: () => page.evaluate(() => window.exchange.handler.sweep(window.exchange.clock() / 1000).then(() => undefined)),
      deadLetters: () => page.evaluate(async () => (await window.exchange.queue.deadLetters()).map((d) => ({
        destination: d.destination, key: d.idempotency_key, code: d.code,
      }))),
      slackMs: 2000,
      quietMs: 300,
      async stop() {
        await context.close();
        if (shared) {
          const s = await shared;
          shared = null;
          await s.browser.close();
          s.site.server.close();
        }
      },
    };
  },
});
