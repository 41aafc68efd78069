//! Renewing a saved connection ahead of its expiry, for the keeper and
//! `planopticon refresh`: the same single-flight refresh as the chain's
//! first step (the lock beside the token, the file re-read under it), but
//! when the token is due rather than when it has expired.

use std::time::Duration;

use serde::Serialize;

use super::{AuthOptions, OAuthManager, Step};
use crate::store::StoredToken;
use crate::{Error, Result};

/// When [`OAuthManager::refresh_now`] asks the provider.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RefreshWhen {
    /// When the token is due (see [`refresh_due_at`]) with this lead time.
    Due { lead: Duration },
    /// Now, however fresh the token is.
    Always,
}

/// What [`OAuthManager::refresh_now`] found or did.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Renewal {
    /// No token file.
    NotConnected,
    /// A key saved without expiry (see [`StoredToken::never_expires`]):
    /// nothing to renew.
    ApiKey,
    /// Not due yet (or another process had just refreshed it): nothing was asked.
    Fresh { expires_at: Option<f64> },
    /// A new access token was obtained and saved.
    Refreshed { expires_at: Option<f64> },
    /// No refresh token and no server-to-server credential: when it
    /// expires, only a new sign-in renews it.
    CannotRenew { expires_at: Option<f64> },
    /// The provider no longer accepts the connection (recorded in the file).
    NeedsReconnect { reason: String },
}

/// Tokens this close to their lifetime's end are due (a share, not a fixed
/// time, so that short-lived tokens are refreshed once per life, not twice).
pub const DUE_SHARE: f64 = 0.8;

/// When `token` should be refreshed: after 80 % of its lifetime, or `lead`
/// before `expires_at`, whichever comes first. The lead is capped at half
/// the lifetime, so a token that lives less than twice the lead is not
/// refreshed the moment it arrives. Without an expiry (the Python tool
/// treats that as expired) it is due at once; without an issue time, by
/// the lead alone. (A key saved without expiry is never refreshed: callers
/// ask [`StoredToken::never_expires`] first.)
pub fn refresh_due_at(token: &StoredToken, lead: Duration) -> Option<f64> {
    let expires_at = token.expires_at?;
    let lead = lead.as_secs_f64();
    let ahead = match token.obtained_at {
        Some(issued) if issued < expires_at => {
            let life = expires_at - issued;
            (life * (1.0 - DUE_SHARE)).max(lead.min(life / 2.0))
        }
        _ => lead,
    };
    Some(expires_at - ahead)
}

impl OAuthManager {
    /// Renews the saved token when it is due (or always), for a caller that
    /// keeps connections alive. The refresh is single-flight across threads
    /// and processes: it runs under the lock beside the token file, on the
    /// file as re-read under it, so a rotating refresh token is never spent
    /// twice and a refresh another process just made is not repeated. An
    /// `invalid_grant` marks the file and is returned as
    /// [`Renewal::NeedsReconnect`]; network and provider failures are errors
    /// (see [`Error::retry`]).
    pub fn refresh_now(&self, when: RefreshWhen) -> Result<Renewal> {
        let saved = match self.store.file.peek()? {
            None => return Ok(Renewal::NotConnected),
            Some(Err(reason)) => {
                return Err(Error::TokenFile {
                    path: self.token_path(),
                    message: format!("is not a valid token file ({reason}); sign in again"),
                })
            }
            Some(Ok(t)) => t,
        };
        if let Some(mark) = &saved.needs_reconnect {
            return Ok(Renewal::NeedsReconnect {
                reason: mark.reason.clone(),
            });
        }
        if saved.never_expires() {
            return Ok(Renewal::ApiKey);
        }
        let now = self.now();
        let due = |t: &StoredToken| match when {
            RefreshWhen::Always => true,
            RefreshWhen::Due { lead } => refresh_due_at(t, lead).is_none_or(|at| now >= at),
        };
        if !due(&saved) {
            return Ok(Renewal::Fresh {
                expires_at: saved.expires_at,
            });
        }
        if saved.refresh_token.is_none() {
            return self.renew_server_to_server(&saved);
        }
        // `Always` is checked once, here: under the lock, a token another
        // process refreshed meanwhile (a new access token) counts as done.
        let seen = saved.access_token.secret().clone();
        let needed = |t: &StoredToken| {
            due(t) && (when != RefreshWhen::Always || *t.access_token.secret() == seen)
        };
        match self.refresh_saved_if(needed, &mut Vec::new()) {
            Ok((t, true)) => Ok(Renewal::Refreshed {
                expires_at: t.expires_at,
            }),
            Ok((t, false)) => Ok(match t.needs_reconnect {
                Some(mark) => Renewal::NeedsReconnect {
                    reason: mark.reason,
                },
                None => Renewal::Fresh {
                    expires_at: t.expires_at,
                },
            }),
            Err(Error::ReconnectNeeded { .. }) => Ok(self.marked_or_cannot_renew()),
            // Gone while the lock was awaited: signed out, or the account
            // switched away (its token moved with it, refreshed by its own lock).
            Err(Error::TokenFile { .. }) if !self.token_path().exists() => {
                Ok(Renewal::NotConnected)
            }
            Err(e) => Err(e),
        }
    }

