//! What the app sends to the UI: plain data, built from the library's
//! `ServiceStatus` and `AuthResult` by pure functions (tested without a
//! display). This is where the engine's facts and hints become the app's
//! words.

use planopticon::chain::Outcome;
use planopticon::services::BUILTIN;
use planopticon::{
    displayable, AuthResult, Error as LibError, Hint, ServiceStatus, SignIn as LibSignIn, State,
    Step,
};
use serde::Serialize;

/// Everything the window shows, sent whole on every change (event `snapshot`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Snapshot {
    pub cards: Vec<Card>,
    /// What is wrong with `services.toml`, for a banner (every service its
    /// mistakes do not touch still works).
    pub services_error: Option<String>,
    pub services_file: String,
    /// Tokens are mirrored into the OS keyring (Disconnect says so).
    pub keyring: bool,
}

/// One service's card.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Card {
    pub service: String,
    pub display_name: String,
    pub builtin: bool,
    /// Something is configured that Connect can use (else the detail says what to set).
    pub configured: bool,
    /// Nothing to sign in with yet: the card offers Set up instead of Connect.
    pub offers_setup: bool,
    /// A service of the user's own, from services.toml: Edit and Remove.
    pub removable: bool,
    /// Device sign-in (a code entered on another device) is offered.
    pub device: bool,
    pub state: State,
    pub state_label: &'static str,
    /// The token file's `obtained_by` as written (`oauth_pkce`, ..., or another tool's word).
    pub method: Option<String>,
    pub method_label: Option<String>,
    /// The connection is an API key from the environment, not a saved token.
    pub method_from_env: bool,
    pub expires_at: Option<f64>,
    /// The connection renews itself (a refresh token, or server-to-server);
    /// false: it ends at `expires_at` and needs a person then.
    pub renewable: bool,
    pub account: Option<String>,
    pub token_path: String,
    /// What is wrong and what to do, in the app's words.
    pub detail: Option<String>,
    /// A token file is there to delete (Disconnect is offered).
    pub can_disconnect: bool,
    /// The way of signing in that suits where the app runs (the window
    /// offers it first).
    pub suggested: Option<planopticon::chain::Way>,
    /// A sign-in is running for this service.
    pub sign_in: Option<SignIn>,
    /// The outcome of the last action, until the next one or until dismissed.
    pub notice: Option<Notice>,
    /// Every saved account of the service, the active one first (empty
    /// while it has one account at most: the card shows no switcher).
    pub accounts: Vec<AccountItem>,
}

/// One saved account of a service, for the card's switcher and the tray.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccountItem {
    /// Its name here (`planopticon switch SERVICE NAME`).
    pub account: String,
    /// The documented token file holds it.
    pub active: bool,
    /// Who the provider says it is, when known.
    pub identity: Option<String>,
    pub state: State,
    pub state_label: &'static str,
    pub expires_at: Option<f64>,
}

impl AccountItem {
    pub fn new(a: &planopticon::AccountInfo) -> Self {
        Self {
            account: a.account.clone(),
            active: a.active,
            identity: a
                .identity
                .as_deref()
                .map(|i| planopticon::displayable(i).into_owned()),
            state: a.state,
            state_label: state_label(a.state),
            expires_at: a.expires_at,
        }
    }
}

/// The accounts a card lists: all of them when there are two or more,
/// else none (one account is the card itself).
pub fn account_items(accounts: Option<&Vec<planopticon::AccountInfo>>) -> Vec<AccountItem> {
    match accounts {
        Some(list) if list.len() > 1 => list.iter().map(AccountItem::new).collect(),
        _ => Vec::new(),
    }
}

/// How a running sign-in gets its code back, for the card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInMode {
    /// The browser comes back to the app by itself.
    Loopback,
    /// The person pastes the code or the address.
    Paste,
    /// The person enters a code on another device.
    Device,
}

