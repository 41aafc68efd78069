// No console window on Windows in release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    planopticon_app::timing::mark("main");
    // A small utility with no animation and a few lines of script needs no
    // GPU path and no JIT. Measured on Debian 12 (WebKitGTK 2.50), app and
    // WebKit processes together: no compositing saves about 75 MB, no DMA-BUF
    // renderer about 5 MB, no JavaScript JIT about 2 MB, no GL probe by GDK
    // about 1 MB; without a GPU path some drivers' blank-window problems go
    // away too. A setting the user made in the environment wins.
    #[cfg(target_os = "linux")]
    for (name, value) in [
        ("WEBKIT_DISABLE_COMPOSITING_MODE", "1"),
        ("WEBKIT_DISABLE_DMABUF_RENDERER", "1"),
        ("JSC_useJIT", "0"),
        ("GDK_GL", "disable"),
    ] {
        if std::env::var_os(name).is_none() {
            std::env::set_var(name, value);
        }
    }
    planopticon_app::run()
}
