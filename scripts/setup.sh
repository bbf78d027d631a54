#!/usr/bin/env bash
# Installs what callhook needs to build and test, skipping whatever is already there, so it is
# safe to run again and again. Debian packages need root (or sudo); npm packages come from
# package-lock.json through `npm ci`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

APT_PACKAGES=(
  cmake ninja-build g++ pkg-config               # native build
  libgtest-dev libgmock-dev libbenchmark-dev     # tests and benchmarks
  nlohmann-json3-dev                             # the core's JSON library (header-only)
  libcurl4-openssl-dev                           # the native CLI's admin commands (HTTP)
  clang-19 lld-19 llvm-19 libclang-rt-19-dev     # fuzzers, WASI toolchain
  wasi-libc libc++-19-dev-wasm32 libc++abi-19-dev-wasm32 libclang-rt-19-dev-wasm32
  emscripten                                     # the npm package's wasm
  redis-server                                   # shared state for multi-instance Node tests
  python3 make                                   # node-gyp builds better-sqlite3 (the durable store)
  chromium                                       # browser tests (driven by playwright-core)
)
command -v node >/dev/null 2>&1 || APT_PACKAGES+=(nodejs)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm packages, when the project has any; reinstalled only when the lock file changed.
if [[ -f package-lock.json ]]; then
  stamp=node_modules/.callhook-lock-stamp
  if [[ ! -f $stamp ]] || ! cmp -s package-lock.json "$stamp"; then
    npm ci --no-audit --no-fund
    cp package-lock.json "$stamp"
  fi
fi
