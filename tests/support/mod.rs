//! Test harness shared by the integration tests: `mod support;`.
//!
//! * [`OidcServer`]: a real OAuth 2.0 / OpenID Connect server (`tests/oidc/server.mjs`,
//!   npm `oidc-provider`) on 127.0.0.1, one node process per value.
//! * [`browser_program`]: the fake user in a browser, to use as `BROWSER`.
//! * [`play_user`] / [`play_user_deny`]: the same user, in-process: returns the
//!   callback URL without fetching it.
//! * [`FakeServer`]: an HTTP server whose answers the test scripts, for faults a
//!   real server will not produce on demand (hangs, dropped connections, junk).
//! * [`Home`]: a throw-away HOME to run the `planopticon` CLI in.
//! * [`app_options`] / [`redirect_back`]: a sign-in as the app runs it, and
//!   the address a browser comes back to with a code.
//!
//! Everything listens on 127.0.0.1; nothing here reaches the network.
#![allow(dead_code)]

// A pseudo-terminal is a Unix device; the Windows console prompt has tests of its own.
#[cfg(unix)]
pub mod pty;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

/// How long to wait for text the CLI is expected to show, or a URL a
/// sign-in is expected to give. A bound for a hang, not a timing assertion:
/// it normally comes within milliseconds.
pub const WAIT: Duration = Duration::from_secs(60);

