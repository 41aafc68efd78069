//! Setting services up: services.toml edited in place (comments, order and
//! other tables byte for byte), refused values and broken files, concurrent
//! edits from threads and processes, the client secret in a real keyring
//! (gnome-keyring in a private D-Bus session), `auth --with-token` and
//! `config` lines and exit codes.
//!
//! The scripted HTTP server is tests/support's.

mod support;

use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use planopticon::setup::{Endpoints, Key, Setup, Shown, Source};
use planopticon::Error;
use support::{assert_python_fields, assert_success, FakeServer, Recorded, Reply};

// ---- helpers -------------------------------------------------------------

/// tests/support's scripted server, answering JSON text from the handler.
fn answering(handler: impl Fn(&Recorded) -> (u16, String) + Send + Sync + 'static) -> FakeServer {
    FakeServer::start(move |r| {
        let (status, json) = handler(r);
        Reply::Text(status, "application/json".into(), json)
    })
}

/// A throw-away HOME with `~/.planopticon/services.toml`.
struct Home(tempfile::TempDir);

impl Home {
    fn with_services(text: &str) -> Self {
        let h = Self(tempfile::tempdir().unwrap());
        std::fs::create_dir_all(h.po()).unwrap();
        std::fs::write(h.services(), text).unwrap();
        h
    }

    fn po(&self) -> PathBuf {
        self.0.path().join(".planopticon")
    }

    fn services(&self) -> PathBuf {
        self.po().join("services.toml")
    }

    fn text(&self) -> String {
        std::fs::read_to_string(self.services()).unwrap()
    }

    fn setup(&self) -> Setup {
        Setup::new(self.services(), false)
    }

    fn cli(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_planopticon"));
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.0.path())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = c.spawn().unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }
}

fn out(o: &Output) -> (String, String, i32) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code().unwrap_or(-1),
    )
}

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

const HAND_WRITTEN: &str = "# My services, by hand.\n\
# Keep this comment.\n\
\n\
[microsoft]   # tenant-specific\n\
oauth_authorize_url = \"https://login.microsoftonline.com/t1/oauth2/v2.0/authorize\"  # mine\n\
oauth_token_url   =   \"https://login.microsoftonline.com/t1/oauth2/v2.0/token\"\n\
\n\
# An unrelated table, oddly spaced\n\
[acme]\n\
display_name='Acme'\n\
oauth_authorize_url = \"http://127.0.0.1:9/authorize\"\n\
oauth_token_url = \"http://127.0.0.1:9/token\"\n\
scopes = [ \"read\",\"write\" ]   # two\n\
authorize_params = { prompt = \"consent\" }\n\
\n\
[zoom]\n\
client_id = \"old-id\" # trailing comment\n";

// ---- the library: services.toml edited in place -------------------------

#[test]
fn edits_keep_comments_order_and_other_tables_byte_for_byte() {
    let home = Home::with_services(HAND_WRITTEN);
    let setup = home.setup();

    // A key added to one table: the rest of the file is untouched.
    setup.set("microsoft", Key::ClientId, "ms-id").unwrap();
    let after = home.text();
    assert_eq!(
        after,
        HAND_WRITTEN.replace(
            "oauth_token_url   =   \"https://login.microsoftonline.com/t1/oauth2/v2.0/token\"\n",
            "oauth_token_url   =   \"https://login.microsoftonline.com/t1/oauth2/v2.0/token\"\nclient_id = \"ms-id\"\n"
        )
    );
    // Unset restores the file byte for byte.
    assert!(setup.unset("microsoft", Key::ClientId).unwrap());
    assert_eq!(home.text(), HAND_WRITTEN);

    // A changed value keeps its line's comment.
    setup.set("zoom", Key::ClientId, "new-id").unwrap();
    assert_eq!(
        home.text(),
        HAND_WRITTEN.replace("\"old-id\" # trailing", "\"new-id\" # trailing")
    );
    setup.set("zoom", Key::ClientId, "old-id").unwrap();
    assert_eq!(home.text(), HAND_WRITTEN);

    // A new service goes at the end; removing it restores the file.
    setup
        .add_service(
            "beta",
            Endpoints::Urls {
                authorize: "https://beta.example/authorize".into(),
                token: "https://beta.example/token".into(),
            },
        )
        .unwrap();
    let added = home.text();
    assert!(added.starts_with(HAND_WRITTEN), "{added}");
    assert_eq!(
        &added[HAND_WRITTEN.len()..],
        "\n[beta]\noauth_authorize_url = \"https://beta.example/authorize\"\noauth_token_url = \"https://beta.example/token\"\n"
    );
    assert!(setup.registry().get("beta").is_ok());
    assert!(setup.remove_service("beta").unwrap());
    assert_eq!(home.text(), HAND_WRITTEN);
    assert!(!setup.remove_service("beta").unwrap());

    // Lists and maps are written as TOML arrays and inline tables.
    setup.set("acme", Key::Scopes, "openid email").unwrap();
    setup
        .set(
            "acme",
            Key::AuthorizeParams,
            "prompt=login, access_type=offline",
        )
        .unwrap();
    let acme = setup.registry().get("acme").unwrap();
    assert_eq!(acme.scopes, ["openid", "email"]);
    assert_eq!(acme.authorize_params["access_type"], "offline");
    assert!(home.text().contains("# two"), "the line's comment stays");
    assert!(home.text().starts_with(
        "# My services, by hand.\n# Keep this comment.\n\n[microsoft]   # tenant-specific\n"
    ));
}

