//! The built-in services and the user's own, from `~/.planopticon/services.toml`.
//!
//! A table named after a built-in service overrides only the keys it sets; a
//! table with a new name adds a service. Keys are the `AuthConfig` field names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::{
    config_dir, env_value, AuthConfig, IdentityMethod, RevocationStyle,
    FIXED_LOOPBACK_REDIRECT_URI, LOCALHOST_REDIRECT_URI, LOOPBACK_REDIRECT_URI,
};
use crate::{Error, Result};

pub const BUILTIN: [&str; 7] = [
    "google",
    "dropbox",
    "zoom",
    "notion",
    "github",
    "microsoft",
    "plane",
];

pub const DEFAULT_PLANE_BASE_URL: &str = "https://api.plane.so";

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A built-in value (the tables below read as the spec's).
fn env(s: &str) -> Option<String> {
    Some(s.to_string())
}

/// The built-in configuration of `service`, before `services.toml`.
pub fn builtin(service: &str) -> Option<AuthConfig> {
    let mut c = AuthConfig::new(service);
    let fill: fn(&mut AuthConfig) = match service {
        "google" => google,
        "dropbox" => dropbox,
        "zoom" => zoom,
        "notion" => notion,
        "github" => github,
        "microsoft" => microsoft,
        "plane" => plane,
        _ => return None,
    };
    fill(&mut c);
    Some(c)
}

fn google(c: &mut AuthConfig) {
    c.display_name = env("Google");
    c.oauth_authorize_url = env("https://accounts.google.com/o/oauth2/v2/auth");
    c.oauth_token_url = env("https://oauth2.googleapis.com/token");
    c.client_id_env = env("GOOGLE_CLIENT_ID");
    c.client_secret_env = env("GOOGLE_CLIENT_SECRET");
    c.api_key_env = env("GOOGLE_API_KEY");
    c.scopes = strs(&[
        "https://www.googleapis.com/auth/drive.readonly",
        "https://www.googleapis.com/auth/documents.readonly",
    ]);
    // Google blocked the paste (OOB) flow in 2023.
    c.redirect_uri = env(LOOPBACK_REDIRECT_URI);
    c.service_account_env = env("GOOGLE_APPLICATION_CREDENTIALS");
    // Without it Google issues no refresh token.
    c.authorize_params
        .insert("access_type".into(), "offline".into());
    c.issuer = env("https://accounts.google.com");
    c.userinfo_url = env("https://openidconnect.googleapis.com/v1/userinfo");
    c.revocation_url = env("https://oauth2.googleapis.com/revoke");
    c.device_authorization_url = env("https://oauth2.googleapis.com/device/code");
}

fn dropbox(c: &mut AuthConfig) {
    c.display_name = env("Dropbox");
    c.oauth_authorize_url = env("https://www.dropbox.com/oauth2/authorize");
    c.oauth_token_url = env("https://api.dropboxapi.com/oauth2/token");
    c.client_id_env = env("DROPBOX_APP_KEY");
    c.client_secret_env = env("DROPBOX_APP_SECRET");
    c.api_key_env = env("DROPBOX_ACCESS_TOKEN");
    // Dropbox matches the registered redirect URI exactly, port
    // included: one fixed port. Pasting sends no redirect URI, and
    // Dropbox shows the code to paste.
    c.redirect_uri = env(FIXED_LOOPBACK_REDIRECT_URI);
    c.paste_redirect_uri = Some(String::new());
    // Without it Dropbox issues no refresh token.
    c.authorize_params
        .insert("token_access_type".into(), "offline".into());
    c.userinfo_url = env("https://api.dropboxapi.com/2/users/get_current_account");
    c.userinfo_method = Some(IdentityMethod::Post);
    c.revocation_url = env("https://api.dropboxapi.com/2/auth/token/revoke");
    c.revocation_style = Some(RevocationStyle::Bearer);
}

fn zoom(c: &mut AuthConfig) {
    c.display_name = env("Zoom");
    c.oauth_authorize_url = env("https://zoom.us/oauth/authorize");
    c.oauth_token_url = env("https://zoom.us/oauth/token");
    c.client_id_env = env("ZOOM_CLIENT_ID");
    c.client_secret_env = env("ZOOM_CLIENT_SECRET");
    c.account_id_env = env("ZOOM_ACCOUNT_ID");
    c.redirect_uri = env(LOOPBACK_REDIRECT_URI);
    c.userinfo_url = env("https://api.zoom.us/v2/users/me");
    c.revocation_url = env("https://zoom.us/oauth/revoke");
    c.revocation_style = Some(RevocationStyle::QueryToken);
}

fn notion(c: &mut AuthConfig) {
    c.display_name = env("Notion");
    c.oauth_authorize_url = env("https://api.notion.com/v1/oauth/authorize");
    c.oauth_token_url = env("https://api.notion.com/v1/oauth/token");
    c.client_id_env = env("NOTION_CLIENT_ID");
    c.client_secret_env = env("NOTION_CLIENT_SECRET");
    c.api_key_env = env("NOTION_API_KEY");
    c.authorize_params.insert("owner".into(), "user".into());
    // Notion documents no loopback rule: the exact URI, one fixed port.
    c.redirect_uri = env(FIXED_LOOPBACK_REDIRECT_URI);
    c.userinfo_url = env("https://api.notion.com/v1/users/me");
    c.revocation_url = env("https://api.notion.com/v1/oauth/revoke");
    c.revocation_style = Some(RevocationStyle::JsonToken);
    c.api_headers
        .insert("Notion-Version".into(), "2022-06-28".into());
}

fn github(c: &mut AuthConfig) {
    c.display_name = env("GitHub");
    c.oauth_authorize_url = env("https://github.com/login/oauth/authorize");
    c.oauth_token_url = env("https://github.com/login/oauth/access_token");
    c.client_id_env = env("GITHUB_CLIENT_ID");
    c.client_secret_env = env("GITHUB_CLIENT_SECRET");
    c.api_key_env = env("GITHUB_TOKEN");
    c.scopes = strs(&["repo", "read:org"]);
    c.redirect_uri = env(LOOPBACK_REDIRECT_URI);
    c.userinfo_url = env("https://api.github.com/user");
    c.device_authorization_url = env("https://github.com/login/device/code");
    c.revocation_url = env("https://api.github.com/applications/{client_id}/token");
    c.revocation_style = Some(RevocationStyle::GithubApp);
    c.api_headers
        .insert("Accept".into(), "application/vnd.github+json".into());
    c.api_headers
        .insert("X-GitHub-Api-Version".into(), "2022-11-28".into());
}

fn microsoft(c: &mut AuthConfig) {
    c.display_name = env("Microsoft");
    c.oauth_authorize_url = env("https://login.microsoftonline.com/common/oauth2/v2.0/authorize");
    c.oauth_token_url = env("https://login.microsoftonline.com/common/oauth2/v2.0/token");
    c.client_id_env = env("MICROSOFT_CLIENT_ID");
    c.client_secret_env = env("MICROSOFT_CLIENT_SECRET");
    // `offline_access` is a deliberate difference from the Python
    // tool, whose Microsoft scopes lack it: without it Microsoft
    // issues no refresh token, so the connection dies after an hour
    // and cannot be kept alive. Microsoft's own MSAL adds it to
    // every request.
    c.scopes = strs(&[
        "https://graph.microsoft.com/OnlineMeetings.Read",
        "https://graph.microsoft.com/Files.Read",
        "offline_access",
    ]);
    // Microsoft rejects the OOB redirect, and its app registrations
    // refuse http://127.0.0.1 for desktop apps; http://localhost with
    // any port is accepted.
    c.redirect_uri = env(LOCALHOST_REDIRECT_URI);
    c.userinfo_url = env("https://graph.microsoft.com/v1.0/me");
    c.device_authorization_url =
        env("https://login.microsoftonline.com/common/oauth2/v2.0/devicecode");
}

fn plane(c: &mut AuthConfig) {
    let base = env_value("PLANE_BASE_URL").unwrap_or_else(|| DEFAULT_PLANE_BASE_URL.to_string());
    let base = base.trim_end_matches('/');
    c.display_name = env("Plane");
    c.oauth_authorize_url = Some(format!("{base}/auth/o/authorize-app/"));
    c.oauth_token_url = Some(format!("{base}/auth/o/token/"));
    c.client_id_env = env("PLANE_CLIENT_ID");
    c.client_secret_env = env("PLANE_CLIENT_SECRET");
    c.api_key_env = env("PLANE_API_KEY");
    c.scopes = strs(&["read", "write"]);
    c.userinfo_url = Some(format!("{base}/api/v1/users/me/"));
    c.revocation_url = Some(format!("{base}/auth/o/revoke-token/"));
    // Plane's personal tokens go in their own header, not as Bearer.
    c.api_key_header = env("x-api-key");
    c.workspace_url = Some(format!("{base}/auth/o/app-installation/"));
}

/// Every service the CLI and the app offer: the built-ins, overridden and
/// extended by `services.toml`. A mistake in the file stops only the
/// service whose table holds it; the rest keep working.
#[derive(Clone, Debug)]
pub struct Registry {
    services: BTreeMap<String, AuthConfig>,
    path: PathBuf,
    /// Services whose table could not be used, with why.
    broken: BTreeMap<String, String>,
    /// Every problem with the file, for a front end to show on each use.
    problems: Vec<String>,
}

impl Registry {
    pub fn path() -> PathBuf {
        config_dir().join("services.toml")
    }

    /// The built-ins plus `~/.planopticon/services.toml` when it exists.
    pub fn load() -> Self {
        Self::load_from(&Self::path())
    }

    pub fn load_from(path: &Path) -> Self {
        let mut reg = Self::builtins();
        reg.path = path.into();
        // A FIFO would block the read until something writes to it.
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            reg.problems
                .push("is not a regular file; move it away".into());
            return reg;
        }
        match std::fs::read_to_string(path) {
            Ok(text) => reg.merge(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => reg.problems.push(format!(
                "cannot be read: {e}. Check that you own it and its folder ({})",
                crate::platform::take_ownership_hint(path.parent().unwrap_or(path))
            )),
        }
        reg
    }

    /// The built-ins merged with `text`, a services.toml; `path` names it in
    /// errors. Strict: any problem in the file is an error.
    pub fn from_toml(path: &Path, text: &str) -> Result<Self> {
        let reg = Self::from_text(path, text);
        match reg.problems.first() {
            Some(message) => Err(reg.file_error(message)),
            None => Ok(reg),
        }
    }

    /// The built-ins merged with `text`, problems kept (see [`Self::problems`]).
    pub(crate) fn from_text(path: &Path, text: &str) -> Self {
        let mut reg = Self::builtins();
        reg.path = path.into();
        reg.merge(text);
        reg
    }

    pub fn builtins() -> Self {
        let services = BUILTIN
            .iter()
            .map(|s| (s.to_string(), builtin(s).expect("built-in")))
            .collect();
        Self {
            services,
            path: Self::path(),
            broken: BTreeMap::new(),
            problems: Vec::new(),
        }
    }

    fn file_error(&self, message: &str) -> Error {
        Error::ServicesFile {
            path: self.path.clone(),
            message: message.into(),
        }
    }

    /// The problems with services.toml, each naming the file, and the line,
    /// table and key where it can.
    pub fn problems(&self) -> Vec<Error> {
        self.problems.iter().map(|m| self.file_error(m)).collect()
    }

    /// Whether the file's only problem is `service`'s own table (a value
    /// it cannot use): the one case an edit may start from, to repair it.
    pub fn only_broken(&self, service: &str) -> bool {
        self.problems.len() == 1 && self.broken.contains_key(service)
    }

    /// `service` as listed, even when its table is broken (a built-in as
    /// built, a new one bare); see [`Self::get`] for the one to use.
    pub fn listed(&self, service: &str) -> Option<&AuthConfig> {
        self.services.get(service)
    }

    /// Why `service`'s table could not be used, if it could not.
    pub fn broken(&self, service: &str) -> Option<Error> {
        self.broken.get(service).map(|m| self.file_error(m))
    }

    /// Reads each table on its own: a table that does not deserialize is
    /// set aside (its lines blanked, so later errors keep their line
    /// numbers) and the rest are read again.
    fn merge(&mut self, text: &str) {
        let mut text = text.to_string();
        let tables = loop {
            match toml::from_str::<BTreeMap<String, AuthConfig>>(&text) {
                Ok(tables) => break tables,
                Err(e) => {
                    let message = describe_toml_error(&text, &e);
                    match e.span().and_then(|span| table_of_error(&text, span.start)) {
                        Some(name) if !self.broken.contains_key(&name) => {
                            text = blank_table(&text, &name);
                            self.set_broken(name, message);
                        }
                        _ => {
                            self.problems.push(message);
                            return;
                        }
                    }
                }
            }
        };
        for (name, over) in tables {
            if !valid_service_name(&name) {
                self.problems.push(format!(
                    "[{name}]: a service name may hold only lower-case letters, digits, '-' and '_' (it names the token file)"
                ));
                continue;
            }
            match self.services.get_mut(&name) {
                Some(existing) => existing.apply(over),
                None => {
                    let mut c = AuthConfig::new(&name);
                    c.apply(over);
                    // A token URL alone is a server-to-server service; an
                    // authorize URL alone can do nothing.
                    if c.oauth_authorize_url.is_some()
                        && c.oauth_token_url.is_none()
                        && c.issuer.is_none()
                    {
                        self.set_broken(
                            name,
                            format!(
                                "[{}]: oauth_authorize_url needs oauth_token_url (or set issuer)",
                                c.service
                            ),
                        );
                        continue;
                    }
                    self.services.insert(name, c);
                }
            }
        }
    }

    /// A broken table's service stays listed (a built-in as built, a new
    /// one bare) so that it reports its error when used.
    fn set_broken(&mut self, name: String, message: String) {
        self.problems.push(message.clone());
        if valid_service_name(&name) {
            self.services
                .entry(name.clone())
                .or_insert_with(|| AuthConfig::new(&name));
            self.broken.insert(name, message);
        }
    }

    pub fn get(&self, service: &str) -> Result<AuthConfig> {
        if let Some(e) = self.broken(service) {
            return Err(e);
        }
        self.services
            .get(service)
            .cloned()
            .ok_or_else(|| Error::UnknownService {
                name: service.into(),
                available: self.names().join(", "),
            })
    }

    /// Service ids, sorted.
    pub fn names(&self) -> Vec<String> {
        self.services.keys().cloned().collect()
    }

    /// Every service, broken ones included (see [`Self::statuses`]).
    pub fn configs(&self) -> impl Iterator<Item = &AuthConfig> {
        self.services.values()
    }

    /// The registry with every service's keyring secrets read now, once
    /// each (see [`AuthConfig::with_keyring_read`]).
    pub fn with_keyring_read(mut self) -> Self {
        for c in self.services.values_mut() {
            *c = c.with_keyring_read();
        }
        self
    }

    /// Every service's status from its files (no network); a service whose
    /// table is broken shows the error.
    pub fn statuses(&self, now: f64) -> Vec<crate::ServiceStatus> {
        self.configs()
            .map(|c| {
                let mut s = crate::ServiceStatus::of(c, now);
                if let Some(e) = self.broken(&c.service) {
                    s.state = crate::State::Error;
                    s.detail = Some(e.to_string());
                    s.can_sign_in = false;
                    s.offers_device = false;
                }
                s
            })
            .collect()
    }
}

/// The table a mistake at byte `at` belongs to: the one its header opens
/// when the mistake is in a header, else the section it is in; `None`
/// before any table (then no one table can be set aside).
fn table_of_error(text: &str, at: usize) -> Option<String> {
    let mut start = at.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let line = text[..start].rsplit('\n').next().unwrap_or("").to_string()
        + text[start..].split('\n').next().unwrap_or("");
    header_name(&line).or_else(|| table_at(text, at))
}

/// The top-level table whose section holds byte `at` of `text`.
fn table_at(text: &str, at: usize) -> Option<String> {
    let mut start = at.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    text[..start].lines().rev().find_map(header_name)
}

/// `acme` for `[acme]`, `[acme.authorize_params]` or `["acme"]`.
fn header_name(line: &str) -> Option<String> {
    let inner = line.trim().strip_prefix('[')?;
    if inner.starts_with('[') {
        return None;
    }
    let inner = inner.trim_start();
    let name = match inner.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?,
        None => inner.split(['.', ']']).next()?.trim(),
    };
    Some(name.to_string())
}

