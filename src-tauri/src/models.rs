//! What the app sends to the UI: plain data, built from the library's
//! `ServiceStatus` and `AuthResult` by pure functions (tested without a display).

use planopticon::manager::Outcome;
use planopticon::services::BUILTIN;
use planopticon::{AuthResult, Error as LibError, ServiceStatus, State};
use serde::Serialize;

/// Everything the window shows, sent whole on every change (event `snapshot`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Snapshot {
    pub cards: Vec<Card>,
    /// `services.toml` could not be used: its message (the built-ins are still shown).
    pub services_error: Option<String>,
    pub services_file: String,
}

/// One service's card.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Card {
    pub service: String,
    pub display_name: String,
    pub builtin: bool,
    /// Something is configured that Connect can use (else the detail says what to set).
    pub configured: bool,
    /// Device sign-in (a code entered on another device) is offered.
    pub device: bool,
    pub state: State,
    pub state_label: &'static str,
    /// `saved_token`, `client_credentials`, `oauth_pkce`, `api_key`.
    pub method: Option<String>,
    pub method_label: Option<String>,
    pub expires_at: Option<f64>,
    pub account: Option<String>,
    pub token_path: String,
    /// The setup hint (nothing configured) or what is wrong with the token file.
    pub detail: Option<String>,
    /// A token file is there to delete (Disconnect is offered).
    pub can_disconnect: bool,
    /// A sign-in is running for this service.
    pub sign_in: Option<SignIn>,
    /// The outcome of the last action, until the next one or until dismissed.
    pub notice: Option<Notice>,
}

/// A running sign-in, as far as the UI needs to know.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SignIn {
    /// The provider's authorization URL (or device verification page), once
    /// the library has built it.
    pub url: Option<String>,
    /// `loopback` (the browser comes back by itself), `paste`, or `device`.
    pub mode: Option<&'static str>,
    /// The code to enter at `url`, in a device sign-in.
    pub user_code: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Info,
    Error,
}

/// A message on a card.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notice {
    pub kind: NoticeKind,
    pub text: String,
    /// What each step of the chain did, for "What was tried".
    pub details: Vec<String>,
}

impl Notice {
    pub fn info(text: impl Into<String>) -> Self {
        Self {
            kind: NoticeKind::Info,
            text: text.into(),
            details: Vec::new(),
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Self {
            kind: NoticeKind::Error,
            text: text.into(),
            details: Vec::new(),
        }
    }
}

pub fn state_label(state: State) -> &'static str {
    match state {
        State::NotConnected => "Not connected",
        State::Connected => "Connected",
        State::ExpiredRefreshable => "Expired, refreshable",
        State::NeedsReconnect => "Needs reconnecting",
        State::Error => "Error",
    }
}

pub fn method_label(method: &str) -> String {
    match method {
        "saved_token" => "Saved token".into(),
        "client_credentials" => "Server-to-server".into(),
        "oauth_pkce" => "OAuth (browser sign-in)".into(),
        "api_key" => "API key".into(),
        "device_code" => "Device sign-in".into(),
        other => other.replace('_', " "),
    }
}

/// Whether the service has a token file that Disconnect would delete (an API
/// key from the environment has none).
pub fn has_saved_token(s: &ServiceStatus) -> bool {
    match s.state {
        State::NotConnected => false,
        State::Connected | State::ExpiredRefreshable | State::NeedsReconnect => {
            s.method.as_deref() != Some("api_key")
        }
        State::Error => s.token_path.exists(),
    }
}

impl Card {
    pub fn new(s: &ServiceStatus) -> Self {
        Self {
            service: s.service.clone(),
            display_name: s.display_name.clone(),
            builtin: BUILTIN.contains(&s.service.as_str()),
            configured: false,
            device: false,
            state: s.state,
            state_label: state_label(s.state),
            method: s.method.clone(),
            method_label: s.method.as_deref().map(method_label),
            expires_at: s.expires_at,
            account: s.account.as_ref().and_then(planopticon::account::describe),
            token_path: s.token_path.display().to_string(),
            detail: s.detail.as_deref().map(capitalize),
            can_disconnect: has_saved_token(s),
            sign_in: None,
            notice: None,
        }
    }
}

