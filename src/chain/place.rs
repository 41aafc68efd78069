//! Where the person signing in is, told by the environment, and which way
//! of signing in follows from it. One decision, made here, asked by the
//! chain; each front end words it.

use serde::Serialize;

use crate::config::AuthConfig;

/// Where the person signing in is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// A desktop session here: a browser opens on this machine and comes
    /// back to the loopback listener.
    Desktop,
    /// Windows Subsystem for Linux: the Windows browser opens, and reaches
    /// the listener on 127.0.0.1 (WSL 2 forwards localhost by default).
    Wsl,
    /// A remote shell (SSH) without a display: no browser here can be opened.
    RemoteShell,
    /// No display and no remote session (a console, a container, cron).
    Headless,
}

/// Where the person is, and why the environment says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Whereabouts {
    pub place: Place,
    /// In words, naming what was read ("over SSH without a display
    /// (SSH_CONNECTION is set)").
    pub reason: String,
}

impl Whereabouts {
    /// Decides from environment variables (`var`; empty counts as unset) and
    /// whether WSL's interop marker exists. In order: `BROWSER` set means a
    /// way to open a browser is configured (desktop); SSH without a display
    /// is a remote shell; WSL; a display (`DISPLAY`, `WAYLAND_DISPLAY`) is a
    /// desktop; macOS and Windows are desktops; the rest is headless.
    pub fn detect(var: impl Fn(&str) -> Option<String>, wsl_interop: bool) -> Self {
        let set = |name: &str| var(name).is_some_and(|v| !v.is_empty());
        let at = |place: Place, reason: String| Self { place, reason };
        if set("BROWSER") {
            return at(
                Place::Desktop,
                "a browser program is set (BROWSER is set)".into(),
            );
        }
        let display = ["DISPLAY", "WAYLAND_DISPLAY"].into_iter().find(|v| set(v));
        let ssh = ["SSH_CONNECTION", "SSH_TTY", "SSH_CLIENT"]
            .into_iter()
            .find(|v| set(v));
        if let (Some(ssh), None) = (ssh, display) {
            return at(
                Place::RemoteShell,
                format!("over SSH without a display ({ssh} is set)"),
            );
        }
        // X11 forwarded over SSH (`DISPLAY=localhost:10.0`): a browser would
        // run here and be drawn far away, slowly; a code is the better way.
        if let (Some(ssh), Some("DISPLAY")) = (ssh, display) {
            let value = var("DISPLAY").unwrap_or_default();
            if !value.starts_with(':') {
                return at(
                    Place::RemoteShell,
                    format!("over SSH with a forwarded display ({ssh} is set, DISPLAY={value})"),
                );
            }
        }
        // WSL is Linux: a Windows or macOS process never is in it, whatever
        // its environment says (WSLENV can pass WSL_DISTRO_NAME across).
        let linux = cfg!(target_os = "linux");
        if linux && set("WSL_DISTRO_NAME") {
            return at(Place::Wsl, "in WSL (WSL_DISTRO_NAME is set)".into());
        }
        if linux && wsl_interop {
            return at(
                Place::Wsl,
                format!("in WSL ({} exists)", crate::redirect::WSL_INTEROP),
            );
        }
        if let Some(d) = display {
            return at(Place::Desktop, format!("a desktop session ({d} is set)"));
        }
        if cfg!(any(target_os = "macos", target_os = "windows")) {
            return at(Place::Desktop, "a desktop session".into());
        }
        at(
            Place::Headless,
            "no display here (neither DISPLAY nor WAYLAND_DISPLAY is set)".into(),
        )
    }

    /// This process's environment.
    pub fn from_env() -> Self {
        Self::detect(
            crate::config::env_value,
            std::path::Path::new(crate::redirect::WSL_INTEROP).exists(),
        )
    }

    /// Whether a browser can be opened on this machine (or, in WSL, on the
    /// Windows side) and come back to the loopback listener.
    pub fn browser_opens_here(&self) -> bool {
        matches!(self.place, Place::Desktop | Place::Wsl)
    }

    /// The way of signing in for a service here, and why.
    pub fn choose(&self, config: &AuthConfig) -> Choice {
        let way = match self.place {
            Place::Desktop | Place::Wsl => Way::BrowserHere,
            Place::RemoteShell | Place::Headless if config.supports_device() => Way::Device,
            // With nobody to paste, the browser step says why it cannot run.
            Place::RemoteShell | Place::Headless => Way::Remote,
        };
        let reason = match way {
            Way::BrowserHere => self.reason.clone(),
            Way::Device => format!(
                "{}, and {} offers device sign-in",
                self.reason, config.service
            ),
            Way::Remote => format!(
                "{}, and {} offers no device sign-in",
                self.reason, config.service
            ),
        };
        Choice { way, reason }
    }
}

