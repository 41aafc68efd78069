//! The commands the UI invokes, and the snapshot they publish. Every call
//! that may touch the network or the keyring runs on its own thread, never
//! on the main (UI) thread nor on the async runtime.

use std::sync::mpsc::Receiver;
use std::time::Duration;

use planopticon::redirect::DEFAULT_TIMEOUT;
use planopticon::setup::{SecretStore, Setup};
use planopticon::store::keyring;
use planopticon::{
    system_clock, AuthOptions, AuthResult, Control, Interaction, LogoutScope, OAuthManager, Prompt,
    RedirectMode, Registry, Revocation, Settings, SignIn, Step,
};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tauri_plugin_shell::process::CommandEvent;
use tauri_plugin_shell::ShellExt;

use crate::error::{Error, Result};
use crate::forms::{self, AddedService, FieldInput, KeySaved, Saved, ServiceForm};
use crate::models::{
    connect_notice, CommandOutput, Diagnostics, KeyringProbe, Notice, SettingsView, Snapshot,
};
use crate::state::{lock, observe, AppState};

/// The event that carries every change of the cards to the UI.
pub const SNAPSHOT_EVENT: &str = "snapshot";
/// The bundled CLI, as named in tauri.conf.json's `externalBin`.
pub const SIDECAR: &str = "planopticon-cli";
/// How long a bundled-CLI run may take before the About view gives up on it.
const SIDECAR_TIMEOUT: Duration = Duration::from_secs(15);

/// A snapshot with its sequence number: the UI ignores one older than what it shows.
#[derive(Clone, Debug, Serialize)]
pub struct Published {
    pub version: u64,
    #[serde(flatten)]
    pub snapshot: Snapshot,
}

/// Reads every service's status and, when anything changed since the last
/// time, sends the new snapshot to the UI and updates the tray (menu, icon,
/// tooltip). A service that has just turned `NeedsReconnect` gets one
/// notification (see [`crate::attention::begun`]). Called by the file
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
    let begun = crate::attention::begun(&mut lock(&state.notified), &seen.statuses);
    if !begun.is_empty() && Settings::load().notifications {
        for incident in begun {
            crate::notification::show(app, incident);
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
            crate::tray::update(app, &seen.statuses);
            published
        }
    }
}

/// Runs `work` on a blocking-pool thread. Commands that publish go through
/// it: a synchronous command runs on the main thread, and `publish` may wait
/// for the main thread to rebuild the tray menu while holding its lock, so
/// it must never run there.
async fn off_main<T, F>(work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
}

/// The cards as they are now (the UI asks once at start; then it listens).
#[tauri::command]
pub async fn snapshot<R: Runtime>(app: AppHandle<R>) -> Result<Published> {
    off_main(move || Ok(publish(&app))).await
}

/// The window rendered its first cards: the tray icon is made now. With
/// `PLANOPTICON_APP_TIMING` set, prints when each step of the start happened
/// (Unix ms) on stderr, for `bench/floor.sh` and `tests/e2e/measure.sh`.
#[tauri::command]
pub fn ui_ready<R: Runtime>(
    app: AppHandle<R>,
    state: tauri::State<'_, AppState>,
    marks: Option<Vec<(String, f64)>>,
) {
    crate::tray::start(&app);
    if state
        .ui_ready
        .swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        return;
    }
    for (what, at) in marks.unwrap_or_default() {
        crate::timing::mark_at(&format!("page {what}"), at);
    }
    crate::timing::mark("ready");
}

