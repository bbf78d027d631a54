#!/usr/bin/env bash
# Throughput of `callhook normalize --ndjson` against the Node pipeline of bench/node-baseline.mjs
# on the same generated file, in one run. Usage: bash bench/compare-node.sh [PAYLOADS]
# Prints payloads/s, MB/s and the ratio; also runs the Google Benchmark of the core.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
count=${1:-50000}
bash scripts/setup.sh
cmake --preset native >/dev/null
cmake --build --preset native --target callhook callhook_bench >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
node bench/make-ndjson.mjs "$count" >"$work/payloads.ndjson"
bytes=$(stat -c %s "$work/payloads.ndjson")

best() {  # best wall time in ns of three runs of "$@" with stdout to a file
  local best_ns=0
  for _ in 1 2 3; do
    local start end
    start=$(date +%s%N)
    "$@" >"$work/out" 2>/dev/null || true
    end=$(date +%s%N)
    local ns=$((end - start))
    if ((best_ns == 0 || ns < best_ns)); then best_ns=$ns; fi
  done
  echo "$best_ns"
}

native_ns=$(best build/native/callhook normalize --ndjson "$work/payloads.ndjson")
native_lines=$(wc -l <"$work/out")
node_ns=$(best node bench/node-baseline.mjs "$work/payloads.ndjson")
node_lines=$(wc -l <"$work/out")

report() {  # name ns
  awk -v name="$1" -v ns="$2" -v n="$count" -v b="$bytes" \
    'BEGIN { printf "%-28s %10.0f payloads/s %8.1f MB/s\n", name, n / (ns / 1e9), b / 1e6 / (ns / 1e9) }'
}
echo "payloads: $count form bodies, $bytes bytes (outputs: native $native_lines lines, node $node_lines lines)"
report "callhook normalize --ndjson" "$native_ns"
report "node URLSearchParams+ajv" "$node_ns"
awk -v a="$node_ns" -v b="$native_ns" 'BEGIN { printf "ratio: callhook is %.1fx the Node pipeline\n", a / b }'

echo
build/native/callhook_bench --benchmark_min_time=0.5
