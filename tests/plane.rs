//! Plane end to end through the CLI, against a fake self-hosted Plane that
//! speaks the endpoints of plane_oauth_provider.py: sign-in by loopback
//! (the authorize request, the PKCE code exchange, the identity and the
//! workspace), logout with RFC 7009 revocation, and a personal API key sent
//! as `x-api-key`.

mod spec_support;
mod support;

use std::path::Path;

use serde_json::{json, Value};
use sha2::Digest;
use spec_support::*;
use support::*;

/// A self-hosted instance lives under a path of its own: the base URL is
/// followed as a whole, not only its host.
const PREFIX: &str = "/plane";
const CLIENT_ID: &str = "plane-client";
const CLIENT_SECRET: &str = "plane-secret";
const CODE: &str = "plane-code-1";
const ACCESS: &str = "plane-access-1";
const REFRESH: &str = "plane-refresh-1";
const API_KEY: &str = "plane_api_personal_1";
const LIFETIME: f64 = 36_000.0;

/// The user as Plane's `UserLite` has it.
fn plane_user() -> Value {
    json!({
        "id": "9c1e8a52-0d0b-4a43-a4ad-5a0f3c6f7e01",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@plane.test",
        "avatar": "",
        "avatar_url": null,
        "display_name": "ada"
    })
}

/// `GET /auth/o/app-installation/`: a list of `PlaneOAuthAppInstallation`.
fn installations() -> Value {
    json!([{
        "id": "inst-1",
        "workspace_detail": {"name": "Analytical Engines", "slug": "analytical-engines", "id": "ws-1", "logo_url": null},
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "deleted_at": null,
        "status": "installed",
        "created_by": null,
        "updated_by": null,
        "workspace": "ws-1",
        "application": "app-1",
        "installed_by": "9c1e8a52-0d0b-4a43-a4ad-5a0f3c6f7e01",
        "app_bot": "bot-1",
        "webhook": null
    }])
}

/// The fake Plane. Its authorize page approves at once, as a signed-in user
/// who consents would: a 302 back to `redirect_uri` with the code and the
/// request's own `state`.
fn fake_plane() -> FakeServer {
    FakeServer::start(|req| {
        let Some(path) = req.path.strip_prefix(PREFIX) else {
            return Reply::Json(404, json!({"detail": "not under the base URL"}));
        };
        let bearer = req.header("authorization") == Some(&format!("Bearer {ACCESS}"));
        match (req.method.as_str(), path) {
            ("GET", "/auth/o/authorize-app/") => {
                let (Some(back), Some(state)) =
                    (req.query_param("redirect_uri"), req.query_param("state"))
                else {
                    return Reply::Json(400, json!({"error": "invalid_request"}));
                };
                let mut location = url::Url::parse(&back).unwrap();
                location
                    .query_pairs_mut()
                    .append_pair("code", CODE)
                    .append_pair("state", &state);
                Reply::Raw(302, vec![("Location".into(), location.into())], vec![])
            }
            ("POST", "/auth/o/token/") => Reply::Json(
                200,
                json!({"access_token": ACCESS, "refresh_token": REFRESH, "expires_in": LIFETIME as u64, "token_type": "Bearer", "scope": "read write"}),
            ),
            ("GET", "/api/v1/users/me/") if bearer || req.header("x-api-key") == Some(API_KEY) => {
                Reply::Json(200, plane_user())
            }
            ("GET", "/auth/o/app-installation/") if bearer => Reply::Json(200, installations()),
            ("GET", _) => Reply::Json(
                401,
                json!({"detail": "Authentication credentials were not provided."}),
            ),
            ("POST", "/auth/o/revoke-token/") => Reply::Json(200, json!({})),
            _ => Reply::Json(404, json!({})),
        }
    })
}

/// The fake user's browser: records the URL it is given, then follows the
/// provider's redirects as a browser does, ending at the CLI's loopback
/// listener.
fn fake_browser(home: &Home) -> (String, std::path::PathBuf) {
    browser_script(
        home,
        "exec curl -sS -L --noproxy '*' --max-time 30 -o /dev/null \"$1\"",
    )
}

