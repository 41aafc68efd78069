//! What a person needs to know to set a service up at its provider: the
//! kind of app to create, where (the developer console), the redirect URI to
//! register, the extra fields the service takes (Microsoft's tenant, Zoom's
//! account id, Plane's base URL) and whether it takes an API key or a
//! personal access token. The same facts as README's "Setting up each
//! provider"; the app's Set up form shows them, the CLI can too.
//!
//! An extra field is not an `AuthConfig` key: [`expand`] turns it into the
//! keys it sets (a tenant sets Microsoft's endpoint URLs).

use serde::Serialize;

use crate::config::{AuthConfig, OOB_REDIRECT_URI};
use crate::services::DEFAULT_PLANE_BASE_URL;
use crate::setup::{check_url, Key};
use crate::{Error, Result};

/// Microsoft's sign-in host; the tenant is the first part of the path.
const MICROSOFT_LOGIN: &str = "https://login.microsoftonline.com";
/// The tenant the built-in Microsoft uses: any work, school or personal account.
pub const DEFAULT_TENANT: &str = "common";

/// A field of the Set up form that is not a key of services.toml.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Extra {
    /// Microsoft's tenant (`common`, `organizations`, `consumers`, a domain
    /// or a directory id): sets the authorization, token and device URLs.
    Tenant,
    /// Zoom's account id: server-to-server (Server-to-Server OAuth app).
    AccountId,
    /// Plane's base URL (self-hosted): sets every Plane endpoint.
    BaseUrl,
}

impl Extra {
    pub const ALL: [Extra; 3] = [Extra::Tenant, Extra::AccountId, Extra::BaseUrl];

    /// Its name in a form.
    pub fn as_str(self) -> &'static str {
        match self {
            Extra::Tenant => "tenant",
            Extra::AccountId => "account_id",
            Extra::BaseUrl => "base_url",
        }
    }

    /// The keys of services.toml it sets (see [`expand`]).
    pub fn keys(self) -> &'static [Key] {
        match self {
            Extra::Tenant => &[
                Key::OauthAuthorizeUrl,
                Key::OauthTokenUrl,
                Key::DeviceAuthorizationUrl,
            ],
            Extra::AccountId => &[Key::AccountId],
            Extra::BaseUrl => &[
                Key::OauthAuthorizeUrl,
                Key::OauthTokenUrl,
                Key::UserinfoUrl,
                Key::RevocationUrl,
                Key::WorkspaceUrl,
            ],
        }
    }

    /// The environment variable that sets it now, if one does: a value
    /// saved here would not be used (Plane's URLs come from `PLANE_BASE_URL`).
    pub fn set_by_env(self) -> Option<&'static str> {
        const PLANE: &str = "PLANE_BASE_URL";
        match self {
            Extra::BaseUrl if crate::config::env_value(PLANE).is_some() => Some(PLANE),
            _ => None,
        }
    }
}

/// An API key or personal access token the service takes instead of a sign-in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiKeyGuide {
    /// What the provider calls it ("personal access token").
    pub label: &'static str,
    /// Where to make one.
    pub url: &'static str,
    /// Whether it is a bearer token (saved as the token file, usable by the
    /// Python tool) or a key of its own (kept like a secret): not bearer
    /// when the service names a header (`api_key_header`) or a query
    /// parameter for it.
    pub bearer: bool,
    /// The query parameter the provider takes it in (Google's `?key=`);
    /// no identity endpoint takes such a key, so it is not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_param: Option<&'static str>,
}

impl ApiKeyGuide {
    fn new(config: &AuthConfig, label: &'static str, url: &'static str) -> Self {
        Self {
            label,
            url,
            bearer: config.api_key_header.is_none(),
            query_param: None,
        }
    }

    /// Taken as a query parameter, so not a bearer token.
    fn in_query(self, param: &'static str) -> Self {
        Self {
            bearer: false,
            query_param: Some(param),
            ..self
        }
    }
}

/// One service's setup facts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Guide {
    pub service: String,
    /// The kind of app to create at the provider, and where in its console.
    pub app_kind: String,
    /// The provider's developer console (`None` for a service of one's own).
    pub console_url: Option<String>,
    /// The redirect URI to register at the provider ("" when nothing needs
    /// registering, or the sign-in is pasted).
    pub redirect_uri: String,
    /// What to know about it (the port, what the provider accepts).
    pub redirect_note: String,
    /// Extra fields, in the order the form shows them.
    pub extras: Vec<Extra>,
    pub api_key: Option<ApiKeyGuide>,
}

