//! The optional mirror of each token in the OS keyring.
//!
//! On Linux an unlocked keyring is not a given: a call can hang on a password
//! prompt. Every call therefore runs on its own thread with a timeout, and a
//! keyring that fails or hangs is reported once and then left alone, while
//! the file store goes on working.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::StoredToken;

const KEYRING_SERVICE: &str = "planopticon";
const TIMEOUT: Duration = Duration::from_secs(3);

static UNAVAILABLE: AtomicBool = AtomicBool::new(false);
static TOLD: AtomicBool = AtomicBool::new(false);

#[derive(Clone, Debug)]
pub struct KeyringMirror {
    user: String,
}

impl KeyringMirror {
    pub fn new(service: &str) -> Self {
        Self {
            user: format!("{service}_token"),
        }
    }

    /// Mirrors the token; `Some(notice)` the first time the keyring fails.
    pub fn set(&self, token: &StoredToken) -> Option<String> {
        let json = serde_json::to_string(token).ok()?;
        self.call(move |e| e.set_password(&json))
    }

    /// Removes the mirror; a missing entry is fine.
    pub fn delete(&self) -> Option<String> {
        self.call(|e| match e.delete_credential() {
            Err(keyring::Error::NoEntry) => Ok(()),
            other => other,
        })
    }

    /// The mirrored token JSON, if any (for tests and diagnostics).
    pub fn get(&self) -> Result<Option<String>, String> {
        let user = self.user.clone();
        run_with_timeout(move || {
            let e = keyring::Entry::new(KEYRING_SERVICE, &user)?;
            match e.get_password() {
                Ok(s) => Ok(Some(s)),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(err) => Err(err),
            }
        })
    }

    fn call<F>(&self, f: F) -> Option<String>
    where
        F: FnOnce(&keyring::Entry) -> keyring::Result<()> + Send + 'static,
    {
        if UNAVAILABLE.load(Ordering::Relaxed) {
            return None;
        }
        let user = self.user.clone();
        let outcome = run_with_timeout(move || f(&keyring::Entry::new(KEYRING_SERVICE, &user)?));
        let cause = outcome.err()?;
        UNAVAILABLE.store(true, Ordering::Relaxed);
        log::warn!("OS keyring unavailable: {cause}");
        (!TOLD.swap(true, Ordering::Relaxed)).then(|| {
            format!("the OS keyring is not available ({cause}); tokens are kept in the token files only")
        })
    }
}

/// Whether the keyring answers at all, within the timeout (for the app's
/// switch). A keyring that answers again (say, unlocked since) is used again.
pub fn probe() -> Result<(), String> {
    run_with_timeout(|| {
        let e = keyring::Entry::new(KEYRING_SERVICE, "probe")?;
        match e.get_password() {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) => Err(err),
        }
    })
    .inspect(|()| {
        UNAVAILABLE.store(false, Ordering::Relaxed);
        TOLD.store(false, Ordering::Relaxed);
    })
}

fn run_with_timeout<T, F>(f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> keyring::Result<T> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(TIMEOUT) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no answer within {} s (is the keyring locked?)",
            TIMEOUT.as_secs()
        )),
    }
}
