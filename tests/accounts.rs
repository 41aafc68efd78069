//! More than one account per service (issue 18), against the real
//! authorization server (tests/oidc) signing in two different users:
//! add, list, switch, a token without switching, sign one out, refresh
//! and keep every account alive; and, on the files alone, a token file of
//! the Python tool becoming an account, two processes switching at once,
//! a reader during switches, a switch during a refresh.

mod spec_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use planopticon::keeper::{Keeper, KeeperSettings, Managers, Outcome};
use planopticon::{
    Accounts, AuthConfig, LogoutScope, OAuthManager, RefreshWhen, Registry, Renewal,
};
use serde_json::{json, Value};
use spec_support::Run;
use support::*;

fn run(h: &Home, args: &[&str], env: &[(&str, &str)]) -> Run {
    Run(h.cmd(args, env).output().unwrap())
}

/// `acme` at `server`, with its identity and revocation endpoints.
fn acme_home(server: &OidcServer) -> Home {
    let h = Home::new();
    acme_services_toml(&h, server);
    let path = h.po().join("services.toml");
    let mut toml = std::fs::read_to_string(&path).unwrap();
    toml.push_str(&format!(
        "userinfo_url = \"{0}/me\"\nrevocation_url = \"{0}/token/revocation\"\n",
        server.issuer()
    ));
    std::fs::write(path, toml).unwrap();
    h
}

/// `planopticon auth acme [--account NAME]`, the browser signing in as `login`.
fn sign_in(h: &Home, login: &str, account: Option<&str>) -> Run {
    let browser = browser_program();
    let mut args = vec!["auth", "acme"];
    if let Some(a) = account {
        args.extend(["--account", a]);
    }
    let r = run(
        h,
        &args,
        &[
            ("BROWSER", browser.to_str().unwrap()),
            ("TEST_LOGIN", login),
        ],
    );
    r.assert_signed_in_by_browser("acme", "Acme");
    r
}

fn doc(h: &Home, service: &str) -> PathBuf {
    h.po().join(format!("{service}_token.json"))
}

fn slot(h: &Home, service: &str, name: &str) -> PathBuf {
    h.po()
        .join("accounts")
        .join(service)
        .join(format!("{name}_token.json"))
}

