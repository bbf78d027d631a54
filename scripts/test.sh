#!/usr/bin/env bash
# Sets up, builds every target and runs every test. This is the README's test command and what
# CI runs. FUZZ_SECONDS bounds each fuzzer (default 30).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export NODE_PATH=/usr/share/nodejs  # Debian's emscripten needs it
fuzz_seconds=${FUZZ_SECONDS:-30}

step() { printf '\n==> %s\n' "$*"; }

# Runs a GoogleTest binary as two shards side by side (the machine has 2 cores). One process per
# shard, not one per test as ctest would start: under AddressSanitizer each start costs about
# half a second, which over a thousand tests was most of the suite's time.
gtest_shards() {
  local binary=$1 pids=() status=0
  for i in 0 1; do
    GTEST_TOTAL_SHARDS=2 GTEST_SHARD_INDEX=$i "$binary" --gtest_brief=1 \
      >"$binary.shard$i.log" 2>&1 &
    pids+=($!)
  done
  for i in 0 1; do
    if ! wait "${pids[$i]}"; then status=1; fi
    tail -n 3 "$binary.shard$i.log"
  done
  if [[ $status -ne 0 ]]; then
    cat "$binary.shard0.log" "$binary.shard1.log" >&2
    echo "$binary: tests failed" >&2
  fi
  return $status
}

step "setup"
bash scripts/setup.sh

step "native build and tests"
cmake --preset native >/dev/null
cmake --build --preset native
gtest_shards build/native/callhook_tests

step "native tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake --preset native-asan >/dev/null
cmake --build --preset native-asan
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 gtest_shards build/native-asan/callhook_tests

step "wasm builds (WASI: the CLI and the Fastly program; Emscripten: the npm package)"
cmake --preset wasi >/dev/null
cmake --build --preset wasi
bash bindings/js/build.sh
bash examples/playground/build.sh

step "Fastly package (fastly compute pack, offline)"
bash functions/fastly/build.sh

step "Cloudflare Worker bundle (wrangler deploy --dry-run, offline)"
(cd functions/cloudflare && CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false \
  WRANGLER_HIDE_BANNER=true ../../node_modules/.bin/wrangler deploy --dry-run \
  --outdir ../../build/cloudflare | tail -n 5)

step "fuzzing, ${fuzz_seconds}s per target"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
for fuzzer in build/fuzz/*_fuzz; do
  name=$(basename "$fuzzer" _fuzz)
  work=$(mktemp -d)
  seeds=()
  [[ -d tests/fuzz/corpus/$name ]] && seeds+=("tests/fuzz/corpus/$name")
  log="build/fuzz/$name.log"
  mkdir -p build/fuzz/artifacts
  echo "fuzz $name"
  if ! "$fuzzer" -max_total_time="$fuzz_seconds" -print_final_stats=1 \
      -artifact_prefix=build/fuzz/artifacts/ "$work" "${seeds[@]}" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz $name: failed; the input is in build/fuzz/artifacts/" >&2
    exit 1
  fi
  grep -E '^(Done|stat::number_of_executed_units)' "$log" || true
  rm -rf "$work"
done

step "JavaScript tests (node --test)"
CALLHOOK_CLI=build/native/callhook CALLHOOK_WASI=build/wasi/callhook.wasm \
  node --test tests/js/
