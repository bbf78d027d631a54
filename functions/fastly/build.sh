#!/usr/bin/env bash
# Builds the Fastly Compute program and packs it for `fastly compute deploy`, offline.
#   bash functions/fastly/build.sh                 -> bin/main.wasm and pkg/callhook.tar.gz
#   bash functions/fastly/build.sh --compile-only  -> bin/main.wasm (what `fastly compute build` runs)
# CALLHOOK_FASTLY_CONFIG=path/to/config.json compiles another config in.
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
mkdir -p "$here/bin"
cp build/wasi/callhook-fastly.wasm "$here/bin/main.wasm"
[[ "${1:-}" == "--compile-only" ]] && exit 0
cd "$here"
# The CLI comes from the repository's devDependencies (@fastly/cli); pack needs no account.
FASTLY_DISABLE_TELEMETRY=1 "$root/node_modules/.bin/fastly" compute pack --wasm-binary bin/main.wasm
ls -l pkg/callhook.tar.gz
