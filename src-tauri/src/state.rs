//! The app's state: running sign-ins (one control channel per service), the
//! notice on each card, and the last snapshot sent to the UI; and what the
//! cards are read from (a [`Context`] the file watcher reads once per burst
//! of file events). No Tauri types here, so all of it is tested without a
//! display.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;

use planopticon::{
    AccountInfo, Accounts, Control, Registry, ServiceStatus, Settings, SignIn as LibSignIn,
};

use crate::error::{Error, Result};
use crate::models::{card_order, Card, Notice, SignIn, Snapshot};

struct Session {
    control: Sender<Control>,
    sign_in: SignIn,
}

/// The sign-ins running now, by service: the sending end of each one's
/// control channel (Cancel, Paste) and what the UI shows while it waits.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

impl Sessions {
    /// Registers a sign-in; the receiver goes to the library. One per service.
    pub fn start(&self, service: &str) -> Result<Receiver<Control>> {
        let mut map = lock(&self.0);
        if map.contains_key(service) {
            return Err(Error::AlreadyConnecting {
                service: service.into(),
            });
        }
        let (tx, rx) = channel();
        map.insert(
            service.into(),
            Session {
                control: tx,
                sign_in: SignIn::default(),
            },
        );
        Ok(rx)
    }

    /// The library built the authorization URL (its `on_prompt`).
    pub fn prompted(&self, service: &str, url: &str, sign_in: LibSignIn, user_code: Option<&str>) {
        if let Some(s) = lock(&self.0).get_mut(service) {
            s.sign_in.url = Some(url.into());
            s.sign_in.mode = Some(sign_in.into());
            s.sign_in.user_code = user_code.map(Into::into);
        }
    }

    /// Cancel, or a pasted code, for the waiting sign-in.
    pub fn send(&self, service: &str, control: Control) -> Result<()> {
        let map = lock(&self.0);
        let not_waiting = || Error::NotConnecting {
            service: service.into(),
        };
        let session = map.get(service).ok_or_else(not_waiting)?;
        // A closed channel: the sign-in ended a moment ago.
        session.control.send(control).map_err(|_| not_waiting())
    }

    pub fn finish(&self, service: &str) {
        lock(&self.0).remove(service);
    }

    pub fn sign_in(&self, service: &str) -> Option<SignIn> {
        lock(&self.0).get(service).map(|s| s.sign_in.clone())
    }

    pub fn running(&self) -> Vec<String> {
        lock(&self.0).keys().cloned().collect()
    }
}

/// A poisoned lock only means another thread panicked mid-update of plain
/// data; carry on with it.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every service as the window shows it, read from the files (no network).
#[derive(Debug, Default)]
pub struct Observed {
    pub statuses: Vec<ServiceStatus>,
    /// How each service's sign-in should go here (the library decides by
    /// where the app runs: a code first over a forwarded display).
    pub ways: HashMap<String, planopticon::chain::Way>,
    /// What is wrong with `services.toml` (the services it does not touch
    /// work as usual).
    pub error: Option<String>,
    /// Tokens are mirrored into the OS keyring.
    pub keyring: bool,
    /// The saved accounts of each service that keeps any beside the
    /// documented file (`~/.planopticon/accounts/{service}/`), active first.
    pub accounts: HashMap<String, Vec<AccountInfo>>,
}

/// What observing reads besides the token files: services.toml (with the
/// secrets it keeps in the OS keyring), where the app runs, and the
/// settings. Loaded once per burst of file events; the token files, which
/// the clock alone changes the meaning of, are read at each observation.
pub struct Context {
    services_file: PathBuf,
    registry: Registry,
    here: planopticon::chain::Whereabouts,
    settings: Settings,
}

impl Context {
    /// Reads each of them once.
    pub fn load(services_file: &Path) -> Self {
        Self {
            services_file: services_file.to_path_buf(),
            registry: Registry::load_from(services_file).with_keyring_read(),
            here: planopticon::chain::Whereabouts::from_env(),
            settings: Settings::load(),
        }
    }

    /// Every service's status at `now`, and the problems of `services.toml`.
    pub fn observe(&self, now: f64) -> Observed {
        let problems: Vec<String> = self
            .registry
            .problems()
            .iter()
            .map(|e| e.to_string())
            .collect();
        Observed {
            statuses: self.registry.statuses(now),
            ways: self
                .registry
                .configs()
                .map(|c| (c.service.clone(), self.here.choose(c).way))
                .collect(),
            error: (!problems.is_empty()).then(|| problems.join("\n")),
            keyring: self.settings.keyring,
            accounts: self.accounts(),
        }
    }

