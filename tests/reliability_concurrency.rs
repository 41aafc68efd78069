//! Reliability suite 1: concurrency. 16 `planopticon token acme` processes
//! in loops and 16 library threads ask for one service's token for a bounded
//! time, while the token expires every two seconds (the real oidc-provider
//! answers expires_in=2, the file keeps 2 - 2/10 = 1.8 s: the safety margin
//! is a tenth of a short lifetime), against a server
//! that rotates refresh tokens and answers any reuse with invalid_grant
//! (and revokes the grant). Figures: calls, refreshes, reuses seen (must be
//! 0), failed calls (must be 0), final file valid.
//!
//! Checklist (../shared/reference/native-oauth-checklist.md): 14, 15, 16.
//!
//! Run alone: `cargo test --test reliability_concurrency -- --nocapture`
//! (`RELIABILITY_SECS=N` for a longer soak, default 12).

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use planopticon::{AuthConfig, AuthOptions, Method, OAuthManager};
use support::*;

const PROCESSES: usize = 16;
const THREADS: usize = 16;

fn acme(server: &OidcServer, home: &Path) -> AuthConfig {
    acme_config(server, home.join(".planopticon").join("acme_token.json"))
}

fn sign_in(config: AuthConfig) {
    let (opts, _ctl, url_rx) = app_options(Duration::from_secs(30));
    let user = std::thread::spawn(move || {
        let (url, _) = url_rx.recv_timeout(Duration::from_secs(20)).unwrap();
        let callback = play_user(&url);
        assert_eq!(http().get(&callback).send().unwrap().status(), 200);
    });
    let r = OAuthManager::with_keyring(config, false).authenticate(opts);
    user.join().unwrap();
    assert!(r.success(), "{:?}", r.attempts);
}

#[derive(Default)]
struct Figures {
    cli_calls: AtomicU64,
    lib_calls: AtomicU64,
    failed: AtomicU64,
    failures: Mutex<Vec<String>>,
    tokens: Mutex<HashSet<String>>,
}

impl Figures {
    fn fail(&self, what: String) {
        self.failed.fetch_add(1, Ordering::SeqCst);
        let mut f = self.failures.lock().unwrap();
        if f.len() < 10 {
            f.push(what);
        }
    }
}

