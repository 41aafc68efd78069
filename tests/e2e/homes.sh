# shellcheck shell=bash
# The `[acme]` tables of services.toml that the e2e (run.sh, measure.sh) and
# the app benchmarks (bench/) give their throw-away HOMEs. Sourced.

# acme_at ISSUER: a service at the test OAuth server (tests/oidc/server.mjs).
acme_at() {
  cat <<EOF
[acme]
display_name = "Acme"
oauth_authorize_url = "$1/auth"
oauth_token_url = "$1/token"
client_id = "public-native"
scopes = ["openid", "email"]
redirect_uri = "http://127.0.0.1/callback"
issuer = "$1"
# Not needed to connect: the card shows who signed in, Disconnect revokes.
userinfo_url = "$1/me"
revocation_url = "$1/token/revocation"
# The third way to connect: a code entered on another device (RFC 8628).
device_authorization_url = "$1/device/auth"
EOF
}

# acme_nowhere: a service whose endpoints are a closed port, for a window
# with one card and nothing to reach (nothing leaves the machine).
acme_nowhere() {
  cat <<'EOF'
[acme]
oauth_authorize_url = "http://127.0.0.1:9/auth"
oauth_token_url = "http://127.0.0.1:9/token"
client_id = "public-native"
redirect_uri = "http://127.0.0.1/callback"
EOF
}
