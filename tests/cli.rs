//! The `planopticon` binary: the Python tool's lines and exit codes, hostile
//! token files, services.toml errors, a full sign-in through `BROWSER`, and
//! two processes refreshing one token.

mod spec_support;
mod support;

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
#[cfg(unix)]
use std::process::Command;
use std::process::Stdio;

use serde_json::json;
use spec_support::Run;
use support::*;

impl Home {
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        Run(self.cmd(args, env).output().unwrap())
    }
}

#[test]
fn compatibility_lines_and_exit_codes() {
    let h = Home::new();
    let r = h.run(&["auth", "github"], &[("GITHUB_TOKEN", "ghp_from_env")]);
    assert_eq!(
        (r.code(), r.out().as_str()),
        (0, "Github authentication successful (api_key).\n"),
        "{r:?}"
    );
    assert!(
        !h.path().join(".planopticon/github_token.json").exists(),
        "an API key is not written"
    );

    let r = h.run(&["auth", "zoom"], &[]);
    assert_eq!(r.code(), 1);
    assert_eq!(r.out(), "");
    assert_eq!(
        r.err().lines().next().unwrap(),
        "Zoom authentication failed: No auth method available for zoom. (Set ZOOM_CLIENT_ID for OAuth and ZOOM_CLIENT_SECRET)"
    );
    assert!(
        r.err()
            .contains("server-to-server: skipped: ZOOM_ACCOUNT_ID is not set"),
        "{r:?}"
    );
    // What to set comes last, as tips worded from the engine's hints.
    assert!(
        r.err()
            .lines()
            .any(|l| l.starts_with("Tip: ") && l.contains("ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET")),
        "{r:?}"
    );

    let r = h.run(&["auth", "github"], &[]);
    assert_eq!(
        r.err().lines().next().unwrap(),
        "Github authentication failed: No auth method available for github. (Set GITHUB_CLIENT_ID for OAuth and GITHUB_CLIENT_SECRET or set GITHUB_TOKEN for API key access)"
    );
    assert_eq!(r.code(), 1);

    let r = h.run(&["auth", "github", "--logout"], &[]);
    assert_eq!(
        (r.code(), r.out().as_str()),
        (0, "Cleared saved github token.\n")
    );

    let r = h.run(&["auth", "nosuch"], &[]);
    assert_eq!(r.code(), 2, "{r:?}");
    assert!(
        r.err()
            .contains("dropbox, github, google, microsoft, notion, plane, zoom"),
        "{r:?}"
    );
    assert_eq!(h.run(&["auth"], &[]).code(), 2);
    assert_eq!(
        h.run(&["auth", "github", "--redirect", "carrier-pigeon"], &[])
            .code(),
        2
    );

    // An empty variable counts as unset.
    let r = h.run(&["auth", "github"], &[("GITHUB_TOKEN", "")]);
    assert_eq!(r.code(), 1);
}

#[test]
fn verbose_logs_go_to_stderr_without_secrets() {
    let h = Home::new();
    std::fs::write(
        h.po().join("github_token.json"),
        json!({"access_token": "gho_saved_secret", "refresh_token": "ghr_refresh_secret", "expires_at": 1.0, "client_id": "c", "client_secret": "cs_secret"}).to_string(),
    )
    .unwrap();
    // The refresh goes to a closed local port, never to github.com.
    std::fs::write(
        h.po().join("services.toml"),
        "[github]\noauth_token_url = \"http://127.0.0.1:1/token\"\n",
    )
    .unwrap();
    let r = h.run(
        &["-v", "auth", "github"],
        &[("GITHUB_TOKEN", "ghp_env_secret")],
    );
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(
        r.err().contains("DEBUG") && r.err().contains("could not reach"),
        "{r:?}"
    );
    for secret in [
        "gho_saved_secret",
        "ghr_refresh_secret",
        "cs_secret",
        "ghp_env_secret",
    ] {
        assert!(
            !r.out().contains(secret) && !r.err().contains(secret),
            "{secret} leaked: {r:?}"
        );
    }
}

