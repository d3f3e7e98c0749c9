#!/usr/bin/env bash
# Local-stack smoke test: starts `make dev`'s stack on free ports, sends every sample through the
# function URL (and one through `cargo lambda invoke`), checks the resulting item states and
# notifications and that the bus delivered each notification's business event exactly once, stops
# the stack as Ctrl-C would, and checks that no process is left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export MOTO_PORT LAMBDA_PORT
MOTO_PORT=$(free_port)
LAMBDA_PORT=$(free_port)
export INGRESS_URL="http://127.0.0.1:$LAMBDA_PORT/lambda-url/ingress"
export CONSUMER_INVOKE_URL="http://127.0.0.1:$LAMBDA_PORT/2015-03-31/functions/consumer/invocations"
log=target/dev/smoke-stack.log
mkdir -p target/dev

setsid scripts/dev.sh >"$log" 2>&1 </dev/null &
stack=$!
stop_stack() {
  # SIGTERM: a script started in the background ignores SIGINT, so it cannot trap it; dev.sh
  # handles TERM exactly as it handles Ctrl-C.
  kill -TERM -- "-$stack" 2>/dev/null || true
  wait "$stack" 2>/dev/null || true
}
trap 'stop_stack; echo "smoke: FAILED; stack log: $log" >&2; tail -n 40 "$log" >&2' ERR
trap stop_stack EXIT

for _ in $(seq 1 1800); do
  grep -q "Local webhook receiver is running" "$log" && break
  kill -0 "$stack" 2>/dev/null || { echo "smoke: the stack exited early" >&2; cat "$log" >&2; exit 1; }
  sleep 0.5
done
grep -q "Local webhook receiver is running" "$log"

# shellcheck source=scripts/lib/local_env.sh
source scripts/lib/local_env.sh
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
ctl=target/debug/webhookctl

# 1. The normal lifecycle of item-10042, in order, through the function URL.
lifecycle="draft qc_pending qc_rejected media_rejected qc_approved underway_pending underway_assigned underway_approved complete_approved"
for step in $lifecycle; do
  file=events/payloads/legitmark/state_change_$step.json
  [ -f "$file" ] || file=events/payloads/legitmark/$step.json
  $ctl send "$file" >/dev/null
done
started=$(date +%s%N)
# Bounded wait for the asynchronous consumer (a timeout, not a timing assertion).
for _ in $(seq 1 120); do
  if $ctl show item-10042 2>/dev/null | python3 -c 'import json,sys; r=json.load(sys.stdin)["record"]; sys.exit(0 if r.get("verdict")=="AUTHENTIC" else 1)' 2>/dev/null; then
    break
  fi
  sleep 0.5
done
echo "smoke: item-10042 reached its verdict $(( ($(date +%s%N) - started) / 1000000 )) ms after the last send"
$ctl show item-10042 | python3 -c '
import json, sys
shown = json.load(sys.stdin)
record, kinds = shown["record"], [n["kind"] for n in shown["notifications"]]
assert record["verdict"] == "AUTHENTIC", record
assert record["state"] == {"primary": "COMPLETE", "supplement": "APPROVED"}, record["state"]
assert record["reupload_requests"] == [], record["reupload_requests"]
for kind in ["reupload_requested", "photos_passed_qc", "authenticator_assigned", "authentication_passed"]:
    assert kinds.count(kind) == 1, (kind, kinds)
print("smoke: item-10042 AUTHENTIC with notifications", kinds)
'

# 2. The newer payload generations: each new sample changes its record as the README documents
# (an item of its own for Legitmark, each Cr3dentials session its own). The waits are bounds;
# the time each change took is printed.
scripts/lib/check_generations.py "$ctl"