/// What Connect runs on its own thread: the library's chain, with the app as
/// the interaction (Cancel and pasted codes arrive on `control`).
pub fn run_connect(
    manager: &OAuthManager,
    control: Receiver<Control>,
    sign_in: Option<SignIn>,
    open_browser: bool,
    timeout: Duration,
    on_prompt: Box<dyn Fn(&Prompt) + Send>,
) -> AuthResult {
    let mut opts = AuthOptions::with_interaction(Interaction::App(control));
    opts.sign_in = sign_in;
    // "Use a code" asks for the device sign-in alone: a saved token or an
    // API key is not what the person chose.
    opts.only = (sign_in == Some(SignIn::Device)).then_some(Step::Device);
    opts.open_browser = open_browser;
    opts.timeout = timeout;
    opts.on_prompt = Some(on_prompt);
    manager.authenticate(opts)
}

/// Connect: starts the chain for `service` and returns at once; the card
/// follows through snapshots (waiting, the URL, then connected or the error).
/// `paste`: ask for a pasted code from the start instead of the loopback listener;
/// `device`: sign in with a code entered on another device (RFC 8628).
#[tauri::command]
pub async fn connect<R: Runtime>(
    app: AppHandle<R>,
    service: String,
    paste: Option<bool>,
    device: Option<bool>,
) -> Result<()> {
    let sign_in = match (device, paste) {
        (Some(true), _) => Some(SignIn::Device),
        (_, Some(true)) => Some(SignIn::Browser(RedirectMode::Paste)),
        _ => None,
    };
    off_main(move || start_connect(app, service, sign_in)).await
}

fn start_connect<R: Runtime>(
    app: AppHandle<R>,
    service: String,
    sign_in: Option<SignIn>,
) -> Result<()> {
    let config = Registry::load().get(&service)?;
    let state = app.state::<AppState>();
    let control = state.sessions.start(&service)?;
    state.set_notice(&service, None);
    publish(&app);

    let worker = app.clone();
    let name = service.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("connect-{service}"))
        .spawn(move || {
            let prompt_app = worker.clone();
            let prompt_service = name.clone();
            let on_prompt = Box::new(move |p: &Prompt| {
                let state = prompt_app.state::<AppState>();
                state
                    .sessions
                    .prompted(&prompt_service, p.url, p.sign_in, p.user_code);
                publish(&prompt_app);
            });
            let manager = OAuthManager::new(config);
            let result = run_connect(&manager, control, sign_in, true, DEFAULT_TIMEOUT, on_prompt);
            let state = worker.state::<AppState>();
            state.set_notice(&name, connect_notice(&result));
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

/// "Reconnect X" from the tray or a notification: shows the window and
/// starts Connect for `service` (a sign-in already running just stays).
/// Never blocks the caller (which may be the main thread).
pub fn reconnect<R: Runtime>(app: &AppHandle<R>, service: &str) {
    crate::show_main_window(app);
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

/// What the tray shows now (menu labels, attention, tooltip), or `None`
/// without a tray icon; for the end-to-end test and diagnostics (Linux tray
/// hosts do not all show the tooltip).
#[tauri::command]
pub fn tray_view(state: tauri::State<'_, AppState>) -> Option<crate::tray::TrayView> {
    lock(&state.tray).clone()
}

/// Cancel on a waiting card.
#[tauri::command]
pub fn cancel(state: tauri::State<'_, AppState>, service: String) -> Result<()> {
    state.sessions.send(&service, Control::Cancel)
}

/// "Paste code instead": the code, or the whole address the browser was sent to.
#[tauri::command]
pub fn paste_code(state: tauri::State<'_, AppState>, service: String, text: String) -> Result<()> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::Internal(
            "paste the code, or the whole address the browser showed".into(),
        ));
    }
    state.sessions.send(&service, Control::Paste(text.into()))
}

