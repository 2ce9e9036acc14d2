use crate::sql::{Conn, OptionalExtension, Row, params};
use keygate_core::health::{HealthReason, HealthState, effective_state};
use keygate_core::key::KeyLimits;
use keygate_core::provider::ProviderKind;
use serde::Serialize;

use crate::columns::{json_column, parse_column};
use crate::providers::{NewProvider, insert_provider_tx, provider_id};
use crate::{Store, StoreError};

/// A key to store. Holds the secret's fingerprint and where the secret lives, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub id: String,
    pub provider: String,
    pub label: String,
    pub fingerprint: String,
    /// `keyring` or `env:VAR`.
    pub secret_ref: String,
    pub tags: Vec<String>,
    pub priority: i64,
    pub weight: i64,
    pub limits: KeyLimits,
    /// When the key stops working (RFC 3339), if the user knows.
    pub expires_at: Option<String>,
}

/// A stored key with its provider and health.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyRow {
    pub id: String,
    pub provider: String,
    pub provider_kind: ProviderKind,
    pub label: String,
    pub fingerprint: String,
    pub secret_ref: String,
    pub tags: Vec<String>,
    pub priority: i64,
    pub weight: i64,
    pub limits: KeyLimits,
    pub enabled: bool,
    pub created_at: String,
    pub expires_at: Option<String>,
    /// The effective health: `expired` (red) once past `expires_at`, `disabled` when off.
    pub health: KeyHealthRow,
    /// When the key last served a proxied request.
    pub last_used_at: Option<String>,
    /// When its provider balance counts as low (`10`, `3d`), as the user wrote it.
    pub low_balance: Option<String>,
    /// The provider balance last fetched for it; `None` when never fetched.
    pub balance: Option<crate::BalanceRow>,
}

/// What `Store::edit_key` changes: `None` keeps the key's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyEdit {
    pub label: Option<String>,
    pub tags: Option<Vec<String>>,
    pub priority: Option<i64>,
    pub weight: Option<i64>,
    pub enabled: Option<bool>,
}

/// A key's last known health, as the proxy and the checker left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyHealthRow {
    /// The effective state: `disabled` when the user switched the key off.
    pub state: HealthState,
    pub reason: Option<HealthReason>,
    pub consecutive_errors: i64,
    pub consecutive_successes: i64,
    pub last_error: Option<String>,
    pub last_status: Option<i64>,
    pub last_checked_at: Option<String>,
    pub last_success_at: Option<String>,
    pub next_retry_at: Option<String>,
    pub cooldown_until: Option<String>,
}

const SELECT: &str = "SELECT k.id, p.name, p.kind, k.label, k.fingerprint, k.secret_ref, k.tags, k.priority, \
     k.weight, k.rpm, k.tpm, k.rpd, k.daily_budget_micros, k.enabled, k.created_at, \
     h.state, h.reason, h.consecutive_errors, h.consecutive_successes, h.last_error, h.last_status, \
     h.last_checked_at, h.last_success_at, h.next_retry_at, h.cooldown_until, k.expires_at, \
     k.monthly_budget_micros, k.daily_token_budget, k.monthly_token_budget, h.last_used_at, \
     k.low_balance, b.available, b.amount, b.currency, b.checked_at, b.note, b.low \
     FROM keys k JOIN providers p ON p.id = k.provider_id LEFT JOIN key_health h ON h.key_id = k.id \
     LEFT JOIN key_balances b ON b.key_id = k.id";

