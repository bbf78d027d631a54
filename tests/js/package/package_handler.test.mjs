// createFetchHandler from the package's main entry, built from a config as the README shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../../../', import.meta.url).pathname;
const skip = !existsSync(join(root, 'bindings/js/dist/callhook_wasm.wasm')) && 'the npm package is not built';
const body = () => readFileSync(join(root, 'examples/payloads/complete.form'));
const post = (url) => new Request(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body() });

test('a handler from a config routes once, answers duplicates, and keeps secrets', { skip }, async () => {
  const { createFetchHandler } = await import('callhook');
  const sent = [];
  const handler = createFetchHandler({
    config: {
      auth: { token: { value: '${HOOK_TOKEN}', in: 'query' } },
      destinations: { d: { url: 'http://127.0.0.1:9/x', headers: { authorization: 'Bearer ${API_KEY}' } } },
      routes: [{ name: 'r', to: ['d'] }, { name: 'once', on: 'complete', to: ['d'] }],
    },
    secrets: { HOOK_TOKEN: 'q-token-1', API_KEY: 'key-123456' },
    deliver: (deliveries) => { sent.push(...deliveries); },
  });
  const first = await handler(post('http://127.0.0.1/hook?token=q-token-1'));
  assert.equal(first.status, 200);
  assert.equal((await first.json()).status, 'accepted');
  const again = await handler(post('http://127.0.0.1/hook?token=q-token-1'));
  assert.equal((await again.json()).status, 'duplicate');
  assert.deepEqual(sent.map((d) => d.route), ['r', 'once']);
  assert.ok(sent[0].headers.some(([n, v]) => n === 'authorization' && v === 'Bearer key-123456'));
  const denied = await handler(post('http://127.0.0.1/hook?token=nope'));
  assert.equal(denied.status, 401);
  assert.ok(!(await denied.text()).includes('q-token-1'));
});

test('a handler from a bad config rejects ready with every problem', { skip }, async () => {
  const { createFetchHandler } = await import('callhook');
  const handler = createFetchHandler({ config: { routes: [{ name: 'r', to: ['missing'] }] } });
  await assert.rejects(handler.ready, (error) => error.errors?.some((e) => e.field === '/routes/0/to/0' && e.code === 'unknown_destination'));
});
