//! RFC 8252 §7.3: a listener on 127.0.0.1 with a port the OS picks. It
//! answers exactly one good callback; strays get 404, foreign callbacks 400,
//! and neither ends the wait. It times out and can be cancelled.

use std::time::{Duration, Instant};

use oauth2::AuthorizationCode;
use tiny_http::{Header, Response, Server};

use super::{check_callback, paste::parse_pasted, Control, Expect, Verdict};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(100);

pub struct LoopbackListener {
    server: Server,
    /// The redirect URI with the port the OS picked.
    redirect_uri: String,
    path: String,
    port: u16,
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
        let server =
            Server::http((ip, port)).map_err(|e| err(format!("{ip}:{port}"), e.to_string()))?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or_else(|| err(format!("{ip}:{port}"), "no IP address".into()))?;
        let path = match uri.path() {
            "" => "/".to_string(),
            p => p.to_string(),
        };
        Ok(Self {
            server,
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
            let request = match self.server.recv_timeout(left.min(POLL)) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => return Err(WaitError::Listener(e.to_string())),
            };
            if let Some(end) = self.handle(request, expect) {
                return end;
            }
        }
    }

    /// `Some` when this request ends the wait.
    fn handle(
        &self,
        request: tiny_http::Request,
        expect: &Expect,
    ) -> Option<Result<AuthorizationCode, WaitError>> {
        let (path, query) = match request.url().split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (request.url().to_string(), String::new()),
        };
        if *request.method() != tiny_http::Method::Get || path != self.path {
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

    fn host_is_ours(&self, request: &tiny_http::Request) -> bool {
        let host = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Host"))
            .map(|h| h.value.as_str().to_ascii_lowercase());
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

fn respond(request: tiny_http::Request, status: u16, body: &str) {
    let headers = [
        Header::from_bytes("Content-Type", "text/html; charset=utf-8").expect("static header"),
        Header::from_bytes("Cache-Control", "no-store").expect("static header"),
        Header::from_bytes("Connection", "close").expect("static header"),
    ];
    let mut response = Response::from_string(body).with_status_code(status);
    for h in headers {
        response.add_header(h);
    }
    // tiny_http drains an unread body when the request is dropped, in the
    // dropping thread, into a buffer of the declared size. A body that is
    // declared and never sent would stall the wait (no cancel, no timeout);
    // an absurd Content-Length aborts the process. A callback has no body:
    // such a request is answered on a thread of its own, and one too large
    // to buffer is never dropped (its connection is abandoned instead).
    match request.body_length() {
        None | Some(0) => {
            let _ = request.respond(response);
        }
        Some(n) if n <= MAX_DRAINED_BODY => {
            std::thread::spawn(move || {
                let _ = request.respond(response);
            });
        }
        Some(_) => std::mem::forget(request),
    }
}

/// The largest declared body a stray request may have drained.
const MAX_DRAINED_BODY: usize = 1 << 20;

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
