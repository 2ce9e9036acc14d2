//! `keygate-app`: the KeyGate desktop shell. Starts the engine in-process on a listener it
//! bound itself, then opens a window on the engine's own URL. All logic lives in the library
//! crates; this file only wires them to Tauri.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod notify;
mod port;
mod settings;
mod shell;
mod status;
mod tray;

/// The engine runs in this process: same allocator as `keygate serve` (see its `main`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    shell::run()
}
