//! The app crate's one error type. Commands return it; the UI shows its
//! message as it is, so every message says what failed and what to do.

use serde::{Serialize, Serializer};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From the library: the message already names the service, the cause and the fix.
    #[error(transparent)]
    Library(#[from] planopticon::Error),

    #[error("{service}: a sign-in is already running; finish or cancel it first")]
    AlreadyConnecting { service: String },

    #[error("{service}: no sign-in is waiting; click Connect to start one")]
    NotConnecting { service: String },

    #[error("the bundled planopticon CLI could not be run: {0}")]
    Sidecar(String),

    #[error("the keyring switch cannot be turned on: {0}")]
    KeyringUnavailable(String),

    #[error("the browser could not be opened ({0}); open the address yourself")]
    Browser(String),

    #[error("{0}")]
    Tauri(#[from] tauri::Error),

    #[error("internal error: {0}")]
    Internal(String),
}

/// Commands send errors to the UI as their message.
impl Serialize for Error {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_its_message() {
        let e = Error::AlreadyConnecting {
            service: "acme".into(),
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!("acme: a sign-in is already running; finish or cancel it first")
        );
    }
}
