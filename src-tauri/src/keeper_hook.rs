//! THE KEEPER HOOK: where a background component that keeps connections
//! alive (the library's keeper, `planopticon::keeper`, not wired yet) is
//! started with the app handle, told when the files change, and told when
//! its settings change. Three functions, each called from one place:
//!
//! - [`start`]: once, in `lib.rs` setup, after the tray and before the file
//!   watcher starts. Start the keeper here when `settings.keeper` is on, and
//!   keep its handle in the app's state (`app.manage(...)`) so the other two
//!   can reach it with `app.try_state::<...>()`.
//! - [`files_changed`]: by the file watcher (`watch.rs`) after each burst of
//!   changes in `~/.planopticon` or a token file's folder, and when a
//!   token's expiry is due. It publishes (the cards, the tray, the
//!   notifications); then the keeper can be told to look again.
//! - [`settings_changed`]: by the `set_settings` command after it saved the
//!   keeper switch or the identity-check interval: start, stop or re-time
//!   the keeper here.
//!
//! The keeper reports what it finds through the token files (a connection
//! that needs a person is written as `NeedsReconnect` with its reason); the
//! watcher sees that write and `commands::publish` turns the transition into
//! the notification and the tray's attention. So nothing else in the app
//! needs to know about the keeper.

use planopticon::Settings;
use tauri::{AppHandle, Runtime};

use crate::commands::{publish, Published};

/// Called once at start, with the settings as saved.
pub fn start<R: Runtime>(_app: &AppHandle<R>, settings: &Settings) {
    // Wire the keeper here: if settings.keeper { start it with the app
    // handle and settings.identity_check_hours; app.manage(its handle) }.
    log::info!(
        "keeper {} (identity check every {} h); not wired into the app yet",
        if settings.keeper { "on" } else { "off" },
        settings.identity_check_hours
    );
}

/// Called by the file watcher after a burst of file changes, or when an
/// expiry is due.
pub fn files_changed<R: Runtime>(app: &AppHandle<R>) -> Published {
    // Wire the keeper here: tell it the files changed (it re-reads them and
    // re-plans its next refresh or check), then publish as now.
    publish(app)
}

/// Called after the Settings page saved a change.
pub fn settings_changed<R: Runtime>(_app: &AppHandle<R>, settings: &Settings) {
    // Wire the keeper here: start or stop it on settings.keeper, re-time its
    // identity check on settings.identity_check_hours.
    log::info!(
        "settings changed: keeper {}, notifications {}, identity check every {} h",
        settings.keeper,
        settings.notifications,
        settings.identity_check_hours
    );
}
