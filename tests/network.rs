//! Sign-in from behind a company proxy and TLS inspection: the CLI's token
//! request against an HTTPS provider whose certificate comes from a private
//! CA (trusted once installed with update-ca-certificates, or named by
//! SSL_CERT_FILE / SSL_CERT_DIR; refused with advice otherwise), and through a real proxy (Debian's tinyproxy, which
//! scripts/install-deps.sh installs): HTTP_PROXY / HTTPS_PROXY / ALL_PROXY
//! in either case, NO_PROXY, and a proxy that wants a password.
//!
//! Everything listens on 127.0.0.1 and is stopped by the test that started it.
//!
//! How a test knows the proxy carried a request: the HTTP client does not
//! treat loopback specially (a proxy applies to 127.0.0.1 unless NO_PROXY
//! names it, as with curl), so the provider can stay on 127.0.0.1. For an
//! http:// provider tinyproxy adds a `Via: 1.1 tinyproxy` header, which the
//! fake provider records; for an https:// one the request is a CONNECT
//! tunnel, which tinyproxy writes in its log.

mod support;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use support::*;

const PROXY_USER: &str = "proxy-user";
const PROXY_PASSWORD: &str = "Pr0xy-Pa55-never-logged";
const SUCCESS: &str = "Acme authentication successful (client_credentials).";
const TOKEN: &str = "net-access-token";

// ---------------------------------------------------------------------------
// A private CA, and a server certificate for 127.0.0.1 / localhost
// ---------------------------------------------------------------------------

struct Pki {
    dir: tempfile::TempDir,
    /// The CA certificate, PEM.
    ca_pem: PathBuf,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
}

impl Pki {
    fn new() -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "PlanOpticon test inspection CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let mut leaf =
            CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        leaf.use_authority_key_identifier_extension = true;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let ca_pem = dir.path().join("inspection-ca.pem");
        std::fs::write(&ca_pem, ca_cert.pem()).unwrap();
        Pki {
            dir,
            ca_pem,
            server_chain: vec![leaf_cert.der().clone()],
            server_key: leaf_key.serialize_der(),
        }
    }

    fn ca_pem(&self) -> &str {
        self.ca_pem.to_str().unwrap()
    }
}

// ---------------------------------------------------------------------------
// An HTTPS token endpoint on 127.0.0.1
// ---------------------------------------------------------------------------

/// A token endpoint over TLS (rustls) on 127.0.0.1:0: one request per
/// connection, answered with a bearer token. Counts the requests that got
/// through the handshake. Stops on drop.
struct TlsProvider {
    acceptor: Acceptor,
    requests: Arc<AtomicUsize>,
}

