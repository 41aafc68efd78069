//! The optional keyring mirror: with a real Secret Service (gnome-keyring in
//! a private D-Bus session) every save is mirrored and logout removes it; with
//! no keyring at all the file store goes on and the user is told once.

mod support;

use std::process::{Command, Stdio};

use serde_json::json;
use support::*;

/// The session's keyring, unlocked; `set -e` for what follows.
const UNLOCK: &str = "set -e
echo -n test-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null
";

/// Runs `script` with `sh` in a D-Bus session of its own whose keyring
/// (gnome-keyring, unlocked) the CLI mirrors into; its stdout, after
/// asserting that it succeeded, and its stderr.
fn in_keyring_session(home: &Home, script: &str) -> (String, String) {
    let out = home
        .program("dbus-run-session", &[("PLANOPTICON_KEYRING", "1")])
        .args(["--", "sh", "-c", &format!("{UNLOCK}{script}")])
        .output()
        .expect("dbus-run-session and gnome-keyring (scripts/install-deps.sh installs them)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

fn home_with_s2s_service(fake: &FakeServer) -> Home {
    Home::with_services(&format!(
        "[acme]\noauth_authorize_url = \"{0}\"\noauth_token_url = \"{1}\"\nclient_id = \"cid\"\nclient_secret = \"csecret\"\nserver_grant = \"client_credentials\"\n",
        fake.url("/authorize"),
        fake.url("/token")
    ))
}

fn fake_provider() -> FakeServer {
    json_server(
        json!({"access_token": "kr-access-token", "token_type": "bearer", "expires_in": 3600}),
    )
}

#[test]
fn tokens_are_mirrored_into_a_real_secret_service_and_removed_on_logout() {
    let fake = fake_provider();
    let home = home_with_s2s_service(&fake);
    let cli = env!("CARGO_BIN_EXE_planopticon");
    // One private session bus with an unlocked keyring for the whole script.
    let script = format!(
        r#""{cli}" auth acme
echo "mirror: $(secret-tool lookup service planopticon username acme_token)"
"{cli}" auth acme --logout
echo "after logout: [$(secret-tool lookup service planopticon username acme_token || true)]"
"#
    );
    let (stdout, stderr) = in_keyring_session(&home, &script);
    assert!(
        stdout.contains("Acme authentication successful (client_credentials)."),
        "{stdout}\n{stderr}"
    );
    let mirror_line = stdout.lines().find(|l| l.starts_with("mirror: ")).unwrap();
    let mirrored: serde_json::Value =
        serde_json::from_str(&mirror_line["mirror: ".len()..]).unwrap();
    assert_eq!(mirrored["access_token"], "kr-access-token");
    assert!(stdout.contains("Cleared saved acme token."));
    assert!(stdout.contains("after logout: []"), "{stdout}");
    assert!(!stderr.contains("keyring is not available"), "{stderr}");
}

#[test]
fn without_a_keyring_the_file_store_works_and_says_so_once() {
    let fake = fake_provider();
    let home = home_with_s2s_service(&fake);
    let out = Command::new(env!("CARGO_BIN_EXE_planopticon"))
        .args(["auth", "acme"])
        .env_clear()
        .env("HOME", home.path())
        .env("PLANOPTICON_KEYRING", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("the OS keyring is not available").count(),
        1,
        "{stderr}"
    );
    assert!(home.path().join(".planopticon/acme_token.json").exists());
}

/// A token too long for one Credential Manager entry (4 KB, as Microsoft's
/// are) is kept in pieces on every OS: here in a real Secret Service, the
/// entry `acme_token` holding the header and `acme_token#1..` the pieces,
/// which together are the token file's JSON; logout removes every piece.
#[test]
fn a_4kb_token_is_mirrored_in_pieces_and_logout_removes_them_all() {
    let long = "t".repeat(4096);
    let fake =
        json_server(json!({"access_token": long, "token_type": "bearer", "expires_in": 3600}));
    let home = home_with_s2s_service(&fake);
    let cli = env!("CARGO_BIN_EXE_planopticon");
    let script = format!(
        r#""{cli}" auth acme
echo "header: $(secret-tool lookup service planopticon username acme_token)"
for n in 1 2 3 4 5 6; do echo "piece $n: $(secret-tool lookup service planopticon username "acme_token#$n" || true)"; done
"{cli}" auth acme --logout
for user in acme_token "acme_token#1" "acme_token#4"; do echo "after logout $user: [$(secret-tool lookup service planopticon username "$user" || true)]"; done
"#
    );
    let (stdout, stderr) = in_keyring_session(&home, &script);
    let field = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("{prefix}: {stdout}"))
            .to_string()
    };
    assert!(
        field("header: ").starts_with("planopticon-pieces:v1:4:"),
        "{stdout}"
    );
    let joined: String = (1..=6).map(|n| field(&format!("piece {n}: "))).collect();
    assert!(
        !field("piece 4: ").is_empty() && field("piece 5: ").is_empty(),
        "{stdout}"
    );
    let saved = std::fs::read_to_string(home.path().join(".planopticon/acme_token.json")).ok();
    assert_eq!(saved, None, "logout removed the file");
    let mirrored: serde_json::Value = serde_json::from_str(&joined).unwrap();
    assert_eq!(mirrored["access_token"], long);
    for user in ["acme_token", "acme_token#1", "acme_token#4"] {
        assert!(
            stdout.contains(&format!("after logout {user}: []")),
            "{stdout}"
        );
    }
    assert!(!stderr.contains("keyring is not available"), "{stderr}");
}