/// `text` with every line of `name`'s sections emptied.
fn blank_table(text: &str, name: &str) -> String {
    let mut inside = false;
    text.split_inclusive('\n')
        .map(|line| {
            if let Some(h) = header_name(line) {
                inside = h == name;
            }
            match (inside, line.ends_with('\n')) {
                (false, _) => line,
                (true, true) => "\n",
                (true, false) => "",
            }
        })
        .collect()
}

pub(crate) fn valid_service_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// serde's "unknown field `x`, expected one of (every key)" is a screenful;
/// the closest key is what a person needs.
pub(crate) fn shorten_unknown_field(msg: &str) -> String {
    let Some((head, known)) = msg.split_once(", expected one of ") else {
        return msg.to_string();
    };
    let Some(field) = head
        .strip_prefix("unknown field `")
        .and_then(|f| f.strip_suffix('`'))
    else {
        return msg.to_string();
    };
    let closest = known
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|k| (strsim::jaro_winkler(field, k), k))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(score, _)| *score > 0.8);
    match closest {
        Some((_, k)) => format!("{head}; did you mean `{k}`? (the keys are listed in the README)"),
        None => format!("{head} (the keys are listed in the README)"),
    }
}

/// toml's message, with the line number, the table and the line itself.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = shorten_unknown_field(e.message().trim());
    let Some(span) = e.span() else { return msg };
    // toml's span may start inside a multi-byte character ("\é").
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let line_no = text[..start].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
    let table = text
        .lines()
        .take(line_no)
        .filter_map(|l| l.trim().strip_prefix('['))
        .last()
        .map(|t| format!(" in [{}", t.trim_start_matches('[')))
        .unwrap_or_default();
    if line.is_empty() {
        format!("line {line_no}{table}: {msg}")
    } else {
        format!("line {line_no}{table}, `{line}`: {msg}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(text: &str) -> Result<Registry> {
        Registry::from_toml(Path::new("/x/services.toml"), text)
    }

    #[test]
    fn a_broken_table_stops_only_its_service() {
        let text = "[acme]\nclient_idd = \"x\"\n\n[beta]\noauth_authorize_url = \"http://127.0.0.1:9/a\"\noauth_token_url = \"http://127.0.0.1:9/t\"\n\n[zoom]\nscopes = \"one\"\n";
        let mut r = Registry::builtins();
        r.path = "/x/services.toml".into();
        r.merge(text);
        let problems: Vec<String> = r.problems().iter().map(|e| e.to_string()).collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("line 2") && problems[0].contains("client_idd"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("line 9") && problems[1].contains("[zoom]"),
            "{problems:?}"
        );
        assert!(r.get("beta").is_ok());
        assert!(r.get("github").is_ok());
        let e = r.get("acme").unwrap_err().to_string();
        assert!(e.contains("client_idd"), "{e}");
        assert!(
            r.get("zoom").is_err(),
            "a broken override is not silently ignored"
        );
        let statuses = r.statuses(0.0);
        let acme = statuses.iter().find(|s| s.service == "acme").unwrap();
        assert_eq!(acme.state, crate::State::Error);
        // A syntax error inside one table stops that table only.
        let mut r = Registry::builtins();
        r.merge("[acme]\napi_key_env = \"ACME_KEY\"\n\n[beta]\nclient_id = abc\n");
        assert_eq!(r.problems().len(), 1, "{:?}", r.problems());
        assert!(r.get("acme").is_ok());
        assert!(r.get("beta").is_err());
        // One in a table header stops the table it opens.
        let mut r = Registry::builtins();
        r.merge("[acme\nclient_id = \"x\"\n[beta]\napi_key_env = \"B\"\n");
        assert_eq!(r.problems().len(), 1, "{:?}", r.problems());
        assert!(r.get("acme").is_err() && r.get("beta").is_ok());
        // One before any table stops them all (the built-ins stay).
        let mut r = Registry::builtins();
        r.merge("oops\n[acme]\n");
        assert_eq!(r.problems().len(), 1);
        assert_eq!(r.names().len(), BUILTIN.len());
    }

    #[test]
    fn builtins_match_the_reference() {
        let r = Registry::builtins();
        assert_eq!(
            r.names(),
            [
                "dropbox",
                "github",
                "google",
                "microsoft",
                "notion",
                "plane",
                "zoom"
            ]
        );
        let z = r.get("zoom").unwrap();
        assert_eq!(
            z.oauth_token_url.as_deref(),
            Some("https://zoom.us/oauth/token")
        );
        assert_eq!(z.account_id_env.as_deref(), Some("ZOOM_ACCOUNT_ID"));
        assert_eq!(z.api_key_env, None);
        let g = r.get("github").unwrap();
        assert_eq!(g.scopes, ["repo", "read:org"]);
        assert_eq!(g.api_key_env.as_deref(), Some("GITHUB_TOKEN"));
        let d = r.get("dropbox").unwrap();
        assert_eq!(d.client_id_env.as_deref(), Some("DROPBOX_APP_KEY"));
    }

    #[test]
    fn override_keeps_unset_fields_and_custom_adds_a_service() {
        let r = merged(
            r#"
[microsoft]
oauth_authorize_url = "https://login.microsoftonline.com/t1/oauth2/v2.0/authorize"
oauth_token_url = "https://login.microsoftonline.com/t1/oauth2/v2.0/token"

[acme]
oauth_authorize_url = "http://127.0.0.1:9/auth"
oauth_token_url = "http://127.0.0.1:9/token"
client_id = "c"
scopes = ["read"]
"#,
        )
        .unwrap();
        let m = r.get("microsoft").unwrap();
        assert!(m.oauth_token_url.unwrap().contains("/t1/"));
        assert_eq!(m.client_id_env.as_deref(), Some("MICROSOFT_CLIENT_ID"));
        // The spec's two and offline_access.
        assert_eq!(m.scopes.len(), 3);
        let a = r.get("acme").unwrap();
        assert_eq!(a.service, "acme");
        assert_eq!(a.scopes, ["read"]);
        assert!(r.names().contains(&"acme".to_string()));
    }

    #[test]
    fn malformed_files_name_line_and_key() {
        let e = merged("[acme]\noauth_token_url = \"x\"\nclient_idd = \"c\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/x/services.toml"), "{e}");
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("client_idd"), "{e}");
        assert!(e.contains("did you mean `client_id`?"), "{e}");

        let e = merged("[acme]\nscopes = \"read\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("scopes"), "{e}");

        let e = merged("[acme\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");

        let e = merged("[\"Bad Name\"]\nclient_id = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Bad Name"), "{e}");
    }
}
