//! `planopticon config SERVICE [KEY [VALUE]] [--unset KEY]` and
//! `planopticon auth SERVICE --with-token`: the library's setup in a
//! terminal's words. Secrets come from stdin, never from an argument.

use std::io::{BufRead, IsTerminal, Read, Write};

use crate::config::title_case;
use crate::setup::{Endpoints, Key, KeyCheck, KeyStore, SecretStore, Setting, Setup, Source};
use crate::{AuthConfig, Error};

/// One secret from stdin: the first line, without its line end.
fn read_secret(prompt: &str) -> Option<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
    }
    let mut text = String::new();
    // One line (a terminal gives it on Enter); a token is short, so at
    // most 64 KiB is read.
    stdin.lock().take(1 << 16).read_line(&mut text).ok()?;
    let line = text.trim().to_string();
    (!line.is_empty()).then_some(line)
}

/// `auth SERVICE --with-token`: exit 0 when saved, 1 when refused.
pub(super) fn with_token(config: &AuthConfig) -> i32 {
    let service = &config.service;
    let name = title_case(service);
    let Some(key) = read_secret(&format!("Paste the {name} token or API key, then Enter: ")) else {
        tell!("{name} token not saved: nothing was read from stdin (pipe it in: `planopticon auth {service} --with-token < file`)");
        return 1;
    };
    match Setup::load().save_api_key(service, &key) {
        Ok(saved) => {
            match &saved.check {
                KeyCheck::Accepted(a) if !a.label().is_empty() => {
                    say!("{name} token saved (account: {}).", a.label())
                }
                KeyCheck::Accepted(_) => say!("{name} token saved."),
                KeyCheck::NotChecked(why) => {
                    say!("{name} token saved.");
                    tell!("Note: it could not be checked with {service} ({why}).");
                }
            }
            match &saved.stored {
                KeyStore::TokenFile(path) => tell!("Saved in {}.", path.display()),
                KeyStore::Secret(SecretStore::Keyring) => {
                    tell!("Saved in the OS keyring (user {service}_api_key).")
                }
                KeyStore::Secret(SecretStore::ServicesFile) => {
                    tell!(
                        "Saved in {} as [{service}] api_key.",
                        crate::services::Registry::path().display()
                    )
                }
            }
            if let Some(var) = &saved.shadowed_by {
                tell!("Note: {var} is set in the environment and is used instead.");
            }
            0
        }
        Err(e) => {
            tell!("{name} token not saved: {e}");
            1
        }
    }
}

/// `config`: exit 0 done, 1 refused (bad value, broken file), 2 usage
/// (unknown key, a secret given as an argument).
pub(super) fn config(
    service: &str,
    key: Option<String>,
    value: Option<String>,
    unset: Option<String>,
) -> i32 {
    let setup = Setup::load();
    if let Some(k) = unset {
        return match parse_key(&k) {
            Ok(key) => unset_key(&setup, service, key),
            Err(code) => code,
        };
    }
    let Some(k) = key else {
        return show(&setup, service, None);
    };
    let key = match parse_key(&k) {
        Ok(key) => key,
        Err(code) => return code,
    };
    match value {
        None => show(&setup, service, Some(key)),
        Some(value) => set_key(&setup, service, key, &value),
    }
}

fn parse_key(k: &str) -> Result<Key, i32> {
    k.parse::<Key>().map_err(|e| {
        tell!("error: {e}");
        2
    })
}

/// Says why a setting was not saved; the exit code.
fn config_failed(service: &str, e: Error) -> i32 {
    tell!("{} setting not saved: {e}", title_case(service));
    match e {
        Error::UnknownService { .. } | Error::UnknownKey { .. } => 2,
        _ => 1,
    }
}

fn unset_key(setup: &Setup, service: &str, key: Key) -> i32 {
    match setup.unset(service, key) {
        Ok(true) => {
            say!("Unset {service} {key}.");
            0
        }
        Ok(false) => {
            say!(
                "{service} has no {key} in {}.",
                setup.file().path().display()
            );
            0
        }
        Err(e) => config_failed(service, e),
    }
}

