//! How an authorization code comes back: a loopback listener on 127.0.0.1,
//! or the user pasting it (out-of-band).

pub mod loopback;
pub mod paste;

use std::time::{Duration, Instant};

use constant_time_eq::constant_time_eq;
use oauth2::{AuthorizationCode, CsrfToken};

pub use loopback::{LoopbackListener, WaitError, DEFAULT_TIMEOUT};

/// How the browser hands the code back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectMode {
    /// To a listener on 127.0.0.1.
    Loopback,
    /// The person pastes the code, or the address the browser ends on.
    Paste,
}

impl RedirectMode {
    /// `http://127.0.0.1...` (or `[::1]`, `localhost`) means loopback; anything else paste.
    pub fn for_uri(uri: &str) -> Self {
        match url::Url::parse(uri) {
            Ok(u)
                if u.scheme() == "http"
                    && matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")) =>
            {
                Self::Loopback
            }
            _ => Self::Paste,
        }
    }
}

impl std::str::FromStr for RedirectMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "loopback" => Ok(Self::Loopback),
            "paste" => Ok(Self::Paste),
            _ => Err(format!("{s:?}: use loopback or paste")),
        }
    }
}

/// What a person (through the app) can send to a waiting sign-in.
pub enum Control {
    Cancel,
    /// A pasted code, or the whole redirected URL.
    Paste(String),
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cancel => f.write_str("Cancel"),
            Self::Paste(_) => f.write_str("Paste([redacted])"),
        }
    }
}

/// What to accept on a callback.
#[derive(Debug)]
pub struct Expect {
    pub state: CsrfToken,
    /// The provider's issuer; a callback's `iss` must equal it (RFC 9207).
    pub issuer: Option<String>,
    /// The provider advertises `iss` on callbacks, so one without it is refused.
    pub require_iss: bool,
}

/// What a callback's query parameters amount to.
#[derive(Debug)]
pub enum Verdict {
    Code(AuthorizationCode),
    /// The provider's `error` / `error_description`, on a callback with our state.
    ProviderError {
        error: String,
        description: Option<String>,
    },
    /// Not our callback (wrong or missing state, wrong issuer, no code): ignored.
    Rejected(&'static str),
}

/// Checks a callback: our state (constant-time), the issuer when sent, then
/// either a code or the provider's error.
pub fn check_callback<'a>(
    params: impl IntoIterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
    expect: &Expect,
) -> Verdict {
    let (mut state, mut code, mut error, mut description, mut iss) = (None, None, None, None, None);
    for (k, v) in params {
        let slot = match k.as_ref() {
            "state" => &mut state,
            "code" => &mut code,
            "error" => &mut error,
            "error_description" => &mut description,
            "iss" => &mut iss,
            _ => continue,
        };
        if slot.is_some() {
            return Verdict::Rejected("a parameter is repeated");
        }
        *slot = Some(v.into_owned());
    }
    match state {
        None => return Verdict::Rejected("no state"),
        Some(s) if !constant_time_eq(s.as_bytes(), expect.state.secret().as_bytes()) => {
            return Verdict::Rejected("wrong state")
        }
        _ => {}
    }
    match (&iss, &expect.issuer) {
        (Some(iss), Some(expected))
            if iss.trim_end_matches('/') != expected.trim_end_matches('/') =>
        {
            return Verdict::Rejected("wrong issuer")
        }
        (None, _) if expect.require_iss => return Verdict::Rejected("no iss"),
        _ => {}
    }
    if let Some(error) = error {
        return Verdict::ProviderError { error, description };
    }
    match code.filter(|c| !c.is_empty()) {
        Some(c) => Verdict::Code(AuthorizationCode::new(c)),
        None => Verdict::Rejected("no code"),
    }
}

/// How long a browser program (BROWSER, xdg-open, wslview, cmd.exe) has to
/// fail: one that exits with an error within this time did not open the
/// page; one still running after it (a browser itself) is taken as opened.
pub const BROWSER_CHECK: Duration = Duration::from_secs(2);

/// WSL's marker of Windows interop (the Windows side's programs run here).
pub const WSL_INTEROP: &str = "/proc/sys/fs/binfmt_misc/WSLInterop";

/// A program to run to open a URL: the program, its arguments, and the
/// folder to run it in (cmd.exe warns about a Linux folder as a UNC path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrowserCommand {
    pub program: String,
    pub args: Vec<String>,
    pub dir: Option<std::path::PathBuf>,
}

impl BrowserCommand {
    fn new(program: &str, args: Vec<String>) -> Self {
        Self {
            program: program.into(),
            args,
            dir: None,
        }
    }
}

