use crate::sql::{OptionalExtension, params};
use serde::{Serialize, de::DeserializeOwned};

use crate::{Store, StoreError};

impl Store {
    /// A setting stored as JSON, or `None` when it was never set.
    pub fn get_setting<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        text.map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| StoreError::Corrupt(format!("setting {name}: {e}")))
        })
        .transpose()
    }

    pub fn set_setting<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StoreError> {
        let text = serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.conn.execute(
            "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            params![name, text],
        )?;
        Ok(())
    }

    /// Forgets a setting, so its default applies again.
    pub fn remove_setting(&self, name: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM settings WHERE name = ?1", [name])?;
        Ok(())
    }
}
