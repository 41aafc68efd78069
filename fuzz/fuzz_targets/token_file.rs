//! The token-file reader on arbitrary bytes: never panics; what it accepts
//! has an access token and survives a write and a re-read unchanged (floats
//! within a part in 10^15: serde_json without `float_roundtrip` may move
//! the last bit).
#![no_main]

use libfuzzer_sys::fuzz_target;
use planopticon::store::parse_token_file as parse;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = parse(data) else { return };
    assert!(!token.access_token.secret().is_empty());
    let written = serde_json::to_vec(&token).expect("a parsed token serializes");
    let again = parse(&written).expect("what we write, we read");
    assert_eq!(again.access_token.secret(), token.access_token.secret());
    assert_eq!(
        again.refresh_token.as_ref().map(|r| r.secret()),
        token.refresh_token.as_ref().map(|r| r.secret())
    );
    assert!(close(again.expires_at, token.expires_at));
    // obtained_by, ours or another tool's word, is written back as it was read.
    assert_eq!(again.obtained_by, token.obtained_by);
    assert!(same_json(
        &serde_json::Value::Object(again.extra),
        &serde_json::Value::Object(token.extra)
    ));
});

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= a.abs().max(1.0) * 1e-15,
        (a, b) => a == b,
    }
}

fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) if x.is_f64() || y.is_f64() => close(x.as_f64(), y.as_f64()),
        (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y)),
        (Object(x), Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}
