// callhook deadletters list|show|redrive|purge and callhook erase against a loopback stand-in
// of the admin API (the contract every shell implements: README, "Operating: the admin API"),
// then against the real Node function (functions/node/server.mjs): the requests the CLI sends
// (paths, queries, bodies, the bearer token from CALLHOOK_ADMIN_TOKEN), what it prints (a table,
// or the server's JSON with --json), and its exit statuses: 1 the server said no, 2 usage, 3
// unreachable. The token never appears in what it prints. The WASI command says it cannot.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = new URL('../../../', import.meta.url).pathname;
const cli = resolve(process.env.CALLHOOK_CLI ?? join(root, 'build/native/callhook'));
const wasi = resolve(process.env.CALLHOOK_WASI ?? join(root, 'build/wasi/callhook.wasm'));
const skip = existsSync(cli) ? false : `no CLI at ${cli}`;
const TOKEN = 'cli-admin-t0ken-7f3a9c';

/** Runs the CLI without blocking this process (the stand-in answers from it). */
function run(args, { env = {}, token = TOKEN, url } = {}) {
  const childEnv = { PATH: process.env.PATH, ...env };
  if (token !== null) childEnv.CALLHOOK_ADMIN_TOKEN = token;
  if (url !== undefined) childEnv.CALLHOOK_ADMIN_URL = url;
  return new Promise((resolveRun) => {
    const child = spawn(cli, args, { env: childEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    child.on('close', (status) => {
      assert.ok(!stdout.includes(TOKEN) && !stderr.includes(TOKEN), 'the token is never printed');
      resolveRun({ status, stdout, stderr });
    });
  });
}

const LETTERS = [
  {
    id: 'dl-2', route: 'answered', destination: 'crm', idempotency_key: 'CA2:complete:answered',
    call_sid: 'CA2', record_key: 'AC1:CA2', attempts: 3,
    history: [
      { at_ms: 1714533400000, status: 503, code: 'retryable_status', reason: 'HTTP 503' },
      { at_ms: 1714533410000, status: 503, code: 'retryable_status', reason: 'HTTP 503' },
      { at_ms: 1714533440000, status: 503, code: 'attempts_exhausted', reason: 'the last of 3 attempts: HTTP 503' },
    ],
    code: 'attempts_exhausted', reason: 'the last of 3 attempts: HTTP 503\nwith a line feed',
    dead_at_ms: 1714533440000, enqueued_at_ms: 1714533342000,
  },
  {
    id: 'dl 1/x', route: 'each', destination: 'ga4', idempotency_key: 'CA1:Call.Initiate:each',
    call_sid: 'CA1', record_key: '', attempts: 1, history: [{ at_ms: 1714533342500, status: 400, code: 'not_retryable_status', reason: 'HTTP 400' }],
    code: 'not_retryable_status', reason: 'HTTP 400', dead_at_ms: 1714533342500, enqueued_at_ms: 1714533342000,
  },
];

const problem = (status, kind, detail) => ({
  status,
  headers: { 'content-type': 'application/problem+json', ...(status === 401 ? { 'www-authenticate': 'Bearer realm="callhook-admin"' } : {}) },
  body: JSON.stringify({ type: `urn:callhook:problem:${kind}`, title: kind, status, detail, code: kind.replaceAll('-', '_') }),
});
const ok = (doc) => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(doc) });

/**
 * The admin API's contract, kept small: every request is recorded ({method, path, query,
 * authorization, body}); `state.mode` makes it refuse everything as a server without a token
 * ('off'), redirect ('redirect') or never answer ('hang').
 */
