//! API keys and personal access tokens: checked at the provider's identity
//! endpoint, then saved where the chain finds them (a bearer token as the
//! token file, any other key like a secret).

use std::path::PathBuf;

use oauth2::AccessToken;

use super::keys::{invalid, Key};
use super::{SecretStore, Setup};
use crate::account::{Account, Identity};
use crate::config::{env_value, AuthConfig};
use crate::method::Method;
use crate::services::builtin;
use crate::store::{StoredToken, NO_EXPIRY};
use crate::{Error, OAuthManager, Result};

/// Where a saved API key or personal token went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyStore {
    /// A bearer token, saved as the service's token file
    /// (`obtained_by = "api_key"`, `expires_at` = [`NO_EXPIRY`]): the chain's
    /// saved-token step and the Python tool use it.
    TokenFile(PathBuf),
    /// Not a bearer token (Google's API key, Plane's `x-api-key`): the
    /// chain's API-key step finds it here.
    Secret(SecretStore),
}

/// How the provider takes a service's API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiKeyKind {
    /// `Authorization: Bearer KEY` (GitHub, Notion, Dropbox, custom services).
    Bearer,
    /// Its own header (Plane's `x-api-key`).
    Header(String),
    /// A query parameter (Google's `?key=`); no identity endpoint takes it.
    QueryParam(&'static str),
}

impl ApiKeyKind {
    /// As the service's table says (`api_key_header`), else as its guide
    /// says (a query parameter), else a bearer token.
    pub fn of(cfg: &AuthConfig) -> Self {
        let param = || crate::guide::guide(cfg).api_key?.query_param;
        match (&cfg.api_key_header, param()) {
            (Some(h), _) => Self::Header(h.clone()),
            (None, Some(p)) => Self::QueryParam(p),
            (None, None) => Self::Bearer,
        }
    }
}

/// What checking a key at the provider found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyCheck {
    /// The identity endpoint accepted it, for this account.
    Accepted(Account),
    /// It could not be checked (no identity endpoint that takes it, or the
    /// endpoint could not be asked); it was saved anyway.
    NotChecked(String),
}

/// A saved API key: where it went and what the check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedKey {
    pub stored: KeyStore,
    pub check: KeyCheck,
    /// The environment variable that is set and wins over the saved key.
    pub shadowed_by: Option<String>,
}

impl Setup {
    /// Checks an API key or personal access token at the service's identity
    /// endpoint and saves it where the chain finds it: a bearer token as the
    /// token file (usable by the Python tool too), any other key as the
    /// service's `api_key` (keyring or services.toml, like a secret). A key
    /// the provider refuses (HTTP 401) is not saved.
    pub fn save_api_key(&self, service: &str, key: &str) -> Result<SavedKey> {
        let cfg = self.config(service)?;
        let key = key.trim();
        if key.is_empty() {
            return Err(invalid("API key", "is empty"));
        }
        if key.chars().any(char::is_whitespace) {
            return Err(invalid("API key", "must not contain spaces"));
        }
        if cfg.api_key_env.is_none() && builtin(service).is_some() {
            return Err(Error::NotConfigured {
                service: service.into(),
                message: format!(
                    "{service} has no API keys or personal tokens; sign in with OAuth"
                ),
            });
        }
        let kind = ApiKeyKind::of(&cfg);
        let manager = OAuthManager::with_keyring(cfg.clone(), self.keyring);
        let bearer = kind == ApiKeyKind::Bearer;
        let check = check_api_key(service, &cfg, &manager, kind, key)?;
        let shadowed_by = cfg.api_key_env.clone().filter(|v| env_value(v).is_some());
        let stored = match bearer {
            true => save_bearer_key(&manager, key, &check)?,
            false => {
                self.set(service, Key::ApiKey, key)?;
                KeyStore::Secret(self.secrets)
            }
        };
        Ok(SavedKey {
            stored,
            check,
            // A saved token file is used before the variable (saved token first).
            shadowed_by: shadowed_by.filter(|_| !bearer),
        })
    }
}

/// Asks the service's identity endpoint whether it takes `key`; a refusal
/// (HTTP 401) is an error, so such a key is never saved.
fn check_api_key(
    service: &str,
    cfg: &AuthConfig,
    manager: &OAuthManager,
    kind: ApiKeyKind,
    key: &str,
) -> Result<KeyCheck> {
    if let ApiKeyKind::QueryParam(_) = kind {
        return Ok(KeyCheck::NotChecked(
            "the service's identity endpoint does not take an API key".into(),
        ));
    }
    let ctx = manager.ctx()?;
    match crate::account::whoami(&ctx, key, true) {
        Identity::Known(a) => Ok(KeyCheck::Accepted(a)),
        Identity::Rejected(words) => Err(Error::Provider {
            service: service.into(),
            step: "API key check",
            status: Some(401),
            error: format!(
                "the key was not accepted at {}",
                cfg.userinfo_url
                    .as_deref()
                    .unwrap_or("its identity endpoint")
            ),
            // The provider's own words, never the key itself.
            description: words.filter(|w| !w.contains(key)),
            client: None,
            retry_after: None,
        }),
        Identity::Unknown(why) => Ok(KeyCheck::NotChecked(why)),
    }
}

/// Saves a bearer key as the service's token file, as the Python tool does.
fn save_bearer_key(manager: &OAuthManager, key: &str, check: &KeyCheck) -> Result<KeyStore> {
    let mut t = StoredToken::new(AccessToken::new(key.to_string()));
    t.expires_at = Some(NO_EXPIRY);
    t.obtained_by = Some(Method::ApiKey.into());
    if let KeyCheck::Accepted(a) = check {
        t.account = serde_json::to_value(a).ok();
    }
    // The Python tool writes all five fields.
    t.extra.insert("client_id".into(), serde_json::Value::Null);
    t.extra
        .insert("client_secret".into(), serde_json::Value::Null);
    let _lock = manager.store.file.lock()?;
    if let Some(n) = manager.store.save(&t)? {
        log::warn!("{n}");
    }
    Ok(KeyStore::TokenFile(manager.token_path()))
}