/// Disconnect's work, the same as `planopticon auth SERVICE --logout`: the
/// library revokes the token at the provider where it can (bounded by its
/// HTTP timeout), then deletes the token file and its keyring copy whatever
/// the provider said. What the card says afterwards: nothing when all went
/// as expected.
pub fn disconnect_with(manager: &OAuthManager, scope: LogoutScope) -> Result<Option<Notice>> {
    let out = manager.logout(scope)?;
    let mut words = Vec::new();
    if let Revocation::Failed(why) = &out.revocation {
        words.push(format!(
            "Removed from this computer, but the provider could not be asked to revoke the token ({why})."
        ));
    }
    if let Some(n) = out.keyring_notice {
        words.push(crate::models::capitalize(&n));
    }
    if words.is_empty() && !out.deleted {
        words.push("There was no saved token to remove.".into());
    }
    Ok((!words.is_empty()).then(|| Notice::info(words.join(" "))))
}

/// Disconnect for `service`, its outcome on the card (used by the window and the tray).
pub fn disconnect_and_publish<R: Runtime>(
    app: &AppHandle<R>,
    service: &str,
    scope: LogoutScope,
) -> Result<()> {
    let outcome = Registry::load()
        .get(service)
        .map_err(Error::from)
        .and_then(|config| disconnect_with(&OAuthManager::new(config), scope));
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

/// Disconnect (after the window's confirmation). `keep_grant`: only forget
/// the token here, leaving the grant valid at the provider.
#[tauri::command]
pub async fn disconnect<R: Runtime>(
    app: AppHandle<R>,
    service: String,
    keep_grant: Option<bool>,
) -> Result<()> {
    let scope = match keep_grant {
        Some(true) => LogoutScope::KeepGrant,
        _ => LogoutScope::Revoke,
    };
    off_main(move || disconnect_and_publish(&app, &service, scope)).await
}

/// Closes the notice on a card.
#[tauri::command]
pub async fn dismiss<R: Runtime>(app: AppHandle<R>, service: String) -> Result<()> {
    off_main(move || {
        clear_notice(&app, &service);
        Ok(())
    })
    .await
}

/// The card of `service` without its notice, published: after a change
/// that settles what the notice said.
fn clear_notice<R: Runtime>(app: &AppHandle<R>, service: &str) {
    app.state::<AppState>().set_notice(service, None);
    publish(app);
}

// ---- the Set up, API key and Add a service forms (see crate::forms) ------

/// The Set up form of `service`: its settings in effect (with where each
/// comes from, and whether the environment holds it), the provider's facts
/// (redirect URI to register, the kind of app, the developer console), and
/// what is wrong with services.toml if anything.
#[tauri::command]
pub async fn service_form(service: String) -> Result<ServiceForm> {
    off_main(move || forms::service_form(&Setup::load(), &service)).await
}

/// Save on the Set up form: every field checked by the library before
/// anything is written; refused fields come back with their reasons. A
/// saved form publishes at once, so the card offers Connect.
#[tauri::command]
pub async fn save_service<R: Runtime>(
    app: AppHandle<R>,
    service: String,
    fields: Vec<FieldInput>,
) -> Result<Saved> {
    off_main(move || {
        let saved = forms::save(&Setup::load(), &service, &fields)?;
        if saved.saved {
            clear_notice(&app, &service);
        }
        Ok(saved)
    })
    .await
}

/// "Use an API key / personal access token": checked at the service's
/// identity endpoint by the library (a refused key is an error with the
/// provider's answer), then saved where the chain finds it.
#[tauri::command]
pub async fn save_api_key<R: Runtime>(
    app: AppHandle<R>,
    service: String,
    key: String,
) -> Result<KeySaved> {
    off_main(move || {
        let saved = forms::save_key(&Setup::load(), &service, &key)?;
        clear_notice(&app, &service);
        Ok(saved)
    })
    .await
}

/// "Add a service": a name and the issuer (discovery runs; what it found
/// comes back) or the two endpoint URLs.
#[tauri::command]
pub async fn add_service<R: Runtime>(
    app: AppHandle<R>,
    name: String,
    issuer: Option<String>,
    authorize: Option<String>,
    token: Option<String>,
) -> Result<AddedService> {
    off_main(move || {
        let added = forms::add(
            &Setup::load(),
            &name,
            issuer.as_deref(),
            authorize.as_deref(),
            token.as_deref(),
        )?;
        publish(&app);
        Ok(added)
    })
    .await
}

/// Remove a service's table from services.toml (and its keyring secrets);
/// with `disconnect`, its connection is ended first (as Disconnect does).
#[tauri::command]
pub async fn remove_service<R: Runtime>(
    app: AppHandle<R>,
    service: String,
    disconnect: bool,
) -> Result<Option<String>> {
    off_main(move || {
        // The card goes with the service, so what Disconnect would have put
        // on it (a revocation the provider refused) is returned for the page.
        let mut words = None;
        if disconnect {
            let manager = OAuthManager::new(Registry::load().get(&service)?);
            words = disconnect_with(&manager, LogoutScope::Revoke)?.map(|n| n.text);
        }
        Setup::load().remove_service(&service)?;
        clear_notice(&app, &service);
        Ok(words)
    })
    .await
}

/// "Open developer console": the provider's console (from the library's
/// guide, never a URL from the page) in the browser, as Connect opens it.
#[tauri::command]
pub async fn open_console(service: String) -> Result<String> {
    off_main(move || {
        let config = Registry::load().get(&service)?;
        let url = planopticon::guide::guide(&config)
            .console_url
            .ok_or_else(|| {
                Error::Internal(format!("{service} has no developer console to open"))
            })?;
        planopticon::redirect::open_browser(&url)
            .map_err(|e| Error::Browser(format!("{e}; the address is {url}")))?;
        Ok(url)
    })
    .await
}

/// The Settings view; `autostart`: whether the app starts at login (`None`
/// where that cannot be told).
pub fn settings_view(settings: &Settings, autostart: Option<bool>) -> SettingsView {
    SettingsView {
        keyring: settings.keyring,
        keyring_forced_by_env: std::env::var_os("PLANOPTICON_KEYRING")
            .is_some_and(|v| !v.is_empty()),
        keeper: settings.keeper,
        notifications: settings.notifications,
        identity_check_hours: settings.identity_check_hours,
        autostart,
        settings_file: Settings::path().display().to_string(),
        network: planopticon::network::describe(),
        secrets_note: None,
    }
}

/// What the Settings page says after the keyring switch moved the saved secrets.
pub fn moved_secrets_note(
    moved: planopticon::Result<Vec<String>>,
    to_keyring: bool,
) -> Option<String> {
    let place = match to_keyring {
        true => "into the OS keyring",
        false => "back into services.toml",
    };
    match moved {
        Ok(m) if m.is_empty() => None,
        Ok(m) => Some(format!("Moved {} {place}.", m.join(", "))),
        Err(e) => Some(format!(
            "Some saved secrets were not moved {place} and stay where they were (they keep working): {e}"
        )),
    }
}

/// Whether the app starts at login (the autostart plugin's entry exists).
fn autostart_enabled<R: Runtime>(app: &AppHandle<R>) -> Option<bool> {
    use tauri_plugin_autostart::ManagerExt;
    app.try_state::<tauri_plugin_autostart::AutoLaunchManager>()?;
    app.autolaunch().is_enabled().ok()
}

#[tauri::command]
pub async fn get_settings<R: Runtime>(app: AppHandle<R>) -> Result<SettingsView> {
    off_main(move || Ok(settings_view(&Settings::load(), autostart_enabled(&app)))).await
}

/// A change on the Settings page; absent fields stay as they are.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct SettingsChange {
    pub keeper: Option<bool>,
    pub notifications: Option<bool>,
    pub identity_check_hours: Option<u32>,
}

