// Every canonical event the vectors expect, and every one the CLI prints for the examples,
// conforms to the published JSON Schema (checked with ajv, draft 2020-12).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';

const root = new URL('../../../', import.meta.url).pathname;
const cli = process.env.CALLHOOK_CLI ?? join(root, 'build/native/callhook');
const schema = JSON.parse(readFileSync(join(root, 'core/schema/call-event.schema.json'), 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: true, validateFormats: false });
const validate = ajv.compile(schema);

test('canonical events in the vector corpus conform to the schema', () => {
  const dir = join(root, 'tests/vectors/payload');
  let checked = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    for (const c of JSON.parse(readFileSync(join(dir, file), 'utf8')).cases) {
      if (!c.expect?.canonical) continue;
      assert.ok(validate(c.expect.canonical), `${file}: ${c.name}: ${ajv.errorsText(validate.errors)}`);
      checked++;
    }
  }
  assert.ok(checked >= 1, 'the corpus has canonical expectations');
});

test('the CLI output for every example conforms to the schema', () => {
  for (const [file, type] of [['initiate.form', 'application/x-www-form-urlencoded'],
    ['complete.form', 'application/x-www-form-urlencoded'], ['complete.json', 'application/json']]) {
    const r = spawnSync(cli, ['normalize', '--content-type', type, join(root, 'examples/payloads', file)], { encoding: 'utf8' });
    assert.equal(r.status, 0, file);
    const event = JSON.parse(r.stdout);
    assert.ok(validate(event), `${file}: ${ajv.errorsText(validate.errors)}`);
  }
});

test('the schema rejects what the canonical event never holds', () => {
  const event = JSON.parse(spawnSync(cli, ['normalize', join(root, 'examples/payloads/complete.form')], { encoding: 'utf8' }).stdout);
  assert.ok(validate(event));
  assert.equal(validate({ ...event, call: { ...event.call, duration: '187' } }), false);
  assert.equal(validate({ ...event, surprise: true }), false);
  const { sid, ...noSid } = event.call;
  assert.equal(validate({ ...event, call: noSid }), false);
});

test('the example configs conform to the config schema and pass check-config', () => {
  const configSchema = JSON.parse(readFileSync(join(root, 'core/schema/config.schema.json'), 'utf8'));
  const check = new Ajv2020({ allErrors: true, strict: false }).compile(configSchema);
  const dir = join(root, 'examples/configs');
  const env = { PATH: process.env.PATH, CALLHOOK_TOKEN: 't0ken', GA4_API_SECRET: 'x', GOOGLE_ADS_DEVELOPER_TOKEN: 'y' };
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const text = readFileSync(join(dir, file), 'utf8');
    const config = JSON.parse(text);
    assert.ok(check(config), `${file}: ${JSON.stringify(check.errors)}`);
    for (const [, name] of text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)\}/g)) env[name] ??= 'whsec_c2VjcmV0';
    const r = spawnSync(cli, ['check-config', join(dir, file)], { encoding: 'utf8', env });
    assert.equal(r.status, 0, `${file}: ${r.stderr}`);
  }
  assert.equal(check({ routes: [{ name: 'x', to: [] }] }), false, 'a route needs a destination');
  assert.equal(check({ destinations: { d: { url: 'ftp://x' } } }), false, 'destinations are http(s)');
});