// ---- the keyring switch: Setup::move_secrets ------------------------------

/// services.toml as a person wrote it: comments, an unrelated table, a
/// client secret and a header API key (each its table's last key, so that
/// moving them back puts them where they were; Plane's table holds only
/// its key, and keeps its place).
const SECRETS_BY_HAND: &str = "# My services, by hand.\n\
# Keep this comment.\n\
\n\
[acme]   # mine\n\
display_name='Acme'\n\
oauth_authorize_url = \"http://127.0.0.1:9/authorize\"  # not used\n\
oauth_token_url   =   \"http://127.0.0.1:9/token\"\n\
client_id = \"cid\"\n\
client_secret = \"acme-s3cret\"\n\
\n\
[plane]\n\
api_key = \"plane-k3y\"\n\
\n\
# An unrelated table, oddly spaced\n\
[zoom]\n\
client_id = \"zid\" # trailing comment\n\
scopes = [ \"a\",\"b\" ]\n";

/// The same file with both secrets in the keyring: each replaced by its flag,
/// in its place.
fn secrets_in_keyring() -> String {
    SECRETS_BY_HAND
        .replace(
            "client_secret = \"acme-s3cret\"",
            "client_secret_in_keyring = true",
        )
        .replace("api_key = \"plane-k3y\"", "api_key_in_keyring = true")
}

/// Set in the copy of this test binary that runs inside the private session.
const INNER: &str = "PLANOPTICON_TEST_KEYRING_INNER";

/// True in the copy of the test that runs inside; otherwise runs the test
/// `name` again in this binary, with a HOME holding [`SECRETS_BY_HAND`] and
/// [`INNER`] set, in a private D-Bus session with an unlocked gnome-keyring
/// when `keyring`, else with no session bus at all (a keyring that fails),
/// and returns false once that copy passed.
fn inside(name: &str, keyring: bool) -> bool {
    if std::env::var_os(INNER).is_some() {
        return true;
    }
    let home = Home::with_services(SECRETS_BY_HAND);
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match keyring {
        true => {
            let mut c = Command::new("dbus-run-session");
            c.args([
                "--",
                "sh",
                "-c",
                "set -e\necho -n test-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null\nexec \"$0\" --exact \"$1\" --nocapture --test-threads=1\n",
            ])
            .arg(&exe)
            .arg(name);
            c
        }
        false => {
            let mut c = Command::new(&exe);
            c.args(["--exact", name, "--nocapture", "--test-threads=1"]);
            c
        }
    };
    let out = cmd
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env(INNER, "1")
        .stdin(Stdio::null())
        .output()
        .expect("dbus-run-session and gnome-keyring (scripts/install-deps.sh installs them)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    false
}

fn services_toml() -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".planopticon/services.toml")
}

fn read_services() -> String {
    std::fs::read_to_string(services_toml()).unwrap()
}

