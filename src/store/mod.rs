//! Token persistence: the documented JSON file is the truth; the OS keyring
//! holds an optional mirror.

pub(crate) mod file;
pub mod keyring;
pub mod pieces;

use serde::{Deserialize, Serialize};

pub use file::{ensure_folder, parse as parse_token_file, FileStore, Loaded, RefreshLock};

use oauth2::{AccessToken, ClientSecret, RefreshToken};

use crate::error::SecretSource;
use crate::method::{Method, ObtainedBy};

/// The `expires_at` of a saved API key or personal token: 9999-12-31. The
/// Python tool treats a missing `expires_at` as expired and uses the token
/// while `now < expires_at`; the provider's own expiry (if any) shows as a
/// 401 on use, and `status` then says `needs reconnect`. Only
/// [`StoredToken::never_expires`] and [`StoredToken::expiry`] interpret it.
pub const NO_EXPIRY: f64 = 253_402_300_799.0;

/// What `~/.planopticon/{service}_token.json` holds: the Python tool's fields,
/// plus our own optional ones, plus whatever else was there (kept on rewrite).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredToken {
    pub access_token: AccessToken,
    #[serde(default)]
    pub refresh_token: Option<RefreshToken>,
    /// Unix seconds, already 60 s before the provider's expiry.
    #[serde(default)]
    pub expires_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    /// How the token was obtained (ours; the Python tool ignores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obtained_by: Option<ObtainedBy>,
    /// Who the token belongs to, when known (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<serde_json::Value>,
    /// Unix seconds when the provider issued this access token (ours): with
    /// `expires_at` it gives the token's lifetime, so a refresh can be
    /// scheduled at a share of it. Missing in the Python tool's files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obtained_at: Option<f64>,
    /// Set when the provider stopped accepting this connection (ours): a
    /// refresh answered `invalid_grant`, or the identity endpoint 401. Every
    /// process and the app's file watcher see it; a new sign-in or refresh
    /// writes a token without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_reconnect: Option<ReconnectMark>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl StoredToken {
    pub fn new(access_token: AccessToken) -> Self {
        Self {
            access_token,
            refresh_token: None,
            expires_at: None,
            client_id: None,
            client_secret: None,
            obtained_by: None,
            account: None,
            obtained_at: None,
            needs_reconnect: None,
            extra: Default::default(),
        }
    }

    /// The client this token was issued to, `(id, secret)`: the file's, as
    /// the Python tool does, else the configuration's.
    pub fn client(&self, cfg: &crate::AuthConfig) -> (Option<String>, Option<String>) {
        let (id, secret, _) = self.client_with_source(cfg);
        (id, secret)
    }

    /// [`Self::client`], and where the secret came from.
    pub(crate) fn client_with_source(
        &self,
        cfg: &crate::AuthConfig,
    ) -> (Option<String>, Option<String>, SecretSource) {
        let id = self.client_id.clone().filter(|c| !c.is_empty());
        let saved = self
            .client_secret
            .as_ref()
            .map(|s| s.secret().clone())
            .filter(|s| !s.is_empty());
        let (secret, source) = match saved {
            Some(s) => (Some(s), SecretSource::TokenFile),
            None => (cfg.resolved_client_secret(), cfg.client_secret_source()),
        };
        (id.or_else(|| cfg.resolved_client_id()), secret, source)
    }

    /// How the token was obtained, when the file says so in our words.
    pub fn method(&self) -> Option<Method> {
        self.obtained_by.as_ref().and_then(ObtainedBy::method)
    }

    /// A key saved without expiry ([`NO_EXPIRY`]): nothing to show, renew or
    /// warn about. The one place that decides it, for status, refresh and
    /// the keeper alike.
    pub fn never_expires(&self) -> bool {
        self.expires_at.is_some_and(|e| e >= NO_EXPIRY)
    }

    /// When the token expires: `None` for a key saved without expiry (see
    /// [`Self::never_expires`]) and when the file names no expiry.
    pub fn expiry(&self) -> Option<f64> {
        self.expires_at.filter(|_| !self.never_expires())
    }

    /// Usable at `now`: the Python tool treats a missing expiry as expired.
    pub fn is_fresh(&self, now: f64) -> bool {
        self.expires_at.is_some_and(|e| now < e)
    }
}

/// Why and when a connection was found rejected by its provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReconnectMark {
    /// What the provider said, as a fact ("the provider no longer accepts
    /// the saved connection (invalid_grant)"); never a secret.
    pub reason: String,
    /// Unix seconds.
    pub at: f64,
}

/// The file store with its optional keyring mirror.
#[derive(Clone, Debug)]
pub struct TokenStore {
    pub file: FileStore,
    mirror: Option<keyring::KeyringMirror>,
}

impl TokenStore {
    pub fn new(service: &str, path: std::path::PathBuf, mirror_to_keyring: bool) -> Self {
        Self {
            file: FileStore::new(path),
            mirror: mirror_to_keyring.then(|| keyring::KeyringMirror::new(service)),
        }
    }

    /// The store of `config`'s token: the documented file, or a saved
    /// account's (with its own keyring entry).
    pub fn of(config: &crate::AuthConfig, mirror_to_keyring: bool) -> Self {
        let mirror = match &config.saved_account {
            Some(name) => keyring::KeyringMirror::for_account(&config.service, name),
            None => keyring::KeyringMirror::new(&config.service),
        };
        Self {
            file: FileStore::new(config.resolved_token_path()),
            mirror: mirror_to_keyring.then_some(mirror),
        }
    }

    /// Whether saved tokens are mirrored into the OS keyring.
    pub fn mirrors(&self) -> bool {
        self.mirror.is_some()
    }

    pub fn load(&self) -> crate::Result<Loaded> {
        self.file.load()
    }

    /// Saves to the file, then mirrors; a keyring failure is a notice, not an error.
    pub fn save(&self, token: &StoredToken) -> crate::Result<Option<String>> {
        self.file.save(token)?;
        Ok(self.mirror.as_ref().and_then(|m| m.set(token)))
    }

    /// Writes `bytes` (a whole token file, as read from another) atomically,
    /// then mirrors the token they hold.
    pub(crate) fn save_bytes(&self, bytes: &[u8]) -> crate::Result<Option<String>> {
        file::write_atomic(self.file.path(), bytes)?;
        let token = parse_token_file(bytes).ok();
        Ok(self.mirror.as_ref().zip(token).and_then(|(m, t)| m.set(&t)))
    }

    /// Deletes the file and the keyring copy; true when a file was there.
    pub fn delete(&self) -> crate::Result<(bool, Option<String>)> {
        let existed = self.file.delete()?;
        Ok((existed, self.mirror.as_ref().and_then(|m| m.delete())))
    }
}
