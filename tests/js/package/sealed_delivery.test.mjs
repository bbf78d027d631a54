// Sealed deliveries through the npm package: engine.sealDelivery(delivery) -> text and
// engine.unsealDelivery(text) -> delivery, on an outcome's deliveries whose URL, header and
// template body carry secrets. What a shell keeps at rest holds no secret value; a payload that
// carries the text ${NAME} is never resolved; the errors are CallhookErrors with stable codes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageDir, packageSkip } from '../package-build.mjs';
import { DELIVERY_SECRETS, assertNoSecret } from '../sealed-secrets.mjs';

const root = new URL('../../../', import.meta.url).pathname;
const skip = packageSkip;
const ch = skip ? null : await import(join(packageDir, 'index.js'));

const SECRETS = DELIVERY_SECRETS;
const config = {
  destinations: {
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
  },
  routes: [{ name: 'r', to: ['ga4', 'ads', 'crm'] }],
  correlation: { enabled: false },
};
const NOW = 1714533342;
const complete = skip ? '' : readFileSync(join(root, 'examples/payloads/complete.form'), 'utf8').trim();
const withKeywords = (keywords) =>
  complete.replace(/Session\.Keywords=[^&]*/, `Session.Keywords=${encodeURIComponent(keywords)}`);

async function deliveriesFor(keywords, engine) {
  const outcome = engine.handle({
    method: 'POST', url: '/hook',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: withKeywords(keywords),
  }, { now: NOW });
  assert.equal(outcome.response.status, 200, outcome.response.body);
  assert.deepEqual(outcome.deliveries.map((d) => d.destination), ['ga4', 'ads', 'crm']);
  return outcome.deliveries;
}