/// Built-ins first in their usual order, then the user's own services by name.
pub fn card_order(a: &Card, b: &Card) -> std::cmp::Ordering {
    let rank = |c: &Card| {
        BUILTIN
            .iter()
            .position(|s| *s == c.service)
            .unwrap_or(BUILTIN.len())
    };
    rank(a)
        .cmp(&rank(b))
        .then_with(|| a.service.cmp(&b.service))
}

/// A library message for a card: without the leading "service: " (the card
/// names it already), in the app's words where the library speaks to a
/// terminal user, first letter upper-cased.
pub fn card_message(service: &str, e: &LibError) -> String {
    let text = match e {
        LibError::AuthorizationTimeout { secs, .. } => format!(
            "no answer came back from the browser within {secs} s; click Connect to try again, or use \"Paste code instead\""
        ),
        LibError::Listener { cause, .. } => format!(
            "could not listen on 127.0.0.1 for the browser's answer ({cause}); use \"Paste code instead\""
        ),
        LibError::ReconnectNeeded { description, .. } => format!(
            "the provider no longer accepts the saved connection{}; click Connect to sign in again",
            description
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ),
        other => other.to_string(),
    };
    let prefix = format!("{service}: ");
    let text = text.strip_prefix(&prefix).unwrap_or(&text);
    capitalize(text)
}

pub fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(f) => f.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// What the card says after a Connect: nothing on a plain success (the card
/// shows the connection), the library's notices, a cancellation, or the
/// error that stopped the chain in plain words with each step's outcome.
pub fn connect_notice(service: &str, result: &AuthResult) -> Option<Notice> {
    let details: Vec<String> = result.attempts.iter().map(|a| a.to_string()).collect();
    if result.success {
        if result.notices.is_empty() {
            return None;
        }
        return Some(Notice {
            kind: NoticeKind::Info,
            text: result
                .notices
                .iter()
                .map(|n| capitalize(n))
                .collect::<Vec<_>>()
                .join(" "),
            details: Vec::new(),
        });
    }
    let failed = result.attempts.iter().find_map(|a| match &a.outcome {
        Outcome::Failed(e) => Some(e),
        _ => None,
    });
    if let Some(LibError::Cancelled { .. }) = failed {
        return Some(Notice::info("Sign-in cancelled."));
    }
    let text = match failed {
        Some(e) => card_message(service, e),
        None => capitalize(result.error.as_deref().unwrap_or("the sign-in failed")),
    };
    let mut notice = Notice::error(text);
    notice.details = details;
    notice
        .details
        .extend(result.notices.iter().map(|n| capitalize(n)));
    Some(notice)
}

/// The Settings view.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SettingsView {
    /// Mirror tokens into the OS keyring (`~/.planopticon/settings.toml`).
    pub keyring: bool,
    /// `PLANOPTICON_KEYRING` is set and decides, whatever the file says.
    pub keyring_forced_by_env: bool,
    pub settings_file: String,
}

/// Whether the OS keyring answered (`probe`, with its 3 s timeout).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyringProbe {
    pub available: bool,
    /// Why not, in the keyring library's words.
    pub reason: Option<String>,
}

/// What a bundled-CLI run printed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CommandOutput {
    pub command: String,
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// The About view.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnostics {
    pub app_version: &'static str,
    pub config_dir: String,
    pub version: CommandOutput,
    pub status: CommandOutput,
}

#[cfg(test)]
mod tests {
    use super::*;
    use planopticon::manager::{Attempt, Method};
    use std::path::PathBuf;

    fn status(state: State, method: Option<&str>) -> ServiceStatus {
        ServiceStatus {
            service: "acme".into(),
            display_name: "Acme".into(),
            state,
            method: method.map(Into::into),
            expires_at: Some(10.0),
            token_path: PathBuf::from("/nonexistent/acme_token.json"),
            account: None,
            detail: None,
        }
    }

    #[test]
    fn card_labels_follow_the_state_and_method() {
        let c = Card::new(&status(State::Connected, Some("oauth_pkce")));
        assert_eq!(c.state_label, "Connected");
        assert_eq!(c.method_label.as_deref(), Some("OAuth (browser sign-in)"));
        assert!(c.can_disconnect);
        assert!(!c.builtin);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["state"], "connected");
        assert_eq!(v["method"], "oauth_pkce");

