//! RFC 8628 device sign-in, for machines without a browser: show the code
//! and the address, poll as the server says (oauth2 handles `interval`,
//! `slow_down`, `authorization_pending`, `expired_token`, `access_denied`).

use std::time::{Duration, Instant};

use oauth2::{DeviceAuthorizationUrl, Scope, StandardDeviceAuthorizationResponse};

use super::{Ctx, HttpError};
use crate::method::Method;
use crate::store::StoredToken;
use crate::{Error, Result};

pub(crate) const STEP: &str = "device sign-in";

/// What the user is shown.
pub struct DeviceCode<'a> {
    pub verification_uri: &'a str,
    pub user_code: &'a str,
}

/// The configured device authorization endpoint, or why there is none.
fn device_authorization_url(cfg: &crate::AuthConfig) -> Result<DeviceAuthorizationUrl> {
    let url = cfg
        .device_authorization_url
        .clone()
        .ok_or_else(|| Error::NotConfigured {
            service: cfg.service.clone(),
            message: "device sign-in needs device_authorization_url in services.toml".into(),
        })?;
    DeviceAuthorizationUrl::new(url.clone()).map_err(|e| Error::NotConfigured {
        service: cfg.service.clone(),
        message: format!("device_authorization_url {url:?} is not a URL: {e}"),
    })
}

pub fn sign_in(
    ctx: &Ctx,
    client_id: &str,
    show: &mut dyn FnMut(&DeviceCode),
    cancelled: &dyn Fn() -> bool,
) -> Result<StoredToken> {
    let cfg = ctx.config;
    let device_url = device_authorization_url(cfg)?;
    let secret = cfg.resolved_client_secret();
    let client = ctx
        .client(client_id, secret.as_deref())?
        .set_device_authorization_url(device_url);
    let http = |req| {
        if cancelled() {
            Err(HttpError::Cancelled)
        } else {
            ctx.transport.send(req)
        }
    };
    let mut request = client
        .exchange_device_code()
        .add_scopes(cfg.scopes.iter().cloned().map(Scope::new));
    // With HTTP Basic, oauth2 leaves client_id out of the body; some widely
    // used servers refuse a device authorization request without it.
    if secret.as_deref().is_some_and(|s| !s.is_empty()) {
        request = request.add_extra_param("client_id", client_id);
    }
    let details: StandardDeviceAuthorizationResponse = request
        .request(&http)
        .map_err(|e| ctx.token_error(STEP, e))?;
    show(&DeviceCode {
        verification_uri: details.verification_uri().as_str(),
        user_code: details.user_code().secret(),
    });
    // Sleeps in slices so a cancel is noticed within a tenth of a second.
    let sleep = |d: Duration| {
        let end = Instant::now() + d;
        while Instant::now() < end && !cancelled() {
            std::thread::sleep(Duration::from_millis(100).min(end - Instant::now()));
        }
    };
    let reply = client
        .exchange_device_access_token(&details)
        .request(&http, sleep, None)
        .map_err(|e| ctx.token_error(STEP, e))?;
    let mut t = ctx.stored(&reply, Method::DeviceCode);
    t.client_id = Some(client_id.into());
    t.client_secret = Some(oauth2::ClientSecret::new(secret.unwrap_or_default()));
    Ok(t)
}
