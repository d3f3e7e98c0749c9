#!/usr/bin/env bash
# The load and fault test: the local stack of `make dev`, on free ports, with faults injected, then
# `webhook-load run`, which sends LOAD_WEBHOOKS deliveries from LOAD_SENDERS concurrent senders,
# waits for the queue to drain and reconciles the tables, then reads the business events tap (a
# queue every event on the run's bus is delivered to) and reconciles it with the notification
# outbox (exit status 0 only when nothing was lost, nothing applied twice, every genuine delivery
# acknowledged, every forgery refused, every notification published and its business event arrived,
# and no business event arrived that no notification holds; copies are counted, not failed).
#
# How it differs from `make dev`:
# - a fault proxy (`webhook-load proxy`) sits between the functions and moto: it fails a share of
#   SQS SendMessage calls and of EventBridge PutEvents calls and throttles a share of DynamoDB
#   calls. The pollers and the driver's reconciliation talk to moto directly.
# - DynamoDB and SQS each get a moto server of their own (AWS_ENDPOINT_URL_DYNAMODB and
#   AWS_ENDPOINT_URL_SQS): one moto process is single-threaded and would be the run's ceiling. The
#   business events bus lives on the SQS server, whose rule delivers to the tap queue there.
# - the functions are built with their crash drills (feature fault-drill) and abort themselves
#   after a claim / mid-batch with the probabilities below. cargo lambda watch never replaces a
#   function process that died (later invocations wait for its --timeout, then get a 408), so it
#   runs here with --only-lambda-apis, and this script starts the function processes itself and
#   restarts each one that exits, as Lambda replaces a crashed execution environment.
# - the queue has a short visibility timeout, so messages of a crashed batch come back within the
#   run; the redrive policy (5 receives, then the dead-letter queue) is the deployed one.
#
# Settings (environment): LOAD_WEBHOOKS (10000), LOAD_SENDERS (32), LOAD_SEED (random),
# LOAD_SQS_SEND_ERROR, LOAD_SQS_SEND_ERROR_AFTER_ENQUEUE, LOAD_DYNAMODB_THROTTLE,
# LOAD_PUT_EVENTS_ERROR, LOAD_PUT_EVENTS_ERROR_AFTER_PUBLISH (shares of calls),
# LOAD_INGRESS_ABORT (per claim), LOAD_CONSUMER_ABORT (per consumer step), LOAD_INGRESS_INSTANCES,
# LOAD_CONSUMERS (consumer processes, and pollers), LOAD_VISIBILITY_TIMEOUT, LOAD_INVOKE_TIMEOUT,
# LOAD_REQUEST_TIMEOUT (seconds). Logs and the report go to target/load/.
#
# A run needs the stack to itself: it provisions fresh tables and queues on fresh servers.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
# shellcheck source=scripts/lib/local_env.sh
source scripts/lib/local_env.sh
export PATH="$PWD/.venv/bin:$PATH"
# shellcheck source=scripts/lib/moto.sh
source scripts/lib/moto.sh

export LOAD_WEBHOOKS="${LOAD_WEBHOOKS:-10000}" LOAD_SENDERS="${LOAD_SENDERS:-32}"
export LOAD_SEED="${LOAD_SEED:-$(((RANDOM << 15 | RANDOM) % 1000000000))}"
export LOAD_SQS_SEND_ERROR="${LOAD_SQS_SEND_ERROR:-0.15}"
export LOAD_SQS_SEND_ERROR_AFTER_ENQUEUE="${LOAD_SQS_SEND_ERROR_AFTER_ENQUEUE:-0.05}"
export LOAD_DYNAMODB_THROTTLE="${LOAD_DYNAMODB_THROTTLE:-0.1}"
export LOAD_PUT_EVENTS_ERROR="${LOAD_PUT_EVENTS_ERROR:-0.1}"
export LOAD_PUT_EVENTS_ERROR_AFTER_PUBLISH="${LOAD_PUT_EVENTS_ERROR_AFTER_PUBLISH:-0.05}"
LOAD_INGRESS_ABORT="${LOAD_INGRESS_ABORT:-0.005}"
LOAD_CONSUMER_ABORT="${LOAD_CONSUMER_ABORT:-0.001}"
LOAD_INGRESS_INSTANCES="${LOAD_INGRESS_INSTANCES:-4}"
LOAD_CONSUMERS="${LOAD_CONSUMERS:-4}"
export LOAD_VISIBILITY_TIMEOUT="${LOAD_VISIBILITY_TIMEOUT:-5}"
LOAD_INVOKE_TIMEOUT="${LOAD_INVOKE_TIMEOUT:-15}"
export LOAD_REQUEST_TIMEOUT="${LOAD_REQUEST_TIMEOUT:-10}"
# The queue must stay empty this long to count as drained: long enough for an invocation a sender
# gave up on to have finished.
export LOAD_SETTLE="${LOAD_SETTLE:-$LOAD_INVOKE_TIMEOUT}"
# A sender must give up on an attempt before cargo lambda watch answers it with a 408, a final
# client error: a crashed invocation must look to the sender like what it is, no answer.
if [ "$LOAD_REQUEST_TIMEOUT" -ge "$LOAD_INVOKE_TIMEOUT" ]; then
  echo "load: LOAD_REQUEST_TIMEOUT must be below LOAD_INVOKE_TIMEOUT" >&2
  exit 2