fn json_of(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn access(path: &Path) -> String {
    json_of(path)["access_token"].as_str().unwrap().to_string()
}

fn accounts_json(h: &Home, service: &str) -> Vec<Value> {
    let r = run(h, &["accounts", service, "--json"], &[]);
    assert_eq!(r.code(), 0, "{r:?}");
    serde_json::from_str::<Value>(&r.out())
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The library's accounts of `acme` in `h` (the test process has another HOME).
fn library(h: &Home) -> Accounts {
    Accounts::with_keyring(acme_config_in(h), false)
}

fn acme_config_in(h: &Home) -> AuthConfig {
    let mut c = Registry::load_from(&h.po().join("services.toml"))
        .get("acme")
        .unwrap();
    c.token_path = Some(doc(h, "acme"));
    c
}

const ALICE: &str = "alice@example.test";

#[test]
fn two_users_added_listed_switched_used_and_signed_out() {
    let server = OidcServer::start();
    let h = acme_home(&server);
    // A first sign-in without --account is named after who it is.
    sign_in(&h, "alice", None);
    let list = accounts_json(&h, "acme");
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["account"], ALICE);
    assert_eq!(list[0]["active"], true);
    let alice_token = access(&doc(&h, "acme"));

    // A second user under a name of ours: signed in, and now active.
    let r = sign_in(&h, "bob", Some("bob"));
    assert!(
        r.err()
            .contains(&format!("bob is now the active acme account (was {ALICE})")),
        "{r:?}"
    );
    assert_eq!(
        json_of(&doc(&h, "acme"))["account"]["login"],
        "bob@example.test"
    );
    assert_eq!(access(&slot(&h, "acme", ALICE)), alice_token);
    let bob_token = access(&doc(&h, "acme"));
    assert_ne!(bob_token, alice_token);

    let list = accounts_json(&h, "acme");
    assert_eq!(list.len(), 2, "{list:?}");
    let by = |name: &str| list.iter().find(|a| a["account"] == name).unwrap().clone();
    assert_eq!(by("bob")["active"], true);
    assert_eq!(by(ALICE)["active"], false);
    assert_eq!(by("bob")["identity"], "bob@example.test");
    assert!(by(ALICE)["expires_at"].as_f64().unwrap() > 1e9);
    assert!(by("bob")["expires_at"].as_f64().unwrap() > 1e9);
    assert_eq!(by("bob")["service"], "acme");
    let text = run(&h, &["accounts"], &[]).out();
    assert!(
        text.lines()
            .any(|l| l.starts_with("acme") && l.contains(" bob ") && l.contains('*')),
        "{text}"
    );
    let status = run(&h, &["status", "--offline"], &[]).out();
    assert!(
        status.lines().any(|l| l.starts_with("acme")
            && l.contains("bob@example.test")
            && l.contains("(+1 other)")),
        "{status}"
    );

    // A token without switching: alice's, while bob stays active.
    let before = std::fs::read(doc(&h, "acme")).unwrap();
    let r = run(&h, &["token", "acme", "--account", ALICE], &[]);
    assert_eq!(r.out().trim(), alice_token, "{r:?}");
    assert_eq!(std::fs::read(doc(&h, "acme")).unwrap(), before);
    assert_eq!(server.me_status(&alice_token), 200);
    assert_eq!(server.me_status(&bob_token), 200);

    // Switch: the documented file is alice's whole file, byte for byte.
    let alice_bytes = std::fs::read(slot(&h, "acme", ALICE)).unwrap();
    let r = run(&h, &["switch", "acme", ALICE], &[]);
    assert_eq!(
        r.out(),
        format!("Switched acme to {ALICE} (was bob).\n"),
        "{r:?}"
    );
    assert_eq!(std::fs::read(doc(&h, "acme")).unwrap(), alice_bytes);
    assert!(!slot(&h, "acme", ALICE).exists());
    assert_eq!(std::fs::read(slot(&h, "acme", "bob")).unwrap(), before);
    let r = run(&h, &["token", "acme"], &[]);
    assert_eq!(r.out().trim(), alice_token, "{r:?}");

    // Sign out the account that is not active: it alone goes, revoked.
    server.reset_stats();
    let r = run(&h, &["auth", "acme", "--logout", "--account", "bob"], &[]);
    assert_eq!(r.code(), 0, "{r:?}");
    assert_eq!(
        r.out(),
        "Cleared saved acme token.\nSigned out acme account bob.\n",
        "{r:?}"
    );
    assert_eq!(server.stats()["revocation"], 1);
    assert!(!slot(&h, "acme", "bob").exists());
    assert_eq!(std::fs::read(doc(&h, "acme")).unwrap(), alice_bytes);
    assert_eq!(server.me_status(&alice_token), 200);

    // Sign out the active one: the most recently used other one is active.
    sign_in(&h, "bob", Some("bob"));
    sign_in(&h, "carol", Some("carol"));
    run(&h, &["switch", "acme", ALICE], &[]);
    let bob_bytes = std::fs::read(slot(&h, "acme", "bob")).unwrap();
    let carol_bytes = std::fs::read(slot(&h, "acme", "carol")).unwrap();
    let r = run(&h, &["auth", "acme", "--logout"], &[]);
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(
        r.out()
            .contains("carol is now the active acme account (the most recently used)"),
        "{r:?}"
    );
    assert!(
        r.out()
            .contains(&format!("Signed out acme account {ALICE}.")),
        "{r:?}"
    );
    assert_eq!(std::fs::read(doc(&h, "acme")).unwrap(), carol_bytes);

    // The last ones: the documented file goes with the last.
    let r = run(&h, &["auth", "acme", "--logout", "--account", "carol"], &[]);
    assert!(
        r.out().contains("bob is now the active acme account"),
        "{r:?}"
    );
    assert_eq!(std::fs::read(doc(&h, "acme")).unwrap(), bob_bytes);
    let r = run(&h, &["auth", "acme", "--logout"], &[]);
    assert_eq!(r.out(), "Cleared saved acme token.\n", "{r:?}");
    assert!(!doc(&h, "acme").exists());
    assert!(!h.po().join("accounts").join("acme").exists());
    assert!(accounts_json(&h, "acme").is_empty());
}

#[test]
fn account_names_are_checked_and_unknown_ones_named() {
    let h = Home::new();
    for args in [
        &["switch", "github", "../x"][..],
        &["auth", "github", "--account", "a/b"],
        &["token", "github", "--account", ".."],
        &["auth", "github", "--logout", "--account=-rf"],
    ] {
        let r = run(&h, args, &[]);
        assert_eq!(r.code(), 1, "{args:?} {r:?}");
        assert!(r.err().contains("cannot be an account name"), "{r:?}");
    }
    assert!(!h.po().join("accounts").exists());
    legacy(&h, "github", "ghu_legacy", None);
    let r = run(&h, &["switch", "github", "nosuch"], &[]);
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(
        r.err()
            .contains("github has no account named \"nosuch\"; its accounts: default"),
        "{r:?}"
    );
    let r = run(&h, &["token", "github", "--account", "nosuch"], &[]);
    assert_eq!(r.code(), 1, "{r:?}");
    assert_eq!(r.out(), "");
}

/// A token file as the Python tool writes it (and `account` when given).
fn legacy(h: &Home, service: &str, access: &str, account: Option<Value>) -> Vec<u8> {
    let mut t = json!({
        "access_token": access,
        "refresh_token": null,
        "expires_at": 4.0e9,
        "client_id": "",
        "client_secret": ""
    });
    if let Some(a) = account {
        t["account"] = a;
    }
    let bytes = serde_json::to_vec(&t).unwrap();
    std::fs::write(doc(h, service), &bytes).unwrap();
    bytes
}

#[test]
fn a_token_file_from_before_accounts_is_the_active_account() {
    let h = Home::new();
    legacy(&h, "github", "ghu_old", None);
    let list = accounts_json(&h, "github");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["account"], "default");
    assert_eq!(list[0]["active"], true);
    assert_eq!(list[0]["identity"], Value::Null);
    let r = run(&h, &["switch", "github", "default"], &[]);
    assert_eq!(r.out(), "default is already the active github account.\n");
    // Named after who it is, when the file says.
    legacy(
        &h,
        "notion",
        "secret_x",
        Some(json!({"login": "carol@x.test", "name": "Carol"})),
    );
    let list = accounts_json(&h, "notion");
    assert_eq!(list[0]["account"], "carol@x.test");
    assert_eq!(list[0]["identity"], "Carol <carol@x.test>");

    // Signing in as a new account keeps it, byte for byte, under its name.
    let server = OidcServer::shared();
    let h = acme_home(server);
    let old = legacy(&h, "acme", "python-written", None);
    sign_in(&h, "bob", Some("bob"));
    assert_eq!(std::fs::read(slot(&h, "acme", "default")).unwrap(), old);
    let list = accounts_json(&h, "acme");
    assert_eq!(list.len(), 2, "{list:?}");
    let r = run(&h, &["switch", "acme", "default"], &[]);
    assert_eq!(r.code(), 0, "{r:?}");
    assert_eq!(std::fs::read(doc(&h, "acme")).unwrap(), old);
}

