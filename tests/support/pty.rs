//! A child process under a real pseudo-terminal, for the tests of what a
//! person at a terminal sees and types (the paste prompt, signing in from
//! anywhere).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use super::WAIT;

/// A child process whose stdin, stdout and stderr are the slave side of a
/// pseudo-terminal; the test holds the master side.
pub struct Pty {
    pub master: File,
    pub child: Child,
    output: mpsc::Receiver<Vec<u8>>,
    /// Everything read so far, `\r\n` turned into `\n` (the terminal's ONLCR).
    pub seen: String,
}

/// Marks `fd` close-on-exec, so that no other process this test binary
/// spawns (tests run in parallel) keeps a copy of the terminal open.
fn cloexec(fd: libc::c_int) {
    // SAFETY: fcntl on a descriptor we own, no pointers involved.
    let rc = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    assert_eq!(rc, 0, "fcntl: {}", std::io::Error::last_os_error());
}

impl Pty {
    pub fn spawn(mut cmd: Command) -> Pty {
        let (mut master, mut slave): (libc::c_int, libc::c_int) = (-1, -1);
        // SAFETY: openpty writes the two descriptors it opens; the name,
        // termios and winsize pointers may be null (defaults). Null `*mut`
        // for all three: Apple's openpty takes `*mut` termios and winsize,
        // glibc's `*const` (a `*mut` coerces to it).
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        cloexec(master);
        cloexec(slave);
        // SAFETY: both descriptors were just opened and are owned by nothing else.
        let (master, slave) = unsafe { (File::from_raw_fd(master), File::from_raw_fd(slave)) };
        // The child gets the terminal as 0, 1 and 2 (dup2 clears close-on-exec).
        cmd.stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave);
        let child = cmd.spawn().expect("spawn the planopticon CLI");
        // Our copies of the slave go with `cmd`: once the child (and what it
        // spawned) exits, reading the master ends.
        drop(cmd);
        let mut reader = master.try_clone().unwrap();
        let (tx, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once no process holds the slave any more.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty {
            master,
            child,
            output,
            seen: String::new(),
        }
    }

    /// Takes in what has arrived within `wait`; false when nothing did.
    pub fn pump(&mut self, wait: Duration) -> bool {
        match self.output.recv_timeout(wait) {
            Ok(bytes) => {
                self.seen
                    .push_str(&String::from_utf8_lossy(&bytes).replace("\r\n", "\n"));
                true
            }
            Err(_) => false,
        }
    }

    /// Reads until the output contains `text`; returns all output so far.
    pub fn expect(&mut self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        while !self.seen.contains(text) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {text:?} within {WAIT:?}; the terminal showed:\n{}",
                self.seen
            );
            self.pump(left.min(Duration::from_millis(200)));
        }
        self.seen.clone()
    }

    /// Types `line` and Enter.
    pub fn type_line(&mut self, line: &str) {
        self.master
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
        self.master.flush().unwrap();
    }

    /// Types `line` and Enter, then waits for the child to exit with
    /// `exit_code`; all output.
    pub fn answer(&mut self, line: &str, exit_code: i32) -> String {
        self.type_line(line);
        let (code, all) = self.finish();
        assert_eq!(code, exit_code, "{all}");
        all
    }

    /// Waits for the child to exit; returns its exit code and all output.
    pub fn finish(&mut self) -> (i32, String) {
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the CLI did not exit within {WAIT:?}; the terminal showed:\n{}",
                self.seen
            );
            self.pump(Duration::from_millis(100));
        };
        // The rest of the output, until the terminal closes (or a short
        // quiet spell, should a grandchild still hold it).
        while self.pump(Duration::from_millis(500)) {}
        (status.code().unwrap_or(-1), self.seen.clone())
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // A failed test must not leave the CLI waiting at its prompt.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
