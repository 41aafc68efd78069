//! The tray icon and its menu: "Reconnect X" for each service that needs a
//! new sign-in, each connected service with "Log out", then "Open
//! PlanOpticon" and "Quit". The menu, the icon (normal, or with a red dot
//! when a connection needs attention) and the tooltip are a pure function of
//! the services' statuses ([`tray_view`]), applied whenever it changes.

use std::collections::HashMap;

use planopticon::{AccountInfo, ServiceStatus, State, Untrusted};
use tauri::menu::{IsMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Runtime};

use crate::attention;
use crate::models;
use crate::state::{lock, AppState};

/// What the tray shows now (changed only when it changes), managed by the
/// app: `None` until the icon is made, and without a tray host.
#[derive(Default)]
pub struct Shown {
    view: std::sync::Mutex<Option<TrayView>>,
    /// The icon has been asked for (see [`start`]).
    started: std::sync::atomic::AtomicBool,
}

impl Shown {
    pub fn view(&self) -> Option<TrayView> {
        lock(&self.view).clone()
    }
}

pub const TRAY_ID: &str = "main";
pub const OPEN_ID: &str = "open";
pub const QUIT_ID: &str = "quit";
const LOGOUT_PREFIX: &str = "logout:";
const RECONNECT_PREFIX: &str = "reconnect:";
const SWITCH_PREFIX: &str = "switch:";
const LOGOUT_ACCOUNT_PREFIX: &str = "logout-account:";

/// One line of the tray menu.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrayItem {
    /// A line that says something and does nothing.
    Label(String),
    /// "Log out of {name}": clears that service's saved token.
    LogOut {
        service: String,
        label: String,
    },
    /// "Reconnect {name}": opens the window and starts Connect for it.
    Reconnect {
        service: String,
        label: String,
    },
    /// "Switch {name} to {account}": makes a saved account the active one.
    Switch {
        service: String,
        account: String,
        label: String,
    },
    /// "Log out of {name} ({account})": signs that saved account out.
    LogOutAccount {
        service: String,
        account: String,
        label: String,
    },
    Separator,
    Open,
    Quit,
}

impl TrayItem {
    /// The menu item id; a click comes back with it.
    pub fn id(&self) -> String {
        match self {
            Self::Label(_) | Self::Separator => String::new(),
            Self::LogOut { service, .. } => format!("{LOGOUT_PREFIX}{service}"),
            Self::Reconnect { service, .. } => format!("{RECONNECT_PREFIX}{service}"),
            Self::Switch {
                service, account, ..
            } => format!("{SWITCH_PREFIX}{service}/{account}"),
            Self::LogOutAccount {
                service, account, ..
            } => format!("{LOGOUT_ACCOUNT_PREFIX}{service}/{account}"),
            Self::Open => OPEN_ID.into(),
            Self::Quit => QUIT_ID.into(),
        }
    }
}

/// What a click on a tray menu item asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum TrayAction {
    LogOut(String),
    Reconnect(String),
    /// Service, account.
    Switch(String, String),
    /// Service, account.
    LogOutAccount(String, String),
    Open,
    Quit,
}

pub fn action_for(id: &str) -> Option<TrayAction> {
    match id {
        OPEN_ID => Some(TrayAction::Open),
        QUIT_ID => Some(TrayAction::Quit),
        _ => {
            let named = |prefix: &str| id.strip_prefix(prefix).filter(|s| !s.is_empty());
            // An account's name has no '/' (it names a file): the last one splits.
            let account = |prefix: &str| {
                named(prefix)
                    .and_then(|s| s.rsplit_once('/'))
                    .filter(|(s, a)| !s.is_empty() && !a.is_empty())
                    .map(|(s, a)| (s.to_string(), a.to_string()))
            };
            named(LOGOUT_PREFIX)
                .map(|s| TrayAction::LogOut(s.into()))
                .or_else(|| named(RECONNECT_PREFIX).map(|s| TrayAction::Reconnect(s.into())))
                .or_else(|| account(SWITCH_PREFIX).map(|(s, a)| TrayAction::Switch(s, a)))
                .or_else(|| {
                    account(LOGOUT_ACCOUNT_PREFIX).map(|(s, a)| TrayAction::LogOutAccount(s, a))
                })
        }
    }
}

