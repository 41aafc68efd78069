//! Several settings at once (the app's Set up form), and the keyring switch
//! moving secrets between services.toml and the OS keyring.

use super::file::{set_in, unset_in};
use super::keys::{invalid, parse_value, Key, Kind};
use super::{SecretStore, Setup};
use crate::store::keyring::SecretEntry;
use crate::{Error, Result};

/// One change of a form: `Some(value)` sets the key, `None` unsets it.
#[derive(Clone, PartialEq, Eq)]
pub struct Change {
    pub key: Key,
    pub value: Option<String>,
}

/// A secret's value never shows in `Debug`.
impl std::fmt::Debug for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = match (&self.value, self.key.is_secret()) {
            (None, _) => "unset",
            (Some(_), true) => "[redacted]",
            (Some(v), false) => v.as_str(),
        };
        write!(f, "Change({} = {value})", self.key)
    }
}

impl Setup {
    /// Checks every change without writing anything: each
    /// refused one with its reason (an empty list: all can be saved).
    pub fn check_changes(&self, changes: &[Change]) -> Vec<(Key, Error)> {
        let mut refused = Vec::new();
        for c in changes {
            if c.key.kind() == Kind::Bool {
                refused.push((
                    c.key,
                    invalid(c.key, "is kept by planopticon; set the secret instead"),
                ));
            } else if let Some(v) = &c.value {
                if let Err(e) = parse_value(c.key, v) {
                    refused.push((c.key, e));
                }
            }
        }
        refused
    }

    /// Saves every change of `service`, or none: every value is checked
    /// first (the first refusal is returned, nothing written; see
    /// [`Setup::check_changes`] for all of them) and the file must be
    /// sound. The plain keys are written in one edit; secrets go where
    /// [`Setup::set`] puts them (the keyring when it is on), before it.
    ///
    /// When the file's only problem is `[service]` itself (a value it
    /// cannot use, see [`crate::Registry::only_broken`]), the plain keys go
    /// first, in one edit that must repair the table (else nothing is
    /// written), then the secrets.
    pub fn set_all(&self, service: &str, changes: &[Change]) -> Result<()> {
        self.known_service(service)?;
        if let Some((_, e)) = self.check_changes(changes).into_iter().next() {
            return Err(e);
        }
        let (secrets, plain): (Vec<&Change>, Vec<&Change>) =
            changes.iter().partition(|c| c.key.is_secret());
        let mut values = Vec::new();
        for c in &plain {
            let value = c.value.as_deref().map(|v| parse_value(c.key, v));
            values.push((c.key, value.transpose()?));
        }
        let write = |doc: &mut toml_edit::Document| {
            for (key, value) in values {
                match value {
                    Some(v) => set_in(doc, service, key, v)?,
                    None => {
                        unset_in(doc, service, key);
                    }
                }
            }
            Ok(())
        };
        if self.registry().only_broken(service) {
            self.file.repair(service, write)?;
            return self.set_secrets(service, &secrets);
        }
        // A broken file is told before anything is written (the keyring too).
        self.file.edit(|_| Ok(()))?;
        self.set_secrets(service, &secrets)?;
        self.file.edit(write)
    }

    fn set_secrets(&self, service: &str, secrets: &[&Change]) -> Result<()> {
        for c in secrets {
            match &c.value {
                Some(v) => self.set(service, c.key, v)?,
                None => {
                    self.unset(service, c.key)?;
                }
            }
        }
        Ok(())
    }

