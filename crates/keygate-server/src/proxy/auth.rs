//! Inbound auth for the proxy: a local access token (`kg-…`) in `Authorization: Bearer`,
//! `x-api-key` or `x-goog-api-key`. Only SHA-256 hashes are held; the comparison runs over
//! every token in constant time per token. Inbound credentials are never forwarded upstream.

use axum::http::HeaderMap;
use keygate_core::token::glob_matches;
use sha2::{Digest, Sha256};

use super::openai_error::ProxyError;
use crate::AppState;

/// The caller, as its token names it. Put into request extensions for handlers.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_name: String,
    /// Empty means every model.
    pub models: Vec<String>,
}

impl Caller {
    pub fn may_use(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|glob| glob_matches(glob, model))
    }
}

pub fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .or_else(|| headers.get("x-goog-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The caller named by the request's access token, or the error to answer with.
pub fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ProxyError> {
    let Some(token) = presented_token(headers) else {
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
    Ok(Caller {
        token_name: token.name.clone(),
        models: token.models.clone(),
    })
}