#[test]
fn python_token_files_are_used_and_ours_have_the_documented_fields() {
    let h = Home::new();
    let far = 4_000_000_000.0;
    std::fs::write(
        h.po().join("notion_token.json"),
        json!({"access_token": "ntn_saved", "refresh_token": null, "expires_at": far, "client_id": "cid", "client_secret": ""}).to_string(),
    )
    .unwrap();
    let r = h.run(&["auth", "notion"], &[]);
    assert_eq!(
        r.out(),
        "Notion authentication successful (saved_token).\n",
        "{r:?}"
    );
    let r = h.run(&["token", "notion"], &[]);
    assert_eq!(r.out(), "ntn_saved\n");

    let r = h.run(&["status", "--json"], &[]);
    let all: serde_json::Value = serde_json::from_str(&r.out()).unwrap();
    let notion = service_entry(&all, "notion");
    assert_eq!(notion["state"], "connected");
    assert_eq!(notion["expires_at"], far);
    let zoom = service_entry(&all, "zoom");
    assert_eq!(zoom["state"], "not_connected");
    // Nothing is wrong, so no detail; what to set is a hint.
    assert!(zoom["detail"].is_null(), "{zoom}");
    assert!(
        zoom["hints"].as_array().unwrap().contains(&json!({
            "hint": "configure",
            "step": "browser",
            "vars": ["ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET"]
        })),
        "{zoom}"
    );
    let r = h.run(&["status"], &[]);
    assert!(
        r.out()
            .lines()
            .any(|l| l.starts_with("notion") && l.contains("connected")),
        "{r:?}"
    );
}

/// A key saved without expiry (as `setup` saves a GitHub token) is an API
/// key to `refresh`, `status` and the keeper alike: no expiry in 2912102
/// days, nothing refreshed, nobody asked to sign in.
#[test]
fn refresh_reports_a_saved_api_key_as_api_key() {
    let h = Home::new();
    let key = json!({"access_token": "ghp_saved", "refresh_token": null,
        "expires_at": planopticon::setup::NO_EXPIRY, "client_id": null,
        "client_secret": null, "obtained_by": "api_key"});
    std::fs::write(h.po().join("github_token.json"), key.to_string()).unwrap();
    for args in [&["refresh"][..], &["refresh", "github", "--force"]] {
        let r = h.run(args, &[]);
        assert_eq!(r.code(), 0, "{r:?}");
        assert_eq!(
            r.out(),
            "github: API key (never expires; nothing to refresh)\n",
            "{r:?}"
        );
    }
    let r = h.run(&["refresh", "--json"], &[]);
    assert_eq!(r.code(), 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.out()).unwrap();
    assert_eq!(
        v,
        json!([{"service": "github", "outcome": "api_key", "expires_at": null, "reason": null}])
    );
    let r = h.run(&["status", "--json", "--offline"], &[]);
    let all: serde_json::Value = serde_json::from_str(&r.out()).unwrap();
    let github = service_entry(&all, "github");
    assert_eq!(
        (&github["state"], &github["method"], &github["expires_at"]),
        (&json!("connected"), &json!("api_key"), &json!(null)),
        "{github}"
    );
}

#[test]
fn corrupt_token_files_are_moved_aside_and_the_chain_goes_on() {
    for junk in [
        "",
        "{\"access_token\": \"trunc",
        "not json at all",
        "[1,2]",
        "{\"access_token\": 42}",
        "{\"access_token\": \"a\", \"expires_at\": \"soon\"}",
    ] {
        let h = Home::new();
        let path = h.po().join("github_token.json");
        std::fs::write(&path, junk).unwrap();
        let r = h.run(&["auth", "github"], &[("GITHUB_TOKEN", "ghp_x")]);
        assert_eq!(r.code(), 0, "{junk:?}: {r:?}");
        assert!(
            r.err().contains("was not a valid token file") && r.err().contains("moved to"),
            "{r:?}"
        );
        let kept: Vec<_> = std::fs::read_dir(h.po())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".corrupt-"))
            .collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(
            std::fs::read_to_string(&kept[0]).unwrap(),
            junk,
            "nothing is lost"
        );
    }
}

