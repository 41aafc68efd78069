//! What a person pastes: a bare code, a query string or the redirected URL.
//! Never panics; a code that comes back is never empty; a bare code is the
//! pasted text and never carries whitespace; a URL with a foreign or missing
//! state gives no code. (A URL is read as a browser reads it: tabs and line
//! breaks inside it are dropped, so its query may say `code=` where the
//! pasted text does not.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth2::CsrfToken;
use planopticon::redirect::{paste::parse_pasted, Expect};

fuzz_target!(|text: &str| {
    let expect = Expect {
        state: CsrfToken::new("st8".into()),
        issuer: None,
        require_iss: false,
    };
    if let Ok(code) = parse_pasted(text, &expect) {
        let code = code.secret();
        assert!(!code.is_empty());
        let bare = url::Url::parse(text.trim()).is_err() && !text.contains("code=");
        if bare {
            assert!(
                !code.chars().any(char::is_whitespace),
                "{text:?} -> {code:?}"
            );
            assert_eq!(code.as_str(), text.trim());
        }
    }
});
