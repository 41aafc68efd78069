# Shared by the app benchmarks (idle.sh, soak.sh, floor.sh); sourced, not run.
# Each script sets NAME (its log prefix) before sourcing this file.
#
# What is here: building the release app (the CLI first: the app bundles it),
# a virtual display on a free number, running an app in its own D-Bus session,
# the app's process tree (the app and its WebKit children), waiting for the
# window's first cards (PLANOPTICON_APP_TIMING), and a median.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/tests/e2e/homes.sh"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="$ROOT/target/bench"
mkdir -p "$OUT"

say() { printf '[%s] %s\n' "${NAME:-bench}" "$*"; }
die() { printf '[%s] ERROR: %s\n' "${NAME:-bench}" "$*" >&2; exit 1; }

need_tools() { # TOOL...
  local t missing=()
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "missing ${missing[*]}: running scripts/install-deps.sh"
    bash scripts/install-deps.sh
    for t in "${missing[@]}"; do command -v "$t" >/dev/null 2>&1 || die "$t still missing after scripts/install-deps.sh"; done
  fi
}

# The release app at this checkout, built the way scripts/package-deb.sh
# builds it: the CLI first (src-tauri/build.rs copies it in as the sidecar),
# then the app with the bundled UI.
OURS_APP="$CARGO_TARGET_DIR/release/planopticon-app"
OURS_CLI="$CARGO_TARGET_DIR/release/planopticon"
build_ours() {
  if [ "${BENCH_SKIP_BUILD:-}" = 1 ]; then
    [ -x "$OURS_APP" ] || die "BENCH_SKIP_BUILD=1 but no app at $OURS_APP"
    say "ours: BENCH_SKIP_BUILD=1: using $OURS_APP as built ($(date -u -r "$OURS_APP" +%FT%TZ))"
    return
  fi
  say "ours: cargo build --release -p planopticon, then -p planopticon-app --features custom-protocol"
  cargo build --release -p planopticon
  cargo build --release -p planopticon-app --features custom-protocol
  [ -x "$OURS_APP" ] || die "the app $OURS_APP was not built"
}

# What was measured: the commit, and whether the tree had local changes.
measured_commit() {
  printf '%s%s' "$(git rev-parse --short HEAD 2>/dev/null || echo 'no commit')" \
    "$(git diff --quiet HEAD -- 2>/dev/null || echo ' (+ local changes)')"
}

# Everything started through track() is stopped on exit, newest first.
PIDS=()
track() { PIDS+=("$1"); }
# Only while it is still our child: a pid that ended may have been reused.
ours_alive() { [ "$(awk '{ print $4 }' "/proc/$1/stat" 2>/dev/null)" = "$$" ]; }
stop_tracked() {
  local i pid
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[$i]}
    if ours_alive "$pid"; then kill "$pid" 2>/dev/null || true; fi
  done
  for pid in "${PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do ours_alive "$pid" || break; sleep 0.2; done
    if ours_alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

# start_xvfb VAR: a virtual display on a free number; its ":N" into VAR.
start_xvfb() {
  local n num=""
  for n in $(seq 150 230); do
    if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then num=$n; break; fi
  done
  [ -n "$num" ] || die "no free X display number"
  Xvfb ":$num" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  track $!
  for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$num" ] && break; sleep 0.1; done
  [ -e "/tmp/.X11-unix/X$num" ] || die "Xvfb :$num did not start"
  printf -v "$1" ':%s' "$num"
}

# launch_app APP HOME DISPLAY LOG PIDFILE [ARGS...]: starts APP in the
# background inside its own D-Bus session (dbus-run-session: the single-instance
# lock lives there, and without one WebKit autostarts dbus-daemon and at-spi
# processes that outlive the app), with its own HOME and display, no
# accessibility bridge, and PLANOPTICON_APP_TIMING (the app prints
# "planopticon-app: ready <unix ms>" once the first cards are drawn).
# The app's own pid goes to PIDFILE; the session's pid is tracked and left in
# SESSION_PID.
launch_app() {
  local app=$1 home=$2 display=$3 log=$4 pidfile=$5
  shift 5
  rm -f "$pidfile"
  env -u DBUS_SESSION_BUS_ADDRESS HOME="$home" DISPLAY="$display" NO_AT_BRIDGE=1 PLANOPTICON_APP_TIMING=1 \
    dbus-run-session -- sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$pidfile" "$app" "$@" \
    >/dev/null 2>"$log" </dev/null &
  SESSION_PID=$!
  track "$SESSION_PID"
  for _ in $(seq 100); do [ -s "$pidfile" ] && break; sleep 0.05; done
  [ -s "$pidfile" ] || die "$app did not start (see $log)"
}

# wait_ready LOG [TIMEOUT_S]: the "ready <unix ms>" the app printed, or "".
wait_ready() {
  local log=$1 timeout=${2:-30} ready="" i
  for ((i = 0; i < timeout * 20; i++)); do
    ready=$(sed -n 's/^planopticon-[a-z-]*: ready \([0-9]*\)$/\1/p' "$log" | head -n1)
    [ -n "$ready" ] && break
    sleep 0.05
  done
  printf '%s' "$ready"
}

# tree PID: PID and all its descendants (the app's WebKit processes).
tree() {
  local p=$1 c
  [ -d "/proc/$p" ] || return 0
  echo "$p"
  for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree "$c"; done
}

# stop_app PIDFILE SESSION_PID: ends the app (SIGTERM, then SIGKILL after 5 s)
# while it is still the session's child, waits for the session to end, and
# untracks it.
stop_app() {
  local pid session=$2 i
  pid=$(cat "$1" 2>/dev/null) || pid=""
  if [ -n "$pid" ] && [ "$(awk '{ print $4 }' "/proc/$pid/stat" 2>/dev/null)" = "$session" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do ours_alive "$session" || break; sleep 0.1; done
    if [ "$(awk '{ print $4 }' "/proc/$pid/stat" 2>/dev/null)" = "$session" ]; then kill -9 "$pid" 2>/dev/null || true; fi
  fi
  wait "$session" 2>/dev/null || true
  for i in "${!PIDS[@]}"; do [ "${PIDS[$i]}" = "$session" ] && unset 'PIDS[i]'; done
  PIDS=("${PIDS[@]}")
}

# median: of the numbers on stdin, one a line (mean of the middle two when even).
median() {
  sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

load_average() { cut -d' ' -f1-3 /proc/loadavg; }