/// Whether the tray offers "Log out" for this service: it holds a saved
/// token that still works or refreshes, the one its card offers to
/// Disconnect ([`models::has_saved_token`]): a personal token saved as the
/// token file included, an API key from the environment not (the app cannot
/// log out of it).
fn offers_log_out(s: &ServiceStatus) -> bool {
    matches!(s.state, State::Connected | State::ExpiredRefreshable) && models::has_saved_token(s)
}

/// The tray menu for these statuses, top to bottom: first what needs
/// attention ("Reconnect X", by name, then a separator), then "Log out of X"
/// per connected service, then Open and Quit.
pub fn tray_items(statuses: &[ServiceStatus]) -> Vec<TrayItem> {
    let mut items: Vec<TrayItem> = attention::needing(statuses)
        .into_iter()
        .map(|s| TrayItem::Reconnect {
            service: s.service.clone(),
            label: format!("Reconnect {}", Untrusted(&s.display_name)),
        })
        .collect();
    if !items.is_empty() {
        items.push(TrayItem::Separator);
    }
    let mut connected: Vec<&ServiceStatus> =
        statuses.iter().filter(|s| offers_log_out(s)).collect();
    connected.sort_by(|a, b| {
        a.display_name
            .cmp(&b.display_name)
            .then(a.service.cmp(&b.service))
    });
    if connected.is_empty() {
        items.push(TrayItem::Label("No service connected".into()));
    }
    items.extend(connected.into_iter().map(|s| TrayItem::LogOut {
        service: s.service.clone(),
        label: format!("Log out of {}", Untrusted(&s.display_name)),
    }));
    items.extend([TrayItem::Separator, TrayItem::Open, TrayItem::Quit]);
    items
}

/// [`tray_items`] with each service's accounts (`accounts`: active first):
/// where a service has more than one, its "Log out" names the active
/// account, and each other account gets "Switch X to NAME" and "Log out of
/// X (NAME)", after the services' "Log out" items.
pub fn tray_items_with(
    statuses: &[ServiceStatus],
    accounts: &HashMap<String, Vec<AccountInfo>>,
) -> Vec<TrayItem> {
    let mut items = tray_items(statuses);
    let tail = items.split_off(items.len() - 3); // separator, Open, Quit
    let several = |service: &str| accounts.get(service).filter(|l| l.len() > 1);
    for item in &mut items {
        if let TrayItem::LogOut { service, label } = item {
            if let Some(a) = several(service).and_then(|l| l.iter().find(|a| a.active)) {
                label.push_str(&format!(" ({})", a.account));
            }
        }
    }
    let mut services: Vec<&ServiceStatus> = statuses
        .iter()
        .filter(|s| several(&s.service).is_some())
        .collect();
    services.sort_by(|a, b| (&a.display_name, &a.service).cmp(&(&b.display_name, &b.service)));
    let mut extra = Vec::new();
    for s in services {
        for a in several(&s.service)
            .into_iter()
            .flatten()
            .filter(|a| !a.active)
        {
            extra.push(TrayItem::Switch {
                service: s.service.clone(),
                account: a.account.clone(),
                label: format!("Switch {} to {}", Untrusted(&s.display_name), a.account),
            });
            extra.push(TrayItem::LogOutAccount {
                service: s.service.clone(),
                account: a.account.clone(),
                label: format!("Log out of {} ({})", Untrusted(&s.display_name), a.account),
            });
        }
    }
    if !extra.is_empty() {
        items.retain(|i| !matches!(i, TrayItem::Label(_)));
    }
    items.extend(extra);
    items.extend(tail);
    items
}

