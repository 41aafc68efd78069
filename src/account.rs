//! Who a token belongs to, and ending a connection at the provider.
//!
//! Each provider has its own identity call and its own revocation shape
//! (RFC 7009 for most; GitHub, Dropbox, Notion and Zoom differ).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{IdentityMethod, RevocationStyle};
use crate::flow::Ctx;
use crate::method::ObtainedBy;
use crate::status::{ServiceStatus, State};
use crate::store::{Loaded, StoredToken};
use crate::untrusted::Untrusted;
use crate::OAuthManager;

/// Why a connection the identity endpoint refused needs a reconnect.
pub const REJECTED: &str = "the provider no longer accepts this token (HTTP 401)";

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
    /// "Alice <alice@example.com> (Acme workspace)" for display: each of
    /// the provider's words made displayable (the fields keep them as given).
    pub fn label(&self) -> String {
        self.label_by(|s| Untrusted(s).to_string())
    }

    /// [`Self::label`] with the provider's words as they came, for JSON.
    pub fn raw_label(&self) -> String {
        self.label_by(str::to_string)
    }

    fn label_by(&self, shown: impl Fn(&str) -> String) -> String {
        let mut s = match (&self.name, &self.login) {
            (Some(n), Some(l)) if n != l => format!("{} <{}>", shown(n), shown(l)),
            (Some(n), _) => shown(n),
            (None, Some(l)) => shown(l),
            (None, None) => self.id.as_deref().map(&shown).unwrap_or_default(),
        };
        if let Some(w) = &self.workspace {
            s.push_str(&format!(" ({})", shown(w)));
        }
        s
    }
}

/// A readable name for a token file's `account` (ours, or a plain string
/// another tool wrote), or None when it names nobody; displayable (see
/// [`crate::untrusted`]).
pub fn describe(account: &Value) -> Option<String> {
    describe_by(account, |s| Untrusted(s).to_string(), Account::label)
}

/// [`describe`] with the provider's words as they came, for JSON.
pub fn describe_raw(account: &Value) -> Option<String> {
    describe_by(account, str::to_string, Account::raw_label)
}

fn describe_by(
    account: &Value,
    shown: impl Fn(&str) -> String,
    label: impl Fn(&Account) -> String,
) -> Option<String> {
    let label = match account {
        Value::String(s) => shown(s),
        Value::Object(_) => label(&serde_json::from_value::<Account>(account.clone()).ok()?),
        _ => return None,
    };
    (!label.is_empty()).then_some(label)
}

#[derive(Debug)]
pub enum Identity {
    Known(Account),
    /// The provider answered 401: the token is no longer accepted (with
    /// the provider's own words, when its answer had some).
    Rejected(Option<String>),
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
        Ok(Ok(v)) => v,
        Ok(Err(words)) => return Identity::Rejected(words),
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
    if let (Some(url), false) = (&cfg.workspace_url, is_api_key) {
        if let Ok(Ok(v)) = get_json(ctx, url, token, false) {
            account.workspace = first(
                &v,
                &["/0/workspace_detail/name", "/0/workspace_detail/slug"],
            );
        }
    }
    Identity::Known(account)
}

/// The identity endpoint's JSON, or `Ok(Err(words))` when it refused the
/// token (HTTP 401, with the provider's words if it gave some).
fn get_json(
    ctx: &Ctx,
    url: &str,
    token: &str,
    is_api_key: bool,
) -> Result<Result<Value, Option<String>>, String> {
    let cfg = ctx.config;
    let client = ctx.transport.client();
    let mut req = match cfg.userinfo_method.unwrap_or_default() {
        IdentityMethod::Get => client.get(url),
        IdentityMethod::Post => client.post(url),
    };
    req = match (&cfg.api_key_header, is_api_key) {
        (Some(header), true) => req.header(header.as_str(), token),
        _ => req.bearer_auth(token),
    };
    let req = with_api_headers(cfg, req);
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
        401 => Ok(Err(resp
            .bytes()
            .ok()
            .and_then(|b| crate::flow::refusal_words(&b)))),
        200..=299 => resp
            .json()
            .map(Ok)
            .map_err(|_| "the identity endpoint did not answer JSON".to_string()),
        s => Err(format!("the identity endpoint answered HTTP {s}")),
    }
}

