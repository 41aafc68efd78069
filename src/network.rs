//! The network setup that provider requests use, as read from the
//! environment: which proxy each scheme goes through, what bypasses it, and
//! which extra CA certificates TLS trusts. Read-only; for a "Network"
//! section in a front end and for the `-v` log.
//!
//! The rules are the ones the HTTP client applies (see `flow::Transport`):
//!
//! * proxies: `HTTP_PROXY` / `http_proxy` for `http://` URLs and
//!   `HTTPS_PROXY` / `https_proxy` for `https://` URLs, the upper-case name
//!   first; `ALL_PROXY` / `all_proxy` where that is unset or not a proxy URL.
//!   `NO_PROXY` / `no_proxy` lists hosts, domains and IP ranges that go
//!   direct. A `user:password@` in the proxy URL is sent as Basic proxy
//!   authentication. None of them applies when `REQUEST_METHOD` is set (a
//!   CGI environment, where `HTTP_PROXY` may come from a request header).
//! * certificates: the bundled web roots always; the operating system's
//!   store unless `SSL_CERT_FILE` or `SSL_CERT_DIR` is set, in which case
//!   the certificates in that PEM file and in the files of those
//!   directories (a `:`-separated list) take its place.
//!
//! A proxy's password never leaves this module: every URL here has it
//! replaced by `***`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What [`describe`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSetup {
    /// The proxy for `http://` URLs, if any.
    pub http_proxy: Option<ProxyInUse>,
    /// The proxy for `https://` URLs, if any.
    pub https_proxy: Option<ProxyInUse>,
    /// The hosts that go direct (`NO_PROXY` or `no_proxy`), as written.
    pub no_proxy: Option<String>,
    /// `SSL_CERT_FILE`, when set.
    pub ca_file: Option<CaLocation>,
    /// `SSL_CERT_DIR`'s directories, when set.
    pub ca_dirs: Vec<CaLocation>,
    /// Whether the operating system's certificate store is trusted (it is
    /// unless `SSL_CERT_FILE` or `SSL_CERT_DIR` names other certificates).
    pub system_store: bool,
}

/// A proxy and where it was configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyInUse {
    /// The proxy URL with any password replaced: `http://user:***@host:3128`.
    pub url: String,
    /// The variable it came from, e.g. `HTTPS_PROXY` or `all_proxy`.
    pub variable: String,
    /// Whether the URL carries credentials (sent as Basic proxy authentication).
    pub with_credentials: bool,
}

/// An extra place CA certificates are read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaLocation {
    pub path: PathBuf,
    /// Whether it is there: a file for `SSL_CERT_FILE`, a directory for
    /// `SSL_CERT_DIR`. A missing one adds no certificate.
    pub exists: bool,
}

impl NetworkSetup {
    /// Whether anything differs from a direct connection trusting the
    /// usual roots.
    pub fn is_default(&self) -> bool {
        self.http_proxy.is_none()
            && self.https_proxy.is_none()
            && self.no_proxy.is_none()
            && self.system_store
    }

    /// One line for a log, secrets redacted.
    pub fn summary(&self) -> String {
        let proxy = |p: &Option<ProxyInUse>| match p {
            Some(p) => format!("{} (from {})", p.url, p.variable),
            None => "none".into(),
        };
        let mut s = format!(
            "proxy for http: {}; proxy for https: {}",
            proxy(&self.http_proxy),
            proxy(&self.https_proxy)
        );
        if let Some(n) = &self.no_proxy {
            s.push_str(&format!("; NO_PROXY: {n}"));
        }
        let place = |c: &CaLocation| {
            let missing = if c.exists { "" } else { " (missing)" };
            format!("{}{missing}", c.path.display())
        };
        let mut roots = vec!["bundled web roots".to_string()];
        if self.system_store {
            roots.push("the system store".into());
        }
        if let Some(f) = &self.ca_file {
            roots.push(format!("SSL_CERT_FILE {}", place(f)));
        }
        if !self.ca_dirs.is_empty() {
            let dirs: Vec<String> = self.ca_dirs.iter().map(place).collect();
            roots.push(format!("SSL_CERT_DIR {}", dirs.join(":")));
        }
        s.push_str(&format!("; TLS trusts: {}", roots.join(", ")));
        s
    }

    /// `SSL_CERT_FILE=...` and `SSL_CERT_DIR=...`, those set, for a message.
    pub fn extra_ca_variables(&self) -> Option<String> {
        let mut set = Vec::new();
        if let Some(f) = &self.ca_file {
            set.push(format!("SSL_CERT_FILE={}", f.path.display()));
        }
        if !self.ca_dirs.is_empty() {
            // Joined as the OS writes the list (`;` on Windows), as it was set.
            let dirs = std::env::join_paths(self.ca_dirs.iter().map(|d| &d.path))
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default();
            set.push(format!("SSL_CERT_DIR={dirs}"));
        }
        (!set.is_empty()).then(|| set.join(" and "))
    }

