//! A provider whose every text carries terminal escapes (`ESC ] 0 ; title
//! BEL`, `ESC [ 2 J`), a C1 CSI (U+009B) and a right-to-left override
//! (U+202E), against the `planopticon` binary: a refusal on the callback, a
//! refusal at the token endpoint, `status` and `accounts` with who-am-I,
//! `refresh` lines.
//! Nothing of it may reach stdout or stderr as it is; `--json` keeps the
//! words exactly. The provider is a [`FakeServer`]: a real server does not
//! say such things on demand.

mod support;

use std::process::Output;

use planopticon::untrusted::is_unsafe;
use serde_json::{json, Value};
use support::*;

/// Every text the provider sends.
const HOSTILE: &str = "Eve \u{1b}]0;owned\u{7} \u{1b}[2J \u{9b}31m txt\u{202e}exe.txt";
/// How it is shown.
const SHOWN: &str = "Eve \\x1b]0;owned\\x07 \\x1b[2J \\x9b31m txt\\u{202e}exe.txt";

/// What `/authorize` does with the browser.
#[derive(Clone, Copy)]
enum Callback {
    /// Back to the app with `error` and `error_description`.
    Refuse,
    /// Back to the app with a code.
    Code,
}

/// The provider: `/authorize` sends the browser back as `callback` says,
/// `/token` answers `token`, `/me` names the account in hostile words.
fn provider(callback: Callback, token: Reply) -> FakeServer {
    FakeServer::start(move |r| match r.path.as_str() {
        "/authorize" => {
            let mut back = url::Url::parse(&r.query_param("redirect_uri").unwrap()).unwrap();
            {
                let mut q = back.query_pairs_mut();
                match callback {
                    Callback::Refuse => q
                        .append_pair("error", "access_denied")
                        .append_pair("error_description", HOSTILE),
                    Callback::Code => q.append_pair("code", "c0de"),
                };
                q.append_pair("state", &r.query_param("state").unwrap());
            }
            Reply::Raw(302, vec![("Location".into(), back.to_string())], vec![])
        }
        "/token" => token.clone(),
        "/me" => Reply::Json(
            200,
            json!({"sub": "7", "name": HOSTILE, "email": format!("{HOSTILE}@x"), "workspace_name": HOSTILE}),
        ),
        _ => Reply::Json(404, json!({"error": "not_found"})),
    })
}

/// A HOME whose `[acme]` is at `fake`, signing in over loopback.
fn home(fake: &FakeServer) -> Home {
    Home::with_services(&format!(
        "[acme]\noauth_authorize_url = \"{}\"\noauth_token_url = \"{}\"\nuserinfo_url = \"{}\"\nclient_id = \"cid\"\nredirect_uri = \"http://127.0.0.1/callback\"\n",
        fake.url("/authorize"),
        fake.url("/token"),
        fake.url("/me"),
    ))
}

/// A token refusal carrying the hostile words.
fn refusal(status: u16, error: &str) -> Reply {
    Reply::Json(
        status,
        json!({"error": error, "error_description": HOSTILE}),
    )
}

fn run(home: &Home, args: &[&str], env: &[(&str, &str)]) -> (Output, String, String) {
    let out = home.cmd(args, env).output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout.clone()).unwrap(),
        String::from_utf8(out.stderr.clone()).unwrap(),
    );
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        let raw: Vec<char> = text
            .chars()
            .filter(|c| *c != '\n' && is_unsafe(*c))
            .collect();
        assert!(raw.is_empty(), "{raw:?} reached {name}:\n{text}");
    }
    (out, stdout, stderr)
}

/// `auth acme` with a browser that follows the provider's redirects.
fn sign_in(home: &Home) -> (Output, String, String) {
    let (browser, _log) = browser_script(home, "exec curl -s -o /dev/null -L \"$1\"");
    run(home, &["auth", "acme"], &[("BROWSER", browser.as_str())])
}

#[test]
fn a_refusal_on_the_callback_is_shown_escaped() {
    let fake = provider(Callback::Refuse, refusal(500, "server_error"));
    let home = home(&fake);
    let (out, _, stderr) = sign_in(&home);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("refused at the provider: access_denied: {SHOWN}")),
        "{stderr}"
    );
    assert_eq!(fake.count("/token"), 0);
}

