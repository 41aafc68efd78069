#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz / libFuzzer) of the readers of
# untrusted input: the loopback callback query (callback), a pasted code or
# URL (pasted), the token file (token_file), services.toml (services_toml)
# and raw bytes sent to a live loopback listener (loopback_request).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Runs each target for SECONDS (default 60), one after the other, single
# process, and prints one line per target: executions, coverage, crashes.
# A crash stops the script with exit 1 and leaves its input in
# fuzz/artifacts/TARGET/ (replay: cargo fuzz run TARGET THAT_FILE).
#
# Only the stable toolchain is on these machines: cargo-fuzz needs nightly
# flags, which RUSTC_BOOTSTRAP=1 unlocks on stable. cargo-fuzz itself is
# installed from crates.io on first use (about 1.5 min to build); the
# first build of the targets takes about 5 min on 2 cores, later ones
# seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"

SECONDS_EACH="${1:-60}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(callback pasted token_file services_toml loopback_request)

CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$CARGO_BIN:"*) ;; *) export PATH="$CARGO_BIN:$PATH" ;; esac
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz from crates.io" >&2
  cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
# No sanitizer: the code under test is safe Rust (panics and aborts are
# what we look for); ASan would only slow the runs down.
FLAGS=(--sanitizer none)

echo "fuzz.sh: building the fuzz targets" >&2
cargo fuzz build "${FLAGS[@]}" 2>&1 | tail -n 2 >&2

mkdir -p corpus artifacts
status=0
printf '%-18s %12s %10s %8s %s\n' target executions exec/s cov crashes
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  # Seeds are copied in (the corpus grows in corpus/, which is not committed).
  cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
  log="artifacts/$t/last-run.log"
  set +e
  cargo fuzz run "${FLAGS[@]}" "$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  crashes=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
  printf '%-18s %12s %10s %8s %s\n' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "$crashes"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    echo "fuzz.sh: $t failed (exit $rc); see fuzz/$log and fuzz/artifacts/$t/" >&2
    grep -E 'panicked|ERROR|SUMMARY' "$log" | head -n 5 >&2 || true
    status=1
  fi
done
exit "$status"