    /// Whether `SSL_CERT_FILE` or `SSL_CERT_DIR` names something that is
    /// not there, and which: for an error about an untrusted certificate.
    pub fn missing_ca(&self) -> Option<String> {
        if let Some(f) = self.ca_file.as_ref().filter(|f| !f.exists) {
            return Some(format!(
                "SSL_CERT_FILE names {}, which is not a file",
                f.path.display()
            ));
        }
        self.ca_dirs.iter().find(|d| !d.exists).map(|d| {
            format!(
                "SSL_CERT_DIR names {}, which is not a directory",
                d.path.display()
            )
        })
    }
}

/// The network setup of this process's environment.
pub fn describe() -> NetworkSetup {
    describe_from(|name| std::env::var(name).ok())
}

/// The network setup of an environment given as a lookup (for tests and
/// for describing another process's environment).
pub fn describe_from(env: impl Fn(&str) -> Option<String>) -> NetworkSetup {
    // As the client reads them: the first of each pair that is set wins,
    // even when empty; a value that is not a proxy URL counts as unset.
    let first = |names: [&str; 2]| {
        names
            .into_iter()
            .find_map(|n| env(n).map(|v| (n.to_string(), v)))
    };
    let proxy = |names: [&str; 2]| {
        first(names).and_then(|(variable, value)| {
            is_proxy_url(&value).then(|| ProxyInUse {
                url: redact_userinfo(&value),
                variable,
                with_credentials: has_userinfo(&value),
            })
        })
    };
    let cgi = env("REQUEST_METHOD").is_some();
    let all = || proxy(["ALL_PROXY", "all_proxy"]);
    let (http_proxy, https_proxy) = if cgi {
        (None, None)
    } else {
        (
            proxy(["HTTP_PROXY", "http_proxy"]).or_else(all),
            proxy(["HTTPS_PROXY", "https_proxy"]).or_else(all),
        )
    };
    let no_proxy = first(["NO_PROXY", "no_proxy"])
        .map(|(_, v)| v)
        .filter(|v| !v.trim().is_empty() && !cgi);

    let ca_file = env("SSL_CERT_FILE").map(|p| {
        let path = PathBuf::from(p);
        CaLocation {
            exists: path.is_file(),
            path,
        }
    });
    let ca_dirs: Vec<CaLocation> = env("SSL_CERT_DIR")
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .map(|path| CaLocation {
                    exists: path.is_dir(),
                    path,
                })
                .collect()
        })
        .unwrap_or_default();
    let system_store = ca_file.is_none() && ca_dirs.is_empty();
    NetworkSetup {
        http_proxy,
        https_proxy,
        no_proxy,
        ca_file,
        ca_dirs,
        system_store,
    }
}

/// The proxy a request to `url` goes through, if any: the client's own
/// rules (NO_PROXY included), with the password redacted.
pub fn proxy_for(url: &str) -> Option<ProxyInUse> {
    let uri = url.parse::<http::Uri>().ok()?;
    let intercept = hyper_util::client::proxy::matcher::Matcher::from_system().intercept(&uri)?;
    let setup = describe();
    let configured = match uri.scheme_str() {
        Some("https") => setup.https_proxy,
        _ => setup.http_proxy,
    };
    // Set by a variable, as a rule; otherwise by the system's settings.
    Some(configured.unwrap_or_else(|| ProxyInUse {
        url: redact_userinfo(&intercept.uri().to_string()),
        variable: "system settings".into(),
        with_credentials: intercept.basic_auth().is_some(),
    }))
}

/// Whether the client takes `value` as a proxy: an http, https or socks
/// URL, or `host:port` (taken as http).
fn is_proxy_url(value: &str) -> bool {
    let Ok(uri) = value.parse::<http::Uri>() else {
        return false;
    };
    let scheme_ok = match uri.scheme_str() {
        None => true,
        Some(s) => matches!(
            s,
            "http" | "https" | "socks4" | "socks4a" | "socks5" | "socks5h"
        ),
    };
    scheme_ok && uri.authority().is_some()
}

/// The authority part of a URL (`user:pass@host:port`) and what precedes
/// it. Everything up to the last `@` counts as user information, so a
/// password holding a `/` or an `@` is still hidden whole.
fn split_authority(url: &str) -> (&str, &str) {
    match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    }
}

fn has_userinfo(url: &str) -> bool {
    split_authority(url).1.contains('@')
}

