//! Prices the user set (`keygate model price`), each in effect from its date on, so usage keeps
//! the price it was made at.

use crate::sql::params;
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
        let rows = stmt.query_map(params![], price_of)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// A price from the first six columns: provider, model, effective_from and the three prices.
fn price_of(r: &crate::sql::Row<'_>) -> Result<PriceRow, crate::sql::DbError> {
    Ok(PriceRow {
        provider: r.get(0)?,
        model: r.get(1)?,
        effective_from: r.get(2)?,
        input_micros: r.get(3)?,
        output_micros: r.get(4)?,
        cached_micros: r.get(5)?,
    })
}

/// A price from an imported catalog or a provider's model list: a newer built-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogPrice {
    #[serde(flatten)]
    pub price: PriceRow,
    /// Where it came from: `models.dev api.json`, `openrouter model list`, a file name…
    pub source: String,
}

/// One import of catalog prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriceImport {
    pub source: String,
    /// RFC 3339.
    pub imported_at: String,
    /// From when its prices apply.
    pub effective_from: String,
    /// How many model prices it held.
    pub models: i64,
}

impl Store {
    /// Saves imported prices (one transaction): a price for the same provider, model and
    /// effective time is replaced. Records the import; answers how many prices it held.
    pub fn import_catalog_prices(
        &mut self,
        prices: &[PriceRow],
        source: &str,
        imported_at: &str,
    ) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO catalog_prices (provider, model, effective_from, input_micros, \
                 output_micros, cached_micros, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (provider, model, effective_from) DO UPDATE SET \
                 input_micros = excluded.input_micros, output_micros = excluded.output_micros, \
                 cached_micros = excluded.cached_micros, source = excluded.source",
            )?;
            for p in prices {
                stmt.execute(params![
                    p.provider,
                    p.model,
                    p.effective_from,
                    p.input_micros,
                    p.output_micros,
                    p.cached_micros,
                    source
                ])?;
            }
        }
        let effective = prices
            .iter()
            .map(|p| p.effective_from.as_str())
            .min()
            .unwrap_or(imported_at);
        tx.execute(
            "INSERT INTO price_imports (source, imported_at, effective_from, models) VALUES (?1, ?2, ?3, ?4)",
            params![source, imported_at, effective, i64::try_from(prices.len()).unwrap_or(i64::MAX)],
        )?;
        tx.commit()?;
        Ok(prices.len())
    }

    /// Every imported price, by provider, model and date.
    pub fn list_catalog_prices(&self) -> Result<Vec<CatalogPrice>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT provider, model, effective_from, input_micros, output_micros, cached_micros, \
             source FROM catalog_prices ORDER BY provider, model, effective_from",
        )?;
        let rows = stmt.query_map(params![], |r| {
            Ok(CatalogPrice {
                price: price_of(r)?,
                source: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The latest import of catalog prices, if any.
    pub fn last_price_import(&self) -> Result<Option<PriceImport>, StoreError> {
        Ok(self.conn.query_opt(
            "SELECT source, imported_at, effective_from, models FROM price_imports ORDER BY id DESC LIMIT 1",
            params![],
            |r| {
                Ok(PriceImport {
                    source: r.get(0)?,
                    imported_at: r.get(1)?,
                    effective_from: r.get(2)?,
                    models: r.get(3)?,
                })
            },
        )?)
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
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM provider_models WHERE provider = ?1",
            [provider],
        )?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO provider_models (provider, model, synced_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT DO NOTHING",
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
        let rows = stmt.query_map(params![], |r| {
            Ok(SyncedModel {
                provider: r.get(0)?,
                model: r.get(1)?,
                synced_at: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
