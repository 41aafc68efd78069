//! The keeper: keeps every connection alive while it runs (in the app, or
//! any long-lived embedder).
//!
//! It sleeps until the next connection is due and never polls the network
//! on a timer. A connection is due when its token nears expiry (see
//! [`refresh_due_at`]), when a failed refresh's backoff is over, or when
//! its light identity check is (at most every few hours). It wakes early on
//! a [`Wake`] from the embedder (a token file changed, the network is back),
//! and notices a resume from suspend by the wall clock jumping ahead of the
//! monotonic one. Between wakes it only looks at the local clocks, at most
//! every [`KeeperSettings::max_nap`], because a monotonic sleep does not
//! count the time the machine was suspended.
//!
//! Every refresh goes through [`OAuthManager::refresh_now`], the same
//! single-flight refresh as the CLI's (the lock beside the token, the file
//! re-read under it), so the keeper, the CLI, the Python tool and the app
//! never spend a rotating refresh token twice.
//!
//! The scheduling is pure functions ([`backoff_delay`], [`is_resume`],
//! [`refresh_due_at`]); the loop takes its wall clock as a [`Clock`] and its
//! provider calls as a [`Renewer`], so tests never sleep and need no network.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::chain::{refresh_due_at, Clock, RefreshWhen, Renewal};
use crate::error::Retry;
use crate::status::{ServiceStatus, State};
use crate::store::StoredToken;
use crate::{AuthConfig, OAuthManager, Result};

/// Why the embedder wakes the keeper before it is due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wake {
    /// A token file changed (another process refreshed, signed in or out):
    /// the service's, or `None` for any.
    FileChanged(Option<String>),
    /// The machine resumed from suspend: everything is looked at again now.
    Resumed,
    /// The network is back: connections waiting out a backoff try now.
    NetworkBack,
    /// End [`Keeper::run`].
    Stop,
}

/// How the keeper paces itself.
#[derive(Clone, Debug, PartialEq)]
pub struct KeeperSettings {
    /// Refresh this long before expiry at the latest (80 % of the lifetime
    /// comes first for long-lived tokens; see [`refresh_due_at`]).
    pub lead: Duration,
    /// How often a connection's identity endpoint is asked whether the
    /// token is still accepted (never for API keys).
    pub identity_interval: Duration,
    /// The first retry's window after a network error or a 5xx; it doubles
    /// per failed attempt ...
    pub backoff_base: Duration,
    /// ... up to this.
    pub backoff_cap: Duration,
    /// The longest the loop sleeps before it looks at the clocks again.
    pub max_nap: Duration,
    /// A wall clock this far ahead of the monotonic one means the machine
    /// was suspended.
    pub resume_jump: Duration,
}

impl Default for KeeperSettings {
    fn default() -> Self {
        Self {
            lead: Duration::from_secs(5 * 60),
            identity_interval: Duration::from_secs(4 * 3600),
            backoff_base: Duration::from_secs(30),
            backoff_cap: Duration::from_secs(30 * 60),
            max_nap: Duration::from_secs(60),
            resume_jump: Duration::from_secs(30),
        }
    }
}

/// What happened to one connection.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    /// A new access token was saved.
    Refreshed { expires_at: Option<f64> },
    /// The provider no longer accepts the connection: a person must sign in
    /// again. Told once; the keeper leaves it alone until its file changes.
    NeedsReconnect { reason: String },
    /// No refresh token: it will expire and only a sign-in renews it. Told once.
    CannotRenew { expires_at: Option<f64> },
    /// The refresh failed for now (network, 5xx, 429); the next try is at
    /// `next_at` (Unix seconds).
    Retrying {
        attempt: u32,
        next_at: f64,
        error: String,
    },
    /// The refresh failed in a way a retry does not fix (e.g. a setting is
    /// missing); it is tried again only at the backoff cap.
    Failed { error: String, next_at: f64 },
}

/// One connection's outcome, for the embedder to show or notify.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    pub service: String,
    /// The account, when the service has more than one (see [`crate::accounts`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The provider side of the keeper: refresh and identity check. The