impl Store {
    /// Stores keys, creating the given providers first when they do not exist yet, in one
    /// transaction: either every key is stored or none is.
    pub fn insert_keys(
        &mut self,
        providers: &[NewProvider],
        keys: &[NewKey],
    ) -> Result<(), StoreError> {
        let now = self.now();
        let tx = self.conn.transaction()?;
        for provider in providers {
            if provider_id(&tx, &provider.name)?.is_none() {
                insert_provider_tx(&tx, provider, &now)?;
            }
        }
        for key in keys {
            insert_key_tx(&tx, key, &now)?;
            // The key's secret now belongs to a committed row: no longer pending.
            tx.execute("DELETE FROM pending_secrets WHERE key_id = ?1", [&key.id])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Notes (committed) that keyring entries are about to be written for `ids`, before any is
    /// written: if the process dies before the rows commit, reconcile finds and removes them.
    pub fn begin_pending_secrets(&mut self, ids: &[&str]) -> Result<(), StoreError> {
        let now = self.now();
        let tx = self.conn.transaction()?;
        for id in ids {
            tx.execute(
                "INSERT INTO pending_secrets (key_id, at) VALUES (?1, ?2) \
                 ON CONFLICT (key_id) DO UPDATE SET at = excluded.at",
                params![id, now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Key ids whose keyring entries were being written when a process stopped, and that
    /// never got a key row.
    pub fn orphaned_pending_secrets(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT p.key_id FROM pending_secrets p LEFT JOIN keys k ON k.id = p.key_id \
             WHERE k.id IS NULL ORDER BY p.key_id",
        )?;
        let rows = stmt.query_map(params![], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Forgets pending entries (their keyring entries are gone, or their rows exist).
    pub fn clear_pending_secrets(&mut self, ids: &[String]) -> Result<(), StoreError> {
        for id in ids {
            self.conn
                .execute("DELETE FROM pending_secrets WHERE key_id = ?1", [id])?;
        }
        Ok(())
    }

    pub fn list_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "{SELECT} ORDER BY p.priority, p.name, k.priority, k.created_at, k.id"
        ))?;
        Ok(stmt
            .query_map(params![], read_row)?
            .collect::<Result<Vec<_>, _>>()?)
    }

    pub fn get_key(&self, id: &str) -> Result<Option<KeyRow>, StoreError> {
        self.conn
            .query_row(&format!("{SELECT} WHERE k.id = ?1"), [id], read_row)
            .optional()
            .map_err(StoreError::from)
    }

    /// Enables or disables keys; fails without changing anything if an id is unknown.
    pub fn set_keys_enabled(&mut self, ids: &[String], enabled: bool) -> Result<(), StoreError> {
        let now = self.now();
        let tx = self.conn.transaction()?;
        require_keys(&tx, ids)?;
        for id in ids {
            tx.execute(
                "UPDATE keys SET enabled = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, enabled, now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Changes what `edit` names of a key (label, tags, priority, weight, enabled) and keeps
    /// the rest; fails with `NotFound` for an unknown id. The caller validates the values.
    pub fn edit_key(&mut self, id: &str, edit: &KeyEdit) -> Result<(), StoreError> {
        let now = self.now();
        let tags = edit
            .tags
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let changed = self.conn.execute(
            "UPDATE keys SET label = COALESCE(?2, label), tags = COALESCE(?3, tags), \
             priority = COALESCE(?4, priority), weight = COALESCE(?5, weight), \
             enabled = COALESCE(?6, enabled), updated_at = ?7 WHERE id = ?1",
            params![
                id,
                edit.label,
                tags,
                edit.priority,
                edit.weight,
                edit.enabled,
                now
            ],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("no key with id {id:?}")));
        }
        Ok(())
    }

    /// Replaces a key's local limits and budgets; fails with `NotFound` for an unknown id.
    pub fn set_key_limits(&mut self, id: &str, limits: &KeyLimits) -> Result<(), StoreError> {
        let now = self.now();
        let changed = self.conn.execute(
            "UPDATE keys SET rpm = ?2, tpm = ?3, rpd = ?4, daily_budget_micros = ?5, \
             monthly_budget_micros = ?6, daily_token_budget = ?7, monthly_token_budget = ?8, \
             updated_at = ?9 WHERE id = ?1",
            params![
                id,
                limits.rpm,
                limits.tpm,
                limits.rpd,
                limits.daily_budget_micros,
                limits.monthly_budget_micros,
                limits.daily_token_budget,
                limits.monthly_token_budget,
                now
            ],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("no key with id {id:?}")));
        }
        Ok(())
    }

    /// Deletes keys and returns them (the caller removes their keyring entries afterwards).
    /// Fails without deleting anything if an id is unknown.
    pub fn delete_keys(&mut self, ids: &[String]) -> Result<Vec<KeyRow>, StoreError> {
        let rows = ids
            .iter()
            .map(|id| self.get_key(id))
            .collect::<Result<Vec<_>, _>>()?;
        let tx = self.conn.transaction()?;
        require_keys(&tx, ids)?;
        for id in ids {
            tx.execute("DELETE FROM keys WHERE id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(rows.into_iter().flatten().collect())
    }

    /// Clears health (state unknown, counters zero, cooldowns gone) for the given keys, or for
    /// every unhealthy or degraded key when `ids` is empty and `failed_only` is set.
    /// Returns the ids that were reset.
    pub fn reset_keys(
        &mut self,
        ids: &[String],
        failed_only: bool,
    ) -> Result<Vec<String>, StoreError> {
        let tx = self.conn.transaction()?;
        let targets: Vec<String> = if ids.is_empty() {
            let filter = if failed_only {
                "WHERE h.state IN ('unhealthy', 'degraded')"
            } else {
                ""
            };
            let mut stmt = tx.prepare(&format!("SELECT k.id FROM keys k JOIN key_health h ON h.key_id = k.id {filter} ORDER BY k.id"))?;
            stmt.query_map(params![], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        } else {
            require_keys(&tx, ids)?;
            ids.to_vec()
        };
        for id in &targets {
            tx.execute(
                "INSERT INTO key_health (key_id) VALUES (?1) ON CONFLICT(key_id) DO UPDATE SET \
                 state = 'unknown', reason = NULL, consecutive_errors = 0, consecutive_successes = 0, \
                 last_error = NULL, next_retry_at = NULL, cooldown_until = NULL",
                [id],
            )?;
        }
        tx.commit()?;
        Ok(targets)
    }

    /// Marks a key red because its secret is not in the keyring or environment (start-up
    /// reconcile). The row is kept: the user may restore the secret.
    pub fn mark_secret_missing(&self, id: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE key_health SET state = 'unhealthy', reason = 'secret_missing', last_checked_at = ?2 WHERE key_id = ?1",
            params![id, self.now()],
        )?;
        Ok(())
    }

    /// Undoes [`Store::mark_secret_missing`] once the secret is back.
    pub fn clear_secret_missing(&self, id: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE key_health SET state = 'unknown', reason = NULL WHERE key_id = ?1 AND reason = 'secret_missing'",
            [id],
        )?;
        Ok(())
    }

    /// Marks a key red because the keyring is locked or unreachable; `cause` is the keyring's
    /// own reason (it never carries a secret) and shows as the key's last error.
    pub fn mark_secret_unavailable(&self, id: &str, cause: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE key_health SET state = 'unhealthy', reason = 'secret_unavailable', last_error = ?2, \
             last_checked_at = ?3 WHERE key_id = ?1",
            params![id, cause, self.now()],
        )?;
        Ok(())
    }

    /// Undoes [`Store::mark_secret_unavailable`] once the keyring answers again.
    pub fn clear_secret_unavailable(&self, id: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE key_health SET state = 'unknown', reason = NULL, last_error = NULL \
             WHERE key_id = ?1 AND reason = 'secret_unavailable'",
            [id],
        )?;
        Ok(())
    }
}

fn insert_key_tx(tx: &Conn, key: &NewKey, now: &str) -> Result<(), StoreError> {
    let provider = provider_id(tx, &key.provider)?.ok_or_else(|| {
        StoreError::NotFound(format!(
            "no provider named {:?}; add it with `keygate provider add` or use a preset name",
            key.provider
        ))
    })?;
    let duplicate: Option<String> = tx
        .query_row(
            "SELECT id FROM keys WHERE provider_id = ?1 AND fingerprint = ?2",
            params![provider, key.fingerprint],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(existing) = duplicate {
        return Err(StoreError::Conflict(format!(
            "this secret is already stored for provider {:?} as key {existing}",
            key.provider
        )));
    }
    let tags = serde_json::to_string(&key.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.execute(
        "INSERT INTO keys (id, provider_id, label, fingerprint, secret_ref, tags, priority, weight, rpm, tpm, rpd, \
         daily_budget_micros, created_at, updated_at, expires_at, monthly_budget_micros, daily_token_budget, \
         monthly_token_budget) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14, ?15, ?16, ?17)",
        params![
            key.id,
            provider,
            key.label,
            key.fingerprint,
            key.secret_ref,
            tags,
            key.priority,
            key.weight,
            key.limits.rpm,
            key.limits.tpm,
            key.limits.rpd,
            key.limits.daily_budget_micros,
            now,
            key.expires_at,
            key.limits.monthly_budget_micros,
            key.limits.daily_token_budget,
            key.limits.monthly_token_budget
        ],
    )?;
    tx.execute("INSERT INTO key_health (key_id) VALUES (?1)", [&key.id])?;
    Ok(())
}

fn require_keys(tx: &Conn, ids: &[String]) -> Result<(), StoreError> {
    let mut missing = Vec::new();
    for id in ids {
        let found: Option<i64> = tx
            .query_row("SELECT 1 FROM keys WHERE id = ?1", [id], |r| r.get(0))
            .optional()?;
        if found.is_none() {
            missing.push(id.as_str());
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!(
            "no key with id {}; nothing was changed (see `keygate key list`)",
            missing.join(", ")
        )))
    }
}

fn read_row(row: &Row<'_>) -> Result<KeyRow, crate::sql::DbError> {
    let enabled: bool = row.get(13)?;
    let stored_state: Option<HealthState> = parse_column(row, 15)?;
    let expires_at: Option<String> = row.get(25)?;
    let expired = expires_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| t <= chrono::Utc::now());
    let mut row = read_fields(row, enabled, stored_state, expires_at)?;
    if expired && row.enabled {
        row.health.state = HealthState::Unhealthy;
        row.health.reason = Some(keygate_core::health::HealthReason::Expired);
    }
    Ok(row)
}

fn read_fields(
    row: &Row<'_>,
    enabled: bool,
    stored_state: Option<HealthState>,
    expires_at: Option<String>,
) -> Result<KeyRow, crate::sql::DbError> {
    Ok(KeyRow {
        id: row.get(0)?,
        provider: row.get(1)?,
        provider_kind: parse_column(row, 2)?.unwrap_or(ProviderKind::OpenAi),
        label: row.get(3)?,
        fingerprint: row.get(4)?,
        secret_ref: row.get(5)?,
        tags: json_column(row, 6)?,
        priority: row.get(7)?,
        weight: row.get(8)?,
        limits: KeyLimits {
            rpm: row.get(9)?,
            tpm: row.get(10)?,
            rpd: row.get(11)?,
            daily_budget_micros: row.get(12)?,
            monthly_budget_micros: row.get(26)?,
            daily_token_budget: row.get(27)?,
            monthly_token_budget: row.get(28)?,
        },
        enabled,
        created_at: row.get(14)?,
        expires_at,
        health: KeyHealthRow {
            state: effective_state(enabled, stored_state.unwrap_or(HealthState::Unknown)),
            reason: parse_column(row, 16)?,
            consecutive_errors: row.get::<Option<i64>>(17)?.unwrap_or(0),
            consecutive_successes: row.get::<Option<i64>>(18)?.unwrap_or(0),
            last_error: row.get(19)?,
            last_status: row.get(20)?,
            last_checked_at: row.get(21)?,
            last_success_at: row.get(22)?,
            next_retry_at: row.get(23)?,
            cooldown_until: row.get(24)?,
        },
        last_used_at: row.get(29)?,
        low_balance: row.get(30)?,
        balance: match row.get::<Option<bool>>(31)? {
            Some(available) => Some(crate::BalanceRow {
                key_id: row.get(0)?,
                available,
                amount: row.get(32)?,
                currency: row.get(33)?,
                checked_at: row.get(34)?,
                note: row.get(35)?,
                low: row.get(36)?,
            }),
            None => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{DateTime, TimeZone, Utc};

    use super::*;

    fn fixed_clock() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .single()
            .expect("valid date")
    }

    fn store() -> (crate::testing::TestDb, Store) {
        let db = crate::testing::fresh();
        let store = db.open().with_clock(fixed_clock);
        (db, store)
    }

    fn openai() -> NewProvider {
        NewProvider {
            name: "openai".into(),
            kind: ProviderKind::OpenAi,
            base_url: "https://api.openai.com/v1".into(),
            headers: BTreeMap::new(),
            priority: 0,
        }
    }

    fn key(id: &str, fingerprint: &str) -> NewKey {
        NewKey {
            id: id.into(),
            provider: "openai".into(),
            label: format!("label {id}"),
            fingerprint: fingerprint.into(),
            secret_ref: "keyring".into(),
            tags: vec!["team".into()],
            priority: 0,
            weight: 1,
            limits: KeyLimits {
                rpm: Some(60),
                ..KeyLimits::default()
            },
            expires_at: None,
        }
    }

    #[test]
    fn keys_are_stored_with_provider_and_unknown_health() {
        let (_dir, mut store) = store();
        store
            .insert_keys(&[openai()], &[key("k_aaaaaaaaaa", "sk-…0001 #00000001")])
            .expect("insert");
        let keys = store.list_keys().expect("list");
        assert_eq!(keys.len(), 1);
        let k = &keys[0];
        assert_eq!(k.provider, "openai");
        assert_eq!(k.provider_kind, ProviderKind::OpenAi);
        assert_eq!(k.tags, vec!["team"]);
        assert_eq!(k.limits.rpm, Some(60));
        assert_eq!(k.health.state, HealthState::Unknown);
        assert_eq!(k.created_at, "2026-11-23T12:00:00Z");
        assert_eq!(store.list_providers().expect("providers")[0].key_count, 1);
    }

    #[test]
    fn a_batch_with_one_bad_key_stores_nothing() {
        let (_dir, mut store) = store();
        let mut orphan = key("k_cccccccccc", "fp-c");
        orphan.provider = "nope".into();
        let err = store
            .insert_keys(&[openai()], &[key("k_bbbbbbbbbb", "fp-b"), orphan])
            .expect_err("unknown provider");
        assert!(
            err.to_string().contains("no provider named \"nope\""),
            "{err}"
        );
        assert!(store.list_keys().expect("list").is_empty());
        assert!(
            store.list_providers().expect("list").is_empty(),
            "provider creation rolled back too"
        );
    }

    #[test]
    fn the_same_secret_twice_for_one_provider_is_a_conflict() {
        let (_dir, mut store) = store();
        store
            .insert_keys(&[openai()], &[key("k_dddddddddd", "same")])
            .expect("first");
        let err = store
            .insert_keys(&[], &[key("k_eeeeeeeeee", "same")])
            .expect_err("dup");
        assert!(err.to_string().contains("already stored"), "{err}");
        assert!(err.to_string().contains("k_dddddddddd"), "{err}");
    }

    #[test]
    fn enabling_with_an_unknown_id_changes_nothing() {
        let (_dir, mut store) = store();
        store
            .insert_keys(&[openai()], &[key("k_ffffffffff", "f")])
            .expect("insert");
        let ids = vec!["k_ffffffffff".to_string(), "k_zzzzzzzzzz".to_string()];
        let err = store.set_keys_enabled(&ids, false).expect_err("unknown id");
        assert!(err.to_string().contains("k_zzzzzzzzzz"), "{err}");
        assert!(
            store
                .get_key("k_ffffffffff")
                .expect("get")
                .is_some_and(|k| k.enabled)
        );
        store.set_keys_enabled(&ids[..1], false).expect("disable");
        let k = store.get_key("k_ffffffffff").expect("get").expect("exists");
        assert!(!k.enabled);
        assert_eq!(k.health.state, HealthState::Disabled);
    }

    #[test]
    fn secret_missing_is_red_and_reset_failed_clears_it() {
        let (_dir, mut store) = store();
        store
            .insert_keys(
                &[openai()],
                &[key("k_gggggggggg", "g"), key("k_hhhhhhhhhh", "h")],
            )
            .expect("insert");
        store.mark_secret_missing("k_gggggggggg").expect("mark");
        let k = store.get_key("k_gggggggggg").expect("get").expect("exists");
        assert_eq!(k.health.state, HealthState::Unhealthy);
        assert_eq!(k.health.reason, Some(HealthReason::SecretMissing));
        let reset = store.reset_keys(&[], true).expect("reset");
        assert_eq!(reset, vec!["k_gggggggggg".to_string()]);
        let k = store.get_key("k_gggggggggg").expect("get").expect("exists");
        assert_eq!(k.health.state, HealthState::Unknown);
        assert_eq!(k.health.reason, None);
    }

    #[test]
    fn deleting_returns_the_rows_and_frees_the_provider() {
        let (_dir, mut store) = store();
        store
            .insert_keys(&[openai()], &[key("k_iiiiiiiiii", "i")])
            .expect("insert");
        let err = store.delete_provider("openai").expect_err("has keys");
        assert!(err.to_string().contains("still has 1 key"), "{err}");
        let deleted = store.delete_keys(&["k_iiiiiiiiii".into()]).expect("delete");
        assert_eq!(deleted.len(), 1);
        assert_eq!(deleted[0].secret_ref, "keyring");
        store.delete_provider("openai").expect("now empty");
        assert!(store.list_providers().expect("list").is_empty());
    }

    #[test]
    fn a_provider_is_edited_in_place_and_deleted_with_what_names_it() {
        let (_dir, mut store) = store();
        store
            .insert_keys(&[openai()], &[key("k_jjjjjjjjjj", "j")])
            .expect("insert");
        store
            .insert_provider(&crate::NewProvider {
                name: "spare".into(),
                kind: ProviderKind::OpenAi,
                base_url: "https://spare.example/v1".into(),
                headers: [("x-a".to_string(), "1".to_string())].into(),
                priority: 0,
            })
            .expect("spare");
        let edit = crate::ProviderEdit {
            base_url: Some("https://proxy.example/v1".into()),
            headers: [
                ("x-a".to_string(), None),
                (
                    "http-referer".to_string(),
                    Some("https://me.example".to_string()),
                ),
            ]
            .into(),
            priority: Some(3),
            enabled: Some(false),
            ..crate::ProviderEdit::default()
        };
        let row = store.edit_provider("spare", &edit).expect("edit");
        assert_eq!(row.base_url, "https://proxy.example/v1");
        assert_eq!(row.headers.keys().collect::<Vec<_>>(), ["http-referer"]);
        assert_eq!((row.priority, row.enabled), (3, false));
        let tier = |provider: &str| crate::RouteTier {
            provider: provider.into(),
            model: "m".into(),
        };
        store
            .upsert_route("both", &[tier("openai"), tier("spare")], "failover")
            .expect("route");
        store
            .upsert_route("only", &[tier("openai")], "failover")
            .expect("route");
        let err = store
            .remove_provider("openai", false)
            .expect_err("has keys");
        assert!(err.to_string().contains("still has 1 key"), "{err}");
        let removal = store.remove_provider("openai", true).expect("with keys");
        assert_eq!(removal.keys.len(), 1);
        assert_eq!(removal.routes_changed, ["both"]);
        assert_eq!(removal.routes_removed, ["only"]);
        let routes = store.list_routes().expect("routes");
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].tiers, [tier("spare")]);
        assert!(store.get_key("k_jjjjjjjjjj").expect("get").is_none());
        let err = store.edit_provider("openai", &edit).expect_err("gone");
        assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    }

    #[test]
    fn a_key_knows_when_it_was_last_used_and_its_weeks_requests() {
        let (_dir, mut store) = store();
        store
            .insert_keys(&[openai()], &[key("k_kkkkkkkkkk", "k")])
            .expect("insert");
        let request = |id: &str, at: &str, status: u16| crate::RequestRow {
            id: id.into(),
            at: at.into(),
            token: Some("cli".into()),
            endpoint: "/chat/completions".into(),
            model_requested: "gpt-4o".into(),
            model_served: Some("gpt-4o".into()),
            provider: Some("openai".into()),
            key_id: Some("k_kkkkkkkkkk".into()),
            status,
            error_class: None,
            attempts: vec![crate::AttemptLog {
                provider: "openai".into(),
                key_id: "k_kkkkkkkkkk".into(),
                key_label: "work".into(),
                status: Some(status),
                class: if status == 200 {
                    "success"
                } else {
                    "server_error"
                }
                .into(),
                latency_ms: 10,
            }],
            latency_ms: 10,
            ttfb_ms: None,
            stream: false,
            prompt_tokens: Some(1),
            completion_tokens: Some(1),
            cached_tokens: None,
            cost_micros: None,
        };
        store
            .write_batch(
                &[
                    request("a", "2026-11-30T10:00:00.000Z", 200),
                    request("b", "2026-12-01T10:00:00.000Z", 200),
                    request("c", "2026-12-01T09:00:00.000Z", 502),
                ],
                &[],
            )
            .expect("write");
        let row = store.get_key("k_kkkkkkkkkk").expect("get").expect("row");
        assert_eq!(
            row.last_used_at.as_deref(),
            Some("2026-12-01T10:00:00.000Z")
        );
        let since = store
            .key_activity_since("2026-12-01T00:00:00.000Z")
            .expect("activity");
        assert_eq!(
            since.get("k_kkkkkkkkkk").copied(),
            Some(crate::KeyActivity {
                requests: 2,
                failed: 1
            })
        );
    }

    #[test]
    fn tokens_are_stored_by_hash_and_revoked_by_name() {
        let (_dir, store) = store();
        let token = crate::NewToken {
            name: "cursor".into(),
            hash: "ab".repeat(32),
            hint: "kg-AbCd…".into(),
            models: vec!["gpt-4o*".into()],
            expires_at: None,
            budgets: Default::default(),
        };
        store.insert_token(&token).expect("insert");
        let err = store.insert_token(&token).expect_err("duplicate name");
        assert!(err.to_string().contains("already exists"), "{err}");
        let listed = store.list_tokens().expect("list");
        assert_eq!(listed[0].models, vec!["gpt-4o*"]);
        let json = serde_json::to_string(&listed[0]).expect("json");
        assert!(
            !json.contains(&"ab".repeat(32)),
            "hash stays internal: {json}"
        );
        store.revoke_token("cursor").expect("revoke");
        assert!(store.revoke_token("cursor").is_err());
    }

    #[test]
    fn settings_and_events_round_trip() {
        let (_dir, store) = store();
        assert_eq!(store.get_setting::<u32>("port").expect("get"), None);
        store.set_setting("port", &5397u32).expect("set");
        store.set_setting("port", &5398u32).expect("overwrite");
        assert_eq!(store.get_setting::<u32>("port").expect("get"), Some(5398));
        store
            .append_event("key_added", Some("k_x"), Some("openai"), "added")
            .expect("event");
        let events = store.recent_events(10).expect("events");
        assert_eq!(events[0].kind, "key_added");
    }
}
