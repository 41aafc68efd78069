//! One error type for the library. Every message says what failed, the
//! cause and what to do about it, in words that fit any front end: no
//! command, flag or button is named here. A front end adds the service's
//! name (`Error::service`) and words the structured [`Hint`] its own way.

use std::path::PathBuf;

use serde::Serialize;

use crate::untrusted::{displayable, escape, escape_lines, Untrusted};

/// What a person can do about a problem. The engine says which; each front
/// end (the CLI, the app) puts it in its own words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "hint")]
#[non_exhaustive]
pub enum Hint {
    /// Sign in (again) in a browser: a client is configured for it.
    SignIn,
    /// The browser cannot come back here: paste the code instead.
    UsePaste,
    /// Pasting needs someone at a terminal: let the browser come back instead.
    UseLoopback,
    /// Set these to make a step work: environment variables, or keys of
    /// the service's table in services.toml where it has no variable.
    Configure {
        step: crate::method::Step,
        vars: Vec<String>,
    },
    /// Check the client id and secret registered at the provider.
    CheckClient,
    /// Register this redirect URI at the provider, for the client used (the
    /// provider refused the one sent: `redirect_uri_mismatch`).
    RegisterRedirect { uri: String },
}

/// Which client a token request was sent as, to explain a refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentClient {
    pub client_id: String,
    pub secret: SecretSource,
}

/// Where a client secret came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// No secret was sent (a public client).
    None,
    /// An environment variable, by name.
    Env(String),
    /// The service's table of services.toml.
    ServicesFile,
    /// The saved token file (the client it was issued to).
    TokenFile,
    /// The OS keyring (`services.toml` says `client_secret_in_keyring = true`).
    Keyring,
}

impl std::fmt::Display for SentClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "client id {:?}", self.client_id)?;
        match &self.secret {
            SecretSource::None => f.write_str(" and no secret"),
            SecretSource::Env(var) => write!(f, " with the secret from {var}"),
            SecretSource::ServicesFile => f.write_str(" with the secret from services.toml"),
            SecretSource::TokenFile => f.write_str(" with the secret saved in the token file"),
            SecretSource::Keyring => f.write_str(" with the secret from the OS keyring"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("unknown service {name:?}; available: {available}")]
    UnknownService { name: String, available: String },

    #[error("{path}: {}", escape_lines(message), path = path.display())]
    ServicesFile { path: PathBuf, message: String },

    #[error("{}", escape_lines(message))]
    NotConfigured { service: String, message: String },

    #[error("{path}: {}", escape_lines(message), path = path.display())]
    TokenFile { path: PathBuf, message: String },

    #[error("could not reach {} for the {step}: {}. Check the network and the URL (services.toml overrides it).", Untrusted(url), escape(cause))]
    Network {
        service: String,
        step: &'static str,
        url: String,
        cause: String,
    },

    #[error("no answer from {} for the {step} within {secs} s. The provider may be down; try again later.", Untrusted(url))]
    NetworkTimeout {
        service: String,
        step: &'static str,
        url: String,
        secs: u64,
    },

    #[error("the provider refused the {step}: {}{}", provider_words(error, description.as_deref(), *status), client.as_ref().map(|c| format!(". It was sent {c}; check them at the provider")).unwrap_or_default())]
    Provider {
        service: String,
        step: &'static str,
        status: Option<u16>,
        error: String,
        description: Option<String>,
        /// Set when the provider refused the client itself (`invalid_client`).
        client: Option<Box<SentClient>>,
        /// How long the provider asked us to wait (`Retry-After`, seconds).
        retry_after: Option<u32>,
    },

    #[error(
        "the provider's answer to the {step} could not be used: {}",
        escape(detail)
    )]
    BadReply {
        service: String,
        step: &'static str,
        /// The HTTP status, when it was not 200.
        status: Option<u16>,
        detail: String,
        /// How long the provider asked us to wait (`Retry-After`, seconds).
        retry_after: Option<u32>,
    },

    #[error("the provider no longer accepts the saved connection (invalid_grant{}); sign in again", description.as_deref().map(|d| format!(": {}", Untrusted(d))).unwrap_or_default())]
    ReconnectNeeded {
        service: String,
        description: Option<String>,
    },

    #[error("the sign-in was refused at the provider: {}", provider_words(error, description.as_deref(), None))]
    AuthorizationDenied {
        service: String,
        error: String,
        description: Option<String>,
    },

    #[error("{0}")]
    RedirectRefused(Box<RedirectRefusal>),

    #[error(
        "could not open a browser ({}), and nobody is at a terminal to paste the address instead",
        escape(cause)
    )]
    BrowserFailed { service: String, cause: String },

    #[error("no answer came back from the browser within {secs} s")]
    AuthorizationTimeout { service: String, secs: u64 },

    #[error("the sign-in was cancelled")]
    Cancelled { service: String },

    #[error("{}", escape_lines(message))]
    BadCode { service: String, message: String },

    #[error(
        "could not listen on {addr} for the browser's redirect: {}",
        escape(cause)
    )]
    Listener { addr: String, cause: String },

    #[error("{path}: {action} failed: {source}. Check that you own the folder and it is writable ({hint}).", path = path.display(), hint = crate::platform::own_folder_hint(&crate::config::config_dir()))]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// Another program kept a file open (Windows' sharing rules) for the
    /// whole time a replace or removal was retried.
    #[error("{path}: {action} failed: {who} has it open and does not let it be replaced. Close the program that has it open and try again", path = path.display(), who = holder.as_deref().unwrap_or("another program"))]
    FileInUse {
        path: PathBuf,
        action: &'static str,
        /// The program, when the OS can tell (`name (pid N)`).
        holder: Option<String>,
    },

    #[error("{path}: another planopticon process held the lock for {secs} s; try again when it has finished", path = path.display())]
    LockTimeout { path: PathBuf, secs: u64 },

    /// A value refused by the setup (services.toml editing) before anything was written.
    #[error("{}: {}; nothing was saved", Untrusted(key), escape_lines(message))]
    InvalidValue { key: String, message: String },

    /// A key that is not a setting of a service.
    #[error("unknown key {key:?}; the keys are: {known}")]
    UnknownKey { key: String, known: String },

    /// The OS keyring could not keep or read a secret.
    #[error("the OS keyring could not {action} the {what}: {}", escape(cause))]
    Keyring {
        action: &'static str,
        what: String,
        cause: String,
    },

    /// An account name refused before anything was written.
    #[error("{name:?} cannot be an account name: {reason}. Use letters, digits and . _ - @ + (1 to 64 of them, not starting with . or -)")]
    AccountName { name: String, reason: &'static str },

    /// No saved account of the service has this name.
    #[error("{service} has no account named {name:?}; its accounts: {known}. Sign in as it first")]
    UnknownAccount {
        service: String,
        name: String,
        known: String,
    },

    #[error("{}", escape_lines(.0))]
    Other(String),
}