        let c = Card::new(&status(State::ExpiredRefreshable, Some("saved_token")));
        assert_eq!(c.state_label, "Expired, refreshable");
        assert!(c.can_disconnect);
    }

    #[test]
    fn an_api_key_or_nothing_has_nothing_to_disconnect() {
        assert!(!Card::new(&status(State::Connected, Some("api_key"))).can_disconnect);
        assert!(!Card::new(&status(State::NotConnected, None)).can_disconnect);
        // A broken file that is not there (e.g. unreadable folder) either.
        assert!(!Card::new(&status(State::Error, None)).can_disconnect);
        assert!(Card::new(&status(State::NeedsReconnect, Some("oauth_pkce"))).can_disconnect);
    }

    #[test]
    fn a_broken_token_file_can_be_disconnected() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = status(State::Error, None);
        s.token_path = dir.path().join("acme_token.json");
        std::fs::write(&s.token_path, "not json").unwrap();
        assert!(Card::new(&s).can_disconnect);
    }

    #[test]
    fn builtins_come_first_in_their_order() {
        let mut cards: Vec<Card> = ["zeta", "github", "acme", "google"]
            .iter()
            .map(|s| {
                let mut st = status(State::NotConnected, None);
                st.service = s.to_string();
                Card::new(&st)
            })
            .collect();
        cards.sort_by(card_order);
        let names: Vec<&str> = cards.iter().map(|c| c.service.as_str()).collect();
        assert_eq!(names, ["google", "github", "acme", "zeta"]);
        assert!(cards[0].builtin && !cards[2].builtin);
    }

    fn failed(e: LibError) -> AuthResult {
        AuthResult {
            attempts: vec![
                Attempt {
                    step: Method::SavedToken,
                    outcome: Outcome::Skipped("no saved token".into()),
                },
                Attempt {
                    step: Method::OauthPkce,
                    outcome: Outcome::Failed(e),
                },
            ],
            error: Some("No auth method available for acme.".into()),
            ..AuthResult::default()
        }
    }

    #[test]
    fn a_refusal_shows_the_providers_words() {
        let n = connect_notice(
            "acme",
            &failed(LibError::AuthorizationDenied {
                service: "acme".into(),
                error: "access_denied".into(),
                description: Some("End-User aborted interaction".into()),
            }),
        )
        .unwrap();
        assert_eq!(n.kind, NoticeKind::Error);
        assert_eq!(
            n.text,
            "The sign-in was refused at the provider: access_denied: End-User aborted interaction"
        );
        assert_eq!(n.details.len(), 2);
        assert!(
            n.details[0].starts_with("saved token: skipped"),
            "{:?}",
            n.details
        );
    }

    #[test]
    fn cancelling_is_not_an_error() {
        let n = connect_notice(
            "acme",
            &failed(LibError::Cancelled {
                service: "acme".into(),
            }),
        )
        .unwrap();
        assert_eq!(n, Notice::info("Sign-in cancelled."));
    }

    #[test]
    fn a_timeout_speaks_of_the_app_not_the_cli() {
        let n = connect_notice(
            "acme",
            &failed(LibError::AuthorizationTimeout {
                service: "acme".into(),
                secs: 300,
            }),
        )
        .unwrap();
        assert!(n
            .text
            .starts_with("No answer came back from the browser within 300 s"));
        assert!(!n.text.contains("--redirect"), "{}", n.text);
    }

    #[test]
    fn nothing_configured_gives_the_chains_own_hint() {
        let r = AuthResult {
            error: Some("No auth method available for github. (Set GITHUB_CLIENT_ID for OAuth and GITHUB_CLIENT_SECRET or set GITHUB_TOKEN for API key access)".into()),
            ..AuthResult::default()
        };
        let n = connect_notice("github", &r).unwrap();
        assert_eq!(n.kind, NoticeKind::Error);
        assert!(n.text.contains("GITHUB_CLIENT_ID"));
    }

    #[test]
    fn success_is_silent_unless_the_library_has_news() {
        let mut r = AuthResult {
            success: true,
            method: Some(Method::OauthPkce),
            ..AuthResult::default()
        };
        assert_eq!(connect_notice("acme", &r), None);
        r.notices.push(
            "the OS keyring is not available (x); tokens are kept in the token files only".into(),
        );
        let n = connect_notice("acme", &r).unwrap();
        assert_eq!(n.kind, NoticeKind::Info);
        assert!(n.text.starts_with("The OS keyring is not available"));
    }
}
