//! The auth chain against a real authorization server (oidc-provider on
//! 127.0.0.1): loopback and paste sign-ins where the test plays the user,
//! refresh with rotation, client credentials.

mod support;

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use planopticon::chain::Outcome;
use planopticon::config::ServerGrant;
use planopticon::{
    AuthConfig, AuthOptions, Clock, Control, Error, Hint, Interaction, Method, OAuthManager,
    Prompt, RedirectMode, SignIn, Step,
};
use support::*;

fn acme(server: &OidcServer, dir: &Path) -> AuthConfig {
    acme_config(server, dir.join("acme_token.json"))
}

/// A clock the test moves by hand.
fn test_clock() -> (Clock, Arc<AtomicU64>) {
    let offset = Arc::new(AtomicU64::new(0));
    let o = offset.clone();
    let clock: Clock = Arc::new(move || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        now + o.load(Ordering::SeqCst) as f64
    });
    (clock, offset)
}

/// The user: signs in at the provider, then the browser follows the redirect
/// to our loopback listener.
fn user_completes_loopback(
    url_rx: mpsc::Receiver<(String, SignIn)>,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let (url, sign_in) = url_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a prompt");
        assert_eq!(sign_in, SignIn::Browser(RedirectMode::Loopback));
        let callback = play_user(&url);
        let page = http()
            .get(&callback)
            .send()
            .expect("callback reaches the listener");
        assert_eq!(page.status(), 200);
        assert!(page.text().unwrap().contains("You can close this tab"));
        callback
    })
}

fn file_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A sign-in to the shared server's acme as the app runs it, `user`
/// playing the person with the authorization URL: the result, and what
/// `user` returned.
fn app_sign_in_with<T: Send + 'static>(
    dir: &Path,
    user: impl FnOnce(String) -> T + Send + 'static,
) -> (planopticon::AuthResult, T) {
    let mgr = OAuthManager::with_keyring(acme(OidcServer::shared(), dir), false);
    let (opts, _ctl, url_rx) = app_options(Duration::from_secs(30));
    let user = std::thread::spawn(move || user(url_rx.recv().unwrap().0));
    let r = mgr.authenticate(opts);
    (r, user.join().unwrap())
}

#[test]
fn loopback_pkce_connect_then_saved_then_refresh_with_rotation() {
    let server = OidcServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (clock, offset) = test_clock();
    let mgr = OAuthManager::with_keyring(acme(&server, dir.path()), false).with_clock(clock);

    let (opts, _ctl, url_rx) = app_options(Duration::from_secs(30));
    let user = user_completes_loopback(url_rx);
    let r = mgr.authenticate(opts);
    let callback = user.join().unwrap();
    assert!(r.success(), "{:?}", r.attempts);
    assert_eq!(r.method(), Some(Method::OauthPkce));
    assert!(callback.starts_with("http://127.0.0.1:"), "{callback}");
    assert!(callback.contains("iss="), "the server sends iss (RFC 9207)");

    let path = dir.path().join("acme_token.json");
    #[cfg(unix)]
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let first = file_json(&path);
    assert_eq!(first["client_id"], PUBLIC_CLIENT);
    assert_eq!(first["client_secret"], "");
    assert_eq!(first["obtained_by"], "oauth_pkce");
    let rt1 = first["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();
    let access1 = r.access_token().unwrap().secret().clone();
    assert_eq!(
        server.me_status(&access1),
        200,
        "the token works at the provider"
    );

    // Unexpired: used as it is, nothing sent.
    let r = mgr.authenticate(AuthOptions::non_interactive());
    assert_eq!(r.method(), Some(Method::SavedToken));
    assert_eq!(r.access_token().unwrap().secret(), &access1);
    assert_eq!(server.token_requests("refresh_token"), 0);

    // Two hours later: refreshed, the rotated refresh token saved.
    offset.store(7200, Ordering::SeqCst);
    let r = mgr.authenticate(AuthOptions::non_interactive());
    assert!(r.success(), "{:?}", r.attempts);
    assert_eq!(r.method(), Some(Method::SavedToken));
    let second = file_json(&path);
    let rt2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2, "the server rotates refresh tokens");
    assert_ne!(r.access_token().unwrap().secret(), &access1);
    assert_eq!(server.token_requests("refresh_token"), 1);

    // And again, with the rotated one: the grant is still alive.
    offset.store(14400, Ordering::SeqCst);
    let r = mgr.authenticate(AuthOptions::non_interactive());
    assert!(r.success(), "{:?}", r.attempts);
    assert_eq!(server.token_requests("refresh_token"), 2);
    assert_eq!(server.stats()["invalid_grant"], 0);
    let access3 = r.access_token().unwrap().secret().clone();
    assert_eq!(server.me_status(&access3), 200);
}

