// Runs the WASI build of the CLI under Node's WASI: node run-wasi.mjs callhook.wasm ARGS...
// The current directory is preopened, so relative paths work as they do natively, and the
// environment is passed through (the CLI reads ${NAME} secrets from it).
import { WASI } from 'node:wasi';
import { readFileSync } from 'node:fs';

const [wasmPath, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: ['callhook', ...args], env: process.env, preopens: { '.': '.' }, returnOnExit: true });
const module = await WebAssembly.compile(readFileSync(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
