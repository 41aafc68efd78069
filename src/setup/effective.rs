//! Each setting of a service as it is in effect: its value (secrets only as
//! set or unset), where it comes from, and whether a value saved here would
//! be used.

use super::keys::Key;
use super::{SecretStore, Setup};
use crate::config::{env_value, AuthConfig};
use crate::services::builtin;
use crate::store::keyring::SecretEntry;
use crate::store::FileStore;
use crate::Result;

/// Where an effective value comes from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "source", content = "name")]
pub enum Source {
    BuiltIn,
    ServicesFile,
    /// An environment variable, by name.
    Environment(String),
    Keyring,
    /// The service's token file (a saved personal token).
    TokenFile,
    Unset,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::BuiltIn => f.write_str("built-in"),
            Source::ServicesFile => f.write_str("services.toml"),
            Source::Environment(var) => write!(f, "environment ({var})"),
            Source::Keyring => f.write_str("keyring"),
            Source::TokenFile => f.write_str("token file"),
            Source::Unset => f.write_str("-"),
        }
    }
}

/// A value as it may be shown: secrets only as set or unset.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shown {
    Plain(String),
    Secret { set: bool },
    Unset,
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shown::Plain(v) => f.write_str(v),
            Shown::Secret { set: true } => f.write_str("set"),
            Shown::Secret { set: false } => f.write_str("unset"),
            Shown::Unset => f.write_str("-"),
        }
    }
}

/// One setting of a service as it is in effect.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Setting {
    #[serde(serialize_with = "key_name")]
    pub key: Key,
    pub value: Shown,
    pub source: Source,
    /// False when the value comes from the environment and a value saved
    /// here would not win over it.
    pub editable: bool,
}

fn key_name<S: serde::Serializer>(k: &Key, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(k.as_str())
}

impl Setup {
    /// Every setting of `service` as it is in effect, with where it comes
    /// from; secrets only as set / unset.
    ///
    /// A service whose table has a value it cannot use shows what it can
    /// (see [`Setup::salvage`]), so that a form can open to repair it.
    pub fn effective(&self, service: &str) -> Result<Vec<Setting>> {
        let cfg = match self.config(service) {
            Ok(cfg) => cfg,
            Err(e) if self.registry().broken(service).is_none() => return Err(e),
            Err(e) => self.salvage(service).map_err(|_| e)?.0,
        };
        let table = self.file.table(service)?.unwrap_or_default();
        let here = InEffect {
            service,
            cfg: &cfg,
            table: &table,
            secrets: self.secrets,
            builtin: builtin(service).is_some(),
            set_by_env: crate::guide::guide(&cfg)
                .extras
                .into_iter()
                .find_map(|e| e.set_by_env().map(|var| (var, e.keys()))),
        };
        Ok(Key::ALL
            .iter()
            .filter(|k| k.is_shown())
            .map(|&key| {
                let (value, source, editable) = here.of(key);
                Setting {
                    key,
                    value,
                    source,
                    editable,
                }
            })
            .collect())
    }
}

/// A value in a service's table that cannot be used, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BadValue {
    /// The key as the file spells it (perhaps not a key at all).
    pub key: String,
    /// The value as the file has it: a string as typed, anything else as
    /// TOML; never a secret's ("").
    pub value: String,
    /// Why it cannot be used ("invalid type: integer `1`, expected a string").
    pub reason: String,
}

impl Setup {
    /// `service` from the keys of its table that can be used (each checked
    /// on its own), and each that cannot, with why: what a form shows to
    /// repair a table the registry had to set aside. An empty list when the
    /// table has no such value (or the service no table).
    pub fn salvage(&self, service: &str) -> Result<(AuthConfig, Vec<BadValue>)> {
        let registry = self.registry();
        let Some(listed) = registry.listed(service) else {
            return registry.get(service).map(|c| (c, Vec::new()));
        };
        let mut cfg = listed.clone();
        let table = self.file.table(service)?.unwrap_or_default();
        let mut good = toml::Table::new();
        let mut bad = Vec::new();
        for (key, value) in table {
            let one = toml::Table::from_iter([(key.clone(), value.clone())]);
            match toml::Value::Table(one).try_into::<AuthConfig>() {
                Ok(_) => {
                    good.insert(key, value);
                }
                Err(e) => {
                    let secret = key.parse::<Key>().is_ok_and(|k| k.is_secret());
                    bad.push(BadValue {
                        value: match (&value, secret) {
                            (_, true) => String::new(),
                            (toml::Value::String(s), false) => s.clone(),
                            (other, false) => other.to_string(),
                        },
                        key,
                        reason: crate::services::shorten_unknown_field(e.message().trim()),
                    });
                }
            }
        }
        if let Ok(over) = toml::Value::Table(good).try_into::<AuthConfig>() {
            cfg.apply(over);
        }
        Ok((cfg, bad))
    }
}

/// What `effective` looks at for one service.
struct InEffect<'a> {
    service: &'a str,
    cfg: &'a AuthConfig,
    table: &'a toml::Table,
    secrets: SecretStore,
    builtin: bool,
    /// A variable that sets some keys through one of the service's extras
    /// (`PLANE_BASE_URL`: Plane's URLs) is set: its name and those keys.
    set_by_env: Option<(&'static str, &'static [Key])>,
}

