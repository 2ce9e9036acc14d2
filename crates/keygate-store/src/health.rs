//! Health changes observed by the proxy, applied in batches by a background writer.

use crate::sql::params;

use crate::{Store, StoreError};

/// One key's health after an attempt, as the proxy's in-memory state sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthUpdate {
    pub key_id: String,
    pub state: String,
    pub reason: Option<String>,
    pub consecutive_errors: i64,
    pub consecutive_successes: i64,
    pub last_status: Option<i64>,
    /// Already scrubbed of anything that looks like a secret.
    pub last_error: Option<String>,
    pub at: String,
    pub success: bool,
    pub cooldown_until: Option<String>,
    pub next_retry_at: Option<String>,
}

pub(crate) fn apply_health_tx(
    tx: &crate::sql::Conn,
    updates: &[HealthUpdate],
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare(
        "UPDATE key_health SET state = ?2, reason = ?3, consecutive_errors = ?4, consecutive_successes = ?5, \
         last_status = COALESCE(?6, last_status), last_error = COALESCE(?7, last_error), last_checked_at = ?8, \
         last_success_at = CASE WHEN ?9 THEN ?8 ELSE last_success_at END, cooldown_until = ?10, next_retry_at = ?11 \
         WHERE key_id = ?1",
    )?;
    for u in updates {
        stmt.execute(params![
            u.key_id,
            u.state,
            u.reason,
            u.consecutive_errors,
            u.consecutive_successes,
            u.last_status,
            u.last_error,
            u.at,
            u.success,
            u.cooldown_until,
            u.next_retry_at
        ])?;
    }
    Ok(())
}

impl Store {
    /// Changes whenever another connection commits (SQLite), or whenever what the proxy's
    /// catalog is built from changes (PostgreSQL: the counter its triggers bump, in
    /// `pg_migrations`): a cheap "did anything change?" check.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        let sql = if self.conn.is_postgres() {
            "SELECT version FROM keygate_catalog"
        } else {
            "PRAGMA data_version"
        };
        Ok(self.conn.query_row(sql, params![], |r| r.get(0))?)
    }
}