/// Unix mode bits; the Windows DACL is tested with the Windows store.
#[cfg(unix)]
#[test]
fn a_new_file_is_created_0600_and_an_open_file_is_tightened() {
    let home = Home::with_services("");
    std::fs::remove_file(home.services()).unwrap();
    let setup = home.setup();
    setup.set("github", Key::ClientId, "gh-id").unwrap();
    assert_eq!(home.text(), "[github]\nclient_id = \"gh-id\"\n");
    assert_eq!(mode(&home.services()), 0o600);
    std::fs::set_permissions(home.services(), std::fs::Permissions::from_mode(0o644)).unwrap();
    setup.set("github", Key::ClientSecret, "gh-secret").unwrap();
    assert_eq!(mode(&home.services()), 0o600);
    assert!(home.text().contains("client_secret = \"gh-secret\""));
    let cfg = setup.registry().get("github").unwrap();
    assert_eq!(cfg.resolved_client_secret().as_deref(), Some("gh-secret"));
}

#[test]
fn invalid_values_are_refused_with_the_reason_and_nothing_is_written() {
    let home = Home::with_services(HAND_WRITTEN);
    let setup = home.setup();
    let refused = |r: planopticon::Result<()>, words: &str| {
        let e = r.unwrap_err().to_string();
        assert!(e.contains(words), "{e}");
        assert_eq!(home.text(), HAND_WRITTEN);
    };
    refused(
        setup.set("zoom", Key::ClientId, "has a space"),
        "must not contain spaces",
    );
    refused(
        setup.set("zoom", Key::OauthTokenUrl, "http://zoom.example/token"),
        "must use https",
    );
    refused(
        setup.set("zoom", Key::UserinfoUrl, "zoom.example/me"),
        "is not a URL",
    );
    refused(
        setup.set("zoom", Key::ServerGrant, "password"),
        "client_credentials, account_credentials",
    );
    refused(
        setup.set("zoom", Key::ClientIdEnv, "ZOOM-ID"),
        "environment variable",
    );
    refused(setup.set("zoom", Key::ClientSecret, ""), "is empty");
    // http on loopback is fine.
    setup
        .set("acme", Key::UserinfoUrl, "http://[::1]:9/me")
        .unwrap();
    setup.unset("acme", Key::UserinfoUrl).unwrap();
    assert_eq!(home.text(), HAND_WRITTEN);

    let e = "client_idd".parse::<Key>().unwrap_err();
    assert!(matches!(e, Error::UnknownKey { .. }), "{e}");
    assert!(e.to_string().contains("client_id,"), "{e}");
    let e = setup.set("nosuch", Key::ClientId, "x").unwrap_err();
    assert!(matches!(e, Error::UnknownService { .. }), "{e}");
    for bad in ["Bad Name", "a/b", "", "ümlaut"] {
        let e = setup
            .add_service(bad, Endpoints::Issuer("https://sso.example".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("lower-case letters"), "{bad}: {e}");
    }
    let e = setup
        .add_service("acme", Endpoints::Issuer("https://sso.example".into()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("already a service"), "{e}");
    let e = setup
        .add_service(
            "beta",
            Endpoints::Urls {
                authorize: "https://beta.example/a".into(),
                token: "http://beta.example/t".into(),
            },
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("oauth_token_url") && e.contains("https"), "{e}");
    assert_eq!(home.text(), HAND_WRITTEN);
}

#[test]
fn a_broken_file_is_shown_and_never_overwritten() {
    for broken in [
        "# someone's half-edit\n[acme\nclient_id = \"x\"\n",
        "[acme]\nclient_idd = \"x\"\n",
        "[zoom]\nscopes = \"one\"\n",
    ] {
        let home = Home::with_services(broken);
        let setup = home.setup();
        let e = setup
            .set("github", Key::ClientId, "gh")
            .unwrap_err()
            .to_string();
        assert!(e.contains("services.toml") && e.contains("line "), "{e}");
        assert!(e.contains("nothing was written"), "{e}");
        assert!(setup.unset("zoom", Key::ClientId).is_err());
        assert!(setup.remove_service("acme").is_err());
        assert_eq!(home.text(), broken, "the file is as it was");
        // The CLI says so and exits 1.
        let (stdout, stderr, code) =
            out(&home.cli(&["config", "github", "client_id", "gh"], &[], None));
        assert_eq!(code, 1, "{stdout}{stderr}");
        assert!(stderr.contains("nothing was written"), "{stderr}");
        assert_eq!(home.text(), broken);
    }
}

/// A table whose own value cannot be used: what can be used is shown, the
/// bad value with why; Save repairs it when it corrects that value, and
/// writes nothing otherwise. Another table's mistake is still left alone.
#[test]
fn a_broken_table_is_shown_and_repaired_by_correcting_its_value() {
    let broken = "# mine\n[github]\nclient_id = \"gh\"\n\n[dropbox]\noauth_token_url = 42 # typo\nclient_id = \"db\"\n";
    let home = Home::with_services(broken);
    let setup = home.setup();
    assert!(setup.registry().only_broken("dropbox"));
    let (cfg, bad) = setup.salvage("dropbox").unwrap();
    assert_eq!(
        cfg.client_id.as_deref(),
        Some("db"),
        "the usable keys are kept"
    );
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(
        (bad[0].key.as_str(), bad[0].value.as_str()),
        ("oauth_token_url", "42")
    );
    assert!(bad[0].reason.contains("invalid type"), "{}", bad[0].reason);
    let shown = setup.effective("dropbox").unwrap();
    let id = shown.iter().find(|s| s.key == Key::ClientId).unwrap();
    assert_eq!(id.value, Shown::Plain("db".into()));

    // Saving anything else leaves the table broken: refused, nothing written.
    let other = [change(Key::Scopes, Some("files.content.read"))];
    let e = setup.set_all("dropbox", &other).unwrap_err().to_string();
    assert!(e.contains("oauth_token_url"), "{e}");
    assert_eq!(home.text(), broken);
    // Another service cannot be edited while the file has a mistake.
    assert!(setup.set("zoom", Key::ClientId, "z").is_err());
    assert_eq!(home.text(), broken);

    let fix = [
        change(
            Key::OauthTokenUrl,
            Some("https://api.dropboxapi.com/oauth2/token"),
        ),
        change(Key::ClientSecret, Some("s3cret")),
    ];
    setup.set_all("dropbox", &fix).unwrap();
    assert_eq!(
        home.text(),
        "# mine\n[github]\nclient_id = \"gh\"\n\n[dropbox]\noauth_token_url = \"https://api.dropboxapi.com/oauth2/token\" # typo\nclient_id = \"db\"\nclient_secret = \"s3cret\"\n"
    );
    assert!(setup.registry().problems().is_empty());
    assert!(setup.salvage("dropbox").unwrap().1.is_empty());

    // With a second broken table, neither is repaired from a form.
    let two = "[dropbox]\noauth_token_url = 42\n[zoom]\nscopes = \"one\"\n";
    let home = Home::with_services(two);
    let setup = home.setup();
    assert!(!setup.registry().only_broken("dropbox"));
    let fix = [change(Key::OauthTokenUrl, Some("https://x.example/t"))];
    assert!(setup.set_all("dropbox", &fix).is_err());
    assert_eq!(home.text(), two);
}

fn change(key: Key, value: Option<&str>) -> planopticon::setup::Change {
    planopticon::setup::Change {
        key,
        value: value.map(str::to_string),
    }
}

#[test]
fn concurrent_edits_from_threads_and_processes_lose_nothing() {
    let home = Home::with_services(
        "# shared\n[acme]\noauth_authorize_url = \"http://127.0.0.1:9/a\"\noauth_token_url = \"http://127.0.0.1:9/t\"\n",
    );
    let thread_keys = [
        (Key::DisplayName, "Acme Corp"),
        (Key::ClientId, "cid"),
        (Key::AccountId, "acct"),
        (Key::ClientIdEnv, "ACME_ID"),
        (Key::ClientSecretEnv, "ACME_SECRET"),
        (Key::ApiKeyEnv, "ACME_KEY"),
        (Key::AccountIdEnv, "ACME_ACCOUNT"),
        (Key::UserinfoUrl, "http://127.0.0.1:9/me"),
    ];
    let cli_keys = [
        ("revocation_url", "http://127.0.0.1:9/revoke"),
        ("device_authorization_url", "http://127.0.0.1:9/device"),
        ("api_key_header", "x-api-key"),
        ("workspace_url", "http://127.0.0.1:9/ws"),
    ];
    let path = home.services();
    let procs: Vec<_> = cli_keys
        .iter()
        .map(|(k, v)| {
            Command::new(env!("CARGO_BIN_EXE_planopticon"))
                .args(["config", "acme", k, v])
                .env_clear()
                .env("HOME", home.0.path())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::scope(|s| {
        for (k, v) in thread_keys {
            let p = path.clone();
            s.spawn(move || Setup::new(p, false).set("acme", k, v).unwrap());
        }
    });
    for p in procs {
        let o = p.wait_with_output().unwrap();
        assert_success(&o);
    }
    let text = home.text();
    assert!(text.starts_with("# shared\n[acme]\n"), "{text}");
    let table: toml::Table = text.parse().unwrap();
    let acme = table["acme"].as_table().unwrap();
    for (k, v) in thread_keys {
        assert_eq!(acme[k.as_str()].as_str(), Some(v), "{k} lost:\n{text}");
    }
    for (k, v) in cli_keys {
        assert_eq!(acme[k].as_str(), Some(v), "{k} lost:\n{text}");
    }
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn effective_settings_say_where_each_value_comes_from() {
    let home = Home::with_services(HAND_WRITTEN);
    let setup = home.setup();
    let settings = setup.effective("zoom").unwrap();
    let get = |k: Key| settings.iter().find(|s| s.key == k).unwrap().clone();
    assert_eq!(get(Key::ClientId).source, Source::ServicesFile);
    assert_eq!(get(Key::ClientId).value, Shown::Plain("old-id".into()));
    assert_eq!(get(Key::OauthTokenUrl).source, Source::BuiltIn);
    assert_eq!(get(Key::ClientSecret).value, Shown::Secret { set: false });
    assert!(settings.iter().all(|s| s.key != Key::ClientSecretInKeyring));
    let acme = setup.effective("acme").unwrap();
    let scopes = acme.iter().find(|s| s.key == Key::Scopes).unwrap();
    assert_eq!(scopes.value, Shown::Plain("read write".into()));
    assert_eq!(scopes.source, Source::ServicesFile);
}

// ---- the CLI: config -----------------------------------------------------

fn line_of<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no {key} line in\n{stdout}"))
}

#[test]
fn config_prints_values_and_sources_and_edits_the_file() {
    let home = Home::with_services(HAND_WRITTEN);
    let env = [
        ("GITHUB_TOKEN", "ghp_from_env"),
        ("GITHUB_CLIENT_SECRET", "env-secret"),
    ];
    let (stdout, stderr, code) = out(&home.cli(&["config", "github"], &env, None));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("KEY "), "{stdout}");
    assert!(line_of(&stdout, "display_name").contains("GitHub"));
    assert!(line_of(&stdout, "display_name").ends_with("built-in"));
    let key = line_of(&stdout, "api_key");
    assert!(
        key.contains(" set ")
            && key.ends_with("environment (GITHUB_TOKEN), cannot be changed here"),
        "{key}"
    );
    let secret = line_of(&stdout, "client_secret");
    assert!(
        secret.ends_with("environment (GITHUB_CLIENT_SECRET)"),
        "{secret}"
    );
    assert!(
        !stdout.contains("ghp_from_env") && !stdout.contains("env-secret"),
        "{stdout}"
    );
    assert!(line_of(&stdout, "client_id").ends_with(" -"), "unset");

    // Set, show one key, unset.
    let (stdout, stderr, code) =
        out(&home.cli(&["config", "github", "client_id", "gh-app"], &[], None));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        format!("Set github client_id in {}.\n", home.services().display())
    );
    let (stdout, _, code) = out(&home.cli(&["config", "github", "client_id"], &[], None));
    assert_eq!(code, 0);
    assert!(line_of(&stdout, "client_id").contains("gh-app"), "{stdout}");
    assert!(
        line_of(&stdout, "client_id").ends_with("services.toml"),
        "{stdout}"
    );
    let (stdout, _, code) =
        out(&home.cli(&["config", "github", "--unset", "client_id"], &[], None));
    assert_eq!((stdout.as_str(), code), ("Unset github client_id.\n", 0));
    assert_eq!(home.text(), HAND_WRITTEN);

    // A secret only from stdin.
    let (_, stderr, code) =
        out(&home.cli(&["config", "github", "client_secret", "oops"], &[], None));
    assert_eq!(code, 2);
    assert!(stderr.contains("read from stdin"), "{stderr}");
    assert_eq!(home.text(), HAND_WRITTEN);
    let (stdout, stderr, code) = out(&home.cli(
        &["config", "github", "client_secret", "-"],
        &[],
        Some("from-stdin\n"),
    ));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("Set github client_secret in "),
        "{stdout}"
    );
    assert!(home.text().contains("client_secret = \"from-stdin\""));
    let (stdout, _, _) = out(&home.cli(&["config", "github"], &[], None));
    assert!(!stdout.contains("from-stdin"));
    assert!(
        line_of(&stdout, "client_secret").contains(" set "),
        "{stdout}"
    );

    // Usage errors exit 2, refused values 1; nothing written.
    let before = home.text();
    let (_, stderr, code) = out(&home.cli(&["config", "github", "client_idd", "x"], &[], None));
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown key \"client_idd\""), "{stderr}");
    let (_, stderr, code) = out(&home.cli(&["config", "nosuch"], &[], None));
    assert_eq!(code, 2, "{stderr}");
    let (_, stderr, code) = out(&home.cli(&["config", "github", "client_id", "a b"], &[], None));
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "Github setting not saved: client_id: the value must not contain spaces; nothing was saved\n"
    );
    let (_, stderr, code) = out(&home.cli(
        &[
            "config",
            "github",
            "oauth_token_url",
            "http://example.com/t",
        ],
        &[],
        None,
    ));
    assert_eq!(code, 1);
    assert!(stderr.contains("must use https"), "{stderr}");
    assert_eq!(home.text(), before);
}