/// Everything the tray shows: its menu, whether its icon asks for
/// attention, and its tooltip (not shown by every Linux tray host: the icon
/// is the signal there).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TrayView {
    #[serde(serialize_with = "labels")]
    pub items: Vec<TrayItem>,
    pub attention: bool,
    pub tooltip: String,
}

/// The menu as its labels ("---" for a separator), for the UI's debug view.
fn labels<S: serde::Serializer>(items: &[TrayItem], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(items.iter().map(TrayItem::label))
}

impl TrayItem {
    pub fn label(&self) -> &str {
        match self {
            Self::Label(t) => t,
            Self::LogOut { label, .. }
            | Self::Reconnect { label, .. }
            | Self::Switch { label, .. }
            | Self::LogOutAccount { label, .. } => label,
            Self::Separator => "---",
            Self::Open => "Open PlanOpticon",
            Self::Quit => "Quit",
        }
    }
}

pub fn tray_view(
    statuses: &[ServiceStatus],
    accounts: &HashMap<String, Vec<AccountInfo>>,
) -> TrayView {
    TrayView {
        items: tray_items_with(statuses, accounts),
        attention: !attention::needing(statuses).is_empty(),
        tooltip: attention::tooltip(statuses),
    }
}

fn build_menu<R: Runtime>(app: &AppHandle<R>, items: &[TrayItem]) -> tauri::Result<Menu<R>> {
    let mut built: Vec<Box<dyn IsMenuItem<R>>> = Vec::with_capacity(items.len());
    for item in items {
        built.push(match item {
            TrayItem::Label(text) => Box::new(MenuItem::new(app, text, false, None::<&str>)?),
            TrayItem::LogOut { label, .. }
            | TrayItem::Reconnect { label, .. }
            | TrayItem::Switch { label, .. }
            | TrayItem::LogOutAccount { label, .. } => Box::new(MenuItem::with_id(
                app,
                item.id(),
                label,
                true,
                None::<&str>,
            )?),
            TrayItem::Separator => Box::new(PredefinedMenuItem::separator(app)?),
            TrayItem::Open | TrayItem::Quit => Box::new(MenuItem::with_id(
                app,
                item.id(),
                item.label(),
                true,
                None::<&str>,
            )?),
        });
    }
    let refs: Vec<&dyn IsMenuItem<R>> = built.iter().map(|b| b.as_ref()).collect();
    Menu::with_items(app, &refs)
}

/// Creates the tray icon, once: later calls do nothing. It is made on the
/// main thread from the statuses the last publish kept
/// ([`AppState::statuses`]): no file is read for it. A publish meanwhile
/// waits for the icon (the view's lock is held while it is made), then
/// applies its own statuses.
pub fn start<R: Runtime>(app: &AppHandle<R>) {
    use std::sync::atomic::Ordering;
    if app.state::<Shown>().started.swap(true, Ordering::Relaxed) {
        return;
    }
    let handle = app.clone();
    let made = app.run_on_main_thread(move || {
        // No tray host (a bare X server, some desktops): the window still works.
        if let Err(e) = create(&handle) {
            log::warn!("no tray icon: {e}");
        }
        crate::timing::mark("tray");
    });
    if let Err(e) = made {
        log::warn!("no tray icon: {e}");
    }
}

/// Creates the tray icon with the menu for the statuses last published.
fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<TrayIcon<R>> {
    let shown = app.state::<Shown>();
    let mut shown = lock(&shown.view);
    let state = app.state::<AppState>();
    let view = tray_view(&lock(&state.statuses), &lock(&state.accounts));
    let menu = build_menu(app, &view.items)?;
    let (icon, template) = crate::platform::tray_icon(view.attention)?;
    let tray = TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon)
        .icon_as_template(template)
        .tooltip(&view.tooltip)
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| {
            if let Some(action) = action_for(event.id().as_ref()) {
                on_action(app, action);
            }
        })
        .build(app)?;
    *shown = Some(view);
    Ok(tray)
}

