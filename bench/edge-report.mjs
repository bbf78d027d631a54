// The edge report: size and start-up of every edge artifact, with ratios to native.
//
//   node bench/edge-report.mjs [--requests N] [--command TEXT] [--out build/edge-report]
//                              [--only sizes,worker,attribution,package,native,fastly,workerd]
//
// bench/edge-report.sh builds whatever is missing and runs this. It prints a Markdown report
// (to paste into the README) and writes it to OUT.md, with the raw numbers in OUT.json:
//
// - Sizes: raw and gzip -9 bytes of the Emscripten package's wasm, the WASI command, the Fastly
//   program and its package, and the Worker bundle (`wrangler deploy --dry-run`), against the
//   budget of 300 KB gzip per wasm.
// - Where the bytes go: the sections of each wasm, and for the two WASI builds the code bytes by
//   origin (callhook::, nlohmann::, std::, libc, ...) and by project source, from a copy relinked
//   from build/wasi's objects with a name section and a link map (the build strips both).
// - Start-up and per-request time: native (Google Benchmark: engine from the example config,
//   handle of a Complete) as the denominators; the Fastly program in the repository's Node host
//   (a fresh instance per request); the Worker in workerd (`wrangler dev --local`, timed from
//   the client); the npm package in fresh Node processes. Cold starts are medians of a few
//   fresh starts, per-request times medians of N requests.
//
// Every request goes to 127.0.0.1: destinations point at a receiver this script starts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

const root = fileURLToPath(new URL('../', import.meta.url));
const { values: opts } = parseArgs({
  options: {
    requests: { type: 'string', default: '200' },
    command: { type: 'string', default: `node bench/edge-report.mjs ${process.argv.slice(2).join(' ')}`.trim() },
    out: { type: 'string', default: 'build/edge-report' },
    only: { type: 'string', default: 'sizes,worker,attribution,package,native,fastly,workerd' },
    probe: { type: 'string' }, // internal: `package` measures the npm package in this fresh process
  },
});
const REQUESTS = Math.max(5, Number.parseInt(opts.requests, 10) || 200);
const BUDGET = 300 * 1024; // bytes of gzip per wasm
const COLD_RUNS = 3; // fresh starts (processes, wrangler dev) behind each cold-start median
const TOKEN = 'demo-token'; // functions/fastly/fastly.toml's demo secret, used for every target
const SECRETS = { CALLHOOK_TOKEN: TOKEN, GA4_API_SECRET: 'demo-ga4-secret', GOOGLE_ADS_DEVELOPER_TOKEN: 'demo-developer-token' };
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

const path = (p) => join(root, p);
const rel = (p) => relative(root, p);
const progress = (msg) => process.stderr.write(`edge-report: ${msg}\n`);

const exampleConfigText = readFileSync(path('examples/configs/example.json'), 'utf8');
const exampleConfig = JSON.parse(exampleConfigText);
const complete = readFileSync(path('examples/payloads/complete.form'), 'utf8').trim();
/** The Complete with its own Call.Sid, so that no request is a duplicate of another. */
const withSid = (form, sid) => form.replace(/Call\.Sid=[^&]*/, `Call.Sid=${sid}`);
const sidFor = (target, i) => `CA${target}${String(i).padStart(6, '0')}${process.pid}`;

// ---- small helpers --------------------------------------------------------------------------

const median = (xs) => {
  const s = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const quantile = (xs, q) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : null;
};
const gzipBytes = (buf) => gzipSync(buf, { level: 9 }).length;
const int = (n) => (n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));
const pct = (part, whole) => (whole ? `${((100 * part) / whole).toFixed(1)}%` : '–');
const ms = (x) => {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (Math.abs(x) >= 100) return `${x.toFixed(0)} ms`;
  if (Math.abs(x) >= 10) return `${x.toFixed(1)} ms`;
  if (Math.abs(x) >= 1) return `${x.toFixed(2)} ms`;
  return `${x.toFixed(3)} ms`;
};
const us = (x) => (x === null || !Number.isFinite(x) ? '–' : `${(x * 1000).toFixed(1)} µs`);
const ratio = (x, base) => (x === null || base === null || !Number.isFinite(x) || !base ? '–' : `${(x / base).toFixed(x / base >= 100 ? 0 : 1)}×`);
/** A Markdown table; `align` has one letter per column, l or r (default: the first l, the rest r). */
const table = (head, rows, align = `l${'r'.repeat(head.length - 1)}`) => [
  `| ${head.join(' | ')} |`,
  `|${head.map((h, i) => (align[i] === 'r' ? '---:' : '---')).join('|')}|`,
  ...rows.map((r) => `| ${r.join(' | ')} |`),
].join('\n');
const esc = (s) => String(s).replace(/\|/g, '\\|');
const shorten = (s, n = 100) => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);
/** A demangled name made readable: libc++'s inline namespace and the usual typedefs. */
const readable = (name) => name
  .replace(/std::__2::/g, 'std::')
  .replace(/\[abi:[^\]]*\]/g, '')
  .replace(/std::basic_string<char, std::char_traits<char>, std::allocator<char>>/g, 'std::string')
  .replace(/std::basic_string_view<char, std::char_traits<char>>/g, 'std::string_view')
  .replace(/nlohmann::json_abi_v[\d_]+::/g, 'nlohmann::')
  .replace(/nlohmann::basic_json<std::map, std::vector, std::string, bool, long long, unsigned long long, double, std::allocator, nlohmann::adl_serializer, std::vector<unsigned char, std::allocator<unsigned char>>(?:, void)?>/g, 'json');

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20, ...options });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

// ---- wasm binaries --------------------------------------------------------------------------

const SECTION_NAMES = ['custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export',
  'start', 'element', 'code', 'data', 'datacount', 'tag'];

