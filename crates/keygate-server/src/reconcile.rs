//! Start-up reconcile: every key row must have its secret. Rows whose secret is gone are
//! marked red ("secret missing"), never dropped, so the user can restore or remove them; and
//! no secret may outlive its row: keyring entries an interrupted add or import wrote without
//! committing the rows (noted in `pending_secrets`) are removed.

use keygate_store::{Store, StoreError};
use keygate_vault::{SecretRef, Sensitive, Vault, VaultError};

/// What reconcile found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub checked: usize,
    pub missing: Vec<String>,
    pub restored: Vec<String>,
    /// Keyring entries of keys whose rows were never committed (an add or import that died
    /// in between), removed.
    pub orphans_removed: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// Checks each key's secret reference and updates health; hands every secret it finds to
/// `found_secret` so the caller need not read the keyring again. If the keyring itself cannot
/// be used, stops with that error and changes nothing: an unreachable keyring is not proof
/// that secrets are missing.
pub fn reconcile_secrets(
    store: &mut Store,
    vault: &Vault,
    found_secret: &mut dyn FnMut(&str, Sensitive<String>),
) -> Result<ReconcileReport, ReconcileError> {
    let mut report = ReconcileReport::default();
    let orphans = store.orphaned_pending_secrets()?;
    for id in &orphans {
        vault.remove(id)?;
    }
    store.clear_pending_secrets(&orphans)?;
    report.orphans_removed = orphans;
    let mut found = Vec::new();
    for key in store.list_keys()? {
        let secret_ref: SecretRef = match key.secret_ref.parse() {
            Ok(r) => r,
            Err(_) => {
                found.push((key.id, false, key.health.reason));
                continue;
            }
        };
        let secret = vault.resolve(&secret_ref, &key.id)?;
        let present = secret.is_some();
        if let Some(secret) = secret {
            found_secret(&key.id, secret);
        }
        found.push((key.id, present, key.health.reason));
    }
    for (id, present, reason) in found {
        report.checked += 1;
        let was_missing = reason == Some(keygate_core::health::HealthReason::SecretMissing);
        if !present && !was_missing {
            store.mark_secret_missing(&id)?;
            store.append_event(
                "secret_missing",
                Some(&id),
                None,
                "the key's secret is missing from the keyring or environment",
            )?;
            report.missing.push(id);
        } else if present && was_missing {
            store.clear_secret_missing(&id)?;
            report.restored.push(id);
        } else if !present {
            report.missing.push(id);
        }
    }
    Ok(report)
}
