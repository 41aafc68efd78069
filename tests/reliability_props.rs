//! Reliability suite 6 (property half; the fuzz targets are in fuzz/):
//! proptest properties of the readers of untrusted input. The callback
//! check against an independent oracle, the paste parser, the token-file
//! reader (never panics, round-trips what we write, reads what the Python
//! tool writes) and the services.toml reader (never panics, errors name the
//! file and a real line, generated files load; the lenient reader the CLI
//! uses agrees with the strict one).
//!
//! Checklist: 7, 8, 10 (against an oracle), 20 (the reader).
//!
//! Run alone: `cargo test --test reliability_props`
//! (`PROPTEST_CASES=N` for more cases than the default 256).

use std::collections::BTreeMap;
use std::path::Path;

use oauth2::{AccessToken, CsrfToken, RefreshToken};
use planopticon::redirect::{check_callback, paste::parse_pasted, Expect, Verdict};
use planopticon::services::{Registry, BUILTIN};
use planopticon::store::parse_token_file as parse;
use planopticon::store::StoredToken;
use proptest::prelude::*;

const STATE: &str = "s-Tate_9";
const ISSUER: &str = "http://127.0.0.1:9";

fn expect(issuer: bool, require_iss: bool) -> Expect {
    Expect {
        state: CsrfToken::new(STATE.into()),
        issuer: issuer.then(|| ISSUER.to_string()),
        require_iss,
    }
}

/// What `check_callback` should say, worked out independently.
#[derive(Debug, PartialEq)]
enum Want {
    Code(String),
    Error(String),
    Rejected,
}

fn oracle(pairs: &[(String, String)], issuer: bool, require_iss: bool) -> Want {
    let known = ["state", "code", "error", "error_description", "iss"];
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in pairs {
        if let Some(name) = known.iter().find(|n| **n == k) {
            if seen.insert(name, v).is_some() {
                return Want::Rejected;
            }
        }
    }
    if seen.get("state") != Some(&STATE) {
        return Want::Rejected;
    }
    match seen.get("iss") {
        Some(iss) if issuer && iss.trim_end_matches('/') != ISSUER => return Want::Rejected,
        None if require_iss => return Want::Rejected,
        _ => {}
    }
    if let Some(e) = seen.get("error") {
        return Want::Error(e.to_string());
    }
    match seen.get("code") {
        Some(c) if !c.is_empty() => Want::Code(c.to_string()),
        _ => Want::Rejected,
    }
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("state".to_string()),
        Just("code".to_string()),
        Just("error".to_string()),
        Just("error_description".to_string()),
        Just("iss".to_string()),
        Just("scope".to_string()),
        "[a-z_]{0,8}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(STATE.to_string()),
        Just(format!("{STATE} ")),
        Just(STATE.to_uppercase()),
        Just(ISSUER.to_string()),
        Just(format!("{ISSUER}/")),
        Just(String::new()),
        any::<String>(),
    ]
}

/// Floats read back within a part in 10^15 (serde_json without its
/// `float_roundtrip` feature may be off by one unit in the last place:
/// under a microsecond for a Unix time).
fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= a.abs().max(1.0) * 1e-15,
        (a, b) => a == b,
    }
}

