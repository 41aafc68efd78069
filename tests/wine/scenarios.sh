#!/usr/bin/env bash
# The Windows CLI's scenarios, run under Wine against servers on 127.0.0.1.
#
#   CLI_EXE=.../x86_64-pc-windows-gnu/debug/planopticon.exe \
#   WINE_HELPERS=.../wine-helpers bash tests/wine/scenarios.sh
#
# (scripts/cross.sh builds both and runs this.) WINE_HELPERS holds
# bcryptprimitives.dll (the function Wine 8 lacks for Rust's std) and
# credlist.exe (lists Credential Manager entries), built from scripts/wine/.
#
# A fresh WINEPREFIX each run; the user's profile is C:\users\<user>, i.e.
# $WINEPREFIX/drive_c/users/$USER, so the token files are in
# $WINEPREFIX/drive_c/users/$USER/.planopticon/. Its services.toml points a
# service `acme` at the real test OAuth server (tests/oidc/server.mjs, run
# with node on the host; its GET /_test/stats counts refreshes and
# revocations). The browser is the scripted one (tests/oidc/browser.mjs),
# given the URL that the CLI prints.
#
# Scenarios, in order (each needs the one before it where it uses its token):
#   1. loopback sign-in with PKCE            5. a corrupt token file set aside
#   2. an expired token refreshed            6. the keyring mirror of a 4 KB
#   3. 4 processes, 1 expired token:            token in Credential Manager,
#      exactly 1 refresh at the server          gone after logout
#   4. the API-key line                      7. logout with revocation
#
# Each prints "ok" or "FAILED" with what it saw; "N passed, N failed" last,
# and a non-zero exit on any failure. Everything started is stopped on exit
# (the OAuth server, the CLI processes, this prefix's wineserver).
#
# Environment: WINE (default /usr/lib/wine/wine64), WINE_KEEP_TMP=1 keeps the
# temporary folder (the prefix and the logs).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
WINE="${WINE:-/usr/lib/wine/wine64}"
: "${CLI_EXE:?set CLI_EXE to the Windows planopticon.exe}"
: "${WINE_HELPERS:?set WINE_HELPERS to the folder with bcryptprimitives.dll and credlist.exe}"

say() { printf '[wine] %s\n' "$*"; }
PASSED=0
FAILED=0
pass() {
  PASSED=$((PASSED + 1))
  printf '[wine] ok      %s\n' "$1"
}
fail() {
  FAILED=$((FAILED + 1))
  printf '[wine] FAILED  %s\n' "$1"
  shift
  local line
  for line in "$@"; do printf '[wine]         %s\n' "$line"; done
}

for tool in "$WINE" node npm python3 curl; do
  command -v "$tool" >/dev/null 2>&1 || { say "missing $tool"; echo "0 passed, 1 failed"; exit 1; }
done
if [ ! -d tests/oidc/node_modules ]; then
  say "installing the test OAuth server: npm ci --prefix tests/oidc"
  npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error
fi

