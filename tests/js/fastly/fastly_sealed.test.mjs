// What the Fastly program keeps at rest holds no secret: its KV outbox and dead letters hold each
// delivery sealed (engine seal: ${NAME} references), unsealed only to send it, so the
// destinations still get the secrets of now; a delivery that cannot be unsealed (a secret taken
// out of the config) is dead as unsendable; a payload's own ${NAME} text is never resolved; and
// the outbox is bounded: past `outbox_limit` waiting entries a webhook with deliveries is
// refused outbox-full and nothing of it is stored. The program runs in the repository's Compute
// ABI host (functions/fastly/host), one fresh instance per request, as Fastly runs it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { createFastlyHost } from '../../../functions/fastly/host/host.mjs';
import { DELIVERY_SECRETS, secretForms } from '../sealed-secrets.mjs';
import { programPath } from './program.mjs';

const root = new URL('../../../', import.meta.url).pathname;
// CALLHOOK_FASTLY_WASM runs another build of the program (one in your own build folder); else the
// pre-initialized one build.sh packs, when it is up to date (./program.mjs).
const skip = existsSync(programPath) ? false : 'no Fastly build (cmake --preset wasi && cmake --build --preset wasi)';
const RECORDS = 'callhook_records';
const TOKEN = 'seal-token-5678';
const T0 = 1_800_000_000;

const SECRETS = { CALLHOOK_TOKEN: TOKEN, ...DELIVERY_SECRETS };
const destinations = {
  ga4: {
    format: 'ga4',
    url: 'https://www.google-analytics.com/mp/collect?measurement_id=G-1&api_secret=${GA4_API_SECRET}',
  },
  ads: {
    format: 'google-ads', url: 'https://ads.example/upload',
    headers: { 'developer-token': '${ADS_TOKEN}' },
    options: { conversion_action: 'customers/1/conversionActions/2' },
  },
  crm: {
    format: 'template', url: 'https://crm.example/leads',
    options: { body: { key: '${CRM_KEY}', keywords: '{{ session.keywords }}' } },
  },
};
const config = {
  auth: { token: { value: '${CALLHOOK_TOKEN}', in: 'path' } },
  destinations,
  routes: [{ name: 'r', to: ['ga4', 'ads', 'crm'] }],
  correlation: { abandon_after_seconds: 86400 },
  delivery: { schedule_seconds: [60], jitter: 0 },
};

const complete = skip ? '' : readFileSync(join(root, 'examples/payloads/complete.form'), 'utf8').trim();
const webhook = (sid, keywords = 'emergency plumber') => complete
  .replace(/Call\.Sid=[^&]*/, `Call.Sid=${sid}`)
  .replace(/Session\.Keywords=[^&]*/, `Session.Keywords=${encodeURIComponent(keywords)}`);

function startReceiver() {
  const received = [];
  let answer = () => 200;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const entry = { url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(entry);
      res.writeHead(answer(entry), { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      origin: `http://127.0.0.1:${server.address().port}`,
      received,
      answerWith(fn) { answer = fn; },
      close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => done()); }),
    }));
  });
}

