//! The Set up, API key and Add a service forms: what they show and what
//! Save does, as plain functions over the library's `planopticon::setup`
//! and `planopticon::guide` (tested without a display). Every decision (is
//! a value valid, where does a secret go, which keys does a tenant set) is
//! the library's; here its answers become the form's fields and words.

use planopticon::guide::{self, Extra, Guide};
use planopticon::setup::{
    BadValue, Change, Endpoints, Key, KeyCheck, KeyStore, SecretStore, Setting, Setup, Shown,
    Source,
};
use planopticon::{AuthConfig, Error as LibError, Registry};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// One field of a form.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Field {
    /// A key of services.toml, or an extra (`tenant`, `base_url`).
    pub name: String,
    pub label: String,
    /// The value in effect ("" for a secret: only whether it is set).
    pub value: String,
    pub secret: bool,
    /// A secret is set (somewhere: services.toml, the keyring, the environment).
    pub set: bool,
    /// Where the value comes from, in words ("built-in", "services.toml",
    /// "environment (ZOOM_CLIENT_ID)", "keyring"); "" when unset.
    pub source: String,
    /// False when the environment sets it and a value saved here would not
    /// win: the form shows it read-only with `note`.
    pub editable: bool,
    pub note: Option<String>,
    /// A hint inside the empty field.
    pub placeholder: String,
    /// services.toml holds a value here that cannot be used (shown as
    /// `value`): why. The form opens with the field marked.
    pub error: Option<String>,
}

/// The Set up form of one service.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceForm {
    pub service: String,
    pub display_name: String,
    pub builtin: bool,
    /// It has a table in services.toml that Remove would delete.
    pub removable: bool,
    pub guide: Guide,
    /// Client id, client secret, then the service's extras.
    pub fields: Vec<Field>,
    /// Endpoints, scopes, redirect URI.
    pub advanced: Vec<Field>,
    /// Where a client secret saved now goes, in words.
    pub secret_goes_to: String,
    pub services_file: String,
    /// What is wrong with services.toml: Save is refused until it is fixed.
    pub file_error: Option<String>,
    /// The file's only problem is this service's own table: Save repairs
    /// it (the marked fields corrected), rather than being refused.
    pub repairable: bool,
}

/// A field as the form sends it: `value` `None` clears it.
#[derive(Clone, Deserialize)]
pub struct FieldInput {
    pub name: String,
    pub value: Option<String>,
}

/// A client secret typed in the form never shows in `Debug`.
impl std::fmt::Debug for FieldInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = self.name.parse::<Key>().is_ok_and(|k| k.is_secret());
        let value = match (&self.value, secret) {
            (None, _) => "cleared",
            (Some(_), true) => "[redacted]",
            (Some(v), false) => v.as_str(),
        };
        write!(f, "FieldInput({} = {value})", self.name)
    }
}

/// A field the library refused, with why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// What Save did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Saved {
    /// Nothing was written when false: `errors` (per field) or `message` say why.
    pub saved: bool,
    pub message: String,
    pub errors: Vec<FieldError>,
    /// The service can sign in now (the card offers Connect).
    pub can_sign_in: bool,
}

/// What saving an API key did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeySaved {
    pub message: String,
    pub account: Option<String>,
}

/// A service added, and what discovery found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AddedService {
    pub service: String,
    pub message: String,
    /// `(what, URL)` pairs from the issuer's metadata.
    pub discovered: Vec<(String, String)>,
}

const MAIN: [Key; 2] = [Key::ClientId, Key::ClientSecret];
const ADVANCED: [Key; 7] = [
    Key::Issuer,
    Key::OauthAuthorizeUrl,
    Key::OauthTokenUrl,
    Key::UserinfoUrl,
    Key::RevocationUrl,
    Key::Scopes,
    Key::RedirectUri,
];

