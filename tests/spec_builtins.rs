//! The seven built-in services, field by field, against the spec's tables
//! (planopticon-authentication.md, compatibility.md) and the provider facts
//! of native-oauth-checklist.md. Where we deliberately differ from the
//! Python tool (the default redirect), OUR value is pinned, with the reason.
//!
//! Only `planopticon::services::builtin` and `AuthConfig`'s public fields are
//! used, so the library's refactoring does not touch these tests.

use std::collections::BTreeMap;
use std::process::Command;

use planopticon::services::builtin;
use planopticon::AuthConfig;

/// The loopback redirect: a listener on 127.0.0.1, the port picked at run time.
const LOOPBACK: &str = "http://127.0.0.1/callback";
/// One fixed port, for providers that match the registered URI exactly.
const FIXED_LOOPBACK: &str = "http://127.0.0.1:27431/callback";

fn cfg(name: &str) -> AuthConfig {
    builtin(name).unwrap_or_else(|| panic!("{name} is a built-in service"))
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What every built-in leaves to the user: no direct credentials in code
/// (they come from the environment), the default token path.
fn assert_no_baked_in_credentials(c: &AuthConfig) {
    assert_eq!(c.client_id, None, "{}: client id comes from env", c.service);
    assert_eq!(
        c.client_secret, None,
        "{}: secret comes from env",
        c.service
    );
    assert_eq!(c.account_id, None, "{}", c.service);
    assert_eq!(
        c.token_path, None,
        "{}: ~/.planopticon/{{service}}_token.json",
        c.service
    );
}

#[test]
fn google() {
    let c = cfg("google");
    assert_eq!(c.service, "google");
    assert_eq!(
        c.oauth_authorize_url,
        s("https://accounts.google.com/o/oauth2/v2/auth")
    );
    assert_eq!(c.oauth_token_url, s("https://oauth2.googleapis.com/token"));
    assert_eq!(c.client_id_env, s("GOOGLE_CLIENT_ID"));
    assert_eq!(c.client_secret_env, s("GOOGLE_CLIENT_SECRET"));
    assert_eq!(c.api_key_env, s("GOOGLE_API_KEY"));
    assert_eq!(
        c.scopes,
        [
            "https://www.googleapis.com/auth/drive.readonly",
            "https://www.googleapis.com/auth/documents.readonly",
        ]
    );
    assert_eq!(c.account_id_env, None);
    // Not the Python tool's OOB: Google blocked the paste flow in 2023.
    assert_eq!(c.redirect_uri, s(LOOPBACK));
    // Without it Google issues no refresh token.
    assert_eq!(c.authorize_params, params(&[("access_type", "offline")]));
    assert_eq!(
        c.userinfo_url,
        s("https://openidconnect.googleapis.com/v1/userinfo")
    );
    assert_eq!(c.revocation_url, s("https://oauth2.googleapis.com/revoke"));
    assert_eq!(
        c.device_authorization_url,
        s("https://oauth2.googleapis.com/device/code")
    );
    assert_eq!(
        c.service_account_env,
        s("GOOGLE_APPLICATION_CREDENTIALS"),
        "the spec's service-account fallback"
    );
    assert_no_baked_in_credentials(&c);
}

#[test]
fn dropbox() {
    let c = cfg("dropbox");
    assert_eq!(c.service, "dropbox");
    assert_eq!(
        c.oauth_authorize_url,
        s("https://www.dropbox.com/oauth2/authorize")
    );
    assert_eq!(
        c.oauth_token_url,
        s("https://api.dropboxapi.com/oauth2/token")
    );
    assert_eq!(c.client_id_env, s("DROPBOX_APP_KEY"));
    assert_eq!(c.client_secret_env, s("DROPBOX_APP_SECRET"));
    assert_eq!(c.api_key_env, s("DROPBOX_ACCESS_TOKEN"));
    assert!(c.scopes.is_empty(), "{:?}", c.scopes);
    assert_eq!(c.account_id_env, None);
    // Dropbox wants the exact registered URI, port included: one fixed port.
    // Pasting sends no redirect_uri at all, and Dropbox shows the code.
    assert_eq!(c.redirect_uri, s(FIXED_LOOPBACK));
    assert_eq!(c.paste_redirect_uri, s(""));
    // Without it Dropbox issues no refresh token.
    assert_eq!(
        c.authorize_params,
        params(&[("token_access_type", "offline")])
    );
    assert_eq!(
        c.userinfo_url,
        s("https://api.dropboxapi.com/2/users/get_current_account")
    );
    assert_eq!(
        c.revocation_url,
        s("https://api.dropboxapi.com/2/auth/token/revoke")
    );
    assert_eq!(
        c.device_authorization_url, None,
        "Dropbox has no device grant"
    );
    assert_no_baked_in_credentials(&c);
}

#[test]
fn zoom() {
    let c = cfg("zoom");
    assert_eq!(c.service, "zoom");
    assert_eq!(c.oauth_authorize_url, s("https://zoom.us/oauth/authorize"));
    assert_eq!(c.oauth_token_url, s("https://zoom.us/oauth/token"));
    assert_eq!(c.client_id_env, s("ZOOM_CLIENT_ID"));
    assert_eq!(c.client_secret_env, s("ZOOM_CLIENT_SECRET"));
    assert_eq!(c.api_key_env, None, "Zoom has no API key variable");
    assert!(c.scopes.is_empty(), "{:?}", c.scopes);
    assert_eq!(c.account_id_env, s("ZOOM_ACCOUNT_ID"));
    // Zoom accepts a loopback redirect on any port; the OOB one it does not.
    assert_eq!(c.redirect_uri, s(LOOPBACK));
    assert!(c.authorize_params.is_empty(), "{:?}", c.authorize_params);
    assert_eq!(c.userinfo_url, s("https://api.zoom.us/v2/users/me"));
    assert_eq!(c.revocation_url, s("https://zoom.us/oauth/revoke"));
    assert_eq!(c.device_authorization_url, None);
    assert_no_baked_in_credentials(&c);
}

#[test]
fn notion() {
    let c = cfg("notion");
    assert_eq!(c.service, "notion");
    assert_eq!(
        c.oauth_authorize_url,
        s("https://api.notion.com/v1/oauth/authorize")
    );
    assert_eq!(
        c.oauth_token_url,
        s("https://api.notion.com/v1/oauth/token")
    );
    assert_eq!(c.client_id_env, s("NOTION_CLIENT_ID"));
    assert_eq!(c.client_secret_env, s("NOTION_CLIENT_SECRET"));
    assert_eq!(c.api_key_env, s("NOTION_API_KEY"));
    assert!(c.scopes.is_empty(), "{:?}", c.scopes);
    assert_eq!(c.account_id_env, None);
    // Notion documents no loopback rule (and no OOB): the exact URI, one
    // fixed port.
    assert_eq!(c.redirect_uri, s(FIXED_LOOPBACK));
    // Notion's authorize URL wants owner=user for a public integration.
    assert_eq!(c.authorize_params, params(&[("owner", "user")]));
    assert_eq!(c.userinfo_url, s("https://api.notion.com/v1/users/me"));
    assert_eq!(
        c.revocation_url,
        s("https://api.notion.com/v1/oauth/revoke")
    );
    assert_eq!(c.device_authorization_url, None);
    assert_no_baked_in_credentials(&c);
}

#[test]
fn github() {
    let c = cfg("github");
    assert_eq!(c.service, "github");
    assert_eq!(
        c.oauth_authorize_url,
        s("https://github.com/login/oauth/authorize")
    );
    assert_eq!(
        c.oauth_token_url,
        s("https://github.com/login/oauth/access_token")
    );
    assert_eq!(c.client_id_env, s("GITHUB_CLIENT_ID"));
    assert_eq!(c.client_secret_env, s("GITHUB_CLIENT_SECRET"));
    assert_eq!(c.api_key_env, s("GITHUB_TOKEN"));
    assert_eq!(c.scopes, ["repo", "read:org"]);
    assert_eq!(c.account_id_env, None);
    // GitHub accepts a loopback redirect whose port differs from the registered one.
    assert_eq!(c.redirect_uri, s(LOOPBACK));
    assert!(c.authorize_params.is_empty(), "{:?}", c.authorize_params);
    assert_eq!(c.userinfo_url, s("https://api.github.com/user"));
    // `{client_id}` is filled in at logout (DELETE /applications/{client_id}/token).
    assert_eq!(
        c.revocation_url,
        s("https://api.github.com/applications/{client_id}/token")
    );
    assert_eq!(
        c.device_authorization_url,
        s("https://github.com/login/device/code")
    );
    assert_no_baked_in_credentials(&c);
}

#[test]
fn microsoft() {
    let c = cfg("microsoft");
    assert_eq!(c.service, "microsoft");
    // The `common` tenant (the spec's troubleshooting section).
    assert_eq!(
        c.oauth_authorize_url,
        s("https://login.microsoftonline.com/common/oauth2/v2.0/authorize")
    );
    assert_eq!(
        c.oauth_token_url,
        s("https://login.microsoftonline.com/common/oauth2/v2.0/token")
    );
    assert_eq!(c.client_id_env, s("MICROSOFT_CLIENT_ID"));
    assert_eq!(c.client_secret_env, s("MICROSOFT_CLIENT_SECRET"));
    assert_eq!(c.api_key_env, None, "Microsoft has no API key variable");
    // The spec's two scopes plus `offline_access`, deliberately: without it
    // Microsoft issues no refresh token and the connection cannot be kept
    // alive (MSAL adds it to every request).
    assert_eq!(
        c.scopes,
        [
            "https://graph.microsoft.com/OnlineMeetings.Read",
            "https://graph.microsoft.com/Files.Read",
            "offline_access",
        ]
    );
    assert_eq!(c.account_id_env, None);
    // Microsoft rejects the OOB redirect, and http://127.0.0.1 for desktop
    // apps; http://localhost with any port is accepted.
    assert_eq!(c.redirect_uri, s("http://localhost/callback"));
    assert!(c.authorize_params.is_empty(), "{:?}", c.authorize_params);
    assert_eq!(c.userinfo_url, s("https://graph.microsoft.com/v1.0/me"));
    assert_eq!(
        c.revocation_url, None,
        "Microsoft has no per-token revocation endpoint"
    );
    assert_eq!(
        c.device_authorization_url,
        s("https://login.microsoftonline.com/common/oauth2/v2.0/devicecode")
    );
    assert_no_baked_in_credentials(&c);
}

/// Plane's fields that do not depend on PLANE_BASE_URL.
#[test]
fn plane() {
    let c = cfg("plane");
    assert_eq!(c.service, "plane");
    assert_eq!(c.client_id_env, s("PLANE_CLIENT_ID"));
    assert_eq!(c.client_secret_env, s("PLANE_CLIENT_SECRET"));
    assert_eq!(c.api_key_env, s("PLANE_API_KEY"));
    assert_eq!(c.scopes, ["read", "write"]);
    assert_eq!(c.account_id_env, None);
    // None: paste (the OOB default); loopback support at Plane is unknown.
    assert_eq!(c.redirect_uri, None);
    assert!(c.authorize_params.is_empty(), "{:?}", c.authorize_params);
    assert_eq!(c.device_authorization_url, None);
    assert_no_baked_in_credentials(&c);
}

/// Plane's URLs follow PLANE_BASE_URL. The variable is read by `builtin`
/// itself, and setting it in this process would race with the other tests,
/// so each case runs `plane_config_for_parent` in a child process of this
/// test binary with its own environment.
#[test]
fn plane_urls_follow_plane_base_url() {
    let cases = [
        (None, "https://api.plane.so"),
        // An empty variable counts as unset.
        (Some(""), "https://api.plane.so"),
        (
            Some("https://plane.intra.example"),
            "https://plane.intra.example",
        ),
        // A trailing slash does not double the path's.
        (
            Some("http://127.0.0.1:8080/plane/"),
            "http://127.0.0.1:8080/plane",
        ),
    ];
    for (var, base) in cases {
        let c = plane_in_child(var);
        assert_eq!(
            c["oauth_authorize_url"],
            format!("{base}/auth/o/authorize-app/"),
            "PLANE_BASE_URL={var:?}"
        );
        assert_eq!(
            c["oauth_token_url"],
            format!("{base}/auth/o/token/"),
            "PLANE_BASE_URL={var:?}"
        );
        assert_eq!(
            c["userinfo_url"],
            format!("{base}/api/v1/users/me/"),
            "PLANE_BASE_URL={var:?}"
        );
        assert_eq!(
            c["revocation_url"],
            format!("{base}/auth/o/revoke-token/"),
            "PLANE_BASE_URL={var:?}"
        );
    }
}

const CHILD_MARKER: &str = "PLANE_CONFIG_JSON=";

/// Runs in a child process (see `plane_urls_follow_plane_base_url`).
#[test]
#[ignore = "helper: run by plane_urls_follow_plane_base_url in a child process"]
fn plane_config_for_parent() {
    let c = cfg("plane");
    println!("{CHILD_MARKER}{}", serde_json::to_string(&c).unwrap());
}

fn plane_in_child(base_url: Option<&str>) -> serde_json::Value {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "plane_config_for_parent",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env_remove("PLANE_BASE_URL");
    if let Some(v) = base_url {
        cmd.env("PLANE_BASE_URL", v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The harness prints "test NAME ... " on the same line first.
    let line = stdout
        .lines()
        .find_map(|l| l.split_once(CHILD_MARKER).map(|(_, json)| json))
        .unwrap_or_else(|| panic!("the child printed no config: {stdout}"));
    serde_json::from_str(line).unwrap()
}

/// service, client id, client secret, API key, account id
type Row = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

/// The spec's environment-variable table, all rows at once: a renamed
/// variable anywhere breaks scripts written for the Python tool.
#[test]
fn environment_variable_table() {
    let table: [Row; 7] = [
        (
            "google",
            "GOOGLE_CLIENT_ID",
            "GOOGLE_CLIENT_SECRET",
            Some("GOOGLE_API_KEY"),
            None,
        ),
        (
            "dropbox",
            "DROPBOX_APP_KEY",
            "DROPBOX_APP_SECRET",
            Some("DROPBOX_ACCESS_TOKEN"),
            None,
        ),
        (
            "zoom",
            "ZOOM_CLIENT_ID",
            "ZOOM_CLIENT_SECRET",
            None,
            Some("ZOOM_ACCOUNT_ID"),
        ),
        (
            "notion",
            "NOTION_CLIENT_ID",
            "NOTION_CLIENT_SECRET",
            Some("NOTION_API_KEY"),
            None,
        ),
        (
            "github",
            "GITHUB_CLIENT_ID",
            "GITHUB_CLIENT_SECRET",
            Some("GITHUB_TOKEN"),
            None,
        ),
        (
            "microsoft",
            "MICROSOFT_CLIENT_ID",
            "MICROSOFT_CLIENT_SECRET",
            None,
            None,
        ),
        (
            "plane",
            "PLANE_CLIENT_ID",
            "PLANE_CLIENT_SECRET",
            Some("PLANE_API_KEY"),
            None,
        ),
    ];
    for (name, id, secret, key, account) in table {
        let c = cfg(name);
        let row = (
            c.client_id_env.as_deref(),
            c.client_secret_env.as_deref(),
            c.api_key_env.as_deref(),
            c.account_id_env.as_deref(),
        );
        assert_eq!(row, (Some(id), Some(secret), key, account), "{name}");
    }
    assert!(builtin("slack").is_none(), "not a built-in");
}
