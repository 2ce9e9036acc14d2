//! What a shell around the engine (the desktop app's tray) may watch and steer: key counts by
//! health, the live event bus, and pausing the proxy. Holds the engine weakly, so keeping a
//! monitor never keeps a stopped engine (or its usage writer) alive.

use std::sync::Weak;

use keygate_core::health::HealthState;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::events::Event;
use crate::state::{AppState, Inner};

/// Keys by the colour they show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KeyCounts {
    pub total: usize,
    pub healthy: usize,
    pub degraded: usize,
    pub unhealthy: usize,
    /// Not yet used or tested.
    pub unknown: usize,
    pub disabled: usize,
}

impl KeyCounts {
    pub fn of(states: impl IntoIterator<Item = HealthState>) -> Self {
        let mut counts = Self::default();
        for state in states {
            counts.total += 1;
            match state {
                HealthState::Healthy => counts.healthy += 1,
                HealthState::Degraded => counts.degraded += 1,
                HealthState::Unhealthy => counts.unhealthy += 1,
                HealthState::Unknown => counts.unknown += 1,
                HealthState::Disabled => counts.disabled += 1,
            }
        }
        counts
    }
}

#[derive(Clone)]
pub struct EngineMonitor {
    state: Weak<Inner>,
    port: u16,
}

impl EngineMonitor {
    pub(crate) fn new(state: &AppState) -> Self {
        Self {
            state: state.downgrade(),
            port: state.port(),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Keys by health as the store holds them; `None` once the engine has stopped.
    pub async fn key_counts(&self) -> Option<KeyCounts> {
        let state = AppState::upgrade(&self.state)?;
        state
            .with_store(|store| Ok(store.list_keys()?))
            .await
            .ok()
            .map(|rows| KeyCounts::of(rows.iter().map(|r| r.health.state)))
    }

    /// Events as they happen (key state changes, failovers, pauses, budget alerts).
    pub fn subscribe(&self) -> Option<broadcast::Receiver<Event>> {
        Some(AppState::upgrade(&self.state)?.proxy().subscribe())
    }

    pub fn paused(&self) -> bool {
        AppState::upgrade(&self.state).is_some_and(|s| s.proxy_paused())
    }

    /// Pauses (or resumes) the proxy: while paused, proxy endpoints answer 503 and nothing
    /// is sent upstream; the admin API and the UI keep working.
    pub fn set_paused(&self, paused: bool) {
        if let Some(state) = AppState::upgrade(&self.state) {
            state.set_proxy_paused(paused);
        }
    }
}
