//! The providers' own request shapes, through the CLI against a scripted
//! server: revocation on `--logout` for Zoom, Notion, GitHub and Dropbox
//! (each differs from RFC 7009), Notion's `Notion-Version` on its API, and
//! Zoom's server-to-server sign-in driven by environment variables alone.
//!
//! Only the endpoints are moved to 127.0.0.1 (services.toml); the
//! credentials come from the saved token files or the environment.

mod spec_support;
mod support;

use serde_json::{json, Value};
use spec_support::*;
use support::*;

/// A saved, unexpired token of `service` with a refresh token, issued to
/// `{service}-id` / `{service}-secret`.
fn save_token(home: &Home, service: &str) -> std::path::PathBuf {
    let path = home.po().join(format!("{service}_token.json"));
    std::fs::write(
        &path,
        json!({
            "access_token": format!("{service}-access"),
            "refresh_token": format!("{service}-refresh"),
            "expires_at": 4e9,
            "client_id": format!("{service}-id"),
            "client_secret": format!("{service}-secret"),
        })
        .to_string(),
    )
    .unwrap();
    path
}

/// Logs out of `service` and checks the lines the Python tool printed, the
/// revocation notice, and that the file is gone.
fn logout(home: &Home, service: &str, path: &std::path::Path) {
    let r = run_within(cli(home, &["auth", service, "--logout"], &[]));
    assert_eq!(
        (r.code(), r.out().as_str()),
        (0, format!("Cleared saved {service} token.\n").as_str()),
        "{r:?}"
    );
    assert!(
        r.err()
            .contains(&format!("Revoked the token at {service}.")),
        "{r:?}"
    );
    assert!(!path.exists(), "{service}: the local copy is deleted");
}

fn revocation_server() -> FakeServer {
    FakeServer::start(|req| match (req.method.as_str(), req.path.as_str()) {
        // Zoom answers 200 with an empty body.
        ("POST", "/oauth/revoke") => Reply::Text(200, "application/json".into(), String::new()),
        ("POST", "/v1/oauth/revoke") => Reply::Json(200, json!({"request_id": "3c90c3cc"})),
        ("DELETE", "/applications/github-id/token") => {
            Reply::Text(204, "text/plain".into(), String::new())
        }
        ("POST", "/2/auth/token/revoke") => Reply::Json(200, json!(null)),
        _ => Reply::Json(404, json!({})),
    })
}

fn revocation_home(fake: &FakeServer) -> Home {
    Home::with_services(&format!(
        "[zoom]\nrevocation_url = \"{0}/oauth/revoke\"\n\
         [notion]\nrevocation_url = \"{0}/v1/oauth/revoke\"\n\
         [github]\nrevocation_url = \"{0}/applications/{{client_id}}/token\"\n\
         [dropbox]\nrevocation_url = \"{0}/2/auth/token/revoke\"\n",
        fake.url("")
    ))
}

/// Zoom: `POST /oauth/revoke?token=ACCESS`, HTTP Basic client_id:secret, no body.
#[test]
fn zoom_revokes_with_the_token_in_the_query_and_basic_auth() {
    let fake = revocation_server();
    let home = revocation_home(&fake);
    let path = save_token(&home, "zoom");
    logout(&home, "zoom", &path);

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    let r = only(&reqs, "POST", "/oauth/revoke");
    // The access token, not the refresh token: Zoom's endpoint takes the
    // access token, and revoking it ends the grant.
    assert_eq!(r.query, "token=zoom-access");
    assert_eq!(
        r.header("authorization"),
        Some(&*basic("zoom-id", "zoom-secret"))
    );
    assert_eq!(r.body, "", "nothing in the body");
}

/// Notion: `POST /v1/oauth/revoke`, JSON `{"token": ACCESS}`, HTTP Basic.
#[test]
fn notion_revokes_with_a_json_body_and_basic_auth() {
    let fake = revocation_server();
    let home = revocation_home(&fake);
    let path = save_token(&home, "notion");
    logout(&home, "notion", &path);

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    let r = only(&reqs, "POST", "/v1/oauth/revoke");
    assert_eq!(r.query, "");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap(),
        json!({"token": "notion-access"})
    );
    assert_eq!(
        r.header("authorization"),
        Some(&*basic("notion-id", "notion-secret"))
    );
}

/// Notion documents `Notion-Version` as required on /v1/oauth/revoke too
/// (developers.notion.com/reference/revoke-token); without it the real API
/// answers 400 and the logout reports "Could not revoke". The identity call
/// sends it (`notion_identity_sends_notion_version`); revocation does not yet.
#[test]
fn notion_revocation_sends_notion_version() {
    let fake = revocation_server();
    let home = revocation_home(&fake);
    let path = save_token(&home, "notion");
    logout(&home, "notion", &path);
    let reqs = fake.requests();
    let r = only(&reqs, "POST", "/v1/oauth/revoke");
    assert!(r.header("notion-version").is_some(), "{r:#?}");
}

/// GitHub: `DELETE /applications/{client_id}/token`, JSON `{"access_token": ..}`,
/// HTTP Basic with the OAuth app's credentials.
#[test]
fn github_deletes_the_grant_with_basic_auth() {
    let fake = revocation_server();
    let home = revocation_home(&fake);
    let path = save_token(&home, "github");
    logout(&home, "github", &path);

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    let r = only(&reqs, "DELETE", "/applications/github-id/token");
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap(),
        json!({"access_token": "github-access"})
    );
    assert_eq!(
        r.header("authorization"),
        Some(&*basic("github-id", "github-secret"))
    );
    assert_eq!(r.header("accept"), Some("application/vnd.github+json"));
}

