#!/usr/bin/env bash
# Load on loopback from a second process (Debian's wrk): the callhook Node function against a
# bare node:http server running the JS pipeline (bench/baseline-server.mjs), same payloads,
# one run. Every request carries a new Call.Sid so correlation stores a record each time.
# Usage: bash bench/server-load.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-10}
connections=${2:-16}
bash scripts/setup.sh
command -v wrk >/dev/null || { [[ $(id -u) -eq 0 ]] && apt-get install -y -q wrk >/dev/null; }
bash bindings/js/build.sh >/dev/null
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cat >"$work/config.json" <<'JSON'
{"correlation": {"abandon_after_seconds": 600, "retention_seconds": 3600}, "routes": [], "destinations": {}}
JSON
# wrk script: the example Complete with a fresh Call.Sid per request.
body=$(cat examples/payloads/complete.form)
cat >"$work/post.lua" <<LUA
local counter = 0
local body = [[$body]]
request = function()
  counter = counter + 1
  local b = string.gsub(body, "Call.Sid=[^&]+", "Call.Sid=CA" .. counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"}, b)
end
LUA
# A fresh data folder each run: with ./callhook-data, a run after the first would find the same
# Call.Sids stored already and answer duplicates, which commit nothing.
CALLHOOK_CONFIG="$work/config.json" PORT=8789 CALLHOOK_DATA_DIR="$work/data" node functions/node/server.mjs >/dev/null &
PORT=8788 node bench/baseline-server.mjs >/dev/null &
sleep 2
rps() { wrk -t1 -c"$connections" -d"${seconds}s" -s "$work/post.lua" "$1" | awk '/Requests\/sec/ {print $2}'; }
callhook=$(rps http://127.0.0.1:8789/hook)
baseline=$(rps http://127.0.0.1:8788/)
echo "callhook Node function:   $callhook requests/s"
echo "node:http + JS pipeline:  $baseline requests/s"
awk -v a="$callhook" -v b="$baseline" 'BEGIN { printf "ratio: callhook serves %.2fx the JS pipeline server (it also stores a correlation record per call)\n", a / b }'
