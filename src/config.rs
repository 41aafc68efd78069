//! `AuthConfig`: one service's endpoints, credential sources and token file,
//! and how each field resolves (direct value > environment variable; an empty
//! string counts as unset, as in the Python tool).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The redirect URI the Python tool uses by default: the code is shown to the
/// user, who pastes it back.
pub const OOB_REDIRECT_URI: &str = "urn:ietf:wg:oauth:2.0:oob";

/// The loopback redirect: a listener on 127.0.0.1 with a port the OS picks.
pub const LOOPBACK_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// The loopback redirect on `localhost` (Microsoft's app registrations
/// refuse `http://127.0.0.1` for desktop apps and accept `http://localhost`
/// with any port): a port the OS picks.
pub const LOCALHOST_REDIRECT_URI: &str = "http://localhost/callback";

/// The fixed port of the loopback redirect for providers that match the
/// registered URI exactly, port included (Dropbox, Notion): below the
/// ephemeral ranges of Linux (32768-60999) and Windows (49152-65535, where
/// Hyper-V and WSL reserve blocks), and used by no well-known service.
pub const FIXED_LOOPBACK_PORT: u16 = 27431;

/// [`FIXED_LOOPBACK_PORT`]'s redirect URI, to register at the provider as it is.
pub const FIXED_LOOPBACK_REDIRECT_URI: &str = "http://127.0.0.1:27431/callback";

/// Which server-to-server grant a service speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerGrant {
    /// Zoom's shape: `POST token_url?grant_type=account_credentials&account_id=ID`, Basic auth.
    AccountCredentials,
    /// RFC 6749 §4.4 `grant_type=client_credentials`.
    ClientCredentials,
}

/// How a provider ends a grant on logout. Most speak RFC 7009; a few have
/// their own shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationStyle {
    /// RFC 7009: form `token` + `token_type_hint`, client authentication as
    /// for the token endpoint; the refresh token when there is one.
    #[default]
    Rfc7009,
    /// GitHub's: `DELETE {revocation_url}` (`{client_id}` replaced) with JSON
    /// `{"access_token": ...}` and HTTP Basic client id/secret.
    GithubApp,
    /// Dropbox's: `POST` with the access token as Bearer, no body.
    Bearer,
    /// Notion's: `POST` JSON `{"token": ...}` with HTTP Basic.
    JsonToken,
    /// Zoom's: `POST ?token=...` with HTTP Basic.
    QueryToken,
}

/// How the identity endpoint (`userinfo_url`) is called.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityMethod {
    #[default]
    Get,
    /// A `POST` with no body (Dropbox).
    Post,
}

/// What the server-to-server step would sign in with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerCredential {
    /// A Google-style service-account key file.
    ServiceAccount(PathBuf),
    /// A grant with the client id and secret; an account id for Zoom's shape.
    Grant {
        grant: ServerGrant,
        account_id: Option<String>,
    },
}

