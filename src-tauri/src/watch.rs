//! Live updates: file-system events (the `notify` crate; inotify on Linux)
//! on `~/.planopticon` and on the folder of every token file kept elsewhere
//! (`token_path` in services.toml), with the saved accounts' folders beside
//! them (`accounts/` and `accounts/{service}/`), instead of re-reading every file on a
//! timer. A burst of events (an atomic write is several) is one update after
//! 100 ms of quiet. Besides events, the thread wakes when a connected token's
//! expiry is due (its card turns expired without any file changing). Only
//! when a folder cannot be watched does it also read the files every 30 s.
//! services.toml, the settings, where the app runs and the secrets in the
//! keyring are read once per burst (a [`Context`]); a wake by the clock
//! alone reads only the token files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use planopticon::{Registry, State};
use tauri::{AppHandle, Runtime};

use crate::actions::Published;
use crate::models::Card;
use crate::state::Context;

/// Quiet time that ends a burst of events.
pub const DEBOUNCE: Duration = Duration::from_millis(100);
/// The longest a burst may hold up an update (a file written without pause).
pub const MAX_DELAY: Duration = Duration::from_millis(500);
/// How often the files are read when a folder cannot be watched.
pub const FALLBACK_POLL: Duration = Duration::from_secs(30);

/// The folders to watch: the config folder, and the folder of each token file.
pub fn watched_dirs(config_dir: &Path, cards: &[Card]) -> BTreeSet<PathBuf> {
    dirs_of(config_dir, cards.iter().map(|c| Path::new(&c.token_path)))
}

fn dirs_of<'a>(
    config_dir: &Path,
    token_files: impl Iterator<Item = &'a Path>,
) -> BTreeSet<PathBuf> {
    let mut dirs = BTreeSet::from([config_dir.to_path_buf()]);
    dirs.extend(
        token_files
            .filter_map(Path::parent)
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf),
    );
    let accounts: Vec<PathBuf> = dirs.iter().flat_map(|d| accounts_dirs(d)).collect();
    dirs.extend(accounts);
    dirs
}

/// The saved accounts' folders beside the token files of `dir`, those
/// that exist: `accounts/` (a service's first saved account makes its
/// folder there) and `accounts/{service}/` (a saved account signed in,
/// refreshed or signed out, the index a CLI `planopticon switch` writes).
fn accounts_dirs(dir: &Path) -> Vec<PathBuf> {
    let root = dir.join("accounts");
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Vec::new();
    };
    let mut out = vec![root];
    out.extend(
        entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path()),
    );
    out
}

/// How long until the first connected token expires (when its card changes
/// by the clock alone), if any does.
pub fn next_expiry(cards: &[Card], now: f64) -> Option<Duration> {
    cards
        .iter()
        .filter(|c| c.state == State::Connected)
        .filter_map(|c| c.expires_at)
        .filter(|e| *e > now)
        .map(|e| e - now)
        .min_by(f64::total_cmp)
        // A little after, so the read sees it expired.
        .map(|secs| Duration::from_secs_f64(secs) + Duration::from_millis(50))
}

/// How long to sleep when no event comes: until the next expiry, and at most
/// the fallback poll when a folder is not watched. `None`: until an event.
pub fn wait_for(expiry: Option<Duration>, all_watched: bool) -> Option<Duration> {
    match (expiry, all_watched) {
        (e, true) => e,
        (Some(e), false) => Some(e.min(FALLBACK_POLL)),
        (None, false) => Some(FALLBACK_POLL),
    }
}

/// Whether an event can change what a file holds (opening or reading one,
/// as every update does, cannot).
fn changes(kind: &EventKind) -> bool {
    !matches!(kind, EventKind::Access(_))
}

/// The watches, made before the first read of the files (so that nothing
/// that changes between the two is missed), and the thread that follows
/// them once started with that read's snapshot.
pub struct Watch {
    config_dir: PathBuf,
    folders: Folders,
    rx: Receiver<()>,
    /// Kept, so the channel stays open without a watcher.
    _keep_open: Sender<()>,
}