/// JSON equality, floats within [`close`].
fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(_), Some(_)) if x.is_f64() || y.is_f64() => close(x.as_f64(), y.as_f64()),
            _ => x == y,
        },
        (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y)),
        (Object(x), Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn callback_verdicts_match_the_oracle(
        pairs in proptest::collection::vec((key(), value()), 0..7),
        issuer in any::<bool>(),
        require_iss in any::<bool>(),
    ) {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        let got = match check_callback(
            url::form_urlencoded::parse(query.as_bytes()),
            &expect(issuer, require_iss),
        ) {
            Verdict::Code(c) => Want::Code(c.secret().clone()),
            Verdict::ProviderError { error, .. } => Want::Error(error),
            Verdict::Rejected(_) => Want::Rejected,
        };
        prop_assert_eq!(got, oracle(&pairs, issuer, require_iss), "query {}", query);
    }

    #[test]
    fn callback_on_raw_bytes_never_accepts_without_our_state(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let pairs: Vec<_> = url::form_urlencoded::parse(&bytes).collect();
        let ours = pairs.iter().filter(|(k, _)| k == "state").count() == 1
            && pairs.iter().any(|(k, v)| k == "state" && v == STATE);
        match check_callback(pairs.clone(), &expect(true, false)) {
            Verdict::Rejected(_) => {}
            _ => prop_assert!(ours, "{:?}", pairs),
        }
    }

    #[test]
    fn pasted_text_never_panics_and_codes_are_clean(text in any::<String>()) {
        if let Ok(code) = parse_pasted(&text, &expect(false, false)) {
            prop_assert!(!code.secret().is_empty());
            if !text.contains("code=") {
                prop_assert_eq!(code.secret().as_str(), text.trim());
                prop_assert!(!code.secret().chars().any(|c| c.is_whitespace() || c.is_control()));
            }
        }
    }

    #[test]
    fn a_pasted_redirect_gives_its_code_only_with_our_state(
        code in "[A-Za-z0-9._~-]{1,40}",
        state in prop_oneof![Just(STATE.to_string()), "[a-z]{1,12}"],
        port in 1u16..,
        pad in "[ \t\n]{0,3}",
    ) {
        let url = format!("{pad}http://127.0.0.1:{port}/callback?code={code}&state={state}{pad}");
        let r = parse_pasted(&url, &expect(false, false));
        if state == STATE {
            let got = r.unwrap();
            prop_assert_eq!(got.secret(), &code);
        } else {
            prop_assert!(r.is_err());
        }
    }

    #[test]
    fn the_token_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(t) = parse(&bytes) {
            prop_assert!(!t.access_token.secret().is_empty());
        }
    }

    #[test]
    fn the_token_reader_never_panics_on_json_shaped_input(
        fields in proptest::collection::btree_map(
            prop_oneof![
                Just("access_token".to_string()), Just("refresh_token".to_string()),
                Just("expires_at".to_string()), Just("client_id".to_string()),
                Just("client_secret".to_string()), Just("obtained_by".to_string()),
                Just("account".to_string()), "[a-z]{1,6}",
            ],
            json_value(),
            0..8,
        )
    ) {
        let text = serde_json::to_vec(&fields).unwrap();
        if let Ok(t) = parse(&text) {
            prop_assert!(!t.access_token.secret().is_empty());
            prop_assert_eq!(Some(t.access_token.secret().as_str()), fields["access_token"].as_str());
        }
    }

    #[test]
    fn what_we_write_we_read_back(
        access in "[ -~]{1,60}",
        refresh in proptest::option::of("[ -~]{0,60}"),
        expires_at in proptest::option::of(-1e12f64..1e12),
        client_id in proptest::option::of("[ -~]{0,20}"),
        extra in proptest::collection::btree_map("x[a-z]{1,6}", json_value(), 0..4),
    ) {
        let mut t = StoredToken::new(AccessToken::new(access.clone()));
        t.refresh_token = refresh.clone().map(RefreshToken::new);
        t.expires_at = expires_at;
        t.client_id = client_id.clone();
        t.extra = extra.clone().into_iter().collect();
        let bytes = serde_json::to_vec(&t).unwrap();
        let back = parse(&bytes).unwrap();
        prop_assert_eq!(back.access_token.secret(), &access);
        prop_assert_eq!(back.refresh_token.map(|r| r.secret().clone()), refresh);
        prop_assert!(close(back.expires_at, expires_at), "{:?} {:?}", back.expires_at, expires_at);
        prop_assert_eq!(back.client_id, client_id);
        let extra = serde_json::Value::Object(extra.into_iter().collect());
        prop_assert!(same_json(&serde_json::Value::Object(back.extra), &extra));
    }

    #[test]
    fn python_token_files_are_read(
        access in "[A-Za-z0-9._-]{1,80}",
        refresh in proptest::option::of("[A-Za-z0-9._-]{1,80}"),
        expires_at in 0f64..4e9,
        secret in "[A-Za-z0-9]{0,40}",
    ) {
        // json.dump of the Python tool's dict: ", " and ": " separators, null for None.
        let text = format!(
            "{{\"access_token\": {}, \"refresh_token\": {}, \"expires_at\": {expires_at:?}, \"client_id\": \"cid\", \"client_secret\": {}}}",
            serde_json::to_string(&access).unwrap(),
            refresh.as_ref().map(|r| serde_json::to_string(r).unwrap()).unwrap_or_else(|| "null".into()),
            serde_json::to_string(&secret).unwrap(),
        );
        let t = parse(text.as_bytes()).unwrap();
        prop_assert_eq!(t.access_token.secret(), &access);
        prop_assert_eq!(t.refresh_token.map(|r| r.secret().clone()), refresh);
        prop_assert!(close(t.expires_at, Some(expires_at)));
    }

    #[test]
    fn services_toml_never_panics_and_errors_name_the_file_and_a_real_line(text in any::<String>()) {
        check_services(&text)?;
    }

    #[test]
    fn services_toml_shaped_text_never_panics(
        lines in proptest::collection::vec(toml_line(), 0..12),
        crlf in any::<bool>(),
    ) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        check_services(&text)?;
    }

    #[test]
    fn generated_services_load_with_their_values(
        services in proptest::collection::btree_map("[a-z][a-z0-9_-]{0,15}", (
            "[ -~&&[^\"\\\\]]{0,30}",
            proptest::collection::vec("[a-z:./]{1,12}", 0..4),
            any::<bool>(),
        ), 1..5),
    ) {
        let mut text = String::new();
        for (name, (client_id, scopes, grant)) in &services {
            text.push_str(&format!(
                "[{name}]\noauth_authorize_url = \"http://127.0.0.1:9/{name}/a\"\noauth_token_url = \"http://127.0.0.1:9/{name}/t\"\nclient_id = \"{client_id}\"\nscopes = {scopes:?}\n"
            ));
            if *grant {
                text.push_str("server_grant = \"client_credentials\"\n");
            }
            text.push('\n');
        }
        let reg = Registry::from_toml(Path::new("/p/services.toml"), &text)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        for (name, (client_id, scopes, _)) in &services {
            let c = reg.get(name).unwrap();
            prop_assert_eq!(c.client_id.as_deref(), Some(client_id.as_str()));
            if !scopes.is_empty() {
                prop_assert_eq!(&c.scopes, scopes);
            }
            prop_assert!(c.supports_oauth());
        }
        for b in BUILTIN {
            prop_assert!(reg.get(b).is_ok());
        }
    }
}

