//! Setting a service up: editing `~/.planopticon/services.toml` in place
//! (comments, order and other tables kept as written), where secrets go
//! (services.toml or the OS keyring), API keys and personal tokens checked
//! and saved, and each setting's effective value with where it comes from.
//!
//! The CLI's `config` and `auth --with-token` and the app's forms call the
//! same functions here. Every edit takes the lock `services.toml.lock`,
//! re-reads the file, refuses a file that does not parse (nothing written),
//! validates the value, and writes atomically with mode 0600.

use std::path::{Path, PathBuf};

use oauth2::AccessToken;
use toml_edit::{Document, Item, Table};

use crate::account::{Account, Identity};
use crate::config::{env_value, AuthConfig, Settings, OOB_REDIRECT_URI};
use crate::method::Method;
use crate::services::{builtin, valid_service_name, Registry};
use crate::store::keyring::{SecretEntry, SecretName};
use crate::store::{FileStore, StoredToken};
use crate::{Error, OAuthManager, Result};

pub use crate::store::NO_EXPIRY;

/// services.toml is a few kilobytes; anything far larger is not one.
const MAX_SERVICES_FILE: u64 = 1 << 20;

/// What kind of value a key holds, which decides how it is checked and written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Free text on one line.
    Text,
    /// An `https://` URL (`http://` only for 127.0.0.1, [::1] or localhost).
    Url,
    /// An identifier without whitespace (client id, account id).
    Id,
    /// A secret: shown as set / unset only.
    Secret,
    /// The name of an environment variable.
    EnvVar,
    /// Words separated by spaces or commas (scopes).
    List,
    /// `name=value` pairs separated by commas.
    Map,
    /// One of a few words.
    Choice(&'static [&'static str]),
    /// A file path.
    Path,
    /// An HTTP header name.
    Header,
    /// The redirect URI: loopback, out-of-band, or empty.
    RedirectUri,
    /// `true` or `false`.
    Bool,
}

macro_rules! keys {
    ($($variant:ident => $name:literal, $kind:expr;)*) => {
        /// A setting of a service: the `AuthConfig` field of the same name
        /// (a unit test keeps this list equal to its serde fields).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Key { $($variant),* }

        impl Key {
            pub const ALL: &'static [Key] = &[$(Key::$variant),*];

            /// The key's name in services.toml.
            pub fn as_str(self) -> &'static str {
                match self { $(Key::$variant => $name),* }
            }

            pub fn kind(self) -> Kind {
                match self { $(Key::$variant => $kind),* }
            }
        }
    };
}

keys! {
    DisplayName => "display_name", Kind::Text;
    OauthAuthorizeUrl => "oauth_authorize_url", Kind::Url;
    OauthTokenUrl => "oauth_token_url", Kind::Url;
    ClientId => "client_id", Kind::Id;
    ClientSecret => "client_secret", Kind::Secret;
    ClientIdEnv => "client_id_env", Kind::EnvVar;
    ClientSecretEnv => "client_secret_env", Kind::EnvVar;
    ApiKeyEnv => "api_key_env", Kind::EnvVar;
    Scopes => "scopes", Kind::List;
    RedirectUri => "redirect_uri", Kind::RedirectUri;
    PasteRedirectUri => "paste_redirect_uri", Kind::RedirectUri;
    AccountId => "account_id", Kind::Id;
    AccountIdEnv => "account_id_env", Kind::EnvVar;
    TokenPath => "token_path", Kind::Path;
    ServerGrant => "server_grant", Kind::Choice(&["client_credentials", "account_credentials"]);
    ServiceAccountEnv => "service_account_env", Kind::EnvVar;
    AuthorizeParams => "authorize_params", Kind::Map;
    Issuer => "issuer", Kind::Url;
    UserinfoUrl => "userinfo_url", Kind::Url;
    RevocationUrl => "revocation_url", Kind::Url;
    DeviceAuthorizationUrl => "device_authorization_url", Kind::Url;
    RevocationStyle => "revocation_style", Kind::Choice(&["rfc7009", "github_app", "bearer", "json_token", "query_token"]);
    UserinfoMethod => "userinfo_method", Kind::Choice(&["get", "post"]);
    ApiHeaders => "api_headers", Kind::Map;
    ApiKeyHeader => "api_key_header", Kind::Header;
    WorkspaceUrl => "workspace_url", Kind::Url;
    ApiKey => "api_key", Kind::Secret;
    ClientSecretInKeyring => "client_secret_in_keyring", Kind::Bool;
    ApiKeyInKeyring => "api_key_in_keyring", Kind::Bool;
}