#[test]
fn a_refusal_at_the_token_endpoint_is_shown_escaped() {
    let fake = provider(Callback::Code, refusal(400, HOSTILE));
    let home = home(&fake);
    let (out, _, stderr) = sign_in(&home);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{SHOWN}: {SHOWN} (HTTP 400)")),
        "{stderr}"
    );
    assert_eq!(fake.count("/token"), 1);
}

#[test]
fn status_shows_the_account_escaped_and_json_keeps_it() {
    let ok = json!({"access_token": "at", "token_type": "bearer", "expires_in": 3600, "refresh_token": "rt"});
    let fake = provider(Callback::Code, Reply::Json(200, ok));
    let home = home(&fake);
    let (out, stdout, stderr) = sign_in(&home);
    assert_success(&out);
    assert!(
        stdout.contains("Acme authentication successful"),
        "{stderr}"
    );

    let (_, table, _) = run(&home, &["status"], &[]);
    let row = table.lines().find(|l| l.starts_with("acme")).unwrap();
    assert!(
        row.contains(&format!("{SHOWN} <{SHOWN}@x> ({SHOWN})")),
        "{row}"
    );

    let (_, text, _) = run(&home, &["status", "--json"], &[]);
    let all: Value = serde_json::from_str(&text).unwrap();
    let account = &service_entry(&all, "acme")["account"];
    assert_eq!(account["name"], HOSTILE);
    assert_eq!(account["login"], format!("{HOSTILE}@x"));
    assert_eq!(account["workspace"], HOSTILE);

    // The accounts table shows who the account is escaped; its JSON keeps it.
    let (_, table, _) = run(&home, &["accounts"], &[]);
    let row = table.lines().find(|l| l.starts_with("acme")).unwrap();
    assert!(row.contains(SHOWN), "{row}");
    let (_, text, _) = run(&home, &["accounts", "acme", "--json"], &[]);
    let all: Value = serde_json::from_str(&text).unwrap();
    let identity = all[0]["identity"].as_str().unwrap();
    assert!(identity.contains(HOSTILE), "{identity:?}");
}

#[test]
fn refresh_lines_show_the_refusal_escaped_and_json_keeps_it() {
    let fake = provider(Callback::Code, refusal(400, "invalid_grant"));
    let (home, _token) = home_with_expired_acme(&fake);
    // The refusal marks the token file; the second run reads that mark.
    for run_no in 0..2 {
        let (out, stdout, _) = run(&home, &["refresh"], &[]);
        assert_eq!(out.status.code(), Some(1), "run {run_no}: {stdout}");
        assert!(
            stdout.starts_with("acme: needs reconnecting: ") && stdout.contains(SHOWN),
            "run {run_no}: {stdout}"
        );
    }
    assert_eq!(fake.count("/token"), 1, "a marked token is not sent again");

    let (_, text, _) = run(&home, &["refresh", "--json"], &[]);
    let line = service_entry(&serde_json::from_str(&text).unwrap(), "acme");
    assert_eq!(line["outcome"], "needs_reconnect");
    assert!(line["reason"].as_str().unwrap().contains(HOSTILE), "{line}");

    // What was tried, on the next sign-in, shows the mark escaped too.
    let (_, _, stderr) = run(&home, &["auth", "acme"], &[]);
    assert!(
        stderr.contains("saved token: skipped: the provider no longer accepts")
            && stderr.contains(SHOWN),
        "{stderr}"
    );
}

#[test]
fn a_long_text_is_cut_with_an_ellipsis() {
    let long = format!("{HOSTILE} {}", "x".repeat(1000));
    let fake = provider(
        Callback::Code,
        Reply::Json(
            400,
            json!({"error": "invalid_request", "error_description": long}),
        ),
    );
    let home = home(&fake);
    let (_, _, stderr) = sign_in(&home);
    let line = stderr
        .lines()
        .find(|l| l.contains("invalid_request"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        line.contains(&format!("invalid_request: {SHOWN} xxx")),
        "{line}"
    );
    assert!(line.contains("x… (HTTP 400)"), "{line}");
    assert!(!line.contains(&"x".repeat(400)), "{line}");
}