/// Every field can be set in `services.toml` under the service's table, with
/// the same name.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Service identifier: the table name in services.toml, and the token file name.
    #[serde(skip)]
    pub service: String,
    /// Name shown to people ("GitHub"); defaults to the title-cased id.
    pub display_name: Option<String>,
    pub oauth_authorize_url: Option<String>,
    pub oauth_token_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_id_env: Option<String>,
    pub client_secret_env: Option<String>,
    pub api_key_env: Option<String>,
    pub scopes: Vec<String>,
    /// `http://127.0.0.1[:port]/path` (loopback), `urn:ietf:wg:oauth:2.0:oob`
    /// (paste), or `""` (paste, and no redirect_uri sent: Dropbox then shows the code).
    pub redirect_uri: Option<String>,
    /// The redirect URI sent when the code is pasted (`--redirect paste`, or
    /// when no listener can be started); `""` sends none (Dropbox then shows
    /// the code). Unset: `redirect_uri` itself.
    pub paste_redirect_uri: Option<String>,
    pub account_id: Option<String>,
    pub account_id_env: Option<String>,
    pub token_path: Option<PathBuf>,
    /// Server-to-server grant; when unset, an account id means `account_credentials`.
    pub server_grant: Option<ServerGrant>,
    /// Environment variable naming a Google-style service-account key file.
    pub service_account_env: Option<String>,
    /// Extra query parameters for the authorization request (e.g. `access_type = "offline"`).
    pub authorize_params: BTreeMap<String, String>,
    /// The provider's issuer, checked against `iss` on the callback (RFC 9207).
    pub issuer: Option<String>,
    pub userinfo_url: Option<String>,
    pub revocation_url: Option<String>,
    pub device_authorization_url: Option<String>,
    /// The shape of the provider's revocation request (default RFC 7009).
    pub revocation_style: Option<RevocationStyle>,
    /// How the identity endpoint is called (default GET).
    pub userinfo_method: Option<IdentityMethod>,
    /// Headers the provider's API wants on identity and revocation calls
    /// (GitHub's `Accept`, Notion's `Notion-Version`).
    pub api_headers: BTreeMap<String, String>,
    /// The header an API key is sent in (Plane's `x-api-key`); default Bearer.
    pub api_key_header: Option<String>,
    /// Where the provider names the workspace a token was granted for
    /// (Plane's app installation), asked with the token as Bearer.
    pub workspace_url: Option<String>,
    /// An API key or personal token kept in services.toml (ours: the spec
    /// reads API keys from the environment only; the variable still wins).
    pub api_key: Option<String>,
    /// The client secret is kept in the OS keyring (service `planopticon`,
    /// user `{service}_client_secret`), not in this file (see `setup`).
    pub client_secret_in_keyring: Option<bool>,
    /// The API key is kept in the OS keyring (user `{service}_api_key`).
    pub api_key_in_keyring: Option<bool>,
    /// Set for one of the service's saved accounts that is not the active
    /// one (see [`crate::accounts`]): its name. Never read from
    /// services.toml; `None` is the active account, the documented file.
    #[serde(skip)]
    pub saved_account: Option<String>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("service", &self.service)
            .field("oauth_authorize_url", &self.oauth_authorize_url)
            .field("oauth_token_url", &self.oauth_token_url)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("client_id_env", &self.client_id_env)
            .field("client_secret_env", &self.client_secret_env)
            .field("api_key_env", &self.api_key_env)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("scopes", &self.scopes)
            .field("redirect_uri", &self.redirect_uri)
            .field("paste_redirect_uri", &self.paste_redirect_uri)
            .field("account_id_env", &self.account_id_env)
            .field("token_path", &self.token_path)
            .field("saved_account", &self.saved_account)
            .field("revocation_style", &self.revocation_style)
            .finish_non_exhaustive()
    }
}

/// A direct value wins over its environment variable; empty means unset.
fn resolve(direct: &Option<String>, env: &Option<String>) -> Option<String> {
    direct
        .clone()
        .filter(|v| !v.is_empty())
        .or_else(|| env.as_deref().and_then(env_value))
}

