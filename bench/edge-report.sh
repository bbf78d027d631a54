#!/usr/bin/env bash
# The edge report: size and start-up of every edge artifact (the npm package's wasm, the WASI
# command, the Fastly program and its package, the Worker bundle), with ratios to native.
# Builds whatever artifact is missing, then runs bench/edge-report.mjs, which prints the report
# as Markdown and writes it to build/edge-report.md, with the raw numbers in build/edge-report.json.
#
#   bash bench/edge-report.sh [REQUESTS]    requests per timing (default 200)
#
# EDGE_REPORT_REBUILD=1 runs every build step even when its artifact exists (ninja then rebuilds
# only what is out of date). Build output goes to stderr; stdout is the report alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
requests=${1:-200}
if ! [[ "$requests" =~ ^[0-9]+$ ]] || (( requests < 5 )); then
  echo "usage: bash bench/edge-report.sh [REQUESTS]   (REQUESTS: 5 or more, default 200)" >&2
  exit 2
fi
export NODE_PATH=/usr/share/nodejs  # Debian's emscripten needs it
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
rebuild=${EDGE_REPORT_REBUILD:-0}

note() { printf 'edge-report: %s\n' "$*" >&2; }
missing() { [[ "$rebuild" == 1 ]] || [[ ! -e "$1" ]]; }

# Native: the benchmark whose engine-from-config and handle times are the denominators. A binary
# built before BM_EngineFromConfig existed counts as missing.
bench=build/native/callhook_bench
if missing "$bench" || ! "$bench" --benchmark_list_tests 2>/dev/null | grep -qx 'BM_EngineFromConfig'; then
  note "building $bench"
  cmake --preset native >/dev/null
  cmake --build --preset native --target callhook_bench >&2
fi

# WASI: the command and the Fastly program (the report also relinks them from build/wasi).
if missing build/wasi/callhook.wasm || missing build/wasi/callhook-fastly.wasm; then
  note "building the wasi preset"
  cmake --preset wasi >/dev/null
  cmake --build --preset wasi >&2
fi

# The Fastly package (fastly compute pack, offline).
if missing functions/fastly/pkg/callhook.tar.gz; then
  note "packing the Fastly program"
  bash functions/fastly/build.sh >&2
fi

# The npm package (Emscripten); the Worker bundles it.
if [[ "$rebuild" == 1 ]] || ! compgen -G 'bindings/js/dist/*.wasm' >/dev/null; then
  note "building the npm package"
  bash bindings/js/build.sh >&2
fi

if [[ ! -e node_modules/wrangler/bin/wrangler.js ]]; then
  note "node_modules has no wrangler: the Worker rows are skipped (bash scripts/setup.sh installs it)"
fi

command="bash bench/edge-report.sh${1:+ $1}"
exec node bench/edge-report.mjs --requests "$requests" --command "$command"
