//! Adding keys, shared by the CLI (`key add`, `import`) and the admin API (`POST /api/keys`,
//! `POST /api/keys/import`): DESIGN §3's order — keyring entries first, then the rows in one
//! transaction, and the keyring entries removed again if the rows fail — plus the checks an
//! import file gets before anything is written.

use std::collections::{BTreeMap, HashMap};

use keygate_core::fingerprint::fingerprint;
use keygate_core::import::{ImportError, ImportRow, ImportSecret};
use keygate_core::key::key_id_from_bytes;
use keygate_core::provider::{PRESETS, find_preset};
use keygate_store::{NewKey, NewProvider, Store, StoreError};
use keygate_vault::{SecretRef, Sensitive, Vault, VaultError};

/// A key about to be stored, with its secret when the secret goes to the keyring.
pub struct PendingKey {
    pub key: NewKey,
    pub keyring_secret: Option<Sensitive<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum AddKeyError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A secret to keep in this machine's keyring while the store is shared by a team's
    /// engines, which could not read it.
    #[error("{}", SHARED_STORE_SECRETS)]
    SharedStore,
}

/// Why a shared (PostgreSQL) store takes no keyring secrets, and what to do instead.
pub const SHARED_STORE_SECRETS: &str = "the store is a team's PostgreSQL database: a secret kept in this machine's keyring could not be read by the other engines; reference it instead (`--secret-env VAR`, `env:VAR` in an import), and give every engine that variable";

/// Whether keys with keyring secrets may be added to `store` (not to a shared store).
pub fn keyring_secrets_allowed(store: &Store) -> Result<(), AddKeyError> {
    if store.kind() == "postgres" {
        return Err(AddKeyError::SharedStore);
    }
    Ok(())
}

pub fn new_key_id() -> String {
    key_id_from_bytes(rand::random())
}

/// Stores keys: keyring entries first, then the rows in one transaction; if anything fails,
/// the keyring entries written so far are removed again.
pub fn store_keys(
    vault: &Vault,
    store: &mut Store,
    providers: &[NewProvider],
    pending: &[PendingKey],
) -> Result<(), AddKeyError> {
    let to_keyring: Vec<&str> = pending
        .iter()
        .filter(|p| p.keyring_secret.is_some())
        .map(|p| p.key.id.as_str())
        .collect();
    if !to_keyring.is_empty() {
        keyring_secrets_allowed(store)?;
        vault.check()?;
        // Committed before the first keyring write: a crash from here on leaves a trace that
        // start-up reconcile cleans up (no secret may outlive its row).
        store.begin_pending_secrets(&to_keyring)?;
    }
    let mut written: Vec<&str> = Vec::new();
    let undo = |store: &mut Store, written: &[&str]| {
        for id in written {
            if let Err(err) = vault.remove(id) {
                tracing::warn!(
                    "could not remove the keyring entry for {id} after a failed add: {err}"
                );
            }
        }
        let ids: Vec<String> = to_keyring.iter().map(|id| id.to_string()).collect();
        if let Err(err) = store.clear_pending_secrets(&ids) {
            tracing::warn!("could not clear pending keyring entries: {err}");
        }
    };
    for item in pending {
        if let Some(secret) = &item.keyring_secret {
            if let Err(err) = vault.store(&item.key.id, secret) {
                undo(store, &written);
                return Err(err.into());
            }
            written.push(&item.key.id);
        }
    }
    let keys: Vec<NewKey> = pending.iter().map(|p| p.key.clone()).collect();
    if let Err(err) = store.insert_keys(providers, &keys) {
        undo(store, &written);
        return Err(err.into());
    }
    Ok(())
}