// ---- the CLI: auth --with-token -----------------------------------------

fn identity_server() -> FakeServer {
    answering(|r| {
        let bearer = r.header("authorization") == Some("Bearer good-token");
        let header = r.header("x-api-key") == Some("good-plane-key");
        match (r.path.as_str(), bearer || header) {
            ("/user", true) => (200, r#"{"id": 7, "login": "alice"}"#.into()),
            ("/plane/me", true) => (200, r#"{"id": "u1", "email": "bob@example.com"}"#.into()),
            _ => (401, r#"{"message": "Bad credentials"}"#.into()),
        }
    })
}

#[test]
fn with_token_checks_a_personal_token_and_saves_it_as_a_token_file() {
    let fake = identity_server();
    let home = Home::with_services(&format!(
        "[github]\nuserinfo_url = \"{}\"\n",
        fake.url("/user")
    ));
    let token_file = home.po().join("github_token.json");

    // A wrong token: the provider's refusal, exit 1, nothing saved.
    let (stdout, stderr, code) = out(&home.cli(
        &["auth", "github", "--with-token"],
        &[],
        Some("bad-token\n"),
    ));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.starts_with("Github token not saved: the provider refused the API key check: the key was not accepted at "), "{stderr}");
    assert!(stderr.contains(": Bad credentials (HTTP 401)"), "{stderr}");
    assert!(!stderr.contains("bad-token"), "{stderr}");
    assert!(!token_file.exists());

    // Nothing on stdin.
    let (_, stderr, code) = out(&home.cli(&["auth", "github", "--with-token"], &[], Some("")));
    assert_eq!(code, 1);
    assert!(stderr.contains("nothing was read from stdin"), "{stderr}");

    // A good one.
    let (stdout, stderr, code) = out(&home.cli(
        &["auth", "github", "--with-token"],
        &[],
        Some("good-token\n"),
    ));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "Github token saved (account: alice).\n");
    assert!(stderr.contains("github_token.json"), "{stderr}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&token_file).unwrap()).unwrap();
    assert_eq!(saved["access_token"], "good-token");
    assert_eq!(saved["obtained_by"], "api_key");
    assert_eq!(saved["expires_at"], planopticon::setup::NO_EXPIRY);
    assert_eq!(saved["account"]["login"], "alice");
    assert_python_fields(&saved);
    #[cfg(unix)]
    assert_eq!(mode(&token_file), 0o600);
    let sent = fake.requests();
    assert!(sent.iter().all(|r| r.method == "GET" && r.path == "/user"));
    // The token never reaches services.toml.
    assert!(!home.text().contains("good-token"));

    // The chain uses it as a saved token; status shows how it was obtained.
    let (stdout, stderr, code) = out(&home.cli(&["auth", "github"], &[], None));
    assert_eq!(
        (stdout.as_str(), code),
        ("Github authentication successful (saved_token).\n", 0),
        "{stderr}"
    );
    let (stdout, _, _) = out(&home.cli(&["status", "--offline"], &[], None));
    let line = stdout.lines().find(|l| l.starts_with("github")).unwrap();
    assert!(
        line.contains("connected") && line.contains("api_key"),
        "{line}"
    );
    let (stdout, _, _) = out(&home.cli(&["config", "github", "api_key"], &[], None));
    assert!(
        line_of(&stdout, "api_key").ends_with("token file"),
        "{stdout}"
    );

    // Logout keeps the personal token valid at the provider.
    let (stdout, stderr, code) = out(&home.cli(&["auth", "github", "--logout"], &[], None));
    assert_eq!(
        (stdout.as_str(), code),
        ("Cleared saved github token.\n", 0)
    );
    assert!(stderr.contains("stays valid"), "{stderr}");
    assert!(!token_file.exists());
    assert!(
        fake.requests().iter().all(|r| r.path == "/user"),
        "no revocation was sent"
    );

    // Services without API keys say so.
    let (_, stderr, code) = out(&home.cli(&["auth", "zoom", "--with-token"], &[], Some("k\n")));
    assert_eq!(code, 1);
    assert!(stderr.contains("zoom has no API keys"), "{stderr}");
}

#[test]
fn with_token_keeps_a_header_key_out_of_the_token_file() {
    let fake = identity_server();
    let home = Home::with_services(&format!(
        "[plane]\nuserinfo_url = \"{}\"\n",
        fake.url("/plane/me")
    ));
    let (stdout, stderr, code) = out(&home.cli(
        &["auth", "plane", "--with-token"],
        &[],
        Some("good-plane-key\n"),
    ));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "Plane token saved (account: bob@example.com).\n");
    assert!(
        stderr.contains("services.toml as [plane] api_key"),
        "{stderr}"
    );
    let r = &fake.requests()[0];
    assert_eq!(r.header("x-api-key"), Some("good-plane-key"));
    assert_eq!(
        r.header("authorization"),
        None,
        "never passed off as a bearer token"
    );
    assert!(!home.po().join("plane_token.json").exists());
    assert!(
        home.text().contains("api_key = \"good-plane-key\""),
        "{}",
        home.text()
    );
    #[cfg(unix)]
    assert_eq!(mode(&home.services()), 0o600);
    // The chain's API-key step finds it.
    let (stdout, stderr, code) = out(&home.cli(&["auth", "plane"], &[], None));
    assert_eq!(
        (stdout.as_str(), code),
        ("Plane authentication successful (api_key).\n", 0),
        "{stderr}"
    );
    // The variable wins over it, as the spec reads keys from the environment.
    let cfg = home.setup().registry().get("plane").unwrap();
    assert_eq!(cfg.resolved_api_key().as_deref(), Some("good-plane-key"));
    let (_, stderr, code) =
        out(&home.cli(&["auth", "plane", "--with-token"], &[], Some("wrong\n")));
    assert_eq!(code, 1);
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(home.text().contains("api_key = \"good-plane-key\""));
}

// ---- the client secret in a real keyring -------------------------------

#[test]
fn with_the_keyring_on_the_secret_lives_there_and_sign_in_still_works() {
    let fake = answering(|r| {
        // client_secret_basic with cid:kr-s3cret
        let ok = r.header("authorization") == Some("Basic Y2lkOmtyLXMzY3JldA==")
            && r.body.contains("grant_type=client_credentials");
        match (r.path.as_str(), ok) {
            ("/token", true) => (
                200,
                r#"{"access_token": "kr-access", "token_type": "bearer", "expires_in": 3600}"#
                    .into(),
            ),
            ("/token", false) => (401, r#"{"error": "invalid_client"}"#.into()),
            _ => (404, "{}".into()),
        }
    });
    let home = Home::with_services(&format!(
        "# acme, by hand\n[acme]\noauth_authorize_url = \"{}\"\noauth_token_url = \"{}\"\nclient_id = \"cid\"\nclient_secret = \"plain-old\"\nserver_grant = \"client_credentials\"\n",
        fake.url("/authorize"),
        fake.url("/token")
    ));
    let cli = env!("CARGO_BIN_EXE_planopticon");
    let script = format!(
        r#"set -e
echo -n test-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null
printf 'kr-s3cret\n' | "{cli}" config acme client_secret -
echo "keyring: $(secret-tool lookup service planopticon username acme_client_secret)"
"{cli}" config acme client_secret
"{cli}" auth acme
"{cli}" auth acme --logout >/dev/null 2>&1
"{cli}" config acme --unset client_secret
echo "after unset: [$(secret-tool lookup service planopticon username acme_client_secret || true)]"
"#
    );
    let o = Command::new("dbus-run-session")
        .args(["--", "sh", "-c", &script])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", home.0.path())
        .env("PLANOPTICON_KEYRING", "1")
        .stdin(Stdio::null())
        .output()
        .expect("dbus-run-session and gnome-keyring (scripts/install-deps.sh installs them)");
    let (stdout, stderr, code) = out(&o);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Saved acme client_secret in the OS keyring."),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("keyring: kr-s3cret"), "{stdout}");
    let secret_line = line_of(&stdout, "client_secret");
    assert!(
        secret_line.contains(" set ") && secret_line.ends_with("keyring"),
        "{secret_line}"
    );
    assert!(
        stdout.contains("Acme authentication successful (client_credentials)."),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("Unset acme client_secret."), "{stdout}");
    assert!(stdout.contains("after unset: []"), "{stdout}");
    assert!(!stderr.contains("keyring is not available"), "{stderr}");
    // services.toml never held the secret, and is back as it was.
    let text = home.text();
    assert!(!text.contains("kr-s3cret"), "{text}");
    assert!(
        !text.contains("plain-old"),
        "the old plain secret is gone: {text}"
    );
    assert!(text.starts_with("# acme, by hand\n[acme]\n"), "{text}");
    assert!(!text.contains("client_secret"), "{text}");
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.path == "/token")
            .count(),
        1
    );
}

