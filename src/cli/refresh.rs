//! `planopticon refresh`: the keeper's work done once, for cron or the
//! systemd timer when the app is not running. Refreshes what is due (or
//! everything with `--force`) through the same single-flight refresh as
//! every other process, asks each provider's identity endpoint whether the
//! token is still accepted (unless `--offline`), and prints one line per
//! connection.
//!
//! Exit codes: 0 when no connection needs a person; 1 when one does (it
//! needs a new sign-in, a named service is not connected, or a setting or
//! file stops the refresh); 75
//! (EX_TEMPFAIL) when none does but a refresh failed for now (network,
//! provider down): the next run tries again.

use std::time::Duration;

use serde::Serialize;

use super::relative;
use crate::{AuthConfig, OAuthManager, RefreshWhen, Registry, Renewal, State};

/// Refreshed this long before expiry at the latest: a timer every 15 min
/// (packaging/systemd) then never hands out a token about to die.
const LEAD: Duration = Duration::from_secs(20 * 60);

pub(super) const EX_TEMPFAIL: i32 = 75;

/// One connection's line.
#[derive(Debug, Serialize)]
struct Line {
    service: String,
    /// The account, when the service has more than one.
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    outcome: &'static str,
    expires_at: Option<f64>,
    reason: Option<String>,
}

pub(super) struct Args {
    pub services: Vec<String>,
    pub force: bool,
    pub json: bool,
    pub offline: bool,
}

pub(super) fn run(registry: &Registry, args: Args) -> i32 {
    let named = !args.services.is_empty();
    let configs: Vec<Result<AuthConfig, (String, String)>> = if named {
        args.services
            .iter()
            .map(|s| match super::config_or_exit(registry, s) {
                Some(c) => Ok(c),
                None => Err((s.clone(), "its services.toml table cannot be used".into())),
            })
            .collect()
    } else {
        // Every connection that has a token file (API keys have nothing to
        // renew), every saved account too.
        let configs = registry
            .configs()
            .filter(|c| registry.broken(&c.service).is_none())
            .cloned()
            .collect();
        crate::accounts::with_saved_accounts(configs)
            .into_iter()
            .filter(|c| c.resolved_token_path().exists())
            .map(Ok)
            .collect()
    };
    // A named service: its saved accounts too.
    let configs = match named {
        false => configs,
        true => configs
            .into_iter()
            .flat_map(|c| match c {
                Ok(c) => crate::accounts::with_saved_accounts(vec![c])
                    .into_iter()
                    .map(Ok)
                    .collect(),
                Err(e) => vec![Err(e)],
            })
            .collect(),
    };
    let view = &View {
        force: args.force,
        offline: args.offline,
    };
    // One refresh and identity call per connection, all at once.
    let lines: Vec<Line> = std::thread::scope(|scope| {
        let jobs: Vec<_> = configs
            .into_iter()
            .map(|c| scope.spawn(move || one(c, view)))
            .collect();
        jobs.into_iter()
            .map(|j| j.join().expect("a refresh"))
            .collect()
    });
    print(&lines, args.json);
    exit_code(&lines)
}

/// What each thread needs of the arguments.
struct View {
    force: bool,
    offline: bool,
}

fn one(config: Result<AuthConfig, (String, String)>, args: &View) -> Line {
    let config = match config {
        Ok(c) => c,
        Err((service, why)) => return line(service, "error", None, Some(why)),
    };
    let service = config.service.clone();
    let account = crate::accounts::account_name(&config);
    let line = |service, outcome, expires_at, reason| Line {
        account: account.clone(),
        ..line(service, outcome, expires_at, reason)
    };
    let manager = OAuthManager::new(config.clone());
    let when = match args.force {
        true => RefreshWhen::Always,
        false => RefreshWhen::Due { lead: LEAD },
    };
    let (outcome, expires_at) = match manager.refresh_now(when) {
        // A key from the environment, or one saved without expiry: nothing
        // to renew, and (as the keeper does) no identity check.
        Ok(Renewal::NotConnected) if config.resolved_api_key().is_some() => {
            return line(service, "api_key", None, None)
        }
        Ok(Renewal::ApiKey) => return line(service, "api_key", None, None),
        Ok(Renewal::NotConnected) => {
            let why = "no saved token; sign in first".to_string();
            return line(service, "not_connected", None, Some(why));
        }
        Ok(Renewal::NeedsReconnect { reason }) => {
            return line(service, "needs_reconnect", None, Some(reason))
        }
        Ok(Renewal::Fresh { expires_at }) => ("fresh", expires_at),
        Ok(Renewal::Refreshed { expires_at }) => ("refreshed", expires_at),
        Ok(Renewal::CannotRenew { expires_at }) => ("cannot_renew", expires_at),
        Err(e) if e.retry() != crate::Retry::No => {
            return line(service, "failed", None, Some(e.to_string()))
        }
        // A setting missing, a token file that cannot be used: a person
        // must act, but signing in again may not be what fixes it.
        Err(e) => return line(service, "error", None, Some(e.to_string())),
    };
    if args.offline {
        return line(service, outcome, expires_at, None);
    }
    // The health check: is the token still accepted? (A 401 is recorded in
    // the file, after one refresh was tried.)
    let status = manager.check();
    match status.state {
        State::NeedsReconnect => line(service, "needs_reconnect", None, status.detail),
        _ => line(service, outcome, status.expires_at.or(expires_at), None),
    }
}

fn line(
    service: String,
    outcome: &'static str,
    expires_at: Option<f64>,
    reason: Option<String>,
) -> Line {
    Line {
        service,
        account: None,
        outcome,
        expires_at,
        reason,
    }
}

fn print(lines: &[Line], json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(lines).expect("plain data")
        );
        return;
    }
    let now = crate::system_clock()();
    for l in lines {
        let expires = |e: Option<f64>| match e {
            Some(e) if e > now => format!("expires {}", relative(e - now)),
            Some(e) => format!("expired {}", relative(e - now)),
            None => "no expiry saved".into(),
        };
        let reason = l.reason.clone().unwrap_or_default();
        let s = &l.service;
        // A saved account's own command, and its name on the line.
        let (auth, who) = match &l.account {
            Some(a) => (format!("{s} --account {a}"), format!("{s} ({a})")),
            None => (s.clone(), s.clone()),
        };
        let text = match l.outcome {
            "refreshed" => format!("refreshed ({})", expires(l.expires_at)),
            "fresh" => format!("fresh ({})", expires(l.expires_at)),
            "cannot_renew" => format!(
                "cannot renew by itself (no refresh token); {}",
                expires(l.expires_at)
            ),
            "api_key" => "API key (never expires; nothing to refresh)".into(),
            "not_connected" => format!("not connected; run `planopticon auth {auth}` to sign in"),
            "failed" => format!("refresh failed for now, the next run tries again: {reason}"),
            "error" => format!("cannot be refreshed: {reason}"),
            _ => {
                format!(
                    "needs reconnecting: {reason}; run `planopticon auth {auth}` to sign in again"
                )
            }
        };
        println!("{who}: {text}");
    }
    if lines.is_empty() {
        eprintln!(
            "No saved connections to refresh. Sign in with `planopticon auth SERVICE`; `planopticon status` lists the services."
        );
    }
}

fn exit_code(lines: &[Line]) -> i32 {
    let needs_person =
        |l: &&Line| matches!(l.outcome, "needs_reconnect" | "not_connected" | "error");
    if lines.iter().any(|l| needs_person(&l)) {
        1
    } else if lines.iter().any(|l| l.outcome == "failed") {
        EX_TEMPFAIL
    } else {
        0
    }
}
