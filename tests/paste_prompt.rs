//! The CLI's paste prompt under a real pseudo-terminal: the lines shown, a
//! bare code, a whole redirected address, and one from another sign-in.
//!
//! The service signs in at the test suite's real OAuth server; the test
//! plays the user there (`play_user`) and types into the terminal what a
//! person would copy from the browser. BROWSER only records the URL: the
//! sign-in is never completed by a browser.
//!
//! Unix only: a pseudo-terminal is a Unix device. The prompt in a Windows
//! console is tested with the Windows console code.
#![cfg(unix)]

mod spec_support;
mod support;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use spec_support::*;
use support::pty::*;
use support::*;

const PROMPT: &str = "Enter the authorization code: ";

/// A HOME whose `[acme]` signs in at the shared test server as its public
/// native client, with the loopback redirect the server has registered.
fn acme_home(server: &OidcServer) -> Home {
    Home::with_services(&format!(
        "[acme]\noauth_authorize_url = \"{0}/auth\"\noauth_token_url = \"{0}/token\"\nclient_id = \"{1}\"\nscopes = [\"openid\", \"email\"]\nredirect_uri = \"{2}\"\nissuer = \"{0}\"\n",
        server.issuer(),
        PUBLIC_CLIENT,
        REGISTERED_REDIRECT_URI
    ))
}

/// A BROWSER that only writes down the URL it is given, in `browser.log`.
fn recording_browser(home: &Home) -> (String, PathBuf) {
    let log = home.path().join("browser.log");
    let script = home.path().join("browser.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n", log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script.to_str().unwrap().to_string(), log)
}

/// `planopticon auth acme --redirect paste` in a terminal, up to its prompt.
/// Returns the session, the authorization URL it showed, and the HOME.
fn start_paste_sign_in(server: &OidcServer) -> (Pty, String, Home, PathBuf) {
    let home = acme_home(server);
    let (browser, log) = recording_browser(&home);
    let (proxy_var, proxy) = offline_guard();
    let mut cmd = home.cmd(
        &["auth", "acme", "--redirect", "paste"],
        &[("BROWSER", browser.as_str()), ("TERM", "dumb")],
    );
    cmd.env(proxy_var, proxy);
    let mut pty = Pty::spawn(cmd);
    let shown = pty.expect(PROMPT);
    let url = shown
        .lines()
        .skip_while(|l| *l != "Open this URL to authorize PlanOpticon (acme):")
        .nth(1)
        .unwrap_or_else(|| panic!("no URL under the heading:\n{shown}"))
        .to_string();
    (pty, url, home, log)
}

/// What the browser's address bar shows after the user approved.
fn approve(url: &str) -> url::Url {
    url::Url::parse(&play_user(url)).unwrap()
}

fn param(u: &url::Url, key: &str) -> String {
    u.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {key} in {u}"))
}

#[test]
fn the_prompt_and_what_is_shown_before_it() {
    let server = OidcServer::shared();
    let (mut pty, url, home, log) = start_paste_sign_in(server);
    let shown = pty.seen.clone();

    // In order: the heading and the URL (stdout), how to answer (stderr),
    // then the prompt, left open on its line for the answer.
    let heading = shown
        .find("\nOpen this URL to authorize PlanOpticon (acme):\n")
        .unwrap_or_else(|| panic!("{shown}"));
    let hint = shown
        .find("After approving, paste the code, or the whole address the browser shows (even if that page does not load).\n")
        .unwrap_or_else(|| panic!("{shown}"));
    let prompt = shown.find(PROMPT).unwrap();
    assert!(heading < hint && hint < prompt, "{shown}");
    assert!(
        shown.ends_with(PROMPT),
        "nothing after the prompt: {shown:?}"
    );

    // The URL is the authorization request of this sign-in, in paste mode:
    // the redirect_uri is the configured one, with no listener's port.
    let u = url::Url::parse(&url).unwrap();
    assert_eq!(u.as_str().split('?').next(), Some(&*server.url("/auth")));
    assert_eq!(param(&u, "redirect_uri"), REGISTERED_REDIRECT_URI);
    assert_eq!(param(&u, "client_id"), PUBLIC_CLIENT);
    assert_eq!(param(&u, "code_challenge_method"), "S256");
    // The browser was handed the same URL.
    let deadline = Instant::now() + WAIT;
    let opened = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if !text.is_empty() || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(opened.trim_end(), url);

    // Ctrl-D at the prompt: nothing pasted, the sign-in is given up.
    pty.master.write_all(&[4]).unwrap();
    let (code, all) = pty.finish();
    assert_eq!(code, 1, "{all}");
    assert!(all.contains("failed: the sign-in was cancelled"), "{all}");
    assert!(!home.po().join("acme_token.json").exists());
}

#[test]
fn a_bare_code_signs_in() {
    let server = OidcServer::shared();
    let (mut pty, url, home, _) = start_paste_sign_in(server);
    let back = approve(&url);
    let all = pty.answer(&param(&back, "code"), 0);
    assert!(
        all.ends_with("Acme authentication successful (oauth_pkce).\n"),
        "{all}"
    );
    let saved = read_json(&home.po().join("acme_token.json"));
    assert_python_fields(&saved);
    assert_eq!(saved["obtained_by"], "oauth_pkce");
    assert_eq!(saved["client_id"], PUBLIC_CLIENT);
}

#[test]
fn the_whole_redirected_address_signs_in() {
    let server = OidcServer::shared();
    let (mut pty, url, home, _) = start_paste_sign_in(server);
    let back = approve(&url);
    // What the address bar shows: http://127.0.0.1/callback?code=..&state=..&iss=..
    assert_eq!(back.path(), "/callback");
    let all = pty.answer(back.as_str(), 0);
    assert!(
        all.ends_with("Acme authentication successful (oauth_pkce).\n"),
        "{all}"
    );
    assert_eq!(
        read_json(&home.po().join("acme_token.json"))["obtained_by"],
        "oauth_pkce"
    );
}

#[test]
fn an_address_from_another_sign_in_is_refused() {
    let server = OidcServer::shared();
    let (mut pty, url, home, _) = start_paste_sign_in(server);
    let back = approve(&url);
    // A real code, but the state of some other sign-in: a forged or stale
    // address must not be exchanged.
    let mut forged = back.clone();
    forged.query_pairs_mut().clear();
    for (k, v) in back.query_pairs() {
        let v = if k == "state" {
            "state-of-another-sign-in".into()
        } else {
            v.into_owned()
        };
        forged.query_pairs_mut().append_pair(&k, &v);
    }
    let all = pty.answer(forged.as_str(), 1);
    assert!(
        all.contains("not from this sign-in (wrong state)"),
        "names the state: {all}"
    );
    assert!(
        all.contains("Acme authentication failed: No auth method available for acme."),
        "{all}"
    );
    assert!(!home.po().join("acme_token.json").exists());
}