/// `http://user:secret@host:3128` -> `http://user:***@host:3128`. A URL
/// without a password is returned as it is.
pub fn redact_userinfo(url: &str) -> String {
    let (scheme, rest) = split_authority(url);
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn setup(vars: &[(&str, &str)]) -> NetworkSetup {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        describe_from(|name| map.get(name).cloned())
    }

    #[test]
    fn nothing_set_is_the_default() {
        let s = setup(&[]);
        assert!(s.is_default());
        assert_eq!(s.http_proxy, None);
        assert_eq!(s.https_proxy, None);
        assert!(s.system_store);
        assert_eq!(s.missing_ca(), None);
        assert_eq!(
            s.summary(),
            "proxy for http: none; proxy for https: none; TLS trusts: bundled web roots, the system store"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        for (url, shown) in [
            ("http://user:pass@host:3128", "http://user:***@host:3128"),
            ("http://user:pass@host:3128/", "http://user:***@host:3128/"),
            ("user:pass@host:3128", "user:***@host:3128"),
            ("http://user:p%40ss@host", "http://user:***@host"),
            ("http://user:pa/ss@host:1", "http://user:***@host:1"),
            ("http://user:pa@ss@host:1", "http://user:***@host:1"),
            ("http://user@host:1", "http://user@host:1"),
            ("http://host:1", "http://host:1"),
            ("socks5://u:p@host:1080", "socks5://u:***@host:1080"),
        ] {
            assert_eq!(redact_userinfo(url), shown, "{url}");
        }
    }

    #[test]
    fn upper_case_first_then_lower_then_all_proxy() {
        let s = setup(&[
            ("HTTPS_PROXY", "http://alice:s3cret@proxy:3128"),
            ("https_proxy", "http://other:1"),
            ("http_proxy", "http://plain:8080"),
            ("ALL_PROXY", "http://all:9"),
            ("NO_PROXY", "localhost,127.0.0.1"),
        ]);
        let https = s.https_proxy.as_ref().unwrap();
        assert_eq!(https.url, "http://alice:***@proxy:3128");
        assert_eq!(https.variable, "HTTPS_PROXY");
        assert!(https.with_credentials);
        let http = s.http_proxy.as_ref().unwrap();
        assert_eq!(http.url, "http://plain:8080");
        assert_eq!(http.variable, "http_proxy");
        assert!(!http.with_credentials);
        assert_eq!(s.no_proxy.as_deref(), Some("localhost,127.0.0.1"));
        assert!(!s.is_default());
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("s3cret"), "{json}");
        assert!(!s.summary().contains("s3cret"), "{}", s.summary());
        assert!(!format!("{s:?}").contains("s3cret"));
        let back: NetworkSetup = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn all_proxy_covers_both_schemes_and_a_bad_value_falls_back_to_it() {
        let s = setup(&[("all_proxy", "proxy:3128"), ("HTTP_PROXY", "not a url")]);
        assert_eq!(s.http_proxy.as_ref().unwrap().variable, "all_proxy");
        assert_eq!(s.https_proxy.as_ref().unwrap().url, "proxy:3128");
        // An empty upper-case value hides the lower-case one, as in the client.
        let s = setup(&[("HTTPS_PROXY", ""), ("https_proxy", "http://p:1")]);
        assert_eq!(s.https_proxy, None);
    }

    #[test]
    fn a_cgi_environment_uses_no_proxy() {
        let s = setup(&[("REQUEST_METHOD", "GET"), ("HTTP_PROXY", "http://evil:1")]);
        assert_eq!(s.http_proxy, None);
    }

    #[test]
    fn extra_certificates_and_whether_they_exist() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("ca.pem");
        std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let missing = dir.path().join("gone");
        // The OS's own list separator (`;` on Windows), as split_paths reads it.
        let dirs = std::env::join_paths([dir.path(), &missing]).unwrap();
        let dirs = dirs.to_str().unwrap();
        let s = setup(&[
            ("SSL_CERT_FILE", pem.to_str().unwrap()),
            ("SSL_CERT_DIR", dirs),
        ]);
        assert!(!s.system_store);
        assert_eq!(
            s.ca_file,
            Some(CaLocation {
                path: pem.clone(),
                exists: true
            })
        );
        assert_eq!(s.ca_dirs.len(), 2);
        assert!(s.ca_dirs[0].exists);
        assert!(!s.ca_dirs[1].exists);
        assert_eq!(
            s.missing_ca(),
            Some(format!(
                "SSL_CERT_DIR names {}, which is not a directory",
                missing.display()
            ))
        );
        assert!(s.summary().contains("(missing)"), "{}", s.summary());
        assert_eq!(
            s.extra_ca_variables(),
            Some(format!(
                "SSL_CERT_FILE={} and SSL_CERT_DIR={dirs}",
                pem.display()
            ))
        );
        assert_eq!(setup(&[]).extra_ca_variables(), None);

        let s = setup(&[("SSL_CERT_FILE", missing.to_str().unwrap())]);
        assert!(!s.ca_file.as_ref().unwrap().exists);
        assert!(s.missing_ca().unwrap().starts_with("SSL_CERT_FILE names"));
    }
}
