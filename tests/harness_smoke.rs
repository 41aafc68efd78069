//! Proves the test harness itself works, without the library: the real
//! authorization server, the in-process user, the `browser` program and the
//! FakeServer. Run: `cargo test --test harness_smoke` (add `-- --nocapture`
//! to see timings).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::*;

/// A PKCE S256 pair (RFC 7636): 43-character verifier, its SHA-256 challenge.
fn pkce() -> (String, String) {
    let seed = format!("{:?}{}", Instant::now(), std::process::id());
    let verifier = URL_SAFE_NO_PAD.encode(Sha256::digest(seed.as_bytes()));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn authorize_url(
    server: &OidcServer,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    challenge: &str,
) -> String {
    let mut url = url::Url::parse(&server.url("/auth")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "openid email profile offline_access")
        .append_pair("state", state)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    url.into()
}

/// POSTs a form to the token endpoint; returns (status, JSON body).
fn token_request(server: &OidcServer, form: &[(&str, &str)]) -> (u16, Value) {
    let response = http()
        .post(server.url("/token"))
        .header("Accept", "application/json")
        .form(form)
        .send()
        .expect("POST /token");
    let status = response.status().as_u16();
    (status, response.json().expect("token response is JSON"))
}

/// A one-shot loopback listener standing in for the app's: returns its
/// redirect URI and a receiver for the request target it gets.
fn callback_listener() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line).unwrap();
        let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsigned");
        tx.send(target).unwrap();
    });
    (format!("http://127.0.0.1:{port}/callback"), rx)
}

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "planopticon-harness-{}-{:?}-{name}",
        std::process::id(),
        std::thread::current().id()
    ))
}

#[test]
fn discovery_names_the_issuer_and_s256() {
    let started = Instant::now();
    let server = OidcServer::start();
    eprintln!("oidc server started in {:?}", started.elapsed());
    assert_eq!(
        server.issuer(),
        format!("http://127.0.0.1:{}", server.port())
    );

    let metadata: Value = http()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(metadata["issuer"], server.issuer());
    let methods = metadata["code_challenge_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.contains(&json!("S256")), "{methods:?}");
    assert_eq!(metadata["token_endpoint"], server.url("/token"));
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
}

#[test]
fn client_credentials_token_is_issued_and_counted() {
    let server = OidcServer::start();
    let response = http()
        .post(server.url("/token"))
        .basic_auth(CONFIDENTIAL_CLIENT, Some(CONFIDENTIAL_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "read write"),
        ])
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(body["scope"], "read write");
    assert_eq!(body["expires_in"], 3600);

    assert_eq!(server.stats()["token"]["client_credentials"], 1);
    assert_eq!(server.token_requests("client_credentials"), 1);
    server.reset_stats();
    assert_eq!(server.token_requests("client_credentials"), 0);

    // A wrong secret is refused (and counted as a request too).
    let refused = http()
        .post(server.url("/token"))
        .basic_auth(CONFIDENTIAL_CLIENT, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(server.token_requests("client_credentials"), 1);
}

#[test]
fn code_flow_with_pkce_then_rotation_and_reuse_detection() {
    let server = OidcServer::start();
    // Any free port: native clients' loopback redirect matches on any port.
    let redirect_uri = "http://127.0.0.1:45678/callback";
    let (verifier, challenge) = pkce();
    let state = "state-0123456789abcdef";

    let started = Instant::now();
    let authorize = authorize_url(&server, PUBLIC_CLIENT, redirect_uri, state, &challenge);
    let location = play_user(&authorize);
    assert!(location.starts_with(redirect_uri), "{location}");
    assert_eq!(url_param(&location, "state").as_deref(), Some(state));
    assert_eq!(
        url_param(&location, "iss").as_deref(),
        Some(server.issuer())
    );
    let code = url_param(&location, "code").expect("code in callback");

    let (status, tokens) = token_request(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", PUBLIC_CLIENT),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &verifier),
        ],
    );
    eprintln!("full code flow (user + token) took {:?}", started.elapsed());
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().expect("access_token");
    let refresh1 = tokens["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();

    // The access token works at userinfo: findAccount's claims.
    let me: Value = http()
        .get(server.url("/me"))
        .bearer_auth(access)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["sub"], "alice");
    assert_eq!(me["email"], "alice@example.test");

    // Refresh once: a new refresh token replaces the old one.
    let (status, refreshed) = token_request(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", PUBLIC_CLIENT),
            ("refresh_token", &refresh1),
        ],
    );
    assert_eq!(status, 200, "{refreshed}");
    let refresh2 = refreshed["refresh_token"].as_str().expect("rotated");
    assert_ne!(refresh2, refresh1);

    // Reusing the old one: invalid_grant (and the grant is revoked).
    let (status, error) = token_request(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", PUBLIC_CLIENT),
            ("refresh_token", &refresh1),
        ],
    );
    assert_eq!(status, 400);
    assert_eq!(error["error"], "invalid_grant");

    let stats = server.stats();
    assert_eq!(stats["token"]["authorization_code"], 1, "{stats}");
    assert_eq!(stats["token"]["refresh_token"], 2, "{stats}");
    assert_eq!(stats["invalid_grant"], 1, "{stats}");
}

