//! The companion REPL (`planopticon -C` / `-I`) and its `/auth` command.

use std::io::{IsTerminal, Write};

use crate::config::title_case;
use crate::{OAuthManager, Registry};

pub fn run(registry: &Registry) -> i32 {
    let tty = std::io::stdin().is_terminal();
    if tty {
        println!("PlanOpticon companion. /auth SERVICE to connect, /quit to leave.");
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
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (None, _) => {}
            (Some("/quit" | "/exit"), _) => return 0,
            (Some("/auth"), None) => {
                println!("Usage: /auth SERVICE");
                println!("Available: {}", registry.names().join(", "));
            }
            (Some("/auth"), Some(service)) => auth(registry, service),
            (Some(_), _) => println!("Unknown command. Commands: /auth [SERVICE], /quit"),
        }
    }
}

fn auth(registry: &Registry, service: &str) {
    let Ok(config) = registry.get(service) else {
        println!("Unknown service: {service}");
        return;
    };
    let name = title_case(service);
    let result = OAuthManager::new(config).authenticate(super::options(None, true));
    for n in &result.notices {
        println!("Note: {n}");
    }
    match result.method {
        Some(m) if result.success => println!("{name} authenticated ({m})"),
        _ => println!(
            "{name} auth failed: {}",
            result.error.as_deref().unwrap_or("unknown error")
        ),
    }
}