impl Watch {
    /// Watches `~/.planopticon` (made if missing) and the folder of every
    /// service's token file, as services.toml names them: no token file is
    /// read for it.
    pub fn start() -> Self {
        let config_dir = planopticon::config::config_dir();
        // Made owner-only by the library, so it can be watched before the first sign-in.
        let _ = planopticon::store::ensure_folder(&config_dir);
        let (tx, rx) = channel::<()>();
        let mut folders = Folders::new(watcher(tx.clone()));
        let token_files: Vec<PathBuf> = Registry::load()
            .configs()
            .map(|c| c.resolved_token_path())
            .collect();
        folders.follow(dirs_of(
            &config_dir,
            token_files.iter().map(PathBuf::as_path),
        ));
        Self {
            config_dir,
            folders,
            rx,
            _keep_open: tx,
        }
    }

    /// Starts the watcher thread from `first`, the snapshot published after
    /// the watches were made: it publishes on every change from then on.
    pub fn spawn<R: Runtime>(self, app: AppHandle<R>, first: Published) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("file-watcher".into())
            .spawn(move || self.run(&app, first))
            .map(|_| ())
    }

    fn run<R: Runtime>(mut self, app: &AppHandle<R>, first: Published) {
        let services_file = Registry::path();
        let mut published = first;
        // services.toml and the rest, read again after each burst of events.
        let mut context: Option<Rc<Context>> = None;
        loop {
            let cards = &published.snapshot.cards;
            let all_watched = self.folders.follow(watched_dirs(&self.config_dir, cards));
            let now = planopticon::system_clock()();
            let wait = wait_for(next_expiry(cards, now), all_watched);
            let lent = match (next_change(&self.rx, wait), context.take()) {
                (Change::Closed, _) => return,
                // An expiry is due and every folder is watched: no file
                // changed, only the token files are read again.
                (Change::Timeout, Some(kept)) if all_watched => context.insert(kept),
                _ => context.insert(Rc::new(Context::load(&services_file))),
            };
            published = lent.in_use(|| crate::keeper::files_changed(app));
        }
    }
}

/// A watcher that sends on `tx` for every change of a file; `None` when
/// none can be made (then the files are read every 30 s).
fn watcher(tx: Sender<()>) -> Option<RecommendedWatcher> {
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        match res {
            Ok(ev) if changes(&ev.kind) => {
                let _ = tx.send(());
            }
            Ok(_) => {}
            // The watcher lost events (a full queue): read everything again.
            Err(_) => {
                let _ = tx.send(());
            }
        }
    });
    match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            log::warn!(
                "cannot watch files ({e}); reading them every {} s",
                FALLBACK_POLL.as_secs()
            );
            None
        }
    }
}

/// The folders being watched, following the cards' token files.
struct Folders {
    watcher: Option<RecommendedWatcher>,
    watched: BTreeSet<PathBuf>,
    /// Folders that could not be watched, said once each.
    warned: BTreeSet<PathBuf>,
}

impl Folders {
    fn new(watcher: Option<RecommendedWatcher>) -> Self {
        Self {
            watcher,
            watched: BTreeSet::new(),
            warned: BTreeSet::new(),
        }
    }

    /// Watches `want` and no other folder; true when every one is watched.
    fn follow(&mut self, want: BTreeSet<PathBuf>) -> bool {
        let Some(w) = self.watcher.as_mut() else {
            return false;
        };
        for gone in self.watched.difference(&want).cloned().collect::<Vec<_>>() {
            let _ = w.unwatch(&gone);
            self.watched.remove(&gone);
        }
        let mut all_watched = true;
        for dir in want.difference(&self.watched).cloned().collect::<Vec<_>>() {
            match w.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(dir);
                }
                Err(e) => {
                    all_watched = false;
                    if self.warned.insert(dir.clone()) {
                        log::warn!(
                            "cannot watch {} ({e}); reading the files every {} s",
                            dir.display(),
                            FALLBACK_POLL.as_secs()
                        );
                    }
                }
            }
        }
        all_watched
    }
}

/// What ended a wait.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    /// A burst of file events ended.
    Files,
    /// The wait ran out without an event.
    Timeout,
    /// The channel is closed.
    Closed,
}

