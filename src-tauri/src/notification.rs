//! Desktop notifications: "Zoom needs reconnecting", once per incident
//! (see [`crate::attention`]). Activating one opens the window and starts
//! Connect for that service.
//!
//! On Linux (and the BSDs) this talks to the freedesktop notification server
//! (D-Bus `org.freedesktop.Notifications`) with `notify-rust` directly:
//! `tauri-plugin-notification` uses the same crate there, but on desktop it
//! only shows a notification, without actions, and drops the server's
//! answer, so activation could not be heard. Elsewhere the plugin shows it
//! (no activation there yet; the tray's "Reconnect X" does the same).
//!
//! No notification server (a bare session, a desktop without one) is not an
//! error for the app: it is logged and the tray still shows the attention.

use tauri::{AppHandle, Runtime};

use crate::attention::Incident;

/// The action the notification server sends when the notification itself is
/// clicked (freedesktop spec: "default").
pub const DEFAULT_ACTION: &str = "default";
/// A button on the notification, for servers that show actions as buttons.
pub const RECONNECT_ACTION: &str = "reconnect";

/// Whether an action the server reported means "reconnect".
pub fn activates(action: &str) -> bool {
    matches!(action, DEFAULT_ACTION | RECONNECT_ACTION)
}

/// Shows the notification for `incident`, on its own thread (the D-Bus call
/// and the wait for an action must not hold up the caller).
pub fn show<R: Runtime>(app: &AppHandle<R>, incident: Incident) {
    let app = app.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("notify-{}", incident.service))
        .spawn(move || {
            if let Err(e) = show_and_wait(&app, &incident) {
                log::warn!(
                    "notifications unavailable ({e}); {} is shown in the tray only",
                    incident.summary()
                );
            }
        });
    if let Err(e) = spawned {
        log::warn!("could not start the notification thread: {e}");
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
fn show_and_wait<R: Runtime>(app: &AppHandle<R>, incident: &Incident) -> Result<(), String> {
    let handle = notify_rust::Notification::new()
        .appname(crate::attention::APP_NAME)
        .summary(&incident.summary())
        // Servers read a little markup in the body (freedesktop spec).
        .body(&planopticon::untrusted::for_markup(&incident.body()))
        .auto_icon()
        .action(DEFAULT_ACTION, "Reconnect")
        .action(RECONNECT_ACTION, "Reconnect")
        .show()
        .map_err(|e| e.to_string())?;
    // Returns when the notification is activated, dismissed or expires.
    handle.wait_for_action(|action| {
        if activates(action) {
            match &incident.account {
                Some(a) => crate::actions::reconnect_account(app, &incident.service, a),
                None => crate::actions::reconnect(app, &incident.service),
            }
        }
    });
    Ok(())
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
fn show_and_wait<R: Runtime>(app: &AppHandle<R>, incident: &Incident) -> Result<(), String> {
    use tauri_plugin_notification::NotificationExt;
    app.notification()
        .builder()
        .title(incident.summary())
        .body(incident.body())
        .show()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_click_or_the_button_reconnects_closing_does_not() {
        assert!(activates("default"));
        assert!(activates("reconnect"));
        assert!(!activates("__closed"));
        assert!(!activates(""));
    }
}
