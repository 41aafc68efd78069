//! The optional keyring mirror: with a real Secret Service (gnome-keyring in
//! a private D-Bus session) every save is mirrored and logout removes it; with
//! no keyring at all the file store goes on and the user is told once.

mod support;

use std::process::{Command, Stdio};

use serde_json::json;
use support::*;

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
        r#"set -e
echo -n test-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null
"{cli}" auth acme
echo "mirror: $(secret-tool lookup service planopticon username acme_token)"
"{cli}" auth acme --logout
echo "after logout: [$(secret-tool lookup service planopticon username acme_token || true)]"
"#
    );
    let out = home
        .program("dbus-run-session", &[("PLANOPTICON_KEYRING", "1")])
        .args(["--", "sh", "-c", &script])
        .output()
        .expect("dbus-run-session and gnome-keyring (scripts/install-deps.sh installs them)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
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