#[test]
fn threads_refreshing_at_once_spend_the_refresh_token_once() {
    let server = OidcServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = acme(&server, dir.path());
    let mgr = OAuthManager::with_keyring(config.clone(), false);
    let (opts, _ctl, url_rx) = app_options(Duration::from_secs(30));
    let user = user_completes_loopback(url_rx);
    assert!(mgr.authenticate(opts).success());
    user.join().unwrap();

    let (clock, offset) = test_clock();
    offset.store(7200, Ordering::SeqCst);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (config, clock) = (config.clone(), clock.clone());
            std::thread::spawn(move || {
                OAuthManager::with_keyring(config, false)
                    .with_clock(clock)
                    .authenticate(AuthOptions::non_interactive())
            })
        })
        .collect();
    for h in handles {
        let r = h.join().unwrap();
        assert!(r.success(), "{:?}", r.attempts);
        assert_eq!(r.method(), Some(Method::SavedToken));
    }
    assert_eq!(
        server.token_requests("refresh_token"),
        1,
        "{}",
        server.stats()
    );
    assert_eq!(server.stats()["invalid_grant"], 0);
}

#[test]
fn paste_mode_accepts_the_whole_redirected_url() {
    let server = OidcServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let mgr = OAuthManager::with_keyring(acme(server, dir.path()), false);
    let seen = Arc::new(Mutex::new(None::<String>));
    let s = seen.clone();
    let mut opts = AuthOptions::with_interaction(Interaction::Terminal(Box::new(move || {
        // The user signs in, the browser lands on an address that does not
        // load (nothing listens in paste mode), and they paste that address.
        let url = s.lock().unwrap().clone().expect("prompted first");
        Some(play_user(&url))
    })));
    opts.sign_in = Some(SignIn::Browser(RedirectMode::Paste));
    opts.open_browser = false;
    let seen2 = seen.clone();
    opts.on_prompt = Some(Box::new(move |p: &Prompt| {
        assert_eq!(p.sign_in, SignIn::Browser(RedirectMode::Paste));
        *seen2.lock().unwrap() = Some(p.url.to_string());
    }));
    let r = mgr.authenticate(opts);
    assert!(r.success(), "{:?}", r.attempts);
    assert_eq!(r.method(), Some(Method::OauthPkce));
    let url = seen.lock().unwrap().clone().unwrap();
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(url.contains("state="), "{url}");
}

#[test]
fn denial_ends_the_wait_at_once_with_the_providers_words() {
    let dir = tempfile::tempdir().unwrap();
    let (r, status) = app_sign_in_with(dir.path(), |url| {
        let callback = play_user_deny(&url);
        assert!(callback.contains("error=access_denied"), "{callback}");
        http().get(&callback).send().unwrap().status()
    });
    assert_eq!(status, 200);
    assert!(!r.success());
    let step = r.attempts.iter().find(|a| a.step == Step::Browser).unwrap();
    match &step.outcome {
        Outcome::Failed(Error::AuthorizationDenied { error, .. }) => {
            assert_eq!(error, "access_denied")
        }
        other => panic!("{other:?}"),
    }
    assert!(!dir.path().join("acme_token.json").exists());
}

