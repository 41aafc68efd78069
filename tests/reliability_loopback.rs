//! Reliability suite 3: a hostile loopback. While a sign-in waits for the
//! browser (`OAuthManager::authenticate` with `Interaction::App`, against the
//! real oidc-provider), the listener gets wrong and missing states, a replay
//! of a used code, other paths, foreign Host headers, non-HTTP bytes, a 1 MB
//! request line, slow clients, stalled bodies and many connections at once.
//! None may end or hijack the wait, none may crash it, and then the real
//! callback still completes.
//!
//! Checklist: 2, 3, 4, 5, 7, 8 (only with our state), 10.
//!
//! Run alone: `cargo test --test reliability_loopback -- --nocapture`
//! (prints the figures: hostile requests sent, accepted).

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use oauth2::CsrfToken;
use planopticon::chain::{AuthResult, Outcome};
use planopticon::redirect::{Expect, LoopbackListener};
use planopticon::{AuthConfig, Control, Error, Hint, Method, OAuthManager};
use support::*;

fn acme(server: &OidcServer, dir: &Path) -> AuthConfig {
    acme_config(server, dir.join("acme_token.json"))
}

/// A sign-in running on its own thread, as the app runs one.
struct SignIn {
    url: String,
    ctl: mpsc::Sender<Control>,
    done: mpsc::Receiver<AuthResult>,
    _thread: JoinHandle<()>,
}

impl SignIn {
    fn start(config: AuthConfig, timeout: Duration) -> Self {
        let (opts, ctl_tx, url_rx) = app_options(timeout);
        let (done_tx, done) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let r = OAuthManager::with_keyring(config, false).authenticate(opts);
            let _ = done_tx.send(r);
        });
        let url = match url_rx.recv_timeout(Duration::from_secs(20)) {
            Ok((url, _)) => url,
            Err(e) => panic!(
                "the sign-in shows no URL ({e}): {:?}",
                done.recv_timeout(Duration::from_secs(1)).map(|r| r
                    .attempts
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>())
            ),
        };
        SignIn {
            url,
            ctl: ctl_tx,
            done,
            _thread: thread,
        }
    }

    /// The port the listener waits on, from the authorization URL.
    fn port(&self) -> u16 {
        let u = url::Url::parse(&self.url).unwrap();
        let redirect = u
            .query_pairs()
            .find(|(k, _)| k == "redirect_uri")
            .map(|(_, v)| v.into_owned())
            .expect("redirect_uri");
        url::Url::parse(&redirect).unwrap().port().expect("a port")
    }

    fn state(&self) -> String {
        url::Url::parse(&self.url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .expect("state")
    }

    fn ended(&self) -> Option<AuthResult> {
        self.done.try_recv().ok()
    }
}

/// What a raw exchange with the listener came to.
#[derive(Debug)]
struct Answer {
    status: Option<u16>,
}

/// Sends `bytes` on a fresh connection, then reads the answer (at most 10 s).
fn raw(port: u16, bytes: &[u8]) -> Answer {
    raw_at("127.0.0.1", port, bytes)
}

/// `raw`, to the listener's port on `ip`.
fn raw_at(ip: &str, port: u16, bytes: &[u8]) -> Answer {
    let mut s = TcpStream::connect((ip, port)).expect("connect to the listener");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(Shutdown::Write);
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let status = std::str::from_utf8(reply.get(..12).unwrap_or(&[]))
        .ok()
        .and_then(|l| l.strip_prefix("HTTP/1.1 ").or(l.strip_prefix("HTTP/1.0 ")))
        .and_then(|l| l.get(..3))
        .and_then(|c| c.parse().ok());
    Answer { status }
}

fn get(target: &str, host: Option<&str>) -> Vec<u8> {
    let mut r = format!("GET {target} HTTP/1.1\r\n");
    if let Some(h) = host {
        r.push_str(&format!("Host: {h}\r\n"));
    }
    r.push_str("Connection: close\r\n\r\n");
    r.into_bytes()
}

