//! The desktop app's own settings (not the engine's): kept as JSON in the app's config
//! directory. Missing or unreadable means the defaults.

use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AppSettings {
    /// Closing the window hides it; the proxy keeps serving from the tray.
    pub close_to_tray: bool,
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            close_to_tray: std::env::var("KEYGATE_CLOSE_TO_TRAY").map_or(true, |v| v != "0"),
        }
    }
}

impl AppSettings {
    fn path(app: &AppHandle) -> Option<std::path::PathBuf> {
        app.path()
            .app_config_dir()
            .ok()
            .map(|d| d.join("app-settings.json"))
    }

    pub fn load(app: &AppHandle) -> Self {
        Self::path(app)
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, app: &AppHandle) {
        let Some(path) = Self::path(app) else { return };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Ok(text) = serde_json::to_string_pretty(self)
            && let Err(err) = std::fs::write(&path, text)
        {
            tracing::warn!("cannot save {}: {err}", path.display());
        }
    }
}
