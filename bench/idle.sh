#!/usr/bin/env bash
# Benchmark (not a test): what the running app costs while nothing happens,
# ours (file-system watcher, keeper asleep) against the old app that re-read
# every token file every 500 ms (the parent of commit 4f956bd), side by side:
# both apps run at once, each in its own HOME, virtual display and D-Bus
# session, with the same 7 connections (the 7 built-in services, each a token
# file with a 30-day access token and a refresh token: nothing is due, the
# keeper sleeps). For each app and its WebKit processes, over the window:
#   CPU seconds  utime + stime from /proc/PID/stat, summed, delta
#   wake-ups/s   voluntary + nonvoluntary context switches of every thread
#                (/proc/PID/task/*/status), summed, delta / seconds
# Results: target/bench/idle.md (the table) and target/bench/idle.json.
# See bench/README.md.
#
#   bash bench/idle.sh
#
# Knobs (environment): BENCH_IDLE_SECONDS (600), BENCH_IDLE_WARMUP (30 s after
# both windows are up), BENCH_IDLE_SLICE (60 s: the window is cut into slices,
# and the ratio is given per slice and as the median), BENCH_IDLE_INTERVAL (5 s
# between samples), BENCH_OLD_REV (4f956bd^).
set -euo pipefail
NAME=idle
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_WINDOW="${BENCH_IDLE_SECONDS:-600}"
WARMUP="${BENCH_IDLE_WARMUP:-30}"
SLICE="${BENCH_IDLE_SLICE:-60}"
INTERVAL="${BENCH_IDLE_INTERVAL:-5}"
OLD_REV="${BENCH_OLD_REV:-4f956bd^}"

need_tools Xvfb dbus-run-session python3 jq

# ---- the two apps ----------------------------------------------------------
build_ours

# The old poller: a worktree of OLD_REV under target/bench, built release in
# its own target folder (its Cargo.lock, its dependencies).
OLD_SHA="$(git rev-parse --verify "$OLD_REV^{commit}")" || die "no commit $OLD_REV"
OLD_TREE="$OUT/old-poller"
OLD_TARGET="$OUT/old-target"
if [ ! -d "$OLD_TREE" ]; then
  say "old app: git worktree add --detach $OLD_TREE $OLD_SHA"
  git worktree add --detach "$OLD_TREE" "$OLD_SHA" >/dev/null
fi
[ "$(git -C "$OLD_TREE" rev-parse HEAD)" = "$OLD_SHA" ] || git -C "$OLD_TREE" checkout --detach --quiet "$OLD_SHA"
grep -q 'POLL_INTERVAL: Duration = Duration::from_millis(500)' "$OLD_TREE/src-tauri/src/lib.rs" ||
  die "$OLD_REV is not the 500 ms poller (no POLL_INTERVAL of 500 ms in src-tauri/src/lib.rs)"
OLD_APP="$OLD_TARGET/release/planopticon-app"
if [ "${BENCH_SKIP_BUILD:-}" = 1 ] && [ -x "$OLD_APP" ]; then
  say "old app: BENCH_SKIP_BUILD=1: using $OLD_APP as built"
else
  say "old app ($OLD_REV = ${OLD_SHA:0:7}): cargo build --release -p planopticon-app --features custom-protocol"
  (cd "$OLD_TREE" && CARGO_TARGET_DIR="$OLD_TARGET" cargo build --release -p planopticon-app --features custom-protocol)
fi
[ -x "$OLD_APP" ] || die "the old app $OLD_APP was not built"

