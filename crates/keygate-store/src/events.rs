use crate::sql::params;
use keygate_core::health::{HealthReason, HealthState};
use serde::Serialize;

use crate::{Store, StoreError};

/// Something that happened to a key or provider, for the UI's activity feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = StoredEvent))]
pub struct Event {
    pub id: i64,
    pub at: String,
    /// Written only from `EventKind` names (`NewEvent::kind`, `append_event`).
    #[cfg_attr(feature = "openapi", schema(value_type = keygate_core::events::EventKind))]
    pub kind: String,
    pub key_id: Option<String>,
    pub key_label: Option<String>,
    pub provider: Option<String>,
    /// For a key's change of health: its new state, the one before, and why.
    pub state: Option<HealthState>,
    pub previous: Option<HealthState>,
    pub reason: Option<HealthReason>,
    pub message: String,
}

/// An event to record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewEvent {
    pub at: String,
    pub kind: String,
    pub key_id: Option<String>,
    pub key_label: Option<String>,
    pub provider: Option<String>,
    pub state: Option<HealthState>,
    pub previous: Option<HealthState>,
    pub reason: Option<HealthReason>,
    pub message: String,
}

/// One health check or key test in a key's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckRow {
    pub key_id: String,
    pub at: String,
    pub class: String,
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub hint: String,
}

/// Events kept; older ones are pruned as new ones arrive.
pub const EVENTS_KEPT: i64 = 10_000;
/// Checks kept per key.
pub const CHECKS_KEPT_PER_KEY: i64 = 50;

impl Store {
    /// Saves events and check results in one transaction and prunes both to their bounds.
    pub fn write_activity(
        &mut self,
        events: &[NewEvent],
        checks: &[CheckRow],
    ) -> Result<(), StoreError> {
        if events.is_empty() && checks.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        for e in events {
            tx.execute(
                "INSERT INTO events (at, kind, key_id, key_label, provider, state, previous, reason, message) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    e.at,
                    e.kind,
                    e.key_id,
                    e.key_label,
                    e.provider,
                    e.state.map(HealthState::as_str),
                    e.previous.map(HealthState::as_str),
                    e.reason.map(HealthReason::as_str),
                    e.message
                ],
            )?;
        }
        if !events.is_empty() {
            tx.execute(
                "DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?1",
                [EVENTS_KEPT],
            )?;
        }
        for c in checks {
            tx.execute(
                "INSERT INTO health_checks (key_id, at, class, status, latency_ms, hint) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![c.key_id, c.at, c.class, c.status, c.latency_ms, c.hint],
            )?;
            tx.execute(
                "DELETE FROM health_checks WHERE key_id = ?1 AND id <= \
                 (SELECT MAX(id) FROM health_checks WHERE key_id = ?1) - ?2",
                params![c.key_id, CHECKS_KEPT_PER_KEY],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A key's newest checks first.
    pub fn key_checks(&self, key_id: &str, limit: u32) -> Result<Vec<CheckRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT key_id, at, class, status, latency_ms, hint FROM health_checks \
             WHERE key_id = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![key_id, limit], |r| {
            Ok(CheckRow {
                key_id: r.get(0)?,
                at: r.get(1)?,
                class: r.get(2)?,
                status: r.get(3)?,
                latency_ms: r.get(4)?,
                hint: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records an event. `message` must already be free of secrets.
    pub fn append_event(
        &self,
        kind: &str,
        key_id: Option<&str>,
        provider: Option<&str>,
        message: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO events (at, kind, key_id, provider, message) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![self.now(), kind, key_id, provider, message],
        )?;
        Ok(())
    }

    /// The newest `limit` events, newest first.
    pub fn recent_events(&self, limit: u32) -> Result<Vec<Event>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, at, kind, key_id, provider, message, key_label, state, previous, reason \
             FROM events ORDER BY id DESC LIMIT ?1",
        )?;
        // A state this build does not know (written by a newer one) reads as none.
        fn known<T: std::str::FromStr>(
            r: &crate::sql::Row<'_>,
            i: usize,
        ) -> Result<Option<T>, crate::sql::DbError> {
            Ok(r.get::<Option<String>>(i)?.and_then(|t| t.parse().ok()))
        }
        let rows = stmt.query_map([limit], |r| {
            Ok(Event {
                id: r.get(0)?,
                at: r.get(1)?,
                kind: r.get(2)?,
                key_id: r.get(3)?,
                provider: r.get(4)?,
                message: r.get(5)?,
                key_label: r.get(6)?,
                state: known(r, 7)?,
                previous: known(r, 8)?,
                reason: known(r, 9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_keeps_its_structured_fields() {
        let db = crate::testing::fresh();
        let mut store = db.open();
        let change = NewEvent {
            at: "2026-12-01T10:00:00.000Z".into(),
            kind: "key_state_changed".into(),
            key_id: Some("k_aaaaaaaaaa".into()),
            key_label: Some("work".into()),
            provider: Some("openai".into()),
            state: Some(HealthState::Unhealthy),
            previous: Some(HealthState::Healthy),
            reason: Some(HealthReason::Auth),
            message: "work (openai) is now unhealthy".into(),
        };
        let plain = NewEvent {
            at: "2026-12-01T10:00:01.000Z".into(),
            kind: "proxy_paused".into(),
            message: "the proxy is paused".into(),
            ..NewEvent::default()
        };
        store.write_activity(&[change, plain], &[]).expect("write");
        let events = store.recent_events(10).expect("read");
        assert_eq!(events[0].kind, "proxy_paused");
        assert_eq!((events[0].state, events[0].reason), (None, None));
        let read = &events[1];
        assert_eq!(read.key_label.as_deref(), Some("work"));
        assert_eq!(
            (read.state, read.previous, read.reason),
            (
                Some(HealthState::Unhealthy),
                Some(HealthState::Healthy),
                Some(HealthReason::Auth)
            )
        );
    }
}
