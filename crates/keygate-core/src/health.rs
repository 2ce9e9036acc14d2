//! Health states and reasons as the UI and CLI show them. The state machine that moves keys
//! between them is driven by the proxy and the health checker.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A key's health: green, yellow, red, grey, or switched off by the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Healthy,
    Degraded,
    Unhealthy,
    Unknown,
    Disabled,
}

/// Why a key is not healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HealthReason {
    Auth,
    Quota,
    RateLimited,
    Errors,
    SecretMissing,
    /// The keyring is locked or unreachable, so the secret cannot be read (red until it is).
    SecretUnavailable,
    Expired,
    /// A spend or token budget is used up until its period resets (yellow, not red).
    Budget,
    /// The provider balance is at zero: still tried, but the next request may fail (yellow).
    Credit,
}

macro_rules! text_enum {
    ($ty:ty, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!(concat!("unknown ", $what, " {:?}"), other)),
                }
            }
        }
    };
}

text_enum!(HealthState, "health state", {
    Healthy => "healthy",
    Degraded => "degraded",
    Unhealthy => "unhealthy",
    Unknown => "unknown",
    Disabled => "disabled",
});

text_enum!(HealthReason, "health reason", {
    Auth => "auth",
    Quota => "quota",
    RateLimited => "rate_limited",
    Errors => "errors",
    SecretMissing => "secret_missing",
    SecretUnavailable => "secret_unavailable",
    Expired => "expired",
    Budget => "budget",
    Credit => "credit",
});

impl HealthState {
    /// The traffic-light colour the UI and tray use.
    pub fn colour(self) -> &'static str {
        match self {
            Self::Healthy => "green",
            Self::Degraded => "yellow",
            Self::Unhealthy => "red",
            Self::Unknown | Self::Disabled => "grey",
        }
    }
}

impl HealthReason {
    /// A short human explanation for tooltips and `key list`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Auth => "key rejected (revoked or mistyped)",
            Self::Quota => "out of credit",
            Self::RateLimited => "rate limited, cooling down",
            Self::Errors => "too many consecutive errors",
            Self::SecretMissing => "secret missing from the keyring or environment",
            Self::SecretUnavailable => "the keyring is locked or unavailable: unlock it",
            Self::Expired => "key expired",
            Self::Budget => "budget reached, back when the period resets",
            Self::Credit => "out of credit soon: the provider balance is at zero, top it up",
        }
    }
}

/// The effective state shown for a key: a disabled key is `disabled` whatever its last health.
pub fn effective_state(enabled: bool, stored: HealthState) -> HealthState {
    if enabled {
        stored
    } else {
        HealthState::Disabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_reasons_round_trip_through_text() {
        for state in [
            HealthState::Healthy,
            HealthState::Degraded,
            HealthState::Unhealthy,
            HealthState::Unknown,
            HealthState::Disabled,
        ] {
            assert_eq!(state.as_str().parse::<HealthState>(), Ok(state));
        }
        assert_eq!(
            "secret_missing".parse::<HealthReason>(),
            Ok(HealthReason::SecretMissing)
        );
        assert!("sad".parse::<HealthState>().is_err());
    }

    #[test]
    fn disabled_keys_show_disabled_whatever_their_health() {
        assert_eq!(
            effective_state(false, HealthState::Unhealthy),
            HealthState::Disabled
        );
        assert_eq!(
            effective_state(true, HealthState::Degraded),
            HealthState::Degraded
        );
        assert_eq!(HealthState::Degraded.colour(), "yellow");
    }
}