#[test]
fn hostile_token_files_are_refused_with_their_name() {
    let h = Home::new();
    let po = h.po();
    // A symlink and a FIFO are Unix's (reparse points are tested with the
    // Windows store); a folder and a huge file are everyone's.
    #[cfg(unix)]
    {
        // A symlink: refused, its target untouched.
        let target = h.path().join("elsewhere.txt");
        std::fs::write(&target, "precious").unwrap();
        std::os::unix::fs::symlink(&target, po.join("github_token.json")).unwrap();
        let r = h.run(&["auth", "github"], &[("GITHUB_TOKEN", "ghp_x")]);
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(
            r.err().contains("github_token.json") && r.err().contains("symbolic link"),
            "{r:?}"
        );
        let r = h.run(&["auth", "github"], &[]);
        assert_eq!(r.code(), 1);
        assert!(r.err().contains("symbolic link"), "{r:?}");
        let r = h.run(&["auth", "github", "--logout"], &[]);
        assert_eq!(r.code(), 1, "{r:?}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");

        // A FIFO: refused at once, never waited on.
        let fifo = po.join("notion_token.json");
        assert!(Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let r = h.run(&["auth", "notion"], &[("NOTION_API_KEY", "ntn_x")]);
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(r.err().contains("not a regular file"), "{r:?}");
    }

    // A folder, and a huge file.
    std::fs::create_dir(po.join("dropbox_token.json")).unwrap();
    let r = h.run(&["auth", "dropbox"], &[]);
    assert!(r.err().contains("is a folder"), "{r:?}");
    std::fs::write(po.join("google_token.json"), vec![b' '; 2 << 20]).unwrap();
    let r = h.run(&["auth", "google"], &[]);
    assert!(r.err().contains("larger than"), "{r:?}");
    assert_eq!(
        std::fs::metadata(po.join("google_token.json"))
            .unwrap()
            .len(),
        2 << 20
    );

    // Other services keep working.
    let r = h.run(&["auth", "zoom"], &[]);
    assert!(
        r.err()
            .starts_with("Zoom authentication failed: No auth method"),
        "{r:?}"
    );
    let r = h.run(&["status", "--json"], &[]);
    assert_eq!(r.code(), 0, "{r:?}");
}

/// Unix modes and users; a DACL that shuts the user out is the Windows
/// store's to test.
#[cfg(unix)]
#[test]
fn an_unreadable_token_file_is_named() {
    let h = Home::new();
    let po = h.po();
    let path = po.join("github_token.json");
    std::fs::write(
        &path,
        json!({"access_token": "a", "expires_at": 4e9}).to_string(),
    )
    .unwrap();
    let root = unsafe { libc::geteuid() } == 0;
    let r = if root {
        // Root reads anything: run the CLI as nobody instead.
        for p in [h.path(), po.as_path()] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_planopticon"),
            "auth",
            "github",
        ])
        .env_clear()
        .env("HOME", h.path())
        .env("GITHUB_TOKEN", "ghp_x")
        .stdin(Stdio::null());
        Run(c.output().unwrap())
    } else {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        h.run(&["auth", "github"], &[("GITHUB_TOKEN", "ghp_x")])
    };
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(
        r.err().contains("github_token.json") && r.err().contains("ermission denied"),
        "{r:?}"
    );
    assert!(path.exists());
}

