//! The background health checker's configuration, stored under [`CONFIG_SETTING`] and held
//! by the proxy's state (which reads `max_error_count`).

use serde::{Deserialize, Serialize};

/// The setting the configuration is stored under.
pub const CONFIG_SETTING: &str = "health_check";

/// The background health checker's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckerConfig {
    pub enabled: bool,
    pub interval_minutes: u32,
    /// Consecutive errors that make a key red.
    pub max_error_count: u32,
    /// The first re-probe delay for an unhealthy key; later ones grow ×5, ×15, ×60.
    pub retry_after_minutes: u32,
}

impl Default for CheckerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_minutes: 5,
            max_error_count: 5,
            retry_after_minutes: 1,
        }
    }
}

impl CheckerConfig {
    /// Field-level problems, `field: message`.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(1..=1440).contains(&self.interval_minutes) {
            problems.push("interval_minutes: between 1 and 1440".to_string());
        }
        if !(1..=100).contains(&self.max_error_count) {
            problems.push("max_error_count: between 1 and 100".to_string());
        }
        if !(1..=1440).contains(&self.retry_after_minutes) {
            problems.push("retry_after_minutes: between 1 and 1440".to_string());
        }
        problems
    }
}
