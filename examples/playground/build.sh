#!/usr/bin/env bash
# Copies the npm package (bindings/js) into examples/playground/vendor/ so the page can import
# ./vendor/index.js from the same origin. Builds the package's wasm first if dist/ is missing.
# Usage: bash examples/playground/build.sh   (from anywhere); then serve examples/playground/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pkg="$(cd "$here/../../bindings/js" && pwd)"
if [[ ! -f "$pkg/dist/callhook_wasm.wasm" || ! -f "$pkg/dist/callhook_wasm.mjs" ]]; then
  bash "$pkg/build.sh"
fi
rm -rf "$here/vendor"
mkdir -p "$here/vendor/dist"
cp "$pkg"/{index.js,stores.js,delivery.js,fetch-handler.js} "$here/vendor/"
cp "$pkg"/dist/* "$here/vendor/dist/"   # index.js loads ./dist/callhook_wasm.{mjs,wasm}
echo "playground ready: serve $here as static files (or run scripts/start.sh and open http://127.0.0.1:8787/)"