#[test]
fn with_the_keyring_on_but_missing_a_secret_is_refused_not_lost() {
    let home = Home::with_services("[acme]\noauth_authorize_url = \"http://127.0.0.1:9/a\"\noauth_token_url = \"http://127.0.0.1:9/t\"\n");
    let before = home.text();
    // No session bus: the keyring cannot be reached.
    let (stdout, stderr, code) = out(&home.cli(
        &["config", "acme", "client_secret", "-"],
        &[("PLANOPTICON_KEYRING", "1")],
        Some("s\n"),
    ));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("OS keyring could not keep"), "{stderr}");
    assert!(stderr.contains("nothing was saved"), "{stderr}");
    assert_eq!(home.text(), before);
}

// ---- adding a service by its issuer ---------------------------------------

#[test]
fn a_service_added_by_its_issuer_shows_what_discovery_found() {
    let base = Arc::new(Mutex::new(String::new()));
    let b = Arc::clone(&base);
    let fake = answering(move |r| {
        let issuer = b.lock().unwrap().clone();
        let named = if r.path.contains("/wrong") {
            format!("{issuer}/other")
        } else {
            issuer.clone()
        };
        match r
            .path
            .starts_with("/.well-known/oauth-authorization-server")
        {
            true => (
                200,
                serde_json::json!({
                    "issuer": named,
                    "authorization_endpoint": format!("{issuer}/authorize"),
                    "token_endpoint": format!("{issuer}/token"),
                    "code_challenge_methods_supported": ["S256"],
                })
                .to_string(),
            ),
            false => (404, "{}".into()),
        }
    });
    *base.lock().unwrap() = fake.url("");
    let home = Home::with_services("# mine\n");
    let setup = home.setup();
    let added = setup
        .add_service("corp", Endpoints::Issuer(fake.url("")))
        .unwrap();
    let m = added.discovered.unwrap();
    assert_eq!(m.token_endpoint, Some(fake.url("/token")));
    assert_eq!(
        home.text(),
        format!("# mine\n\n[corp]\nissuer = \"{}\"\n", fake.url(""))
    );
    assert!(setup.registry().get("corp").is_ok());
    assert!(setup.remove_service("corp").unwrap());
    assert_eq!(home.text(), "# mine\n", "the file's own comment stays");

    // An issuer whose metadata names another issuer is refused; nothing written.
    let e = setup
        .add_service("corp2", Endpoints::Issuer(fake.url("/wrong")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("refusing it"), "{e}");
    assert!(!home.text().contains("corp2"));
}

#[test]
fn config_adds_and_removes_a_service() {
    let home = Home::with_services(HAND_WRITTEN);
    let (stdout, stderr, code) = out(&home.cli(
        &[
            "config",
            "beta",
            "--add-endpoints",
            "https://beta.example/a",
            "https://beta.example/t",
        ],
        &[],
        None,
    ));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        format!("Added [beta] to {}.\n", home.services().display())
    );
    let (stdout, _, code) = out(&home.cli(&["config", "beta", "client_id", "b-id"], &[], None));
    assert_eq!(code, 0, "{stdout}");
    assert!(home.text().ends_with("[beta]\noauth_authorize_url = \"https://beta.example/a\"\noauth_token_url = \"https://beta.example/t\"\nclient_id = \"b-id\"\n"));
    let (_, stderr, code) = out(&home.cli(
        &[
            "config",
            "Bad",
            "--add-endpoints",
            "https://x.example/a",
            "https://x.example/t",
        ],
        &[],
        None,
    ));
    assert_eq!(code, 1);
    assert!(stderr.contains("lower-case letters"), "{stderr}");
    let (stdout, _, code) = out(&home.cli(&["config", "beta", "--remove"], &[], None));
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        format!("Removed [beta] from {}.\n", home.services().display())
    );
    assert_eq!(home.text(), HAND_WRITTEN);
}