function leb(buf, pos) {
  let result = 0;
  let shift = 0;
  let b;
  do {
    b = buf[pos++];
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  return [result, pos];
}
function wasmName(buf, pos) {
  const [len, p] = leb(buf, pos);
  return [buf.toString('utf8', p, p + len), p + len];
}
function skipLimits(buf, pos) {
  const flags = buf[pos++];
  [, pos] = leb(buf, pos);
  if (flags & 1) [, pos] = leb(buf, pos);
  return pos;
}

/**
 * Reads a wasm binary: its sections (bytes including each section's header), function imports,
 * exports, the code section's bodies and, when there is one, the name section's function names.
 */
function parseWasm(buf) {
  if (buf.readUInt32LE(0) !== 0x6d736100) throw new Error('not a wasm binary');
  const sections = [];
  let importedFunctions = 0;
  const exports = [];
  const bodies = [];
  const names = new Map();
  let pos = 8;
  while (pos < buf.length) {
    const id = buf[pos];
    const [size, start] = leb(buf, pos + 1);
    const end = start + size;
    const name = id === 0 ? `custom: ${wasmName(buf, start)[0]}` : SECTION_NAMES[id] ?? `unknown ${id}`;
    sections.push({ id, name, bytes: end - pos, payloadOffset: start });
    let p = start;
    if (id === 2) {
      let n;
      [n, p] = leb(buf, p);
      for (let i = 0; i < n; i++) {
        [, p] = wasmName(buf, p);
        [, p] = wasmName(buf, p);
        const kind = buf[p++];
        if (kind === 0) { importedFunctions++; [, p] = leb(buf, p); }
        else if (kind === 1) { p++; p = skipLimits(buf, p); }
        else if (kind === 2) p = skipLimits(buf, p);
        else if (kind === 3) p += 2;
        else if (kind === 4) { p++; [, p] = leb(buf, p); }
      }
    } else if (id === 7) {
      let n;
      [n, p] = leb(buf, p);
      for (let i = 0; i < n; i++) {
        let field;
        [field, p] = wasmName(buf, p);
        const kind = ['function', 'table', 'memory', 'global', 'tag'][buf[p++]];
        [, p] = leb(buf, p);
        exports.push({ name: field, kind });
      }
    } else if (id === 10) {
      let n;
      [n, p] = leb(buf, p);
      for (let i = 0; i < n; i++) {
        const entry = p;
        let len;
        [len, p] = leb(buf, p);
        bodies.push({ entry, body: p, bytes: p + len - entry });
        p += len;
      }
    } else if (id === 0 && name === 'custom: name') {
      [, p] = wasmName(buf, p);
      while (p < end) {
        const sub = buf[p++];
        let len;
        [len, p] = leb(buf, p);
        if (sub === 1) {
          let q = p;
          let n;
          [n, q] = leb(buf, q);
          for (let i = 0; i < n; i++) {
            let idx;
            let fname;
            [idx, q] = leb(buf, q);
            [fname, q] = wasmName(buf, q);
            names.set(idx, fname);
          }
        }
        p += len;
      }
    }
    pos = end;
  }
  const functions = bodies.map((b, i) => ({ ...b, index: importedFunctions + i, name: names.get(importedFunctions + i) ?? null }));
  return { size: buf.length, sections, importedFunctions, exports, functions, hasNames: names.size > 0 };
}

/** Section bytes grouped as code, data and the rest. */
function sectionSummary(info) {
  const by = (pred) => info.sections.filter(pred).reduce((n, s) => n + s.bytes, 0);
  return {
    code: by((s) => s.id === 10),
    data: by((s) => s.id === 11 || s.id === 12),
    imports_exports: by((s) => s.id === 2 || s.id === 7),
    types_functions_tables: by((s) => [1, 3, 4, 5, 6, 8, 9, 13].includes(s.id)),
    custom: by((s) => s.id === 0),
    header: 8,
  };
}

// ---- where the code bytes of the WASI builds come from ----------------------------------------

/** The link command ninja runs for `output` in build/wasi, without the shell wrapping. */
function linkCommand(output) {
  const r = run('ninja', ['-C', path('build/wasi'), '-t', 'commands', output]);
  if (r.status !== 0) throw new Error(`ninja -t commands ${output}: ${r.stderr.trim()}`);
  const line = r.stdout.trim().split('\n').pop();
  return line.replace(/^:\s*&&\s*/, '').replace(/\s*&&\s*:\s*$/, '');
}

/** The commands clang runs for a link (`-###`): wasm-ld's arguments, then wasm-opt's if any. */
function driverCommands(cmd) {
  const r = run('sh', ['-c', `${cmd} -###`], { cwd: path('build/wasi') });
  if (r.status !== 0) throw new Error(`clang -### failed:\n${r.stderr}`);
  const commands = r.stderr.split('\n').filter((l) => l.startsWith(' "'))
    .map((l) => [...l.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1].replace(/\\(.)/g, '$1')));
  const ld = commands.find((c) => /wasm-ld/.test(c[0]));
  if (!ld) throw new Error(`no wasm-ld in the link of ${cmd}`);
  return { ld, opt: commands.find((c) => /wasm-opt/.test(c[0])) ?? null };
}

/**
 * Relinks `output` from build/wasi's objects into `dir` as the build does, but keeping the name
 * section (mangled names; DWARF still stripped) and writing a link map. clang's driver runs
 * wasm-opt after wasm-ld when binaryen is installed; that step is repeated with -g, which keeps
 * the names and optimizes the same, so the relinked code section is the shipped one.
 */
function relinkWithNames(output, dir) {
  const { ld, opt } = driverCommands(linkCommand(output));
  const linked = join(dir, `${output}.ld.wasm`);
  const map = join(dir, `${output}.map`);
  const ldArgs = ld.slice(1).filter((a) => a !== '--strip-all' && a !== '-s');
  const o = ldArgs.indexOf('-o');
  if (o < 0) throw new Error(`no -o in ${ld.join(' ')}`);
  ldArgs[o + 1] = linked;
  ldArgs.push('--strip-debug', '--no-demangle', `--Map=${map}`);
  let r = run(ld[0], ldArgs, { cwd: path('build/wasi') });
  if (r.status !== 0) throw new Error(`relinking ${output} failed:\n${r.stderr}`);
  if (!opt) return { wasm: linked, linked, map, wasmOpt: null };
  const optimized = join(dir, output);
  const optArgs = opt.slice(1).map((a) => a);
  const input = optArgs.findIndex((a, i) => !a.startsWith('-') && optArgs[i - 1] !== '-o');
  const out = optArgs.indexOf('-o');
  if (input < 0 || out < 0) throw new Error(`cannot read the wasm-opt step: ${opt.join(' ')}`);
  optArgs[input] = linked;
  optArgs[out + 1] = optimized;
  optArgs.push('-g');
  r = run(opt[0], optArgs, { cwd: path('build/wasi') });
  if (r.status !== 0) throw new Error(`wasm-opt failed:\n${r.stderr}`);
  return { wasm: optimized, linked, map, wasmOpt: [opt[0], ...opt.slice(1).filter((a, i) => i !== input && i !== out && i !== out + 1)].join(' ') };
}

/** The functions and data pieces of a wasm-ld link map: file offset, size, input file, symbol. */
function parseLinkMap(text) {
  const functions = [];
  const data = [];
  let section = null;
  for (const line of text.split('\n')) {
    const m = /^\s*(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)( +)(.*)$/.exec(line);
    if (!m) continue;
    const [, , off, size, gap, rest] = m;
    if (gap.length === 1) { // an output section (CODE, DATA, ...) or a data segment (.rodata, ...)
      if (/^[A-Z]/.test(rest)) section = rest.trim();
      continue;
    }
    const at = rest.indexOf(':(');
    if (at < 0 || !rest.endsWith(')')) { // a symbol defined in the input piece above
      const last = section === 'CODE' ? functions[functions.length - 1] : null;
      if (last) last.aliases.push(rest.trim());
      continue;
    }
    const piece = { off: parseInt(off, 16), bytes: parseInt(size, 16), input: rest.slice(0, at), symbol: rest.slice(at + 2, -1), aliases: [] };
    if (section === 'CODE') functions.push(piece);
    else if (section === 'DATA') data.push(piece);
  }
  return { functions, data };
}

function demangleAll(symbols) {
  for (const tool of ['llvm-cxxfilt-19', 'llvm-cxxfilt', 'c++filt']) {
    const r = run(tool, [], { input: symbols.join('\n') });
    if (r.status === 0 && !r.error) {
      const lines = r.stdout.split('\n');
      return { tool, names: symbols.map((s, i) => lines[i] ?? s) };
    }
  }
  return { tool: null, names: symbols };
}

