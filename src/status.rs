//! What a service's connection looks like right now, read from its token file
//! and environment without network or side effects (for `planopticon status`
//! and the app's cards).

use std::path::PathBuf;

use serde::Serialize;

use crate::config::AuthConfig;
use crate::error::Hint;
use crate::method::Step;
use crate::method::{Method, ObtainedBy};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    NotConnected,
    Connected,
    /// Expired, with a refresh token (or a server-to-server credential): the
    /// next use renews it.
    ExpiredRefreshable,
    /// Expired with no way to refresh, or rejected by the provider.
    NeedsReconnect,
    /// The token file cannot be used (see `detail`).
    Error,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    pub display_name: String,
    pub state: State,
    /// How the connection was made: the token file's `obtained_by`, or
    /// `api_key` from the environment.
    pub method: Option<ObtainedBy>,
    pub expires_at: Option<f64>,
    pub token_path: PathBuf,
    pub account: Option<serde_json::Value>,
    /// What is wrong, as a fact (the file is not valid, the provider
    /// rejected the token); `None` when nothing is.
    pub detail: Option<String>,
    /// What a person can do: sign in, or what to configure.
    pub hints: Vec<Hint>,
    /// Whether anything is configured that a sign-in can use.
    pub can_sign_in: bool,
    /// Whether a device sign-in (RFC 8628) is offered.
    pub offers_device: bool,
    /// False when the saved token will expire and nothing here can renew
    /// it: no refresh token, and not a server-to-server token that the
    /// server step can fetch again. A person then signs in again when it
    /// expires ("cannot renew by itself"). True otherwise, including when
    /// nothing is saved and for an API key.
    pub renewable: bool,
}

impl ServiceStatus {
    pub fn of(config: &AuthConfig, now: f64) -> Self {
        let token_path = config.resolved_token_path();
        let mut s = Self {
            service: config.service.clone(),
            display_name: config.display_name(),
            state: State::NotConnected,
            method: None,
            expires_at: None,
            token_path: token_path.clone(),
            account: None,
            detail: None,
            hints: Vec::new(),
            can_sign_in: config.can_sign_in(),
            offers_device: config.supports_device(),
            renewable: true,
        };
        match crate::store::FileStore::new(token_path).peek() {
            Err(e) => {
                s.state = State::Error;
                s.detail = Some(e.to_string());
                s.hints = setup_hints(config);
            }
            Ok(Some(Err(reason))) => {
                s.state = State::Error;
                s.detail = Some(format!(
                    "the token file is not valid ({reason}); a new sign-in replaces it"
                ));
                s.hints = setup_hints(config);
            }
            Ok(Some(Ok(t))) => s.saved(&t, config, now),
            Ok(None) if config.resolved_api_key().is_some() => {
                s.state = State::Connected;
                s.method = Some(Method::ApiKey.into());
            }
            Ok(None) => s.hints = setup_hints(config),
        }
        s
    }

    /// What a saved token says: how and until when, and whether it renews.
    fn saved(&mut self, t: &crate::store::StoredToken, config: &AuthConfig, now: f64) {
        self.method = Some(
            t.obtained_by
                .clone()
                .unwrap_or(ObtainedBy::Known(Method::SavedToken)),
        );
        // A saved API key or personal token: nothing to show or renew.
        let never = t.never_expires();
        self.expires_at = t.expiry();
        self.account = t.account.clone();
        self.renewable = never
            || t.refresh_token.is_some()
            || (crate::chain::saves_by_server(t) && config.server_ready());
        self.state = if let Some(mark) = &t.needs_reconnect {
            self.detail = Some(mark.reason.clone());
            self.hints = vec![Hint::SignIn];
            State::NeedsReconnect
        } else if t.is_fresh(now) {
            State::Connected
        } else if self.renewable {
            // The next use refreshes it, or runs the server step again.
            State::ExpiredRefreshable
        } else {
            self.detail = Some("the token has expired and cannot be refreshed".into());
            self.hints = setup_hints(config);
            State::NeedsReconnect
        };
    }

    /// The provider answered 401 to the token: it needs a new sign-in.
    pub(crate) fn rejected(&mut self, config: &AuthConfig) {
        self.state = State::NeedsReconnect;
        self.detail = Some(crate::account::REJECTED.into());
        self.hints = setup_hints(config);
    }

    /// Whether the connection is an API key from the environment (nothing
    /// saved to disconnect).
    pub fn is_api_key(&self) -> bool {
        self.method.as_ref().is_some_and(ObtainedBy::is_api_key)
    }
}

