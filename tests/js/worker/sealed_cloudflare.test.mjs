// What the Cloudflare Worker keeps at rest holds no secret: its Queue messages and dead letters
// are sealed deliveries (${NAME} references), unsealed by the consumer with the secrets of now,
// and its Durable Object storage holds the call's record only. A payload's own ${NAME} text is
// never resolved; a message that cannot be unsealed is dead as unsendable. The shipped Worker
// runs in the real workerd (`wrangler dev --local`) behind tests/js/worker/sealed-worker.js,
// which only records the messages its consumer receives, the dead letters it sends and a call's
// Durable Object storage.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWranglerDev, wranglerSkip } from '../wrangler.mjs';
import { DELIVERY_SECRETS, assertNoSecret } from '../sealed-secrets.mjs';

const root = new URL('../../../', import.meta.url).pathname;
const skip = wranglerSkip ||
  (!existsSync(join(root, 'bindings/js/dist/callhook_wasm.wasm')) &&
    'the npm package is not built (bash bindings/js/build.sh)');

const SECRETS = { CALLHOOK_TOKEN: 'cf-seal-t0ken', ...DELIVERY_SECRETS };
const ACCOUNT = 'AC8f2b0e5c1d4a4f7e9b3c6d2a1e0f9b8c';

const complete = readFileSync(join(root, 'examples/payloads/complete.form'), 'utf8').trim();
const webhook = (sid, keywords = 'emergency plumber') => complete
  .replace(/Call\.Sid=[^&]*/, `Call.Sid=${sid}`)
  .replace(/Session\.Keywords=[^&]*/, `Session.Keywords=${encodeURIComponent(keywords)}`);

// Deliveries of calls whose Sid holds DEAD are refused with 400 (dead letters).
function startReceiver() {
  const received = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const key = req.headers['idempotency-key'] ?? '';
      received.push({ url: req.url, key, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(key.includes('DEAD') ? 400 : 200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, received, port: server.address().port })));
}

let receiver;
let dev;
const dir = mkdtempSync(join(tmpdir(), 'callhook-cf-sealed-'));

