//! Who a token belongs to, and ending a connection at the provider.
//!
//! Each provider has its own identity call and its own revocation shape
//! (RFC 7009 for most; GitHub, Dropbox, Notion and Zoom differ).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::flow::Ctx;
use crate::store::StoredToken;

/// The account a token belongs to, as far as the provider says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email address or login name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
}

impl Account {
    /// "Alice <alice@example.com> (Acme workspace)" for display.
    pub fn label(&self) -> String {
        let mut s = match (&self.name, &self.login) {
            (Some(n), Some(l)) if n != l => format!("{n} <{l}>"),
            (Some(n), _) => n.clone(),
            (None, Some(l)) => l.clone(),
            (None, None) => self.id.clone().unwrap_or_default(),
        };
        if let Some(w) = &self.workspace {
            s.push_str(&format!(" ({w})"));
        }
        s
    }
}

/// A readable name for a token file's `account` (ours, or a plain string
/// another tool wrote), or None when it names nobody.
pub fn describe(account: &Value) -> Option<String> {
    let label = match account {
        Value::String(s) => s.clone(),
        Value::Object(_) => serde_json::from_value::<Account>(account.clone())
            .ok()?
            .label(),
        _ => return None,
    };
    (!label.is_empty()).then_some(label)
}

#[derive(Debug)]
pub enum Identity {
    Known(Account),
    /// The provider answered 401: the token is no longer accepted.
    Rejected,
    /// No identity endpoint, or it could not be asked; the account stays unknown.
    Unknown(String),
}

/// Asks the service's identity endpoint who `token` belongs to.
pub fn whoami(ctx: &Ctx, token: &str, is_api_key: bool) -> Identity {
    let cfg = ctx.config;
    let Some(url) = cfg.userinfo_url.clone() else {
        return Identity::Unknown("no userinfo_url is configured".into());
    };
    let body = match get_json(ctx, &url, token, is_api_key) {
        Ok(Some(v)) => v,
        Ok(None) => return Identity::Rejected,
        Err(e) => return Identity::Unknown(e),
    };
    let mut account = Account {
        id: first(&body, &["/id", "/sub", "/account_id"]),
        name: first(
            &body,
            &[
                "/bot/owner/user/name",
                "/name/display_name",
                "/display_name",
                "/displayName",
                "/name",
            ],
        ),
        login: first(
            &body,
            &[
                "/email",
                "/mail",
                "/userPrincipalName",
                "/login",
                "/preferred_username",
                "/bot/owner/user/person/email",
            ],
        ),
        workspace: first(&body, &["/bot/workspace_name", "/workspace_name"]),
    };
    // Plane names the workspace in the app's installation, not on the user.
    if cfg.service == "plane" && !is_api_key {
        if let Some(base) = url.strip_suffix("/api/v1/users/me/") {
            if let Ok(Some(v)) = get_json(
                ctx,
                &format!("{base}/auth/o/app-installation/"),
                token,
                false,
            ) {
                account.workspace = first(
                    &v,
                    &["/0/workspace_detail/name", "/0/workspace_detail/slug"],
                );
            }
        }
    }
    Identity::Known(account)
}

/// `Ok(None)` on 401.
fn get_json(ctx: &Ctx, url: &str, token: &str, is_api_key: bool) -> Result<Option<Value>, String> {
    let client = ctx.transport.client();
    let service = ctx.config.service.as_str();
    let mut req = match service {
        // Dropbox's identity call is a POST with no body.
        "dropbox" => client.post(url),
        _ => client.get(url),
    };
    req = match (service, is_api_key) {
        ("plane", true) => req.header("x-api-key", token),
        _ => req.bearer_auth(token),
    };
    req = match service {
        "github" => req
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28"),
        "notion" => req.header("Notion-Version", "2022-06-28"),
        _ => req.header("Accept", "application/json"),
    };
    let resp = req.send().map_err(|e| crate::flow::root_cause(&e))?;
    // A token that works but lacks the identity scope (Google without
    // `openid email`) is not a rejected token.
    let insufficient_scope = resp
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("insufficient_scope"));
    match resp.status().as_u16() {
        401 if insufficient_scope => Err("the token lacks the identity scope".into()),
        401 => Ok(None),
        200..=299 => resp
            .json()
            .map(Some)
            .map_err(|_| "the identity endpoint did not answer JSON".to_string()),
        s => Err(format!("the identity endpoint answered HTTP {s}")),
    }
}

