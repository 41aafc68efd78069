//! One module per grant. They share the HTTP transport (no redirects
//! followed, a timeout, `Accept: application/json`) and the way a token
//! endpoint's answer becomes a `StoredToken` or a specific error.

pub mod authorization_code;
pub mod client_credentials;
pub mod device;
pub mod refresh;

use std::cell::Cell;
use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{
    ClientId, ClientSecret, EndpointNotSet, EndpointSet, ErrorResponseType, HttpRequest,
    HttpResponse, RequestTokenError, StandardErrorResponse, TokenResponse, TokenUrl,
};

use crate::config::AuthConfig;
use crate::error::{SecretSource, SentClient};
use crate::method::Method;
use crate::store::StoredToken;
use crate::{Error, Result};

pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP side of every request to a provider. It remembers the status,
/// `Retry-After` and the provider's own words of the last reply so errors
/// can name them.
pub struct Transport {
    client: reqwest::blocking::Client,
    timeout: Duration,
    last: Cell<Option<LastReply>>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct LastReply {
    status: u16,
    retry_after: Option<String>,
    /// A refusal's explanation in a field RFC 6749 does not name (Zoom's `reason`).
    reason: Option<String>,
}

impl Transport {
    /// `PLANOPTICON_HTTP_TIMEOUT` (seconds) overrides the 30 s default.
    pub fn new() -> Result<Self> {
        let timeout = crate::config::env_value("PLANOPTICON_HTTP_TIMEOUT")
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(DEFAULT_HTTP_TIMEOUT);
        Self::with_timeout(timeout)
    }

    /// The one HTTP client every provider request goes through (token,
    /// revocation, who-am-I, discovery). Besides no redirects and the timeout:
    ///
    /// * TLS is rustls. It trusts the bundled web roots, plus the operating
    ///   system's store (where `update-ca-certificates` puts a company CA);
    ///   when `SSL_CERT_FILE` (a PEM file) or `SSL_CERT_DIR` (`:`-separated
    ///   directories of PEM files) is set, their certificates take the
    ///   system store's place, as with OpenSSL. A refused certificate is
    ///   worded by [`root_cause`], with how to add a CA.
    /// * Proxies come from the environment, as curl reads it: `HTTPS_PROXY` /
    ///   `HTTP_PROXY`, else `ALL_PROXY` (upper or lower case), minus the
    ///   hosts in `NO_PROXY`. Loopback URLs are not special: a proxy applies
    ///   to them too unless `NO_PROXY` names them. `http://user:pass@host:port`
    ///   authenticates to the proxy (Basic); the password is never logged
    ///   (`network::describe` redacts it) nor part of an error. The loopback
    ///   listener is a server, so no proxy is ever involved there.
    pub fn with_timeout(timeout: Duration) -> Result<Self> {
        let setup = crate::network::describe();
        log::debug!("network: {}", setup.summary());
        let client = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .user_agent(concat!("planopticon/", env!("CARGO_PKG_VERSION")))
            .tls_built_in_webpki_certs(true)
            .tls_built_in_native_certs(true)
            .build()
            .map_err(|e| {
                // A CA file or directory with no usable certificate in it.
                let hint = setup
                    .extra_ca_variables()
                    .map(|v| format!("; check the PEM certificates in {v}"))
                    .unwrap_or_default();
                Error::Other(format!(
                    "could not start the HTTP client: {}{hint}",
                    root_cause(&e)
                ))
            })?;
        Ok(Self {
            client,
            timeout,
            last: Cell::new(None),
        })
    }

    pub fn client(&self) -> &reqwest::blocking::Client {
        &self.client
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// oauth2's `SyncHttpClient`, through our client.
    pub(crate) fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.last.set(None);
        let response = self.client.execute(request.try_into()?)?;
        self.record(&response);
        let mut builder = http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let body = with_token_type(response.bytes()?.to_vec());
        self.record_reason(&body);
        Ok(builder.body(body).expect("a response we just read"))
    }

    pub(crate) fn record(&self, response: &reqwest::blocking::Response) {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        self.last.set(Some(LastReply {
            status: response.status().as_u16(),
            retry_after,
            reason: None,
        }));
    }

    /// Keeps a refusal's non-standard explanation (only of an error reply:
    /// a token reply's fields are never looked at here).
    pub(crate) fn record_reason(&self, body: &[u8]) {
        if let Some(mut last) = self.last.take() {
            if last.status >= 400 {
                last.reason = provider_reason(body);
            }
            self.last.set(Some(last));
        }
    }