fn query_of(callback: &str) -> String {
    url::Url::parse(callback)
        .unwrap()
        .query()
        .unwrap_or("")
        .to_string()
}

fn param(callback: &str, name: &str) -> String {
    url::Url::parse(callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A client that sends `bytes` one a second, for at most `secs` seconds.
fn slow_client(port: u16, bytes: Vec<u8>, secs: u64) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            return;
        };
        for b in bytes.iter().take(secs as usize) {
            if s.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    })
}

/// A connection that sends `head` and then holds still for `secs` seconds.
fn stalled(port: u16, head: Vec<u8>, secs: u64) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            return;
        };
        let _ = s.write_all(&head);
        std::thread::sleep(Duration::from_secs(secs));
    })
}

#[test]
fn hostile_requests_neither_end_nor_hijack_the_wait() {
    let server = OidcServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = acme(&server, dir.path());

    // A first, completed sign-in: its callback (a used code) is replayed later.
    let first = SignIn::start(config.clone(), Duration::from_secs(30));
    let used_callback = play_user(&first.url);
    assert_eq!(
        raw(
            first.port(),
            &get(
                &format!("/callback?{}", query_of(&used_callback)),
                Some(&format!("127.0.0.1:{}", first.port()))
            )
        )
        .status,
        Some(200)
    );
    let r = first.done.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(r.success(), "{:?}", r.attempts);
    std::fs::remove_file(dir.path().join("acme_token.json")).unwrap();

    // The sign-in under attack. The user approves; the browser's callback is
    // held back until every hostile request has been made.
    let sign_in = SignIn::start(config.clone(), Duration::from_secs(60));
    let callback = play_user(&sign_in.url);
    let port = sign_in.port();
    let state = sign_in.state();
    let code = param(&callback, "code");
    let iss = param(&callback, "iss");
    let host = format!("127.0.0.1:{port}");
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let (code_q, state_q, iss_q) = (enc(&code), enc(&state), enc(&iss));

    // Slow and stalled clients, running while everything else happens.
    let mut background = vec![
        slow_client(port, get("/callback?code=x&state=forged", Some(&host)), 8),
        slow_client(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(), 8),
        // A body that is declared and never sent.
        stalled(
            port,
            format!("GET /favicon.ico HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100000\r\n\r\n").into_bytes(),
            15,
        ),
        stalled(
            port,
            format!("POST /callback?code={code_q}&state={state_q} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5000\r\n\r\nabc").into_bytes(),
            15,
        ),
        stalled(port, format!("GET /callback?code={code_q}&state={state_q}").into_bytes(), 15),
        stalled(port, Vec::new(), 15),
    ];
    let mut sent = background.len();

    let mut hostile: Vec<(&str, Vec<u8>)> = vec![
        ("wrong state", get(&format!("/callback?code={code_q}&state=forged&iss={iss_q}"), Some(&host))),
        ("no state", get(&format!("/callback?code={code_q}&iss={iss_q}"), Some(&host))),
        ("empty state", get(&format!("/callback?code={code_q}&state=&iss={iss_q}"), Some(&host))),
        ("state prefix", get(&format!("/callback?code={code_q}&state={}", enc(&state[..state.len() - 1])), Some(&host))),
        ("state twice", get(&format!("/callback?code={code_q}&state={state_q}&state={state_q}"), Some(&host))),
        ("replay of a used code", get(&format!("/callback?{}", query_of(&used_callback)), Some(&host))),
        ("error with a forged state", get("/callback?error=access_denied&state=forged", Some(&host))),
        ("our state, wrong issuer", get(&format!("/callback?code={code_q}&state={state_q}&iss=http%3A%2F%2Fevil.example"), Some(&host))),
        ("our state, no code", get(&format!("/callback?state={state_q}&iss={iss_q}"), Some(&host))),
        ("our state, empty code", get(&format!("/callback?code=&state={state_q}&iss={iss_q}"), Some(&host))),
        ("another path", get(&format!("/other?code={code_q}&state={state_q}&iss={iss_q}"), Some(&host))),
        ("a sub-path", get(&format!("/callback/x?code={code_q}&state={state_q}&iss={iss_q}"), Some(&host))),
        ("a trailing slash", get(&format!("/callback/?code={code_q}&state={state_q}&iss={iss_q}"), Some(&host))),
        ("a double slash", get(&format!("//callback?code={code_q}&state={state_q}&iss={iss_q}"), Some(&host))),
        ("an encoded path", get(&format!("/%63allback?code={code_q}&state={state_q}&iss={iss_q}"), Some(&host))),
        ("upper case", get(&format!("/CALLBACK?code={code_q}&state={state_q}&iss={iss_q}"), Some(&host))),
        ("an absolute URL to another host", get(&format!("http://evil.example/callback?code={code_q}&state={state_q}&iss={iss_q}"), Some(&host))),
        ("favicon", get("/favicon.ico", Some(&host))),
        ("a foreign Host (DNS rebinding)", get(&format!("/callback?code={code_q}&state={state_q}&iss={iss_q}"), Some("evil.example"))),
        ("a foreign Host with our port", get(&format!("/callback?code={code_q}&state={state_q}&iss={iss_q}"), Some(&format!("evil.example:{port}")))),
        ("our Host with another port", get(&format!("/callback?code={code_q}&state={state_q}&iss={iss_q}"), Some(&format!("127.0.0.1:{}", port.wrapping_add(1))))),
        ("no Host", get(&format!("/callback?code={code_q}&state={state_q}&iss={iss_q}"), None)),
        ("two Hosts", format!("GET /callback?code={code_q}&state={state_q}&iss={iss_q} HTTP/1.1\r\nHost: evil.example\r\nHost: {host}\r\n\r\n").into_bytes()),
        ("POST with our state", format!("POST /callback?code={code_q}&state={state_q}&iss={iss_q} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n").into_bytes()),
        ("HEAD with our state", format!("HEAD /callback?code={code_q}&state={state_q}&iss={iss_q} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()),
        ("HTTP/1.0 without Host", format!("GET /callback?code={code_q}&state={state_q}&iss={iss_q} HTTP/1.0\r\n\r\n").into_bytes()),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
        ("a TLS ClientHello", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x00\x01\x02\x03".to_vec()),
        ("binary junk", (0u8..=255).rev().cycle().take(4096).collect()),
        ("NUL bytes in the request line", b"GET /callback\0?code=x HTTP/1.1\r\n\r\n".to_vec()),
        ("a bare newline", b"\r\n\r\n".to_vec()),
        ("a header without a colon", format!("GET /callback HTTP/1.1\r\nHost {host}\r\n\r\n").into_bytes()),
        ("an unknown Expect", format!("GET /callback HTTP/1.1\r\nHost: {host}\r\nExpect: 200-ok\r\n\r\n").into_bytes()),
        ("a chunked body", format!("GET /favicon.ico HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").into_bytes()),
        ("non-ASCII bytes in a header", format!("GET /callback HTTP/1.1\r\nHost: {host}\r\nX: \u{e9}\u{1F600}\r\n\r\n").into_bytes()),
        ("a 1 MB request line", {
            let mut r = b"GET /callback?state=".to_vec();
            r.extend(std::iter::repeat_n(b'a', 1 << 20));
            r.extend_from_slice(format!(" HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
            r
        }),
        ("a 1 MB header", {
            let mut r = format!("GET /callback HTTP/1.1\r\nHost: {host}\r\nX-Junk: ").into_bytes();
            r.extend(std::iter::repeat_n(b'b', 1 << 20));
            r.extend_from_slice(b"\r\n\r\n");
            r
        }),
        ("10,000 headers", {
            let mut r = format!("GET /callback HTTP/1.1\r\nHost: {host}\r\n").into_bytes();
            for i in 0..10_000 {
                r.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
            }
            r.extend_from_slice(b"\r\n");
            r
        }),
        ("pipelined: a stray, then our state on another path", format!("GET /favicon.ico HTTP/1.1\r\nHost: {host}\r\n\r\nGET /x?code={code_q}&state={state_q} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()),
    ];
    // A request line held open with a body of `Content-Length` bytes that
    // does arrive, quickly: tiny_http drains it.
    hostile.push(("a body that does arrive", {
        let mut r =
            format!("GET /favicon.ico HTTP/1.1\r\nHost: {host}\r\nContent-Length: 300000\r\n\r\n")
                .into_bytes();
        r.extend(std::iter::repeat_n(b'z', 300_000));
        r
    }));

    let mut accepted = Vec::new();
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    let mut slow_answers = Vec::new();
    for (what, bytes) in &hostile {
        let asked = Instant::now();
        let a = raw(port, bytes);
        // Stalled clients must not hold up anyone else: every request the
        // listener answers is answered at once.
        if a.status.is_some() && asked.elapsed() > Duration::from_secs(2) {
            slow_answers.push(format!("{what}: {:?}", asked.elapsed()));
        }
        sent += 1;
        *statuses
            .entry(
                a.status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "closed".into()),
            )
            .or_default() += 1;
        if a.status == Some(200) {
            accepted.push(*what);
        }
        assert!(sign_in.ended().is_none(), "{what:?} ended the wait ({a:?})");
    }

    // Many connections at once: 200 strays in parallel, 200 idle ones held.
    let idle: Vec<_> = (0..200)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    let crowd: Vec<_> = (0..200)
        .map(|i| {
            let host = host.clone();
            std::thread::spawn(move || {
                let target = if i % 2 == 0 {
                    "/favicon.ico".to_string()
                } else {
                    format!("/callback?code=c{i}&state=s{i}")
                };
                raw(port, &get(&target, Some(&host))).status
            })
        })
        .collect();
    for c in crowd {
        sent += 1;
        let status = c.join().unwrap();
        *statuses
            .entry(
                status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "closed".into()),
            )
            .or_default() += 1;
        if status == Some(200) {
            accepted.push("one of many at once");
        }
    }
    sent += idle.len();
    assert!(sign_in.ended().is_none(), "the crowd ended the wait");

    // The real browser callback, while slow, stalled and idle connections
    // are still open: it completes the sign-in, at once.
    let started = Instant::now();
    let page = raw(
        port,
        &get(&format!("/callback?{}", query_of(&callback)), Some(&host)),
    );
    assert_eq!(
        page.status,
        Some(200),
        "the real callback is answered: {page:?}"
    );
    let r = sign_in
        .done
        .recv_timeout(Duration::from_secs(10))
        .expect("the sign-in ends after the real callback");
    let after = started.elapsed();
    assert!(r.success(), "{:?}", r.attempts);
    assert_eq!(r.method(), Some(Method::OauthPkce));
    assert!(
        after < Duration::from_secs(5),
        "the real callback took {after:?}"
    );

    // Done means closed: nothing listens on the port any more, so a replay
    // of the completed callback reaches nobody.
    let replay = TcpStream::connect(("127.0.0.1", port));
    assert!(
        replay.is_err(),
        "the listener still accepts after the sign-in"
    );
    sent += 1;

    println!(
        "reliability_loopback: hostile requests sent {sent}, accepted {} {accepted:?}; answers {statuses:?}; real callback completed the sign-in in {} ms",
        accepted.len(),
        after.as_millis()
    );
    assert!(
        accepted.is_empty(),
        "hostile requests were accepted: {accepted:?}"
    );
    drop(idle);
    for b in background.drain(..) {
        let _ = b.join();
    }
}

#[test]
fn cancel_and_timeout_still_work_while_clients_stall() {
    let server = OidcServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = acme(server, dir.path());
    for end in ["cancel", "timeout"] {
        let timeout = if end == "timeout" { 2 } else { 60 };
        let sign_in = SignIn::start(config.clone(), Duration::from_secs(timeout));
        let port = sign_in.port();
        let host = format!("127.0.0.1:{port}");
        let stalls = vec![
            stalled(port, format!("GET /favicon.ico HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100000\r\n\r\n").into_bytes(), 20),
            stalled(port, format!("GET /callback?code=x&state=y HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2000\r\n\r\n").into_bytes(), 20),
            stalled(port, format!("GET /callback?code=x&state=y HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab").into_bytes(), 20),
            slow_client(port, get("/callback?code=x&state=y", Some(&host)), 20),
        ];
        std::thread::sleep(Duration::from_millis(500));
        let asked = Instant::now();
        if end == "cancel" {
            sign_in.ctl.send(Control::Cancel).unwrap();
        }
        let r = sign_in
            .done
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{end} did not end the wait while clients stalled"));
        let took = asked.elapsed();
        let error = r
            .attempts
            .iter()
            .find_map(|a| match &a.outcome {
                Outcome::Failed(e) => Some(e),
                _ => None,
            })
            .expect("the sign-in failed");
        match end {
            "cancel" => assert!(matches!(error, Error::Cancelled { .. }), "{error:?}"),
            _ => assert!(
                matches!(error, Error::AuthorizationTimeout { .. }),
                "{error:?}"
            ),
        }
        assert!(took < Duration::from_secs(4), "{end} took {took:?}");
        println!(
            "reliability_loopback: {end} ended the wait in {} ms with 4 stalled clients",
            took.as_millis()
        );
        drop(stalls);
    }
}

/// Runs test `name` again in a child process, so that a crash, a lowered
/// fd limit or the memory it measures stays there: true in the child; in
/// the parent, asserts the child passed and passes its figures on.
fn child(name: &str) -> bool {
    if std::env::var("RELIABILITY_CHILD").as_deref() == Ok(name) {
        return true;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("RELIABILITY_CHILD", name)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("child: ok"),
        "the listener's process failed ({}):\n{text}",
        out.status
    );
    for line in text.lines() {
        if let Some(i) = line.find("reliability_loopback:") {
            println!("{}", &line[i..]);
        }
    }
    false
}

/// A listener waiting on a thread of its own for `state`, as the manager
/// waits; the wait's end comes out of the channel.
fn waiting_listener() -> (u16, String, mpsc::Receiver<Result<String, String>>) {
    let (port, query, ended, _) = waiting_listener_for("http://127.0.0.1/callback");
    (port, query, ended)
}

/// `waiting_listener` for `redirect_uri`; also the redirect URI it hands out.
fn waiting_listener_for(
    redirect_uri: &str,
) -> (u16, String, mpsc::Receiver<Result<String, String>>, String) {
    let listener = LoopbackListener::bind(redirect_uri).unwrap();
    let port = listener.port();
    let handed_out = listener.redirect_uri().to_string();
    let state = CsrfToken::new_random();
    let query = format!(
        "/callback?code=the-code&state={}",
        url::form_urlencoded::byte_serialize(state.secret().as_bytes()).collect::<String>()
    );
    let expect = Expect {
        state,
        issuer: None,
        require_iss: false,
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let end = listener.wait(&expect, Duration::from_secs(60), &mut || None);
        let _ = tx.send(
            end.map(|c| c.secret().clone())
                .map_err(|e| format!("{e:?}")),
        );
    });
    (port, query, rx, handed_out)
}

/// The real callback, after whatever happened: it must end the wait with its code.
fn real_callback_completes(port: u16, query: &str, ended: &mpsc::Receiver<Result<String, String>>) {
    real_callback_completes_at(
        "127.0.0.1",
        &format!("127.0.0.1:{port}"),
        port,
        query,
        ended,
    );
}

/// `real_callback_completes`, over `ip`, as a browser that named `host`.
fn real_callback_completes_at(
    ip: &str,
    host: &str,
    port: u16,
    query: &str,
    ended: &mpsc::Receiver<Result<String, String>>,
) {
    if let Ok(early) = ended.try_recv() {
        panic!("the wait ended before the real callback: {early:?}");
    }
    let a = raw_at(ip, port, &get(query, Some(host)));
    assert_eq!(a.status, Some(200), "{a:?}");
    let code = ended
        .recv_timeout(Duration::from_secs(5))
        .expect("the wait ends with the real callback");
    assert_eq!(code.as_deref(), Ok("the-code"));
}

/// A body of absurd declared length that never comes: the listener must not
/// try to make room for it (an abort kills the whole app).
#[test]
fn an_absurd_content_length_does_not_crash_the_listener() {
    if !child("an_absurd_content_length_does_not_crash_the_listener") {
        return;
    }
    let (port, query, ended) = waiting_listener();
    let host = format!("127.0.0.1:{port}");
    let mut held = Vec::new();
    for len in [
        "99999999999999",
        "18446744073709551615",
        "1000000000000000000000",
    ] {
        for target in ["/favicon.ico", "/callback?code=x&state=y"] {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let _ = s.write_all(
                format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len}\r\n\r\n")
                    .as_bytes(),
            );
            held.push(s);
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    real_callback_completes(port, &query, &ended);
    println!("reliability_loopback: 6 absurd Content-Lengths survived");
    println!("child: ok");
}

/// 128 MiB of request line with no end: the listener stops reading early
/// and does not keep what it read; its memory stays flat.
#[test]
fn an_endless_request_line_does_not_eat_memory() {
    if !child("an_endless_request_line_does_not_eat_memory") {
        return;
    }
    let (port, query, ended) = waiting_listener();
    let kib = |field: &str| -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap()
    };
    let before = kib("VmRSS:");
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    let chunk = [b'a'; 64 * 1024];
    let mut sent = 0usize;
    let _ = s.write_all(b"GET /callback?state=");
    while sent < 128 << 20 {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break, // the listener closed the connection
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let peak = kib("VmHWM:");
    let grew_mib = peak.saturating_sub(before) / 1024;
    println!(
        "reliability_loopback: endless request line: {} MiB sent before the listener hung up, peak memory grew {grew_mib} MiB",
        sent >> 20
    );
    drop(s);
    assert!(
        grew_mib < 32,
        "the listener kept {grew_mib} MiB of a request line"
    );
    real_callback_completes(port, &query, &ended);
    println!("child: ok");
}

/// More connections than the process has file descriptors (a desktop's
/// default limit is 1024; here it is lowered to 256): some are refused, but
/// the listener survives them, and the real callback completes afterwards.
/// Unix only: Windows has no per-process descriptor limit to lower.
#[cfg(unix)]
#[test]
fn running_out_of_file_descriptors_does_not_end_the_wait() {
    if !child("running_out_of_file_descriptors_does_not_end_the_wait") {
        return;
    }
    let limit = libc::rlimit {
        rlim_cur: 256,
        rlim_max: 256,
    };
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let (port, query, ended) = waiting_listener();
    let mut held = Vec::new();
    for _ in 0..400 {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => held.push(s),
            Err(_) => break, // this process has no descriptor left either
        }
    }
    let opened = held.len();
    std::thread::sleep(Duration::from_secs(1));
    drop(held);
    std::thread::sleep(Duration::from_millis(500));
    real_callback_completes(port, &query, &ended);
    println!(
        "reliability_loopback: {opened} connections held with 256 descriptors; the wait went on"
    );
    println!("child: ok");
}

/// Request lines tiny_http is known to mishandle (HTTP/2.0 and 3.0
/// versions, a preface) are each answered or closed at once; connections
/// that send nothing, or a byte now and then, are closed after a while.
#[test]
fn odd_versions_are_answered_and_idle_connections_closed() {
    let (port, query, ended) = waiting_listener();
    for bytes in [
        &b"GET /callback HTTP/2.0\r\n\r\n"[..],
        b"GET /callback?code=x&state=y HTTP/3.0\r\nHost: 127.0.0.1\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"GET /callback HTTP/1.2\r\n\r\n",
        b"GET /callback HTTP/0.9\r\n\r\n",
    ] {
        let asked = Instant::now();
        let a = raw(port, bytes);
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "{:?}: no answer and no close for {:?} ({a:?})",
            String::from_utf8_lossy(bytes),
            asked.elapsed()
        );
    }
    let idle = |trickle: bool| {
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let opened = Instant::now();
            let mut buf = [0u8; 512];
            while opened.elapsed() < Duration::from_secs(40) {
                if trickle && s.write_all(b"G").is_err() {
                    return opened.elapsed();
                }
                match s.read(&mut buf) {
                    Ok(_) => return opened.elapsed(), // answered or closed
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => return opened.elapsed(),
                }
            }
            opened.elapsed()
        })
    };
    let (silent, trickling) = (idle(false), idle(true));
    let (silent, trickling) = (silent.join().unwrap(), trickling.join().unwrap());
    println!(
        "reliability_loopback: a silent connection was closed after {} s, a trickling one after {} s",
        silent.as_secs(),
        trickling.as_secs()
    );
    assert!(
        silent < Duration::from_secs(30),
        "a silent connection is kept for good"
    );
    assert!(
        trickling < Duration::from_secs(30),
        "a trickling connection is kept for good"
    );
    real_callback_completes(port, &query, &ended);
}

/// Whether this machine has an IPv6 loopback (some containers and kernels
/// do not); the ::1 halves of the tests below need one.
fn has_ipv6_loopback() -> bool {
    let has = std::net::TcpListener::bind("[::1]:0").is_ok();
    if !has {
        println!(
            "reliability_loopback: no IPv6 loopback on this machine: the ::1 checks are skipped"
        );
    }
    has
}

/// This process's name as the kernel reports it (what a taken port's
/// holder is named by).
fn own_process_name() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .unwrap()
        .trim_end()
        .to_string()
}