/// Prints the service's settings, or the one of `key`.
fn show(setup: &Setup, service: &str, key: Option<Key>) -> i32 {
    match setup.effective(service) {
        Ok(settings) => {
            print_settings(
                &settings
                    .into_iter()
                    .filter(|s| key.is_none_or(|k| s.key == k))
                    .collect::<Vec<_>>(),
            );
            0
        }
        Err(e) => config_failed(service, e),
    }
}

fn set_key(setup: &Setup, service: &str, key: Key, value: &str) -> i32 {
    let value = match (value, key.is_secret()) {
        ("-", _) => match read_secret(&format!("{key} for {service}: ")) {
            Some(v) => v,
            None => {
                tell!("error: nothing was read from stdin for {key}");
                return 1;
            }
        },
        (_, true) => {
            tell!("error: a secret is read from stdin, never from the command line (it would stay in the shell's history): `planopticon config {service} {key} -`");
            return 2;
        }
        (v, false) => v.to_string(),
    };
    if let Err(e) = setup.set(service, key, &value) {
        return config_failed(service, e);
    }
    match (key.is_secret(), setup.secret_store()) {
        (true, SecretStore::Keyring) => {
            say!("Saved {service} {key} in the OS keyring.")
        }
        _ => say!("Set {service} {key} in {}.", setup.file().path().display()),
    }
    let shadowed = setup.effective(service).ok().and_then(|settings| {
        settings
            .into_iter()
            .find(|s| s.key == key && !s.editable)
            .and_then(|s| match s.source {
                Source::Environment(var) => Some(var),
                _ => None,
            })
    });
    if let Some(var) = shadowed {
        tell!("Note: {var} is set in the environment and is used instead.");
    }
    0
}

fn print_settings(settings: &[Setting]) {
    say!("{:<26} {:<50} SOURCE", "KEY", "VALUE");
    for s in settings {
        let source = match s.editable {
            true => s.source.to_string(),
            false => format!("{}, cannot be changed here", s.source),
        };
        say!(
            "{:<26} {:<50} {source}",
            s.key.as_str(),
            s.value.to_string()
        );
    }
}

/// `config SERVICE --add-issuer URL | --add-endpoints A T | --remove`:
/// exit 0 done, 1 refused.
pub(super) fn add_or_remove(
    service: &str,
    issuer: Option<String>,
    endpoints: Option<Vec<String>>,
    remove: bool,
) -> i32 {
    let setup = Setup::load();
    let path = setup.file().path().display().to_string();
    if remove {
        return match setup.remove_service(service) {
            Ok(true) => {
                say!("Removed [{service}] from {path}.");
                0
            }
            Ok(false) => {
                say!("{service} has no table in {path}.");
                0
            }
            Err(e) => {
                tell!("{} not removed: {e}", title_case(service));
                1
            }
        };
    }
    let endpoints = match (issuer, endpoints) {
        (Some(i), _) => Endpoints::Issuer(i),
        (None, Some(mut urls)) if urls.len() == 2 => {
            let token = urls.pop().expect("two");
            let authorize = urls.pop().expect("two");
            Endpoints::Urls { authorize, token }
        }
        _ => return 2,
    };
    match setup.add_service(service, endpoints) {
        Ok(added) => {
            say!("Added [{service}] to {path}.");
            if let Some(m) = &added.discovered {
                let show = |name: &str, v: &Option<String>| {
                    if let Some(v) = v {
                        say!("  {name:<24} {v}");
                    }
                };
                say!("  {:<24} {}", "issuer", m.issuer);
                show("authorization_endpoint", &m.authorization_endpoint);
                show("token_endpoint", &m.token_endpoint);
                show("userinfo_endpoint", &m.userinfo_endpoint);
                show("revocation_endpoint", &m.revocation_endpoint);
                show("device_endpoint", &m.device_authorization_endpoint);
            }
            tell!("Next: `planopticon config {service} client_id ID`, then `planopticon auth {service}`.");
            0
        }
        Err(e) => {
            tell!("{} not added: {e}", title_case(service));
            1
        }
    }
}
