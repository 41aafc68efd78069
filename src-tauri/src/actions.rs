//! The actions that several parts of the app start: publish the cards
//! (window, tray, notifications), connect and reconnect, disconnect, clear a
//! card's notice, show the window; and for a service with several accounts
//! (the library's `Accounts`): add another, switch, sign one out, reconnect
//! one. The Tauri command handlers
//! (`commands`), the tray, the notifications, the keeper and the file
//! watcher all call these; this module calls none of them, so the modules
//! form a tree:
//!
//! ```text
//! lib ─┬─ commands ── forms, settings (no Tauri in them)
//!      │      └─ tray
//!      ├─ tray, notification, watch ── keeper
//!      └─ (all of the above) ── actions ─┬─ state ── models, attention, error, timing
//!                                        └─ platform (what differs per OS)
//! ```
//!
//! The tray and the notifications are reached through [`Outlets`], which
//! `lib.rs` registers at start.

use std::sync::mpsc::Receiver;
use std::time::Duration;

use planopticon::{
    system_clock, Accounts, AuthConfig, AuthOptions, AuthResult, Control, Interaction, Logout,
    LogoutScope, OAuthManager, Prompt, Registry, Revocation, ServiceStatus, Settings, SignIn, Step,
};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::attention::Incident;
use crate::error::{Error, Result};
use crate::models::{connect_notice, Notice, Snapshot};
use crate::state::{lock, observe, AppState};

/// The main window's label (tauri.conf.json).
pub const MAIN_WINDOW: &str = "main";

/// The event that carries every change of the cards to the UI.
pub const SNAPSHOT_EVENT: &str = "snapshot";
/// A snapshot with its sequence number: the UI ignores one older than what it shows.
#[derive(Clone, Debug, Serialize)]
pub struct Published {
    pub version: u64,
    #[serde(flatten)]
    pub snapshot: Snapshot,
}

/// Reads every service's status and, when anything changed since the last
/// time, sends the new snapshot to the UI and updates the tray (menu, icon,
/// tooltip) through its [`Outlets`]. A service that has just turned
/// `NeedsReconnect` gets one notification (see [`crate::attention::begun`]).
/// The statuses are kept in the state ([`AppState::statuses`]): the tray
/// icon is made from them, without reading the files again. Called by the file
/// watcher when something in the watched folders changes (the CLI's and the
/// Python tool's changes, the keeper's), when a token's expiry is due, and
/// right after each action of the app.
pub fn publish<R: Runtime>(app: &AppHandle<R>) -> Published {
    let state = app.state::<AppState>();
    // Held from reading to sending, so snapshots go out in order.
    let mut last = lock(&state.last);
    let file = Registry::path();
    let seen = observe(&file, system_clock()());
    let snapshot = state.snapshot(&seen, &file);
    // Transitions into NeedsReconnect: an expired token without a refresh
    // token today; the keeper's invalid_grant or 401 (written to the token
    // file) will come through here the same way.
    *lock(&state.statuses) = seen.statuses.clone();
    *lock(&state.accounts) = seen.accounts.clone();
    let outlets = app.try_state::<Outlets<R>>();
    let mut begun = crate::attention::begun(&mut lock(&state.notified), &seen.statuses);
    crate::attention::name_accounts(&mut begun, &seen.accounts);
    begun.extend(crate::attention::begun_saved(
        &mut lock(&state.notified_saved),
        &seen.accounts,
        &seen.statuses,
    ));
    if !begun.is_empty() && Settings::load().notifications {
        for incident in begun {
            if let Some(o) = &outlets {
                (o.notify)(app, incident);
            }
        }
    }
    match last.as_ref() {
        Some((version, shown)) if *shown == snapshot => Published {
            version: *version,
            snapshot,
        },
        previous => {
            let version = previous.map_or(1, |(v, _)| v + 1);
            *last = Some((version, snapshot.clone()));
            let published = Published { version, snapshot };
            if let Err(e) = app.emit(SNAPSHOT_EVENT, &published) {
                log::warn!("could not send the snapshot to the window: {e}");
            }
            if let Some(o) = &outlets {
                (o.tray)(app, &seen.statuses);
            }
            published
        }
    }
}

