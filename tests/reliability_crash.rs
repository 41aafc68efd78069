//! Reliability suite 2: crash safety. A writer process saving token after
//! token (`FileStore::save`: temp file, fsync, rename) is killed with SIGKILL
//! at random points, hundreds of times; after every kill the token file is
//! the old or the new complete JSON, never partial, never missing, never
//! older than before. The leftover temp files of killed writers do not
//! confuse later reads or writes. And a process killed while it holds the
//! refresh lock does not block the next one.
//!
//! Checklist: 14 (persisted atomically), 15 (the lock dies with its
//! process), 20 (temp -> fsync -> rename, temp files 0600).
//!
//! Run alone: `cargo test --test reliability_crash -- --nocapture`
//! (`RELIABILITY_KILLS=N` changes the number of kills, default 300).

mod support;

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oauth2::{AccessToken, RefreshToken};
use planopticon::store::parse_token_file as parse;
use planopticon::store::{FileStore, Loaded, StoredToken};
use serde_json::json;
use support::*;

const WRITER_ENV: &str = "RELIABILITY_CRASH_WRITER";

/// Version `n` of the token: its padding length depends on `n`, so a file
/// cut short or mixed from two versions cannot pass [`check`].
fn version(n: u64) -> StoredToken {
    let mut t = StoredToken::new(AccessToken::new(format!("at-{n}")));
    t.refresh_token = Some(RefreshToken::new(format!("rt-{n}")));
    t.expires_at = Some(n as f64);
    t.client_id = Some("cid".into());
    t.extra.insert("n".into(), json!(n));
    t.extra.insert("pad".into(), json!("x".repeat(pad_len(n))));
    t
}

fn pad_len(n: u64) -> usize {
    // Between 100 B and ~200 KiB: some saves take a while.
    100 + (n.wrapping_mul(2_654_435_761) % 200_000) as usize
}

/// The version a file holds, if it is one complete version.
fn check(bytes: &[u8]) -> Result<u64, String> {
    let t = parse(bytes)?;
    let n = t.extra.get("n").and_then(|v| v.as_u64()).ok_or("no n")?;
    let ok = t.access_token.secret() == &format!("at-{n}")
        && t.refresh_token.as_ref().map(|r| r.secret().as_str()) == Some(&format!("rt-{n}"))
        && t.expires_at == Some(n as f64)
        && t.extra.get("pad").and_then(|p| p.as_str()).map(str::len) == Some(pad_len(n));
    if ok {
        Ok(n)
    } else {
        Err(format!("version {n} is inconsistent"))
    }
}

/// The writer: saves versions `start..` to the file as fast as it can.
#[test]
fn writer_child() {
    let Ok(spec) = std::env::var(WRITER_ENV) else {
        return; // only when run by the test below
    };
    let (path, start) = spec.rsplit_once('|').unwrap();
    let store = FileStore::new(path.into());
    let mut n: u64 = start.parse().unwrap();
    loop {
        store.save(&version(n)).unwrap();
        n += 1;
    }
}

