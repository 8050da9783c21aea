#!/usr/bin/env bash
# `make test`: starts DynamoDB Local, the SES stand-in and moto on free loopback ports, runs every test
# against them, and stops them whatever the outcome. Arguments go to `cargo test`.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
cd "$ROOT"

logs=$(mktemp -d)
trap 'stop_stack; rm -rf "$logs"' EXIT
trap 'exit 130' INT TERM

# A test run is two minutes of short requests: the JVM's first-tier compiler alone and one GC thread spend a
# fifth less CPU in DynamoDB Local than its optimising compiler does, on a machine the tests keep busy.
export DYNAMODB_JAVA_OPTS=${DYNAMODB_JAVA_OPTS:-"-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}
start_all "$logs"

# The compiler `make test`'s build used (this crate through clippy-driver), so that nothing is compiled again.
export RUSTC_WORKSPACE_WRAPPER=${RUSTC_WORKSPACE_WRAPPER-$ROOT/scripts/clippy-rustc}
# Most tests wait on the stand-ins: six at a time keep the two cores busy (RUST_TEST_THREADS changes it).
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-6}
# Each passing test's own lines too (the figures it measured: sizes, counts, timings), after its binary's results.
args=("$@")
if [[ " ${args[*]} " == *" -- "* ]]; then args+=(--show-output); else args+=(-- --show-output); fi
status=0
cargo test --lib --bins --tests "${args[@]}" 2>&1 | tee "$logs/cargo-test.log" || status=$?
# One closing line for all test binaries together.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "\ntotal: %d passed, %d failed, %d skipped\n", p, f, s }' "$logs/cargo-test.log"
exit "$status"
