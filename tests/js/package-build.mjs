// Makes sure bindings/js/dist holds the newest Emscripten build for the package tests: a
// fresher build/emscripten output (what `cmake --build` leaves) is copied there first, as
// bindings/js/build.sh would. Exports `packageSkip`: false, or why the package tests skip.
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
export const packageDir = join(root, 'bindings/js');

function builtPackage() {
  const files = ['callhook_wasm.mjs', 'callhook_wasm.wasm'];
  const built = join(root, 'build/emscripten');
  if (files.every((f) => existsSync(join(built, f)))) {
    mkdirSync(join(packageDir, 'dist'), { recursive: true });
    for (const f of files) {
      const target = join(packageDir, 'dist', f);
      if (!existsSync(target) || statSync(target).mtimeMs < statSync(join(built, f)).mtimeMs) {
        copyFileSync(join(built, f), target);
      }
    }
  }
  return files.every((f) => existsSync(join(packageDir, 'dist', f)));
}

export const packageSkip = builtPackage()
  ? false
  : 'the Emscripten build output is absent: run `bash bindings/js/build.sh` first';