/// What separates the commands of a `BROWSER` list: the OS's path-list
/// separator, as Python's webbrowser reads it (`;` on Windows, where `:`
/// is in every path).
pub const BROWSER_LIST_SEPARATOR: char = if cfg!(windows) { ';' } else { ':' };

/// The programs that open `url` per a `BROWSER` value: a list (see
/// [`BROWSER_LIST_SEPARATOR`]) of commands where `%s` is the URL (or the
/// URL is appended), tried in order.
pub fn browser_var_commands(browser: &str, url: &str) -> Vec<BrowserCommand> {
    browser_list(browser, url, BROWSER_LIST_SEPARATOR)
}

fn browser_list(browser: &str, url: &str, separator: char) -> Vec<BrowserCommand> {
    browser
        .split(separator)
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .filter_map(|cmd| {
            let (program, rest) = program_and_rest(cmd)?;
            let mut args: Vec<String> = rest
                .split_whitespace()
                .map(|w| w.replace("%s", url))
                .collect();
            if !cmd.contains("%s") {
                args.push(url.to_string());
            }
            Some(BrowserCommand::new(program, args))
        })
        .collect()
}

/// A command's program and the rest: a program in double quotes (a path
/// with spaces, as Windows writes it), a whole command that is a file's
/// path, or the first word.
fn program_and_rest(cmd: &str) -> Option<(&str, &str)> {
    if let Some(quoted) = cmd.strip_prefix('"') {
        return quoted.split_once('"');
    }
    if std::path::Path::new(cmd).is_file() {
        return Some((cmd, ""));
    }
    let program = cmd.split_whitespace().next()?;
    Some((program, &cmd[program.len()..]))
}

/// Escapes what cmd.exe reads as its own syntax outside quotes (`&` would
/// end the command, `^|<>()` and `%` too), each with `^`.
///
/// Why not quote the URL instead: WSL's interop builds the Windows command
/// line from argv and quotes only arguments holding a space or a tab (or
/// empty ones), escaping an embedded `"` as `\"`, which cmd does not read;
/// a URL (no spaces) therefore reaches cmd unquoted, where `^` is cmd's
/// escape. The empty argument arrives as `""`: `start`'s window title, so
/// that the URL is not taken for one.
pub fn cmd_escape(url: &str) -> String {
    let mut out = String::with_capacity(url.len() + 8);
    for ch in url.chars() {
        if matches!(ch, '^' | '&' | '|' | '<' | '>' | '(' | ')' | '%' | '!') {
            out.push('^');
        }
        out.push(ch);
    }
    out
}

/// The Windows side's programs that open `url` from WSL, in order:
/// `wslview` (wslu) when installed, else `cmd.exe /c start "" URL` with the
/// URL escaped for cmd (see [`cmd_escape`]). `explorer.exe` is not used: it
/// opens a file window instead of a URL with a query (microsoft/WSL#3832)
/// and exits 1 even when it worked. A URL with a space or a quote (never
/// one of ours: they are percent-encoded) is not given to cmd.exe.
pub fn wsl_commands(url: &str, has_wslview: bool) -> Vec<BrowserCommand> {
    let mut out = Vec::new();
    if has_wslview {
        out.push(BrowserCommand::new("wslview", vec![url.to_string()]));
    }
    if !url.chars().any(|c| c.is_whitespace() || c == '"') {
        let mut cmd = BrowserCommand::new(
            "cmd.exe",
            vec!["/c".into(), "start".into(), String::new(), cmd_escape(url)],
        );
        cmd.dir = Some("/mnt/c".into());
        out.push(cmd);
    }
    out
}

/// Whether this is WSL: `WSL_DISTRO_NAME` set, or WSL's interop marker.
pub fn is_wsl(var: impl Fn(&str) -> Option<String>, interop_marker: bool) -> bool {
    var("WSL_DISTRO_NAME").is_some() || interop_marker
}

/// Why a browser could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The program could not be started (not found, not executable).
    NotStarted { program: String, cause: String },
    /// It ended with an error within [`BROWSER_CHECK`].
    Exited { program: String, status: String },
    /// The desktop's opener (xdg-open and its kin) failed.
    Desktop(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotStarted { program, cause } => {
                write!(f, "{program:?} could not be started: {cause}")
            }
            Self::Exited { program, status } => write!(f, "{program:?} failed ({status})"),
            Self::Desktop(why) => f.write_str(why),
        }
    }
}

/// A browser being opened: the outcome arrives within about
/// [`BROWSER_CHECK`] per program tried.
pub struct BrowserLaunch {
    rx: std::sync::mpsc::Receiver<Result<(), OpenError>>,
    outcome: std::cell::RefCell<Option<Result<(), OpenError>>>,
}

