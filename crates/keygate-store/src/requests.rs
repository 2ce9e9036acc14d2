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
                let inserted = stmt.execute(params![
                    r.id,
                    r.at,
                    r.token,
                    r.endpoint,
                    r.model_requested,
                    r.model_served,
                    r.provider,
                    r.key_id,
                    r.status,
                    r.error_class,
                    attempts,
                    r.latency_ms,
                    r.ttfb_ms,
                    r.stream,
                    r.prompt_tokens,
                    r.completion_tokens,
                    r.cached_tokens,
                    r.cost_micros
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

    /// The newest requests first.
    pub fn recent_requests(&self, limit: u32) -> Result<Vec<RequestRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, at, token, endpoint, model_requested, model_served, provider, key_id, status, error_class, \
             attempts, latency_ms, ttfb_ms, stream, prompt_tokens, completion_tokens, cached_tokens, cost_micros \
             FROM requests ORDER BY at DESC, rowid DESC LIMIT ?1",
        )?;
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