/// The value of an environment variable, `None` when unset or empty.
pub fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl AuthConfig {
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            ..Self::default()
        }
    }

    pub fn resolved_client_id(&self) -> Option<String> {
        resolve(&self.client_id, &self.client_id_env)
    }

    /// services.toml's direct value > its environment variable > the OS
    /// keyring (asked only when services.toml says the secret is there).
    pub fn resolved_client_secret(&self) -> Option<String> {
        resolve(&self.client_secret, &self.client_secret_env).or_else(|| {
            self.client_secret_in_keyring
                .unwrap_or(false)
                .then(|| {
                    keyring_secret(
                        &self.service,
                        crate::store::keyring::SecretName::ClientSecret,
                    )
                })
                .flatten()
        })
    }

    /// The API key: its environment variable (the spec's source, so it
    /// wins) > a direct `api_key` in services.toml > the OS keyring (asked
    /// only when services.toml says the key is there).
    pub fn resolved_api_key(&self) -> Option<String> {
        self.api_key_env
            .as_deref()
            .and_then(env_value)
            .or_else(|| self.api_key.clone().filter(|k| !k.is_empty()))
            .or_else(|| {
                self.api_key_in_keyring
                    .unwrap_or(false)
                    .then(|| {
                        keyring_secret(&self.service, crate::store::keyring::SecretName::ApiKey)
                    })
                    .flatten()
            })
    }

    /// A copy with its secrets in the OS keyring read now, once each, so
    /// that asking the copy whether it can sign in, or for its status, asks
    /// the keyring no more. For a front end that reads every status often
    /// (the app); a secret read so stands in the copy as a direct value.
    pub fn with_keyring_read(&self) -> AuthConfig {
        let mut c = self.clone();
        if resolve(&c.client_secret, &c.client_secret_env).is_none() {
            c.client_secret = self.resolved_client_secret();
        }
        let api_key_env = c.api_key_env.as_deref().and_then(env_value);
        if api_key_env.is_none() && c.api_key.as_deref().is_none_or(str::is_empty) {
            c.api_key = self.resolved_api_key();
        }
        c.client_secret_in_keyring = None;
        c.api_key_in_keyring = None;
        c
    }

    pub fn resolved_account_id(&self) -> Option<String> {
        resolve(&self.account_id, &self.account_id_env)
    }

    pub fn resolved_token_path(&self) -> PathBuf {
        self.token_path
            .clone()
            .unwrap_or_else(|| config_dir().join(format!("{}_token.json", self.service)))
    }

    pub fn supports_oauth(&self) -> bool {
        self.oauth_authorize_url
            .as_deref()
            .is_some_and(|u| !u.is_empty())
            && self
                .oauth_token_url
                .as_deref()
                .is_some_and(|u| !u.is_empty())
    }

    /// Where the client secret comes from: a direct value in services.toml
    /// wins over its environment variable.
    pub fn client_secret_source(&self) -> crate::error::SecretSource {
        use crate::error::SecretSource;
        if self.client_secret.as_deref().is_some_and(|s| !s.is_empty()) {
            return SecretSource::ServicesFile;
        }
        match &self.client_secret_env {
            Some(var) if env_value(var).is_some() => SecretSource::Env(var.clone()),
            _ if self.client_secret_in_keyring.unwrap_or(false)
                && keyring_secret(
                    &self.service,
                    crate::store::keyring::SecretName::ClientSecret,
                )
                .is_some() =>
            {
                SecretSource::Keyring
            }
            _ => SecretSource::None,
        }
    }

    /// The name to set for a value: its environment variable, else its key.
    pub fn env_or_key(env: &Option<String>, key: &str) -> String {
        env.clone().unwrap_or_else(|| key.to_string())
    }

    /// The Google-style service-account key file named by the environment.
    pub fn service_account_file(&self) -> Option<PathBuf> {
        self.service_account_env
            .as_deref()
            .and_then(env_value)
            .map(PathBuf::from)
    }

    /// What the server-to-server step would sign in with, or why nothing:
    /// a service-account key; else an account id configured means a grant
    /// (Zoom's `account_credentials` unless `server_grant` says otherwise),
    /// as the spec says for every service; else `server_grant =
    /// "client_credentials"` alone.
    pub fn server_credential(&self) -> Result<ServerCredential, String> {
        if let Some(path) = self.service_account_file() {
            return Ok(ServerCredential::ServiceAccount(path));
        }
        let account_id = self.resolved_account_id();
        match (self.server_grant, account_id) {
            (grant, Some(id)) => Ok(ServerCredential::Grant {
                grant: grant.unwrap_or(ServerGrant::AccountCredentials),
                account_id: Some(id),
            }),
            (Some(ServerGrant::ClientCredentials), None) => Ok(ServerCredential::Grant {
                grant: ServerGrant::ClientCredentials,
                account_id: None,
            }),
            _ => Err(match (&self.account_id_env, &self.service_account_env) {
                (Some(a), _) => format!("{a} is not set"),
                (None, Some(s)) => format!("{s} is not set"),
                _ => "not configured for this service".into(),
            }),
        }
    }

    /// Whether the server-to-server step has all it needs: a key file, or
    /// a token URL with a client id and secret.
    pub fn server_ready(&self) -> bool {
        match self.server_credential() {
            Ok(ServerCredential::ServiceAccount(_)) => true,
            Ok(ServerCredential::Grant { .. }) => {
                self.oauth_token_url.is_some()
                    && self.resolved_client_id().is_some()
                    && self.resolved_client_secret().is_some()
            }
            Err(_) => false,
        }
    }

    /// Whether a sign-in in a browser (or by device code) is configured:
    /// endpoints (or an issuer to discover them) and a client id.
    pub fn browser_ready(&self) -> bool {
        (self.supports_oauth() || self.issuer.is_some()) && self.resolved_client_id().is_some()
    }

    /// Whether the chain has anything to sign in with besides a saved token:
    /// an OAuth client, an API key, or a server-to-server credential.
    pub fn can_sign_in(&self) -> bool {
        self.browser_ready() || self.resolved_api_key().is_some() || self.server_ready()
    }

    /// Whether a device sign-in (RFC 8628) can be offered.
    pub fn supports_device(&self) -> bool {
        self.device_authorization_url.is_some() && self.resolved_client_id().is_some()
    }

    pub fn redirect_uri(&self) -> &str {
        self.redirect_uri.as_deref().unwrap_or(OOB_REDIRECT_URI)
    }

    /// The redirect URI sent when the code is pasted; `""`: none is sent.
    pub fn paste_redirect_uri(&self) -> &str {
        self.paste_redirect_uri
            .as_deref()
            .unwrap_or_else(|| self.redirect_uri())
    }

    /// "GitHub" for display; the Python tool's `str.title()` is [`title_case`].
    pub fn display_name(&self) -> String {
        self.display_name
            .clone()
            .unwrap_or_else(|| title_case(&self.service))
    }

    /// Apply the fields an override table sets, leaving the others alone.
    pub(crate) fn apply(&mut self, over: AuthConfig) {
        macro_rules! apply {
            (take: $($field:ident),*; extend: $($map:ident),*) => {
                // Every field named (no `..`), so a new one is not forgotten.
                let AuthConfig { service: _, scopes, $($field,)* $($map,)* } = over;
                $( if $field.is_some() { self.$field = $field; } )*
                if !scopes.is_empty() {
                    self.scopes = scopes;
                }
                $( self.$map.extend($map); )*
            };
        }
        apply!(
            take: display_name,
            oauth_authorize_url,
            oauth_token_url,
            client_id,
            client_secret,
            client_id_env,
            client_secret_env,
            api_key_env,
            redirect_uri,
            paste_redirect_uri,
            account_id,
            account_id_env,
            token_path,
            server_grant,
            service_account_env,
            issuer,
            userinfo_url,
            revocation_url,
            device_authorization_url,
            revocation_style,
            userinfo_method,
            api_key_header,
            workspace_url,
            api_key,
            client_secret_in_keyring,
            api_key_in_keyring,
            saved_account;
            extend: authorize_params,
            api_headers
        );
    }
}

