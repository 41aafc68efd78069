//! The services.toml reader on arbitrary text: never panics; an error names
//! the file; a file it accepts keeps every built-in service.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use planopticon::services::{Registry, BUILTIN};

fuzz_target!(|text: &str| {
    let path = Path::new("/fuzz/home/.planopticon/services.toml");
    match Registry::from_toml(path, text) {
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains("services.toml"), "{message}");
        }
        Ok(registry) => {
            let names = registry.names();
            for b in BUILTIN {
                assert!(names.iter().any(|n| n == b), "{b} lost");
            }
            for c in registry.configs() {
                assert!(!c.service.is_empty());
                let _ = c.resolved_token_path();
                let _ = c.display_name();
            }
        }
    }
});