describe('the Fastly program keeps deliveries sealed', { skip }, () => {
  let host;
  let receiver;
  let server;
  let clockMs = T0 * 1000;

  before(async () => {
    receiver = await startReceiver();
    host = createFastlyHost({
      wasm: programPath, manifest: join(root, 'functions/fastly/fastly.toml'),
      witxDir: join(root, 'bindings/fastly/witx'), workers: 2, clock: () => clockMs,
      backends: { ga4: receiver.origin, ads: receiver.origin, crm: receiver.origin },
    });
    server = await host.listen();
  });
  after(async () => {
    await server?.close();
    await host?.close();
    await receiver?.close();
  });

  const keys = (prefix = '') => host.kv.list(RECORDS, { prefix, limit: 1000 }).data;
  const entry = (key) => JSON.parse(host.kv.get(RECORDS, key).text);
  const post = (sid, keywords) => fetch(`${server.url}/hook/${TOKEN}`, {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: webhook(sid, keywords),
  });
  // Any request moves the outbox along once its entries are due (Fastly has no timers).
  const nudge = async () => {
    await fetch(`${server.url}/hook/${TOKEN}`);
    await host.idle();
  };

  function fresh({ configText = JSON.stringify(config), secrets = SECRETS, store = {} } = {}) {
    for (const key of keys()) host.kv.delete(RECORDS, key);
    receiver.received.length = 0;
    receiver.answerWith(() => 200);
    host.setConfigStore('callhook_config', { config: configText, ...store });
    host.setSecretStore('callhook_secrets', secrets);
    clockMs = T0 * 1000;
  }

  // Every key and value in the KV Store, searched for every form of every delivery secret.
  function assertNothingSecretAtRest() {
    const all = keys();
    assert.ok(all.length > 0);
    for (const key of all) {
      const text = `${key}\n${host.kv.get(RECORDS, key).text}`;
      for (const name of Object.keys(DELIVERY_SECRETS)) {
        for (const form of secretForms(SECRETS[name])) {
          assert.ok(!text.includes(form), `${name} (${form}) at rest under ${key}: ${text}`);
        }
      }
    }
  }

  test('outbox entries hold ${NAME} references; a later attempt unseals them with the secrets', async () => {
    fresh();
    receiver.answerWith(() => 503);
    const res = await post('CAsealed1');
    assert.equal(res.status, 200, await res.text());
    await host.idle();
    assert.equal(receiver.received.length, 3, 'the first attempts went out, with the secrets');
    assert.ok(receiver.received.some((r) => r.url.endsWith('api_secret=ga4/s3cret+value')));
    const outbox = keys('outbox/');
    assert.equal(outbox.length, 3, 'all three wait in the outbox');
    assertNothingSecretAtRest();
    const byDestination = Object.fromEntries(outbox.map((k) => [entry(k).destination, entry(k)]));
    assert.equal(byDestination.ga4.delivery.sealed, 1);
    assert.match(byDestination.ga4.delivery.url, /api_secret=\$\{GA4_API_SECRET\}$/);
    assert.deepEqual(byDestination.ads.delivery.headers.find(([n]) => n === 'developer-token'),
      ['developer-token', '${ADS_TOKEN}']);
    assert.ok(byDestination.crm.delivery.body.includes('${CRM_KEY:json}'), byDestination.crm.delivery.body);

    // Retried from the outbox: unsealed, so the destinations get the real values again.
    receiver.received.length = 0;
    receiver.answerWith(() => 200);
    clockMs = (T0 + 120) * 1000;
    await nudge();
    assert.equal(receiver.received.length, 3);
    const ga4 = receiver.received.find((r) => r.url.startsWith('/mp/collect'));
    assert.ok(ga4.url.endsWith('api_secret=ga4/s3cret+value'), ga4.url);
    const ads = receiver.received.find((r) => r.url === '/upload');
    assert.equal(ads.headers['developer-token'], SECRETS.ADS_TOKEN);
    const crm = receiver.received.find((r) => r.url === '/leads');
    assert.equal(JSON.parse(crm.body).key, SECRETS.CRM_KEY);
    assert.deepEqual(keys('outbox/'), []);
  });

  test('a payload field holding ${GA4_API_SECRET} reaches the destination as that text, first try or retry', async () => {
    fresh();
    receiver.answerWith(() => 503);
    await post('CAexfil01', '${GA4_API_SECRET} ${CRM_KEY:json} $$');
    await host.idle();
    const first = receiver.received.find((r) => r.url === '/leads');
    assert.equal(JSON.parse(first.body).keywords, '${GA4_API_SECRET} ${CRM_KEY:json} $$');
    const sealed = keys('outbox/').map(entry).find((e) => e.destination === 'crm');
    assert.ok(sealed.delivery.body.includes('$${GA4_API_SECRET} $${CRM_KEY:json} $$$$'), sealed.delivery.body);
    assertNothingSecretAtRest();
    receiver.received.length = 0;
    receiver.answerWith(() => 200);
    clockMs = (T0 + 120) * 1000;
    await nudge();
    const retried = receiver.received.find((r) => r.url === '/leads');
    assert.equal(retried.body, first.body, 'the retry sends the same bytes');
    assert.equal(JSON.parse(retried.body).keywords, '${GA4_API_SECRET} ${CRM_KEY:json} $$');
    assert.ok(!retried.body.includes(SECRETS.GA4_API_SECRET));
  });

  test('dead letters stay sealed', async () => {
    fresh();
    receiver.answerWith(() => 400);
    await post('CAdead001');
    await host.idle();
    assert.deepEqual(keys('outbox/'), []);
    const dead = keys('dead/');
    assert.equal(dead.length, 3);
    for (const key of dead) {
      const letter = entry(key);
      assert.equal(letter.code, 'not_retryable_status');
      assert.equal(letter.delivery.sealed, 1);
    }
    assertNothingSecretAtRest();
  });

  test('a delivery whose secret left the config is dead as unsendable, naming the secret', async () => {
    fresh();
    receiver.answerWith(() => 503);
    await post('CAgone001');
    await host.idle();
    assert.equal(keys('outbox/').length, 3);
    // The operator takes the ads token out: the config's ads destination sends no header now.
    const without = { ...config, destinations: { ...destinations, ads: { ...destinations.ads, headers: {} } } };
    const { ADS_TOKEN, ...rest } = SECRETS;
    host.setConfigStore('callhook_config', { config: JSON.stringify(without) });
    host.setSecretStore('callhook_secrets', rest);
    receiver.received.length = 0;
    receiver.answerWith(() => 200);
    clockMs = (T0 + 120) * 1000;
    await nudge();
    assert.deepEqual(receiver.received.map((r) => r.url).sort(), ['/leads', '/mp/collect?measurement_id=G-1&api_secret=ga4/s3cret+value'].sort(),
      'the other two are delivered; the ads one is never sent');
    assert.deepEqual(keys('outbox/'), []);
    const [deadKey] = keys('dead/');
    const letter = entry(deadKey);
    assert.equal(letter.destination, 'ads');
    assert.equal(letter.code, 'unsendable');
    assert.match(letter.reason, /^not sent: .*ADS_TOKEN/);
    assert.ok(!letter.reason.includes(ADS_TOKEN));
    const line = host.logs.callhook_log.map((l) => JSON.parse(l)).findLast((l) => l.msg === 'delivery_dead');
    assert.equal(line.code, 'unsendable');
    assertNothingSecretAtRest();
  });

  test('an entry written before deliveries were sealed is sent, and kept sealed from then on', async () => {
    fresh();
    // The outbox entry form of earlier versions: the delivery's fields plainly beside the names.
    host.kv.put(RECORDS, 'outbox/CAold0001:Call.Complete:r/ads', JSON.stringify({
      attempts: 1, next_at: T0 - 10, route: 'r', destination: 'ads', method: 'POST',
      url: 'https://ads.example/upload', idempotency_key: 'CAold0001:Call.Complete:r',
      headers: [['Content-Type', 'application/json'], ['developer-token', SECRETS.ADS_TOKEN]], body: '{}',
    }));
    receiver.answerWith(() => 503);
    await nudge();
    assert.equal(receiver.received.length, 1);
    assert.equal(receiver.received[0].headers['developer-token'], SECRETS.ADS_TOKEN);
    const kept = entry('outbox/CAold0001:Call.Complete:r/ads');
    assert.equal(kept.attempts, 2);
    assert.equal(kept.delivery.sealed, 1);
    assert.ok(!('url' in kept) && !('headers' in kept), JSON.stringify(kept));
    assertNothingSecretAtRest();
  });

  test('past outbox_limit waiting entries a webhook with deliveries is refused outbox-full, and nothing is stored', async () => {
    fresh({ store: { outbox_limit: '3' } });
    receiver.answerWith(() => 503);
    const first = await post('CAfull001');
    assert.equal(first.status, 200, 'admitted: the outbox was empty');
    await host.idle();
    assert.equal(keys('outbox/').length, 3);
    const before = keys();
    const refused = await post('CAfull002');
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '30');
    assert.equal(refused.headers.get('content-type'), 'application/problem+json');
    const doc = await refused.json();
    assert.deepEqual([doc.type, doc.code, doc.status], ['urn:callhook:problem:outbox-full', 'outbox_full', 503]);
    await host.idle();
    assert.deepEqual(keys(), before, 'no record, no outbox entry, no sweep index entry for the refused call');
    assert.ok(!keys().some((k) => k.includes('CAfull002')));
    // A webhook that routes nothing (a duplicate) is still answered.
    const again = await post('CAfull001');
    assert.equal(again.status, 200);
    assert.equal((await again.json()).status, 'duplicate');
    // Once the destination is back and the outbox drains, webhooks are accepted again.
    receiver.answerWith(() => 200);
    clockMs = (T0 + 120) * 1000;
    await nudge();
    assert.deepEqual(keys('outbox/'), []);
    const later = await post('CAfull002');
    assert.equal(later.status, 200, await later.text());
    await host.idle();
    const line = host.logs.callhook_log.map((l) => JSON.parse(l)).find((l) => l.msg === 'the outbox is full: deliveries are refused');
    assert.ok(line, 'the refusal is logged');
  });

  test('an outbox_limit that is not a number from 1 to 100000 is config-unavailable', async () => {
    fresh({ store: { outbox_limit: 'lots' } });
    const res = await post('CAlimit01');
    assert.equal(res.status, 503);
    assert.equal((await res.json()).type, 'urn:callhook:problem:config-unavailable');
  });
});