/// The provider's API headers; `Accept: application/json` unless they set one.
fn with_api_headers(
    cfg: &crate::AuthConfig,
    mut req: reqwest::blocking::RequestBuilder,
) -> reqwest::blocking::RequestBuilder {
    if !cfg
        .api_headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case("accept"))
    {
        req = req.header("Accept", "application/json");
    }
    for (k, v) in &cfg.api_headers {
        req = req.header(k.as_str(), v.as_str());
    }
    req
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
    /// Not asked for: the grant stays valid at the provider (it may be shared
    /// with another machine).
    Kept,
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
    let sent = match cfg.revocation_style.unwrap_or_default() {
        RevocationStyle::GithubApp => {
            let Some(id) = &client_id else {
                return Revocation::Failed(
                    "this revocation needs the OAuth app's client id".into(),
                );
            };
            with_api_headers(cfg, basic(http.delete(url.replace("{client_id}", id))))
                .json(&serde_json::json!({ "access_token": access }))
                .send()
        }
        RevocationStyle::Bearer => {
            with_api_headers(cfg, http.post(&url).bearer_auth(access)).send()
        }
        RevocationStyle::JsonToken => with_api_headers(cfg, basic(http.post(&url)))
            .json(&serde_json::json!({ "token": access }))
            .send(),
        RevocationStyle::QueryToken => with_api_headers(cfg, basic(http.post(&url)))
            .query(&[("token", access)])
            .send(),
        RevocationStyle::Rfc7009 => return revoke_rfc7009(ctx, &url, token, client_id, secret),
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
                .map(|e| format!("{}, ", Untrusted(e.error().as_ref())))
                .unwrap_or_default();
            Revocation::Failed(format!("the provider answered {words}HTTP {status}"))
        }
        Err(e) => Revocation::Failed(crate::flow::root_cause(&e)),
    }
}

/// Whether a logout ends the grant at the provider too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogoutScope {
    /// Revoke at the provider, then forget here.
    Revoke,
    /// Only forget here: the grant may be shared with another machine.
    KeepGrant,
}

/// What a logout did at the provider and here.
#[derive(Debug)]
pub struct Logout {
    pub revocation: Revocation,
    /// Whether there was a token file to delete.
    pub deleted: bool,
    pub keyring_notice: Option<String>,
}

impl OAuthManager {
    /// Logout: revokes at the provider where it can and where asked (bounded
    /// by the HTTP timeout), then deletes the local copy and its keyring
    /// mirror whatever the provider said.
    pub fn logout(&self, scope: LogoutScope) -> crate::Result<Logout> {
        // Also so that the newest token is the one revoked.
        let _lock = self.wait_for_refresh();
        self.logout_locked(scope)
    }

    /// [`Self::logout`] for a caller that holds the token's lock already
    /// (the accounts, which hold it across the whole change).
    pub(crate) fn logout_locked(&self, scope: LogoutScope) -> crate::Result<Logout> {
        let revocation = self.revoke_saved(scope);
        let (deleted, keyring_notice) = self.store.delete()?;
        Ok(Logout {
            revocation,
            deleted,
            keyring_notice,
        })
    }

    /// The revocation part of a logout: the saved token ended at the
    /// provider where asked and possible (the caller holds the lock).
    pub(crate) fn revoke_saved(&self, scope: LogoutScope) -> Revocation {
        let saved = match self.store.file.peek() {
            Ok(Some(Ok(token))) => Some(token),
            _ => None,
        };
        match (saved, scope) {
            (None, _) => Revocation::NothingSaved,
            (Some(_), LogoutScope::KeepGrant) => Revocation::Kept,
            // A saved personal token or API key is the person's, not a
            // grant of ours: it stays valid at the provider.
            (Some(token), _)
                if token
                    .obtained_by
                    .as_ref()
                    .is_some_and(ObtainedBy::is_api_key) =>
            {
                Revocation::Kept
            }
            (Some(token), LogoutScope::Revoke) => match self.ctx() {
                Ok(ctx) => revoke(&ctx, &token),
                Err(e) => Revocation::Failed(e.to_string()),
            },
        }
    }

