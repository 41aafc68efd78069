//! Each step of the chain. A step yields a token, or says why it did not:
//! skipped (not configured, nobody to sign in) or failed (it ran and the
//! provider, the network or a file said no). The steps that obtain a new
//! token end alike, in [`OAuthManager::finish`].

use oauth2::AccessToken;

use super::interact::{self, Interaction, Prompt};
use super::{AuthOptions, Choice, OAuthManager, SignIn, Step, Way};
use crate::config::{ServerCredential, ServerGrant, LOOPBACK_REDIRECT_URI};
use crate::error::Hint;
use crate::flow::{authorization_code::Pending, client_credentials, refresh};
use crate::method::Method;
use crate::redirect::{Expect, LoopbackListener, RedirectMode};
use crate::store::{Loaded, StoredToken};
use crate::{Error, Result};

/// Why a step yielded no token.
#[derive(Debug)]
pub(crate) enum StepEnd {
    Skipped { reason: String, hint: Option<Hint> },
    Failed(Error),
}

impl From<Error> for StepEnd {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

pub(crate) type StepResult = std::result::Result<StoredToken, StepEnd>;

fn skip(reason: impl Into<String>, hint: Option<Hint>) -> StepResult {
    Err(StepEnd::Skipped {
        reason: reason.into(),
        hint,
    })
}

/// What makes a step work, as a hint naming the variables (or keys) to set.
fn configure(step: Step, vars: Vec<String>) -> Option<Hint> {
    Some(Hint::Configure { step, vars })
}

/// How a browser sign-in goes: the way asked for (the CLI's flags, the
/// app's choice) or else the one chosen for where the person is.
struct BrowserPlan {
    /// The remote way: a browser on another machine, the code pasted here.
    remote: bool,
    mode: RedirectMode,
}

impl BrowserPlan {
    fn new(opts: &AuthOptions, choice: Option<&Choice>, c: &crate::AuthConfig) -> Self {
        let remote = opts.sign_in.is_none() && choice.is_some_and(|c| c.way == Way::Remote);
        let mode = match opts.sign_in {
            Some(SignIn::Browser(mode)) => mode,
            _ if remote => RedirectMode::Paste,
            _ => RedirectMode::for_uri(c.redirect_uri()),
        };
        Self { remote, mode }
    }

    /// The redirect URI sent (with a listener, its own), and the one to
    /// register when the provider refuses it (the configured URI).
    fn redirect_uris(
        &self,
        c: &crate::AuthConfig,
        listener: Option<&LoopbackListener>,
    ) -> (Option<String>, String) {
        // The remote way sends the service's own redirect URI (a loopback
        // one the provider accepts), as does pasting unless the service
        // pastes with another (or none: Dropbox then shows the code). A
        // loopback URI in paste mode: the browser lands on a page that
        // does not load, and the user pastes the address it shows.
        let configured = match listener.is_some() || self.remote {
            true => c.redirect_uri(),
            false => c.paste_redirect_uri(),
        };
        let sent = match listener {
            Some(l) => Some(l.redirect_uri().to_string()),
            None => Some(configured)
                .filter(|u| !u.is_empty())
                .map(str::to_string),
        };
        (sent, configured.to_string())
    }
}

impl OAuthManager {
    pub(super) fn run_step(
        &self,
        step: Step,
        opts: &mut AuthOptions,
        notices: &mut Vec<String>,
        choice: Option<&Choice>,
    ) -> StepResult {
        match step {
            Step::Saved => self.saved_token(notices),
            Step::Server => self.server_to_server(opts, notices),
            Step::Browser => self.browser_sign_in(opts, notices, choice),
            Step::Device => self.device_sign_in(opts, notices, choice),
            Step::ApiKey => self.api_key(),
        }
    }

    /// A new token: who it belongs to, saved (file, then keyring mirror).
    fn finish(&self, token: Result<StoredToken>, notices: &mut Vec<String>) -> StepResult {
        let token = self.with_account(token?);
        notices.extend(self.store.save(&token)?);
        Ok(token)
    }

