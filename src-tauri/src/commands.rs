//! The Tauri command handlers: what the UI invokes, and nothing else. What
//! they start that others start too (publish, connect, disconnect) is in
//! [`crate::actions`]; the forms' words in [`crate::forms`]. Every call
//! that may touch the network or the keyring runs on its own thread, never
//! on the main (UI) thread nor on the async runtime.

use std::time::Duration;

use planopticon::setup::{SecretStore, Setup};
use planopticon::store::keyring;
use planopticon::{Control, LogoutScope, OAuthManager, RedirectMode, Registry, Settings, SignIn};
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_shell::process::CommandEvent;
use tauri_plugin_shell::ShellExt;

use crate::actions::{
    clear_notice, disconnect_and_publish, disconnect_with, publish, start_connect, Published,
};
use crate::error::{Error, Result};
use crate::forms::{self, AddedService, FieldInput, KeySaved, Saved, ServiceForm};
use crate::models::{CommandOutput, Diagnostics, KeyringProbe, SettingsView};
use crate::settings::{
    apply_change, moved_secrets_note, probe_result, settings_view, SettingsChange,
};
use crate::state::AppState;

/// The bundled CLI, as named in tauri.conf.json's `externalBin`.
pub const SIDECAR: &str = "planopticon-cli";
/// How long a bundled-CLI run may take before the About view gives up on it.
const SIDECAR_TIMEOUT: Duration = Duration::from_secs(15);

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

/// What the tray shows now (menu labels, attention, tooltip), or `None`
/// without a tray icon; for the end-to-end test and diagnostics (Linux tray
/// hosts do not all show the tooltip).
#[tauri::command]
pub fn tray_view(shown: tauri::State<'_, crate::tray::Shown>) -> Option<crate::tray::TrayView> {
    shown.view()
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

/// "Add another account": signs a new account in (the same waiting card,
/// Cancel and paste as Connect), named after who signed in and made active.
#[tauri::command]
pub async fn add_account<R: Runtime>(
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
    off_main(move || {
        crate::actions::start_account_sign_in(app, service, sign_in, crate::actions::Who::New)
    })
    .await
}

/// Switch on an account of the card: it becomes the active account.
#[tauri::command]
pub async fn switch_account<R: Runtime>(
    app: AppHandle<R>,
    service: String,
    account: String,
) -> Result<()> {
    off_main(move || crate::actions::switch_account_and_publish(&app, &service, &account)).await
}

/// Disconnect of one account of the card (after the window's confirmation).
#[tauri::command]
pub async fn disconnect_account<R: Runtime>(
    app: AppHandle<R>,
    service: String,
    account: String,
    keep_grant: Option<bool>,
) -> Result<()> {
    let scope = match keep_grant {
        Some(true) => LogoutScope::KeepGrant,
        _ => LogoutScope::Revoke,
    };
    off_main(move || {
        crate::actions::disconnect_account_and_publish(&app, &service, Some(&account), scope)
    })
    .await
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