    fn last(&self) -> Option<LastReply> {
        let v = self.last.take();
        self.last.set(v.clone());
        v
    }
}

/// Some providers leave out `token_type`, which the Python tool never
/// needed and oauth2 requires: a token reply without one is a bearer token.
/// An empty `access_token` is no token: it is dropped, so the reply is
/// refused as one without a usable access_token.
pub(crate) fn with_token_type(body: Vec<u8>) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(mut map)) if map.get("access_token") == Some(&"".into()) => {
            map.remove("access_token");
            serde_json::to_vec(&map).unwrap_or(body)
        }
        Ok(serde_json::Value::Object(mut map))
            if map.contains_key("access_token") && !map.contains_key("token_type") =>
        {
            map.insert("token_type".into(), "bearer".into());
            serde_json::to_vec(&map).unwrap_or(body)
        }
        _ => body,
    }
}

/// Why a request to the provider did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Reqwest(#[from] reqwest::Error),
    /// The person gave up (the app's Cancel) while a poll was pending.
    #[error("cancelled")]
    Cancelled,
}

/// A provider's explanation of a refusal in a field RFC 6749 does not name:
/// Zoom's `reason`, others' `message`; a short string only.
pub(crate) fn provider_reason(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    reason_in(&v, &["reason", "message", "error_message"])
}

/// A provider's own words in any refusal body (an API's 401 as well as a
/// token endpoint's): RFC 6749's `error_description`, Zoom's `reason`,
/// Notion's and GitHub's `message`, else a string `error`; a short string
/// only.
pub(crate) fn refusal_words(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    reason_in(
        &v,
        &[
            "error_description",
            "reason",
            "message",
            "error_message",
            "error",
        ],
    )
}

fn reason_in(v: &serde_json::Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .filter_map(|k| v.get(k)?.as_str())
        .map(str::trim)
        .find(|s| !s.is_empty() && s.len() <= 300 && !s.chars().any(char::is_control))
        .map(str::to_string)
}

/// What every grant needs: the service, its transport and the time.
pub struct Ctx<'a> {
    pub config: &'a AuthConfig,
    pub transport: &'a Transport,
    pub now: f64,
    /// The client the last token request was sent as, to explain a refusal.
    pub(crate) sent: Cell<Option<SentClient>>,
}

pub(crate) type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

impl<'a> Ctx<'a> {
    pub fn new(config: &'a AuthConfig, transport: &'a Transport, now: f64) -> Self {
        Self {
            config,
            transport,
            now,
            sent: Cell::new(None),
        }
    }

