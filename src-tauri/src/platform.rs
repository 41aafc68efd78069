//! What the desktop app does differently per OS, kept in this one place so
//! the window and tray code stays the same everywhere:
//!
//! - the tray icon's image: macOS draws menu-bar icons as *template* images
//!   (black and alpha only, recoloured by the system for light and dark menu
//!   bars and for the highlight), so it gets a monochrome image marked as a
//!   template; the attention icon keeps its colour there, so that it stands
//!   out as it does on the other systems. Linux and Windows get the coloured
//!   icons.
//! - the Dock (macOS): an app whose only visible part is its tray icon
//!   belongs out of the Dock and the app switcher, as menu-bar utilities are;
//!   it comes back when its window is shown. Elsewhere a hidden window
//!   already leaves the taskbar.

use tauri::image::Image;
use tauri::{AppHandle, Runtime};

/// The tray icon for the current state, and whether to draw it as a macOS
/// template image (ignored by the other systems).
pub fn tray_icon(attention: bool) -> tauri::Result<(Image<'static>, bool)> {
    let (bytes, template) = tray_icon_bytes(attention);
    Ok((Image::from_bytes(bytes)?, template))
}

fn tray_icon_bytes(attention: bool) -> (&'static [u8], bool) {
    if attention {
        (include_bytes!("../../icons/tray-attention.png"), false)
    } else if cfg!(target_os = "macos") {
        (include_bytes!("../../icons/tray-template.png"), true)
    } else {
        (include_bytes!("../../icons/tray.png"), false)
    }
}

/// The main window was shown: on macOS the app is back in the Dock.
pub fn window_shown<R: Runtime>(app: &AppHandle<R>) {
    #[cfg(target_os = "macos")]
    set_policy(app, tauri::ActivationPolicy::Regular);
    #[cfg(not(target_os = "macos"))]
    let _ = app;
}

/// The main window was hidden (closed to the tray, or never shown when
/// started at login): on macOS only the menu-bar icon remains.
pub fn window_hidden<R: Runtime>(app: &AppHandle<R>) {
    #[cfg(target_os = "macos")]
    set_policy(app, tauri::ActivationPolicy::Accessory);
    #[cfg(not(target_os = "macos"))]
    let _ = app;
}

#[cfg(target_os = "macos")]
fn set_policy<R: Runtime>(app: &AppHandle<R>, policy: tauri::ActivationPolicy) {
    if let Err(e) = app.set_activation_policy(policy) {
        log::warn!("could not change the app's Dock presence: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tray_icons_decode_and_only_the_quiet_macos_one_is_a_template() {
        for attention in [false, true] {
            let (image, template) = tray_icon(attention).expect("the tray icon decodes");
            assert!(image.width() > 0 && image.height() > 0);
            assert_eq!(template, cfg!(target_os = "macos") && !attention);
        }
    }

    #[test]
    fn the_template_image_is_black_and_alpha_only() {
        // macOS uses only a template's alpha; colour in it would be lost,
        // which is why it is its own file and not tray.png.
        let image = Image::from_bytes(include_bytes!("../../icons/tray-template.png")).unwrap();
        let rgba = image.rgba();
        assert!(rgba.chunks(4).all(|p| p[0] == 0 && p[1] == 0 && p[2] == 0));
        assert!(
            rgba.chunks(4).any(|p| p[3] == 255),
            "the template shows a shape"
        );
    }
}
