use std::path::PathBuf;

use anyhow::{Context as _, Result};
use keygate_store::Store;
use keygate_vault::{DEFAULT_SERVICE, SERVICE_ENV, Vault};

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
        let home = match std::env::var_os("KEYGATE_HOME").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => directories::BaseDirs::new()
                .map(|dirs| dirs.data_dir().join("keygate"))
                .context("cannot find the user's data directory; set KEYGATE_HOME")?,
        };
        let service = std::env::var(SERVICE_ENV)
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_SERVICE.to_string());
        Ok(Self {
            home,
            vault: Vault::new(service),
            json,
        })
    }

    pub fn store(&self) -> Result<Store> {
        Ok(Store::open_in(&self.home)?)
    }
}
