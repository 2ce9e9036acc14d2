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

fn main() -> std::process::ExitCode {
    shell::run()
}
