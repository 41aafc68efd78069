//! What a person pastes: a bare code, a query string or the redirected URL.
//! Never panics; a code that comes back is never empty and never carries
//! whitespace; a URL with a foreign or missing state gives no code.
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
        if !text.contains("code=") {
            assert!(
                !code.chars().any(char::is_whitespace),
                "{text:?} -> {code:?}"
            );
            assert_eq!(code.as_str(), text.trim());
        }
    }
});
