//! Choosing the sign-in by where the person is (issue #11): device code or
//! the remote paste way over SSH, a browser program that fails noticed at
//! once, Microsoft's localhost redirect, a fixed port that is taken, and a
//! refused redirect URI reported with the URI sent. Against the suite's
//! real OAuth server, with the CLI under a pseudo-terminal where a person
//! would type.

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use planopticon::chain::Outcome;
use planopticon::{Control, Error, Hint, OAuthManager};
#[cfg(unix)]
use support::pty::*;
use support::*;

#[cfg(unix)]
const PROMPT: &str = "Enter the authorization code: ";
/// What the CLI says when it waited out the whole timeout.
const TIMED_OUT: &str = "no answer came back from the browser within";

/// `[acme]` at the test server as its public native client; `extra` lines
/// are added to the table.
fn acme_home(server: &OidcServer, extra: &str) -> Home {
    Home::with_services(&format!(
        "[acme]\noauth_authorize_url = \"{0}/auth\"\noauth_token_url = \"{0}/token\"\nclient_id = \"{1}\"\nscopes = [\"openid\", \"email\"]\nissuer = \"{0}\"\n{extra}\n",
        server.issuer(),
        PUBLIC_CLIENT,
    ))
}

fn loopback() -> String {
    format!("redirect_uri = \"{REGISTERED_REDIRECT_URI}\"")
}

/// A BROWSER that writes down the URL it is given in `browser.log`, then
/// exits with `code`.
fn exiting_browser(home: &Home, code: i32) -> (String, PathBuf) {
    browser_script(home, &format!("exit {code}"))
}

