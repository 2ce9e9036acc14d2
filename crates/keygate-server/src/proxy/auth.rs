//! Inbound auth for the proxy: a local access token (`kg-…`) in `Authorization: Bearer`,
//! `x-api-key` or `x-goog-api-key`. Only SHA-256 hashes are held; the comparison runs over
//! every token in constant time per token. Inbound credentials are never forwarded upstream.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keygate_core::token::glob_matches;
use sha2::{Digest, Sha256};
use std::sync::Arc;

use super::catalog::LiveToken;
use super::openai_error::ProxyError;
use crate::AppState;

/// A proxy request as its handler needs it, taken apart without copies: the caller the
/// entry layer named, the headers, and the body the entry layer read.
pub struct ProxyRequest {
    pub caller: Caller,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The query string, passed on to tiers that speak the client's protocol (Claude Code's
    /// `?beta=true`), `key=` left out.
    pub query: Option<String>,
}

impl<S: Send + Sync> FromRequest<S> for ProxyRequest {
    type Rejection = Response;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let Some(caller) = parts.extensions.remove::<Caller>() else {
            return Err(ProxyError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal_error",
                "the request reached its handler without passing the access-token check",
            )
            .into_response());
        };
        // Already in memory: the entry layer read it within the limits.
        let body = axum::body::to_bytes(body, usize::MAX).await.map_err(|_| {
            ProxyError::invalid_request("body_unreadable", "the request body could not be read")
                .into_response()
        })?;
        let query = parts.uri.query().and_then(super::upstream::forwarded_query);
        Ok(Self {
            caller,
            headers: parts.headers,
            body,
            query,
        })
    }
}

/// The caller, as its token names it. Put into request extensions for handlers; the finished
/// request's cost counts against the token's budgets.
#[derive(Clone)]
pub struct Caller {
    pub token: Arc<LiveToken>,
}

impl Caller {
    pub fn token_name(&self) -> &str {
        &self.token.name
    }

    /// The model globs the token may use; empty means every model.
    pub fn models(&self) -> &[String] {
        &self.token.models
    }

    pub fn may_use(&self, model: &str) -> bool {
        let models = self.models();
        models.is_empty() || models.iter().any(|glob| glob_matches(glob, model))
    }

    /// Whether the token may have `model` served by `provider`: a glob may name the model or
    /// `provider/model`.
    pub fn may_serve(&self, provider: &str, model: &str) -> bool {
        let models = self.models();
        models.is_empty()
            || models.iter().any(|glob| {
                glob_matches(glob, model)
                    || glob.contains('/') && glob_matches(glob, &format!("{provider}/{model}"))
            })
    }

    /// The 403 for a request outside the token's model scope, naming the scope.
    pub fn out_of_scope(&self, what: &str) -> ProxyError {
        ProxyError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "model_not_allowed",
            format!(
                "the access token {:?} is limited to the models {}, and {what}",
                self.token_name(),
                self.models().join(", ")
            ),
        )
    }
}

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const X_GOOG_API_KEY: HeaderName = HeaderName::from_static("x-goog-api-key");

pub fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    bearer
        .or_else(|| headers.get(&X_API_KEY).and_then(|v| v.to_str().ok()))
        .or_else(|| headers.get(&X_GOOG_API_KEY).and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The caller named by the request's access token, or the error to answer with. `query_key`
/// is a token given as `?key=` (the Gemini API's own way), taken when no header has one.
pub fn caller(
    state: &AppState,
    headers: &HeaderMap,
    query_key: Option<&str>,
) -> Result<Caller, ProxyError> {
    let Some(token) = presented_token(headers).or(query_key) else {
        return Err(ProxyError::unauthorized(
            "missing KeyGate access token: send `Authorization: Bearer kg-…` or `x-api-key: kg-…` (create one with `keygate token create NAME`)",
        ));
    };
    let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let catalog = state.proxy().catalog();
    let mut found = None;
    for t in &catalog.tokens {
        let diff = t
            .hash
            .iter()
            .zip(presented.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 {
            found = Some(t);
        }
    }
    let Some(token) = found else {
        return Err(ProxyError::unauthorized(
            "invalid KeyGate access token (revoked, mistyped, or not a kg- token)",
        ));
    };
    if token.expires_at.is_some_and(|at| at <= chrono::Utc::now()) {
        return Err(ProxyError::unauthorized(format!(
            "the KeyGate access token {:?} has expired",
            token.name
        )));
    }
    if !token.budgets.is_empty() {
        let now_ms = state.proxy().clock.now_ms();
        if token.budget.blocked(now_ms) {
            return Err(over_budget(token, now_ms));
        }
    }
    Ok(Caller {
        token: token.clone(),
    })
}

/// The 429 for a token whose budget is spent: which budget, and when it resets.
fn over_budget(token: &LiveToken, now_ms: u64) -> ProxyError {
    let now_s = chrono::Utc::now().timestamp();
    let spent = token.budget.meter.spent(&token.budgets, now_s);
    let what = spent.map_or("budget", |(kind, _)| kind.describe());
    let left_s = spent.map_or_else(
        || token.budget.blocked_until_ms().saturating_sub(now_ms) / 1000,
        |(_, left)| u64::try_from(left).unwrap_or(0),
    );
    let resets = chrono::DateTime::from_timestamp(now_s + i64::try_from(left_s).unwrap_or(0), 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    let mut err = ProxyError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_error",
        "token_budget_exceeded",
        format!(
            "the access token {:?} has used its {what}; it is refused until the period resets at {resets} (raise it with `keygate token budget {}`)",
            token.name, token.name
        ),
    );
    err.retry_after_secs = Some(left_s.max(1));
    err
}
