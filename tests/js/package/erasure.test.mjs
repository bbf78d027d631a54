// What the admin API needs from the core, through the npm package: engine.mentions(text,
// subject) over records and sealed deliveries, runtime.erasureSubject for checking a request
// once, the deliveries' call_sid, record_key and trigger (also after seal and unseal), and
// frontDoor.adminCheck. The native gtests (tests/core/erasure_test.cpp) cover the forms of a
// number in detail; these check that the package says the same.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { packageDir, packageSkip } from '../package-build.mjs';

const skip = packageSkip;
const ch = skip ? null : await import(join(packageDir, 'index.js'));

const config = {
  destinations: {
    sink: { url: 'https://sink.example/in' },
    crm: {
      format: 'template', url: 'https://crm.example/leads',
      options: { body: { phone: '{{ call.from.number }}', sid: '{{ call.sid }}' } },
    },
  },
  routes: [
    { name: 'each', to: ['sink', 'crm'] },
    { name: 'done', on: 'complete', to: ['sink'] },
  ],
};
const NOW = 1714533342;
const form = (event, sid, from, extra = '') =>
  `Action=Webhook&Event=${event}&Account.Sid=AC1&Property.Sid=PR1&Property.Name=x.com` +
  `&Property.Type=Site&Call.Sid=${sid}&Call.StartDate=2024-05-01+03%3A15%3A42&Call.From=${from}` +
  '&Call.To=%2B18005550199&Call.To.Name=Main&Call.Endpoint=%2B14155550100' +
  (event === 'Call.Complete' ? '&Call.To.Type=Static&Call.Duration=45&Call.Disposition=ANSWERED' : '') +
  extra;
const request = (body) => ({
  method: 'POST', url: '/hook',
  headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body,
});

describe('engine.mentions and what deliveries belong to', { skip }, () => {
  test('deliveries carry call_sid, record_key and trigger, sealed and unsealed', async () => {
    const engine = await ch.createEngine(config);
    try {
      const first = engine.handle(request(form('Call.Initiate', 'CA100', '%2B14155550123')), { now: NOW });
      assert.equal(first.deliveries.length, 2);
      for (const d of first.deliveries) {
        assert.deepEqual([d.call_sid, d.record_key, d.trigger], ['CA100', 'AC1:CA100', 'event']);
        const sealed = engine.sealDelivery(d);
        const doc = JSON.parse(sealed);
        assert.deepEqual([doc.call_sid, doc.record_key, doc.trigger], ['CA100', 'AC1:CA100', 'event']);
        assert.deepEqual(engine.unsealDelivery(sealed), d);
      }
      const second = engine.handle(request(form('Call.Complete', 'CA100', '%2B14155550123')),
        { now: NOW + 60, record: first.record });
      const done = second.deliveries.find((d) => d.route === 'done');
      assert.deepEqual([done.call_sid, done.record_key, done.trigger], ['CA100', 'AC1:CA100', 'complete']);
      // A sealed delivery of before these existed still unseals; the key says whose it is.
      const old = JSON.parse(engine.sealDelivery(done));
      delete old.call_sid;
      delete old.record_key;
      delete old.trigger;
      const back = engine.unsealDelivery(JSON.stringify(old));
      assert.deepEqual([back.call_sid, back.record_key, back.trigger], ['CA100', '', 'complete']);
    } finally {
      engine.close();
    }
  });

  test('records and sealed deliveries are matched by call and by any spelling of the caller', async () => {
    const engine = await ch.createEngine(config);
    try {
      const outcome = engine.handle(request(form('Call.Initiate', 'CA200', '%2B14155550123')), { now: NOW });
      const texts = [outcome.record, ...outcome.deliveries.map((d) => engine.sealDelivery(d))];
      for (const text of texts) {
        assert.equal(engine.mentions(text, { call_sid: 'CA200' }), true, text);
        assert.equal(engine.mentions(text, { call_sid: 'CA20' }), false, text);
        assert.equal(engine.mentions(text, { phone: '+1 (415) 555-0123' }), true, text);
        assert.equal(engine.mentions(text, { phone: '+14155550124' }), false, text);
        assert.equal(engine.mentions(text, { call_sid: 'CA999', phone: '+14155550123' }), true, text);
      }
      // The business's numbers are not a caller's.
      assert.equal(engine.mentions(outcome.record, { phone: '+18005550199' }), false);
      assert.equal(engine.mentions(outcome.record, { phone: '+14155550100' }), false);
      // Hashed as ad platforms send it, percent-encoded in a URL, JSON-escaped.
      const hashed = createHash('sha256').update('+14155550123').digest('hex');
      assert.equal(engine.mentions(`{"hashedPhoneNumber":"${hashed}"}`, { phone: '+14155550123' }), true);
      assert.equal(engine.mentions('https://x/?c=%2B14155550123', { phone: '+14155550123' }), true);
      assert.equal(engine.mentions('{"c":"\\u002B14155550123"}', { phone: '+14155550123' }), true);
      assert.equal(engine.mentions('+141555501234', { phone: '+14155550123' }), false);
    } finally {
      engine.close();
    }
  });

  test('a bad number or no subject is a CallhookError with a stable code', async () => {
    const engine = await ch.createEngine(config);
    try {
      assert.throws(() => engine.mentions('x', { phone: '4155550123' }),
        (e) => e instanceof ch.CallhookError && e.code === 'bad_phone' && /international/.test(e.message));
      assert.throws(() => engine.mentions('x', { phone: '+1 415 CALL NOW' }), { code: 'bad_phone' });
      assert.throws(() => engine.mentions('x', {}), { code: 'empty_subject' });
      assert.throws(() => engine.mentions('x', { call_sid: 5 }), TypeError);
      assert.throws(() => engine.mentions(5, { call_sid: 'CA1' }), TypeError);
      const rt = await ch.init();
      assert.deepEqual(rt.erasureSubject({ phone: ' +44 20 7946 0958 ' }), { call_sid: '', phone: '+442079460958' });
      assert.deepEqual(rt.erasureSubject({ call_sid: 'CA1', phone: null }), { call_sid: 'CA1', phone: '' });
      assert.throws(() => rt.erasureSubject({ phone: '+12' }), { code: 'bad_phone' });
    } finally {
      engine.close();
    }
  });

  test('frontDoor.adminCheck: null when allowed, else the refusal to send', async () => {
    assert.equal(await ch.frontDoor.adminCheck('Bearer t0ken-1234', 't0ken-1234'), null);
    const missing = await ch.frontDoor.adminCheck(undefined, 't0ken-1234');
    assert.equal(missing.status, 401);
    assert.deepEqual(Object.fromEntries(missing.headers)['WWW-Authenticate'], 'Bearer realm="callhook-admin"');
    assert.equal(JSON.parse(missing.body).code, 'unauthorized');
    assert.equal((await ch.frontDoor.adminCheck('Bearer nope', 't0ken-1234')).status, 401);
    assert.equal((await ch.frontDoor.adminCheck('Bearer t0ken-1234', '')).status, 404);
    assert.equal((await ch.frontDoor.adminCheck('Bearer t0ken-1234', null)).status, 404);
    const route = await ch.frontDoor.route('POST', '/admin/erase');
    assert.equal(route.endpoint, 'admin');
  });
});