/// The provider to create for `name` when a key names it: `None` when it already exists,
/// the preset's provider when `name` is a preset with a fixed URL, else an explanation.
pub fn provider_to_create(store: &Store, name: &str) -> Result<Option<NewProvider>, String> {
    if store
        .get_provider(name)
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Ok(None);
    }
    match find_preset(name) {
        Some(preset) if !preset.base_url.is_empty() => Ok(Some(NewProvider {
            name: preset.name.to_string(),
            kind: preset.kind,
            base_url: preset.base_url.to_string(),
            headers: BTreeMap::new(),
            priority: 0,
        })),
        Some(_) => Err(format!(
            "provider {name:?} needs your endpoint first: add it on the Providers page, or `keygate provider add {name} --base-url URL`"
        )),
        None => {
            // A typo of a provider the user has, or of a preset: name it first.
            let known: Vec<String> = store
                .list_providers()
                .map(|rows| rows.into_iter().map(|p| p.name).collect())
                .unwrap_or_default();
            let candidates = known
                .iter()
                .map(String::as_str)
                .chain(PRESETS.iter().map(|p| p.name));
            if let Some(meant) = keygate_core::provider::closest_name(name, candidates) {
                return Err(format!(
                    "unknown provider {name:?}: did you mean {meant:?}?"
                ));
            }
            Err(format!(
                "unknown provider {name:?}: use a preset ({}) or add it with `keygate provider add {name} --kind openai --base-url URL`",
                PRESETS
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }
}

/// `openai-3` for the third key of `openai`.
pub fn default_label(store: &Store, provider: &str) -> Result<String, StoreError> {
    let count = store
        .list_keys()?
        .iter()
        .filter(|k| k.provider == provider)
        .count();
    Ok(format!("{provider}-{}", count + 1))
}

/// What an import would do: the providers it creates from presets and the keys it adds.
pub struct ImportPlan {
    pub providers: Vec<NewProvider>,
    pub pending: Vec<PendingKey>,
}

/// Checks parsed import rows against the store (providers exist or come from a preset, no
/// secret twice) and prepares the keys; every problem is returned, with its line.
/// `${VAR}` secrets were expanded by the parser; `env:VAR` references are read through the
/// vault (from this process's environment).
pub fn plan_import(
    store: &Store,
    vault: &Vault,
    file: &str,
    rows: &[ImportRow],
) -> Result<ImportPlan, Vec<ImportError>> {
    let mut errors = Vec::new();
    let mut providers: BTreeMap<String, NewProvider> = BTreeMap::new();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut pending = Vec::new();
    let error = |line: usize, message: String| ImportError {
        file: file.to_string(),
        line,
        message,
    };
    for row in rows {
        match provider_to_create(store, &row.provider) {
            Ok(Some(p)) => {
                providers.insert(p.name.clone(), p);
            }
            Ok(None) => {}
            Err(message) => errors.push(error(row.line, message)),
        }
        match pending_key(vault, row) {
            Ok(item) => {
                let dup_key = (row.provider.clone(), item.key.fingerprint.clone());
                if let Some(first) = seen.insert(dup_key, row.line) {
                    errors.push(error(row.line, format!("the same secret as line {first}")));
                }
                pending.push(item);
            }
            Err(message) => errors.push(error(row.line, message)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ImportPlan {
        providers: providers.into_values().collect(),
        pending,
    })
}

fn pending_key(vault: &Vault, row: &ImportRow) -> Result<PendingKey, String> {
    let id = new_key_id();
    let (secret_ref, secret) = match &row.secret {
        ImportSecret::Literal(value) => (SecretRef::Keyring, Sensitive::new(value.clone())),
        ImportSecret::EnvRef(var) => {
            let secret_ref = SecretRef::env(var).map_err(|e| e.to_string())?;
            let value = vault
                .resolve(&secret_ref, &id)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("environment variable {var} is not set or empty"))?;
            (secret_ref, value)
        }
    };
    let label = row
        .label
        .clone()
        .unwrap_or_else(|| format!("{}-line{}", row.provider, row.line));
    let key = NewKey {
        id,
        provider: row.provider.clone(),
        label,
        fingerprint: fingerprint(secret.expose()),
        secret_ref: secret_ref.to_string(),
        tags: row.tags.clone(),
        priority: row.priority,
        weight: row.weight,
        limits: row.limits.clone(),
        expires_at: None,
    };
    let keyring_secret = matches!(secret_ref, SecretRef::Keyring).then_some(secret);
    Ok(PendingKey {
        key,
        keyring_secret,
    })
}
