//! The event bus: key state changes, failovers, provider pauses (budget alerts later). Every
//! event goes to live subscribers (`GET /api/events`, server-sent events) and to the events
//! table through the background writer.

use chrono::{SecondsFormat, Utc};
use keygate_core::events::EventKind;
use keygate_core::health::{HealthReason, HealthState};
use serde::Serialize;

/// Buffered events per subscriber before a slow one starts missing some.
pub const BUS_CAPACITY: usize = 256;

/// An event as the live stream (`GET /api/events`) sends it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = LiveEvent)]
pub struct Event {
    pub kind: EventKind,
    pub at: String,
    pub key_id: Option<String>,
    pub key_label: Option<String>,
    pub provider: Option<String>,
    /// For key state changes: the new state and why.
    pub state: Option<HealthState>,
    pub reason: Option<HealthReason>,
    pub previous: Option<HealthState>,
    /// One line for people; never holds a secret.
    pub message: String,
}

impl Event {
    pub fn new(kind: EventKind, message: String) -> Self {
        Self {
            kind,
            at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            key_id: None,
            key_label: None,
            provider: None,
            state: None,
            reason: None,
            previous: None,
            message,
        }
    }

    /// The event as the events table keeps it.
    pub fn row(&self) -> keygate_store::NewEvent {
        keygate_store::NewEvent {
            at: self.at.clone(),
            kind: self.kind.as_str().to_string(),
            key_id: self.key_id.clone(),
            key_label: self.key_label.clone(),
            provider: self.provider.clone(),
            state: self.state,
            previous: self.previous,
            reason: self.reason,
            message: self.message.clone(),
        }
    }

    /// A key moved from one state to another.
    pub fn key_state(
        key_id: &str,
        label: &str,
        provider: &str,
        from: (HealthState, Option<HealthReason>),
        to: (HealthState, Option<HealthReason>),
    ) -> Self {
        let why =
            to.1.map(|r| format!(": {}", r.describe()))
                .unwrap_or_default();
        Self {
            key_id: Some(key_id.to_string()),
            key_label: Some(label.to_string()),
            provider: Some(provider.to_string()),
            state: Some(to.0),
            reason: to.1,
            previous: Some(from.0),
            ..Self::new(
                EventKind::KeyStateChanged,
                format!("key {label:?} of {provider} is now {}{why}", to.0),
            )
        }
    }
}