    /// Moves the client secrets and API keys of every service in
    /// services.toml to `to`: into the keyring (services.toml keeps only
    /// `{key}_in_keyring = true`) or back into services.toml (and out of
    /// the keyring). Used when the keyring switch is flipped. Returns the
    /// `service key` pairs moved; one that cannot be moved stays where it
    /// was, and the first such error is returned after the rest are moved.
    pub fn move_secrets(&self, to: SecretStore) -> Result<Vec<String>> {
        let text = self.file.read()?;
        let all: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::ServicesFile {
                path: self.file.path().to_path_buf(),
                message: e.message().to_string(),
            })?;
        let mut moved = Vec::new();
        let mut first_error = None;
        for (service, table) in &all {
            let Some(table) = table.as_table() else {
                continue;
            };
            for key in [Key::ClientSecret, Key::ApiKey] {
                let (name, flag) = (
                    key.secret_name().expect("a secret"),
                    key.keyring_flag().expect("a secret"),
                );
                let entry = SecretEntry::new(service, name);
                let outcome = match to {
                    SecretStore::Keyring => {
                        match table.get(key.as_str()).and_then(|v| v.as_str()) {
                            Some(secret) if !secret.is_empty() => entry
                                .set(secret)
                                .map_err(|cause| Error::Keyring {
                                    action: "keep",
                                    what: format!("{service} {key}"),
                                    cause,
                                })
                                .and_then(|()| {
                                    // The flag first: a table holding only
                                    // the secret keeps its place.
                                    self.file.edit(|doc| {
                                        set_in(doc, service, flag, true.into())?;
                                        unset_in(doc, service, key);
                                        Ok(())
                                    })
                                })
                                .map(|()| true),
                            _ => Ok(false),
                        }
                    }
                    SecretStore::ServicesFile => {
                        let flagged = table
                            .get(flag.as_str())
                            .and_then(toml::Value::as_bool)
                            .unwrap_or(false);
                        match flagged {
                            false => Ok(false),
                            true => entry
                                .get()
                                .map_err(|cause| Error::Keyring {
                                    action: "read",
                                    what: format!("{service} {key}"),
                                    cause,
                                })
                                .and_then(|secret| {
                                    self.file.edit(|doc| {
                                        if let Some(s) = secret.filter(|s| !s.is_empty()) {
                                            set_in(doc, service, key, s.as_str().into())?;
                                        }
                                        unset_in(doc, service, flag);
                                        Ok(())
                                    })
                                })
                                .map(|()| {
                                    if let Err(e) = entry.delete() {
                                        log::warn!("{service}: the {key} could not be removed from the keyring: {e}");
                                    }
                                    true
                                }),
                        }
                    }
                };
                match outcome {
                    Ok(true) => moved.push(format!("{service} {key}")),
                    Ok(false) => {}
                    Err(e) => {
                        log::warn!("{service}: the {key} was not moved: {e}");
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(moved),
        }
    }
}

#[cfg(test)]
mod form_tests {
    use super::*;

    #[test]
    fn set_all_writes_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("services.toml");
        std::fs::write(&path, "# mine\n[zoom]\nscopes = [\"a\"]\n").unwrap();
        let setup = Setup::new(path.clone(), false);
        let change = |k, v: &str| Change {
            key: k,
            value: Some(v.to_string()),
        };
        let bad = [
            change(Key::ClientId, "good-id"),
            change(Key::OauthTokenUrl, "http://example.com/token"),
        ];
        let refused = setup.check_changes(&bad);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, Key::OauthTokenUrl);
        assert!(setup.set_all("zoom", &bad).is_err());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# mine\n[zoom]\nscopes = [\"a\"]\n"
        );
        let good = [
            change(Key::ClientId, "good-id"),
            change(Key::ClientSecret, "s3cret"),
            Change {
                key: Key::Scopes,
                value: None,
            },
        ];
        assert!(!format!("{good:?}").contains("s3cret"));
        setup.set_all("zoom", &good).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# mine\n[zoom]\n"), "{text}");
        assert!(
            text.contains("client_id = \"good-id\"") && text.contains("client_secret = \"s3cret\"")
        );
        assert!(!text.contains("scopes"), "{text}");
        // A broken file: nothing written.
        std::fs::write(&path, "[zoom\n").unwrap();
        assert!(setup.set_all("zoom", &good[..1]).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[zoom\n");
    }
}
