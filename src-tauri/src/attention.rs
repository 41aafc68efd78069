//! Connections that need a person: which ones, what the notification says,
//! and when to tell (once per incident). Pure functions of the statuses, no
//! Tauri types, so all of it is tested without a display.
//!
//! An incident starts when a service's status turns `NeedsReconnect` (its
//! token file says so: expired without a refresh token today; the library's
//! keeper will also write it on `invalid_grant` or a 401 from the identity
//! endpoint) and ends when it leaves that state (connected again,
//! disconnected, ...). The app notifies once per incident: not again while it
//! lasts, again after it ended and a new one began, or after a restart.

use std::collections::{HashMap, HashSet};

use planopticon::{displayable, AccountInfo, ServiceStatus, State};

use crate::models::capitalize;

/// The app's name, as notifications and the tooltip show it.
pub const APP_NAME: &str = "PlanOpticon Auth";

/// A connection that needs a new sign-in, as a notification tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    pub service: String,
    pub display_name: String,
    /// Why, in plain words (a sentence); the provider's words in it (and
    /// the name) made displayable.
    pub reason: String,
    /// The account, when the service has more than one.
    pub account: Option<String>,
}

impl Incident {
    pub fn of(s: &ServiceStatus) -> Self {
        Self {
            service: s.service.clone(),
            display_name: displayable(&s.display_name).into_owned(),
            reason: reason(s),
            account: None,
        }
    }

    /// The notification's title: "Zoom needs reconnecting", "Zoom (bob)
    /// needs reconnecting".
    pub fn summary(&self) -> String {
        match &self.account {
            Some(a) => format!("{} ({a}) needs reconnecting", self.display_name),
            None => format!("{} needs reconnecting", self.display_name),
        }
    }

    /// The notification's body: the reason, then what activating it does.
    pub fn body(&self) -> String {
        let who = match &self.account {
            Some(a) => format!("{} as {a}", self.display_name),
            None => self.display_name.clone(),
        };
        format!("{} Click to sign in to {who} again.", self.reason)
    }
}

/// Names the active account in the incidents of the services that have
/// more than one account (`accounts`: each service's, active first).
pub fn name_accounts(incidents: &mut [Incident], accounts: &HashMap<String, Vec<AccountInfo>>) {
    for i in incidents {
        if let Some(list) = accounts.get(&i.service).filter(|l| l.len() > 1) {
            i.account = list.iter().find(|a| a.active).map(|a| a.account.clone());
        }
    }
}

/// The incidents that began since the last call for saved accounts that
/// are not active (the keeper keeps them alive too, and marks the one that
/// needs a person in its own file). `notified` holds them as
/// `service/account`, as [`begun`] holds services.
pub fn begun_saved(
    notified: &mut HashSet<String>,
    accounts: &HashMap<String, Vec<AccountInfo>>,
    statuses: &[ServiceStatus],
) -> Vec<Incident> {
    let needing: Vec<&AccountInfo> = accounts
        .values()
        .flatten()
        .filter(|a| !a.active && a.state == State::NeedsReconnect)
        .collect();
    let key = |a: &AccountInfo| format!("{}/{}", a.service, a.account);
    notified.retain(|k| needing.iter().any(|a| key(a) == *k));
    let mut out: Vec<Incident> = needing
        .into_iter()
        .filter(|a| notified.insert(key(a)))
        .map(|a| Incident {
            service: a.service.clone(),
            display_name: statuses
                .iter()
                .find(|s| s.service == a.service)
                .map_or_else(
                    || capitalize(&a.service),
                    |s| displayable(&s.display_name).into_owned(),
                ),
            reason: reason_of(a.detail.as_deref()),
            account: Some(a.account.clone()),
        })
        .collect();
    out.sort_by(|a, b| (&a.display_name, &a.account).cmp(&(&b.display_name, &b.account)));
    out
}

/// The status's detail as a sentence, or a generic one.
fn reason(s: &ServiceStatus) -> String {
    reason_of(s.detail.as_deref())
}

fn reason_of(detail: Option<&str>) -> String {
    match detail.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => format!("{}.", capitalize(&displayable(d)).trim_end_matches('.')),
        None => "The saved sign-in no longer works.".into(),
    }
}

