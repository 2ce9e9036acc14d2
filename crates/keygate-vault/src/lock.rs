//! Waiting for a locked keyring without nagging the person: reading a locked entry makes the
//! Secret Service show an unlock prompt, so an engine that retries by reading would prompt every
//! few seconds. Instead it asks whether its entries are still locked (no prompt), and reads
//! again once they are not. After a keyring daemon restart the old connection's session is
//! gone, so the store is reconnected before that read.

use crate::{Vault, VaultError};

/// What the keyring says about this vault's entries, asked without prompting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    /// Some entry is locked: a read would prompt, and fail where nobody can answer.
    Locked,
    /// Nothing of ours is locked: a read should work now.
    Readable,
    /// The platform cannot tell without a read (which may prompt).
    Unknown,
}

impl Vault {
    /// Whether this vault's entries are locked. Never prompts.
    pub fn lock_state(&self) -> LockState {
        platform::lock_state(self.service())
    }

    /// Connects to the platform store afresh: a keyring daemon that restarted (or a session
    /// that logged in again) invalidates the session the first connection opened.
    pub fn reconnect(&self) -> Result<(), VaultError> {
        platform::reconnect()
    }
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
mod platform {
    use std::collections::HashMap;

    use secret_service::EncryptionType;
    use secret_service::blocking::SecretService;

    use super::LockState;
    use crate::VaultError;

    pub fn lock_state(service: &str) -> LockState {
        // Plain transport: this connection only lists items, it never carries a secret.
        let Ok(ss) = SecretService::connect(EncryptionType::Plain) else {
            return LockState::Locked;
        };
        match ss.search_items(HashMap::from([("service", service)])) {
            Ok(found) if found.locked.is_empty() => LockState::Readable,
            Ok(_) => LockState::Locked,
            Err(_) => LockState::Locked,
        }
    }

    pub fn reconnect() -> Result<(), VaultError> {
        let store = zbus_secret_service_keyring_store::Store::new().map_err(|err| {
            VaultError::Unavailable {
                cause: err.to_string().replace('\n', " "),
            }
        })?;
        keyring_core::set_default_store(store);
        Ok(())
    }
}

#[cfg(not(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
)))]
mod platform {
    use super::LockState;
    use crate::VaultError;

    pub fn lock_state(_service: &str) -> LockState {
        LockState::Unknown
    }

    pub fn reconnect() -> Result<(), VaultError> {
        Ok(())
    }
}