/// `public-native`: no secret (`token_endpoint_auth_method: none`), PKCE;
/// grants authorization_code, refresh_token, device_code.
pub const PUBLIC_CLIENT: &str = "public-native";
/// `confidential-native`: `client_secret_basic` with [`CONFIDENTIAL_SECRET`];
/// grants authorization_code, refresh_token, client_credentials, device_code.
pub const CONFIDENTIAL_CLIENT: &str = "confidential-native";
pub const CONFIDENTIAL_SECRET: &str = "confidential-secret";
/// The registered redirect URI. Being a native client's loopback URI, any
/// port is accepted at run time: `http://127.0.0.1:{port}/callback`.
pub const REGISTERED_REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// Device grant type, as sent in `grant_type`.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// The repository root (the package's manifest directory).
pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/oidc`: the node side of the harness.
pub fn oidc_dir() -> PathBuf {
    repo_dir().join("tests").join("oidc")
}

/// The fake user in a browser (`tests/oidc/browser`), to set as `BROWSER`.
/// `browser URL` signs in as `alice` (env `TEST_LOGIN`), consents and GETs
/// the callback; env `TEST_BROWSER_ACTION=deny` aborts instead, and
/// `TEST_BROWSER_LOG=/path` appends each URL it is given.
pub fn browser_program() -> PathBuf {
    oidc_dir().join("browser")
}

/// A blocking HTTP client for tests: no proxy, no redirects followed, 10 s timeout.
pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(HTTP_TIMEOUT)
        .build()
        .expect("build reqwest client")
}

/// Runs `npm ci` in tests/oidc unless its node_modules is complete. Test
/// binaries run in parallel, so the check and the install happen under an
/// exclusive lock on tests/oidc/.install.lock.
fn ensure_node_modules() {
    let dir = oidc_dir();
    // npm writes node_modules/.package-lock.json last: its presence means a
    // finished install, not one interrupted half-way.
    let marker = dir.join("node_modules").join(".package-lock.json");
    if marker.exists() {
        return;
    }
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".install.lock"))
        .expect("open tests/oidc/.install.lock");
    lock.lock().expect("lock tests/oidc/.install.lock");
    if marker.exists() {
        return; // another test binary installed it while we waited
    }
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .expect("run `npm ci` in tests/oidc (is npm installed?)");
    assert!(
        output.status.success(),
        "`npm ci` in {} failed ({}):\n{}\n{}",
        dir.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The test authorization server: `node tests/oidc/server.mjs`, killed on drop.
///
/// Clients: [`PUBLIC_CLIENT`] and [`CONFIDENTIAL_CLIENT`]. Endpoints: `/auth`,
/// `/token`, `/me`, `/token/revocation`, `/token/introspection`, `/device/auth`,
/// `/.well-known/openid-configuration`. Refresh tokens rotate; reusing an old
/// one is `invalid_grant` and revokes the whole grant.
pub struct OidcServer {
    child: Child,
    stdin: Option<ChildStdin>,
    issuer: String,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl OidcServer {
    /// Starts a server with the defaults (access tokens live 3600 s).
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra environment, e.g. `[("ACCESS_TOKEN_TTL", "2")]`
    /// or `[("PORT", "8765")]`.
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        ensure_node_modules();
        let dir = oidc_dir();
        let mut child = Command::new("node")
            .arg(dir.join("server.mjs"))
            .current_dir(&dir)
            .envs(env.iter().copied())
            // stdin stays open as long as we live: the server exits when it closes,
            // so a test binary that dies without dropping us leaves nothing behind.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn `node tests/oidc/server.mjs` (is node installed?)");

        // The server's stderr (warnings, errors) is kept, and shown if a test panics.
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let log_sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log_sink.lock().unwrap().push(line);
            }
        });

        // First stdout line: {"issuer":"http://127.0.0.1:PORT","port":PORT}.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {} // drain until the server exits
        });
        let first = match rx.recv_timeout(SERVER_START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(50)); // let stderr drain
                panic!(
                    "oidc server did not announce itself ({other:?}); its stderr:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        let hello: Value = serde_json::from_str(&first)
            .unwrap_or_else(|e| panic!("oidc server's first line is not JSON ({e}): {first}"));
        let issuer = hello["issuer"].as_str().expect("issuer").to_owned();
        let port = hello["port"].as_u64().expect("port") as u16;
        let stdin = child.stdin.take();
        OidcServer {
            child,
            stdin,
            issuer,
            port,
            log,
        }
    }

    /// One server for the whole test binary, started on first use and never
    /// dropped (it exits when the binary does: its stdin closes). Tests sharing
    /// it run in parallel: do not rely on exact [`stats`](Self::stats) there.
    pub fn shared() -> &'static OidcServer {
        static SHARED: OnceLock<OidcServer> = OnceLock::new();
        SHARED.get_or_init(OidcServer::start)
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `url("/token")` -> `http://127.0.0.1:PORT/token`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    /// Counters since start or the last reset:
    /// `{"token":{"authorization_code":1,"refresh_token":2,..},"token_errors":{"invalid_grant":1},
    ///   "invalid_grant":1,"revocation":0,"introspection":0,"userinfo":0,"authorization":1,
    ///   "device_authorization":0}`. Token requests count whether they succeed or not.
    pub fn stats(&self) -> Value {
        http()
            .get(self.url("/_test/stats"))
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json())
            .expect("GET /_test/stats")
    }

    /// Token endpoint requests seen with this `grant_type` (0 if none).
    pub fn token_requests(&self, grant_type: &str) -> u64 {
        self.stats()["token"][grant_type].as_u64().unwrap_or(0)
    }

    /// Zeroes every counter.
    pub fn reset_stats(&self) {
        http()
            .post(self.url("/_test/reset"))
            .send()
            .and_then(|r| r.error_for_status())
            .expect("POST /_test/reset");
    }

    /// The HTTP status of the identity endpoint (`/me`) for `access_token`:
    /// 200 while the token is good, 401 once it is not.
    pub fn me_status(&self, access_token: &str) -> reqwest::StatusCode {
        http()
            .get(self.url("/me"))
            .bearer_auth(access_token)
            .send()
            .expect("GET /me")
            .status()
    }

    /// What the server wrote on stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for OidcServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- oidc server stderr ---\n{}\n---", self.log());
        }
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `~/.planopticon/services.toml` of `h` with the service `acme` at
/// `server`: the public native client, loopback, scopes openid and email.
pub fn acme_services_toml(h: &Home, server: &OidcServer) {
    std::fs::write(
        h.po().join("services.toml"),
        format!(
            "[acme]\noauth_authorize_url = \"{0}/auth\"\noauth_token_url = \"{0}/token\"\nclient_id = \"{1}\"\nscopes = [\"openid\", \"email\"]\nredirect_uri = \"http://127.0.0.1/callback\"\nissuer = \"{0}\"\n",
            server.issuer(),
            PUBLIC_CLIENT
        ),
    )
    .unwrap();
}