impl std::str::FromStr for Key {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Key::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::UnknownKey {
                key: s.to_string(),
                known: Key::ALL
                    .iter()
                    .filter(|k| k.is_shown())
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Key {
    /// Whether the value is a secret (kept in the keyring when it is on).
    pub fn is_secret(self) -> bool {
        self.kind() == Kind::Secret
    }

    /// The keyring entry of a secret key.
    fn secret_name(self) -> Option<SecretName> {
        match self {
            Key::ClientSecret => Some(SecretName::ClientSecret),
            Key::ApiKey => Some(SecretName::ApiKey),
            _ => None,
        }
    }

    /// The services.toml flag saying a secret key lives in the keyring.
    fn keyring_flag(self) -> Option<Key> {
        match self {
            Key::ClientSecret => Some(Key::ClientSecretInKeyring),
            Key::ApiKey => Some(Key::ApiKeyInKeyring),
            _ => None,
        }
    }

    /// Whether the key is shown as a setting (the keyring flags are bookkeeping).
    pub fn is_shown(self) -> bool {
        self.kind() != Kind::Bool
    }
}

fn invalid(key: impl std::fmt::Display, message: impl Into<String>) -> Error {
    Error::InvalidValue {
        key: key.to_string(),
        message: message.into(),
    }
}

/// Checks a URL: http(s) with a host; `http` only for loopback.
pub fn check_url(key: &str, value: &str) -> Result<()> {
    let url = url::Url::parse(value)
        .map_err(|e| invalid(key, format!("{value:?} is not a URL ({e})")))?;
    let loopback = matches!(
        url.host(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback()
    ) || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || url.host_str() == Some("localhost");
    match url.scheme() {
        "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(invalid(
            key,
            format!("{value:?} must use https (plain http only for 127.0.0.1, [::1] or localhost)"),
        )),
        _ => Err(invalid(key, format!("{value:?} must be an https:// URL"))),
    }
}

/// The TOML value for `key` from what a person typed, or why not.
pub fn parse_value(key: Key, value: &str) -> Result<toml_edit::Value> {
    let name = key.as_str();
    Ok(match key.kind() {
        Kind::Text => {
            one_line(name, value)?;
            not_empty(name, value.trim())?.into()
        }
        Kind::Url => {
            let v = no_space(name, value, "the URL")?;
            check_url(name, &v)?;
            v.into()
        }
        Kind::Id => no_space(name, value, "the value")?.into(),
        Kind::Secret => parse_secret(name, value)?.into(),
        Kind::EnvVar => parse_env_var(name, value)?.into(),
        Kind::List => parse_list(name, value)?,
        Kind::Map => parse_map(name, value)?,
        Kind::Choice(words) => {
            let v = value.trim();
            if !words.contains(&v) {
                return Err(invalid(
                    name,
                    format!("{v:?} is not one of {}", words.join(", ")),
                ));
            }
            v.into()
        }
        Kind::Path => {
            one_line(name, value)?;
            let v = value.trim();
            if !Path::new(v).is_absolute() {
                return Err(invalid(name, format!("{v:?} must be an absolute path")));
            }
            v.into()
        }
        Kind::Header => {
            let v = no_space(name, value, "the header name")?;
            if !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
            {
                return Err(invalid(name, format!("{v:?} is not an HTTP header name")));
            }
            v.into()
        }
        Kind::RedirectUri => {
            let v = value.trim();
            if !v.is_empty() && v != OOB_REDIRECT_URI {
                check_url(name, v)?;
            }
            v.into()
        }
        Kind::Bool => match value.trim() {
            "true" => true.into(),
            "false" => false.into(),
            v => return Err(invalid(name, format!("{v:?} is not true or false"))),
        },
    })
}

/// Refuses a value over more than one line.
fn one_line(name: &str, v: &str) -> Result<()> {
    match v.contains(['\n', '\r']) {
        true => Err(invalid(name, "must be on one line")),
        false => Ok(()),
    }
}

/// Refuses an empty value (blank counts as empty).
fn not_empty<'a>(name: &str, v: &'a str) -> Result<&'a str> {
    match v.trim().is_empty() {
        true => Err(invalid(name, "is empty; use unset to remove it")),
        false => Ok(v),
    }
}

