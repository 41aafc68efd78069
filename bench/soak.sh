#!/usr/bin/env bash
# Benchmark (not a test): the app's memory over a soak. The release app runs
# with one connection to the test OAuth server (tests/oidc/server.mjs) whose
# access tokens live 5 s, so its keeper refreshes every few seconds (each
# refresh rotates the refresh token, rewrites the token file, wakes the file
# watcher, republishes the cards to the window and the tray) for 30 minutes.
# PSS of the app and its WebKit processes (smaps_rollup, summed) after a
# warm-up and at the end; the growth (goal: under 5 MB); and the number of
# refreshes the server answered, as evidence that the keeper worked.
# Results: target/bench/soak.md and target/bench/soak.json (every sample).
# See bench/README.md.
#
#   bash bench/soak.sh
#
# Knobs (environment): BENCH_SOAK_SECONDS (1800), BENCH_SOAK_WARMUP (120 s
# after the window is up: the first refreshes, WebKit's caches),
# BENCH_SOAK_SAMPLE (60 s between PSS samples), BENCH_SOAK_TTL (5 s).
set -euo pipefail
NAME=soak
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION="${BENCH_SOAK_SECONDS:-1800}"
WARMUP="${BENCH_SOAK_WARMUP:-120}"
SAMPLE="${BENCH_SOAK_SAMPLE:-60}"
TTL="${BENCH_SOAK_TTL:-5}"

need_tools Xvfb dbus-run-session python3 jq node npm curl

build_ours
if [ ! -d tests/oidc/node_modules ]; then
  say "installing the test OAuth server: npm ci --prefix tests/oidc"
  npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/planopticon-soak.XXXXXX")"
