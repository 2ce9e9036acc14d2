use std::collections::BTreeMap;

use crate::sql::{Conn, OptionalExtension, Row, params};
use keygate_core::provider::ProviderKind;
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

/// What `Store::edit_provider` changes: `None` keeps the provider's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderEdit {
    pub kind: Option<ProviderKind>,
    pub base_url: Option<String>,
    /// Headers to set (`Some`) or remove (`None`); the others are kept.
    pub headers: BTreeMap<String, Option<String>>,
    pub priority: Option<i64>,
    pub enabled: Option<bool>,
}

/// What deleting a provider took with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProviderRemoval {
    /// Its keys (their keyring entries are the caller's to remove).
    pub keys: Vec<crate::KeyRow>,
    /// Routes that lost the provider's tiers but kept others.
    pub routes_changed: Vec<String>,
    /// Routes that served only from this provider, deleted with it.
    pub routes_removed: Vec<String>,
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
        let tx = self.conn.transaction()?;
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
            .query_map(params![], read_row)?
            .collect::<Result<Vec<_>, _>>()?)
    }

    pub fn get_provider(&self, name: &str) -> Result<Option<ProviderRow>, StoreError> {
        self.conn
            .query_row(&format!("{SELECT} WHERE p.name = ?1"), [name], read_row)
            .optional()
            .map_err(StoreError::from)
    }

    /// Changes a provider in place; its keys, routes and usage stay with it.
    pub fn edit_provider(
        &mut self,
        name: &str,
        edit: &ProviderEdit,
    ) -> Result<ProviderRow, StoreError> {
        let tx = self.conn.transaction()?;
        let Some(id) = provider_id(&tx, name)? else {
            return Err(not_found(name));
        };
        if !edit.headers.is_empty() {
            let raw: String =
                tx.query_row("SELECT headers FROM providers WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
            let mut headers: BTreeMap<String, String> =
                serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            for (header, value) in &edit.headers {
                match value {
                    Some(value) => headers.insert(header.clone(), value.clone()),
                    None => headers.remove(header),
                };
            }
            let headers =
                serde_json::to_string(&headers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            tx.execute(
                "UPDATE providers SET headers = ?1 WHERE id = ?2",
                params![headers, id],
            )?;
        }
        if let Some(kind) = edit.kind {
            tx.execute(
                "UPDATE providers SET kind = ?1 WHERE id = ?2",
                params![kind.as_str(), id],
            )?;
        }
        if let Some(url) = &edit.base_url {
            tx.execute(
                "UPDATE providers SET base_url = ?1 WHERE id = ?2",
                params![url, id],
            )?;
        }
        if let Some(priority) = edit.priority {
            tx.execute(
                "UPDATE providers SET priority = ?1 WHERE id = ?2",
                params![priority, id],
            )?;
        }
        if let Some(enabled) = edit.enabled {
            tx.execute(
                "UPDATE providers SET enabled = ?1 WHERE id = ?2",
                params![enabled, id],
            )?;
        }
        tx.commit()?;
        self.get_provider(name)?.ok_or_else(|| not_found(name))
    }

    /// Removes a provider that has no keys left.
    pub fn delete_provider(&mut self, name: &str) -> Result<ProviderRemoval, StoreError> {
        self.remove_provider(name, false)
    }

    /// Removes a provider with everything that names it: its keys when `with_keys` (else a
    /// provider that still has keys is refused), its synced models, and its tiers in routes
    /// (a route left with no tier goes too). Prices the user set stay, for a provider of that
    /// name added later.
    pub fn remove_provider(
        &mut self,
        name: &str,
        with_keys: bool,
    ) -> Result<ProviderRemoval, StoreError> {
        let keys: Vec<crate::KeyRow> = self
            .list_keys()?
            .into_iter()
            .filter(|k| k.provider == name)
            .collect();
        let tx = self.conn.transaction()?;
        let Some(id) = provider_id(&tx, name)? else {
            return Err(not_found(name));
        };
        let count: i64 = tx.query_row(
            "SELECT count(*) FROM keys WHERE provider_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        if count > 0 && !with_keys {
            return Err(StoreError::Conflict(format!(
                "provider {name:?} still has {count} key(s); remove them first with `keygate key rm`, or delete the provider with its keys"
            )));
        }
        tx.execute("DELETE FROM keys WHERE provider_id = ?1", [id])?;
        let mut removal = ProviderRemoval {
            keys,
            ..ProviderRemoval::default()
        };
        let routes: Vec<(String, String)> = {
            let mut stmt = tx.prepare("SELECT alias, tiers FROM routes ORDER BY alias")?;
            stmt.query_map(params![], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        for (alias, raw) in routes {
            let tiers: Vec<crate::RouteTier> =
                serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let kept: Vec<_> = tiers
                .iter()
                .filter(|t| t.provider != name)
                .cloned()
                .collect();
            if kept.len() == tiers.len() {
                continue;
            }
            if kept.is_empty() {
                tx.execute("DELETE FROM routes WHERE alias = ?1", [&alias])?;
                removal.routes_removed.push(alias);
            } else {
                let kept =
                    serde_json::to_string(&kept).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                tx.execute(
                    "UPDATE routes SET tiers = ?1 WHERE alias = ?2",
                    params![kept, alias],
                )?;
                removal.routes_changed.push(alias);
            }
        }
        tx.execute("DELETE FROM provider_models WHERE provider = ?1", [name])?;
        tx.execute("DELETE FROM providers WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(removal)
    }
}

fn not_found(name: &str) -> StoreError {
    StoreError::NotFound(format!(
        "no provider named {name:?} (see `keygate provider list`)"
    ))
}

pub(crate) fn provider_id(tx: &Conn, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .query_row("SELECT id FROM providers WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?)
}

pub(crate) fn insert_provider_tx(
    tx: &Conn,
    provider: &NewProvider,
    now: &str,
) -> Result<i64, StoreError> {
    let headers =
        serde_json::to_string(&provider.headers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(tx.query_row(
        "INSERT INTO providers (name, kind, base_url, headers, priority, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         RETURNING id",
        params![provider.name, provider.kind.as_str(), provider.base_url, headers, provider.priority, now],
        |r| r.get(0),
    )?)
}

fn read_row(row: &Row<'_>) -> Result<ProviderRow, crate::sql::DbError> {
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