fi
export EVENTS_TABLE=load-events ITEMS_TABLE=load-items QUEUE_NAME=load-events DLQ_NAME=load-events-dlq
# The run's own bus and tap (the consumer publishes with local.env's EVENT_SOURCE_PREFIX).
export EVENT_BUS_NAME="load-business-events-$$" BUSINESS_EVENTS_QUEUE="load-business-events-tap-$$"

out=target/load
bin=$out/bin
mkdir -p "$bin"
rm -f "$out"/*.log "$out"/report.md

echo "== load: building (functions with their fault drills)" >&2
cargo build --quiet -p webhook-load -p webhookctl -p ingress -p consumer \
  --features ingress/fault-drill,consumer/fault-drill
# Copies, so that a build in this tree during the run cannot swap the binaries under it.
for name in webhook-load webhookctl ingress consumer; do cp "target/debug/$name" "$bin/"; done

children=()
any_alive() {
  local pid
  for pid in "${children[@]}"; do kill -0 "$pid" 2>/dev/null && return 0; done
  return 1
}
stop_all() {
  trap - EXIT INT TERM
  # Every child leads a process group of its own (set -m): a supervisor loop and its function,
  # cargo lambda watch, a poller, the proxy.
  local pid
  for pid in "${children[@]}"; do kill -INT -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do any_alive || break; sleep 0.1; done
  for pid in "${children[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for pid in "${children[@]}"; do wait "$pid" 2>/dev/null || true; done
  moto_stop
  MOTO_PID=${dynamodb_moto:-} moto_stop
}
trap stop_all EXIT
trap 'exit 130' INT TERM

MOTO_LOG=$out/moto-dynamodb.log moto_start
dynamodb_moto=$MOTO_PID
trap stop_all EXIT
export AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL
MOTO_LOG=$out/moto-sqs.log moto_start
trap stop_all EXIT
export AWS_ENDPOINT_URL_SQS=$AWS_ENDPOINT_URL
while IFS= read -r line; do export "${line?}"; done < <("$bin/webhook-load" provision)
proxy_port=$(moto_free_port)
lambda_port=$(moto_free_port)
runtime="127.0.0.1:$lambda_port"

wait_for_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "load: nothing listens on port $1; see $out/" >&2
  return 1
}

# Restarts a function process whenever it exits, as Lambda replaces a crashed environment.
supervise() {
  local name=$1
  while :; do
    # In a subshell of its own, so that the shell's note of a crash goes to the log as well.
    (
      unset AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_SQS
      AWS_ENDPOINT_URL="http://127.0.0.1:$proxy_port" \
        AWS_LAMBDA_RUNTIME_API="http://$runtime/.rt/$name" AWS_LAMBDA_FUNCTION_NAME="$name" \
        AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 \
        FAULT_DRILL_INGRESS_ABORT="$LOAD_INGRESS_ABORT" \
        FAULT_DRILL_CONSUMER_ABORT="$LOAD_CONSUMER_ABORT" "$bin/$name"
      exit
    ) >>"$out/$name.log" 2>&1 || true
    sleep 0.1
  done
}

set -m
"$bin/webhook-load" proxy --listen "127.0.0.1:$proxy_port" \
  --dynamodb "$AWS_ENDPOINT_URL_DYNAMODB" --sqs "$AWS_ENDPOINT_URL_SQS" \
  >"$out/proxy.log" 2>&1 &
children+=($!)
cargo lambda watch --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$lambda_port" \
  --timeout "$LOAD_INVOKE_TIMEOUT" >"$out/watch.log" 2>&1 &
children+=($!)
wait_for_port "$proxy_port"
wait_for_port "$lambda_port"
for _ in $(seq 1 "$LOAD_INGRESS_INSTANCES"); do
  supervise ingress &
  children+=($!)
done
for n in $(seq 1 "$LOAD_CONSUMERS"); do
  supervise consumer &
  children+=($!)
  CONSUMER_INVOKE_URL="http://$runtime/2015-03-31/functions/consumer/invocations" \
    "$bin/webhookctl" poll >"$out/poller-$n.log" 2>&1 &
  children+=($!)
done
set +m

cat >&2 <<TXT
== load: $LOAD_WEBHOOKS webhooks from $LOAD_SENDERS senders, seed $LOAD_SEED
   faults: SendMessage errors $LOAD_SQS_SEND_ERROR before / $LOAD_SQS_SEND_ERROR_AFTER_ENQUEUE after enqueue,
           PutEvents errors $LOAD_PUT_EVENTS_ERROR before / $LOAD_PUT_EVENTS_ERROR_AFTER_PUBLISH after publishing,
           DynamoDB throttling $LOAD_DYNAMODB_THROTTLE, ingress abort per claim $LOAD_INGRESS_ABORT,
           consumer abort per step $LOAD_CONSUMER_ABORT
   stack: $LOAD_INGRESS_INSTANCES ingress and $LOAD_CONSUMERS consumer processes, $LOAD_CONSUMERS pollers,
          visibility timeout ${LOAD_VISIBILITY_TIMEOUT} s; bus $EVENT_BUS_NAME; logs in $out/
TXT
status=0
"$bin/webhook-load" run --ingress-url "http://$runtime/lambda-url/ingress" \
  --proxy-url "http://127.0.0.1:$proxy_port" \
  --drill-log "$out/ingress.log" --drill-log "$out/consumer.log" \
  >"$out/report.md" || status=$?
cat "$out/report.md"
exit "$status"
