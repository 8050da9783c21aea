#!/usr/bin/env bash
# `make invoke EVENT=events/<file>.json`: the Lambda binary under the real runtime (`cargo lambda watch`, on
# 127.0.0.1), against the stack of `make run` (start that first, in another terminal), invoked with one event.
# The events name fixture keys and collections; here the granted key and `demo-collection` are swapped for the
# demo ones of .local/env, so that the answer is what the event means on your local data.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
cd "$ROOT"

event=${1:-}
if [ -z "$event" ] || [ ! -f "$event" ]; then
  echo "usage: make invoke EVENT=events/http-api.created.json   (any file of events/)" >&2
  exit 2
fi
if [ ! -f .local/env ]; then
  echo "the local stack is not running: start it with 'make run' in another terminal" >&2
  exit 1
fi
source .local/env
if ! port_in_use "${AWS_ENDPOINT_URL_DYNAMODB##*:}"; then
  echo "the local stack is not running: start it with 'make run' in another terminal" >&2
  exit 1
fi
export PATH="$VENV/bin:$PATH"

payload=$(mktemp)
python3 - "$event" "$payload" "$API_KEY" "$COLLECTION_ID" <<'PY'
import json, sys
event, out, key, collection = sys.argv[1:]
fixture_key = json.load(open("events/expected.json"))["keys"]["granted"]
text = open(event).read().replace(fixture_key, key).replace("demo-collection", collection)
open(out, "w").write(text)
PY

port=$(free_port)
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" > .local/logs/lambda-watch.log 2>&1 &
watch_pid=$!
trap 'kill -TERM -- -$watch_pid 2>/dev/null || true; rm -f "$payload"' EXIT
wait_ready "cargo lambda watch" "$port" "$watch_pid" .local/logs/lambda-watch.log
cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$port" --data-file "$payload" bootstrap | python3 -m json.tool
echo "(function log: .local/logs/lambda-watch.log; e-mails: $MAILBOX_URL)"
