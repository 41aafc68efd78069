//! Reliability suite 5: provider faults on EVERY grant. One table of faults
//! (400 with and without an OAuth body, 401, 429 with Retry-After, 500, 502
//! HTML, no answer, a closed port, a redirect, no access_token, a form
//! reply) is played against each grant path: refresh, authorization-code
//! exchange, client credentials and Zoom's account credentials. Each must
//! end in its own clear error, send no secret, try once, leave the token
//! file as it was, and let the chain fall through to the API key.
//! (tests/faults.rs holds the refresh-only cases and request shapes.)
//!
//! Checklist: 6, 9, 11, 12, 16.
//!
//! Run alone: `cargo test --test reliability_provider -- --nocapture`

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use planopticon::chain::{AuthResult, Outcome};
use planopticon::config::ServerGrant;
use planopticon::{AuthConfig, AuthOptions, Error, Hint, Method, OAuthManager, Step, Transport};
use serde_json::json;
use sha2::Digest;
use support::*;

const API_KEY_ENV: &str = "PLANOPTICON_RELIABILITY_PROVIDER_KEY";
const SECRET: &str = "client-secret-do-not-print";
const REFRESH: &str = "refresh-token-do-not-print";
const CODE: &str = "auth-code-do-not-print";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Grant {
    Refresh,
    AuthorizationCode,
    ClientCredentials,
    ZoomAccountCredentials,
}

impl Grant {
    const ALL: [Grant; 4] = [
        Grant::Refresh,
        Grant::AuthorizationCode,
        Grant::ClientCredentials,
        Grant::ZoomAccountCredentials,
    ];

    /// The step of the chain that runs this grant.
    fn step(self) -> Step {
        match self {
            Grant::Refresh => Step::Saved,
            Grant::AuthorizationCode => Step::Browser,
            _ => Step::Server,
        }
    }
}

fn config(token_url: String, authorize_url: String, dir: &Path, grant: Grant) -> AuthConfig {
    let mut c = AuthConfig::new("faultsvc");
    c.oauth_authorize_url = Some(authorize_url);
    c.oauth_token_url = Some(token_url);
    c.client_id = Some("cid".into());
    c.client_secret = Some(SECRET.into());
    c.api_key_env = Some(API_KEY_ENV.into());
    c.redirect_uri = Some("http://127.0.0.1/callback".into());
    c.token_path = Some(dir.join("faultsvc_token.json"));
    match grant {
        Grant::ClientCredentials => c.server_grant = Some(ServerGrant::ClientCredentials),
        Grant::ZoomAccountCredentials => {
            c.server_grant = Some(ServerGrant::AccountCredentials);
            c.account_id = Some("acct-1".into());
        }
        _ => {}
    }
    c
}

fn expired_file(dir: &Path) -> String {
    let text = json!({
        "access_token": "old-access-do-not-print",
        "refresh_token": REFRESH,
        "expires_at": 1000.0,
        "client_id": "cid",
        "client_secret": SECRET,
    })
    .to_string();
    std::fs::write(dir.join("faultsvc_token.json"), &text).unwrap();
    text
}

/// Runs the chain so that `grant` is the step that meets the provider.
fn run(grant: Grant, token_url: String, authorize_url: String, dir: &Path) -> AuthResult {
    let c = config(token_url, authorize_url, dir, grant);
    let m = OAuthManager::with_keyring(c, false)
        .with_transport(Transport::with_timeout(Duration::from_secs(1)).unwrap());
    if grant != Grant::AuthorizationCode {
        return m.authenticate(AuthOptions::non_interactive());
    }
    // The app's sign-in; the "browser" comes back with a code at once.
    let (opts, _ctl, url_rx) = app_options(Duration::from_secs(20));
    let browser = std::thread::spawn(move || {
        let (url, _) = url_rx.recv().unwrap();
        let back = redirect_back(&url, CODE, None);
        http().get(back).send().unwrap().status().as_u16()
    });
    let r = m.authenticate(opts);
    assert_eq!(browser.join().unwrap(), 200);
    r
}