/// The trimmed value, refused when empty or with a space inside.
fn no_space(name: &str, value: &str, what: &str) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(invalid(
            name,
            format!("{what} is empty; use unset to remove it"),
        ));
    }
    if v.chars().any(char::is_whitespace) {
        return Err(invalid(name, format!("{what} must not contain spaces")));
    }
    Ok(v.to_string())
}

/// A secret is taken as given apart from the line end.
fn parse_secret<'a>(name: &str, value: &'a str) -> Result<&'a str> {
    let v = value.trim_end_matches(['\n', '\r']);
    one_line(name, v)?;
    not_empty(name, v)?;
    if v.trim() != v {
        return Err(invalid(
            name,
            "starts or ends with a space; check what was pasted",
        ));
    }
    Ok(v)
}

/// An environment variable's name: letters, digits and '_', not a digit first.
fn parse_env_var(name: &str, value: &str) -> Result<String> {
    let v = no_space(name, value, "the variable name")?;
    let ok = v
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(invalid(
            name,
            format!("{v:?} is not an environment variable name (letters, digits, '_')"),
        ));
    }
    Ok(v)
}

/// Words separated by spaces, commas or tabs, as a TOML array.
fn parse_list(name: &str, value: &str) -> Result<toml_edit::Value> {
    one_line(name, value)?;
    let words: Vec<&str> = value
        .split([' ', ',', '\t'])
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return Err(invalid(name, "no values; use unset to remove it"));
    }
    Ok(toml_edit::Value::Array(words.into_iter().collect()))
}

/// `name=value` pairs separated by commas, as an inline table.
fn parse_map(name: &str, value: &str) -> Result<toml_edit::Value> {
    one_line(name, value)?;
    let mut t = toml_edit::InlineTable::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| invalid(name, format!("{pair:?} is not name=value")))?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || k.chars().any(char::is_whitespace) {
            return Err(invalid(name, format!("{k:?} is not a name")));
        }
        t.insert(k, v.into());
    }
    if t.is_empty() {
        return Err(invalid(name, "no name=value pairs; use unset to remove it"));
    }
    Ok(toml_edit::Value::InlineTable(t))
}

/// How a service's OAuth endpoints are given when it is added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoints {
    /// The issuer: the endpoints come from its RFC 8414 / OpenID metadata.
    Issuer(String),
    /// The two endpoint URLs.
    Urls { authorize: String, token: String },
}

/// `~/.planopticon/services.toml`, edited in place.
#[derive(Clone, Debug)]
pub struct ServicesFile {
    path: PathBuf,
}