/// default goes through [`OAuthManager`]; tests put a fake here.
pub trait Renewer: Send {
    fn renew(&self, config: &AuthConfig, when: RefreshWhen) -> Result<Renewal>;
    /// The connection's state after asking the identity endpoint.
    fn check(&self, config: &AuthConfig) -> ServiceStatus;
}

/// [`Renewer`] through an [`OAuthManager`] per service, built by `make` (so
/// a transport or a clock of the embedder's can be given) and kept while
/// the service's configuration stays the same: its HTTP client (and the
/// certificates it loaded) serve every refresh.
pub struct Managers<F> {
    make: F,
    built: std::cell::RefCell<HashMap<String, (AuthConfig, OAuthManager)>>,
}

impl<F: Fn(AuthConfig) -> OAuthManager + Send> Managers<F> {
    pub fn new(make: F) -> Self {
        Self {
            make,
            built: Default::default(),
        }
    }

    fn with<R>(&self, config: &AuthConfig, f: impl FnOnce(&OAuthManager) -> R) -> R {
        let mut built = self.built.borrow_mut();
        let key = crate::accounts::key(config);
        let stale = built.get(&key).is_none_or(|(c, _)| c != config);
        if stale {
            let m = (self.make)(config.clone());
            built.insert(key.clone(), (config.clone(), m));
        }
        f(&built[&key].1)
    }
}

impl<F: Fn(AuthConfig) -> OAuthManager + Send> Renewer for Managers<F> {
    fn renew(&self, config: &AuthConfig, when: RefreshWhen) -> Result<Renewal> {
        self.with(config, |m| m.refresh_now(when))
    }
    fn check(&self, config: &AuthConfig) -> ServiceStatus {
        self.with(config, OAuthManager::check)
    }
}

/// The window of the `attempt`-th retry (1-based): `base` doubling up to `cap`.
pub fn backoff_window(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let doublings = attempt.saturating_sub(1).min(32);
    base.saturating_mul(1u32 << doublings.min(31)).min(cap)
}

/// How long to wait before the `attempt`-th retry: "full jitter" (a
/// uniform share of the window, `unit` in [0, 1)) so that many machines
/// that lost the network together do not come back together; at least a
/// second so nothing spins. A provider's `Retry-After` wins over the
/// window, capped at a day.
pub fn backoff_delay(
    attempt: u32,
    base: Duration,
    cap: Duration,
    unit: f64,
    retry_after: Option<Duration>,
) -> Duration {
    const FLOOR: Duration = Duration::from_secs(1);
    if let Some(after) = retry_after {
        return after.clamp(FLOOR, Duration::from_secs(86_400));
    }
    let window = backoff_window(attempt, base, cap);
    window.mul_f64(unit.clamp(0.0, 1.0)).max(FLOOR.min(window))
}

/// Whether the wall clock moved `jump` more than the monotonic clock over
/// the same wait: the machine was suspended (or its clock was set).
pub fn is_resume(monotonic: Duration, wall: f64, jump: Duration) -> bool {
    (wall - monotonic.as_secs_f64()).abs() > jump.as_secs_f64()
}

/// What the keeper knows of one connection between wakes.
#[derive(Debug, Default)]
struct Conn {
    /// Failed refreshes in a row.
    attempt: u32,
    /// No refresh before this (a backoff, or a Retry-After).
    retry_at: Option<f64>,
    /// The next identity check.
    identity_at: Option<f64>,
    /// Told NeedsReconnect or CannotRenew: not told again until the file changes.
    told: Option<Outcome>,
}

/// Keeps the connections `list` returns alive. See the module docs.
pub struct Keeper {
    list: Box<dyn Fn() -> Vec<AuthConfig> + Send>,
    clock: Clock,
    settings: KeeperSettings,
    renewer: Box<dyn Renewer>,
    observer: Box<dyn Fn(&Event) + Send>,
    jitter: Box<dyn FnMut() -> f64 + Send>,
    conns: HashMap<String, Conn>,
}