impl TlsProvider {
    fn start(pki: &Pki) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                pki.server_chain.clone(),
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone())),
            )
            .unwrap();
        let config = Arc::new(config);
        let requests = Arc::new(AtomicUsize::new(0));
        let acceptor = {
            let requests = Arc::clone(&requests);
            Acceptor::start(move |stream| serve_tls(stream, Arc::clone(&config), &requests))
        };
        TlsProvider { acceptor, requests }
    }

    fn port(&self) -> u16 {
        self.acceptor.addr().port()
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{}", self.acceptor.addr(), path)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve_tls(stream: TcpStream, config: Arc<rustls::ServerConfig>, requests: &AtomicUsize) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, stream);
    // The handshake happens on first read; a client that refuses our
    // certificate ends it here with an alert.
    let Some(request) = read_request(&mut tls) else {
        return;
    };
    if (request.method.as_str(), request.path.as_str()) != ("POST", "/token") {
        return;
    }
    requests.fetch_add(1, Ordering::SeqCst);
    write_reply(&mut tls, token_reply(), false);
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

/// The token both endpoints answer with.
fn token_reply() -> Reply {
    Reply::Json(
        200,
        json!({"access_token": TOKEN, "token_type": "bearer", "expires_in": 3600}),
    )
}

/// A plain-http token endpoint on 127.0.0.1 that records each request.
fn http_provider() -> FakeServer {
    FakeServer::start(|_| token_reply())
}

// ---------------------------------------------------------------------------
// tinyproxy on 127.0.0.1
// ---------------------------------------------------------------------------

/// `tinyproxy -d` (foreground) with its own config and log in a temp dir,
/// killed on drop.
struct Tinyproxy {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Tinyproxy {
    /// A proxy for plain HTTP and for CONNECT to any port (tinyproxy
    /// allows every port when the config has no `ConnectPort` line); with
    /// `BasicAuth PROXY_USER PROXY_PASSWORD` when `auth`.
    fn start(auth: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // tinyproxy cannot take port 0: pick a free one and hand it over.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 20\nAllow 127.0.0.1\n\
             LogFile \"{}\"\nLogLevel Info\n",
            dir.path().join("tinyproxy.log").display()
        );
        if auth {
            conf.push_str(&format!("BasicAuth {PROXY_USER} {PROXY_PASSWORD}\n"));
        }
        let conf_path = dir.path().join("tinyproxy.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run tinyproxy (scripts/install-deps.sh installs it)");
        let mut proxy = Tinyproxy { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("tinyproxy exited ({status}); its log:\n{}", proxy.log());
            }
            assert!(
                Instant::now() < deadline,
                "tinyproxy did not listen on {port}; its log:\n{}",
                proxy.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        proxy
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn url_with_credentials(&self, password: &str) -> String {
        format!("http://{PROXY_USER}:{password}@127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tinyproxy.log")).unwrap_or_default()
    }

    /// Requests tinyproxy received, e.g. `CONNECT 127.0.0.1:PORT HTTP/1.1`
    /// or `POST http://127.0.0.1:PORT/token HTTP/1.1`.
    fn requests(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|l| l.split_once("): ").filter(|_| l.contains("Request (")))
            .map(|(_, r)| r.to_string())
            .collect()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- tinyproxy log ---\n{}\n---", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// The CLI
// ---------------------------------------------------------------------------

/// A HOME whose `[acme]` signs in server-to-server at `token_url` (the
/// authorize URL is never visited).
fn s2s_home(token_url: &str) -> Home {
    Home::with_services(&format!(
        "[acme]\noauth_authorize_url = \"{token_url}/../authorize\"\noauth_token_url = \"{token_url}\"\nclient_id = \"cid\"\nclient_secret = \"csecret\"\nserver_grant = \"client_credentials\"\n"
    ))
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    fn assert_success(&self) {
        assert!(self.ok, "{}", self.all());
        assert!(self.stdout.contains(SUCCESS), "{}", self.all());
    }
}

/// `planopticon [args] auth acme` in `home` with only `env` (plus HOME,
/// PATH and a short timeout).
fn auth(home: &Home, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut argv = args.to_vec();
    argv.extend(["auth", "acme"]);
    let out = home
        .cmd(&argv, env)
        .env("PLANOPTICON_HTTP_TIMEOUT", "10")
        .output()
        .expect("run planopticon");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn saved_token(home: &Home) -> serde_json::Value {
    let text = std::fs::read_to_string(home.po().join("acme_token.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn assert_no_token(home: &Home) {
    assert!(!home.po().join("acme_token.json").exists());
}

// ---------------------------------------------------------------------------
// TLS: a private CA
// ---------------------------------------------------------------------------

#[test]
fn an_untrusted_certificate_is_named_with_how_to_add_a_ca() {
    let pki = Pki::new();
    let provider = TlsProvider::start(&pki);
    let home = s2s_home(&provider.url("/token"));
    let run = auth(&home, &[], &[]);
    assert!(!run.ok, "{}", run.all());
    assert!(
        run.stderr.contains(&format!(
            "could not reach {} for the client credentials grant: the server's certificate is not trusted (UnknownIssuer). \
             If your network inspects TLS, add its CA: install it with update-ca-certificates, \
             or set SSL_CERT_FILE to a PEM file holding it.",
            provider.url("/token")
        )),
        "{}",
        run.stderr
    );
    assert_eq!(provider.requests(), 0, "no request past the handshake");
    assert_no_token(&home);
}

#[test]
fn ssl_cert_file_adds_a_trusted_ca() {
    let pki = Pki::new();
    let provider = TlsProvider::start(&pki);
    let home = s2s_home(&provider.url("/token"));
    let run = auth(&home, &[], &[("SSL_CERT_FILE", pki.ca_pem())]);
    run.assert_success();
    assert_eq!(provider.requests(), 1);
    assert_eq!(saved_token(&home)["access_token"], TOKEN);
}

#[test]
fn ssl_cert_dir_adds_the_certificates_of_its_files() {
    let pki = Pki::new();
    let provider = TlsProvider::start(&pki);
    let home = s2s_home(&provider.url("/token"));
    // rustls-native-certs reads every regular file of each directory as
    // PEM (no `openssl rehash` names needed); other files are skipped.
    let dir = pki.dir.path().join("certs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(&pki.ca_pem, dir.join("company-ca.pem")).unwrap();
    std::fs::write(dir.join("README"), "not a certificate\n").unwrap();
    let dirs = format!(
        "{}:{}",
        pki.dir.path().join("none").display(),
        dir.display()
    );
    let run = auth(&home, &[], &[("SSL_CERT_DIR", &dirs)]);
    run.assert_success();
    assert_eq!(provider.requests(), 1);
}

/// A company CA installed the Debian way (`update-ca-certificates`) is
/// trusted with no variable set. The install happens in a private mount
/// namespace (`unshare --mount`, root only): a copy of /etc/ssl/certs, the
/// local CA folder and an empty hooks folder are mounted over the real
/// ones for the one CLI run, so the machine's store is never changed.
#[test]
fn a_ca_installed_in_the_system_store_is_trusted() {
    let probe = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: needs `unshare --mount` (root) to install a CA in a private namespace");
        return;
    }
    let pki = Pki::new();
    let provider = TlsProvider::start(&pki);
    let home = s2s_home(&provider.url("/token"));
    let work = pki.dir.path();
    for d in ["certs", "local", "hooks"] {
        std::fs::create_dir(work.join(d)).unwrap();
    }
    let script = r#"set -e
W="$1"
cp -a /etc/ssl/certs/. "$W/certs/"
cp -a /usr/local/share/ca-certificates/. "$W/local/"
cp "$W/inspection-ca.pem" "$W/local/planopticon-test-inspection-ca.crt"
mount --bind "$W/certs" /etc/ssl/certs
mount --bind "$W/local" /usr/local/share/ca-certificates
if [ -d /etc/ca-certificates/update.d ]; then mount --bind "$W/hooks" /etc/ca-certificates/update.d; fi
update-ca-certificates >/dev/null
grep -c 'BEGIN CERTIFICATE' /etc/ssl/certs/ca-certificates.crt >/dev/null
exec "$2" auth acme
"#;
    let out = home
        .program("unshare", &[("PLANOPTICON_HTTP_TIMEOUT", "10")])
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(work)
        .arg(env!("CARGO_BIN_EXE_planopticon"))
        .output()
        .unwrap();
    let run = Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    run.assert_success();
    assert_eq!(provider.requests(), 1);
    // Outside the namespace the CA is still unknown.
    let run = auth(&s2s_home(&provider.url("/token")), &[], &[]);
    assert!(run.stderr.contains("(UnknownIssuer)"), "{}", run.all());
}

#[test]
fn an_ssl_cert_file_that_is_not_there_is_named() {
    let pki = Pki::new();
    let provider = TlsProvider::start(&pki);
    let home = s2s_home(&provider.url("/token"));
    let missing = pki.dir.path().join("typo.pem");
    let run = auth(&home, &[], &[("SSL_CERT_FILE", missing.to_str().unwrap())]);
    assert!(!run.ok, "{}", run.all());
    assert!(
        run.stderr.contains(&format!(
            "the server's certificate is not trusted (UnknownIssuer). SSL_CERT_FILE names {}, which is not a file. If your network inspects TLS",
            missing.display()
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn an_ssl_cert_file_without_a_usable_certificate_is_named() {
    let pki = Pki::new();
    let provider = TlsProvider::start(&pki);
    let home = s2s_home(&provider.url("/token"));
    let bad = pki.dir.path().join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let run = auth(&home, &[], &[("SSL_CERT_FILE", bad.to_str().unwrap())]);
    assert!(!run.ok, "{}", run.all());
    assert!(
        run.stderr.contains(&format!(
            "could not start the HTTP client: zero valid certificates found in native root store; \
             check the PEM certificates in SSL_CERT_FILE={}",
            bad.display()
        )),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------
// Proxies
// ---------------------------------------------------------------------------

fn via_tinyproxy(r: &Recorded) -> bool {
    r.header("via").is_some_and(|v| v.contains("tinyproxy"))
}

#[test]
fn http_proxy_carries_the_token_request_in_either_case() {
    let proxy = Tinyproxy::start(false);
    let provider = http_provider();
    for var in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        let home = s2s_home(&provider.url("/token"));
        let run = auth(&home, &[], &[(var, &proxy.url())]);
        run.assert_success();
        let last = provider.requests().pop().unwrap();
        assert!(via_tinyproxy(&last), "{var}: {last:?}");
    }
    assert_eq!(provider.count("/token"), 4);
    let through = proxy
        .requests()
        .iter()
        .filter(|r| r.starts_with(&format!("POST {} ", provider.url("/token"))))
        .count();
    assert_eq!(through, 4, "{:?}", proxy.requests());
}

#[test]
fn no_proxy_bypasses_the_proxy_in_either_case() {
    let proxy = Tinyproxy::start(false);
    let provider = http_provider();
    for (var, hosts) in [
        ("NO_PROXY", "127.0.0.1"),
        ("no_proxy", "example.org, 127.0.0.0/8"),
    ] {
        let home = s2s_home(&provider.url("/token"));
        let run = auth(&home, &[], &[("HTTP_PROXY", &proxy.url()), (var, hosts)]);
        run.assert_success();
        let last = provider.requests().pop().unwrap();
        assert!(!via_tinyproxy(&last), "{var}={hosts}: {last:?}");
    }
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
}

#[test]
fn https_proxy_tunnels_to_a_tls_provider_in_either_case() {
    let pki = Pki::new();
    let provider = TlsProvider::start(&pki);
    let proxy = Tinyproxy::start(false);
    for var in ["HTTPS_PROXY", "https_proxy"] {
        let home = s2s_home(&provider.url("/token"));
        let run = auth(
            &home,
            &[],
            &[(var, &proxy.url()), ("SSL_CERT_FILE", pki.ca_pem())],
        );
        run.assert_success();
    }
    // An http proxy setting is not used for https.
    let home = s2s_home(&provider.url("/token"));
    let run = auth(
        &home,
        &[],
        &[
            ("HTTP_PROXY", &proxy.url()),
            ("SSL_CERT_FILE", pki.ca_pem()),
        ],
    );
    run.assert_success();
    assert_eq!(provider.requests(), 3);
    let connect = format!("CONNECT 127.0.0.1:{} ", provider.port());
    let tunnels = proxy
        .requests()
        .iter()
        .filter(|r| r.starts_with(&connect))
        .count();
    assert_eq!(tunnels, 2, "{:?}", proxy.requests());
}

const PROXY_AUTH_ADVICE: &str = "the proxy asks for credentials (HTTP 407): put them in the proxy URL, e.g. HTTPS_PROXY=http://user:password@host:port";

/// https through a proxy wanting credentials: tinyproxy refuses the CONNECT
/// tunnel with 407 without credentials, and with 401 (where 407 is the
/// standard) for a wrong password.
#[test]
fn a_proxy_asking_for_credentials_is_said_so() {
    let proxy = Tinyproxy::start(true);
    let pki = Pki::new();
    let provider = TlsProvider::start(&pki);
    let wrong = proxy.url_with_credentials("wrong-password");
    let refused = "the proxy refused to open a tunnel to this host: check the credentials in the proxy URL, and that the proxy allows this host and port";
    let shown = format!("http://{PROXY_USER}:***@127.0.0.1:{}", proxy.port);
    for (args, proxy_url, shown, words) in [
        (&[][..], proxy.url(), proxy.url(), PROXY_AUTH_ADVICE),
        (&["-v"][..], wrong, shown, refused),
    ] {
        let home = s2s_home(&provider.url("/token"));
        let run = auth(
            &home,
            args,
            &[("HTTPS_PROXY", &proxy_url), ("SSL_CERT_FILE", pki.ca_pem())],
        );
        assert!(!run.ok, "{}", run.all());
        assert!(
            run.stderr.contains(&format!(
                "could not reach {} for the client credentials grant: {words} \
                 (via the proxy {shown} from HTTPS_PROXY).",
                provider.url("/token")
            )),
            "{}",
            run.stderr
        );
        assert!(!run.all().contains("wrong-password"), "{}", run.all());
        assert_no_token(&home);
    }
    assert_eq!(provider.requests(), 0);
    let tunnels = proxy.requests();
    assert_eq!(tunnels.len(), 2, "{tunnels:?}");
    assert!(
        tunnels.iter().all(|r| r.starts_with("CONNECT ")),
        "{tunnels:?}"
    );
}

/// A proxy that is not there is named, its password hidden; NO_PROXY
/// still goes direct.
#[test]
fn an_unreachable_proxy_is_named_without_its_password() {
    let provider = http_provider();
    // A port nothing listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy_url = format!("http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{port}");
    let home = s2s_home(&provider.url("/token"));
    let run = auth(&home, &["-v"], &[("all_proxy", &proxy_url)]);
    assert!(!run.ok, "{}", run.all());
    assert!(
        run.stderr.contains(&format!(
            "could not reach {} for the client credentials grant: Connection refused (os error 111) \
             (via the proxy http://{PROXY_USER}:***@127.0.0.1:{port} from all_proxy).",
            provider.url("/token")
        )),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains(PROXY_PASSWORD), "{}", run.all());
    assert_eq!(provider.count("/token"), 0);

    let run = auth(
        &home,
        &[],
        &[("all_proxy", &proxy_url), ("no_proxy", "127.0.0.1")],
    );
    run.assert_success();
}

/// http through a proxy wanting credentials: the proxy answers the request
/// itself with 407. tinyproxy closes the connection without reading the
/// POST body, so the client sees a reset instead of the reply (a proxy
/// that reads the body, as Squid does, gets its 407 through): a scripted
/// proxy shows what the person reads then.
#[test]
fn a_407_reply_to_a_proxied_http_request_is_said_so() {
    let proxy = FakeServer::start(|_| {
        Reply::Text(
            407,
            "text/html".into(),
            "<html><body>Proxy Authentication Required</body></html>".into(),
        )
        .with_header("Proxy-Authenticate", "Basic realm=\"corp\"")
    });
    let provider = http_provider();
    let home = s2s_home(&provider.url("/token"));
    let run = auth(&home, &[], &[("http_proxy", &proxy.url(""))]);
    assert!(!run.ok, "{}", run.all());
    assert!(
        run.stderr.contains(&format!(
            "could not reach {} for the client credentials grant: {PROXY_AUTH_ADVICE} \
             (via the proxy {} from http_proxy).",
            provider.url("/token"),
            proxy.url("")
        )),
        "{}",
        run.stderr
    );
    // It went to the proxy, in absolute form, and not to the provider.
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, provider.url("/token"));
    assert_eq!(provider.count("/token"), 0);
    assert_no_token(&home);
}

#[test]
fn proxy_credentials_in_the_url_work_and_the_password_is_never_shown() {
    let proxy = Tinyproxy::start(true);
    let with_password = proxy.url_with_credentials(PROXY_PASSWORD);
    let redacted = format!("http://{PROXY_USER}:***@127.0.0.1:{}", proxy.port);

    // http, through the proxy (upper case), with debug logging.
    let provider = http_provider();
    let home = s2s_home(&provider.url("/token"));
    let run = auth(&home, &["-v"], &[("HTTP_PROXY", &with_password)]);
    run.assert_success();
    assert!(via_tinyproxy(&provider.requests()[0]));
    // The debug log names the proxy, redacted.
    assert!(
        run.stderr
            .contains(&format!("proxy for http: {redacted} (from HTTP_PROXY)")),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains(PROXY_PASSWORD), "{}", run.all());

    // https, tunnelled (lower case), with debug logging.
    let pki = Pki::new();
    let tls = TlsProvider::start(&pki);
    let tls_home = s2s_home(&tls.url("/token"));
    let run = auth(
        &tls_home,
        &["-v"],
        &[
            ("https_proxy", &with_password),
            ("SSL_CERT_FILE", pki.ca_pem()),
        ],
    );
    run.assert_success();
    assert_eq!(tls.requests(), 1);
    assert!(
        run.stderr
            .contains(&format!("proxy for https: {redacted} (from https_proxy)")),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains(PROXY_PASSWORD), "{}", run.all());

    // Nor in what was saved.
    for h in [&home, &tls_home] {
        let saved = saved_token(h).to_string();
        assert!(!saved.contains(PROXY_PASSWORD), "{saved}");
    }
    // The proxy saw both.
    let seen = proxy.requests();
    assert!(
        seen.iter()
            .any(|r| r.starts_with(&format!("POST {} ", provider.url("/token")))),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|r| r.starts_with(&format!("CONNECT 127.0.0.1:{} ", tls.port()))),
        "{seen:?}"
    );
}

/// The library's description of the setup, for the app's Network section,
/// with the same environment the CLI runs got.
#[test]
fn the_network_description_for_the_app() {
    let pki = Pki::new();
    let env = [
        (
            "HTTPS_PROXY",
            format!("http://u:{PROXY_PASSWORD}@127.0.0.1:3128"),
        ),
        ("no_proxy", "localhost,127.0.0.1".to_string()),
        ("SSL_CERT_FILE", pki.ca_pem().to_string()),
    ];
    let setup = planopticon::network::describe_from(|name| {
        env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    });
    let https = setup.https_proxy.as_ref().unwrap();
    assert_eq!(https.url, "http://u:***@127.0.0.1:3128");
    assert!(https.with_credentials);
    assert_eq!(setup.http_proxy, None);
    assert_eq!(setup.no_proxy.as_deref(), Some("localhost,127.0.0.1"));
    assert!(setup.ca_file.as_ref().unwrap().exists);
    assert!(!setup.system_store);
    let json = serde_json::to_value(&setup).unwrap();
    assert_eq!(json["https_proxy"]["variable"], "HTTPS_PROXY");
    assert!(!json.to_string().contains(PROXY_PASSWORD));
}