impl Error {
    /// The service the error is about, when it is about one.
    pub fn service(&self) -> Option<&str> {
        match self {
            Self::NotConfigured { service, .. }
            | Self::Network { service, .. }
            | Self::NetworkTimeout { service, .. }
            | Self::Provider { service, .. }
            | Self::BadReply { service, .. }
            | Self::ReconnectNeeded { service, .. }
            | Self::AuthorizationDenied { service, .. }
            | Self::BrowserFailed { service, .. }
            | Self::AuthorizationTimeout { service, .. }
            | Self::Cancelled { service }
            | Self::BadCode { service, .. }
            | Self::UnknownAccount { service, .. } => Some(service),
            Self::RedirectRefused(r) => Some(&r.service),
            _ => None,
        }
    }

    /// What a person can do about it, when there is one clear thing.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Self::ReconnectNeeded { .. } => Some(Hint::SignIn),
            Self::AuthorizationTimeout { .. } | Self::Listener { .. } => Some(Hint::UsePaste),
            Self::Provider {
                client: Some(_), ..
            } => Some(Hint::CheckClient),
            Self::RedirectRefused(r) => Some(Hint::RegisterRedirect {
                uri: r.register.clone(),
            }),
            _ => None,
        }
    }
}

/// The provider refused the redirect URI (`redirect_uri_mismatch`,
/// `invalid_redirect_uri`), on the authorization callback or at the token
/// endpoint: the URI sent, and what to register.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the provider refused the redirect URI {} in the {step} ({}); {}", sent.as_deref().map(|u| format!("{u:?} that was sent")).unwrap_or_else(|| "(none was sent)".into()), provider_words(error, description.as_deref(), None), match register.as_str() { "" => "register a redirect URI at the provider and set it as the service's redirect_uri".to_string(), uri => format!("register {uri} at the provider for this client") })]
pub struct RedirectRefusal {
    pub service: String,
    /// `authorization request`, or the token step's name.
    pub step: &'static str,
    pub error: String,
    pub description: Option<String>,
    /// The redirect URI sent, byte for byte (`None`: none was sent).
    pub sent: Option<String>,
    /// What to register at the provider: the configured URI (a loopback one
    /// without the port the OS picked, where any port is accepted).
    pub register: String,
}

/// The provider's error codes for a redirect URI it does not accept.
pub(crate) fn is_redirect_refusal(error: &str) -> bool {
    matches!(error, "redirect_uri_mismatch" | "invalid_redirect_uri")
}