    /// The accounts of the services that have a folder of saved accounts
    /// (the others have one account at most: only the folder is looked at).
    fn accounts(&self) -> HashMap<String, Vec<AccountInfo>> {
        self.registry
            .configs()
            .filter(|c| planopticon::accounts::Layout::of(c).dir.is_dir())
            .map(|c| {
                let list = Accounts::with_keyring(c.clone(), false).list();
                (c.service.clone(), list)
            })
            .filter(|(_, list)| !list.is_empty())
            .collect()
    }

    /// Runs `work` (which observes, perhaps deep inside: the watcher's
    /// publish) with this context as the one [`observe`] uses on this
    /// thread for the same services file.
    pub fn in_use<T>(self: &Rc<Self>, work: impl FnOnce() -> T) -> T {
        struct Restore(Option<Rc<Context>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                IN_USE.with(|c| *c.borrow_mut() = self.0.take());
            }
        }
        let _restore = Restore(IN_USE.with(|c| c.borrow_mut().replace(Rc::clone(self))));
        work()
    }
}

thread_local! {
    /// The context [`Context::in_use`] lends to [`observe`] on this thread.
    static IN_USE: RefCell<Option<Rc<Context>>> = const { RefCell::new(None) };
}

/// Reads every service's status, and the problems of `services.toml`: with
/// the context lent on this thread (see [`Context::in_use`]) when it is for
/// the same file, else with one read now.
pub fn observe(services_file: &Path, now: f64) -> Observed {
    match IN_USE.with(|c| c.borrow().clone()) {
        Some(ctx) if ctx.services_file == services_file => ctx.observe(now),
        _ => Context::load(services_file).observe(now),
    }
}

#[derive(Default)]
pub struct AppState {
    pub sessions: Sessions,
    pub notices: Mutex<HashMap<String, Notice>>,
    /// The last snapshot sent, so only changes are sent; held while one is
    /// built and sent, so two threads cannot send them out of order.
    pub last: Mutex<Option<(u64, Snapshot)>>,
    /// Every service's status as last published: the tray icon is made
    /// from it (see `tray::start`), without reading the files again.
    pub statuses: Mutex<Vec<ServiceStatus>>,
    /// The services whose need of a new sign-in was notified; one leaves
    /// when it no longer needs one (see `attention::begun`).
    pub notified: Mutex<HashSet<String>>,
    /// The window has shown its first cards.
    pub ui_ready: std::sync::atomic::AtomicBool,
    /// Every service's saved accounts as last published (see
    /// [`Observed::accounts`]): the tray lists them.
    pub accounts: Mutex<HashMap<String, Vec<AccountInfo>>>,
    /// The saved (not active) accounts whose need of a new sign-in was
    /// notified, as `service/account` (see `attention::begun_saved`).
    pub notified_saved: Mutex<HashSet<String>>,
}

impl AppState {
    pub fn set_notice(&self, service: &str, notice: Option<Notice>) {
        let mut map = lock(&self.notices);
        match notice {
            Some(n) => map.insert(service.into(), n),
            None => map.remove(service),
        };
    }

