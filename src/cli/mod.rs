//! `planopticon`: a drop-in for the Python tool's `auth` command (same files,
//! variables, output lines and exit codes), plus `status`, `token` and the
//! `/auth` REPL.

mod repl;

use std::io::{BufRead, IsTerminal, Write};

use clap::{CommandFactory, Parser, Subcommand};

use crate::account::Revocation;
use crate::config::title_case;
use crate::manager::{system_clock, AuthOptions, AuthResult, Interaction, Outcome, Prompt};
use crate::{AuthConfig, OAuthManager, RedirectMode, Registry, ServiceStatus};

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
        /// Clear the saved token for the service
        #[arg(long)]
        logout: bool,
        /// How the browser hands the code back: a listener on 127.0.0.1, or you paste it
        #[arg(long, value_parser = ["loopback", "paste"], conflicts_with = "device")]
        redirect: Option<String>,
        /// Sign in with a code entered on another device (RFC 8628), no browser here
        #[arg(long)]
        device: bool,
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
    Token { service: String },
}

/// Runs the command line; returns the exit code (0 success, 1 failure, 2 usage).
pub fn run() -> i32 {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let registry = match Registry::load() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    match cli.command {
        _ if cli.chat || cli.interactive => repl::run(&registry),
        Some(Command::Auth {
            service,
            logout,
            redirect,
            device,
        }) => {
            let config = config_or_usage_error(&registry, &service);
            let redirect = match device {
                true => Some(RedirectMode::Device),
                false => redirect.map(|r| r.parse().expect("clap checked the value")),
            };
            if logout {
                logout_service(&config)
            } else {
                auth(&config, redirect)
            }
        }
        Some(Command::Status { json, offline }) => status(&registry, json, offline),
        Some(Command::Token { service }) => token(&config_or_usage_error(&registry, &service)),
        None => {
            let _ = Cli::command().print_help();
            2
        }
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

/// An unknown service is a usage error (exit 2) that lists the valid ones.
fn config_or_usage_error(registry: &Registry, service: &str) -> AuthConfig {
    registry.get(service).unwrap_or_else(|_| {
        Cli::command()
            .error(
                clap::error::ErrorKind::InvalidValue,
                format!(
                    "invalid value '{service}' for '<SERVICE>'\n  [possible values: {}]",
                    registry.names().join(", ")
                ),
            )
            .exit()
    })
}

fn auth(config: &AuthConfig, redirect: Option<RedirectMode>) -> i32 {
    let result = OAuthManager::new(config.clone()).authenticate(options(redirect, true));
    print_notices(&result);
    let name = title_case(&config.service);
    match result.method {
        Some(method) if result.success => {
            println!("{name} authentication successful ({method}).");
            0
        }
        _ => {
            eprintln!(
                "{name} authentication failed: {}",
                result.error.as_deref().unwrap_or("unknown error")
            );
            eprintln!("What was tried:");
            for a in &result.attempts {
                eprintln!("  - {a}");
            }
            1
        }
    }
}

/// Notices, and on success the steps that failed before one worked (a
/// broken token file should not go unnoticed because an API key worked).
fn print_notices(result: &AuthResult) {
    for n in &result.notices {
        eprintln!("Note: {n}");
    }
    if result.success {
        for a in &result.attempts {
            if matches!(a.outcome, Outcome::Failed(_)) {
                eprintln!("Note: {a}");
            }
        }
    }
}

fn logout_service(config: &AuthConfig) -> i32 {
    let service = &config.service;
    match OAuthManager::new(config.clone()).logout() {
        Ok(done) => {
            if let Some(n) = done.keyring_notice {
                eprintln!("Note: {n}");
            }
            match done.revocation {
                Revocation::Revoked => eprintln!("Revoked the token at {service}."),
                Revocation::Failed(why) => eprintln!(
                    "Could not revoke the token at {service} ({why}); the local copy is deleted anyway. Revoke it in the provider's settings if it matters."
                ),
                Revocation::NotSupported if done.deleted => eprintln!(
                    "{service} has no revocation endpoint; only the local copy was deleted."
                ),
                Revocation::NotSupported | Revocation::NothingSaved => {}
            }
            println!("Cleared saved {service} token.");
            0
        }
        Err(e) => {
            eprintln!("{} logout failed: {e}", title_case(service));
            1
        }
    }
}

fn token(config: &AuthConfig) -> i32 {
    let result = OAuthManager::new(config.clone()).authenticate(options(None, false));
    print_notices(&result);
    match result.access_token {
        Some(t) if result.success => {
            println!("{}", t.secret());
            0
        }
        _ => {
            eprintln!(
                "{} authentication failed: {}",
                title_case(&config.service),
                result.error.as_deref().unwrap_or("unknown error")
            );
            for a in &result.attempts {
                eprintln!("  - {a}");
            }
            1
        }
    }
}

fn status(registry: &Registry, json: bool, offline: bool) -> i32 {
    let now = system_clock()();
    // One identity call per connected service, all at once.
    let all: Vec<ServiceStatus> = std::thread::scope(|scope| {
        let checks: Vec<_> = registry
            .configs()
            .map(|c| {
                scope.spawn(move || match offline {
                    true => ServiceStatus::of(c, now),
                    false => OAuthManager::new(c.clone()).check(),
                })
            })
            .collect();
        checks
            .into_iter()
            .map(|h| h.join().expect("a status check"))
            .collect()
    });
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&all).expect("plain data")
        );
        return 0;
    }
    println!(
        "{:<12} {:<20} {:<19} {:<14} {:<28} TOKEN FILE",
        "SERVICE", "STATE", "METHOD", "EXPIRES", "ACCOUNT"
    );
    for s in &all {
        let state = serde_json::to_value(s.state).expect("plain data");
        let account = s
            .account
            .as_ref()
            .and_then(crate::account::describe)
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<12} {:<20} {:<19} {:<14} {:<28} {}",
            s.service,
            state.as_str().unwrap_or("").replace('_', " "),
            s.method.as_deref().unwrap_or("-"),
            s.expires_at
                .map(|e| relative(e - now))
                .unwrap_or_else(|| "-".into()),
            account,
            s.token_path.display()
        );
    }
    0
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
/// still come back to the loopback listener when one can be opened.
fn options(redirect: Option<RedirectMode>, prompts_on_stdout: bool) -> AuthOptions {
    let interaction = if std::io::stdin().is_terminal() {
        Interaction::Terminal(Box::new(move || read_code(prompts_on_stdout)))
    } else if ["BROWSER", "DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| crate::config::env_value(v).is_some())
    {
        Interaction::Browser
    } else {
        Interaction::None
    };
    let mut opts = AuthOptions::with_interaction(interaction);
    opts.redirect = redirect;
    opts.on_prompt = Some(Box::new(move |p: &Prompt| {
        // The Python tool prints these on stdout; `token` keeps stdout for the token.
        let text = match p.user_code {
            Some(code) => format!(
                "\nTo authorize PlanOpticon ({}), open {} and enter the code {code}\n",
                p.service, p.url
            ),
            None => format!(
                "\nOpen this URL to authorize PlanOpticon ({}):\n{}\n",
                p.service, p.url
            ),
        };
        if prompts_on_stdout {
            println!("{text}");
        } else {
            eprintln!("{text}");
        }
        eprintln!(
            "{}",
            match p.mode {
                RedirectMode::Loopback => "Waiting for the browser to return here (Ctrl-C to cancel)...",
                RedirectMode::Paste => "After approving, paste the code, or the whole address the browser shows (even if that page does not load).",
                RedirectMode::Device => "Waiting for the code to be approved (Ctrl-C to cancel)...",
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
