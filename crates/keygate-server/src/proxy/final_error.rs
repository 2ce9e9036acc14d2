//! The error a client gets when no attempt produced an answer to pass on: in the OpenAI schema,
//! naming every attempt, with a status that tells the client what to do.

use std::sync::atomic::Ordering;

use axum::http::StatusCode;
use keygate_core::failure::FailureClass;
use keygate_store::AttemptLog;

use super::openai_error::ProxyError;
use super::routing::Tier;
use super::state::ProxyState;

pub fn final_error(
    proxy: &ProxyState,
    tiers: &[Tier],
    attempts: &[AttemptLog],
    model: &str,
    tried_any_provider: bool,
) -> ProxyError {
    if !tried_any_provider {
        // A 4xx: the request cannot be served as it is, and a client must not retry it (a 5xx
        // made Codex try four times).
        return ProxyError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "protocol_not_supported",
            format!(
                "no provider that serves {model:?} offers this endpoint; route the model to one that does with `keygate route add`"
            ),
        );
    }
    if attempts.is_empty() {
        let now = proxy.clock.now_ms();
        let mut wait_ms = u64::MAX;
        let parts: Vec<String> = tiers
            .iter()
            .map(|t| {
                let p = &t.provider;
                let paused = p.runtime.paused_until_ms.load(Ordering::Relaxed);
                if now < paused {
                    wait_ms = wait_ms.min(paused - now);
                    return format!("{} is paused (every key was rate limited)", p.name);
                }
                let cooling: Vec<u64> = p
                    .keys
                    .iter()
                    .map(|k| k.runtime.snapshot().cooling_until_ms)
                    .filter(|&until| until > now)
                    .collect();
                if let Some(first) = cooling.iter().min() {
                    wait_ms = wait_ms.min(first - now);
                }
                let benched = p
                    .keys
                    .iter()
                    .filter(|k| k.runtime.quarantine_reason().is_some())
                    .count();
                if let (true, Some(problem)) = (p.keys.is_empty(), &p.keyring_problem) {
                    format!("{}: no key's secret can be read: {problem}", p.name)
                } else if p.keys.is_empty() {
                    format!("{} has no usable key", p.name)
                } else {
                    format!(
                        "{}: {} cooling, {} benched, circuit open or busy otherwise",
                        p.name,
                        cooling.len(),
                        benched
                    )
                }
            })
            .collect();
        let mut err = ProxyError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "no_key_available",
            format!(
                "KeyGate has no key available for {model:?} right now ({})",
                parts.join("; ")
            ),
        );
        if wait_ms != u64::MAX {
            err.retry_after_secs = Some(wait_ms.div_ceil(1000).max(1));
        }
        return err;
    }
    let tried: Vec<String> = attempts
        .iter()
        .map(|a| match a.status {
            Some(status) => format!("{}/{} → {} {}", a.provider, a.key_label, status, a.class),
            None => format!("{}/{} → {}", a.provider, a.key_label, a.class),
        })
        .collect();
    let message = format!(
        "KeyGate tried {} attempt(s) for {model:?} and none succeeded: {}",
        attempts.len(),
        tried.join("; ")
    );
    if attempts
        .iter()
        .all(|a| a.class == FailureClass::RateLimited.as_str())
    {
        let mut err = ProxyError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "rate_limit_exceeded",
            message,
        );
        err.retry_after_secs = Some(1);
        return err;
    }
    ProxyError::new(
        StatusCode::BAD_GATEWAY,
        "upstream_error",
        "upstream_failed",
        message,
    )
}