/// A small xorshift: the seed is printed so a failing run can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn sigkill_while_saving_leaves_the_old_or_the_new_file() {
    let kills: u64 = env_number("RELIABILITY_KILLS", 300);
    let seed = std::env::var("RELIABILITY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let mut rng = Rng(seed);
    let home = tempfile::tempdir().unwrap();
    let po = home.path().join(".planopticon");
    let path = po.join("github_token.json");
    let store = FileStore::new(path.clone());
    store.save(&version(0)).unwrap();

    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let (mut survived, mut progressed, mut last) = (0u64, 0u64, 0u64);
    let mut failures = Vec::new();
    for k in 0..kills {
        let mut child = Command::new(&exe)
            .args(["writer_child", "--exact", "--test-threads=1", "-q"])
            .env(WRITER_ENV, format!("{}|{}", path.display(), last + 1))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Startup takes a few ms; a save of up to 200 KiB with fsync a few more.
        std::thread::sleep(Duration::from_micros(2_000 + rng.next() % 40_000));
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        match std::fs::read(&path) {
            Err(e) => failures.push(format!("kill {k}: the file is missing: {e}")),
            Ok(bytes) => match check(&bytes) {
                Err(e) => failures.push(format!(
                    "kill {k}: partial or mixed file ({e}), {} bytes",
                    bytes.len()
                )),
                Ok(n) if n < last => {
                    failures.push(format!("kill {k}: went back from {last} to {n}"))
                }
                Ok(n) => {
                    survived += 1;
                    if n > last {
                        progressed += 1;
                    }
                    last = n;
                }
            },
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(&po)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p != &path)
        .collect();
    println!(
        "reliability_crash: kills survived {survived}/{kills} (seed {seed}); {progressed} kills came after new saves, {last} versions written, {} kills landed mid-save (their temp files left behind), {} s",
        leftovers.len(),
        started.elapsed().as_secs()
    );
    assert!(failures.is_empty(), "seed {seed}:\n{}", failures.join("\n"));
    assert_eq!(survived, kills);
    assert!(
        progressed > kills / 4,
        "the kills did not land during saves"
    );

    // What killed writers leave behind: temp files, owner-only, never taken
    // for the token, and no obstacle to the next save.
    for p in &leftovers {
        let name = p.file_name().unwrap().to_string_lossy();
        assert!(
            name.starts_with(".planopticon-") && name.ends_with(".tmp"),
            "unexpected leftover {name}"
        );
        #[cfg(unix)]
        {
            let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name} holds a token and is {mode:o}");
        }
    }
    let Loaded::Token(t) = store.load().unwrap() else {
        panic!("the token file is not read back")
    };
    assert_eq!(t.access_token.secret(), &format!("at-{last}"));
    // Each holds a token: once clearly abandoned, the next save removes them.
    for p in &leftovers {
        assert!(Command::new("touch")
            .args(["-d", "2 minutes ago"])
            .arg(p)
            .status()
            .unwrap()
            .success());
    }
    store.save(&version(last + 1)).unwrap();
    assert_eq!(check(&std::fs::read(&path).unwrap()), Ok(last + 1));
    let still: Vec<_> = leftovers.iter().filter(|p| p.exists()).collect();
    assert!(still.is_empty(), "abandoned temp files kept: {still:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_planopticon"))
        .args(["status", "--json"])
        .env_clear()
        .env("HOME", home.path())
        .output()
        .unwrap();
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let gh = service_entry(&all, "github");
    assert_ne!(gh["state"], "error", "{gh}");
    assert_eq!(gh["expires_at"], json!((last + 1) as f64));
}

/// A `planopticon token` killed while it holds the refresh lock (its refresh
/// hangs at the provider) does not block the next process: the kernel drops
/// the lock with the process, and the token file is intact.
#[test]
fn a_process_killed_holding_the_refresh_lock_blocks_no_one() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = calls.clone();
    let fake = FakeServer::start(move |_| {
        if c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Reply::Hang(Duration::from_secs(20))
        } else {
            Reply::Json(
                200,
                json!({"access_token": "fresh", "refresh_token": "rt-2", "token_type": "bearer", "expires_in": 3600}),
            )
        }
    });
    let (home, token) = home_with_expired_acme(&fake);
    let old = std::fs::read_to_string(&token).unwrap();
    let cli = || {
        let mut c = home.cmd(&["token", "acme"], &[("PLANOPTICON_HTTP_TIMEOUT", "30")]);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    };
    let mut first = cli().spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.count("/token") == 0 {
        assert!(
            Instant::now() < deadline,
            "the first process never refreshed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    let _ = first.wait();
    assert_eq!(
        std::fs::read_to_string(&token).unwrap(),
        old,
        "intact after the kill"
    );

    let started = Instant::now();
    let out = cli().output().unwrap();
    let took = started.elapsed();
    assert_success(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "fresh\n");
    assert!(
        took < Duration::from_secs(5),
        "the next process waited {took:?}"
    );
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&token).unwrap()).unwrap();
    assert_eq!(saved["refresh_token"], "rt-2");
    println!(
        "reliability_crash: after a kill under the refresh lock, the next process refreshed in {} ms",
        took.as_millis()
    );
}

/// A logout also removes what killed writers left behind (each a token
/// copy), but not a temp file a live writer is filling right now.
#[test]
fn a_logout_removes_abandoned_temp_files_only() {
    let home = tempfile::tempdir().unwrap();
    let po = home.path().join(".planopticon");
    let store = FileStore::new(po.join("github_token.json"));
    store.save(&version(1)).unwrap();
    let abandoned = po.join(".planopticon-abandoned.tmp");
    let live = po.join(".planopticon-live.tmp");
    for p in [&abandoned, &live] {
        std::fs::write(p, serde_json::to_vec(&version(2)).unwrap()).unwrap();
    }
    assert!(Command::new("touch")
        .args(["-d", "2 minutes ago"])
        .arg(&abandoned)
        .status()
        .unwrap()
        .success());
    let out = Command::new(env!("CARGO_BIN_EXE_planopticon"))
        .args(["auth", "github", "--logout"])
        .env_clear()
        .env("HOME", home.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_success(&out);
    assert!(!po.join("github_token.json").exists());
    assert!(
        !abandoned.exists(),
        "an abandoned token copy outlived the logout"
    );
    assert!(live.exists(), "a live writer's temp file was removed");
}