/// A mistake in services.toml is told on every command (file, line, key),
/// and stops only the service whose table holds it.
#[test]
fn services_toml_errors_name_file_line_and_key() {
    // (text, words the warning holds, the service it breaks: None when the
    // file cannot be read as TOML at all, or the table cannot be a service)
    let cases: [(&str, &[&str], Option<&str>); 7] = [
        (
            "[acme]\nclient_idd = \"x\"\n",
            &["line 2", "client_idd"],
            Some("acme"),
        ),
        (
            "[acme]\nscopes = \"read\"\n",
            &["line 2", "scopes"],
            Some("acme"),
        ),
        ("[acme\nclient_id = \"x\"\n", &["line 1"], None),
        ("[acme]\nclient_id = \"x\n", &["line 2"], None),
        // (A token URL alone is a server-to-server service now; an
        // authorization URL alone is the mistake.)
        (
            "[acme]\noauth_authorize_url = \"http://127.0.0.1:1/a\"\n",
            &["[acme]", "oauth_authorize_url needs oauth_token_url"],
            Some("acme"),
        ),
        ("[\"Acme Corp\"]\nclient_id = \"x\"\n", &["Acme Corp"], None),
        (
            "[github]\nredirect_uri = 5\n",
            &["line 2", "redirect_uri"],
            Some("github"),
        ),
    ];
    for (text, words, broken) in cases {
        let h = Home::with_services(text);
        let file = h.po().join("services.toml").to_string_lossy().into_owned();
        let warned = |r: &Run| {
            r.err().lines().any(|l| {
                l.starts_with(&format!("Warning: {file}: ")) && words.iter().all(|w| l.contains(w))
            })
        };
        let refused = |r: &Run, name: &str| {
            r.code() == 1
                && r.out().is_empty()
                && r.err().lines().any(|l| {
                    l.starts_with(&format!("{name} cannot be used: {file}: "))
                        && words.iter().all(|w| l.contains(w))
                })
        };
        // The services the mistake does not touch keep working; the one it
        // breaks says why when used.
        for (svc, var, name) in [
            ("github", "GITHUB_TOKEN", "Github"),
            ("notion", "NOTION_API_KEY", "Notion"),
        ] {
            let r = h.run(&["auth", svc], &[(var, "x")]);
            assert!(warned(&r), "{text:?}: {r:?}");
            if broken == Some(svc) {
                assert!(refused(&r, name), "{text:?}: {r:?}");
            } else {
                assert_eq!(
                    (r.code(), r.out()),
                    (0, format!("{name} authentication successful (api_key).\n")),
                    "{text:?}: {r:?}"
                );
            }
        }
        if broken == Some("acme") {
            let r = h.run(&["auth", "acme"], &[]);
            assert!(warned(&r) && refused(&r, "Acme"), "{text:?}: {r:?}");
            let r = h.run(&["token", "acme"], &[]);
            assert!(warned(&r) && refused(&r, "Acme"), "{text:?}: {r:?}");
        }
        // status lists every service; the broken one shows the error.
        let r = h.run(&["status", "--json"], &[]);
        assert_eq!(r.code(), 0, "{text:?}: {r:?}");
        assert!(warned(&r), "{text:?}: {r:?}");
        let all: serde_json::Value = serde_json::from_str(&r.out()).unwrap();
        let all = all.as_array().unwrap();
        assert!(all.iter().any(|s| s["service"] == "notion"), "{all:?}");
        if let Some(svc) = broken {
            let s = all.iter().find(|s| s["service"] == svc).expect("listed");
            assert_eq!(s["state"], "error", "{text:?}: {s}");
            let detail = s["detail"].as_str().unwrap();
            assert!(words.iter().all(|w| detail.contains(w)), "{text:?}: {s}");
        }
    }
}