    /// Adds who the token belongs to, when the provider says.
    fn with_account(&self, mut token: StoredToken) -> StoredToken {
        if let Ok(ctx) = self.ctx() {
            match crate::account::whoami(&ctx, token.access_token.secret(), false) {
                crate::account::Identity::Known(a) => {
                    token.account = serde_json::to_value(a).ok();
                }
                other => log::debug!("{}: account unknown: {other:?}", self.config().service),
            }
        }
        token
    }

    /// Step 1.
    fn saved_token(&self, notices: &mut Vec<String>) -> StepResult {
        let path = self.store.file.path().display().to_string();
        let saved = match self.store.load()? {
            Loaded::Missing => return skip(format!("no saved token at {path}"), None),
            Loaded::Corrupt { moved_to, reason } => {
                notices.push(format!(
                    "{path} was not a valid token file ({reason}); it was moved to {} and a new sign-in is needed",
                    moved_to.display()
                ));
                return skip("the token file was not valid", None);
            }
            Loaded::Token(t) => *t,
        };
        if let Some(mark) = &saved.needs_reconnect {
            // Refused before: asking again would only be refused again. (The
            // file keeps the provider's words as they came; shown, they are
            // made displayable.)
            return skip(
                crate::untrusted::displayable(&mark.reason),
                Some(Hint::SignIn).filter(|_| self.config().browser_ready()),
            );
        }
        if saved.is_fresh(self.now()) {
            return Ok(saved);
        }
        if saved.refresh_token.is_none() {
            return skip(
                "the saved token has expired and has no refresh token",
                Some(Hint::SignIn).filter(|_| self.config().browser_ready()),
            );
        }
        Ok(self.refresh_saved(notices)?)
    }

    /// Refreshes under the cross-process lock, re-reading the file first:
    /// another process may have refreshed already, and a rotated refresh
    /// token must never be spent twice.
    pub(crate) fn refresh_saved(&self, notices: &mut Vec<String>) -> Result<StoredToken> {
        let now = self.now();
        self.refresh_saved_if(|t| !t.is_fresh(now), notices)
            .map(|(token, _)| token)
    }

    /// [`Self::refresh_saved`] when `needed` says so of the file as re-read
    /// under the lock; returns the token and whether this call refreshed it.
    /// An `invalid_grant` marks the file as needing a reconnect.
    pub(crate) fn refresh_saved_if(
        &self,
        needed: impl Fn(&StoredToken) -> bool,
        notices: &mut Vec<String>,
    ) -> Result<(StoredToken, bool)> {
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
        if saved.needs_reconnect.is_some() || !needed(&saved) {
            log::debug!(
                "{}: another process refreshed the token",
                self.config().service
            );
            return Ok((saved, false));
        }
        let Some(rt) = saved.refresh_token.clone() else {
            return Err(Error::ReconnectNeeded {
                service: self.config().service.clone(),
                description: Some("the saved token has no refresh token".into()),
            });
        };
        let ctx = self.ctx()?;
        let next = match refresh::refresh(&ctx, &saved, &rt) {
            Err(Error::ReconnectNeeded {
                service,
                description,
            }) => {
                let why = description.as_deref().map(|d| format!(": {d}"));
                let reason = format!(
                    "the provider no longer accepts the saved connection (invalid_grant{})",
                    why.unwrap_or_default()
                );
                // Under the lock, on the file just read: nothing is undone.
                self.save_mark(saved, reason);
                return Err(Error::ReconnectNeeded {
                    service,
                    description,
                });
            }
            other => other?,
        };
        // Persist the new refresh token before handing out the access token.
        notices.extend(self.store.save(&next)?);
        log::info!("{}: refreshed the saved token", self.config().service);
        Ok((next, true))
    }

