#!/usr/bin/env bash
# End-to-end test of the desktop app in a real window, over WebDriver.
#
#   bash tests/e2e/run.sh
#
# Builds the CLI and the app (debug, with the bundled UI), starts the test
# OAuth server (tests/oidc/server.mjs) and a virtual display (Xvfb), writes a
# throw-away HOME whose services.toml adds a service `acme` pointing at that
# server and points the built-in Zoom at it too (its client in ZOOM_CLIENT_ID
# and ZOOM_CLIENT_SECRET), and then, inside its own D-Bus session
# (dbus-run-session, with an unlocked throw-away keyring), runs
# tests/e2e/e2e.mjs, which drives the app through tauri-driver: Connect, the
# browser's round trip, Disconnect, the CLI's changes seen by the open window,
# the tray menu, Settings, About, a second launch, closing to the tray, Quit,
# the app again in a dark theme, and once more for the built-in Zoom card:
# Connect, then "Log out of Zoom" in the tray menu; then the app's keeper
# with 5-second tokens (the server's POST /_test/ttl): the card's expiry
# moves on by itself; the grant revoked at the provider: the keeper's
# refresh gets invalid_grant, one notification reaches the test's
# notification server (dunst, on the test's session bus; dbus-monitor
# records the Notify calls), the tray asks for attention, and "Reconnect"
# from the tray or the notification signs in again; last Settings' "Start
# at login" and a start with --hidden.
#
# Screenshots go to $ARTIFACTS_DIR (default target/artifacts/e2e). Prints
# "N passed, N failed" last; exits non-zero on any failure. Everything it
# starts is stopped on exit.
#
# Environment: ARTIFACTS_DIR, CARGO_TARGET_DIR, E2E_KEEP_TMP=1 (keep the temp
# folder and its logs), E2E_SKIP_BUILD=1 (use the binaries already built),
# E2E_APP_BIN (the app binary to drive; default target/debug/planopticon-app).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/tests/e2e/homes.sh"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
ARTIFACTS_DIR="${ARTIFACTS_DIR:-$ROOT/target/artifacts}"
SHOTS="$ARTIFACTS_DIR/e2e"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$CARGO_BIN:"*) ;; *) export PATH="$CARGO_BIN:$PATH" ;; esac

say() { printf '[e2e] %s\n' "$*"; }
die() { printf '[e2e] %s\n0 passed, 1 failed\n' "$*" >&2; exit 1; }

for tool in Xvfb dbus-run-session tauri-driver WebKitWebDriver node npm import gnome-keyring-daemon \
  trayer xdotool openbox wmctrl dunst dunstctl dbus-monitor; do
  command -v "$tool" >/dev/null 2>&1 || die "missing $tool: run scripts/install-deps.sh"
done

# ---- build --------------------------------------------------------------
if [ "${E2E_SKIP_BUILD:-}" != 1 ]; then
  say "building the CLI (the app's sidecar is a copy of it): cargo build -p planopticon"
  cargo build -p planopticon
  say "building the app: cargo build -p planopticon-app --features custom-protocol"
  cargo build -p planopticon-app --features custom-protocol
fi
# E2E_APP_BIN: another build of the app to drive (e.g. the installed .deb's
# /usr/bin/planopticon-app, with E2E_SKIP_BUILD=1 and the CLI still built).
APP="${E2E_APP_BIN:-$CARGO_TARGET_DIR/debug/planopticon-app}"
CLI="$CARGO_TARGET_DIR/debug/planopticon"
[ -x "$APP" ] || die "no app binary at $APP"
[ -x "$CLI" ] || die "no CLI binary at $CLI"

if [ ! -d tests/oidc/node_modules ]; then
  say "installing the test OAuth server: npm ci --prefix tests/oidc"
  npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error
fi

# ---- everything below is stopped on exit -------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/planopticon-e2e.XXXXXX")"
PIDS=()
cleanup() {
  local rc=$?
  exec 7>&- 2>/dev/null || true # closes the OAuth server's stdin: it exits
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill "${PIDS[$i]}" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "${E2E_KEEP_TMP:-}" = 1 ] || [ "$rc" -ne 0 ]; then
    say "logs kept in $TMP"
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The test OAuth server: its first stdout line names the issuer; it exits
# when its stdin (our fd 7) closes.
mkfifo "$TMP/oidc.stdin"
node tests/oidc/server.mjs <"$TMP/oidc.stdin" >"$TMP/oidc.out" 2>"$TMP/oidc.err" &
PIDS+=($!)
exec 7>"$TMP/oidc.stdin"
for _ in $(seq 100); do [ -s "$TMP/oidc.out" ] && break; sleep 0.1; done
ISSUER="$(head -n1 "$TMP/oidc.out" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).issuer))')" ||
  die "the OAuth server did not start: $(cat "$TMP/oidc.err")"
say "OAuth server at $ISSUER"

