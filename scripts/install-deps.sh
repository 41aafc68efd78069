#!/usr/bin/env bash
# Install everything the build, the tests, the desktop app's end-to-end test
# and the benchmark need on Debian 12. Idempotent: every step checks first and
# does nothing when its part is already present (a few seconds in total then).
# Prints one line per step.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Debian packages: the Tauri 2 / WebKitGTK 4.1 build stack, the headless
# display and WebDriver for the end-to-end test, the secret-service keyring,
# and the tools the scripts and the benchmark call.
DEB_PACKAGES=(
  # Tauri 2 build stack
  libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev
  libssl-dev libdbus-1-dev libxdo-dev pkg-config build-essential file patchelf
  # headless desktop, screenshots, WebDriver
  xvfb xauth x11-apps imagemagick webkit2gtk-driver dbus-x11
  # a tray host, a pointer and a window manager for the e2e tray-menu and
  # close-to-tray checks
  trayer xdotool openbox wmctrl
  # a notification server (needs the display) and the tools that record and
  # drive what reaches it, for the e2e notification checks
  dunst libnotify-bin
  # keyrings
  gnome-keyring libsecret-1-dev libsecret-tools keyutils
  # script and benchmark tools
  hyperfine time jq curl
  # a real HTTP proxy for tests/network.rs (run in the foreground by the test)
  tinyproxy
)

step() { printf '[install-deps] %s\n' "$*"; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi
fi

# rustup's cargo lives in ~/.cargo/bin; make sure that (and so tauri-driver,
# once installed) is on PATH even in a non-login shell.
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$CARGO_BIN:"*) ;; *) export PATH="$CARGO_BIN:$PATH" ;; esac

# 1. Debian packages --------------------------------------------------------
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  step "debian packages: all ${#DEB_PACKAGES[@]} present"
else
  step "debian packages: installing ${#missing[@]} missing: ${missing[*]}"
  t0=$SECONDS
  "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  step "debian packages: installed in $((SECONDS - t0)) s"
fi

# 2. Rust components --------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
  echo "[install-deps] cargo not found: install Rust with rustup (https://rustup.rs) first" >&2
  exit 1
fi
comps=()
cargo fmt --version >/dev/null 2>&1 || comps+=(rustfmt)
cargo clippy --version >/dev/null 2>&1 || comps+=(clippy)
if [ "${#comps[@]}" -eq 0 ]; then
  step "rust components: rustfmt and clippy present"
else
  t0=$SECONDS
  rustup component add "${comps[@]}"
  step "rust components: added ${comps[*]} in $((SECONDS - t0)) s"
fi

# 3. tauri-driver (WebDriver bridge for the desktop app's end-to-end test) --
if command -v tauri-driver >/dev/null 2>&1; then
  step "tauri-driver: present ($(command -v tauri-driver))"
else
  step "tauri-driver: cargo install tauri-driver --locked"
  t0=$SECONDS
  cargo install tauri-driver --locked --quiet
  step "tauri-driver: installed in $((SECONDS - t0)) s"
fi

# 4. npm packages of the test OAuth server ----------------------------------
if [ -f tests/oidc/package-lock.json ]; then
  if [ -d tests/oidc/node_modules ]; then
    step "tests/oidc node_modules: present"
  else
    step "tests/oidc node_modules: npm ci"
    t0=$SECONDS
    npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error
    step "tests/oidc node_modules: installed in $((SECONDS - t0)) s"
  fi
else
  step "tests/oidc: no package-lock.json, nothing to install"
fi

step "done"
