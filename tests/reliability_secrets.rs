//! Reliability suite 7: no secret leaks. Every grant and its faults run
//! with all logging on (a logger that keeps every record of every crate at
//! TRACE), the CLI runs with `-v`, and all of it (logs, stdout, stderr,
//! error messages, attempt lines, notices) is scanned for the access
//! tokens, refresh tokens, codes, verifiers, states and client secrets
//! used, plain and in the encodings they travel in: zero hits. `Debug` of
//! every type that holds one prints `[redacted]`.
//!
//! Checklist: 19.
//!
//! Run alone: `cargo test --test reliability_secrets -- --nocapture`

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use oauth2::{AccessToken, AuthorizationCode, ClientSecret, CsrfToken, RefreshToken};
use planopticon::chain::AuthResult;
use planopticon::config::ServerGrant;
use planopticon::redirect::{check_callback, paste::parse_pasted, Expect, Verdict};
use planopticon::store::{Loaded, StoredToken};
use planopticon::{
    AuthConfig, AuthOptions, Authenticated, Control, Interaction, LogoutScope, Method,
    OAuthManager, RedirectMode, SignIn,
};
use serde_json::json;
use support::*;

/// Every log record of every crate, formatted.
struct Keep;
static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl log::Log for Keep {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        RECORDS
            .lock()
            .unwrap()
            .push(format!("{} {}: {}", r.level(), r.target(), r.args()));
    }
    fn flush(&self) {}
}

