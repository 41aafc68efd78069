//! `planopticon`: a drop-in for the Python tool's `auth` command (same files,
//! variables, output lines and exit codes), plus `status`, `token` and the
//! `/auth` REPL. This is where the engine's facts and hints become words
//! for a terminal.

/// `println!` for a person: the line goes out with every character a
/// terminal would obey escaped ([`crate::untrusted::escape_lines`]; its line
/// breaks stay). The outside words in it were made displayable (and cut)
/// where they were worded; this is the last guard, for every line.
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", $crate::untrusted::escape_lines(&format!($($arg)*)))
    };
}

/// [`say!`] on stderr.
macro_rules! tell {
    ($($arg:tt)*) => {
        eprintln!("{}", $crate::untrusted::escape_lines(&format!($($arg)*)))
    };
}

mod accounts;
mod refresh;
mod repl;
mod setup;

use std::io::{BufRead, IsTerminal, Write};

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::title_case;
use crate::{
    AuthConfig, AuthOptions, AuthResult, Hint, Interaction, LogoutScope, OAuthManager, Prompt,
    RedirectMode, Registry, ServiceStatus, SignIn, State, Step,
};

#[derive(Parser)]
#[command(
    name = "planopticon",
    version,
    about = "Connect PlanOpticon to your cloud accounts and keep the connections alive"
)]
struct Cli {
    /// Debug logging on stderr (never a secret in it)
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Start the companion REPL
    #[arg(short = 'C', long = "chat")]
    chat: bool,
    /// Start the companion REPL (same as -C)
    #[arg(short = 'I', long = "interactive")]
    interactive: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Authenticate with a cloud service via OAuth or API key
    Auth {
        /// google, dropbox, zoom, notion, github, microsoft, plane, or a service of services.toml
        service: String,
        /// Clear the saved token for the service (and revoke it at the provider)
        #[arg(long)]
        logout: bool,
        /// With --logout: only forget the token here; the grant stays valid at
        /// the provider (e.g. shared with another machine)
        #[arg(long, requires = "logout")]
        keep_grant: bool,
        /// How the browser hands the code back: a listener on 127.0.0.1, or you paste it
        #[arg(long, value_parser = ["loopback", "paste"], conflicts_with = "device")]
        redirect: Option<String>,
        /// Sign in with a code entered on another device (RFC 8628), no browser
        /// here (same as --method device)
        #[arg(long, conflicts_with = "method")]
        device: bool,
        /// Run one step of the chain alone
        #[arg(long, value_parser = ["saved", "server", "browser", "device", "api_key"])]
        method: Option<String>,
        /// Read an API key or personal access token from stdin, check it
        /// with the provider and save it
        #[arg(long, conflicts_with_all = ["logout", "redirect", "device", "method", "account"])]
        with_token: bool,
        /// The account to use, sign in as (a new name signs in and becomes
        /// the active account), or with --logout sign out
        #[arg(long, value_name = "NAME")]
        account: Option<String>,
    },
    /// List each service's saved accounts: who each is, which is active, until when
    Accounts {
        /// Only this service's accounts
        service: Option<String>,
        /// Machine-readable output: [{service, account, active, identity, expires_at, ...}]
        #[arg(long)]
        json: bool,
    },
    /// Make a saved account the active one (its token goes in the documented file)
    Switch {
        service: String,
        /// The account's name (see `planopticon accounts`)
        name: String,
    },
    /// Show a service's settings and where each comes from, or change one in services.toml
    Config {
        /// A built-in service, one of services.toml, or a new name with --add-issuer / --add-endpoints
        service: String,
        /// The setting to change (a key of the service's table in services.toml)
        key: Option<String>,
        /// Its new value; `-` reads it from stdin (required for secrets)
        #[arg(requires = "key", allow_hyphen_values = true)]
        value: Option<String>,
        /// Remove this setting from services.toml (and a secret from the keyring)
        #[arg(long, value_name = "KEY", conflicts_with_all = ["key", "value"])]
        unset: Option<String>,
        /// Add SERVICE, its endpoints discovered from this issuer (RFC 8414 / OpenID)
        #[arg(long, value_name = "URL", conflicts_with_all = ["key", "value", "unset", "add_endpoints", "remove"])]
        add_issuer: Option<String>,
        /// Add SERVICE with these two endpoints
        #[arg(long, num_args = 2, value_names = ["AUTHORIZE_URL", "TOKEN_URL"], conflicts_with_all = ["key", "value", "unset", "remove"])]
        add_endpoints: Option<Vec<String>>,
        /// Remove SERVICE's table from services.toml (a built-in goes back to its defaults)
        #[arg(long, conflicts_with_all = ["key", "value", "unset"])]
        remove: bool,
    },
    /// Show every service: connected or not, how, until when, and its token file
    Status {
        /// Machine-readable output
        #[arg(long)]
        json: bool,
        /// Read the token files only; do not ask the providers who is signed in
        #[arg(long)]
        offline: bool,
    },
    /// Print the service's access token (only the token, on stdout), for scripts
    Token {
        service: String,
        /// A saved account's token instead of the active one's (nothing is switched)
        #[arg(long, value_name = "NAME")]
        account: Option<String>,
    },
    /// Refresh the connections that are due, check that each is still
    /// accepted, one line each; exit 1 when one needs a person, 75 when a
    /// refresh failed for now. Safe from cron beside other processes.
    Refresh {
        /// Services to refresh (default: every service with a saved token)
        #[arg(conflicts_with = "all")]
        services: Vec<String>,
        /// Every service with a saved token (the default)
        #[arg(long)]
        all: bool,
        /// Refresh even tokens that are not due yet
        #[arg(long)]
        force: bool,
        /// Machine-readable output: [{service, outcome, expires_at, reason}]
        #[arg(long)]
        json: bool,
        /// Do not ask the providers' identity endpoints whether the tokens
        /// are still accepted (refreshes still reach the provider)
        #[arg(long)]
        offline: bool,
    },
}

