#!/usr/bin/env bash
# The main job: sets up, builds callhook and runs it on the bundled example webhooks. (When the
# Node edge function lands, this starts it instead.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
cmake --preset native >/dev/null
cmake --build --preset native --target callhook
cli=build/native/callhook
echo
echo "== callhook validate examples/payloads/complete.form"
"$cli" validate examples/payloads/complete.form
echo
echo "== callhook normalize --url \"\$(cat examples/payloads/initiate.url)\""
"$cli" normalize --url "$(cat examples/payloads/initiate.url)"
echo
echo "== a broken webhook: '+' sent unencoded, a duration that is not a number"
printf 'Action=Webhook&Event=Call.Complete&Call.From=+14155550123&Call.Duration=3m' |
  "$cli" validate --strict - || true
echo
echo "callhook is built at $cli; try '$cli --help'."