# ---- everything below is stopped on exit -------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/planopticon-wine.XXXXXX")"
export WINEPREFIX="$TMP/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
PIDS=()
cleanup() {
  local rc=$?
  exec 7>&- 2>/dev/null || true # the OAuth server exits when its stdin closes
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  # This prefix's wineserver (and any Windows process left in it).
  [ -d "$WINEPREFIX" ] && wineserver_cmd -k 2>/dev/null
  if [ "${WINE_KEEP_TMP:-}" = 1 ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
wineserver_cmd() {
  local server
  for server in /usr/lib/wine/wineserver64 /usr/lib/wine/wineserver "$(command -v wineserver || true)"; do
    [ -x "$server" ] && { "$server" "$@"; return; }
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The CLI beside the shim DLL (Windows loads a DLL from the .exe's folder first).
BIN="$TMP/bin"
mkdir -p "$BIN"
cp "$CLI_EXE" "$BIN/planopticon.exe"
cp "$WINE_HELPERS/bcryptprimitives.dll" "$WINE_HELPERS/credlist.exe" "$BIN/"

# cli ARGS...: the Windows CLI under Wine; stdout and stderr as the CLI's.
cli() { "$WINE" "$BIN/planopticon.exe" "$@"; }

# The test OAuth server: its first stdout line names the issuer.
mkfifo "$TMP/oidc.stdin"
node tests/oidc/server.mjs <"$TMP/oidc.stdin" >"$TMP/oidc.out" 2>"$TMP/oidc.err" &
PIDS+=($!)
exec 7>"$TMP/oidc.stdin"
for _ in $(seq 100); do [ -s "$TMP/oidc.out" ] && break; sleep 0.1; done
ISSUER="$(head -n1 "$TMP/oidc.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["issuer"])')" ||
  { say "the OAuth server did not start: $(cat "$TMP/oidc.err")"; echo "0 passed, 1 failed"; exit 1; }
say "OAuth server at $ISSUER"

# stat KEY...: a counter from the server's GET /_test/stats (0 when absent).
stat() {
  curl -fsS "$ISSUER/_test/stats" | python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1:]:
    v = v.get(k, 0) if isinstance(v, dict) else 0
print(v)' "$@"
}

say "setting up a fresh Wine prefix (the first run takes a while)"
if ! cli --version >"$TMP/version.out" 2>&1; then
  say "the Windows CLI does not start under Wine: $(tail -n 3 "$TMP/version.out")"
  echo "0 passed, 1 failed"
  exit 1
fi
say "$(tr -d '\r' <"$TMP/version.out")"
# One wineserver for the whole run (stopped on exit), not one per command.
wineserver_cmd -p

WIN_USER="$("$WINE" cmd /c 'echo %USERNAME%' 2>/dev/null | tr -d '\r')"
PROFILE="$WINEPREFIX/drive_c/users/${WIN_USER:-$(id -un)}"
PO="$PROFILE/.planopticon"
TOKEN="$PO/acme_token.json"
mkdir -p "$PO"
cat >"$PO/services.toml" <<EOF
[acme]
display_name = "Acme"
oauth_authorize_url = "$ISSUER/auth"
oauth_token_url = "$ISSUER/token"
client_id = "public-native"
scopes = ["openid", "email"]
redirect_uri = "http://127.0.0.1/callback"
issuer = "$ISSUER"
userinfo_url = "$ISSUER/me"
revocation_url = "$ISSUER/token/revocation"
EOF

# json_get FILE KEY: a top-level field of a JSON file.
json_get() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$1" "$2"; }
# expire FILE: the token's expires_at in the past (the refresh token kept).
expire() {
  python3 -c '
import json, sys, time
p = sys.argv[1]
t = json.load(open(p))
t["expires_at"] = time.time() - 3600
json.dump(t, open(p, "w"))' "$1"
}

# ---- 1. loopback sign-in with PKCE --------------------------------------
# The CLI prints the URL and starts BROWSER; the "browser" here is a no-op
# Windows command that succeeds (cmd's REM), and the scripted browser on the
# host follows the printed URL to the CLI's listener on 127.0.0.1.
scenario_sign_in() {
  local name="loopback sign-in with PKCE" out="$TMP/signin.out" url="" pid rc
  BROWSER="cmd /c rem" cli auth acme >"$out" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 600); do
    url="$(tr -d '\r' <"$out" | grep -m1 -o "^$ISSUER/auth?[^ ]*" || true)"
    [ -n "$url" ] || ! kill -0 "$pid" 2>/dev/null || { sleep 0.1; continue; }
    break
  done
  if [ -z "$url" ]; then
    wait "$pid"
    fail "$name" "no authorization URL in the CLI's output:" "$(tail -n 5 "$out")"
    return
  fi
  if ! node tests/oidc/browser.mjs "$url" >"$TMP/browser.out" 2>&1; then
    kill "$pid" 2>/dev/null
    wait "$pid"
    fail "$name" "the scripted browser failed: $(cat "$TMP/browser.out")"
    return
  fi
  wait "$pid"
  rc=$?
  local saw
  saw="$(tr -d '\r' <"$out")"
  if [ "$rc" -eq 0 ] && grep -q "Acme authentication successful" <<<"$saw" &&
    grep -q 'code_challenge_method=S256' <<<"$url" && grep -q 'code_challenge=' <<<"$url" &&
    grep -q 'redirect_uri=http%3A%2F%2F127.0.0.1%3A' <<<"$url" &&
    [ -n "$(json_get "$TOKEN" refresh_token)" ]; then
    pass "$name (S256 challenge, loopback redirect, token saved at C:\\users\\${WIN_USER}\\.planopticon)"
  else
    fail "$name" "exit $rc; URL $url" "$(tail -n 5 <<<"$saw")"
  fi
}

# ---- 2. an expired token refreshed --------------------------------------
scenario_refresh() {
  local name="expired token refreshed" before after old new out
  old="$(json_get "$TOKEN" access_token)"
  expire "$TOKEN"
  before="$(stat token refresh_token)"
  out="$(cli token acme 2>"$TMP/refresh.err" | tr -d '\r')"
  after="$(stat token refresh_token)"
  new="$(json_get "$TOKEN" access_token)"
  if [ "$after" -eq $((before + 1)) ] && [ -n "$new" ] && [ "$new" != "$old" ] && [ "$out" = "$new" ]; then
    pass "$name (1 refresh at the server, the new token printed and saved)"
  else
    fail "$name" "refreshes $before -> $after; printed a new token: $([ "$out" = "$new" ] && echo yes || echo no)" \
      "$(tail -n 3 "$TMP/refresh.err")"
  fi
}

# ---- 3. 4 processes on one expired token: exactly 1 refresh ---------------
scenario_four() {
  local name="4 processes on 1 expired token make 1 refresh" before after i pids=() rc=0 tokens
  expire "$TOKEN"
  before="$(stat token refresh_token)"
  for i in 1 2 3 4; do
    cli token acme >"$TMP/four.$i.out" 2>"$TMP/four.$i.err" &
    pids+=($!)
  done
  PIDS+=("${pids[@]}")
  for i in "${pids[@]}"; do wait "$i" || rc=$?; done
  after="$(stat token refresh_token)"
  tokens="$(cat "$TMP"/four.*.out | tr -d '\r' | sort -u)"
  if [ "$rc" -eq 0 ] && [ "$after" -eq $((before + 1)) ] && [ "$(wc -l <<<"$tokens")" -eq 1 ] &&
    [ "$tokens" = "$(json_get "$TOKEN" access_token)" ]; then
    pass "$name (all 4 printed the one new token)"
  else
    fail "$name" "exit $rc; refreshes $before -> $after; distinct tokens printed: $(wc -l <<<"$tokens")" \
      "$(cat "$TMP"/four.*.err | tail -n 4)"
  fi
}

# ---- 4. the API-key line ------------------------------------------------
scenario_api_key() {
  local name="the API-key line" out rc
  out="$(GITHUB_TOKEN=ghp_wine_scenario cli auth github 2>"$TMP/apikey.err" | tr -d '\r')"
  rc=$?
  if [ "$rc" -eq 0 ] && [ "$out" = "Github authentication successful (api_key)." ]; then
    pass "$name ($out)"
  else
    fail "$name" "exit $rc; stdout: $out" "$(tail -n 3 "$TMP/apikey.err")"
  fi
}

# ---- 5. a corrupt token file set aside ------------------------------------
# The saved-token step reads it, moves it aside, and the chain goes on to
# the API key.
scenario_corrupt() {
  local name="a corrupt token file set aside" out aside
  local file="$PO/github_token.json"
  printf '{"access_token": "half a file' >"$file"
  out="$(GITHUB_TOKEN=ghp_wine_scenario cli token github 2>&1 | tr -d '\r')"
  aside="$(find "$PO" -maxdepth 1 -name 'github_token.json.corrupt-*' | head -n1)"
  if [ ! -e "$file" ] && [ -n "$aside" ] && [ "$(cat "$aside")" = '{"access_token": "half a file' ] &&
    grep -qx ghp_wine_scenario <<<"$out"; then
    pass "$name (kept as $(basename "$aside"); the API key used)"
  else
    fail "$name" "file still there: $([ -e "$file" ] && echo yes || echo no); set aside: ${aside:-none}" \
      "$(tail -n 4 <<<"$out")"
  fi
}

# ---- 6. the keyring mirror of a 4 KB token -------------------------------
# A token JSON of over 4 KB (an unknown field, kept on rewrite, makes it so:
# Microsoft's tokens are that size) saved by a refresh with the mirror on:
# Credential Manager holds it (across entries: one holds at most 2,560
# bytes), and logout removes every entry.
creds() { "$WINE" "$BIN/credlist.exe" planopticon 2>&1 | tr -d '\r'; }
scenario_keyring() {
  local name="keyring mirror of a 4 KB token in Credential Manager, gone after logout"
  local listed total after
  python3 -c '
import json, sys
p = sys.argv[1]
t = json.load(open(p))
t["wine_scenario_padding"] = "x" * 4096
json.dump(t, open(p, "w"))' "$TOKEN"
  expire "$TOKEN"
  PLANOPTICON_KEYRING=1 cli token acme >/dev/null 2>"$TMP/keyring.err"
  listed="$(creds)"
  total="$(awk -F'\t' '/acme/ { n += $3 } END { print n + 0 }' <<<"$listed")"
  PLANOPTICON_KEYRING=1 cli auth acme --logout --keep-grant >/dev/null 2>>"$TMP/keyring.err"
  after="$(creds | grep -c acme)"
  # The JSON is over 4,096 characters: at least that many bytes in any
  # encoding (keyring's UTF-16 stores twice that).
  if [ "$total" -gt 4096 ] && [ "$after" -eq 0 ]; then
    pass "$name ($(grep -c acme <<<"$listed") entries, $total bytes; none after logout)"
  else
    fail "$name" "entries for acme before logout: $(grep -c acme <<<"$listed") ($total bytes); after: $after" \
      "$(grep -iv '^$' "$TMP/keyring.err" | tail -n 3)"
  fi
  # The next scenario signs in again.
}

# ---- 7. logout with revocation ------------------------------------------
scenario_logout() {
  local name="logout with revocation" before after out rc
  before="$(stat revocation)"
  out="$(cli auth acme --logout 2>"$TMP/logout.err" | tr -d '\r')"
  rc=$?
  after="$(stat revocation)"
  if [ "$rc" -eq 0 ] && [ "$out" = "Cleared saved acme token." ] && [ ! -e "$TOKEN" ] &&
    [ "$after" -gt "$before" ]; then
    pass "$name (the server saw $((after - before)) revocation(s); the file is gone)"
  else
    fail "$name" "exit $rc; stdout: $out; revocations $before -> $after" "$(tail -n 3 "$TMP/logout.err")"
  fi
}

# ---- 8. the library's unit tests under Wine -------------------------------
# LIB_TESTS_EXE (set by scripts/cross.sh): the library's unit tests built
# for Windows, among them the platform layer's (the protected DACL accepted
# and read back, a replace under a reader that lets go, one held off for
# good named and leaving no temp file) and a 4 KB token through Credential
# Manager in pieces. They run in this prefix, beside the shim DLL.
scenario_unit_tests() {
  local name="the library's unit tests (platform layer, Credential Manager pieces)" out="$TMP/unit.out"
  cp "$LIB_TESTS_EXE" "$BIN/lib-tests.exe"
  if (cd "$BIN" && "$WINE" lib-tests.exe --test-threads=2) >"$out" 2>&1; then
    pass "$name: $(tr -d '\r' <"$out" | grep -m1 -o '[0-9]* passed; [0-9]* failed')"
  else
    fail "$name" "$(tr -d '\r' <"$out" | grep -E 'FAILED|panicked|test result' | tail -n 5)"
  fi
}

[ -z "${LIB_TESTS_EXE:-}" ] || scenario_unit_tests
scenario_sign_in
if [ -f "$TOKEN" ]; then
  scenario_refresh
  scenario_four
else
  fail "expired token refreshed" "no token: the sign-in failed"
  fail "4 processes on 1 expired token make 1 refresh" "no token: the sign-in failed"
fi
scenario_api_key
scenario_corrupt
if [ -f "$TOKEN" ]; then
  scenario_keyring
else
  fail "keyring mirror of a 4 KB token" "no token: the sign-in failed"
fi
# The keyring scenario logged out (keeping the grant): sign in again first.
PASSED_BEFORE=$PASSED FAILED_BEFORE=$FAILED
scenario_sign_in >"$TMP/second-signin.out"
if [ -f "$TOKEN" ]; then
  PASSED=$PASSED_BEFORE FAILED=$FAILED_BEFORE
  scenario_logout
else
  PASSED=$PASSED_BEFORE FAILED=$FAILED_BEFORE
  fail "logout with revocation" "could not sign in again first:" "$(tail -n 3 "$TMP/second-signin.out")"
fi

printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
[ "$FAILED" -eq 0 ]
