//! The tray icon and its menu: each connected service with "Log out", then
//! "Open PlanOpticon" and "Quit". The menu's content is a pure function of
//! the services' statuses ([`tray_items`]), rebuilt whenever it changes.

use planopticon::{ServiceStatus, State};
use tauri::menu::{IsMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Runtime};

use crate::state::{lock, AppState};

pub const TRAY_ID: &str = "main";
pub const OPEN_ID: &str = "open";
pub const QUIT_ID: &str = "quit";
const LOGOUT_PREFIX: &str = "logout:";

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
            Self::Open => OPEN_ID.into(),
            Self::Quit => QUIT_ID.into(),
        }
    }
}

/// What a click on a tray menu item asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum TrayAction {
    LogOut(String),
    Open,
    Quit,
}

pub fn action_for(id: &str) -> Option<TrayAction> {
    match id {
        OPEN_ID => Some(TrayAction::Open),
        QUIT_ID => Some(TrayAction::Quit),
        _ => id
            .strip_prefix(LOGOUT_PREFIX)
            .filter(|s| !s.is_empty())
            .map(|s| TrayAction::LogOut(s.into())),
    }
}

/// Whether the tray offers "Log out" for this service: it holds a saved
/// token that still works or refreshes. An API key from the environment is
/// not something the app can log out of.
fn offers_log_out(s: &ServiceStatus) -> bool {
    matches!(s.state, State::Connected | State::ExpiredRefreshable) && !s.is_api_key()
}

/// The tray menu for these statuses, top to bottom.
pub fn tray_items(statuses: &[ServiceStatus]) -> Vec<TrayItem> {
    let mut connected: Vec<&ServiceStatus> =
        statuses.iter().filter(|s| offers_log_out(s)).collect();
    connected.sort_by(|a, b| {
        a.display_name
            .cmp(&b.display_name)
            .then(a.service.cmp(&b.service))
    });
    let mut items: Vec<TrayItem> = connected
        .into_iter()
        .map(|s| TrayItem::LogOut {
            service: s.service.clone(),
            label: format!("Log out of {}", s.display_name),
        })
        .collect();
    if items.is_empty() {
        items.push(TrayItem::Label("No service connected".into()));
    }
    items.extend([TrayItem::Separator, TrayItem::Open, TrayItem::Quit]);
    items
}

fn build_menu<R: Runtime>(app: &AppHandle<R>, items: &[TrayItem]) -> tauri::Result<Menu<R>> {
    let mut built: Vec<Box<dyn IsMenuItem<R>>> = Vec::with_capacity(items.len());
    for item in items {
        built.push(match item {
            TrayItem::Label(text) => Box::new(MenuItem::new(app, text, false, None::<&str>)?),
            TrayItem::LogOut { label, .. } => Box::new(MenuItem::with_id(
                app,
                item.id(),
                label,
                true,
                None::<&str>,
            )?),
            TrayItem::Separator => Box::new(PredefinedMenuItem::separator(app)?),
            TrayItem::Open => Box::new(MenuItem::with_id(
                app,
                OPEN_ID,
                "Open PlanOpticon",
                true,
                None::<&str>,
            )?),
            TrayItem::Quit => {
                Box::new(MenuItem::with_id(app, QUIT_ID, "Quit", true, None::<&str>)?)
            }
        });
    }
    let refs: Vec<&dyn IsMenuItem<R>> = built.iter().map(|b| b.as_ref()).collect();
    Menu::with_items(app, &refs)
}

/// Creates the tray icon with the menu for `statuses`.
pub fn create<R: Runtime>(
    app: &AppHandle<R>,
    statuses: &[ServiceStatus],
) -> tauri::Result<TrayIcon<R>> {
    let items = tray_items(statuses);
    let menu = build_menu(app, &items)?;
    let icon = tauri::image::Image::from_bytes(include_bytes!("../../icons/tray.png"))?;
    let tray = TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon)
        .tooltip("PlanOpticon Auth")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| {
            if let Some(action) = action_for(event.id().as_ref()) {
                on_action(app, action);
            }
        })
        .build(app)?;
    *lock(&app.state::<AppState>().tray_items) = Some(items);
    Ok(tray)
}

/// Rebuilds the menu when the items for `statuses` differ from the shown ones.
pub fn update<R: Runtime>(app: &AppHandle<R>, statuses: &[ServiceStatus]) {
    let items = tray_items(statuses);
    let state = app.state::<AppState>();
    let mut shown = lock(&state.tray_items);
    if shown.as_ref() == Some(&items) {
        return;
    }
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    match build_menu(app, &items).and_then(|menu| tray.set_menu(Some(menu))) {
        Ok(()) => *shown = Some(items),
        Err(e) => log::warn!("could not rebuild the tray menu: {e}"),
    }
}

fn on_action<R: Runtime>(app: &AppHandle<R>, action: TrayAction) {
    match action {
        TrayAction::Open => crate::show_main_window(app),
        TrayAction::Quit => app.exit(0),
        TrayAction::LogOut(service) => {
            let app = app.clone();
            // The keyring copy's deletion may take up to its timeout: off the main thread.
            std::thread::spawn(move || {
                crate::commands::disconnect_and_publish(
                    &app,
                    &service,
                    planopticon::LogoutScope::Revoke,
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn st(service: &str, name: &str, state: State, method: Option<&str>) -> ServiceStatus {
        ServiceStatus {
            service: service.into(),
            display_name: name.into(),
            state,
            method: method.map(Into::into),
            expires_at: None,
            token_path: PathBuf::from(format!("/tmp/{service}_token.json")),
            account: None,
            detail: None,
            hints: Vec::new(),
            can_sign_in: true,
            offers_device: false,
            renewable: true,
        }
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
                TrayItem::LogOut {
                    service: "acme".into(),
                    label: "Log out of Acme".into()
                },
                TrayItem::LogOut {
                    service: "github".into(),
                    label: "Log out of GitHub".into()
                },
                TrayItem::LogOut {
                    service: "zoom".into(),
                    label: "Log out of Zoom".into()
                },
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
        assert_eq!(items[0], TrayItem::Label("No service connected".into()));
        assert_eq!(items.len(), 4);
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
}
