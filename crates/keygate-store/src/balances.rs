//! Provider balances per key, as last fetched, and each key's low-balance threshold.

use crate::sql::params;
use serde::Serialize;

use crate::{Store, StoreError};

/// A key's balance as its provider last told it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Balance))]
pub struct BalanceRow {
    #[serde(skip)]
    pub key_id: String,
    /// False for a provider without a balance endpoint (`note` says so).
    pub available: bool,
    pub amount: Option<f64>,
    pub currency: Option<String>,
    /// RFC 3339.
    pub checked_at: String,
    pub note: String,
    /// Whether it is under the key's low-balance threshold or at zero (a crossing is told
    /// once).
    pub low: bool,
}

impl Store {
    /// The balance saved for a key, if any.
    pub fn key_balance(&self, key_id: &str) -> Result<Option<BalanceRow>, StoreError> {
        Ok(self.conn.query_opt(
            "SELECT available, amount, currency, checked_at, note, low FROM key_balances \
             WHERE key_id = ?1",
            [key_id],
            |r| {
                Ok(BalanceRow {
                    key_id: key_id.to_string(),
                    available: r.get(0)?,
                    amount: r.get(1)?,
                    currency: r.get(2)?,
                    checked_at: r.get(3)?,
                    note: r.get(4)?,
                    low: r.get(5)?,
                })
            },
        )?)
    }

    /// Saves a key's balance. A key removed meanwhile is not an error: there is nothing to
    /// save it for.
    pub fn save_balance(&self, balance: &BalanceRow) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO key_balances (key_id, available, amount, currency, checked_at, note, low) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM keys WHERE id = ?1) \
             ON CONFLICT(key_id) DO UPDATE SET available = excluded.available, \
             amount = excluded.amount, currency = excluded.currency, \
             checked_at = excluded.checked_at, note = excluded.note, low = excluded.low",
            params![
                balance.key_id,
                balance.available,
                balance.amount,
                balance.currency,
                balance.checked_at,
                balance.note,
                balance.low
            ],
        )?;
        Ok(())
    }

    /// Sets (or with `None` removes) when a key's balance counts as low.
    pub fn set_low_balance(&self, key_id: &str, threshold: Option<&str>) -> Result<(), StoreError> {
        let changed = self.conn.execute(
            "UPDATE keys SET low_balance = ?2 WHERE id = ?1",
            params![key_id, threshold],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!(
                "no key with id {key_id:?} (see `keygate key list`)"
            )));
        }
        Ok(())
    }
}