/// The facts for `service` as `config` (its effective configuration) has it.
pub fn guide(config: &AuthConfig) -> Guide {
    let service = config.service.as_str();
    let configured = config.redirect_uri().to_string();
    let loopback = |note: &str| (configured.clone(), note.to_string());
    let key = |label, url| Some(ApiKeyGuide::new(config, label, url));
    let (app_kind, console, (redirect_uri, redirect_note), extras, api_key) = match service {
        "google" => (
            "APIs & Services > Credentials > Create credentials > OAuth client ID > Desktop app; enable the Drive and Docs APIs",
            Some("https://console.cloud.google.com/apis/credentials"),
            (
                String::new(),
                "Nothing to register: a Desktop app client accepts http://127.0.0.1 on any port.".to_string(),
            ),
            vec![],
            key("API key", "https://console.cloud.google.com/apis/credentials").map(|k| k.in_query("key")),
        ),
        "dropbox" => (
            "App Console > Create app > Scoped access; the app key is the client id, the app secret the client secret",
            Some("https://www.dropbox.com/developers/apps"),
            loopback("Exactly, port included: Dropbox matches it character for character."),
            vec![],
            key("access token", "https://www.dropbox.com/developers/apps"),
        ),
        "zoom" => (
            "Marketplace > Develop > Build App > General App (user OAuth), or Server-to-Server OAuth (then give the Account ID)",
            Some("https://marketplace.zoom.us/develop/create"),
            loopback("Zoom ignores the port of a loopback redirect URI."),
            vec![Extra::AccountId],
            None,
        ),
        "notion" => (
            "My integrations > New integration > Public",
            Some("https://www.notion.so/my-integrations"),
            loopback("Exactly, port included."),
            vec![],
            key("internal integration token", "https://www.notion.so/my-integrations"),
        ),
        "github" => (
            "Settings > Developer settings > OAuth Apps > New OAuth App (tick \"Enable Device Flow\" for sign-in with a code)",
            Some("https://github.com/settings/developers"),
            loopback("As the Authorization callback URL; the port need not match."),
            vec![],
            key("personal access token", "https://github.com/settings/tokens"),
        ),
        "microsoft" => (
            "Entra admin center > App registrations > New registration, platform \"Mobile and desktop applications\" (\"Allow public client flows\" for sign-in with a code)",
            Some("https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationsListBlade"),
            loopback("Any port is accepted for localhost; http://127.0.0.1 is refused for this platform."),
            vec![Extra::Tenant],
            None,
        ),
        "plane" => (
            "Workspace settings > Integrations / OAuth apps",
            Some("https://app.plane.so/"),
            match config.redirect_uri.as_deref() {
                Some(uri) if !uri.is_empty() && uri != OOB_REDIRECT_URI => (
                    uri.to_string(),
                    "The redirect URI registered with the Plane app.".to_string(),
                ),
                _ => (
                    String::new(),
                    "Plane's sign-in is pasted unless a redirect URI registered with the Plane app is set under Advanced.".to_string(),
                ),
            },
            vec![Extra::BaseUrl],
            key("API key", "https://app.plane.so/"),
        ),
        _ => (
            "An OAuth app (client) at your provider: a public client with PKCE, or a confidential one with a secret",
            None,
            match configured.as_str() {
                "" | OOB_REDIRECT_URI => (
                    String::new(),
                    "None set: the sign-in is pasted. Set http://127.0.0.1/callback under Advanced to let the browser come back to the app.".to_string(),
                ),
                _ => loopback("Register it at the provider as it is."),
            },
            vec![],
            key("API key or access token", ""),
        ),
    };
    Guide {
        service: service.to_string(),
        app_kind: app_kind.to_string(),
        console_url: console.map(str::to_string),
        redirect_uri,
        redirect_note,
        extras,
        api_key,
    }
}