#[test]
fn refresh_all_and_the_keeper_keep_every_account_alive() {
    let server = OidcServer::start();
    let h = acme_home(&server);
    sign_in(&h, "alice", None);
    sign_in(&h, "bob", Some("bob"));
    let (a0, b0) = (access(&slot(&h, "acme", ALICE)), access(&doc(&h, "acme")));

    server.reset_stats();
    let r = run(&h, &["refresh", "--all", "--force", "--offline"], &[]);
    assert_eq!(r.code(), 0, "{r:?}");
    let out = r.out();
    assert!(out.contains("acme (bob): refreshed"), "{out}");
    assert!(out.contains(&format!("acme ({ALICE}): refreshed")), "{out}");
    assert_eq!(
        server.token_requests("refresh_token"),
        2,
        "{}",
        server.stats()
    );
    let (a1, b1) = (access(&slot(&h, "acme", ALICE)), access(&doc(&h, "acme")));
    assert!(a1 != a0 && b1 != b0);
    let r = run(&h, &["refresh", "acme", "--json", "--offline"], &[]);
    let lines: Value = serde_json::from_str(&r.out()).unwrap();
    let accounts: Vec<&str> = lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["account"].as_str().unwrap())
        .collect();
    assert_eq!(accounts, ["bob", ALICE], "{lines}");

    // The keeper, with its clock where both are due: both refreshed, each
    // event naming its account.
    server.reset_stats();
    let later = support_clock(4000.0);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let config = acme_config_in(&h);
    let clock = later.clone();
    let mut keeper = Keeper::new(
        move || vec![config.clone()],
        later.clone(),
        KeeperSettings::default(),
    )
    .with_renewer(Managers::new(move |c| {
        OAuthManager::with_keyring(c, false).with_clock(clock.clone())
    }))
    .on_event(move |e| sink.lock().unwrap().push(e.clone()));
    keeper.look(later());
    let events = events.lock().unwrap().clone();
    let mut named: Vec<(Option<String>, bool)> = events
        .iter()
        .map(|e| {
            (
                e.account.clone(),
                matches!(e.outcome, Outcome::Refreshed { .. }),
            )
        })
        .collect();
    named.sort();
    assert_eq!(
        named,
        [(Some(ALICE.into()), true), (Some("bob".into()), true)],
        "{events:?}"
    );
    assert_eq!(server.token_requests("refresh_token"), 2);
    assert!(access(&slot(&h, "acme", ALICE)) != a1 && access(&doc(&h, "acme")) != b1);
}

