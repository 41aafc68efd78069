//! Helpers of the spec suites (spec_builtins, plane, revocation_shapes,
//! paste_prompt), beside tests/support: a CLI run bounded in time, its
//! output, and a guard that keeps the CLI off the internet.
#![allow(dead_code)]

use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Generous: a CLI run against local servers takes well under a second; this
/// bound only turns a hang (a sign-in waiting 300 s for a browser that
/// never came) into a failure that shows the output.
pub const RUN_LIMIT: Duration = Duration::from_secs(90);

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `HTTPS_PROXY` at a closed local port: should any request still go to a
/// provider's real https endpoint (one the test did not redirect, such as an
/// identity call after a sign-in), it fails at once on this machine instead
/// of reaching the internet. The fakes are plain http on 127.0.0.1, which
/// this does not touch.
pub fn offline_guard() -> (&'static str, String) {
    ("HTTPS_PROXY", format!("http://127.0.0.1:{}", closed_port()))
}

/// One finished CLI run.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn err(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// Asserts a browser sign-in to `service` (shown as `display_name`)
    /// that printed the address to open and succeeded.
    pub fn assert_signed_in_by_browser(&self, service: &str, display_name: &str) {
        assert_eq!(self.code(), 0, "{self:?}");
        let out = self.out();
        let open = format!("Open this URL to authorize PlanOpticon ({service}):");
        assert!(out.contains(&open), "{self:?}");
        let done = format!("{display_name} authentication successful (oauth_pkce).\n");
        assert!(out.ends_with(&done), "{self:?}");
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--stdout--\n{}--stderr--\n{}",
            self.0.status.code(),
            self.out(),
            self.err()
        )
    }
}

/// Runs `cmd` to the end, killing it (by its pid: a process this test
/// started) if it is still running after [`RUN_LIMIT`].
pub fn run_within(mut cmd: Command) -> Run {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the planopticon CLI");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(RUN_LIMIT) {
        Ok(out) => Run(out.expect("wait for the CLI")),
        Err(_) => {
            kill_by_pid(pid);
            let run = Run(rx.recv().unwrap().expect("wait for the CLI"));
            panic!("the CLI was still running after {RUN_LIMIT:?}: {run:?}");
        }
    }
}

/// Ends our own child `pid`, whose `Child` the waiting thread holds.
#[cfg(unix)]
fn kill_by_pid(pid: u32) {
    // SAFETY: kill(2) takes no pointers. The pid is our own child's, which
    // the waiting thread has not reported reaped.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
}

/// Ends our own child `pid`, whose `Child` the waiting thread holds (the
/// process handle it keeps open means the pid is not reused meanwhile).
#[cfg(windows)]
fn kill_by_pid(pid: u32) {
    let _ = Command::new("taskkill")
        .args(["/F", "/PID", &pid.to_string()])
        .status();
}

/// `Basic base64(id:secret)`, as an Authorization header value.
pub fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// Unix seconds now.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The JSON token file at `path`.
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The CLI in `home` with the offline guard on (no request leaves the machine).
pub fn cli(
    home: &crate::support::Home,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Command {
    let (proxy_var, proxy) = offline_guard();
    let mut c = home.cmd(args, env);
    c.env(proxy_var, proxy);
    c
}

/// The one request `method path` among `reqs`.
pub fn only<'a>(
    reqs: &'a [crate::support::Recorded],
    method: &str,
    path: &str,
) -> &'a crate::support::Recorded {
    let found: Vec<&crate::support::Recorded> = reqs
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .collect();
    assert_eq!(found.len(), 1, "one {method} {path} in {reqs:#?}");
    found[0]
}
