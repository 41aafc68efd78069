//! RFC 8252 §7.3: a listener on 127.0.0.1 with a port the OS picks. It
//! answers exactly one good callback; strays get 404, foreign callbacks 400,
//! and neither ends the wait. It times out and can be cancelled.
//!
//! The HTTP side is deliberately small (std::net, one GET per connection)
//! and bounded against whatever else on the machine connects: a request
//! head may be 16 KiB and must arrive within 10 s, bodies are never read,
//! at most 256 connections are read at once, and running out of file
//! descriptors pauses accepting instead of ending the wait. (tiny_http,
//! used before, buffered request lines without limit, drained declared
//! bodies on the wait's thread, deadlocked on `HTTP/2.0` request lines,
//! kept idle connections forever and died on EMFILE: see
//! tests/reliability_loopback.rs.)

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
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
/// A connection has this long, in all, to send its request head.
const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// Connections read at once; more are closed as they come.
const MAX_CONNECTIONS: usize = 256;
/// How often the accepting thread, idle, looks whether it should stop.
const ACCEPT_POLL: Duration = Duration::from_millis(50);

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

impl LoopbackListener {
    /// Binds per `redirect_uri` (`http://127.0.0.1[:port]/path`): on the
    /// loopback address only, port 0 (the OS picks) unless one is given.
    pub fn bind(redirect_uri: &str) -> crate::Result<Self> {
        let err = |addr: String, cause: String| crate::Error::Listener { addr, cause };
        let uri = url::Url::parse(redirect_uri)
            .map_err(|e| err(redirect_uri.into(), format!("not a URL: {e}")))?;
        let (ip, host) = match uri.host_str() {
            Some("[::1]") => ("::1", "[::1]"),
            // localhost may resolve to ::1 or a hosts entry; bind the IP literal.
            _ => ("127.0.0.1", uri.host_str().unwrap_or("127.0.0.1")),
        };
        let port = uri.port().unwrap_or(0);
        let listener = TcpListener::bind((ip, port))
            .and_then(|l| l.set_nonblocking(true).map(|_| l))
            .map_err(|e| err(format!("{ip}:{port}"), e.to_string()))?;
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .map_err(|e| err(format!("{ip}:{port}"), e.to_string()))?;
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
                .spawn(move || accept_loop(listener, tx, &stop))
                .map_err(|e| err(format!("{ip}:{port}"), e.to_string()))?
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

/// Accepts until stopped. Each connection's head is read on a thread of
/// its own, so a slow client holds up no one; a failed accept (no file
/// descriptor left) pauses instead of ending.
fn accept_loop(listener: TcpListener, tx: mpsc::Sender<Request>, stop: &AtomicBool) {
    let reading = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // Sleep until a connection comes, or the next look at `stop`.
                let mut pending = libc::pollfd {
                    fd: std::os::fd::AsRawFd::as_raw_fd(&listener),
                    events: libc::POLLIN,
                    revents: 0,
                };
                let ms = ACCEPT_POLL.as_millis() as libc::c_int;
                // SAFETY: one valid pollfd, for the duration of the call.
                unsafe { libc::poll(&mut pending, 1, ms) };
                continue;
            }
            Err(e) => {
                log::debug!("loopback: accept failed: {e}");
                std::thread::sleep(POLL);
                continue;
            }
        };
        if reading.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            continue; // dropped: closed at once
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
}

/// Reads one request head (16 KiB, 10 s at most) and parses it; a malformed
/// one is answered 400 here, a silent or endless one just closed.
fn read_request(mut stream: TcpStream) -> Option<Request> {
    let started = Instant::now();
    stream.set_nonblocking(false).ok()?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    let end = loop {
        let left = HEAD_DEADLINE.checked_sub(started.elapsed())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = find_blank_line(&head[from..]) {
            break from + i;
        }
        if head.len() > MAX_HEAD {
            write_response(
                &stream,
                431,
                "Request Header Fields Too Large",
                PAGE_NOT_FOUND,
                false,
            );
            return None;
        }
    };
    match parse_head(&head[..end]) {
        Some((method, target, hosts)) => Some(Request {
            method,
            target,
            hosts,
            stream,
        }),
        None => {
            write_response(&stream, 400, "Bad Request", PAGE_NOT_FOUND, false);
            None
        }
    }
}

/// Where the head ends (`\r\n\r\n`, or `\n\n` from a lax client).
fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    (0..bytes.len())
        .find(|&i| bytes[i..].starts_with(b"\r\n\r\n") || bytes[i..].starts_with(b"\n\n"))
}

/// `METHOD TARGET HTTP/1.x` and the Host headers; None when it is not HTTP/1.
fn parse_head(head: &[u8]) -> Option<(String, String, Vec<String>)> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let mut first = lines.next()?.split(' ');
    let (method, target, version) = (first.next()?, first.next()?, first.next()?);
    if first.next().is_some()
        || !matches!(version, "HTTP/1.1" | "HTTP/1.0")
        || method.is_empty()
        || !target.starts_with('/') && !target.starts_with("http://")
    {
        return None;
    }
    let mut hosts = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("host") {
            hosts.push(value.trim().to_string());
        }
    }
    Some((method.to_string(), target.to_string(), hosts))
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