/// A clock `ahead` seconds in the future.
fn support_clock(ahead: f64) -> planopticon::Clock {
    let real = planopticon::system_clock();
    Arc::new(move || real() + ahead)
}

/// Three accounts of `github` made of hand-written token files (a, active; b; c).
fn three_accounts(h: &Home) -> Vec<String> {
    let names = ["a", "b", "c"];
    legacy(h, "github", "tok-a", Some(json!({"login": "a"})));
    let lib = Accounts::with_keyring(github_in(h), false);
    assert_eq!(lib.active().as_deref(), Some("a"));
    std::fs::create_dir_all(slot(h, "github", "b").parent().unwrap()).unwrap();
    for n in &names[1..] {
        let t = json!({"access_token": format!("tok-{n}"), "expires_at": 4.0e9, "account": {"login": n}});
        std::fs::write(slot(h, "github", n), t.to_string()).unwrap();
    }
    names.iter().map(|n| format!("tok-{n}")).collect()
}

fn github_in(h: &Home) -> AuthConfig {
    let mut c = planopticon::services::builtin("github").unwrap();
    c.token_path = Some(doc(h, "github"));
    c
}

/// Every token is in exactly one file, and the index's active account is
/// the one in the documented file.
fn assert_all_kept(h: &Home, tokens: &[String]) {
    let lib = Accounts::with_keyring(github_in(h), false);
    let list = lib.list();
    assert_eq!(list.iter().filter(|a| a.active).count(), 1, "{list:?}");
    let mut seen: Vec<String> = ["a", "b", "c"]
        .iter()
        .filter(|n| slot(h, "github", n).exists())
        .map(|n| access(&slot(h, "github", n)))
        .collect();
    let active = access(&doc(h, "github"));
    assert_eq!(active, format!("tok-{}", lib.active().unwrap()));
    seen.push(active);
    seen.sort();
    assert_eq!(seen, tokens, "{list:?}");
}

#[test]
fn two_processes_switching_at_once_keep_every_token_and_readers_never_miss() {
    let h = Home::new();
    let tokens = three_accounts(&h);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (path, stop, tokens) = (doc(&h, "github"), stop.clone(), tokens.clone());
        std::thread::spawn(move || {
            let (mut reads, mut bad) = (0u64, Vec::new());
            // Bounded: ends when the switches have, or after a million reads.
            while !stop.load(Ordering::SeqCst) && reads < 1_000_000 {
                reads += 1;
                match std::fs::read(&path) {
                    Ok(b) => match serde_json::from_slice::<Value>(&b) {
                        Ok(v) if tokens.iter().any(|t| v["access_token"] == *t) => {}
                        other => bad.push(format!("{other:?}")),
                    },
                    Err(e) => bad.push(e.to_string()),
                }
            }
            (reads, bad)
        })
    };
    let lib = Accounts::with_keyring(github_in(&h), false);
    for round in 0..12 {
        let active = lib.active().unwrap();
        let others: Vec<&str> = ["a", "b", "c"]
            .into_iter()
            .filter(|n| *n != active)
            .collect();
        let children: Vec<_> = others
            .iter()
            .map(|n| {
                h.cmd(&["switch", "github", n], &[])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert_success(&out);
        }
        assert!(
            others.contains(&lib.active().unwrap().as_str()),
            "round {round}"
        );
        assert_all_kept(&h, &tokens);
    }
    stop.store(true, Ordering::SeqCst);
    let (reads, bad) = reader.join().unwrap();
    assert!(reads > 0);
    assert!(
        bad.is_empty(),
        "{} of {reads} reads failed: {:?}",
        bad.len(),
        &bad[..bad.len().min(3)]
    );
}