/// Where a publish goes besides the window: the tray (its menu, icon and
/// tooltip for the statuses) and a desktop notification per new incident.
/// Registered by `lib.rs` at start; without them (tests), a publish only
/// reaches the window.
pub struct Outlets<R: Runtime> {
    pub tray: fn(&AppHandle<R>, &[ServiceStatus]),
    pub notify: fn(&AppHandle<R>, Incident),
}

/// Shows, un-minimizes and focuses the main window.
pub fn show_main_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
        crate::platform::window_shown(app);
    }
}

/// What Connect runs on its own thread: the library's chain, with the app as
/// the interaction (Cancel and pasted codes arrive on `control`);
/// `timeout`: how long to wait for the browser or a paste (`None`: the
/// chain's own).
pub fn run_connect(
    manager: &OAuthManager,
    control: Receiver<Control>,
    sign_in: Option<SignIn>,
    open_browser: bool,
    timeout: Option<Duration>,
    on_prompt: Box<dyn Fn(&Prompt) + Send>,
) -> AuthResult {
    manager.authenticate(connect_options(
        control,
        sign_in,
        open_browser,
        timeout,
        on_prompt,
    ))
}

/// The options of a sign-in started in the window (Connect, Add another
/// account): the app as the interaction, as [`run_connect`] describes.
pub fn connect_options(
    control: Receiver<Control>,
    sign_in: Option<SignIn>,
    open_browser: bool,
    timeout: Option<Duration>,
    on_prompt: Box<dyn Fn(&Prompt) + Send>,
) -> AuthOptions {
    let mut opts = AuthOptions::with_interaction(Interaction::App(control));
    opts.sign_in = sign_in;
    // "Use a code" asks for the device sign-in alone: a saved token or an
    // API key is not what the person chose.
    opts.only = (sign_in == Some(SignIn::Device)).then_some(Step::Device);
    opts.open_browser = open_browser;
    if let Some(timeout) = timeout {
        opts.timeout = timeout;
    }
    opts.on_prompt = Some(on_prompt);
    opts
}

pub fn start_connect<R: Runtime>(
    app: AppHandle<R>,
    service: String,
    sign_in: Option<SignIn>,
) -> Result<()> {
    let config = Registry::load().get(&service)?;
    spawn_sign_in(app, service, "connect", move |control, on_prompt| {
        let manager = OAuthManager::new(config.clone());
        let result = run_connect(&manager, control, sign_in, true, None, on_prompt);
        record_use(config, &result);
        connect_notice(&result)
    })
}

/// Runs a sign-in of `service` on a thread of its own: the card waits
/// (Cancel and a pasted code reach `run` through its control channel), each
/// prompt is published, and the card's notice is what `run` returns.
fn spawn_sign_in<R: Runtime>(
    app: AppHandle<R>,
    service: String,
    thread: &str,
    run: impl FnOnce(Receiver<Control>, Box<dyn Fn(&Prompt) + Send>) -> Option<Notice> + Send + 'static,
) -> Result<()> {
    let state = app.state::<AppState>();
    let control = state.sessions.start(&service)?;
    state.set_notice(&service, None);
    publish(&app);
    let worker = app.clone();
    let name = service.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("{thread}-{service}"))
        .spawn(move || {
            let prompt_app = worker.clone();
            let prompt_service = name.clone();
            let on_prompt = Box::new(move |p: &Prompt| {
                prompt_app.state::<AppState>().sessions.prompted(
                    &prompt_service,
                    p.url,
                    p.sign_in,
                    p.user_code,
                );
                publish(&prompt_app);
            });
            let notice = run(control, on_prompt);
            let state = worker.state::<AppState>();
            state.set_notice(&name, notice);
            state.sessions.finish(&name);
            publish(&worker);
        });
    if let Err(e) = spawned {
        state.sessions.finish(&service);
        publish(&app);
        return Err(Error::Internal(format!("could not start the sign-in: {e}")));
    }
    Ok(())
}

/// After a Connect, as after `planopticon auth SERVICE`: a first sign-in is
/// named after who the provider says it is, and the active account's last
/// use is recorded (the accounts index; an API key from the environment is
/// no account).
fn record_use(config: AuthConfig, result: &AuthResult) {
    let service = config.service.clone();
    if let Err(e) = Accounts::new(config).record_sign_in(result) {
        log::warn!("{service}: the accounts index: {e}");
    }
}

