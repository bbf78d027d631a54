// A small reader for the Fastly Compute ABI (the witx files in shared/fastly-abi) and for the
// import section of a wasm binary, so that a program's imports can be checked against the ABI
// before it runs.
//
// The witx files are s-expressions: `(use "file.witx")` includes, `(typename $name type)`
// definitions and `(module $name (@interface func (export "name") (param ...) (result ...)))`.
// A function is lowered to core wasm types the way wiggle (and so Viceroy and Fastly) lowers it:
//   - handles, u8/u16/u32/s8/s16/s32, char8, usize, enums and flags with a 32-bit repr, and
//     pointers are i32; u64 and s64 (and 64-bit reprs) are i64;
//   - `string` and `(list T)` are two i32 (pointer, length);
//   - a result `(expected T (error $fastly_status))` returns the error type (i32) and T is written
//     through an out-pointer appended to the parameters; a tuple gets one out-pointer per element.

import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Where the witx files are by default: $CALLHOOK_FASTLY_ABI if set, else `shared/fastly-abi`
 * inside the repository, else beside it.
 * @returns {string|null} a directory holding compute-at-edge.witx, or null when none is found
 */
export function defaultWitxDir() {
  const repo = resolve(here, '../../..');
  const candidates = [
    process.env.CALLHOOK_FASTLY_ABI,
    join(repo, 'bindings', 'fastly', 'witx'),
    join(repo, 'shared', 'fastly-abi'),
    join(repo, '..', 'shared', 'fastly-abi'),
  ].filter(Boolean);
  for (const dir of candidates) {
    if (existsSync(join(dir, 'compute-at-edge.witx'))) return dir;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// S-expressions

/**
 * Parses witx text into nested arrays; atoms are strings, quoted strings are `{ str }` objects.
 * @param {string} text
 * @returns {Array<any>} the top-level forms
 */
export function parseSexprs(text) {
  const forms = [];
  const stack = [forms];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === ';' && text[i + 1] === ';') {  // line comment, `;;;` doc comments included
      while (i < n && text[i] !== '\n') i++;
    } else if (c === '(' && text[i + 1] === ';') {  // block comment (; ... ;), nestable
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (text[i] === '(' && text[i + 1] === ';') { depth++; i += 2; }
        else if (text[i] === ';' && text[i + 1] === ')') { depth--; i += 2; }
        else i++;
      }
    } else if (c === '(') {
      const list = [];
      stack[stack.length - 1].push(list);
      stack.push(list);
      i++;
    } else if (c === ')') {
      if (stack.length === 1) throw new SyntaxError(`witx: unbalanced ')' at offset ${i}`);
      stack.pop();
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let s = '';
      while (j < n && text[j] !== '"') {
        if (text[j] === '\\' && j + 1 < n) { s += text[j + 1]; j += 2; } else { s += text[j]; j++; }
      }
      if (j >= n) throw new SyntaxError(`witx: unterminated string at offset ${i}`);
      stack[stack.length - 1].push({ str: s });
      i = j + 1;
    } else if (/\s/.test(c)) {
      i++;
    } else {
      let j = i;
      while (j < n && !/[\s()";]/.test(text[j])) j++;
      stack[stack.length - 1].push(text.slice(i, j));
      i = j;
    }
  }
  if (stack.length !== 1) throw new SyntaxError('witx: unbalanced parentheses (missing ")")');
  return forms;
}

// ---------------------------------------------------------------------------------------------
// witx documents

const I32_ATOMS = new Set(['u8', 'u16', 'u32', 's8', 's16', 's32', 'char8', 'char', 'usize', 'bool']);
const I64_ATOMS = new Set(['u64', 's64']);

/**
 * Reads the witx files of a directory (every `*.witx` in it, following `use` includes; a `use`
 * of a file that is absent is recorded in `missing` and otherwise ignored) and lowers every
 * function.
 * @param {string} witxDir
 * @returns {{functions: Map<string, {module: string, name: string, params: string[], results: string[]}>,
 *            modules: Set<string>, missing: string[], files: string[]}}
 *   `functions` is keyed `module.func`, e.g. `fastly_http_req.send`
 */
export function loadWitx(witxDir) {
  const typenames = new Map();
  const funcs = [];  // {module, name, form}
  const seen = new Set();
  const missing = [];
  const files = [];

  const readFile = (path) => {
    const full = resolve(path);
    if (seen.has(full)) return;
    seen.add(full);
    if (!existsSync(full)) { missing.push(full); return; }
    files.push(full);
    for (const form of parseSexprs(readFileSync(full, 'utf8'))) {
      if (!Array.isArray(form) || form.length === 0) continue;
      const head = form[0];
      if (head === 'use') {
        const target = form[1]?.str;
        if (target) readFile(join(dirname(full), target));
      } else if (head === 'typename') {
        typenames.set(form[1], form[2]);
      } else if (head === 'module') {
        const moduleName = String(form[1]).replace(/^\$/, '');
        for (const item of form.slice(2)) {
          if (!Array.isArray(item) || item[0] !== '@interface' || item[1] !== 'func') continue;
          const exp = item.find((x) => Array.isArray(x) && x[0] === 'export');
          if (!exp) continue;
          funcs.push({ module: moduleName, name: exp[1].str, form: item });
        }
      }
    }
  };

  const entries = readdirSync(witxDir).filter((f) => f.endsWith('.witx')).sort();
  // compute-at-edge.witx first so that its `use` order is the one followed.
  entries.sort((a, b) => (a === 'compute-at-edge.witx' ? -1 : b === 'compute-at-edge.witx' ? 1 : 0));
  for (const f of entries) readFile(join(witxDir, f));

  const resolveType = (t, depth = 0) => {
    if (depth > 64) throw new Error('witx: typename cycle');
    if (typeof t === 'string' && t.startsWith('$')) {
      if (!typenames.has(t)) throw new Error(`witx: unknown type ${t}`);
      return resolveType(typenames.get(t), depth + 1);
    }
    return t;
  };

  const lowerValue = (type) => {
    const t = resolveType(type);
    if (typeof t === 'string') {
      if (I32_ATOMS.has(t)) return ['i32'];
      if (I64_ATOMS.has(t)) return ['i64'];
      if (t === 'f32' || t === 'f64') return [t];
      if (t === 'string') return ['i32', 'i32'];
      throw new Error(`witx: cannot lower type ${t}`);
    }
    const [head, ...rest] = t;
    switch (head) {
      case '@witx':
        if (rest[0] === 'usize' || rest[0] === 'char8') return ['i32'];
        if (rest[0] === 'pointer' || rest[0] === 'const_pointer') return ['i32'];
        throw new Error(`witx: cannot lower (@witx ${rest[0]})`);
      case 'handle':
        return ['i32'];
      case 'enum':
      case 'flags': {
        const repr = rest.find((x) => Array.isArray(x) && x[0] === '@witx' && (x[1] === 'tag' || x[1] === 'repr'));
        return repr ? lowerValue(repr[2]) : ['i32'];
      }
      case 'list':
        return ['i32', 'i32'];
      default:
        throw new Error(`witx: a ${head} cannot be passed by value`);
    }
  };

  const functions = new Map();
  const modules = new Set();
  for (const { module, name, form } of funcs) {
    const params = [];
    const results = [];
    const outs = [];
    for (const part of form) {
      if (!Array.isArray(part)) continue;
      if (part[0] === 'param') params.push(...lowerValue(part[2]));
      if (part[0] === 'result') {
        const r = resolveType(part[2]);
        if (Array.isArray(r) && r[0] === 'expected') {
          const items = r.slice(1);
          const err = items.find((x) => Array.isArray(x) && x[0] === 'error');
          for (const ok of items.filter((x) => x !== err)) {
            const okType = resolveType(ok);
            const elems = Array.isArray(okType) && okType[0] === 'tuple' ? okType.slice(1) : [ok];
            for (let k = 0; k < elems.length; k++) outs.push('i32');
          }
          if (err) results.push(...lowerValue(err[1]));
        } else {
          results.push(...lowerValue(part[2]));
        }
      }
    }
    functions.set(`${module}.${name}`, { module, name, params: [...params, ...outs], results });
    modules.add(module);
  }
  return { functions, modules, missing, files };
}

const witxCache = new Map();

/**
 * Like {@link loadWitx} but memoised per directory.
 * @param {string} witxDir
 * @returns {ReturnType<typeof loadWitx>}
 */
export function witxFunctions(witxDir) {
  const key = resolve(witxDir);
  if (!witxCache.has(key)) witxCache.set(key, loadWitx(key));
  return witxCache.get(key);
}

// ---------------------------------------------------------------------------------------------
// wasm binaries

const VALTYPES = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'funcref', 0x6f: 'externref' };
const KINDS = ['function', 'table', 'memory', 'global', 'tag'];

