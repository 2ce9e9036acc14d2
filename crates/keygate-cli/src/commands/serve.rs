use std::net::SocketAddr;

use anyhow::{Context as _, Result};
use keygate_server::{
    ADMIN_TOKEN_ENV, DEFAULT_DRAIN_TIMEOUT, Engine, EngineConfig, bind_listener,
    load_or_create_admin_token,
};

use crate::cli::ServeArgs;
use crate::context::{Context, usage};

pub fn run(ctx: &Context, args: ServeArgs) -> Result<()> {
    if !args.bind.is_loopback() && !args.i_know_this_exposes_keys {
        return Err(usage(format!(
            "--bind {} would let other machines use your keys; add --i-know-this-exposes-keys if that is really what you want",
            args.bind
        )));
    }
    let admin_token = load_or_create_admin_token(&ctx.vault, std::env::var(ADMIN_TOKEN_ENV).ok())?;
    let listener = bind_listener(SocketAddr::new(args.bind, args.port))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::from_std(listener).context("cannot use the bound socket")?;
        let config = EngineConfig {
            home: ctx.home.clone(),
            store: ctx.store_location.clone(),
            vault: ctx.vault.clone(),
            admin_token: admin_token.clone(),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        };
        let stop = shutdown_signal()?;
        let engine = Engine::start(config, listener, stop).await?;
        let addr = engine.local_addr();
        let host = if addr.ip().is_loopback() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        let base = format!("http://{host}:{}", addr.port());
        let ui_url = format!("{base}/#token={}", admin_token.expose());
        println!(
            "KeyGate {} is running (data in {}).",
            env!("CARGO_PKG_VERSION"),
            ctx.store_location.describe()
        );
        println!("Proxy base URL: {base}/v1");
        println!("Web UI: {ui_url}");
        println!("Press Ctrl-C to stop.");
        if args.open {
            open_browser(&ui_url);
        }
        engine
            .wait()
            .await
            .context("the server stopped with an error")?;
        eprintln!("KeyGate stopped.");
        Ok(())
    })
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed here, before the engine starts,
/// not when the future is first polled: a SIGTERM that came right after "Web UI:" was printed,
/// before the engine's task had polled it, used to kill the process without a drain (seen under
/// load in `an_import_killed_mid_way_…`).
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
            eprintln!("Stopping: finishing requests in flight…");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("Stopping: finishing requests in flight…");
        })
    }
}

fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    if let Err(err) = std::process::Command::new(opener).arg(url).spawn() {
        eprintln!(
            "warning: could not open a browser ({opener}: {err}); open the Web UI URL above yourself"
        );
    }
}
