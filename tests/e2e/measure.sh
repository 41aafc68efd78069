#!/usr/bin/env bash
# Benchmark of the desktop app (not a test; numbers for the README):
#   - launch to cards interactive: from exec to the window's first rendered
#     cards (the UI reports it; PLANOPTICON_APP_TIMING makes the app print it)
#   - resident memory of the app and its WebKit processes, 3 s after start
#   - size of the .deb and of the release sidecar binary
#
#   bash tests/e2e/measure.sh [RUNS]      (default 5 launches; release build)
#
# Runs under its own Xvfb and D-Bus session, with a throw-away HOME holding
# one custom service. Builds nothing: run scripts/package-deb.sh first (it
# builds the release app and CLI and the .deb).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/tests/e2e/homes.sh"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
APP="$TARGET/release/planopticon-app"
RUNS="${1:-5}"
[ -x "$APP" ] || { echo "no release app at $APP: run scripts/package-deb.sh first" >&2; exit 1; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/planopticon-measure.XXXXXX")"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

export HOME="$TMP/home"
mkdir -p "$HOME/.planopticon"
acme_nowhere >"$HOME/.planopticon/services.toml"

for n in $(seq 150 190); do
  [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || { DISPLAY_NUM=$n; break; }
done
Xvfb ":$DISPLAY_NUM" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$DISPLAY_NUM" ] && break; sleep 0.1; done
export DISPLAY=":$DISPLAY_NUM" NO_AT_BRIDGE=1 PLANOPTICON_APP_TIMING=1
unset DBUS_SESSION_BUS_ADDRESS

# One launch: prints "<ms to interactive> <RSS MB> <PSS MB> <processes>", the
# memory summed over the app and its WebKit processes (RSS counts the shared
# WebKit/GTK libraries once per process; PSS shares them out fairly).
cat >"$TMP/once.sh" <<'EOF'
set -u
app="$1"; log="$2"
start=$(date +%s%3N)
"$app" 2>"$log" &
pid=$!
ready=""
for _ in $(seq 200); do
  ready=$(sed -n 's/^planopticon-app: ready \([0-9]*\)$/\1/p' "$log" | head -n1)
  [ -n "$ready" ] && break
  sleep 0.05
done
sleep 3
rss=0; pss=0; n=0
for p in $pid $(ps -o pid= --ppid "$pid"); do
  set -- $(awk '/^Rss:/ {r = $2} /^Pss:/ {p = $2} END {print r + 0, p + 0}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0 0)
  rss=$((rss + $1)); pss=$((pss + $2)); n=$((n + 1))
done
kill "$pid"; wait "$pid" 2>/dev/null
ms=timeout
[ -n "$ready" ] && ms=$((ready - start))
echo "$ms $((rss / 1024)) $((pss / 1024)) $n"
EOF

results=()
for i in $(seq "$RUNS"); do
  line="$(dbus-run-session -- bash "$TMP/once.sh" "$APP" "$TMP/app.$i.log" 2>/dev/null | tail -n1)"
  read -r ms rss pss n <<<"$line"
  echo "run $i: cards interactive after $ms ms; app + WebKit ($n processes): RSS $rss MB, PSS $pss MB"
  results+=("$line")
done
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
col() { printf '%s\n' "${results[@]}" | cut -d' ' -f"$1" | median; }
echo "median launch to cards interactive: $(col 1) ms"
echo "median memory of app + WebKit processes: RSS $(col 2) MB, PSS $(col 3) MB"
DEB="$(ls "$TARGET"/release/bundle/deb/*.deb 2>/dev/null | head -n1 || true)"
[ -n "$DEB" ] && printf '.deb: %s bytes (%s)\n' "$(stat -c %s "$DEB")" "$(du -h "$DEB" | cut -f1)"
printf 'release sidecar (planopticon CLI): %s bytes (%s)\n' "$(stat -c %s "$TARGET/release/planopticon")" "$(du -h "$TARGET/release/planopticon" | cut -f1)"
printf 'release app binary: %s bytes (%s)\n' "$(stat -c %s "$APP")" "$(du -h "$APP" | cut -f1)"
