//! Acting on keys through the API: one-click tests (`POST /api/keys/{id}/test`) and batch
//! actions (`POST /api/keys/batch {ids, action: test|enable|disable|reset|delete}`). Tests run
//! concurrently, so a batch takes about as long as its slowest key.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keygate_vault::SecretRef;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::health::{TestReport, probe_live, testable_key};
use crate::{ApiError, AppState};

const MAX_BATCH: usize = 500;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestOptions {
    /// Also send a one-token completion.
    #[serde(default)]
    deep: bool,
}

/// Tests one key against its provider (lists models; `deep` also sends a one-token completion).
#[utoipa::path(post, path = "/api/keys/{id}/test", tag = "keys", operation_id = "testKey",
    params(("id" = String, Path, description = "the key's id")),
    request_body = Option<TestOptions>,
    responses(
        (status = 200, description = "what the test found", body = TestReport),
        (status = 404, description = "no key with that id", body = crate::error::ErrorBody),
    ))]
pub async fn test_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Option<Json<TestOptions>>,
) -> Result<Json<TestReport>, ApiError> {
    let deep = body.is_some_and(|Json(o)| o.deep);
    let mut reports = run_tests(&state, std::slice::from_ref(&id), deep).await?;
    reports
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no key with that id"))
}

/// `POST /api/health-check/force/{id}`: the same test as [`test_one`], under the health API.
#[utoipa::path(post, path = "/api/health-check/force/{id}", tag = "health", operation_id = "forceCheck",
    params(("id" = String, Path, description = "the key's id")),
    request_body = Option<TestOptions>,
    responses(
        (status = 200, description = "what the check found", body = TestReport),
        (status = 404, description = "no key with that id", body = crate::error::ErrorBody),
    ))]
pub async fn force_check(
    state: State<AppState>,
    id: Path<String>,
    body: Option<Json<TestOptions>>,
) -> Result<Json<TestReport>, ApiError> {
    test_one(state, id, body).await
}

/// What a batch does to its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchAction {
    Test,
    Enable,
    Disable,
    Reset,
    Delete,
}

/// What a batch did, by its `action`.
#[derive(Serialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum BatchResult {
    Test {
        results: Vec<TestReport>,
    },
    Enable {
        ids: Vec<String>,
    },
    Disable {
        ids: Vec<String>,
    },
    /// `ids`: the keys that were reset.
    Reset {
        ids: Vec<String>,
    },
    Delete {
        ids: Vec<String>,
        /// Keys whose keyring entry could not be removed.
        keyring_entries_left: Vec<String>,
    },
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    ids: Vec<String>,
    action: BatchAction,
    /// For `test`: also send a one-token completion.
    #[serde(default)]
    deep: bool,
}

/// Runs one action on 1 to 500 keys; a test answers one report per key.
#[utoipa::path(post, path = "/api/keys/batch", tag = "keys", operation_id = "batchKeys",
    request_body = Batch,
    responses(
        (status = 200, description = "what was done", body = BatchResult),
        (status = 404, description = "a test named a key that does not exist", body = crate::error::ErrorBody),
        (status = 422, description = "too few or too many ids, or an unknown action", body = crate::error::ErrorBody),
    ))]
pub async fn batch(
    State(state): State<AppState>,
    Json(batch): Json<Batch>,
) -> Result<Json<BatchResult>, ApiError> {
    if batch.ids.is_empty() || batch.ids.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ids",
            format!("ids: give between 1 and {MAX_BATCH} key ids"),
        ));
    }
    let ids = batch.ids.clone();
    match batch.action {
        BatchAction::Test => {
            let results = run_tests(&state, &batch.ids, batch.deep).await?;
            Ok(Json(BatchResult::Test { results }))
        }
        action @ (BatchAction::Enable | BatchAction::Disable) => {
            let enabled = action == BatchAction::Enable;
            let reload = state.clone();
            state
                .with_store(move |store| {
                    store.set_keys_enabled(&ids, enabled)?;
                    // Acknowledged means applied: no request goes to a disabled key after this.
                    reload.reload_catalog(store);
                    Ok(())
                })
                .await?;
            Ok(Json(if enabled {
                BatchResult::Enable { ids: batch.ids }
            } else {
                BatchResult::Disable { ids: batch.ids }
            }))
        }
        BatchAction::Reset => {
            let reset = state
                .with_store(move |store| Ok(store.reset_keys(&ids, false)?))
                .await?;
            let proxy = state.proxy();
            let catalog = proxy.catalog();
            for key in catalog.providers.iter().flat_map(|p| p.keys.iter()) {
                if reset.contains(&key.id) {
                    key.runtime.reset(proxy.clock.now_ms());
                }
            }
            Ok(Json(BatchResult::Reset { ids: reset }))
        }
        BatchAction::Delete => {
            let vault = state.vault().clone();
            let reload = state.clone();
            let leftovers = state
                .with_store(move |store| {
                    let deleted = store.delete_keys(&ids)?;
                    reload.reload_catalog(store);
                    Ok(deleted
                        .iter()
                        .filter(|k| k.secret_ref == SecretRef::Keyring.to_string())
                        .filter_map(|k| vault.remove(&k.id).err().map(|_| k.id.clone()))
                        .collect::<Vec<_>>())
                })
                .await?;
            Ok(Json(BatchResult::Delete {
                ids: batch.ids,
                keyring_entries_left: leftovers,
            }))
        }
    }
}

/// Tests the keys concurrently against the live catalog and applies what each test learned.
/// Keys the proxy cannot use (disabled, secret missing) get a report saying so; a key whose
/// keyring would not give its secret is read again first (the person may have unlocked it).
pub async fn run_tests(
    state: &AppState,
    ids: &[String],
    deep: bool,
) -> Result<Vec<TestReport>, ApiError> {
    let unavailable = state.proxy().registry.unavailable();
    if ids.iter().any(|id| unavailable.contains_key(id)) {
        crate::keyring_watch::retry_now(state).await;
    }
    let wanted = ids.to_vec();
    let rows = state
        .with_store(move |store| {
            wanted
                .iter()
                .map(|id| {
                    store
                        .get_key(id)?
                        .ok_or_else(|| ApiError::not_found(format!("no key with id {id:?}")))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let proxy = state.proxy();
    let catalog = proxy.catalog();
    let tests = rows.iter().map(|row| {
        let live = testable_key(&catalog, row);
        async move {
            match live {
                Some((provider, key)) => {
                    let (mut report, balance) = tokio::join!(
                        probe_live(proxy, &provider, &key, deep),
                        crate::balance::refresh_live(
                            proxy,
                            &provider,
                            &key,
                            row.low_balance.clone()
                        )
                    );
                    report.balance = Some(balance);
                    report
                }
                None => TestReport::unavailable(row),
            }
        }
    });
    let reports = futures_util::future::join_all(tests).await;
    // The answer (and a reload after it) shows what was saved, not what the writer will save
    // within its next batch.
    proxy.flush_writes().await;
    Ok(reports)
}
