//! RFC 8252 §7.3: a listener on the loopback interface with a port the OS
//! picks. It answers exactly one good callback; strays get 404, foreign
//! callbacks 400, and neither ends the wait. It times out and can be
//! cancelled.
//!
//! Which addresses it listens on follows the redirect URI's host:
//! `127.0.0.1` IPv4 only, `[::1]` IPv6 only, and `localhost` both, on one
//! port, because a browser may resolve `localhost` to either.
//!
//! The HTTP side is deliberately small (std::net, one GET per connection,
//! heads parsed by `httparse`) and bounded against whatever else on the
//! machine connects: a request head may be 16 KiB and must arrive within
//! 10 s, bodies are never read, at most 256 connections are read at once,
//! and running out of file descriptors pauses accepting instead of ending
//! the wait. (tiny_http, used before, buffered request lines without limit,
//! drained declared bodies on the wait's thread, deadlocked on `HTTP/2.0`
//! request lines, kept idle connections forever and died on EMFILE: see
//! tests/reliability_loopback.rs.)

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use oauth2::AuthorizationCode;

use super::{check_callback, paste::parse_pasted, Control, Expect, Verdict};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(100);
/// A request head larger than this is not a browser's callback.
const MAX_HEAD: usize = 16 * 1024;
/// A browser's callback carries a dozen or two headers; httparse needs a
/// fixed number of slots, and more than this is not a browser.
const MAX_HEADERS: usize = 64;
/// A connection has this long, in all, to send its request head.
const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// Connections read at once (on all addresses together); more are closed
/// as they come.
const MAX_CONNECTIONS: usize = 256;
/// How often the accepting thread, idle, looks whether it should stop.
const ACCEPT_POLL: Duration = Duration::from_millis(50);
/// With a port the OS picks for 127.0.0.1, ::1 may have that port taken by
/// someone else; a fresh pair is tried this many times.
const PAIR_ATTEMPTS: usize = 8;

pub struct LoopbackListener {
    requests: Mutex<mpsc::Receiver<Request>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
    /// The redirect URI with the port the OS picked.
    redirect_uri: String,
    path: String,
    port: u16,
}

/// One request head, with its connection for the answer.
struct Request {
    method: String,
    target: String,
    /// Every Host header sent (a callback must send exactly one).
    hosts: Vec<String>,
    stream: TcpStream,
}

/// Why a wait ended without a code.
#[derive(Debug)]
pub enum WaitError {
    Provider {
        error: String,
        description: Option<String>,
    },
    Timeout,
    Cancelled,
    BadPaste(String),
    Listener(String),
}

/// The loopback addresses a redirect host is reached on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    V4,
    V6,
    /// `localhost`: the browser resolves it, to 127.0.0.1 or ::1.
    Both,
}

impl Family {
    fn of(host: &str) -> Self {
        match host {
            "localhost" => Self::Both,
            "[::1]" => Self::V6,
            // 127.0.0.1, and whatever else the caller passed: the IPv4
            // literal is the one address every machine has.
            _ => Self::V4,
        }
    }
}

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