/// Checklist 2 and 4: bound to 127.0.0.1 only, on a port the OS picks; a
/// fixed port that is taken is named, with what holds it.
#[test]
fn bound_to_loopback_only_and_a_taken_port_is_named() {
    let a = LoopbackListener::bind("http://127.0.0.1/callback").unwrap();
    let b = LoopbackListener::bind("http://127.0.0.1/callback").unwrap();
    assert_ne!(a.port(), 0);
    assert_ne!(a.port(), b.port(), "the OS picks a fresh port each time");
    assert!(a
        .redirect_uri()
        .starts_with(&format!("http://127.0.0.1:{}/", a.port())));
    assert!(TcpStream::connect(("127.0.0.1", a.port())).is_ok());
    // Any other address of this machine (another loopback address stands in
    // for the LAN one) reaches nothing: the listener is not on 0.0.0.0.
    assert!(
        TcpStream::connect(("127.0.0.2", a.port())).is_err(),
        "the listener answers on an address other than 127.0.0.1"
    );
    // A 127.0.0.1 redirect is IPv4 only: nothing of it on ::1.
    assert!(
        TcpStream::connect(("::1", a.port())).is_err(),
        "a 127.0.0.1 redirect's listener answers on ::1"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = LoopbackListener::bind(&format!("http://127.0.0.1:{port}/callback"))
        .err()
        .expect("a taken port is an error");
    // What to do (paste the code instead) is a hint; no CLI flag is named.
    assert_eq!(err.hint(), Some(Hint::UsePaste), "{err}");
    let Error::Listener { addr, cause } = &err else {
        panic!("a taken port is a listener error: {err:?}");
    };
    let holder = own_process_name();
    println!("reliability_loopback: a taken port: {cause}");
    assert_eq!(addr, &format!("127.0.0.1:{port}"));
    assert!(
        cause.contains(&format!("port {port} is in use by {holder} (pid ")),
        "the cause names neither the port in use nor its holder ({holder}): {cause}"
    );
    // The listener states the fact; what to do about it is each shell's to word.
    assert!(
        !cause.contains("--"),
        "the listener words a CLI flag: {cause}"
    );
}

/// RFC 8252 §7.3: a `localhost` redirect is served on 127.0.0.1 and on ::1,
/// on one port, since the browser may resolve the name to either; the
/// redirect URI handed out keeps the name.
#[test]
fn localhost_is_served_on_both_loopback_addresses() {
    let ipv6 = has_ipv6_loopback();
    for ip in ["127.0.0.1", "::1"] {
        if ip == "::1" && !ipv6 {
            continue;
        }
        let (port, query, ended, handed_out) = waiting_listener_for("http://localhost/callback");
        assert_eq!(handed_out, format!("http://localhost:{port}/callback"));
        // A stray over the other address first: both reach the one wait,
        // and the stray does not end it.
        let other = if ip == "::1" { "127.0.0.1" } else { "::1" };
        if other == "127.0.0.1" || ipv6 {
            let stray = raw_at(
                other,
                port,
                &get("/favicon.ico", Some(&format!("localhost:{port}"))),
            );
            assert_eq!(stray.status, Some(404), "{other}: {stray:?}");
        }
        real_callback_completes_at(ip, &format!("localhost:{port}"), port, &query, &ended);
        println!("reliability_loopback: a localhost callback over {ip} was received");
    }
}

/// A `[::1]` redirect is IPv6 only, and a taken port for a `localhost`
/// redirect is refused when only ::1 has it: a browser resolving localhost
/// to ::1 would hand the code to that other program.
#[test]
fn ipv6_loopback_redirects() {
    if !has_ipv6_loopback() {
        return;
    }
    let a = LoopbackListener::bind("http://[::1]/callback").unwrap();
    assert_eq!(
        a.redirect_uri(),
        format!("http://[::1]:{}/callback", a.port())
    );
    assert!(TcpStream::connect(("::1", a.port())).is_ok());
    assert!(
        TcpStream::connect(("127.0.0.1", a.port())).is_err(),
        "a [::1] redirect's listener answers on 127.0.0.1"
    );

    let taken = std::net::TcpListener::bind("[::1]:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = LoopbackListener::bind(&format!("http://localhost:{port}/callback"))
        .err()
        .expect("a localhost port taken on ::1 is an error");
    let Error::Listener { addr, cause } = &err else {
        panic!("a taken port is a listener error: {err:?}");
    };
    let holder = own_process_name();
    assert_eq!(addr, &format!("[::1]:{port}"));
    assert!(
        cause.contains(&format!("port {port} is in use by {holder} (pid ")),
        "the cause names neither the port in use nor its holder ({holder}): {cause}"
    );
}

/// Checklist 7: a fresh state of at least 128 bits for every attempt.
#[test]
fn state_is_fresh_and_long_for_every_attempt() {
    let server = OidcServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = acme(server, dir.path());
    let mut states = Vec::new();
    for _ in 0..3 {
        let s = SignIn::start(config.clone(), Duration::from_secs(30));
        let state = s.state();
        s.ctl.send(Control::Cancel).unwrap();
        let _ = s.done.recv_timeout(Duration::from_secs(10)).unwrap();
        states.push(state);
    }
    for s in &states {
        // 16 random bytes, base64url: 22 characters, 128 bits.
        assert!(s.len() >= 22, "state {s:?} is shorter than 128 bits");
    }
    states.sort();
    states.dedup();
    assert_eq!(states.len(), 3, "state repeats across attempts");
}