fn secret_tool(user: &str) -> String {
    let out = Command::new("secret-tool")
        .args(["lookup", "service", "planopticon", "username", user])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `planopticon config SERVICE KEY`'s line: a fresh process, so the
/// library's resolution asks the keyring itself (no cached answer).
fn config_line(service: &str, key: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_planopticon"))
        .args(["config", service, key])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no {key} line: {stdout}"))
        .to_string()
}

#[test]
fn the_keyring_switch_moves_saved_secrets_in_and_back_out() {
    use planopticon::setup::{SecretStore, Setup};
    if !inside(
        "the_keyring_switch_moves_saved_secrets_in_and_back_out",
        true,
    ) {
        return;
    }
    let path = services_toml();

    // Switch on: both secrets go into the keyring; the file keeps only the flags.
    let mut moved = Setup::new(path.clone(), true)
        .move_secrets(SecretStore::Keyring)
        .unwrap();
    moved.sort();
    assert_eq!(moved, ["acme client_secret", "plane api_key"]);
    assert_eq!(read_services(), secrets_in_keyring());
    assert_eq!(secret_tool("acme_client_secret"), "acme-s3cret");
    assert_eq!(secret_tool("plane_api_key"), "plane-k3y");
    // The library still finds them, in this process and in a fresh one.
    let reg = planopticon::Registry::load_from(&path);
    assert_eq!(
        reg.get("acme").unwrap().resolved_client_secret().as_deref(),
        Some("acme-s3cret")
    );
    assert_eq!(
        reg.get("plane").unwrap().resolved_api_key().as_deref(),
        Some("plane-k3y")
    );
    for (service, key) in [("acme", "client_secret"), ("plane", "api_key")] {
        let line = config_line(service, key);
        assert!(
            line.contains(" set ") && line.ends_with("keyring"),
            "{line}"
        );
    }
    // Flipping on again moves nothing.
    assert_eq!(
        Setup::new(path.clone(), true)
            .move_secrets(SecretStore::Keyring)
            .unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(read_services(), secrets_in_keyring());

    // Switch off: back into services.toml, out of the keyring.
    let mut moved = Setup::new(path.clone(), false)
        .move_secrets(SecretStore::ServicesFile)
        .unwrap();
    moved.sort();
    assert_eq!(moved, ["acme client_secret", "plane api_key"]);
    assert_eq!(read_services(), SECRETS_BY_HAND);
    assert_eq!(secret_tool("acme_client_secret"), "");
    assert_eq!(secret_tool("plane_api_key"), "");
    let line = config_line("acme", "client_secret");
    assert!(line.ends_with("services.toml"), "{line}");
    let reg = planopticon::Registry::load_from(&path);
    assert_eq!(
        reg.get("plane").unwrap().resolved_api_key().as_deref(),
        Some("plane-k3y")
    );
}

#[test]
fn a_keyring_that_fails_leaves_services_toml_as_it_was() {
    use planopticon::setup::{SecretStore, Setup};
    if !inside("a_keyring_that_fails_leaves_services_toml_as_it_was", false) {
        return;
    }
    // No session bus: the keyring can be neither written nor read.
    let path = services_toml();
    let err = Setup::new(path.clone(), true)
        .move_secrets(SecretStore::Keyring)
        .unwrap_err();
    assert!(matches!(err, planopticon::Error::Keyring { .. }), "{err}");
    assert_eq!(read_services(), SECRETS_BY_HAND, "nothing lost");

    std::fs::write(&path, secrets_in_keyring()).unwrap();
    let err = Setup::new(path.clone(), false)
        .move_secrets(SecretStore::ServicesFile)
        .unwrap_err();
    assert!(matches!(err, planopticon::Error::Keyring { .. }), "{err}");
    assert_eq!(
        read_services(),
        secrets_in_keyring(),
        "the flags stay: the secrets are still in the keyring"
    );
}

/// With several accounts, each has its own keyring entry: `acme_token` is
/// the active one's (as the documented file), `acme_token:NAME` each other
/// one's; a switch moves them, a logout removes its own.
#[test]
fn each_account_has_its_own_mirror_and_a_switch_moves_them() {
    let n = std::sync::atomic::AtomicU32::new(0);
    let fake = FakeServer::start(move |_| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Reply::Json(
            200,
            json!({"access_token": format!("kr-token-{i}"), "token_type": "bearer", "expires_in": 3600}),
        )
    });
    let home = home_with_s2s_service(&fake);
    let cli = env!("CARGO_BIN_EXE_planopticon");
    let look = |label: &str, user: &str| {
        format!(
            "echo \"{label}: $(secret-tool lookup service planopticon username {user} || true)\""
        )
    };
    let script = format!(
        r#""{cli}" auth acme --account one
"{cli}" auth acme --account two
{}
{}
"{cli}" switch acme one
{}
{}
"{cli}" auth acme --logout --account two
{}
"#,
        look("active", "acme_token"),
        look("saved one", "acme_token:one"),
        look("after switch active", "acme_token"),
        look("after switch two", "acme_token:two"),
        look("after logout two", "acme_token:two"),
    );
    let (stdout, stderr) = in_keyring_session(&home, &script);
    let token_of = |label: &str| -> String {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{label}: ")))
            .unwrap_or_else(|| panic!("{label}: {stdout}"));
        let json = &line[label.len() + 2..];
        match json {
            "" => String::new(),
            j => serde_json::from_str::<serde_json::Value>(j).unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_string(),
        }
    };
    assert_eq!(token_of("active"), "kr-token-1", "{stdout}");
    assert_eq!(token_of("saved one"), "kr-token-0", "{stdout}");
    assert_eq!(token_of("after switch active"), "kr-token-0", "{stdout}");
    assert_eq!(token_of("after switch two"), "kr-token-1", "{stdout}");
    assert_eq!(token_of("after logout two"), "", "{stdout}");
    assert!(!stderr.contains("keyring is not available"), "{stderr}");
}
