//! One upstream attempt, shared by the OpenAI endpoints and the raw pass-through: sending with
//! the first-byte timeout and deadline, turning an answer into an [`UpstreamOutcome`], and
//! concluding it: classified, applied to the key's and provider's live state, logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, Uri, header};
use keygate_core::failure::{Decision, UpstreamOutcome, classify, parse_reset_duration};
use serde_json::Value;

use super::catalog::{LiveKey, LiveProvider};
use super::ledger::Ledger;
use super::outcome::{Attempted, record};
use super::state::ProxyState;
use super::upstream_client::{SendFailure, UpstreamResponse};

/// Sends a request upstream; resolves when the upstream's response headers arrive.
pub async fn send(
    proxy: &ProxyState,
    (method, uri): (Method, &Uri),
    headers: HeaderMap,
    body: Bytes,
    deadline: Instant,
) -> Result<UpstreamResponse, UpstreamOutcome> {
    let wait = proxy
        .settings()
        .first_byte_timeout
        .min(deadline.saturating_duration_since(Instant::now()));
    let request = proxy.upstream.send(method, uri, headers, body);
    match tokio::time::timeout(wait, request).await {
        Err(_) | Ok(Err(SendFailure::Timeout)) => Err(UpstreamOutcome::Timeout),
        Ok(Err(SendFailure::Connect)) => Err(UpstreamOutcome::ConnectError),
        Ok(Ok(response)) => Ok(response),
    }
}

/// The outcome of a complete (non-streamed) answer, and the upstream's error text if it failed.
pub fn answered(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> (UpstreamOutcome, Option<String>) {
    let failed = !status.is_success();
    let error_code = if failed { error_code(body) } else { None };
    let error_text =
        failed.then(|| error_message(body).unwrap_or_else(|| format!("HTTP {status}")));
    let outcome = UpstreamOutcome::Answered {
        status: status.as_u16(),
        error_code,
        retry_after: retry_hint(headers),
    };
    (outcome, error_text)
}

/// `error.code`, `error.type` or `error.status` from an upstream error body; Gemini's
/// `error.details[].reason` (`API_KEY_INVALID`) comes first, being the most specific.
fn error_code(body: &[u8]) -> Option<String> {
    let json: Value = serde_json::from_slice(body).ok()?;
    let error = json.get("error")?;
    let reason = error
        .get("details")
        .and_then(Value::as_array)
        .and_then(|details| details.iter().find_map(|d| d.get("reason")?.as_str()));
    if let Some(reason) = reason {
        return Some(reason.to_string());
    }
    ["code", "type", "status"]
        .iter()
        .find_map(|field| error.get(*field).and_then(Value::as_str))
        .map(str::to_string)
}

fn error_message(body: &[u8]) -> Option<String> {
    let json: Value = serde_json::from_slice(body).ok()?;
    json.pointer("/error/message")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// `Retry-After`, else the later of OpenAI's request and token reset hints.
pub fn retry_hint(headers: &HeaderMap) -> Option<Duration> {
    // Constants: a `&str` name is parsed and validated on every lookup.
    const RESET_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-reset-requests");
    const RESET_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-reset-tokens");
    let read = |name: &HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_reset_duration)
    };
    read(&header::RETRY_AFTER).or_else(|| {
        [read(&RESET_REQUESTS), read(&RESET_TOKENS)]
            .into_iter()
            .flatten()
            .max()
    })
}

/// One finished upstream attempt.
pub struct Tried {
    pub outcome: UpstreamOutcome,
    /// The upstream's status, if it answered.
    pub status: Option<u16>,
    /// The upstream's error text (scrubbed before it is stored).
    pub error: Option<String>,
    pub took: Duration,
}

impl Tried {
    /// An attempt that got no answer (a timeout, a refused connection): its class is its text.
    pub fn unanswered(outcome: UpstreamOutcome, took: Duration) -> Self {
        let error = Some(classify(&outcome).class.as_str().to_string());
        Self {
            outcome,
            status: None,
            error,
            took,
        }
    }
}

/// Classifies an attempt, applies it to the key's and provider's live state and logs it in
/// the request's ledger; returns what to do next.
pub fn conclude(
    proxy: &ProxyState,
    ledger: &mut Ledger,
    provider: &LiveProvider,
    key: &Arc<LiveKey>,
    tried: Tried,
) -> Decision {
    let decision = classify(&tried.outcome);
    ledger.attempt(provider, key, decision.class, tried.status, tried.took);
    record(
        proxy,
        provider,
        key,
        Attempted {
            decision: &decision,
            status: tried.status,
            error: tried.error,
            took: tried.took,
        },
    );
    decision
}