impl Keeper {
    /// A keeper of the connections `list` returns at each look (for
    /// example `|| Registry::load().configs().cloned().collect()`), and of
    /// each one's saved accounts beside the active one, on the wall clock
    /// `clock`. Events go nowhere until [`Self::on_event`].
    pub fn new(
        list: impl Fn() -> Vec<AuthConfig> + Send + 'static,
        clock: Clock,
        settings: KeeperSettings,
    ) -> Self {
        let manager_clock = clock.clone();
        Self {
            list: Box::new(list),
            clock,
            settings,
            renewer: Box::new(Managers::new(move |c| {
                OAuthManager::new(c).with_clock(manager_clock.clone())
            })),
            observer: Box::new(|e| log::info!("keeper: {e:?}")),
            jitter: Box::new(fastrand::f64),
            conns: HashMap::new(),
        }
    }

    /// Where each connection's outcome is told.
    pub fn on_event(mut self, observer: impl Fn(&Event) + Send + 'static) -> Self {
        self.observer = Box::new(observer);
        self
    }

    /// Who refreshes and checks (a transport of the embedder's: wrap
    /// [`Managers`] around a function that builds the manager with it).
    pub fn with_renewer(mut self, renewer: impl Renewer + 'static) -> Self {
        self.renewer = Box::new(renewer);
        self
    }

    /// The source of jitter, uniform in [0, 1) (tests make it fixed).
    pub fn with_jitter(mut self, jitter: impl FnMut() -> f64 + Send + 'static) -> Self {
        self.jitter = Box::new(jitter);
        self
    }