/// Applies `change` to `settings`; an interval out of 1..=168 hours is refused.
pub fn apply_change(settings: &mut Settings, change: &SettingsChange) -> Result<()> {
    if let Some(h) = change.identity_check_hours {
        if !(1..=Settings::MAX_IDENTITY_CHECK_HOURS).contains(&h) {
            return Err(Error::Internal(format!(
                "the identity check interval must be between 1 and {} hours",
                Settings::MAX_IDENTITY_CHECK_HOURS
            )));
        }
        settings.identity_check_hours = h;
    }
    if let Some(k) = change.keeper {
        settings.keeper = k;
    }
    if let Some(n) = change.notifications {
        settings.notifications = n;
    }
    Ok(())
}

/// Saves the keeper switch, the notifications switch or the identity-check
/// interval to `settings.toml`, and tells the keeper hook.
#[tauri::command]
pub async fn set_settings<R: Runtime>(
    app: AppHandle<R>,
    change: SettingsChange,
) -> Result<SettingsView> {
    off_main(move || {
        let mut settings = Settings::load();
        apply_change(&mut settings, &change)?;
        settings.save()?;
        let saved = Settings::load();
        crate::keeper::settings_changed(&app, &saved);
        Ok(settings_view(&saved, autostart_enabled(&app)))
    })
    .await
}

