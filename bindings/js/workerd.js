// The entry Cloudflare Workers (workerd) resolve through the package's "workerd" export
// condition. workerd refuses to compile WebAssembly from bytes at run time, so the .wasm is
// imported as a module (compiled when the Worker is deployed) and becomes what init() loads.
// Everything else is index.js: `import { createEngine } from "callhook"` works unchanged.
import wasm from './dist/callhook_wasm.wasm';
import { setDefaultWasm } from './index.js';

setDefaultWasm(wasm);

export * from './index.js';