impl From<LibSignIn> for SignInMode {
    fn from(s: LibSignIn) -> Self {
        match s {
            LibSignIn::Browser(planopticon::RedirectMode::Loopback) => Self::Loopback,
            LibSignIn::Browser(planopticon::RedirectMode::Paste) => Self::Paste,
            LibSignIn::Device => Self::Device,
        }
    }
}

/// A running sign-in, as far as the UI needs to know.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SignIn {
    /// The provider's authorization URL (or device verification page), once
    /// the library has built it.
    pub url: Option<String>,
    pub mode: Option<SignInMode>,
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

pub fn method_label(method: &planopticon::ObtainedBy) -> String {
    use planopticon::Method;
    match method.method() {
        Some(Method::SavedToken) => "Saved token".into(),
        Some(Method::ClientCredentials) => "Server-to-server".into(),
        Some(Method::OauthPkce) => "OAuth (browser sign-in)".into(),
        Some(Method::ApiKey) => "API key from the environment".into(),
        Some(Method::DeviceCode) => "Device sign-in".into(),
        None => "Other".into(),
    }
}

/// A hint in the app's words.
pub fn hint_words(hint: &Hint) -> String {
    match hint {
        Hint::SignIn => "Click Connect to sign in.".into(),
        Hint::UsePaste => "Use \"Paste code instead\".".into(),
        Hint::UseLoopback => "Connect again and let the browser come back to the app.".into(),
        Hint::Configure { .. } => configure_words(std::slice::from_ref(hint)),
        Hint::CheckClient => "Check the client id and secret at the provider.".into(),
        Hint::RegisterRedirect { uri } if !uri.is_empty() => {
            format!("Register {uri} as a redirect URI of the app at the provider.")
        }
        Hint::RegisterRedirect { .. } => "Register this app's redirect URI at the provider.".into(),
        _ => String::new(),
    }
}

/// What a card says of a service that lacks what a sign-in needs: one
/// short line; the variables are in its Set up form and the README.
pub const NEEDS_SETUP: &str = "Needs set-up.";