/// A custom service `acme` at this server, signing in as the public native
/// client over loopback, its token at `token_path`.
pub fn acme_config(server: &OidcServer, token_path: PathBuf) -> planopticon::AuthConfig {
    let mut c = planopticon::AuthConfig::new("acme");
    c.oauth_authorize_url = Some(server.url("/auth"));
    c.oauth_token_url = Some(server.url("/token"));
    c.client_id = Some(PUBLIC_CLIENT.into());
    c.scopes = vec!["openid".into(), "email".into()];
    c.redirect_uri = Some(REGISTERED_REDIRECT_URI.into());
    c.issuer = Some(server.issuer().into());
    c.token_path = Some(token_path);
    c
}

/// Plays the user at the test server's built-in pages, in-process: follows
/// `authorize_url`'s redirects with a cookie jar, signs in as `alice`,
/// consents, and returns the final redirect location (the
/// `http://127.0.0.1:PORT/callback?code=..&state=..&iss=..` URL) WITHOUT
/// fetching it: hand it to the listener that waits for it, or to a paste parser.
pub fn play_user(authorize_url: &str) -> String {
    play(authorize_url, "alice", false)
}

/// As [`play_user`], signing in with another login name (it becomes `sub`).
pub fn play_user_as(authorize_url: &str, login: &str) -> String {
    play(authorize_url, login, false)
}

/// The user aborts at the first page: the location carries `error=access_denied`.
pub fn play_user_deny(authorize_url: &str) -> String {
    play(authorize_url, "alice", true)
}

fn play(authorize_url: &str, login: &str, deny: bool) -> String {
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(HTTP_TIMEOUT)
        .build()
        .expect("build reqwest client");
    let start = url::Url::parse(authorize_url).expect("authorize URL");
    let redirect_uri = start
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| url::Url::parse(&v).expect("redirect_uri"));
    // The callback is the redirect_uri (origin and path); without one in the
    // URL, whatever leaves the provider's origin.
    let is_callback = |u: &url::Url| match &redirect_uri {
        Some(r) => u.origin() == r.origin() && u.path() == r.path(),
        None => u.origin() != start.origin(),
    };

    let mut url = start.clone();
    let mut form: Option<Vec<(&str, &str)>> = None;
    for _ in 0..30 {
        let request = match form.take() {
            Some(fields) => client.post(url.clone()).form(&fields),
            None => client.get(url.clone()),
        };
        let response = request
            .send()
            .unwrap_or_else(|e| panic!("play_user: {url}: {e}"));
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("play_user: {status} without Location from {url}"));
            url = url.join(location).expect("Location is a URL");
            if is_callback(&url) {
                return url.to_string();
            }
            continue;
        }
        let body = response.text().unwrap_or_default();
        assert!(
            status.is_success(),
            "play_user: {url} answered {status}: {body}"
        );
        // /interaction/<uid>: the login page, then the consent page.
        assert!(
            url.path().starts_with("/interaction/"),
            "play_user: unexpected page {url}: {body}"
        );
        if deny {
            url = url.join(&format!("{}/abort", url.path())).unwrap();
        } else if body.contains(r#"name="prompt" value="login""#) {
            form = Some(vec![
                ("prompt", "login"),
                ("login", login),
                ("password", "any-password"),
            ]);
        } else if body.contains(r#"name="prompt" value="consent""#) {
            form = Some(vec![("prompt", "consent")]);
        } else {
            panic!("play_user: neither login nor consent at {url}: {body}");
        }
    }
    panic!("play_user: no callback after 30 steps from {authorize_url}");
}

// ---------------------------------------------------------------------------
// FakeServer
// ---------------------------------------------------------------------------

