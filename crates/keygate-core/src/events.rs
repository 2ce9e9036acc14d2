//! What the engine's events are about: the kinds the live stream sends and the events table
//! keeps.

use serde::{Deserialize, Serialize};

/// The kind of an event (`event:` on the live stream, `kind` in the events table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    KeyStateChanged,
    KeyExpiring,
    /// The key's secret is gone from the keyring or its environment variable.
    SecretMissing,
    Failover,
    ProviderPaused,
    ProviderResumed,
    ProxyPaused,
    ProxyResumed,
    BudgetAlert,
    BudgetReached,
    BudgetReset,
    /// A key's provider balance went under its low-balance threshold (or to zero).
    BalanceLow,
    /// A model was served that has no price (its usage counts as $0 until one is set).
    ModelUnpriced,
}

impl EventKind {
    pub const ALL: [Self; 13] = [
        Self::KeyStateChanged,
        Self::KeyExpiring,
        Self::SecretMissing,
        Self::Failover,
        Self::ProviderPaused,
        Self::ProviderResumed,
        Self::ProxyPaused,
        Self::ProxyResumed,
        Self::BudgetAlert,
        Self::BudgetReached,
        Self::BudgetReset,
        Self::BalanceLow,
        Self::ModelUnpriced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyStateChanged => "key_state_changed",
            Self::KeyExpiring => "key_expiring",
            Self::SecretMissing => "secret_missing",
            Self::Failover => "failover",
            Self::ProviderPaused => "provider_paused",
            Self::ProviderResumed => "provider_resumed",
            Self::ProxyPaused => "proxy_paused",
            Self::ProxyResumed => "proxy_resumed",
            Self::BudgetAlert => "budget_alert",
            Self::BudgetReached => "budget_reached",
            Self::BudgetReset => "budget_reset",
            Self::BalanceLow => "balance_low",
            Self::ModelUnpriced => "model_unpriced",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::EventKind;

    #[test]
    fn names_are_the_serde_names() {
        for kind in EventKind::ALL {
            let json = serde_json::to_string(&kind).expect("json");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }
}
