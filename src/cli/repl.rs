//! The companion REPL (`planopticon -C` / `-I`) and its `/auth` command.
//! Commands and service names are case-insensitive, as in the Python tool.

use std::io::{IsTerminal, Write};

use crate::config::title_case;
use crate::{OAuthManager, Registry};

const HELP: &str = "Commands:
  /auth SERVICE   connect a service (/auth alone lists them)
  /help           this list
  /quit, /exit    leave";

pub fn run(registry: &Registry) -> i32 {
    let tty = std::io::stdin().is_terminal();
    if tty {
        say!(
            "PlanOpticon companion. /auth SERVICE to connect, /help for commands, /quit to leave."
        );
    }
    loop {
        if tty {
            print!("> ");
            let _ = std::io::stdout().flush();
        }
        // Not a held lock: a sign-in in paste mode reads the code from stdin too.
        let mut line = String::new();
        if matches!(std::io::stdin().read_line(&mut line), Ok(0) | Err(_)) {
            return 0;
        }
        let line = line.to_lowercase();
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (None, _) => {}
            (Some("/quit" | "/exit"), _) => return 0,
            (Some("/help"), _) => say!("{HELP}"),
            (Some("/auth"), None) => {
                say!("Usage: /auth SERVICE");
                say!("Available: {}", registry.names().join(", "));
            }
            (Some("/auth"), Some(service)) => auth(registry, service),
            (Some(other), _) => say!("Unknown command {other}. Type /help for the commands."),
        }
    }
}

fn auth(registry: &Registry, service: &str) {
    let config = match registry.get(service) {
        Ok(c) => c,
        Err(crate::Error::UnknownService { .. }) => {
            say!("Unknown service: {service}");
            return;
        }
        Err(e) => {
            say!("{} cannot be used: {e}", title_case(service));
            return;
        }
    };
    let name = title_case(service);
    let result = OAuthManager::new(config).authenticate(super::options(true));
    for n in &result.notices {
        say!("Note: {n}");
    }
    match result.method() {
        Some(m) => say!("{name} authenticated ({m})"),
        None => {
            say!(
                "{name} auth failed: {}",
                result.error().unwrap_or("unknown error")
            );
            let rest = |line: &str| {
                if !line.contains("authentication failed:") {
                    say!("{line}")
                }
            };
            super::print_failure(service, &result, rest);
        }
    }
}
