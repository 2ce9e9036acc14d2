//! Key tests and health probes, the pure half: what to ask each kind of provider, how to read
//! its model list and rate-limit headers, and the one-line hint a user sees for each outcome.
//! The HTTP half lives in the server crate.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::failure::FailureClass;
use crate::provider::ProviderKind;

/// The path (relative to the provider's base URL) that lists models without spending tokens.
pub fn models_path(kind: ProviderKind, azure_api_version: &str) -> String {
    match kind {
        ProviderKind::OpenAi | ProviderKind::Gemini => "/models".into(),
        ProviderKind::Anthropic => "/v1/models".into(),
        ProviderKind::Azure => format!("/openai/models?api-version={azure_api_version}"),
    }
}

/// Model ids from a model-list answer: OpenAI/Anthropic/Azure `data[].id`, Gemini
/// `models[].name` (without its `models/` prefix).
pub fn model_ids(answer: &Value) -> Vec<String> {
    if let Some(data) = answer.get("data").and_then(Value::as_array) {
        return data
            .iter()
            .filter_map(|m| m.get("id").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
    }
    answer
        .get("models")
        .and_then(Value::as_array)
        .map(|models| {
            models
                .iter()
                .filter_map(|m| m.get("name").and_then(Value::as_str))
                .map(|n| n.trim_start_matches("models/").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Rate-limit headroom a provider reported in its headers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Headroom {
    pub requests_limit: Option<u64>,
    pub requests_remaining: Option<u64>,
    pub tokens_limit: Option<u64>,
    pub tokens_remaining: Option<u64>,
    /// As the provider wrote it (`6m0s`, an RFC 3339 time, seconds).
    pub requests_reset: Option<String>,
}

impl Headroom {
    /// Reads OpenAI-style `x-ratelimit-*` and Anthropic's `anthropic-ratelimit-*` headers;
    /// `get` looks a header up by its lower-case name.
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<Self> {
        let number = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|n| get(n).and_then(|v| v.trim().parse::<u64>().ok()))
        };
        let headroom = Self {
            requests_limit: number([
                "x-ratelimit-limit-requests",
                "anthropic-ratelimit-requests-limit",
            ]),
            requests_remaining: number([
                "x-ratelimit-remaining-requests",
                "anthropic-ratelimit-requests-remaining",
            ]),
            tokens_limit: number([
                "x-ratelimit-limit-tokens",
                "anthropic-ratelimit-tokens-limit",
            ]),
            tokens_remaining: number([
                "x-ratelimit-remaining-tokens",
                "anthropic-ratelimit-tokens-remaining",
            ]),
            requests_reset: [
                "x-ratelimit-reset-requests",
                "anthropic-ratelimit-requests-reset",
            ]
            .iter()
            .find_map(|n| get(n).map(str::to_string)),
        };
        (headroom != Self::default()).then_some(headroom)
    }
}

/// What a user should make of a test's outcome, in a few words. `retry_at` is the local time
/// a rate limit ends (`14:05`), when known.
pub fn hint(class: FailureClass, status: Option<u16>, retry_at: Option<&str>) -> String {
    match class {
        FailureClass::Success => "working".into(),
        FailureClass::Auth => "key revoked or mistyped (the provider refused it)".into(),
        FailureClass::Quota => "out of credit: top up or raise the spending limit".into(),
        FailureClass::RateLimited => match retry_at {
            Some(at) => format!("rate limited until {at}"),
            None => "rate limited: wait a moment".into(),
        },
        FailureClass::ServerError | FailureClass::StreamBroken => {
            "provider down or overloaded: not the key's fault, try again later".into()
        }
        FailureClass::Timeout => "provider too slow to answer: not the key's fault".into(),
        FailureClass::Connect => {
            "network/proxy problem: cannot reach the provider (check the base URL and connection)"
                .into()
        }
        FailureClass::ClientError if status == Some(404) => {
            "the provider has no model list at this URL: check the provider's base URL".into()
        }
        FailureClass::ClientError => format!(
            "the provider rejected the test request (HTTP {}): check the provider's settings",
            status.map_or_else(|| "?".into(), |s| s.to_string())
        ),
    }
}

/// Whether a probe's outcome says anything about the key itself. A provider that is down or
/// unreachable cannot tell: the key's state stays as it was.
pub fn probe_is_conclusive(class: FailureClass) -> bool {
    matches!(
        class,
        FailureClass::Success
            | FailureClass::Auth
            | FailureClass::Quota
            | FailureClass::RateLimited
    )
}

/// The wait before the `n`-th re-probe of an unhealthy key (n = 0 for the first): 1 m, 5 m,
/// 15 m, then hourly.
pub fn reprobe_backoff(n: u32) -> Duration {
    const STEPS: [u64; 4] = [60, 300, 900, 3600];
    Duration::from_secs(STEPS[(n as usize).min(STEPS.len() - 1)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn model_lists_of_every_kind() {
        assert_eq!(
            model_ids(&json!({ "object": "list", "data": [{ "id": "gpt-4o" }, { "id": "o3" }] })),
            ["gpt-4o", "o3"]
        );
        assert_eq!(
            model_ids(&json!({ "models": [{ "name": "models/gemini-2.5-pro" }] })),
            ["gemini-2.5-pro"]
        );
        assert!(model_ids(&json!({ "nothing": true })).is_empty());
        assert_eq!(models_path(ProviderKind::Anthropic, "x"), "/v1/models");
        assert_eq!(
            models_path(ProviderKind::Azure, "2024-10-21"),
            "/openai/models?api-version=2024-10-21"
        );
    }

    #[test]
    fn headroom_from_openai_and_anthropic_headers() {
        let openai = [
            ("x-ratelimit-limit-requests", "500"),
            ("x-ratelimit-remaining-requests", "499"),
            ("x-ratelimit-remaining-tokens", "29000"),
            ("x-ratelimit-reset-requests", "120ms"),
        ];
        let get = |name: &str| openai.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let headroom = Headroom::from_headers(get).expect("headroom");
        assert_eq!(headroom.requests_limit, Some(500));
        assert_eq!(headroom.requests_remaining, Some(499));
        assert_eq!(headroom.tokens_remaining, Some(29000));
        assert_eq!(headroom.requests_reset.as_deref(), Some("120ms"));
        let anthropic = [("anthropic-ratelimit-requests-remaining", "49")];
        let get = |name: &str| anthropic.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        assert_eq!(
            Headroom::from_headers(get).and_then(|h| h.requests_remaining),
            Some(49)
        );
        assert_eq!(Headroom::from_headers(|_| None), None);
    }

    #[test]
    fn every_outcome_has_a_plain_hint() {
        assert_eq!(hint(FailureClass::Success, Some(200), None), "working");
        assert!(hint(FailureClass::Auth, Some(401), None).contains("revoked or mistyped"));
        assert!(hint(FailureClass::Quota, Some(402), None).contains("out of credit"));
        assert_eq!(
            hint(FailureClass::RateLimited, Some(429), Some("14:05")),
            "rate limited until 14:05"
        );
        assert!(hint(FailureClass::ServerError, Some(503), None).contains("provider down"));
        assert!(hint(FailureClass::Connect, None, None).contains("network/proxy problem"));
        assert!(hint(FailureClass::ClientError, Some(404), None).contains("base URL"));
        assert!(!probe_is_conclusive(FailureClass::ServerError));
        assert!(probe_is_conclusive(FailureClass::Auth));
        assert_eq!(reprobe_backoff(0), Duration::from_secs(60));
        assert_eq!(reprobe_backoff(9), Duration::from_secs(3600));
    }
}
