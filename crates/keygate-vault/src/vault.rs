use keyring::{Entry, Error as KeyringError};

use crate::{SecretRef, Sensitive};

/// The keyring service name used when `KEYGATE_KEYRING_SERVICE` is not set.
pub const DEFAULT_SERVICE: &str = "keygate";
/// The environment variable that overrides the keyring service name (tests always set it).
pub const SERVICE_ENV: &str = "KEYGATE_KEYRING_SERVICE";

const FIX_UNAVAILABLE: &str = "start a Secret Service provider on the session D-Bus (gnome-keyring or KWallet; on macOS and Windows the system keychain), or keep the secret in an environment variable and add the key with --secret-env VAR";
const FIX_LOCKED: &str = "unlock the keyring (log in to the desktop session, or run `gnome-keyring-daemon --unlock` and type its password), or keep the secret in an environment variable and add the key with --secret-env VAR";

/// Why a secret could not be stored or read. Never carries the secret.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("the OS keyring is not available ({cause}). Fix: {FIX_UNAVAILABLE}")]
    Unavailable { cause: String },
    #[error("the OS keyring is locked or refused access ({cause}). Fix: {FIX_LOCKED}")]
    Locked { cause: String },
    #[error("environment variable {var} is not set (the key's secret is referenced as env:{var})")]
    EnvMissing { var: String },
    #[error(
        "the keyring entry for {account} is not valid UTF-8 text; remove the key and add it again"
    )]
    Corrupt { account: String },
    #[error("the OS keyring failed: {cause}")]
    Failed { cause: String },
}

impl VaultError {
    /// True when the keyring itself could not be used (as opposed to one entry being bad).
    pub fn is_keyring_unusable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Locked { .. })
    }
}

/// The OS keyring, under one service name. Accounts are KeyGate key ids (and `admin-token`).
#[derive(Debug, Clone)]
pub struct Vault {
    service: String,
}

impl Vault {
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
        }
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// Connects to the platform store, so a command can fail before it changes anything.
    pub fn check(&self) -> Result<(), VaultError> {
        match Entry::store_status() {
            Ok(()) => Ok(()),
            // The store keyring 4 found no service for at start-up, installed since.
            Err(_) if keyring_core::get_default_store().is_some() => Ok(()),
            Err(err) => Err(VaultError::Unavailable {
                cause: describe(err),
            }),
        }
    }

    pub fn store(&self, account: &str, secret: &Sensitive<String>) -> Result<(), VaultError> {
        let entry = self.entry(account)?;
        entry
            .set_password(secret.expose())
            .map_err(|err| map_error(err, account))
    }

    /// The secret stored for `account`, or `None` when there is no such entry.
    pub fn load(&self, account: &str) -> Result<Option<Sensitive<String>>, VaultError> {
        let entry = self.entry(account)?;
        match entry.get_password() {
            Ok(secret) => Ok(Some(Sensitive::new(secret))),
            Err(KeyringError::NoEntry) => Ok(None),
            Err(err) => Err(map_error(err, account)),
        }
    }

    /// Removes the entry for `account`; returns whether one existed.
    pub fn remove(&self, account: &str) -> Result<bool, VaultError> {
        let entry = self.entry(account)?;
        match entry.delete_credential() {
            Ok(()) => Ok(true),
            Err(KeyringError::NoEntry) => Ok(false),
            Err(err) => Err(map_error(err, account)),
        }
    }

    /// The secret a key refers to: its keyring entry, or the environment variable it names.
    /// `None` means the reference resolves to nothing (the "secret missing" state).
    pub fn resolve(
        &self,
        secret_ref: &SecretRef,
        account: &str,
    ) -> Result<Option<Sensitive<String>>, VaultError> {
        match secret_ref {
            SecretRef::Keyring => self.load(account),
            SecretRef::Env(var) => Ok(std::env::var(var)
                .ok()
                .filter(|value| !value.is_empty())
                .map(Sensitive::new)),
        }
    }

    /// An entry of the default store: the platform's, installed by keyring 4 on first use, or
    /// the one [`Vault::reconnect`] installed after the keyring daemon came (back).
    fn entry(&self, account: &str) -> Result<keyring_core::Entry, VaultError> {
        let _ = Entry::store_status();
        keyring_core::Entry::new(&self.service, account).map_err(|err| map_error(err, account))
    }
}

fn map_error(err: KeyringError, account: &str) -> VaultError {
    match err {
        KeyringError::NoDefaultStore => {
            let cause = match Entry::store_status() {
                Err(init) => describe(init),
                Ok(()) => describe(&err),
            };
            VaultError::Unavailable { cause }
        }
        KeyringError::NoStorageAccess(_) => VaultError::Locked {
            cause: describe(&err),
        },
        KeyringError::PlatformFailure(_) => VaultError::Unavailable {
            cause: describe(&err),
        },
        // These variants carry the raw stored bytes: never format them.
        KeyringError::BadEncoding(_) | KeyringError::BadDataFormat(_, _) => VaultError::Corrupt {
            account: account.to_string(),
        },
        other => VaultError::Failed {
            cause: describe(&other),
        },
    }
}

/// The keyring's own text, with its source chain, on one line.
fn describe(err: &KeyringError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_error_names_cause_and_fix() {
        let err = VaultError::Unavailable {
            cause: "D-Bus error: no such socket".into(),
        };
        let text = err.to_string();
        assert!(text.contains("no such socket"), "{text}");
        assert!(text.contains("gnome-keyring"), "{text}");
        assert!(text.contains("--secret-env VAR"), "{text}");
    }

    #[test]
    fn env_reference_resolves_without_touching_the_keyring() {
        let vault = Vault::new("keygate-test-unused");
        let secret_ref = SecretRef::env("PATH").expect("valid name");
        let resolved = vault.resolve(&secret_ref, "k_any").expect("env lookup");
        assert!(resolved.is_some());
        let missing = SecretRef::env("KEYGATE_SURELY_UNSET_VAR_4711").expect("valid name");
        assert!(vault.resolve(&missing, "k_any").expect("env").is_none());
    }
}