impl BrowserLaunch {
    /// The outcome when known, without waiting.
    pub fn poll(&self) -> Option<Result<(), OpenError>> {
        let mut known = self.outcome.borrow_mut();
        if known.is_none() {
            *known = self.rx.try_recv().ok();
        }
        known.clone()
    }

    /// Waits for the outcome.
    pub fn wait(self) -> Result<(), OpenError> {
        if let Some(o) = self.poll() {
            return o;
        }
        self.rx.recv().unwrap_or(Ok(()))
    }

    /// The failure, when it is known to have failed.
    pub fn failed(&self) -> Option<OpenError> {
        self.poll().and_then(|o| o.err())
    }
}

/// Opens `url` in the user's browser in the background: `BROWSER` when set,
/// else on WSL the Windows browser ([`wsl_commands`]), else the desktop's
/// default (xdg-open and its kin on Linux, `open` on macOS, the default
/// browser through ShellExecute on Windows). A program that cannot start, or exits
/// with an error within [`BROWSER_CHECK`], counts as a failure, and the next
/// one is tried.
pub fn launch_browser(url: &str) -> BrowserLaunch {
    let (tx, rx) = std::sync::mpsc::channel();
    let url = url.to_string();
    let browser = crate::config::env_value("BROWSER");
    // WSL is Linux; on Windows and macOS the desktop's opener is the OS's
    // own (ShellExecute's default browser, `open`).
    let wsl = cfg!(target_os = "linux")
        && is_wsl(
            crate::config::env_value,
            std::path::Path::new(WSL_INTEROP).exists(),
        );
    std::thread::spawn(move || {
        let outcome = match browser {
            Some(b) => run_first(&browser_var_commands(&b, &url)),
            None if wsl => {
                let has_wslview = which("wslview");
                run_first(&wsl_commands(&url, has_wslview)).or_else(|e| {
                    log::debug!("WSL browser: {e}; trying the desktop's opener");
                    desktop(&url)
                })
            }
            None => desktop(&url),
        };
        let _ = tx.send(outcome);
    });
    BrowserLaunch {
        rx,
        outcome: std::cell::RefCell::new(None),
    }
}

/// Opens `url` and waits to know whether that worked (up to about
/// [`BROWSER_CHECK`] per program tried).
pub fn open_browser(url: &str) -> Result<(), OpenError> {
    launch_browser(url).wait()
}

fn desktop(url: &str) -> Result<(), OpenError> {
    open::that_detached_with_timeout(url, BROWSER_CHECK)
        .map_err(|e| OpenError::Desktop(format!("no browser could be opened: {e}")))
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path)
            .any(|dir| std::fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file()))
    })
}

/// Runs each in turn until one does not fail; the last failure otherwise.
fn run_first(commands: &[BrowserCommand]) -> Result<(), OpenError> {
    let mut last = OpenError::Desktop("no browser program to run".into());
    for c in commands {
        match run(c) {
            Ok(()) => return Ok(()),
            Err(e) => {
                log::debug!("browser: {e}");
                last = e;
            }
        }
    }
    Err(last)
}