/// "Reconnect X" from the tray or a notification: shows the window and
/// starts Connect for `service` (a sign-in already running just stays).
/// Never blocks the caller (which may be the main thread).
pub fn reconnect<R: Runtime>(app: &AppHandle<R>, service: &str) {
    show_main_window(app);
    let app = app.clone();
    let service = service.to_string();
    std::thread::spawn(
        move || match start_connect(app.clone(), service.clone(), None) {
            Ok(()) | Err(Error::AlreadyConnecting { .. }) => {}
            Err(e) => {
                app.state::<AppState>()
                    .set_notice(&service, Some(Notice::error(e.to_string())));
                publish(&app);
            }
        },
    );
}

/// Disconnect's work, the same as `planopticon auth SERVICE --logout`: the
/// library revokes the token at the provider where it can (bounded by its
/// HTTP timeout), then deletes the token file and its keyring copy whatever
/// the provider said. What the card says afterwards: nothing when all went
/// as expected.
pub fn disconnect_with(manager: &OAuthManager, scope: LogoutScope) -> Result<Option<Notice>> {
    Ok(logout_notice(&manager.logout(scope)?, Vec::new()))
}

/// [`disconnect_with`] for one account (`None`: the active one) of a
/// service that may have several; the card also says which account the
/// library made active in the active one's place.
pub fn sign_out_account(
    accounts: Accounts,
    account: Option<&str>,
    scope: LogoutScope,
) -> Result<Option<Notice>> {
    let out = accounts.logout(account, scope)?;
    let mut words = Vec::new();
    if let (Some(gone), Some(now)) = (&out.account, &out.now_active) {
        words.push(format!(
            "Signed out {gone}; {now} is now the active account."
        ));
    }
    Ok(logout_notice(&out.logout, words))
}

/// What the card says after a logout, after `words`: nothing when all went
/// as expected.
fn logout_notice(out: &Logout, mut words: Vec<String>) -> Option<Notice> {
    if let Revocation::Failed(why) = &out.revocation {
        words.push(format!(
            "Removed from this computer, but the provider could not be asked to revoke the token ({why})."
        ));
    }
    if let Some(n) = &out.keyring_notice {
        words.push(crate::models::capitalize(n));
    }
    if words.is_empty() && !out.deleted {
        words.push("There was no saved token to remove.".into());
    }
    (!words.is_empty()).then(|| Notice::info(words.join(" ")))
}

/// Disconnect for `service`, its outcome on the card (used by the window and the tray).
pub fn disconnect_and_publish<R: Runtime>(
    app: &AppHandle<R>,
    service: &str,
    scope: LogoutScope,
) -> Result<()> {
    disconnect_account_and_publish(app, service, None, scope)
}

/// Disconnect of one account of `service` (`None`: the active one), by the
/// library's accounts: the active one signed out while others remain makes
/// the most recently used of them active (the card says which).
pub fn disconnect_account_and_publish<R: Runtime>(
    app: &AppHandle<R>,
    service: &str,
    account: Option<&str>,
    scope: LogoutScope,
) -> Result<()> {
    let outcome = Registry::load()
        .get(service)
        .map_err(Error::from)
        .and_then(|config| sign_out_account(Accounts::new(config), account, scope));
    publish_outcome(app, service, outcome)
}

/// The card of `service` with the notice of what was done (or the error),
/// published; the error is returned too.
fn publish_outcome<R: Runtime>(
    app: &AppHandle<R>,
    service: &str,
    outcome: Result<Option<Notice>>,
) -> Result<()> {
    let state = app.state::<AppState>();
    let result = match outcome {
        Ok(notice) => {
            state.set_notice(service, notice);
            Ok(())
        }
        Err(e) => {
            state.set_notice(service, Some(Notice::error(e.to_string())));
            Err(e)
        }
    };
    publish(app);
    result
}

/// The card of `service` without its notice, published: after a change
/// that settles what the notice said.
pub fn clear_notice<R: Runtime>(app: &AppHandle<R>, service: &str) {
    app.state::<AppState>().set_notice(service, None);
    publish(app);
}

/// Whose sign-in an account action starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Who {
    /// "Add another account": a new sign-in, named after who signed in.
    New,
    /// That account (a saved one is made active first).
    Named(String),
}

