//! The library's keeper, run by the app: it refreshes each connection ahead
//! of expiry and checks its health, sleeping until something is due. It runs
//! on a thread of its own while the Settings switch is on.
//!
//! - [`start`]: once, in `lib.rs` setup.
//! - [`files_changed`]: by the file watcher (`watch.rs`) after each burst of
//!   changes: the keeper re-reads the files (another process may have
//!   refreshed, signed in or out), and the cards are published.
//! - [`settings_changed`]: by the `set_settings` command: starts, stops or
//!   re-times the keeper.
//!
//! The keeper reports what it finds through the token files (a connection
//! that needs a person is marked there with its reason); the watcher sees
//! that write and `actions::publish` turns the transition into the
//! notification and the tray's attention. Its events are only logged here.

use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;
use std::time::Duration;

use planopticon::keeper::{Keeper, KeeperSettings, Wake};
use planopticon::{Registry, Settings};
use tauri::{AppHandle, Manager, Runtime};

use crate::actions::{publish, Published};
use crate::state::lock;

/// The running keeper's wake channel; `None` while the switch is off.
#[derive(Default)]
pub struct Running(Mutex<Option<Sender<Wake>>>);

impl Running {
    fn replace(&self, next: Option<Sender<Wake>>) {
        if let Some(old) = std::mem::replace(&mut *lock(&self.0), next) {
            let _ = old.send(Wake::Stop);
        }
    }

    fn wake(&self, why: Wake) {
        if let Some(tx) = lock(&self.0).as_ref() {
            let _ = tx.send(why);
        }
    }
}

fn keeper_settings(settings: &Settings) -> KeeperSettings {
    KeeperSettings {
        identity_interval: Duration::from_secs(u64::from(settings.identity_check_hours) * 3600),
        ..KeeperSettings::default()
    }
}

/// A keeper on its own thread, when the switch is on.
fn spawn(settings: &Settings) -> Option<Sender<Wake>> {
    if !settings.keeper {
        return None;
    }
    let keeper = Keeper::new(
        || Registry::load().configs().cloned().collect(),
        planopticon::system_clock(),
        keeper_settings(settings),
    )
    .on_event(|e| log::info!("keeper: {}: {:?}", e.service, e.outcome));
    let (tx, rx) = channel();
    match std::thread::Builder::new()
        .name("keeper".into())
        .spawn(move || keeper.run(rx))
    {
        Ok(_) => Some(tx),
        Err(e) => {
            log::warn!("the keeper could not start: {e}");
            None
        }
    }
}

/// Called once at start, with the settings as saved.
pub fn start<R: Runtime>(app: &AppHandle<R>, settings: &Settings) {
    app.manage(Running::default());
    app.state::<Running>().replace(spawn(settings));
}

/// Called by the file watcher after a burst of file changes, or when an
/// expiry is due.
pub fn files_changed<R: Runtime>(app: &AppHandle<R>) -> Published {
    if let Some(running) = app.try_state::<Running>() {
        running.wake(Wake::FileChanged(None));
    }
    publish(app)
}

/// Called after the Settings page saved a change.
pub fn settings_changed<R: Runtime>(app: &AppHandle<R>, settings: &Settings) {
    if let Some(running) = app.try_state::<Running>() {
        running.replace(spawn(settings));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_and_the_interval_reach_the_keeper() {
        let off = Settings {
            keeper: false,
            ..Settings::default()
        };
        assert!(spawn(&off).is_none());
        let s = Settings {
            identity_check_hours: 2,
            ..Settings::default()
        };
        assert_eq!(
            keeper_settings(&s).identity_interval,
            Duration::from_secs(7200)
        );
        // A running keeper stops when replaced.
        let running = Running::default();
        let (tx, rx) = channel();
        running.replace(Some(tx));
        running.replace(None);
        assert_eq!(rx.recv().unwrap(), Wake::Stop);
    }
}
