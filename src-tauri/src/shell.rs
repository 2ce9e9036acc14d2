use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use keygate_server::{
    ADMIN_TOKEN_ENV, DEFAULT_DRAIN_TIMEOUT, Engine, EngineConfig, EngineHandle, bind_listener,
    load_or_create_admin_token, resolve_home, vault_from_env,
};
use tauri::{Manager, RunEvent, WebviewUrl, WebviewWindowBuilder};
use tokio::sync::oneshot;

const DEFAULT_PORT: u16 = 5397;

/// The running engine, kept in Tauri state so `Exit` can stop it and wait for the drain.
struct EngineSlot {
    shutdown: std::sync::Mutex<Option<oneshot::Sender<()>>>,
    handle: std::sync::Mutex<Option<EngineHandle>>,
}

pub fn run() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match start() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn start() -> Result<()> {
    let home = resolve_home()?;
    let vault = vault_from_env();
    let port = match std::env::var("KEYGATE_PORT") {
        Ok(text) => text
            .parse()
            .with_context(|| format!("KEYGATE_PORT={text:?} is not a port number"))?,
        Err(_) => DEFAULT_PORT,
    };
    let admin_token = load_or_create_admin_token(&vault, std::env::var(ADMIN_TOKEN_ENV).ok())?;
    let listener = bind_listener(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;

    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let config = EngineConfig {
        home,
        vault,
        admin_token: admin_token.clone(),
        drain_timeout: DEFAULT_DRAIN_TIMEOUT,
    };
    let engine = tauri::async_runtime::block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let shutdown = async move {
            let _ = shutdown_rx.await;
        };
        Ok::<_, anyhow::Error>(Engine::start(config, listener, shutdown).await?)
    })?;
    let addr = engine.local_addr();
    let url = format!(
        "http://127.0.0.1:{}/#token={}",
        addr.port(),
        admin_token.expose()
    );
    let url = url.parse().context("the engine URL is not a valid URL")?;
    eprintln!(
        "KeyGate engine listening on http://127.0.0.1:{}",
        addr.port()
    );

    let app = tauri::Builder::default()
        .manage(EngineSlot {
            shutdown: std::sync::Mutex::new(Some(shutdown_tx)),
            handle: std::sync::Mutex::new(Some(engine)),
        })
        .setup(move |app| {
            WebviewWindowBuilder::new(app, "main", WebviewUrl::External(url))
                .title("KeyGate")
                .inner_size(1200.0, 780.0)
                .min_inner_size(860.0, 560.0)
                .build()?;
            Ok(())
        })
        .build(tauri::generate_context!())
        .context("cannot start the desktop shell")?;
    app.run(|handle, event| {
        if let RunEvent::Exit = event {
            stop_engine(handle);
        }
    });
    Ok(())
}

/// Signals the engine to stop and waits for in-flight requests to drain.
fn stop_engine(app: &tauri::AppHandle) {
    let slot = app.state::<EngineSlot>();
    if let Some(tx) = slot.shutdown.lock().ok().and_then(|mut s| s.take()) {
        let _ = tx.send(());
    }
    if let Some(engine) = slot.handle.lock().ok().and_then(|mut h| h.take())
        && let Err(err) = tauri::async_runtime::block_on(engine.wait())
    {
        eprintln!("warning: the engine stopped with an error: {err}");
    }
}