/// Runs the command line; returns the exit code (0 success, 1 failure, 2 usage).
pub fn run() -> i32 {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let registry = Registry::load();
    // A mistake in services.toml is told on every command; the services it
    // does not touch keep working.
    for problem in registry.problems() {
        tell!("Warning: {problem}");
    }
    match cli.command {
        _ if cli.chat || cli.interactive => repl::run(&registry),
        Some(command @ Command::Auth { .. }) => auth_command(&registry, command),
        Some(Command::Status { json, offline }) => status(&registry, json, offline),
        Some(Command::Refresh {
            services,
            all: _,
            force,
            json,
            offline,
        }) => refresh::run(
            &registry,
            refresh::Args {
                services,
                force,
                json,
                offline,
            },
        ),
        Some(Command::Config {
            service,
            add_issuer,
            add_endpoints,
            remove,
            ..
        }) if add_issuer.is_some() || add_endpoints.is_some() || remove => {
            setup::add_or_remove(&service, add_issuer, add_endpoints, remove)
        }
        Some(Command::Config {
            service,
            key,
            value,
            unset,
            ..
        }) => match config_or_exit(&registry, &service) {
            Some(_) => setup::config(&service, key, value, unset),
            None => 1,
        },
        Some(Command::Token { service, account }) => match config_or_exit(&registry, &service) {
            Some(config) => match account {
                Some(name) => accounts::token(config, &name),
                None => token(&config),
            },
            None => 1,
        },
        Some(Command::Accounts { service, json }) => accounts::list(&registry, service, json),
        Some(Command::Switch { service, name }) => match config_or_exit(&registry, &service) {
            Some(config) => accounts::switch(config, &name),
            None => 1,
        },
        None => {
            let _ = Cli::command().print_help();
            2
        }
    }
}

/// `planopticon auth SERVICE …`: signs in, logs out, or saves a key.
fn auth_command(registry: &Registry, command: Command) -> i32 {
    let Command::Auth {
        service,
        logout,
        keep_grant,
        redirect,
        device,
        method,
        with_token,
        account,
    } = command
    else {
        unreachable!("called for auth only")
    };
    let Some(config) = config_or_exit(registry, &service) else {
        return 1;
    };
    if with_token {
        return setup::with_token(&config);
    }
    if logout {
        let scope = match keep_grant {
            true => LogoutScope::KeepGrant,
            false => LogoutScope::Revoke,
        };
        return accounts::logout(config, scope, account.as_deref());
    }
    let mut opts = options(true);
    opts.sign_in = redirect.map(|r| SignIn::Browser(r.parse().expect("clap checked it")));
    opts.only = match device {
        true => Some(Step::Device),
        false => method.map(|m| m.parse().expect("clap checked it")),
    };
    match account {
        Some(name) => accounts::auth(config, &name, opts),
        None => auth(&config, opts),
    }
}

fn init_logging(verbose: bool) {
    let level = if verbose {
        "planopticon=debug"
    } else {
        "planopticon=error"
    };
    env_logger::Builder::new()
        .parse_filters(level)
        .format_timestamp(None)
        .target(env_logger::Target::Stderr)
        .init();
}

/// An unknown service is a usage error (exit 2) that lists the valid ones;
/// a service whose services.toml table is broken says so (`None`: exit 1).
fn config_or_exit(registry: &Registry, service: &str) -> Option<AuthConfig> {
    match registry.get(service) {
        Ok(config) => Some(config),
        Err(crate::Error::UnknownService { .. }) => Cli::command()
            .error(
                clap::error::ErrorKind::InvalidValue,
                format!(
                    "invalid value '{service}' for '<SERVICE>'\n  [possible values: {}]",
                    registry.names().join(", ")
                ),
            )
            .exit(),
        Err(e) => {
            tell!("{} cannot be used: {e}", title_case(service));
            None
        }
    }
}