    /// Records in the token file that the provider no longer accepts the
    /// connection. The caller holds the refresh lock and read `saved` under it.
    pub(crate) fn save_mark(&self, mut saved: StoredToken, reason: String) {
        saved.needs_reconnect = Some(crate::store::ReconnectMark {
            reason,
            at: self.now(),
        });
        if let Err(e) = self.store.save(&saved) {
            log::warn!(
                "{}: could not record the reconnect: {e}",
                self.config().service
            );
        }
    }

    /// Step 2. A service-account key set for some other program must not
    /// replace a person's own sign-in: it is used when nobody can sign in
    /// here in a browser, or when this step is asked for.
    fn server_to_server(&self, opts: &AuthOptions, notices: &mut Vec<String>) -> StepResult {
        let c = self.config();
        let credential = match c.server_credential() {
            Ok(credential) => credential,
            Err(why) => {
                let vars = [&c.account_id_env, &c.service_account_env]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>();
                let hint = (!vars.is_empty()).then_some(Hint::Configure {
                    step: Step::Server,
                    vars,
                });
                return skip(why, hint);
            }
        };
        if let ServerCredential::ServiceAccount(_) = credential {
            let someone_signs_in = c.browser_ready()
                && !matches!(opts.interaction, Interaction::None)
                && opts.only != Some(Step::Server);
            if someone_signs_in {
                return skip(
                    format!(
                        "{} names a service account, but a sign-in of your own is possible here and is used instead; ask for the server-to-server step to use the service account",
                        c.service_account_env.as_deref().unwrap_or("the key file")
                    ),
                    None,
                );
            }
        }
        let token = match credential {
            ServerCredential::ServiceAccount(key_path) => {
                client_credentials::service_account(&self.ctx()?, &key_path)
            }
            ServerCredential::Grant { grant, account_id } => {
                self.server_grant(grant, account_id)?
            }
        };
        self.finish(token, notices)
    }

    /// The grant with the client id and secret (Zoom's shape with an account id).
    fn server_grant(
        &self,
        grant: ServerGrant,
        account_id: Option<String>,
    ) -> std::result::Result<Result<StoredToken>, StepEnd> {
        let (c, _) = self.effective_config()?;
        if c.oauth_token_url.is_none() {
            return Err(StepEnd::Skipped {
                reason: "no oauth_token_url is configured".into(),
                hint: configure(Step::Server, vec!["oauth_token_url".into()]),
            });
        }
        let (Some(id), Some(secret)) = (c.resolved_client_id(), c.resolved_client_secret()) else {
            let missing: Vec<String> = [
                c.resolved_client_id()
                    .is_none()
                    .then(|| Self::var_name(&c.client_id_env, "client_id")),
                c.resolved_client_secret()
                    .is_none()
                    .then(|| Self::var_name(&c.client_secret_env, "client_secret")),
            ]
            .into_iter()
            .flatten()
            .collect();
            return Err(StepEnd::Skipped {
                reason: format!("server-to-server sign-in needs {}", missing.join(" and ")),
                hint: configure(Step::Server, missing),
            });
        };
        let ctx = self.ctx()?;
        Ok(match (grant, account_id) {
            (ServerGrant::AccountCredentials, Some(acct)) => {
                client_credentials::account_credentials(&ctx, &id, &secret, &acct)
            }
            _ => client_credentials::client_credentials(&ctx, &id, &secret),
        })
    }

    /// An environment variable's name, else the services.toml key.
    fn var_name(env: &Option<String>, key: &str) -> String {
        env.clone().unwrap_or_else(|| key.to_string())
    }

    /// What the sign-in steps need: endpoints and a client id.
    fn sign_in_client(&self) -> std::result::Result<String, StepEnd> {
        let c = self.config();
        if !c.supports_oauth() && !crate::discovery::needed(c) {
            return Err(StepEnd::Skipped {
                reason: "no OAuth endpoints are configured".into(),
                hint: configure(
                    Step::Browser,
                    vec!["oauth_authorize_url".into(), "oauth_token_url".into()],
                ),
            });
        }
        c.resolved_client_id().ok_or_else(|| {
            let mut vars = vec![Self::var_name(&c.client_id_env, "client_id")];
            vars.extend(c.client_secret_env.clone());
            StepEnd::Skipped {
                reason: format!("{} is not set", vars[0]),
                hint: configure(Step::Browser, vars),
            }
        })
    }

