//! Server-to-server grants, no browser: Zoom's `account_credentials`, the
//! standard `client_credentials`, and Google's service-account JWT assertion.
//! All are reported as `client_credentials`.

use oauth2::basic::BasicTokenResponse;
use oauth2::Scope;
use serde::Deserialize;

use super::Ctx;
use crate::method::Method;
use crate::store::StoredToken;
use crate::{Error, Result};

pub(crate) const STEP: &str = "client credentials grant";

/// Zoom's shape, exactly as the Python tool sends it:
/// `POST {token_url}?grant_type=account_credentials&account_id=ID`, empty body, Basic auth.
pub fn account_credentials(
    ctx: &Ctx,
    client_id: &str,
    secret: &str,
    account_id: &str,
) -> Result<StoredToken> {
    let url = ctx.token_url()?;
    ctx.sent.set(Some(crate::error::SentClient {
        client_id: client_id.into(),
        secret: ctx.config.client_secret_source(),
    }));
    let request = ctx
        .transport
        .client()
        .post(&url)
        .query(&[
            ("grant_type", "account_credentials"),
            ("account_id", account_id),
        ])
        .basic_auth(client_id, Some(secret))
        .header(reqwest::header::ACCEPT, "application/json")
        .header(reqwest::header::CONTENT_LENGTH, "0");
    let reply = send_token_request(ctx, STEP, &url, request)?;
    Ok(server_token(ctx, &reply))
}

/// RFC 6749 §4.4, through oauth2.
pub fn client_credentials(ctx: &Ctx, client_id: &str, secret: &str) -> Result<StoredToken> {
    let client = ctx.client(client_id, Some(secret))?;
    let http = |req| ctx.transport.send(req);
    let reply = client
        .exchange_client_credentials()
        .add_scopes(ctx.config.scopes.iter().cloned().map(Scope::new))
        .request(&http)
        .map_err(|e| ctx.token_error(STEP, e))?;
    Ok(server_token(ctx, &reply))
}

/// A Google service-account key file (the JSON the Cloud Console gives).
#[derive(Deserialize)]
struct ServiceAccountKey {
    #[serde(rename = "type")]
    kind: String,
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
}

#[derive(serde::Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    scope: String,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// RFC 7523: sign a JWT with the service account's key (RS256) and exchange
/// it at the key's `token_uri` (or the service's token URL).
pub fn service_account(ctx: &Ctx, key_path: &std::path::Path) -> Result<StoredToken> {
    let service = ctx.config.service.clone();
    let bad = |message: String| Error::NotConfigured {
        service: service.clone(),
        message,
    };
    let text = std::fs::read_to_string(key_path).map_err(|e| {
        bad(format!(
            "service-account key {} cannot be read: {e}",
            key_path.display()
        ))
    })?;
    let key: ServiceAccountKey = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "{} is not a service-account key file: {e}",
            key_path.display()
        ))
    })?;
    if key.kind != "service_account" {
        return Err(bad(format!(
            "{} is a {:?} credential, not a service-account key",
            key_path.display(),
            key.kind
        )));
    }
    let url = match key.token_uri.clone().filter(|u| !u.is_empty()) {
        Some(u) => u,
        None => ctx.token_url()?,
    };
    let now = ctx.now as u64;
    let claims = Assertion {
        iss: &key.client_email,
        scope: ctx.config.scopes.join(" "),
        aud: &url,
        iat: now,
        exp: now + 3600,
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = key.private_key_id.clone();
    let signing_key =
        jsonwebtoken::EncodingKey::from_rsa_pem(key.private_key.as_bytes()).map_err(|e| {
            bad(format!(
                "the private key in {} is not a valid RSA key: {e}",
                key_path.display()
            ))
        })?;
    let jwt = jsonwebtoken::encode(&header, &claims, &signing_key)
        .map_err(|e| bad(format!("could not sign the assertion: {e}")))?;
    let request = ctx
        .transport
        .client()
        .post(&url)
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", jwt.as_str()),
        ]);
    let reply = send_token_request(ctx, STEP, &url, request)?;
    Ok(server_token(ctx, &reply))
}

/// The Python tool writes only `access_token` and `expires_at` for these.
fn server_token(ctx: &Ctx, reply: &BasicTokenResponse) -> StoredToken {
    let mut t = ctx.stored(reply, Method::ClientCredentials);
    t.refresh_token = None;
    t
}

/// For the grants oauth2 cannot send: the same checks it makes on a reply.
fn send_token_request(
    ctx: &Ctx,
    step: &'static str,
    url: &str,
    request: reqwest::blocking::RequestBuilder,
) -> Result<BasicTokenResponse> {
    let response = request
        .send()
        .map_err(|e| ctx.network_error(step, url, e))?;
    ctx.transport.record(&response);
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = super::with_token_type(
        response
            .bytes()
            .map_err(|e| ctx.network_error(step, url, e))?
            .to_vec(),
    );
    if status == 200 {
        if let Ok(r) = serde_json::from_slice::<BasicTokenResponse>(&body) {
            return Ok(r);
        }
    }
    if let Ok(e) = serde_json::from_slice::<oauth2::basic::BasicErrorResponse>(&body) {
        let error = e.error().as_ref().to_string();
        return Err(ctx.provider_error(
            step,
            Some(status),
            error,
            e.error_description()
                .cloned()
                .or_else(|| super::provider_reason(&body)),
            retry_after,
        ));
    }
    Err(ctx.reply_error(
        step,
        Some(status),
        &super::describe_body(&body, "access_token"),
    ))
}