impl LoopbackListener {
    /// Binds per `redirect_uri` (`http://127.0.0.1[:port]/path`,
    /// `http://[::1]...` or `http://localhost...`): on loopback addresses
    /// only, port 0 (the OS picks) unless one is given.
    pub fn bind(redirect_uri: &str) -> crate::Result<Self> {
        let uri = url::Url::parse(redirect_uri).map_err(|e| crate::Error::Listener {
            addr: redirect_uri.into(),
            cause: format!("not a URL: {e}"),
        })?;
        let host = uri.host_str().unwrap_or("127.0.0.1").to_string();
        let (listeners, port) = listen(Family::of(&host), uri.port())?;
        let path = match uri.path() {
            "" => "/".to_string(),
            p => p.to_string(),
        };
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("planopticon-loopback".into())
                .spawn(move || accept_loop(listeners, tx, &stop))
                .map_err(|e| crate::Error::Listener {
                    addr: format!("{host}:{port}"),
                    cause: e.to_string(),
                })?
        };
        Ok(Self {
            requests: Mutex::new(rx),
            stop,
            acceptor: Some(acceptor),
            redirect_uri: format!("http://{host}:{port}{path}"),
            path,
            port,
        })
    }

    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits for the one good callback. `control` is polled for a cancel or
    /// a pasted code (the app's "paste instead").
    pub fn wait(
        &self,
        expect: &Expect,
        timeout: Duration,
        control: &mut dyn FnMut() -> Option<Control>,
    ) -> Result<AuthorizationCode, WaitError> {
        let deadline = Instant::now() + timeout;
        loop {
            match control() {
                Some(Control::Cancel) => return Err(WaitError::Cancelled),
                Some(Control::Paste(text)) => {
                    return parse_pasted(&text, expect).map_err(WaitError::BadPaste)
                }
                None => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(WaitError::Timeout);
            }
            let next = self
                .requests
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .recv_timeout(left.min(POLL));
            let request = match next {
                Ok(r) => r,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(WaitError::Listener("the listener stopped".into()))
                }
            };
            if let Some(end) = self.handle(request, expect) {
                return end;
            }
        }
    }

    /// `Some` when this request ends the wait.
    fn handle(
        &self,
        request: Request,
        expect: &Expect,
    ) -> Option<Result<AuthorizationCode, WaitError>> {
        let (path, query) = match request.target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (request.target.clone(), String::new()),
        };
        if request.method != "GET" || path != self.path {
            respond(request, 404, PAGE_NOT_FOUND);
            return None;
        }
        // A page on another origin that resolves to 127.0.0.1 (DNS
        // rebinding) sends its own name as Host.
        if !self.host_is_ours(&request) {
            log::debug!("loopback: refused a callback with a foreign Host header");
            respond(request, 400, PAGE_FOREIGN);
            return None;
        }
        match check_callback(url::form_urlencoded::parse(query.as_bytes()), expect) {
            Verdict::Code(code) => {
                respond(request, 200, PAGE_DONE);
                Some(Ok(code))
            }
            Verdict::ProviderError { error, description } => {
                respond(request, 200, PAGE_REFUSED);
                Some(Err(WaitError::Provider { error, description }))
            }
            Verdict::Rejected(why) => {
                log::debug!("loopback: ignored a callback: {why}");
                respond(request, 400, PAGE_FOREIGN);
                None
            }
        }
    }

    fn host_is_ours(&self, request: &Request) -> bool {
        let host = match request.hosts.as_slice() {
            [one] => Some(one.to_ascii_lowercase()),
            _ => None,
        };
        let port = self.port;
        match host {
            Some(h) => [
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
            ]
            .contains(&h),
            None => false,
        }
    }
}

impl Drop for LoopbackListener {
    /// Closes the port at once: a callback after the wait reaches nobody.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

/// The listening sockets for `family` and the port they share.
fn listen(family: Family, port: Option<u16>) -> crate::Result<(Vec<TcpListener>, u16)> {
    let one = |ip| bind_one(ip, port.unwrap_or(0)).map(|(l, port)| (vec![l], port));
    match family {
        Family::V4 => one(V4),
        Family::V6 => one(V6),
        Family::Both => {
            let mut attempt = 1;
            loop {
                let (v4, chosen) = bind_one(V4, port.unwrap_or(0))?;
                match TcpListener::bind((V6, chosen)).and_then(nonblocking) {
                    Ok(v6) => return Ok((vec![v4, v6], chosen)),
                    // Someone else has ::1 on the port 127.0.0.1 got: a
                    // browser resolving localhost to ::1 would hand them the
                    // code, so this pair is not used.
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                        if port.is_some() || attempt == PAIR_ATTEMPTS {
                            return Err(listener_error(SocketAddr::new(V6, chosen), &e));
                        }
                        attempt += 1;
                    }
                    // No IPv6 on this machine: no browser reaches localhost
                    // over ::1 either.
                    Err(e) => {
                        log::debug!(
                            "loopback: no IPv6 loopback ({e}); localhost is served on 127.0.0.1 only"
                        );
                        return Ok((vec![v4], chosen));
                    }
                }
            }
        }
    }
}

/// A non-blocking listener on `ip:port` (0: the OS picks), and its port.
fn bind_one(ip: IpAddr, port: u16) -> crate::Result<(TcpListener, u16)> {
    let addr = SocketAddr::new(ip, port);
    let listener = TcpListener::bind(addr)
        .and_then(nonblocking)
        .map_err(|e| listener_error(addr, &e))?;
    let port = listener
        .local_addr()
        .map_err(|e| listener_error(addr, &e))?
        .port();
    Ok((listener, port))
}

fn nonblocking(listener: TcpListener) -> std::io::Result<TcpListener> {
    listener.set_nonblocking(true)?;
    Ok(listener)
}

fn listener_error(addr: SocketAddr, e: &std::io::Error) -> crate::Error {
    let cause = if e.kind() == std::io::ErrorKind::AddrInUse {
        let port = addr.port();
        match crate::platform::port_holder(port) {
            Some(holder) => format!("port {port} is in use by {holder}"),
            None => format!("port {port} is in use"),
        }
    } else {
        e.to_string()
    };
    crate::Error::Listener {
        addr: addr.to_string(),
        cause,
    }
}

