use crate::sql::params;
use keygate_core::budget::Budgets;
use serde::Serialize;

use crate::columns::json_column;
use crate::{Store, StoreError};

/// A local access token to store: its SHA-256 hash and a short hint, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub name: String,
    pub hash: String,
    pub hint: String,
    pub models: Vec<String>,
    pub expires_at: Option<String>,
    pub budgets: Budgets,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenRow {
    pub name: String,
    #[serde(skip)]
    pub hash: String,
    pub hint: String,
    pub models: Vec<String>,
    pub expires_at: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    /// Shown by the API as a limits view of its own.
    #[serde(skip)]
    pub budgets: Budgets,
}

/// The budgets as stored: integers, `NULL` for none.
fn budget_params(b: &Budgets) -> [Option<i64>; 4] {
    let stored = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    [
        stored(b.daily_spend_micros),
        stored(b.monthly_spend_micros),
        stored(b.daily_tokens),
        stored(b.monthly_tokens),
    ]
}

fn budgets_of(r: &crate::sql::Row<'_>, first: usize) -> Result<Budgets, crate::sql::DbError> {
    let read = |i: usize| -> Result<Option<u64>, crate::sql::DbError> {
        Ok(r.get::<Option<i64>>(first + i)?
            .and_then(|v| u64::try_from(v).ok()))
    };
    Ok(Budgets {
        daily_spend_micros: read(0)?,
        monthly_spend_micros: read(1)?,
        daily_tokens: read(2)?,
        monthly_tokens: read(3)?,
    })
}

const INSERT: &str = "INSERT INTO access_tokens (name, hash, hint, models, expires_at, created_at, \
     daily_budget_micros, monthly_budget_micros, daily_token_budget, monthly_token_budget) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

impl Store {
    pub fn insert_token(&self, token: &NewToken) -> Result<(), StoreError> {
        let models =
            serde_json::to_string(&token.models).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let [d, m, dt, mt] = budget_params(&token.budgets);
        let result = self.conn.execute(
            INSERT,
            params![
                token.name,
                token.hash,
                token.hint,
                models,
                token.expires_at,
                self.now(),
                d,
                m,
                dt,
                mt
            ],
        );
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.is_constraint() => Err(StoreError::Conflict(format!(
                "a token named {:?} already exists; revoke it first or choose another name",
                token.name
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub fn list_tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT name, hash, hint, models, expires_at, created_at, last_used_at, \
             daily_budget_micros, monthly_budget_micros, daily_token_budget, monthly_token_budget \
             FROM access_tokens ORDER BY name",
        )?;
        let rows = stmt.query_map(params![], |r| {
            Ok(TokenRow {
                name: r.get(0)?,
                hash: r.get(1)?,
                hint: r.get(2)?,
                models: json_column(r, 3)?,
                expires_at: r.get(4)?,
                created_at: r.get(5)?,
                last_used_at: r.get(6)?,
                budgets: budgets_of(r, 7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Puts `token` in place of the token with its name, if there is one (a tool's token made
    /// again by `keygate connect`, whose old value is lost): in one transaction, so the name is
    /// never without a token and the request log keeps counting under it.
    pub fn replace_token(&mut self, token: &NewToken) -> Result<(), StoreError> {
        let models =
            serde_json::to_string(&token.models).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let now = self.now();
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM access_tokens WHERE name = ?1", [&token.name])?;
        let [d, m, dt, mt] = budget_params(&token.budgets);
        tx.execute(
            INSERT,
            params![
                token.name,
                token.hash,
                token.hint,
                models,
                token.expires_at,
                now,
                d,
                m,
                dt,
                mt
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Replaces all of a token's budgets.
    pub fn set_token_budgets(&self, name: &str, budgets: &Budgets) -> Result<(), StoreError> {
        let [d, m, dt, mt] = budget_params(budgets);
        let changed = self.conn.execute(
            "UPDATE access_tokens SET daily_budget_micros = ?2, monthly_budget_micros = ?3, \
             daily_token_budget = ?4, monthly_token_budget = ?5 WHERE name = ?1",
            params![name, d, m, dt, mt],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!(
                "no token named {name:?} (see `keygate token list`)"
            )));
        }
        Ok(())
    }

    pub fn revoke_token(&self, name: &str) -> Result<(), StoreError> {
        let deleted = self
            .conn
            .execute("DELETE FROM access_tokens WHERE name = ?1", [name])?;
        if deleted == 0 {
            return Err(StoreError::NotFound(format!(
                "no token named {name:?} (see `keygate token list`)"
            )));
        }
        Ok(())
    }
}