    pub(crate) fn token_url(&self) -> Result<String> {
        self.config
            .oauth_token_url
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| Error::NotConfigured {
                service: self.config.service.clone(),
                message: format!(
                    "no oauth_token_url is configured (set it in {})",
                    crate::services::Registry::path().display()
                ),
            })
    }

    /// An oauth2 client for the configuration's client; with no secret the
    /// client id goes in the body (public client) instead of HTTP Basic.
    pub(crate) fn client(&self, client_id: &str, secret: Option<&str>) -> Result<TokenClient> {
        self.client_as(client_id, secret, self.config.client_secret_source())
    }

    /// [`Self::client`], naming where the secret came from.
    pub(crate) fn client_as(
        &self,
        client_id: &str,
        secret: Option<&str>,
        source: SecretSource,
    ) -> Result<TokenClient> {
        let secret = secret.filter(|s| !s.is_empty());
        self.sent.set(Some(SentClient {
            client_id: client_id.into(),
            secret: match secret {
                Some(_) => source,
                None => SecretSource::None,
            },
        }));
        let url = self.token_url()?;
        let token_url = TokenUrl::new(url.clone()).map_err(|e| Error::NotConfigured {
            service: self.config.service.clone(),
            message: format!("oauth_token_url {url:?} is not a URL: {e}"),
        })?;
        let mut client = BasicClient::new(ClientId::new(client_id.into())).set_token_uri(token_url);
        if let Some(s) = secret {
            client = client.set_client_secret(ClientSecret::new(s.into()));
        }
        Ok(client)
    }

    /// The Python tool's file shape from a token response.
    pub(crate) fn stored(&self, r: &BasicTokenResponse, method: Method) -> StoredToken {
        let mut t = StoredToken::new(r.access_token().clone());
        t.refresh_token = r.refresh_token().cloned();
        t.expires_at = Some(self.expires_at(r.expires_in()));
        t.obtained_at = Some(self.now);
        t.obtained_by = Some(method.into());
        t
    }

    /// Issue time + lifetime (3600 s when the provider gives none) - a
    /// safety margin: the Python tool's 60 s, but at most a tenth of the
    /// lifetime, so a token that lives a minute is not stale on arrival.
    pub(crate) fn expires_at(&self, expires_in: Option<Duration>) -> f64 {
        let secs = expires_in.map(|d| d.as_secs_f64()).unwrap_or(3600.0);
        // At least a second (half a very short life): providers give `exp`
        // in whole seconds and `expires_in` from a truncated clock, so a
        // token may die up to a second before `now + expires_in`.
        let margin = (secs / 10.0).min(60.0).max(1.0_f64.min(secs / 2.0));
        self.now + secs - margin
    }

    /// A specific error for a failed token request.
    pub(crate) fn token_error<T: ErrorResponseType + AsRef<str> + std::fmt::Display + 'static>(
        &self,
        step: &'static str,
        err: RequestTokenError<HttpError, StandardErrorResponse<T>>,
    ) -> Error {
        let url = self.token_url().unwrap_or_default();
        let last = self.transport.last().unwrap_or_default();
        let status = self.transport.last().map(|l| l.status);
        match err {
            RequestTokenError::ServerResponse(e) => {
                let error = e.error().as_ref().to_string();
                let description = e.error_description().cloned().or(last.reason);
                self.provider_error(step, status, error, description, last.retry_after)
            }
            RequestTokenError::Request(HttpError::Reqwest(e)) => self.network_error(step, &url, e),
            RequestTokenError::Request(HttpError::Cancelled) => Error::Cancelled {
                service: self.config.service.clone(),
            },
            RequestTokenError::Parse(e, body) => {
                // GitHub answers errors with 200 and a JSON error body.
                if let Ok(e) = serde_json::from_slice::<BasicErrorResponse>(&body) {
                    let error = e.error().as_ref().to_string();
                    let description = e.error_description().cloned();
                    return self.provider_error(step, status, error, description, None);
                }
                self.reply_error(step, status, &describe_body(&body, &e.path().to_string()))
            }
            RequestTokenError::Other(detail) => self.reply_error(step, status, &detail),
        }
    }

    pub(crate) fn provider_error(
        &self,
        step: &'static str,
        status: Option<u16>,
        error: String,
        description: Option<String>,
        retry_after: Option<String>,
    ) -> Error {
        let service = self.config.service.clone();
        if error == "invalid_grant" && step == refresh::STEP {
            return Error::ReconnectNeeded {
                service,
                description,
            };
        }
        // The provider refused the client itself: say which one was sent.
        let client = (error == "invalid_client" || status == Some(401))
            .then(|| self.sent.take())
            .flatten()
            .map(Box::new);
        let retry_secs = retry_after
            .as_deref()
            .and_then(|r| retry_after_secs(r, self.now));
        let description = match retry_after {
            Some(r) => Some(format!(
                "{}retry after {r} s",
                description.map(|d| format!("{d}; ")).unwrap_or_default()
            )),
            None => description,
        };
        Error::Provider {
            service,
            step,
            status,
            error,
            description,
            client,
            retry_after: retry_secs,
        }
    }

    pub(crate) fn network_error(&self, step: &'static str, url: &str, e: reqwest::Error) -> Error {
        let service = self.config.service.clone();
        if e.is_timeout() {
            return Error::NetworkTimeout {
                service,
                step,
                url: url.into(),
                secs: self.transport.timeout().as_secs().max(1),
            };
        }
        Error::Network {
            service,
            step,
            url: url.into(),
            cause: root_cause(&e),
        }
    }

    pub(crate) fn reply_error(
        &self,
        step: &'static str,
        status: Option<u16>,
        detail: &str,
    ) -> Error {
        if status == Some(407) {
            let url = self.token_url().unwrap_or_default();
            let cause = match crate::network::proxy_for(&url) {
                Some(p) => format!(
                    "{PROXY_AUTH_ADVICE} (via the proxy {} from {})",
                    p.url, p.variable
                ),
                None => PROXY_AUTH_ADVICE.into(),
            };
            return Error::Network {
                service: self.config.service.clone(),
                step,
                url,
                cause,
            };
        }
        let detail = match status {
            Some(s) if (300..400).contains(&s) => format!(
                "HTTP {s}: the token endpoint redirects, and token requests are not redirected; check oauth_token_url"
            ),
            Some(s) if s != 200 => format!("HTTP {s}, {detail}"),
            _ => detail.to_string(),
        };
        Error::BadReply {
            service: self.config.service.clone(),
            step,
            status: status.filter(|s| *s != 200),
            detail,
            retry_after: self
                .transport
                .last()
                .and_then(|l| l.retry_after)
                .and_then(|r| retry_after_secs(&r, self.now)),
        }
    }
}