# A port nothing listens on, for Zoom's revocation (see services.toml below).
CLOSED_PORT=9
if (exec 3<>"/dev/tcp/127.0.0.1/$CLOSED_PORT") 2>/dev/null; then
  die "something listens on 127.0.0.1:$CLOSED_PORT; the Zoom logout check needs it closed"
fi

# A throw-away HOME with the custom service and the test server's Zoom.
export HOME="$TMP/home"
mkdir -p "$HOME/.planopticon"
chmod 700 "$HOME/.planopticon"
{
  acme_at "$ISSUER"
  cat <<EOF

# The built-in Zoom, its endpoints at the test server; everything else is
# Zoom's own (the loopback redirect_uri, the client from ZOOM_CLIENT_ID and
# ZOOM_CLIENT_SECRET below). Scopes openid and email, so that /me names
# the account.
[zoom]
oauth_authorize_url = "$ISSUER/auth"
oauth_token_url = "$ISSUER/token"
scopes = ["openid", "email"]
userinfo_url = "$ISSUER/me"
# Zoom's revocation request (POST ?token=ACCESS_TOKEN with Basic auth, no
# body) is not RFC 7009's: oidc-provider answers it 400 "missing required
# parameter 'token'". So it goes to a closed loopback port instead (no test
# reaches the internet), and the e2e checks what matters then: the tray's
# "Log out of Zoom" still removes the token and says the provider was not told.
revocation_url = "http://127.0.0.1:$CLOSED_PORT/revoke"
EOF
} >"$HOME/.planopticon/services.toml"

# A virtual display on a free number.
DISPLAY_NUM=""
for n in $(seq 90 140); do
  if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then DISPLAY_NUM=$n; break; fi
done
[ -n "$DISPLAY_NUM" ] || die "no free X display number"
Xvfb ":$DISPLAY_NUM" -screen 0 1280x800x24 -nolisten tcp >"$TMP/xvfb.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$DISPLAY_NUM" ] && break; sleep 0.1; done
export DISPLAY=":$DISPLAY_NUM"

# A tray host (trayer), so the tray icon can be seen and its menu used
# (xdotool clicks it). The window manager (openbox) is started by the test
# itself, only for the close-to-tray checks.
trayer --edge top --align right --widthtype request --height 28 --SetDockType false \
  --transparent true --alpha 0 --tint 0x2b2f38 >"$TMP/tray.log" 2>&1 &
PIDS+=($!)

mkdir -p "$SHOTS"
rm -f "$SHOTS"/*.png

export BROWSER="$ROOT/tests/e2e/browser.sh"
export E2E_BROWSER_CTL="$TMP/browser.ctl"
export E2E_BROWSER_LOG="$TMP/browser.log"
export E2E_APP="$APP" E2E_CLI="$CLI" E2E_SHOTS="$SHOTS" E2E_TMP="$TMP" E2E_ISSUER="$ISSUER"
export E2E_NOTIFY_LOG="$TMP/notify.log"
export NO_AT_BRIDGE=1 # no accessibility bus processes that outlive the app
# The app (started by tauri-driver, through WebKitWebDriver, with this
# environment) signs in to Zoom as the test server's confidential client.
# No ZOOM_ACCOUNT_ID: with it Zoom would connect server-to-server.
export ZOOM_CLIENT_ID=confidential-native ZOOM_CLIENT_SECRET=confidential-secret
unset ZOOM_ACCOUNT_ID
unset DBUS_SESSION_BUS_ADDRESS

say "driving the app on $DISPLAY (screenshots in $SHOTS)"
# Its own session bus (the single-instance lock and the keyring live there),
# with an unlocked throw-away keyring so no password prompt can appear, and
# a notification server (dunst, on the virtual display) whose Notify calls
# dbus-monitor records for the test.
set +e
dbus-run-session -- bash -c '
  printf pw | gnome-keyring-daemon --foreground --unlock --components=secrets >"$E2E_TMP/keyring.log" 2>&1 &
  keyring=$!
  dbus-monitor --session "type=method_call,interface=org.freedesktop.Notifications,member=Notify"     >"$E2E_NOTIFY_LOG" 2>"$E2E_TMP/dbus-monitor.err" &
  monitor=$!
  dunst >"$E2E_TMP/dunst.log" 2>&1 &
  dunst=$!
  # Ready once it owns the name (asking dunstctl would start a second one by D-Bus activation).
  for _ in $(seq 50); do
    dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.Notifications 2>/dev/null | grep -q true && break
    sleep 0.1
  done
  node "$0"; rc=$?
  kill "$dunst" "$monitor" "$keyring" 2>/dev/null; wait "$dunst" "$monitor" "$keyring" 2>/dev/null
  exit $rc' "$ROOT/tests/e2e/e2e.mjs" </dev/null 2> >(grep -v "Failed to set fd limit" >&2)
rc=$?
set -e
exit "$rc"