/// "Add another account" (`Who::New`) or the sign-in of one named account
/// (a notification's Reconnect of a saved account): the same waiting card,
/// Cancel and paste as Connect, through the library's [`Accounts`]. The
/// account signed in becomes the active one.
pub fn start_account_sign_in<R: Runtime>(
    app: AppHandle<R>,
    service: String,
    sign_in: Option<SignIn>,
    who: Who,
) -> Result<()> {
    let accounts = Accounts::new(Registry::load().get(&service)?);
    spawn_sign_in(app, service, "account", move |control, on_prompt| {
        let opts = connect_options(control, sign_in, true, None, on_prompt);
        let outcome = match &who {
            Who::New => accounts.add(opts).map(|(result, _)| result),
            Who::Named(n) => accounts.sign_in(n, opts).map(|(result, _)| result),
        };
        match outcome {
            Ok(result) => connect_notice(&result),
            Err(e) => Some(Notice::error(crate::models::card_message(&e))),
        }
    })
}

/// "Reconnect" of one account of `service` (a notification of a saved
/// account that needs a person): shows the window and signs in as it.
pub fn reconnect_account<R: Runtime>(app: &AppHandle<R>, service: &str, account: &str) {
    show_main_window(app);
    let app = app.clone();
    let service = service.to_string();
    let who = Who::Named(account.to_string());
    std::thread::spawn(move || {
        match start_account_sign_in(app.clone(), service.clone(), None, who) {
            Ok(()) | Err(Error::AlreadyConnecting { .. }) => {}
            Err(e) => {
                app.state::<AppState>()
                    .set_notice(&service, Some(Notice::error(e.to_string())));
                publish(&app);
            }
        }
    });
}