/// How the person signs in, chosen for where they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Way {
    /// A browser here: the code comes back to the loopback listener (or is
    /// pasted, as the service's redirect_uri says).
    BrowserHere,
    /// A code entered on another device (RFC 8628).
    Device,
    /// The remote way (like `gcloud auth login --no-browser`): no browser is
    /// opened here; the person opens the authorization URL on any machine
    /// and pastes back the address the browser ends on (whose page does not
    /// load). The redirect URI sent is the service's own loopback one, so
    /// the provider accepts it.
    Remote,
}

impl Way {
    /// In plain words, for logs and "What was tried".
    pub fn describe(self) -> &'static str {
        match self {
            Self::BrowserHere => "signing in with a browser here",
            Self::Device => "signing in by device code",
            Self::Remote => "signing in from another machine's browser, pasting the address back",
        }
    }
}

/// The way chosen and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub way: Way,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(vars: &[(&str, &str)], interop: bool) -> Whereabouts {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Whereabouts::detect(
            move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            interop,
        )
    }

    #[test]
    fn the_place_follows_the_environment() {
        let d = at(&[("DISPLAY", ":0")], false);
        assert_eq!(d.place, Place::Desktop);
        assert_eq!(d.reason, "a desktop session (DISPLAY is set)");
        assert_eq!(
            at(&[("WAYLAND_DISPLAY", "wayland-0")], false).place,
            Place::Desktop
        );
        assert_eq!(
            at(&[("BROWSER", "firefox"), ("SSH_TTY", "/dev/pts/1")], false).place,
            Place::Desktop
        );
        let forwarded = at(
            &[
                ("SSH_CONNECTION", "10.0.0.2 5 10.0.0.1 22"),
                ("DISPLAY", "localhost:10.0"),
            ],
            false,
        );
        assert_eq!(forwarded.place, Place::RemoteShell);
        assert!(
            forwarded.reason.contains("forwarded display"),
            "{}",
            forwarded.reason
        );
        let local = at(&[("SSH_TTY", "/dev/pts/1"), ("DISPLAY", ":0")], false);
        assert_eq!(local.place, Place::Desktop);
        let ssh = at(&[("SSH_CONNECTION", "10.0.0.2 5 10.0.0.1 22")], false);
        assert_eq!(ssh.place, Place::RemoteShell);
        assert_eq!(
            ssh.reason,
            "over SSH without a display (SSH_CONNECTION is set)"
        );
        let wsl = at(&[("WSL_DISTRO_NAME", "Ubuntu"), ("DISPLAY", ":0")], false);
        if cfg!(target_os = "linux") {
            assert_eq!(wsl.place, Place::Wsl);
            assert_eq!(wsl.reason, "in WSL (WSL_DISTRO_NAME is set)");
            assert_eq!(at(&[], true).place, Place::Wsl);
        } else {
            // WSL is Linux: Windows and macOS are desktops whatever they are told.
            assert_eq!(wsl.place, Place::Desktop);
            assert_eq!(
                at(&[("WSL_DISTRO_NAME", "Ubuntu")], true).place,
                Place::Desktop
            );
        }
        assert_eq!(
            at(&[("SSH_TTY", "/dev/pts/1")], true).place,
            Place::RemoteShell
        );
        assert_eq!(
            at(&[("DISPLAY", "")], false).place,
            if cfg!(any(target_os = "macos", target_os = "windows")) {
                Place::Desktop
            } else {
                Place::Headless
            }
        );
    }

    #[test]
    fn the_way_follows_the_place_and_the_service() {
        let mut c = AuthConfig::new("acme");
        c.client_id = Some("id".into());
        let ssh = at(&[("SSH_TTY", "/dev/pts/1")], false);
        let choice = ssh.choose(&c);
        assert_eq!(choice.way, Way::Remote);
        assert_eq!(
            choice.reason,
            "over SSH without a display (SSH_TTY is set), and acme offers no device sign-in"
        );
        c.device_authorization_url = Some("http://127.0.0.1:9/device".into());
        let choice = ssh.choose(&c);
        assert_eq!(choice.way, Way::Device);
        assert_eq!(
            choice.reason,
            "over SSH without a display (SSH_TTY is set), and acme offers device sign-in"
        );
        assert_eq!(
            at(&[("DISPLAY", ":0")], false).choose(&c).way,
            Way::BrowserHere
        );
        if cfg!(target_os = "linux") {
            assert_eq!(at(&[], true).choose(&c).way, Way::BrowserHere);
        }
        // No client id: no device sign-in to offer.
        c.client_id = None;
        assert_eq!(ssh.choose(&c).way, Way::Remote);
    }
}
