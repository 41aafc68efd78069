//! Provider faults a real server will not produce on demand, and the
//! request shapes of the grants, against a scripted server on 127.0.0.1.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use planopticon::chain::Outcome;
use planopticon::config::ServerGrant;
use planopticon::{AuthConfig, AuthOptions, Error, Hint, Method};
use serde_json::json;
use support::*;

fn config(fake: &FakeServer, dir: &Path) -> AuthConfig {
    fake_client("fakesvc", fake, "client-secret-value", dir)
}

/// An expired token file with a refresh token, as the Python tool writes it,
/// plus a field from some future version.
fn write_expired(dir: &Path, refresh_token: &str) {
    std::fs::write(
        dir.join("fakesvc_token.json"),
        json!({
            "access_token": "old-access",
            "refresh_token": refresh_token,
            "expires_at": 1000.0,
            "client_id": "cid",
            "client_secret": "client-secret-value",
            "future_field": {"kept": true}
        })
        .to_string(),
    )
    .unwrap();
}

/// The chain with nobody to sign in, which the server-to-server step ends.
fn server_step(c: AuthConfig) -> planopticon::AuthResult {
    let r = manager(c).authenticate(AuthOptions::non_interactive());
    assert_eq!(
        r.method(),
        Some(Method::ClientCredentials),
        "{:?}",
        r.attempts
    );
    r
}

/// The saved-token step's error after a refresh against `reply`.
fn refresh_error(reply: Reply) -> (Error, FakeServer) {
    let fake = FakeServer::start(move |_| reply.clone());
    let dir = tempfile::tempdir().unwrap();
    write_expired(dir.path(), "rt-1");
    let r = manager(config(&fake, dir.path())).authenticate(AuthOptions::non_interactive());
    assert!(!r.success());
    assert!(
        dir.path().join("fakesvc_token.json").exists(),
        "a failed refresh loses nothing"
    );
    let mut attempts = r.attempts.into_iter();
    match attempts.next().unwrap().outcome {
        Outcome::Failed(e) => (e, fake),
        other => panic!("{other:?}"),
    }
}

#[test]
fn refresh_keeps_the_old_refresh_token_and_unknown_fields() {
    let fake = json_server(
        json!({"access_token": "new-access", "token_type": "bearer", "expires_in": 600}),
    );
    let dir = tempfile::tempdir().unwrap();
    write_expired(dir.path(), "rt-1");
    let r = manager(config(&fake, dir.path())).authenticate(AuthOptions::non_interactive());
    assert!(r.success(), "{:?}", r.attempts);
    assert_eq!(r.method(), Some(Method::SavedToken));
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("fakesvc_token.json")).unwrap())
            .unwrap();
    assert_eq!(saved["access_token"], "new-access");
    assert_eq!(saved["refresh_token"], "rt-1");
    assert_eq!(saved["future_field"], json!({"kept": true}));
    let req = &fake.requests()[0];
    assert_eq!(req.form("grant_type").as_deref(), Some("refresh_token"));
    assert_eq!(req.form("refresh_token").as_deref(), Some("rt-1"));
    assert_eq!(req.header("accept"), Some("application/json"));
    assert!(req.header("authorization").unwrap().starts_with("Basic "));
}

#[test]
fn invalid_grant_means_reconnect_and_the_chain_goes_on() {
    let (e, fake) = refresh_error(Reply::Json(
        400,
        json!({"error": "invalid_grant", "error_description": "token revoked"}),
    ));
    assert!(matches!(e, Error::ReconnectNeeded { .. }), "{e:?}");
    let text = e.to_string();
    // The service is Error::service() now, the way out a hint (no command named).
    assert!(
        text.contains("sign in again") && text.contains("token revoked"),
        "{text}"
    );
    assert_eq!(e.service(), Some("fakesvc"));
    assert_eq!(e.hint(), Some(Hint::SignIn));
    assert_eq!(fake.count("/token"), 1, "no retry loop");
}