/** The source file an archive member of the build was compiled from (libNAME.a -> NAME.dir/...). */
const memberSources = new Map();
function archiveMemberSource(archive, member) {
  const key = `${archive}(${member})`;
  if (memberSources.has(key)) return memberSources.get(key);
  let found = null;
  const dir = path(`build/wasi/CMakeFiles/${archive.replace(/^lib/, '').replace(/\.a$/, '')}.dir`);
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (found) return;
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name === member) found = relative(dir, join(d, e.name)).replace(/\.(?:obj|o)$/, '');
    }
  };
  if (existsSync(dir)) walk(dir);
  memberSources.set(key, found);
  return found;
}

/** Where an input file of the link comes from: a project source, or the toolchain. */
function inputOrigin(input) {
  const obj = /CMakeFiles\/[^/]+\.dir\/(.*)\.(?:obj|o)$/.exec(input);
  if (obj) return { project: true, source: obj[1] };
  const archive = /([^/]+\.a)\(([^)]*)\)$/.exec(input);
  if (archive) {
    const source = /^libcallhook/.test(archive[1]) ? archiveMemberSource(archive[1], archive[2]) : null;
    if (source) return { project: true, source };
    return { project: false, source: archive[1], member: archive[2] };
  }
  if (input === '<unknown>') return { project: false, source: '(not in the link map)' };
  if (input.startsWith('<')) return { project: false, source: 'linker-made' };
  return { project: false, source: input.split('/').pop() };
}

const OWNER_PROJECT_OTHER = 'project code outside callhook:: (anonymous namespaces, main)';
const OWNER_LINKER = 'linker-made (_start wrapper, constructors)';

/** The owner of a function from its mangled name (and where it was compiled, for C names). */
function owner(symbol, demangled, origin) {
  let s = symbol;
  if (s.startsWith('_ZZ')) s = `_Z${s.slice(3)}`; // a local entity: its enclosing function's owner
  if (s.startsWith('_ZL')) s = `_Z${s.slice(3)}`; // internal linkage
  s = s.replace(/^_ZT[hv](?:n?\d+_)+/, '_Z'); // thunks
  const nested = /^_ZN[rVKRO]*/.exec(s);
  const head = nested ? s.slice(nested[0].length) : s.slice(2);
  if (s.startsWith('_Z')) {
    if (/^(St|S[absiod])/.test(head)) {
      if (!origin.project) return 'std:: (libc++ / libc++abi archives)';
      return demangled.includes('nlohmann::') ? 'std:: over nlohmann types' : 'std:: (other templates)';
    }
    if (head.startsWith('8callhook')) return 'callhook::';
    if (head.startsWith('8nlohmann')) return 'nlohmann::';
  }
  if (origin.project) return OWNER_PROJECT_OTHER;
  if (/libc\+\+(abi)?\.a$/.test(origin.source)) return 'std:: (libc++ / libc++abi archives)';
  if (/^libc\.a$|crt1/.test(origin.source)) return 'libc (wasi-libc: stdio, malloc, strings, …)';
  if (/clang_rt|compiler-rt|builtins/.test(origin.source)) return 'compiler-rt builtins';
  if (origin.source === 'linker-made') return OWNER_LINKER;
  return 'other';
}

function groupBy(rows, key) {
  const m = new Map();
  for (const r of rows) {
    const k = key(r);
    if (k === null) continue;
    const g = m.get(k) ?? { bytes: 0, functions: 0, callhook: 0 };
    g.bytes += r.bytes;
    g.functions++;
    if (r.owner === 'callhook::') g.callhook += r.bytes;
    m.set(k, g);
  }
  return [...m].map(([name, g]) => ({ name, ...g })).sort((a, b) => b.bytes - a.bytes);
}

/** Each function of a named wasm with its size, owner and origin (through the link map). */
function attributeFunctions(info, bySymbol) {
  const rows = info.functions.map((f) => {
    const piece = f.name === null ? null : bySymbol.get(f.name);
    // Stubs for undefined weak symbols are the linker's.
    const input = piece?.input ?? (f.name?.startsWith('undefined_weak:') ? '<internal>' : '<unknown>');
    return { bytes: f.bytes, symbol: f.name ?? '', input };
  });
  const { tool, names } = demangleAll(rows.map((r) => r.symbol));
  rows.forEach((r, i) => {
    r.demangled = names[i];
    r.origin = inputOrigin(r.input);
    r.owner = owner(r.symbol, r.demangled, r.origin);
  });
  const codeBytes = rows.reduce((n, r) => n + r.bytes, 0);
  return {
    demangler: tool, functions: rows.length, codeBytes,
    unmapped: rows.filter((r) => r.input === '<unknown>').map((r) => r.symbol),
    owners: groupBy(rows, (r) => r.owner),
    projectSources: groupBy(rows, (r) => (r.origin.project ? r.origin.source : null)),
    archives: groupBy(rows, (r) => (r.origin.project ? null : r.origin.source)),
    top: [...rows].sort((a, b) => b.bytes - a.bytes).slice(0, 12)
      .map((r) => ({ bytes: r.bytes, name: r.demangled, owner: r.owner, source: r.origin.source })),
  };
}

/**
 * The code of `output` attributed to owners, project sources and functions, twice: as wasm-ld
 * linked it (each function as compiled) and as shipped (after the wasm-opt step, which inlines
 * across owners).
 */
function attributeCode(output, shipped, dir) {
  const relinked = relinkWithNames(output, dir);
  const info = parseWasm(readFileSync(relinked.wasm));
  const linkedInfo = parseWasm(readFileSync(relinked.linked));
  const map = parseLinkMap(readFileSync(relinked.map, 'utf8'));
  // The name sections hold mangled names (--no-demangle), as the map's input pieces do.
  const bySymbol = new Map();
  for (const f of map.functions) for (const name of [...f.aliases, f.symbol]) bySymbol.set(name, f);
  const linked = attributeFunctions(linkedInfo, bySymbol);
  const final = relinked.wasmOpt ? attributeFunctions(info, bySymbol) : linked;
  // Data: by project source and archive; merged strings and constants are the linker's.
  const data = groupBy(map.data.map((d) => {
    const o = inputOrigin(d.input);
    return { bytes: d.bytes, source: o.source === 'linker-made' ? 'merged string literals and constants (linker)' : o.source };
  }), (d) => d.source).map(({ name, bytes }) => ({ name, bytes }));
  const shippedCode = shipped.sections.find((x) => x.id === 10)?.bytes ?? 0;
  const relinkedCode = info.sections.find((x) => x.id === 10)?.bytes ?? 0;
  return {
    output, wasmOpt: relinked.wasmOpt,
    sameCodeAsShipped: shippedCode === relinkedCode, shippedCodeSection: shippedCode, relinkedCodeSection: relinkedCode,
    linkedCodeSection: linkedInfo.sections.find((x) => x.id === 10)?.bytes ?? 0,
    linked, shipped: final, data,
  };
}

// ---- sizes ----------------------------------------------------------------------------------

function fileSize(file) {
  const bytes = readFileSync(file);
  return { path: rel(file), bytes: bytes.length, gzip: gzipBytes(bytes) };
}

