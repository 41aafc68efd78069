//! The keys of a service's table in services.toml (the `AuthConfig`
//! fields), what kind of value each holds, and how a typed value is checked
//! and turned into TOML.

use std::path::Path;

use crate::config::OOB_REDIRECT_URI;
use crate::store::keyring::SecretName;
use crate::{Error, Result};

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
    pub(super) fn secret_name(self) -> Option<SecretName> {
        match self {
            Key::ClientSecret => Some(SecretName::ClientSecret),
            Key::ApiKey => Some(SecretName::ApiKey),
            _ => None,
        }
    }

    /// The services.toml flag saying a secret key lives in the keyring.
    pub(super) fn keyring_flag(self) -> Option<Key> {
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

pub(super) fn invalid(key: impl std::fmt::Display, message: impl Into<String>) -> Error {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthConfig;

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
