#!/usr/bin/env bash
# The project's run command (README.md).
#
#   scripts/run.sh              with a display: build and start the desktop app;
#                               without one: build the CLI and show `planopticon status`
#   scripts/run.sh ARGS...      build the CLI and run `planopticon ARGS...`
#                               (e.g. scripts/run.sh auth github)
set -euo pipefail

# ---- desktop app: how to build it and where its binary lands -------------
# (the crate src-tauri/, package planopticon-app; `custom-protocol` makes it
# serve the bundled ui/. The CLI is built first below, so src-tauri/build.rs
# copies target/release/planopticon in as the sidecar. Override from the environment.)
APP_BUILD_CMD="${APP_BUILD_CMD:-cargo build --release -p planopticon-app --features custom-protocol}"
APP_BIN="${APP_BIN:-target/release/planopticon-app}"
# ---------------------------------------------------------------------------

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
CLI_BIN="$CARGO_TARGET_DIR/release/planopticon"

say() { printf '[run] %s\n' "$*"; }

bash scripts/install-deps.sh
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$CARGO_BIN:"*) ;; *) export PATH="$CARGO_BIN:$PATH" ;; esac

say "building the CLI: cargo build --release"
cargo build --release

if [ "$#" -gt 0 ]; then
  exec "$CLI_BIN" "$@"
fi

if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  say "display found: building the desktop app: $APP_BUILD_CMD"
  bash -c "$APP_BUILD_CMD"
  case "$APP_BIN" in /*) ;; *) APP_BIN="$ROOT/$APP_BIN" ;; esac
  if [ ! -x "$APP_BIN" ]; then
    echo "[run] desktop app binary not found at $APP_BIN (adjust APP_BIN in scripts/run.sh)" >&2
    exit 1
  fi
  say "starting $APP_BIN"
  # Without a session bus the app would auto-start a dbus-daemon that
  # outlives it, and the keyring could not be reached: give it one.
  if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ] && command -v dbus-run-session >/dev/null 2>&1; then
    exec dbus-run-session -- "$APP_BIN"
  fi
  exec "$APP_BIN"
fi

say "no display (neither DISPLAY nor WAYLAND_DISPLAY set): running the CLI"
say "$CLI_BIN status"
rc=0
"$CLI_BIN" status || rc=$?
cat <<EOF

Connect a service with:
  $CLI_BIN auth SERVICE            (google, dropbox, zoom, notion, github, microsoft, plane)
  $CLI_BIN auth SERVICE --logout   forget the saved token
  $CLI_BIN --help                  every command and option
or through this script: scripts/run.sh auth SERVICE
EOF
exit "$rc"
