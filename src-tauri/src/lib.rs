//! PlanOpticon Auth, the desktop app: a window with one card per service and
//! a tray menu, over the `planopticon` library (which runs the auth chain;
//! nothing here builds an OAuth request). The bundled `planopticon` CLI is
//! the sidecar `planopticon-cli`, run by the About view.
//!
//! - [`commands`]: the Tauri command handlers (what the UI invokes), only
//! - [`actions`]: what several of them start (publish the cards, connect,
//!   reconnect, disconnect, show the window); it uses none of the modules
//!   above, which all use it: the modules form a tree (see its diagram)
//! - [`tray`]: the tray icon, and its menu as a pure function of the statuses
//! - [`attention`]: connections that need a new sign-in; once per incident
//! - [`notification`]: the desktop notification, and its activation
//! - [`watch`]: file-system events that update the window and the tray
//! - [`keeper`]: the library's keeper on a thread, told about file and settings changes
//! - [`state`]: running sign-ins, card notices, the last snapshot
//! - [`models`]: the plain data the UI receives
//! - [`forms`]: the Set up, API key and Add a service forms over the library's setup
//! - [`settings`]: the Settings view's facts and changes over settings.toml
//! - [`platform`]: what differs per OS (the tray icon's template image, the macOS Dock)
//! - [`error`]: the crate's one error type
//!
//! Threads: the main thread runs GTK and nothing slow. Sign-ins run on their
//! own threads; commands that read files, touch the keyring or the network
//! run on the blocking pool; the file watcher's thread publishes after each
//! change in the watched folders; a notification waits for its activation
//! on a thread of its own.
//! `actions::publish` (snapshot to the window, tray menu rebuild) never runs
//! on the main thread: it may wait for it to rebuild the menu.
//!
//! Start-up reads the token files once: the watcher's watches are made
//! first, then one publish fills the page's first snapshot; the watcher
//! starts from it, and the tray icon is made from the statuses it kept.

pub mod actions;
pub mod attention;
pub mod commands;
pub mod error;
pub mod forms;
pub mod keeper;
pub mod models;
pub mod notification;
pub mod platform;
pub mod settings;
pub mod state;
pub mod timing;
pub mod tray;
pub mod watch;

use tauri::{Manager, Runtime, WindowEvent};
use tauri_plugin_autostart::MacosLauncher;

pub use actions::{show_main_window, MAIN_WINDOW};
pub use error::{Error, Result};

/// The argument the login autostart entry passes: start in the tray, the
/// window hidden.
pub const HIDDEN_ARG: &str = "--hidden";

/// Whether the app was started with `--hidden` (at login).
pub fn started_hidden<I: IntoIterator<Item = S>, S: AsRef<str>>(args: I) -> bool {
    args.into_iter().skip(1).any(|a| a.as_ref() == HIDDEN_ARG)
}

/// The longest the tray icon waits for the window's first cards.
const TRAY_AT_LATEST: std::time::Duration = std::time::Duration::from_secs(3);

/// The plugins, first the single-instance one: a second launch hands over
/// to the running one and exits (a second start at login, with --hidden,
/// leaves the window as it is).
fn with_plugins<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    let builder = builder
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            if !started_hidden(&argv) {
                show_main_window(app)
            }
        }))
        .plugin(tauri_plugin_shell::init())
        // Start at login (Settings): on Linux an entry in ~/.config/autostart
        // that starts the app with --hidden; the .deb's own desktop entry is
        // another file and stays as it is.
        .plugin(tauri_plugin_autostart::init(
            MacosLauncher::LaunchAgent,
            Some(vec![HIDDEN_ARG]),
        ));
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    let builder = builder.plugin(tauri_plugin_notification::init());
    builder
}

/// At start: the tray, the window, the keeper and the file watcher.
fn start(app: &mut tauri::App) -> std::result::Result<(), Box<dyn std::error::Error>> {
    timing::mark("setup");
    let handle = app.handle().clone();
    // Watching before the first read: no change between the two is missed.
    let watch = watch::Watch::start();
    let first = actions::publish(&handle);
    create_window(app, &first)?;
    // The window is created hidden (tauri.conf.json): shown now, with the
    // tray icon after its first cards (`ui_ready`: the icon's D-Bus and GTK
    // work made the page's load about 20 ms slower), or TRAY_AT_LATEST.
    // Started at login with --hidden: only the tray.
    if started_hidden(std::env::args()) {
        platform::window_hidden(&handle);
        tray::start(&handle);
    } else {
        show_main_window(&handle);
        let later = handle.clone();
        std::thread::spawn(move || {
            std::thread::sleep(TRAY_AT_LATEST);
            tray::start(&later);
        });
    }
    timing::mark("shown");
    keeper::start(&handle, &planopticon::Settings::load());
    // Publishes on every change of the files from now on.
    watch.spawn(handle, first)?;
    timing::mark("setup done");
    Ok(())
}

/// The main window (tauri.conf.json's, `"create": false`), with the first
/// snapshot in the page before its script runs: the cards are drawn in the
/// first frame, without waiting for the page to ask (a round trip to this
/// process's main thread, busy while the app starts) and a second paint.
fn create_window(app: &tauri::App, first: &actions::Published) -> tauri::Result<()> {
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN_WINDOW)
        .ok_or_else(|| tauri::Error::WindowNotFound)?
        .clone();
    tauri::WebviewWindowBuilder::from_config(app.handle(), &config)?
        .initialization_script(format!(
            "window.__PLANOPTICON_FIRST_SNAPSHOT__ = {};",
            serde_json::to_string(first)?
        ))
        .build()?;
    Ok(())
}

/// Closing the window hides it to the tray; Quit is in the tray menu.
fn on_window_event<R: Runtime>(window: &tauri::Window<R>, event: &WindowEvent) {
    if let WindowEvent::CloseRequested { api, .. } = event {
        if window.label() == MAIN_WINDOW {
            api.prevent_close();
            let _ = window.hide();
            platform::window_hidden(window.app_handle());
        }
    }
}

pub fn run() {
    with_plugins(tauri::Builder::default())
        .manage(state::AppState::default())
        .manage(tray::Shown::default())
        .manage(actions::Outlets::<tauri::Wry> {
            tray: tray::update,
            notify: notification::show,
        })
        .invoke_handler(tauri::generate_handler![
            commands::snapshot,
            commands::connect,
            commands::cancel,
            commands::paste_code,
            commands::disconnect,
            commands::add_account,
            commands::switch_account,
            commands::disconnect_account,
            commands::dismiss,
            commands::get_settings,
            commands::set_settings,
            commands::set_autostart,
            commands::tray_view,
            commands::probe_keyring,
            commands::set_keyring,
            commands::diagnostics,
            commands::ui_ready,
            commands::service_form,
            commands::save_service,
            commands::save_api_key,
            commands::add_service,
            commands::remove_service,
            commands::open_console,
        ])
        .setup(start)
        .on_window_event(on_window_event)
        .run(tauri::generate_context!("../tauri.conf.json"))
        .expect("error while running PlanOpticon Auth");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_only_with_the_flag() {
        assert!(started_hidden(["planopticon-app", "--hidden"]));
        assert!(!started_hidden(["planopticon-app"]));
        // The program's own name is not an argument.
        assert!(!started_hidden(["--hidden"]));
    }
}