    /// Step 3, in a browser: the code comes back to a loopback listener, or
    /// is pasted; in the remote way, from a browser on another machine.
    fn browser_sign_in(
        &self,
        opts: &mut AuthOptions,
        notices: &mut Vec<String>,
        choice: Option<&Choice>,
    ) -> StepResult {
        let client_id = self.sign_in_client()?;
        let mut plan = BrowserPlan::new(opts, choice, self.config());
        Self::someone_signs_in(opts, plan.mode, self.config())?;
        let (c, require_iss) = self.effective_config()?;
        let someone_can_paste = opts.interaction.can_paste();
        let (listener, no_listener) =
            Self::listener(c, &mut plan.mode, &opts.interaction, notices)?;
        let (redirect_uri, register) = plan.redirect_uris(c, listener.as_ref());
        let refused = |e: Error| e.with_redirect(redirect_uri.as_deref(), &register);
        let pending = Pending::new(c, &client_id, redirect_uri.clone())?;
        let why = match (&no_listener, choice.filter(|_| plan.remote)) {
            (Some(why), _) => Some(why.as_str()),
            (None, Some(ch)) => Some(ch.reason.as_str()),
            (None, None) => None,
        };
        interact::tell(
            opts,
            &Prompt {
                service: &c.service,
                url: &pending.url,
                sign_in: SignIn::Browser(plan.mode),
                user_code: None,
                remote: plan.remote,
                why,
            },
        );
        let browser = (opts.open_browser && !plan.remote)
            .then(|| crate::redirect::launch_browser(&pending.url));
        let expect = Expect {
            state: pending.state().clone(),
            issuer: c.issuer.clone(),
            require_iss,
        };
        let waited = interact::wait_for_code(
            &c.service,
            listener.as_ref(),
            &expect,
            opts,
            browser.as_ref(),
        )
        .map_err(refused)?;
        drop(listener);
        let code = Self::code_of(waited, someone_can_paste, opts, c, &pending.url, &expect)?;
        if let Some(e) = browser.as_ref().and_then(|b| b.failed()) {
            notices.push(format!(
                "could not open a browser ({e}); open the address above yourself"
            ));
        }
        let token = pending.exchange(&self.ctx()?, code).map_err(refused);
        self.finish(token, notices)
    }

    /// The code waited for. When no callback can come (the browser did not
    /// open), a person at a terminal pastes instead; with nobody to paste,
    /// the sign-in ends now, not at the timeout.
    fn code_of(
        waited: interact::Waited,
        someone_can_paste: bool,
        opts: &mut AuthOptions,
        c: &crate::AuthConfig,
        url: &str,
        expect: &Expect,
    ) -> std::result::Result<oauth2::AuthorizationCode, StepEnd> {
        let e = match waited {
            interact::Waited::Code(code) => return Ok(code),
            interact::Waited::NoBrowser(e) => e,
        };
        if !someone_can_paste {
            return Err(Error::BrowserFailed {
                service: c.service.clone(),
                cause: e.to_string(),
            }
            .into());
        }
        let why = format!("could not open a browser: {e}");
        interact::tell(
            opts,
            &Prompt {
                service: &c.service,
                url,
                sign_in: SignIn::Browser(RedirectMode::Paste),
                user_code: None,
                remote: false,
                why: Some(&why),
            },
        );
        match interact::wait_for_code(&c.service, None, expect, opts, None)? {
            interact::Waited::Code(code) => Ok(code),
            interact::Waited::NoBrowser(_) => unreachable!("no browser was waited for"),
        }
    }

