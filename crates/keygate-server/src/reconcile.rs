//! Reconcile: every key row must have its secret. Rows whose secret is gone are marked red
//! ("secret missing"), never dropped, so the user can restore or remove them; rows whose secret
//! the keyring will not give (locked, or no keyring running) are red "secret unavailable" with
//! the keyring's reason until it gives them again; and no secret may outlive its row: keyring
//! entries an interrupted add or import wrote without committing the rows (noted in
//! `pending_secrets`) are removed. Runs at start-up and whenever the keyring may have come back.

use keygate_core::health::{HealthReason, HealthState};
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
    /// Keys whose secret the keyring would not give, with its reason (it names the fix).
    pub unavailable: Vec<(String, String)>,
    /// Keys whose health this run changed for the keyring's sake, to announce.
    pub changes: Vec<KeyChange>,
}

/// A key moved to or from "secret unavailable".
#[derive(Debug, PartialEq, Eq)]
pub struct KeyChange {
    pub id: String,
    pub label: String,
    pub provider: String,
    pub from: (HealthState, Option<HealthReason>),
    pub to: (HealthState, Option<HealthReason>),
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

enum Found {
    Present,
    Missing,
    Unavailable(String),
}

/// Checks each key's secret reference and updates health; hands every secret it finds to
/// `found_secret` so the caller need not read the keyring again. A keyring that cannot be used
/// is not proof that secrets are missing: its keys become "secret unavailable" instead, and
/// orphaned entries wait for the next run.
pub fn reconcile_secrets(
    store: &mut Store,
    vault: &Vault,
    found_secret: &mut dyn FnMut(&str, Sensitive<String>),
) -> Result<ReconcileReport, ReconcileError> {
    let mut report = ReconcileReport::default();
    remove_orphans(store, vault, &mut report)?;
    let mut found = Vec::new();
    // Once the keyring refused, the other entries are not read: each read of a locked entry
    // would show the person another unlock prompt.
    let mut keyring_down: Option<String> = None;
    for key in store.list_keys()? {
        let state = match key.secret_ref.parse::<SecretRef>() {
            Err(_) => Found::Missing,
            Ok(SecretRef::Keyring) if keyring_down.is_some() => {
                Found::Unavailable(keyring_down.clone().unwrap_or_default())
            }
            Ok(secret_ref) => match vault.resolve(&secret_ref, &key.id) {
                Ok(Some(secret)) => {
                    found_secret(&key.id, secret);
                    Found::Present
                }
                Ok(None) => Found::Missing,
                Err(err) if err.is_keyring_unusable() => {
                    let cause = err.to_string();
                    keyring_down = Some(cause.clone());
                    Found::Unavailable(cause)
                }
                Err(err) => return Err(err.into()),
            },
        };
        found.push((key, state));
    }
    for (key, state) in found {
        report.checked += 1;
        let before = (key.health.state, key.health.reason);
        match state {
            Found::Missing => {
                if key.health.reason != Some(HealthReason::SecretMissing) {
                    store.mark_secret_missing(&key.id)?;
                    store.append_event(
                        keygate_core::events::EventKind::SecretMissing.as_str(),
                        Some(&key.id),
                        None,
                        "the key's secret is missing from the keyring or environment",
                    )?;
                }
                report.missing.push(key.id);
            }
            Found::Present => match key.health.reason {
                Some(HealthReason::SecretMissing) => {
                    store.clear_secret_missing(&key.id)?;
                    report.restored.push(key.id);
                }
                Some(HealthReason::SecretUnavailable) => {
                    store.clear_secret_unavailable(&key.id)?;
                    report.changes.push(KeyChange {
                        id: key.id.clone(),
                        label: key.label,
                        provider: key.provider,
                        from: before,
                        to: (HealthState::Unknown, None),
                    });
                    report.restored.push(key.id);
                }
                _ => {}
            },
            Found::Unavailable(cause) => {
                store.mark_secret_unavailable(&key.id, &cause)?;
                let after = (
                    HealthState::Unhealthy,
                    Some(HealthReason::SecretUnavailable),
                );
                if before != after && key.enabled {
                    report.changes.push(KeyChange {
                        id: key.id.clone(),
                        label: key.label,
                        provider: key.provider,
                        from: before,
                        to: after,
                    });
                }
                report.unavailable.push((key.id, cause));
            }
        }
    }
    Ok(report)
}

/// Removes the keyring entries of rows that were never committed; with the keyring unusable
/// they stay noted for the next run.
fn remove_orphans(
    store: &mut Store,
    vault: &Vault,
    report: &mut ReconcileReport,
) -> Result<(), ReconcileError> {
    let orphans = store.orphaned_pending_secrets()?;
    let mut removed = Vec::new();
    for id in orphans {
        match vault.remove(&id) {
            Ok(_) => removed.push(id),
            Err(err) if err.is_keyring_unusable() => break,
            Err(err) => return Err(err.into()),
        }
    }
    store.clear_pending_secrets(&removed)?;
    report.orphans_removed = removed;
    Ok(())
}
