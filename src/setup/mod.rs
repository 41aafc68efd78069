//! Setting a service up: editing `~/.planopticon/services.toml` in place
//! (comments, order and other tables kept as written), where secrets go
//! (services.toml or the OS keyring), API keys and personal tokens checked
//! and saved, and each setting's effective value with where it comes from.
//!
//! The CLI's `config` and `auth --with-token` and the app's forms call the
//! same functions here. Every edit takes the lock `services.toml.lock`,
//! re-reads the file, refuses a file that does not parse (nothing written),
//! validates the value, and writes atomically with mode 0600.

//!
//! The parts, each one seam:
//!
//! - `keys`: the keys of a table, what each holds, how a typed value is checked;
//! - `file`: services.toml edited in place under its lock;
//! - `api_key`: API keys checked at the provider and saved;
//! - `effective`: each setting in effect, with where it comes from;
//! - `changes`: several settings at once (the Set up form), secrets moved
//!   when the keyring switch flips;
//! - this file: [`Setup`], its single edits, adding and removing a service.

mod api_key;
mod changes;
mod effective;
mod file;
mod keys;

use std::path::PathBuf;

use toml_edit::Item;

use crate::config::{AuthConfig, Settings};
use crate::services::{builtin, valid_service_name, Registry};
use crate::store::keyring::SecretEntry;
use crate::{Error, Result};

pub use crate::store::NO_EXPIRY;
pub use api_key::{ApiKeyKind, KeyCheck, KeyStore, SavedKey};
pub use changes::Change;
pub use effective::{BadValue, Setting, Shown, Source};
pub use file::ServicesFile;
use file::{set_in, unset_in};
use keys::invalid;
pub use keys::{check_url, parse_value, Key, Kind};

/// How a service's OAuth endpoints are given when it is added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoints {
    /// The issuer: the endpoints come from its RFC 8414 / OpenID metadata.
    Issuer(String),
    /// The two endpoint URLs.
    Urls { authorize: String, token: String },
}
/// Where a secret of the configuration is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretStore {
    /// In services.toml (0600).
    ServicesFile,
    /// In the OS keyring; services.toml holds only `{key}_in_keyring = true`.
    Keyring,
}
/// A service added to services.toml, and what discovery found for it.
#[derive(Clone, Debug)]
pub struct Added {
    pub service: String,
    /// The issuer's metadata, when the service was added by its issuer.
    pub discovered: Option<crate::discovery::Metadata>,
}
/// Services set up in one services.toml, with secrets going where the
/// keyring setting says.
#[derive(Clone, Debug)]
pub struct Setup {
    file: ServicesFile,
    secrets: SecretStore,
    /// Whether saved tokens are mirrored into the keyring.
    keyring: bool,
}

impl Setup {
    /// `~/.planopticon/services.toml`, the keyring as settings.toml /
    /// `PLANOPTICON_KEYRING` say.
    pub fn load() -> Self {
        Self::new(Registry::path(), Settings::load().keyring)
    }

    pub fn new(path: PathBuf, keyring: bool) -> Self {
        Self {
            file: ServicesFile::new(path),
            secrets: match keyring {
                true => SecretStore::Keyring,
                false => SecretStore::ServicesFile,
            },
            keyring,
        }
    }

    pub fn file(&self) -> &ServicesFile {
        &self.file
    }

    /// Where secrets saved now go.
    pub fn secret_store(&self) -> SecretStore {
        self.secrets
    }

    /// The registry as the file says now.
    pub fn registry(&self) -> Registry {
        Registry::load_from(self.file.path())
    }

    fn config(&self, service: &str) -> Result<AuthConfig> {
        self.registry().get(service)
    }

    /// Sets `key` of `service`. A secret goes to the keyring when it is on
    /// (services.toml then says only `{key}_in_keyring = true`), else into
    /// services.toml; the other place is cleared.
    pub fn set(&self, service: &str, key: Key, value: &str) -> Result<()> {
        self.known_service(service)?;
        if key.kind() == Kind::Bool {
            return Err(invalid(
                key,
                "is kept by planopticon; set the secret instead",
            ));
        }
        let v = parse_value(key, value)?;
        match (key.secret_name(), key.keyring_flag(), self.secrets) {
            (Some(name), Some(flag), SecretStore::Keyring) => {
                // Check the file before the keyring is touched.
                self.file.edit(|_| Ok(()))?;
                let secret = v.as_str().unwrap_or_default().to_string();
                SecretEntry::new(service, name)
                    .set(&secret)
                    .map_err(|cause| Error::Keyring {
                        action: "keep",
                        what: format!("{service} {key}"),
                        cause: format!(
                            "{cause}; nothing was saved (with the keyring off it is kept in services.toml, mode 0600)"
                        ),
                    })?;
                // The flag first: a table holding only the secret is
                // never left empty (and so removed and re-added at the end).
                self.file.edit(|doc| {
                    set_in(doc, service, flag, true.into())?;
                    unset_in(doc, service, key);
                    Ok(())
                })
            }
            (Some(name), Some(flag), SecretStore::ServicesFile) => {
                let was_in_keyring = self.file.edit(|doc| {
                    let was = doc
                        .get(service)
                        .and_then(|t| t.get(flag.as_str()))
                        .and_then(Item::as_bool)
                        .unwrap_or(false);
                    set_in(doc, service, key, v)?;
                    unset_in(doc, service, flag);
                    Ok(was)
                })?;
                if was_in_keyring {
                    if let Err(e) = SecretEntry::new(service, name).delete() {
                        log::warn!(
                            "{service}: the old {key} could not be removed from the keyring: {e}"
                        );
                    }
                }
                Ok(())
            }
            _ => self.file.edit(|doc| set_in(doc, service, key, v)),
        }
    }