fn first(v: &Value, pointers: &[&str]) -> Option<String> {
    pointers.iter().find_map(|p| match v.pointer(p)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// What happened at the provider on logout.
#[derive(Debug, PartialEq, Eq)]
pub enum Revocation {
    Revoked,
    /// The provider has no revocation endpoint (Microsoft), or none is configured.
    NotSupported,
    /// Nothing saved to revoke (no token file, or an API key).
    NothingSaved,
    Failed(String),
}

/// Revokes `token` at the provider: the refresh token where there is one
/// (ending the whole grant), else the access token.
pub fn revoke(ctx: &Ctx, token: &StoredToken) -> Revocation {
    let cfg = ctx.config;
    let Some(url) = cfg.revocation_url.clone() else {
        return Revocation::NotSupported;
    };
    let (client_id, secret) = token.client(cfg);
    let access = token.access_token.secret().as_str();
    let http = ctx.transport.client();
    let basic = |req: reqwest::blocking::RequestBuilder| match &client_id {
        Some(id) => req.basic_auth(id, secret.as_deref()),
        None => req,
    };
    let sent = match cfg.service.as_str() {
        "github" => {
            let Some(id) = &client_id else {
                return Revocation::Failed(
                    "GitHub revocation needs the OAuth app's client id".into(),
                );
            };
            basic(http.delete(url.replace("{client_id}", id)))
                .header("Accept", "application/vnd.github+json")
                .json(&serde_json::json!({ "access_token": access }))
                .send()
        }
        "dropbox" => http.post(&url).bearer_auth(access).send(),
        "notion" => basic(http.post(&url))
            .json(&serde_json::json!({ "token": access }))
            .send(),
        "zoom" => basic(http.post(&url)).query(&[("token", access)]).send(),
        _ => return revoke_rfc7009(ctx, &url, token, client_id, secret),
    };
    match sent {
        Ok(r) if r.status().is_success() => Revocation::Revoked,
        Ok(r) => Revocation::Failed(format!(
            "the provider answered HTTP {}",
            r.status().as_u16()
        )),
        Err(e) => Revocation::Failed(crate::flow::root_cause(&e)),
    }
}

/// RFC 7009: `token` and `token_type_hint`, client auth as for the token
/// endpoint; 200 means done, even for an unknown token. (oauth2's revocation
/// refuses http URLs, which self-hosted servers and loopback tests use.)
fn revoke_rfc7009(
    ctx: &Ctx,
    url: &str,
    token: &StoredToken,
    client_id: Option<String>,
    secret: Option<String>,
) -> Revocation {
    let (value, hint) = match &token.refresh_token {
        Some(rt) => (rt.secret().as_str(), "refresh_token"),
        None => (token.access_token.secret().as_str(), "access_token"),
    };
    let mut form = vec![("token", value), ("token_type_hint", hint)];
    let mut req = ctx
        .transport
        .client()
        .post(url)
        .header("Accept", "application/json");
    match (&client_id, &secret) {
        (Some(id), Some(s)) => req = req.basic_auth(id, Some(s)),
        (Some(id), None) => form.push(("client_id", id)),
        (None, _) => return Revocation::Failed("revocation needs the client id".into()),
    }
    match req.form(&form).send() {
        Ok(r) if r.status().is_success() => Revocation::Revoked,
        Ok(r) => {
            let status = r.status().as_u16();
            let words = r
                .json::<oauth2::basic::BasicErrorResponse>()
                .map(|e| format!("{}, ", e.error().as_ref()))
                .unwrap_or_default();
            Revocation::Failed(format!("the provider answered {words}HTTP {status}"))
        }
        Err(e) => Revocation::Failed(crate::flow::root_cause(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn describe_names_the_account_or_nobody() {
        assert_eq!(describe(&json!("a@b.c")).as_deref(), Some("a@b.c"));
        assert_eq!(
            describe(&json!({"name": "Alice", "login": "a@b.c", "workspace": "Acme"})).as_deref(),
            Some("Alice <a@b.c> (Acme)")
        );
        assert_eq!(describe(&json!({"id": "7"})).as_deref(), Some("7"));
        assert_eq!(describe(&json!({})), None);
        assert_eq!(describe(&json!("")), None);
        assert_eq!(describe(&json!(null)), None);
        assert_eq!(describe(&json!({"id": 7})), None, "not ours: unknown");
    }
}
