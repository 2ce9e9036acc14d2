//! Prices the user set (`keygate model price`), each in effect from its date on, so usage keeps
//! the price it was made at.

use rusqlite::params;
use serde::Serialize;

use crate::{Store, StoreError};

/// A user-set price in micro-dollars per million tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriceRow {
    /// A provider name, or `*` for every provider.
    pub provider: String,
    /// A model name or prefix.
    pub model: String,
    /// From when (RFC 3339 UTC with milliseconds).
    pub effective_from: String,
    pub input_micros: u64,
    pub output_micros: u64,
    pub cached_micros: u64,
}

impl Store {
    /// Sets a price from `effective_from` on (replacing one set for the same moment).
    pub fn set_price(&self, price: &PriceRow) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO prices (provider, model, effective_from, input_micros, output_micros, cached_micros) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (provider, model, effective_from) DO UPDATE SET \
             input_micros = excluded.input_micros, output_micros = excluded.output_micros, \
             cached_micros = excluded.cached_micros",
            params![
                price.provider,
                price.model,
                price.effective_from,
                price.input_micros,
                price.output_micros,
                price.cached_micros
            ],
        )?;
        Ok(())
    }

    /// Every user-set price, oldest first.
    pub fn list_prices(&self) -> Result<Vec<PriceRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT provider, model, effective_from, input_micros, output_micros, cached_micros \
             FROM prices ORDER BY provider, model, effective_from",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(PriceRow {
                provider: r.get(0)?,
                model: r.get(1)?,
                effective_from: r.get(2)?,
                input_micros: r.get(3)?,
                output_micros: r.get(4)?,
                cached_micros: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// A model a provider listed at its last sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncedModel {
    pub provider: String,
    pub model: String,
    pub synced_at: String,
}

impl Store {
    /// Replaces what `provider` is known to list with `models` (one transaction).
    pub fn replace_provider_models(
        &mut self,
        provider: &str,
        models: &[String],
        at: &str,
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM provider_models WHERE provider = ?1",
            [provider],
        )?;
        {
            let mut stmt = tx.prepare(
                "INSERT OR IGNORE INTO provider_models (provider, model, synced_at) VALUES (?1, ?2, ?3)",
            )?;
            for model in models {
                stmt.execute(params![provider, model, at])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every synced model, by provider and name.
    pub fn list_provider_models(&self) -> Result<Vec<SyncedModel>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT provider, model, synced_at FROM provider_models ORDER BY provider, model",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(SyncedModel {
                provider: r.get(0)?,
                model: r.get(1)?,
                synced_at: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