    /// The connection's state, asking the provider who the token belongs to
    /// (and keeping the answer in the token file). A token the provider now
    /// rejects (401) shows as needing a reconnect: after one refresh was
    /// tried, when there is a refresh token, the token file records it
    /// (`needs_reconnect`) so every process and the app see it.
    pub fn check(&self) -> ServiceStatus {
        let mut status = ServiceStatus::of(self.config(), self.now());
        if status.state != State::Connected {
            return status;
        }
        let is_api_key = status.method.as_ref().is_some_and(ObtainedBy::is_api_key);
        // A saved personal token (obtained_by api_key) is checked as the key it is.
        let token = match (is_api_key, self.store.file.peek()) {
            (_, Ok(Some(Ok(t)))) => Some(t.access_token.secret().clone()),
            (true, _) => self.config().resolved_api_key(),
            _ => None,
        };
        let (Some(token), Ok(ctx)) = (token, self.ctx()) else {
            return status;
        };
        match whoami(&ctx, &token, is_api_key) {
            Identity::Known(a) => {
                let value = serde_json::to_value(&a).ok();
                if !is_api_key && status.account != value {
                    self.save_account(value.clone());
                }
                status.account = value;
            }
            Identity::Rejected(_) if is_api_key => status.rejected(self.config()),
            Identity::Rejected(_) => return self.rejected(&token, status),
            Identity::Unknown(why) => log::debug!("{}: {why}", self.config().service),
        }
        status
    }

    /// The provider answered 401 to the saved access token `seen`. A refresh
    /// token may still be good (only the access token was revoked): one
    /// refresh is tried. Else the file records that the connection needs a
    /// reconnect, under the lock and only if the file still holds `seen`,
    /// so a concurrent refresh is never undone.
    fn rejected(&self, seen: &str, mut status: ServiceStatus) -> ServiceStatus {
        let same = |t: &StoredToken| t.access_token.secret() == seen;
        let mut notices = Vec::new();
        match self.refresh_saved_if(same, &mut notices) {
            // Refreshed, or another process replaced the token meanwhile.
            Ok((t, _)) if !same(&t) => return ServiceStatus::of(self.config(), self.now()),
            // Marked by the refresh (invalid_grant), or no refresh token.
            Ok(_) | Err(crate::Error::ReconnectNeeded { .. }) => {}
            Err(e) => {
                log::debug!("{}: refresh after a 401: {e}", self.config().service);
                status.rejected(self.config());
                return status;
            }
        }
        if let Ok(_lock) = self.store.file.lock() {
            if let Ok(Loaded::Token(t)) = self.store.load() {
                if same(&t) && t.needs_reconnect.is_none() {
                    self.save_mark(*t, REJECTED.into());
                }
            }
        }
        ServiceStatus::of(self.config(), self.now())
    }

    /// Under the refresh lock, re-reading first, so a concurrent refresh is never undone.
    fn save_account(&self, account: Option<Value>) {
        let Ok(_lock) = self.store.file.lock() else {
            return;
        };
        if let Ok(Loaded::Token(mut t)) = self.store.load() {
            t.account = account;
            let _ = self.store.save(&t);
        }
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
        // The provider's words are shown, not obeyed.
        let hostile = json!({"name": "Eve\u{1b}]0;owned\u{7}", "login": "\u{202e}moc.evil", "workspace": "\u{9b}2J"});
        assert_eq!(
            describe(&hostile).as_deref(),
            Some("Eve\\x1b]0;owned\\x07 <\\u{202e}moc.evil> (\\x9b2J)")
        );
        assert_eq!(describe(&json!("\u{1b}[2J")).as_deref(), Some("\\x1b[2J"));
    }
}
