#!/usr/bin/env bash
# Builds the package's wasm module with the emscripten preset and copies it into dist/.
# Usage: bash bindings/js/build.sh   (from anywhere)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export NODE_PATH=/usr/share/nodejs  # Debian's emscripten needs it
cd "$root"
cmake --preset emscripten >/dev/null
cmake --build build/emscripten --target callhook_wasm
mkdir -p "$here/dist"
cp build/emscripten/callhook_wasm.mjs build/emscripten/callhook_wasm.wasm "$here/dist/"
for f in callhook_wasm.wasm callhook_wasm.mjs; do
  printf '%-20s %8d bytes, %8d gzipped\n' "$f" "$(stat -c %s "$here/dist/$f")" \
    "$(gzip -9 -c "$here/dist/$f" | wc -c)"
done
