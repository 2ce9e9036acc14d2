use rusqlite::params;
use serde::Serialize;

use crate::{Store, StoreError};

/// Something that happened to a key or provider, for the UI's activity feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub id: i64,
    pub at: String,
    pub kind: String,
    pub key_id: Option<String>,
    pub provider: Option<String>,
    pub message: String,
}

impl Store {
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
            "SELECT id, at, kind, key_id, provider, message FROM events ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(Event {
                id: r.get(0)?,
                at: r.get(1)?,
                kind: r.get(2)?,
                key_id: r.get(3)?,
                provider: r.get(4)?,
                message: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
