//! PlanOpticon Auth, the desktop app: a window with one card per service and
//! a tray menu, over the `planopticon` library (which runs the auth chain;
//! nothing here builds an OAuth request). The bundled `planopticon` CLI is
//! the sidecar `planopticon-cli`, run by the About view.
//!
//! - [`commands`]: what the UI invokes, and the snapshot it is sent
//! - [`tray`]: the tray icon, and its menu as a pure function of the statuses
//! - [`state`]: running sign-ins, card notices, the last snapshot
//! - [`models`]: the plain data the UI receives
//! - [`error`]: the crate's one error type
//!
//! Threads: the main thread runs GTK and nothing slow. Sign-ins run on their
//! own threads; commands that read files, touch the keyring or the network
//! run on the blocking pool; a poller re-reads the token files every 500 ms.
//! `commands::publish` (snapshot to the window, tray menu rebuild) never runs
//! on the main thread: it may wait for it to rebuild the menu.

pub mod commands;
pub mod error;
pub mod models;
pub mod state;
pub mod tray;

use std::time::Duration;

use tauri::{AppHandle, Manager, Runtime, WindowEvent};

pub use error::{Error, Result};

/// How often the token files are read to notice changes made by the CLI or
/// the Python tool (a file read per service, no network).
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

pub const MAIN_WINDOW: &str = "main";

/// Shows, un-minimizes and focuses the main window.
pub fn show_main_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}

pub fn run() {
    tauri::Builder::default()
        // First: a second launch hands over to the running one and exits.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            show_main_window(app)
        }))
        .plugin(tauri_plugin_shell::init())
        .manage(state::AppState::default())
        .invoke_handler(tauri::generate_handler![
            commands::snapshot,
            commands::connect,
            commands::cancel,
            commands::paste_code,
            commands::disconnect,
            commands::dismiss,
            commands::get_settings,
            commands::probe_keyring,
            commands::set_keyring,
            commands::diagnostics,
            commands::ui_ready,
        ])
        .setup(|app| {
            let handle = app.handle().clone();
            let seen = state::observe(
                &planopticon::Registry::path(),
                planopticon::system_clock()(),
            );
            // No tray host (a bare X server, some desktops): the window still works.
            if let Err(e) = tray::create(&handle, &seen.statuses) {
                log::warn!("no tray icon: {e}");
            }
            std::thread::Builder::new()
                .name("status-poller".into())
                .spawn(move || loop {
                    commands::publish(&handle);
                    std::thread::sleep(POLL_INTERVAL);
                })?;
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window hides it to the tray; Quit is in the tray menu.
            if let WindowEvent::CloseRequested { api, .. } = event {
                if window.label() == MAIN_WINDOW {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
        })
        .run(tauri::generate_context!("../tauri.conf.json"))
        .expect("error while running PlanOpticon Auth");
}