#[test]
fn a_switch_that_died_half_way_is_finished_by_the_next_change() {
    let h = Home::new();
    let tokens = three_accounts(&h);
    let index = h.po().join("accounts/github/index.json");
    let lib = Accounts::with_keyring(github_in(&h), false);
    lib.switch("a").unwrap();
    // Died after saving a and writing b into the documented file, before
    // deleting b's own file and the index.
    let a_bytes = std::fs::read(doc(&h, "github")).unwrap();
    std::fs::write(slot(&h, "github", "a"), &a_bytes).unwrap();
    std::fs::copy(slot(&h, "github", "b"), doc(&h, "github")).unwrap();
    let mut i: Value = json_of(&index);
    i["switching"] = json!("b");
    std::fs::write(&index, i.to_string()).unwrap();
    lib.switch("c").unwrap();
    assert_all_kept(&h, &tokens);
    assert_eq!(lib.active().as_deref(), Some("c"));
    assert_eq!(access(&slot(&h, "github", "b")), "tok-b");
    assert_eq!(access(&slot(&h, "github", "a")), "tok-a");
}

#[test]
fn a_switch_during_a_refresh_loses_neither_token() {
    let server = OidcServer::start();
    let h = acme_home(&server);
    sign_in(&h, "alice", None);
    sign_in(&h, "bob", Some("bob"));
    let lib = Arc::new(library(&h));
    server.reset_stats();
    for round in 0..4 {
        let active = lib.active().unwrap();
        let other = lib.saved().pop().unwrap();
        // Both wait on the lock a refresh holds; they then go in either order.
        let held = planopticon::store::FileStore::new(doc(&h, "acme"))
            .lock()
            .unwrap();
        let refresh = {
            let m = lib.manager_of(lib.active_config().clone());
            std::thread::spawn(move || m.refresh_now(RefreshWhen::Always))
        };
        let switch = {
            let (lib, other) = (lib.clone(), other.clone());
            std::thread::spawn(move || lib.switch(&other))
        };
        drop(held);
        refresh.join().unwrap().unwrap();
        switch.join().unwrap().unwrap();
        assert_eq!(lib.active().unwrap(), other, "round {round}");
        let _ = active;
        // Each account's newest refresh token is where the account is: a
        // lost one would answer invalid_grant (the server rotates them).
        for name in [ALICE, "bob"] {
            let m = lib.manager_of(lib.config_of(name).unwrap());
            let renewal = m.refresh_now(RefreshWhen::Always).unwrap();
            assert!(
                matches!(renewal, Renewal::Refreshed { .. }),
                "{name}: {renewal:?}"
            );
            let token = lib.token(name).unwrap();
            let t = token.access_token().unwrap().secret().clone();
            assert_eq!(server.me_status(&t), 200, "{name} round {round}");
        }
    }
    assert_eq!(server.stats()["invalid_grant"], 0, "{}", server.stats());
    let done = lib.logout(Some("bob"), LogoutScope::KeepGrant).unwrap();
    assert_eq!(done.account.as_deref(), Some("bob"));
}

/// The app's "Add another account": a sign-in with no name given, named
/// after who signed in, made active; signing in again as one renews it.
#[test]
fn an_account_added_without_a_name_is_named_after_who_signed_in() {
    let server = OidcServer::shared();
    let h = acme_home(server);
    sign_in(&h, "alice", None);
    let lib = library(&h);
    let add = |login: &'static str| {
        let (opts, _ctl, url_rx) = app_options(std::time::Duration::from_secs(30));
        let user = std::thread::spawn(move || {
            let back = play_user_as(&url_rx.recv().unwrap().0, login);
            http().get(back).send().unwrap().status()
        });
        let (result, name) = lib.add(opts).unwrap();
        assert!(user.join().unwrap().is_success());
        assert!(result.success(), "{:?}", result.attempts);
        name
    };
    assert_eq!(add("bob").as_deref(), Some("bob@example.test"));
    assert_eq!(lib.active().as_deref(), Some("bob@example.test"));
    assert_eq!(lib.saved(), [ALICE]);
    let alice_before = std::fs::read(slot(&h, "acme", ALICE)).unwrap();
    // Bob again: the same account, renewed; alice again: hers, made active.
    assert_eq!(add("bob").as_deref(), Some("bob@example.test"));
    assert_eq!(lib.list().len(), 2);
    assert_eq!(add("alice").as_deref(), Some(ALICE));
    assert_eq!(lib.active().as_deref(), Some(ALICE));
    assert_ne!(std::fs::read(doc(&h, "acme")).unwrap(), alice_before);
    assert_eq!(lib.saved(), ["bob@example.test"]);
    let leftovers: Vec<_> = std::fs::read_dir(h.po().join("accounts/acme"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