/// A secret kept in the OS keyring (bounded by the keyring's timeout; a
/// keyring that cannot be read is logged and counts as unset).
fn keyring_secret(service: &str, name: crate::store::keyring::SecretName) -> Option<String> {
    match crate::store::keyring::SecretEntry::new(service, name).get() {
        Ok(v) => v.filter(|v| !v.is_empty()),
        Err(e) => {
            log::warn!(
                "{service}: the {} could not be read from the OS keyring: {e}",
                name.as_str()
            );
            None
        }
    }
}

/// Python's `str.title()`: a letter after a non-letter is upper-cased, the rest lower-cased.
pub fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if prev_letter {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        prev_letter = c.is_alphabetic();
    }
    out
}

/// `~/.planopticon`: tokens, `services.toml` and `settings.toml`.
pub fn config_dir() -> PathBuf {
    dirs::home_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".planopticon")
}

/// `~/.planopticon/settings.toml`: preferences shared by the CLI and the app.
/// Every field has a default, so a file written by an older version (with
/// only `keyring`) still reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Mirror every saved token into the OS keyring.
    pub keyring: bool,
    /// The keeper (in the app) keeps connections alive: refreshes before
    /// expiry and checks who the token belongs to.
    pub keeper: bool,
    /// The app tells, with a desktop notification, when a connection needs a
    /// person (a new sign-in).
    pub notifications: bool,
    /// How often the keeper asks the provider whose token it is (0: never).
    pub identity_check_hours: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            keyring: false,
            keeper: true,
            notifications: true,
            identity_check_hours: Self::DEFAULT_IDENTITY_CHECK_HOURS,
        }
    }
}

impl Settings {
    pub const DEFAULT_IDENTITY_CHECK_HOURS: u32 = 6;
    /// The longest identity-check interval accepted (a week).
    pub const MAX_IDENTITY_CHECK_HOURS: u32 = 168;

    pub fn path() -> PathBuf {
        config_dir().join("settings.toml")
    }

    /// The file's settings; `PLANOPTICON_KEYRING=1|0` overrides the switch.
    /// A missing or unreadable file means the defaults.
    pub fn load() -> Self {
        let mut s = Self::read(&Self::path()).unwrap_or_default();
        if let Some(v) = env_value("PLANOPTICON_KEYRING") {
            s.keyring = matches!(v.as_str(), "1" | "true" | "yes" | "on");
        }
        s
    }

    fn read(path: &Path) -> Option<Self> {
        // A FIFO would block the read until something writes to it.
        if !std::fs::metadata(path).ok()?.is_file() {
            log::warn!(
                "{}: not a regular file; using default settings",
                path.display()
            );
            return None;
        }
        let text = std::fs::read_to_string(path).ok()?;
        match toml::from_str(&text) {
            Ok(s) => Some(s),
            Err(e) => {
                log::warn!("{}: {e}; using default settings", path.display());
                None
            }
        }
    }

