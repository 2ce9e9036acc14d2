use crate::sql::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::columns::json_column;
use crate::{Store, StoreError};

/// One step of a route: a provider and the model name to ask it for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RouteTier {
    pub provider: String,
    pub model: String,
}

/// A model alias and the tiers it is served by, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RouteRow {
    pub alias: String,
    pub tiers: Vec<RouteTier>,
    pub strategy: String,
    pub created_at: String,
}

impl Store {
    /// Creates or replaces a route. Every tier's provider must exist.
    pub fn upsert_route(
        &mut self,
        alias: &str,
        tiers: &[RouteTier],
        strategy: &str,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let tx = self.conn.transaction()?;
        for tier in tiers {
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM providers WHERE name = ?1",
                    [&tier.provider],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!(
                    "no provider named {:?} (see `keygate provider list`)",
                    tier.provider
                )));
            }
        }
        let tiers = serde_json::to_string(tiers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.execute(
            "INSERT INTO routes (alias, tiers, strategy, created_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(alias) DO UPDATE SET tiers = excluded.tiers, strategy = excluded.strategy",
            params![alias, tiers, strategy, now],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn list_routes(&self) -> Result<Vec<RouteRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT alias, tiers, strategy, created_at FROM routes ORDER BY alias")?;
        let rows = stmt.query_map(params![], |r| {
            Ok(RouteRow {
                alias: r.get(0)?,
                tiers: json_column(r, 1)?,
                strategy: r.get(2)?,
                created_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn delete_route(&self, alias: &str) -> Result<(), StoreError> {
        if self
            .conn
            .execute("DELETE FROM routes WHERE alias = ?1", [alias])?
            == 0
        {
            return Err(StoreError::NotFound(format!(
                "no route named {alias:?} (see `keygate route list`)"
            )));
        }
        Ok(())
    }
}
