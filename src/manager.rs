//! `OAuthManager`: the auth chain, step by step, each step's outcome recorded.
//!
//! 1. saved token (refreshed when expired, single-flight across processes)
//! 2. server-to-server: service account, account or client credentials
//! 3. authorization code with PKCE, the code back by loopback or paste
//! 4. API key from the environment

use std::cell::OnceCell;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

use oauth2::{AccessToken, AuthorizationCode, RefreshToken};
use serde::Serialize;

use crate::config::{AuthConfig, ServerGrant, Settings, LOOPBACK_REDIRECT_URI};
use crate::flow::{authorization_code::Pending, client_credentials, refresh, Ctx, Transport};
use crate::redirect::{self, loopback::WaitError, Control, Expect, LoopbackListener, RedirectMode};
use crate::status::{ServiceStatus, State};
use crate::store::{Loaded, RefreshLock, StoredToken, TokenStore};
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

/// How a token was obtained; also names the steps of the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    SavedToken,
    ClientCredentials,
    OauthPkce,
    ApiKey,
    DeviceCode,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SavedToken => "saved_token",
            Self::ClientCredentials => "client_credentials",
            Self::OauthPkce => "oauth_pkce",
            Self::ApiKey => "api_key",
            Self::DeviceCode => "device_code",
        }
    }

    /// The step's name in plain words.
    pub fn step_name(self) -> &'static str {
        match self {
            Self::SavedToken => "saved token",
            Self::ClientCredentials => "server-to-server",
            Self::OauthPkce => "browser sign-in (OAuth PKCE)",
            Self::ApiKey => "API key",
            Self::DeviceCode => "device sign-in",
        }
    }
}

impl std::str::FromStr for Method {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        [
            Self::SavedToken,
            Self::ClientCredentials,
            Self::OauthPkce,
            Self::ApiKey,
            Self::DeviceCode,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or(())
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug)]
pub enum Outcome {
    Succeeded,
    Skipped(String),
    Failed(Error),
}

/// What one step of the chain did.
#[derive(Debug)]
pub struct Attempt {
    pub step: Method,
    pub outcome: Outcome,
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.step.step_name();
        match &self.outcome {
            Outcome::Succeeded => write!(f, "{name}: succeeded"),
            Outcome::Skipped(why) => write!(f, "{name}: skipped: {why}"),
            Outcome::Failed(e) => write!(f, "{name}: failed: {e}"),
        }
    }
}

/// The documented result, plus what each step did and notices for the user.
#[derive(Debug, Default)]
pub struct AuthResult {
    pub success: bool,
    pub access_token: Option<AccessToken>,
    pub method: Option<Method>,
    pub expires_at: Option<f64>,
    pub refresh_token: Option<RefreshToken>,
    pub error: Option<String>,
    pub attempts: Vec<Attempt>,
    /// Things the user should know even on success (a corrupt file moved
    /// aside, the keyring unavailable, a browser that did not open).
    pub notices: Vec<String>,
}

/// Who can take part in a sign-in.
pub enum Interaction {
    /// Nobody: only the non-interactive steps run.
    None,
    /// A browser can be opened (loopback), but nobody can paste.
    Browser,
    /// A person at a terminal: the function returns what they pasted (None: gave up).
    Terminal(Box<dyn FnMut() -> Option<String> + Send>),
    /// The app: cancel, or a pasted code, arrives on the channel.
    App(Receiver<Control>),
}

/// What the user is asked to do, told to the shell before the browser opens.
pub struct Prompt<'a> {
    pub service: &'a str,
    pub url: &'a str,
    pub mode: RedirectMode,
    /// The code to enter at `url`, in a device sign-in.
    pub user_code: Option<&'a str>,
}

/// Told the authorization URL before the browser opens.
pub type PromptFn = Box<dyn Fn(&Prompt) + Send>;

