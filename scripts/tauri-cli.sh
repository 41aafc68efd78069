# shellcheck shell=bash
# tauri_cli: prints the path of the Tauri CLI (npm @tauri-apps/cli, a
# prebuilt binary) at the major.minor of the tauri crate in Cargo.lock,
# installing it under $CARGO_TARGET_DIR/tauri-cli first when it is missing
# or another version. Sourced by scripts/package-deb.sh and scripts/cross.sh;
# run from the repository root. Progress on stderr.
tauri_cli() {
  local version cli_dir tauri want
  version="$(awk '/^name = "tauri"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)"
  [ -n "$version" ] || { echo "tauri-cli.sh: no tauri crate in Cargo.lock" >&2; return 1; }
  cli_dir="${CARGO_TARGET_DIR:-target}/tauri-cli"
  tauri="$cli_dir/node_modules/.bin/tauri"
  want="~${version%.*}.0"
  if [ ! -x "$tauri" ] || [ "$("$tauri" --version 2>/dev/null | awk '{print $2}' | cut -d. -f1,2)" != "${version%.*}" ]; then
    echo "installing @tauri-apps/cli@$want (npm) into $cli_dir" >&2
    mkdir -p "$cli_dir"
    [ -f "$cli_dir/package.json" ] || printf '{"private":true}\n' >"$cli_dir/package.json"
    npm install --prefix "$cli_dir" --no-audit --no-fund --loglevel=error "@tauri-apps/cli@$want" >&2 || return 1
  fi
  printf '%s\n' "$tauri"
}
