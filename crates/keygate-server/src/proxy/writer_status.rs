//! What the batch writer tells `/api/health` and `/api/logs`: request rows handed to it and
//! not saved yet, rows it had to drop, and its last write error. The log hears about a
//! stalled database once when the stall begins, once if rows are dropped, and once when the
//! writer has caught up, not once per retry.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

/// Rows held in memory while the database cannot be written; past this, new rows are dropped
/// (and counted). About 1 KB each (texts are at most 256 bytes): tens of MB at worst.
pub const MAX_PENDING_ROWS: usize = 50_000;

/// The writer's state as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WriterHealth {
    /// Request rows answered but not in the database yet (normally a handful, for under
    /// 50 ms; many while another process holds the database).
    pub pending_rows: u64,
    /// Request rows lost since the engine started: only when the database could not be
    /// written for long enough that the rows held in memory reached their bound.
    pub dropped_rows: u64,
    /// True while the writer waits for the database and retries.
    pub retrying: bool,
    /// The last write error since the engine started, with its time (RFC 3339).
    pub last_error: Option<String>,
}

/// Shared by the writer (which updates it) and the API (which reads it); atomics only on the
/// request path (`queued`).
#[derive(Debug, Default)]
pub struct WriterStatus {
    pending: AtomicU64,
    dropped: AtomicU64,
    retrying: AtomicBool,
    last_error: Mutex<Option<String>>,
    /// Since when writes fail, and whether this incident dropped rows (writer thread only).
    incident: Mutex<Option<(Instant, bool)>>,
}

impl WriterStatus {
    /// A request row is on its way to the writer.
    pub fn queued(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` rows reached the database.
    pub fn saved(&self, n: usize) {
        self.forget(n);
    }

    /// `n` rows are lost: counted, and said in the log once per incident.
    pub fn dropped(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.forget(n);
        self.dropped.fetch_add(n as u64, Ordering::Relaxed);
        let mut incident = lock(&self.incident);
        let first = match incident.as_mut() {
            Some((_, dropped)) => !std::mem::replace(dropped, true),
            None => {
                *incident = Some((Instant::now(), true));
                true
            }
        };
        if first {
            tracing::error!(
                "the request log is dropping rows: the database could not be written and {} rows \
                 are held in memory already (`dropped_rows` in /api/health counts them)",
                MAX_PENDING_ROWS
            );
        }
    }

    /// A write failed; `held` rows wait in memory for the retry.
    pub fn failed(&self, err: &keygate_store::StoreError, held: usize) {
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        *lock(&self.last_error) = Some(format!("{at}: {err}"));
        self.retrying.store(true, Ordering::Relaxed);
        let mut incident = lock(&self.incident);
        if incident.is_none() {
            *incident = Some((Instant::now(), false));
            tracing::warn!(
                "could not save {held} request rows ({err}); they stay in memory and the writer \
                 retries until the database can be written"
            );
        }
    }

    /// Everything held was written (or given up): the incident, if any, is over.
    pub fn recovered(&self) {
        self.retrying.store(false, Ordering::Relaxed);
        if let Some((since, dropped)) = lock(&self.incident).take() {
            let lost = if dropped {
                "some rows were dropped (see dropped_rows in /api/health)"
            } else {
                "no row was lost"
            };
            tracing::warn!(
                "the request log caught up after {:.1} s of failed writes; {lost}",
                since.elapsed().as_secs_f64()
            );
        }
    }

    pub fn health(&self) -> WriterHealth {
        WriterHealth {
            pending_rows: self.pending.load(Ordering::Relaxed),
            dropped_rows: self.dropped.load(Ordering::Relaxed),
            retrying: self.retrying.load(Ordering::Relaxed),
            last_error: lock(&self.last_error).clone(),
        }
    }

    fn forget(&self, n: usize) {
        let _ = self
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                Some(p.saturating_sub(n as u64))
            });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_rows_count_down_as_they_are_saved_or_dropped() {
        let status = WriterStatus::default();
        for _ in 0..5 {
            status.queued();
        }
        let busy = keygate_store::StoreError::Corrupt("database is locked".into());
        status.failed(&busy, 5);
        assert!(status.health().retrying);
        status.saved(3);
        status.dropped(1);
        status.recovered();
        let health = status.health();
        assert_eq!((health.pending_rows, health.dropped_rows), (1, 1));
        assert!(!health.retrying);
        assert!(
            health.last_error.is_some_and(|e| e.contains("locked")),
            "the last error stays for the record"
        );
    }
}
