#!/usr/bin/env bash
# The main job: sets up, builds everything the Node function needs, and starts it on
# 127.0.0.1:8787 with the bundled example config, its embedded durable store (SQLite in
# ./callhook-data) and a local receiver (127.0.0.1:9400) standing in for the destinations.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
cmake --preset native >/dev/null
cmake --build --preset native --target callhook
bash bindings/js/build.sh
bash examples/playground/build.sh

export CALLHOOK_CONFIG=${CALLHOOK_CONFIG:-examples/configs/example.json}
# Demo secrets for the example config; set your own in the environment to override them.
export CALLHOOK_TOKEN=${CALLHOOK_TOKEN:-demo-token}
export GA4_API_SECRET=${GA4_API_SECRET:-demo-ga4-secret}
export GOOGLE_ADS_DEVELOPER_TOKEN=${GOOGLE_ADS_DEVELOPER_TOKEN:-demo-ads-token}
export HOST=${HOST:-127.0.0.1} PORT=${PORT:-8787}
# Records, the delivery outbox and dead letters: SQLite in this folder, kept across restarts.
export CALLHOOK_DATA_DIR=${CALLHOOK_DATA_DIR:-callhook-data}

node examples/receiver.mjs 9400 &
receiver=$!
trap 'kill $receiver 2>/dev/null || true' EXIT

cat <<EOT

callhook is starting on http://$HOST:$PORT
  playground:   http://$HOST:$PORT/
  webhook URL:  http://$HOST:$PORT/hook/$CALLHOOK_TOKEN
  health:       http://$HOST:$PORT/healthz    metrics: http://$HOST:$PORT/metrics
  data:         $CALLHOOK_DATA_DIR/ (SQLite: calls, outbox, dead letters)
Try, from another terminal:
  curl -i -X POST http://$HOST:$PORT/hook/$CALLHOOK_TOKEN \\
       -H 'Content-Type: application/x-www-form-urlencoded' \\
       --data-binary @examples/payloads/complete.form

EOT
node functions/node/server.mjs