#[test]
fn custom_services_appear_everywhere() {
    let h = Home::new();
    std::fs::write(
        h.po().join("services.toml"),
        "[acme]\ndisplay_name = \"Acme\"\noauth_authorize_url = \"http://127.0.0.1:9/a\"\noauth_token_url = \"http://127.0.0.1:9/t\"\napi_key_env = \"ACME_KEY\"\n",
    )
    .unwrap();
    let r = h.run(&["auth", "acme"], &[("ACME_KEY", "k")]);
    assert_eq!(
        r.out(),
        "Acme authentication successful (api_key).\n",
        "{r:?}"
    );
    let r = h.run(&["status", "--json"], &[]);
    assert!(r.out().contains("\"acme\""), "{r:?}");
    let mut c = h.cmd(&["-C"], &[("ACME_KEY", "k")]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"/auth\n/auth acme\n/auth zoom\n/auth nosuch\n/quit\n")
        .unwrap();
    let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Usage: /auth SERVICE");
    assert_eq!(
        lines[1],
        "Available: acme, dropbox, github, google, microsoft, notion, plane, zoom"
    );
    assert_eq!(lines[2], "Acme authenticated (api_key)");
    assert!(
        lines[3].starts_with("Zoom auth failed: No auth method available for zoom."),
        "{out}"
    );
    // Then what was tried and what to set, before the next command's answer.
    assert_eq!(lines[4], "What was tried:", "{out}");
    assert!(
        lines[5..lines.len() - 1]
            .iter()
            .all(|l| l.starts_with("  - ") || l.starts_with("Tip: ")),
        "{out}"
    );
    assert!(lines.iter().any(|l| l.starts_with("Tip: ")), "{out}");
    assert_eq!(lines[lines.len() - 1], "Unknown service: nosuch", "{out}");
}

#[test]
fn a_browser_sign_in_through_the_cli_then_two_processes_refresh_once() {
    let server = OidcServer::start();
    let h = Home::new();
    acme_services_toml(&h, &server);
    let browser = browser_program();
    let log = h.path().join("browser.log");
    let env = [
        ("BROWSER", browser.to_str().unwrap()),
        ("TEST_BROWSER_LOG", log.to_str().unwrap()),
    ];
    let r = h.run(&["auth", "acme"], &env);
    r.assert_signed_in_by_browser("acme", "Acme");
    let opened = std::fs::read_to_string(&log).unwrap();
    assert!(
        opened.contains("code_challenge_method=S256")
            && opened.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"),
        "{opened}"
    );

    let path = h.po().join("acme_token.json");
    #[cfg(unix)]
    {
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(h.po()).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
    let mut saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_python_fields(&saved);

    // Expire it, then let several processes want the token at once.
    saved["expires_at"] = json!(1000.0);
    std::fs::write(&path, saved.to_string()).unwrap();
    server.reset_stats();
    let children: Vec<_> = (0..4)
        .map(|_| {
            h.cmd(&["token", "acme"], &[])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let tokens: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert_success(&out);
            String::from_utf8(out.stdout).unwrap()
        })
        .collect();
    assert!(
        tokens.iter().all(|t| t == &tokens[0] && t.len() > 10),
        "{tokens:?}"
    );
    assert_eq!(
        server.token_requests("refresh_token"),
        1,
        "{}",
        server.stats()
    );
    assert_eq!(server.stats()["invalid_grant"], 0);

    let r = h.run(&["auth", "acme", "--logout"], &[]);
    assert_eq!(r.out(), "Cleared saved acme token.\n");
    assert!(!path.exists());
}

#[test]
fn nobody_at_the_terminal_is_never_waited_for() {
    let server = OidcServer::shared();
    let h = Home::new();
    acme_services_toml(&h, server);
    // No terminal, no browser, no display: the sign-in is skipped at once.
    let r = h.run(&["auth", "acme"], &[]);
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(r.err().contains("nobody is at a terminal"), "{r:?}");
    // Paste mode needs a terminal even when a browser could open.
    let r = h.run(
        &["auth", "acme", "--redirect", "paste"],
        &[("BROWSER", "true")],
    );
    assert!(r.err().contains("pasting a code needs a terminal"), "{r:?}");
    assert!(
        r.err()
            .lines()
            .any(|l| l.starts_with("Tip: ")
                && l.contains("planopticon auth acme --redirect loopback")),
        "{r:?}"
    );
    // With a client id and an API key, the key is used without a prompt.
    let r = h.run(
        &["auth", "github"],
        &[
            ("GITHUB_CLIENT_ID", "cid"),
            ("GITHUB_TOKEN", "ghp_x"),
            ("BROWSER", "true"),
        ],
    );
    assert_eq!(
        r.out(),
        "Github authentication successful (api_key).\n",
        "{r:?}"
    );
}