/// Waits up to `wait` (forever: `None`) for an event, then for the burst to
/// end.
fn next_change(rx: &Receiver<()>, wait: Option<Duration>) -> Change {
    let first = match wait {
        Some(d) => rx.recv_timeout(d),
        None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
    };
    match first {
        Err(RecvTimeoutError::Disconnected) => return Change::Closed,
        Err(RecvTimeoutError::Timeout) => return Change::Timeout,
        Ok(()) => {}
    }
    let end = Instant::now() + MAX_DELAY;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(DEBOUNCE.min(left)) {
            Ok(()) if !left.is_zero() => continue,
            Err(RecvTimeoutError::Disconnected) => return Change::Closed,
            _ => return Change::Files,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Card;

    fn card(service: &str, token_path: &str, state: State, expires_at: Option<f64>) -> Card {
        let mut s = crate::models::tests::status_of(service, state);
        s.display_name = service.into();
        s.token_path = PathBuf::from(token_path);
        s.expires_at = expires_at;
        Card::new(&s)
    }

    #[test]
    fn the_config_folder_and_every_token_folder_are_watched() {
        let cards = [
            card(
                "acme",
                "/h/.planopticon/acme_token.json",
                State::NotConnected,
                None,
            ),
            card("beta", "/srv/tokens/beta.json", State::NotConnected, None),
            card("gamma", "/srv/tokens/gamma.json", State::NotConnected, None),
        ];
        let dirs = watched_dirs(Path::new("/h/.planopticon"), &cards);
        let dirs: Vec<&str> = dirs.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(dirs, ["/h/.planopticon", "/srv/tokens"]);
    }

    #[test]
    fn the_saved_accounts_folders_are_watched_once_they_exist() {
        let home = tempfile::tempdir().unwrap();
        let conf = home.path().join(".planopticon");
        std::fs::create_dir_all(&conf).unwrap();
        let token = conf.join("acme_token.json");
        let cards = [card(
            "acme",
            token.to_str().unwrap(),
            State::NotConnected,
            None,
        )];
        assert_eq!(watched_dirs(&conf, &cards), BTreeSet::from([conf.clone()]));
        std::fs::create_dir_all(conf.join("accounts").join("acme")).unwrap();
        assert_eq!(
            watched_dirs(&conf, &cards),
            BTreeSet::from([
                conf.clone(),
                conf.join("accounts"),
                conf.join("accounts").join("acme")
            ])
        );
    }

    #[test]
    fn it_wakes_when_the_first_connected_token_expires() {
        let cards = [
            card("a", "/t/a", State::Connected, Some(1100.0)),
            card("b", "/t/b", State::Connected, Some(1030.0)),
            // Already expired, or not connected: nothing to wait for.
            card("c", "/t/c", State::ExpiredRefreshable, Some(900.0)),
            card("d", "/t/d", State::NeedsReconnect, Some(1001.0)),
        ];
        assert_eq!(
            next_expiry(&cards, 1000.0),
            Some(Duration::from_millis(30_050))
        );
        assert_eq!(next_expiry(&cards[2..], 1000.0), None);
    }

    #[test]
    fn it_polls_only_when_a_folder_is_not_watched() {
        let soon = Some(Duration::from_secs(5));
        let late = Some(Duration::from_secs(3600));
        assert_eq!(wait_for(None, true), None);
        assert_eq!(wait_for(soon, true), soon);
        assert_eq!(wait_for(late, true), late);
        assert_eq!(wait_for(None, false), Some(FALLBACK_POLL));
        assert_eq!(wait_for(late, false), Some(FALLBACK_POLL));
        assert_eq!(wait_for(soon, false), soon);
    }

    #[test]
    fn a_burst_is_one_change() {
        let (tx, rx) = channel();
        for _ in 0..5 {
            tx.send(()).unwrap();
        }
        let t = Instant::now();
        assert_eq!(next_change(&rx, None), Change::Files);
        assert!(t.elapsed() >= DEBOUNCE && t.elapsed() < MAX_DELAY + DEBOUNCE);
        assert!(rx.try_recv().is_err(), "the burst was drained");
        // No event: the timeout wakes it.
        assert_eq!(
            next_change(&rx, Some(Duration::from_millis(10))),
            Change::Timeout
        );
        drop(tx);
        assert_eq!(
            next_change(&rx, Some(Duration::from_millis(10))),
            Change::Closed
        );
    }

    #[test]
    fn a_file_written_in_a_watched_folder_is_an_event() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = channel();
        let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                if changes(&ev.kind) {
                    let _ = tx.send(());
                }
            }
        })
        .unwrap();
        w.watch(dir.path(), RecursiveMode::NonRecursive).unwrap();
        std::fs::write(dir.path().join("acme_token.json"), "{}").unwrap();
        assert!(rx.recv_timeout(Duration::from_secs(5)).is_ok());
        while rx.recv_timeout(Duration::from_millis(200)).is_ok() {}
        // Reading it is not.
        let _ = std::fs::read(dir.path().join("acme_token.json")).unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    }
}