/// One fault, and the words its error must hold.
struct Fault {
    name: &'static str,
    reply: Option<Reply>,
    words: &'static [&'static str],
    kind: fn(&Error) -> bool,
}

fn faults() -> Vec<Fault> {
    let html = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    vec![
        Fault {
            name: "400 with an OAuth error body",
            reply: Some(Reply::Json(
                400,
                json!({"error": "invalid_request", "error_description": "the request was odd"}),
            )),
            words: &["invalid_request", "the request was odd", "HTTP 400"],
            kind: |e| matches!(e, Error::Provider { .. }),
        },
        Fault {
            name: "400 without an OAuth body",
            reply: Some(Reply::Text(400, "text/plain".into(), "Bad Request".into())),
            words: &["HTTP 400", "not JSON"],
            kind: |e| matches!(e, Error::BadReply { .. }),
        },
        Fault {
            name: "401 invalid_client",
            reply: Some(Reply::Json(
                401,
                json!({"error": "invalid_client", "error_description": "unknown client"}),
            )),
            words: &["invalid_client", "unknown client", "HTTP 401"],
            kind: |e| matches!(e, Error::Provider { .. }),
        },
        Fault {
            name: "429 with Retry-After",
            reply: Some(
                Reply::Json(429, json!({"error": "slow_down"})).with_header("Retry-After", "17"),
            ),
            words: &["slow_down", "retry after 17 s", "HTTP 429"],
            kind: |e| matches!(e, Error::Provider { .. }),
        },
        Fault {
            name: "500 with an empty body",
            reply: Some(Reply::Text(500, "text/plain".into(), String::new())),
            words: &["HTTP 500"],
            kind: |e| matches!(e, Error::BadReply { .. }),
        },
        Fault {
            name: "502 HTML page",
            reply: Some(Reply::Text(502, "text/html".into(), html.into())),
            words: &["HTTP 502", "HTML page"],
            kind: |e| matches!(e, Error::BadReply { .. }),
        },
        Fault {
            name: "a reply that never comes",
            reply: Some(Reply::Hang(Duration::from_secs(4))),
            words: &["no answer", "within 1 s"],
            kind: |e| matches!(e, Error::NetworkTimeout { .. }),
        },
        Fault {
            name: "a dropped connection",
            reply: Some(Reply::Close),
            words: &["could not reach"],
            kind: |e| matches!(e, Error::Network { .. }),
        },
        Fault {
            name: "a closed port",
            reply: None,
            words: &["could not reach", "refused"],
            kind: |e| matches!(e, Error::Network { .. }),
        },
        Fault {
            name: "a redirect on the token endpoint",
            reply: Some(
                Reply::Text(302, "text/plain".into(), String::new())
                    .with_header("Location", "http://127.0.0.1:9/elsewhere"),
            ),
            words: &["HTTP 302", "redirects", "not redirected"],
            kind: |e| matches!(e, Error::BadReply { .. }),
        },
        Fault {
            name: "200 without access_token",
            reply: Some(Reply::Json(
                200,
                json!({"token_type": "bearer", "expires_in": 60}),
            )),
            words: &["access_token"],
            kind: |e| matches!(e, Error::BadReply { .. }),
        },
        Fault {
            name: "200 with an empty access_token",
            reply: Some(Reply::Json(
                200,
                json!({"access_token": "", "token_type": "bearer"}),
            )),
            words: &["access_token"],
            kind: |e| matches!(e, Error::BadReply { .. }),
        },
        Fault {
            name: "a form-encoded reply",
            reply: Some(Reply::Text(
                200,
                "application/x-www-form-urlencoded".into(),
                "access_token=leaky-form-token&token_type=bearer&scope=repo".into(),
            )),
            words: &["form"],
            kind: |e| matches!(e, Error::BadReply { .. }),
        },
        Fault {
            name: "200 with an OAuth error body (GitHub's way)",
            reply: Some(Reply::Json(
                200,
                json!({"error": "bad_verification_code", "error_description": "expired"}),
            )),
            words: &["bad_verification_code", "expired"],
            kind: |e| matches!(e, Error::Provider { .. }),
        },
    ]
}