/// A `Retry-After` value in seconds from `now`: delay-seconds, or an
/// HTTP-date (RFC 9110 §10.2.3); `None` when it is neither.
pub(crate) fn retry_after_secs(value: &str, now: f64) -> Option<u32> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs.min(u32::MAX as u64) as u32);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64();
    Some((at - now).clamp(0.0, u32::MAX as f64).ceil() as u32)
}

/// What a body that is not a token response looks like, without quoting it
/// (it may hold a secret).
fn describe_body(body: &[u8], path: &str) -> String {
    let text = String::from_utf8_lossy(body);
    let t = text.trim_start();
    if t.starts_with('<') {
        "an HTML page instead of JSON".into()
    } else if t.contains("access_token=") {
        "a form-encoded reply instead of JSON".into()
    } else if t.starts_with('{') {
        format!("JSON without a usable access_token (at `{path}`)")
    } else {
        "a body that is not JSON".into()
    }
}

/// The innermost cause: "Connection refused (os error 111)" rather than
/// reqwest's "error sending request"; a refused certificate or a proxy
/// asking for credentials in words that say what to do. A request that
/// went through a proxy says which (its password redacted).
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    let cause = loop {
        if let Some(words) = known_cause(cur) {
            break words;
        }
        match cur.source() {
            Some(next) => cur = next,
            None => break cur.to_string(),
        }
    };
    let proxy = e
        .downcast_ref::<reqwest::Error>()
        .and_then(|e| e.url())
        .and_then(|url| crate::network::proxy_for(url.as_str()));
    match proxy {
        Some(p) => format!("{cause} (via the proxy {} from {})", p.url, p.variable),
        None => cause,
    }
}

/// What to do about a certificate the client refuses, front-end neutral.
pub const ADD_CA_ADVICE: &str = "if your network inspects TLS, add its CA: install it with update-ca-certificates, or set SSL_CERT_FILE to a PEM file holding it";

/// What to do about a proxy that wants credentials.
pub const PROXY_AUTH_ADVICE: &str = "the proxy asks for credentials (HTTP 407): put them in the proxy URL, e.g. HTTPS_PROXY=http://user:password@host:port";

/// A proxy that answered CONNECT with neither 200 nor 407 (tinyproxy
/// answers a wrong password with 401, others 403 for a port they block).
pub const PROXY_REFUSED_TUNNEL: &str = "the proxy refused to open a tunnel to this host: check the credentials in the proxy URL, and that the proxy allows this host and port";

fn known_cause(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    // rustls' error reaches us wrapped in io::Errors (two, today), whose
    // source() skips the error they wrap.
    let mut tls = e.downcast_ref::<rustls::Error>();
    let mut io = e.downcast_ref::<std::io::Error>();
    while let (None, Some(wrapper)) = (tls, io) {
        let inner = wrapper.get_ref();
        tls = inner.and_then(|i| i.downcast_ref::<rustls::Error>());
        io = inner.and_then(|i| i.downcast_ref::<std::io::Error>());
    }
    if let Some(rustls::Error::InvalidCertificate(c)) = tls {
        return Some(certificate_words(c, &crate::network::describe()));
    }
    // hyper-util's CONNECT tunnel errors, for an https URL through a proxy
    // (an http URL gets the proxy's reply itself: see `Ctx::reply_error`).
    match e.to_string().as_str() {
        "tunnel error: proxy authorization required" => Some(PROXY_AUTH_ADVICE.into()),
        "tunnel error: unsuccessful" => Some(PROXY_REFUSED_TUNNEL.into()),
        _ => None,
    }
}