function startStandIn() {
  const requests = [];
  const state = { mode: 'on' };
  const answer = (req, url, body) => {
    if (state.mode === 'off') return problem(404, 'not-found', 'Webhooks are received at /hook.');
    if (state.mode === 'redirect') return { status: 302, headers: { location: state.location }, body: '' };
    if (state.mode === 'html') return { status: 200, headers: { 'content-type': 'text/html' }, body: '<html>' };
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return problem(401, 'unauthorized', 'The admin token is not the one configured.');
    const path = url.pathname;
    if (path === '/admin/dead-letters' && req.method === 'GET') {
      return ok({ dead_letters: LETTERS, count: LETTERS.length });
    }
    const one = /^\/admin\/dead-letters\/([^/]+)$/.exec(path);
    if (one && req.method === 'GET' && !['redrive', 'purge'].includes(one[1])) {
      const letter = LETTERS.find((l) => l.id === decodeURIComponent(one[1]));
      if (!letter) return problem(404, 'dead-letter-not-found', 'No dead letter has that id.');
      return ok({ ...letter, sealed: '{"sealed":1,"url":"https://crm.example/?k=${CRM_KEY}"}' });
    }
    if (path === '/admin/dead-letters/redrive' && req.method === 'POST') {
      const doc = JSON.parse(body);
      if (doc.rerender) return ok({ redriven: 1, skipped: [{ id: 'dl-2', code: 'record_gone', reason: "The call's record is gone." }] });
      return ok({ redriven: doc.ids ? doc.ids.length : 2 });
    }
    if (path === '/admin/dead-letters/purge' && req.method === 'POST') {
      const doc = JSON.parse(body);
      if (doc.destination === 'bad') return problem(400, 'bad-admin-request', 'no such thing');
      return ok({ purged: doc.ids ? doc.ids.length : 2 });
    }
    if (path === '/admin/erase' && req.method === 'POST') return ok({ records: 2, outbox: 1, dead_letters: 3 });
    return problem(404, 'not-found', 'no such admin path');
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url, 'http://stand-in');
      const body = Buffer.concat(chunks).toString();
      requests.push({ method: req.method, path: url.pathname, rawPath: req.url, query: Object.fromEntries(url.searchParams), authorization: req.headers.authorization, contentType: req.headers['content-type'], body });
      if (state.mode === 'hang') return;
      const a = answer(req, url, body);
      res.writeHead(a.status, a.headers).end(a.body);
    });
  });
  return new Promise((ready) => server.listen(0, '127.0.0.1', () => ready({
    url: `http://127.0.0.1:${server.address().port}`, requests, state,
    last: () => requests[requests.length - 1],
    close() {
      server.closeAllConnections();
      server.close();
    },
  })));
}