/// Makes `account` the active account of `service` (the library moves the
/// whole token into the documented file); a failure goes on the card.
/// Used by the window's Switch and the tray's.
pub fn switch_account_and_publish<R: Runtime>(
    app: &AppHandle<R>,
    service: &str,
    account: &str,
) -> Result<()> {
    let outcome = Registry::load()
        .get(service)
        .map_err(Error::from)
        .and_then(|config| Ok(Accounts::new(config).switch(account)?));
    publish_outcome(app, service, outcome.map(|_| None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::NoticeKind;
    use planopticon::{AuthConfig, Method, RedirectMode};
    use std::sync::mpsc::{channel, Sender};
    use std::sync::Mutex;

    /// A custom service whose token endpoint is `token_url`, its token file in `dir`.
    fn acme(dir: &std::path::Path, token_url: &str) -> AuthConfig {
        let mut c = AuthConfig::new("acme");
        c.oauth_authorize_url = Some("http://127.0.0.1:9/auth".into());
        c.oauth_token_url = Some(token_url.into());
        c.client_id = Some("public-native".into());
        c.redirect_uri = Some("http://127.0.0.1/callback".into());
        c.token_path = Some(dir.join("acme_token.json"));
        c
    }

    type OnPrompt = Box<dyn Fn(&Prompt) + Send>;
    type Prompts = std::sync::mpsc::Receiver<(String, SignIn)>;

    /// Records each prompt and forwards it on a channel.
    fn prompts() -> (OnPrompt, Prompts) {
        let (tx, rx) = channel();
        let tx = Mutex::new(tx);
        let f = Box::new(move |p: &Prompt| {
            let _ = lock(&tx).send((p.url.to_string(), p.sign_in));
        });
        (f, rx)
    }

    fn start(
        config: AuthConfig,
        paste: bool,
    ) -> (
        Sender<Control>,
        Prompts,
        std::thread::JoinHandle<AuthResult>,
    ) {
        let (ctl_tx, ctl_rx) = channel();
        let (on_prompt, prompt_rx) = prompts();
        let handle = std::thread::spawn(move || {
            let manager = OAuthManager::with_keyring(config, false);
            run_connect(
                &manager,
                ctl_rx,
                paste.then_some(SignIn::Browser(RedirectMode::Paste)),
                false,
                Some(Duration::from_secs(20)),
                on_prompt,
            )
        });
        (ctl_tx, prompt_rx, handle)
    }

    fn state_of(url: &str) -> String {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .expect("a state parameter")
    }

    #[test]
    fn cancel_ends_a_loopback_wait() {
        let dir = tempfile::tempdir().unwrap();
        let (ctl, prompts, handle) = start(acme(dir.path(), "http://127.0.0.1:9/token"), false);
        let (url, mode) = prompts.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(mode, SignIn::Browser(RedirectMode::Loopback));
        assert!(url.starts_with("http://127.0.0.1:9/auth?"), "{url}");
        assert!(
            url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"),
            "a loopback port: {url}"
        );
        ctl.send(Control::Cancel).unwrap();
        let result = handle.join().unwrap();
        assert!(!result.success());
        assert_eq!(
            connect_notice(&result),
            Some(Notice::info("Sign-in cancelled."))
        );
        assert!(!dir.path().join("acme_token.json").exists());
    }

    #[test]
    fn a_paste_that_is_not_ours_is_an_error_on_the_card() {
        let dir = tempfile::tempdir().unwrap();
        let (ctl, prompts, handle) = start(acme(dir.path(), "http://127.0.0.1:9/token"), true);
        let (_, mode) = prompts.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(mode, SignIn::Browser(RedirectMode::Paste));
        ctl.send(Control::Paste(
            "http://127.0.0.1/callback?code=x&state=not-the-one".into(),
        ))
        .unwrap();
        let result = handle.join().unwrap();
        let notice = connect_notice(&result).unwrap();
        assert_eq!(notice.kind, NoticeKind::Error);
        assert!(!notice.text.starts_with("acme:"), "{}", notice.text);
        assert!(!notice.details.is_empty());
    }

    /// A one-shot token endpoint on 127.0.0.1 answering with `body`.
    fn token_endpoint(body: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let handle = std::thread::spawn(move || {
            let mut req = server.recv().unwrap();
            let mut form = String::new();
            req.as_reader().read_to_string(&mut form).unwrap();
            let header = tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap();
            req.respond(tiny_http::Response::from_string(body).with_header(header))
                .unwrap();
            form
        });
        (format!("http://127.0.0.1:{port}/token"), handle)
    }

    #[test]
    fn a_pasted_redirect_url_connects_and_disconnect_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let (token_url, server) = token_endpoint(
            r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1"}"#,
        );
        let config = acme(dir.path(), &token_url);
        let (ctl, prompts, handle) = start(config.clone(), false);
        let (url, _) = prompts.recv_timeout(Duration::from_secs(10)).unwrap();
        // "Paste code instead" while the loopback listener waits: the whole address.
        let pasted = format!(
            "http://127.0.0.1/callback?code=the-code&state={}",
            state_of(&url)
        );
        ctl.send(Control::Paste(pasted)).unwrap();
        let result = handle.join().unwrap();
        let form = server.join().unwrap();
        assert!(result.success(), "{:?}", result.attempts);
        assert_eq!(result.method(), Some(Method::OauthPkce));
        assert_eq!(connect_notice(&result), None);
        assert!(form.contains("code=the-code"), "{form}");
        assert!(form.contains("code_verifier="), "PKCE: {form}");
        let token_file = dir.path().join("acme_token.json");
        assert!(token_file.exists());

        let manager = OAuthManager::with_keyring(config, false);
        assert_eq!(
            disconnect_with(&manager, LogoutScope::Revoke).unwrap(),
            None
        );
        assert!(!token_file.exists());
        assert_eq!(
            disconnect_with(&manager, LogoutScope::Revoke).unwrap(),
            Some(Notice::info("There was no saved token to remove."))
        );
    }

    #[test]
    fn disconnect_removes_the_token_even_when_revocation_fails() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = acme(dir.path(), "http://127.0.0.1:9/token");
        // Nothing listens on port 9: the provider cannot be reached.
        config.revocation_url = Some("http://127.0.0.1:9/revoke".into());
        let token_file = dir.path().join("acme_token.json");
        let token = r#"{"access_token":"at","refresh_token":"rt","expires_at":4102444800.0}"#;
        std::fs::write(&token_file, token).unwrap();
        let manager = OAuthManager::with_keyring(config, false);
        let notice = disconnect_with(&manager, LogoutScope::Revoke)
            .unwrap()
            .expect("a notice");
        assert_eq!(notice.kind, NoticeKind::Info);
        assert!(
            notice
                .text
                .starts_with("Removed from this computer, but the provider could not be asked"),
            "{}",
            notice.text
        );
        assert!(!token_file.exists());
    }

    #[test]
    fn a_service_with_nothing_configured_says_what_to_set() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = AuthConfig::new("acme");
        c.token_path = Some(dir.path().join("acme_token.json"));
        c.api_key_env = Some("PLANOPTICON_APP_TEST_UNSET_KEY".into());
        let (_ctl, _prompts, handle) = start(c, false);
        let result = handle.join().unwrap();
        let notice = connect_notice(&result).unwrap();
        assert_eq!(notice.kind, NoticeKind::Error);
        assert!(
            notice.text.contains("PLANOPTICON_APP_TEST_UNSET_KEY"),
            "{}",
            notice.text
        );
    }

    #[test]
    fn keep_grant_forgets_here_without_asking_the_provider() {
        let dir = tempfile::tempdir().unwrap();
        let (revoke_url, server) = token_endpoint("{}");
        let mut config = acme(dir.path(), "http://127.0.0.1:9/token");
        config.revocation_url = Some(revoke_url);
        let token_file = dir.path().join("acme_token.json");
        let token = r#"{"access_token":"at","refresh_token":"rt","expires_at":4102444800.0}"#;
        std::fs::write(&token_file, token).unwrap();
        let manager = OAuthManager::with_keyring(config, false);
        assert_eq!(
            disconnect_with(&manager, LogoutScope::KeepGrant).unwrap(),
            None
        );
        assert!(!token_file.exists());
        // The provider was not asked: its one-shot endpoint is still waiting.
        assert!(!server.is_finished());
    }

    #[test]
    fn a_listener_that_cannot_start_turns_into_a_paste() {
        let dir = tempfile::tempdir().unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let mut config = acme(dir.path(), "http://127.0.0.1:9/token");
        config.redirect_uri = Some(format!("http://127.0.0.1:{port}/callback"));
        let (ctl, prompts, handle) = start(config, false);
        let (_, mode) = prompts.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(mode, SignIn::Browser(RedirectMode::Paste));
        ctl.send(Control::Cancel).unwrap();
        let result = handle.join().unwrap();
        assert!(
            result.notices.iter().any(|n| n.contains(&port.to_string())),
            "{:?}",
            result.notices
        );
    }

    #[test]
    fn published_snapshot_is_flat_json() {
        let p = Published {
            version: 3,
            snapshot: Snapshot {
                cards: vec![],
                services_error: None,
                services_file: "/x/services.toml".into(),
                keyring: false,
            },
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["version"], 3);
        assert_eq!(v["services_file"], "/x/services.toml");
        assert!(v["cards"].is_array());
    }

    #[test]
    fn signing_out_the_active_account_names_the_one_made_active() {
        let dir = tempfile::tempdir().unwrap();
        let config = acme(dir.path(), "http://127.0.0.1:9/token");
        let token = |who: &str| {
            format!(
                r#"{{"access_token":"at-{who}","refresh_token":"rt","expires_at":4102444800.0,"account":"{who}"}}"#
            )
        };
        let doc = dir.path().join("acme_token.json");
        std::fs::write(&doc, token("alice")).unwrap();
        let saved = dir.path().join("accounts").join("acme");
        std::fs::create_dir_all(&saved).unwrap();
        std::fs::write(saved.join("bob_token.json"), token("bob")).unwrap();
        let accounts = || Accounts::with_keyring(config.clone(), false);
        assert_eq!(accounts().list().len(), 2);

        let notice = sign_out_account(accounts(), None, LogoutScope::KeepGrant).unwrap();
        assert_eq!(
            notice,
            Some(Notice::info(
                "Signed out alice; bob is now the active account."
            ))
        );
        assert!(std::fs::read_to_string(&doc).unwrap().contains("at-bob"));
        // The last one: as a Disconnect always was, nothing to say.
        assert_eq!(
            sign_out_account(accounts(), Some("bob"), LogoutScope::KeepGrant).unwrap(),
            None
        );
        assert!(!doc.exists());
        assert!(accounts().list().is_empty());
    }

    #[test]
    fn signing_out_an_unknown_account_names_those_there_are() {
        let dir = tempfile::tempdir().unwrap();
        let config = acme(dir.path(), "http://127.0.0.1:9/token");
        std::fs::write(
            dir.path().join("acme_token.json"),
            r#"{"access_token":"at","expires_at":4102444800.0,"account":"alice"}"#,
        )
        .unwrap();
        let accounts = Accounts::with_keyring(config, false);
        let err = sign_out_account(accounts, Some("mallory"), LogoutScope::KeepGrant).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("mallory") && text.contains("alice"), "{text}");
    }
}
