//! The tray icon and its menu: overall health as the icon's colour, a status line, Open,
//! Copy base URL, Pause/Resume proxy, keep-running and start-at-login switches, Quit. A task
//! refreshes it on every engine event (and every few seconds) and raises rate-limited
//! notifications. All decisions are in `status` and `notify`; this file only wires them up.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keygate_server::monitor::EngineMonitor;
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_clipboard_manager::ClipboardExt as _;

use crate::notify::{RateLimiter, notice_for};
use crate::settings::AppSettings;
use crate::shell::show_page;
use crate::status::{Colour, status_line};

const REFRESH: Duration = Duration::from_secs(5);

pub fn install(app: &AppHandle, monitor: Option<EngineMonitor>, port: u16) -> tauri::Result<()> {
    let settings = AppSettings::load(app);
    let status = MenuItem::with_id(app, "status", "Starting…", false, None::<&str>)?;
    let open = MenuItem::with_id(app, "open", "Open KeyGate", true, None::<&str>)?;
    let copy = MenuItem::with_id(app, "copy", "Copy base URL", true, None::<&str>)?;
    let pause = MenuItem::with_id(app, "pause", "Pause proxy", monitor.is_some(), None::<&str>)?;
    let keep = CheckMenuItem::with_id(
        app,
        "keep",
        "Keep running when the window closes",
        true,
        settings.close_to_tray,
        None::<&str>,
    )?;
    let autostart = CheckMenuItem::with_id(
        app,
        "autostart",
        "Start at login",
        true,
        app.autolaunch().is_enabled().unwrap_or(false),
        None::<&str>,
    )?;
    let quit = MenuItem::with_id(app, "quit", "Quit KeyGate", true, None::<&str>)?;
    let separator = || PredefinedMenuItem::separator(app);
    let menu = Menu::with_items(
        app,
        &[
            &status,
            &separator()?,
            &open,
            &copy,
            &pause,
            &separator()?,
            &keep,
            &autostart,
            &separator()?,
            &quit,
        ],
    )?;
    let tray = TrayIconBuilder::with_id("keygate")
        .icon(Image::from_bytes(Colour::Grey.icon_png())?)
        .tooltip("KeyGate")
        .menu(&menu)
        .on_menu_event({
            let monitor = monitor.clone();
            let pause = pause.clone();
            move |app, event| match event.id().as_ref() {
                "open" => show_page(app, None),
                "copy" => {
                    let url = format!("http://127.0.0.1:{port}/v1");
                    if let Err(err) = app.clipboard().write_text(url) {
                        tracing::warn!("cannot copy the base URL: {err}");
                    }
                }
                "pause" => {
                    if let Some(monitor) = &monitor {
                        let paused = !monitor.paused();
                        monitor.set_paused(paused);
                        let _ = pause.set_text(if paused {
                            "Resume proxy"
                        } else {
                            "Pause proxy"
                        });
                    }
                }
                "keep" => {
                    let mut settings = AppSettings::load(app);
                    settings.close_to_tray = !settings.close_to_tray;
                    settings.save(app);
                }
                "autostart" => {
                    let launcher = app.autolaunch();
                    let result = if launcher.is_enabled().unwrap_or(false) {
                        launcher.disable()
                    } else {
                        launcher.enable()
                    };
                    if let Err(err) = result {
                        tracing::warn!("cannot change start at login: {err}");
                    }
                }
                "quit" => app.exit(0),
                _ => {}
            }
        })
        .build(app)?;

    let Some(monitor) = monitor else {
        let _ = status.set_text(format!("Attached to the KeyGate engine on :{port}"));
        return Ok(());
    };
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let mut events = monitor.subscribe();
        let limiter = Arc::new(Mutex::new(RateLimiter::default()));
        loop {
            let Some(counts) = monitor.key_counts().await else {
                return;
            };
            let paused = monitor.paused();
            let line = status_line(&counts, monitor.port(), paused);
            let _ = status.set_text(&line);
            let _ = tray.set_tooltip(Some(format!("KeyGate — {line}")));
            let _ = pause.set_text(if paused {
                "Resume proxy"
            } else {
                "Pause proxy"
            });
            if let Ok(icon) = Image::from_bytes(Colour::of(&counts).icon_png()) {
                let _ = tray.set_icon(Some(icon));
            }
            let Some(receiver) = events.as_mut() else {
                tokio::time::sleep(REFRESH).await;
                continue;
            };
            match tokio::time::timeout(REFRESH, receiver.recv()).await {
                Ok(Ok(event)) => {
                    if let Some(notice) = notice_for(&event) {
                        let allowed = limiter
                            .lock()
                            .map(|mut l| l.allow(&notice.subject, Instant::now()))
                            .unwrap_or(false);
                        if allowed {
                            crate::shell::notify(&app, notice);
                        }
                    }
                }
                // A slow reader missed some events: the counts below catch up.
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) | Err(_) => {}
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return,
            }
        }
    });
    Ok(())
}

/// Whether closing the window should keep the app in the tray.
pub fn close_to_tray(app: &AppHandle) -> bool {
    app.try_state::<crate::shell::TrayInstalled>().is_some() && AppSettings::load(app).close_to_tray
}