fn auth(config: &AuthConfig, opts: AuthOptions) -> i32 {
    let result = OAuthManager::new(config.clone()).authenticate(opts);
    print_notices(&result);
    // A first sign-in is named after who the provider says it is.
    if let Err(e) = crate::Accounts::new(config.clone()).record_sign_in(&result) {
        log::warn!("{}: the accounts index: {e}", config.service);
    }
    match result.method() {
        Some(method) => {
            say!(
                "{} authentication successful ({method}).",
                title_case(&config.service)
            );
            0
        }
        None => {
            print_failure(&config.service, &result, |line| tell!("{line}"));
            1
        }
    }
}

/// The Python tool's failure line, then what each step tried and what a
/// person can do; `say` prints a line (stderr for commands, stdout in the REPL).
pub(crate) fn print_failure(service: &str, result: &AuthResult, say: impl Fn(&str)) {
    let Err(failure) = &result.outcome else {
        return;
    };
    say(&format!(
        "{} authentication failed: {}",
        title_case(service),
        failure.message
    ));
    say("What was tried:");
    for a in &result.attempts {
        say(&format!("  - {a}"));
    }
    for hint in &failure.hints {
        say(&format!("Tip: {}", hint_words(service, hint)));
    }
}

/// A hint in a terminal user's words.
pub(crate) fn hint_words(service: &str, hint: &Hint) -> String {
    match hint {
        Hint::SignIn => format!("run `planopticon auth {service}` to sign in again."),
        Hint::UsePaste => format!(
            "run `planopticon auth {service} --redirect paste` to paste the code instead."
        ),
        Hint::UseLoopback => format!(
            "run it from a terminal to paste the code, or use `planopticon auth {service} --redirect loopback`."
        ),
        Hint::Configure { step, vars } => format!(
            "for the {} step set {} (or the same keys in [{service}] of {}).",
            step.name(),
            vars.join(" and "),
            services_toml()
        ),
        Hint::CheckClient => {
            "check the client id and secret against the app registered at the provider.".into()
        }
        Hint::RegisterRedirect { uri } if uri.is_empty() => format!(
            "register a redirect URI at the provider, and set it as redirect_uri in [{service}] of {}.",
            services_toml()
        ),
        Hint::RegisterRedirect { uri } => format!(
            "register {uri} as a redirect URI of the app at the provider (or set redirect_uri in [{service}] of {} to one registered there).",
            services_toml()
        ),
    }
}

/// services.toml's path as this OS writes it.
fn services_toml() -> String {
    crate::services::Registry::path().display().to_string()
}

/// Notices, and on success the steps that failed before one worked (a
/// broken token file should not go unnoticed because an API key worked).
fn print_notices(result: &AuthResult) {
    for n in &result.notices {
        tell!("Note: {n}");
    }
    if result.success() {
        for a in &result.attempts {
            if matches!(a.outcome, crate::chain::Outcome::Failed(_)) {
                tell!("Note: {a}");
            }
        }
    }
}

fn token(config: &AuthConfig) -> i32 {
    let result = OAuthManager::new(config.clone()).authenticate(options(false));
    print_notices(&result);
    match result.access_token() {
        Some(t) => {
            // The token as it is: this output is for programs.
            println!("{}", t.secret());
            0
        }
        None => {
            print_failure(&config.service, &result, |line| tell!("{line}"));
            1
        }
    }
}

fn status(registry: &Registry, json: bool, offline: bool) -> i32 {
    let now = crate::system_clock()();
    let all = checked_statuses(registry, now, offline);
    if json {
        println!("{}", crate::untrusted::to_json_pretty(&all));
        return 0;
    }
    say!(
        "{:<12} {:<20} {:<19} {:<14} {:<28} TOKEN FILE",
        "SERVICE",
        "STATE",
        "METHOD",
        "EXPIRES",
        "ACCOUNT"
    );
    for (s, c) in all.iter().zip(registry.configs()) {
        print_status_row(s, c, now);
    }
    for s in all
        .iter()
        .filter(|s| !s.renewable && s.state == State::Connected)
    {
        let when = s
            .expires_at
            .map(|e| format!(" (it expires {})", relative(e - now)))
            .unwrap_or_default();
        say!(
            "Note: {} cannot renew by itself (no refresh token); run `planopticon auth {}` again when it expires{when}.",
            s.service, s.service
        );
    }
    0
}

