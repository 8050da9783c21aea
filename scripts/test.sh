#!/usr/bin/env bash
# `make test`: starts DynamoDB Local, the SES stand-in and moto on free loopback ports, runs every test
# against them, and stops them whatever the outcome. Arguments go to `cargo test`.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
cd "$ROOT"

logs=$(mktemp -d)
trap 'stop_stack; rm -rf "$logs"' EXIT
trap 'exit 130' INT TERM

export_local_aws
ddb=$(free_port); start_dynamodb "$ddb" "$logs"
ses=$(free_port); start_ses "$ses" "$logs"
moto=$(free_port); start_moto "$moto" "$logs"
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$ddb
export AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:$ses
export AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:$moto
export AWS_ENDPOINT_URL_CLOUDFORMATION=http://127.0.0.1:$moto
export SES_STANDIN_URL=http://127.0.0.1:$ses
echo "local stack: DynamoDB Local :$ddb, SES v2 stand-in :$ses, moto :$moto (127.0.0.1)"

status=0
cargo test --lib --bins --tests "$@" 2>&1 | tee "$logs/cargo-test.log" || status=$?
# One closing line for all test binaries together.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "\ntotal: %d passed, %d failed, %d skipped\n", p, f, s }' "$logs/cargo-test.log"
exit "$status"