/// Microsoft's tenant as `config`'s authorization URL names it; `None` when
/// the URL is not Microsoft's.
pub fn tenant_of(config: &AuthConfig) -> Option<String> {
    let url = config.oauth_authorize_url.as_deref()?;
    let rest = url.strip_prefix(MICROSOFT_LOGIN)?.strip_prefix('/')?;
    rest.split('/')
        .next()
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// Plane's base URL as `config`'s authorization URL has it.
pub fn base_url_of(config: &AuthConfig) -> Option<String> {
    let url = config.oauth_authorize_url.as_deref()?;
    url.strip_suffix("/auth/o/authorize-app/")
        .map(str::to_string)
}

/// The keys a form field sets: a key of services.toml sets itself; an
/// [`Extra`] sets the keys it stands for. `Some("")` and `None` (cleared)
/// of an extra put back the built-in values (the keys are unset).
pub fn expand(field: &str, value: Option<&str>) -> Result<Vec<(Key, Option<String>)>> {
    let value = value.map(str::trim).filter(|v| !v.is_empty());
    let extra = Extra::ALL.into_iter().find(|e| e.as_str() == field);
    match extra {
        Some(Extra::Tenant) => {
            let unset = || Extra::Tenant.keys().iter().map(|&k| (k, None)).collect();
            let tenant = match value {
                None | Some(DEFAULT_TENANT) => return Ok(unset()),
                Some(t) => t,
            };
            let ok = tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
            if !ok {
                return Err(Error::InvalidValue {
                    key: "tenant".into(),
                    message: format!("{tenant:?} is not a tenant (common, organizations, consumers, a domain such as contoso.onmicrosoft.com, or a directory id)"),
                });
            }
            let base = format!("{MICROSOFT_LOGIN}/{tenant}/oauth2/v2.0");
            Ok(vec![
                (Key::OauthAuthorizeUrl, Some(format!("{base}/authorize"))),
                (Key::OauthTokenUrl, Some(format!("{base}/token"))),
                (
                    Key::DeviceAuthorizationUrl,
                    Some(format!("{base}/devicecode")),
                ),
            ])
        }
        Some(Extra::BaseUrl) => {
            let keys = Extra::BaseUrl.keys();
            let base = match value.map(|v| v.trim_end_matches('/')) {
                None => return Ok(keys.iter().map(|&k| (k, None)).collect()),
                Some(b) if b == DEFAULT_PLANE_BASE_URL => {
                    return Ok(keys.iter().map(|&k| (k, None)).collect())
                }
                Some(b) => b,
            };
            check_url("base_url", base)?;
            // The built-in paths under the new base.
            Ok(keys
                .iter()
                .map(|&k| {
                    let path = match k {
                        Key::OauthAuthorizeUrl => "/auth/o/authorize-app/",
                        Key::OauthTokenUrl => "/auth/o/token/",
                        Key::UserinfoUrl => "/api/v1/users/me/",
                        Key::RevocationUrl => "/auth/o/revoke-token/",
                        _ => "/auth/o/app-installation/",
                    };
                    (k, Some(format!("{base}{path}")))
                })
                .collect())
        }
        Some(Extra::AccountId) | None => {
            let key: Key = field.parse()?;
            Ok(vec![(key, value.map(str::to_string))])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::{builtin, BUILTIN};

    #[test]
    fn every_builtin_has_a_console_and_an_app_kind() {
        for s in BUILTIN {
            let g = guide(&builtin(s).unwrap());
            assert!(
                g.console_url.as_deref().unwrap().starts_with("https://"),
                "{s}"
            );
            assert!(!g.app_kind.is_empty(), "{s}");
        }
        let g = guide(&builtin("microsoft").unwrap());
        assert_eq!(g.redirect_uri, "http://localhost/callback");
        assert_eq!(g.extras, [Extra::Tenant]);
        assert_eq!(
            guide(&builtin("dropbox").unwrap()).redirect_uri,
            "http://127.0.0.1:27431/callback"
        );
        assert!(guide(&builtin("zoom").unwrap()).api_key.is_none());
        assert!(!guide(&builtin("plane").unwrap()).api_key.unwrap().bearer);
        assert!(guide(&builtin("github").unwrap()).api_key.unwrap().bearer);
        let google = guide(&builtin("google").unwrap()).api_key.unwrap();
        assert_eq!((google.bearer, google.query_param), (false, Some("key")));
    }

    #[test]
    fn a_tenant_sets_the_endpoints_and_common_puts_them_back() {
        let set = expand("tenant", Some("contoso.onmicrosoft.com")).unwrap();
        assert_eq!(
            set[0],
            (
                Key::OauthAuthorizeUrl,
                Some("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize".into())
            )
        );
        assert!(expand("tenant", Some("common"))
            .unwrap()
            .iter()
            .all(|(_, v)| v.is_none()));
        assert!(expand("tenant", Some("a/b")).is_err());
        let mut cfg = builtin("microsoft").unwrap();
        assert_eq!(tenant_of(&cfg).as_deref(), Some("common"));
        cfg.oauth_authorize_url = set[0].1.clone();
        assert_eq!(tenant_of(&cfg).as_deref(), Some("contoso.onmicrosoft.com"));
    }

    #[test]
    fn a_plane_base_url_sets_every_endpoint() {
        let set = expand("base_url", Some("https://plane.example/")).unwrap();
        assert_eq!(set.len(), 5);
        assert_eq!(
            set[1].1.as_deref(),
            Some("https://plane.example/auth/o/token/")
        );
        assert!(expand("base_url", Some("http://plane.example")).is_err());
        assert_eq!(
            base_url_of(&builtin("plane").unwrap()).as_deref(),
            Some(DEFAULT_PLANE_BASE_URL)
        );
        assert_eq!(
            expand("account_id", Some(" abc ")).unwrap(),
            [(Key::AccountId, Some("abc".into()))]
        );
        assert!(expand("no_such_key", Some("x")).is_err());
    }
}
