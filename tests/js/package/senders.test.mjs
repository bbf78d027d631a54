// Other senders' webhooks through the npm package: normalize/validate/inspect with `sender`, and
// an engine whose config names sources (README, "Senders").
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { packageDir, packageSkip } from '../package-build.mjs';

const skip = packageSkip;
const ch = skip ? null : await import(join(packageDir, 'index.js'));
const rt = ch ? await ch.init() : null; // the synchronous API

const twilio = 'AccountSid=AC00000000000000000000000000000001&CallSid=CA00000000000000000000000000000042' +
  '&CallStatus=no-answer&From=anonymous&To=%2B14155550199&Timestamp=Tue%2C+14+Jan+2025+17%3A03%3A05+%2B0000';

describe('senders in the npm package', { skip }, () => {
  test('normalize reads a Twilio callback onto the canonical event', () => {
    const event = rt.normalize(twilio, { sender: 'twilio' });
    assert.deepEqual(event.source, { name: 'twilio', sender: 'twilio' });
    assert.equal(event.event, 'Call.Complete');
    assert.equal(event.call.sid, 'CA00000000000000000000000000000042');
    assert.equal(event.call.disposition, 'NO ANSWER');
    assert.equal(event.call.duration, 0);
    assert.equal(event.call.from.anonymous, true);
    assert.equal(event.call.start_date, '2025-01-14T17:03:05Z');
  });

  test('validate names the sender\'s own fields, and webhook picks CallRail\'s pre-call', () => {
    const verdict = rt.validate('CallStatus=completed', { sender: 'twilio', mode: 'strict' });
    assert.equal(verdict.valid, false);
    assert.ok(verdict.errors.some((e) => e.field === 'CallSid' && e.code === 'missing'), JSON.stringify(verdict));
    const body = JSON.stringify({ resource_id: 'CAL1', company_id: 'COM1', customer_phone_number: '+14155550101',
      tracking_phone_number: '+14155550199', start_time: '2025-01-14T09:01:30-08:00' });
    assert.equal(rt.normalize(body, { sender: 'callrail', webhook: 'pre-call' }).event, 'Call.Initiate');
    assert.equal(rt.normalize(body, { sender: 'callrail' }).event, 'Call.Complete');
    assert.throws(() => rt.normalize(body, { sender: 'nobody' }), TypeError);
  });

  test('an engine with sources routes /hook/NAME by its sender and keys records by source', async () => {
    const engine = await ch.createEngine({
      sources: { ringba: { sender: 'ringba', defaults: { 'Call.To': '+14155550199' } } },
      correlation: { enabled: true },
      destinations: { log: { format: 'canonical', url: 'http://127.0.0.1:9/log' } },
      routes: [{ name: 'missed', when: { 'Call.Disposition': 'NO ANSWER' }, to: ['log'] }],
    });
    const outcome = engine.handle({
      method: 'GET', url: '/hook/ringba?event=finalized&call_id=RB1&caller=14155550101&duration=0', headers: {}, body: '',
    }, { now: 1736874300 });
    assert.equal(outcome.response.status, 200, outcome.response.body);
    assert.equal(outcome.record_key, 'ringba:ringba:RB1');
    assert.equal(outcome.deliveries.length, 1);
    const delivered = JSON.parse(outcome.deliveries[0].body);
    assert.deepEqual(delivered.source, { name: 'ringba', sender: 'ringba' });
    assert.equal(delivered.call.from.number, '+14155550101');
  });
});
