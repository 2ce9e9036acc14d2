//! The shapes of the admin API's answers that handlers build with `json!`, for the OpenAPI
//! document only: nothing constructs these types. Each mirrors the `json!` of the handler named
//! in its doc comment; change both together.

#![allow(
    dead_code,
    reason = "documentation types: the handlers answer `json!` values"
)]

use std::collections::BTreeMap;

use keygate_store::{CheckRow, Metrics, PriceRow, RequestRow, RouteRow, RouteTier, TokenRow};
use keygate_store::{Event as StoredEvent, UsageRow};
use serde::Serialize;
use utoipa::ToSchema;

use super::KeyView;
use super::keys::HealthView;
use crate::health::TestReport;
use crate::model_catalog::ModelEntry;
use crate::proxy::WriterHealth;

/// Every error: `{"error": {code, message, fields?}}` with a fitting status.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and `snake_case` (`not_found`, `invalid_key`, `unauthorized`, …).
    code: String,
    /// Fit to show a person.
    message: String,
    /// Per-field problems of a rejected request body (422), keyed by the body's field names.
    #[schema(required = false)]
    fields: BTreeMap<String, String>,
}

/// `GET /api/health`.
#[derive(Serialize, ToSchema)]
pub struct EngineHealth {
    /// `ok`.
    status: String,
    /// `keygate`: tells a KeyGate on its port from another program.
    service: String,
    version: String,
    /// The request-log writer: rows waiting, rows lost, its last error.
    writer: WriterHealth,
    /// True when this engine was started with `KEYGATE_HEALTH_CHECKER=off`: no background
    /// checks run, whatever the saved health-checker configuration says.
    health_checker_off_for_this_run: bool,
}

impl EngineHealth {
    pub fn now(writer: WriterHealth) -> Self {
        Self {
            status: "ok".into(),
            service: "keygate".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            writer,
            health_checker_off_for_this_run: crate::health::off_for_this_run(),
        }
    }
}

/// Where a key's expiry date stands.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryText {
    Valid,
    Soon,
    Expired,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    Csv,
    Toml,
    /// One key per line, all for the body's `provider`.
    Lines,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchAction {
    Test,
    Enable,
    Disable,
    Reset,
    Delete,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UsageGroupBy {
    Day,
    Hour,
    Provider,
    Model,
    Key,
    Token,
}

/// `keys::list`.
#[derive(Serialize, ToSchema)]
pub struct KeyList {
    keys: Vec<KeyView>,
}

/// `key_create::import`: `dry_run` on a preview, `imported` (the new ids) otherwise.
#[derive(Serialize, ToSchema)]
pub struct ImportResult {
    #[schema(required = false)]
    dry_run: bool,
    #[schema(required = false)]
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

/// `key_actions::batch`: what was done, by action.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum BatchResult {
    Tested(BatchTested),
    Switched(BatchSwitched),
    Reset(BatchReset),
    Deleted(BatchDeleted),
}

#[derive(Serialize, ToSchema)]
pub struct BatchTested {
    #[schema(inline)]
    action: TestAction,
    results: Vec<TestReport>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchSwitched {
    #[schema(inline)]
    action: SwitchAction,
    ids: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchReset {
    #[schema(inline)]
    action: ResetAction,
    /// The keys that were reset.
    ids: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchDeleted {
    #[schema(inline)]
    action: DeleteAction,
    ids: Vec<String>,
    /// Keys whose keyring entry could not be removed.
    keyring_entries_left: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum TestAction {
    Test,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum SwitchAction {
    Enable,
    Disable,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum ResetAction {
    Reset,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum DeleteAction {
    Delete,
}

/// `health::key_health`.
#[derive(Serialize, ToSchema)]
pub struct KeyHealthReport {
    key_id: String,
    label: String,
    health: HealthView,
    /// The newest checks and tests, newest first.
    checks: Vec<CheckRow>,
}

/// `health::recent_events`.
#[derive(Serialize, ToSchema)]
pub struct EventList {
    events: Vec<StoredEvent>,
}

/// `logs::list`.
#[derive(Serialize, ToSchema)]
pub struct RequestList {
    pub requests: Vec<RequestRow>,
    /// Send as `before` for the next (older) page; `null` on the last page.
    pub next: Option<String>,
    /// Whether rows are still on their way (the database was locked) or were lost.
    pub writer: WriterHealth,
}

/// `usage::usage` and `usage::cost`; costs in micro-dollars.
#[derive(Serialize, ToSchema)]
pub struct UsageReport {
    from: String,
    to: String,
    by: UsageGroupBy,
    rows: Vec<UsageRow>,
    total: UsageTotal,
}

#[derive(Serialize, ToSchema)]
pub struct UsageTotal {
    requests: u64,
    cost_micros: u64,
}

/// `usage::metrics`: one set of figures per window.
#[derive(Serialize, ToSchema)]
pub struct MetricsReport {
    #[serde(rename = "1h")]
    hour: Metrics,
    #[serde(rename = "24h")]
    day: Metrics,
    #[serde(rename = "7d")]
    week: Metrics,
}

/// `config::list_tokens`.
#[derive(Serialize, ToSchema)]
pub struct TokenList {
    tokens: Vec<TokenRow>,
}

/// `config::create_token`: `token` is shown this once and never again.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    name: String,
    token: String,
    models: Vec<String>,
    expires_at: Option<String>,
}

/// `config::revoke_token`.
#[derive(Serialize, ToSchema)]
pub struct RevokedToken {
    revoked: String,
}

/// `config::list_routes`.
#[derive(Serialize, ToSchema)]
pub struct RouteList {
    routes: Vec<RouteRow>,
}

/// `config::put_route`.
#[derive(Serialize, ToSchema)]
pub struct SavedRoute {
    alias: String,
    tiers: Vec<RouteTier>,
    strategy: String,
}

/// `config::delete_route`.
#[derive(Serialize, ToSchema)]
pub struct DeletedRoute {
    deleted: String,
}

/// `models::list`.
#[derive(Serialize, ToSchema)]
pub struct ModelList {
    models: Vec<ModelEntry>,
}

/// `ModelEntry`'s flattened `Option<ModelSpec>`: what the built-in catalog knows of the
/// model's limits and abilities, all of these fields or none.
#[derive(Serialize, ToSchema)]
pub struct ModelAbilities {
    /// Tokens of prompt plus answer the model can hold.
    #[schema(required = false)]
    context_window: u32,
    /// Most tokens one answer may have (0: the model does not generate text).
    #[schema(required = false)]
    max_output: u32,
    #[schema(required = false)]
    streaming: bool,
    #[schema(required = false)]
    tools: bool,
    #[schema(required = false)]
    vision: bool,
}

/// `models::set_price`.
#[derive(Serialize, ToSchema)]
pub struct SavedPrice {
    price: PriceRow,
}

/// `models::sync`.
#[derive(Serialize, ToSchema)]
pub struct SyncResult {
    provider: String,
    /// The key that listed the models.
    key: String,
    models: Vec<String>,
    /// Listed models KeyGate has no price for.
    unpriced: Vec<String>,
}
