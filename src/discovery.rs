//! RFC 8414 / OpenID Connect discovery: a service configured with only its
//! `issuer` gets its endpoints from the issuer's metadata, checked (the
//! issuer must match, S256 must be supported) and cached beside the tokens.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::AuthConfig;
use crate::flow::Transport;
use crate::{Error, Result};

/// A day: endpoints rarely move, and a stale cache only costs one fetch.
const CACHE_SECS: f64 = 86_400.0;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

#[derive(Serialize, Deserialize)]
struct Cached {
    fetched_at: f64,
    metadata: Metadata,
}

/// Whether `config` needs its endpoints discovered.
pub fn needed(config: &AuthConfig) -> bool {
    config.issuer.is_some() && !config.supports_oauth()
}

pub fn cache_path(config: &AuthConfig) -> PathBuf {
    let token = config.resolved_token_path();
    token.with_file_name(format!("{}_metadata.json", config.service))
}

/// The metadata, from the cache when fresh, else fetched, checked and cached.
pub fn metadata(config: &AuthConfig, transport: &Transport, now: f64) -> Result<Metadata> {
    let issuer = config.issuer.clone().unwrap_or_default();
    let cache = cache_path(config);
    if let Some(m) = read_cache(&cache, &issuer, now) {
        return Ok(m);
    }
    let m = fetch(config, transport, &issuer)?;
    let text = serde_json::to_vec_pretty(&Cached {
        fetched_at: now,
        metadata: m.clone(),
    })
    .map_err(|e| Error::Other(e.to_string()))?;
    crate::store::file::write_atomic(&cache, &text)?;
    Ok(m)
}

/// Fills the endpoints `config` leaves unset from the metadata.
pub fn apply(config: &mut AuthConfig, m: &Metadata) {
    let fill = |slot: &mut Option<String>, v: &Option<String>| {
        if slot.is_none() {
            slot.clone_from(v);
        }
    };
    fill(&mut config.oauth_authorize_url, &m.authorization_endpoint);
    fill(&mut config.oauth_token_url, &m.token_endpoint);
    fill(&mut config.userinfo_url, &m.userinfo_endpoint);
    fill(&mut config.revocation_url, &m.revocation_endpoint);
    fill(
        &mut config.device_authorization_url,
        &m.device_authorization_endpoint,
    );
}

fn read_cache(path: &Path, issuer: &str, now: f64) -> Option<Metadata> {
    let c: Cached = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    (now - c.fetched_at < CACHE_SECS && same_issuer(&c.metadata.issuer, issuer))
        .then_some(c.metadata)
}

fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// RFC 8414 §3 first (`/.well-known/oauth-authorization-server` inserted
/// before the issuer's path), then OpenID Connect's `/.well-known/openid-configuration`.
fn fetch(config: &AuthConfig, transport: &Transport, issuer: &str) -> Result<Metadata> {
    let service = config.service.clone();
    let bad = |message: String| Error::NotConfigured {
        service: service.clone(),
        message,
    };
    let url =
        url::Url::parse(issuer).map_err(|e| bad(format!("issuer {issuer:?} is not a URL: {e}")))?;
    let path = url.path().trim_end_matches('/');
    let origin = url.origin().ascii_serialization();
    let candidates = [
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}{path}/.well-known/openid-configuration"),
    ];
    let mut last = String::new();
    for candidate in candidates {
        let resp = match transport
            .client()
            .get(&candidate)
            .header("Accept", "application/json")
            .send()
        {
            Ok(r) => r,
            Err(e) => {
                last = format!("{candidate}: {}", crate::flow::root_cause(&e));
                continue;
            }
        };
        if !resp.status().is_success() {
            last = format!("{candidate}: HTTP {}", resp.status().as_u16());
            continue;
        }
        let m: Metadata = resp.json().map_err(|e| {
            bad(format!(
                "{candidate} is not authorization server metadata: {e}"
            ))
        })?;
        if !same_issuer(&m.issuer, issuer) {
            return Err(bad(format!(
                "{candidate} names the issuer {:?}, not the configured {issuer:?}; refusing it (RFC 8414 §3.3)",
                m.issuer
            )));
        }
        if !m
            .code_challenge_methods_supported
            .iter()
            .any(|c| c == "S256")
        {
            return Err(bad(format!(
                "the issuer {issuer} does not list PKCE S256 in code_challenge_methods_supported; planopticon signs in only with S256"
            )));
        }
        return Ok(m);
    }
    Err(bad(format!(
        "could not read the issuer's metadata ({last})"
    )))
}