fn wait_for_file(path: &std::path::Path) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if !text.is_empty() {
            return text;
        }
        assert!(Instant::now() < deadline, "{} stayed empty", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn param(u: &url::Url, key: &str) -> String {
    u.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {key} in {u}"))
}

/// The URL on the line after `heading`.
#[cfg(unix)]
fn url_under(shown: &str, heading: &str) -> String {
    shown
        .lines()
        .skip_while(|l| *l != heading)
        .nth(1)
        .unwrap_or_else(|| panic!("no URL under {heading:?}:\n{shown}"))
        .to_string()
}

/// `planopticon auth acme` under a pseudo-terminal with `env` (and
/// `TERM=dumb`), up to the paste prompt: the terminal and what it showed.
#[cfg(unix)]
fn auth_acme_in_pty(home: &Home, env: &[(&str, &str)]) -> (Pty, String) {
    let env: Vec<(&str, &str)> = env.iter().copied().chain([("TERM", "dumb")]).collect();
    let mut pty = Pty::spawn(home.cmd(&["auth", "acme"], &env));
    let shown = pty.expect(PROMPT);
    (pty, shown)
}

/// The person pastes `landed` (where the browser ended) and the sign-in
/// succeeds; all the terminal showed.
#[cfg(unix)]
fn paste_and_succeed(mut pty: Pty, landed: &str) -> String {
    let all = pty.answer(landed, 0);
    assert!(
        all.contains("Acme authentication successful (oauth_pkce)."),
        "{all}"
    );
    all
}

#[test]
fn over_ssh_without_a_display_a_service_with_device_sign_in_uses_it() {
    let server = OidcServer::shared();
    let home = acme_home(
        server,
        &format!(
            "{}\ndevice_authorization_url = \"{1}/device/auth\"\nuserinfo_url = \"{1}/me\"",
            loopback(),
            server.issuer()
        ),
    );
    let child = home
        .cmd(
            &["auth", "acme", "-v"],
            &[("SSH_CONNECTION", "10.0.0.2 50000 10.0.0.1 22")],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (rest, out) = answer_device_code(child, "approve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{rest:?}\n{err}");
    assert_eq!(
        rest.last().map(String::as_str),
        Some("Acme authentication successful (device_code)."),
        "{err}"
    );
    let why = "over SSH without a display (SSH_CONNECTION is set), and acme offers device sign-in";
    assert!(
        err.contains(&format!("Signing in with a code: {why}.")),
        "{err}"
    );
    // -v: the choice and the browser step giving way, in the debug log.
    assert!(
        err.contains(&format!("signing in by device code: {why}")),
        "{err}"
    );
}

#[cfg(unix)] // under a pseudo-terminal
#[test]
fn over_ssh_without_device_sign_in_the_address_is_pasted_back() {
    let server = OidcServer::shared();
    let home = acme_home(server, &loopback());
    let (pty, shown) = auth_acme_in_pty(&home, &[("SSH_TTY", "/dev/pts/7")]);
    assert!(
        shown.contains("No browser can be opened here: over SSH without a display (SSH_TTY is set), and acme offers no device sign-in.\n"),
        "{shown}"
    );
    let heading = "Open this URL in a browser on any machine to authorize PlanOpticon (acme):";
    let url = url_under(&shown, heading);
    assert!(
        shown.contains("After approving, the browser goes to an address whose page does not load; that is expected. Copy that whole address from the address bar and paste it here (or the code, if the page shows one).\n"),
        "{shown}"
    );
    // The redirect URI sent is the one registered (so the provider takes
    // it), with no listener's port: nothing listens here.
    let u = url::Url::parse(&url).unwrap();
    assert_eq!(param(&u, "redirect_uri"), REGISTERED_REDIRECT_URI);
    // The person approves on another machine; its browser ends on an
    // address that does not load, which they paste here.
    let landed = play_user(&url);
    assert!(landed.starts_with(REGISTERED_REDIRECT_URI), "{landed}");
    paste_and_succeed(pty, &landed);
}

#[cfg(unix)] // under a pseudo-terminal
#[test]
fn a_device_sign_in_that_fails_goes_on_the_remote_way() {
    let server = OidcServer::shared();
    // Like Google's Desktop clients: the device endpoint refuses the client.
    let device = FakeServer::start(|_| {
        Reply::Json(
            401,
            serde_json::json!({"error": "invalid_client", "error_description": "Invalid client type."}),
        )
    });
    let home = acme_home(
        server,
        &format!(
            "{}\ndevice_authorization_url = \"{}\"",
            loopback(),
            device.url("/device/code")
        ),
    );
    let (pty, shown) = auth_acme_in_pty(&home, &[("SSH_CONNECTION", "10.0.0.2 50000 10.0.0.1 22")]);
    assert!(
        shown.contains("No browser can be opened here: over SSH without a display (SSH_CONNECTION is set), and acme offers device sign-in, but the device sign-in failed.\n"),
        "{shown}"
    );
    let url = url_under(
        &shown,
        "Open this URL in a browser on any machine to authorize PlanOpticon (acme):",
    );
    let all = paste_and_succeed(pty, &play_user(&url));
    // The failed device attempt is not hidden.
    assert!(all.contains("Note: device sign-in: failed:"), "{all}");
    assert!(all.contains("invalid_client"), "{all}");
}

#[cfg(unix)] // under a pseudo-terminal
#[test]
fn a_browser_that_fails_goes_on_to_the_paste_prompt_at_once() {
    let server = OidcServer::shared();
    let home = acme_home(server, &loopback());
    let (browser, log) = exiting_browser(&home, 1);
    let (pty, shown) = auth_acme_in_pty(&home, &[("BROWSER", browser.as_str())]);
    assert!(
        shown.contains("Note: could not open a browser: "),
        "{shown}"
    );
    assert!(shown.contains("failed (exit status: 1)"), "{shown}");
    let url = url_under(&shown, "Open this URL to authorize PlanOpticon (acme):");
    assert_eq!(wait_for_file(&log).lines().next(), Some(url.as_str()));
    // The listener's address was sent; the person pastes where the
    // browser (opened by hand) ends.
    let all = paste_and_succeed(pty, &play_user(&url));
    assert!(!all.contains(TIMED_OUT), "{all}");
}

#[test]
fn a_browser_that_fails_with_nobody_at_a_terminal_ends_at_once() {
    let server = OidcServer::shared();
    let home = acme_home(server, &loopback());
    let (browser, _) = exiting_browser(&home, 1);
    let missing = home.path().join("no-such-browser");
    for program in [browser.as_str(), missing.to_str().unwrap()] {
        let out = home
            .cmd(&["auth", "acme"], &[("BROWSER", program)])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("could not open a browser (")
                && err.contains("nobody is at a terminal to paste the address instead"),
            "{err}"
        );
        assert!(!err.contains(TIMED_OUT), "{err}");
    }
}

#[test]
fn microsoft_signs_in_on_localhost_with_a_port_the_os_picks() {
    let fake = FakeServer::start(|_| Reply::Json(400, serde_json::json!({"error": "unused"})));
    let home = Home::with_services(&format!(
        "[microsoft]\noauth_authorize_url = \"{}\"\noauth_token_url = \"{}\"\n",
        fake.url("/authorize"),
        fake.url("/token")
    ));
    let (browser, log) = exiting_browser(&home, 0);
    let child = home
        .cmd(
            &["auth", "microsoft"],
            &[
                ("BROWSER", browser.as_str()),
                ("MICROSOFT_CLIENT_ID", "cid"),
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = url::Url::parse(wait_for_file(&log).trim()).unwrap();
    let redirect = url::Url::parse(&param(&url, "redirect_uri")).unwrap();
    assert_eq!(redirect.scheme(), "http");
    assert_eq!(redirect.host_str(), Some("localhost"));
    assert_eq!(redirect.path(), "/callback");
    let port = redirect.port().expect("the port the OS picked");
    assert!(port > 0);
    // Something listens there: end the sign-in as a provider's refusal would.
    let back = format!(
        "http://127.0.0.1:{port}/callback?error=access_denied&state={}",
        param(&url, "state")
    );
    let answer = http()
        .get(&back)
        .header("Host", format!("localhost:{port}"))
        .send()
        .unwrap();
    assert!(answer.status().is_success(), "{answer:?}");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("access_denied"), "{err}");
}

#[cfg(unix)] // under a pseudo-terminal
#[test]
fn a_fixed_port_that_is_taken_is_named_and_the_paste_prompt_follows() {
    let server = OidcServer::shared();
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let fixed = format!("http://127.0.0.1:{port}/callback");
    let home = acme_home(server, &format!("redirect_uri = \"{fixed}\""));
    let (browser, _) = exiting_browser(&home, 0);
    let (pty, shown) = auth_acme_in_pty(&home, &[("BROWSER", browser.as_str())]);
    assert!(
        shown.contains(&format!("Note: could not listen on 127.0.0.1:{port}")),
        "{shown}"
    );
    assert!(shown.contains("paste the code instead"), "{shown}");
    let url = url_under(&shown, "Open this URL to authorize PlanOpticon (acme):");
    // The exact registered URI is sent, port included.
    assert_eq!(
        param(&url::Url::parse(&url).unwrap(), "redirect_uri"),
        fixed
    );
    paste_and_succeed(pty, &play_user(&url));
    drop(held);
}

/// A sign-in as the app runs it against `fake`; `user` plays the person
/// with the authorization URL and the control channel.
fn app_sign_in(
    fake: &FakeServer,
    user: impl FnOnce(String, mpsc::Sender<Control>) + Send + 'static,
) -> planopticon::AuthResult {
    let dir = tempfile::tempdir().unwrap();
    let mut c = planopticon::AuthConfig::new("acme");
    c.oauth_authorize_url = Some(fake.url("/authorize"));
    c.oauth_token_url = Some(fake.url("/token"));
    c.client_id = Some("cid".into());
    c.redirect_uri = Some(REGISTERED_REDIRECT_URI.into());
    c.token_path = Some(dir.path().join("acme_token.json"));
    let (opts, ctl, urls) = app_options(WAIT);
    let player = std::thread::spawn(move || {
        let (url, _) = urls.recv_timeout(WAIT).expect("the authorization URL");
        user(url, ctl);
    });
    let result = OAuthManager::with_keyring(c, false).authenticate(opts);
    player.join().unwrap();
    result
}

fn refused(result: &planopticon::AuthResult) -> (&'static str, Option<String>, String, String) {
    let failed = result
        .attempts
        .iter()
        .find_map(|a| match &a.outcome {
            Outcome::Failed(e) => Some(e),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{:?}", result.attempts));
    match failed {
        Error::RedirectRefused(r) => (
            r.step,
            r.sent.clone(),
            r.register.clone(),
            failed.to_string(),
        ),
        other => panic!("not a redirect refusal: {other:?}"),
    }
}

#[test]
fn a_redirect_uri_the_token_endpoint_refuses_is_reported_with_the_uri_sent() {
    let fake = FakeServer::start(|r| match r.path.as_str() {
        "/token" => Reply::Json(
            400,
            serde_json::json!({"error": "redirect_uri_mismatch", "error_description": "The redirect_uri MUST match the registered callback URL for this application."}),
        ),
        _ => Reply::Json(404, serde_json::json!({})),
    });
    let sent = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = sent.clone();
    let result = app_sign_in(&fake, move |url, ctl| {
        let back = redirect_back(&url, "a-code", None);
        *seen.lock().unwrap() = param(&url::Url::parse(&url).unwrap(), "redirect_uri");
        ctl.send(Control::Paste(back.to_string())).unwrap();
    });
    let sent = sent.lock().unwrap().clone();
    assert!(sent.starts_with("http://127.0.0.1:"), "{sent}");
    let (step, uri, register, message) = refused(&result);
    assert_eq!(step, "authorization code exchange");
    assert_eq!(uri.as_deref(), Some(sent.as_str()));
    assert_eq!(register, REGISTERED_REDIRECT_URI);
    assert!(
        message.contains(&format!("{sent:?} that was sent")),
        "{message}"
    );
    assert!(message.contains("redirect_uri_mismatch"), "{message}");
    let hints = &result.outcome.as_ref().unwrap_err().hints;
    assert!(
        hints.contains(&Hint::RegisterRedirect {
            uri: REGISTERED_REDIRECT_URI.into()
        }),
        "{hints:?}"
    );
}

#[test]
fn a_redirect_uri_refused_on_the_callback_is_reported_with_the_uri_sent() {
    let fake = FakeServer::start(|_| Reply::Json(404, serde_json::json!({})));
    let result = app_sign_in(&fake, move |url, _ctl| {
        let u = url::Url::parse(&url).unwrap();
        let back = format!(
            "{}?error=invalid_redirect_uri&state={}",
            param(&u, "redirect_uri"),
            param(&u, "state")
        );
        let answer = http().get(&back).send().unwrap();
        assert!(answer.status().is_success());
    });
    let (step, uri, register, message) = refused(&result);
    assert_eq!(step, "authorization request");
    assert!(uri.unwrap().starts_with("http://127.0.0.1:"));
    assert_eq!(register, REGISTERED_REDIRECT_URI);
    assert!(
        message.contains(&format!(
            "register {REGISTERED_REDIRECT_URI} at the provider"
        )),
        "{message}"
    );
}

#[test]
fn dropbox_loopback_is_its_fixed_port_and_its_paste_way_sends_no_redirect_uri() {
    let dropbox = planopticon::services::builtin("dropbox").unwrap();
    assert_eq!(dropbox.redirect_uri(), "http://127.0.0.1:27431/callback");
    assert_eq!(dropbox.paste_redirect_uri(), "");
    // Pasting, as `--redirect paste` asks: no redirect_uri in the request.
    let fake = FakeServer::start(|_| Reply::Json(404, serde_json::json!({})));
    let dir = tempfile::tempdir().unwrap();
    let mut c = dropbox;
    c.oauth_authorize_url = Some(fake.url("/authorize"));
    c.oauth_token_url = Some(fake.url("/token"));
    c.client_id = Some("app-key".into());
    c.token_path = Some(dir.path().join("dropbox_token.json"));
    let (mut opts, ctl, urls) = app_options(WAIT);
    opts.sign_in = Some(planopticon::SignIn::Browser(
        planopticon::RedirectMode::Paste,
    ));
    let player = std::thread::spawn(move || {
        let (url, how) = urls.recv_timeout(WAIT).unwrap();
        ctl.send(Control::Cancel).unwrap();
        (url, how)
    });
    let result = OAuthManager::with_keyring(c, false).authenticate(opts);
    let (url, how) = player.join().unwrap();
    assert!(!result.success());
    assert_eq!(
        how,
        planopticon::SignIn::Browser(planopticon::RedirectMode::Paste)
    );
    let u = url::Url::parse(&url).unwrap();
    assert!(u.query_pairs().all(|(k, _)| k != "redirect_uri"), "{url}");
    assert_eq!(param(&u, "token_access_type"), "offline");
}