fn label(name: &str) -> &'static str {
    match name {
        "client_id" => "Client ID",
        "client_secret" => "Client secret",
        "account_id" => "Account ID (server-to-server)",
        "tenant" => "Tenant",
        "base_url" => "Base URL (self-hosted)",
        "issuer" => "Issuer",
        "oauth_authorize_url" => "Authorization endpoint",
        "oauth_token_url" => "Token endpoint",
        "userinfo_url" => "Identity endpoint",
        "revocation_url" => "Revocation endpoint",
        "scopes" => "Scopes (separated by spaces)",
        "redirect_uri" => "Redirect URI",
        _ => "Value",
    }
}

fn source_words(source: &Source) -> String {
    match source {
        Source::Unset => String::new(),
        other => other.to_string(),
    }
}

fn field(s: &Setting) -> Field {
    let name = s.key.as_str();
    let note = match (&s.source, s.editable) {
        (Source::Environment(var), false) => Some(format!(
            "Set by {var} in the environment the app started with; it wins over a value saved here, so it cannot be changed here."
        )),
        (Source::Environment(var), true) => Some(format!(
            "From {var} in the environment; a value saved here is used instead."
        )),
        _ => None,
    };
    let (value, set) = match &s.value {
        Shown::Plain(v) => (v.clone(), true),
        Shown::Secret { set } => (String::new(), *set),
        Shown::Unset => (String::new(), false),
    };
    Field {
        name: name.into(),
        label: label(name).into(),
        value,
        secret: s.key.is_secret(),
        set,
        source: source_words(&s.source),
        editable: s.editable,
        note,
        placeholder: match (s.key, set) {
            (Key::ClientSecret, true) => "set; leave empty to keep it".into(),
            (Key::ClientSecret, false) => "none (a public client with PKCE)".into(),
            (Key::ClientId, _) => "from the app you created at the provider".into(),
            _ => String::new(),
        },
        error: None,
    }
}

/// A setting with no value anywhere.
fn unset(key: Key) -> Setting {
    Setting {
        key,
        value: Shown::Unset,
        source: Source::Unset,
        editable: true,
    }
}

/// An extra field, from the service's configuration in effect.
fn extra_field(config: &AuthConfig, extra: Extra, settings: &[Setting]) -> Field {
    let (value, source, editable, note) = match (extra, extra.set_by_env()) {
        (Extra::AccountId, _) => {
            return field(
                &settings
                    .iter()
                    .find(|s| s.key == Key::AccountId)
                    .cloned()
                    .unwrap_or_else(|| unset(Key::AccountId)),
            )
        }
        (Extra::Tenant, _) => (
            guide::tenant_of(config)
                .unwrap_or_else(|| guide::DEFAULT_TENANT.into()),
            String::new(),
            true,
            Some("common: any work, school or personal account; or your directory's domain or id. It sets the sign-in endpoints.".to_string()),
        ),
        (Extra::BaseUrl, Some(var)) => (
            guide::base_url_of(config).unwrap_or_default(),
            format!("environment ({var})"),
            false,
            Some(format!("Set by {var} in the environment the app started with; it cannot be changed here.")),
        ),
        (Extra::BaseUrl, None) => (
            guide::base_url_of(config).unwrap_or_default(),
            String::new(),
            true,
            Some("Only for a self-hosted Plane; it sets every Plane endpoint.".to_string()),
        ),
    };
    Field {
        name: extra.as_str().into(),
        label: label(extra.as_str()).into(),
        value,
        secret: false,
        set: true,
        source,
        editable,
        note,
        placeholder: String::new(),
        error: None,
    }
}

/// The problem services.toml has, if any (Save is refused while it has one).
fn file_error(registry: &Registry) -> Option<String> {
    let problems: Vec<String> = registry.problems().iter().map(|e| e.to_string()).collect();
    (!problems.is_empty()).then(|| problems.join("\n"))
}

