#!/usr/bin/env bash
# The whole pipeline on this machine: moto (DynamoDB + SQS + Secrets Manager + EventBridge) on
# loopback, tables and queues with the deployed settings, a secret per source, the business events
# bus with a rule delivering every business event to a local tap queue, both Lambdas under `cargo
# lambda watch` (rebuilt on change), and a poller playing the SQS event source mapping for the
# consumer. Settings come from local.env, unless already set in the environment.
# Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
# shellcheck source=scripts/lib/local_env.sh
source scripts/lib/local_env.sh
export PATH="$PWD/.venv/bin:$PATH"
# shellcheck source=scripts/lib/moto.sh
source scripts/lib/moto.sh

children=()
any_alive() {
  local pid
  for pid in "${children[@]}"; do kill -0 "$pid" 2>/dev/null && return 0; done
  return 1
}
stop_all() {
  trap - EXIT INT TERM
  # SIGINT, as Ctrl-C would send: cargo lambda watch then stops the functions it started (they run
  # in sessions of their own, out of reach of a signal to this script's group).
  for pid in "${children[@]}"; do kill -INT -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 100); do any_alive || break; sleep 0.1; done
  for pid in "${children[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for pid in "${children[@]}"; do wait "$pid" 2>/dev/null || true; done
  moto_stop
}
trap stop_all EXIT
trap 'exit 130' INT TERM

MOTO_LOG=target/dev/moto.log moto_start "$MOTO_PORT"
trap stop_all EXIT

cargo build --quiet -p webhookctl -p ingress -p consumer
# Exports QUEUE_URL, DLQ_URL, BUSINESS_EVENTS_QUEUE_URL and each SOURCE_<NAME>_SECRET_ARN (read
# whole first, so that a failed provision stops the script).
provisioned=$(target/debug/webhookctl provision)
while IFS= read -r line; do export "${line?}"; done <<<"$provisioned"

# The functions get this script's environment (cargo lambda watch passes it on): the consumer
# reads EVENTS_TABLE, ITEMS_TABLE, EVENT_BUS_NAME and EVENT_SOURCE_PREFIX from it (local.env).
# The ingress reads its sources' credentials from the secrets provision made
# (SOURCE_<NAME>_SECRET_ARN), as a deployed one does: the plain values are kept from the functions,
# and stay with the local commands that sign as the senders do.
plain_credentials=()
for source in ${WEBHOOK_SOURCES//,/ }; do
  prefix="SOURCE_$(tr 'a-z-' 'A-Z_' <<<"$source")_"
  plain_credentials+=(-u "${prefix}SECRETS" -u "${prefix}AUTH_HEADER_NAME" -u "${prefix}AUTH_HEADER_VALUE")
done

set -m
env "${plain_credentials[@]}" \
  cargo lambda watch --quiet --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" \
  >target/dev/functions.log 2>&1 &
children+=($!)
target/debug/webhookctl poll >target/dev/poller.log 2>&1 &
children+=($!)
set +m

for _ in $(seq 1 300); do
  (exec 3<>"/dev/tcp/127.0.0.1/$LAMBDA_PORT") 2>/dev/null && break
  sleep 0.2
done

# cargo lambda watch builds and boots each function on its first invocation; do that now, so the
# first webhook is not the one that waits for it.
cargo lambda invoke consumer --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" \
  --data-ascii '{"Records": []}' >/dev/null
python3 -c 'import sys, urllib.request
try: urllib.request.urlopen(sys.argv[1], timeout=300)
except Exception: pass' "$INGRESS_URL/webhooks/legitmark"

cat <<TXT

Local webhook receiver is running (Ctrl-C stops everything).
  Legitmark webhook URL:   $INGRESS_URL/webhooks/legitmark
  Cr3dentials webhook URL: $INGRESS_URL/webhooks/cr3dentials
  DynamoDB + SQS (moto):   $AWS_ENDPOINT_URL   queue: $QUEUE_URL
  Secrets (moto):          ${SECRET_NAME_PREFIX}{$(tr -s ', ' ',' <<<"$WEBHOOK_SOURCES")}
  Business events (moto):  bus $EVENT_BUS_NAME (sources ${EVENT_SOURCE_PREFIX:-webhooks}.<sender>)
                           every event also goes to the tap queue $BUSINESS_EVENTS_QUEUE_URL
  Logs:                    target/dev/{functions,poller,moto}.log

Try:  make send EVENT=events/payloads/legitmark/state_change_complete_approved.json
      make show ITEM=item-10042
      make bus    (prints each business event as it reaches the tap; Ctrl-C stops)
TXT
wait