    /// Removes `key` from `[service]` (and a secret from the keyring);
    /// true when there was something to remove.
    pub fn unset(&self, service: &str, key: Key) -> Result<bool> {
        self.known_service(service)?;
        let (removed, flagged) = self.file.edit(|doc| {
            let flagged = key
                .keyring_flag()
                .is_some_and(|flag| unset_in(doc, service, flag));
            Ok((unset_in(doc, service, key), flagged))
        })?;
        if let (true, Some(name)) = (flagged, key.secret_name()) {
            SecretEntry::new(service, name)
                .delete()
                .map_err(|cause| Error::Keyring {
                    action: "remove",
                    what: format!("{service} {key}"),
                    cause,
                })?;
        }
        Ok(removed || flagged)
    }

    /// Adds a service: a name (lower-case letters, digits, '-', '_') and its
    /// endpoints. With an issuer, its metadata is fetched and checked first
    /// (same issuer, S256) and returned to show what was found.
    pub fn add_service(&self, name: &str, endpoints: Endpoints) -> Result<Added> {
        if !valid_service_name(name) {
            return Err(invalid(
                "name",
                format!("{name:?}: a service name may hold only lower-case letters, digits, '-' and '_' (it names the token file)"),
            ));
        }
        if builtin(name).is_some() || self.file.table(name)?.is_some() {
            return Err(invalid(
                "name",
                format!("{name} is already a service; edit it instead"),
            ));
        }
        let mut values = Vec::new();
        let discovered = match &endpoints {
            Endpoints::Issuer(issuer) => {
                values.push((Key::Issuer, parse_value(Key::Issuer, issuer)?));
                let mut cfg = AuthConfig::new(name);
                cfg.issuer = Some(issuer.trim().to_string());
                cfg.token_path = Some(
                    self.file
                        .path()
                        .with_file_name(format!("{name}_token.json")),
                );
                let transport = crate::Transport::new()?;
                let m = crate::discovery::metadata(&cfg, &transport, crate::system_clock()())?;
                Some(m)
            }
            Endpoints::Urls { authorize, token } => {
                values.push((
                    Key::OauthAuthorizeUrl,
                    parse_value(Key::OauthAuthorizeUrl, authorize)?,
                ));
                values.push((Key::OauthTokenUrl, parse_value(Key::OauthTokenUrl, token)?));
                None
            }
        };
        self.file.edit(|doc| {
            if doc.contains_key(name) {
                return Err(invalid(
                    "name",
                    format!("{name} is already a service; edit it instead"),
                ));
            }
            for (k, v) in values {
                set_in(doc, name, k, v)?;
            }
            Ok(())
        })?;
        Ok(Added {
            service: name.to_string(),
            discovered,
        })
    }

    /// Removes `[service]` from services.toml (a built-in goes back to its
    /// defaults) and its secrets from the keyring; the token file stays
    /// (log out first to end the connection). True when the table was there.
    pub fn remove_service(&self, service: &str) -> Result<bool> {
        let table = self.file.edit(|doc| {
            let removed = doc.remove(service);
            // The last table gone: comments above it (a file's header) stay.
            let prefix = removed
                .as_ref()
                .and_then(Item::as_table)
                .and_then(|t| t.decor().prefix())
                .and_then(|p| p.as_str())
                .map(|p| p.trim_end().to_string())
                .filter(|p| p.contains('#'));
            if let (Some(p), true) = (prefix, doc.as_table().is_empty()) {
                let rest = doc.trailing().as_str().unwrap_or("").to_string();
                doc.set_trailing(format!("{p}\n{rest}"));
            }
            Ok(removed)
        })?;
        let Some(table) = table else { return Ok(false) };
        for key in [Key::ClientSecret, Key::ApiKey] {
            let flagged = table
                .get(key.keyring_flag().expect("a secret").as_str())
                .and_then(Item::as_bool)
                .unwrap_or(false);
            if flagged {
                if let Err(e) =
                    SecretEntry::new(service, key.secret_name().expect("a secret")).delete()
                {
                    log::warn!("{service}: the {key} could not be removed from the keyring: {e}");
                }
            }
        }
        Ok(true)
    }

    fn known_service(&self, service: &str) -> Result<()> {
        let reg = self.registry();
        match reg.names().iter().any(|n| n == service) {
            true => Ok(()),
            false => Err(Error::UnknownService {
                name: service.into(),
                available: reg.names().join(", "),
            }),
        }
    }
}