/// Unix symlinks; reparse points are tested with the Windows store.
#[cfg(unix)]
#[test]
fn a_symlinked_or_special_services_file_is_left_alone() {
    let home = Home::with_services("");
    std::fs::remove_file(home.services()).unwrap();
    let target = home.0.path().join("dotfiles-services.toml");
    std::fs::write(&target, "[zoom]\nclient_id = \"z\"\n").unwrap();
    std::os::unix::fs::symlink(&target, home.services()).unwrap();
    let e = home
        .setup()
        .set("zoom", Key::ClientId, "other")
        .unwrap_err()
        .to_string();
    assert!(e.contains("symbolic link"), "{e}");
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "[zoom]\nclient_id = \"z\"\n"
    );
    assert!(std::fs::symlink_metadata(home.services())
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_google_api_key_is_never_passed_off_as_a_bearer_token() {
    let home = Home::with_services("");
    let setup = home.setup();
    let saved = setup.save_api_key("google", "AIza-test-key").unwrap();
    assert_eq!(
        saved.stored,
        planopticon::setup::KeyStore::Secret(planopticon::setup::SecretStore::ServicesFile)
    );
    assert!(matches!(
        saved.check,
        planopticon::setup::KeyCheck::NotChecked(_)
    ));
    assert_eq!(home.text(), "[google]\napi_key = \"AIza-test-key\"\n");
    assert!(!home.po().join("google_token.json").exists());
    let cfg = setup.registry().get("google").unwrap();
    if std::env::var_os("GOOGLE_API_KEY").is_none() {
        assert_eq!(cfg.resolved_api_key().as_deref(), Some("AIza-test-key"));
    }
    let e = setup
        .save_api_key("microsoft", "k")
        .unwrap_err()
        .to_string();
    assert!(e.contains("no API keys"), "{e}");
}

// ---- a refused key: the provider's own words ------------------------------

#[test]
fn a_refused_key_says_the_providers_own_words_and_never_the_key() {
    let fake = answering(|r| {
        let auth = r.header("authorization").unwrap_or_default().to_string();
        let body = match auth.trim_start_matches("Bearer ") {
            "notion-bad" => r#"{"object":"error","status":401,"code":"unauthorized","message":"API token is invalid."}"#.to_string(),
            "oauth-bad" => r#"{"error":"invalid_token","error_description":"The access token expired"}"#.to_string(),
            "bare-bad" => r#"{"error":"invalid_auth"}"#.to_string(),
            "echo-bad" => r#"{"message":"token echo-bad is not valid"}"#.to_string(),
            "long-bad" => format!(r#"{{"message":"{}"}}"#, "x".repeat(5000)),
            _ => "<html>401</html>".to_string(),
        };
        (401, body)
    });
    let home = Home::with_services(&format!(
        "[notion]\nuserinfo_url = \"{0}\"\n\n[github]\nuserinfo_url = \"{0}\"\n",
        fake.url("/me")
    ));
    let before = home.text();
    let refused = |service: &str, key: &str| {
        let e = home.setup().save_api_key(service, key).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Provider {
                    status: Some(401),
                    ..
                }
            ),
            "{e}"
        );
        e.to_string()
    };
    let at = format!("the key was not accepted at {}", fake.url("/me"));
    assert_eq!(
        refused("notion", "notion-bad"),
        format!("the provider refused the API key check: {at}: API token is invalid. (HTTP 401)")
    );
    assert_eq!(
        refused("github", "oauth-bad"),
        format!(
            "the provider refused the API key check: {at}: The access token expired (HTTP 401)"
        )
    );
    assert_eq!(
        refused("github", "bare-bad"),
        format!("the provider refused the API key check: {at}: invalid_auth (HTTP 401)")
    );
    // Words that quote the key, too long, or not JSON: the status alone.
    for key in ["echo-bad", "long-bad", "html-bad"] {
        assert_eq!(
            refused("github", key),
            format!("the provider refused the API key check: {at} (HTTP 401)")
        );
    }
    assert_eq!(home.text(), before, "nothing saved");
    assert!(!home.po().join("github_token.json").exists());

    // The CLI says the same.
    let (stdout, stderr, code) = out(&home.cli(
        &["auth", "github", "--with-token"],
        &[],
        Some("notion-bad\n"),
    ));
    assert_eq!((stdout.as_str(), code), ("", 1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "Github token not saved: the provider refused the API key check: {at}: API token is invalid. (HTTP 401)"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("notion-bad"), "{stderr}");
}
