#!/usr/bin/env bash
# The project's test command (README.md, .ci/run): dependencies, formatting,
# lints, the workspace's tests, the desktop app's end-to-end test, the fuzz
# smoke, then the cross-platform stage (Windows and macOS, Wine).
# Stops at the first failing stage and names it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# One target directory for every stage (clippy, tests, the e2e build), and
# cargo's own choice of parallel jobs (one per core).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
unset CARGO_BUILD_JOBS
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

# Screenshots and other evidence of the end-to-end test.
export ARTIFACTS_DIR="${ARTIFACTS_DIR:-$ROOT/target/artifacts}"
mkdir -p "$ARTIFACTS_DIR"

CURRENT_STAGE="start"
STAGE_START=$SECONDS
SUMMARY=()
T0=$SECONDS

stage() {
  [ "$CURRENT_STAGE" = "start" ] ||
    SUMMARY+=("$(printf '  %-8s %5d s  %s' ok "$((SECONDS - STAGE_START))" "$CURRENT_STAGE")")
  CURRENT_STAGE="$1"
  STAGE_START=$SECONDS
  printf '\n==== [%s] stage: %s ====\n' "$(date +%H:%M:%S)" "$CURRENT_STAGE"
}

on_exit() {
  local rc=$?
  local status=ok
  [ "$rc" -eq 0 ] || status=FAILED
  SUMMARY+=("$(printf '  %-8s %5d s  %s' "$status" "$((SECONDS - STAGE_START))" "$CURRENT_STAGE")")
  printf '\n==== summary (%d s total) ====\n' "$((SECONDS - T0))"
  printf '%s\n' "${SUMMARY[@]}"
  if [ "$rc" -ne 0 ]; then
    printf '\nFAILED: stage "%s" (exit code %d)\n' "$CURRENT_STAGE" "$rc" >&2
  else
    printf '\nALL STAGES PASSED (artifacts in %s)\n' "$ARTIFACTS_DIR"
  fi
}
trap on_exit EXIT

stage "install dependencies (scripts/install-deps.sh)"
bash scripts/install-deps.sh
# rustup's tools and tauri-driver live here.
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$CARGO_BIN:"*) ;; *) export PATH="$CARGO_BIN:$PATH" ;; esac

stage "format (cargo fmt --all -- --check)"
cargo fmt --all -- --check

stage "lint (cargo clippy --workspace --all-targets -- -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings

stage "unit and integration tests (cargo test --workspace)"
cargo test --workspace

stage "desktop end-to-end test (tests/e2e/run.sh)"
bash tests/e2e/run.sh

stage "fuzz smoke (scripts/fuzz.sh 60: each target a minute)"
bash scripts/fuzz.sh 60

stage "cross-platform: Windows and macOS checks, Windows builds, Wine scenarios (scripts/cross.sh)"
bash scripts/cross.sh
