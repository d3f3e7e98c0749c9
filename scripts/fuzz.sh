#!/usr/bin/env bash
# Fuzzes every target under fuzz/ with cargo-fuzz (libFuzzer) for a bounded time each, and fails
# naming the target and the saved input if any target finds a failure.
#
#   scripts/fuzz.sh                          every target, FUZZ_SECONDS (default 30) each
#   scripts/fuzz.sh hex_hmac function_url    only these targets
#   FUZZ_SECONDS=600 scripts/fuzz.sh         longer runs
#   FUZZ_TOOLCHAIN=nightly FUZZ_SANITIZER=address scripts/fuzz.sh
#
# The defaults need only a stable toolchain: without a sanitizer, cargo-fuzz passes no unstable
# flags. Our code forbids `unsafe`, so a sanitizer mostly checks the C and `unsafe` code of
# dependencies; it needs nightly (`-Zsanitizer`). cargo-fuzz itself is installed, pinned, into
# .local/ on first use. Seeds: the samples under events/ and the saved inputs under
# shared/core/tests/data/fuzz/ (which `cargo test` replays). What the fuzzer adds stays in
# fuzz/corpus, failing inputs in fuzz/artifacts, logs in fuzz/logs; none of them is committed.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo_fuzz_version=0.13.2
seconds=${FUZZ_SECONDS:-30}
sanitizer=${FUZZ_SANITIZER:-none}

tools=.local/cargo-fuzz
if [ "$("$tools/bin/cargo-fuzz" --version 2>/dev/null)" != "cargo-fuzz $cargo_fuzz_version" ]; then
  echo "fuzz: installing cargo-fuzz $cargo_fuzz_version into $tools" >&2
  cargo install --quiet --locked --force --root "$tools" --version "$cargo_fuzz_version" cargo-fuzz
fi
export PATH="$PWD/$tools/bin:$PATH"

# cargo-fuzz runs `cargo` itself; RUSTUP_TOOLCHAIN reaches that inner cargo and its rustc too.
fuzz() {
  if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
    RUSTUP_TOOLCHAIN=$FUZZ_TOOLCHAIN cargo fuzz "$@"
  else
    cargo fuzz "$@"
  fi
}

# Read-only seed directories per target, besides its saved inputs.
seeds_of() {
  case "$1" in
    legitmark_payload) echo events/payloads/legitmark ;;
    cr3dentials_payload) echo events/payloads/cr3dentials ;;
    function_url) echo events/requests ;;
  esac
}

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(fuzz list)
fi
# An empty list would pass without fuzzing anything: a manifest that lost its targets must fail.
if [ "${#targets[@]}" -eq 0 ]; then
  echo "fuzz: no targets found in fuzz/Cargo.toml" >&2
  exit 1
fi

echo "== cargo fuzz build (sanitizer: $sanitizer${FUZZ_TOOLCHAIN:+, toolchain: $FUZZ_TOOLCHAIN})" >&2
# One build of every target: the instrumented dependencies dominate, and each run below then
# finds its binary up to date.
fuzz build --sanitizer "$sanitizer"

failed=()
mkdir -p fuzz/logs
for target in "${targets[@]}"; do
  corpus=fuzz/corpus/$target
  artifacts=fuzz/artifacts/$target
  log=fuzz/logs/$target.log
  mkdir -p "$corpus" "$artifacts"
  seeds=()
  for dir in "shared/core/tests/data/fuzz/$target" $(seeds_of "$target"); do
    [ -d "$dir" ] && seeds+=("$dir")
  done

  echo "== fuzz $target for ${seconds}s" >&2
  status=0
  fuzz run --sanitizer "$sanitizer" "$target" "$corpus" "${seeds[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?

  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  coverage=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
  if [ "$status" -eq 0 ]; then
    echo "fuzz: $target ok: ${runs:-?} runs, ${coverage:-no coverage line}" >&2
  else
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "fuzz: $target FAILED (exit $status): input saved at ${input:-unknown, see $log}" >&2
    tail -n 40 "$log" >&2
    failed+=("$target")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: failing targets: ${failed[*]} (replay one with: cargo fuzz run <target> <input>)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no failure" >&2