class Reader {
  constructor(bytes) { this.b = bytes; this.p = 0; }
  byte() {
    if (this.p >= this.b.length) throw new RangeError('wasm: unexpected end of binary');
    return this.b[this.p++];
  }
  u32() {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = this.byte();
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new RangeError('wasm: LEB128 too long');
    }
  }
  name() {
    const len = this.u32();
    if (this.p + len > this.b.length) throw new RangeError('wasm: name past end of binary');
    const s = new TextDecoder('utf-8', { fatal: true }).decode(this.b.subarray(this.p, this.p + len));
    this.p += len;
    return s;
  }
  valtype() {
    const t = this.byte();
    if (!(t in VALTYPES)) throw new Error(`wasm: unsupported value type 0x${t.toString(16)}`);
    return VALTYPES[t];
  }
  limits() {
    const flags = this.byte();
    this.u32();
    if (flags & 1) this.u32();
  }
}

/**
 * Lists the imports of a wasm binary with their kinds and, for functions, their signatures.
 * @param {Uint8Array|ArrayBuffer} bytes a wasm binary
 * @returns {Array<{module: string, name: string, kind: string, params?: string[], results?: string[]}>}
 */
export function wasmImports(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (b.length < 8 || b[0] !== 0 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d) {
    throw new Error('wasm: not a WebAssembly binary (bad magic)');
  }
  if (b[4] !== 1 || b[5] !== 0 || b[6] !== 0 || b[7] !== 0) throw new Error('wasm: not a core module (version 1)');
  const r = new Reader(b);
  r.p = 8;
  const types = [];
  const imports = [];
  while (r.p < b.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.p + size;
    if (end > b.length) throw new RangeError('wasm: section past end of binary');
    if (id === 1) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const form = r.byte();
        if (form !== 0x60) throw new Error(`wasm: unsupported type form 0x${form.toString(16)}`);
        const params = Array.from({ length: r.u32() }, () => r.valtype());
        const results = Array.from({ length: r.u32() }, () => r.valtype());
        types.push({ params, results });
      }
    } else if (id === 2) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const module = r.name();
        const name = r.name();
        const kindByte = r.byte();
        const kind = KINDS[kindByte];
        if (!kind) throw new Error(`wasm: unknown import kind 0x${kindByte.toString(16)}`);
        const entry = { module, name, kind };
        if (kindByte === 0) {
          const t = types[r.u32()];
          if (!t) throw new Error(`wasm: import ${module}.${name} names a missing type`);
          entry.params = t.params;
          entry.results = t.results;
        } else if (kindByte === 1) {
          r.byte();
          r.limits();
        } else if (kindByte === 2) {
          r.limits();
        } else if (kindByte === 3) {
          r.valtype();
          r.byte();
        } else {
          r.byte();
          r.u32();
        }
        imports.push(entry);
      }
      return imports;  // the import section comes right after the type section
    }
    r.p = end;
  }
  return imports;
}

