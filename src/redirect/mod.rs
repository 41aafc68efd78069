//! How an authorization code comes back: a loopback listener on 127.0.0.1,
//! or the user pasting it (out-of-band).

pub mod loopback;
pub mod paste;

use constant_time_eq::constant_time_eq;
use oauth2::{AuthorizationCode, CsrfToken};

pub use loopback::{LoopbackListener, WaitError, DEFAULT_TIMEOUT};

/// How the browser hands the code back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectMode {
    /// To a listener on 127.0.0.1.
    Loopback,
    /// The person pastes the code, or the address the browser ends on.
    Paste,
}

impl RedirectMode {
    /// `http://127.0.0.1...` (or `[::1]`, `localhost`) means loopback; anything else paste.
    pub fn for_uri(uri: &str) -> Self {
        match url::Url::parse(uri) {
            Ok(u)
                if u.scheme() == "http"
                    && matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")) =>
            {
                Self::Loopback
            }
            _ => Self::Paste,
        }
    }
}

impl std::str::FromStr for RedirectMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "loopback" => Ok(Self::Loopback),
            "paste" => Ok(Self::Paste),
            _ => Err(format!("{s:?}: use loopback or paste")),
        }
    }
}

/// What a person (through the app) can send to a waiting sign-in.
pub enum Control {
    Cancel,
    /// A pasted code, or the whole redirected URL.
    Paste(String),
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cancel => f.write_str("Cancel"),
            Self::Paste(_) => f.write_str("Paste([redacted])"),
        }
    }
}

/// What to accept on a callback.
#[derive(Debug)]
pub struct Expect {
    pub state: CsrfToken,
    /// The provider's issuer; a callback's `iss` must equal it (RFC 9207).
    pub issuer: Option<String>,
    /// The provider advertises `iss` on callbacks, so one without it is refused.
    pub require_iss: bool,
}

/// What a callback's query parameters amount to.
#[derive(Debug)]
pub enum Verdict {
    Code(AuthorizationCode),
    /// The provider's `error` / `error_description`, on a callback with our state.
    ProviderError {
        error: String,
        description: Option<String>,
    },
    /// Not our callback (wrong or missing state, wrong issuer, no code): ignored.
    Rejected(&'static str),
}

/// Checks a callback: our state (constant-time), the issuer when sent, then
/// either a code or the provider's error.
pub fn check_callback<'a>(
    params: impl IntoIterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
    expect: &Expect,
) -> Verdict {
    let (mut state, mut code, mut error, mut description, mut iss) = (None, None, None, None, None);
    for (k, v) in params {
        let slot = match k.as_ref() {
            "state" => &mut state,
            "code" => &mut code,
            "error" => &mut error,
            "error_description" => &mut description,
            "iss" => &mut iss,
            _ => continue,
        };
        if slot.is_some() {
            return Verdict::Rejected("a parameter is repeated");
        }
        *slot = Some(v.into_owned());
    }
    match state {
        None => return Verdict::Rejected("no state"),
        Some(s) if !constant_time_eq(s.as_bytes(), expect.state.secret().as_bytes()) => {
            return Verdict::Rejected("wrong state")
        }
        _ => {}
    }
    match (&iss, &expect.issuer) {
        (Some(iss), Some(expected))
            if iss.trim_end_matches('/') != expected.trim_end_matches('/') =>
        {
            return Verdict::Rejected("wrong issuer")
        }
        (None, _) if expect.require_iss => return Verdict::Rejected("no iss"),
        _ => {}
    }
    if let Some(error) = error {
        return Verdict::ProviderError { error, description };
    }
    match code.filter(|c| !c.is_empty()) {
        Some(c) => Verdict::Code(AuthorizationCode::new(c)),
        None => Verdict::Rejected("no code"),
    }
}

/// Opens `url` in the user's browser: `BROWSER` when set (a program, `%s`
/// replaced by the URL or the URL appended), else the desktop's default.
pub fn open_browser(url: &str) -> Result<(), String> {
    if let Some(browser) = crate::config::env_value("BROWSER") {
        let mut last_err = String::new();
        // The Unix convention: a ':'-separated list, the first that runs wins.
        for cmd in browser.split(':').filter(|c| !c.trim().is_empty()) {
            let mut words = cmd.split_whitespace().map(|w| w.replace("%s", url));
            let Some(program) = words.next() else {
                continue;
            };
            let mut args: Vec<String> = words.collect();
            if !cmd.contains("%s") {
                args.push(url.to_string());
            }
            match std::process::Command::new(&program)
                .args(&args)
                .stdin(std::process::Stdio::null())
                .spawn()
            {
                Ok(child) => {
                    // Reap it in the background so it does not linger as a zombie.
                    std::thread::spawn(move || {
                        let mut child = child;
                        let _ = child.wait();
                    });
                    return Ok(());
                }
                Err(e) => last_err = format!("BROWSER program {program:?}: {e}"),
            }
        }
        return Err(last_err);
    }
    open::that_detached(url).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect() -> Expect {
        Expect {
            state: CsrfToken::new("s1".into()),
            issuer: Some("http://127.0.0.1:9".into()),
            require_iss: false,
        }
    }

    fn check(q: &str) -> Verdict {
        check_callback(url::form_urlencoded::parse(q.as_bytes()), &expect())
    }

    #[test]
    fn callback_verdicts() {
        assert!(matches!(check("code=c&state=s1"), Verdict::Code(_)));
        assert!(matches!(
            check("code=c&state=s1&iss=http%3A%2F%2F127.0.0.1%3A9"),
            Verdict::Code(_)
        ));
        assert!(matches!(check("code=c"), Verdict::Rejected("no state")));
        assert!(matches!(
            check("code=c&state=s2"),
            Verdict::Rejected("wrong state")
        ));
        assert!(matches!(
            check("code=c&state=s1&iss=http://evil"),
            Verdict::Rejected("wrong issuer")
        ));
        assert!(matches!(
            check("code=c&state=s1&state=s1"),
            Verdict::Rejected(_)
        ));
        assert!(matches!(
            check("error=access_denied&state=s2"),
            Verdict::Rejected("wrong state")
        ));
        assert!(matches!(
            check("error=access_denied&error_description=no&state=s1"),
            Verdict::ProviderError { .. }
        ));
        assert!(matches!(check("state=s1"), Verdict::Rejected("no code")));
    }

    #[test]
    fn mode_follows_the_redirect_uri() {
        assert_eq!(
            RedirectMode::for_uri("http://127.0.0.1/callback"),
            RedirectMode::Loopback
        );
        assert_eq!(
            RedirectMode::for_uri("http://127.0.0.1:8080/cb"),
            RedirectMode::Loopback
        );
        assert_eq!(
            RedirectMode::for_uri("urn:ietf:wg:oauth:2.0:oob"),
            RedirectMode::Paste
        );
        assert_eq!(RedirectMode::for_uri(""), RedirectMode::Paste);
        assert_eq!(
            RedirectMode::for_uri("https://example.com/cb"),
            RedirectMode::Paste
        );
    }
}