function workerBundle() {
  const wranglerBin = path('node_modules/wrangler/bin/wrangler.js');
  if (!existsSync(wranglerBin)) return { skipped: 'wrangler is not installed (npm ci at the repository root)' };
  const dir = mkdtempSync(join(os.tmpdir(), 'callhook-edge-bundle-'));
  try {
    const env = {
      ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false',
      WRANGLER_HIDE_BANNER: 'true', NO_COLOR: '1', CI: '1',
    };
    delete env.CLOUDFLARE_API_TOKEN;
    delete env.CLOUDFLARE_ACCOUNT_ID;
    const r = run(process.execPath, [wranglerBin, 'deploy', '--dry-run', '--outdir', dir], { cwd: path('functions/cloudflare'), env });
    if (r.status !== 0) return { skipped: `wrangler deploy --dry-run failed:\n${r.stdout}${r.stderr}` };
    const files = readdirSync(dir);
    const js = files.filter((f) => f.endsWith('.js')).map((f) => ({ ...fileSize(join(dir, f)), path: f }));
    const wasm = files.filter((f) => f.endsWith('.wasm')).map((f) => ({ ...fileSize(join(dir, f)), path: f }));
    const upload = /Total Upload:\s*([\d.]+)\s*KiB\s*\/\s*gzip:\s*([\d.]+)\s*KiB/.exec(r.stdout + r.stderr);
    const wasmInfo = wasm.length ? parseWasm(readFileSync(join(dir, wasm[0].path))) : null;
    return {
      js, wasm, wasmInfo,
      total: { bytes: [...js, ...wasm].reduce((n, f) => n + f.bytes, 0), gzip: [...js, ...wasm].reduce((n, f) => n + f.gzip, 0) },
      wranglerTotalUpload: upload ? { kib: Number(upload[1]), gzipKib: Number(upload[2]) } : null,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- a loopback receiver for the destinations -------------------------------------------------

function startReceiver() {
  let received = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    origin: `http://127.0.0.1:${server.address().port}`,
    received: () => received,
    close: () => new Promise((done) => { server.close(() => done()); server.closeAllConnections(); }),
  })));
}

/** The example config with every destination's URL on `origin` (path and query kept). */
function configOn(origin) {
  const config = structuredClone(exampleConfig);
  for (const d of Object.values(config.destinations)) {
    const u = new URL(d.url.replace(/\$\{[^}]*\}/g, 'SECRET'));
    d.url = origin + d.url.slice(d.url.indexOf(u.pathname));
  }
  return config;
}