/// The Set up form of `service` as things stand. A service whose table
/// holds a value it cannot use opens too: what can be used is shown, and
/// each bad value in its field, marked, with why.
pub fn service_form(setup: &Setup, service: &str) -> Result<ServiceForm> {
    let registry = setup.registry();
    let (config, bad) = match registry.get(service) {
        Ok(config) => (config, Vec::new()),
        Err(e) if registry.broken(service).is_none() => return Err(e.into()),
        Err(e) => setup.salvage(service).map_err(|_| e)?,
    };
    // A services.toml that does not parse: the form still opens, with the
    // file's mistake on top (Save is refused until it is fixed by hand).
    let settings = match setup.effective(service) {
        Err(LibError::ServicesFile { .. }) => Key::ALL.iter().map(|&k| unset(k)).collect(),
        other => other?,
    };
    let guide = guide::guide(&config);
    let by_key = |k: Key| settings.iter().find(|s| s.key == k).map(field);
    let mut fields: Vec<Field> = MAIN.iter().filter_map(|&k| by_key(k)).collect();
    fields.extend(
        guide
            .extras
            .iter()
            .map(|&e| extra_field(&config, e, &settings)),
    );
    let mut advanced: Vec<Field> = ADVANCED.iter().filter_map(|&k| by_key(k)).collect();
    mark_bad(&mut fields, &mut advanced, &bad);
    let builtin = planopticon::services::builtin(service).is_some();
    Ok(ServiceForm {
        service: service.into(),
        display_name: config.display_name(),
        builtin,
        removable: !builtin && setup.file().table(service).ok().flatten().is_some(),
        guide,
        fields,
        advanced,
        secret_goes_to: match setup.secret_store() {
            SecretStore::Keyring => "the OS keyring (the keyring switch in Settings is on)".into(),
            SecretStore::ServicesFile => {
                format!("{} (readable by you only)", setup.file().path().display())
            }
        },
        services_file: setup.file().path().display().to_string(),
        file_error: file_error(&registry),
        repairable: registry.only_broken(service),
    })
}

/// Each bad value of the table in its field, marked with why; a key the
/// form does not show (but can save) gets a field under Advanced. A name
/// that is no key at all is only in `file_error`: it is fixed by hand.
fn mark_bad(fields: &mut [Field], advanced: &mut Vec<Field>, bad: &[BadValue]) {
    for b in bad {
        let reason = crate::models::capitalize(&b.reason);
        let mut shown = fields.iter_mut().chain(advanced.iter_mut());
        if let Some(f) = shown.find(|f| f.name == b.key) {
            f.value = b.value.clone();
            f.error = Some(reason);
            f.editable = true;
            continue;
        }
        if let Ok(key) = b.key.parse::<Key>() {
            let mut f = field(&unset(key));
            f.label = b.key.clone();
            f.value = b.value.clone();
            f.error = Some(reason);
            advanced.push(f);
        }
    }
}

/// A library refusal in the form's words (without "nothing was saved",
/// which the form says once).
fn reason(e: &LibError) -> String {
    match e {
        LibError::InvalidValue { message, .. } => crate::models::capitalize(message),
        other => crate::models::capitalize(&other.to_string()),
    }
}

