//! Adding keys through the admin API: `POST /api/keys` (one key, the secret in the body once;
//! the answer shows its fingerprint only) and `POST /api/keys/import` (a CSV or TOML text,
//! previewed with `dry_run`; one bad row and nothing is imported, every row error reported).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keygate_core::bounds::{check_priority, check_weight};
use keygate_core::fingerprint::fingerprint;
use keygate_core::health_machine::parse_expiry;
use keygate_core::import::{ImportError, parse_csv, parse_lines, parse_toml};
use keygate_core::key::{KeyLimits, validate_label, validate_tag};
use keygate_store::NewKey;
use keygate_vault::{SecretRef, Sensitive};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::keys::KeyView;
use crate::key_admin::{
    AddKeyError, PendingKey, default_label, new_key_id, plan_import, provider_to_create, store_keys,
};
use crate::{ApiError, AppState};

/// The body of `POST /api/keys`. `secret` is never echoed, logged or stored outside the keyring.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    /// A provider name, or a preset's (the provider is then created).
    provider: String,
    #[schema(value_type = String)]
    secret: Sensitive<String>,
    label: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    priority: i64,
    weight: Option<i64>,
    /// A date (the end of that day, UTC) or an RFC 3339 time.
    expires: Option<String>,
}

/// A 422 for a body that did not fit its type, naming the field but never quoting serde's
/// text: it can quote a value, and a misplaced value may be the secret.
fn secret_safe_rejection(
    code: &'static str,
    shape: &str,
    rejection: &axum::extract::rejection::JsonRejection,
) -> ApiError {
    let (field, _) = crate::error::rejected_field(rejection);
    let message = if field == "body" {
        format!("expected {shape} ({})", rejection.status())
    } else if field == "format" {
        "use csv, toml or lines".to_string()
    } else {
        "has the wrong type or is out of range".to_string()
    };
    ApiError::invalid(code, vec![(field, message)])
}

fn add_error(err: AddKeyError) -> ApiError {
    match err {
        AddKeyError::Store(e) => e.into(),
        AddKeyError::Vault(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "keyring_unavailable",
            format!("the key was not saved: {e}"),
        ),
        AddKeyError::SharedStore => ApiError::invalid(
            "invalid_key",
            vec![(
                "secret".into(),
                crate::key_admin::SHARED_STORE_SECRETS.to_string(),
            )],
        ),
    }
}

