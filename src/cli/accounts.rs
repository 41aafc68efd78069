//! The commands of a service's several accounts: `accounts`, `switch`,
//! and `--account` of `auth` and `token` (see [`crate::accounts`]).

use super::{print_failure, print_notices, relative};
use crate::config::title_case;
use crate::{AccountInfo, Accounts, AuthConfig, LogoutScope, Registry, Revocation};

/// `planopticon accounts [SERVICE] [--json]`.
pub(super) fn list(registry: &Registry, service: Option<String>, json: bool) -> i32 {
    let configs: Vec<AuthConfig> = match service {
        Some(s) => match super::config_or_exit(registry, &s) {
            Some(c) => vec![c],
            None => return 1,
        },
        None => registry
            .configs()
            .filter(|c| registry.broken(&c.service).is_none())
            .cloned()
            .collect(),
    };
    let all: Vec<AccountInfo> = configs
        .into_iter()
        .flat_map(|c| Accounts::new(c).list())
        .collect();
    if json {
        say!("{}", crate::untrusted::to_json_pretty(&all));
        return 0;
    }
    if all.is_empty() {
        tell!("No saved accounts. Sign in with `planopticon auth SERVICE [--account NAME]`.");
        return 0;
    }
    let now = crate::system_clock()();
    say!(
        "{:<12} {:<24} {:<6} {:<20} {:<14} IDENTITY",
        "SERVICE",
        "ACCOUNT",
        "ACTIVE",
        "STATE",
        "EXPIRES"
    );
    for a in &all {
        let state = serde_json::to_value(a.state).expect("plain data");
        say!(
            "{:<12} {:<24} {:<6} {:<20} {:<14} {}",
            a.service,
            a.account,
            if a.active { "*" } else { "" },
            state.as_str().unwrap_or("").replace('_', " "),
            a.expires_at
                .map(|e| relative(e - now))
                .unwrap_or_else(|| "-".into()),
            a.identity
                .as_deref()
                .map(|w| crate::untrusted::displayable(w).into_owned())
                .unwrap_or_else(|| "-".into()),
        );
    }
    0
}

/// `planopticon switch SERVICE NAME`.
pub(super) fn switch(config: AuthConfig, name: &str) -> i32 {
    let service = config.service.clone();
    match Accounts::new(config).switch(name) {
        Ok(s) if s.already => {
            say!("{name} is already the active {service} account.");
            0
        }
        Ok(s) => {
            let was = s
                .previous
                .map(|p| format!(" (was {p})"))
                .unwrap_or_default();
            say!("Switched {service} to {name}{was}.");
            0
        }
        Err(e) => {
            tell!("{} switch failed: {e}", title_case(&service));
            1
        }
    }
}

/// `planopticon auth SERVICE --account NAME`.
pub(super) fn auth(config: AuthConfig, name: &str, opts: crate::AuthOptions) -> i32 {
    let service = config.service.clone();
    let (result, switched) = match Accounts::new(config).sign_in(name, opts) {
        Ok(r) => r,
        Err(e) => {
            tell!("{} authentication failed: {e}", title_case(&service));
            return 1;
        }
    };
    print_notices(&result);
    let Some(method) = result.method() else {
        print_failure(&service, &result, |line| tell!("{line}"));
        return 1;
    };
    match switched {
        Some(s) if !s.already => {
            let was = s
                .previous
                .map(|p| format!(" (was {p})"))
                .unwrap_or_default();
            tell!("{name} is now the active {service} account{was}.");
        }
        None if method == crate::Method::ApiKey => tell!(
            "Note: the API key from the environment was used; nothing was saved as account {name}."
        ),
        _ => {}
    }
    say!(
        "{} authentication successful ({method}).",
        title_case(&service)
    );
    0
}

/// `planopticon token SERVICE --account NAME`: nothing switched.
pub(super) fn token(config: AuthConfig, name: &str) -> i32 {
    let service = config.service.clone();
    match Accounts::new(config).token(name) {
        Ok(result) => {
            print_notices(&result);
            match result.access_token() {
                Some(t) => {
                    println!("{}", t.secret());
                    0
                }
                None => {
                    print_failure(&service, &result, |line| tell!("{line}"));
                    tell!("Tip: run `planopticon auth {service} --account {name}` to sign in as it again.");
                    1
                }
            }
        }
        Err(e) => {
            tell!("{} authentication failed: {e}", title_case(&service));
            1
        }
    }
}

/// `planopticon auth SERVICE --logout [--account NAME]`.
pub(super) fn logout(config: AuthConfig, scope: LogoutScope, name: Option<&str>) -> i32 {
    let service = config.service.clone();
    let done = match Accounts::new(config).logout(name, scope) {
        Ok(done) => done,
        Err(e) => {
            tell!("{} logout failed: {e}", title_case(&service));
            return 1;
        }
    };
    let l = &done.logout;
    if let Some(n) = &l.keyring_notice {
        tell!("Note: {n}");
    }
    match &l.revocation {
        Revocation::Revoked => tell!("Revoked the token at {service}."),
        Revocation::Kept => {
            tell!("The grant stays valid at {service}; only the local copy was deleted.")
        }
        Revocation::Failed(why) => tell!(
            "Could not revoke the token at {service} ({why}); the local copy is deleted anyway. Revoke it in the provider's settings if it matters."
        ),
        Revocation::NotSupported if l.deleted => {
            tell!("{service} has no revocation endpoint; only the local copy was deleted.")
        }
        Revocation::NotSupported | Revocation::NothingSaved => {}
    }
    say!("Cleared saved {service} token.");
    if let (Some(gone), true) = (&done.account, name.is_some() || done.now_active.is_some()) {
        say!("Signed out {service} account {gone}.");
    }
    if let Some(next) = &done.now_active {
        say!("{next} is now the active {service} account (the most recently used).");
    }
    0
}

/// The account column of `status`: the active account, and how many others.
pub(super) fn others_suffix(config: &AuthConfig) -> String {
    match Accounts::new(config.clone()).saved().len() {
        0 => String::new(),
        1 => " (+1 other)".into(),
        n => format!(" (+{n} others)"),
    }
}