APP_SESSION=""
cleanup() {
  [ -z "$APP_SESSION" ] || stop_app "$WORK/app.pid" "$APP_SESSION"
  exec 7>&- 2>/dev/null || true # closes the OAuth server's stdin: it exits
  stop_tracked
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the OAuth server, tokens living TTL seconds -------------------------------
mkfifo "$WORK/oidc.stdin"
ACCESS_TOKEN_TTL="$TTL" node tests/oidc/server.mjs <"$WORK/oidc.stdin" >"$WORK/oidc.out" 2>"$WORK/oidc.err" &
track $!
exec 7>"$WORK/oidc.stdin"
for _ in $(seq 100); do [ -s "$WORK/oidc.out" ] && break; sleep 0.1; done
ISSUER="$(head -n1 "$WORK/oidc.out" | jq -r .issuer)" || die "the OAuth server did not start: $(cat "$WORK/oidc.err")"
say "OAuth server at $ISSUER, access tokens live ${TTL} s"
stats() { curl -fsS "$ISSUER/_test/stats"; }

# ---- one connection, signed in by the CLI (the fake user in a browser) -------
HOME_DIR="$WORK/home"
mkdir -p "$HOME_DIR/.planopticon"
chmod 700 "$HOME_DIR/.planopticon"
acme_at "$ISSUER" >"$HOME_DIR/.planopticon/services.toml"
say "signing in: planopticon auth acme (loopback, BROWSER=tests/oidc/browser)"
env -i PATH="$PATH" HOME="$HOME_DIR" LANG=C.UTF-8 BROWSER="$ROOT/tests/oidc/browser" \
  "$OURS_CLI" auth acme </dev/null >"$WORK/signin.out" 2>"$WORK/signin.err" ||
  die "the sign-in failed: $(cat "$WORK/signin.out" "$WORK/signin.err")"
TOKEN="$HOME_DIR/.planopticon/acme_token.json"
jq -e '.refresh_token | type == "string"' "$TOKEN" >/dev/null || die "no refresh token in $TOKEN"
say "connected: $(grep -m1 successful "$WORK/signin.out")"

# ---- the app -----------------------------------------------------------------
start_xvfb DISP
launch_app "$OURS_APP" "$HOME_DIR" "$DISP" "$WORK/app.log" "$WORK/app.pid"
APP_SESSION=$SESSION_PID
[ -n "$(wait_ready "$WORK/app.log" 60)" ] || die "no window with cards after 60 s (log: $(tail -n 5 "$WORK/app.log"))"
APP_PID=$(cat "$WORK/app.pid")
say "app up (pid $APP_PID); warm-up ${WARMUP} s"
sleep "$WARMUP"

refreshes() { stats | jq '.token.refresh_token // 0'; }
mem() { python3 bench/procstat.py mem "$APP_PID" "$@"; }
SAMPLES="$WORK/samples.jsonl"
sample() { # ELAPSED_S
  local m
  m=$(mem) || die "the app is gone (log: $(tail -n 5 "$WORK/app.log"))"
  jq -c --argjson t "$1" --argjson r "$(refreshes)" --arg load "$(load_average)" \
    '{t: $t, pss_kib, rss_kib, processes: (.processes | length), refreshes: $r, load: $load}' <<<"$m" >>"$SAMPLES"
  tail -n1 "$SAMPLES"
}

mem --breakdown >"$OUT/soak-start-breakdown.json"
START_STATS="$(stats)"
say "start: $(sample 0)"
t0=$SECONDS
next=$SAMPLE
while [ $((SECONDS - t0)) -lt "$DURATION" ]; do
  target=$((next < DURATION ? next : DURATION))
  wait_s=$((target - (SECONDS - t0)))
  [ "$wait_s" -gt 0 ] && sleep "$wait_s"
  kill -0 "$APP_PID" 2>/dev/null || die "the app exited (log: $(tail -n 5 "$WORK/app.log"))"
  say "$(sample $((SECONDS - t0)))"
  next=$((next + SAMPLE))
done
mem --breakdown >"$OUT/soak-end-breakdown.json"
END_STATS="$(stats)"

# The keeper kept the connection alive: the token is not expired, not marked,
# and nothing was refused.
alive=""
for _ in $(seq 20); do
  if jq -e --argjson now "$(date +%s)" '.expires_at > $now and (.needs_reconnect == null)' "$TOKEN" >/dev/null 2>&1; then
    alive=1; break
  fi
  sleep 0.5
done
[ -n "$alive" ] || die "the connection was not kept alive: $(jq -c '{expires_at, needs_reconnect}' "$TOKEN")"

# ---- report ------------------------------------------------------------------
jq -s --argjson s0 "$START_STATS" --argjson s1 "$END_STATS" \
  '{samples: ., server_start: $s0, server_end: $s1}' "$SAMPLES" >"$OUT/soak.json"
first_pss=$(jq '.samples[0].pss_kib' "$OUT/soak.json")
last_pss=$(jq '.samples[-1].pss_kib' "$OUT/soak.json")
first_rss=$(jq '.samples[0].rss_kib' "$OUT/soak.json")
last_rss=$(jq '.samples[-1].rss_kib' "$OUT/soak.json")
elapsed=$(jq '.samples[-1].t' "$OUT/soak.json")
max_pss=$(jq '[.samples[].pss_kib] | max' "$OUT/soak.json")
n_ref=$(jq -n --argjson a "$START_STATS" --argjson b "$END_STATS" '($b.token.refresh_token // 0) - ($a.token.refresh_token // 0)')
n_ref_all=$(jq -n --argjson b "$END_STATS" '$b.token.refresh_token // 0')
bad=$(jq -n --argjson b "$END_STATS" '$b.invalid_grant')
# The second half's median against the first half's: a slope that a single
# start/end pair could hide or invent.
half_first=$(jq --argjson h "$((DURATION / 2))" '.samples[] | select(.t <= $h) | .pss_kib' "$OUT/soak.json" | median)
half_second=$(jq --argjson h "$((DURATION / 2))" '.samples[] | select(.t > $h) | .pss_kib' "$OUT/soak.json" | median)
by_kind() { # FILE
  jq -r '.by_kind_kib | to_entries | sort_by(-.value)[] | "\(.key)=\(.value)"' "$1"
}
{
  echo "# Soak: the app keeping ${TTL}-second tokens fresh for $((DURATION / 60)) min"
  echo
  echo "$(date -u +%FT%TZ), $(nproc) cores, ours at $(measured_commit); warm-up ${WARMUP} s, PSS every ${SAMPLE} s."
  echo "Load average at the start: $(jq -r '.samples[0].load' "$OUT/soak.json"); at the end: $(jq -r '.samples[-1].load' "$OUT/soak.json")."
  echo
  awk -v a="$first_pss" -v b="$last_pss" -v ra="$first_rss" -v rb="$last_rss" -v m="$max_pss" -v t="$elapsed" \
    -v h1="$half_first" -v h2="$half_second" -v n="$n_ref" -v nall="$n_ref_all" -v bad="$bad" 'BEGIN {
    printf "| what | start | end (%d s later) | growth | goal |\n|---|---:|---:|---:|---|\n", t
    printf "| PSS, app + WebKit | %.1f MB | %.1f MB | %+.2f MB (%+.1f %%) | < 5 MB %s |\n", a / 1024, b / 1024, (b - a) / 1024, (b - a) * 100 / a, ((b - a) / 1024 < 5 ? "(met)" : "(missed)")
    printf "| RSS summed | %.1f MB | %.1f MB | %+.2f MB | |\n", ra / 1024, rb / 1024, (rb - ra) / 1024
    printf "| PSS, median of each half | %.1f MB | %.1f MB | %+.2f MB | |\n", h1 / 1024, h2 / 1024, (h2 - h1) / 1024
    printf "\nHighest PSS sampled: %.1f MB. Refreshes answered by the server during the window: %d (%d since the sign-in, about one every %.1f s); invalid_grant answers: %d.\n", m / 1024, n, nall, (n > 0 ? t / n : 0), bad
  }'
  echo
  echo "PSS by kind of mapping (KiB), start -> end:"
  echo
  join -t= -a1 -a2 -e0 -o 0,1.2,2.2 <(by_kind "$OUT/soak-start-breakdown.json" | sort) <(by_kind "$OUT/soak-end-breakdown.json" | sort) |
    awk -F= '{ printf "- %s: %d -> %d (%+d)\n", $1, $2, $3, $3 - $2 }'
} >"$OUT/soak.md"

echo
cat "$OUT/soak.md"
echo
say "written: $OUT/soak.md, $OUT/soak.json, $OUT/soak-{start,end}-breakdown.json"