/// Accepts until stopped, on every socket; the connection limit counts
/// them all together. Each connection's head is read on a thread of its
/// own, so a slow client holds up no one; a failed accept (no file
/// descriptor left) pauses instead of ending.
fn accept_loop(listeners: Vec<TcpListener>, tx: mpsc::Sender<Request>, stop: &AtomicBool) {
    let reading = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::SeqCst) {
        let (mut accepted, mut failed) = (false, false);
        for listener in &listeners {
            match listener.accept() {
                Ok((stream, _)) => {
                    accepted = true;
                    serve(stream, &tx, &reading);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    log::debug!("loopback: accept failed: {e}");
                    failed = true;
                }
            }
        }
        if failed {
            // The pending connection stays pending, so waiting for one
            // would return at once: pause instead.
            std::thread::sleep(POLL);
        } else if !accepted {
            crate::platform::wait_for_connection(&listeners, ACCEPT_POLL);
        }
    }
}

fn serve(stream: TcpStream, tx: &mpsc::Sender<Request>, reading: &Arc<AtomicUsize>) {
    if reading.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
        return; // dropped: closed at once
    }
    reading.fetch_add(1, Ordering::SeqCst);
    let (tx, done) = (tx.clone(), reading.clone());
    let spawned = std::thread::Builder::new().spawn(move || {
        if let Some(request) = read_request(stream) {
            let _ = tx.send(request);
        }
        done.fetch_sub(1, Ordering::SeqCst);
    });
    if spawned.is_err() {
        reading.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Reads one request head (16 KiB, 10 s at most) and parses it; a malformed
/// one is answered 400 here, a silent or endless one just closed.
fn read_request(mut stream: TcpStream) -> Option<Request> {
    let started = Instant::now();
    stream.set_nonblocking(false).ok()?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    loop {
        let left = HEAD_DEADLINE.checked_sub(started.elapsed())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        let first = head.is_empty();
        head.extend_from_slice(&buf[..n]);
        // A head can only complete, and a bad one is seen at the latest, at
        // a line end; parsing only then keeps a client that trickles bytes
        // from making every byte cost a parse of everything before it. The
        // first read is parsed anyway, so that bytes that are not HTTP at
        // all (TLS, junk) are refused at once.
        let parsed = if first || buf[..n].contains(&b'\n') {
            parse_head(&head[..head.len().min(MAX_HEAD)])
        } else {
            Head::Partial
        };
        let (status, reason) = match parsed {
            Head::Complete {
                method,
                target,
                hosts,
            } => {
                return Some(Request {
                    method,
                    target,
                    hosts,
                    stream,
                })
            }
            Head::Partial if head.len() < MAX_HEAD => continue,
            Head::Partial | Head::TooManyHeaders => (431, "Request Header Fields Too Large"),
            Head::Invalid => (400, "Bad Request"),
        };
        write_response(&stream, status, reason, PAGE_NOT_FOUND, false);
        return None;
    }
}

/// What the bytes read so far amount to.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// `METHOD TARGET HTTP/1.x` and its Host headers.
    Complete {
        method: String,
        target: String,
        hosts: Vec<String>,
    },
    /// Not a complete head yet, and nothing wrong so far.
    Partial,
    TooManyHeaders,
    /// Not HTTP/1.0 or 1.1 (httparse knows no other version), or malformed.
    Invalid,
}

fn parse_head(bytes: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(httparse::Error::TooManyHeaders) => return Head::TooManyHeaders,
        Err(_) => return Head::Invalid,
    }
    let (Some(method), Some(target)) = (request.method, request.path) else {
        return Head::Invalid;
    };
    // httparse takes any token as a target (`*`, `example.com:443`); a
    // callback is a path, or an absolute http URL from a proxy-minded client.
    if !target.starts_with('/') && !target.starts_with("http://") {
        return Head::Invalid;
    }
    let mut hosts = Vec::new();
    for header in request.headers.iter() {
        if header.name.eq_ignore_ascii_case("host") {
            match std::str::from_utf8(header.value) {
                Ok(value) => hosts.push(value.trim().to_string()),
                Err(_) => return Head::Invalid,
            }
        }
    }
    Head::Complete {
        method: method.to_string(),
        target: target.to_string(),
        hosts,
    }
}

fn respond(request: Request, status: u16, body: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        _ => "Not Found",
    };
    let head_only = request.method == "HEAD";
    write_response(&request.stream, status, reason, body, head_only);
}

