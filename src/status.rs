//! What a service's connection looks like right now, read from its token file
//! and environment without network or side effects (for `planopticon status`
//! and the app's cards).

use std::path::PathBuf;

use serde::Serialize;

use crate::config::AuthConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    NotConnected,
    Connected,
    /// Expired, with a refresh token: the next use refreshes it.
    ExpiredRefreshable,
    /// Expired with no way to refresh: sign in again.
    NeedsReconnect,
    /// The token file cannot be used (see `detail`).
    Error,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    pub display_name: String,
    pub state: State,
    /// How the connection was made: saved token method or `api_key`.
    pub method: Option<String>,
    pub expires_at: Option<f64>,
    pub token_path: PathBuf,
    pub account: Option<serde_json::Value>,
    /// What the user can do about it, when it is not connected or broken.
    pub detail: Option<String>,
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
        };
        match crate::store::FileStore::new(token_path).peek() {
            Err(e) => {
                s.state = State::Error;
                s.detail = Some(e.to_string());
            }
            Ok(Some(Err(reason))) => {
                s.state = State::Error;
                s.detail = Some(format!(
                    "the token file is not valid ({reason}); connect again to replace it"
                ));
            }
            Ok(Some(Ok(t))) => {
                s.method = Some(
                    t.obtained_by
                        .clone()
                        .unwrap_or_else(|| "saved_token".into()),
                );
                s.expires_at = t.expires_at;
                s.account = t.account.clone();
                s.state = if t.is_fresh(now) {
                    State::Connected
                } else if t.refresh_token.is_some() {
                    State::ExpiredRefreshable
                } else {
                    s.detail =
                        Some("the token has expired and cannot be refreshed; connect again".into());
                    State::NeedsReconnect
                };
            }
            Ok(None) if config.resolved_api_key().is_some() => {
                s.state = State::Connected;
                s.method = Some("api_key".into());
            }
            Ok(None) => s.detail = Some(setup_hint(config)),
        }
        s
    }
}

/// Which environment variables or services.toml keys would make the service work.
pub fn setup_hint(c: &AuthConfig) -> String {
    let mut ways = Vec::new();
    if c.supports_oauth() || c.issuer.is_some() {
        let id = c
            .client_id_env
            .clone()
            .unwrap_or_else(|| "client_id".into());
        match (c.resolved_client_id(), &c.client_secret_env) {
            (Some(_), _) => ways.push("click Connect to sign in in the browser".to_string()),
            (None, Some(secret)) => ways.push(format!("set {id} and {secret} (OAuth)")),
            (None, None) => ways.push(format!("set {id} (OAuth)")),
        }
        if let Some(acct) = &c.account_id_env {
            ways.push(format!("add {acct} for server-to-server"));
        }
    }
    if let Some(key) = &c.api_key_env {
        ways.push(format!("set {key} (API key)"));
    }
    if let Some(sa) = &c.service_account_env {
        ways.push(format!("set {sa} to a service-account key file"));
    }
    let keys = format!(
        "or set client_id in [{}] of ~/.planopticon/services.toml",
        c.service
    );
    if ways.is_empty() {
        return format!("nothing is configured: set oauth_authorize_url, oauth_token_url and client_id in [{}] of ~/.planopticon/services.toml", c.service);
    }
    let mut text = ways.join(", or ");
    if c.resolved_client_id().is_none() {
        text.push_str(", ");
        text.push_str(&keys);
    }
    let mut chars = text.chars();
    match chars.next() {
        Some(f) => f.to_uppercase().chain(chars).collect(),
        None => text,
    }
}
