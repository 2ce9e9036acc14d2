//! KeyGate's secrets: where an API key lives and how it is kept out of sight.
//!
//! A key's secret is stored in the OS keyring (Secret Service on Linux, Keychain on macOS,
//! Credential Manager on Windows) through `keyring` 4, or referenced as `env:VAR` on headless
//! hosts. Everything that holds a secret in memory wraps it in [`Sensitive`], which prints
//! `<redacted>` in `Debug`, `Display` and `serde` output.
//!
//! This crate must never write a secret to a file, never fall back to a mock or a file when the
//! keyring is missing, and never put a secret into an error message.

mod lock;
mod secret_ref;
mod sensitive;
mod vault;

pub use lock::LockState;
pub use secret_ref::{SecretRef, SecretRefError};
pub use sensitive::Sensitive;
pub use vault::{DEFAULT_SERVICE, SERVICE_ENV, Vault, VaultError};