#[test]
fn user_who_denies_gets_access_denied_on_the_callback() {
    let server = OidcServer::start();
    let (_, challenge) = pkce();
    let redirect_uri = "http://127.0.0.1:45679/callback";
    let authorize = authorize_url(&server, PUBLIC_CLIENT, redirect_uri, "s1", &challenge);
    let location = play_user_deny(&authorize);
    assert!(location.starts_with(redirect_uri), "{location}");
    assert_eq!(
        url_param(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(url_param(&location, "state").as_deref(), Some("s1"));
}

#[test]
fn browser_program_delivers_the_callback_to_the_listener() {
    let server = OidcServer::start();
    let log = temp_path("browser.log");
    let _ = std::fs::remove_file(&log);

    for (action, expect) in [("", "code"), ("deny", "error")] {
        let (redirect_uri, received) = callback_listener();
        let (_, challenge) = pkce();
        let authorize = authorize_url(&server, PUBLIC_CLIENT, &redirect_uri, "st", &challenge);

        let started = Instant::now();
        let output = Command::new(browser_program())
            .arg(&authorize)
            .env("TEST_BROWSER_ACTION", action)
            .env("TEST_BROWSER_LOG", &log)
            .output()
            .expect("run tests/oidc/browser");
        eprintln!("browser ({action:?}) took {:?}", started.elapsed());
        assert!(
            output.status.success(),
            "browser failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let target = received
            .recv_timeout(Duration::from_secs(5))
            .expect("the listener got the callback");
        assert!(target.starts_with("/callback?"), "{target}");
        let callback = format!("http://127.0.0.1{target}");
        assert!(url_param(&callback, expect).is_some(), "{target}");
        assert_eq!(url_param(&callback, "state").as_deref(), Some("st"));
    }

    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged.lines().count(), 2, "{logged}");
    assert!(logged.lines().all(|l| l.starts_with(&server.url("/auth?"))));
    let _ = std::fs::remove_file(&log);

    // Errors exit non-zero with a message.
    let output = Command::new(browser_program())
        .arg(server.url("/auth?client_id=nobody"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(!output.stderr.is_empty());
}

#[test]
fn browser_program_approves_a_device_code() {
    let server = OidcServer::start();
    let device: Value = http()
        .post(server.url("/device/auth"))
        .form(&[("client_id", PUBLIC_CLIENT), ("scope", "openid email")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let device_code = device["device_code"].as_str().unwrap();
    let poll = [
        ("grant_type", DEVICE_CODE_GRANT),
        ("client_id", PUBLIC_CLIENT),
        ("device_code", device_code),
    ];
    let (status, pending) = token_request(&server, &poll);
    assert_eq!(
        (status, &pending["error"]),
        (400, &json!("authorization_pending"))
    );

    let output = Command::new(browser_program())
        .args([
            "--device",
            device["verification_uri"].as_str().unwrap(),
            device["user_code"].as_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_success(&output);
    let (status, tokens) = token_request(&server, &poll);
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["access_token"].is_string());
    assert!(tokens["refresh_token"].is_string());
}

#[test]
fn access_token_ttl_from_env_and_no_clock_tolerance() {
    // Long enough to be seen active on a loaded machine, short enough to wait out.
    let server = OidcServer::start_with(&[("ACCESS_TOKEN_TTL", "4")]);
    let (status, body) = {
        let r = http()
            .post(server.url("/token"))
            .basic_auth(CONFIDENTIAL_CLIENT, Some(CONFIDENTIAL_SECRET))
            .form(&[("grant_type", "client_credentials"), ("scope", "read")])
            .send()
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    assert_eq!(status, 200);
    assert_eq!(body["expires_in"], 4);
    let token = body["access_token"].as_str().unwrap();

    let active = |token: &str| -> Value {
        http()
            .post(server.url("/token/introspection"))
            .basic_auth(CONFIDENTIAL_CLIENT, Some(CONFIDENTIAL_SECRET))
            .form(&[("token", token)])
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()["active"]
            .clone()
    };
    assert_eq!(active(token), true);
    std::thread::sleep(Duration::from_millis(5100)); // exp is whole seconds
    assert_eq!(active(token), false);
}

#[test]
fn fake_server_replies_as_scripted() {
    let fake = FakeServer::start(|request| match request.path.as_str() {
        "/json" => Reply::Json(201, json!({"ok": true})),
        "/text" => Reply::Text(503, "text/plain".into(), "try later".into()),
        "/raw" => Reply::Raw(
            200,
            vec![("Content-Type".into(), "application/json".into())],
            b"{not json".to_vec(),
        ),
        "/header" => Reply::Json(429, json!({})).with_header("Retry-After", "7"),
        "/hang" => Reply::Hang(Duration::from_secs(3)),
        "/close" => Reply::Close,
        _ => Reply::Text(404, "text/plain".into(), "no".into()),
    });

    let r = http()
        .post(fake.url("/json?a=1&b=two"))
        .header("X-Test", "yes")
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "r t")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.json::<Value>().unwrap(), json!({"ok": true}));

    let r = http().get(fake.url("/text")).send().unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.text().unwrap(), "try later");

    let r = http().get(fake.url("/raw")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "{not json");

    let r = http().get(fake.url("/header")).send().unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(r.headers()["content-type"], "application/json");

    // Hang: the client's own timeout fires.
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.get(fake.url("/hang")).send().unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // Close: a connection error, not a status and not a timeout.
    let err = http().get(fake.url("/close")).send().unwrap_err();
    assert!(!err.is_timeout() && err.status().is_none(), "{err:?}");

    // Everything was recorded, unanswered requests included.
    let requests = fake.requests();
    assert_eq!(requests.len(), 6);
    let first = &requests[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/json");
    assert_eq!(first.query, "a=1&b=two");
    assert_eq!(first.query_param("b").as_deref(), Some("two"));
    assert_eq!(first.header("x-test"), Some("yes"));
    assert_eq!(first.header("X-Test"), Some("yes"));
    assert_eq!(first.form("refresh_token").as_deref(), Some("r t"));
    assert!(first.body.contains("grant_type=refresh_token"));
    assert_eq!(fake.count("/hang"), 1);
    assert_eq!(fake.count("/close"), 1);
    assert_eq!(fake.count("/nowhere"), 0);

    // Drop stops the server promptly, even with a Hang still holding a connection.
    let started = Instant::now();
    let url = fake.url("/json");
    drop(fake);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "drop waited for the hang"
    );
    assert!(http().get(url).send().is_err());
}