/// The services that need a new sign-in, sorted by display name.
pub fn needing(statuses: &[ServiceStatus]) -> Vec<&ServiceStatus> {
    let mut v: Vec<&ServiceStatus> = statuses
        .iter()
        .filter(|s| s.state == State::NeedsReconnect)
        .collect();
    v.sort_by(|a, b| {
        a.display_name
            .cmp(&b.display_name)
            .then(a.service.cmp(&b.service))
    });
    v
}

/// The incidents that began since the last call: services needing a sign-in
/// that are not in `notified` (which then holds them). Services that no
/// longer need one leave `notified`, so their next incident is told again.
pub fn begun(notified: &mut HashSet<String>, statuses: &[ServiceStatus]) -> Vec<Incident> {
    let now: HashSet<&str> = needing(statuses)
        .iter()
        .map(|s| s.service.as_str())
        .collect();
    notified.retain(|s| now.contains(s.as_str()));
    needing(statuses)
        .into_iter()
        .filter(|s| notified.insert(s.service.clone()))
        .map(Incident::of)
        .collect()
}

/// The tray's tooltip: the app's name, and which connections need a sign-in.
pub fn tooltip(statuses: &[ServiceStatus]) -> String {
    let names: Vec<String> = needing(statuses)
        .iter()
        .map(|s| displayable(&s.display_name).into_owned())
        .collect();
    match names.len() {
        0 => APP_NAME.into(),
        1 => format!("{APP_NAME}: 1 connection needs reconnecting ({})", names[0]),
        n => format!(
            "{APP_NAME}: {n} connections need reconnecting ({})",
            names.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn st(service: &str, name: &str, state: State) -> ServiceStatus {
        let mut s = crate::models::tests::status_of(service, state);
        s.display_name = name.into();
        s.method = Some("oauth_pkce".into());
        s.detail = (state == State::NeedsReconnect)
            .then(|| "the token has expired and cannot be refreshed".into());
        s
    }

    #[test]
    fn a_providers_words_are_shown_escaped_in_the_notification_and_the_tray() {
        let mut s = st("evil", "Evil\u{202e}txt", State::NeedsReconnect);
        s.detail = Some("invalid_grant: \u{1b}]0;owned\u{7}\u{9b}2J <b>".into());
        let told = Incident::of(&s);
        assert_eq!(told.summary(), "Evil\\u{202e}txt needs reconnecting");
        assert_eq!(
            planopticon::untrusted::for_markup(&told.body()),
            "Invalid_grant: \\x1b]0;owned\\x07\\x9b2J &lt;b&gt;. Click to sign in to Evil\\u{202e}txt again."
        );
        let statuses = [s];
        assert_eq!(
            tooltip(&statuses),
            "PlanOpticon Auth: 1 connection needs reconnecting (Evil\\u{202e}txt)"
        );
        let items = crate::tray::tray_items(&statuses);
        assert_eq!(items[0].label(), "Reconnect Evil\\u{202e}txt");
    }

    #[test]
    fn one_notification_per_incident() {
        let mut notified = HashSet::new();
        let ok = [st("zoom", "Zoom", State::Connected)];
        let bad = [st("zoom", "Zoom", State::NeedsReconnect)];
        assert_eq!(begun(&mut notified, &ok), vec![]);
        let told = begun(&mut notified, &bad);
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].summary(), "Zoom needs reconnecting");
        assert_eq!(
            told[0].body(),
            "The token has expired and cannot be refreshed. Click to sign in to Zoom again."
        );
        // Still the same incident: not again.
        assert_eq!(begun(&mut notified, &bad), vec![]);
        assert_eq!(begun(&mut notified, &bad), vec![]);
        // Fixed, then broken again: a new incident.
        assert_eq!(begun(&mut notified, &ok), vec![]);
        assert!(notified.is_empty());
        assert_eq!(begun(&mut notified, &bad).len(), 1);
        // Expired-refreshable is not an incident (the next use refreshes it).
        let mut n2 = HashSet::new();
        assert_eq!(
            begun(&mut n2, &[st("zoom", "Zoom", State::ExpiredRefreshable)]),
            vec![]
        );
    }

    #[test]
    fn each_service_has_its_own_incident() {
        let mut notified = HashSet::new();
        let told = begun(
            &mut notified,
            &[
                st("zoom", "Zoom", State::NeedsReconnect),
                st("acme", "Acme", State::NeedsReconnect),
                st("google", "Google", State::Connected),
            ],
        );
        let names: Vec<&str> = told.iter().map(|i| i.service.as_str()).collect();
        assert_eq!(names, ["acme", "zoom"]);
        // Acme fixed, Zoom still broken, Google breaks: only Google is told.
        let told = begun(
            &mut notified,
            &[
                st("zoom", "Zoom", State::NeedsReconnect),
                st("acme", "Acme", State::Connected),
                st("google", "Google", State::NeedsReconnect),
            ],
        );
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].service, "google");
    }

    #[test]
    fn the_reason_in_plain_words() {
        let mut s = st("acme", "Acme", State::NeedsReconnect);
        s.detail = Some("the provider no longer accepts this token (HTTP 401)".into());
        assert_eq!(
            Incident::of(&s).reason,
            "The provider no longer accepts this token (HTTP 401)."
        );
        s.detail = None;
        assert_eq!(
            Incident::of(&s).reason,
            "The saved sign-in no longer works."
        );
    }

    #[test]
    fn the_tooltip_counts_and_names() {
        assert_eq!(tooltip(&[]), "PlanOpticon Auth");
        assert_eq!(
            tooltip(&[st("acme", "Acme", State::Connected)]),
            "PlanOpticon Auth"
        );
        assert_eq!(
            tooltip(&[st("acme", "Acme", State::NeedsReconnect)]),
            "PlanOpticon Auth: 1 connection needs reconnecting (Acme)"
        );
        assert_eq!(
            tooltip(&[
                st("zoom", "Zoom", State::NeedsReconnect),
                st("acme", "Acme", State::NeedsReconnect),
            ]),
            "PlanOpticon Auth: 2 connections need reconnecting (Acme, Zoom)"
        );
    }

    #[test]
    fn a_notification_names_the_account_when_there_are_several() {
        let statuses = [st("acme", "Acme", State::NeedsReconnect)];
        let mut accounts = HashMap::from([(
            "acme".to_string(),
            crate::tray::tests::accounts_of("acme", &["bob"]),
        )]);
        // One account: as before.
        let mut told = begun(&mut HashSet::new(), &statuses);
        name_accounts(&mut told, &accounts);
        assert_eq!(told[0].summary(), "Acme needs reconnecting");
        // Two: the active one is named.
        accounts.insert(
            "acme".into(),
            crate::tray::tests::accounts_of("acme", &["bob", "alice"]),
        );
        let mut told = begun(&mut HashSet::new(), &statuses);
        name_accounts(&mut told, &accounts);
        assert_eq!(told[0].summary(), "Acme (bob) needs reconnecting");
        assert_eq!(
            told[0].body(),
            "The token has expired and cannot be refreshed. Click to sign in to Acme as bob again."
        );
    }

    #[test]
    fn a_saved_account_that_needs_a_person_is_told_once() {
        let statuses = [st("acme", "Acme", State::Connected)];
        let mut list = crate::tray::tests::accounts_of("acme", &["bob", "alice"]);
        let accounts =
            |list: &Vec<AccountInfo>| HashMap::from([("acme".to_string(), list.clone())]);
        let mut notified = HashSet::new();
        assert_eq!(
            begun_saved(&mut notified, &accounts(&list), &statuses),
            vec![]
        );
        list[1].state = State::NeedsReconnect;
        list[1].detail = Some("the provider said invalid_grant".into());
        let told = begun_saved(&mut notified, &accounts(&list), &statuses);
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].account.as_deref(), Some("alice"));
        assert_eq!(told[0].summary(), "Acme (alice) needs reconnecting");
        assert_eq!(
            told[0].body(),
            "The provider said invalid_grant. Click to sign in to Acme as alice again."
        );
        // The same incident: not again; over, then again: told again.
        assert_eq!(
            begun_saved(&mut notified, &accounts(&list), &statuses),
            vec![]
        );
        list[1].state = State::Connected;
        assert_eq!(
            begun_saved(&mut notified, &accounts(&list), &statuses),
            vec![]
        );
        assert!(notified.is_empty());
        list[1].state = State::NeedsReconnect;
        assert_eq!(
            begun_saved(&mut notified, &accounts(&list), &statuses).len(),
            1
        );
        // The active account's incident is `begun`'s, not this one's.
        list[0].state = State::NeedsReconnect;
        assert_eq!(
            begun_saved(&mut notified, &accounts(&list), &statuses),
            vec![]
        );
    }
}