impl ServicesFile {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's text ("" when it does not exist); a file that is not a
    /// regular file or is huge is refused.
    pub fn read(&self) -> Result<String> {
        let refuse = |message: String| Error::ServicesFile {
            path: self.path.clone(),
            message,
        };
        match std::fs::symlink_metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
            Err(e) => return Err(refuse(format!("cannot be read: {e}"))),
            Ok(m) if m.file_type().is_symlink() => {
                return Err(refuse(
                    "is a symbolic link; saving would replace the link, so it is left as it is (edit the file it points to by hand)".into(),
                ))
            }
            Ok(m) if !m.is_file() => {
                return Err(refuse("is not a regular file; it is left as it is".into()))
            }
            Ok(m) if m.len() > MAX_SERVICES_FILE => {
                return Err(refuse("is larger than 1 MiB; it is left as it is".into()))
            }
            Ok(_) => {}
        }
        std::fs::read_to_string(&self.path).map_err(|e| refuse(format!("cannot be read: {e}")))
    }

    /// Edits the file under its lock: re-read, refuse a file with any
    /// problem (the error, nothing written), apply `f`, check the result
    /// reads back, write atomically (0600).
    pub fn edit<T>(&self, f: impl FnOnce(&mut Document) -> Result<T>) -> Result<T> {
        let _lock = FileStore::new(self.path.clone()).lock()?;
        let text = self.read()?;
        // Someone else's mistake is shown, never overwritten.
        Registry::from_toml(&self.path, &text).map_err(|e| match e {
            Error::ServicesFile { path, message } => Error::ServicesFile {
                path,
                message: format!("{message} (fix the file first; nothing was written)"),
            },
            other => other,
        })?;
        let mut doc: Document =
            text.parse()
                .map_err(|e: toml_edit::TomlError| Error::ServicesFile {
                    path: self.path.clone(),
                    message: e.to_string(),
                })?;
        let out = f(&mut doc)?;
        let new_text = doc.to_string();
        if new_text == text {
            return Ok(out);
        }
        Registry::from_toml(&self.path, &new_text)?;
        crate::store::file::write_atomic(&self.path, new_text.as_bytes())?;
        Ok(out)
    }

    /// Sets `key` in `[service]` (the table is added when missing).
    pub fn set(&self, service: &str, key: Key, value: &str) -> Result<()> {
        let v = parse_value(key, value)?;
        self.edit(|doc| {
            set_in(doc, service, key, v)?;
            Ok(())
        })
    }

    /// Removes `key` from `[service]`; true when it was there.
    pub fn unset(&self, service: &str, key: Key) -> Result<bool> {
        self.edit(|doc| Ok(unset_in(doc, service, key)))
    }

    /// The keys `[service]` sets, as the file holds them now.
    pub fn table(&self, service: &str) -> Result<Option<toml::Table>> {
        let text = self.read()?;
        let all: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::ServicesFile {
                path: self.path.clone(),
                message: e.message().to_string(),
            })?;
        Ok(match all.get(service) {
            Some(toml::Value::Table(t)) => Some(t.clone()),
            _ => None,
        })
    }
}

fn service_table<'a>(doc: &'a mut Document, service: &str) -> Result<&'a mut Table> {
    let empty = doc.as_table().is_empty();
    // In a file of comments only, they stay above the first table.
    let mut prefix = String::new();
    if empty && !doc.contains_key(service) {
        prefix = doc.trailing().as_str().unwrap_or("").to_string();
        if !prefix.trim().is_empty() {
            doc.set_trailing("");
            prefix.push('\n');
        }
    } else if !empty {
        prefix.push('\n');
    }
    let item = doc.as_table_mut().entry(service).or_insert_with(|| {
        let mut t = Table::new();
        if !prefix.trim_matches(' ').is_empty() {
            t.decor_mut().set_prefix(prefix);
        }
        Item::Table(t)
    });
    item.as_table_mut().ok_or_else(|| {
        invalid(
            format!("[{service}]"),
            "is not a plain table in services.toml (an inline table?); edit it by hand",
        )
    })
}

fn set_in(doc: &mut Document, service: &str, key: Key, mut v: toml_edit::Value) -> Result<()> {
    let table = service_table(doc, service)?;
    match table.get_mut(key.as_str()).and_then(Item::as_value_mut) {
        Some(old) => {
            // Keep the comment after the value and the spacing around it.
            *v.decor_mut() = old.decor().clone();
            *old = v;
        }
        None => {
            table.insert(key.as_str(), toml_edit::value(v));
        }
    }
    Ok(())
}

/// Removes `key` from `[service]`; a table this leaves empty (no keys, no
/// comments) goes too, so a set then unset leaves the file as it was.
fn unset_in(doc: &mut Document, service: &str, key: Key) -> bool {
    let removed = doc
        .get_mut(service)
        .and_then(Item::as_table_like_mut)
        .and_then(|t| t.remove(key.as_str()))
        .is_some();
    let blank = |d: Option<&toml_edit::RawString>| {
        d.and_then(|r| r.as_str())
            .is_none_or(|s| s.trim().is_empty())
    };
    let now_empty = doc
        .get(service)
        .and_then(Item::as_table)
        .is_some_and(|t| t.is_empty() && blank(t.decor().prefix()) && blank(t.decor().suffix()));
    if removed && now_empty {
        doc.remove(service);
    }
    removed
}