/// "the server's certificate is not trusted (UnknownIssuer). If your ...".
pub(crate) fn certificate_words(
    c: &rustls::CertificateError,
    setup: &crate::network::NetworkSetup,
) -> String {
    use rustls::CertificateError as C;
    let (problem, name) = match c {
        C::UnknownIssuer => ("is not trusted", "UnknownIssuer"),
        C::Expired | C::ExpiredContext { .. } => ("has expired", "Expired"),
        C::NotValidYet | C::NotValidYetContext { .. } => ("is not valid yet", "NotValidYet"),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            ("is for another host name", "NotValidForName")
        }
        C::Revoked => ("has been revoked", "Revoked"),
        C::BadSignature => ("is not trusted", "BadSignature"),
        _ => ("was refused", ""),
    };
    // The variant's name without its fields, e.g. "InvalidPurposeContext".
    let debug;
    let name = if name.is_empty() {
        debug = format!("{c:?}");
        debug
            .split(|ch: char| !ch.is_alphanumeric())
            .next()
            .unwrap_or("")
    } else {
        name
    };
    let mut words = format!("the server's certificate {problem} ({name}). ");
    if let Some(missing) = setup.missing_ca() {
        words.push_str(&missing);
        words.push_str(". ");
    }
    let mut advice = ADD_CA_ADVICE.chars();
    if let Some(first) = advice.next() {
        words.extend(first.to_uppercase());
        words.push_str(advice.as_str());
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(retry_after_secs("120", 0.0), Some(120));
        assert_eq!(retry_after_secs(" 7 ", 0.0), Some(7));
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777.
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(retry_after_secs(date, 784_111_777.0 - 90.0), Some(90));
        assert_eq!(retry_after_secs(date, 784_111_777.0 + 90.0), Some(0));
        assert_eq!(retry_after_secs("soon", 0.0), None);
    }

    #[test]
    fn what_is_worth_retrying() {
        use crate::error::Retry;
        let provider = |status, error: &str, retry_after| Error::Provider {
            service: "s".into(),
            step: "token refresh",
            status,
            error: error.into(),
            description: None,
            client: None,
            retry_after,
        };
        let net = Error::Network {
            service: "s".into(),
            step: "token refresh",
            url: "u".into(),
            cause: "refused".into(),
        };
        assert_eq!(net.retry(), Retry::Later);
        assert_eq!(provider(Some(429), "x", Some(60)).retry(), Retry::After(60));
        assert_eq!(provider(Some(503), "x", None).retry(), Retry::Later);
        assert_eq!(
            provider(Some(400), "invalid_request", None).retry(),
            Retry::No
        );
        let bad = Error::BadReply {
            service: "s".into(),
            step: "token refresh",
            status: Some(502),
            detail: "an HTML page instead of JSON".into(),
            retry_after: None,
        };
        assert_eq!(bad.retry(), Retry::Later);
        let gone = Error::ReconnectNeeded {
            service: "s".into(),
            description: None,
        };
        assert_eq!(gone.retry(), Retry::No);
    }
    use rustls::CertificateError as C;

    /// As reqwest hands it over: the rustls error inside two io::Errors.
    fn wrapped(c: C) -> std::io::Error {
        let tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(c),
        );
        std::io::Error::other(tls)
    }

    #[test]
    fn a_refused_certificate_is_named_with_how_to_add_a_ca() {
        let words = root_cause(&wrapped(C::UnknownIssuer));
        assert_eq!(
            words,
            "the server's certificate is not trusted (UnknownIssuer). If your network inspects TLS, \
             add its CA: install it with update-ca-certificates, or set SSL_CERT_FILE to a PEM file holding it"
        );
        for (c, start) in [
            (
                C::Expired,
                "the server's certificate has expired (Expired). If",
            ),
            (
                C::NotValidForName,
                "the server's certificate is for another host name (NotValidForName). If",
            ),
            (
                C::InvalidPurpose,
                "the server's certificate was refused (InvalidPurpose). If",
            ),
        ] {
            let words = root_cause(&wrapped(c));
            assert!(words.starts_with(start), "{words}");
        }
    }

    #[test]
    fn a_missing_ssl_cert_file_is_named() {
        let setup = crate::network::describe_from(|name| {
            (name == "SSL_CERT_FILE").then(|| "/nonexistent/ca.pem".to_string())
        });
        let words = certificate_words(&C::UnknownIssuer, &setup);
        assert!(
            words.starts_with(
                "the server's certificate is not trusted (UnknownIssuer). SSL_CERT_FILE names \
                 /nonexistent/ca.pem, which is not a file. If your network"
            ),
            "{words}"
        );
    }

    #[test]
    fn other_causes_are_the_innermost_error() {
        let e = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        ));
        assert_eq!(root_cause(&e), "Connection refused (os error 111)");
        let e = std::io::Error::other(rustls::Error::General("x".into()));
        assert_eq!(root_cause(&e), "unexpected error: x");
    }
}