    /// Whether a person can take part in a browser sign-in by `mode`.
    fn someone_signs_in(
        opts: &AuthOptions,
        mode: RedirectMode,
        c: &crate::AuthConfig,
    ) -> std::result::Result<(), StepEnd> {
        let reason = match (&opts.interaction, mode) {
            (Interaction::None, _) => "nobody is at a terminal to sign in in a browser",
            (Interaction::Browser, RedirectMode::Paste) => {
                return Err(StepEnd::Skipped {
                    reason: "pasting a code needs a terminal (stdin is not one)".into(),
                    hint: Some(Hint::UseLoopback),
                })
            }
            // Never make someone who is not there wait when a key will do.
            _ if !opts.interaction.can_paste() && c.resolved_api_key().is_some() => {
                "no terminal, and an API key is set"
            }
            _ => return Ok(()),
        };
        Err(StepEnd::Skipped {
            reason: reason.into(),
            hint: None,
        })
    }

    /// The loopback listener, or none when the code is pasted. A listener
    /// that cannot start turns the sign-in into a paste when someone can paste.
    fn listener(
        c: &crate::AuthConfig,
        mode: &mut RedirectMode,
        interaction: &Interaction,
        notices: &mut Vec<String>,
    ) -> std::result::Result<(Option<LoopbackListener>, Option<String>), StepEnd> {
        if *mode == RedirectMode::Paste {
            return Ok((None, None));
        }
        let uri = match RedirectMode::for_uri(c.redirect_uri()) {
            RedirectMode::Loopback => c.redirect_uri(),
            RedirectMode::Paste => LOOPBACK_REDIRECT_URI,
        };
        match LoopbackListener::bind(uri) {
            Ok(l) => Ok((Some(l), None)),
            // Someone can paste: the sign-in goes on that way, and the
            // prompt says why (the app also gets it as a notice).
            Err(e) if interaction.can_paste() => {
                let why = format!("{e}; paste the code instead");
                if matches!(interaction, Interaction::App(_)) {
                    notices.push(why.clone());
                }
                *mode = RedirectMode::Paste;
                Ok((None, Some(why)))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Step 3 by device code (RFC 8628), when asked for: the person may be at
    /// another machine, so no terminal is needed here.
    fn device_sign_in(
        &self,
        opts: &mut AuthOptions,
        notices: &mut Vec<String>,
        choice: Option<&Choice>,
    ) -> StepResult {
        let why = choice
            .filter(|c| c.way == Way::Device)
            .map(|c| c.reason.clone());
        let client_id = self.sign_in_client()?;
        let (c, _) = self.effective_config()?;
        if c.device_authorization_url.is_none() {
            return skip(
                format!("{} has no device sign-in", c.service),
                configure(Step::Device, vec!["device_authorization_url".into()]),
            );
        }
        let ctx = self.ctx()?;
        let AuthOptions {
            interaction,
            on_prompt,
            ..
        } = opts;
        let interaction: &Interaction = interaction;
        let cancelled = || interaction.cancelled();
        let mut show = |d: &crate::flow::device::DeviceCode| {
            if let Some(tell) = on_prompt {
                tell(&Prompt {
                    service: &c.service,
                    url: d.verification_uri,
                    sign_in: SignIn::Device,
                    user_code: Some(d.user_code),
                    remote: false,
                    why: why.as_deref(),
                });
            }
        };
        let token = crate::flow::device::sign_in(&ctx, &client_id, &mut show, &cancelled);
        self.finish(token, notices)
    }

    /// Step 4: the key is used as it is; nothing is written.
    fn api_key(&self) -> StepResult {
        let c = self.config();
        match c.resolved_api_key() {
            Some(key) => {
                let mut t = StoredToken::new(AccessToken::new(key));
                t.obtained_by = Some(Method::ApiKey.into());
                Ok(t)
            }
            None => match &c.api_key_env {
                Some(env) => skip(
                    format!("{env} is not set"),
                    configure(Step::ApiKey, vec![env.clone()]),
                ),
                None => skip(format!("{} has no API key variable", c.service), None),
            },
        }
    }
}