fn run(c: &BrowserCommand) -> Result<(), OpenError> {
    let mut cmd = std::process::Command::new(&c.program);
    cmd.args(&c.args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(dir) = c.dir.as_ref().filter(|d| d.is_dir()) {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|e| OpenError::NotStarted {
        program: c.program.clone(),
        cause: e.to_string(),
    })?;
    let deadline = Instant::now() + BROWSER_CHECK;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(OpenError::Exited {
                    program: c.program.clone(),
                    status: status.to_string(),
                })
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(25)),
            // Still running (a browser itself): opened. Reap it later so
            // it does not linger as a zombie.
            _ => {
                std::thread::spawn(move || {
                    let _ = child.wait();
                });
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect() -> Expect {
        Expect {
            state: CsrfToken::new("s1".into()),
            issuer: Some("http://127.0.0.1:9".into()),
            require_iss: false,
        }
    }

    fn check(q: &str) -> Verdict {
        check_callback(url::form_urlencoded::parse(q.as_bytes()), &expect())
    }

    #[test]
    fn callback_verdicts() {
        assert!(matches!(check("code=c&state=s1"), Verdict::Code(_)));
        assert!(matches!(
            check("code=c&state=s1&iss=http%3A%2F%2F127.0.0.1%3A9"),
            Verdict::Code(_)
        ));
        assert!(matches!(check("code=c"), Verdict::Rejected("no state")));
        assert!(matches!(
            check("code=c&state=s2"),
            Verdict::Rejected("wrong state")
        ));
        assert!(matches!(
            check("code=c&state=s1&iss=http://evil"),
            Verdict::Rejected("wrong issuer")
        ));
        assert!(matches!(
            check("code=c&state=s1&state=s1"),
            Verdict::Rejected(_)
        ));
        assert!(matches!(
            check("error=access_denied&state=s2"),
            Verdict::Rejected("wrong state")
        ));
        assert!(matches!(
            check("error=access_denied&error_description=no&state=s1"),
            Verdict::ProviderError { .. }
        ));
        assert!(matches!(check("state=s1"), Verdict::Rejected("no code")));
    }

    #[test]
    fn mode_follows_the_redirect_uri() {
        assert_eq!(
            RedirectMode::for_uri("http://127.0.0.1/callback"),
            RedirectMode::Loopback
        );
        assert_eq!(
            RedirectMode::for_uri("http://127.0.0.1:8080/cb"),
            RedirectMode::Loopback
        );
        assert_eq!(
            RedirectMode::for_uri("urn:ietf:wg:oauth:2.0:oob"),
            RedirectMode::Paste
        );
        assert_eq!(RedirectMode::for_uri(""), RedirectMode::Paste);
        assert_eq!(
            RedirectMode::for_uri("https://example.com/cb"),
            RedirectMode::Paste
        );
    }

    #[test]
    fn wsl_opens_the_windows_browser_with_the_url_whole() {
        let url = "https://login.example/authorize?client_id=a&state=b%2Fc&scope=x(y)";
        let with = wsl_commands(url, true);
        assert_eq!(with[0].program, "wslview");
        assert_eq!(with[0].args, vec![url.to_string()]);
        assert_eq!(with[1].program, "cmd.exe");
        assert_eq!(
            with[1].args,
            vec![
                "/c".to_string(),
                "start".into(),
                "".into(),
                "https://login.example/authorize?client_id=a^&state=b^%2Fc^&scope=x^(y^)".into()
            ]
        );
        assert_eq!(with[1].dir.as_deref(), Some(std::path::Path::new("/mnt/c")));
        let without = wsl_commands(url, false);
        assert_eq!(without.len(), 1);
        assert_eq!(without[0].program, "cmd.exe");
        // Never explorer.exe; never cmd.exe with what it would split.
        assert!(wsl_commands("http://x/a b", false).is_empty());
        assert!(wsl_commands("http://x/\"a", true)
            .iter()
            .all(|c| c.program == "wslview"));
    }

    #[test]
    fn cmd_escape_leaves_plain_urls_alone() {
        assert_eq!(cmd_escape("http://127.0.0.1:5/cb"), "http://127.0.0.1:5/cb");
        assert_eq!(cmd_escape("a&b|c<d>e^f!g"), "a^&b^|c^<d^>e^^f^!g");
    }

    #[test]
    fn wsl_is_told_by_its_variable_or_its_interop_marker() {
        let none = |_: &str| None;
        let distro = |v: &str| (v == "WSL_DISTRO_NAME").then(|| "Ubuntu".to_string());
        assert!(!is_wsl(none, false));
        assert!(is_wsl(none, true));
        assert!(is_wsl(distro, false));
    }

    #[test]
    fn browser_variable_commands() {
        let c = browser_list("firefox --new-tab:echo %s here", "http://u", ':');
        assert_eq!(c[0].program, "firefox");
        assert_eq!(c[0].args, vec!["--new-tab".to_string(), "http://u".into()]);
        assert_eq!(c[1].program, "echo");
        assert_eq!(c[1].args, vec!["http://u".to_string(), "here".into()]);
    }

    #[test]
    fn a_windows_browser_list_keeps_drive_letters_and_quoted_paths() {
        let list = r#""C:\Program Files\Mozilla Firefox\firefox.exe" -new-tab %s; chrome"#;
        let c = browser_list(list, "http://u", ';');
        assert_eq!(
            c[0].program,
            r"C:\Program Files\Mozilla Firefox\firefox.exe"
        );
        assert_eq!(c[0].args, vec!["-new-tab".to_string(), "http://u".into()]);
        assert_eq!(c[1].program, "chrome");
        assert_eq!(c[1].args, vec!["http://u".to_string()]);
        let plain = browser_list(r"C:\Tools\browser.exe", "http://u", ';');
        assert_eq!(plain[0].program, r"C:\Tools\browser.exe");
    }

    #[cfg(unix)]
    #[test]
    fn a_browser_program_that_fails_is_noticed() {
        let fail = BrowserCommand::new("false", vec![]);
        assert!(matches!(run(&fail), Err(OpenError::Exited { .. })));
        let missing = BrowserCommand::new("/nonexistent/browser", vec![]);
        assert!(matches!(run(&missing), Err(OpenError::NotStarted { .. })));
        let ok = BrowserCommand::new("true", vec![]);
        assert_eq!(run(&ok), Ok(()));
        assert_eq!(run_first(&[fail, ok]), Ok(()));
    }
}
