//! Launch timing for the benchmarks (`bench/floor.sh`, `tests/e2e/measure.sh`):
//! with `PLANOPTICON_APP_TIMING` set, the app prints each phase of its start
//! on stderr as `planopticon-app: NAME <unix ms>`, the last one `ready` (the
//! first cards drawn). Without it, nothing.

use std::sync::OnceLock;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("PLANOPTICON_APP_TIMING").is_some())
}

/// Marks a phase now.
pub fn mark(what: &str) {
    if enabled() {
        mark_at(what, planopticon::system_clock()() * 1000.0);
    }
}

/// Marks a phase at `unix_ms` (one the page measured).
pub fn mark_at(what: &str, unix_ms: f64) {
    if enabled() {
        eprintln!("planopticon-app: {what} {unix_ms:.0}");
    }
}