/// The card's detail: the fact, then what to do.
fn detail(s: &ServiceStatus) -> Option<String> {
    let (configure, other): (Vec<Hint>, Vec<Hint>) = s
        .hints
        .iter()
        .cloned()
        .partition(|h| matches!(h, Hint::Configure { .. }));
    let words: Vec<String> = s
        .detail
        .iter()
        .map(|d| format!("{}.", capitalize(&displayable(d)).trim_end_matches('.')))
        .chain(other.iter().map(hint_words))
        .chain((!configure.is_empty()).then(|| NEEDS_SETUP.to_string()))
        .filter(|w| !w.is_empty())
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// What to set for each step, in one sentence: "Use Set up, or set A and B
/// to sign in, or C for an API key (in the environment the app starts with, or in
/// services.toml)."
fn configure_words(hints: &[Hint]) -> String {
    let ways: Vec<String> = hints
        .iter()
        .filter_map(|h| match h {
            Hint::Configure { step, vars } => Some(format!(
                "{} {}",
                vars.join(" and "),
                match step {
                    Step::Browser => "to sign in",
                    Step::Device => "to sign in with a code",
                    Step::Server => "for server-to-server",
                    Step::ApiKey => "for an API key",
                    Step::Saved => "for a saved token",
                }
            )),
            _ => None,
        })
        .collect();
    format!(
        "Use Set up, or set {} (in the environment the app starts with, or in services.toml).",
        ways.join(", or ")
    )
}

/// Whether the service has a token file that Disconnect would delete (an API
/// key from the environment has none).
pub fn has_saved_token(s: &ServiceStatus) -> bool {
    match s.state {
        State::NotConnected => false,
        State::Connected | State::ExpiredRefreshable | State::NeedsReconnect => {
            !s.is_api_key() || saved_api_key(s)
        }
        State::Error => s.token_path.exists(),
    }
}

/// A connection by an API key or personal token saved as the token file
/// (the Set up form, `auth --with-token`), not one from the environment.
fn saved_api_key(s: &ServiceStatus) -> bool {
    s.is_api_key() && s.token_path.is_file()
}

impl Card {
    pub fn new(s: &ServiceStatus) -> Self {
        let saved_key = saved_api_key(s);
        Self {
            service: s.service.clone(),
            display_name: displayable(&s.display_name).into_owned(),
            builtin: BUILTIN.contains(&s.service.as_str()),
            configured: s.can_sign_in,
            offers_setup: offers_setup(s),
            removable: !BUILTIN.contains(&s.service.as_str()),
            device: s.offers_device,
            state: s.state,
            state_label: state_label(s.state),
            method: s.method.as_ref().map(|m| m.as_str().to_string()),
            method_label: match saved_key {
                true => Some("API key or personal token (saved)".into()),
                false => s.method.as_ref().map(method_label),
            },
            method_from_env: s.is_api_key() && !saved_key,
            expires_at: s.expires_at,
            renewable: s.renewable,
            account: s.account.as_ref().and_then(planopticon::account::describe),
            token_path: s.token_path.display().to_string(),
            detail: detail(s),
            can_disconnect: has_saved_token(s),
            suggested: None,
            sign_in: None,
            notice: None,
            accounts: Vec::new(),
        }
    }
}

/// Whether the card offers Set up instead of Connect: nothing is
/// configured that could sign in, and nothing is connected.
pub fn offers_setup(s: &ServiceStatus) -> bool {
    !s.can_sign_in && matches!(s.state, State::NotConnected | State::Error)
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

/// A library error for a card: its message, then what to do.
pub fn card_message(e: &LibError) -> String {
    let text = format!("{}.", capitalize(&e.to_string()).trim_end_matches('.'));
    match e.hint() {
        Some(h) => format!("{text} {}", hint_words(&h)),
        None => text,
    }
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
pub fn connect_notice(result: &AuthResult) -> Option<Notice> {
    let details: Vec<String> = result.attempts.iter().map(|a| a.to_string()).collect();
    let notices = || result.notices.iter().map(|n| capitalize(n));
    let failure = match &result.outcome {
        Ok(_) if result.notices.is_empty() => return None,
        Ok(_) => return Some(Notice::info(notices().collect::<Vec<_>>().join(" "))),
        Err(f) => f,
    };
    let failed = result.attempts.iter().find_map(|a| match &a.outcome {
        Outcome::Failed(e) => Some(e),
        _ => None,
    });
    if let Some(LibError::Cancelled { .. }) = failed {
        return Some(Notice::info("Sign-in cancelled."));
    }
    let text = match failed {
        Some(e) => card_message(e),
        None => {
            let hints: Vec<String> = failure.hints.iter().map(hint_words).collect();
            std::iter::once(capitalize(&failure.message))
                .chain(hints)
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    let mut notice = Notice::error(text);
    notice.details = details;
    notice.details.extend(notices());
    Some(notice)
}

/// The Settings view.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SettingsView {
    /// Mirror tokens into the OS keyring (`~/.planopticon/settings.toml`).
    pub keyring: bool,
    /// `PLANOPTICON_KEYRING` is set and decides, whatever the file says.
    pub keyring_forced_by_env: bool,
    /// The keeper keeps connections alive in the background.
    pub keeper: bool,
    /// A desktop notification when a connection needs a new sign-in.
    pub notifications: bool,
    /// How often the keeper checks whose token it is, in hours.
    pub identity_check_hours: u32,
    /// The app starts at login, hidden in the tray (`None`: cannot be told here).
    pub autostart: Option<bool>,
    pub settings_file: String,
    /// The proxy and extra CA certificates the app's environment sets,
    /// shown read-only to help explain a failure.
    pub network: planopticon::network::NetworkSetup,
    /// What the keyring switch did with the secrets the forms saved.
    pub secrets_note: Option<String>,
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
pub(crate) mod tests {
    use super::*;
    use planopticon::chain::Attempt;
    use planopticon::{Authenticated, Failure, Method};
    use std::path::PathBuf;

    /// A status of `service` for the app's tests (a shape, no files).
    pub(crate) fn status_of(service: &str, state: State) -> ServiceStatus {
        ServiceStatus {
            service: service.into(),
            display_name: capitalize(service),
            state,
            method: None,
            expires_at: None,
            token_path: PathBuf::from(format!("/nonexistent/{service}_token.json")),
            account: None,
            detail: None,
            hints: Vec::new(),
            can_sign_in: true,
            offers_device: false,
            renewable: true,
        }
    }

    pub(crate) fn status(state: State, method: Option<&str>) -> ServiceStatus {
        let mut s = status_of("acme", state);
        s.method = method.map(Into::into);
        s.expires_at = Some(10.0);
        s
    }

    #[test]
    fn a_cards_outside_words_are_shown_escaped() {
        let mut s = status_of("evil", State::NeedsReconnect);
        s.display_name = "Evil\u{202e}txt".into();
        s.detail = Some("refused: \u{1b}[2J".into());
        s.account = Some(serde_json::json!({"name": "\u{9b}Eve"}));
        let c = Card::new(&s);
        assert_eq!(c.display_name, "Evil\\u{202e}txt");
        assert!(c.detail.unwrap().starts_with("Refused: \\x1b[2J."));
        assert_eq!(c.account.as_deref(), Some("\\x9bEve"));
    }

    #[test]
    fn card_labels_follow_the_state_and_method() {
        let c = Card::new(&status(State::Connected, Some("oauth_pkce")));
        assert_eq!(c.state_label, "Connected");
        assert_eq!(c.method_label.as_deref(), Some("OAuth (browser sign-in)"));
        assert!(c.can_disconnect && !c.method_from_env);
        assert!(!c.builtin);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["state"], "connected");
        assert_eq!(v["method"], "oauth_pkce");

        let c = Card::new(&status(State::ExpiredRefreshable, Some("saved_token")));
        assert_eq!(c.state_label, "Expired, refreshable");
        assert!(c.can_disconnect);
        // Another tool's word is kept, and shown as "Other".
        let c = Card::new(&status(State::Connected, Some("magic_link")));
        assert_eq!(c.method.as_deref(), Some("magic_link"));
        assert_eq!(c.method_label.as_deref(), Some("Other"));
    }

    #[test]
    fn a_card_that_cannot_sign_in_offers_set_up_instead_of_connect() {
        let mut s = status_of("zoom", State::NotConnected);
        s.can_sign_in = false;
        let c = Card::new(&s);
        assert!(c.offers_setup && !c.configured && !c.removable);
        // A broken table's service is set up (the form shows the file's mistake).
        s.state = State::Error;
        assert!(Card::new(&s).offers_setup);
        // Connected (an API key from the environment): nothing to set up.
        s.state = State::Connected;
        assert!(!Card::new(&s).offers_setup);
        s.state = State::NotConnected;
        s.can_sign_in = true;
        assert!(!Card::new(&s).offers_setup);
        // A service of one's own can be removed; a built-in cannot.
        let acme = Card::new(&status_of("acme", State::NotConnected));
        assert!(acme.removable && !acme.offers_setup);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["offers_setup"], true);
        assert_eq!(v["removable"], false);
    }

    #[test]
    fn an_api_key_or_nothing_has_nothing_to_disconnect() {
        let key = Card::new(&status(State::Connected, Some("api_key")));
        assert!(!key.can_disconnect && key.method_from_env);
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
    fn hints_become_the_apps_words() {
        let mut s = status(State::NotConnected, None);
        s.hints = vec![
            Hint::Configure {
                step: Step::Browser,
                vars: vec!["ZOOM_CLIENT_ID".into(), "ZOOM_CLIENT_SECRET".into()],
            },
            Hint::Configure {
                step: Step::Server,
                vars: vec!["ZOOM_ACCOUNT_ID".into()],
            },
        ];
        // On the card, one short line: the variables are in the Set up form.
        assert_eq!(Card::new(&s).detail.as_deref(), Some(NEEDS_SETUP));
        assert_eq!(
            hint_words(&s.hints[0]),
            "Use Set up, or set ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET to sign in (in the environment the app starts with, or in services.toml)."
        );
        let mut s = status(State::NeedsReconnect, Some("oauth_pkce"));
        s.detail = Some("the token has expired and cannot be refreshed".into());
        s.hints = vec![Hint::SignIn];
        assert_eq!(
            Card::new(&s).detail.as_deref(),
            Some("The token has expired and cannot be refreshed. Click Connect to sign in.")
        );
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
                    step: Step::Saved,
                    outcome: Outcome::Skipped {
                        reason: "no saved token".into(),
                        hint: None,
                    },
                },
                Attempt {
                    step: Step::Browser,
                    outcome: Outcome::Failed(e),
                },
            ],
            outcome: Err(Failure {
                message: "No auth method available for acme.".into(),
                hints: Vec::new(),
            }),
            notices: Vec::new(),
        }
    }

    #[test]
    fn a_refusal_shows_the_providers_words() {
        let n = connect_notice(&failed(LibError::AuthorizationDenied {
            service: "acme".into(),
            error: "access_denied".into(),
            description: Some("End-User aborted interaction".into()),
        }))
        .unwrap();
        assert_eq!(n.kind, NoticeKind::Error);
        assert_eq!(
            n.text,
            "The sign-in was refused at the provider: access_denied: End-User aborted interaction."
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
        let n = connect_notice(&failed(LibError::Cancelled {
            service: "acme".into(),
        }))
        .unwrap();
        assert_eq!(n, Notice::info("Sign-in cancelled."));
    }

    #[test]
    fn a_timeout_offers_the_paste() {
        let n = connect_notice(&failed(LibError::AuthorizationTimeout {
            service: "acme".into(),
            secs: 300,
        }))
        .unwrap();
        assert_eq!(
            n.text,
            "No answer came back from the browser within 300 s. Use \"Paste code instead\"."
        );
    }

    #[test]
    fn nothing_configured_gives_the_chains_own_hint() {
        let r = AuthResult {
            outcome: Err(Failure {
                message: "No auth method available for github. (Set GITHUB_CLIENT_ID for OAuth and GITHUB_CLIENT_SECRET or set GITHUB_TOKEN for API key access)".into(),
                hints: Vec::new(),
            }),
            attempts: Vec::new(),
            notices: Vec::new(),
        };
        let n = connect_notice(&r).unwrap();
        assert_eq!(n.kind, NoticeKind::Error);
        assert!(n.text.contains("GITHUB_CLIENT_ID"));
    }

    #[test]
    fn success_is_silent_unless_the_library_has_news() {
        let mut r = AuthResult {
            outcome: Ok(Authenticated {
                access_token: planopticon::AccessToken::new("at".into()),
                method: Method::OauthPkce,
                expires_at: None,
                refresh_token: None,
            }),
            attempts: Vec::new(),
            notices: Vec::new(),
        };
        assert_eq!(connect_notice(&r), None);
        r.notices.push(
            "the OS keyring is not available (x); tokens are kept in the token files only".into(),
        );
        let n = connect_notice(&r).unwrap();
        assert_eq!(n.kind, NoticeKind::Info);
        assert!(n.text.starts_with("The OS keyring is not available"));
    }

    #[test]
    fn a_card_lists_accounts_only_when_there_are_several() {
        let one = crate::tray::tests::accounts_of("acme", &["alice"]);
        assert!(account_items(Some(&one)).is_empty());
        assert!(account_items(None).is_empty());
        let two = crate::tray::tests::accounts_of("acme", &["bob", "alice"]);
        let items = account_items(Some(&two));
        assert_eq!(items.len(), 2);
        assert!(items[0].active && !items[1].active);
        assert_eq!(items[1].account, "alice");
        assert_eq!(items[1].state_label, "Connected");
        let v = serde_json::to_value(&items[0]).unwrap();
        assert_eq!(v["identity"], "bob@example.test");
        assert_eq!(v["state"], "connected");
    }
}
