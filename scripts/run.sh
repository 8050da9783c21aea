#!/usr/bin/env bash
# `make run`: DynamoDB Local (data kept in .local/dynamodb) and the SES stand-in on 127.0.0.1, the tables,
# a demo collection and API key (created once), then the function: the API, the stand-in for the event source
# mapping on the tickets table's stream, and the sweep's schedule; and SES receiving's stand-in (SMTP), which
# stores each reply in moto's S3 and hands it to the function. Ctrl-C stops it all.
# Ports: API_PORT (3000), DYNAMODB_PORT (8000), SES_PORT (8005), MOTO_PORT (8006), SMTP_PORT (2525),
# INVOKE_PORT (9001, Lambda's Invoke API of the function). LOCAL_DIR (.local) holds the data.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
cd "$ROOT"

API_PORT=${API_PORT:-3000} DYNAMODB_PORT=${DYNAMODB_PORT:-8000} SES_PORT=${SES_PORT:-8005}
MOTO_PORT=${MOTO_PORT:-8006} SMTP_PORT=${SMTP_PORT:-2525} INVOKE_PORT=${INVOKE_PORT:-9001}
LOCAL_DIR=${LOCAL_DIR:-.local}
for port in "$API_PORT" "$DYNAMODB_PORT" "$SES_PORT" "$MOTO_PORT" "$SMTP_PORT" "$INVOKE_PORT"; do
  if port_in_use "$port"; then
    echo "127.0.0.1:$port is in use. Stop what holds it, or choose other ports, e.g." >&2
    echo "  API_PORT=3100 DYNAMODB_PORT=8100 SES_PORT=8105 MOTO_PORT=8106 SMTP_PORT=2625 INVOKE_PORT=9101 make run" >&2
    exit 1
  fi
done

mkdir -p "$LOCAL_DIR/dynamodb" "$LOCAL_DIR/logs"
trap 'stop_stack' EXIT
trap 'echo; echo "stopping"; exit 0' INT TERM

# The pepper of this machine's local keys: random, made once, kept with the data it hashes.
[ -s "$LOCAL_DIR/pepper" ] || python3 -c 'import secrets; print(secrets.token_hex(32))' > "$LOCAL_DIR/pepper"

export_local_aws
start_dynamodb "$DYNAMODB_PORT" "$LOCAL_DIR/logs" "$LOCAL_DIR/dynamodb"
start_ses "$SES_PORT" "$LOCAL_DIR/logs"
# The S3 stand-in of the received mail's bucket and of the files' (in memory: both last as long as this run).
start_moto "$MOTO_PORT" "$LOCAL_DIR/logs"
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DYNAMODB_PORT AWS_ENDPOINT_URL_DYNAMODB_STREAMS=http://127.0.0.1:$DYNAMODB_PORT
export AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:$SES_PORT AWS_ENDPOINT_URL_S3=http://127.0.0.1:$MOTO_PORT
export API_KEYS_TABLE=ticket-api-keys COLLECTIONS_TABLE=ticket-api-collections TICKETS_TABLE=ticket-api-tickets \
  LIMITS_TABLE=ticket-api-limits IDEMPOTENCY_TABLE=ticket-api-idempotency \
  SUPPRESSIONS_TABLE=ticket-api-suppressions
export SENDER_EMAIL=support@ticket-api.localhost
# Every e-mail replies to its ticket's address at this domain, which the SMTP stand-in receives for.
export INBOUND_DOMAIN=reply.ticket-api.localhost INBOUND_BUCKET=ticket-api-inbound INBOUND_PREFIX=inbound/
# The tickets' files on the S3 stand-in, scanned by the stand-in of GuardDuty's malware scan (EICAR is flagged).
export FILES_BUCKET=ticket-api-files FILE_SCANNING=on
# Webhooks may reach a receiver on this machine over http (a deployment never sets this).
export WEBHOOKS_ALLOW_LOOPBACK_HTTP=true
export PUBLIC_BASE_URL=http://127.0.0.1:$API_PORT
export API_KEY_PEPPER=$(cat "$LOCAL_DIR/pepper")
export LISTEN_ADDR=127.0.0.1:$API_PORT INVOKE_ADDR=127.0.0.1:$INVOKE_PORT DEAD_LETTER_FILE=$LOCAL_DIR/dead-letters.jsonl
export INVOKE_URL=http://127.0.0.1:$INVOKE_PORT/2015-03-31/functions/function/invocations

ticketctl=target/debug/ticketctl
$ticketctl init >/dev/null