pub struct AuthOptions {
    pub interaction: Interaction,
    /// Overrides the mode the service's redirect_uri implies.
    pub redirect: Option<RedirectMode>,
    /// How long to wait for the browser or the paste.
    pub timeout: Duration,
    pub open_browser: bool,
    pub on_prompt: Option<PromptFn>,
}

impl AuthOptions {
    pub fn non_interactive() -> Self {
        Self {
            interaction: Interaction::None,
            redirect: None,
            timeout: redirect::loopback::DEFAULT_TIMEOUT,
            open_browser: true,
            on_prompt: None,
        }
    }

    pub fn with_interaction(interaction: Interaction) -> Self {
        Self {
            interaction,
            ..Self::non_interactive()
        }
    }
}

/// Runs the chain for one service, and reads, refreshes and clears its token.
pub struct OAuthManager {
    config: AuthConfig,
    store: TokenStore,
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
        let store = TokenStore::new(
            &config.service,
            config.resolved_token_path(),
            mirror_to_keyring,
        );
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

    /// For tests: a transport with a short timeout.
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

    fn now(&self) -> f64 {
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

    fn ctx(&self) -> Result<Ctx<'_>> {
        Ok(Ctx {
            config: self.effective_config()?.0,
            transport: self.transport()?,
            now: self.now(),
        })
    }

    /// The token for scripts: the chain, with nobody to sign in.
    pub fn get_token(&self) -> Option<AccessToken> {
        self.authenticate(AuthOptions::non_interactive())
            .access_token
    }

    /// Logout: deletes the token file and its keyring copy. Returns whether a
    /// file was there, and a notice when the keyring could not be reached.
    pub fn clear_token(&self) -> Result<(bool, Option<String>)> {
        let _lock = self.wait_for_refresh();
        self.store.delete()
    }

    /// Waits for a refresh in flight (another thread's or process's), which
    /// would otherwise write the token back after a delete; the lock is held
    /// until dropped. Best effort: a lock that cannot be taken does not stop
    /// a logout.
    fn wait_for_refresh(&self) -> Option<RefreshLock> {
        if !self.token_path().exists() {
            return None;
        }
        self.store.file.lock().ok()
    }

