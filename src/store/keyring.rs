//! The optional mirror of each token in the OS keyring.
//!
//! On Linux an unlocked keyring is not a given: a call can hang on a password
//! prompt. Every call therefore runs on its own thread with a timeout (each
//! keyring call its own: a token in pieces makes several), and a keyring
//! that fails or hangs is reported once and then left alone, while the file
//! store goes on working.
//!
//! A token too long for one entry (Windows' Credential Manager) is kept in
//! several: see [`super::pieces`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::pieces::{self, Slots};
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

    /// The mirror of a saved account that is not the active one (the
    /// active one's is [`Self::new`]'s, as before accounts existed).
    pub fn for_account(service: &str, account: &str) -> Self {
        Self {
            user: format!("{service}_token:{account}"),
        }
    }

    /// Mirrors the token (in pieces when it is too long for one entry);
    /// `Some(notice)` the first time the keyring fails.
    pub fn set(&self, token: &StoredToken) -> Option<String> {
        let json = serde_json::to_string(token).ok()?;
        self.call(move |user| pieces::write(&Keyring, user, &json))
    }

    /// Removes the mirror, every piece of it; a missing entry is fine.
    pub fn delete(&self) -> Option<String> {
        self.call(|user| pieces::remove(&Keyring, user))
    }

    /// The mirrored token JSON, if any (for tests and diagnostics); an
    /// error when its pieces are incomplete.
    pub fn get(&self) -> Result<Option<String>, String> {
        pieces::read(&Keyring, &self.user).map_err(|e| e.to_string())
    }

    fn call<F>(&self, f: F) -> Option<String>
    where
        F: FnOnce(&str) -> keyring::Result<()>,
    {
        if UNAVAILABLE.load(Ordering::Relaxed) {
            return None;
        }
        let outcome = f(&self.user).map_err(|e| match e {
            // A timeout's own words, not keyring's wrapping of them.
            keyring::Error::PlatformFailure(why) => why.to_string(),
            other => other.to_string(),
        });
        let cause = outcome.err()?;
        UNAVAILABLE.store(true, Ordering::Relaxed);
        log::warn!("OS keyring unavailable: {cause}");
        (!TOLD.swap(true, Ordering::Relaxed)).then(|| {
            format!("the OS keyring is not available ({cause}); tokens are kept in the token files only")
        })
    }
}

/// The OS keyring, service `planopticon`, one entry per user name; each
/// call bounded by [`TIMEOUT`].
struct Keyring;

impl Slots for Keyring {
    fn get(&self, user: &str) -> keyring::Result<Option<String>> {
        bounded(user, |e| match e.get_password() {
            Ok(s) => Ok(Some(s)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(err) => Err(err),
        })
    }

    fn set(&self, user: &str, value: &str) -> keyring::Result<()> {
        let value = value.to_string();
        bounded(user, move |e| e.set_password(&value))
    }

    fn delete(&self, user: &str) -> keyring::Result<()> {
        bounded(user, |e| match e.delete_credential() {
            Err(keyring::Error::NoEntry) => Ok(()),
            other => other,
        })
    }
}

/// One keyring call on `user`'s entry, on its own thread, within [`TIMEOUT`].
fn bounded<T, F>(user: &str, f: F) -> keyring::Result<T>
where
    T: Send + 'static,
    F: FnOnce(&keyring::Entry) -> keyring::Result<T> + Send + 'static,
{
    let user = user.to_string();
    run_with_timeout(move || f(&keyring::Entry::new(KEYRING_SERVICE, &user)?))
        .map_err(|why| keyring::Error::PlatformFailure(why.into()))
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

/// Which secret of a service's configuration is kept in the keyring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretName {
    /// User `{service}_client_secret`.
    ClientSecret,
    /// User `{service}_api_key`: an API key that is not a bearer token
    /// (Google's, Plane's `x-api-key`), or any key when asked.
    ApiKey,
}

impl SecretName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecret => "client_secret",
            Self::ApiKey => "api_key",
        }
    }
}

