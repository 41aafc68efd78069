//! The loopback callback's query string, as the listener hands it to
//! `check_callback`: never panics, and accepts a code (or a provider error)
//! only with our state, once, and a code only when it is in the query.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use oauth2::CsrfToken;
use planopticon::redirect::{check_callback, Expect, Verdict};

const STATE: &str = "st8";
const ISSUER: &str = "http://127.0.0.1:9";

fuzz_target!(|data: &[u8]| {
    // The first byte picks whether the issuer is known and iss required.
    let (flags, query) = data.split_first().unwrap_or((&0, data));
    let expect = Expect {
        state: CsrfToken::new(STATE.into()),
        issuer: (flags & 1 == 1).then(|| ISSUER.to_string()),
        require_iss: flags & 2 == 2,
    };
    let pairs: Vec<(Cow<str>, Cow<str>)> = url::form_urlencoded::parse(query).collect();
    let count = |k: &str| pairs.iter().filter(|(key, _)| key == k).count();
    let value = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_ref())
    };
    let ours = count("state") == 1 && value("state") == Some(STATE);
    match check_callback(pairs.clone(), &expect) {
        Verdict::Code(code) => {
            assert!(ours, "a code accepted without our state: {pairs:?}");
            assert_eq!(count("code"), 1);
            assert_eq!(Some(code.secret().as_str()), value("code"));
            assert!(!code.secret().is_empty());
            assert_eq!(count("error"), 0, "an error callback is not a code");
        }
        Verdict::ProviderError { error, .. } => {
            assert!(
                ours,
                "a provider error accepted without our state: {pairs:?}"
            );
            assert_eq!(Some(error.as_str()), value("error"));
        }
        Verdict::Rejected(_) => {}
    }
});
