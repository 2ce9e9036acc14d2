//! The desktop shell: one instance per user; the engine in-process on a listener the app bound
//! itself (or the KeyGate already serving that port); a window on the engine's own URL whose
//! size and place are remembered; a tray that keeps the proxy running when the window closes;
//! native notifications; a graceful drain on Quit or SIGTERM.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use keygate_server::monitor::EngineMonitor;
use keygate_server::{
    ADMIN_TOKEN_ENV, DEFAULT_DRAIN_TIMEOUT, Engine, EngineConfig, EngineHandle,
    load_or_create_admin_token, resolve_home, vault_from_env,
};
use tauri::{AppHandle, Manager, RunEvent, WebviewUrl, WebviewWindowBuilder, WindowEvent};
use tokio::sync::oneshot;

use crate::notify::Notice;
use crate::port::{Listen, choose};

const DEFAULT_PORT: u16 = 5397;
/// Pages `--page` may open.
const PAGES: &[&str] = &[
    "dashboard",
    "keys",
    "providers",
    "usage",
    "models",
    "logs",
    "connect",
    "settings",
];

/// The running engine, kept in Tauri state so `Exit` can stop it and wait for the drain.
struct EngineSlot {
    shutdown: std::sync::Mutex<Option<oneshot::Sender<()>>>,
    handle: std::sync::Mutex<Option<EngineHandle>>,
}

/// Present once the tray icon exists: only then may closing the window keep the app running
/// (with no tray there would be no way back to a hidden window).
pub struct TrayInstalled;

/// Command-line options: `--page NAME` opens that page, `--hidden` starts in the tray.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct AppArgs {
    page: Option<&'static str>,
    hidden: bool,
}

impl AppArgs {
    fn parse(args: impl IntoIterator<Item = String>) -> Self {
        let mut out = Self::default();
        let mut args = args.into_iter().skip(1);
        while let Some(arg) = args.next() {
            let page = match arg.as_str() {
                "--hidden" => {
                    out.hidden = true;
                    continue;
                }
                "--page" => args.next(),
                other => other.strip_prefix("--page=").map(str::to_string),
            };
            if let Some(page) = page {
                match PAGES.iter().find(|p| **p == page) {
                    Some(known) => out.page = Some(known),
                    None => eprintln!("warning: no page {page:?}; pages are {}", PAGES.join(", ")),
                }
            }
        }
        out
    }
}