/// How long a secret read from the keyring is reused within a process
/// (each read costs a D-Bus round trip, and a configuration is asked many
/// times per command); a change made by this process is seen at once.
const SECRET_CACHE: Duration = Duration::from_secs(30);

/// Each entry's last answer, a failure included: a keyring that hangs
/// costs one timeout per process, not one per question.
type SecretCache =
    std::collections::BTreeMap<String, (std::time::Instant, Result<Option<String>, String>)>;
static SECRETS: std::sync::Mutex<SecretCache> = std::sync::Mutex::new(SecretCache::new());

/// A secret of a service's configuration kept in the OS keyring instead of
/// services.toml: service `planopticon`, user `{service}_{name}`. Every call
/// is bounded by the keyring timeout.
#[derive(Clone, Debug)]
pub struct SecretEntry {
    user: String,
}

impl SecretEntry {
    pub fn new(service: &str, name: SecretName) -> Self {
        Self {
            user: format!("{service}_{}", name.as_str()),
        }
    }

    /// The keyring's user name for this secret.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The secret, `None` when there is no entry.
    pub fn get(&self) -> Result<Option<String>, String> {
        if let Some((at, v)) = SECRETS.lock().ok().and_then(|c| c.get(&self.user).cloned()) {
            if at.elapsed() < SECRET_CACHE {
                return v;
            }
        }
        let user = self.user.clone();
        let v = run_with_timeout(move || {
            match keyring::Entry::new(KEYRING_SERVICE, &user)?.get_password() {
                Ok(s) => Ok(Some(s)),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(err) => Err(err),
            }
        });
        self.remember(v.clone());
        v
    }

    pub fn set(&self, secret: &str) -> Result<(), String> {
        let (user, value) = (self.user.clone(), secret.to_string());
        run_with_timeout(move || {
            keyring::Entry::new(KEYRING_SERVICE, &user)?.set_password(&value)
        })?;
        self.remember(Ok(Some(secret.to_string())));
        Ok(())
    }

    /// Removes the entry; a missing one is fine.
    pub fn delete(&self) -> Result<(), String> {
        let user = self.user.clone();
        run_with_timeout(move || {
            match keyring::Entry::new(KEYRING_SERVICE, &user)?.delete_credential() {
                Err(keyring::Error::NoEntry) => Ok(()),
                other => other,
            }
        })?;
        self.remember(Ok(None));
        Ok(())
    }

    fn remember(&self, v: Result<Option<String>, String>) {
        if let Ok(mut c) = SECRETS.lock() {
            c.insert(self.user.clone(), (std::time::Instant::now(), v));
        }
    }
}

/// The real Credential Manager (Wine's too): a 4 KB token is refused in one
/// entry and round-trips in pieces; removing it leaves no piece.
#[cfg(all(test, windows))]
mod tests {
    use super::*;

    #[test]
    fn a_4kb_token_round_trips_through_credential_manager() {
        let user = format!("planopticon-test-{}_token", std::process::id());
        let big = pieces::tests::token_json(4096);
        let whole = keyring::Entry::new(KEYRING_SERVICE, &user).unwrap();
        assert!(
            matches!(whole.set_password(&big), Err(keyring::Error::TooLong(..))),
            "Credential Manager (keyring's check) refuses 4 KB in one entry"
        );
        pieces::write(&Keyring, &user, &big).unwrap();
        assert_eq!(
            pieces::read(&Keyring, &user).unwrap().as_deref(),
            Some(&*big)
        );
        assert!(Keyring.get(&format!("{user}#4")).unwrap().is_some());
        pieces::remove(&Keyring, &user).unwrap();
        assert_eq!(pieces::read(&Keyring, &user).unwrap(), None);
        assert_eq!(Keyring.get(&format!("{user}#1")).unwrap(), None);
    }
}
