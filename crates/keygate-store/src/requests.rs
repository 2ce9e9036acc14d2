use keygate_core::bounds::{MAX_TEXT_BYTES, clip, saturate};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::columns::json_column;
use crate::{HealthUpdate, Store, StoreError};

/// One try of a proxied request against one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttemptLog {
    pub provider: String,
    pub key_id: String,
    pub key_label: String,
    pub status: Option<u16>,
    pub class: String,
    pub latency_ms: u64,
}

/// One proxied request, as the request log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestRow {
    pub id: String,
    pub at: String,
    pub token: Option<String>,
    pub endpoint: String,
    pub model_requested: String,
    pub model_served: Option<String>,
    pub provider: Option<String>,
    pub key_id: Option<String>,
    pub status: u16,
    pub error_class: Option<String>,
    pub attempts: Vec<AttemptLog>,
    pub latency_ms: u64,
    pub ttfb_ms: Option<u64>,
    pub stream: bool,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
    /// Micro-dollars, from the usage and the model's price (None when either is unknown).
    pub cost_micros: Option<u64>,
}

impl RequestRow {
    /// Whether the caller did not get a complete answer: an error status, or a 200 whose
    /// stream broke mid-way (`error_class` set).
    pub fn failed(&self) -> bool {
        !(200..300).contains(&self.status) || self.error_class.is_some()
    }
}

impl Store {
    /// Saves request rows and health updates together, in one transaction (the batch writer).
    pub fn write_batch(
        &mut self,
        requests: &[RequestRow],
        health: &[HealthUpdate],
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO requests (id, at, token, endpoint, model_requested, model_served, provider, key_id, \
                 status, error_class, attempts, latency_ms, ttfb_ms, stream, prompt_tokens, completion_tokens, cached_tokens, cost_micros) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            )?;
            let mut rollup = crate::rollups::RollupBatch::default();
            for r in requests {
                let attempts = serde_json::to_string(&r.attempts)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                // The last line of defence against what the proxy let through: texts are
                // clipped and numbers saturated, so no row can grow the log without bound or
                // fail the whole batch (`u64` over `i64::MAX` is an error in SQLite).
                fn text(t: &Option<String>) -> Option<&str> {
                    t.as_deref().map(clip)
                }
                let number = |n: Option<u64>| n.map(saturate);
                let inserted = stmt.execute(params![
                    clip(&r.id),
                    clip(&r.at),
                    text(&r.token),
                    clip(&r.endpoint),
                    clip(&r.model_requested),
                    text(&r.model_served),
                    text(&r.provider),
                    text(&r.key_id),
                    r.status,
                    text(&r.error_class),
                    attempts,
                    saturate(r.latency_ms),
                    number(r.ttfb_ms),
                    r.stream,
                    number(r.prompt_tokens),
                    number(r.completion_tokens),
                    number(r.cached_tokens),
                    number(r.cost_micros)
                ])?;
                // A row already saved (same id) must not count twice in the rollups.
                if inserted == 1 {
                    rollup.add(r);
                }
            }
            rollup.write(&tx)?;
            // Each token's newest use in this batch.
            let mut last_used: std::collections::BTreeMap<&str, &str> = Default::default();
            for r in requests {
                if let Some(token) = r.token.as_deref() {
                    let at = last_used.entry(token).or_insert(r.at.as_str());
                    if r.at.as_str() > *at {
                        *at = r.at.as_str();
                    }
                }
            }
            let mut used = tx.prepare_cached(
                "UPDATE access_tokens SET last_used_at = ?2 \
                 WHERE name = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
            )?;
            for (token, at) in last_used {
                used.execute(params![token, at])?;
            }
        }
        crate::health::apply_health_tx(&tx, health)?;
        tx.commit()?;
        Ok(())
    }

    /// The newest requests first. Texts come back clipped (rows saved before the store
    /// clipped them may hold megabytes), so a page of rows stays small.
    pub fn recent_requests(&self, limit: u32) -> Result<Vec<RequestRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT id, at, substr(token, 1, {n}), substr(endpoint, 1, {n}), substr(model_requested, 1, {n}), \
             substr(model_served, 1, {n}), provider, key_id, status, substr(error_class, 1, {n}), \
             attempts, latency_ms, ttfb_ms, stream, prompt_tokens, completion_tokens, cached_tokens, cost_micros \
             FROM requests ORDER BY at DESC, rowid DESC LIMIT ?1",
            n = MAX_TEXT_BYTES
        ))?;
        let rows = stmt.query_map([limit], |r| {
            Ok(RequestRow {
                id: r.get(0)?,
                at: r.get(1)?,
                token: r.get(2)?,
                endpoint: r.get(3)?,
                model_requested: r.get(4)?,
                model_served: r.get(5)?,
                provider: r.get(6)?,
                key_id: r.get(7)?,
                status: r.get(8)?,
                error_class: r.get(9)?,
                attempts: json_column(r, 10)?,
                latency_ms: r.get(11)?,
                ttfb_ms: r.get(12)?,
                stream: r.get(13)?,
                prompt_tokens: r.get(14)?,
                completion_tokens: r.get(15)?,
                cached_tokens: r.get(16)?,
                cost_micros: r.get(17)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, model: String) -> RequestRow {
        RequestRow {
            id: id.into(),
            at: "2026-11-01T10:00:00.000Z".into(),
            token: Some("cli".into()),
            endpoint: "/chat/completions".into(),
            model_requested: model.clone(),
            model_served: Some(model),
            provider: Some("openai".into()),
            key_id: None,
            status: 200,
            error_class: None,
            attempts: Vec::new(),
            latency_ms: 10,
            ttfb_ms: None,
            stream: false,
            prompt_tokens: Some(u64::MAX),
            completion_tokens: Some(10),
            cached_tokens: None,
            cost_micros: Some(u64::MAX),
        }
    }

    #[test]
    fn a_megabyte_model_name_and_huge_counts_are_clipped_not_a_failed_batch() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = Store::open_in(dir.path()).expect("store");
        let long = "é".repeat(512 * 1024);
        store
            .write_batch(&[row("a", long), row("b", "gpt-4o".into())], &[])
            .expect("one odd row must not fail the batch");
        let rows = store.recent_requests(10).expect("rows");
        assert_eq!(rows.len(), 2);
        let odd = rows.iter().find(|r| r.id == "a").expect("a");
        assert!(odd.model_requested.len() <= MAX_TEXT_BYTES);
        assert_eq!(odd.prompt_tokens, Some(i64::MAX as u64));
        let stored: i64 = store
            .conn
            .query_row(
                "SELECT max(length(CAST(model_requested AS BLOB))) FROM requests",
                [],
                |r| r.get(0),
            )
            .expect("length");
        assert!(stored <= MAX_TEXT_BYTES as i64, "{stored} bytes stored");
    }

    #[test]
    fn a_batch_meets_a_busy_error_while_another_connection_holds_the_write_lock() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = Store::open_in(dir.path()).expect("store");
        let other = Store::open_in(dir.path()).expect("other");
        other.conn.execute_batch("BEGIN IMMEDIATE").expect("lock");
        store
            .set_busy_timeout(std::time::Duration::from_millis(20))
            .expect("timeout");
        let err = store
            .write_batch(&[row("a", "m".into())], &[])
            .expect_err("locked");
        assert!(err.is_busy(), "{err}");
        other.conn.execute_batch("ROLLBACK").expect("unlock");
        store
            .write_batch(&[row("a", "m".into())], &[])
            .expect("the same batch later");
    }
}