/// Every service's status; unless `offline`, each connected one checked at
/// its provider, all at once.
fn checked_statuses(registry: &Registry, now: f64, offline: bool) -> Vec<ServiceStatus> {
    let broken = |s: &str| registry.broken(s).is_some();
    std::thread::scope(|scope| {
        let checks: Vec<_> = registry
            .statuses(now)
            .into_iter()
            .zip(registry.configs())
            .map(|(offline_status, c)| {
                scope.spawn(move || match offline || broken(&c.service) {
                    true => offline_status,
                    false => OAuthManager::new(c.clone()).check(),
                })
            })
            .collect();
        checks
            .into_iter()
            .map(|h| h.join().expect("a status check"))
            .collect()
    })
}

/// One line of `status`'s table.
fn print_status_row(s: &ServiceStatus, config: &AuthConfig, now: f64) {
    let state = serde_json::to_value(s.state).expect("plain data");
    let account = s
        .account
        .as_ref()
        .and_then(crate::account::describe)
        .or_else(|| crate::accounts::account_name(config))
        .unwrap_or_else(|| "-".into())
        + &accounts::others_suffix(config);
    let method = match &s.method {
        Some(m) => m.method().map_or("other", |m| m.as_str()),
        None => "-",
    };
    say!(
        "{:<12} {:<20} {:<19} {:<14} {:<28} {}",
        s.service,
        state.as_str().unwrap_or("").replace('_', " "),
        method,
        s.expires_at
            .map(|e| relative(e - now))
            .unwrap_or_else(|| "-".into()),
        account,
        s.token_path.display()
    );
}

/// "in 59 min" / "3 h ago".
fn relative(secs: f64) -> String {
    let a = secs.abs() as u64;
    let span = match a {
        0..=119 => format!("{a} s"),
        120..=7199 => format!("{} min", a / 60),
        7200..=172_799 => format!("{} h", a / 3600),
        _ => format!("{} days", a / 86_400),
    };
    if secs >= 0.0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// Who can take part here: a terminal can paste; without one a browser can
/// still come back to the loopback listener when one can be opened. The
/// chain chooses how to sign in by where the person is (`Whereabouts`).
fn options(prompts_on_stdout: bool) -> AuthOptions {
    let place = crate::Whereabouts::from_env();
    let interaction = if std::io::stdin().is_terminal() {
        Interaction::Terminal(Box::new(move || read_code(prompts_on_stdout)))
    } else if place.browser_opens_here() {
        Interaction::Browser
    } else {
        Interaction::None
    };
    let mut opts = AuthOptions::with_interaction(interaction);
    opts.place = Some(place);
    opts.on_prompt = Some(Box::new(move |p: &Prompt| {
        // The Python tool prints these on stdout; `token` keeps stdout for the token.
        let say = |text: &str| match prompts_on_stdout {
            true => say!("{text}"),
            false => tell!("{text}"),
        };
        // Why this way first (on stderr), then where to go.
        let (why, go) = match (p.user_code, p.remote) {
            (Some(code), _) => (
                p.why.map(|why| format!("Signing in with a code: {why}.")),
                format!(
                    "To authorize PlanOpticon ({}), open {} and enter the code {code}",
                    p.service, p.url
                ),
            ),
            (None, true) => (
                p.why.map(|why| format!("No browser can be opened here: {why}.")),
                format!(
                    "Open this URL in a browser on any machine to authorize PlanOpticon ({}):\n{}",
                    p.service, p.url
                ),
            ),
            // A browser that could not be opened, or no listener: say why first.
            (None, false) => (
                p.why.map(|why| format!("\nNote: {why}. Open the address below in a browser yourself, on this or any machine.")),
                format!("Open this URL to authorize PlanOpticon ({}):\n{}", p.service, p.url),
            ),
        };
        if let Some(why) = why {
            tell!("{why}");
        }
        say(&format!("\n{go}\n"));
        tell!(
            "{}",
            match p.sign_in {
                _ if p.remote => "After approving, the browser goes to an address whose page does not load; that is expected. Copy that whole address from the address bar and paste it here (or the code, if the page shows one).",
                SignIn::Browser(RedirectMode::Loopback) => "Waiting for the browser to return here (Ctrl-C to cancel)...",
                SignIn::Browser(RedirectMode::Paste) => "After approving, paste the code, or the whole address the browser shows (even if that page does not load).",
                SignIn::Device => "Waiting for the code to be approved (Ctrl-C to cancel)...",
            }
        );
    }));
    opts
}

fn read_code(prompt_on_stdout: bool) -> Option<String> {
    let prompt = "Enter the authorization code: ";
    if prompt_on_stdout {
        print!("{prompt}");
        let _ = std::io::stdout().flush();
    } else {
        eprint!("{prompt}");
    }
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim().to_string()),
    }
}
