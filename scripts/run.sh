#!/usr/bin/env bash
# `make run`: DynamoDB Local (data kept in .local/dynamodb) and the SES stand-in on 127.0.0.1, the tables,
# a demo collection and API key (created once, kept in .local/demo.env), then the API. Ctrl-C stops it all.
# Ports: API_PORT (3000), DYNAMODB_PORT (8000), SES_PORT (8005).
set -euo pipefail
source "$(dirname "$0")/stack.sh"
cd "$ROOT"

API_PORT=${API_PORT:-3000} DYNAMODB_PORT=${DYNAMODB_PORT:-8000} SES_PORT=${SES_PORT:-8005}
for port in "$API_PORT" "$DYNAMODB_PORT" "$SES_PORT"; do
  if port_in_use "$port"; then
    echo "127.0.0.1:$port is in use. Stop what holds it, or choose other ports, e.g." >&2
    echo "  API_PORT=3100 DYNAMODB_PORT=8100 SES_PORT=8105 make run" >&2
    exit 1
  fi
done

mkdir -p .local/dynamodb .local/logs
trap 'stop_stack' EXIT
trap 'echo; echo "stopping"; exit 0' INT TERM

# The pepper of this machine's local keys: random, made once, kept with the data it hashes.
[ -s .local/pepper ] || python3 -c 'import secrets; print(secrets.token_hex(32))' > .local/pepper

export_local_aws
start_dynamodb "$DYNAMODB_PORT" .local/logs .local/dynamodb
start_ses "$SES_PORT" .local/logs
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DYNAMODB_PORT
export AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:$SES_PORT
export API_KEYS_TABLE=ticket-api-keys COLLECTIONS_TABLE=ticket-api-collections TICKETS_TABLE=ticket-api-tickets \
  IDEMPOTENCY_TABLE=ticket-api-idempotency
export SENDER_EMAIL=support@ticket-api.localhost
export PUBLIC_BASE_URL=http://127.0.0.1:$API_PORT
export API_KEY_PEPPER=$(cat .local/pepper)
export LISTEN_ADDR=127.0.0.1:$API_PORT

ticketctl=target/debug/ticketctl
$ticketctl init >/dev/null

# The demo collection and key, once: reused while the collection is still in the local tables.
COLLECTION_ID= API_KEY=
[ -f .local/demo.env ] && source .local/demo.env
if [ -z "$COLLECTION_ID" ] || ! $ticketctl collections list | grep -q "^$COLLECTION_ID "; then
  COLLECTION_ID=$($ticketctl --json collections create --name "Demo Support" --notify team@demo.localhost \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["collectionId"])')
  API_KEY=$($ticketctl --json keys create --name "make run demo" --collection "$COLLECTION_ID" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["apiKey"])')
fi
API_URL=http://127.0.0.1:$API_PORT
MAILBOX_URL=http://127.0.0.1:$SES_PORT/
printf 'API_URL=%s\nCOLLECTION_ID=%s\nAPI_KEY=%s\nMAILBOX_URL=%s\nDYNAMODB_URL=%s\n' \
  "$API_URL" "$COLLECTION_ID" "$API_KEY" "$MAILBOX_URL" "$AWS_ENDPOINT_URL_DYNAMODB" > .local/demo.env

target/debug/ticket-api-local > >(tee -a .local/logs/api.log) 2>&1 &
api_pid=$!
STACK_PIDS+=($api_pid)
wait_ready "the API" "$API_PORT" "$api_pid" .local/logs/api.log

cat <<BANNER

  ticket-api is running on this machine.

  API URL        $API_URL
  collection id  $COLLECTION_ID
  API key        $API_KEY
  mailbox        $MAILBOX_URL   (every e-mail the API sends lands here)

  Try it (the customer's request, with the local URL and key):

curl --location --request POST '$API_URL/ticket/$COLLECTION_ID' \\
--header 'x-api-key: $API_KEY' \\
--header 'Content-Type: application/json' \\
--data-raw '{
    "userEmail": "user@email.com",
    "title": "Enquiry about pricing",
    "message": "Please explain about the pricing plans"
}'

  One address may open 10 tickets an hour here, one key 1,000 (the abuse limits; the next gets 429).
  Change them with: target/debug/ticketctl collections update $COLLECTION_ID --limit-per-requester 100

  The same values are in .local/demo.env for scripts. Operator CLI: target/debug/ticketctl --help
  (with the variables above exported; see the README). Ctrl-C stops everything.

BANNER
wait "$api_pid"