#[test]
fn each_fault_gets_its_own_clear_error() {
    let cases: Vec<(Reply, &[&str])> = vec![
        (
            Reply::Json(400, json!({"error": "invalid_request"})),
            &["invalid_request", "HTTP 400"],
        ),
        (
            Reply::Text(400, "text/plain".into(), "bad".into()),
            &["HTTP 400", "not JSON"],
        ),
        (
            Reply::Json(
                401,
                json!({"error": "invalid_client", "error_description": "who?"}),
            ),
            &["invalid_client: who?"],
        ),
        (
            Reply::Json(429, json!({"error": "slow_down"})).with_header("Retry-After", "7"),
            &["slow_down", "retry after 7 s"],
        ),
        (
            Reply::Text(500, "text/plain".into(), String::new()),
            &["HTTP 500"],
        ),
        (
            Reply::Text(
                502,
                "text/html".into(),
                "<html><h1>Bad Gateway</h1></html>".into(),
            ),
            &["HTTP 502", "HTML page"],
        ),
        (
            Reply::Json(200, json!({"token_type": "bearer"})),
            &["without a usable access_token"],
        ),
        (
            Reply::Text(
                200,
                "application/x-www-form-urlencoded".into(),
                "access_token=leaky&token_type=bearer".into(),
            ),
            &["could not be used"],
        ),
        (
            Reply::Json(200, json!({"error": "bad_verification_code"})),
            &["bad_verification_code"],
        ),
        (
            Reply::Text(302, "text/plain".into(), String::new())
                .with_header("Location", "http://127.0.0.1:9/elsewhere"),
            &["redirect", "not redirected"],
        ),
    ];
    for (reply, words) in cases {
        let (e, fake) = refresh_error(reply.clone());
        let text = e.to_string();
        for w in words {
            assert!(text.contains(w), "{reply:?}: {text:?} lacks {w:?}");
        }
        assert!(
            !text.contains("leaky")
                && !text.contains("rt-1")
                && !text.contains("client-secret-value"),
            "{text}"
        );
        assert!(
            fake.requests().iter().all(|r| r.path == "/token"),
            "redirects are not followed"
        );
    }
}

#[test]
fn a_provider_that_never_answers_times_out() {
    // A 1 s client timeout against a 5 s hang: only the timeout can end it as NetworkTimeout.
    let (e, _fake) = refresh_error(Reply::Hang(Duration::from_secs(5)));
    assert!(matches!(e, Error::NetworkTimeout { .. }), "{e:?}");
    assert!(e.to_string().contains("no answer"), "{e}");
}

#[test]
fn a_dropped_connection_and_a_closed_port_are_network_errors() {
    let (e, _fake) = refresh_error(Reply::Close);
    assert!(matches!(e, Error::Network { .. }), "{e:?}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    write_expired(dir.path(), "rt-1");
    let mut c = AuthConfig::new("fakesvc");
    c.oauth_token_url = Some(format!("http://127.0.0.1:{port}/token"));
    c.token_path = Some(dir.path().join("fakesvc_token.json"));
    let r = manager(c).authenticate(AuthOptions::non_interactive());
    let text = r.attempts[0].to_string();
    assert!(
        text.contains("could not reach") && text.contains("refused"),
        "{text}"
    );
}

/// A provider that rotates refresh tokens and treats reuse as theft.
#[test]
fn a_reused_refresh_token_is_never_sent_by_concurrent_callers() {
    let issued = Arc::new(AtomicUsize::new(1));
    let reuse = Arc::new(AtomicUsize::new(0));
    let (i, u) = (issued.clone(), reuse.clone());
    let fake = FakeServer::start(move |req| {
        let current = format!("rt-{}", i.load(Ordering::SeqCst));
        if req.form("refresh_token").as_deref() != Some(current.as_str()) {
            u.fetch_add(1, Ordering::SeqCst);
            return Reply::Json(400, json!({"error": "invalid_grant"}));
        }
        std::thread::sleep(Duration::from_millis(200));
        let n = i.fetch_add(1, Ordering::SeqCst) + 1;
        Reply::Json(
            200,
            json!({"access_token": format!("at-{n}"), "refresh_token": format!("rt-{n}"), "expires_in": 3600}),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    write_expired(dir.path(), "rt-1");
    let c = config(&fake, dir.path());
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let c = c.clone();
            std::thread::spawn(move || manager(c).authenticate(AuthOptions::non_interactive()))
        })
        .collect();
    for h in handles {
        let r = h.join().unwrap();
        assert!(
            r.success(),
            "{:?} {:?}",
            r.attempts,
            fake.requests()
                .iter()
                .map(|r| r.body.clone())
                .collect::<Vec<_>>()
        );
        assert_eq!(r.access_token().unwrap().secret(), "at-2");
    }
    assert_eq!(fake.count("/token"), 1);
    assert_eq!(reuse.load(Ordering::SeqCst), 0);
}

#[test]
fn zoom_account_credentials_shape() {
    let fake =
        json_server(json!({"access_token": "s2s", "token_type": "bearer", "expires_in": 3599}));
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&fake, dir.path());
    c.account_id = Some("acct-42".into());
    c.server_grant = Some(ServerGrant::AccountCredentials);
    server_step(c);
    let req = &fake.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.query_param("grant_type").as_deref(),
        Some("account_credentials")
    );
    assert_eq!(req.query_param("account_id").as_deref(), Some("acct-42"));
    assert_eq!(req.body, "");
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("cid:client-secret-value");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("fakesvc_token.json")).unwrap())
            .unwrap();
    assert_eq!(saved["access_token"], "s2s");
    assert!(saved["refresh_token"].is_null());
}

