//! The balance endpoints of the fake provider, in each provider's documented shape: DeepSeek
//! (`GET /user/balance`), Moonshot (`GET /v1/users/me/balance`), OpenRouter (`GET /v1/key`
//! under its `/api` base) and SiliconFlow (`GET /v1/user/info`). An unknown key gets 401; a
//! key without a balance set gets 404; the rest is told per key with
//! [`crate::fake_upstream::FakeUpstream::set_balance`].

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::fake_upstream::{Behaviour, Shared, note};

/// What a balance endpoint answers for a key.
#[derive(Debug, Clone, PartialEq)]
pub enum FakeBalance {
    /// This much left, in the shape of the endpoint asked.
    Amount(f64),
    /// OpenRouter's answer for a key without a credit limit (`limit: null`).
    Unlimited,
    /// An error status with a JSON error body.
    Status(u16),
    /// 200 with a body that is not JSON.
    NotJson,
}

type SharedState = Arc<Mutex<Shared>>;

pub(crate) fn routes() -> Router<SharedState> {
    Router::new()
        .route("/user/balance", get(deepseek))
        .route("/v1/users/me/balance", get(moonshot))
        .route("/v1/key", get(openrouter))
        .route("/v1/user/info", get(siliconflow))
}

/// The balance set for the caller's key, after recording the request; `Err` is the answer
/// for an unknown key, an error status or a non-JSON body.
fn lookup(
    shared: &SharedState,
    path: &str,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<FakeBalance, Box<Response>> {
    let (behaviour, _) = note(shared, path, uri, headers, &Bytes::new());
    if behaviour == Behaviour::Unauthorized {
        return Err(Box::new((
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": { "message": "Authentication Fails (no such key)", "type": "authentication_error" } })),
        )
            .into_response()));
    }
    let key = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let balance = shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .balances
        .get(&key)
        .cloned()
        .unwrap_or(FakeBalance::Status(404));
    match balance {
        FakeBalance::Status(status) => Err(Box::new((
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(
                json!({ "error": { "message": format!("fake balance error {status} for {key}") } }),
            ),
        )
            .into_response())),
        // A provider that echoes the key in a page that is not JSON.
        FakeBalance::NotJson => {
            Err(Box::new(
                (StatusCode::OK, format!("<html>balance for {key}</html>")).into_response(),
            ))
        }
        other => Ok(other),
    }
}

fn answer(body: Value) -> Response {
    axum::Json(body).into_response()
}

async fn deepseek(State(shared): State<SharedState>, uri: Uri, headers: HeaderMap) -> Response {
    match lookup(&shared, "/user/balance", &uri, &headers) {
        Ok(FakeBalance::Amount(left)) => answer(json!({
            "is_available": left > 0.0,
            "balance_infos": [{
                "currency": "CNY",
                "total_balance": format!("{left:.2}"),
                "granted_balance": "0.00",
                "topped_up_balance": format!("{left:.2}"),
            }]
        })),
        Ok(_) => answer(json!({ "is_available": true, "balance_infos": [] })),
        Err(response) => *response,
    }
}

async fn moonshot(State(shared): State<SharedState>, uri: Uri, headers: HeaderMap) -> Response {
    match lookup(&shared, "/v1/users/me/balance", &uri, &headers) {
        Ok(FakeBalance::Amount(left)) => answer(json!({
            "code": 0,
            "data": { "available_balance": left, "voucher_balance": 0.0, "cash_balance": left },
            "scode": "0x0",
            "status": true
        })),
        Ok(_) => answer(json!({ "code": 0, "data": {} })),
        Err(response) => *response,
    }
}

async fn openrouter(State(shared): State<SharedState>, uri: Uri, headers: HeaderMap) -> Response {
    match lookup(&shared, "/v1/key", &uri, &headers) {
        Ok(FakeBalance::Amount(left)) => answer(json!({ "data": {
            "label": "sk-or-v1-fak...000",
            "limit": 100.0,
            "limit_remaining": left,
            "limit_reset": "monthly",
            "usage": 100.0 - left,
            "is_free_tier": false,
        }})),
        Ok(_) => answer(json!({ "data": {
            "label": "sk-or-v1-fak...000", "limit": null, "limit_remaining": null, "usage": 3.25,
        }})),
        Err(response) => *response,
    }
}

async fn siliconflow(State(shared): State<SharedState>, uri: Uri, headers: HeaderMap) -> Response {
    match lookup(&shared, "/v1/user/info", &uri, &headers) {
        Ok(FakeBalance::Amount(left)) => answer(json!({
            "code": 20000, "message": "OK", "status": true,
            "data": { "id": "userid", "name": "fake", "balance": "0.00",
                "chargeBalance": format!("{left:.2}"), "totalBalance": format!("{left:.2}"),
                "status": "normal" }
        })),
        Ok(_) => answer(json!({ "code": 20000, "data": {} })),
        Err(response) => *response,
    }
}
