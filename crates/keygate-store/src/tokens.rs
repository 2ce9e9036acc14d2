use rusqlite::params;
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
}

impl Store {
    pub fn insert_token(&self, token: &NewToken) -> Result<(), StoreError> {
        let models =
            serde_json::to_string(&token.models).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let result = self.conn.execute(
            "INSERT INTO access_tokens (name, hash, hint, models, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![token.name, token.hash, token.hint, models, token.expires_at, self.now()],
        );
        match result {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::Conflict(format!(
                    "a token named {:?} already exists; revoke it first or choose another name",
                    token.name
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn list_tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT name, hash, hint, models, expires_at, created_at, last_used_at FROM access_tokens ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(TokenRow {
                name: r.get(0)?,
                hash: r.get(1)?,
                hint: r.get(2)?,
                models: json_column(r, 3)?,
                expires_at: r.get(4)?,
                created_at: r.get(5)?,
                last_used_at: r.get(6)?,
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
        tx.execute(
            "INSERT INTO access_tokens (name, hash, hint, models, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![token.name, token.hash, token.hint, models, token.expires_at, now],
        )?;
        tx.commit()?;
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
