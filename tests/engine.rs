//! What the engine decides, through the CLI a person types: which step runs
//! (an account id means server-to-server for any service; a service account
//! never replaces a person's own sign-in unless asked for; `--method` runs
//! one step alone), what a refusal says (the client that was sent and the
//! provider's own words), short-lived tokens, the device request's body,
//! `--logout --keep-grant`, a services.toml with one broken table, and the
//! REPL's case-insensitive commands.

mod support;

use std::io::Write;
use std::process::{Output, Stdio};

use serde_json::{json, Value};
use support::*;

fn run(home: &Home, args: &[&str], env: &[(&str, &str)]) -> Output {
    home.cmd(args, env).output().expect("run planopticon")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn token_reply(access: &str, expires_in: u64) -> Reply {
    Reply::Json(
        200,
        json!({"access_token": access, "token_type": "Bearer", "expires_in": expires_in}),
    )
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn an_account_id_alone_means_the_server_step_for_a_custom_service() {
    let fake = FakeServer::start(|_| token_reply("s2s-token", 3600));
    let home = Home::with_services(&format!(
        "[acme]\noauth_token_url = \"{}\"\nclient_id = \"cid\"\nclient_secret = \"csecret\"\naccount_id_env = \"ACME_ACCOUNT\"\n",
        fake.url("/token")
    ));
    let o = run(&home, &["auth", "acme"], &[("ACME_ACCOUNT", "acct-7")]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert_eq!(
        out.trim(),
        "Acme authentication successful (client_credentials)."
    );
    let req = &fake.requests()[0];
    // Zoom's shape is the default when server_grant is unset, as in the Python tool.
    assert_eq!(
        req.query_param("grant_type").as_deref(),
        Some("account_credentials")
    );
    assert_eq!(req.query_param("account_id").as_deref(), Some("acct-7"));
    // Without the variable the step is skipped and says which one to set.
    let home2 =
        Home::with_services(&std::fs::read_to_string(home.po().join("services.toml")).unwrap());
    let (_, err) = text(&run(&home2, &["auth", "acme"], &[]));
    assert!(
        err.contains("server-to-server: skipped: ACME_ACCOUNT is not set"),
        "{err}"
    );
    assert!(
        err.contains("Tip: for the server-to-server step set ACME_ACCOUNT"),
        "{err}"
    );
}

/// A service-account key file, signed assertions accepted by `fake`.
fn service_account_key(dir: &std::path::Path, fake: &FakeServer) -> std::path::PathBuf {
    let pem = dir.join("key.pem");
    rsa_test_key(&pem);
    let key = dir.join("sa.json");
    let body = json!({
        "type": "service_account",
        "client_email": "robot@proj.iam.gserviceaccount.com",
        "private_key": std::fs::read_to_string(&pem).unwrap(),
        "token_uri": fake.url("/sa-token"),
    });
    std::fs::write(&key, body.to_string()).unwrap();
    key
}

#[test]
fn a_service_account_never_replaces_a_persons_own_sign_in_unless_asked() {
    let fake = FakeServer::start(|_| token_reply("sa-token", 3600));
    let home = Home::with_services(&format!(
        "[google]\noauth_authorize_url = \"{0}\"\noauth_token_url = \"{0}\"\nuserinfo_url = \"{0}\"\nredirect_uri = \"urn:ietf:wg:oauth:2.0:oob\"\n",
        fake.url("/unused")
    ));
    let key = service_account_key(home.path(), &fake);
    let key = key.to_str().unwrap();
    // Someone could sign in here (a browser, a client id), so the browser
    // step is the one for it (here it cannot paste without a terminal, so it
    // ends at once instead of opening the browser).
    let env = [
        ("GOOGLE_APPLICATION_CREDENTIALS", key),
        ("GOOGLE_CLIENT_ID", "my-own-client"),
        ("BROWSER", "false"),
    ];
    let o = run(&home, &["token", "google"], &env[..3]);
    let (_, err) = text(&o);
    assert!(
        err.contains("names a service account, but a sign-in of your own is possible here"),
        "{err}"
    );
    assert_eq!(
        fake.count("/sa-token"),
        0,
        "the service account was not used"
    );
    // Asked for: it is used.
    let o = run(&home, &["auth", "google", "--method", "server"], &env[..3]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert_eq!(
        out.trim(),
        "Google authentication successful (client_credentials)."
    );
    assert_eq!(fake.count("/sa-token"), 1);
    // Nobody to sign in (no client id): the service account is the way.
    std::fs::remove_file(home.po().join("google_token.json")).unwrap();
    let o = run(&home, &["token", "google"], &[env[0]]);
    assert_eq!(text(&o).0.trim(), "sa-token");
}

#[test]
fn method_runs_one_step_and_says_why_it_cannot() {
    let home = Home::new();
    let o = run(
        &home,
        &["auth", "github", "--method", "server"],
        &[("GITHUB_TOKEN", "ghp_x")],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.starts_with("Github authentication failed: the server-to-server step could not be used for github: not configured for this service"),
        "{err}"
    );
    // The API key would have worked, but was not asked for.
    assert!(!err.contains("API key:"), "{err}");
    let o = run(
        &home,
        &["auth", "github", "--method", "api_key"],
        &[("GITHUB_TOKEN", "ghp_x")],
    );
    assert_eq!(
        text(&o).0.trim(),
        "Github authentication successful (api_key)."
    );
    let o = run(&home, &["auth", "github", "--method", "bogus"], &[]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_refused_client_names_the_client_and_the_providers_words() {
    let fake = FakeServer::start(|_| {
        Reply::Json(
            401,
            json!({"reason": "Invalid client_id or client_secret", "error": "invalid_client"}),
        )
    });
    let home = zoom_home(&fake.url("/oauth/token"));
    let env = [
        ("ZOOM_CLIENT_ID", "zoom-id"),
        ("ZOOM_CLIENT_SECRET", "not-printed-secret"),
        ("ZOOM_ACCOUNT_ID", "acct"),
    ];
    let o = run(&home, &["auth", "zoom", "--method", "server"], &env);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("invalid_client: Invalid client_id or client_secret (HTTP 401). It was sent client id \"zoom-id\" with the secret from ZOOM_CLIENT_SECRET"),
        "{err}"
    );
    assert!(err.contains("Tip: check the client id and secret"), "{err}");
    assert!(!err.contains("not-printed-secret") && !out.contains("not-printed-secret"));
}

#[test]
fn a_token_that_lives_a_minute_is_used_and_refreshed_once() {
    let fake = FakeServer::start(|r| match r.form("grant_type").as_deref() {
        Some("refresh_token") => Reply::Json(
            200,
            json!({"access_token": "short-2", "token_type": "Bearer", "expires_in": 30, "refresh_token": "rt-2"}),
        ),
        _ => Reply::Json(400, json!({"error": "unsupported_grant_type"})),
    });
    let home = Home::with_services(&format!(
        "[acme]\noauth_authorize_url = \"{0}\"\noauth_token_url = \"{0}\"\nclient_id = \"cid\"\n",
        fake.url("/token")
    ));
    let expired = json!({"access_token": "old", "refresh_token": "rt-1", "expires_at": now() - 5.0, "client_id": "cid", "client_secret": ""});
    std::fs::write(home.po().join("acme_token.json"), expired.to_string()).unwrap();
    let calls: Vec<_> = (0..4)
        .map(|_| {
            home.cmd(&["token", "acme"], &[])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in calls {
        let o = c.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "short-2");
    }
    assert_eq!(fake.count("/token"), 1, "one refresh for four processes");
    let saved: Value =
        serde_json::from_slice(&std::fs::read(home.po().join("acme_token.json")).unwrap()).unwrap();
    let left = saved["expires_at"].as_f64().unwrap() - now();
    // 30 s less a tenth, not less 60 s (which would make it stale on arrival).
    assert!((20.0..=27.5).contains(&left), "{left}");
    let o = run(&home, &["token", "acme"], &[]);
    assert_eq!(text(&o).0.trim(), "short-2");
    assert_eq!(fake.count("/token"), 1, "used, not refreshed again");
}

#[test]
fn a_confidential_device_request_also_carries_client_id() {
    let fake = FakeServer::start(|r| match r.path.as_str() {
        "/device" => Reply::Json(
            200,
            json!({"device_code": "dc", "user_code": "ABCD-EFGH", "verification_uri": "http://127.0.0.1/verify", "expires_in": 60, "interval": 1}),
        ),
        _ => token_reply("device-token", 3600),
    });
    let home = Home::with_services(&format!(
        "[acme]\noauth_authorize_url = \"{0}\"\noauth_token_url = \"{1}\"\ndevice_authorization_url = \"{2}\"\nclient_id = \"dev-id\"\nclient_secret = \"dev-secret\"\n",
        fake.url("/auth"),
        fake.url("/token"),
        fake.url("/device")
    ));
    let o = run(&home, &["auth", "acme", "--device"], &[]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("enter the code ABCD-EFGH"), "{out}");
    let req = fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/device")
        .unwrap();
    assert_eq!(
        req.form("client_id").as_deref(),
        Some("dev-id"),
        "{}",
        req.body
    );
    assert!(req.header("authorization").unwrap().starts_with("Basic "));
}

#[test]
fn keep_grant_forgets_here_and_leaves_the_provider_alone() {
    let fake = json_server(json!({}));
    let home = Home::with_services(&format!(
        "[acme]\noauth_authorize_url = \"{0}\"\noauth_token_url = \"{0}\"\nrevocation_url = \"{0}\"\nclient_id = \"cid\"\n",
        fake.url("/revoke")
    ));
    let token = json!({"access_token": "at", "refresh_token": "rt", "expires_at": now() + 3600.0});
    let path = home.po().join("acme_token.json");
    std::fs::write(&path, token.to_string()).unwrap();
    let o = run(&home, &["auth", "acme", "--logout", "--keep-grant"], &[]);
    let (out, err) = text(&o);
    assert_eq!(out.trim(), "Cleared saved acme token.");
    assert!(err.contains("The grant stays valid at acme"), "{err}");
    assert!(!path.exists());
    assert_eq!(fake.requests().len(), 0);
    // Without it, the provider is asked.
    std::fs::write(&path, token.to_string()).unwrap();
    let (_, err) = text(&run(&home, &["auth", "acme", "--logout"], &[]));
    assert!(err.contains("Revoked the token at acme"), "{err}");
    assert_eq!(fake.count("/revoke"), 1);
    // --keep-grant means nothing without --logout.
    assert_eq!(
        run(&home, &["auth", "acme", "--keep-grant"], &[])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn a_broken_table_stops_only_its_service() {
    let home = Home::with_services(
        "# mine\n[beta]\nclient_idd = \"typo\"\n\n[acme]\noauth_authorize_url = \"http://127.0.0.1:9/a\"\noauth_token_url = \"http://127.0.0.1:9/t\"\n",
    );
    let o = run(&home, &["auth", "github"], &[("GITHUB_TOKEN", "ghp_x")]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(out.trim(), "Github authentication successful (api_key).");
    assert!(
        err.contains("Warning:")
            && err.contains("services.toml: line 3 in [beta]")
            && err.contains("client_idd"),
        "{err}"
    );
    let o = run(&home, &["auth", "beta"], &[]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("Beta cannot be used:") && err.contains("client_idd"),
        "{err}"
    );
    let o = run(&home, &["status", "--json", "--offline"], &[]);
    let all: Value = serde_json::from_slice(&o.stdout).unwrap();
    let beta = service_entry(&all, "beta");
    assert_eq!(beta["state"], "error");
    let acme = service_entry(&all, "acme");
    assert_eq!(acme["state"], "not_connected");
}

#[test]
fn the_repl_takes_commands_and_names_in_any_case() {
    let home = Home::new();
    let mut child = home
        .cmd(&["-C"], &[("GITHUB_TOKEN", "ghp_x")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"/HELP\n/AUTH GitHub\n/frobnicate\n/Quit\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("/auth SERVICE") && out.contains("/quit"),
        "{out}"
    );
    assert!(out.contains("Github authenticated (api_key)"), "{out}");
    assert!(
        out.contains("Unknown command /frobnicate. Type /help for the commands."),
        "{out}"
    );
    assert_eq!(o.status.code(), Some(0));
}
