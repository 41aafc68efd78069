//! The auth chain, step by step, each step's outcome recorded:
//!
//! 1. saved token (refreshed when expired, single-flight across processes)
//! 2. server-to-server: service account, account or client credentials
//! 3. a person signs in: in a browser (the code back by loopback or paste),
//!    or with a code entered on another device
//! 4. API key from the environment
//!
//! [`steps`] holds each step; [`interact`] what a person does during one.

mod interact;
mod place;
mod renew;
mod steps;

use std::cell::OnceCell;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oauth2::{AccessToken, RefreshToken};

pub use crate::method::Step;
pub use interact::{Control, Interaction, Prompt, PromptFn, RedirectMode};
pub use place::{Choice, Place, Way, Whereabouts};
pub(crate) use renew::saves_by_server;
pub use renew::{refresh_due_at, RefreshWhen, Renewal, DUE_SHARE};

use crate::config::{AuthConfig, Settings};
use crate::error::Hint;
use crate::flow::{Ctx, Transport};
use crate::method::Method;
use crate::store::{RefreshLock, TokenStore};
use crate::{Error, Result};

/// The one place that reads the clock (Unix seconds), injectable for tests.
pub type Clock = Arc<dyn Fn() -> f64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    })
}

/// How a person signs in, in the chain's third step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignIn {
    /// In a browser here; the code comes back by loopback or is pasted.
    Browser(RedirectMode),
    /// With a code entered on another device (RFC 8628).
    Device,
}

#[derive(Debug)]
pub enum Outcome {
    Succeeded,
    Skipped { reason: String, hint: Option<Hint> },
    Failed(Error),
}

/// What one step of the chain did.
#[derive(Debug)]
pub struct Attempt {
    pub step: Step,
    pub outcome: Outcome,
}

impl Attempt {
    pub fn hint(&self) -> Option<Hint> {
        match &self.outcome {
            Outcome::Succeeded => None,
            Outcome::Skipped { hint, .. } => hint.clone(),
            Outcome::Failed(e) => e.hint(),
        }
    }
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.step.name();
        match &self.outcome {
            Outcome::Succeeded => write!(f, "{name}: succeeded"),
            Outcome::Skipped { reason, .. } => write!(f, "{name}: skipped: {reason}"),
            Outcome::Failed(e) => write!(f, "{name}: failed: {e}"),
        }
    }
}

/// A token the chain obtained.
#[derive(Debug)]
pub struct Authenticated {
    pub access_token: AccessToken,
    pub method: Method,
    pub expires_at: Option<f64>,
    pub refresh_token: Option<RefreshToken>,
}

/// Why the chain found no token.
#[derive(Debug)]
pub struct Failure {
    /// The documented error: the Python tool's line word for word when the
    /// whole chain ran, else what stopped the one step asked for.
    pub message: String,
    /// What a person can do about it, from each step that did not work.
    pub hints: Vec<Hint>,
}

/// The documented result: a token or the reason there is none, with what
/// each step did and notices for the user either way.
#[derive(Debug)]
pub struct AuthResult {
    pub outcome: std::result::Result<Authenticated, Failure>,
    pub attempts: Vec<Attempt>,
    /// Things the user should know even on success (a corrupt file moved
    /// aside, the keyring unavailable, a browser that did not open).
    pub notices: Vec<String>,
}

impl AuthResult {
    pub fn success(&self) -> bool {
        self.outcome.is_ok()
    }

    pub fn method(&self) -> Option<Method> {
        self.outcome.as_ref().ok().map(|a| a.method)
    }

    pub fn access_token(&self) -> Option<&AccessToken> {
        self.outcome.as_ref().ok().map(|a| &a.access_token)
    }

    pub fn error(&self) -> Option<&str> {
        self.outcome.as_ref().err().map(|f| f.message.as_str())
    }
}

pub struct AuthOptions {
    pub interaction: Interaction,
    /// How a person signs in; `None`: as the service's redirect_uri implies.
    pub sign_in: Option<SignIn>,
    /// Run this step alone (an error when it is not configured).
    pub only: Option<Step>,
    /// How long to wait for the browser or the paste.
    pub timeout: Duration,
    pub open_browser: bool,
    pub on_prompt: Option<PromptFn>,
    /// Where the person is, for the chain to choose the way of signing in
    /// by it (the CLI: a browser here, device code, or the remote way);
    /// `sign_in` and `only` still win. `None`: as the service's
    /// redirect_uri implies (the app makes its own choices).
    pub place: Option<Whereabouts>,
}

impl AuthOptions {
    pub fn non_interactive() -> Self {
        Self {
            interaction: Interaction::None,
            sign_in: None,
            only: None,
            timeout: crate::redirect::DEFAULT_TIMEOUT,
            open_browser: true,
            on_prompt: None,
            place: None,
        }
    }

    pub fn with_interaction(interaction: Interaction) -> Self {
        Self {
            interaction,
            ..Self::non_interactive()
        }
    }