impl Error {
    /// A refusal of the redirect URI, told with the URI sent and what to
    /// register; any other error as it is.
    pub(crate) fn with_redirect(self, sent: Option<&str>, register: &str) -> Self {
        match self {
            Self::AuthorizationDenied {
                service,
                error,
                description,
            } if is_redirect_refusal(&error) => Self::RedirectRefused(Box::new(RedirectRefusal {
                service,
                step: "authorization request",
                error,
                description,
                sent: sent.map(str::to_string),
                register: register.to_string(),
            })),
            Self::Provider {
                service,
                step,
                error,
                description,
                ..
            } if is_redirect_refusal(&error) => Self::RedirectRefused(Box::new(RedirectRefusal {
                service,
                step,
                error,
                description,
                sent: sent.map(str::to_string),
                register: register.to_string(),
            })),
            other => other,
        }
    }
}

/// Whether trying the same request again later may work, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// The network or the provider failed for now (no connection, a
    /// timeout, a 5xx): back off and try again.
    Later,
    /// The provider asked to wait this many seconds (a 429's `Retry-After`,
    /// or a 503's).
    After(u32),
    /// Trying again changes nothing: a person or a configuration must act.
    No,
}

impl Error {
    /// Whether a failed request is worth repeating, for a caller that
    /// retries on its own (the keeper).
    pub fn retry(&self) -> Retry {
        match self {
            Self::Network { .. }
            | Self::NetworkTimeout { .. }
            | Self::LockTimeout { .. }
            | Self::FileInUse { .. } => Retry::Later,
            Self::Provider {
                retry_after: Some(secs),
                ..
            }
            | Self::BadReply {
                retry_after: Some(secs),
                ..
            } => Retry::After(*secs),
            Self::Provider {
                status: Some(s), ..
            }
            | Self::BadReply {
                status: Some(s), ..
            } if *s == 429 || *s == 408 || *s >= 500 => Retry::Later,
            Self::Provider { error, .. }
                if error == "temporarily_unavailable" || error == "server_error" =>
            {
                Retry::Later
            }
            _ => Retry::No,
        }
    }
}

/// The provider's `error` and `error_description`, made displayable: they
/// reach a terminal, a card and a notification from here.
fn provider_words(error: &str, description: Option<&str>, status: Option<u16>) -> String {
    let mut s = Untrusted(error).to_string();
    if let Some(d) = description.filter(|d| !d.is_empty()) {
        s.push_str(": ");
        s.push_str(&displayable(d));
    }
    if let Some(code) = status {
        s.push_str(&format!(" (HTTP {code})"));
    }
    s
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(error: &str) -> Error {
        Error::Provider {
            service: "dropbox".into(),
            step: "authorization code exchange",
            status: Some(400),
            error: error.into(),
            description: None,
            client: None,
            retry_after: None,
        }
    }

    #[test]
    fn the_providers_words_are_shown_escaped_and_kept_as_they_came() {
        let hostile = "\u{1b}]0;t\u{7}\u{9b}2J\u{202e}";
        let mut e = provider(hostile);
        if let Error::Provider { description, .. } = &mut e {
            *description = Some(hostile.into());
        }
        assert_eq!(
            e.to_string(),
            "the provider refused the authorization code exchange: \\x1b]0;t\\x07\\x9b2J\\u{202e}: \\x1b]0;t\\x07\\x9b2J\\u{202e} (HTTP 400)"
        );
        assert!(matches!(e, Error::Provider { error, .. } if error == hostile));
        let gone = Error::ReconnectNeeded {
            service: "s".into(),
            description: Some(format!("{hostile}{}", "x".repeat(400))),
        };
        let shown = gone.to_string();
        assert!(!shown.chars().any(crate::untrusted::is_unsafe), "{shown}");
        assert!(shown.contains("x…); sign in again"), "{shown}");
    }

    #[test]
    fn a_refused_redirect_names_what_was_sent_and_what_to_register() {
        let e = provider("invalid_redirect_uri").with_redirect(None, "");
        assert_eq!(
            e.to_string(),
            "the provider refused the redirect URI (none was sent) in the authorization code exchange (invalid_redirect_uri); register a redirect URI at the provider and set it as the service's redirect_uri"
        );
        assert_eq!(e.hint(), Some(Hint::RegisterRedirect { uri: "".into() }));
        let e = provider("redirect_uri_mismatch").with_redirect(
            Some("http://127.0.0.1:27431/callback"),
            "http://127.0.0.1:27431/callback",
        );
        assert!(e
            .to_string()
            .contains("\"http://127.0.0.1:27431/callback\" that was sent"));
        assert_eq!(e.service(), Some("dropbox"));
        // Any other refusal is left as it is.
        assert!(matches!(
            provider("invalid_grant").with_redirect(Some("x"), "x"),
            Error::Provider { .. }
        ));
    }
}