/// The hash route of a page (`#/keys`), `#/` for the dashboard.
fn route(page: Option<&str>) -> String {
    match page {
        None | Some("dashboard") => "#/".to_string(),
        Some(page) => format!("#/{page}"),
    }
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
    let args = AppArgs::parse(std::env::args());
    let port = match std::env::var("KEYGATE_PORT") {
        Ok(text) => text
            .parse()
            .with_context(|| format!("KEYGATE_PORT={text:?} is not a port number"))?,
        Err(_) => DEFAULT_PORT,
    };
    let app = tauri::Builder::default()
        // First, so a second launch hands over its arguments and exits before anything else
        // (no second engine, no second window).
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            show_page(app, AppArgs::parse(argv).page);
        }))
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec!["--hidden"]),
        ))
        .plugin(tauri_plugin_clipboard_manager::init())
        .setup(move |app| {
            setup(app.handle(), port, &args)?;
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event
                && crate::tray::close_to_tray(window.app_handle())
            {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .build(tauri::generate_context!())
        .context("cannot start the desktop shell")?;
    let handle = app.handle().clone();
    tauri::async_runtime::spawn(async move {
        wait_for_termination().await;
        handle.exit(0);
    });
    app.run(|handle, event| {
        if let RunEvent::Exit = event {
            stop_engine(handle);
        }
    });
    Ok(())
}

/// Starts (or finds) the engine, opens the window and installs the tray.
fn setup(app: &AppHandle, port: u16, args: &AppArgs) -> Result<()> {
    let home = resolve_home()?;
    let vault = vault_from_env();
    let admin_token = load_or_create_admin_token(&vault, std::env::var(ADMIN_TOKEN_ENV).ok())?;
    let (port, monitor, note) = match choose(port)? {
        Listen::Attach { port } => {
            tracing::info!("another KeyGate engine serves port {port}; opening it");
            (port, None, None)
        }
        Listen::Own { listener, note } => {
            let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
            let config = EngineConfig {
                store: keygate_server::StoreLocation::Sqlite(home.clone()),
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
            let port = engine.local_addr().port();
            let monitor = engine.monitor();
            app.manage(EngineSlot {
                shutdown: std::sync::Mutex::new(Some(shutdown_tx)),
                handle: std::sync::Mutex::new(Some(engine)),
            });
            (port, Some(monitor), note)
        }
    };
    eprintln!("KeyGate engine listening on http://127.0.0.1:{port}");
    let route = route(args.page);
    let separator = if route.contains('?') { '&' } else { '?' };
    let url = format!(
        "http://127.0.0.1:{port}/{route}{separator}token={}",
        admin_token.expose()
    );
    let url = url.parse().context("the engine URL is not a valid URL")?;
    WebviewWindowBuilder::new(app, "main", WebviewUrl::External(url))
        .title("KeyGate")
        .inner_size(1200.0, 780.0)
        .min_inner_size(860.0, 560.0)
        .visible(!args.hidden)
        .build()?;
    install_tray(app, monitor, port);
    if let Some(note) = note {
        tracing::warn!("{note}");
        notify(
            app,
            Notice {
                title: "KeyGate runs on another port".into(),
                body: note,
                page: "#/",
                subject: "port".into(),
            },
        );
    }
    Ok(())
}

/// The tray is a convenience: a desktop without a status-notifier host still gets the window.
fn install_tray(app: &AppHandle, monitor: Option<EngineMonitor>, port: u16) {
    match crate::tray::install(app, monitor, port) {
        Ok(()) => {
            app.manage(TrayInstalled);
        }
        Err(err) => tracing::warn!("no tray icon ({err}); closing the window quits KeyGate"),
    }
}

/// Brings the window forward, on `page` when given.
pub fn show_page(app: &AppHandle, page: Option<&str>) {
    let Some(window) = app.get_webview_window("main") else {
        return;
    };
    let _ = window.show();
    let _ = window.unminimize();
    let _ = window.set_focus();
    if let Some(page) = page {
        let hash = route(Some(page));
        // The hash is one of our own routes, never user text.
        let _ = window.eval(format!("location.hash = {hash:?}"));
    }
}

/// Shows a desktop notification; a click on it opens the notice's page. Without a
/// notification service (a bare session) it is only logged.
pub fn notify(app: &AppHandle, notice: Notice) {
    let app = app.clone();
    std::thread::spawn(move || {
        let shown = notify_rust::Notification::new()
            .appname("KeyGate")
            .summary(&notice.title)
            .body(&notice.body)
            .action("default", "Open")
            .show();
        match shown {
            Ok(handle) => handle.wait_for_action(|action| {
                if action == "default" {
                    let page = notice.page.trim_start_matches("#/");
                    let page = page.split('?').next().unwrap_or("");
                    show_page(&app, Some(if page.is_empty() { "dashboard" } else { page }));
                }
            }),
            Err(err) => tracing::info!("notification not shown ({err}): {}", notice.body),
        }
    });
}

async fn wait_for_termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Signals the engine to stop and waits for in-flight requests to drain.
fn stop_engine(app: &AppHandle) {
    let Some(slot) = app.try_state::<EngineSlot>() else {
        return;
    };
    if let Some(tx) = slot.shutdown.lock().ok().and_then(|mut s| s.take()) {
        let _ = tx.send(());
    }
    if let Some(engine) = slot.handle.lock().ok().and_then(|mut h| h.take())
        && let Err(err) = tauri::async_runtime::block_on(engine.wait())
    {
        eprintln!("warning: the engine stopped with an error: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> AppArgs {
        AppArgs::parse(
            std::iter::once("keygate-app")
                .chain(args.iter().copied())
                .map(str::to_string),
        )
    }

    #[test]
    fn pages_and_hidden_start_come_from_the_command_line() {
        assert_eq!(parse(&[]), AppArgs::default());
        assert_eq!(parse(&["--page", "keys"]).page, Some("keys"));
        assert_eq!(
            parse(&["--page=usage", "--hidden"]),
            AppArgs {
                page: Some("usage"),
                hidden: true
            }
        );
        assert_eq!(parse(&["--page", "nowhere"]).page, None);
        assert_eq!(route(Some("keys")), "#/keys");
        assert_eq!(route(None), "#/");
    }
}