    /// Runs until [`Wake::Stop`] or until every sender of `wake` is gone.
    /// Blocking: run it on a thread of its own.
    pub fn run(mut self, wake: Receiver<Wake>) {
        loop {
            // Both clocks from before the look, so that a jump during a
            // slow refresh counts too.
            let (mono_from, wall_from) = (Instant::now(), (self.clock)());
            let next = self.look(wall_from);
            // The nap from the clock after the look: a refresh or an
            // identity call may have taken a while.
            let now = (self.clock)();
            let nap = next
                .map(|at| Duration::from_secs_f64((at - now).max(0.0)))
                .unwrap_or(self.settings.max_nap)
                .min(self.settings.max_nap);
            let woke = wake.recv_timeout(nap);
            let wall = (self.clock)() - wall_from;
            if is_resume(mono_from.elapsed(), wall, self.settings.resume_jump) {
                log::info!("keeper: the clock jumped {wall:.0} s: resumed from suspend");
                self.wake(Wake::Resumed);
            }
            match woke {
                Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(w) => self.wake(w),
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// What a wake changes: forgets what is known of a changed file (it is
    /// read again), or ends every wait.
    pub fn wake(&mut self, why: Wake) {
        match why {
            // The file is read again at the next look anyway; what another
            // process wrote may end a backoff (it refreshed, or someone
            // signed in again).
            Wake::FileChanged(Some(service)) => {
                let saved = format!("{service}/");
                for (key, c) in self.conns.iter_mut() {
                    if *key == service || key.starts_with(&saved) {
                        c.attempt = 0;
                        c.retry_at = None;
                    }
                }
            }
            Wake::FileChanged(None) | Wake::Resumed | Wake::NetworkBack => {
                for c in self.conns.values_mut() {
                    c.attempt = 0;
                    c.retry_at = None;
                }
            }
            Wake::Stop => {}
        }
    }

    /// Handles every connection that is due at `now`; returns when the next
    /// one is (None: nothing to wait for).
    pub fn look(&mut self, now: f64) -> Option<f64> {
        let configs = crate::accounts::with_saved_accounts((self.list)());
        self.conns
            .retain(|key, _| configs.iter().any(|c| crate::accounts::key(c) == *key));
        configs
            .iter()
            .filter_map(|c| self.look_at(c, now))
            .min_by(f64::total_cmp)
    }

    /// One connection: refresh when due, check identity when due; returns
    /// when it is next due.
    fn look_at(&mut self, config: &AuthConfig, now: f64) -> Option<f64> {
        let token = match crate::store::FileStore::new(config.resolved_token_path()).peek() {
            Ok(Some(Ok(t))) => t,
            // Signed out, never connected, or a file the chain will deal
            // with on next use: nothing to keep.
            _ => {
                self.conns.remove(&crate::accounts::key(config));
                return None;
            }
        };
        let conn = self.conns.entry(crate::accounts::key(config)).or_default();
        // A sign-in since: what was told no longer holds.
        let healed = match conn.told {
            Some(Outcome::NeedsReconnect { .. }) => token.needs_reconnect.is_none(),
            Some(Outcome::CannotRenew { .. }) => token.refresh_token.is_some(),
            _ => false,
        };
        if healed {
            conn.told = None;
        }
        if let Some(mark) = &token.needs_reconnect {
            let outcome = Outcome::NeedsReconnect {
                reason: mark.reason.clone(),
            };
            self.tell_once(config, outcome);
            return None;
        }
        let refresh_at = self.refresh_at(config, &token, now);
        if refresh_at.is_some_and(|at| at <= now) {
            self.refresh(config, now);
            return self.next_after_refresh(config, now);
        }
        let identity_at = self.identity_check(config, &token, now);
        [refresh_at, identity_at]
            .into_iter()
            .flatten()
            .reduce(f64::min)
    }

    /// When the token should next be refreshed (a backoff may push it).
    fn refresh_at(&self, config: &AuthConfig, token: &StoredToken, now: f64) -> Option<f64> {
        let conn = self.conns.get(&crate::accounts::key(config))?;
        if matches!(conn.told, Some(Outcome::CannotRenew { .. })) || token.never_expires() {
            return None;
        }
        let due = refresh_due_at(token, self.settings.lead).unwrap_or(now);
        Some(conn.retry_at.map_or(due, |r| r.max(due)))
    }

    /// After a refresh, the file says what comes next (it was just read
    /// back by the manager; reading it again costs a few microseconds).
    fn next_after_refresh(&mut self, config: &AuthConfig, now: f64) -> Option<f64> {
        let token = match crate::store::FileStore::new(config.resolved_token_path()).peek() {
            Ok(Some(Ok(t))) => t,
            _ => return None,
        };
        if token.needs_reconnect.is_some() {
            return None;
        }
        let refresh_at = self.refresh_at(config, &token, now);
        let identity_at = self
            .conns
            .get(&crate::accounts::key(config))
            .and_then(|c| c.identity_at);
        [refresh_at, identity_at]
            .into_iter()
            .flatten()
            .reduce(f64::min)
    }

    fn refresh(&mut self, config: &AuthConfig, now: f64) {
        let key = crate::accounts::key(config);
        let when = RefreshWhen::Due {
            lead: self.settings.lead,
        };
        let result = self.renewer.renew(config, when);
        let outcome = match result.as_ref() {
            Ok(Renewal::Refreshed { expires_at }) => Some(Outcome::Refreshed {
                expires_at: *expires_at,
            }),
            Ok(Renewal::NeedsReconnect { reason }) => {
                let reason = reason.clone();
                self.tell_once(config, Outcome::NeedsReconnect { reason });
                None
            }
            Ok(Renewal::CannotRenew { expires_at }) => {
                let expires_at = *expires_at;
                self.tell_once(config, Outcome::CannotRenew { expires_at });
                None
            }
            Ok(Renewal::Fresh { .. } | Renewal::NotConnected | Renewal::ApiKey) => None,
            Err(e) => Some(self.failed(&key, e, now)),
        };
        if let (Some(conn), Ok(renewal)) = (self.conns.get_mut(&key), &result) {
            conn.attempt = 0;
            // Not refreshed although due by our reckoning (another process
            // just did, or clocks differ by a hair): look again in a second
            // rather than at once, so nothing spins.
            conn.retry_at = matches!(renewal, Renewal::Fresh { .. }).then_some(now + 1.0);
        }
        if let Some(outcome) = outcome {
            (self.observer)(&event(config, outcome));
        }
    }

    /// A failed refresh: when to try again, and how to say it.
    fn failed(&mut self, key: &str, e: &crate::Error, now: f64) -> Outcome {
        let s = &self.settings;
        let unit = (self.jitter)();
        let conn = self.conns.entry(key.to_string()).or_default();
        conn.attempt += 1;
        let (delay, retryable) = match e.retry() {
            Retry::Later => (
                backoff_delay(conn.attempt, s.backoff_base, s.backoff_cap, unit, None),
                true,
            ),
            Retry::After(secs) => {
                let after = Some(Duration::from_secs(secs.into()));
                (
                    backoff_delay(conn.attempt, s.backoff_base, s.backoff_cap, unit, after),
                    true,
                )
            }
            Retry::No => (s.backoff_cap, false),
        };
        let next_at = now + delay.as_secs_f64();
        conn.retry_at = Some(next_at);
        let error = e.to_string();
        match retryable {
            true => Outcome::Retrying {
                attempt: conn.attempt,
                next_at,
                error,
            },
            false => Outcome::Failed { error, next_at },
        }
    }

    /// Asks the identity endpoint when due (never for an API key, whose
    /// connection has no file); returns when the next check is.
    fn identity_check(
        &mut self,
        config: &AuthConfig,
        token: &StoredToken,
        now: f64,
    ) -> Option<f64> {
        let interval = self.settings.identity_interval.as_secs_f64();
        if token.method().is_some_and(crate::Method::is_api_key) {
            return None;
        }
        let conn = self.conns.get_mut(&crate::accounts::key(config))?;
        let at = *conn.identity_at.get_or_insert(now);
        if at > now {
            return Some(at);
        }
        conn.identity_at = Some(now + interval);
        let status = self.renewer.check(config);
        if status.state == State::NeedsReconnect {
            let reason = status.detail.unwrap_or_default();
            self.tell_once(config, Outcome::NeedsReconnect { reason });
            return None;
        }
        Some(now + interval)
    }

    /// Tells `outcome` unless it was the last thing told of the connection.
    fn tell_once(&mut self, config: &AuthConfig, outcome: Outcome) {
        let conn = self.conns.entry(crate::accounts::key(config)).or_default();
        let same = matches!(
            (&conn.told, &outcome),
            (
                Some(Outcome::NeedsReconnect { .. }),
                Outcome::NeedsReconnect { .. }
            ) | (
                Some(Outcome::CannotRenew { .. }),
                Outcome::CannotRenew { .. }
            )
        );
        if !same {
            conn.told = Some(outcome.clone());
            (self.observer)(&event(config, outcome));
        }
    }
}

/// The event of `config`'s connection, naming its account when the
/// service has more than one.
fn event(config: &AuthConfig, outcome: Outcome) -> Event {
    Event {
        service: config.service.clone(),
        account: crate::accounts::account_name(config),
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{mpsc, Arc, Mutex};

    use oauth2::{AccessToken, RefreshToken};

    const BASE: Duration = Duration::from_secs(30);
    const CAP: Duration = Duration::from_secs(1800);

    #[test]
    fn backoff_doubles_to_the_cap_and_stays_within_its_window() {
        let windows: Vec<u64> = (1..=9)
            .map(|a| backoff_window(a, BASE, CAP).as_secs())
            .collect();
        assert_eq!(windows, [30, 60, 120, 240, 480, 960, 1800, 1800, 1800]);
        assert_eq!(backoff_window(u32::MAX, BASE, CAP), CAP);
        for attempt in [1, 2, 5, 40] {
            let window = backoff_window(attempt, BASE, CAP);
            for unit in [0.0, 1e-9, 0.25, 0.5, 0.999_999] {
                let d = backoff_delay(attempt, BASE, CAP, unit, None);
                assert!(
                    d >= Duration::from_secs(1) && d <= window,
                    "{attempt} {unit} {d:?}"
                );
            }
        }
    }

    #[test]
    fn jitter_spreads_retries_over_the_window() {
        let delays: Vec<Duration> = [0.1, 0.4, 0.9]
            .iter()
            .map(|u| backoff_delay(3, BASE, CAP, *u, None))
            .collect();
        assert_eq!(delays[0], Duration::from_secs(12));
        assert_eq!(delays[1], Duration::from_secs(48));
        assert_eq!(delays[2], Duration::from_secs(108));
        // The real source: not all the same.
        let mut k = Keeper::new(Vec::new, Arc::new(|| 0.0), KeeperSettings::default());
        let draws: Vec<f64> = (0..8).map(|_| (k.jitter)()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(draws.windows(2).any(|w| w[0] != w[1]));
    }

    #[test]
    fn retry_after_wins_over_the_window() {
        let after = Some(Duration::from_secs(7200));
        assert_eq!(
            backoff_delay(1, BASE, CAP, 0.5, after),
            Duration::from_secs(7200)
        );
        let now = Some(Duration::ZERO);
        assert_eq!(
            backoff_delay(9, BASE, CAP, 0.5, now),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn a_wall_clock_jump_is_a_resume() {
        let mono = Duration::from_secs(60);
        assert!(!is_resume(mono, 60.4, Duration::from_secs(30)));
        assert!(is_resume(mono, 3600.0, Duration::from_secs(30)));
        // A short sleep that the suspend made long (a monotonic wait of 1 s).
        assert!(is_resume(
            Duration::from_secs(1),
            45.0,
            Duration::from_secs(30)
        ));
    }

    /// A wall clock the test moves.
    #[derive(Clone, Default)]
    struct FakeClock(Arc<AtomicU64>);

    impl FakeClock {
        fn set(&self, t: f64) {
            self.0.store(t.to_bits(), Ordering::SeqCst)
        }
        fn clock(&self) -> Clock {
            let me = self.0.clone();
            Arc::new(move || f64::from_bits(me.load(Ordering::SeqCst)))
        }
    }

    type Answer = fn(&AuthConfig) -> Result<Renewal>;

    /// What the fake provider answers, and what it was asked.
    #[derive(Clone, Default)]
    struct Fake {
        calls: Arc<Mutex<Vec<f64>>>,
        checks: Arc<Mutex<u32>>,
        answer: Arc<Mutex<Option<Answer>>>,
        clock: FakeClock,
    }

    impl Renewer for Fake {
        fn renew(&self, config: &AuthConfig, _: RefreshWhen) -> Result<Renewal> {
            let now = self.clock.clock()();
            self.calls.lock().unwrap().push(now);
            match *self.answer.lock().unwrap() {
                Some(answer) => answer(config),
                None => {
                    save(config, now, now + 100.0, true);
                    Ok(Renewal::Refreshed {
                        expires_at: Some(now + 100.0),
                    })
                }
            }
        }
        fn check(&self, config: &AuthConfig) -> ServiceStatus {
            *self.checks.lock().unwrap() += 1;
            ServiceStatus::of(config, self.clock.clock()())
        }
    }

    fn save(config: &AuthConfig, obtained: f64, expires: f64, refresh: bool) {
        let mut t = StoredToken::new(AccessToken::new(format!("at-{obtained}")));
        t.obtained_at = Some(obtained);
        t.expires_at = Some(expires);
        t.refresh_token = refresh.then(|| RefreshToken::new("rt".into()));
        crate::store::FileStore::new(config.resolved_token_path())
            .save(&t)
            .unwrap();
    }

    struct Setup {
        _dir: tempfile::TempDir,
        config: AuthConfig,
        fake: Fake,
        keeper: Keeper,
        events: mpsc::Receiver<Event>,
    }

    fn setup(settings: KeeperSettings) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let mut config = AuthConfig::new("acme");
        config.token_path = Some(dir.path().join("acme_token.json"));
        let fake = Fake::default();
        let (tx, events) = mpsc::channel();
        let tx = Mutex::new(tx);
        let list = {
            let c = config.clone();
            move || vec![c.clone()]
        };
        let keeper = Keeper::new(list, fake.clock.clock(), settings)
            .with_renewer(fake.clone())
            .with_jitter(|| 0.5)
            .on_event(move |e| {
                let _ = tx.lock().unwrap().send(e.clone());
            });
        Setup {
            _dir: dir,
            config,
            fake,
            keeper,
            events,
        }
    }

    fn settings() -> KeeperSettings {
        KeeperSettings {
            lead: Duration::from_secs(5),
            identity_interval: Duration::from_secs(4 * 3600),
            ..KeeperSettings::default()
        }
    }

    #[test]
    fn sleeps_until_due_then_refreshes_once() {
        let mut s = setup(settings());
        save(&s.config, 0.0, 100.0, true);
        s.fake.clock.set(10.0);
        // Due at 80 % of the 100 s life; the first look also checks identity.
        assert_eq!(s.keeper.look(10.0), Some(80.0));
        assert_eq!(*s.fake.checks.lock().unwrap(), 1);
        assert_eq!(s.keeper.look(79.9), Some(80.0));
        assert!(s.fake.calls.lock().unwrap().is_empty());
        s.fake.clock.set(80.0);
        // Refreshed at 80: the new token (80..180) is due at 160.
        assert_eq!(s.keeper.look(80.0), Some(160.0));
        assert_eq!(*s.fake.calls.lock().unwrap(), [80.0]);
        let e = s.events.try_recv().unwrap();
        assert_eq!(
            e.outcome,
            Outcome::Refreshed {
                expires_at: Some(180.0)
            }
        );
        assert!(s.events.try_recv().is_err());
    }

    #[test]
    fn a_key_saved_without_expiry_is_never_due() {
        let mut s = setup(settings());
        let mut t = StoredToken::new(AccessToken::new("key".into()));
        t.expires_at = Some(crate::store::NO_EXPIRY);
        t.obtained_by = Some(crate::Method::ApiKey.into());
        crate::store::FileStore::new(s.config.resolved_token_path())
            .save(&t)
            .unwrap();
        s.fake.clock.set(10.0);
        assert_eq!(s.keeper.look(10.0), None);
        assert!(s.fake.calls.lock().unwrap().is_empty());
        assert_eq!(*s.fake.checks.lock().unwrap(), 0);
        assert!(s.events.try_recv().is_err());
    }

    #[test]
    fn a_file_another_process_refreshed_moves_the_due_time() {
        let mut s = setup(settings());
        save(&s.config, 0.0, 100.0, true);
        assert_eq!(s.keeper.look(10.0), Some(80.0));
        save(&s.config, 70.0, 170.0, true);
        s.keeper.wake(Wake::FileChanged(Some("acme".into())));
        assert_eq!(s.keeper.look(80.0), Some(150.0));
        assert!(s.fake.calls.lock().unwrap().is_empty());
    }

    #[test]
    fn a_connection_removed_mid_wait_is_dropped_quietly() {
        let mut s = setup(settings());
        save(&s.config, 0.0, 100.0, true);
        assert_eq!(s.keeper.look(10.0), Some(80.0));
        std::fs::remove_file(s.config.resolved_token_path()).unwrap();
        assert_eq!(s.keeper.look(80.0), None);
        assert!(s.fake.calls.lock().unwrap().is_empty());
        assert!(s.events.try_recv().is_err());
        assert!(s.keeper.conns.is_empty());
    }

    #[test]
    fn network_errors_back_off_one_attempt_per_step() {
        let mut s = setup(settings());
        save(&s.config, 0.0, 100.0, true);
        *s.fake.answer.lock().unwrap() = Some(|c| {
            Err(crate::Error::Network {
                service: c.service.clone(),
                step: "token refresh",
                url: "http://127.0.0.1:9/token".into(),
                cause: "Connection refused".into(),
            })
        });
        // Attempt 1 at 80: window 30 s, jitter 0.5: next at 95.
        assert_eq!(s.keeper.look(80.0), Some(95.0));
        let e = s.events.try_recv().unwrap();
        assert!(
            matches!(e.outcome, Outcome::Retrying { attempt: 1, next_at, .. } if next_at == 95.0)
        );
        // Nothing before then, however often it looks.
        for t in [81.0, 90.0, 94.9] {
            assert_eq!(s.keeper.look(t), Some(95.0));
        }
        assert_eq!(s.fake.calls.lock().unwrap().len(), 1);
        // Attempt 2: window 60 s: next at 125.
        assert_eq!(s.keeper.look(95.0), Some(125.0));
        assert_eq!(s.fake.calls.lock().unwrap().len(), 2);
        // The network is back: try now.
        s.keeper.wake(Wake::NetworkBack);
        s.keeper.look(96.0);
        assert_eq!(s.fake.calls.lock().unwrap().len(), 3);
    }

    #[test]
    fn a_429_waits_its_retry_after() {
        let mut s = setup(settings());
        save(&s.config, 0.0, 100.0, true);
        *s.fake.answer.lock().unwrap() = Some(|c| {
            Err(crate::Error::Provider {
                service: c.service.clone(),
                step: "token refresh",
                status: Some(429),
                error: "slow_down".into(),
                description: None,
                client: None,
                retry_after: Some(600),
            })
        });
        assert_eq!(s.keeper.look(80.0), Some(680.0));
    }

    #[test]
    fn needs_reconnect_is_told_once_until_the_file_changes() {
        let mut s = setup(settings());
        save(&s.config, 0.0, 100.0, true);
        *s.fake.answer.lock().unwrap() = Some(|c| {
            let store = crate::store::FileStore::new(c.resolved_token_path());
            let Ok(Some(Ok(mut t))) = store.peek() else {
                panic!("no token")
            };
            t.needs_reconnect = Some(crate::store::ReconnectMark {
                reason: "invalid_grant".into(),
                at: 80.0,
            });
            store.save(&t).unwrap();
            Ok(Renewal::NeedsReconnect {
                reason: "invalid_grant".into(),
            })
        });
        assert_eq!(s.keeper.look(80.0), None);
        s.keeper.wake(Wake::FileChanged(Some("acme".into())));
        assert_eq!(s.keeper.look(81.0), None);
        assert_eq!(s.keeper.look(5000.0), None);
        let told: Vec<Event> = s.events.try_iter().collect();
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(matches!(told[0].outcome, Outcome::NeedsReconnect { .. }));
        assert_eq!(s.fake.calls.lock().unwrap().len(), 1);
        // Signed in again: kept alive again.
        save(&s.config, 6000.0, 6100.0, true);
        assert_eq!(s.keeper.look(6000.0), Some(6080.0));
    }

    #[test]
    fn no_refresh_token_is_told_once_as_cannot_renew() {
        let mut s = setup(settings());
        save(&s.config, 0.0, 100.0, false);
        *s.fake.answer.lock().unwrap() = Some(|_| {
            Ok(Renewal::CannotRenew {
                expires_at: Some(100.0),
            })
        });
        s.keeper.look(80.0);
        s.keeper.look(90.0);
        let told: Vec<Event> = s.events.try_iter().collect();
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(
            told[0].outcome,
            Outcome::CannotRenew {
                expires_at: Some(100.0)
            }
        );
        assert_eq!(s.fake.calls.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_run_loop_notices_a_resume_from_suspend() {
        let s = setup(KeeperSettings {
            backoff_base: Duration::from_secs(3600),
            backoff_cap: Duration::from_secs(3600),
            ..settings()
        });
        save(&s.config, 0.0, 100.0, true);
        *s.fake.answer.lock().unwrap() = Some(|c| {
            Err(crate::Error::NetworkTimeout {
                service: c.service.clone(),
                step: "token refresh",
                url: "http://127.0.0.1:9/token".into(),
                secs: 30,
            })
        });
        s.fake.clock.set(80.0);
        let (wake, rx) = mpsc::channel();
        let keeper = s.keeper;
        let thread = std::thread::spawn(move || keeper.run(rx));
        let wait = Duration::from_secs(10);
        let first = s.events.recv_timeout(wait).unwrap();
        assert!(matches!(
            first.outcome,
            Outcome::Retrying { attempt: 1, .. }
        ));
        // The next try is half an hour away. The machine sleeps 2 min: the
        // wall clock jumps while the monotonic one does not.
        s.fake.clock.set(200.0);
        wake.send(Wake::FileChanged(Some("another".into())))
            .unwrap();
        let second = s.events.recv_timeout(wait).unwrap();
        assert!(matches!(
            second.outcome,
            Outcome::Retrying { attempt: 1, .. }
        ));
        assert_eq!(*s.fake.calls.lock().unwrap(), [80.0, 200.0]);
        wake.send(Wake::Stop).unwrap();
        thread.join().unwrap();
    }
}