# ---- the homes ---------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/planopticon-idle.XXXXXX")"
declare -A SESSION_OF=()
cleanup() {
  local who
  for who in "${!SESSION_OF[@]}"; do stop_app "$WORK/$who.pid" "${SESSION_OF[$who]}"; done
  stop_tracked
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SERVICES=(google dropbox zoom notion github microsoft plane)
make_home() { # HOME
  local home=$1 s now
  now=$(date +%s)
  mkdir -p "$home/.planopticon"
  chmod 700 "$home/.planopticon"
  # Every endpoint of the built-ins at a closed loopback port: nothing leaves
  # the machine (the keeper's first look asks each identity endpoint once,
  # before the window; it fails at once and is not due again for hours).
  : >"$home/.planopticon/services.toml"
  for s in "${SERVICES[@]}"; do
    cat >>"$home/.planopticon/services.toml" <<EOF
[$s]
oauth_authorize_url = "http://127.0.0.1:9/auth"
oauth_token_url = "http://127.0.0.1:9/token"
userinfo_url = "http://127.0.0.1:9/me"
revocation_url = "http://127.0.0.1:9/revoke"

EOF
    printf '{"access_token":"at-%s","refresh_token":"rt-%s","expires_at":%s,"obtained_at":%s,"client_id":"bench","client_secret":""}\n' \
      "$s" "$s" "$((now + 30 * 86400))" "$now" >"$home/.planopticon/${s}_token.json"
    chmod 600 "$home/.planopticon/${s}_token.json"
  done
}

declare -A APP_OF=([ours]="$OURS_APP" [old]="$OLD_APP")
for who in ours old; do
  make_home "$WORK/home-$who"
  start_xvfb "DISPLAY_$who"
done
# Both at once, so the machine's load falls on both alike.
for who in ours old; do
  disp="DISPLAY_$who"
  launch_app "${APP_OF[$who]}" "$WORK/home-$who" "${!disp}" "$WORK/$who.log" "$WORK/$who.pid"
  SESSION_OF[$who]=$SESSION_PID
done
for who in ours old; do
  [ -n "$(wait_ready "$WORK/$who.log" 60)" ] || die "$who: no window with cards after 60 s (log: $(tail -n 5 "$WORK/$who.log"))"
done
OURS_PID=$(cat "$WORK/ours.pid")
OLD_PID=$(cat "$WORK/old.pid")
say "both windows up (ours pid $OURS_PID, old pid $OLD_PID); warm-up ${WARMUP} s"
sleep "$WARMUP"
for who in ours old; do
  pid=$(cat "$WORK/$who.pid")
  say "$who: $(for p in $(tree "$pid"); do printf '%s ' "$(cat /proc/"$p"/comm)"; done)"
done

LOAD_BEFORE="$(load_average)"
say "measuring for ${SECONDS_WINDOW} s (samples every ${INTERVAL} s, ${SLICE} s slices); load average $LOAD_BEFORE"
python3 bench/procstat.py watch --interval "$INTERVAL" --slice "$SLICE" --duration "$SECONDS_WINDOW" \
  --out "$OUT/idle.json" ours="$OURS_PID" old="$OLD_PID"
LOAD_AFTER="$(load_average)"

# Both must still be the apps we started, with their 7 connections.
for who in ours old; do
  kill -0 "$(cat "$WORK/$who.pid")" 2>/dev/null || die "$who exited during the window (log: $(tail -n 5 "$WORK/$who.log"))"
  n=$(ls "$WORK/home-$who/.planopticon/"*_token.json | wc -l)
  [ "$n" -eq 7 ] || die "$who: $n token files left, expected 7"
done

# ---- report ------------------------------------------------------------------
J="$OUT/idle.json"
tot() { jq -r ".totals.$1.$2" "$J"; }
per_slice() { jq -r ".slices[] | select(.seconds >= $SLICE * 0.9) | .$1.$2" "$J"; }
ratio_slices() { jq -r ".slices[] | select(.seconds >= $SLICE * 0.9) | (.ours.$1 / (.old.$1 | if . == 0 then 1e-9 else . end))" "$J"; }
n_slices=$(jq "[.slices[] | select(.seconds >= $SLICE * 0.9)] | length" "$J")
secs=$(jq -r '.seconds' "$J")
row() { # LABEL FIELD UNIT FORMAT
  local o d ms_o ms_d r
  o=$(tot ours "$2"); d=$(tot old "$2")
  ms_o=$(per_slice ours "$2" | median); ms_d=$(per_slice old "$2" | median)
  r=$(ratio_slices "$2" | median)
  awk -v l="$1" -v u="$3" -v f="$4" -v o="$o" -v d="$d" -v mo="$ms_o" -v md="$ms_d" -v r="$r" 'BEGIN {
    printf "| %s | " f " %s | " f " %s | %.3fx | " f " | " f " | %.3fx |\n", l, o, u, d, u, (d > 0 ? o / d : 0), mo, md, r }'
}
{
  echo "# Idle cost: ours (watcher + keeper) vs the 500 ms poller (${OLD_SHA:0:7})"
  echo
  echo "$(date -u +%FT%TZ), $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), ours at $(measured_commit)."
  echo "Both apps running at once, 7 connections each (nothing due), window $(printf '%.0f' "$secs") s after a ${WARMUP} s warm-up,"
  echo "samples every ${INTERVAL} s, $n_slices slices of ${SLICE} s. Load average before: $LOAD_BEFORE; after: $LOAD_AFTER."
  echo
  echo "| what (app + WebKit processes) | ours, whole window | old, whole window | ours/old, whole window | ours, median ${SLICE} s slice | old, median ${SLICE} s slice | ours/old, median of slice ratios |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  row "CPU time" cpu_s "s" "%.2f"
  row "wake-ups per second" wakeups_per_s "/s" "%.1f"
  echo
  echo "Per process (whole window): CPU seconds, context switches, threads seen:"
  echo
  for who in ours old; do
    jq -r --arg w "$who" '.totals[$w].processes | to_entries[] | "- \($w) \(.key): \(.value.cpu_s | . * 100 | round / 100) s, \(.value.switches) switches, \(.value.threads_seen) threads"' "$J"
  done
} >"$OUT/idle.md"

echo
cat "$OUT/idle.md"
echo
say "written: $OUT/idle.md, $OUT/idle.json"