/// Start at login: on turns the autostart entry on (on Linux
/// `~/.config/autostart/PlanOpticon Auth.desktop`, starting the app with
/// `--hidden`, in the tray), off removes it.
#[tauri::command]
pub async fn set_autostart<R: Runtime>(app: AppHandle<R>, enabled: bool) -> Result<SettingsView> {
    off_main(move || {
        use tauri_plugin_autostart::ManagerExt;
        if app
            .try_state::<tauri_plugin_autostart::AutoLaunchManager>()
            .is_none()
        {
            return Err(Error::Internal(
                "starting at login is not available here".into(),
            ));
        }
        let manager = app.autolaunch();
        let done = if enabled {
            manager.enable()
        } else {
            manager.disable()
        };
        done.map_err(|e| Error::Internal(format!("could not change starting at login: {e}")))?;
        Ok(settings_view(&Settings::load(), autostart_enabled(&app)))
    })
    .await
}

pub fn probe_result(outcome: std::result::Result<(), String>) -> KeyringProbe {
    match outcome {
        Ok(()) => KeyringProbe {
            available: true,
            reason: None,
        },
        Err(reason) => KeyringProbe {
            available: false,
            reason: Some(reason),
        },
    }
}

/// Whether the OS keyring answers (at most 3 s, off the UI thread).
#[tauri::command]
pub async fn probe_keyring() -> Result<KeyringProbe> {
    off_main(|| Ok(probe_result(keyring::probe()))).await
}

/// Turns the keyring mirror on (only when the keyring answers) or off.
#[tauri::command]
pub async fn set_keyring<R: Runtime>(app: AppHandle<R>, enabled: bool) -> Result<SettingsView> {
    off_main(move || {
        if enabled {
            keyring::probe().map_err(Error::KeyringUnavailable)?;
        }
        let mut settings = Settings::load();
        let was = settings.keyring;
        settings.keyring = enabled;
        settings.save()?;
        let mut view = settings_view(&Settings::load(), autostart_enabled(&app));
        // The client secrets and API keys saved by the forms follow the switch.
        if was != enabled {
            let to = match enabled {
                true => SecretStore::Keyring,
                false => SecretStore::ServicesFile,
            };
            view.secrets_note = moved_secrets_note(
                Setup::new(Registry::path(), enabled).move_secrets(to),
                enabled,
            );
        }
        Ok(view)
    })
    .await
}