# 3. Every other sample: each must be acknowledged.
for file in events/payloads/legitmark/*.json events/payloads/cr3dentials/*.json; do
  $ctl send "$file" >/dev/null
done

# 4. A re-signed request file through cargo lambda invoke.
tmp=$(mktemp -d -p target/dev)
cp -r events/payloads "$tmp/"
$ctl resign --dir "$tmp" 2>/dev/null
answer=$(cargo lambda invoke ingress --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" \
  --data-file "$tmp/requests/legitmark/state_change_qc_approved.json")
echo "$answer" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["statusCode"]==200, r; print("smoke: cargo lambda invoke ->", r["statusCode"], r["body"])'

# 5. The Cr3dentials sessions were recorded.
for _ in $(seq 1 120); do
  $ctl show --verification 48342 >/dev/null 2>&1 && break
  sleep 0.5
done
$ctl show --verification 48342 | python3 -c 'import json,sys; s=json.load(sys.stdin); assert s["notifications"], s; print("smoke: session 48342 ->", [n["kind"] for n in s["notifications"]])'

# 6. Business events: once every event is applied, each stored notification's business event has
# been published and reached the tap (the queue a rule on the local bus delivers every business
# event to) exactly once, and nothing else did. `bus watch` deletes what it prints, so the tap is
# read until the set is complete (a bound, not a timing assertion).
python3 - "$ctl" <<'PY'
import json, os, subprocess, sys, time
from collections import Counter

ctl, BOUND_S = sys.argv[1], 120
prefix = os.environ.get("EVENT_SOURCE_PREFIX") or "webhooks"


def ctl_run(*args, check=True):
    return subprocess.run([ctl, *args], check=check, capture_output=True, text=True, timeout=60)


def tap():
    # Every business event on the tap until none came for 2 s (each deleted once read).
    out = ctl_run("bus", "watch", "--json", "--idle", "2").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def stored():
    # Every subject the stored events name, and its notifications; whether any event is still on
    # its way to the consumer.
    events = json.loads(ctl_run("events", "list", "--limit", "1000000", "--json").stdout)
    pending = [e["key"] for e in events if e["status"] in ("RECEIVED", "ENQUEUED")]
    notifications = []
    for source, subject in sorted({(e["source"], e["subject"]) for e in events if e["subject"]}):
        args = ["show", subject] if source == "legitmark" else ["show", "--verification", subject]
        done = ctl_run(*args, check=False)
        if done.returncode == 0:
            notifications += json.loads(done.stdout)["notifications"]
    return pending, notifications


tapped, started = [], time.monotonic()
while True:
    tapped += tap()
    pending, notifications = stored()
    wanted = {n["event_id"] for n in notifications}
    seen = {e["detail"]["event_id"] for e in tapped}
    # The bus accepts an event a moment before the consumer marks it published.
    unpublished = [n["event_key"] for n in notifications if not n["published"]]
    if not pending and wanted <= seen and not unpublished:
        break
    if time.monotonic() - started > BOUND_S:
        sys.exit(f"smoke: business events: still pending {pending}; unpublished {unpublished}; "
                 f"never reached the tap: {sorted(map(str, wanted - seen))}")
tapped += tap()  # a late duplicate counts too

ids = Counter(e["detail"]["event_id"] for e in tapped)
twice = sorted(i for i, n in ids.items() if n > 1)
assert not twice, f"business events delivered more than once: {twice}"
by_id = {n["event_id"]: n for n in notifications}
assert set(ids) == set(by_id), f"business events with no stored notification: {set(ids) - set(by_id)}"
for event in tapped:
    detail, notification = event["detail"], by_id[event["detail"]["event_id"]]
    assert event["detail-type"] == notification["detail_type"], (event, notification)
    assert detail["kind"] == notification["kind"] and detail["message"], (event, notification)
    assert event["source"] in (f"{prefix}.legitmark", f"{prefix}.cr3dentials"), event["source"]
types = Counter((e["source"], e["detail-type"]) for e in tapped)
for required in [(f"{prefix}.legitmark", "Item Authenticated"), (f"{prefix}.legitmark", "Photos Rejected"),
                 (f"{prefix}.cr3dentials", "Verification Completed")]:
    assert types[required], (required, types)
print(f"smoke: {len(tapped)} business events, one per notification, each once:",
      ", ".join(f"{t} x{n}" for t, n in sorted(Counter(e["detail-type"] for e in tapped).items())))
PY

# 7. Stop the stack and check that nothing the stack started is still running (the functions
# run in sessions of their own, so the whole process tree is recorded first).
descendants() {
  local child
  for child in $(pgrep -P "$1"); do
    echo "$child"
    descendants "$child"
  done
}
tree="$stack $(descendants "$stack")"
trap - EXIT ERR
stop_stack
sleep 1
left=$(for pid in $tree; do ps -o pid=,cmd= -p "$pid" 2>/dev/null || true; done)
if [ -n "$left" ]; then
  echo "smoke: processes left behind:" >&2
  echo "$left" >&2
  exit 1
fi
echo "smoke: passed; the stack stopped and left no process"