impl InEffect<'_> {
    /// One key's value, where it comes from, and whether it can be edited.
    fn of(&self, key: Key) -> (Shown, Source, bool) {
        match key {
            Key::ClientId => self.id(&self.cfg.client_id, &self.cfg.client_id_env),
            Key::AccountId => self.id(&self.cfg.account_id, &self.cfg.account_id_env),
            Key::ClientSecret => self.client_secret(),
            Key::ApiKey => self.api_key(),
            Key::TokenPath if !self.in_file(key) => (
                Shown::Plain(self.cfg.resolved_token_path().display().to_string()),
                Source::BuiltIn,
                true,
            ),
            _ => {
                let v = display_value(self.cfg, key);
                let source = self.plain_source(key, v.is_some());
                (v.map_or(Shown::Unset, Shown::Plain), source, true)
            }
        }
    }

    fn in_file(&self, key: Key) -> bool {
        self.table.contains_key(key.as_str())
    }

    /// A client or account id: services.toml, else its variable.
    fn id(&self, direct: &Option<String>, env: &Option<String>) -> (Shown, Source, bool) {
        let direct = direct.clone().filter(|v| !v.is_empty());
        match (direct, env_set(env)) {
            (Some(v), _) => (Shown::Plain(v), Source::ServicesFile, true),
            (None, Some(var)) => (
                Shown::Plain(env_value(&var).unwrap_or_default()),
                Source::Environment(var),
                true,
            ),
            (None, None) => (Shown::Unset, Source::Unset, true),
        }
    }

    fn client_secret(&self) -> (Shown, Source, bool) {
        let cfg = self.cfg;
        let direct = cfg.client_secret.as_deref().is_some_and(|v| !v.is_empty());
        match (direct, env_set(&cfg.client_secret_env)) {
            (true, _) => (Shown::Secret { set: true }, Source::ServicesFile, true),
            // A secret saved in the keyring would not win over the variable.
            (false, Some(var)) => (
                Shown::Secret { set: true },
                Source::Environment(var),
                self.secrets == SecretStore::ServicesFile,
            ),
            (false, None) if self.keyring_has(Key::ClientSecret) => {
                (Shown::Secret { set: true }, Source::Keyring, true)
            }
            _ => (Shown::Secret { set: false }, Source::Unset, true),
        }
    }

    fn api_key(&self) -> (Shown, Source, bool) {
        let cfg = self.cfg;
        let saved_token = matches!(
            FileStore::new(cfg.resolved_token_path()).peek(),
            Ok(Some(Ok(ref t))) if t.obtained_by.as_ref().is_some_and(|o| o.is_api_key())
        );
        match env_set(&cfg.api_key_env) {
            // The spec reads API keys from the environment: it wins.
            Some(var) => (Shown::Secret { set: true }, Source::Environment(var), false),
            None if cfg.api_key.as_deref().is_some_and(|v| !v.is_empty()) => {
                (Shown::Secret { set: true }, Source::ServicesFile, true)
            }
            None if self.keyring_has(Key::ApiKey) => {
                (Shown::Secret { set: true }, Source::Keyring, true)
            }
            None if saved_token => (Shown::Secret { set: true }, Source::TokenFile, true),
            None => (Shown::Secret { set: false }, Source::Unset, true),
        }
    }

    /// Whether services.toml flags the secret as in the keyring and it is there.
    fn keyring_has(&self, key: Key) -> bool {
        let flagged = key
            .keyring_flag()
            .and_then(|f| self.table.get(f.as_str()))
            .and_then(toml::Value::as_bool)
            .unwrap_or(false);
        flagged
            && key.secret_name().is_some_and(|n| {
                SecretEntry::new(self.service, n)
                    .get()
                    .ok()
                    .flatten()
                    .is_some_and(|v| !v.is_empty())
            })
    }

    /// Where a plain (non-secret) key's value comes from.
    fn plain_source(&self, key: Key, set: bool) -> Source {
        let by_env = self
            .set_by_env
            .filter(|(_, keys)| keys.contains(&key))
            .map(|(var, _)| var);
        if self.in_file(key) {
            Source::ServicesFile
        } else if !set {
            Source::Unset
        } else if let Some(var) = by_env {
            Source::Environment(var.into())
        } else if self.builtin {
            Source::BuiltIn
        } else {
            Source::Unset
        }
    }
}

/// The variable's name when it is set (and not empty).
fn env_set(var: &Option<String>) -> Option<String> {
    var.clone().filter(|v| env_value(v).is_some())
}

/// A non-secret key's value as text, `None` when unset.
fn display_value(cfg: &AuthConfig, key: Key) -> Option<String> {
    let v = toml::Value::try_from(cfg).ok()?;
    let text = match v.get(key.as_str())? {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(a) if a.is_empty() => return None,
        toml::Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(" "),
        toml::Value::Table(t) if t.is_empty() => return None,
        toml::Value::Table(t) => t
            .iter()
            .map(|(k, x)| {
                format!(
                    "{k}={}",
                    x.as_str().map_or_else(|| x.to_string(), str::to_string)
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    Some(text)
}