    /// The third step: device sign-in when asked for, else the browser.
    fn sign_in_step(&self) -> Step {
        match (self.only, self.sign_in) {
            (Some(Step::Device), _) | (None, Some(SignIn::Device)) => Step::Device,
            _ => Step::Browser,
        }
    }

    /// The way chosen for where the person is, when the front end asked
    /// for that and did not say how itself (`sign_in`, or a step alone).
    fn choice(&self, config: &AuthConfig) -> Option<Choice> {
        let place = self.place.as_ref()?;
        if self.sign_in.is_some() || !matches!(self.only, None | Some(Step::Browser)) {
            return None;
        }
        let mut choice = place.choose(config);
        // The browser step alone: no device sign-in instead.
        if self.only == Some(Step::Browser) && choice.way == Way::Device {
            choice.way = Way::Remote;
        }
        Some(choice)
    }
}

/// Runs the chain for one service, and reads, refreshes and clears its token.
pub struct OAuthManager {
    config: AuthConfig,
    pub(crate) store: TokenStore,
    clock: Clock,
    transport: OnceCell<Transport>,
    /// `config` with discovered endpoints, once discovery ran.
    discovered: OnceCell<(AuthConfig, bool)>,
}

impl OAuthManager {
    /// A manager with the keyring mirror as `settings.toml` / `PLANOPTICON_KEYRING` say.
    pub fn new(config: AuthConfig) -> Self {
        let mirror = Settings::load().keyring;
        Self::with_keyring(config, mirror)
    }

