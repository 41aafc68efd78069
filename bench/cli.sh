#!/usr/bin/env bash
# Benchmark (not a test): `planopticon auth github`, ours (Rust) against the
# Python tool it replaces (PlanOpticon 1.0.0 from PyPI), in two cases:
#   api_key      GITHUB_TOKEN set, no saved token file
#   saved_token  an unexpired ~/.planopticon/github_token.json, GITHUB_TOKEN unset
# Wall time with hyperfine (median), peak memory with GNU time (median max RSS).
# Results: target/bench/cli.md (the table) and target/bench/cli-<case>.{md,json}.
# See bench/README.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

OUT="$ROOT/target/bench"
PYENV="$OUT/pyenv"
PY_PKG_VERSION="1.0.0"
PYTHON="${PYTHON:-python3}"
WARMUP="${BENCH_WARMUP:-3}"
RUNS="${BENCH_RUNS:-30}"
RSS_RUNS="${BENCH_RSS_RUNS:-10}"
GNU_TIME=/usr/bin/time

say() { printf '[bench] %s\n' "$*"; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$OUT"

# ---- tools -------------------------------------------------------------------
if ! command -v hyperfine >/dev/null 2>&1 || [ ! -x "$GNU_TIME" ] || ! command -v jq >/dev/null 2>&1; then
  say "hyperfine, GNU time or jq missing: running scripts/install-deps.sh"
  bash scripts/install-deps.sh
fi
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (set PYTHON=...)"

# ---- the Python tool, in its own venv (cached) -----------------------------------
PY_BIN="$PYENV/bin/planopticon"
installed_version() {
  "$PYENV/bin/python" -c 'import importlib.metadata as m; print(m.version("planopticon"))' 2>/dev/null || true
}
if [ -x "$PY_BIN" ] && [ "$(installed_version)" = "$PY_PKG_VERSION" ]; then
  say "python tool: planopticon $PY_PKG_VERSION already in $PYENV"
else
  say "python tool: pip install planopticon==$PY_PKG_VERSION into $PYENV (pulls heavy dependencies, about 1 GB)"
  t0=$SECONDS
  "$PYTHON" -m venv --clear "$PYENV"
  "$PYENV/bin/pip" install --disable-pip-version-check --quiet "planopticon==$PY_PKG_VERSION"
  secs=$((SECONDS - t0))
  size="$(du -sh "$PYENV" | cut -f1)"
  say "python tool: installed in ${secs} s, venv size ${size}"
  printf 'planopticon==%s installed %s in %s s, venv size %s\n' \
    "$PY_PKG_VERSION" "$(date -u +%FT%TZ)" "$secs" "$size" > "$OUT/pyenv-install.txt"
fi
[ -x "$PY_BIN" ] || die "the Python tool's entry point $PY_BIN is missing"

# ---- ours ----------------------------------------------------------------------
say "ours: cargo build --release"
cargo build --release
OURS_BIN="$CARGO_TARGET_DIR/release/planopticon"
[ -x "$OURS_BIN" ] || die "our CLI $OURS_BIN was not built"

# ---- homes -----------------------------------------------------------------------
# One fresh HOME per tool and case, and a clean environment (env -i): no
# DISPLAY, no session bus, no user settings or tokens leak in.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/planopticon-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

write_token_file() { # HOME
  local expires_at
  expires_at=$(( $(date +%s) + 3600 ))
  mkdir -p "$1/.planopticon"
  printf '{"access_token":"gho_bench","refresh_token":null,"expires_at":%s,"client_id":"x","client_secret":""}\n' \
    "$expires_at" > "$1/.planopticon/github_token.json"
}

# cmd_for TOOL CASE -> sets CMD (array) to the full command line
cmd_for() {
  local tool=$1 case=$2 bin home
  case "$tool" in python) bin=$PY_BIN ;; ours) bin=$OURS_BIN ;; esac
  home="$WORK/$tool-$case"
  CMD=(env -i "PATH=/usr/bin:/bin" "HOME=$home" "LANG=C.UTF-8")
  if [ "$case" = api_key ]; then CMD+=("GITHUB_TOKEN=ghp_benchmark"); fi
  CMD+=("$bin" auth github)
}