/// Runs the bundled CLI with `args` through the shell plugin.
async fn run_sidecar<R: Runtime>(app: &AppHandle<R>, args: &[&str]) -> CommandOutput {
    let mut out = CommandOutput {
        command: format!("planopticon {}", args.join(" ")),
        ok: false,
        code: None,
        stdout: String::new(),
        stderr: String::new(),
    };
    let command = match app.shell().sidecar(SIDECAR) {
        // Raw chunks, kept as they come: the plugin's own `output()` adds a
        // newline after every line that already ends with one.
        Ok(c) => c.args(args).set_raw_out(true),
        Err(e) => {
            out.stderr = Error::Sidecar(e.to_string()).to_string();
            return out;
        }
    };
    let (mut events, child) = match command.spawn() {
        Ok(spawned) => spawned,
        Err(e) => {
            out.stderr = Error::Sidecar(e.to_string()).to_string();
            return out;
        }
    };
    let (mut stdout, mut stderr, mut code) = (Vec::new(), Vec::new(), None);
    let collect = async {
        while let Some(event) = events.recv().await {
            match event {
                CommandEvent::Stdout(bytes) => stdout.extend(bytes),
                CommandEvent::Stderr(bytes) => stderr.extend(bytes),
                CommandEvent::Terminated(end) => code = end.code,
                CommandEvent::Error(e) => stderr.extend(e.into_bytes()),
                _ => {}
            }
        }
    };
    if tokio::time::timeout(SIDECAR_TIMEOUT, collect)
        .await
        .is_err()
    {
        let _ = child.kill();
        stderr.extend(
            Error::Sidecar(format!("no answer within {} s", SIDECAR_TIMEOUT.as_secs()))
                .to_string()
                .into_bytes(),
        );
    }
    out.code = code;
    out.ok = code == Some(0);
    out.stdout = String::from_utf8_lossy(&stdout).into_owned();
    out.stderr = String::from_utf8_lossy(&stderr).into_owned();
    out
}

/// The About view: the bundled CLI's `--version` and `status`.
#[tauri::command]
pub async fn diagnostics<R: Runtime>(app: AppHandle<R>) -> Diagnostics {
    let version = run_sidecar(&app, &["--version"]).await;
    let status = run_sidecar(&app, &["status"]).await;
    Diagnostics {
        app_version: env!("CARGO_PKG_VERSION"),
        config_dir: planopticon::config::config_dir().display().to_string(),
        version,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::NoticeKind;
    use planopticon::{AuthConfig, Method};
    use planopticon::{RedirectMode, SignIn};
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
                Duration::from_secs(20),
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
    fn keyring_probe_maps_to_the_switch() {
        assert_eq!(
            probe_result(Ok(())),
            KeyringProbe {
                available: true,
                reason: None
            }
        );
        let p = probe_result(Err("no answer within 3 s (is the keyring locked?)".into()));
        assert!(!p.available);
        assert!(p.reason.unwrap().contains("locked"));
    }

    #[test]
    fn settings_view_names_the_file() {
        let v = settings_view(
            &Settings {
                keyring: true,
                ..Settings::default()
            },
            Some(false),
        );
        assert!(
            v.network.system_store || v.network.ca_file.is_some() || !v.network.ca_dirs.is_empty()
        );
        assert!(v.keyring && v.keeper && v.notifications);
        assert_eq!((v.identity_check_hours, v.autostart), (6, Some(false)));
        assert!(v.settings_file.ends_with("settings.toml"));
    }

    #[test]
    fn settings_changes_apply_and_a_bad_interval_is_refused() {
        let mut s = Settings::default();
        apply_change(
            &mut s,
            &SettingsChange {
                notifications: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!s.notifications && s.keeper);
        apply_change(
            &mut s,
            &SettingsChange {
                keeper: Some(false),
                identity_check_hours: Some(24),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((s.keeper, s.identity_check_hours), (false, 24));
        for bad in [0, 169] {
            let before = s.clone();
            let e = apply_change(
                &mut s,
                &SettingsChange {
                    keeper: Some(true),
                    identity_check_hours: Some(bad),
                    ..Default::default()
                },
            )
            .unwrap_err();
            assert!(e.to_string().contains("between 1 and 168"), "{e}");
            assert_eq!(s, before, "nothing applied");
        }
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
}
