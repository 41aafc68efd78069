//! The Settings view's plain facts and changes over `settings.toml` (the
//! keeper, the notifications, the identity-check interval, the keyring
//! switch): no Tauri here, so it is tested without a display. The command
//! handlers that read and save them are in `commands`.

use planopticon::Settings;

use crate::error::{Error, Result};
use crate::models::{KeyringProbe, SettingsView};

/// The Settings view; `autostart`: whether the app starts at login (`None`
/// where that cannot be told).
pub fn settings_view(settings: &Settings, autostart: Option<bool>) -> SettingsView {
    SettingsView {
        keyring: settings.keyring,
        keyring_forced_by_env: std::env::var_os("PLANOPTICON_KEYRING")
            .is_some_and(|v| !v.is_empty()),
        keeper: settings.keeper,
        notifications: settings.notifications,
        identity_check_hours: settings.identity_check_hours,
        autostart,
        settings_file: Settings::path().display().to_string(),
        network: planopticon::network::describe(),
        secrets_note: None,
    }
}

/// What the Settings page says after the keyring switch moved the saved secrets.
pub fn moved_secrets_note(
    moved: planopticon::Result<Vec<String>>,
    to_keyring: bool,
) -> Option<String> {
    let place = match to_keyring {
        true => "into the OS keyring",
        false => "back into services.toml",
    };
    match moved {
        Ok(m) if m.is_empty() => None,
        Ok(m) => Some(format!("Moved {} {place}.", m.join(", "))),
        Err(e) => Some(format!(
            "Some saved secrets were not moved {place} and stay where they were (they keep working): {e}"
        )),
    }
}

/// A change on the Settings page; absent fields stay as they are.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct SettingsChange {
    pub keeper: Option<bool>,
    pub notifications: Option<bool>,
    pub identity_check_hours: Option<u32>,
}

/// Applies `change` to `settings`; an interval out of 1..=168 hours is refused.
pub fn apply_change(settings: &mut Settings, change: &SettingsChange) -> Result<()> {
    if let Some(h) = change.identity_check_hours {
        if !(1..=Settings::MAX_IDENTITY_CHECK_HOURS).contains(&h) {
            return Err(Error::Internal(format!(
                "the identity check interval must be between 1 and {} hours",
                Settings::MAX_IDENTITY_CHECK_HOURS
            )));
        }
        settings.identity_check_hours = h;
    }
    if let Some(k) = change.keeper {
        settings.keeper = k;
    }
    if let Some(n) = change.notifications {
        settings.notifications = n;
    }
    Ok(())
}

/// The keyring probe's answer, as the Settings page shows it.
pub fn probe_result(outcome: std::result::Result<(), String>) -> KeyringProbe {
    match outcome {
        Ok(()) => KeyringProbe {
            available: true,
            reason: None,
        },
        Err(reason) => KeyringProbe {
            available: false,
            reason: Some(reason),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyring_probe_maps_to_the_switch() {
        assert_eq!(
            probe_result(Ok(())),
            KeyringProbe {
                available: true,
                reason: None
            }
        );
        let p = probe_result(Err("no answer within 3 s (is the keyring locked?)".into()));
        assert!(!p.available);
        assert!(p.reason.unwrap().contains("locked"));
    }

    #[test]
    fn settings_view_names_the_file() {
        let v = settings_view(
            &Settings {
                keyring: true,
                ..Settings::default()
            },
            Some(false),
        );
        assert!(
            v.network.system_store || v.network.ca_file.is_some() || !v.network.ca_dirs.is_empty()
        );
        assert!(v.keyring && v.keeper && v.notifications);
        assert_eq!((v.identity_check_hours, v.autostart), (6, Some(false)));
        assert!(v.settings_file.ends_with("settings.toml"));
    }

    #[test]
    fn settings_changes_apply_and_a_bad_interval_is_refused() {
        let mut s = Settings::default();
        apply_change(
            &mut s,
            &SettingsChange {
                notifications: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!s.notifications && s.keeper);
        apply_change(
            &mut s,
            &SettingsChange {
                keeper: Some(false),
                identity_check_hours: Some(24),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((s.keeper, s.identity_check_hours), (false, 24));
        for bad in [0, 169] {
            let before = s.clone();
            let e = apply_change(
                &mut s,
                &SettingsChange {
                    keeper: Some(true),
                    identity_check_hours: Some(bad),
                    ..Default::default()
                },
            )
            .unwrap_err();
            assert!(e.to_string().contains("between 1 and 168"), "{e}");
            assert_eq!(s, before, "nothing applied");
        }
    }
}