/// Writes a small answer and closes (the body, if any, is never read).
fn write_response(mut stream: &TcpStream, status: u16, reason: &str, body: &str, head_only: bool) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    if !head_only {
        out.push_str(body);
    }
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}

const PAGE_DONE: &str = "<!doctype html><meta charset=utf-8><title>PlanOpticon</title>\
<body style=\"font:16px system-ui;margin:3em\"><h1>Signed in</h1>\
<p>PlanOpticon has the sign-in. You can close this tab.</p></body>";
const PAGE_REFUSED: &str = "<!doctype html><meta charset=utf-8><title>PlanOpticon</title>\
<body style=\"font:16px system-ui;margin:3em\"><h1>Sign-in not completed</h1>\
<p>The provider did not grant access. PlanOpticon shows the reason. You can close this tab.</p></body>";
const PAGE_FOREIGN: &str = "<!doctype html><meta charset=utf-8><title>PlanOpticon</title>\
<body style=\"font:16px system-ui;margin:3em\"><h1>Not this sign-in</h1>\
<p>This link does not belong to the sign-in PlanOpticon is waiting for.</p></body>";
const PAGE_NOT_FOUND: &str = "<!doctype html><title>Not found</title>Not found";

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(method: &str, target: &str, hosts: &[&str]) -> Head {
        Head::Complete {
            method: method.into(),
            target: target.into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
        }
    }

    #[test]
    fn heads_parse_as_before() {
        assert_eq!(
            parse_head(b"GET /cb?code=c HTTP/1.1\r\nHost: 127.0.0.1:5\r\n\r\n"),
            complete("GET", "/cb?code=c", &["127.0.0.1:5"])
        );
        // A lax client's bare line feeds.
        assert_eq!(
            parse_head(b"GET /cb HTTP/1.0\nHost:  localhost:5 \n\n"),
            complete("GET", "/cb", &["localhost:5"])
        );
        assert_eq!(
            parse_head(b"GET /cb HTTP/1.1\r\nhost: a\r\nX: y\r\nHOST: b\r\n\r\n"),
            complete("GET", "/cb", &["a", "b"])
        );
        assert_eq!(
            parse_head(b"HEAD http://127.0.0.1:5/cb HTTP/1.1\r\n\r\n"),
            complete("HEAD", "http://127.0.0.1:5/cb", &[])
        );
        // What follows the head (a body, a pipelined request) is not read.
        assert_eq!(
            parse_head(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
            complete("GET", "/a", &[])
        );
    }

    #[test]
    fn partial_heads_wait_for_more() {
        for bytes in [
            &b""[..],
            b"GET",
            b"GET /cb?code=c&state=s",
            b"GET /cb HTTP/1.",
            b"GET /cb HTTP/1.1\r\nHost: a\r\n",
            b"\r\n\r\n",
        ] {
            assert_eq!(parse_head(bytes), Head::Partial, "{bytes:?}");
        }
    }

    #[test]
    fn other_versions_and_junk_are_invalid() {
        for bytes in [
            &b"GET /cb HTTP/2.0\r\n\r\n"[..],
            b"GET /cb HTTP/1.2\r\n\r\n",
            b"GET /cb HTTP/0.9\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET * HTTP/1.1\r\n\r\n",
            b"GET example.com:443 HTTP/1.1\r\n\r\n",
            b"GET  /cb HTTP/1.1\r\n\r\n",
            b"GET /cb HTTP/1.1 x\r\n\r\n",
            b"GET /cb\0 HTTP/1.1\r\n\r\n",
            b"GET /cb HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n",
            b"GET /cb HTTP/1.1\r\nHost: \xff\r\n\r\n",
            b"\x16\x03\x01\x00",
        ] {
            assert_eq!(parse_head(bytes), Head::Invalid, "{bytes:?}");
        }
    }

    #[test]
    fn more_headers_than_a_browser_sends_are_refused() {
        let mut r = b"GET /cb HTTP/1.1\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            r.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
        }
        let mut fits = r.clone();
        fits.extend_from_slice(b"\r\n");
        assert!(matches!(parse_head(&fits), Head::Complete { .. }));
        r.extend_from_slice(b"X-more: 1\r\n\r\n");
        assert_eq!(parse_head(&r), Head::TooManyHeaders);
    }

    #[test]
    fn the_redirect_host_decides_the_addresses() {
        assert_eq!(Family::of("localhost"), Family::Both);
        assert_eq!(Family::of("[::1]"), Family::V6);
        assert_eq!(Family::of("127.0.0.1"), Family::V4);
    }
}
