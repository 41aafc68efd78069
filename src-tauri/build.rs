//! Build script: puts the `planopticon` CLI where Tauri expects its sidecar,
//! then runs tauri-build with the configuration at the repository root.
//!
//! Tauri bundles an external binary from `binaries/<name>-<target triple>`
//! (a path resolved from this folder, `src-tauri/`, hence `../binaries`). The
//! CLI is the root package's `planopticon` binary; its sidecar name is
//! `planopticon-cli` because an external binary may not share its name with a
//! Cargo package of the workspace. Cargo cannot make this build depend on
//! another package's binary, so the scripts build the CLI first
//! (`cargo build -p planopticon`) and this script copies
//! `target/<profile>/planopticon` over. When the CLI has not been built (a
//! fresh checkout running `cargo clippy --workspace`) a stand-in script is
//! written so the app still compiles; the About view then shows its message.

use std::path::{Path, PathBuf};

const SIDECAR: &str = "planopticon-cli";

fn main() {
    prepare_sidecar();
    tauri_build::try_build(tauri_build::Attributes::new().config_path("../tauri.conf.json"))
        .expect("tauri-build failed (config: ../tauri.conf.json)");
}

fn prepare_sidecar() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let target = std::env::var("TARGET").expect("set by cargo");
    let exe = if target.contains("windows") {
        ".exe"
    } else {
        ""
    };
    let dest = manifest
        .join("../binaries")
        .join(format!("{SIDECAR}-{target}{exe}"));

    // OUT_DIR is target/<profile>/build/<pkg>-<hash>/out: the CLI sits 3 levels up.
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let cli = out
        .ancestors()
        .nth(3)
        .map(|profile| profile.join(format!("planopticon{exe}")));

    // Watched even while missing, so building the CLI later refreshes the copy.
    if let Some(cli) = &cli {
        println!("cargo:rerun-if-changed={}", cli.display());
    }
    println!("cargo:rerun-if-changed={}", dest.display());

    match cli.filter(|p| p.is_file()) {
        Some(cli) => {
            if newer(&cli, &dest) {
                std::fs::copy(&cli, &dest).unwrap_or_else(|e| {
                    panic!("copying {} to {}: {e}", cli.display(), dest.display())
                });
                // The copy keeps the CLI's time: a copy newer than this run
                // would make cargo run this script, and relink, next build.
                if let Ok(time) = cli.metadata().and_then(|m| m.modified()) {
                    let _ = std::fs::File::options()
                        .write(true)
                        .open(&dest)
                        .and_then(|f| f.set_modified(time));
                }
            }
        }
        None if dest.is_file() => {}
        None => {
            println!(
                "cargo:warning=the planopticon CLI is not built yet: a stand-in sidecar was written to {}; run `cargo build -p planopticon` and build the app again",
                dest.display()
            );
            write_stand_in(&dest);
        }
    }
}

fn newer(src: &Path, dest: &Path) -> bool {
    let mtime = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    let len = |p: &Path| p.metadata().map(|m| m.len()).ok();
    match (mtime(src), mtime(dest)) {
        (Some(s), Some(d)) => s > d || len(src) != len(dest),
        _ => true,
    }
}

fn write_stand_in(dest: &Path) {
    let text = "#!/bin/sh\necho 'planopticon-cli: this app was built before the planopticon CLI; build it with `cargo build -p planopticon`, then rebuild the app' >&2\nexit 127\n";
    std::fs::write(dest, text).unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o755));
    }
}