/// Saves a key: the secret goes to the keyring and is never sent back.
#[utoipa::path(post, path = "/api/keys", tag = "keys", operation_id = "createKey",
    request_body = NewKeyBody,
    responses(
        (status = 201, description = "the saved key", body = KeyView),
        (status = 422, description = "a field is wrong (`fields` names it)", body = crate::error::ErrorBody),
        (status = 503, description = "the keyring is unavailable; nothing was saved", body = crate::error::ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    body: Result<Json<NewKeyBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    // The rejection text can quote the body, and the body holds the secret: say only where.
    let Json(body) = body.map_err(|e| {
        secret_safe_rejection(
            "invalid_key",
            "{provider, secret, label?, tags?, priority?, weight?, expires?}",
            &e,
        )
    })?;
    let mut problems: Vec<(String, String)> = Vec::new();
    let secret = body.secret.expose().trim().to_string();
    if secret.is_empty() || secret.chars().any(char::is_whitespace) || secret.len() > 4096 {
        problems.push((
            "secret".into(),
            "paste the whole key: no spaces, not empty".into(),
        ));
    }
    if let Some(label) = &body.label
        && let Err(e) = validate_label(label)
    {
        problems.push(("label".into(), e));
    }
    for tag in &body.tags {
        if let Err(e) = validate_tag(tag) {
            problems.push(("tags".into(), e));
        }
    }
    let weight = body.weight.unwrap_or(1);
    if let Err(e) = check_weight(weight) {
        problems.push(("weight".into(), e));
    }
    if let Err(e) = check_priority(body.priority) {
        problems.push(("priority".into(), e));
    }
    let expires_at = match body.expires.as_deref().map(parse_expiry).transpose() {
        Ok(at) => at.and_then(|at| {
            chrono::DateTime::from_timestamp(at, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }),
        Err(e) => {
            problems.push(("expires".into(), e));
            None
        }
    };
    let vault = state.vault().clone();
    let reload = state.clone();
    let view = state
        .with_store(move |store| {
            let new_provider = provider_to_create(store, &body.provider).unwrap_or_else(|e| {
                problems.push(("provider".into(), e));
                None
            });
            if !problems.is_empty() {
                return Err(ApiError::invalid("invalid_key", problems));
            }
            let id = new_key_id();
            let label = match body.label {
                Some(label) => label,
                None => default_label(store, &body.provider)?,
            };
            let secret = Sensitive::new(secret);
            let key = NewKey {
                id: id.clone(),
                provider: body.provider.clone(),
                label,
                fingerprint: fingerprint(secret.expose()),
                secret_ref: SecretRef::Keyring.to_string(),
                tags: body.tags,
                priority: body.priority,
                weight,
                limits: KeyLimits::default(),
                expires_at,
            };
            let providers: Vec<_> = new_provider.into_iter().collect();
            store_keys(
                &vault,
                store,
                &providers,
                &[PendingKey {
                    key,
                    keyring_secret: Some(secret),
                }],
            )
            .map_err(add_error)?;
            reload.reload_catalog(store);
            store
                .get_key(&id)?
                .map(KeyView::from)
                .ok_or_else(|| ApiError::internal("the key vanished right after it was added"))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    Csv,
    Toml,
    /// One key per line, all for the body's `provider`.
    Lines,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    format: ImportFormat,
    #[schema(value_type = String)]
    text: Sensitive<String>,
    #[serde(default)]
    dry_run: bool,
    /// For `lines` (one key per line): the provider of every key.
    #[serde(default)]
    provider: Option<String>,
}

/// `POST /api/keys/import`: what an import did, or would do (`dry_run`).
#[derive(Serialize, ToSchema)]
pub struct ImportResult {
    dry_run: bool,
    /// The new keys' ids; empty on a dry run.
    imported: Vec<String>,
    keys: Vec<ImportedKey>,
    /// Providers the import creates (from presets).
    new_providers: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ImportedKey {
    line: usize,
    provider: String,
    label: String,
    fingerprint: String,
    tags: Vec<String>,
}

fn row_errors(errors: Vec<ImportError>) -> ApiError {
    let rows = errors
        .into_iter()
        .map(|e| (format!("line {}", e.line), e.message))
        .collect();
    let mut err = ApiError::invalid("invalid_import", rows);
    err.message = format!("nothing was imported: {}", err.message);
    err
}

/// Imports keys from CSV or TOML text (`dry_run` previews); one bad row and nothing is imported.
#[utoipa::path(post, path = "/api/keys/import", tag = "keys", operation_id = "importKeys",
    request_body = ImportBody,
    responses(
        (status = 200, description = "the keys imported (or that would be)", body = ImportResult),
        (status = 422, description = "rows at fault, as `fields` named `line N`", body = crate::error::ErrorBody),
        (status = 503, description = "the keyring is unavailable; nothing was saved", body = crate::error::ErrorBody),
    ))]
pub async fn import(
    State(state): State<AppState>,
    body: Result<Json<ImportBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ImportResult>, ApiError> {
    let Json(body) = body.map_err(|e| {
        secret_safe_rejection(
            "invalid_import",
            "{format: csv|toml|lines, text, provider? (for lines), dry_run?}",
            &e,
        )
    })?;
    // The engine's environment is not the caller's: no `${VAR}` expansion through the API.
    let no_env = |_: &str| None;
    let parsed = match body.format {
        ImportFormat::Csv => parse_csv("upload", body.text.expose(), &no_env),
        ImportFormat::Toml => parse_toml("upload", body.text.expose(), &no_env),
        ImportFormat::Lines => match body.provider.as_deref() {
            Some(provider) => parse_lines("upload", body.text.expose(), provider),
            None => {
                return Err(ApiError::invalid(
                    "invalid_import",
                    vec![(
                        "provider".into(),
                        "one key per line needs the keys' provider".into(),
                    )],
                ));
            }
        },
    };
    let rows = parsed.map_err(row_errors)?;
    let vault = state.vault().clone();
    let dry_run = body.dry_run;
    let reload = state.clone();
    state
        .with_store(move |store| {
            let plan = plan_import(store, &vault, "upload", &rows).map_err(row_errors)?;
            let keys: Vec<ImportedKey> = plan
                .pending
                .iter()
                .zip(&rows)
                .map(|(p, row)| ImportedKey {
                    line: row.line,
                    provider: p.key.provider.clone(),
                    label: p.key.label.clone(),
                    fingerprint: p.key.fingerprint.clone(),
                    tags: p.key.tags.clone(),
                })
                .collect();
            let new_providers: Vec<String> =
                plan.providers.iter().map(|p| p.name.clone()).collect();
            if dry_run {
                return Ok(Json(ImportResult {
                    dry_run: true,
                    imported: Vec::new(),
                    keys,
                    new_providers,
                }));
            }
            store_keys(&vault, store, &plan.providers, &plan.pending).map_err(add_error)?;
            reload.reload_catalog(store);
            let ids = plan.pending.iter().map(|p| p.key.id.clone()).collect();
            Ok(Json(ImportResult {
                dry_run: false,
                imported: ids,
                keys,
                new_providers,
            }))
        })
        .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    provider: String,
    #[schema(value_type = String)]
    secret: Sensitive<String>,
}

/// `POST /api/keys/check`: "Test before save" — tries a secret against a provider (existing or
/// preset) without storing anything; answers the same report as a key test.
#[utoipa::path(post, path = "/api/keys/check", tag = "keys", operation_id = "checkSecret",
    request_body = CheckBody,
    responses(
        (status = 200, description = "what the test found (`key_id` and `label` are empty)", body = crate::health::TestReport),
        (status = 422, description = "no secret, or an unknown provider", body = crate::error::ErrorBody),
    ))]
pub async fn check(
    State(state): State<AppState>,
    body: Result<Json<CheckBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<crate::health::TestReport>, ApiError> {
    let Json(body) =
        body.map_err(|e| secret_safe_rejection("invalid_check", "{provider, secret}", &e))?;
    if body.secret.expose().trim().is_empty() {
        return Err(ApiError::invalid(
            "invalid_check",
            vec![("secret".into(), "paste the key to test".into())],
        ));
    }
    let name = body.provider.clone();
    let provider = state
        .with_store(move |store| {
            if let Some(row) = store.get_provider(&name)? {
                return Ok(keygate_store::NewProvider {
                    name: row.name,
                    kind: row.kind,
                    base_url: row.base_url,
                    headers: row.headers,
                    priority: row.priority,
                });
            }
            match provider_to_create(store, &name) {
                Ok(Some(preset)) => Ok(preset),
                Ok(None) => Err(ApiError::internal("the provider vanished")),
                Err(e) => Err(ApiError::invalid(
                    "invalid_check",
                    vec![("provider".into(), e)],
                )),
            }
        })
        .await?;
    let secret = Sensitive::new(body.secret.expose().trim().to_string());
    let report = crate::health::check_secret(&state.proxy().client, provider, secret).await;
    Ok(Json(report))
}