/// The 14 faults on the 4 grants: 56 runs.
#[test]
fn every_fault_on_every_grant_is_specific_and_falls_through_to_the_api_key() {
    std::env::set_var(API_KEY_ENV, "api-key-fallback");
    let mut failures = Vec::new();
    let mut runs = 0;
    let started = Instant::now();
    for grant in Grant::ALL {
        for fault in faults() {
            runs += 1;
            if let Err(why) = one(grant, &fault) {
                failures.push(format!("{grant:?} / {}: {why}", fault.name));
            }
        }
    }
    println!(
        "reliability_provider: {runs} fault runs over {} grants in {} ms, {} failed",
        Grant::ALL.len(),
        started.elapsed().as_millis(),
        failures.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn one(grant: Grant, fault: &Fault) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let before = (grant == Grant::Refresh).then(|| expired_file(dir.path()));
    let fake = fault.reply.clone().map(|reply| {
        FakeServer::start(move |req| match req.path.as_str() {
            "/token" => reply.clone(),
            _ => Reply::Text(404, "text/plain".into(), String::new()),
        })
    });
    let (token_url, authorize_url) = match &fake {
        Some(f) => (f.url("/token"), f.url("/authorize")),
        None => {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            (
                format!("http://127.0.0.1:{port}/token"),
                format!("http://127.0.0.1:{port}/authorize"),
            )
        }
    };
    let r = run(grant, token_url, authorize_url, dir.path());

    // The chain's documented fall-through: the API key.
    if !(r.success() && r.method() == Some(Method::ApiKey)) {
        return Err(format!(
            "did not fall through to the API key: {:?}",
            r.attempts
        ));
    }
    let attempt = r
        .attempts
        .iter()
        .find(|a| a.step == grant.step())
        .ok_or("the grant's step did not run")?;
    let Outcome::Failed(e) = &attempt.outcome else {
        return Err(format!("the step did not fail: {attempt}"));
    };
    if !(fault.kind)(e) {
        return Err(format!("unexpected error kind: {e:?}"));
    }
    let text = attempt.to_string();
    for w in fault.words {
        if !text.contains(w) {
            return Err(format!("{text:?} lacks {w:?}"));
        }
    }
    // The service is named by Error::service() (the front end adds it).
    if e.service() != Some("faultsvc") {
        return Err(format!("{e:?} does not name the service"));
    }
    for secret in [
        SECRET,
        REFRESH,
        CODE,
        "leaky-form-token",
        "old-access-do-not-print",
    ] {
        if text.contains(secret) || format!("{e:?}").contains(secret) {
            return Err(format!("{secret} leaked: {text}"));
        }
    }
    if let Some(f) = &fake {
        let token_requests: Vec<_> = f
            .requests()
            .into_iter()
            .filter(|q| q.path != "/favicon.ico")
            .collect();
        if token_requests.len() != 1 || token_requests[0].path != "/token" {
            return Err(format!(
                "expected exactly one request to /token (no retry, no redirect followed), got {:?}",
                token_requests.iter().map(|q| &q.path).collect::<Vec<_>>()
            ));
        }
        if token_requests[0].header("accept") != Some("application/json") {
            return Err("the token request lacks Accept: application/json".into());
        }
    }
    // A failed grant writes nothing and loses nothing; a refused refresh
    // (invalid_grant) only marks the saved connection as needing a person.
    let path = dir.path().join("faultsvc_token.json");
    match &before {
        Some(text) => {
            let now: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default())
                    .map_err(|e| format!("the saved token file is no longer JSON: {e}"))?;
            let mut unmarked = now.clone();
            let marked = unmarked
                .as_object_mut()
                .and_then(|o| o.remove("needs_reconnect"))
                .is_some();
            let was: serde_json::Value = serde_json::from_str(text).unwrap();
            if unmarked != was {
                return Err("the saved token file changed".into());
            }
            let reconnect = matches!(e, Error::ReconnectNeeded { .. });
            if marked != reconnect {
                return Err(format!("needs_reconnect marked: {marked}, for {e}"));
            }
        }
        None => {
            if path.exists() {
                return Err("a token file was written".into());
            }
        }
    }
    Ok(())
}