    /// The whole chain.
    pub fn authenticate(&self, mut opts: AuthOptions) -> AuthResult {
        let mut run = AuthResult::default();
        let steps: [(Method, StepFn); 4] = [
            (Method::SavedToken, |m, _, n| m.try_saved_token(n)),
            (Method::ClientCredentials, |m, _, n| {
                m.try_server_to_server(n)
            }),
            (Method::OauthPkce, |m, o, n| m.try_authorization_code(o, n)),
            (Method::ApiKey, |m, _, _| m.try_api_key()),
        ];
        for (step, f) in steps {
            let outcome = match f(self, &mut opts, &mut run.notices) {
                Ok(token) => {
                    run.success = true;
                    // The third step signs in by browser or by device code.
                    run.method = Some(match (step, token.obtained_by.as_deref()) {
                        (Method::OauthPkce, Some(m)) => m.parse().unwrap_or(step),
                        _ => step,
                    });
                    run.expires_at = token.expires_at;
                    run.refresh_token = token.refresh_token;
                    run.access_token = Some(token.access_token);
                    Outcome::Succeeded
                }
                Err(StepEnd::Skipped(why)) => Outcome::Skipped(why),
                Err(StepEnd::Failed(e)) => Outcome::Failed(e),
            };
            let done = matches!(outcome, Outcome::Succeeded);
            run.attempts.push(Attempt { step, outcome });
            log::debug!(
                "{}: {}",
                self.config.service,
                run.attempts[run.attempts.len() - 1]
            );
            if done {
                return run;
            }
        }
        run.error = Some(self.no_method_error());
        run
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

    /// Step 1.
    pub fn try_saved_token(&self, notices: &mut Vec<String>) -> StepResult {
        let path = self.store.file.path().display().to_string();
        let saved = match self.store.load().map_err(StepEnd::Failed)? {
            Loaded::Missing => return skip(format!("no saved token at {path}")),
            Loaded::Corrupt { moved_to, reason } => {
                notices.push(format!(
                    "{path} was not a valid token file ({reason}); it was moved to {} and a new sign-in is needed",
                    moved_to.display()
                ));
                return skip("the token file was not valid".into());
            }
            Loaded::Token(t) => *t,
        };
        if saved.is_fresh(self.now()) {
            return Ok(saved);
        }
        if saved.refresh_token.is_none() {
            return skip("the saved token has expired and has no refresh token".into());
        }
        self.refresh_saved(notices).map_err(StepEnd::Failed)
    }

    /// Refreshes under the cross-process lock, re-reading the file first:
    /// another process may have refreshed already, and a rotated refresh
    /// token must never be spent twice.
    fn refresh_saved(&self, notices: &mut Vec<String>) -> Result<StoredToken> {
        let _lock = self.store.file.lock()?;
        let saved = match self.store.load()? {
            Loaded::Token(t) => *t,
            _ => {
                return Err(Error::TokenFile {
                    path: self.token_path(),
                    message: "disappeared during the refresh; sign in again".into(),
                })
            }
        };
        if saved.is_fresh(self.now()) {
            log::debug!(
                "{}: another process refreshed the token",
                self.config.service
            );
            return Ok(saved);
        }
        let Some(rt) = saved.refresh_token.clone() else {
            return Err(Error::ReconnectNeeded {
                service: self.config.service.clone(),
                description: Some("the saved token has no refresh token".into()),
            });
        };
        let ctx = self.ctx()?;
        let next = refresh::refresh(&ctx, &saved, &rt)?;
        // Persist the new refresh token before handing out the access token.
        notices.extend(self.store.save(&next)?);
        log::info!("{}: refreshed the saved token", self.config.service);
        Ok(next)
    }

    /// Step 2.
    pub fn try_server_to_server(&self, notices: &mut Vec<String>) -> StepResult {
        let c = &self.config;
        if c.service_account_env
            .as_deref()
            .and_then(crate::config::env_value)
            .is_none()
            && c.resolved_account_id().is_none()
            && c.server_grant != Some(ServerGrant::ClientCredentials)
        {
            return skip(match (&c.account_id_env, &c.service_account_env) {
                (Some(a), _) => format!("{a} is not set"),
                (None, Some(s)) => format!("{s} is not set"),
                _ => "not configured for this service".into(),
            });
        }
        let (c, _) = self.effective_config().map_err(StepEnd::Failed)?;
        let need = |what: &Option<String>, name: &str| -> std::result::Result<String, StepEnd> {
            what.clone().ok_or_else(|| {
                StepEnd::Failed(Error::NotConfigured {
                    service: c.service.clone(),
                    message: format!("server-to-server sign-in needs {name}"),
                })
            })
        };
        let env_name = |env: &Option<String>, key: &str| {
            env.clone()
                .unwrap_or_else(|| format!("{key} in services.toml"))
        };
        let token = if let Some(key_path) = c
            .service_account_env
            .as_deref()
            .and_then(crate::config::env_value)
        {
            let ctx = self.ctx().map_err(StepEnd::Failed)?;
            client_credentials::service_account(&ctx, std::path::Path::new(&key_path))
        } else {
            let account_id = c.resolved_account_id();
            let grant = c
                .server_grant
                .filter(|g| *g == ServerGrant::ClientCredentials || account_id.is_some());
            let Some(grant) = grant else {
                return skip("not configured for this service".into());
            };
            if c.oauth_token_url.is_none() {
                return skip("no oauth_token_url is configured".into());
            }
            let id = need(
                &c.resolved_client_id(),
                &env_name(&c.client_id_env, "client_id"),
            )?;
            let secret = need(
                &c.resolved_client_secret(),
                &env_name(&c.client_secret_env, "client_secret"),
            )?;
            let ctx = self.ctx().map_err(StepEnd::Failed)?;
            match (grant, account_id) {
                (ServerGrant::AccountCredentials, Some(acct)) => {
                    client_credentials::account_credentials(&ctx, &id, &secret, &acct)
                }
                _ => client_credentials::client_credentials(&ctx, &id, &secret),
            }
        };
        let token = self.with_account(token.map_err(StepEnd::Failed)?);
        notices.extend(self.store.save(&token).map_err(StepEnd::Failed)?);
        Ok(token)
    }

    /// Step 3.
    pub fn try_authorization_code(
        &self,
        opts: &mut AuthOptions,
        notices: &mut Vec<String>,
    ) -> StepResult {
        if !self.config.supports_oauth() && !crate::discovery::needed(&self.config) {
            return skip("no OAuth endpoints are configured".into());
        }
        if opts.redirect == Some(RedirectMode::Device) {
            return self.try_device(opts, notices);
        }
        let c = &self.config;
        let Some(client_id) = c.resolved_client_id() else {
            return skip(format!(
                "{} is not set",
                c.client_id_env.as_deref().unwrap_or("client_id")
            ));
        };
        let mode = opts
            .redirect
            .unwrap_or_else(|| RedirectMode::for_uri(c.redirect_uri()));
        let someone_can_paste = matches!(
            opts.interaction,
            Interaction::Terminal(_) | Interaction::App(_)
        );
        match (&opts.interaction, mode) {
            (Interaction::None, _) => {
                return skip("nobody is at a terminal to sign in in a browser".into())
            }
            (Interaction::Browser, RedirectMode::Paste) => {
                return skip(
                    "pasting a code needs a terminal (stdin is not one); use --redirect loopback"
                        .into(),
                )
            }
            _ => {}
        }
        // Never make someone who is not there wait when a key will do.
        if !someone_can_paste && c.resolved_api_key().is_some() {
            return skip("no terminal, and an API key is set".into());
        }
        let (c, require_iss) = self.effective_config().map_err(StepEnd::Failed)?;

        let listener = match mode {
            RedirectMode::Loopback => {
                let uri = match RedirectMode::for_uri(c.redirect_uri()) {
                    RedirectMode::Loopback => c.redirect_uri(),
                    _ => LOOPBACK_REDIRECT_URI,
                };
                Some(LoopbackListener::bind(uri).map_err(StepEnd::Failed)?)
            }
            RedirectMode::Paste | RedirectMode::Device => None,
        };
        let redirect_uri = match (&listener, c.redirect_uri()) {
            (Some(l), _) => Some(l.redirect_uri().to_string()),
            (None, "") => None,
            // A loopback URI in paste mode: the browser lands on a page that
            // does not load, and the user pastes the address it shows.
            (None, uri) => Some(uri.to_string()),
        };
        let pending = Pending::new(c, &client_id, redirect_uri).map_err(StepEnd::Failed)?;
        if let Some(tell) = &opts.on_prompt {
            tell(&Prompt {
                service: &c.service,
                url: &pending.url,
                mode,
                user_code: None,
            });
        }
        if opts.open_browser {
            if let Err(e) = redirect::open_browser(&pending.url) {
                notices.push(format!(
                    "could not open a browser ({e}); open the address above yourself"
                ));
            }
        }
        let expect = Expect {
            state: pending.state().clone(),
            issuer: c.issuer.clone(),
            require_iss,
        };
        let code = self
            .wait_for_code(listener.as_ref(), &expect, opts)
            .map_err(StepEnd::Failed)?;
        drop(listener);
        let ctx = self.ctx().map_err(StepEnd::Failed)?;
        let token = pending.exchange(&ctx, code).map_err(StepEnd::Failed)?;
        let token = self.with_account(token);
        notices.extend(self.store.save(&token).map_err(StepEnd::Failed)?);
        Ok(token)
    }

    /// Step 3 by device code (RFC 8628), when asked for: the person may be at
    /// another machine, so no terminal is needed here.
    fn try_device(&self, opts: &mut AuthOptions, notices: &mut Vec<String>) -> StepResult {
        let (c, _) = self.effective_config().map_err(StepEnd::Failed)?;
        if c.device_authorization_url.is_none() {
            return skip(format!(
                "{} has no device sign-in (set device_authorization_url in services.toml)",
                c.service
            ));
        }
        let Some(client_id) = c.resolved_client_id() else {
            return skip(format!(
                "{} is not set",
                c.client_id_env.as_deref().unwrap_or("client_id")
            ));
        };
        let ctx = self.ctx().map_err(StepEnd::Failed)?;
        let AuthOptions {
            interaction,
            on_prompt,
            ..
        } = opts;
        let interaction: &Interaction = interaction;
        let cancelled = || match interaction {
            Interaction::App(rx) => matches!(rx.try_recv(), Ok(Control::Cancel)),
            _ => false,
        };
        let mut show = |d: &crate::flow::device::DeviceCode| {
            if let Some(tell) = on_prompt {
                tell(&Prompt {
                    service: &c.service,
                    url: d.verification_uri,
                    mode: RedirectMode::Device,
                    user_code: Some(d.user_code),
                });
            }
        };
        let token = crate::flow::device::sign_in(&ctx, &client_id, &mut show, &cancelled)
            .map_err(StepEnd::Failed)?;
        let token = self.with_account(token);
        notices.extend(self.store.save(&token).map_err(StepEnd::Failed)?);
        Ok(token)
    }

    /// Adds who the token belongs to, when the provider says.
    fn with_account(&self, mut token: StoredToken) -> StoredToken {
        if let Ok(ctx) = self.ctx() {
            match crate::account::whoami(&ctx, token.access_token.secret(), false) {
                crate::account::Identity::Known(a) => {
                    token.account = serde_json::to_value(a).ok();
                }
                other => log::debug!("{}: account unknown: {other:?}", self.config.service),
            }
        }
        token
    }

    /// Logout: revokes at the provider where it can (bounded by the HTTP
    /// timeout), then deletes the local copy and its keyring mirror whatever
    /// the provider said.
    pub fn logout(&self) -> Result<Logout> {
        // Also so that the newest token is the one revoked.
        let _lock = self.wait_for_refresh();
        let revocation = match self.store.file.peek() {
            Ok(Some(Ok(token))) => match self.ctx() {
                Ok(ctx) => crate::account::revoke(&ctx, &token),
                Err(e) => crate::account::Revocation::Failed(e.to_string()),
            },
            _ => crate::account::Revocation::NothingSaved,
        };
        let (deleted, keyring_notice) = self.store.delete()?;
        Ok(Logout {
            revocation,
            deleted,
            keyring_notice,
        })
    }

    /// The connection's state, asking the provider who the token belongs to
    /// (and keeping the answer in the token file). A token the provider now
    /// rejects shows as needing a reconnect.
    pub fn check(&self) -> ServiceStatus {
        let mut status = ServiceStatus::of(&self.config, self.now());
        if status.state != State::Connected {
            return status;
        }
        let is_api_key = status.method.as_deref() == Some(Method::ApiKey.as_str());
        let token = match (is_api_key, self.store.file.peek()) {
            (true, _) => self.config.resolved_api_key(),
            (false, Ok(Some(Ok(t)))) => Some(t.access_token.secret().clone()),
            _ => None,
        };
        let (Some(token), Ok(ctx)) = (token, self.ctx()) else {
            return status;
        };
        match crate::account::whoami(&ctx, &token, is_api_key) {
            crate::account::Identity::Known(a) => {
                let value = serde_json::to_value(&a).ok();
                if !is_api_key && status.account != value {
                    self.save_account(value.clone());
                }
                status.account = value;
            }
            crate::account::Identity::Rejected => {
                status.state = State::NeedsReconnect;
                status.detail = Some(
                    "the provider no longer accepts this token (HTTP 401); connect again".into(),
                );
            }
            crate::account::Identity::Unknown(why) => {
                log::debug!("{}: {why}", self.config.service)
            }
        }
        status
    }

    /// Under the refresh lock, re-reading first, so a concurrent refresh is never undone.
    fn save_account(&self, account: Option<serde_json::Value>) {
        let Ok(_lock) = self.store.file.lock() else {
            return;
        };
        if let Ok(Loaded::Token(mut t)) = self.store.load() {
            t.account = account;
            let _ = self.store.save(&t);
        }
    }

    fn wait_for_code(
        &self,
        listener: Option<&LoopbackListener>,
        expect: &Expect,
        opts: &mut AuthOptions,
    ) -> Result<AuthorizationCode> {
        let service = self.config.service.clone();
        let timeout = opts.timeout;
        let ended = |e: WaitError| match e {
            WaitError::Provider { error, description } => Error::AuthorizationDenied {
                service: service.clone(),
                error,
                description,
            },
            WaitError::Timeout => Error::AuthorizationTimeout {
                service: service.clone(),
                secs: timeout.as_secs(),
            },
            WaitError::Cancelled => Error::Cancelled {
                service: service.clone(),
            },
            WaitError::BadPaste(message) => Error::BadCode {
                service: service.clone(),
                message,
            },
            WaitError::Listener(cause) => Error::Listener {
                addr: "127.0.0.1".into(),
                cause,
            },
        };
        match (listener, &mut opts.interaction) {
            (Some(l), Interaction::App(rx)) => l
                .wait(expect, timeout, &mut || rx.try_recv().ok())
                .map_err(ended),
            (Some(l), _) => l.wait(expect, timeout, &mut || None).map_err(ended),
            (None, Interaction::Terminal(read)) => {
                let text = read().ok_or_else(|| ended(WaitError::Cancelled))?;
                redirect::paste::parse_pasted(&text, expect)
                    .map_err(|m| ended(WaitError::BadPaste(m)))
            }
            (None, Interaction::App(rx)) => match rx.recv_timeout(timeout) {
                Ok(Control::Paste(text)) => redirect::paste::parse_pasted(&text, expect)
                    .map_err(|m| ended(WaitError::BadPaste(m))),
                Ok(Control::Cancel) => Err(ended(WaitError::Cancelled)),
                Err(_) => Err(ended(WaitError::Timeout)),
            },
            (None, _) => Err(ended(WaitError::Cancelled)),
        }
    }

    /// Step 4: the key is used as it is; nothing is written.
    pub fn try_api_key(&self) -> StepResult {
        match self.config.resolved_api_key() {
            Some(key) => {
                let mut t = StoredToken::new(AccessToken::new(key));
                t.obtained_by = Some(Method::ApiKey.as_str().into());
                Ok(t)
            }
            None => skip(match &self.config.api_key_env {
                Some(env) => format!("{env} is not set"),
                None => format!("{} has no API key variable", self.config.service),
            }),
        }
    }
}

/// What a logout did at the provider and here.
#[derive(Debug)]
pub struct Logout {
    pub revocation: crate::account::Revocation,
    /// Whether there was a token file to delete.
    pub deleted: bool,
    pub keyring_notice: Option<String>,
}

/// A step either yields a token, or says why it did not.
pub type StepResult = std::result::Result<StoredToken, StepEnd>;
type StepFn = fn(&OAuthManager, &mut AuthOptions, &mut Vec<String>) -> StepResult;

#[derive(Debug)]
pub enum StepEnd {
    Skipped(String),
    Failed(Error),
}

fn skip(why: String) -> StepResult {
    Err(StepEnd::Skipped(why))
}
