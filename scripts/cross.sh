#!/usr/bin/env bash
# The cross-platform stage: Windows and macOS from this Linux machine.
#
#   bash scripts/cross.sh
#
# 1. installs what it needs (Debian packages, checked first; idempotent);
# 2. builds the Wine helpers from scripts/wine/ (bcryptprimitives.dll, the
#    one function Wine 8 lacks for Rust's std; credlist.exe, which lists
#    Credential Manager entries for the scenarios);
# 3. checks for x86_64-pc-windows-gnu and aarch64-apple-darwin: the library,
#    the CLI and every test (`-p planopticon --all-targets`) and, for macOS,
#    the app (`-p planopticon-app --all-targets`);
# 4. builds the Windows CLI and the Windows app (.exe, with the CLI copied
#    in as its sidecar by src-tauri/build.rs) and the app's tests (its
#    Windows check);
# 5. tries the Windows NSIS setup with Tauri's bundler (says what stops it);
# 6. runs the CLI's scenarios under Wine (tests/wine/scenarios.sh).
#
# Prints a line per stage and "N passed, N failed" last; exits non-zero when
# any stage failed (the NSIS attempt is reported, not counted: see README).
#
# How (see the README's "Windows and macOS" section): Debian's rustc-web
# with its std source builds std for each target (-Zbuild-std, with
# RUSTC_BOOTSTRAP=1: the rustup toolchains here hold only Linux's std and
# cannot download another); MinGW links; Wine 8 runs; clang stands in for
# Apple's compiler in the macOS check (nothing links for macOS here: no SDK).
#
# Environment:
#   CROSS_TARGET_DIR  cargo's target folder for these builds, outside the
#                     clone so that CI reuses it between runs on one machine
#                     (default /var/cache/planopticon/target-cross)
#   CROSS_SKIP_WINE=1 stop after the builds
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WIN=x86_64-pc-windows-gnu
MAC=aarch64-apple-darwin
export CARGO_TARGET_DIR="${CROSS_TARGET_DIR:-/var/cache/planopticon/target-cross}"
HELPERS="$CARGO_TARGET_DIR/wine-helpers"

PASSED=0
FAILED=0
FAILURES=()
T0=$SECONDS

say() { printf '[cross] %s\n' "$*"; }
# stage NAME COMMAND...: runs the command, prints ok/FAILED with its time.
stage() {
  local name="$1" t0=$SECONDS
  shift
  printf '\n==== [cross %s] %s ====\n' "$(date +%H:%M:%S)" "$name"
  if "$@"; then
    PASSED=$((PASSED + 1))
    printf '[cross] ok      %4d s  %s\n' "$((SECONDS - t0))" "$name"
  else
    FAILED=$((FAILED + 1))
    FAILURES+=("$name")
    printf '[cross] FAILED  %4d s  %s\n' "$((SECONDS - t0))" "$name"
  fi
}

