//! One error type for the library. Every message names the service or file,
//! what failed, and what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("unknown service {name:?}; available: {available}")]
    UnknownService { name: String, available: String },

    #[error("{path}: {message}", path = path.display())]
    ServicesFile { path: PathBuf, message: String },

    #[error("{service}: {message}")]
    NotConfigured { service: String, message: String },

    #[error("{path}: {message}", path = path.display())]
    TokenFile { path: PathBuf, message: String },

    #[error("{service}: could not reach {url} for the {step}: {cause}. Check the network and the URL (services.toml overrides it).")]
    Network {
        service: String,
        step: &'static str,
        url: String,
        cause: String,
    },

    #[error("{service}: no answer from {url} for the {step} within {secs} s. The provider may be down; try again later.")]
    NetworkTimeout {
        service: String,
        step: &'static str,
        url: String,
        secs: u64,
    },

    #[error("{service}: the provider refused the {step}: {}", provider_words(error, description.as_deref(), *status))]
    Provider {
        service: String,
        step: &'static str,
        status: Option<u16>,
        error: String,
        description: Option<String>,
    },

    #[error("{service}: the provider's answer to the {step} could not be used: {detail}")]
    BadReply {
        service: String,
        step: &'static str,
        detail: String,
    },

    #[error("{service}: the saved connection was rejected by the provider (invalid_grant{}): reconnect with `planopticon auth {service}`", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    ReconnectNeeded {
        service: String,
        description: Option<String>,
    },

    #[error("{service}: the sign-in was refused at the provider: {}", provider_words(error, description.as_deref(), None))]
    AuthorizationDenied {
        service: String,
        error: String,
        description: Option<String>,
    },

    #[error("{service}: no answer came back from the browser within {secs} s. Run the command again, or use `--redirect paste`.")]
    AuthorizationTimeout { service: String, secs: u64 },

    #[error("{service}: the sign-in was cancelled")]
    Cancelled { service: String },

    #[error("{service}: {message}")]
    BadCode { service: String, message: String },

    #[error("could not listen on {addr} for the browser's redirect: {cause}. Close the program using that port or use `--redirect paste`.")]
    Listener { addr: String, cause: String },

    #[error("{path}: {action} failed: {source}. Check that you own the folder and it is writable (chmod 700 ~/.planopticon).", path = path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: another planopticon process held the lock for {secs} s; try again when it has finished", path = path.display())]
    LockTimeout { path: PathBuf, secs: u64 },

    #[error("{0}")]
    Other(String),
}

fn provider_words(error: &str, description: Option<&str>, status: Option<u16>) -> String {
    let mut s = error.to_string();
    if let Some(d) = description.filter(|d| !d.is_empty()) {
        s.push_str(": ");
        s.push_str(d);
    }
    if let Some(code) = status {
        s.push_str(&format!(" (HTTP {code})"));
    }
    s
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
