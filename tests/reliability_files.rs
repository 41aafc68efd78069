//! Reliability suite 4: hostile files, through the `planopticon` binary.
//! Token files of every wrong shape (what tests/cli.rs does not already
//! cover: wrong types of the other fields, BOMs, other encodings, NULs,
//! deep nesting, trailing junk, the size limit, dangling and looping links,
//! sockets, devices, a folder we cannot enter, a hostile lock file) and
//! services.toml / settings.toml typed wrong in the ways people type them.
//! Each gives a clear message naming the file, never hangs, deletes
//! nothing, and the other services keep working.
//!
//! Checklist: 20 (no link followed, nothing deleted, named errors).
//!
//! Run alone: `cargo test --test reliability_files -- --nocapture`

mod support;

use std::io::Read;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

/// Every run is cut off after this: a hang is a failure, not a stuck suite.
const BOUND: Duration = Duration::from_secs(15);

struct Run {
    code: Option<i32>,
    out: String,
    err: String,
    took: Duration,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?} after {:?}\n--stdout--\n{}--stderr--\n{}",
            self.code, self.took, self.out, self.err
        )
    }
}

impl Home {
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.cmd(args, &[("PLANOPTICON_HTTP_TIMEOUT", "2")]);
        c.envs(env.iter().copied());
        bounded(c)
    }

    /// A valid, unexpired notion token: the service that must keep working.
    fn healthy_neighbour(&self) {
        std::fs::write(
            self.po().join("notion_token.json"),
            json!({"access_token": "ntn_neighbour", "expires_at": 4e9}).to_string(),
        )
        .unwrap();
    }

    fn neighbour_works(&self) -> Result<(), String> {
        let r = self.run(&["token", "notion"], &[]);
        if r.code == Some(0) && r.out == "ntn_neighbour\n" {
            Ok(())
        } else {
            Err(format!("the neighbouring service stopped working: {r:?}"))
        }
    }

    /// Every file under ~/.planopticon, with its bytes (symlinks as their target).
    fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut all: Vec<_> = std::fs::read_dir(self.po())
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                let meta = std::fs::symlink_metadata(&p).unwrap();
                let bytes = if meta.file_type().is_symlink() {
                    std::fs::read_link(&p)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                        .into_bytes()
                } else if meta.is_file() {
                    std::fs::read(&p).unwrap_or_default()
                } else {
                    b"<special>".to_vec()
                };
                (name, bytes)
            })
            .collect();
        all.sort();
        all
    }
}

/// Runs `cmd` with no stdin, killing it after [`BOUND`].
fn bounded(mut cmd: Command) -> Run {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let o = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code,
        out: o.join().unwrap(),
        err: e.join().unwrap(),
        took: start.elapsed(),
    }
}

/// Makes a hostile file at its first argument (the second is HOME).
type Maker = Box<dyn Fn(&Path, &Path)>;