    /// A server-to-server token has no refresh token: the server step runs
    /// again (nothing rotates, so no lock is needed). Any other token
    /// without one cannot be renewed here.
    fn renew_server_to_server(&self, saved: &StoredToken) -> Result<Renewal> {
        if !self.renews_by_server(saved) {
            return Ok(Renewal::CannotRenew {
                expires_at: saved.expires_at,
            });
        }
        let mut opts = AuthOptions::non_interactive();
        opts.only = Some(Step::Server);
        let result = self.authenticate(opts);
        match result.outcome {
            Ok(a) => Ok(Renewal::Refreshed {
                expires_at: a.expires_at,
            }),
            Err(_) => Err(result
                .attempts
                .into_iter()
                .find_map(|a| match a.outcome {
                    super::Outcome::Failed(e) => Some(e),
                    _ => None,
                })
                .unwrap_or_else(|| Error::NotConfigured {
                    service: self.config().service.clone(),
                    message: "the server-to-server step is no longer configured".into(),
                })),
        }
    }

    /// Whether a token without a refresh token can be renewed by running
    /// the server-to-server step again.
    pub(crate) fn renews_by_server(&self, saved: &StoredToken) -> bool {
        saves_by_server(saved) && self.config().server_ready()
    }

    fn marked_or_cannot_renew(&self) -> Renewal {
        match self.store.file.peek() {
            Ok(Some(Ok(t))) => match t.needs_reconnect {
                Some(mark) => Renewal::NeedsReconnect {
                    reason: mark.reason,
                },
                None => Renewal::CannotRenew {
                    expires_at: t.expires_at,
                },
            },
            _ => Renewal::NotConnected,
        }
    }
}

/// Whether the token came from the server-to-server step.
pub(crate) fn saves_by_server(saved: &StoredToken) -> bool {
    saved.method() == Some(crate::Method::ClientCredentials)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oauth2::AccessToken;

    fn token(obtained_at: Option<f64>, expires_at: Option<f64>) -> StoredToken {
        let mut t = StoredToken::new(AccessToken::new("a".into()));
        t.obtained_at = obtained_at;
        t.expires_at = expires_at;
        t
    }

    #[test]
    fn an_hour_token_is_due_at_80_percent() {
        let t = token(Some(1000.0), Some(4600.0));
        let due = refresh_due_at(&t, Duration::from_secs(300)).unwrap();
        assert_eq!(due, 1000.0 + 0.8 * 3600.0);
    }

    #[test]
    fn a_ten_minute_token_is_due_by_the_lead_time() {
        // 80 % would be 2 min before expiry; the 3 min lead comes first.
        let t = token(Some(0.0), Some(600.0));
        assert_eq!(refresh_due_at(&t, Duration::from_secs(180)), Some(420.0));
    }

    #[test]
    fn a_short_token_is_not_due_on_arrival() {
        // 5 s token, 5 min lead: the lead is capped at half its life.
        let t = token(Some(100.0), Some(105.0));
        assert_eq!(refresh_due_at(&t, Duration::from_secs(300)), Some(102.5));
    }

    #[test]
    fn without_issue_time_the_lead_alone_and_without_expiry_now() {
        let t = token(None, Some(5000.0));
        assert_eq!(refresh_due_at(&t, Duration::from_secs(300)), Some(4700.0));
        assert_eq!(refresh_due_at(&token(None, None), Duration::ZERO), None);
    }
}