    pub fn save(&self) -> crate::Result<()> {
        let text = toml::to_string(self).map_err(|e| crate::Error::Other(e.to_string()))?;
        crate::store::file::write_atomic(&Self::path(), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_of_an_older_version_still_read() {
        let old: Settings = toml::from_str("keyring = true\n").unwrap();
        assert_eq!(
            old,
            Settings {
                keyring: true,
                ..Settings::default()
            }
        );
        assert!(old.keeper && old.notifications);
        assert_eq!(old.identity_check_hours, 6);
        let all: Settings = toml::from_str(
            "keyring = false\nkeeper = false\nnotifications = false\nidentity_check_hours = 24\n",
        )
        .unwrap();
        assert!(!all.keeper && !all.notifications);
        assert_eq!(all.identity_check_hours, 24);
        let text = toml::to_string(&all).unwrap();
        assert_eq!(toml::from_str::<Settings>(&text).unwrap(), all);
    }

    #[test]
    fn can_sign_in_means_the_chain_has_something_to_use() {
        let mut c = AuthConfig::new("x");
        assert!(!c.can_sign_in());
        c.oauth_authorize_url = Some("https://x/auth".into());
        c.oauth_token_url = Some("https://x/token".into());
        assert!(!c.can_sign_in(), "endpoints without a client id");
        c.client_id_env = Some("PLANOPTICON_CONFIG_TEST_UNSET_ID".into());
        assert!(!c.can_sign_in());
        c.client_id = Some("id".into());
        assert!(c.can_sign_in());
        assert!(!c.supports_device());
        c.device_authorization_url = Some("https://x/device".into());
        assert!(c.supports_device());
        let mut k = AuthConfig::new("k");
        k.api_key_env = Some("PLANOPTICON_CONFIG_TEST_UNSET_KEY".into());
        assert!(!k.can_sign_in());
        let mut s2s = AuthConfig::new("s");
        s2s.server_grant = Some(ServerGrant::ClientCredentials);
        s2s.oauth_token_url = Some("https://s/token".into());
        s2s.client_id = Some("id".into());
        assert!(!s2s.can_sign_in(), "no secret");
        s2s.client_secret = Some("secret".into());
        assert!(s2s.can_sign_in());
    }

    #[test]
    fn an_account_id_means_the_server_step_for_any_service() {
        let mut c = AuthConfig::new("acme");
        c.oauth_token_url = Some("https://acme/token".into());
        c.client_id = Some("id".into());
        c.client_secret = Some("secret".into());
        assert!(c.server_credential().is_err());
        c.account_id = Some("acct".into());
        assert_eq!(
            c.server_credential(),
            Ok(ServerCredential::Grant {
                grant: ServerGrant::AccountCredentials,
                account_id: Some("acct".into())
            })
        );
        assert!(c.server_ready() && c.can_sign_in());
        c.server_grant = Some(ServerGrant::ClientCredentials);
        assert!(matches!(
            c.server_credential(),
            Ok(ServerCredential::Grant {
                grant: ServerGrant::ClientCredentials,
                ..
            })
        ));
    }

    #[test]
    fn title_case_matches_python() {
        assert_eq!(title_case("github"), "Github");
        assert_eq!(title_case("microsoft"), "Microsoft");
        assert_eq!(title_case("my-svc2x"), "My-Svc2X");
        assert_eq!(title_case("GOOGLE"), "Google");
    }

    #[test]
    fn direct_value_wins_and_empty_is_unset() {
        let mut c = AuthConfig::new("t");
        c.client_id_env = Some("PLANOPTICON_TEST_UNSET_VAR_X".into());
        assert_eq!(c.resolved_client_id(), None);
        c.client_id = Some(String::new());
        assert_eq!(c.resolved_client_id(), None);
        c.client_id = Some("direct".into());
        assert_eq!(c.resolved_client_id().as_deref(), Some("direct"));
    }

    #[test]
    fn debug_redacts_the_client_secret() {
        let mut c = AuthConfig::new("t");
        c.client_secret = Some("s3cr3t-value".into());
        let d = format!("{c:?}");
        assert!(!d.contains("s3cr3t-value"), "{d}");
        assert!(d.contains("[redacted]"));
    }

    #[test]
    fn supports_oauth_needs_both_urls() {
        let mut c = AuthConfig::new("t");
        c.oauth_token_url = Some("https://x/token".into());
        assert!(!c.supports_oauth());
        c.oauth_authorize_url = Some("https://x/auth".into());
        assert!(c.supports_oauth());
    }
}