/// Dropbox: `POST /2/auth/token/revoke` authenticated by the token itself
/// (Bearer), no body: Dropbox's RPC endpoints without arguments take none.
#[test]
fn dropbox_revokes_with_the_bearer_token_and_no_body() {
    let fake = revocation_server();
    let home = revocation_home(&fake);
    let path = save_token(&home, "dropbox");
    logout(&home, "dropbox", &path);

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    let r = only(&reqs, "POST", "/2/auth/token/revoke");
    assert_eq!(r.header("authorization"), Some("Bearer dropbox-access"));
    assert_eq!(r.body, "");
    assert_eq!(r.header("content-type"), None);
}

/// Notion's API wants `Notion-Version` on every request: who-am-I through
/// `planopticon status` sends it with the Bearer token.
#[test]
fn notion_identity_sends_notion_version() {
    let fake = FakeServer::start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/v1/users/me") => Reply::Json(
            200,
            json!({
                "object": "user", "id": "bot-1", "type": "bot", "name": "PlanOpticon",
                "bot": {"owner": {"type": "user", "user": {"object": "user", "id": "u-1", "name": "Nora Notion", "type": "person", "person": {"email": "nora@notion.test"}}}, "workspace_name": "Nora's Notes"}
            }),
        ),
        _ => Reply::Json(404, json!({})),
    });
    let home = Home::with_services(&format!(
        "[notion]\nuserinfo_url = \"{}/v1/users/me\"\n",
        fake.url("")
    ));
    save_token(&home, "notion");
    let r = run_within(cli(&home, &["status", "--json"], &[]));
    assert_eq!(r.code(), 0, "{r:?}");
    let all: Value = serde_json::from_str(&r.out()).unwrap_or_else(|_| panic!("{r:?}"));
    let notion = service_entry(&all, "notion");
    assert_eq!(
        notion["account"],
        json!({"id": "bot-1", "name": "Nora Notion", "login": "nora@notion.test", "workspace": "Nora's Notes"}),
        "{notion}"
    );

    let reqs = fake.requests();
    let me = only(&reqs, "GET", "/v1/users/me");
    assert_eq!(me.header("notion-version"), Some("2022-06-28"));
    assert_eq!(me.header("authorization"), Some("Bearer notion-access"));
}

/// Zoom server-to-server from the environment alone (services.toml only
/// moves the token endpoint to 127.0.0.1): Zoom's `account_credentials`
/// shape, as the Python tool sends it, and the file it writes.
#[test]
fn zoom_server_to_server_from_environment_variables() {
    let fake = FakeServer::start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/oauth/token") => Reply::Json(
            200,
            json!({"access_token": "s2s-access", "token_type": "bearer", "expires_in": 3599, "scope": "recording:read:admin", "api_url": "https://api.zoom.us"}),
        ),
        _ => Reply::Json(404, json!({})),
    });
    let home = zoom_home(&fake.url("/oauth/token"));
    let env = [
        ("ZOOM_CLIENT_ID", "s2s-id"),
        ("ZOOM_CLIENT_SECRET", "s2s-secret"),
        ("ZOOM_ACCOUNT_ID", "acct-42"),
    ];
    let before = now();
    let r = run_within(cli(&home, &["auth", "zoom"], &env));
    let after = now();
    assert_eq!(
        (r.code(), r.out().as_str()),
        (0, "Zoom authentication successful (client_credentials).\n"),
        "{r:?}"
    );

    let reqs = fake.requests();
    let t = only(&reqs, "POST", "/oauth/token");
    assert_eq!(
        t.query, "grant_type=account_credentials&account_id=acct-42",
        "in this order, in the query string"
    );
    assert_eq!(t.body, "", "an empty body");
    assert_eq!(t.header("content-length"), Some("0"));
    assert_eq!(
        t.header("authorization"),
        Some(&*basic("s2s-id", "s2s-secret"))
    );

    let path = home.po().join("zoom_token.json");
    let saved = read_json(&path);
    assert_eq!(saved["access_token"], "s2s-access");
    let expires_at = saved["expires_at"].as_f64().unwrap();
    assert!(
        (before + 3599.0 - 60.0 - 1.0..=after + 3599.0 - 60.0 + 1.0).contains(&expires_at),
        "issue time + expires_in - 60: {expires_at} (ran {before}..{after})"
    );
    // The Python tool writes access_token and expires_at only: no refresh
    // token exists for this grant, and the secret stays in the environment.
    assert!(saved["refresh_token"].is_null(), "{saved}");
    assert!(saved.get("client_secret").is_none(), "{saved}");
    assert!(saved.get("client_id").is_none(), "{saved}");

    // The next run uses the saved token: no second request.
    let r = run_within(cli(&home, &["auth", "zoom"], &env));
    assert_eq!(
        (r.code(), r.out().as_str()),
        (0, "Zoom authentication successful (saved_token).\n"),
        "{r:?}"
    );
    assert_eq!(fake.count("/oauth/token"), 1);
}