fn capture_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        log::set_boxed_logger(Box::new(Keep)).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// A secret and the forms it travels in: as is, URL-encoded, and inside
/// HTTP Basic credentials.
fn forms(secret: &str) -> Vec<String> {
    let mut v = vec![
        secret.to_string(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
    ];
    for user in ["cid", "client-id-public"] {
        v.push(base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}")));
    }
    v.dedup();
    v
}

/// The hits of any secret in `text`: (secret, where).
fn hits(text: &str, secrets: &[String], place: &str) -> Vec<String> {
    let mut found = Vec::new();
    for s in secrets {
        for f in forms(s) {
            if text.contains(&f) {
                found.push(format!("{s} in {place}"));
            }
        }
    }
    found
}

fn base(fake: &FakeServer, dir: &Path) -> AuthConfig {
    let mut c = fake_client("leaksvc", fake, "SECRET-client-secret-1", dir);
    c.redirect_uri = Some("http://127.0.0.1/callback".into());
    c
}

/// Everything a run shows: the result's Debug, its error, attempts, notices.
fn shown(r: &AuthResult) -> String {
    let mut s = format!("{r:?}\n{:?}\n", r.error());
    for a in &r.attempts {
        s.push_str(&format!("{a}\n{:?}\n", a.outcome));
    }
    for n in &r.notices {
        s.push_str(n);
        s.push('\n');
    }
    s
}

/// A loopback sign-in whose browser comes back with `code`; returns the
/// result and the authorization URL (for the state).
fn loopback_sign_in(
    m: &OAuthManager,
    code: &'static str,
    state_override: Option<&'static str>,
) -> (AuthResult, String) {
    let (opts, _ctl, url_rx) = app_options(Duration::from_secs(3));
    let browser = std::thread::spawn(move || {
        let (url, _) = url_rx.recv().unwrap();
        let _ = http().get(redirect_back(&url, code, state_override)).send();
        url
    });
    let r = m.authenticate(opts);
    (r, browser.join().unwrap())
}

#[test]
fn no_secret_in_logs_errors_or_attempts_on_any_path() {
    capture_logs();
    let mut secrets: Vec<String> = [
        "SECRET-client-secret-1",
        "SECRET-code-1",
        "SECRET-code-2",
        "SECRET-code-3",
        "SECRET-access-1",
        "SECRET-refresh-1",
        "SECRET-refresh-old",
        "SECRET-access-old",
        "SECRET-access-2",
        "SECRET-refresh-2",
        "SECRET-access-cc",
        "SECRET-access-zoom",
        "SECRET-leak-form",
        "SECRET-leak-html",
        "SECRET-leak-json",
        "SECRET-leak-error",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut shown_text = String::new();

    // The provider: the token endpoint answers by grant; the last part of
    // the path picks a fault that carries secrets in its body.
    let fake = FakeServer::start(|req| {
        let grant = req
            .form("grant_type")
            .or_else(|| req.query_param("grant_type"))
            .unwrap_or_default();
        match (req.path.as_str(), grant.as_str()) {
            ("/token", "authorization_code") => Reply::Json(
                200,
                json!({"access_token": "SECRET-access-1", "refresh_token": "SECRET-refresh-1", "token_type": "bearer", "expires_in": 3600}),
            ),
            ("/token", "refresh_token") => Reply::Json(
                200,
                json!({"access_token": "SECRET-access-2", "refresh_token": "SECRET-refresh-2", "token_type": "bearer", "expires_in": 3600}),
            ),
            ("/token", "client_credentials") => Reply::Json(
                200,
                json!({"access_token": "SECRET-access-cc", "token_type": "bearer"}),
            ),
            ("/token", "account_credentials") => Reply::Json(
                200,
                json!({"access_token": "SECRET-access-zoom", "token_type": "bearer"}),
            ),
            ("/me", _) => Reply::Json(200, json!({"sub": "user-1", "email": "u@example.test"})),
            ("/revoke", _) => Reply::Json(
                400,
                json!({"error": "invalid_token", "error_description": "SECRET-leak-error is unknown"}),
            ),
            ("/form", _) => Reply::Text(
                200,
                "application/x-www-form-urlencoded".into(),
                "access_token=SECRET-leak-form&refresh_token=SECRET-leak-form".into(),
            ),
            ("/html", _) => Reply::Text(
                502,
                "text/html".into(),
                "<html>token SECRET-leak-html</html>".into(),
            ),
            ("/json", _) => Reply::Json(
                200,
                json!({"refresh_token": "SECRET-leak-json", "token_type": "bearer"}),
            ),
            ("/error", _) => Reply::Json(
                400,
                json!({"error": "invalid_request", "error_uri": "http://x/SECRET-leak-error", "extra": "SECRET-leak-error"}),
            ),
            _ => Reply::Text(404, "text/plain".into(), String::new()),
        }
    });
    let dir = tempfile::tempdir().unwrap();

    // 1. Loopback sign-in with PKCE, then a stray callback carrying a code.
    let m = manager(base(&fake, dir.path()));
    let (r, url) = loopback_sign_in(&m, "SECRET-code-1", None);
    assert!(r.success(), "{:?}", r.attempts);
    shown_text += &shown(&r);
    let state = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    secrets.push(state);
    let exchange = fake
        .requests()
        .into_iter()
        .find(|q| q.form("grant_type").as_deref() == Some("authorization_code"))
        .unwrap();
    secrets.push(exchange.form("code_verifier").unwrap());
    // Who-am-I after the sign-in, and a logout whose revocation fails.
    let mut with_account = base(&fake, dir.path());
    with_account.userinfo_url = Some(fake.url("/me"));
    with_account.revocation_url = Some(fake.url("/revoke"));
    let m2 = manager(with_account);
    shown_text += &format!("{:?}\n", m2.check());
    let logout = m2.logout(LogoutScope::Revoke).unwrap();
    shown_text += &format!("{logout:?}\n");
    assert!(!dir.path().join("leaksvc_token.json").exists());
    assert!(fake.count("/me") >= 1 && fake.count("/revoke") == 1);
    let (r, _) = loopback_sign_in(&m, "SECRET-code-2", Some("forged-state"));
    assert!(!r.success());
    shown_text += &shown(&r);

    // 2. A paste with a foreign state, and a paste of a provider error.
    for pasted in [
        "http://127.0.0.1:1/callback?code=SECRET-code-3&state=forged",
        "SECRET-code-3 and more words",
    ] {
        let mut opts = AuthOptions::with_interaction(Interaction::Terminal(Box::new(move || {
            Some(pasted.to_string())
        })));
        opts.sign_in = Some(SignIn::Browser(RedirectMode::Paste));
        opts.open_browser = false;
        let r = manager(base(&fake, dir.path())).authenticate(opts);
        assert!(!r.success());
        shown_text += &shown(&r);
    }

    // 3. A refresh that rotates the refresh token.
    std::fs::write(
        dir.path().join("leaksvc_token.json"),
        json!({"access_token": "SECRET-access-old", "refresh_token": "SECRET-refresh-old", "expires_at": 1.0, "client_id": "cid", "client_secret": "SECRET-client-secret-1"}).to_string(),
    )
    .unwrap();
    let r = manager(base(&fake, dir.path())).authenticate(AuthOptions::non_interactive());
    assert!(r.success(), "{:?}", r.attempts);
    shown_text += &shown(&r);

    // 4. Client credentials and Zoom's account credentials.
    for grant in [
        ServerGrant::ClientCredentials,
        ServerGrant::AccountCredentials,
    ] {
        let d = tempfile::tempdir().unwrap();
        let mut c = base(&fake, d.path());
        c.server_grant = Some(grant);
        c.account_id = Some("acct".into());
        let r = manager(c).authenticate(AuthOptions::non_interactive());
        assert!(r.success(), "{:?}", r.attempts);
        shown_text += &shown(&r);
    }

    // 5. Faults whose bodies carry secrets, on refresh and client credentials.
    for path in ["/form", "/html", "/json", "/error"] {
        for grant in [
            None,
            Some(ServerGrant::ClientCredentials),
            Some(ServerGrant::AccountCredentials),
        ] {
            let d = tempfile::tempdir().unwrap();
            let mut c = base(&fake, d.path());
            c.oauth_token_url = Some(fake.url(path));
            c.server_grant = grant;
            c.account_id = Some("acct".into());
            if grant.is_none() {
                std::fs::write(
                    d.path().join("leaksvc_token.json"),
                    json!({"access_token": "SECRET-access-old", "refresh_token": "SECRET-refresh-old", "expires_at": 1.0}).to_string(),
                )
                .unwrap();
            }
            let r = manager(c).authenticate(AuthOptions::non_interactive());
            assert!(!r.success(), "{path}: {:?}", r.attempts);
            shown_text += &shown(&r);
        }
    }

    // 6. A corrupt token file holding secrets is moved aside with a notice.
    std::fs::write(
        dir.path().join("leaksvc_token.json"),
        r#"{"access_token": "SECRET-access-old", "refresh_token": "SECRET-refresh-old", "expires_at": [1]}"#,
    )
    .unwrap();
    let r = manager(base(&fake, dir.path())).authenticate(AuthOptions::non_interactive());
    shown_text += &shown(&r);

    // The scanner finds what it looks for, plain and as Basic credentials.
    assert_eq!(hits("x SECRET-code-1 y", &secrets, "canary").len(), 1);
    let basic = base64::engine::general_purpose::STANDARD.encode("cid:SECRET-client-secret-1");
    assert_eq!(hits(&basic, &secrets, "canary").len(), 1);

    let logs = RECORDS.lock().unwrap().join("\n");
    let mut found = hits(&logs, &secrets, "the logs");
    found.extend(hits(&shown_text, &secrets, "results and errors"));
    println!(
        "reliability_secrets: {} log records and {} bytes of results scanned for {} secrets: {} hits",
        logs.lines().count(),
        shown_text.len(),
        secrets.len(),
        found.len()
    );
    assert!(logs.lines().count() > 10, "the logger saw nothing: {logs}");
    assert!(found.is_empty(), "{found:#?}\n--- logs ---\n{logs}");
}

/// `planopticon -v` on every path: stdout and stderr hold no secret (the
/// `token` command's stdout is the token itself, by design, and is left out).
#[test]
fn the_cli_at_full_verbosity_prints_no_secret() {
    let fake = FakeServer::start(|req| match req.form("grant_type").as_deref() {
        Some("refresh_token") => Reply::Json(
            200,
            json!({"access_token": "SECRET-cli-access-2", "refresh_token": "SECRET-cli-refresh-2", "token_type": "bearer", "expires_in": 3600}),
        ),
        Some("client_credentials") => Reply::Text(
            200,
            "application/x-www-form-urlencoded".into(),
            "access_token=SECRET-cli-form".into(),
        ),
        _ => Reply::Json(400, json!({"error": "invalid_grant"})),
    });
    let home = Home::with_services(&format!(
        "[acme]\noauth_authorize_url = \"{0}\"\noauth_token_url = \"{1}\"\nclient_id = \"cid\"\nclient_secret = \"SECRET-cli-client\"\napi_key_env = \"ACME_KEY\"\n\n[robot]\noauth_authorize_url = \"{0}\"\noauth_token_url = \"{1}\"\nclient_id = \"cid\"\nclient_secret = \"SECRET-cli-client\"\nserver_grant = \"client_credentials\"\napi_key_env = \"ROBOT_KEY\"\n",
        fake.url("/authorize"),
        fake.url("/token")
    ));
    let po = home.po();
    std::fs::write(
        po.join("acme_token.json"),
        json!({"access_token": "SECRET-cli-access-1", "refresh_token": "SECRET-cli-refresh-1", "expires_at": 1.0, "client_id": "cid", "client_secret": "SECRET-cli-client"}).to_string(),
    )
    .unwrap();
    std::fs::write(
        po.join("github_token.json"),
        r#"{"access_token": "SECRET-cli-corrupt", "expires_at": "SECRET-cli-corrupt-2"#,
    )
    .unwrap();
    let secrets: Vec<String> = [
        "SECRET-cli-access-1",
        "SECRET-cli-refresh-1",
        "SECRET-cli-access-2",
        "SECRET-cli-refresh-2",
        "SECRET-cli-client",
        "SECRET-cli-form",
        "SECRET-cli-corrupt",
        "SECRET-cli-key",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let env = [
        ("ACME_KEY", "SECRET-cli-key"),
        ("ROBOT_KEY", "SECRET-cli-key"),
        ("GITHUB_TOKEN", "SECRET-cli-key"),
    ];
    let mut found = Vec::new();
    let mut runs = 0;
    for args in [
        &["-v", "token", "acme"][..],
        &["-v", "auth", "acme"],
        &["-v", "status"],
        &["-v", "status", "--json"],
        &["-v", "auth", "robot"],
        &["-v", "token", "robot"],
        &["-v", "auth", "github"],
        &["-v", "auth", "zoom"],
        &["-v", "auth", "acme", "--logout"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_planopticon"))
            .args(args)
            .env_clear()
            .env("HOME", home.path())
            .env("PLANOPTICON_HTTP_TIMEOUT", "2")
            .envs(env)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        runs += 1;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if args[1] == "token" || (args[1] == "auth" && !args.contains(&"--logout")) {
            assert!(stderr.contains("DEBUG"), "{args:?}: -v logs: {stderr}");
        }
        if args[1] != "token" {
            found.extend(hits(&stdout, &secrets, &format!("stdout of {args:?}")));
        }
        found.extend(hits(&stderr, &secrets, &format!("stderr of {args:?}")));
    }
    println!(
        "reliability_secrets: {runs} CLI runs at -v, {} hits",
        found.len()
    );
    assert!(found.is_empty(), "{found:#?}");
}

/// `Debug` of every type that holds a secret prints `[redacted]`, never the secret.
#[test]
fn debug_of_every_secret_holder_is_redacted() {
    let mut cfg = AuthConfig::new("dbg");
    cfg.client_secret = Some("SECRET-dbg-client".into());
    cfg.oauth_authorize_url = Some("http://127.0.0.1:9/authorize".into());
    cfg.oauth_token_url = Some("http://127.0.0.1:9/token".into());

    let mut token = StoredToken::new(AccessToken::new("SECRET-dbg-access".into()));
    token.refresh_token = Some(RefreshToken::new("SECRET-dbg-refresh".into()));
    token.client_secret = Some(ClientSecret::new("SECRET-dbg-client".into()));

    let result = AuthResult {
        outcome: Ok(Authenticated {
            access_token: AccessToken::new("SECRET-dbg-access".into()),
            method: Method::OauthPkce,
            expires_at: None,
            refresh_token: Some(RefreshToken::new("SECRET-dbg-refresh".into())),
        }),
        attempts: Vec::new(),
        notices: Vec::new(),
    };
    // (The authorization request that waits for its code, flow's Pending,
    // is private to the crate now; its Debug is checked by a unit test there.)
    let expect = Expect {
        state: CsrfToken::new("SECRET-dbg-state".into()),
        issuer: None,
        require_iss: false,
    };
    let verdict = check_callback(
        url::form_urlencoded::parse(b"code=SECRET-dbg-code&state=SECRET-dbg-state"),
        &expect,
    );
    assert!(matches!(verdict, Verdict::Code(_)));
    let pasted = parse_pasted("SECRET-dbg-code", &expect).unwrap();
    let paste = Control::Paste(
        "http://127.0.0.1:5/callback?code=SECRET-dbg-code&state=SECRET-dbg-state".into(),
    );
    let loaded = Loaded::Token(Box::new(token.clone()));

    let cases: Vec<(&str, String)> = vec![
        ("AuthConfig", format!("{cfg:?}")),
        ("StoredToken", format!("{token:?}")),
        ("AuthResult", format!("{result:?}")),
        ("Expect", format!("{expect:?}")),
        ("Verdict::Code", format!("{verdict:?}")),
        ("AuthorizationCode", format!("{pasted:?}")),
        ("Control::Paste", format!("{paste:?}")),
        ("Loaded::Token", format!("{loaded:?}")),
        (
            "AuthorizationCode::new",
            format!("{:?}", AuthorizationCode::new("SECRET-dbg-code".into())),
        ),
    ];
    let secrets: Vec<String> = [
        "SECRET-dbg-client",
        "SECRET-dbg-access",
        "SECRET-dbg-refresh",
        "SECRET-dbg-state",
        "SECRET-dbg-code",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut found = Vec::new();
    for (what, text) in &cases {
        found.extend(hits(text, &secrets, what));
        if !text.contains("redacted") {
            found.push(format!("{what} does not say [redacted]: {text}"));
        }
    }
    println!(
        "reliability_secrets: Debug of {} secret holders checked, {} problems",
        cases.len(),
        found.len()
    );
    assert!(found.is_empty(), "{found:#?}");
}
