//! Out-of-band: the user pastes the code, or the whole redirected URL.

use oauth2::AuthorizationCode;

use super::{check_callback, Expect, Verdict};

/// The code in what the user pasted: a bare code, or a URL (or query
/// string) carrying `code` and our `state`.
pub fn parse_pasted(input: &str, expect: &Expect) -> Result<AuthorizationCode, String> {
    let input = input.trim();
    if input.is_empty() {
        return Err("nothing was pasted".into());
    }
    let query = if let Ok(u) = url::Url::parse(input) {
        u.query().map(str::to_string)
    } else if input.contains("code=") || input.contains("error=") {
        Some(input.trim_start_matches('?').to_string())
    } else {
        None
    };
    let Some(query) = query else {
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("that does not look like an authorization code".into());
        }
        return Ok(AuthorizationCode::new(input.to_string()));
    };
    match check_callback(url::form_urlencoded::parse(query.as_bytes()), expect) {
        Verdict::Code(c) => Ok(c),
        Verdict::ProviderError { error, description } => Err(format!(
            "the provider said {error}{}",
            description.map(|d| format!(": {d}")).unwrap_or_default()
        )),
        Verdict::Rejected(why) => Err(format!(
            "the pasted address is not from this sign-in ({why}); paste the address from the browser tab this sign-in opened"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oauth2::CsrfToken;

    fn expect() -> Expect {
        Expect {
            state: CsrfToken::new("st".into()),
            issuer: None,
            require_iss: false,
        }
    }

    #[test]
    fn accepts_a_bare_code_or_the_redirected_url() {
        let e = expect();
        assert_eq!(parse_pasted("  abc123 \n", &e).unwrap().secret(), "abc123");
        let url = "http://127.0.0.1:5555/callback?code=xyz&state=st";
        assert_eq!(parse_pasted(url, &e).unwrap().secret(), "xyz");
        assert_eq!(parse_pasted("code=q&state=st", &e).unwrap().secret(), "q");
    }

    #[test]
    fn reads_a_pasted_url_as_a_browser_does() {
        // Line breaks inside a URL (a wrapped copy) are dropped, as WHATWG
        // URL parsing does; the state is still checked. (Found by fuzzing.)
        let e = expect();
        let wrapped = "http://127.0.0.1:5555/callback?c\r\r\node=xyz&\r\nstate=st";
        assert_eq!(parse_pasted(wrapped, &e).unwrap().secret(), "xyz");
        assert!(parse_pasted(&wrapped.replace("=st", "=other"), &e).is_err());
    }

    #[test]
    fn refuses_foreign_urls_errors_and_junk() {
        let e = expect();
        assert!(parse_pasted("http://127.0.0.1/callback?code=x&state=other", &e).is_err());
        assert!(parse_pasted("http://127.0.0.1/callback?code=x", &e).is_err());
        let err = parse_pasted("http://x/cb?error=access_denied&state=st", &e).unwrap_err();
        assert!(err.contains("access_denied"), "{err}");
        assert!(parse_pasted("", &e).is_err());
        assert!(parse_pasted("two words", &e).is_err());
    }
}