/// Where a secret of the configuration is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretStore {
    /// In services.toml (0600).
    ServicesFile,
    /// In the OS keyring; services.toml holds only `{key}_in_keyring = true`.
    Keyring,
}

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

/// A service added to services.toml, and what discovery found for it.
#[derive(Clone, Debug)]
pub struct Added {
    pub service: String,
    /// The issuer's metadata, when the service was added by its issuer.
    pub discovered: Option<crate::discovery::Metadata>,
}

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

    /// Every setting of `service` as it is in effect, with where it comes
    /// from; secrets only as set / unset.
    pub fn effective(&self, service: &str) -> Result<Vec<Setting>> {
        let cfg = self.config(service)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_auth_config_fields() {
        // serde names every field it expects in its unknown-field error.
        let e = toml::from_str::<AuthConfig>("no_such_key = 1")
            .unwrap_err()
            .to_string();
        let expected: Vec<&str> = e
            .split("expected one of ")
            .nth(1)
            .unwrap()
            .split(',')
            .map(|s| s.trim().trim_matches('`').trim())
            .filter(|s| !s.is_empty())
            .collect();
        let ours: Vec<&str> = Key::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(ours, expected, "{e}");
    }

    #[test]
    fn values_are_checked() {
        assert!(parse_value(Key::ClientId, "my id").is_err());
        assert!(parse_value(Key::ClientId, " id ").is_ok());
        assert!(parse_value(Key::OauthTokenUrl, "http://example.com/t").is_err());
        assert!(parse_value(Key::OauthTokenUrl, "ftp://example.com/t").is_err());
        for ok in [
            "https://example.com/t",
            "http://127.0.0.1:8080/t",
            "http://[::1]/t",
            "http://localhost:9/t",
        ] {
            assert!(parse_value(Key::OauthTokenUrl, ok).is_ok(), "{ok}");
        }
        assert!(parse_value(Key::RedirectUri, "").is_ok());
        assert!(parse_value(Key::RedirectUri, OOB_REDIRECT_URI).is_ok());
        assert!(parse_value(Key::ServerGrant, "password").is_err());
        assert!(parse_value(Key::ClientIdEnv, "MY-VAR").is_err());
        let scopes = parse_value(Key::Scopes, "read, write  admin").unwrap();
        assert_eq!(scopes.as_array().unwrap().len(), 3);
        let m = parse_value(Key::AuthorizeParams, "prompt=consent, a=b").unwrap();
        assert_eq!(m.as_inline_table().unwrap().len(), 2);
        assert!(parse_value(Key::ClientSecret, "a\nb").is_err());
    }
}

// ---- several settings at once (the app's Set up form), and the keyring
// switch moving secrets. Kept at the end of the file, apart from the rest.

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
    pub fn set_all(&self, service: &str, changes: &[Change]) -> Result<()> {
        self.known_service(service)?;
        if let Some((_, e)) = self.check_changes(changes).into_iter().next() {
            return Err(e);
        }
        // A broken file is told before anything is written (the keyring too).
        self.file.edit(|_| Ok(()))?;
        let (secrets, plain): (Vec<&Change>, Vec<&Change>) =
            changes.iter().partition(|c| c.key.is_secret());
        for c in secrets {
            match &c.value {
                Some(v) => self.set(service, c.key, v)?,
                None => {
                    self.unset(service, c.key)?;
                }
            }
        }
        let mut values = Vec::new();
        for c in &plain {
            values.push((
                c.key,
                c.value
                    .as_deref()
                    .map(|v| parse_value(c.key, v))
                    .transpose()?,
            ));
        }
        if values.is_empty() {
            return Ok(());
        }
        self.file.edit(|doc| {
            for (key, value) in values {
                match value {
                    Some(v) => set_in(doc, service, key, v)?,
                    None => {
                        unset_in(doc, service, key);
                    }
                }
            }
            Ok(())
        })
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