/// invalid_grant: on refresh it means "reconnect" and is tried once; on the
/// other grants it is the provider's refusal, named as such.
#[test]
fn invalid_grant_is_reconnect_on_refresh_and_a_refusal_elsewhere() {
    std::env::set_var(API_KEY_ENV, "api-key-fallback");
    for grant in Grant::ALL {
        let fault = Fault {
            name: "invalid_grant",
            reply: Some(Reply::Json(
                400,
                json!({"error": "invalid_grant", "error_description": "grant revoked"}),
            )),
            words: &["invalid_grant", "grant revoked"],
            kind: if grant == Grant::Refresh {
                |e| {
                    matches!(e, Error::ReconnectNeeded { .. })
                        && e.to_string().contains("sign in again")
                        && e.hint() == Some(Hint::SignIn)
                }
            } else {
                |e| matches!(e, Error::Provider { .. })
            },
        };
        one(grant, &fault).unwrap_or_else(|why| panic!("{grant:?}: {why}"));
    }
}

/// Checklist 6, 9, 11, 12 on the authorization-code exchange: PKCE S256 with
/// a fresh 43-128 character verifier even for a client with a secret, the
/// redirect_uri byte for byte, Accept: application/json.
#[test]
fn the_code_exchange_sends_pkce_and_the_same_redirect_uri() {
    let fake = json_server(
        json!({"access_token": "at", "token_type": "bearer", "expires_in": 3600, "refresh_token": "rt"}),
    );
    let mut verifiers = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let c = config(
            fake.url("/token"),
            fake.url("/authorize"),
            dir.path(),
            Grant::AuthorizationCode,
        );
        let m = OAuthManager::with_keyring(c, false);
        let (opts, _ctl, url_rx) = app_options(Duration::from_secs(20));
        let browser = std::thread::spawn(move || {
            let (url, _) = url_rx.recv().unwrap();
            let back = redirect_back(&url, CODE, None);
            assert_eq!(http().get(back).send().unwrap().status(), 200);
            url
        });
        let r = m.authenticate(opts);
        let url = browser.join().unwrap();
        assert_eq!(r.method(), Some(Method::OauthPkce), "{:?}", r.attempts);
        let parsed = url::Url::parse(&url).unwrap();
        let q = |k: &str| {
            parsed
                .query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(q("code_challenge_method").as_deref(), Some("S256"));
        let challenge = q("code_challenge").expect("PKCE even with a client secret");

        let req = fake.requests().pop().unwrap();
        assert_eq!(
            req.form("grant_type").as_deref(),
            Some("authorization_code")
        );
        assert_eq!(req.form("code").as_deref(), Some(CODE));
        assert_eq!(req.header("accept"), Some("application/json"));
        assert_eq!(
            req.form("redirect_uri"),
            q("redirect_uri"),
            "the exchange's redirect_uri differs from the authorization request's"
        );
        let verifier = req.form("code_verifier").expect("a code_verifier");
        assert!((43..=128).contains(&verifier.len()), "{}", verifier.len());
        assert!(verifier
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)));
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        assert_eq!(challenge, expected, "S256(verifier) is the challenge");
        verifiers.push(verifier);
    }
    assert_ne!(verifiers[0], verifiers[1], "a fresh verifier per attempt");
}
