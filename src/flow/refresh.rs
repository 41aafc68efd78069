//! RFC 6749 §6: a new access token from the saved refresh token.

use oauth2::RefreshToken;

use super::Ctx;
use crate::method::Method;
use crate::store::StoredToken;
use crate::{Error, Result};

pub(crate) const STEP: &str = "token refresh";

/// Refreshes `saved`; the result keeps the old refresh token when the
/// provider sends none, and every field the file already had.
pub fn refresh(
    ctx: &Ctx,
    saved: &StoredToken,
    refresh_token: &RefreshToken,
) -> Result<StoredToken> {
    let cfg = ctx.config;
    let (client_id, secret, source) = saved.client_with_source(cfg);
    let client_id = client_id.ok_or_else(|| Error::NotConfigured {
        service: cfg.service.clone(),
        message: format!(
            "the saved token has expired and cannot be refreshed without a client id: set {}",
            cfg.client_id_env
                .as_deref()
                .unwrap_or("client_id in services.toml")
        ),
    })?;
    let client = ctx.client_as(&client_id, secret.as_deref(), source)?;
    let http = |req| ctx.transport.send(req);
    let reply = client
        .exchange_refresh_token(refresh_token)
        .request(&http)
        .map_err(|e| ctx.token_error(STEP, e))?;

    let fresh = ctx.stored(&reply, saved.method().unwrap_or(Method::OauthPkce));
    let mut next = saved.clone();
    next.access_token = fresh.access_token;
    next.refresh_token = fresh.refresh_token.or_else(|| Some(refresh_token.clone()));
    next.expires_at = fresh.expires_at;
    next.obtained_at = fresh.obtained_at;
    // A refresh the provider accepted: the connection is healthy again.
    next.needs_reconnect = None;
    next.client_id = Some(client_id);
    next.client_secret = Some(oauth2::ClientSecret::new(secret.unwrap_or_default()));
    Ok(next)
}