# Run once and make sure the command really authenticates the expected way.
check_once() { # TOOL CASE
  local tool=$1 case=$2 expected rc=0
  expected="Github authentication successful ($case)."
  cmd_for "$tool" "$case"
  "${CMD[@]}" >"$WORK/out" 2>"$WORK/err" || rc=$?
  if [ "$rc" -ne 0 ] || ! grep -qxF "$expected" "$WORK/out"; then
    printf '[bench] ERROR: %s, case %s: expected exit 0 and the line "%s"\n' "$tool" "$case" "$expected" >&2
    printf '  command: %s\n  exit code: %s\n  stdout:\n' "${CMD[*]}" "$rc" >&2
    sed 's/^/    /' "$WORK/out" >&2
    printf '  stderr:\n' >&2
    sed 's/^/    /' "$WORK/err" >&2
    exit 1
  fi
  say "check $tool/$case: exit 0, \"$expected\""
}

# Median max RSS in KiB over RSS_RUNS runs.
median_rss_kib() { # TOOL CASE
  local tool=$1 case=$2 i samples="$OUT/rss-$1-$2.txt"
  cmd_for "$tool" "$case"
  : > "$samples"
  for ((i = 0; i < RSS_RUNS; i++)); do
    "$GNU_TIME" -f %M -o "$WORK/rss" "${CMD[@]}" >/dev/null 2>&1 ||
      die "$tool/$case failed under $GNU_TIME"
    tail -n 1 "$WORK/rss" >> "$samples"
  done
  sort -n "$samples" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ROWS=()
for case in api_key saved_token; do
  for tool in python ours; do
    rm -rf "${WORK:?}/$tool-$case"
    mkdir -p "$WORK/$tool-$case"
    if [ "$case" = saved_token ]; then write_token_file "$WORK/$tool-$case"; fi
  done

  say "== case $case =="
  check_once python "$case"
  check_once ours "$case"

  cmd_for python "$case"; py_cmd="$(printf '%q ' "${CMD[@]}")"
  cmd_for ours "$case"; ours_cmd="$(printf '%q ' "${CMD[@]}")"
  hyperfine -N --warmup "$WARMUP" --runs "$RUNS" \
    --export-markdown "$OUT/cli-$case.md" --export-json "$OUT/cli-$case.json" \
    -n python "$py_cmd" -n ours "$ours_cmd"

  # Both tools must still have succeeded the same way after all those runs.
  check_once python "$case"
  check_once ours "$case"

  py_wall=$(jq -r '.results[] | select(.command == "python") | .median' "$OUT/cli-$case.json")
  ours_wall=$(jq -r '.results[] | select(.command == "ours") | .median' "$OUT/cli-$case.json")
  say "peak memory: $RSS_RUNS runs each under $GNU_TIME -f %M"
  py_rss=$(median_rss_kib python "$case")
  ours_rss=$(median_rss_kib ours "$case")

  ROWS+=("$(awk -v c="$case" -v pw="$py_wall" -v ow="$ours_wall" -v pr="$py_rss" -v orss="$ours_rss" 'BEGIN {
    printf "| %s | %.1f ms | %.1f ms | %.1fx | %.1f MiB | %.1f MiB | %.1fx |",
      c, pw * 1000, ow * 1000, pw / ow, pr / 1024, orss / 1024, pr / orss }')")
done

# ---- report ----------------------------------------------------------------------
{
  echo "# planopticon auth github: Python $PY_PKG_VERSION vs ours"
  echo
  echo "$(date -u +%FT%TZ), $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)),"
  echo "$("$PYENV/bin/python" --version), $(rustc --version), $(hyperfine --version)," \
    "ours at $(git rev-parse --short HEAD 2>/dev/null || echo 'no commit')$(git diff --quiet HEAD -- 2>/dev/null || echo ' (+ local changes)')."
  echo "Wall: median of $RUNS runs after $WARMUP warm-ups (hyperfine -N). Peak RSS: median of $RSS_RUNS runs (GNU time %M)."
  echo
  echo "| case | python median wall | ours median wall | speed-up | python peak RSS | ours peak RSS | ratio |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
} > "$OUT/cli.md"

echo
cat "$OUT/cli.md"
echo
say "written: $OUT/cli.md, $OUT/cli-api_key.{md,json}, $OUT/cli-saved_token.{md,json}, $OUT/rss-*.txt"