const waitUntil = async (pred, msLimit) => {
  const until = Date.now() + msLimit;
  while (!pred() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  return pred();
};

// ---- native ---------------------------------------------------------------------------------

function nativeBench() {
  const bench = path('build/native/callhook_bench');
  if (!existsSync(bench)) return { skipped: 'build/native/callhook_bench is missing (cmake --preset native && cmake --build --preset native)' };
  const r = run(bench, ['--benchmark_filter=BM_EngineFromConfig|BM_HandleThreeRoutes', '--benchmark_format=json',
    '--benchmark_repetitions=3', '--benchmark_report_aggregates_only=true'], { cwd: root });
  if (r.status !== 0) return { skipped: `callhook_bench failed:\n${r.stderr}` };
  const doc = JSON.parse(r.stdout);
  const unit = { ns: 1e-6, us: 1e-3, ms: 1, s: 1e3 };
  const pick = (name) => {
    const b = doc.benchmarks.find((x) => x.run_name === name && (x.aggregate_name === 'median' || x.run_type === 'iteration'));
    return b ? b.real_time * unit[b.time_unit] : null;
  };
  const fromConfigMs = pick('BM_EngineFromConfig');
  const handleMs = pick('BM_HandleThreeRoutes');
  if (fromConfigMs === null || handleMs === null) {
    return { skipped: 'build/native/callhook_bench lacks BM_EngineFromConfig or BM_HandleThreeRoutes: rebuild it (cmake --build --preset native --target callhook_bench)' };
  }
  return { fromConfigMs, handleMs, coldMs: fromConfigMs + handleMs, context: { cpus: doc.context.num_cpus, mhz: doc.context.mhz_per_cpu } };
}

// ---- the npm package (Emscripten) in this process ---------------------------------------------

async function packageInNode() {
  const wasm = path('bindings/js/dist/callhook_wasm.wasm');
  if (!existsSync(wasm)) return { skipped: 'the npm package is not built (bash bindings/js/build.sh)' };
  const t0 = performance.now();
  const callhook = await import(pathToFileURL(path('bindings/js/index.js')));
  const t1 = performance.now();
  const runtime = await callhook.init(); // reads, compiles and instantiates the .wasm
  const t2 = performance.now();
  const engine = runtime.createEngine(exampleConfigText, { secrets: SECRETS });
  const t3 = performance.now();
  const request = (i) => ({ method: 'POST', url: `/hook/${TOKEN}`, headers: FORM, body: withSid(complete, sidFor('PKG', i)) });
  const now = 1714533342;
  const first = engine.handle(request(0), { now });
  const t4 = performance.now();
  if (first.response.status !== 200) throw new Error(`the package answered ${first.response.status}: ${first.response.body}`);
  const handles = [];
  for (let i = 1; i < REQUESTS; i++) {
    const req = request(i);
    const a = performance.now();
    engine.handle(req, { now });
    handles.push(performance.now() - a);
  }
  const engines = [];
  for (let i = 0; i < 20; i++) {
    const a = performance.now();
    const e = runtime.createEngine(exampleConfigText, { secrets: SECRETS });
    engines.push(performance.now() - a);
    e.close();
  }
  engine.close();
  return {
    importMs: t1 - t0, initMs: t2 - t1, createEngineMs: t3 - t2, firstHandleMs: t4 - t3,
    coldMs: t4 - t1, handleMedianMs: median(handles), handleP90Ms: quantile(handles, 0.9),
    createEngineWarmMedianMs: median(engines), requests: REQUESTS, deliveriesPerRequest: first.deliveries.length,
  };
}

/** The package measured in COLD_RUNS fresh Node processes: the median of each number. */
function packageRuns() {
  const runs = [];
  for (let r = 0; r < COLD_RUNS; r++) {
    const c = run(process.execPath, [fileURLToPath(import.meta.url), '--probe', 'package', '--requests', String(REQUESTS)], { cwd: root });
    if (c.status !== 0) throw new Error(`the package probe failed:\n${c.stderr}`);
    const one = JSON.parse(c.stdout);
    if (one.skipped) return one;
    runs.push(one);
  }
  const out = { runs: runs.length };
  for (const k of Object.keys(runs[0])) out[k] = typeof runs[0][k] === 'number' ? median(runs.map((x) => x[k])) : runs[0][k];
  out.coldRunsMs = runs.map((x) => x.coldMs);
  return out;
}

// ---- the Fastly program in the Node host ----------------------------------------------------

async function fastlyHost() {
  const program = path('build/wasi/callhook-fastly.wasm');
  if (!existsSync(program)) return { skipped: 'build/wasi/callhook-fastly.wasm is missing (cmake --preset wasi && cmake --build --preset wasi)' };
  const { createFastlyHost } = await import(pathToFileURL(path('functions/fastly/host/host.mjs')));
  const receiver = await startReceiver();
  const hostNotes = [];
  const host = createFastlyHost({
    wasm: program,
    manifest: path('functions/fastly/fastly.toml'),
    workers: 1,
    backends: Object.fromEntries(Object.keys(exampleConfig.destinations).map((name) => [name, receiver.origin])),
    log: (name, line) => { if (name === '(host)' && hostNotes.length < 10) hostNotes.push(line); },
    maxRecords: 4 * REQUESTS + 100,
  });
  const once = async (req) => {
    const { response, done } = host.run(req);
    const res = await response;
    const body = await res.text();
    const stats = await done;
    return { status: res.status, body, stats };
  };
  const health = [];
  const posts = [];
  try {
    for (let i = 0; i < REQUESTS; i++) {
      const h = await once({ method: 'GET', url: 'http://127.0.0.1/healthz' });
      if (h.status !== 200) throw new Error(`GET /healthz answered ${h.status}: ${h.body}`);
      health.push(h.stats);
      const p = await once({ method: 'POST', url: `http://127.0.0.1/hook/${TOKEN}`, headers: FORM, body: withSid(complete, sidFor('FASTLY', i)) });
      if (p.status !== 200 || JSON.parse(p.body).status !== 'accepted') throw new Error(`POST /hook answered ${p.status}: ${p.body}\n${hostNotes.join('\n')}`);
      posts.push(p.stats);
    }
    await host.idle();
  } finally {
    await host.close();
    await receiver.close();
  }
  const pick = (xs, k) => xs.map((s) => s[k]);
  const healthResponse = median(pick(health, 'responseMs'));
  const postResponse = median(pick(posts, 'responseMs'));
  return {
    requests: REQUESTS,
    instantiateMedianMs: median([...pick(health, 'instantiateMs'), ...pick(posts, 'instantiateMs')]),
    firstRun: { instantiateMs: health[0].instantiateMs, responseMs: health[0].responseMs },
    healthzResponseMedianMs: healthResponse,
    postResponseMedianMs: postResponse,
    postResponseP90Ms: quantile(pick(posts, 'responseMs'), 0.9),
    postTotalMedianMs: median(pick(posts, 'totalMs')),
    engineHandleKvMs: postResponse - healthResponse,
    deliveriesReceived: receiver.received(),
    hostcallsPerPost: posts[0]?.hostcalls ?? {},
    hostNotes,
  };
}

// ---- the Worker in workerd ------------------------------------------------------------------

async function workerdDev() {
  const { startWranglerDev, wranglerSkip } = await import(pathToFileURL(path('tests/js/wrangler.mjs')));
  if (wranglerSkip) return { skipped: wranglerSkip };
  if (!existsSync(path('bindings/js/dist/callhook_wasm.wasm'))) return { skipped: 'the npm package is not built (bash bindings/js/build.sh)' };
  if (!existsSync(path('examples/playground/index.html'))) return { skipped: 'examples/playground/index.html is missing' };
  const receiver = await startReceiver();
  const dir = mkdtempSync(join(os.tmpdir(), 'callhook-edge-workerd-'));
  const config = configOn(receiver.origin);
  const vars = Object.entries(SECRETS).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join('\n');
  const toml = readFileSync(path('functions/cloudflare/wrangler.toml'), 'utf8')
    .replace(/^main = .*$/m, `main = ${JSON.stringify(path('functions/cloudflare/src/worker.js'))}`)
    .replace(/^directory = .*$/m, `directory = ${JSON.stringify(path('examples/playground'))}`)
    .replace(/^CALLHOOK_CONFIG = .*$/m, `CALLHOOK_CONFIG = ${JSON.stringify(JSON.stringify(config))}\n${vars}`);
  const timed = async (url, init) => {
    const a = performance.now();
    const r = await fetch(url, init);
    const body = await r.text();
    return { status: r.status, body, ms: performance.now() - a };
  };
  let n = 0;
  const post = (base) => timed(`${base}/hook/${TOKEN}`, { method: 'POST', headers: FORM, body: withSid(complete, sidFor('WORKERD', n++)) });
  const expect = (r, what, dev) => {
    const accepted = what !== 'POST' || JSON.parse(r.body).status === 'accepted';
    if (r.status !== 200 || !accepted) throw new Error(`${what} answered ${r.status}: ${r.body}\n${dev.output().slice(-3000)}`);
    return r.ms;
  };
  // One `wrangler dev` with a fresh state folder. Ready when the playground's index.html is
  // served: that request goes to the assets, not to the Worker, so the Worker has instantiated
  // nothing and built no engine when `fn` runs.
  const withDev = async (fn) => {
    const runDir = mkdtempSync(join(dir, 'run-'));
    const started = performance.now();
    const dev = await startWranglerDev({ toml, dir: runDir, readyPath: '/', timeoutMs: 120000 });
    const readyMs = performance.now() - started;
    try {
      return { readyMs, ...(await fn(dev)) };
    } finally {
      await dev.stop();
    }
  };
  try {
    // The main run: the first POST (cold), then warm POSTs and /healthz, interleaved.
    const main = await withDev(async (dev) => {
      const first = expect(await post(dev.base), 'POST', dev);
      const warm = [];
      const health = [];
      for (let i = 1; i < REQUESTS; i++) {
        health.push(expect(await timed(`${dev.base}/healthz`), 'GET /healthz', dev));
        warm.push(expect(await post(dev.base), 'POST', dev));
      }
      await waitUntil(() => receiver.received() >= 4 * REQUESTS, 5000);
      return { first, warm, health, delivered: receiver.received() };
    });
    // More starts for the cold numbers: a first POST; and a first /healthz (instantiate and
    // engine from config, no Durable Object) followed by a first POST (engine built already).
    const firstPosts = [main.first];
    const firstHealth = [];
    const postAfterHealth = [];
    for (let r = 1; r < COLD_RUNS; r++) {
      firstPosts.push((await withDev(async (dev) => ({ ms: expect(await post(dev.base), 'POST', dev) }))).ms);
    }
    for (let r = 0; r < COLD_RUNS; r++) {
      const b = await withDev(async (dev) => ({
        health: expect(await timed(`${dev.base}/healthz`), 'GET /healthz', dev),
        post: expect(await post(dev.base), 'POST', dev),
      }));
      firstHealth.push(b.health);
      postAfterHealth.push(b.post);
    }
    return {
      requests: REQUESTS, coldRuns: COLD_RUNS, wranglerReadyMs: main.readyMs,
      firstPostMs: median(firstPosts), firstPostRunsMs: firstPosts,
      firstHealthzMs: median(firstHealth), firstHealthzRunsMs: firstHealth,
      firstPostAfterHealthzMs: median(postAfterHealth), firstPostAfterHealthzRunsMs: postAfterHealth,
      warmPostMedianMs: median(main.warm), warmPostP90Ms: quantile(main.warm, 0.9), healthzMedianMs: median(main.health),
      deliveriesReceived: main.delivered,
    };
  } finally {
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (opts.probe === 'package') {
  process.stdout.write(JSON.stringify(await packageInNode()));
  process.exit(0);
}

// ---- the report -------------------------------------------------------------------------------

const parts = new Set(opts.only.split(','));
async function step(part, name, fn) {
  if (!parts.has(part)) return { skipped: `not measured (--only ${opts.only})` };
  progress(name);
  try {
    return await fn();
  } catch (e) {
    progress(`${name}: ${e?.stack ?? e}`);
    return { skipped: `failed: ${String(e?.message ?? e).split('\n')[0]}`, error: String(e?.stack ?? e) };
  }
}

const cpuModel = (() => {
  try {
    return /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? os.cpus()[0]?.model;
  } catch {
    return os.cpus()[0]?.model ?? 'unknown';
  }
})();
const versionOf = (pkg) => {
  try {
    return JSON.parse(readFileSync(path(`node_modules/${pkg}/package.json`), 'utf8')).version;
  } catch {
    return null;
  }
};
const gitDescribe = run('git', ['-C', root, 'describe', '--always', '--dirty']).stdout.trim() || null;

const results = {
  date: new Date().toISOString(),
  command: opts.command,
  machine: { cpu: cpuModel, cores: os.cpus().length, node: process.version, platform: `${os.type()} ${os.release()} ${os.arch()}`, wrangler: versionOf('wrangler'), workerd: versionOf('workerd') },
  commit: gitDescribe,
  requests: REQUESTS,
  budgetGzipBytes: BUDGET,
};

// Sizes and sections.
const wasmArtifacts = [
  { key: 'emscripten', label: 'npm package (Emscripten)', file: path('bindings/js/dist/callhook_wasm.wasm'), build: 'bash bindings/js/build.sh' },
  { key: 'wasi', label: 'WASI command', file: path('build/wasi/callhook.wasm'), build: 'cmake --preset wasi && cmake --build --preset wasi' },
  { key: 'fastly', label: 'Fastly program', file: path('build/wasi/callhook-fastly.wasm'), build: 'cmake --preset wasi && cmake --build --preset wasi' },
];
results.sizes = await step('sizes', 'sizes', () => {
  const out = {};
  for (const a of wasmArtifacts) {
    if (!existsSync(a.file)) { out[a.key] = { skipped: `missing (${a.build})` }; continue; }
    const info = parseWasm(readFileSync(a.file));
    out[a.key] = { ...fileSize(a.file), sections: info.sections.map(({ name, bytes }) => ({ name, bytes })), summary: sectionSummary(info), functions: info.functions.length, importedFunctions: info.importedFunctions, exports: info.exports.map((e) => `${e.name} (${e.kind})`) };
  }
  const glue = path('bindings/js/dist/callhook_wasm.mjs');
  if (existsSync(glue)) out.emscriptenGlue = fileSize(glue);
  const pkg = path('functions/fastly/pkg/callhook.tar.gz');
  out.fastlyPackage = existsSync(pkg) ? { path: rel(pkg), bytes: statSync(pkg).size } : { skipped: 'missing (bash functions/fastly/build.sh)' };
  return out;
});
results.sizes.worker = await step('worker', 'worker bundle (wrangler deploy --dry-run)', workerBundle);

results.attribution = await step('attribution', 'code attribution (relinking build/wasi with a name section)', () => {
  const dir = mkdtempSync(join(os.tmpdir(), 'callhook-edge-relink-'));
  try {
    const out = {};
    for (const [key, output] of [['wasi', 'callhook.wasm'], ['fastly', 'callhook-fastly.wasm']]) {
      const shipped = path(`build/wasi/${output}`);
      if (!existsSync(shipped) || !existsSync(path('build/wasi/build.ninja'))) { out[key] = { skipped: 'build/wasi is not built' }; continue; }
      try {
        out[key] = attributeCode(output, parseWasm(readFileSync(shipped)), dir);
      } catch (e) {
        out[key] = { skipped: `failed: ${String(e?.message ?? e).split('\n')[0]}` };
      }
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Timings: the package in fresh processes that have run nothing else.
results.package = await step('package', `npm package in Node (${COLD_RUNS} processes)`, packageRuns);
results.native = await step('native', 'native benchmark', nativeBench);
results.fastly = await step('fastly', `Fastly program in the Node host (${REQUESTS} × healthz + POST)`, fastlyHost);
results.workerd = await step('workerd', `Worker in workerd (wrangler dev --local, ${REQUESTS} requests)`, workerdDev);

// ---- Markdown -------------------------------------------------------------------------------

const md = [];
const say = (...lines) => md.push(...lines);
const skipped = (x) => x?.skipped;
const native = skipped(results.native) ? null : results.native;

say('## Edge report: size and start-up',
  '',
  `Produced by \`${results.command}\` on ${results.date.slice(0, 16).replace('T', ' ')} UTC.`,
  `Machine: ${results.machine.cpu}, ${results.machine.cores} cores; Node ${results.machine.node}; ` +
    `wrangler ${results.machine.wrangler ?? '–'} (workerd ${results.machine.workerd ?? '–'}); ${results.machine.platform}; commit ${results.commit ?? '–'}.`,
  `Requests per measurement: ${REQUESTS}. Every request stays on 127.0.0.1.`,
  '');

// Sizes.
say('### Sizes', '', `Budget: every wasm under ${int(BUDGET)} bytes (300 KB) of gzip -9 (zlib level 9).`, '');
if (skipped(results.sizes)) say(`Sizes: ${results.sizes.skipped}`, '');
else {
  const rows = [];
  const S = results.sizes;
  for (const a of wasmArtifacts) {
    const s = S[a.key];
    if (!s || skipped(s)) { rows.push([a.label, 'wasm', '–', '–', skipped(s) ?? '–']); continue; }
    rows.push([`${a.label}: \`${s.path}\``, 'wasm', int(s.bytes), int(s.gzip), s.gzip < BUDGET ? `OK (${pct(s.gzip, BUDGET)} of budget)` : `**OVER** by ${int(s.gzip - BUDGET)}`]);
  }
  if (S.emscriptenGlue) rows.push([`npm package JS glue: \`${S.emscriptenGlue.path}\``, 'js', int(S.emscriptenGlue.bytes), int(S.emscriptenGlue.gzip), '']);
  if (skipped(S.fastlyPackage)) rows.push(['Fastly package', 'tar.gz', '–', '–', S.fastlyPackage.skipped]);
  else rows.push([`Fastly package: \`${S.fastlyPackage.path}\``, 'tar.gz', int(S.fastlyPackage.bytes), '(is gzip)', 'what `fastly compute deploy` uploads']);
  const W = S.worker;
  if (skipped(W)) rows.push(['Worker bundle', '–', '–', '–', esc(W.skipped.split('\n')[0])]);
  else {
    for (const f of W.js) rows.push([`Worker bundle: \`${f.path}\``, 'js', int(f.bytes), int(f.gzip), '']);
    for (const f of W.wasm) rows.push([`Worker bundle: \`${f.path.replace(/^[0-9a-f]{40}-/, '<hash>-')}\``, 'wasm', int(f.bytes), int(f.gzip), f.gzip < BUDGET ? `OK (${pct(f.gzip, BUDGET)} of budget)` : `**OVER** by ${int(f.gzip - BUDGET)}`]);
    const up = W.wranglerTotalUpload;
    rows.push(['Worker bundle: total (js + wasm)', '', int(W.total.bytes), int(W.total.gzip),
      up ? `wrangler: Total Upload ${up.kib} KiB / gzip ${up.gzipKib} KiB` : 'wrangler printed no Total Upload']);
  }
  say(table(['Artifact', 'Kind', 'Bytes', 'gzip -9', 'Budget / note'], rows, 'llrrl'), '');
  say('The Worker bundle\'s wasm is the npm package\'s (wrangler bundles `bindings/js` through the workspace); the source map wrangler writes next to it is not uploaded.', '');
}

// Sections.
say('### Where the bytes go', '', '**Sections** (bytes including each section\'s header; % of the file):', '');
if (!skipped(results.sizes)) {
  const keys = wasmArtifacts.filter((a) => results.sizes[a.key] && !skipped(results.sizes[a.key]));
  const names = [];
  for (const a of keys) for (const s of results.sizes[a.key].sections) if (!names.includes(s.name)) names.push(s.name);
  const rows = names.map((n) => [n, ...keys.map((a) => {
    const s = results.sizes[a.key].sections.filter((x) => x.name === n).reduce((t, x) => t + x.bytes, 0);
    return s ? `${int(s)} (${pct(s, results.sizes[a.key].bytes)})` : '–';
  })]);
  rows.push(['functions defined / imported', ...keys.map((a) => `${int(results.sizes[a.key].functions)} / ${int(results.sizes[a.key].importedFunctions)}`)]);
  say(table(['Section', ...keys.map((a) => a.label)], rows), '');
  say('The shipped builds carry no name section: `-Wl,--strip-all` for the WASI builds; emcc at -O3 keeps no names. Code and data are nearly all of every file.', '');
}

// Code attribution.
{
  const A = results.attribution;
  const parts = [['wasi', 'WASI command'], ['fastly', 'Fastly program']].filter(([k]) => A?.[k] && !skipped(A[k]));
  if (skipped(A) || !parts.length) {
    say(`Code attribution skipped: ${skipped(A) ?? (A && Object.values(A).map(skipped).filter(Boolean).join('; '))}`, '');
  } else {
    const first = A[parts[0][0]];
    say('**Code by origin.** Each WASI build is relinked from build/wasi\'s objects into a temporary folder with the same wasm-ld ' +
      'arguments less `--strip-all` (so the name section stays; DWARF is still dropped), with `--no-demangle` and a link map ' +
      '(`--Map`, which names the object each function was taken from). Functions are grouped by the owner of their mangled ' +
      `name (demangled with ${first.linked.demangler ?? 'nothing: no c++filt found'}); std:: templates compiled in the project's ` +
      'objects are split by whether they are instantiated over nlohmann types. Bytes are code-section entries (body and locals).', '');
    for (const [k, label] of parts) {
      const a = A[k];
      if (a.wasmOpt) {
        say(`- ${label}: clang's driver runs \`${a.wasmOpt}\` after wasm-ld because binaryen is installed; it shrinks the code ` +
          `from ${int(a.linkedCodeSection)} to ${int(a.shippedCodeSection)} bytes (${pct(a.shippedCodeSection - a.linkedCodeSection, a.linkedCodeSection)}), ` +
          `${int(a.linked.functions)} → ${int(a.shipped.functions)} functions. The relinked copy repeats that step with \`-g\` (names kept)` +
          (a.sameCodeAsShipped ? ' and its code section is byte-for-byte the size of the shipped one.' : `, but its code section is ${int(a.relinkedCodeSection)} bytes: build/wasi's objects are newer than the shipped wasm.`));
      } else if (!a.sameCodeAsShipped) {
        say(`- ${label}: the relinked code section is ${int(a.relinkedCodeSection)} bytes, the shipped one ${int(a.shippedCodeSection)}: build/wasi's objects are newer than the shipped wasm.`);
      }
    }
    say('', 'Columns "linked" are wasm-ld\'s output (each function as compiled: the fair attribution); "shipped" is after ' +
      'wasm-opt, which inlines across owners (e.g. the Fastly program\'s `main` ends up inside the linker-made `_start` wrapper).', '');
    const cols = [];
    for (const [k, label] of parts) {
      cols.push({ label: `${label}, linked`, a: A[k].linked });
      if (A[k].wasmOpt) cols.push({ label: `${label}, shipped`, a: A[k].shipped });
    }
    const union = (pick) => {
      const names = [];
      for (const c of cols) for (const g of pick(c.a)) if (!names.includes(g.name)) names.push(g.name);
      return names;
    };
    const cellOf = (list, name, whole) => {
      const g = list.find((x) => x.name === name);
      return g ? `${int(g.bytes)} (${pct(g.bytes, whole)})` : '–';
    };
    const ownerRows = union((a) => a.owners).map((n) => [esc(n), ...cols.map((c) => cellOf(c.a.owners, n, c.a.codeBytes))]);
    ownerRows.push(['**all code**', ...cols.map((c) => `**${int(c.a.codeBytes)}** (${int(c.a.functions)} functions)`)]);
    say(table(['Owner', ...cols.map((c) => c.label)], ownerRows), '');

    say('**Code by project source**, as linked: every function the link took from that object (its own code and the nlohmann ' +
      'and std templates instantiated there; a template several sources use counts once, for the first object in link order ' +
      'that defines it), of which callhook:: in parentheses. Then the toolchain\'s archives.', '');
    const linkedCols = parts.map(([k, label]) => ({ label, a: A[k].linked }));
    const srcRows = [];
    const sources = [];
    for (const c of linkedCols) for (const g of c.a.projectSources) if (!sources.includes(g.name)) sources.push(g.name);
    const total = (n) => linkedCols.reduce((t, c) => t + (c.a.projectSources.find((x) => x.name === n)?.bytes ?? 0), 0);
    sources.sort((x, y) => total(y) - total(x));
    for (const n of sources) {
      srcRows.push([`\`${n}\``, ...linkedCols.map((c) => {
        const g = c.a.projectSources.find((x) => x.name === n);
        return g ? `${int(g.bytes)} (${int(g.callhook)})` : '–';
      })]);
    }
    const archives = [];
    for (const c of linkedCols) for (const g of c.a.archives) if (!archives.includes(g.name)) archives.push(g.name);
    for (const n of archives) {
      srcRows.push([`\`${n}\``, ...linkedCols.map((c) => int(c.a.archives.find((x) => x.name === n)?.bytes ?? null))]);
    }
    say(table(['Source', ...linkedCols.map((c) => `${c.label} (callhook::)`)], srcRows), '');

    for (const [k, label] of parts) {
      say(`**Largest functions, ${label}, shipped:**`, '');
      say(table(['Bytes', 'Function', 'From'], A[k].shipped.top.map((f) => [int(f.bytes), `\`${esc(shorten(readable(f.name), 110))}\``, `\`${f.source}\``]), 'rll'), '');
    }
    say('**Data**, by where the link took it from (as linked):', '');
    const dataNames = [];
    for (const [k] of parts) for (const g of A[k].data.slice(0, 8)) if (!dataNames.includes(g.name)) dataNames.push(g.name);
    const dataRows = dataNames.map((n) => [`\`${esc(n)}\``, ...parts.map(([k]) => int(A[k].data.find((x) => x.name === n)?.bytes ?? null))]);
    dataRows.push(['**all data**', ...parts.map(([k]) => `**${int(A[k].data.reduce((t, x) => t + x.bytes, 0))}**`)]);
    say(table(['From', ...parts.map(([, l]) => l)], dataRows), '');
  }
}

// Timings.
say('### Start-up and per-request time', '');
if (native) {
  say(`**Native** (\`build/native/callhook_bench\`, median of 3 repetitions): engine from \`examples/configs/example.json\` ` +
    `${us(native.fromConfigMs)}, handle of \`examples/payloads/complete.form\` on it (4 deliveries rendered) ${us(native.handleMs)}; ` +
    `together ${us(native.coldMs)}. These are the denominators below.`, '');
} else {
  say(`Native: ${results.native.skipped}`, '');
}
const F = results.fastly;
const P = results.package;
const Wd = results.workerd;
{
  const rows = [];
  if (native) {
    rows.push(['native', 'engine from config + handle', us(native.coldMs), '1×']);
    rows.push(['native', 'handle', us(native.handleMs), '1×']);
  }
  if (!skipped(P)) {
    const N = 'npm package in Node';
    rows.push([N, '`init()`: read, compile and instantiate the wasm', ms(P.initMs), '']);
    rows.push([N, 'first `createEngine(config)`', ms(P.createEngineMs), ratio(P.createEngineMs, native?.fromConfigMs)]);
    rows.push([N, `cold: \`init()\` + \`createEngine\` + first \`handle\` (median of ${P.runs} processes: ${P.coldRunsMs.map((x) => x.toFixed(0)).join(', ')} ms)`, ms(P.coldMs), ratio(P.coldMs, native?.coldMs)]);
    rows.push([N, '`createEngine(config)` once warm (median of 20)', ms(P.createEngineWarmMedianMs), ratio(P.createEngineWarmMedianMs, native?.fromConfigMs)]);
    rows.push([N, `\`engine.handle\`, median of ${P.requests - 1} (p90 ${ms(P.handleP90Ms)})`, ms(P.handleMedianMs), ratio(P.handleMedianMs, native?.handleMs)]);
  } else rows.push(['npm package in Node', esc(P.skipped), '', '']);
  if (!skipped(F)) {
    rows.push(['Fastly (Node host)', 'instantiate the program (median of every run)', ms(F.instantiateMedianMs), '']);
    rows.push(['Fastly (Node host)', 'GET /healthz: start to response (no engine built)', ms(F.healthzResponseMedianMs), '']);
    rows.push(['Fastly (Node host)', `POST /hook: start to response (p90 ${ms(F.postResponseP90Ms)})`, ms(F.postResponseMedianMs), ratio(F.postResponseMedianMs, native?.coldMs)]);
    rows.push(['Fastly (Node host)', 'POST − healthz: engine from config + handle + KV hostcalls', ms(F.engineHandleKvMs), ratio(F.engineHandleKvMs, native?.coldMs)]);
    rows.push(['Fastly (Node host)', 'POST: start to exit (after the 4 deliveries to loopback)', ms(F.postTotalMedianMs), '']);
  } else rows.push(['Fastly (Node host)', esc(F.skipped), '', '']);
  if (!skipped(Wd)) {
    const W = 'workerd (wrangler dev)';
    const floor = Wd.healthzMedianMs;
    rows.push([W, `GET /healthz, engine cached: the HTTP floor (median of ${Wd.requests - 1})`, ms(floor), '']);
    const runs = (xs) => xs.map((x) => x.toFixed(0)).join(', ');
    rows.push([W, `cold: first POST after start (median of ${Wd.coldRuns} starts: ${runs(Wd.firstPostRunsMs)} ms)`, ms(Wd.firstPostMs), ratio(Wd.firstPostMs, native?.coldMs)]);
    rows.push([W, 'cold first POST − floor', ms(Wd.firstPostMs - floor), ratio(Wd.firstPostMs - floor, native?.coldMs)]);
    rows.push([W, `first GET /healthz after start − floor: instantiate + engine from config (median of ${Wd.coldRuns}; first /healthz ${runs(Wd.firstHealthzRunsMs)} ms)`, ms(Wd.firstHealthzMs - floor), ratio(Wd.firstHealthzMs - floor, native?.fromConfigMs)]);
    rows.push([W, `first POST after that /healthz (engine built; first Durable Object and Queue use; ${runs(Wd.firstPostAfterHealthzRunsMs)} ms)`, ms(Wd.firstPostAfterHealthzMs), '']);
    rows.push([W, `warm POST, median of ${Wd.requests - 1} (p90 ${ms(Wd.warmPostP90Ms)})`, ms(Wd.warmPostMedianMs), ratio(Wd.warmPostMedianMs, native?.handleMs)]);
    rows.push([W, 'warm POST − floor', ms(Wd.warmPostMedianMs - floor), ratio(Wd.warmPostMedianMs - floor, native?.handleMs)]);
  } else rows.push(['workerd (wrangler dev)', esc(Wd.skipped.split('\n')[0]), '', '']);
  say(table(['Target', 'What', 'Time', '× native'], rows, 'llrr'), '');
  say('× native: cold start rows against native engine from config + handle, engine-only rows against native engine from config, ' +
    'per-request rows against native handle.', '');
}
say('What the numbers include:', '');
if (native) {
  say('- **native**: Google Benchmark in one process, engine and payload in memory, nothing sent: the core\'s own work.');
}
if (!skipped(P)) {
  say(`- **npm package**: a fresh Node process per cold measurement (${P.runs}; medians shown), importing \`bindings/js/index.js\` ` +
    `(${ms(P.importMs)}) before \`init()\`; \`handle\` is called directly, no HTTP, with a fresh Call.Sid each time and no record, ` +
    `as the native benchmark does (${P.deliveriesPerRequest} deliveries rendered, none sent). The first \`createEngine\` and \`handle\` ` +
    'also pay V8 compiling the functions they run for the first time.');
}
if (!skipped(F)) {
  const kv = Object.entries(F.hostcallsPerPost).filter(([n]) => n.startsWith('fastly_kv')).reduce((n, [, c]) => n + c, 0);
  say(`- **Fastly**: the repository's Node host (\`functions/fastly/host\`: node:wasi and the Compute hostcalls in a worker thread), ` +
    'one fresh instance per request as on Fastly, so every request is a cold start; the compiled module is shared by the runs. ' +
    `Times are the host's, from the start of the instance. ${REQUESTS} GET /healthz and ${REQUESTS} POSTs of the Complete (each with its own Call.Sid), ` +
    'interleaved, one at a time. A POST builds the engine from the compiled-in example config, handles, reads and writes the KV Store ' +
    `(${kv} KV hostcalls) and writes the outbox before it answers; after answering it sends the 4 deliveries to the loopback receiver ` +
    `(${F.deliveriesReceived} arrived). The first run of the process took ${ms(F.firstRun.instantiateMs)} to instantiate. ` +
    'This is V8 running the program, not Fastly\'s Wasmtime: it measures the program\'s work, not Fastly\'s latency.');
}
if (!skipped(Wd)) {
  say('- **workerd**: `wrangler dev --local` (the real workerd) with the example config as `CALLHOOK_CONFIG` and its destinations ' +
    'on a loopback receiver. Clocks inside workerd do not advance while a request runs, so every time is taken by the client: Node\'s ' +
    'fetch over loopback HTTP to wrangler\'s proxy, which forwards to workerd. A start is ready when the playground\'s index.html is ' +
    'served, by the assets and not the Worker, so the first request then finds no instance of the wasm and no engine. The cold first POST ' +
    'pays instantiation, engine from config, handle, the first Durable Object and the first Queue send, and the warm-up of the Worker\'s JS; ' +
    'a first /healthz pays only instantiation and the engine. With correlation on (the default) every POST goes to its call\'s Durable ' +
    `Object, a new one each time here. wrangler took ${ms(Wd.wranglerReadyMs)} from spawn to ready (bundling, starting workerd, ` +
    `loading the Worker). ${Wd.deliveriesReceived} of ${4 * REQUESTS} deliveries had come through the Queue to the receiver by the end.`);
}
say('');

const text = md.join('\n');
const outBase = resolve(root, opts.out);
mkdirSync(join(outBase, '..'), { recursive: true });
writeFileSync(`${outBase}.md`, `${text}\n`);
writeFileSync(`${outBase}.json`, `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(`${text}\n`);
const shown = rel(outBase).startsWith('..') ? outBase : rel(outBase);
progress(`wrote ${shown}.md and ${shown}.json`);