#[test]
fn google_service_account_signs_a_jwt_assertion() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let public = dir.path().join("pub.pem");
    rsa_test_key(&key);
    let ok = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public)
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl makes the public key");
    let fake = json_server(
        json!({"access_token": "sa-token", "token_type": "Bearer", "expires_in": 3600}),
    );
    let key_file = dir.path().join("sa.json");
    std::fs::write(
        &key_file,
        json!({
            "type": "service_account",
            "client_email": "robot@proj.iam.gserviceaccount.com",
            "private_key_id": "kid-1",
            "private_key": std::fs::read_to_string(&key).unwrap(),
            "token_uri": fake.url("/token"),
        })
        .to_string(),
    )
    .unwrap();
    let var = "PLANOPTICON_TEST_SA_KEY_FILE";
    std::env::set_var(var, &key_file);
    let mut c = planopticon::services::builtin("google").unwrap();
    c.token_path = Some(dir.path().join("google_token.json"));
    c.service_account_env = Some(var.into());
    server_step(c);

    let req = &fake.requests()[0];
    assert_eq!(
        req.form("grant_type").as_deref(),
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    );
    let jwt = req.form("assertion").unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[fake.url("/token")]);
    let decoded = jsonwebtoken::decode::<serde_json::Value>(
        &jwt,
        &jsonwebtoken::DecodingKey::from_rsa_pem(&std::fs::read(&public).unwrap()).unwrap(),
        &validation,
    )
    .expect("signed with the service account's key");
    assert_eq!(decoded.header.kid.as_deref(), Some("kid-1"));
    assert_eq!(decoded.claims["iss"], "robot@proj.iam.gserviceaccount.com");
    assert!(decoded.claims["scope"]
        .as_str()
        .unwrap()
        .contains("drive.readonly"));
}

#[test]
fn token_requests_send_accept_json_and_never_plain_pkce() {
    let fake = json_server(json!({"access_token": "cc", "token_type": "bearer"}));
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&fake, dir.path());
    c.server_grant = Some(ServerGrant::ClientCredentials);
    let r = manager(c).authenticate(AuthOptions::non_interactive());
    assert!(r.success());
    let req = &fake.requests()[0];
    assert_eq!(req.header("accept"), Some("application/json"));
    assert_eq!(
        req.form("grant_type").as_deref(),
        Some("client_credentials")
    );
    // No expires_in: the Python tool's default of 3600 s, less 60.
    let exp = r.outcome.as_ref().unwrap().expires_at.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((exp - (now + 3540.0)).abs() < 30.0, "{exp} vs {now}");
}