#[test]
fn many_processes_and_threads_share_one_expiring_rotating_token() {
    let secs: u64 = env_number("RELIABILITY_SECS", 12);
    let server = OidcServer::start_with(&[("ACCESS_TOKEN_TTL", "2")]);
    let home = Home::with_services(&format!(
        "[acme]\noauth_authorize_url = \"{0}/auth\"\noauth_token_url = \"{0}/token\"\nclient_id = \"{1}\"\nscopes = [\"openid\", \"email\"]\nredirect_uri = \"http://127.0.0.1/callback\"\nissuer = \"{0}\"\n",
        server.issuer(),
        PUBLIC_CLIENT
    ));
    let po = home.po();
    let config = acme(&server, home.path());
    sign_in(config.clone());
    let path = po.join("acme_token.json");
    let first: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let first_rt = first["refresh_token"].as_str().unwrap().to_string();
    let lifetime = first["expires_at"].as_f64().unwrap()
        - std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
    assert!(
        lifetime <= 1.9,
        "the token should live about 1.8 s, not {lifetime}"
    );
    server.reset_stats();

    let figures = Arc::new(Figures::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut workers = Vec::new();
    for i in 0..PROCESSES {
        let (figures, stop, home) = (figures.clone(), stop.clone(), home.path().to_path_buf());
        workers.push(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let out = Command::new(env!("CARGO_BIN_EXE_planopticon"))
                    .args(["token", "acme"])
                    .env_clear()
                    .env("HOME", &home)
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                figures.cli_calls.fetch_add(1, Ordering::SeqCst);
                let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if !out.status.success() || token.len() < 10 {
                    figures.fail(format!(
                        "process loop {i}: exit {:?}: {}",
                        out.status.code(),
                        String::from_utf8_lossy(&out.stderr)
                    ));
                } else {
                    figures.tokens.lock().unwrap().insert(token);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
    }
    for i in 0..THREADS {
        let (figures, stop, config) = (figures.clone(), stop.clone(), config.clone());
        workers.push(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let r = OAuthManager::with_keyring(config.clone(), false)
                    .authenticate(AuthOptions::non_interactive());
                figures.lib_calls.fetch_add(1, Ordering::SeqCst);
                match (r.access_token(), r.method()) {
                    (Some(t), Some(Method::SavedToken)) if r.success() => {
                        figures.tokens.lock().unwrap().insert(t.secret().clone());
                    }
                    _ => figures.fail(format!("thread {i}: {:?}", r.attempts)),
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    let elapsed = started.elapsed();

    let stats = server.stats();
    let refreshes = stats["token"]["refresh_token"].as_u64().unwrap_or(0);
    let reuses = stats["invalid_grant"].as_u64().unwrap_or(0);

    // The final file: complete, the documented fields, a refresh token
    // still alive (once the saved token has expired, one more refresh
    // works), and the token that refresh saves is one the provider takes
    // (asked at once: the provider's 2 s count from a whole second).
    let bytes = std::fs::read(&path).unwrap();
    let final_ok = planopticon::store::parse_token_file(&bytes).is_ok();
    let saved: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let left = saved["expires_at"].as_f64().unwrap() - now;
    std::thread::sleep(Duration::from_secs_f64(left.max(0.0) + 0.2));
    let refreshes_before_again = server.token_requests("refresh_token");
    let again = Command::new(env!("CARGO_BIN_EXE_planopticon"))
        .args(["token", "acme"])
        .env_clear()
        .env("HOME", home.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let again_token = String::from_utf8_lossy(&again.stdout).trim().to_string();
    let me = server.me_status(&again_token);
    assert_eq!(
        server.token_requests("refresh_token"),
        refreshes_before_again + 1,
        "the last run refreshed"
    );
    let after = server.stats();
    let cli = figures.cli_calls.load(Ordering::SeqCst);
    let lib = figures.lib_calls.load(Ordering::SeqCst);
    let failed = figures.failed.load(Ordering::SeqCst);
    let distinct = figures.tokens.lock().unwrap().len();
    println!(
        "reliability_concurrency: {PROCESSES} process loops + {THREADS} threads for {:.1} s: calls {} ({cli} CLI processes, {lib} library calls), refreshes {refreshes}, distinct access tokens {distinct}, reuses seen {reuses}, failed calls {failed}, final file valid {}",
        elapsed.as_secs_f64(),
        cli + lib,
        final_ok && me.is_success() && again.status.success()
    );
    let failures = figures.failures.lock().unwrap().join("\n");
    assert_eq!(
        reuses, 0,
        "a refresh token was spent twice: {stats}\n{failures}"
    );
    assert_eq!(failed, 0, "{failures}");
    assert!(final_ok, "{}", String::from_utf8_lossy(&bytes));
    assert!(me.is_success(), "the saved access token is refused: {me}");
    assert!(
        again.status.success(),
        "the saved refresh token no longer works: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(after["invalid_grant"], 0, "{after}");
    assert!(
        refreshes >= secs / 3,
        "the token should have been refreshed about every 1.8 s, got {refreshes} in {secs} s"
    );
    assert!(cli >= PROCESSES as u64 * 2 && lib >= THREADS as u64 * 2);
    assert_python_fields(&saved);

    // The yardstick works: spending a rotated refresh token again is seen.
    let reuse = http()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", first_rt.as_str()),
            ("client_id", PUBLIC_CLIENT),
        ])
        .send()
        .unwrap();
    assert_eq!(reuse.status(), 400);
    assert_eq!(server.stats()["invalid_grant"], 1, "reuse is counted");
}

/// A logout while another process is refreshing: whatever the order, no
/// token file is left behind once both are done (the refresh must not write
/// back a connection the user has just removed).
#[test]
fn a_logout_during_a_refresh_leaves_no_token_behind() {
    let fake = FakeServer::start(|req| {
        if req.form("grant_type").as_deref() == Some("refresh_token") {
            std::thread::sleep(Duration::from_millis(1500));
        }
        Reply::Json(
            200,
            serde_json::json!({"access_token": "fresh-access", "refresh_token": "rt-2", "token_type": "bearer", "expires_in": 3600}),
        )
    });
    let (home, token) = home_with_expired_acme(&fake);
    let cli = |args: &[&str]| {
        let mut c = home.cmd(args, &[]);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    };
    let refresher = cli(&["token", "acme"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.count("/token") == 0 {
        assert!(Instant::now() < deadline, "the refresh never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let logout = cli(&["auth", "acme", "--logout"]).output().unwrap();
    assert_success(&logout);
    let refreshed = refresher.wait_with_output().unwrap();
    let left = token.exists();
    println!(
        "reliability_concurrency: logout during a refresh: refresh exit {:?}, token file left behind: {left}",
        refreshed.status.code()
    );
    assert!(
        !left,
        "the token file came back after the logout: {}",
        std::fs::read_to_string(&token).unwrap_or_default()
    );
}