# The demo collection and key, once: reused while the collection is still in the local tables.
COLLECTION_ID= API_KEY=
[ -f "$LOCAL_DIR/env" ] && source "$LOCAL_DIR/env"
if [ -z "$COLLECTION_ID" ] || ! $ticketctl collections list | grep -q "^$COLLECTION_ID "; then
  COLLECTION_ID=$($ticketctl --json collections create --name "Demo Support" --notify team@demo.localhost \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["collectionId"])')
  API_KEY=$($ticketctl --json keys create --name "make run demo" --collection "$COLLECTION_ID" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["apiKey"])')
fi
API_URL=http://127.0.0.1:$API_PORT
MAILBOX_URL=http://127.0.0.1:$SES_PORT/

# Everything a second terminal needs, for `source .local/env`: the demo's values, and the variables with which
# ticketctl (and the AWS SDK) reach this stack.
{
  echo "# Written by make run: source it to reach the local stack with ticketctl, curl or scripts."
  for name in API_URL COLLECTION_ID API_KEY MAILBOX_URL SMTP_PORT INVOKE_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY \
    AWS_REGION AWS_EC2_METADATA_DISABLED AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_DYNAMODB_STREAMS \
    AWS_ENDPOINT_URL_SESV2 AWS_ENDPOINT_URL_S3 INBOUND_DOMAIN INBOUND_BUCKET INBOUND_PREFIX FILES_BUCKET FILE_SCANNING \
    WEBHOOKS_ALLOW_LOOPBACK_HTTP \
    API_KEYS_TABLE COLLECTIONS_TABLE TICKETS_TABLE LIMITS_TABLE IDEMPOTENCY_TABLE SUPPRESSIONS_TABLE SENDER_EMAIL PUBLIC_BASE_URL \
    API_KEY_PEPPER; do
    printf 'export %s=%q\n' "$name" "${!name}"
  done
} > "$LOCAL_DIR/env"

target/debug/ticket-api-local > >(tee -a "$LOCAL_DIR/logs/api.log") 2>&1 &
api_pid=$!
STACK_PIDS+=($api_pid)
wait_ready "the API" "$API_PORT" "$api_pid" "$LOCAL_DIR/logs/api.log"
start_ses_receiving "$SMTP_PORT" "$LOCAL_DIR/logs"

cat <<BANNER

  ticket-api is running on this machine.

  API URL        $API_URL
  collection id  $COLLECTION_ID
  API key        $API_KEY
  mailbox        $MAILBOX_URL   (every e-mail the function sends lands here, about a second after its 201)

  Try it (the README's create request, with the local URL and key):

curl --location --request POST '$API_URL/ticket/$COLLECTION_ID' \\
--header 'x-api-key: $API_KEY' \\
--header 'Content-Type: application/json' \\
--data-raw '{
    "userEmail": "user@email.com",
    "title": "Enquiry about pricing",
    "message": "Please explain about the pricing plans"
}'

  E-mails leave from the tickets table's stream (read here as the event source mapping would) and from the
  sweep (every ${SWEEP_INTERVAL_SECONDS:-10} s). In another terminal:

    source $LOCAL_DIR/env
    target/debug/ticketctl tickets list \$COLLECTION_ID     # the tickets
    target/debug/ticketctl mail list                       # what is not delivered yet, and why
    target/debug/ticketctl tickets show \$COLLECTION_ID 1   # each e-mail's state: sent, then delivered
    target/debug/ticketctl suppressions list               # addresses that bounced or complained

  Replies by e-mail: every e-mail replies to its ticket's own address at @$INBOUND_DOMAIN, which SMTP on
  127.0.0.1:$SMTP_PORT receives as SES would (the message into S3, then the function). Answer one from the
  mailbox with any SMTP client; the README shows one from the command line (python3's smtplib).

  SES's events are played here as SES would publish them: every e-mail the stand-in accepts is then
  "delivered"; one to bounce@simulator.amazonses.com bounces (and the address is suppressed), one to
  complaint@simulator.amazonses.com draws a complaint, as SES's mailbox simulator does.

  Metrics: the function writes them as CloudWatch EMF lines ({"_aws": ...}, namespace TicketApi) among its
  logs, here in this output and in $LOCAL_DIR/logs/api.log; on AWS, CloudWatch turns those same lines into the
  metrics of the dashboard and the alarms (docs/operations.md, "Operating it").

  One address may open 10 tickets an hour here, one key 1,000 (the abuse limits; the next gets 429).
  Change them with: target/debug/ticketctl collections update \$COLLECTION_ID --limit-per-requester 100

  Ctrl-C stops everything.

BANNER
wait "$api_pid"