# ---- 1. packages -----------------------------------------------------------
DEB_PACKAGES=(
  rustc-web cargo-web rust-web-src # Debian's Rust 1.96 and std's source (-Zbuild-std)
  gcc-mingw-w64-x86-64             # the Windows linker and the helpers' compiler
  wine64                           # runs the Windows CLI
  clang-22 llvm-22                 # C parts of dependencies, for the macOS check
  nsis                             # makensis, for the Windows setup attempt
  imagemagick icnsutils            # remaking icons/icon.ico and icon.icns (README: Windows and macOS)
)
install_packages() {
  local missing=() pkg status
  for pkg in "${DEB_PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    say "debian packages: all ${#DEB_PACKAGES[@]} present"
    return 0
  fi
  say "debian packages: installing ${#missing[@]} missing: ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ---- the toolchain ---------------------------------------------------------
# Debian's cargo and rustc by full path: rustup's shims come first on PATH.
CARGO=/usr/bin/cargo
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"
BUILD_STD=(-Zbuild-std=std,panic_abort)

# macOS: clang for the C in dependencies (ring), without an SDK: a stub
# TargetConditionals.h and freestanding headers are enough to compile (not
# link); DOCS_RS=1 makes mac-notification-sys and objc2-exception-helper
# skip their Objective-C (fine for a check, which links nothing).
mac_env() {
  local stub="$CARGO_TARGET_DIR/mac-stub-include"
  mkdir -p "$stub"
  cat >"$stub/TargetConditionals.h" <<'EOF'
/* Stand-in for Apple's header, for `cargo check` only (scripts/cross.sh). */
#pragma once
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#define TARGET_OS_IOS 0
#define TARGET_OS_TV 0
#define TARGET_OS_WATCH 0
#define TARGET_OS_SIMULATOR 0
EOF
  export CC_aarch64_apple_darwin=clang-22 AR_aarch64_apple_darwin=llvm-ar-22
  export CFLAGS_aarch64_apple_darwin="-nostdlibinc -ffreestanding -DRING_CORE_NOSTDLIBINC=1 -isystem $stub"
}

check_win() { "$CARGO" check "${BUILD_STD[@]}" --target "$WIN" "$@"; }
check_mac() { (mac_env && DOCS_RS=1 "$CARGO" check "${BUILD_STD[@]}" --target "$MAC" "$@"); }

build_helpers() {
  mkdir -p "$HELPERS"
  x86_64-w64-mingw32-gcc -shared -O2 -o "$HELPERS/bcryptprimitives.dll" \
    scripts/wine/bcryptprimitives.c -ladvapi32 &&
    x86_64-w64-mingw32-gcc -O2 -municode -o "$HELPERS/credlist.exe" \
      scripts/wine/credlist.c -ladvapi32
}

build_win_cli() {
  "$CARGO" build "${BUILD_STD[@]}" --target "$WIN" -p planopticon --bin planopticon &&
    ls -l "$CARGO_TARGET_DIR/$WIN/debug/planopticon.exe"
}

# The app after the CLI: src-tauri/build.rs copies target/<triple>/debug/
# planopticon.exe to binaries/planopticon-cli-<triple>.exe, the sidecar.
# Built with --all-targets, its tests too: that is the app's Windows check
# as well (a separate `cargo check` would compile every dependency twice,
# about 14 minutes more on a cold target folder here).
build_win_app() {
  "$CARGO" build "${BUILD_STD[@]}" --target "$WIN" -p planopticon-app --features custom-protocol --all-targets &&
    ls -l "$CARGO_TARGET_DIR/$WIN/debug/planopticon-app.exe" "binaries/planopticon-cli-$WIN.exe" ||
    return 1
  cmp -s "$CARGO_TARGET_DIR/$WIN/debug/planopticon.exe" "binaries/planopticon-cli-$WIN.exe" ||
    { say "the sidecar binaries/planopticon-cli-$WIN.exe is not the CLI just built"; return 1; }
}

# NSIS setup through Tauri's bundler (Linux can make NSIS setups for a
# Windows target with Debian's makensis). The outcome is reported; it does
# not count as a failure, since what stops it (see below) is outside here.
try_nsis() {
  # shellcheck source=scripts/tauri-cli.sh
  source scripts/tauri-cli.sh
  local tauri log="$CARGO_TARGET_DIR/nsis-attempt.log"
  tauri="$(tauri_cli)" || { say "NSIS: no Tauri CLI (npm @tauri-apps/cli): not attempted"; return 0; }
  # No --bundles: on a Linux host the CLI offers only deb, rpm and appimage
  # there; without it the bundle targets of tauri.conf.json for the Windows
  # target are made (nsis; msi needs WiX, which runs on Windows only).
  # --no-binary-patching: cargo's .exe is left as built.
  if "$tauri" bundle --ci --debug --target "$WIN" --no-sign --no-binary-patching \
    --config '{"bundle": {"targets": ["nsis"], "externalBin": ["binaries/planopticon-cli"]}}' >"$log" 2>&1; then
    say "NSIS: setup made: $(find "$CARGO_TARGET_DIR/$WIN/debug/bundle/nsis" -name '*.exe' 2>/dev/null | head -n1)"
  else
    say "NSIS: not made; the bundler said (full log $log):"
    grep -iE 'error|fail|download|github' "$log" | tail -n 5 | sed 's/^/[cross]   /'
  fi
  return 0
}

# The library's unit tests for Windows, for the Wine run (their path is
# cargo's to choose: read from its JSON messages).
build_win_unit_tests() {
  "$CARGO" test "${BUILD_STD[@]}" --target "$WIN" -p planopticon --lib --no-run --message-format=json |
    jq -r 'select(.reason == "compiler-artifact" and .profile.test and .executable != null) | .executable' |
    tail -n 1 >"$CARGO_TARGET_DIR/lib-tests-exe" &&
    [ -s "$CARGO_TARGET_DIR/lib-tests-exe" ]
}

run_wine() {
  CLI_EXE="$CARGO_TARGET_DIR/$WIN/debug/planopticon.exe" WINE_HELPERS="$HELPERS" \
    LIB_TESTS_EXE="$(cat "$CARGO_TARGET_DIR/lib-tests-exe")" bash tests/wine/scenarios.sh
}

stage "packages" install_packages
stage "Wine helpers (scripts/wine/*.c)" build_helpers
stage "Windows check: library, CLI, tests (-p planopticon --all-targets)" check_win -p planopticon --all-targets
stage "macOS check: library, CLI, tests (-p planopticon --all-targets)" check_mac -p planopticon --all-targets
stage "macOS check: app (-p planopticon-app)" check_mac -p planopticon-app --all-targets
stage "Windows build: planopticon.exe" build_win_cli
stage "Windows build: the library's unit tests (run under Wine)" build_win_unit_tests
stage "Windows build and check: planopticon-app.exe with its sidecar, and its tests" build_win_app
printf '\n==== [cross %s] Windows NSIS setup (attempt) ====\n' "$(date +%H:%M:%S)"
try_nsis
if [ "${CROSS_SKIP_WINE:-}" != 1 ]; then
  stage "Wine scenarios (tests/wine/scenarios.sh)" run_wine
fi

printf '\n[cross] %d s in all\n' "$((SECONDS - T0))"
for f in "${FAILURES[@]}"; do printf '[cross] failed: %s\n' "$f"; done
printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
[ "$FAILED" -eq 0 ]
