#!/usr/bin/env bash
# Builds the desktop app's .deb (the app and the bundled `planopticon` CLI,
# its sidecar) with the configuration kept at the repository root:
#
#   bash scripts/package-deb.sh          -> target/release/bundle/deb/*.deb
#                                           and target/release/bundle/rpm/*.rpm
#
# How: cargo builds (the CLI first, so src-tauri/build.rs copies it in as
# the sidecar binaries/planopticon-cli-<triple>), then the Tauri CLI's
# `bundle` step packages what cargo built. `tauri build` is not used: it takes
# the folder holding tauri.conf.json (the root) as the app crate and would
# build the root package (the library and CLI) instead of src-tauri/.
# `tauri bundle` only packages: it finds the app by `mainBinaryName` in
# target/release, and resolves `externalBin` from the root, where cargo's
# tauri-build resolves it from src-tauri/; hence the --config patch, which
# also names the package: the bundler derives the Debian package name and the
# desktop file's name from `productName` ("PlanOpticon Auth" would give
# package plan-opticon-auth and "PlanOpticon Auth.desktop"), so for this step
# it is planopticon-auth, and the desktop entry, from
# src-tauri/planopticon-auth.desktop, still shows "PlanOpticon Auth". The
# binaries are built already: what the app calls itself is not changed.
#
# The patch also adds the systemd user units that keep connections alive
# without the app (`bundle.linux.deb.files`: package path -> source, relative
# to tauri.conf.json, i.e. the root): /usr/lib/systemd/user/planopticon-refresh.{service,timer}.
#
# The Tauri CLI comes from npm (@tauri-apps/cli, a prebuilt binary), at the
# version of the tauri crate in Cargo.lock, installed under target/tauri-cli.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
say() { printf '[package-deb] %s\n' "$*"; }

# The Tauri CLI matching the tauri crate (same major.minor).
# shellcheck source=scripts/tauri-cli.sh
source scripts/tauri-cli.sh
TAURI="$(tauri_cli)"
say "$("$TAURI" --version)"

t0=$SECONDS
say "cargo build --release -p planopticon (the CLI, bundled as the sidecar)"
cargo build --release -p planopticon
say "cargo build --release -p planopticon-app --features custom-protocol"
cargo build --release -p planopticon-app --features custom-protocol

# The .rpm beside the .deb, with the same desktop entry and units (the
# bundler writes RPMs itself, without rpmbuild).
say "tauri bundle --bundles deb,rpm"
rm -rf "$CARGO_TARGET_DIR/release/bundle/deb" "$CARGO_TARGET_DIR/release/bundle/rpm"
LINUX_FILES='"desktopTemplate": "src-tauri/planopticon-auth.desktop",
      "files": {"/usr/lib/systemd/user/planopticon-refresh.service": "packaging/systemd/planopticon-refresh.service",
                "/usr/lib/systemd/user/planopticon-refresh.timer": "packaging/systemd/planopticon-refresh.timer"}'
"$TAURI" bundle --bundles deb,rpm --ci \
  --config '{"productName": "planopticon-auth", "bundle": {"externalBin": ["binaries/planopticon-cli"],
    "linux": {"deb": {'"$LINUX_FILES"'}, "rpm": {'"$LINUX_FILES"'}}}}'
RPM="$(ls "$CARGO_TARGET_DIR"/release/bundle/rpm/*.rpm)" || { echo "[package-deb] no .rpm was made" >&2; exit 1; }
say "rpm: $RPM ($(du -h "$RPM" | cut -f1))"

DEB="$(ls "$CARGO_TARGET_DIR"/release/bundle/deb/*.deb)"
# Check what went in: the app, and the sidecar identical to the CLI just built.
contents="$(dpkg-deb -c "$DEB")"
for f in usr/bin/planopticon-app usr/bin/planopticon-cli usr/share/applications/planopticon-auth.desktop \
  usr/lib/systemd/user/planopticon-refresh.service usr/lib/systemd/user/planopticon-refresh.timer; do
  grep -q " \./$f\$\| $f\$" <<<"$contents" || { echo "[package-deb] $f is missing from $DEB" >&2; exit 1; }
done
x="$(mktemp -d)"
trap 'rm -rf "$x"' EXIT
dpkg-deb -x "$DEB" "$x"
cmp -s "$x/usr/bin/planopticon-cli" "$CARGO_TARGET_DIR/release/planopticon" ||
  { echo "[package-deb] the bundled sidecar is not the CLI just built" >&2; exit 1; }
[ "$(dpkg-deb -f "$DEB" Package)" = planopticon-auth ] || { echo "[package-deb] the package is not named planopticon-auth" >&2; exit 1; }
grep -qx 'Name=PlanOpticon Auth' "$x/usr/share/applications/planopticon-auth.desktop" ||
  { echo "[package-deb] the desktop entry does not say PlanOpticon Auth" >&2; exit 1; }
say "bundled sidecar: $("$x/usr/bin/planopticon-cli" --version)"
say "done in $((SECONDS - t0)) s: $DEB ($(du -h "$DEB" | cut -f1))"
