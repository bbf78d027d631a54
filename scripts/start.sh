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
echo "== callhook handle: one webhook through the engine with examples/configs/example.json"
CALLHOOK_TOKEN=s3cret-token GA4_API_SECRET=demo GOOGLE_ADS_DEVELOPER_TOKEN=demo \
  "$cli" handle --config examples/configs/example.json --now 1714533342 \
  examples/requests/complete-post.json |
  node -e 'const o = JSON.parse(require("fs").readFileSync(0, "utf8"));
    console.log("response:", o.response.status, o.response.body);
    for (const d of o.deliveries) console.log(`delivery: ${d.route} -> ${d.destination} ${d.method} ${d.url.split("?")[0]}`);'
echo
echo "callhook is built at $cli; try '$cli --help'."
