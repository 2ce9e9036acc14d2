//! Talking to the engine running for this KEYGATE_HOME (named in `engine.json`), so commands
//! whose effect belongs to live state (key tests, model sync) go through it instead of acting
//! behind its back.

use keygate_server::health::EngineInfo;
use keygate_server::{ADMIN_TOKEN_ACCOUNT, ADMIN_TOKEN_ENV};
use serde_json::Value;

use crate::context::Context;

/// POSTs `body` to the engine's admin API; `None` when no engine runs for this home or it
/// cannot be reached with the admin token (from the environment or the keyring).
pub async fn post(ctx: &Context, path: &str, body: &Value) -> Option<(reqwest::StatusCode, Value)> {
    let info = EngineInfo::read(&ctx.home)?;
    let token = match std::env::var(ADMIN_TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty())
    {
        Some(token) => token,
        None => ctx
            .vault
            .load(ADMIN_TOKEN_ACCOUNT)
            .ok()
            .flatten()?
            .expose()
            .clone(),
    };
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}{path}", info.port))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .ok()?;
    let status = response.status();
    Some((status, response.json().await.unwrap_or(Value::Null)))
}
