# Starts and stops a moto server (DynamoDB and SQS protocol server) on loopback for this shell.
# Source it, then call `moto_start`; it exports AWS_ENDPOINT_URL and dummy credentials so the real
# AWS SDK talks to moto, and registers `moto_stop` to run on exit.

moto_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

moto_start() {
  local port="${1:-$(moto_free_port)}" log="${MOTO_LOG:-target/moto.log}"
  mkdir -p "$(dirname "$log")"
  .venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  MOTO_PID=$!
  trap moto_stop EXIT
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
      export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
      export AWS_EC2_METADATA_DISABLED=true
      echo "moto listening on $AWS_ENDPOINT_URL (pid $MOTO_PID)" >&2
      return 0
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      echo "moto failed to start; see $log" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "moto did not listen on port $port within 10 s; see $log" >&2
  return 1
}

moto_stop() {
  if [ -n "${MOTO_PID:-}" ] && kill -0 "$MOTO_PID" 2>/dev/null; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
  fi
  MOTO_PID=
}