    /// The cards for what was observed, with this app's sign-ins and notices.
    pub fn snapshot(&self, seen: &Observed, services_file: &Path) -> Snapshot {
        let notices = lock(&self.notices);
        let mut cards: Vec<Card> = seen
            .statuses
            .iter()
            .map(|s| {
                let mut c = Card::new(s);
                c.suggested = seen.ways.get(&s.service).copied();
                c.sign_in = self.sessions.sign_in(&s.service);
                c.notice = notices.get(&s.service).cloned();
                c.accounts = crate::models::account_items(seen.accounts.get(&s.service));
                c
            })
            .collect();
        cards.sort_by(card_order);
        Snapshot {
            cards,
            services_error: seen.error.clone(),
            services_file: services_file.display().to_string(),
            keyring: seen.keyring,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::SignInMode;
    use planopticon::{RedirectMode, State};

    #[test]
    fn one_sign_in_per_service() {
        let s = Sessions::default();
        let _rx = s.start("acme").unwrap();
        assert!(matches!(
            s.start("acme"),
            Err(Error::AlreadyConnecting { .. })
        ));
        assert!(s.start("github").is_ok());
        s.finish("acme");
        assert!(s.start("acme").is_ok());
    }

    #[test]
    fn cancel_and_paste_reach_the_waiting_sign_in() {
        let s = Sessions::default();
        let rx = s.start("acme").unwrap();
        s.send("acme", Control::Paste("code123".into())).unwrap();
        s.send("acme", Control::Cancel).unwrap();
        assert!(matches!(rx.recv().unwrap(), Control::Paste(t) if t == "code123"));
        assert!(matches!(rx.recv().unwrap(), Control::Cancel));
        assert!(matches!(
            s.send("github", Control::Cancel),
            Err(Error::NotConnecting { .. })
        ));
        // The library dropped its end: the sign-in is over.
        drop(rx);
        assert!(matches!(
            s.send("acme", Control::Cancel),
            Err(Error::NotConnecting { .. })
        ));
    }

    #[test]
    fn the_prompt_shows_on_the_card() {
        let s = Sessions::default();
        let _rx = s.start("acme").unwrap();
        assert_eq!(s.sign_in("acme"), Some(SignIn::default()));
        s.prompted(
            "acme",
            "http://127.0.0.1:9/auth?x",
            LibSignIn::Browser(RedirectMode::Loopback),
            None,
        );
        let si = s.sign_in("acme").unwrap();
        assert_eq!(si.url.as_deref(), Some("http://127.0.0.1:9/auth?x"));
        assert_eq!(si.mode, Some(SignInMode::Loopback));
        s.finish("acme");
        assert_eq!(s.sign_in("acme"), None);
        // A late prompt for a finished sign-in is ignored.
        s.prompted("acme", "u", LibSignIn::Browser(RedirectMode::Paste), None);
        assert_eq!(s.sign_in("acme"), None);
        // A device sign-in: the code to enter rides along.
        let _rx = s.start("github").unwrap();
        s.prompted(
            "github",
            "https://x/device",
            LibSignIn::Device,
            Some("WDJB-MJHT"),
        );
        let si = s.sign_in("github").unwrap();
        assert_eq!(
            (si.mode, si.user_code.as_deref()),
            (Some(SignInMode::Device), Some("WDJB-MJHT"))
        );
    }

    fn services_toml(dir: &Path, extra: &str) -> std::path::PathBuf {
        let p = dir.join("services.toml");
        let text = format!(
            r#"
[acme]
oauth_authorize_url = "http://127.0.0.1:9/auth"
oauth_token_url = "http://127.0.0.1:9/token"
client_id = "public-native"
redirect_uri = "http://127.0.0.1/callback"
token_path = "{tok}"
{extra}
"#,
            tok = dir.join("acme_token.json").display()
        );
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn device_sign_in_is_offered_where_configured() {
        let dir = tempfile::tempdir().unwrap();
        let file = services_toml(
            dir.path(),
            "device_authorization_url = \"http://127.0.0.1:9/device\"",
        );
        let snap = AppState::default().snapshot(&observe(&file, 1000.0), &file);
        let device = |name: &str| {
            snap.cards
                .iter()
                .find(|c| c.service == name)
                .unwrap()
                .device
        };
        assert!(device("acme"));
        // GitHub offers it, but without GITHUB_CLIENT_ID there is nothing to sign in with.
        assert!(!device("zoom"));
        let plain = services_toml(dir.path(), "");
        let snap = AppState::default().snapshot(&observe(&plain, 1000.0), &plain);
        assert!(
            !snap
                .cards
                .iter()
                .find(|c| c.service == "acme")
                .unwrap()
                .device
        );
    }

    #[test]
    fn snapshot_lists_builtins_and_custom_services() {
        let dir = tempfile::tempdir().unwrap();
        let file = services_toml(dir.path(), "");
        let seen = observe(&file, 1000.0);
        assert_eq!(seen.error, None);
        let state = AppState::default();
        let snap = state.snapshot(&seen, &file);
        let names: Vec<&str> = snap.cards.iter().map(|c| c.service.as_str()).collect();
        // The built-ins in their order, then the custom service.
        let builtins = planopticon::services::BUILTIN;
        assert_eq!(names, [&builtins[..], &["acme"]].concat());
        let acme = snap.cards.last().unwrap();
        assert_eq!(acme.state, State::NotConnected);
        assert_eq!(acme.display_name, "Acme");
        assert!(
            acme.detail.as_deref().unwrap().contains("Connect") && acme.configured,
            "{acme:?}"
        );
    }

    #[test]
    fn a_token_file_written_elsewhere_shows_up() {
        let dir = tempfile::tempdir().unwrap();
        let file = services_toml(dir.path(), "");
        let token = serde_json::json!({
            "access_token": "at", "refresh_token": "rt", "expires_at": 2000.0,
            "obtained_by": "oauth_pkce", "account": {"login": "alice@example.com"}
        });
        std::fs::write(dir.path().join("acme_token.json"), token.to_string()).unwrap();
        let state = AppState::default();
        let snap = state.snapshot(&observe(&file, 1000.0), &file);
        let acme = snap.cards.iter().find(|c| c.service == "acme").unwrap();
        assert_eq!(acme.state, State::Connected);
        assert_eq!(acme.method.as_deref(), Some("oauth_pkce"));
        assert_eq!(acme.account.as_deref(), Some("alice@example.com"));
        assert!(acme.can_disconnect);
        // Later than expires_at: refreshable, since there is a refresh token.
        let acme2 = state.snapshot(&observe(&file, 3000.0), &file);
        let acme2 = acme2.cards.iter().find(|c| c.service == "acme").unwrap();
        assert_eq!(acme2.state, State::ExpiredRefreshable);
    }

    #[test]
    fn the_way_that_suits_this_place_rides_on_the_card() {
        let dir = tempfile::tempdir().unwrap();
        let file = services_toml(dir.path(), "");
        let mut seen = observe(&file, 0.0);
        seen.ways
            .insert("acme".into(), planopticon::chain::Way::Remote);
        let snap = AppState::default().snapshot(&seen, &file);
        let acme = snap.cards.iter().find(|c| c.service == "acme").unwrap();
        assert_eq!(acme.suggested, Some(planopticon::chain::Way::Remote));
        assert_eq!(
            serde_json::to_value(acme).unwrap()["suggested"],
            serde_json::json!("remote")
        );
    }

    #[test]
    fn a_broken_services_file_is_shown_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("services.toml");
        std::fs::write(&file, "[acme\noauth_token_url = 1\n").unwrap();
        let seen = observe(&file, 0.0);
        // The built-ins are still there, and the broken table's service
        // shows its error.
        assert_eq!(seen.statuses.len(), 8);
        let acme = seen.statuses.iter().find(|s| s.service == "acme").unwrap();
        assert_eq!(acme.state, State::Error);
        let err = seen.error.expect("an error to show");
        assert!(err.contains("services.toml"), "{err}");
    }

    #[test]
    fn a_broken_table_shows_on_its_card_and_the_rest_work() {
        let dir = tempfile::tempdir().unwrap();
        let file = services_toml(dir.path(), "");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, format!("{text}\n[beta]\nclient_idd = \"x\"\n")).unwrap();
        let seen = observe(&file, 0.0);
        let err = seen.error.clone().expect("a banner");
        assert!(err.contains("client_idd"), "{err}");
        let snap = AppState::default().snapshot(&seen, &file);
        let card = |s: &str| snap.cards.iter().find(|c| c.service == s).unwrap();
        assert_eq!(card("beta").state, State::Error);
        assert!(card("beta")
            .detail
            .as_deref()
            .unwrap()
            .contains("client_idd"));
        assert!(!card("beta").configured);
        assert_eq!(card("acme").state, State::NotConnected);
        assert!(card("acme").configured);
    }

    #[test]
    fn a_lent_context_is_read_once_for_its_observations() {
        let dir = tempfile::tempdir().unwrap();
        let file = services_toml(dir.path(), "");
        let context = Rc::new(Context::load(&file));
        // services.toml changes after the context was read: what observes
        // with it sees what was read, what observes without reads again.
        std::fs::write(&file, "[acme\n").unwrap();
        let seen = context.in_use(|| observe(&file, 0.0));
        assert_eq!(seen.error, None);
        assert_eq!(context.in_use(|| observe(&file, 1.0)).error, None);
        assert!(observe(&file, 0.0).error.is_some());
        let other = dir.path().join("other.toml");
        std::fs::write(&other, "[beta\n").unwrap();
        assert!(
            context.in_use(|| observe(&other, 0.0)).error.is_some(),
            "a context serves only its own file"
        );
    }

    #[test]
    fn sign_ins_and_notices_ride_on_the_cards() {
        let dir = tempfile::tempdir().unwrap();
        let file = services_toml(dir.path(), "");
        let state = AppState::default();
        let _rx = state.sessions.start("acme").unwrap();
        state.set_notice("github", Some(Notice::error("boom")));
        let snap = state.snapshot(&observe(&file, 0.0), &file);
        let card = |s: &str| snap.cards.iter().find(|c| c.service == s).unwrap();
        assert!(card("acme").sign_in.is_some());
        assert!(card("google").sign_in.is_none());
        assert_eq!(card("github").notice, Some(Notice::error("boom")));
        state.set_notice("github", None);
        let snap2 = state.snapshot(&observe(&file, 0.0), &file);
        assert_ne!(snap, snap2, "a change of notice is a change to send");
    }
}