/// Save: every field expanded and checked by the library first; one
/// refused means nothing is written (each refusal told by field); a field
/// the environment sets is refused too. Then all of it in one go.
pub fn save(setup: &Setup, service: &str, inputs: &[FieldInput]) -> Result<Saved> {
    let registry = setup.registry();
    // A table's own bad value is repaired by this Save; any other mistake
    // is left for a person to fix by hand.
    let problem = file_error(&registry).filter(|_| !registry.only_broken(service));
    if let Some(problem) = problem {
        return Ok(Saved {
            saved: false,
            message: format!(
                "Nothing was saved: {} has a mistake that is left for you to fix by hand. {problem}",
                setup.file().path().display()
            ),
            errors: Vec::new(),
            can_sign_in: false,
        });
    }
    let settings = setup.effective(service)?;
    let mut errors = Vec::new();
    let mut changes: Vec<(String, Change)> = Vec::new();
    for input in inputs {
        // An empty secret keeps the saved one.
        let secret = input.name.parse::<Key>().is_ok_and(|k| k.is_secret());
        if secret && input.value.as_deref().is_some_and(|v| v.is_empty()) {
            continue;
        }
        let locked = settings
            .iter()
            .find(|s| s.key.as_str() == input.name)
            .is_some_and(|s| !s.editable)
            || Extra::ALL
                .iter()
                .any(|e| e.as_str() == input.name && e.set_by_env().is_some());
        if locked {
            errors.push(FieldError {
                field: input.name.clone(),
                message: "The environment sets it; it cannot be changed here.".into(),
            });
            continue;
        }
        match guide::expand(&input.name, input.value.as_deref()) {
            Ok(set) => changes.extend(
                set.into_iter()
                    .map(|(key, value)| (input.name.clone(), Change { key, value })),
            ),
            Err(e) => errors.push(FieldError {
                field: input.name.clone(),
                message: reason(&e),
            }),
        }
    }
    let all: Vec<Change> = changes.iter().map(|(_, c)| c.clone()).collect();
    for (key, e) in setup.check_changes(&all) {
        let field = changes
            .iter()
            .find(|(_, c)| c.key == key)
            .map_or_else(|| key.as_str().to_string(), |(f, _)| f.clone());
        errors.push(FieldError {
            field,
            message: reason(&e),
        });
    }
    if !errors.is_empty() {
        return Ok(Saved {
            saved: false,
            message: "Nothing was saved: correct the fields marked below.".into(),
            errors,
            can_sign_in: false,
        });
    }
    if let Err(e) = setup.set_all(service, &all) {
        return Ok(Saved {
            saved: false,
            message: format!("Nothing was saved: {}", reason(&e)),
            errors,
            can_sign_in: false,
        });
    }
    let secret_saved = all
        .iter()
        .any(|c| c.key == Key::ClientSecret && c.value.is_some());
    let can_sign_in = setup.registry().get(service).is_ok_and(|c| c.can_sign_in());
    let mut message = format!("Saved in {}.", setup.file().path().display());
    if secret_saved && setup.secret_store() == SecretStore::Keyring {
        message.push_str(" The client secret is in the OS keyring.");
    }
    if !can_sign_in {
        message.push_str(" Not enough yet to sign in: a client ID is needed.");
    }
    Ok(Saved {
        saved: true,
        message,
        errors: Vec::new(),
        can_sign_in,
    })
}

/// Checks `key` at the service's identity endpoint and saves it (the
/// library decides where); a key the provider refuses is an error.
pub fn save_key(setup: &Setup, service: &str, key: &str) -> Result<KeySaved> {
    let saved = setup.save_api_key(service, key)?;
    let (mut message, account) = match &saved.check {
        KeyCheck::Accepted(a) if !a.label().is_empty() => (
            format!("Saved; the provider accepted it for {}.", a.label()),
            Some(a.label()),
        ),
        KeyCheck::Accepted(_) => ("Saved; the provider accepted it.".to_string(), None),
        KeyCheck::NotChecked(why) => (format!("Saved, but it could not be checked ({why})."), None),
    };
    message.push_str(match &saved.stored {
        KeyStore::TokenFile(_) => {
            " It is the service's token file now, used by the CLI and the Python tool too."
        }
        KeyStore::Secret(SecretStore::Keyring) => " It is kept in the OS keyring.",
        KeyStore::Secret(SecretStore::ServicesFile) => " It is kept in services.toml.",
    });
    if let Some(var) = &saved.shadowed_by {
        message.push_str(&format!(
            " {var} is set in the environment and is used instead."
        ));
    }
    Ok(KeySaved { message, account })
}

