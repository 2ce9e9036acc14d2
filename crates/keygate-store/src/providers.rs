use std::collections::BTreeMap;

use keygate_core::provider::ProviderKind;
use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde::Serialize;

use crate::columns::{json_column, parse_column};
use crate::{Store, StoreError};

/// A provider to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProvider {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    /// Extra headers sent upstream (e.g. OpenRouter's `HTTP-Referer`). Never a secret.
    pub headers: BTreeMap<String, String>,
    pub priority: i64,
}

/// A stored provider with the number of keys it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderRow {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub headers: BTreeMap<String, String>,
    pub priority: i64,
    pub enabled: bool,
    pub is_default: bool,
    pub key_count: i64,
    pub created_at: String,
}

const SELECT: &str = "SELECT p.name, p.kind, p.base_url, p.headers, p.priority, p.enabled, p.is_default, \
     (SELECT count(*) FROM keys k WHERE k.provider_id = p.id), p.created_at FROM providers p";

impl Store {
    pub fn insert_provider(&mut self, provider: &NewProvider) -> Result<(), StoreError> {
        let now = self.now();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if provider_id(&tx, &provider.name)?.is_some() {
            return Err(StoreError::Conflict(format!(
                "provider {:?} already exists (see `keygate provider list`)",
                provider.name
            )));
        }
        insert_provider_tx(&tx, provider, &now)?;
        tx.commit()?;
        Ok(())
    }

    pub fn list_providers(&self) -> Result<Vec<ProviderRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("{SELECT} ORDER BY p.priority, p.name"))?;
        Ok(stmt
            .query_map([], read_row)?
            .collect::<Result<Vec<_>, _>>()?)
    }

    pub fn get_provider(&self, name: &str) -> Result<Option<ProviderRow>, StoreError> {
        self.conn
            .query_row(&format!("{SELECT} WHERE p.name = ?1"), [name], read_row)
            .optional()
            .map_err(StoreError::from)
    }

    /// Removes a provider that has no keys left.
    pub fn delete_provider(&mut self, name: &str) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let Some(id) = provider_id(&tx, name)? else {
            return Err(StoreError::NotFound(format!(
                "no provider named {name:?} (see `keygate provider list`)"
            )));
        };
        let keys: i64 = tx.query_row(
            "SELECT count(*) FROM keys WHERE provider_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        if keys > 0 {
            return Err(StoreError::Conflict(format!(
                "provider {name:?} still has {keys} key(s); remove them first with `keygate key rm`"
            )));
        }
        tx.execute("DELETE FROM providers WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }
}

pub(crate) fn provider_id(tx: &Transaction<'_>, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .query_row("SELECT id FROM providers WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?)
}

pub(crate) fn insert_provider_tx(
    tx: &Transaction<'_>,
    provider: &NewProvider,
    now: &str,
) -> Result<i64, StoreError> {
    let headers =
        serde_json::to_string(&provider.headers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.execute(
        "INSERT INTO providers (name, kind, base_url, headers, priority, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![provider.name, provider.kind.as_str(), provider.base_url, headers, provider.priority, now],
    )?;
    Ok(tx.last_insert_rowid())
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<ProviderRow> {
    Ok(ProviderRow {
        name: row.get(0)?,
        kind: parse_column(row, 1)?.unwrap_or(ProviderKind::OpenAi),
        base_url: row.get(2)?,
        headers: json_column(row, 3)?,
        priority: row.get(4)?,
        enabled: row.get(5)?,
        is_default: row.get(6)?,
        key_count: row.get(7)?,
        created_at: row.get(8)?,
    })
}