    pub fn with_keyring(config: AuthConfig, mirror_to_keyring: bool) -> Self {
        let store = TokenStore::of(&config, mirror_to_keyring);
        Self {
            config,
            store,
            clock: system_clock(),
            transport: OnceCell::new(),
            discovered: OnceCell::new(),
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// A transport of the caller's (a shorter timeout, say).
    pub fn with_transport(self, transport: Transport) -> Self {
        let _ = self.transport.set(transport);
        self
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    pub fn token_path(&self) -> PathBuf {
        self.store.file.path().to_path_buf()
    }

    /// Whether saved tokens are mirrored into the OS keyring.
    pub fn mirrors_to_keyring(&self) -> bool {
        self.store.mirrors()
    }

    pub(crate) fn now(&self) -> f64 {
        (self.clock)()
    }

    /// Built on first use: answering from a saved token needs no HTTP client.
    fn transport(&self) -> Result<&Transport> {
        if self.transport.get().is_none() {
            let _ = self.transport.set(Transport::new()?);
        }
        Ok(self.transport.get().expect("just set"))
    }

    /// The configuration with the endpoints an issuer-only service discovers
    /// (RFC 8414), and whether callbacks must carry `iss` (RFC 9207).
    pub fn effective_config(&self) -> Result<(&AuthConfig, bool)> {
        if !crate::discovery::needed(&self.config) {
            return Ok((&self.config, false));
        }
        if self.discovered.get().is_none() {
            let m = crate::discovery::metadata(&self.config, self.transport()?, self.now())?;
            let mut c = self.config.clone();
            crate::discovery::apply(&mut c, &m);
            let _ = self
                .discovered
                .set((c, m.authorization_response_iss_parameter_supported));
        }
        let (c, require_iss) = self.discovered.get().expect("just set");
        Ok((c, *require_iss))
    }

    pub(crate) fn ctx(&self) -> Result<Ctx<'_>> {
        Ok(Ctx::new(
            self.effective_config()?.0,
            self.transport()?,
            self.now(),
        ))
    }

    /// The token for scripts (the spec's `get_token`): the whole chain with
    /// nobody to sign in, so it never waits for a person; `None` when no
    /// step yields one (see [`Self::authenticate`] for why).
    pub fn get_token(&self) -> Option<AccessToken> {
        self.authenticate(AuthOptions::non_interactive())
            .outcome
            .ok()
            .map(|a| a.access_token)
    }

    /// Forgets the token here: deletes the file and its keyring copy, without
    /// asking the provider (see [`Self::logout`]). Returns whether a file was
    /// there, and a notice when the keyring could not be reached.
    pub fn clear_token(&self) -> Result<(bool, Option<String>)> {
        let _lock = self.wait_for_refresh();
        self.store.delete()
    }

    /// Waits for a refresh in flight (another thread's or process's), which
    /// would otherwise write the token back after a delete; the lock is held
    /// until dropped. Best effort: a lock that cannot be taken does not stop
    /// a logout.
    pub(crate) fn wait_for_refresh(&self) -> Option<RefreshLock> {
        if !self.token_path().exists() {
            return None;
        }
        self.store.file.lock().ok()
    }

    /// The whole chain, or the one step `opts.only` names.
    pub fn authenticate(&self, mut opts: AuthOptions) -> AuthResult {
        let mut notices = Vec::new();
        let mut attempts: Vec<Attempt> = Vec::new();
        let (steps, mut choice) = self.plan(&opts);
        for step in steps {
            if opts.only.is_some_and(|only| only != step) {
                continue;
            }
            let result = self.attempt(step, &mut opts, &mut notices, &mut choice, &attempts);
            let (outcome, token) = match result {
                Ok(token) => (Outcome::Succeeded, Some(token)),
                Err(steps::StepEnd::Skipped { reason, hint }) => {
                    (Outcome::Skipped { reason, hint }, None)
                }
                Err(steps::StepEnd::Failed(e)) => (Outcome::Failed(e), None),
            };
            let attempt = Attempt { step, outcome };
            log::debug!("{}: {attempt}", self.config.service);
            attempts.push(attempt);
            if let Some(token) = token {
                let outcome = Ok(Authenticated {
                    access_token: token.access_token,
                    method: step.method(),
                    expires_at: token.expires_at,
                    refresh_token: token.refresh_token,
                });
                return AuthResult {
                    outcome,
                    attempts,
                    notices,
                };
            }
        }
        self.failed(opts.only, choice, attempts, notices)
    }

    /// The steps in their order, and the way chosen for where the person is.
    /// Device sign-in chosen: it goes first, and the browser step (the
    /// remote way) only when it failed and someone can paste.
    fn plan(&self, opts: &AuthOptions) -> (Vec<Step>, Option<Choice>) {
        let choice = opts.choice(&self.config);
        if let Some(c) = &choice {
            log::debug!(
                "{}: {}: {}",
                self.config.service,
                c.way.describe(),
                c.reason
            );
        }
        let mut steps = vec![Step::Saved, Step::Server, opts.sign_in_step(), Step::ApiKey];
        if choice.as_ref().is_some_and(|c| c.way == Way::Device) {
            steps.insert(2, Step::Device);
        }
        (steps, choice)
    }

    /// Runs one step; after a device sign-in was chosen, the browser step
    /// runs (the remote way) only when that failed and someone can paste.
    fn attempt(
        &self,
        step: Step,
        opts: &mut AuthOptions,
        notices: &mut Vec<String>,
        choice: &mut Option<Choice>,
        attempts: &[Attempt],
    ) -> steps::StepResult {
        let device_failed = attempts
            .iter()
            .any(|a| a.step == Step::Device && matches!(a.outcome, Outcome::Failed(_)));
        match (step, choice) {
            (Step::Browser, Some(c)) if c.way == Way::Device => {
                if device_failed && opts.interaction.can_paste() {
                    c.way = Way::Remote;
                    c.reason = format!("{}, but the device sign-in failed", c.reason);
                    self.run_step(step, opts, notices, Some(&*c))
                } else {
                    Err(steps::StepEnd::Skipped {
                        reason: format!("{} instead: {}", Way::Device.describe(), c.reason),
                        hint: None,
                    })
                }
            }
            (_, choice) => self.run_step(step, opts, notices, choice.as_ref()),
        }
    }

    /// No step yielded a token: why, with the hints of every step.
    fn failed(
        &self,
        only: Option<Step>,
        choice: Option<Choice>,
        attempts: Vec<Attempt>,
        mut notices: Vec<String>,
    ) -> AuthResult {
        // Why the sign-in went the way it did, for "What was tried", when
        // the remote way was tried and did not work.
        let remote_failed = attempts
            .iter()
            .any(|a| a.step == Step::Browser && matches!(a.outcome, Outcome::Failed(_)));
        if let Some(c) = choice.filter(|c| c.way == Way::Remote && remote_failed) {
            notices.push(format!("{}: {}", c.way.describe(), c.reason));
        }
        let mut hints = Vec::new();
        for hint in attempts.iter().filter_map(Attempt::hint) {
            if !hints.contains(&hint) {
                hints.push(hint);
            }
        }
        let message = match (only, attempts.first()) {
            (Some(step), Some(a)) => format!(
                "the {} step could not be used for {}: {}",
                step.name(),
                self.config.service,
                match &a.outcome {
                    Outcome::Skipped { reason, .. } => reason.clone(),
                    Outcome::Failed(e) => e.to_string(),
                    Outcome::Succeeded => unreachable!("a success returned above"),
                }
            ),
            _ => self.no_method_error(),
        };
        AuthResult {
            outcome: Err(Failure { message, hints }),
            attempts,
            notices,
        }
    }

    /// The Python tool's failure line, word for word.
    fn no_method_error(&self) -> String {
        let c = &self.config;
        let mut hints = Vec::new();
        if c.supports_oauth() {
            if let Some(id) = &c.client_id_env {
                hints.push(format!("Set {id} for OAuth"));
                if let Some(secret) = &c.client_secret_env {
                    hints.push(format!("and {secret}"));
                }
            }
        }
        if let Some(key) = &c.api_key_env {
            hints.push(format!("or set {key} for API key access"));
        }
        let hint = if hints.is_empty() {
            String::new()
        } else {
            format!(" ({})", hints.join(" "))
        };
        format!("No auth method available for {}.{hint}", c.service)
    }
}
