#!/usr/bin/env bash
# Builds the Fastly Compute program, pre-initializes it with Wizer and packs it for
# `fastly compute deploy`, offline.
#   bash functions/fastly/build.sh                 -> bin/main.wasm and pkg/callhook.tar.gz
#   bash functions/fastly/build.sh --compile-only  -> bin/main.wasm (what `fastly compute build` runs)
# CALLHOOK_FASTLY_CONFIG=path/to/config.json compiles another config in.
# bin/main.wasm is build/wasi/callhook-fastly.wizer.wasm: the program as Wizer leaves it after
# calling its `wizer.initialize` (constructors run, the compiled-in config read with its secrets
# left to bind per request: see "start-up" in src/main.cpp), `_start` now `wizer.resume`.
# Wizer is the one `npm ci` installs (@bytecodealliance/wizer), else $WIZER, else `wizer` on PATH.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
configure=(cmake --preset wasi)
if [[ -n "${CALLHOOK_FASTLY_CONFIG:-}" ]]; then
  configure+=("-DCALLHOOK_FASTLY_CONFIG=$(realpath "$CALLHOOK_FASTLY_CONFIG")")
fi
"${configure[@]}" >/dev/null
cmake --build --preset wasi --target callhook_fastly_program
wizer="${WIZER:-$root/node_modules/.bin/wizer}"
if [[ ! -x "$wizer" ]]; then
  wizer="$(command -v wizer || true)"
fi
if [[ -z "$wizer" ]]; then
  echo "build.sh: no Wizer: run npm ci, install @bytecodealliance/wizer, or set WIZER" >&2
  exit 2
fi
# No --allow-wasi: the initializer calls no import (Wizer stops with an error if it tries).
# Wizer leaves an empty output behind when it fails, so it writes beside the result first.
"$wizer" build/wasi/callhook-fastly.wasm --rename-func=_start=wizer.resume \
  -o build/wasi/callhook-fastly.wizer.wasm.tmp
mv build/wasi/callhook-fastly.wizer.wasm.tmp build/wasi/callhook-fastly.wizer.wasm
mkdir -p "$here/bin"
cp build/wasi/callhook-fastly.wizer.wasm "$here/bin/main.wasm"
[[ "${1:-}" == "--compile-only" ]] && exit 0
cd "$here"
# The Fastly CLI: $FASTLY_CLI, else the one npm ci installs on Linux x64 (the optional dependency
# @fastly/cli-linux-x64 in the root package.json), else `fastly` on PATH. pack needs no account.
fastly="${FASTLY_CLI:-$root/node_modules/@fastly/cli-linux-x64/fastly}"
if [[ ! -x "$fastly" ]]; then
  fastly="$(command -v fastly || true)"
fi
if [[ -z "$fastly" ]]; then
  echo "build.sh: no Fastly CLI: run npm ci (Linux x64), install it, or set FASTLY_CLI" >&2
  exit 2
fi
FASTLY_DISABLE_TELEMETRY=1 "$fastly" compute pack --wasm-binary bin/main.wasm
ls -l pkg/callhook.tar.gz