// FIFOs are Unix's; the Windows cases use what Windows has (a folder).
#[cfg(unix)]
fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// Token files of the wrong shape that tests/cli.rs does not try. Each is
/// moved aside with its bytes intact, the message names the file, and the
/// chain goes on to the API key; `status` reports it without moving it.
#[test]
fn malformed_token_files_are_named_kept_and_skipped() {
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_obj = format!(
        "{{\"access_token\": \"a\", \"x\": {}{}}}",
        "{\"y\":".repeat(3000),
        "}".repeat(3000)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("access_token null", br#"{"access_token": null}"#.to_vec()),
        ("access_token empty", br#"{"access_token": ""}"#.to_vec()),
        (
            "access_token an object",
            br#"{"access_token": {"secret": "x"}}"#.to_vec(),
        ),
        (
            "no access_token",
            br#"{"refresh_token": "r", "expires_at": 1}"#.to_vec(),
        ),
        (
            "refresh_token a number",
            br#"{"access_token": "a", "refresh_token": 5}"#.to_vec(),
        ),
        (
            "client_secret a number",
            br#"{"access_token": "a", "client_secret": 123}"#.to_vec(),
        ),
        (
            "client_id a list",
            br#"{"access_token": "a", "client_id": ["c"]}"#.to_vec(),
        ),
        (
            "expires_at a bool",
            br#"{"access_token": "a", "expires_at": true}"#.to_vec(),
        ),
        (
            "expires_at too large",
            br#"{"access_token": "a", "expires_at": 1e400}"#.to_vec(),
        ),
        ("a JSON string", br#""access_token""#.to_vec()),
        ("a JSON number", b"42".to_vec()),
        ("null", b"null".to_vec()),
        (
            "JSON then junk",
            br#"{"access_token": "a"} trailing"#.to_vec(),
        ),
        (
            "two objects",
            br#"{"access_token": "a"}{"access_token": "b"}"#.to_vec(),
        ),
        ("UTF-16 JSON", {
            let mut v = vec![0xff, 0xfe];
            for u in r#"{"access_token": "a"}"#.encode_utf16() {
                v.extend_from_slice(&u.to_le_bytes());
            }
            v
        }),
        ("NUL bytes", b"\0\0\0\0".to_vec()),
        (
            "invalid UTF-8 in a string",
            b"{\"access_token\": \"\xff\xfe\"}".to_vec(),
        ),
        ("5000 nested arrays", deep.into_bytes()),
        ("3000 nested objects", deep_obj.into_bytes()),
        ("only whitespace", b"  \n\t \n".to_vec()),
        ("a Python dict", b"{'access_token': 'a'}".to_vec()),
    ];
    let mut failures = Vec::new();
    for (what, bytes) in &cases {
        let h = Home::new();
        h.healthy_neighbour();
        let path = h.po().join("github_token.json");
        std::fs::write(&path, bytes).unwrap();

        let s = h.run(&["status", "--json"], &[]);
        let github_state = serde_json::from_str::<serde_json::Value>(&s.out)
            .ok()
            .and_then(|all| {
                all.as_array()?
                    .iter()
                    .find(|x| x["service"] == "github")
                    .map(|g| (g["state"].clone(), g["detail"].clone()))
            });
        match github_state {
            Some((state, detail)) if state == "error" && detail.as_str().is_some() => {}
            other => failures.push(format!("{what}: status shows {other:?}: {s:?}")),
        }
        if std::fs::read(&path).ok().as_ref() != Some(bytes) {
            failures.push(format!("{what}: `status` changed or moved the file"));
        }

        let r = h.run(&["token", "github"], &[("GITHUB_TOKEN", "ghp_fallback")]);
        if r.code != Some(0) || r.out != "ghp_fallback\n" {
            failures.push(format!("{what}: the API key was not reached: {r:?}"));
        }
        if !(r.err.contains("github_token.json") && r.err.contains("moved to")) {
            failures.push(format!("{what}: the message does not name the file: {r:?}"));
        }
        let kept: Vec<_> = std::fs::read_dir(h.po())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains("github_token.json.corrupt-"))
            .collect();
        if kept.len() != 1 || std::fs::read(&kept[0]).ok().as_ref() != Some(bytes) {
            failures.push(format!("{what}: the bytes were not kept: {kept:?}"));
        }
        if let Err(e) = h.neighbour_works() {
            failures.push(format!("{what}: {e}"));
        }
    }
    println!(
        "reliability_files: {} malformed token files, {} failures",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The size limit is exact: a 1 MiB token file is read, one byte more is
/// refused by name and left where it is.
#[test]
fn the_size_limit_is_exact_and_a_huge_file_is_left_alone() {
    let h = Home::new();
    let path = h.po().join("github_token.json");
    let mut text = json!({"access_token": "big", "expires_at": 4e9, "pad": ""}).to_string();
    let pad = (1 << 20) - text.len();
    text = text.replace("\"pad\":\"\"", &format!("\"pad\":\"{}\"", "p".repeat(pad)));
    assert_eq!(text.len(), 1 << 20);
    std::fs::write(&path, &text).unwrap();
    let r = h.run(&["token", "github"], &[]);
    assert_eq!((r.code, r.out.as_str()), (Some(0), "big\n"), "{r:?}");

    text.insert(text.len() - 1, ' ');
    std::fs::write(&path, &text).unwrap();
    let r = h.run(&["token", "github"], &[("GITHUB_TOKEN", "ghp_x")]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.err.contains("github_token.json") && r.err.contains("larger than"),
        "{r:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "left where it is"
    );
}

/// Links that dangle or loop, links to devices and folders, a socket, a
/// character device: refused by name, at once, nothing followed or deleted.
/// Unix kinds of file; reparse points are tested with the Windows store.
#[cfg(unix)]
#[test]
fn special_files_and_odd_links_are_refused_at_once() {
    let cases: Vec<(&str, Maker)> = vec![
        (
            "a dangling symlink",
            Box::new(|p: &Path, _: &Path| {
                std::os::unix::fs::symlink("/nonexistent/token.json", p).unwrap()
            }),
        ),
        (
            "a symlink loop",
            Box::new(|p: &Path, _: &Path| std::os::unix::fs::symlink(p, p).unwrap()),
        ),
        (
            "a symlink to /dev/zero",
            Box::new(|p: &Path, _: &Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap()),
        ),
        (
            "a symlink to a FIFO",
            Box::new(|p: &Path, home: &Path| {
                let fifo = home.join("elsewhere.fifo");
                mkfifo(&fifo);
                std::os::unix::fs::symlink(&fifo, p).unwrap()
            }),
        ),
        (
            "a symlink to a folder",
            Box::new(|p: &Path, home: &Path| std::os::unix::fs::symlink(home, p).unwrap()),
        ),
        (
            "a Unix socket",
            Box::new(|p: &Path, _: &Path| {
                let l = std::os::unix::net::UnixListener::bind(p).unwrap();
                std::mem::forget(l);
            }),
        ),
        ("a FIFO", Box::new(|p: &Path, _: &Path| mkfifo(p))),
    ];
    let mut failures = Vec::new();
    for (what, make) in &cases {
        let h = Home::new();
        h.healthy_neighbour();
        let path = h.po().join("github_token.json");
        make(&path, h.path());
        let before = h.snapshot();
        for args in [&["token", "github"][..], &["auth", "github"], &["status"]] {
            let r = h.run(args, &[("GITHUB_TOKEN", "ghp_x")]);
            if r.code != Some(0) || r.took > Duration::from_secs(5) {
                failures.push(format!("{what}: {args:?}: {r:?}"));
            } else if args[0] != "status" && !r.err.contains("github_token.json") {
                failures.push(format!("{what}: {args:?} does not name the file: {r:?}"));
            }
        }
        if h.snapshot() != before {
            failures.push(format!("{what}: something was moved or deleted"));
        }
        if let Err(e) = h.neighbour_works() {
            failures.push(format!("{what}: {e}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The lock beside an expired token (`{token}.lock`) is a FIFO, a symlink or
/// a folder: the refresh says which file is in the way, within seconds, and
/// neither the token nor the thing in the way is touched.
#[test]
fn a_hostile_lock_file_is_named_and_never_hangs_the_refresh() {
    let fake =
        json_server(json!({"access_token": "fresh", "token_type": "bearer", "expires_in": 3600}));
    #[cfg_attr(not(unix), allow(unused_mut))] // Unix adds its kinds
    let mut kinds: Vec<(&str, Maker)> = vec![(
        "a folder",
        Box::new(|lock: &Path, _: &Path| std::fs::create_dir(lock).unwrap()),
    )];
    #[cfg(unix)]
    kinds.extend::<[(&str, Maker); 2]>([
        ("a FIFO", Box::new(|lock: &Path, _: &Path| mkfifo(lock))),
        (
            "a symlink",
            Box::new(|lock: &Path, home: &Path| {
                let target = home.join("precious.txt");
                std::fs::write(&target, "precious").unwrap();
                std::os::unix::fs::symlink(&target, lock).unwrap();
            }),
        ),
    ]);
    let mut failures = Vec::new();
    for (what, make) in kinds {
        let h = Home::new();
        h.healthy_neighbour();
        std::fs::write(
            h.po().join("services.toml"),
            format!("[acme]\noauth_authorize_url = \"{0}\"\noauth_token_url = \"{1}\"\nclient_id = \"cid\"\napi_key_env = \"ACME_KEY\"\n", fake.url("/authorize"), fake.url("/token")),
        )
        .unwrap();
        let token = h.po().join("acme_token.json");
        std::fs::write(
            &token,
            json!({"access_token": "old", "refresh_token": "rt", "expires_at": 1000.0, "client_id": "cid"}).to_string(),
        )
        .unwrap();
        make(&h.po().join("acme_token.json.lock"), h.path());
        let before = h.snapshot();
        let r = h.run(&["token", "acme"], &[("ACME_KEY", "acme-key")]);
        if r.code != Some(0) || r.took > Duration::from_secs(5) {
            failures.push(format!("{what}: {r:?}"));
        } else if !r.err.contains("acme_token.json.lock") {
            failures.push(format!("{what}: the lock file is not named: {r:?}"));
        }
        if h.snapshot() != before {
            failures.push(format!("{what}: something was changed"));
        }
        if let Err(e) = h.neighbour_works() {
            failures.push(format!("{what}: {e}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Root reads everything: these run the CLI as `nobody`.
#[cfg(unix)]
fn as_nobody(h: &Home, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_planopticon"))
        .args(args)
        .env_clear()
        .env("HOME", h.path())
        .env("PLANOPTICON_HTTP_TIMEOUT", "2")
        .envs(env.iter().copied());
    bounded(c)
}

#[cfg(unix)]
fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid)).unwrap();
}

#[cfg(unix)]
fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// The token folder belongs to someone else (say, made by `sudo planopticon`),
/// or cannot be written while a refresh must save: the file or folder is
/// named with what to do, and the old token is kept. Unix owners and modes.
#[cfg(unix)]
#[test]
fn another_users_folder_and_an_unwritable_folder() {
    if !is_root() {
        println!("reliability_files: not root, the other-user cases are skipped");
        return;
    }
    // Another user's folder: nobody's HOME holds a .planopticon owned by root.
    let h = Home::new();
    let po = h.po();
    std::fs::write(
        po.join("github_token.json"),
        json!({"access_token": "root-owned", "expires_at": 4e9}).to_string(),
    )
    .unwrap();
    std::fs::set_permissions(&po, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(h.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    chown(h.path(), 65534);
    // Nothing in it can even be looked at, services.toml included: every
    // run warns about services.toml and says what to do; the token file is
    // named where it is read, and the API key still works.
    let warned = |r: &Run| {
        r.err.lines().any(|l| {
            l.starts_with("Warning: ")
                && l.contains(".planopticon/services.toml")
                && l.contains("ermission denied")
                && l.contains("chown")
        })
    };
    let r = as_nobody(&h, &["token", "github"], &[("GITHUB_TOKEN", "ghp_x")]);
    assert_eq!((r.code, r.out.as_str()), (Some(0), "ghp_x\n"), "{r:?}");
    assert!(warned(&r), "{r:?}");
    assert!(
        r.err.contains("github_token.json") && r.err.matches("ermission denied").count() >= 2,
        "the token file is named too: {r:?}"
    );
    let r = as_nobody(&h, &["status", "--json"], &[("GITHUB_TOKEN", "ghp_x")]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(warned(&r), "{r:?}");
    let all: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    let github = service_entry(&all, "github");
    assert_eq!(github["state"], "error", "{github}");
    assert!(
        github["detail"]
            .as_str()
            .is_some_and(|d| d.contains("github_token.json")),
        "{github}"
    );
    assert!(po.join("github_token.json").exists());

    // An unwritable folder: the refresh works at the provider, the save
    // fails, and the step says where; the old file is intact.
    let fake = json_server(
        json!({"access_token": "fresh", "refresh_token": "rt-2", "token_type": "bearer", "expires_in": 3600}),
    );
    let h = Home::new();
    let po = h.po();
    std::fs::write(
        po.join("services.toml"),
        format!("[acme]\noauth_authorize_url = \"{0}\"\noauth_token_url = \"{1}\"\nclient_id = \"cid\"\napi_key_env = \"ACME_KEY\"\n", fake.url("/authorize"), fake.url("/token")),
    )
    .unwrap();
    let old = json!({"access_token": "old", "refresh_token": "rt-1", "expires_at": 1000.0, "client_id": "cid"}).to_string();
    std::fs::write(po.join("acme_token.json"), &old).unwrap();
    for p in [po.join("acme_token.json"), po.join("services.toml")] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::set_permissions(&po, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(h.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    chown(h.path(), 65534);
    let r = as_nobody(&h, &["token", "acme"], &[("ACME_KEY", "acme-key")]);
    assert_eq!((r.code, r.out.as_str()), (Some(0), "acme-key\n"), "{r:?}");
    assert!(r.err.contains(".planopticon"), "{r:?}");
    assert_eq!(
        std::fs::read_to_string(po.join("acme_token.json")).unwrap(),
        old
    );
}

/// A mistyped services.toml: what it is, its bytes, the words its problem
/// must be told with, and the service whose table it breaks.
type TomlCase = (
    &'static str,
    Vec<u8>,
    &'static [&'static str],
    Option<&'static str>,
);

/// services.toml as people mistype it. Each: a warning on every command
/// naming the file (and the line or key where there is one), the other
/// services still working, the service whose table is broken refused with
/// the same words (exit 1), nothing deleted.
#[test]
fn services_toml_typed_wrong_is_named_and_nothing_is_lost() {
    // (what, the file, words, the service whose table it breaks: None when
    // the file as a whole cannot be read, or the table cannot be a service)
    let cases: Vec<TomlCase> = vec![
        (
            "an unquoted value",
            b"[acme]\nclient_id = abc\n".to_vec(),
            &["line 2", "client_id"],
            None,
        ),
        (
            "a colon instead of =",
            b"[acme]\nclient_id: \"abc\"\n".to_vec(),
            &["line 2"],
            None,
        ),
        (
            "a missing closing quote",
            b"[acme]\nclient_id = \"abc\nscopes = []\n".to_vec(),
            &["line 2"],
            None,
        ),
        (
            "a missing closing bracket",
            b"[acme\nclient_id = \"abc\"\n".to_vec(),
            &["line 1"],
            None,
        ),
        (
            "a key outside any table",
            b"client_id = \"abc\"\n".to_vec(),
            &["client_id"],
            None,
        ),
        (
            "a table given twice",
            b"[acme]\nclient_id = \"a\"\n[acme]\nclient_id = \"b\"\n".to_vec(),
            &["line 3", "acme"],
            None,
        ),
        (
            "a key given twice",
            b"[acme]\nclient_id = \"a\"\nclient_id = \"b\"\n".to_vec(),
            &["line 3", "client_id"],
            None,
        ),
        (
            "a misspelt key",
            b"[github]\nclient_idd = \"a\"\n".to_vec(),
            &["client_idd"],
            Some("github"),
        ),
        (
            "a nested table by mistake",
            b"[services.acme]\nclient_id = \"a\"\n".to_vec(),
            &["acme"],
            Some("services"),
        ),
        (
            "scopes as one string",
            b"[acme]\nscopes = \"read write\"\n".to_vec(),
            &["scopes"],
            Some("acme"),
        ),
        (
            "a number for a string",
            b"[acme]\nclient_id = 12345\n".to_vec(),
            &["client_id"],
            Some("acme"),
        ),
        (
            "an unknown server_grant",
            b"[acme]\nserver_grant = \"password\"\n".to_vec(),
            &["server_grant"],
            Some("acme"),
        ),
        (
            "authorize_params as a list",
            b"[acme]\nauthorize_params = [\"a=b\"]\n".to_vec(),
            &["authorize_params"],
            Some("acme"),
        ),
        (
            "a JSON file",
            br#"{"acme": {"client_id": "a"}}"#.to_vec(),
            &["line 1"],
            None,
        ),
        (
            "a YAML file",
            b"acme:\n  client_id: a\n".to_vec(),
            &["line 1"],
            None,
        ),
        (
            "an unterminated multi-line string",
            b"[acme]\ndisplay_name = \"\"\"Acme\n".to_vec(),
            &["multiline"],
            None,
        ),
        (
            "a backslash before an accent",
            "[acme]\ndisplay_name = \"Caf\\\u{e9}\"\n"
                .as_bytes()
                .to_vec(),
            &["line 2"],
            None,
        ),
        (
            "a trailing comma in an inline table",
            b"[acme]\nauthorize_params = { a = \"b\", }\n".to_vec(),
            &["line 2"],
            None,
        ),
        (
            "a service name with a slash",
            b"[\"../evil\"]\nclient_id = \"a\"\n".to_vec(),
            &["../evil"],
            None,
        ),
        (
            "an upper-case service name",
            b"[Acme]\nclient_id = \"a\"\n".to_vec(),
            &["Acme"],
            None,
        ),
        (
            "only one of the two URLs",
            b"[acme]\noauth_authorize_url = \"http://127.0.0.1:9/a\"\n".to_vec(),
            &["oauth_token_url"],
            Some("acme"),
        ),
        (
            "bytes that are not UTF-8",
            b"[acme]\ndisplay_name = \"\xff\xfe\"\n".to_vec(),
            &["UTF-8"],
            None,
        ),
        (
            "a NUL byte",
            b"[acme]\nclient_id = \"a\0\"\n".to_vec(),
            &["line 2"],
            None,
        ),
        (
            "a UTF-16 file",
            {
                let mut v = vec![0xff, 0xfe];
                for u in "[acme]\nclient_id = \"a\"\n".encode_utf16() {
                    v.extend_from_slice(&u.to_le_bytes());
                }
                v
            },
            &[],
            None,
        ),
    ];
    let mut failures = Vec::new();
    for (what, text, words, broken) in &cases {
        let h = Home::new();
        h.healthy_neighbour();
        let path = h.po().join("services.toml");
        std::fs::write(&path, text).unwrap();
        let file = path.display().to_string();
        let before = h.snapshot();
        // The lines of stderr that tell the problem: a warning on every
        // command, and `prefix` naming the refused service.
        let told = |r: &Run, prefix: &str| {
            r.err.lines().any(|l| {
                l.starts_with(&format!("{prefix}{file}: ")) && words.iter().all(|w| l.contains(w))
            })
        };
        let short = |r: &Run| r.err.lines().count() <= 4 && r.err.len() <= 600;
        // The refused service's run tells the problem twice (the warning
        // every command gives, then why the service cannot be used): each
        // telling is held to the same bound.
        let short_each =
            |r: &Run| r.err.lines().count() <= 4 && r.err.lines().all(|l| l.len() <= 600);

        // The neighbour keeps working, and is told about the file.
        let r = h.run(&["token", "notion"], &[]);
        if r.code != Some(0) || r.out != "ntn_neighbour\n" {
            failures.push(format!(
                "{what}: the neighbouring service stopped working: {r:?}"
            ));
        }
        if !told(&r, "Warning: ") {
            failures.push(format!(
                "{what}: no warning naming the file and {words:?}: {r:?}"
            ));
        }
        if !short(&r) {
            failures.push(format!("{what}: the message is not short: {r:?}"));
        }
        // The service whose table is broken is refused, with the same words.
        if let Some(svc) = broken {
            let r = h.run(&["token", svc], &[]);
            let name = format!("{}{} cannot be used: ", svc[..1].to_uppercase(), &svc[1..]);
            if r.code != Some(1) || !r.out.is_empty() || !told(&r, &name) || !told(&r, "Warning: ")
            {
                failures.push(format!(
                    "{what}: {svc} is not refused with the error: {r:?}"
                ));
            }
            if !short_each(&r) {
                failures.push(format!("{what}: the message is not short: {r:?}"));
            }
        }
        if h.snapshot() != before {
            failures.push(format!("{what}: something was changed"));
        }
    }
    println!(
        "reliability_files: {} malformed services.toml files, {} failures",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Files people do not expect to be odd: services.toml or settings.toml as
/// a FIFO or a folder, an empty services.toml, one with only comments, a BOM
/// and CRLF line ends. None hangs; the valid ones work.
#[test]
fn config_files_that_are_fifos_folders_or_oddly_encoded() {
    let mut failures = Vec::new();
    #[cfg_attr(not(unix), allow(unused_mut))] // Unix adds its cases
    let mut cases = vec![("services.toml", "folder"), ("settings.toml", "folder")];
    #[cfg(unix)]
    cases.extend([("services.toml", "fifo"), ("settings.toml", "fifo")]);
    for (file, kind) in cases {
        let h = Home::new();
        h.healthy_neighbour();
        let path = h.po().join(file);
        match kind {
            #[cfg(unix)]
            "fifo" => mkfifo(&path),
            _ => std::fs::create_dir(&path).unwrap(),
        }
        let r = h.run(&["token", "notion"], &[]);
        if r.code.is_none() || r.took > Duration::from_secs(5) {
            failures.push(format!("{file} as a {kind}: hangs: {r:?}"));
            continue;
        }
        let named = r.err.contains(file);
        let works = r.code == Some(0) && r.out == "ntn_neighbour\n";
        // settings.toml is optional: an odd one is passed over (the
        // defaults apply); an odd services.toml is warned about, naming it,
        // and the built-ins keep working.
        let ok = match file {
            "settings.toml" => works,
            _ => works && named && r.err.starts_with("Warning: "),
        };
        if !ok {
            failures.push(format!("{file} as a {kind}: {r:?}"));
        }
    }
    for (what, text) in [
        ("empty", "".to_string()),
        ("only comments", "# my services\n# none yet\n".to_string()),
        (
            "CRLF line ends",
            "[acme]\r\napi_key_env = \"ACME_KEY\"\r\n".to_string(),
        ),
        (
            "a UTF-8 BOM",
            "\u{feff}[acme]\napi_key_env = \"ACME_KEY\"\n".to_string(),
        ),
    ] {
        let h = Home::new();
        h.healthy_neighbour();
        std::fs::write(h.po().join("services.toml"), &text).unwrap();
        if let Err(e) = h.neighbour_works() {
            failures.push(format!("services.toml {what}: {e}"));
        }
        if text.contains("acme") {
            let r = h.run(&["token", "acme"], &[("ACME_KEY", "k")]);
            if r.code != Some(0) {
                failures.push(format!("services.toml {what}: acme: {r:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
