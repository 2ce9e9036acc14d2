use std::path::PathBuf;

use anyhow::Result;
use keygate_server::{resolve_home, vault_from_env};
use keygate_store::Store;
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
    pub vault: Vault,
    pub json: bool,
}

impl Context {
    pub fn from_env(json: bool) -> Result<Self> {
        Ok(Self {
            home: resolve_home()?,
            vault: vault_from_env(),
            json,
        })
    }

    pub fn store(&self) -> Result<Store> {
        Ok(Store::open_in(&self.home)?)
    }
}