/// One request as the [`FakeServer`] received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The path without the query, e.g. `/token`.
    pub path: String,
    /// The raw query string without `?` (empty if none).
    pub query: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A field of an `application/x-www-form-urlencoded` body.
    pub fn form(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// A query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// A reply's status, headers and body.
type ReplyParts = (u16, Vec<(String, String)>, Vec<u8>);

/// What the [`FakeServer`] does with a request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A JSON body with `Content-Type: application/json`.
    Json(u16, Value),
    /// `Text(status, content_type, body)`.
    Text(u16, String, String),
    /// `Raw(status, headers, body)`: exactly these headers (plus
    /// `Content-Length` unless given, or `Transfer-Encoding` is, and
    /// `Connection: close`), and these bytes.
    Raw(u16, Vec<(String, String)>, Vec<u8>),
    /// Hold the connection without answering, then drop it.
    Hang(Duration),
    /// Drop the connection without any response.
    Close,
}

impl Reply {
    /// Status, headers and body; Hang and Close have none (given back).
    fn parts(self) -> Result<ReplyParts, Reply> {
        match self {
            Reply::Json(status, value) => Ok((
                status,
                vec![("Content-Type".into(), "application/json".into())],
                value.to_string().into_bytes(),
            )),
            Reply::Text(status, content_type, body) => Ok((
                status,
                vec![("Content-Type".into(), content_type)],
                body.into_bytes(),
            )),
            Reply::Raw(status, headers, body) => Ok((status, headers, body)),
            other => Err(other),
        }
    }

    /// Adds a header (Json and Text become Raw). No effect on Hang and Close.
    pub fn with_header(self, name: &str, value: &str) -> Reply {
        let (status, mut headers, body) = match self.parts() {
            Ok(parts) => parts,
            Err(other) => return other,
        };
        headers.push((name.into(), value.into()));
        Reply::Raw(status, headers, body)
    }
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync + 'static;

/// A scripted HTTP/1.1 server on 127.0.0.1:0. Each connection carries one
/// request and is closed after the reply (`Connection: close`). Every request
/// is recorded before the handler runs. Stops on drop.
///
/// Built on std::net rather than tiny_http: tiny_http answers 500 for a
/// request dropped unanswered and keeps the connection open, so it cannot
/// produce [`Reply::Close`] or a true [`Reply::Hang`].
pub struct FakeServer {
    acceptor: Acceptor,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeServer {
    pub fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let requests = Arc::clone(&requests);
            Acceptor::start(move |stream| serve_one(stream, &requests, &handler))
        };
        FakeServer { acceptor, requests }
    }

    pub fn port(&self) -> u16 {
        self.acceptor.addr().port()
    }

    /// `url("/token")` -> `http://127.0.0.1:PORT/token`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.acceptor.addr(), path)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests had this path (query excluded).
    pub fn count(&self, path: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .count()
    }
}

/// Connections accepted on 127.0.0.1:0, each served on a thread of its
/// own, until dropped.
pub struct Acceptor {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Acceptor {
    pub fn start(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let serve = Arc::new(serve);
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let serve = Arc::clone(&serve);
                    std::thread::spawn(move || serve(stream));
                }
            })
        };
        Acceptor {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag. Connections still held by
        // Hang replies end on their own when their time is up.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_one(mut stream: TcpStream, requests: &Mutex<Vec<Recorded>>, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(HTTP_TIMEOUT));
    let Some(recorded) = read_request(&stream) else {
        return; // not HTTP, or the client went away (e.g. the Drop wake-up)
    };
    requests.lock().unwrap().push(recorded.clone());
    let head_only = recorded.method == "HEAD";
    match handler(&recorded) {
        Reply::Hang(duration) => {
            std::thread::sleep(duration);
            // dropping the stream closes it, unanswered
        }
        Reply::Close => {
            let _ = stream.shutdown(Shutdown::Both);
        }
        reply => {
            write_reply(&mut stream, reply, head_only);
            let _ = stream.shutdown(Shutdown::Write);
        }
    }
}

