// Differential test: the shared payload vectors' form decoding against Node's own WHATWG
// application/x-www-form-urlencoded parser, and the native CLI against both.
//
// For every case in tests/vectors/payload/*.json that has `expect.fields` and is a form-encoded
// POST (content type application/x-www-form-urlencoded, or none and a body that is not sniffed as
// JSON) or a GET, the same bytes are decoded by
//   1. Node: `new Response(bytes, {headers: {'content-type': FORM}}).formData()`, and
//   2. the native CLI: `callhook parse` (path from $CALLHOOK_CLI, default build/native/callhook),
// and both must give exactly `expect.fields`.
//
// Run with `node --test tests/js/` (Node 20+, no dependencies).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const VECTORS = path.join(ROOT, 'tests', 'vectors', 'payload');
const CLI = process.env.CALLHOOK_CLI ?? path.join(ROOT, 'build', 'native', 'callhook');
const FORM = 'application/x-www-form-urlencoded';
const LIMIT_CODES = new Set(['body_too_large', 'too_many_fields', 'name_too_long', 'value_too_long']);
const LIMIT_FLAGS = {
  max_body_bytes: '--max-body',
  max_fields: '--max-fields',
  max_name_bytes: '--max-name',
  max_value_bytes: '--max-value',
};

// The request body exactly as tests/vectors/README.md describes it.
function bodyBytes(request) {
  if (request.body_base64 !== undefined) return Buffer.from(request.body_base64, 'base64');
  if (request.body_file !== undefined) return readFileSync(path.join(ROOT, request.body_file));
  const head = Buffer.from(request.body ?? '', 'utf8');
  if (request.body_repeat === undefined) return head;
  const { text = '', times = 0 } = request.body_repeat;
  return Buffer.concat([head, Buffer.from(text.repeat(times), 'utf8')]);
}

// The query of a URL: between the first '?' and the first '#'.
function queryOf(url) {
  const beforeHash = url.split('#', 1)[0];
  const question = beforeHash.indexOf('?');
  return question < 0 ? '' : beforeHash.slice(question + 1);
}

function essence(contentType) {
  return contentType.split(';', 1)[0].trim().toLowerCase();
}

function startsWithBom(bytes) {
  return bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

function sniffedAsJson(bytes) {
  for (let i = startsWithBom(bytes) ? 3 : 0; i < bytes.length; ++i) {
    const b = bytes[i];
    if (b === 0x20 || b === 0x09 || b === 0x0d || b === 0x0a) continue;
    return b === 0x7b; // '{'
  }
  return false;
}

function isUtf8(bytes) {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

// Node (undici) does not run the URL Standard's byte parser on the body: it first decodes the
// whole body with TextDecoder and then hands the string to URLSearchParams. Raw invalid UTF-8
// bytes therefore become U+FFFD before percent-decoding, so a raw lead byte completed by
// percent-encoded continuation bytes ("\xE6%9D%B1") decodes to three U+FFFD in Node and to one
// character in the standard. Such bodies are not compared with Node (the CLI still is).
function nodeDecodesDifferently(bytes) {
  if (isUtf8(bytes)) return false;
  return /%[89a-fA-F][0-9a-fA-F]/.test(bytes.toString('latin1'));
}

// The form-encoded cases with decoded fields, with the bytes the form parser sees.
function formCases() {
  const out = [];
  const files = readdirSync(VECTORS).filter((f) => f.endsWith('.json')).sort();
  for (const file of files) {
    const doc = JSON.parse(readFileSync(path.join(VECTORS, file), 'utf8'));
    for (const vector of doc.cases ?? []) {
      const { request = {}, expect = {}, options = {} } = vector;
      if (!Array.isArray(expect.fields)) continue;
      // Limit refusals have no decoded fields to compare; skip them outright if one slips in.
      if ((expect.errors ?? []).some((e) => LIMIT_CODES.has(e.code))) continue;
      const isGet = (request.method ?? 'POST') === 'GET';
      let bytes;
      if (isGet) {
        bytes = Buffer.from(queryOf(request.url ?? '/'), 'utf8');
      } else {
        bytes = bodyBytes(request);
        if (request.content_type !== undefined) {
          if (essence(request.content_type) !== FORM) continue;
        } else if (sniffedAsJson(bytes)) {
          continue;
        }
      }
      out.push({ file, vector, isGet, bytes, limits: options.limits ?? {} });
    }
  }
  return out;
}

async function nodeEntries(bytes) {
  const data = await new Response(bytes, { headers: { 'content-type': FORM } }).formData();
  return [...data.entries()];
}

function cliEntries({ vector, isGet, bytes, limits }) {
  const args = ['parse'];
  for (const [key, flag] of Object.entries(LIMIT_FLAGS)) {
    if (limits[key] !== undefined) args.push(flag, String(limits[key]));
  }
  if (isGet) {
    args.push('--url', vector.request.url ?? '/');
  } else {
    args.push('--content-type', FORM, '-');
  }
  const run = spawnSync(CLI, args, { input: isGet ? '' : bytes, maxBuffer: 1 << 26 });
  if (run.error) throw run.error;
  assert.equal(run.status, 0, `callhook ${args.join(' ')} failed: ${run.stderr.toString()}`);
  return JSON.parse(run.stdout.toString('utf8'));
}

const cases = formCases();
const haveCli = existsSync(CLI);

test('the corpus has form-encoded cases with decoded fields', () => {
  assert.ok(cases.length >= 50, `only ${cases.length} form cases with expect.fields were found`);
  assert.ok(cases.some((c) => c.isGet), 'no GET case was found');
});

for (const file of [...new Set(cases.map((c) => c.file))]) {
  describe(file, () => {
    for (const c of cases.filter((x) => x.file === file)) {
      describe(c.vector.name, () => {
        let nodeSkip = false;
        // Node keeps a leading byte order mark (TextDecoder with ignoreBOM); the webhook decoder
        // deliberately drops it from POST bodies, so those cases are not compared with Node.
        if (!c.isGet && startsWithBom(c.bytes)) nodeSkip = 'Node does not strip a leading BOM';
        else if (nodeDecodesDifferently(c.bytes)) {
          nodeSkip = 'Node UTF-8-decodes the whole body before parsing (see nodeDecodesDifferently)';
        }
        test('Node formData() gives expect.fields', { skip: nodeSkip }, async () => {
          assert.deepStrictEqual(await nodeEntries(c.bytes), c.vector.expect.fields);
        });
        test('callhook parse gives expect.fields', { skip: haveCli ? false : `no CLI at ${CLI}` },
          () => {
            assert.deepStrictEqual(cliEntries(c), c.vector.expect.fields);
          });
      });
    }
  });
}
