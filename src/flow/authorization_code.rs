//! RFC 6749 §4.1 with PKCE (RFC 7636, S256 only) and a fresh `state`.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope,
};

use super::Ctx;
use crate::config::AuthConfig;
use crate::method::Method;
use crate::store::StoredToken;
use crate::{Error, Result};

pub(crate) const STEP: &str = "authorization code exchange";

/// An authorization request that waits for its code. The verifier and state
/// never leave it.
pub struct Pending {
    pub url: String,
    state: CsrfToken,
    verifier: PkceCodeVerifier,
    redirect_uri: Option<String>,
    client_id: String,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("redirect_uri", &self.redirect_uri)
            .field("state", &"[redacted]")
            .field("verifier", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl Pending {
    /// Builds the authorization URL. `redirect_uri` is `None` for a provider
    /// that shows the code itself when no redirect is sent (Dropbox).
    pub fn new(cfg: &AuthConfig, client_id: &str, redirect_uri: Option<String>) -> Result<Self> {
        let bad = |what: &str, e: String| Error::NotConfigured {
            service: cfg.service.clone(),
            message: format!("{what} is not a valid URL: {e}"),
        };
        let auth_url = AuthUrl::new(cfg.oauth_authorize_url.clone().unwrap_or_default())
            .map_err(|e| bad("oauth_authorize_url", e.to_string()))?;
        let mut client = BasicClient::new(ClientId::new(client_id.into())).set_auth_uri(auth_url);
        if let Some(r) = &redirect_uri {
            client = client.set_redirect_uri(
                RedirectUrl::new(r.clone()).map_err(|e| bad("redirect_uri", e.to_string()))?,
            );
        }
        // 64 bytes: an 86-character verifier, as the Python tool sends.
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256_len(64);
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(cfg.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge);
        for (k, v) in &cfg.authorize_params {
            request = request.add_extra_param(k, v);
        }
        let (url, state) = request.url();
        Ok(Self {
            url: url.to_string(),
            state,
            verifier,
            redirect_uri,
            client_id: client_id.into(),
        })
    }

    pub fn state(&self) -> &CsrfToken {
        &self.state
    }

    /// Exchanges the code, sending the same redirect_uri byte for byte.
    pub fn exchange(self, ctx: &Ctx, code: AuthorizationCode) -> Result<StoredToken> {
        let secret = ctx.config.resolved_client_secret();
        let mut client = ctx.client(&self.client_id, secret.as_deref())?;
        if let Some(r) = &self.redirect_uri {
            client = client.set_redirect_uri(
                RedirectUrl::new(r.clone())
                    .map_err(|e| Error::Other(format!("redirect_uri {r:?}: {e}")))?,
            );
        }
        let http = |req| ctx.transport.send(req);
        let reply = client
            .exchange_code(code)
            .set_pkce_verifier(self.verifier)
            .request(&http)
            .map_err(|e| ctx.token_error(STEP, e))?;
        let mut t = ctx.stored(&reply, Method::OauthPkce);
        t.client_id = Some(self.client_id);
        t.client_secret = Some(oauth2::ClientSecret::new(secret.unwrap_or_default()));
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_state_or_the_verifier() {
        let mut cfg = AuthConfig::new("acme");
        cfg.oauth_authorize_url = Some("http://127.0.0.1:9/auth".into());
        let pending =
            Pending::new(&cfg, "cid", Some("http://127.0.0.1:5/callback".into())).unwrap();
        let shown = format!("{pending:?}");
        assert!(
            !shown.contains(pending.state().secret().as_str()),
            "{shown}"
        );
        assert!(
            !shown.contains(pending.verifier.secret().as_str()),
            "{shown}"
        );
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