describe('engine.sealDelivery and engine.unsealDelivery', { skip }, () => {
  test('an outcome\'s deliveries round-trip exactly, and their sealed text holds no secret', async () => {
    const engine = await ch.createEngine(config, { secrets: SECRETS });
    try {
      const deliveries = await deliveriesFor('emergency plumber', engine);
      // The secrets are in the plain deliveries: in the URL, a header and the template body.
      assert.ok(deliveries[0].url.endsWith('api_secret=ga4/s3cret+value'));
      assert.deepEqual(deliveries[1].headers.find(([n]) => n === 'developer-token'), ['developer-token', SECRETS.ADS_TOKEN]);
      assert.equal(JSON.parse(deliveries[2].body).key, SECRETS.CRM_KEY);
      for (const d of deliveries) {
        const sealed = engine.sealDelivery(d);
        assert.equal(typeof sealed, 'string');
        assertNoSecret(sealed, `the sealed ${d.destination} delivery`);
        const doc = JSON.parse(sealed);
        assert.equal(doc.sealed, 1);
        assert.deepEqual([doc.route, doc.destination, doc.idempotency_key, doc.timeout_ms],
          [d.route, d.destination, d.idempotency_key, d.timeout_ms]);
        assert.deepEqual(engine.unsealDelivery(sealed), d);
      }
      const [ga4, ads, crm] = deliveries.map((d) => JSON.parse(engine.sealDelivery(d)));
      assert.ok(ga4.url.endsWith('api_secret=${GA4_API_SECRET}'), ga4.url);
      assert.deepEqual(ads.headers.find(([n]) => n === 'developer-token'), ['developer-token', '${ADS_TOKEN}']);
      assert.equal(JSON.parse(crm.body.replace('${CRM_KEY:json}', 'K')).key, 'K');
    } finally {
      engine.close();
    }
  });

  test('a payload field holding ${GA4_API_SECRET} stays that text: never resolved at send time', async () => {
    const engine = await ch.createEngine(config, { secrets: SECRETS });
    try {
      const crm = (await deliveriesFor('${GA4_API_SECRET} $ ${ADS_TOKEN:pct}', engine))[2];
      assert.equal(JSON.parse(crm.body).keywords, '${GA4_API_SECRET} $ ${ADS_TOKEN:pct}');
      const sealed = engine.sealDelivery(crm);
      assert.ok(sealed.includes('$${GA4_API_SECRET} $$ $${ADS_TOKEN:pct}'), sealed);
      const back = engine.unsealDelivery(sealed);
      assert.equal(back.body, crm.body);
      assert.equal(JSON.parse(back.body).keywords, '${GA4_API_SECRET} $ ${ADS_TOKEN:pct}');
      assert.ok(!back.body.includes(SECRETS.GA4_API_SECRET) && !back.body.includes('ads-dev-token'));
    } finally {
      engine.close();
    }
  });

  test('unsealing uses the secrets of now; a secret the config no longer sets is missing_secret', async () => {
    const before = await ch.createEngine(config, { secrets: SECRETS });
    const rotated = await ch.createEngine(config, { secrets: { ...SECRETS, ADS_TOKEN: 'ads-new-token-456' } });
    const without = await ch.createEngine({
      destinations: { ga4: config.destinations.ga4 }, routes: [{ name: 'r', to: ['ga4'] }],
    }, { secrets: SECRETS });
    try {
      const sealed = before.sealDelivery((await deliveriesFor('x', before))[1]);
      assert.deepEqual(rotated.unsealDelivery(sealed).headers.find(([n]) => n === 'developer-token'),
        ['developer-token', 'ads-new-token-456']);
      assert.throws(() => without.unsealDelivery(sealed), (err) => {
        assert.ok(err instanceof ch.CallhookError);
        assert.equal(err.code, 'missing_secret');
        assert.match(err.message, /ADS_TOKEN/);
        assertNoSecret(err.message, 'the error');
        return true;
      });
      // What a shell does then: the attempt is unsendable, which is dead at once.
      let message;
      try {
        without.unsealDelivery(sealed);
      } catch (err) {
        message = err.message;
      }
      const verdict = without.attemptResult({
        route: 'r', destination: 'ads', idempotency_key: 'k', attempt: 1, now_ms: NOW * 1000,
        random: 0.5, answer: { unsendable: message },
      });
      assert.deepEqual([verdict.verdict, verdict.code, verdict.retry_at_ms], ['dead', 'unsendable', null]);
      assert.match(verdict.reason, /^not sent: unsealDelivery: .*ADS_TOKEN/);
    } finally {
      before.close();
      rotated.close();
      without.close();
    }
  });

  test('what is not a sealed delivery is bad_sealed; what is not a delivery is refused', async () => {
    const engine = await ch.createEngine(config, { secrets: SECRETS });
    try {
      const good = JSON.parse(engine.sealDelivery((await deliveriesFor('x', engine))[0]));
      for (const text of ['', 'nope', '{}', JSON.stringify({ ...good, sealed: 2 }),
        JSON.stringify({ ...good, body: 'a lone $' }), JSON.stringify({ ...good, url: '${lower}' })]) {
        assert.throws(() => engine.unsealDelivery(text),
          (err) => err instanceof ch.CallhookError && err.code === 'bad_sealed', text);
      }
      assert.throws(() => engine.unsealDelivery(good), TypeError);
      assert.throws(() => engine.sealDelivery(null), TypeError);
      assert.throws(() => engine.sealDelivery({ route: 'r' }),
        (err) => err instanceof ch.CallhookError && err.code === 'bad_delivery');
    } finally {
      engine.close();
    }
  });

  test('random text with $, ${, $$ and partial references round-trips byte for byte', async () => {
    const engine = await ch.createEngine(config, { secrets: SECRETS });
    const pieces = ['$', '$$', '${', '}', ':pct}', '${GA4_API_SECRET}', '${NOPE', 'é', '\u{1F4DE}', 'ga4/',
      SECRETS.GA4_API_SECRET, 'ga4%2Fs3cret%2Bvalue', SECRETS.ADS_TOKEN, 'ads-dev', 'crm\\"key', '\n', 'x'];
    let seed = 12345;
    const random = (n) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const text = () => Array.from({ length: random(10) }, () => pieces[random(pieces.length)]).join('');
    try {
      for (let round = 0; round < 500; round++) {
        const d = {
          route: 'r', destination: 'crm', method: 'POST', url: `https://x/?q=${text()}`,
          headers: [['X-A', text()], ['Idempotency-Key', text()]], body: text(),
          idempotency_key: 'CA1:Call.Complete:r', timeout_ms: 30000,
          call_sid: 'CA1', record_key: 'AC1:CA1', trigger: 'event',
        };
        const sealed = engine.sealDelivery(d);
        assertNoSecret(sealed, 'a sealed random delivery');
        assert.deepEqual(engine.unsealDelivery(sealed), d);
      }
    } finally {
      engine.close();
    }
  });
});
