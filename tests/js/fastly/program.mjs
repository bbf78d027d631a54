// Which build of the Fastly program the Fastly tests run.
//
// CALLHOOK_FASTLY_WASM names one (a build in your own folder). Otherwise the pre-initialized
// program functions/fastly/build.sh writes (build/wasi/callhook-fastly.wizer.wasm, what it packs)
// when it is there and no older than the program it was made from, else that program as CMake
// builds it (build/wasi/callhook-fastly.wasm): a wasi build newer than the last build.sh is tested
// as it is, never through a stale snapshot.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../../../', import.meta.url).pathname;

export const plainProgram = join(root, 'build/wasi/callhook-fastly.wasm');
export const wizenedProgram = join(root, 'build/wasi/callhook-fastly.wizer.wasm');

function pick() {
  if (process.env.CALLHOOK_FASTLY_WASM) return process.env.CALLHOOK_FASTLY_WASM;
  if (existsSync(wizenedProgram)
      && (!existsSync(plainProgram) || statSync(wizenedProgram).mtimeMs >= statSync(plainProgram).mtimeMs)) {
    return wizenedProgram;
  }
  return plainProgram;
}

/** The program the Fastly tests run. */
export const programPath = pick();
