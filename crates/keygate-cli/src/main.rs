//! `keygate`: the command line for KeyGate. Manages providers, keys (secrets go to the OS
//! keyring) and local access tokens, imports key files, and runs the headless engine.
//!
//! Exit codes: 0 ok, 1 the command failed, 2 the command line was wrong.
//! Nothing here may print a secret, except a newly created access token, exactly once.

mod cli;
mod commands;
mod context;
mod output;
mod secret_input;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::context::{Context, UsageError};

/// mimalloc: the proxy allocates on every request (headers, bodies, the log row), and glibc's
/// malloc was an eighth of the engine's user-space CPU per proxied request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    init_logging(matches!(cli.command, Command::Serve(_)));
    let result = Context::from_env(cli.json, cli.store.as_deref())
        .and_then(|ctx| commands::run(&ctx, cli.command));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// `keygate model list | head`: once `head` has its lines it closes the pipe, and the next
/// `println!` fails with EPIPE, which Rust turns into a panic. A reader that stopped reading is
/// not an error of this command, so it ends quietly with success, as `ls | head` does; every
/// other panic is reported as before.
fn quiet_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        report(info);
    }));
}

fn init_logging(serving: bool) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