describe('the admin commands against a stand-in of the admin API', { skip }, () => {
  let api;
  before(async () => { api = await startStandIn(); });
  after(() => api.close());
  const reset = () => { api.state.mode = 'on'; api.requests.length = 0; };

  test('help says every action, option and exit status', () => {
    for (const args of [['deadletters', '--help'], ['deadletters', 'list', '--help'], ['erase', '--help']]) {
      const r = spawnSync(cli, args, { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /CALLHOOK_ADMIN_TOKEN/);
      assert.match(r.stdout, /Exit status: 0 done; 1 the server said no/);
      assert.match(r.stdout, /3 the server could not be reached/);
    }
    const top = spawnSync(cli, ['--help'], { encoding: 'utf8' }).stdout;
    assert.match(top, /deadletters/);
    assert.match(top, /erase/);
  });

  test('list prints a table, newest first as the server gave them, and sends the filters', async () => {
    reset();
    const r = await run(['deadletters', 'list', '--admin', api.url, '--destination', 'crm', '--code',
      'attempts_exhausted', '--since', '2024-05-01T03:00:00Z', '--until', '1714540000', '--limit', '5', '--route', 'a&b']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^ID\s+DEAD AT\s+DESTINATION\s+ROUTE\s+CODE\s+ATTEMPTS\s+CALL\s+REASON$/);
    assert.match(lines[1], /^dl-2\s+2024-05-01T03:17:20Z\s+crm\s+answered\s+attempts_exhausted\s+3\s+CA2\s+the last of 3 attempts: HTTP 503 with a line feed$/);
    assert.match(lines[2], /^dl 1\/x\s+2024-05-01T03:15:42Z\s+ga4\s+each\s+not_retryable_status\s+1\s+CA1\s+HTTP 400$/);
    assert.equal(lines[3], '2 dead letters');
    const sent = api.last();
    assert.equal(sent.method, 'GET');
    assert.equal(sent.path, '/admin/dead-letters');
    assert.equal(sent.authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(sent.query, {
      destination: 'crm', code: 'attempts_exhausted', route: 'a&b',
      since_ms: String(Date.UTC(2024, 4, 1, 3, 0, 0)), until_ms: '1714540000000', limit: '5',
    });
  });

  test('times: ISO 8601 with offsets and fractions, epoch seconds, a time ago', async () => {
    reset();
    const cases = [
      ['2024-05-01', Date.UTC(2024, 4, 1)],
      ['2024-05-01 03:15:42', Date.UTC(2024, 4, 1, 3, 15, 42)],
      ['2024-05-01T05:15:42.250+02:00', Date.UTC(2024, 4, 1, 3, 15, 42, 250)],
      ['2024-05-01T03:15-0130', Date.UTC(2024, 4, 1, 4, 45)],
      ['1714533342.5', 1714533342500],
    ];
    for (const [text, ms] of cases) {
      const r = await run(['deadletters', 'list', '--admin', api.url, '--since', text, '--json']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(api.last().query.since_ms, String(ms), text);
    }
    const before = Date.now();
    const r = await run(['deadletters', 'list', '--admin', api.url, '--since', '24h', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const since = Number(api.last().query.since_ms);
    assert.ok(since >= before - 86_400_000 - 1000 && since <= Date.now() - 86_400_000 + 1000, String(since));
    for (const bad of ['yesterday', '2024-02-30', '2024-05-01T25:00', '12x', '-5', '2024-05-01T03:15:42+2']) {
      const b = await run(['deadletters', 'list', '--admin', api.url, '--since', bad]);
      assert.equal(b.status, 2, bad);
      assert.match(b.stderr, /--since is ISO 8601/, bad);
    }
  });

  test('--json prints the server\'s answer as it is; the URL may be the /admin one, or from the environment', async () => {
    reset();
    for (const [args, url] of [[['--admin', `${api.url}/admin/`]], [[], api.url], [['--admin', `${api.url}/`]]]) {
      const r = await run(['deadletters', 'list', '--json', ...args], { url });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { dead_letters: LETTERS, count: 2 });
      assert.equal(api.last().path, '/admin/dead-letters');
    }
  });

  test('show prints what the dead letter belongs to, its attempts and its sealed text; an unknown id is 1', async () => {
    reset();
    const r = await run(['deadletters', 'show', 'dl 1/x', '--admin', api.url]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(api.last().rawPath, '/admin/dead-letters/dl%201%2Fx');
    assert.match(r.stdout, /^id:\s+dl 1\/x$/m);
    assert.match(r.stdout, /^idempotency_key:\s+CA1:Call.Initiate:each$/m);
    assert.match(r.stdout, /^record_key:\s+-$/m);
    assert.match(r.stdout, /^dead_at:\s+2024-05-01T03:15:42Z$/m);
    assert.match(r.stdout, /^ {2}2024-05-01T03:15:42Z\s+400\s+not_retryable_status\s+HTTP 400$/m);
    assert.match(r.stdout, /\$\{CRM_KEY\}/);
    const json = await run(['deadletters', 'show', 'dl-2', '--admin', api.url, '--json']);
    assert.equal(JSON.parse(json.stdout).id, 'dl-2');
    const missing = await run(['deadletters', 'show', 'nope', '--admin', api.url]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no dead letter nope \(404 dead_letter_not_found\)/);
    assert.equal(missing.stdout, '');
  });

  test('redrive and purge send the selection: ids, a filter, or --all', async () => {
    reset();
    let r = await run(['deadletters', 'redrive', '--ids', 'dl-2,dl 1/x,', '--admin', api.url]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'redriven: 2\n');
    assert.equal(api.last().path, '/admin/dead-letters/redrive');
    assert.equal(api.last().contentType, 'application/json');
    assert.deepEqual(JSON.parse(api.last().body), { ids: ['dl-2', 'dl 1/x'] });
    r = await run(['deadletters', 'redrive', '--route', 'answered', '--since', '1714533342', '--rerender', '--admin', api.url]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "redriven: 1\nskipped dl-2: record_gone: The call's record is gone.\n");
    assert.deepEqual(JSON.parse(api.last().body), { route: 'answered', since_ms: 1714533342000, rerender: true });
    r = await run(['deadletters', 'purge', '--all', '--admin', api.url]);
    assert.equal(r.stdout, 'purged: 2\n');
    assert.deepEqual(JSON.parse(api.last().body), {});
    r = await run(['deadletters', 'purge', '--destination', 'crm', '--admin', api.url, '--json']);
    assert.deepEqual(JSON.parse(r.stdout), { purged: 2 });
    assert.deepEqual(JSON.parse(api.last().body), { destination: 'crm' });
    r = await run(['deadletters', 'purge', '--destination', 'bad', '--admin', api.url]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /the server answered 400 bad_admin_request: no such thing/);
  });

  test('erase sends one subject, the phone checked and normalized first', async () => {
    reset();
    let r = await run(['erase', '--phone', '+1 (415) 555-0123', '--admin', api.url]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'erased: 2 records, 1 outbox deliveries, 3 dead letters\n');
    assert.equal(api.last().path, '/admin/erase');
    assert.deepEqual(JSON.parse(api.last().body), { phone: '+14155550123' });
    r = await run(['erase', '--call-sid', 'CA2', '--admin', api.url, '--json']);
    assert.deepEqual(JSON.parse(r.stdout), { records: 2, outbox: 1, dead_letters: 3 });
    assert.deepEqual(JSON.parse(api.last().body), { call_sid: 'CA2' });
    const count = api.requests.length;
    r = await run(['erase', '--phone', '415 555 0123', '--admin', api.url]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--phone: the phone number must be in international form/);
    assert.equal(api.requests.length, count, 'nothing sent for a bad number');
  });

  test('usage errors are 2 and send nothing', async () => {
    reset();
    const cases = [
      [['deadletters', 'list'], /--admin URL or CALLHOOK_ADMIN_URL/, {}],
      [['deadletters', 'list', '--admin', api.url], /set CALLHOOK_ADMIN_TOKEN/, { token: null }],
      [['deadletters', 'list', '--admin', api.url, '--token', 'x'], /CALLHOOK_ADMIN_TOKEN only/, {}],
      [['deadletters', 'list', '--admin', 'ftp://x'], /must be an http/, {}],
      [['deadletters', 'list', '--admin', 'http://user:pw@127.0.0.1:1'], /must be an http/, {}],
      [['deadletters', 'list', '--admin', api.url, '--bogus'], /unknown option --bogus/, {}],
      [['deadletters', 'list', '--admin', api.url, '--limit', '0'], /--limit/, {}],
      [['deadletters', 'list', '--admin', api.url, '--timeout', 'soon'], /--timeout/, {}],
      [['deadletters', 'show', '--admin', api.url], /name the dead letter/, {}],
      [['deadletters', 'redrive', '--admin', api.url], /name the dead letters/, {}],
      [['deadletters', 'purge', '--ids', 'a', '--code', 'x', '--admin', api.url], /one of --ids, a filter or --all/, {}],
      [['deadletters', 'explode', '--admin', api.url], /unknown action 'explode'/, {}],
      [['deadletters'], /list, show, redrive or purge/, {}],
      [['erase', '--admin', api.url], /exactly one of --call-sid/, {}],
      [['erase', '--call-sid', 'CA1', '--phone', '+14155550123', '--admin', api.url], /exactly one/, {}],
      [['deadletters', 'list', '--admin', api.url], /control character/, { token: 'two words' }],
    ];
    for (const [args, message, options] of cases) {
      const r = await run(args, options);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
    assert.equal(api.requests.length, 0);
  });

  test('the server saying no is 1, with what it said and a hint', async () => {
    reset();
    let r = await run(['deadletters', 'list', '--admin', api.url], { token: 'wrong-token' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /401 unauthorized: The admin token is not the one configured\. \(check CALLHOOK_ADMIN_TOKEN/);
    api.state.mode = 'off';
    r = await run(['erase', '--call-sid', 'CA1', '--admin', api.url]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /404 not_found.*the admin API is off there/);
    api.state.mode = 'html';
    r = await run(['deadletters', 'list', '--admin', api.url]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not the admin API's JSON/);
  });

  test('a redirect is not followed: the token goes nowhere else', async () => {
    reset();
    const elsewhere = await startStandIn();
    try {
      api.state.mode = 'redirect';
      api.state.location = `${elsewhere.url}/admin/dead-letters`;
      const r = await run(['deadletters', 'list', '--admin', api.url]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /the server answered 302/);
      assert.equal(elsewhere.requests.length, 0);
    } finally {
      elsewhere.close();
    }
  });

  test('unreachable is 3: refused, or no answer in --timeout', async () => {
    reset();
    const closed = http.createServer();
    await new Promise((r) => closed.listen(0, '127.0.0.1', r));
    const port = closed.address().port;
    await new Promise((r) => closed.close(r));
    let r = await run(['deadletters', 'list', '--admin', `http://127.0.0.1:${port}`]);
    assert.equal(r.status, 3);
    assert.match(r.stderr, /cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+\/admin: /);
    api.state.mode = 'hang';
    const start = Date.now();
    r = await run(['erase', '--call-sid', 'CA1', '--admin', api.url, '--timeout', '1']);
    assert.equal(r.status, 3);
    assert.match(r.stderr, /cannot reach the admin API/);
    assert.ok(Date.now() - start < 5000);
  });

  test('plain http to another machine is warned about', async () => {
    // 192.0.2.0/24 is TEST-NET-1: nothing answers; the warning comes before the attempt.
    const r = await run(['deadletters', 'list', '--admin', 'http://192.0.2.1:9', '--timeout', '1']);
    assert.equal(r.status, 3);
    assert.match(r.stderr, /warning: the admin token goes to 192\.0\.2\.1 over plain http/);
  });
});

test('the WASI command says the admin commands are not in it', { skip: skip || (!existsSync(wasi) && 'no WASI build') }, () => {
  for (const args of [['deadletters', 'list', '--admin', 'http://127.0.0.1:1'], ['erase', '--call-sid', 'CA1']]) {
    const w = spawnSync(process.execPath, ['--no-warnings', join(root, 'tests/js/run-wasi.mjs'), wasi, ...args],
      { encoding: 'utf8', env: { PATH: process.env.PATH, CALLHOOK_ADMIN_TOKEN: TOKEN } });
    assert.notEqual(w.status, 0);
    assert.match(w.stderr, /not available in the WASI build/);
  }
  const help = spawnSync(process.execPath, ['--no-warnings', join(root, 'tests/js/run-wasi.mjs'), wasi, 'erase', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
});

// ---- the real Node function ---------------------------------------------------------------------

const built = existsSync(join(root, 'bindings/js/dist/callhook_wasm.wasm'));
const nodeSkip = skip || (!built && 'the npm package is not built (bash bindings/js/build.sh)');

function startServer(env) {
  const child = spawn(process.execPath, [join(root, 'functions/node/server.mjs')], {
    env: { PATH: process.env.PATH, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffer = '';
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += c; });
  return new Promise((resolveStart, reject) => {
    child.stdout.on('data', (chunk) => {
      buffer += chunk;
      for (let nl; (nl = buffer.indexOf('\n')) >= 0;) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        let doc = null;
        try { doc = JSON.parse(line); } catch { /* not a log line */ }
        if (doc?.msg === 'listening') resolveStart({ child, url: doc.url.replace(/\/hook$/, '') });
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
  });
}

test('against the real Node function: dead letters listed, shown, redriven, purged; a call erased', { skip: nodeSkip, timeout: 60_000 }, async () => {
  const received = [];
  const receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received.push(req.headers['idempotency-key']);
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"no"}');
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(join(tmpdir(), 'callhook-admin-cli-'));
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({
    auth: { token: { value: '${CALLHOOK_TOKEN}', in: 'path' } },
    destinations: { crm: { url: `http://127.0.0.1:${receiver.address().port}/crm` } },
    routes: [{ name: 'each', to: ['crm'] }],
  }));
  const server = await startServer({ CALLHOOK_CONFIG: config, CALLHOOK_TOKEN: 'hook-t0ken-1234', CALLHOOK_ADMIN_TOKEN: TOKEN, CALLHOOK_STORE: 'memory', CALLHOOK_PLAYGROUND: join(dir, 'none') });
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const cliList = async () => JSON.parse((await run(['deadletters', 'list', '--json'], { url: server.url })).stdout);
  try {
    const initiate = readFileSync(join(root, 'examples/payloads/initiate.form'), 'utf8').trim();
    for (const [sid, phone] of [['CA0000000000000000000000000000c001', '+14155550111'], ['CA0000000000000000000000000000c002', '+14155550222']]) {
      const body = initiate.replace(/Call\.Sid=[^&]+/, `Call.Sid=${sid}`).replace(/Call\.From=[^&]+/, `Call.From=${encodeURIComponent(phone)}`);
      const r = await fetch(`${server.url}/hook/hook-t0ken-1234`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      assert.equal(r.status, 200, await r.text());
    }
    for (let i = 0; i < 200 && (await cliList()).count < 2; i++) await sleep(50);
    let listed = await cliList();
    assert.equal(listed.count, 2);
    const [newest] = listed.dead_letters;
    assert.equal(newest.code, 'not_retryable_status');

    const table = await run(['deadletters', 'list', '--destination', 'crm'], { url: server.url });
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /not_retryable_status/);
    assert.match(table.stdout, /^2 dead letters$/m);

    const shown = await run(['deadletters', 'show', newest.id], { url: server.url });
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`^call_sid:\\s+${newest.call_sid}$`, 'm'));
    assert.match(shown.stdout, /sealed \(secrets as \$\{NAME\} references\):/);
    assert.equal((await run(['deadletters', 'show', 'no-such-id'], { url: server.url })).status, 1);

    const redriven = await run(['deadletters', 'redrive', '--ids', newest.id], { url: server.url });
    assert.equal(redriven.status, 0, redriven.stderr);
    assert.equal(redriven.stdout, 'redriven: 1\n');
    // Sent again with the same key, and dead again (the receiver still says 400).
    for (let i = 0; i < 200 && received.filter((k) => k === newest.idempotency_key).length < 2; i++) await sleep(50);
    assert.equal(received.filter((k) => k === newest.idempotency_key).length, 2);

    for (let i = 0; i < 200 && (await cliList()).count < 2; i++) await sleep(50);
    const erased = await run(['erase', '--phone', '+1 415 555 0222', '--json'], { url: server.url });
    assert.equal(erased.status, 0, erased.stderr);
    assert.equal(JSON.parse(erased.stdout).dead_letters, 1);
    listed = await cliList();
    assert.equal(listed.count, 1);
    assert.equal(listed.dead_letters[0].call_sid, 'CA0000000000000000000000000000c001');

    const purged = await run(['deadletters', 'purge', '--all'], { url: server.url });
    assert.equal(purged.stdout, 'purged: 1\n');
    assert.equal((await cliList()).count, 0);

    const wrong = await run(['deadletters', 'list'], { url: server.url, token: 'not-the-token' });
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /401 unauthorized/);
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
    receiver.close();
  }
});
