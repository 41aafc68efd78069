// No console window on Windows in release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // A small utility with no animation needs no GPU compositing; without it
    // WebKit's web process holds about 75 MB less (measured on Debian 12),
    // and some GPU drivers' blank-window problems go away. The user's own
    // setting, when there is one, wins.
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
        std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    }
    planopticon_app::run()
}