/// Writes `reply` (not Hang or Close) as an HTTP/1.1 response.
pub fn write_reply(out: &mut impl Write, reply: Reply, head_only: bool) {
    let Ok((status, headers, body)) = reply.parts() else {
        panic!("Hang and Close are not written")
    };
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has("content-length") && !has("transfer-encoding") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if !has("connection") {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let _ = out.write_all(head.as_bytes());
    if !head_only {
        let _ = out.write_all(&body);
    }
    let _ = out.flush();
}

/// Reads one HTTP/1.1 request: request line, headers, and a body framed by
/// Content-Length or chunked encoding.
pub fn read_request(stream: impl Read) -> Option<Recorded> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2]; // data + CRLF
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break; // (trailers are not supported)
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = find("content-length") {
        let length: usize = length.parse().ok()?;
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (target, String::new()),
    };
    Some(Recorded {
        method,
        path,
        query,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// A throw-away HOME to run the `planopticon` CLI in.
pub struct Home(pub tempfile::TempDir);

impl Home {
    pub fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    /// A HOME whose `~/.planopticon/services.toml` holds `services_toml`.
    pub fn with_services(services_toml: &str) -> Self {
        let h = Self::new();
        std::fs::write(h.po().join("services.toml"), services_toml).unwrap();
        h
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// `~/.planopticon`, made if missing.
    pub fn po(&self) -> PathBuf {
        let p = self.path().join(".planopticon");
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// The CLI with only this HOME, PATH and `env`: no provider variables,
    /// BROWSER or DISPLAY leak in from the machine; stdin is null.
    pub fn cmd(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = self.program(env!("CARGO_BIN_EXE_planopticon"), env);
        c.args(args);
        c
    }

    /// `program` with only PATH, HOME (this one) and `env` in its
    /// environment, and nothing on stdin.
    pub fn program(&self, program: &str, env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        c
    }
}

/// A saved token has every field the Python tool reads back.
pub fn assert_python_fields(saved: &Value) {
    for field in [
        "access_token",
        "refresh_token",
        "expires_at",
        "client_id",
        "client_secret",
    ] {
        assert!(saved.get(field).is_some(), "{field} missing from {saved}");
    }
}

/// A HOME whose `[acme]` signs in at `fake` (client `cid`, no secret) and
/// holds an acme token that expired long ago, with refresh token `rt-1`;
/// and that token file.
pub fn home_with_expired_acme(fake: &FakeServer) -> (Home, PathBuf) {
    let home = Home::with_services(&format!(
        "[acme]\noauth_authorize_url = \"{0}\"\noauth_token_url = \"{1}\"\nclient_id = \"cid\"\n",
        fake.url("/authorize"),
        fake.url("/token")
    ));
    let token = home.po().join("acme_token.json");
    let saved = serde_json::json!({"access_token": "old", "refresh_token": "rt-1", "expires_at": 1000.0, "client_id": "cid"});
    std::fs::write(&token, saved.to_string()).unwrap();
    (home, token)
}

/// Options for a sign-in as the app runs it: the authorization URL and how
/// the person signs in come out through `on_prompt` to the returned receiver (for
/// the test's "user"); no browser is opened; the sender cancels or pastes.
pub fn app_options(
    timeout: Duration,
) -> (
    planopticon::AuthOptions,
    mpsc::Sender<planopticon::Control>,
    mpsc::Receiver<(String, planopticon::SignIn)>,
) {
    let (ctl_tx, ctl_rx) = mpsc::channel();
    let (url_tx, url_rx) = mpsc::channel();
    let url_tx = Mutex::new(url_tx);
    let mut opts =
        planopticon::AuthOptions::with_interaction(planopticon::Interaction::App(ctl_rx));
    opts.open_browser = false;
    opts.timeout = timeout;
    opts.on_prompt = Some(Box::new(move |p: &planopticon::Prompt| {
        let _ = url_tx.lock().unwrap().send((p.url.to_string(), p.sign_in));
    }));
    (opts, ctl_tx, url_rx)
}

/// Where a browser comes back to from `authorize_url` with `code`: its
/// `redirect_uri` with the code and `state` (the request's unless given).
pub fn redirect_back(authorize_url: &str, code: &str, state: Option<&str>) -> url::Url {
    let url = url::Url::parse(authorize_url).unwrap();
    let q = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no {k} in {authorize_url}"))
    };
    let mut back = url::Url::parse(&q("redirect_uri")).unwrap();
    back.query_pairs_mut()
        .append_pair("code", code)
        .append_pair("state", state.unwrap_or(&q("state")));
    back
}

/// Plays the person at another device in a CLI device sign-in: reads the
/// CLI's stdout until it shows the code, then approves it (`action`
/// "approve") or denies it ("deny") in the fake browser. Returns the rest
/// of stdout and the finished process (its stderr).
pub fn answer_device_code(mut child: Child, action: &str) -> (Vec<String>, std::process::Output) {
    let mut lines = BufReader::new(child.stdout.take().expect("stdout piped")).lines();
    let prompt = lines
        .by_ref()
        .map(|l| l.unwrap())
        .find(|l| l.contains("enter the code"))
        .expect("the CLI shows the code");
    // "To authorize PlanOpticon (acme), open URI and enter the code CODE"
    let words: Vec<&str> = prompt.split_whitespace().collect();
    let uri = words[words.iter().position(|w| *w == "open").unwrap() + 1];
    let answer = Command::new(browser_program())
        .args(["--device", uri, words.last().unwrap()])
        .env("TEST_BROWSER_ACTION", action)
        .output()
        .unwrap();
    assert_success(&answer);
    let rest = lines.map(|l| l.unwrap()).collect();
    (rest, child.wait_with_output().unwrap())
}

/// A fresh 2048-bit RSA private key in PEM at `pem`, made by `openssl`.
pub fn rsa_test_key(pem: &Path) {
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(pem)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl makes a test key");
}

/// The entry of `service` in a JSON list of services (`status --json`,
/// `refresh --json`).
pub fn service_entry(all: &Value, service: &str) -> Value {
    all.as_array()
        .unwrap_or_else(|| panic!("not a list: {all}"))
        .iter()
        .find(|x| x["service"] == service)
        .unwrap_or_else(|| panic!("no {service} in {all}"))
        .clone()
}

/// A [`FakeServer`] that answers every request with `body` (a token
/// endpoint's reply, say) as JSON with status 200.
pub fn json_server(body: Value) -> FakeServer {
    FakeServer::start(move |_| Reply::Json(200, body.clone()))
}

/// Asserts that a finished program succeeded, showing its stderr if not.
pub fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A query parameter of `url`.
pub fn url_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A number from the environment (a test's length, say), else `default`.
pub fn env_number(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A `BROWSER` program that writes down the URL it is given in
/// `browser.log` in `home`, then runs the shell line `then` (`"$1"` is the
/// URL); the program's path, and the log's.
pub fn browser_script(home: &Home, then: &str) -> (String, PathBuf) {
    let log = home.path().join("browser.log");
    let script = home.path().join("browser.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n{then}\n",
            log.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (script.to_str().unwrap().to_string(), log)
}

/// A confidential client `service` at `fake` (`/authorize`, `/token`,
/// client `cid` with `secret`), its token file in `dir`.
pub fn fake_client(
    service: &str,
    fake: &FakeServer,
    secret: &str,
    dir: &Path,
) -> planopticon::AuthConfig {
    let mut c = planopticon::AuthConfig::new(service);
    c.oauth_authorize_url = Some(fake.url("/authorize"));
    c.oauth_token_url = Some(fake.url("/token"));
    c.client_id = Some("cid".into());
    c.client_secret = Some(secret.into());
    c.token_path = Some(dir.join(format!("{service}_token.json")));
    c
}

/// A manager of `c` without the keyring, giving up on a request after 1 s.
pub fn manager(c: planopticon::AuthConfig) -> planopticon::OAuthManager {
    planopticon::OAuthManager::with_keyring(c, false)
        .with_transport(planopticon::Transport::with_timeout(Duration::from_secs(1)).unwrap())
}

/// A HOME whose `[zoom]` gets its tokens at `token_url`.
pub fn zoom_home(token_url: &str) -> Home {
    Home::with_services(&format!("[zoom]\noauth_token_url = \"{token_url}\"\n"))
}