async function waitFor(predicate, ms = 15000, what = 'condition') {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const seen = async () => (await fetch(`${dev.base}/__test/seen`)).json();
// A delivery message's sealed text: the message is {callhook_delivery: 1, sealed, ...} (or, as
// queued by /__test/enqueue, the sealed text alone).
const sealedOf = (m) => (typeof m.body === 'string' ? m.body : m.body?.sealed ?? '');
const post = (sid, keywords) => fetch(`${dev.base}/hook/${SECRETS.CALLHOOK_TOKEN}`, {
  method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: webhook(sid, keywords),
});
const forSid = (sid) => receiver.received.filter((r) => r.key.startsWith(`${sid}:`));

before(async () => {
  if (skip) return;
  receiver = await startReceiver();
  const sink = `http://127.0.0.1:${receiver.port}`;
  const config = {
    auth: { token: { value: '${CALLHOOK_TOKEN}', in: 'path' } },
    destinations: {
      ga4: { format: 'ga4', url: `${sink}/ga4?measurement_id=G-1&api_secret=\${GA4_API_SECRET}` },
      ads: {
        format: 'google-ads', url: `${sink}/ads`, headers: { 'developer-token': '${ADS_TOKEN}' },
        options: { conversion_action: 'customers/1/conversionActions/2' },
      },
      crm: { format: 'template', url: `${sink}/crm`, options: { body: { key: '${CRM_KEY}', keywords: '{{ session.keywords }}' } } },
    },
    routes: [{ name: 'r', to: ['ga4', 'ads', 'crm'] }],
    delivery: { schedule_seconds: [1], jitter: 0, attempts: 2 },
  };
  const vars = Object.entries(SECRETS).map(([name, value]) => `${name} = ${JSON.stringify(value)}`).join('\n');
  const toml = readFileSync(join(root, 'functions/cloudflare/wrangler.toml'), 'utf8')
    .replace(/^main = .*$/m, `main = ${JSON.stringify(join(root, 'tests/js/worker/sealed-worker.js'))}`)
    .replace(/^directory = .*$/m, `directory = ${JSON.stringify(join(root, 'examples/playground'))}`)
    .replace(/^CALLHOOK_CONFIG = .*$/m, `CALLHOOK_CONFIG = ${JSON.stringify(JSON.stringify(config))}\n${vars}`);
  dev = await startWranglerDev({ toml, dir, timeoutMs: 60000, logLevel: 'log' });
});

after(async () => {
  await dev?.stop();
  receiver?.server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('Queue messages are sealed; the consumer sends the secrets of now; the Durable Object holds none', { skip }, async () => {
  const sid = 'CASEALQ001';
  const r = await post(sid);
  assert.equal(r.status, 200, await r.text());
  await waitFor(() => forSid(sid).length >= 3, 15000, 'the deliveries');
  // The destinations got the real values, unsealed by the consumer.
  const ga4 = forSid(sid).find((d) => d.url.startsWith('/ga4'));
  assert.ok(ga4.url.endsWith('api_secret=ga4/s3cret+value'), ga4.url);
  assert.equal(forSid(sid).find((d) => d.url === '/ads').headers['developer-token'], SECRETS.ADS_TOKEN);
  assert.equal(JSON.parse(forSid(sid).find((d) => d.url === '/crm').body).key, SECRETS.CRM_KEY);
  // What the Queue held: sealed text, with references in place of every secret.
  const queued = (await seen()).queued.filter((m) => sealedOf(m).includes(`"${sid}:`));
  assert.equal(queued.length, 3, JSON.stringify(queued));
  for (const m of queued) {
    assertNoSecret(JSON.stringify(m.body), 'a Queue message');
    assert.equal(m.body.callhook_delivery, 1);
    assert.equal(m.body.call_sid, sid);
    assert.equal(m.body.record_key, `${ACCOUNT}:${sid}`);
    assert.deepEqual(m.body.history, []);
    assert.equal(JSON.parse(sealedOf(m)).sealed, 1);
  }
  const sealedGa4 = JSON.parse(sealedOf(queued.find((m) => JSON.parse(sealedOf(m)).destination === 'ga4')));
  assert.match(sealedGa4.url, /api_secret=\$\{GA4_API_SECRET\}$/);
  // The call's Durable Object keeps its record only: no delivery, no secret.
  const storage = await (await fetch(`${dev.base}/__test/storage?key=${ACCOUNT}:${sid}`)).text();
  assert.ok(JSON.parse(storage).record?.record, storage);
  assertNoSecret(storage, 'the Durable Object storage');
});

test('a payload field holding ${GA4_API_SECRET} reaches the destination as that text', { skip }, async () => {
  const sid = 'CASEALX001';
  const r = await post(sid, '${GA4_API_SECRET} ${ADS_TOKEN:pct} $$');
  assert.equal(r.status, 200, await r.text());
  await waitFor(() => forSid(sid).some((d) => d.url === '/crm'), 15000, 'the crm delivery');
  const crm = forSid(sid).find((d) => d.url === '/crm');
  assert.equal(JSON.parse(crm.body).keywords, '${GA4_API_SECRET} ${ADS_TOKEN:pct} $$');
  assertNoSecret(crm.body.replace(JSON.stringify(SECRETS.CRM_KEY).slice(1, -1), ''), 'the crm body beyond its own key');
  const message = (await seen()).queued.find((m) => sealedOf(m).includes(`"${sid}:`) && sealedOf(m).includes('"crm"'));
  assert.ok(sealedOf(message).includes('$${GA4_API_SECRET} $${ADS_TOKEN:pct} $$$$'), sealedOf(message));
});

test('dead letters are sealed too', { skip }, async () => {
  const sid = 'CASEALDEAD1';
  const r = await post(sid);
  assert.equal(r.status, 200, await r.text());
  await waitFor(async () => (await seen()).dead.filter((l) => l.idempotency_key?.startsWith(`${sid}:`)).length >= 3, 20000, 'the dead letters');
  for (const letter of (await seen()).dead.filter((l) => l.idempotency_key?.startsWith(`${sid}:`))) {
    assert.equal(letter.code, 'not_retryable_status');
    assert.equal(typeof letter.sealed, 'string');
    assert.equal(JSON.parse(letter.sealed).sealed, 1);
    assert.equal(letter.history.length, 1);
    assertNoSecret(JSON.stringify(letter), 'a dead letter');
  }
});

test('a message that cannot be unsealed is dead as unsendable, and never sent', { skip }, async () => {
  const sid = 'CASEALQ001';
  // A message sealed under a config whose ads token had another name: that secret is gone now.
  const original = (await seen()).queued.map(sealedOf)
    .find((b) => b.includes(`"${sid}:`) && JSON.parse(b).destination === 'ads');
  const stale = original.replace('${ADS_TOKEN}', '${RETIRED_ADS_TOKEN}').replaceAll(sid, 'CASTALE001');
  const before = receiver.received.length;
  const r = await fetch(`${dev.base}/__test/enqueue`, { method: 'POST', body: stale });
  assert.equal(r.status, 204);
  await waitFor(async () => (await seen()).dead.some((l) => l.idempotency_key?.startsWith('CASTALE001:')), 15000, 'the dead letter');
  const letter = (await seen()).dead.find((l) => l.idempotency_key?.startsWith('CASTALE001:'));
  assert.equal(letter.code, 'unsendable');
  assert.equal(letter.destination, 'ads');
  assert.match(letter.reason, /^not sent: .*RETIRED_ADS_TOKEN/);
  assert.equal(letter.sealed, stale, 'the dead letter keeps the delivery as it was');
  assert.equal(receiver.received.slice(before).filter((d) => d.key.startsWith('CASTALE001:')).length, 0);
  assert.match(dev.output(), /"msg":"delivery_dead".*"code":"unsendable"/);
});