#[test]
fn stray_and_foreign_callbacks_do_not_end_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let (r, ()) = app_sign_in_with(dir.path(), |url| {
        let callback = url::Url::parse(&play_user(&url)).unwrap();
        let base = format!("http://127.0.0.1:{}", callback.port().unwrap());
        let status = |u: String| http().get(u).send().unwrap().status().as_u16();
        assert_eq!(status(format!("{base}/favicon.ico")), 404);
        assert_eq!(status(format!("{base}/callback?code=x&state=forged")), 400);
        assert_eq!(status(format!("{base}/callback?code=x")), 400);
        assert_eq!(
            status(format!("{base}/callback?error=access_denied&state=forged")),
            400
        );
        let foreign_host = http()
            .get(callback.as_str())
            .header("Host", "evil.example:80")
            .send()
            .unwrap()
            .status();
        assert_eq!(foreign_host, 400, "a DNS-rebinding page is refused");
        assert_eq!(status(callback.to_string()), 200);
    });
    assert!(r.success(), "{:?}", r.attempts);
    assert_eq!(r.method(), Some(Method::OauthPkce));
}

#[test]
fn cancel_and_timeout_end_the_wait() {
    let server = OidcServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let mgr = OAuthManager::with_keyring(acme(server, dir.path()), false);

    let (opts, ctl, _url_rx) = app_options(Duration::from_secs(30));
    ctl.send(Control::Cancel).unwrap();
    let r = mgr.authenticate(opts);
    assert!(!r.success());
    assert!(r
        .attempts
        .iter()
        .any(|a| matches!(a.outcome, Outcome::Failed(Error::Cancelled { .. }))));

    let (mut opts, _ctl, _url_rx) = app_options(Duration::from_secs(30));
    opts.timeout = Duration::from_millis(500);
    let r = mgr.authenticate(opts);
    let e = r
        .attempts
        .iter()
        .find_map(|a| match &a.outcome {
            Outcome::Failed(e @ Error::AuthorizationTimeout { .. }) => Some(e),
            _ => None,
        })
        .expect("a timeout");
    // The way out (paste the code instead) is a hint now, not a CLI flag.
    assert_eq!(e.hint(), Some(Hint::UsePaste), "{e}");
    assert!(!e.to_string().contains("--redirect"), "no CLI flag: {e}");
    let failure = r.outcome.as_ref().unwrap_err();
    assert!(failure.hints.contains(&Hint::UsePaste), "{failure:?}");
}

#[test]
fn client_credentials_against_the_real_server() {
    let server = OidcServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let mut c = acme(server, dir.path());
    c.client_id = Some(CONFIDENTIAL_CLIENT.into());
    c.client_secret = Some(CONFIDENTIAL_SECRET.into());
    c.server_grant = Some(ServerGrant::ClientCredentials);
    c.scopes = vec!["read".into()];
    let r = OAuthManager::with_keyring(c, false).authenticate(AuthOptions::non_interactive());
    assert!(r.success(), "{:?}", r.attempts);
    assert_eq!(r.method(), Some(Method::ClientCredentials));
    let saved = file_json(&dir.path().join("acme_token.json"));
    assert!(saved["refresh_token"].is_null());
    assert!(saved["expires_at"].as_f64().unwrap() > 0.0);

    let mut bad = acme(server, dir.path());
    bad.token_path = Some(dir.path().join("bad_token.json"));
    bad.client_id = Some(CONFIDENTIAL_CLIENT.into());
    bad.client_secret = Some("wrong".into());
    bad.server_grant = Some(ServerGrant::ClientCredentials);
    let r = OAuthManager::with_keyring(bad, false).authenticate(AuthOptions::non_interactive());
    assert!(!r.success());
    assert_eq!(r.attempts[1].step, Step::Server);
    let text = r.attempts[1].to_string();
    assert!(text.contains("invalid_client"), "{text}");
    assert!(!text.contains("wrong"), "no secret in messages: {text}");
    // The refusal names the client that was sent and where its secret came from.
    assert!(text.contains(CONFIDENTIAL_CLIENT), "{text}");
    assert!(text.contains("services.toml"), "{text}");
    assert_eq!(r.attempts[1].hint(), Some(Hint::CheckClient));
}
