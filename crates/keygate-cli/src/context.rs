use std::path::PathBuf;

use anyhow::Result;
use keygate_server::{resolve_home, vault_from_env};
use keygate_store::{Store, StoreLocation};
use keygate_vault::Vault;

/// An error in how the command was called (exit code 2), as opposed to a failure (exit 1).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Wraps a validation message as a usage error.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// Where this invocation keeps its data and secrets, read once from the environment.
pub struct Context {
    pub home: PathBuf,
    /// `--store` / `KEYGATE_STORE`: the SQLite file in `home` unless a PostgreSQL URL is given.
    pub store_location: StoreLocation,
    pub vault: Vault,
    pub json: bool,
}

impl Context {
    pub fn from_env(json: bool, store: Option<&str>) -> Result<Self> {
        let home = resolve_home()?;
        let store_location = StoreLocation::parse(store, &home).map_err(usage)?;
        Ok(Self {
            home,
            store_location,
            vault: vault_from_env(),
            json,
        })
    }

    pub fn store(&self) -> Result<Store> {
        Ok(Store::connect(&self.store_location)?)
    }
}