/// Applies the view for `statuses` where it differs from the shown one: the
/// menu is rebuilt only when its items change, the icon and the tooltip
/// only when attention comes or goes.
pub fn update<R: Runtime>(app: &AppHandle<R>, statuses: &[ServiceStatus]) {
    let view = tray_view(statuses, &lock(&app.state::<AppState>().accounts));
    let shown = app.state::<Shown>();
    let mut shown = lock(&shown.view);
    let Some(old) = shown.as_ref() else {
        return; // no tray icon
    };
    if *old == view {
        return;
    }
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    let mut applied = Ok(());
    if old.items != view.items {
        applied = build_menu(app, &view.items).and_then(|menu| tray.set_menu(Some(menu)));
    }
    if old.attention != view.attention || old.tooltip != view.tooltip {
        applied = applied
            .and_then(|()| {
                // Setting an icon clears macOS's template flag: set it again.
                let (icon, template) = crate::platform::tray_icon(view.attention)?;
                tray.set_icon(Some(icon))?;
                tray.set_icon_as_template(template)
            })
            .and_then(|()| tray.set_tooltip(Some(&view.tooltip)));
    }
    match applied {
        Ok(()) => *shown = Some(view),
        Err(e) => log::warn!("could not update the tray: {e}"),
    }
}

