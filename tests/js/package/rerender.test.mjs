// engine.rerender({record, route, destination, trigger, event}) in the npm package: a dead
// delivery of each trigger renders again exactly with the config that sent it, with a fixed
// template under the same idempotency key, and refusals are CallhookErrors with stable codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageDir, packageSkip } from '../package-build.mjs';

const root = new URL('../../../', import.meta.url).pathname;
const skip = packageSkip;
const ch = skip ? null : await import(join(packageDir, 'index.js'));

const NOW = 1714533342;
const secrets = { GA4_API_SECRET: 'ga4-secret-value' };
const payload = (name) => readFileSync(join(root, 'examples/payloads', name), 'utf8').trim();
const post = (body) => ({ method: 'POST', url: '/hook', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body });

function config(crmBody = { id: '{{ call.sid }}', seconds: '{{ Call.Duration }}', source: '{{ attribution.source | upper }}' }) {
  return {
    correlation: { abandon_after_seconds: 600 },
    destinations: {
      log: { url: 'https://collector.example/calls' },
      ga4: { format: 'ga4', url: 'https://ga4.example/mp?api_secret=${GA4_API_SECRET}' },
      crm: { format: 'template', url: 'https://crm.example/leads', options: { body: crmBody } },
      slack: { format: 'slack', url: 'https://hooks.slack.example/x' },
    },
    routes: [
      { name: 'every', to: ['log', 'crm'] },
      { name: 'answered', when: { 'Call.Disposition': 'ANSWERED' }, to: ['crm', 'ga4'] },
      { name: 'done', on: 'complete', to: ['crm', 'ga4'] },
      { name: 'lost', on: 'abandoned', to: ['slack', 'crm'] },
    ],
  };
}

// `event` is what the idempotency key says fired: Call.Sid:<event|complete|abandoned>:route.
const eventOf = (d) => d.idempotency_key.slice(0, -(d.route.length + 1)).split(':').pop();
// Rendered again at the time of the call, so the event is as young as it was (GA4 leaves out
// timestamp_micros past 72 hours: rendering at the real clock would change the body).
const again = (engine, record, d, nowMs = (NOW + 30) * 1000) =>
  engine.rerender({ record, route: d.route, destination: d.destination, trigger: d.trigger, event: eventOf(d), nowMs });

test('every delivery of a call, of each trigger, renders again exactly', { skip }, async () => {
  const engine = await ch.createEngine(config(), { secrets });
  const first = engine.handle(post(payload('initiate.form')), { now: NOW });
  const second = engine.handle(post(payload('complete.form')), { now: NOW + 30, record: first.record });
  const deliveries = [...first.deliveries, ...second.deliveries];
  assert.deepEqual(deliveries.map((d) => `${d.trigger}:${d.route}>${d.destination}`), [
    'event:every>log', 'event:every>crm',
    'event:every>log', 'event:every>crm', 'event:answered>crm', 'event:answered>ga4',
    'complete:done>crm', 'complete:done>ga4',
  ]);
  for (const d of deliveries) assert.deepEqual(again(engine, second.record, d), d);

  const lonely = engine.handle(post(payload('initiate.form').replace(/Call\.Sid=CA\w+/, 'Call.Sid=CA7')), { now: NOW });
  const swept = engine.sweep(lonely.record, NOW + 601);
  assert.equal(swept.deliveries.length, 2);
  for (const d of swept.deliveries) assert.deepEqual(again(engine, swept.record, d), d);
  engine.close();
});

test('a fixed template renders the new body under the same idempotency key', { skip }, async () => {
  const old = await ch.createEngine(config(), { secrets });
  const first = old.handle(post(payload('complete.form')), { now: NOW });
  const dead = first.deliveries.find((d) => d.route === 'done' && d.destination === 'crm');
  const engine = await ch.createEngine(config({ lead: '{{ call.sid }}', minutes: '{{ call.duration }}' }), { secrets });
  const d = engine.rerender({ record: first.record, route: 'done', destination: 'crm', trigger: 'complete' });
  assert.equal(d.idempotency_key, dead.idempotency_key);
  assert.deepEqual([d.call_sid, d.record_key, d.trigger], [dead.call_sid, dead.record_key, 'complete']);
  assert.deepEqual(JSON.parse(d.body), { lead: 'CA5e1f0d9c8b7a6f5e4d3c2b1a0f9e8d7c', minutes: 187 });
  assert.deepEqual(d.headers.find(([name]) => name === 'Idempotency-Key'), ['Idempotency-Key', dead.idempotency_key]);
  // It seals and unseals as any delivery does.
  assert.deepEqual(engine.unsealDelivery(engine.sealDelivery(d)), d);
  old.close();
  engine.close();
});

test('refusals are CallhookErrors with stable codes and no secret', { skip }, async () => {
  const engine = await ch.createEngine(config(), { secrets });
  const { record } = engine.handle(post(payload('initiate.form')), { now: NOW });
  const code = (options) => {
    try {
      engine.rerender({ record, ...options });
    } catch (e) {
      assert.ok(e instanceof ch.CallhookError, String(e));
      assert.ok(!e.message.includes('ga4-secret-value'));
      return e.code;
    }
    assert.fail('no refusal');
  };
  assert.equal(code({ route: 'every', destination: 'log', trigger: 'later' }), 'bad_trigger');
  assert.equal(code({ route: 'every', destination: 'log', trigger: 'event' }), 'bad_event');
  assert.equal(code({ route: 'gone', destination: 'log', trigger: 'event', event: 'Call.Initiate' }), 'unknown_route');
  assert.equal(code({ route: 'done', destination: 'crm', trigger: 'event', event: 'Call.Initiate' }), 'route_trigger_changed');
  assert.equal(code({ route: 'every', destination: 'nowhere', trigger: 'event', event: 'Call.Initiate' }), 'unknown_destination');
  assert.equal(code({ route: 'every', destination: 'ga4', trigger: 'event', event: 'Call.Initiate' }), 'route_does_not_send_there');
  assert.equal(code({ route: 'done', destination: 'crm', trigger: 'complete' }), 'record_missing_event');
  assert.equal(code({ route: 'answered', destination: 'crm', trigger: 'event', event: 'Call.Initiate' }), 'route_does_not_match');
  assert.equal(code({ record: 'not a record', route: 'every', destination: 'log', trigger: 'event', event: 'Call.Initiate' }), 'bad_record');
  assert.throws(() => engine.rerender({ route: 'every', destination: 'log', trigger: 'event' }), TypeError);
  assert.throws(() => engine.rerender({ record, route: 1, destination: 'log', trigger: 'event' }), TypeError);
  engine.close();
});
