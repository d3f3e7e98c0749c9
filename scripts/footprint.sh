#!/usr/bin/env bash
# Start-up and footprint figures of both functions, beside an equivalent Python function (the
# "Start-up and footprint" section of docs/BENCHMARKS.md):
#   1. start-up of each release binary: from its execve to its first GET of the next invocation on
#      the Lambda Runtime API (strace), and the whole process when the API ends it at that poll
#      (hyperfine), in the environment Lambda gives the function;
#   2. the same for the Python handler in bench/footprint under awslambdaric;
#   3. peak RSS of each function serving many invocations, with moto as DynamoDB and SQS
#      (/usr/bin/time -v);
#   4. the zipped arm64 packages (cargo lambda build).
# The Runtime API is bench/footprint/runtime_api.py, on a free loopback port, as is moto.
#
# Settings (environment):
#   RUNS        start-up runs per function (default 100); PY_RUNS the same for Python (default 30)
#   EVENTS      new deliveries fed to the ingress (default 3000), plus RETRIES retries of earlier
#               ones (default 300); the consumer then drains what the ingress queued. moto answers
#               a few hundred calls a second at best, so 10000 takes the better part of an hour.
#   PY_EVENTS   the same for the Python handler (default 1000, PY_RETRIES 100)
#   STEPS       any of: startup load package (default: all three); SKIP_PYTHON=1 leaves Python out
#   BUILD=0     measures the binaries already built; CARGO_TARGET_DIR is honoured
# Raw outputs go to target/footprint/ (FOOTPRINT_OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
RUNS=${RUNS:-100}
PY_RUNS=${PY_RUNS:-30}
EVENTS=${EVENTS:-3000}
RETRIES=${RETRIES:-300}
PY_EVENTS=${PY_EVENTS:-1000}
PY_RETRIES=${PY_RETRIES:-100}
STEPS=${STEPS:-startup load package}
out=${FOOTPRINT_OUT:-target/footprint}
case "$out" in /*) ;; *) out=$root/$out ;; esac
bin=${CARGO_TARGET_DIR:-target}
case "$bin" in /*) ;; *) bin=$root/$bin ;; esac
py=.venv-bench/bin/python
step() { [[ " $STEPS " == *" $1 "* ]]; }

# --- public tools -------------------------------------------------------------------------------
missing=()
command -v strace >/dev/null || missing+=("strace       (Debian: apt-get install strace)")
command -v hyperfine >/dev/null || missing+=("hyperfine    (Debian: apt-get install hyperfine)")
[ -x /usr/bin/time ] || missing+=("/usr/bin/time (Debian: apt-get install time)")
command -v python3 >/dev/null || missing+=("python3      (Debian: apt-get install python3 python3-venv)")
if step package && ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  missing+=("the arm64 standard library (rustup target add aarch64-unknown-linux-gnu)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "footprint: missing tools:" >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi
strace=$(command -v strace)
hyperfine=$(command -v hyperfine)

scripts/bootstrap.sh
if [ -z "${SKIP_PYTHON:-}" ]; then
  stamp=.venv-bench/.requirements
  if ! { [ -x "$py" ] && cmp -s bench/footprint/requirements.txt "$stamp"; }; then
    echo "footprint: installing bench/footprint/requirements.txt into .venv-bench" >&2
    python3 -m venv .venv-bench
    "$py" -m pip install --quiet --disable-pip-version-check -r bench/footprint/requirements.txt
    cp bench/footprint/requirements.txt "$stamp"
  fi
fi
emulator_python=$py
[ -x "$emulator_python" ] || emulator_python=.venv/bin/python

# --- builds -------------------------------------------------------------------------------------
# The functions are built on their own: built together with webhookctl, cargo would unify their
# dependencies' features with the tool's and measure other binaries than the ones deployed.
if [ "${BUILD:-1}" != 0 ]; then
  echo "== cargo build --release -p ingress -p consumer" >&2
  cargo build --release -p ingress -p consumer
  if step load; then cargo build --quiet -p webhookctl; fi
fi
mkdir -p "$out"

set -a
# shellcheck source=scripts/lib/local_env.sh
source scripts/lib/local_env.sh
set +a
# Lambda sets no endpoint: only the load runs below point the SDKs at moto.
unset AWS_ENDPOINT_URL QUEUE_URL

# --- the environment Lambda gives each function ----------------------------------------------------
lambda_env() { # FUNCTION: the variables Lambda sets, then the function's own (template.yaml)
  local fn=$1
  printf '%s\n' PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin LANG=en_US.UTF-8 TZ=:UTC \
    LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime _HANDLER=bootstrap \
    AWS_LAMBDA_FUNCTION_NAME="$fn" AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 \
    'AWS_LAMBDA_FUNCTION_VERSION=$LATEST' AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/$fn" \
    'AWS_LAMBDA_LOG_STREAM_NAME=2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef' \
    AWS_LAMBDA_INITIALIZATION_TYPE=on-demand AWS_LAMBDA_LOG_FORMAT=JSON AWS_LAMBDA_LOG_LEVEL=INFO \
    AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=ASIAEXAMPLEEXAMPLE00 AWS_SECRET_ACCESS_KEY=example-secret-access-key \
    AWS_SESSION_TOKEN=example-session-token \
    EVENTS_TABLE="$EVENTS_TABLE"
  case "$fn" in
    ingress | python)
      printf '%s\n' QUEUE_URL="${QUEUE_URL:-https://sqs.us-east-1.amazonaws.com/123456789012/$QUEUE_NAME}" \
        WEBHOOK_SOURCES="$WEBHOOK_SOURCES" SOURCE_LEGITMARK_SECRETS="$SOURCE_LEGITMARK_SECRETS" \
        SOURCE_CR3DENTIALS_SECRETS="$SOURCE_CR3DENTIALS_SECRETS" \
        SOURCE_CR3DENTIALS_AUTH_HEADER_NAME="$SOURCE_CR3DENTIALS_AUTH_HEADER_NAME" \
        SOURCE_CR3DENTIALS_AUTH_HEADER_VALUE="$SOURCE_CR3DENTIALS_AUTH_HEADER_VALUE" \
        MAX_BODY_BYTES=262144 RETENTION_DAYS=7
      ;;
    consumer) printf '%s\n' ITEMS_TABLE="$ITEMS_TABLE" ;;
  esac
  if [ -n "${AWS_ENDPOINT_URL:-}" ]; then printf '%s\n' AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL"; fi
}

# Commands, each run from its own directory (the Python handler is imported from its folder).
declare -A dir=([ingress]=. [consumer]=. [python]=bench/footprint)
declare -A cmd=(
  [ingress]="$bin/release/ingress"
  [consumer]="$bin/release/consumer"
  [python]="$root/$py -m awslambdaric handler.handler"
)

EMULATOR_PID=
emulator_start() { # MODE [ARGS...]: starts the Runtime API and sets AWS_LAMBDA_RUNTIME_API
  rm -f "$out/api.address"
  "$emulator_python" bench/footprint/runtime_api.py --address-file "$out/api.address" --mode "$@" &
  EMULATOR_PID=$!
  for _ in $(seq 1 100); do
    [ -s "$out/api.address" ] && break
    kill -0 "$EMULATOR_PID" 2>/dev/null || { echo "footprint: the Runtime API did not start" >&2; exit 1; }
    sleep 0.1
  done
  AWS_LAMBDA_RUNTIME_API=$(cat "$out/api.address")
}
emulator_stop() {
  if [ -n "$EMULATOR_PID" ] && kill -0 "$EMULATOR_PID" 2>/dev/null; then
    kill "$EMULATOR_PID" 2>/dev/null || true
    wait "$EMULATOR_PID" 2>/dev/null || true
  fi
  EMULATOR_PID=
}
# shellcheck source=scripts/lib/moto.sh
source scripts/lib/moto.sh
cleanup() {
  emulator_stop
  moto_stop
}
trap cleanup EXIT

figures=()
figure() { figures+=("$(printf '%-52s %s' "$1" "$2")"); echo "footprint: $1: $2" >&2; }
polls() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
  "http://$AWS_LAMBDA_RUNTIME_API/footprint/polls"; }

# --- 1 and 2: start-up ----------------------------------------------------------------------------
startup() { # LABEL FUNCTION RUNS [VAR=VALUE...]: strace, hyperfine and /usr/bin/time runs of one function
  local label=$1 t=$2 runs=$3
  shift 3
  mapfile -t env < <(lambda_env "$t")
  env+=("AWS_LAMBDA_RUNTIME_API=$AWS_LAMBDA_RUNTIME_API" "$@")
  local before
  before=$(polls)
  echo "== start-up of $label: $runs runs under strace, then $runs under hyperfine" >&2
  mkdir -p "$out/strace-$label"
  for i in $(seq 1 "$runs"); do
    # shellcheck disable=SC2086 # the command is words
    (cd "${dir[$t]}" && env -i "${env[@]}" "$strace" -f --seccomp-bpf -ttt -s 64 \
      -e trace=execve,connect,write,writev,sendto,sendmsg -o "$out/strace-$label/$i.txt" \
      ${cmd[$t]} >/dev/null 2>&1) || true
  done
  figure "start-up $label: execve to first poll (strace)" \
    "$(python3 bench/footprint/figures.py strace "$out/strace-$label"/*.txt)"
  (cd "${dir[$t]}" && env -i "${env[@]}" "$hyperfine" -N -i --warmup 5 --runs "$runs" --style none \
    --export-json "$out/startup-$label.json" "${cmd[$t]}" >/dev/null)
  figure "start-up $label: whole process, ended at first poll (hyperfine)" \
    "$(python3 bench/footprint/figures.py hyperfine "$out/startup-$label.json")"
  if [ "$label" = ingress ]; then
    # What tracing costs: the same whole-process measurement with strace attached as above.
    (cd "${dir[$t]}" && env -i "${env[@]}" "$hyperfine" -N -i --warmup 5 --runs "$runs" --style none \
      --export-json "$out/startup-$label-under-strace.json" \
      "$strace -f --seccomp-bpf -e trace=execve,connect,write,writev,sendto,sendmsg -o /dev/null ${cmd[$t]}" \
      >/dev/null)
    figure "start-up $label: whole process under strace (hyperfine)" \
      "$(python3 bench/footprint/figures.py hyperfine "$out/startup-$label-under-strace.json")"
    expected_extra=$((runs + 5))
  else
    expected_extra=0
  fi
  # shellcheck disable=SC2086
  (cd "${dir[$t]}" && env -i "${env[@]}" /usr/bin/time -v -o "$out/rss-init-$label.txt" \
    ${cmd[$t]} >/dev/null 2>&1) || true
  figure "peak RSS of $label up to its first poll (/usr/bin/time -v)" \
    "$(python3 bench/footprint/figures.py rss "$out/rss-init-$label.txt")"
  local expected=$((before + runs + 5 + runs + expected_extra + 1))
  [ "$(polls)" -eq "$expected" ] || { echo "footprint: $label: $(polls) polls, expected $expected" >&2; exit 1; }
}

if step startup; then
  emulator_start first-next
  "$hyperfine" -N --warmup 20 --runs "$RUNS" --style none --export-json "$out/startup-true.json" true >/dev/null
  figure "spawn and exit of an empty process (hyperfine)" \
    "$(python3 bench/footprint/figures.py hyperfine "$out/startup-true.json")"
  startup ingress ingress "$RUNS"
  startup consumer consumer "$RUNS"
  # The functions trust Amazon Trust Services' five roots, compiled in (webhook_aws::https), and read
  # no certificate file. SSL_CERT_FILE (or SSL_CERT_DIR) switches them to the SDK's default client,
  # which loads the host's store while the clients are built: the rows below measure that path with
  # the CA bundle alone, and with an empty file (no certificate at all). Without either variable the
  # default client would also read every file of the certificate directory that OpenSSL's layout
  # probe finds (Debian: about 150 certificates, each in three files).
  bundle=/etc/ssl/certs/ca-certificates.crt
  if [ -f "$bundle" ]; then
    # The SDK's default client as the functions used it before: the bundle and every file of the
    # directory, which is what OpenSSL's probe finds on Debian.
    startup ingress-host-store ingress "$RUNS" "SSL_CERT_FILE=$bundle" "SSL_CERT_DIR=$(dirname "$bundle")"
    startup ingress-bundle-only ingress "$RUNS" "SSL_CERT_FILE=$bundle"
    startup consumer-bundle-only consumer "$RUNS" "SSL_CERT_FILE=$bundle"
  fi
  : >"$out/no-certificates.pem"
  startup ingress-no-certificates ingress "$RUNS" "SSL_CERT_FILE=$out/no-certificates.pem"
  [ -n "${SKIP_PYTHON:-}" ] || startup python python "$PY_RUNS"
  emulator_stop
fi

# --- 3: peak RSS under load -----------------------------------------------------------------------
load() { # FUNCTION TAG EMULATOR-MODE EVENTS RETRIES: one run under /usr/bin/time -v, sampling VmRSS
  local t=$1 tag=$2 mode=$3 events=$4 retries=$5
  rm -f "$out/load-$t.json" "$out/rss-load-$t.txt"
  emulator_start "$mode" --function "$t" --tag "$tag" --events "$events" --retries "$retries" \
    --summary "$out/load-$t.json"
  mapfile -t env < <(lambda_env "$t")
  env+=("AWS_LAMBDA_RUNTIME_API=$AWS_LAMBDA_RUNTIME_API")
  echo "== $t under load ($mode feed)" >&2
  # The process ends with an error when the API closes the connection after the last invocation.
  # shellcheck disable=SC2086 # the command is words
  env -i -C "${dir[$t]}" "${env[@]}" /usr/bin/time -v -o "$out/rss-load-$t.txt" ${cmd[$t]} \
    >"$out/load-$t.log" 2>&1 &
  local timer=$! function=
  for _ in $(seq 1 100); do
    function=$(cut -d' ' -f1 "/proc/$timer/task/$timer/children" 2>/dev/null || true)
    [ -n "$function" ] && break
    sleep 0.05
  done
  : >"$out/rss-load-$t.samples"
  while [ -n "$function" ] && kill -0 "$function" 2>/dev/null; do
    echo "$(polls 2>/dev/null) $(awk '/^VmRSS/ {print $2}' "/proc/$function/status" 2>/dev/null)" \
      >>"$out/rss-load-$t.samples"
    sleep 2
  done
  wait "$timer" || true
  for _ in $(seq 1 100); do kill -0 "$EMULATOR_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$EMULATOR_PID" 2>/dev/null || [ ! -s "$out/load-$t.json" ]; then
    echo "footprint: $t stopped before the feed ended; see $out/load-$t.log" >&2
    exit 1
  fi
  wait "$EMULATOR_PID" 2>/dev/null || true
  EMULATOR_PID=
  figure "peak RSS of $t under load (/usr/bin/time -v)" \
    "$(python3 bench/footprint/figures.py rss "$out/rss-load-$t.txt")"
  figure "  VmRSS along the run (every 2 s)" \
    "$(python3 bench/footprint/figures.py samples "$out/rss-load-$t.samples")"
  figure "  invocations" "$(python3 bench/footprint/figures.py feed "$out/load-$t.json")"
}

if step load; then
  MOTO_LOG=$out/moto.log moto_start
  trap cleanup EXIT
  while IFS= read -r line; do export "${line?}"; done < <("$bin/debug/webhookctl" provision)
  load ingress rs ingress "$EVENTS" "$RETRIES"
  load consumer rs consumer 0 0
  [ -n "${SKIP_PYTHON:-}" ] || load python py ingress "$PY_EVENTS" "$PY_RETRIES"
  moto_stop
fi

# --- 4: zipped arm64 packages ---------------------------------------------------------------------
for t in ingress consumer; do
  figure "x86_64 release binary $t" "$(stat -c %s "$bin/release/$t") bytes"
done
if step package; then
  for t in ingress consumer; do
    # One package per build, as sam build does: built together, cargo would give the consumer the
    # ingress's features (its SQS and Secrets Manager clients).
    echo "== cargo lambda build --release --arm64 --output-format zip -p $t" >&2
    PATH="$root/.venv/bin:$PATH" cargo lambda build --release --arm64 --output-format zip -p "$t"
  done
  for t in ingress consumer; do
    zip=$bin/lambda/$t/bootstrap.zip
    figure "arm64 package $t (bootstrap.zip)" \
      "$(stat -c %s "$zip") bytes ($(python3 -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).getinfo("bootstrap").file_size)' "$zip") unzipped)"
  done
fi

{
  echo
  echo "Start-up and footprint ($(nproc) cores, $(uname -m), load average $(cut -d' ' -f1-3 /proc/loadavg))"
  printf '  %s\n' "${figures[@]}"
} | tee "$out/summary.txt"