/// Add a service: by its issuer (discovery runs and its findings are
/// returned) or by its two endpoint URLs.
pub fn add(
    setup: &Setup,
    name: &str,
    issuer: Option<&str>,
    authorize: Option<&str>,
    token: Option<&str>,
) -> Result<AddedService> {
    let nonempty = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let endpoints =
        match (nonempty(issuer), nonempty(authorize), nonempty(token)) {
            (Some(i), None, None) => Endpoints::Issuer(i),
            (None, Some(authorize), Some(token)) => Endpoints::Urls { authorize, token },
            _ => return Err(LibError::InvalidValue {
                key: "endpoints".into(),
                message:
                    "give either the issuer URL, or both the authorization and the token endpoint"
                        .into(),
            }
            .into()),
        };
    let added = setup.add_service(name.trim(), endpoints)?;
    let mut discovered = Vec::new();
    if let Some(m) = &added.discovered {
        discovered.push(("Issuer".to_string(), m.issuer.clone()));
        for (what, v) in [
            ("Authorization endpoint", &m.authorization_endpoint),
            ("Token endpoint", &m.token_endpoint),
            ("Identity endpoint", &m.userinfo_endpoint),
            ("Revocation endpoint", &m.revocation_endpoint),
            ("Device endpoint", &m.device_authorization_endpoint),
        ] {
            if let Some(v) = v {
                discovered.push((what.to_string(), v.clone()));
            }
        }
    }
    Ok(AddedService {
        service: added.service.clone(),
        message: format!(
            "Added {} to {}. Now give its client ID.",
            added.service,
            setup.file().path().display()
        ),
        discovered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup_in(dir: &std::path::Path, text: &str) -> (Setup, std::path::PathBuf) {
        let path = dir.join("services.toml");
        std::fs::write(&path, text).unwrap();
        (Setup::new(path.clone(), false), path)
    }

    fn input(name: &str, value: &str) -> FieldInput {
        FieldInput {
            name: name.into(),
            value: Some(value.into()),
        }
    }

    const ACME: &str = "# my services\n[acme]\noauth_authorize_url = \"https://auth.acme.example/a\"\noauth_token_url = \"https://auth.acme.example/t\"\n";

    #[test]
    fn the_form_shows_the_guide_and_the_fields() {
        let dir = tempfile::tempdir().unwrap();
        let (setup, _) = setup_in(dir.path(), ACME);
        let f = service_form(&setup, "microsoft").unwrap();
        assert_eq!(f.guide.redirect_uri, "http://localhost/callback");
        let names: Vec<&str> = f.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["client_id", "client_secret", "tenant"]);
        assert_eq!(f.fields[2].value, "common");
        assert!(f.fields[1].secret && f.fields[1].value.is_empty());
        assert!(!f.removable && f.file_error.is_none());
        let acme = service_form(&setup, "acme").unwrap();
        assert!(acme.removable && !acme.builtin);
        assert_eq!(acme.advanced[1].value, "https://auth.acme.example/a");
        assert_eq!(acme.advanced[1].source, "services.toml");
        let zoom = service_form(&setup, "zoom").unwrap();
        assert_eq!(zoom.fields[2].name, "account_id");
    }

    #[test]
    fn save_refuses_every_invalid_field_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (setup, path) = setup_in(dir.path(), ACME);
        let out = save(
            &setup,
            "acme",
            &[
                input("client_id", "has spaces in it"),
                input("oauth_token_url", "http://auth.acme.example/t"),
                input("scopes", "read"),
            ],
        )
        .unwrap();
        assert!(!out.saved);
        let fields: Vec<&str> = out.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["client_id", "oauth_token_url"]);
        assert!(out.errors[0].message.contains("spaces"), "{:?}", out.errors);
        assert!(out.errors[1].message.contains("https"), "{:?}", out.errors);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), ACME);
    }

    #[test]
    fn save_writes_and_the_service_can_sign_in() {
        let dir = tempfile::tempdir().unwrap();
        let (setup, path) = setup_in(dir.path(), ACME);
        let out = save(
            &setup,
            "microsoft",
            &[
                input("client_id", "my-app"),
                input("client_secret", ""),
                input("tenant", "contoso.onmicrosoft.com"),
            ],
        )
        .unwrap();
        assert!(out.saved && out.can_sign_in, "{out:?}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(ACME), "{text}");
        assert!(text.contains("client_id = \"my-app\""));
        assert!(text.contains("/contoso.onmicrosoft.com/oauth2/v2.0/token"));
        assert!(
            !text.contains("client_secret"),
            "an empty secret keeps the saved one"
        );
        assert_eq!(
            service_form(&setup, "microsoft").unwrap().fields[2].value,
            "contoso.onmicrosoft.com"
        );
    }

    #[test]
    fn a_broken_table_opens_with_its_bad_value_marked_and_save_repairs_it() {
        let dir = tempfile::tempdir().unwrap();
        let broken = "[dropbox]\noauth_token_url = 42\nuserinfo_method = 7\n";
        let (setup, path) = setup_in(dir.path(), broken);
        let f = service_form(&setup, "dropbox").unwrap();
        assert!(f.repairable && f.file_error.is_some(), "{f:?}");
        let token = f
            .advanced
            .iter()
            .find(|f| f.name == "oauth_token_url")
            .unwrap();
        assert_eq!(token.value, "42");
        assert!(
            token.error.as_deref().unwrap().starts_with("Invalid type"),
            "{token:?}"
        );
        // A key the form does not show gets a field of its own, under Advanced.
        let method = f
            .advanced
            .iter()
            .find(|f| f.name == "userinfo_method")
            .unwrap();
        assert_eq!((method.value.as_str(), method.error.is_some()), ("7", true));
        // The other fields as in effect.
        assert!(f.fields.iter().all(|f| f.error.is_none()));

        let fixed = [
            input("oauth_token_url", "https://api.dropboxapi.com/oauth2/token"),
            input("userinfo_method", "post"),
        ];
        let out = save(&setup, "dropbox", &fixed[..1]).unwrap();
        assert!(!out.saved, "{out:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
        let out = save(&setup, "dropbox", &fixed).unwrap();
        assert!(out.saved, "{out:?}");
        let f = service_form(&setup, "dropbox").unwrap();
        assert!(f.file_error.is_none() && !f.repairable, "{f:?}");
    }

    #[test]
    fn a_broken_file_is_not_overwritten_and_the_form_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let broken = "[acme\noauth_token_url = 1\n";
        let (setup, path) = setup_in(dir.path(), broken);
        let f = service_form(&setup, "github").unwrap();
        assert!(
            f.file_error.as_deref().unwrap().contains("services.toml"),
            "{f:?}"
        );
        let out = save(&setup, "github", &[input("client_id", "abc")]).unwrap();
        assert!(!out.saved);
        assert!(
            out.message.contains("left for you to fix"),
            "{}",
            out.message
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
    }

    #[test]
    fn a_typed_secret_is_not_in_debug() {
        let i = input("client_secret", "hunter2");
        assert!(!format!("{i:?}").contains("hunter2"));
        assert!(format!("{:?}", input("client_id", "abc")).contains("abc"));
    }

    #[test]
    fn add_needs_an_issuer_or_both_endpoints() {
        let dir = tempfile::tempdir().unwrap();
        let (setup, path) = setup_in(dir.path(), ACME);
        assert!(add(&setup, "beta", None, Some("https://b.example/a"), None).is_err());
        let added = add(
            &setup,
            "beta",
            None,
            Some("https://b.example/a"),
            Some("https://b.example/t"),
        )
        .unwrap();
        assert_eq!(added.service, "beta");
        assert!(added.discovered.is_empty());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(ACME) && text.contains("[beta]"), "{text}");
        assert!(add(
            &setup,
            "Bad Name",
            None,
            Some("https://b.example/a"),
            Some("https://b.example/t")
        )
        .is_err());
    }
}