fn on_action<R: Runtime>(app: &AppHandle<R>, action: TrayAction) {
    match action {
        TrayAction::Open => crate::actions::show_main_window(app),
        TrayAction::Quit => app.exit(0),
        TrayAction::Reconnect(service) => crate::actions::reconnect(app, &service),
        TrayAction::Switch(service, account) => {
            let app = app.clone();
            // Off the main thread: the switch takes the token file's lock.
            std::thread::spawn(move || {
                crate::actions::switch_account_and_publish(&app, &service, &account)
            });
        }
        TrayAction::LogOutAccount(service, account) => {
            let app = app.clone();
            std::thread::spawn(move || {
                crate::actions::disconnect_account_and_publish(
                    &app,
                    &service,
                    Some(&account),
                    planopticon::LogoutScope::Revoke,
                )
            });
        }
        TrayAction::LogOut(service) => {
            let app = app.clone();
            // The keyring copy's deletion may take up to its timeout: off the main thread.
            std::thread::spawn(move || {
                crate::actions::disconnect_and_publish(
                    &app,
                    &service,
                    planopticon::LogoutScope::Revoke,
                )
            });
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn log_out(service: &str, label: &str) -> TrayItem {
        TrayItem::LogOut {
            service: service.into(),
            label: label.into(),
        }
    }

    fn reconnect(service: &str, label: &str) -> TrayItem {
        TrayItem::Reconnect {
            service: service.into(),
            label: label.into(),
        }
    }

    fn st(service: &str, name: &str, state: State, method: Option<&str>) -> ServiceStatus {
        let mut s = crate::models::tests::status_of(service, state);
        s.display_name = name.into();
        s.method = method.map(Into::into);
        s
    }

    #[test]
    fn nothing_connected() {
        let items = tray_items(&[
            st("google", "Google", State::NotConnected, None),
            st("github", "GitHub", State::NotConnected, None),
        ]);
        assert_eq!(
            items,
            vec![
                TrayItem::Label("No service connected".into()),
                TrayItem::Separator,
                TrayItem::Open,
                TrayItem::Quit
            ]
        );
        assert_eq!(tray_items(&[]), items);
    }

    #[test]
    fn each_connected_service_has_log_out_sorted_by_name() {
        let items = tray_items(&[
            st("zoom", "Zoom", State::Connected, Some("client_credentials")),
            st("google", "Google", State::NotConnected, None),
            st("acme", "Acme", State::Connected, Some("oauth_pkce")),
            st(
                "github",
                "GitHub",
                State::ExpiredRefreshable,
                Some("oauth_pkce"),
            ),
        ]);
        assert_eq!(
            items,
            vec![
                log_out("acme", "Log out of Acme"),
                log_out("github", "Log out of GitHub"),
                log_out("zoom", "Log out of Zoom"),
                TrayItem::Separator,
                TrayItem::Open,
                TrayItem::Quit
            ]
        );
    }

    #[test]
    fn no_log_out_for_api_keys_dead_or_broken_tokens() {
        let items = tray_items(&[
            st("github", "GitHub", State::Connected, Some("api_key")),
            st(
                "google",
                "Google",
                State::NeedsReconnect,
                Some("oauth_pkce"),
            ),
            st("notion", "Notion", State::Error, None),
        ]);
        // The dead token is offered a reconnect, not a log out.
        assert!(!items.iter().any(|i| matches!(i, TrayItem::LogOut { .. })));
        assert_eq!(items[2], TrayItem::Label("No service connected".into()));
        assert_eq!(items.len(), 6);
    }

    #[test]
    fn a_saved_personal_token_has_log_out_as_its_card_has_disconnect() {
        let dir = tempfile::tempdir().unwrap();
        let mut saved = st("github", "GitHub", State::Connected, Some("api_key"));
        saved.token_path = dir.path().join("github_token.json");
        std::fs::write(&saved.token_path, "{}").unwrap();
        let from_env = st("notion", "Notion", State::Connected, Some("api_key"));
        for s in [&saved, &from_env] {
            let logs_out = tray_items(std::slice::from_ref(s))
                .iter()
                .any(|i| matches!(i, TrayItem::LogOut { service, .. } if *service == s.service));
            assert_eq!(
                logs_out,
                models::Card::new(s).can_disconnect,
                "{}",
                s.service
            );
        }
        assert_eq!(
            tray_items(&[saved, from_env]),
            vec![
                log_out("github", "Log out of GitHub"),
                TrayItem::Separator,
                TrayItem::Open,
                TrayItem::Quit
            ]
        );
    }

    #[test]
    fn a_service_that_needs_a_sign_in_comes_first_with_reconnect() {
        let statuses = [
            st("zoom", "Zoom", State::NeedsReconnect, Some("oauth_pkce")),
            st("github", "GitHub", State::Connected, Some("oauth_pkce")),
            st("acme", "Acme", State::NeedsReconnect, Some("oauth_pkce")),
        ];
        let items = tray_items(&statuses);
        assert_eq!(
            items,
            vec![
                reconnect("acme", "Reconnect Acme"),
                reconnect("zoom", "Reconnect Zoom"),
                TrayItem::Separator,
                log_out("github", "Log out of GitHub"),
                TrayItem::Separator,
                TrayItem::Open,
                TrayItem::Quit
            ]
        );
        assert_eq!(
            action_for(&items[0].id()),
            Some(TrayAction::Reconnect("acme".into()))
        );
        let view = tray_view(&statuses, &HashMap::new());
        assert!(view.attention);
        assert_eq!(
            view.tooltip,
            "PlanOpticon Auth: 2 connections need reconnecting (Acme, Zoom)"
        );
        // Only a reconnect: "No service connected" stays under it.
        let only = tray_items(&[st("acme", "Acme", State::NeedsReconnect, None)]);
        assert_eq!(only[2], TrayItem::Label("No service connected".into()));
        // All fine again: the icon and the tooltip return to normal.
        let fine = tray_view(
            &[st("acme", "Acme", State::Connected, Some("oauth_pkce"))],
            &HashMap::new(),
        );
        assert!(!fine.attention);
        assert_eq!(fine.tooltip, "PlanOpticon Auth");
        let v = serde_json::to_value(&fine).unwrap();
        assert_eq!(
            v["items"],
            serde_json::json!(["Log out of Acme", "---", "Open PlanOpticon", "Quit"])
        );
    }

    #[test]
    fn ids_round_trip_to_actions() {
        let items = tray_items(&[st("acme", "Acme", State::Connected, Some("oauth_pkce"))]);
        let actions: Vec<Option<TrayAction>> = items.iter().map(|i| action_for(&i.id())).collect();
        assert_eq!(
            actions,
            vec![
                Some(TrayAction::LogOut("acme".into())),
                None,
                Some(TrayAction::Open),
                Some(TrayAction::Quit)
            ]
        );
        assert_eq!(action_for("logout:"), None);
        assert_eq!(action_for("reconnect:"), None);
        assert_eq!(action_for("something"), None);
    }

    #[test]
    fn a_change_of_connection_changes_the_menu() {
        let before = tray_items(&[st("acme", "Acme", State::NotConnected, None)]);
        let after = tray_items(&[st("acme", "Acme", State::Connected, Some("oauth_pkce"))]);
        assert_ne!(before, after);
        // Expiry moving within "connected" does not rebuild it.
        let mut a = st("acme", "Acme", State::Connected, Some("oauth_pkce"));
        a.expires_at = Some(1.0);
        assert_eq!(after, tray_items(&[a]));
    }

    /// `names` of `service`, the first active.
    pub(crate) fn accounts_of(service: &str, names: &[&str]) -> Vec<AccountInfo> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| AccountInfo {
                service: service.into(),
                account: (*n).into(),
                active: i == 0,
                identity: Some(format!("{n}@example.test")),
                expires_at: None,
                last_used: None,
                state: State::Connected,
                detail: None,
                token_path: format!("/nonexistent/{service}/{n}_token.json").into(),
            })
            .collect()
    }

    #[test]
    fn a_service_with_several_accounts_lists_switch_and_log_out_for_each_other() {
        let statuses = [
            st("zoom", "Zoom", State::Connected, Some("oauth_pkce")),
            st("acme", "Acme", State::Connected, Some("oauth_pkce")),
        ];
        let accounts = HashMap::from([
            (
                "acme".to_string(),
                accounts_of("acme", &["bob", "alice", "carol"]),
            ),
            // One account: nothing to switch to, the item as before.
            ("zoom".to_string(), accounts_of("zoom", &["zed"])),
        ]);
        let items = tray_items_with(&statuses, &accounts);
        let labels: Vec<&str> = items.iter().map(TrayItem::label).collect();
        assert_eq!(
            labels,
            [
                "Log out of Acme (bob)",
                "Log out of Zoom",
                "Switch Acme to alice",
                "Log out of Acme (alice)",
                "Switch Acme to carol",
                "Log out of Acme (carol)",
                "---",
                "Open PlanOpticon",
                "Quit"
            ]
        );
        let actions: Vec<Option<TrayAction>> =
            items[..4].iter().map(|i| action_for(&i.id())).collect();
        assert_eq!(
            actions,
            [
                Some(TrayAction::LogOut("acme".into())),
                Some(TrayAction::LogOut("zoom".into())),
                Some(TrayAction::Switch("acme".into(), "alice".into())),
                Some(TrayAction::LogOutAccount("acme".into(), "alice".into())),
            ]
        );
        // Without accounts, the menu of one account per service.
        assert_eq!(
            tray_items_with(&statuses, &HashMap::new()),
            tray_items(&statuses)
        );
    }

    #[test]
    fn saved_accounts_are_offered_when_the_active_one_needs_a_person() {
        let statuses = [st(
            "acme",
            "Acme",
            State::NeedsReconnect,
            Some("oauth_pkce"),
        )];
        let accounts =
            HashMap::from([("acme".to_string(), accounts_of("acme", &["bob", "alice"]))]);
        let labels: Vec<String> = tray_items_with(&statuses, &accounts)
            .iter()
            .map(|i| i.label().to_string())
            .collect();
        assert_eq!(
            labels,
            [
                "Reconnect Acme",
                "---",
                "Switch Acme to alice",
                "Log out of Acme (alice)",
                "---",
                "Open PlanOpticon",
                "Quit"
            ]
        );
    }

    #[test]
    fn account_ids_need_a_service_and_an_account() {
        assert_eq!(
            action_for("switch:my-svc/alice@example.test"),
            Some(TrayAction::Switch(
                "my-svc".into(),
                "alice@example.test".into()
            ))
        );
        assert_eq!(action_for("switch:acme"), None);
        assert_eq!(action_for("switch:acme/"), None);
        assert_eq!(action_for("logout-account:/bob"), None);
    }
}