fn check_services(text: &str) -> Result<(), TestCaseError> {
    match Registry::from_toml(Path::new("/p/services.toml"), text) {
        Err(e) => {
            let m = e.to_string();
            prop_assert!(m.starts_with("/p/services.toml: "), "{}", m);
            if let Some(n) = m
                .strip_prefix("/p/services.toml: line ")
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse::<usize>().ok())
            {
                let lines = text.split('\n').count().max(1);
                prop_assert!(n >= 1 && n <= lines, "line {} of {}: {}", n, lines, m);
            }
        }
        Ok(reg) => {
            for b in BUILTIN {
                prop_assert!(reg.get(b).is_ok());
            }
        }
    }
    check_services_lenient(text)
}

/// The reader the CLI uses (`Registry::load_from`) on the same text: never
/// fails as a whole, tells the strict reader's first error first (naming
/// the file), and every service it lists is usable or says why not.
fn check_services_lenient(text: &str) -> Result<(), TestCaseError> {
    let strict = Registry::from_toml(Path::new("/p/services.toml"), text);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("services.toml");
    std::fs::write(&path, text).unwrap();
    let reg = Registry::load_from(&path);
    let file = path.display().to_string();
    let problems: Vec<String> = reg.problems().iter().map(|e| e.to_string()).collect();
    for p in &problems {
        prop_assert!(p.starts_with(&format!("{file}: ")), "{}", p);
    }
    match &strict {
        Ok(_) => prop_assert!(problems.is_empty(), "{:?}", problems),
        Err(e) => prop_assert_eq!(
            problems
                .first()
                .map(|p| p.replacen(&file, "/p/services.toml", 1)),
            Some(e.to_string())
        ),
    }
    for name in reg.names() {
        match (reg.get(&name), reg.broken(&name)) {
            (Ok(c), None) => prop_assert_eq!(&c.service, &name),
            (Err(e), Some(b)) => {
                prop_assert_eq!(e.to_string(), b.to_string());
                prop_assert!(problems.contains(&e.to_string()), "{} not told", e);
            }
            (got, broken) => {
                return Err(TestCaseError::fail(format!(
                    "{name}: get {got:?} but broken {broken:?}"
                )))
            }
        }
    }
    for b in BUILTIN {
        prop_assert!(reg.names().iter().any(|n| n == b), "{} lost", b);
    }
    Ok(())
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        (-1e15f64..1e15).prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Lines a person (or a bad paste) might put in services.toml.
fn toml_line() -> impl Strategy<Value = String> {
    let keys = prop_oneof![
        Just("client_id"),
        Just("client_secret"),
        Just("scopes"),
        Just("redirect_uri"),
        Just("oauth_token_url"),
        Just("oauth_authorize_url"),
        Just("server_grant"),
        Just("authorize_params"),
        Just("token_path"),
        Just("issuer"),
        Just("bogus"),
    ];
    let values = prop_oneof![
        Just("\"x\"".to_string()),
        Just("[\"a\", \"b\"]".to_string()),
        Just("5".to_string()),
        Just("\"client_credentials\"".to_string()),
        Just("{ a = \"b\" }".to_string()),
        Just("\"http://127.0.0.1:9/t\"".to_string()),
        Just("'''\nmulti\n'''".to_string()),
        "[ -~]{0,12}",
    ];
    prop_oneof![
        "[a-z]{1,8}".prop_map(|n| format!("[{n}]")),
        "[ -~]{0,10}".prop_map(|n| format!("[{n}]")),
        (keys, values).prop_map(|(k, v)| format!("{k} = {v}")),
        "[ -~]{0,20}",
        Just("# comment".to_string()),
        Just(String::new()),
        Just("\u{feff}".to_string()),
    ]
}