#[test]
fn self_hosted_sign_in_by_loopback_then_logout_revokes() {
    let plane = fake_plane();
    let base = plane.url(PREFIX);
    let home = Home::new();
    let (browser, browser_log) = fake_browser(&home);
    let env = [
        ("PLANE_BASE_URL", base.as_str()),
        ("PLANE_CLIENT_ID", CLIENT_ID),
        ("PLANE_CLIENT_SECRET", CLIENT_SECRET),
        ("BROWSER", browser.as_str()),
    ];

    let before = now();
    let r = run_within(cli(
        &home,
        &["auth", "plane", "--redirect", "loopback"],
        &env,
    ));
    let after = now();
    r.assert_signed_in_by_browser("plane", "Plane");

    let reqs = plane.requests();
    // The authorization request, as the browser brought it to Plane.
    let authorize = only(&reqs, "GET", "/plane/auth/o/authorize-app/");
    let opened = std::fs::read_to_string(&browser_log).unwrap();
    assert!(
        opened.starts_with(&format!("{base}/auth/o/authorize-app/?")),
        "{opened}"
    );
    assert_eq!(
        authorize.query_param("client_id").as_deref(),
        Some(CLIENT_ID)
    );
    assert_eq!(
        authorize.query_param("response_type").as_deref(),
        Some("code")
    );
    assert_eq!(
        authorize.query_param("scope").as_deref(),
        Some("read write")
    );
    assert_eq!(
        authorize.query_param("code_challenge_method").as_deref(),
        Some("S256")
    );
    let state = authorize.query_param("state").expect("a state is sent");
    assert!(state.len() >= 22, "at least 128 random bits: {state}");
    let redirect_uri = authorize.query_param("redirect_uri").unwrap();
    let back = url::Url::parse(&redirect_uri).unwrap();
    assert_eq!(
        (back.scheme(), back.host_str(), back.path()),
        ("http", Some("127.0.0.1"), "/callback"),
        "{redirect_uri}"
    );
    assert!(back.port().is_some_and(|p| p != 0), "{redirect_uri}");
    assert_eq!(url_param(opened.trim(), "state").as_deref(), Some(&*state));

    // The code exchange: PKCE verifier matching the challenge, same redirect_uri.
    let token = only(&reqs, "POST", "/plane/auth/o/token/");
    assert_eq!(
        token.form("grant_type").as_deref(),
        Some("authorization_code")
    );
    assert_eq!(token.form("code").as_deref(), Some(CODE));
    assert_eq!(
        token.form("redirect_uri").as_deref(),
        Some(&*redirect_uri),
        "byte-identical to the authorization request's"
    );
    let verifier = token.form("code_verifier").expect("a PKCE code_verifier");
    assert_eq!(verifier.len(), 86, "{verifier}");
    use base64::Engine;
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    assert_eq!(
        authorize.query_param("code_challenge").as_deref(),
        Some(&*challenge)
    );
    assert_eq!(
        token.header("authorization"),
        Some(&*basic(CLIENT_ID, CLIENT_SECRET))
    );
    assert_eq!(token.header("accept"), Some("application/json"));

    // Who signed in, and in which workspace, both with the new token.
    let me = only(&reqs, "GET", "/plane/api/v1/users/me/");
    assert_eq!(
        me.header("authorization"),
        Some(&*format!("Bearer {ACCESS}"))
    );
    assert_eq!(me.header("x-api-key"), None);
    let inst = only(&reqs, "GET", "/plane/auth/o/app-installation/");
    assert_eq!(
        inst.header("authorization"),
        Some(&*format!("Bearer {ACCESS}"))
    );

    let path = home.po().join("plane_token.json");
    let saved = read_json(&path);
    assert_python_fields(&saved);
    assert_eq!(saved["access_token"], ACCESS);
    assert_eq!(saved["refresh_token"], REFRESH);
    assert_eq!(saved["client_id"], CLIENT_ID);
    assert_eq!(saved["client_secret"], CLIENT_SECRET);
    let expires_at = saved["expires_at"].as_f64().unwrap();
    assert!(
        (before + LIFETIME - 60.0 - 1.0..=after + LIFETIME - 60.0 + 1.0).contains(&expires_at),
        "issue time + expires_in - 60: {expires_at} (ran {before}..{after})"
    );
    assert_eq!(saved["obtained_by"], "oauth_pkce");
    assert_eq!(
        saved["account"],
        json!({"id": "9c1e8a52-0d0b-4a43-a4ad-5a0f3c6f7e01", "name": "ada", "login": "ada@plane.test", "workspace": "Analytical Engines"})
    );

    // Logout: RFC 7009 at Plane, the refresh token (it ends the grant), then
    // the local copy is gone.
    let r = run_within(cli(&home, &["auth", "plane", "--logout"], &env));
    assert_eq!(
        (r.code(), r.out().as_str()),
        (0, "Cleared saved plane token.\n"),
        "{r:?}"
    );
    assert!(r.err().contains("Revoked the token at plane."), "{r:?}");
    assert!(!path.exists());
    let reqs = plane.requests();
    let revoke = only(&reqs, "POST", "/plane/auth/o/revoke-token/");
    assert_eq!(revoke.form("token").as_deref(), Some(REFRESH));
    assert_eq!(
        revoke.form("token_type_hint").as_deref(),
        Some("refresh_token")
    );
    assert_eq!(
        revoke.header("authorization"),
        Some(&*basic(CLIENT_ID, CLIENT_SECRET))
    );
    assert_eq!(
        revoke.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(revoke.header("accept"), Some("application/json"));
    assert_eq!(
        revoke.form("client_secret"),
        None,
        "the secret is in Basic only"
    );
    assert_eq!(revoke.query, "");
}

#[test]
fn a_personal_api_key_is_sent_as_x_api_key() {
    let plane = fake_plane();
    let base = plane.url(PREFIX);
    let home = Home::new();
    let env = [
        ("PLANE_BASE_URL", base.as_str()),
        ("PLANE_API_KEY", API_KEY),
    ];

    let r = run_within(cli(&home, &["status", "--json"], &env));
    assert_eq!(r.code(), 0, "{r:?}");
    let all: Value = serde_json::from_str(&r.out()).unwrap_or_else(|_| panic!("{r:?}"));
    let status = service_entry(&all, "plane");
    assert_eq!(status["state"], "connected", "{status}");
    assert_eq!(status["method"], "api_key", "{status}");
    assert_eq!(status["account"]["login"], "ada@plane.test", "{status}");
    assert_eq!(status["account"]["name"], "ada", "{status}");

    let reqs = plane.requests();
    let me = only(&reqs, "GET", "/plane/api/v1/users/me/");
    assert_eq!(me.header("x-api-key"), Some(API_KEY));
    assert_eq!(me.header("authorization"), None, "not Bearer: {me:?}");
    // The installation lookup is for OAuth apps; a personal key has none.
    assert_eq!(plane.count("/plane/auth/o/app-installation/"), 0);
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    // An API key is used as it is: nothing is written.
    assert!(!Path::new(&home.po().join("plane_token.json")).exists());

    // And `auth plane` takes the key without asking Plane anything.
    let r = run_within(cli(&home, &["auth", "plane"], &env));
    assert_eq!(
        (r.code(), r.out().as_str()),
        (0, "Plane authentication successful (api_key).\n"),
        "{r:?}"
    );
}