/// What would let the service sign in: a sign-in when a client is there,
/// else the variables (or services.toml keys) each step needs.
pub fn setup_hints(c: &AuthConfig) -> Vec<Hint> {
    let mut hints = Vec::new();
    let var = |env: &Option<String>, key: &str| env.clone().unwrap_or_else(|| key.into());
    if c.supports_oauth() || c.issuer.is_some() {
        if c.resolved_client_id().is_some() {
            hints.push(Hint::SignIn);
        } else {
            let mut vars = vec![var(&c.client_id_env, "client_id")];
            vars.extend(c.client_secret_env.clone());
            hints.push(Hint::Configure {
                step: Step::Browser,
                vars,
            });
        }
    } else if c.api_key_env.is_none() && c.service_account_env.is_none() {
        hints.push(Hint::Configure {
            step: Step::Browser,
            vars: vec![
                "oauth_authorize_url".into(),
                "oauth_token_url".into(),
                "client_id".into(),
            ],
        });
    }
    let server: Vec<String> = [&c.account_id_env, &c.service_account_env]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    if !server.is_empty() {
        hints.push(Hint::Configure {
            step: Step::Server,
            vars: server,
        });
    }
    if let Some(key) = &c.api_key_env {
        hints.push(Hint::Configure {
            step: Step::ApiKey,
            vars: vec![key.clone()],
        });
    }
    hints
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FileStore, ReconnectMark, StoredToken};
    use oauth2::{AccessToken, RefreshToken};

    fn with_token(edit: impl FnOnce(&mut StoredToken)) -> (tempfile::TempDir, AuthConfig) {
        let dir = tempfile::tempdir().unwrap();
        let mut c = AuthConfig::new("acme");
        c.oauth_authorize_url = Some("http://127.0.0.1:9/auth".into());
        c.oauth_token_url = Some("http://127.0.0.1:9/token".into());
        c.client_id = Some("cid".into());
        c.token_path = Some(dir.path().join("acme_token.json"));
        let mut t = StoredToken::new(AccessToken::new("a".into()));
        t.expires_at = Some(1000.0);
        edit(&mut t);
        FileStore::new(c.resolved_token_path()).save(&t).unwrap();
        (dir, c)
    }

    #[test]
    fn a_recorded_rejection_needs_a_reconnect_with_its_reason() {
        let (_d, c) = with_token(|t| {
            t.refresh_token = Some(RefreshToken::new("r".into()));
            t.needs_reconnect = Some(ReconnectMark {
                reason: "the provider no longer accepts the saved connection (invalid_grant)"
                    .into(),
                at: 5.0,
            });
        });
        let s = ServiceStatus::of(&c, 10.0);
        assert_eq!(s.state, State::NeedsReconnect);
        assert!(s.detail.unwrap().contains("invalid_grant"));
        assert_eq!(s.hints, [Hint::SignIn]);
    }

    #[test]
    fn without_a_refresh_token_it_cannot_renew_by_itself() {
        let (_d, c) = with_token(|_| {});
        let s = ServiceStatus::of(&c, 10.0);
        assert_eq!((s.state, s.renewable), (State::Connected, false));
        let (_d, c) = with_token(|t| t.refresh_token = Some(RefreshToken::new("r".into())));
        assert!(ServiceStatus::of(&c, 10.0).renewable);
        // A saved API key: no expiry to show, nothing to renew.
        let (_d2, c) = with_token(|t| t.expires_at = Some(crate::store::NO_EXPIRY));
        let s = ServiceStatus::of(&c, 10.0);
        assert_eq!(
            (s.state, s.expires_at, s.renewable),
            (State::Connected, None, true)
        );
        // Nothing saved: nothing to warn about.
        let mut none = AuthConfig::new("none");
        none.token_path = Some(_d.path().join("none_token.json"));
        assert!(ServiceStatus::of(&none, 10.0).renewable);
    }

    #[test]
    fn a_server_to_server_token_renews_by_running_the_server_step_again() {
        let (_d, mut c) = with_token(|t| {
            t.obtained_by = Some(crate::Method::ClientCredentials.into());
        });
        c.client_secret = Some("s".into());
        c.server_grant = Some(crate::config::ServerGrant::ClientCredentials);
        let s = ServiceStatus::of(&c, 2000.0);
        assert_eq!((s.state, s.renewable), (State::ExpiredRefreshable, true));
    }
}
