#!/bin/sh
# BROWSER for the end-to-end test: the fake user of tests/oidc/browser, with
# a behaviour the test picks per step by writing one word to $E2E_BROWSER_CTL:
#   normal      sign in and consent at once (the default)
#   delay N     wait N seconds first (so the "waiting for the browser" state can be seen)
#   deny        press "abort" at the provider: the callback carries access_denied
#   hang        never come back (the user wandered off): only Cancel or a paste ends it
#   login NAME  sign in as NAME (another account at the provider) and consent
# Every URL it is given is appended to $E2E_BROWSER_LOG.
here="$(cd "$(dirname "$0")" && pwd)"
browser="$here/../oidc/browser"
[ -n "${E2E_BROWSER_LOG:-}" ] && printf '%s\n' "$1" >>"$E2E_BROWSER_LOG"
mode="$(cat "${E2E_BROWSER_CTL:-/nonexistent}" 2>/dev/null || echo normal)"
case "$mode" in
  hang) exit 0 ;;
  deny) TEST_BROWSER_ACTION=deny exec "$browser" "$@" ;;
  login\ *) TEST_LOGIN="${mode#login }" exec "$browser" "$@" ;;
  delay\ *) sleep "${mode#delay }"; exec "$browser" "$@" ;;
  *) exec "$browser" "$@" ;;
esac
