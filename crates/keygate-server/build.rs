//! The web UI (`ui/dist`, built by Vite) is embedded into release builds and read from disk
//! by debug builds. A binary without it serves only "This build has no web UI", so a build
//! without `ui/dist` builds it first (`npm ci` when `ui/node_modules` is missing, then
//! `npm run build`), which makes `cargo install --path crates/keygate-cli` give a whole app.
//! When that cannot run here, the build fails and says what to run — unless
//! `KEYGATE_ALLOW_NO_UI=1` asks for a binary without the UI on purpose.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=../../ui/dist");
    println!("cargo:rerun-if-env-changed=KEYGATE_ALLOW_NO_UI");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let ui = Path::new(&manifest).join("../../ui");
    if ui.join("dist/index.html").is_file() {
        return;
    }
    if std::env::var("KEYGATE_ALLOW_NO_UI").is_ok_and(|v| v == "1") {
        println!(
            "cargo:warning=building without the web UI (KEYGATE_ALLOW_NO_UI=1): the binary serves the proxy and the API only"
        );
        return;
    }
    if let Err(why) = build_ui(&ui) {
        panic!(
            "\n\nThe web UI (ui/dist) is not built, and building it here failed: {why}.\n\
             Run `make ui` (or `npm --prefix ui ci && npm --prefix ui run build`) and build again,\n\
             or set KEYGATE_ALLOW_NO_UI=1 for a binary without the web UI.\n\n"
        );
    }
}

fn build_ui(ui: &Path) -> Result<(), String> {
    if !ui.join("package.json").is_file() {
        return Err(format!("there is no {}", ui.join("package.json").display()));
    }
    println!("cargo:warning=ui/dist is missing: building the web UI with npm");
    if !ui.join("node_modules").is_dir() {
        npm(ui, &["ci", "--no-audit", "--no-fund"])?;
    }
    npm(ui, &["run", "build"])?;
    if ui.join("dist/index.html").is_file() {
        Ok(())
    } else {
        Err("npm run build left no ui/dist/index.html".into())
    }
}

fn npm(ui: &Path, args: &[&str]) -> Result<(), String> {
    let status = Command::new("npm")
        .args(args)
        .current_dir(ui)
        .status()
        .map_err(|e| format!("cannot run npm ({e}); install Node.js 20+"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`npm {}` failed ({status})", args.join(" ")))
    }
}