/**
 * Checks a program's imports against the witx ABI.
 * @param {Uint8Array|ArrayBuffer} bytes a wasm binary
 * @param {string} [witxDir] directory of the witx files (default: {@link defaultWitxDir})
 * @returns {Array<{module: string, name: string, code: string, message: string}>} one entry per
 *   problem, `code` being `unknown-module` (neither `wasi_snapshot_preview1` nor a witx module),
 *   `not-in-witx` (a function the witx does not define), `signature` (differs from the witx
 *   lowering) or `not-a-function` (a memory, table, global or tag import). Empty when every
 *   import is one the ABI defines.
 */
export function checkImports(bytes, witxDir = defaultWitxDir()) {
  if (!witxDir) throw new Error('checkImports: no witx directory (set CALLHOOK_FASTLY_ABI)');
  const { functions, modules } = witxFunctions(witxDir);
  const problems = [];
  const sig = (p, r) => `(${p.join(', ')}) -> (${r.join(', ')})`;
  for (const imp of wasmImports(bytes)) {
    const where = `${imp.module}.${imp.name}`;
    const problem = (code, message) => problems.push({ module: imp.module, name: imp.name, code, message: `${where}: ${message}` });
    if (imp.module !== 'wasi_snapshot_preview1' && !modules.has(imp.module)) {
      problem('unknown-module', `module "${imp.module}" is neither wasi_snapshot_preview1 nor a module of the witx`);
      continue;
    }
    if (imp.kind !== 'function') {
      problem('not-a-function', `a ${imp.kind} import; only functions may be imported`);
      continue;
    }
    if (imp.module === 'wasi_snapshot_preview1') continue;
    const want = functions.get(where);
    if (!want) {
      problem('not-in-witx', `not a function of the witx module ${imp.module}`);
      continue;
    }
    if (sig(imp.params, imp.results) !== sig(want.params, want.results)) {
      problem('signature', `signature ${sig(imp.params, imp.results)} differs from the witx ${sig(want.params, want.results)}`);
    }
  }
  return problems;
}
