//! Testing one key: list the provider's models with it (no tokens spent), optionally send a
//! one-token completion (the only way to tell a key without credit from a good one), and turn
//! the answers into a report with a plain hint. Nothing here may return or log the secret.

use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use chrono::{Local, Utc};
use keygate_core::failure::{Decision, FailureClass, UpstreamOutcome, classify};
use keygate_core::health::{HealthReason, HealthState};
use keygate_core::probe::{Headroom, hint, model_ids, models_path, probe_is_conclusive};
use keygate_core::provider::ProviderKind;
use keygate_store::HealthUpdate;
use serde::Serialize;
use serde_json::{Value, json};

use crate::proxy::attempt::answered;
use crate::proxy::catalog::{Clock, LiveKey, LiveProvider};
use crate::proxy::outcome::health_update;
use crate::proxy::upstream::{azure_api_version, endpoint_url, native_headers, request_headers};

/// How a key test ended: the class of the provider's answer, or why the key could not be
/// tested at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum TestClass {
    Answered(FailureClass),
    Untested(Untested),
}

/// Why a key could not be tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Untested {
    Disabled,
    SecretMissing,
    SecretUnavailable,
}

impl TestClass {
    pub const DISABLED: Self = Self::Untested(Untested::Disabled);

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered(class) => class.as_str(),
            Self::Untested(Untested::Disabled) => "disabled",
            Self::Untested(Untested::SecretMissing) => "secret_missing",
            Self::Untested(Untested::SecretUnavailable) => "secret_unavailable",
        }
    }
}

impl From<FailureClass> for TestClass {
    fn from(class: FailureClass) -> Self {
        Self::Answered(class)
    }
}

/// What a key test found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestReport {
    pub key_id: String,
    pub label: String,
    pub provider: String,
    /// True when the key works.
    pub ok: bool,
    pub class: TestClass,
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub model_count: usize,
    /// The first models the key can see.
    pub models: Vec<String>,
    pub headroom: Option<Headroom>,
    /// Whether a one-token completion was sent as well.
    pub deep: bool,
    /// One plain sentence: what the result means for the person.
    pub hint: String,
    /// The key's health after the test.
    pub state: HealthState,
    pub reason: Option<HealthReason>,
    /// The upstream's own error text, scrubbed of anything key-shaped.
    pub error: Option<String>,
    /// When the test ran (RFC 3339).
    pub tested_at: String,
    /// The provider balance fetched with the test (`available: false` for a provider
    /// without a balance endpoint); `null` when the key could not be tested.
    pub balance: Option<keygate_store::BalanceRow>,
    /// What the classification says to do to the key (None: the key could not be tested).
    #[serde(skip)]
    decision: Option<Decision>,
}

const SHOWN_MODELS: usize = 20;

impl TestReport {
    /// The report as a line of the key's check history.
    pub fn check_row(&self) -> keygate_store::CheckRow {
        keygate_store::CheckRow {
            key_id: self.key_id.clone(),
            at: self.tested_at.clone(),
            class: self.class.as_str().to_string(),
            status: self.status,
            latency_ms: self.latency_ms,
            hint: self.hint.clone(),
        }
    }

    /// The report for a key the proxy cannot use at all: disabled, its keyring would not give
    /// the secret, or the secret is missing.
    pub fn unavailable(row: &keygate_store::KeyRow) -> Self {
        let mut error = None;
        let (class, hint, state, reason) = if !row.enabled {
            (
                TestClass::DISABLED,
                "the key is disabled: enable it to test it".to_string(),
                HealthState::Disabled,
                None,
            )
        } else if row.health.reason == Some(HealthReason::SecretUnavailable) {
            error = row.health.last_error.clone();
            (
                TestClass::Untested(Untested::SecretUnavailable),
                "the OS keyring would not give the key's secret (locked or not running): unlock it, then test again".to_string(),
                HealthState::Unhealthy,
                Some(HealthReason::SecretUnavailable),
            )
        } else {
            (
                TestClass::Untested(Untested::SecretMissing),
                "the key's secret is not in the OS keyring (or its environment variable is unset): add it again".to_string(),
                HealthState::Unhealthy,
                Some(HealthReason::SecretMissing),
            )
        };
        Self {
            key_id: row.id.clone(),
            label: row.label.clone(),
            provider: row.provider.clone(),
            ok: false,
            class,
            status: None,
            latency_ms: 0,
            model_count: 0,
            models: Vec::new(),
            headroom: None,
            deep: false,
            hint,
            state,
            reason,
            error,
            tested_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            balance: None,
            decision: None,
        }
    }
}

/// Tests `key` of `provider`. `deep` adds a one-token completion; it is also sent when the
/// model list succeeded for a key benched for quota, since listing models needs no credit.
pub async fn test_key(
    client: &reqwest::Client,
    provider: &LiveProvider,
    key: &LiveKey,
    deep: bool,
    timeout: Duration,
) -> TestReport {
    let started = Instant::now();
    let request = models_request(client, provider, key, timeout);
    let (mut decision, mut status, mut error, headers, body) = exchange(request, None).await;
    let mut class = decision.class;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let models = body
        .as_ref()
        .filter(|_| class == FailureClass::Success)
        .map(model_ids)
        .unwrap_or_default();
    let headroom = headers
        .as_ref()
        .and_then(|h| Headroom::from_headers(|name| h.get(name).and_then(|v| v.to_str().ok())));
    let mut retry_after = headers.as_ref().and_then(retry_hint);
    let benched_for_quota = key.runtime.quarantine_reason() == Some(HealthReason::Quota);
    let go_deep = class == FailureClass::Success && (deep || benched_for_quota);
    if go_deep && let Some(model) = pick_model(provider, &models) {
        let request = completion(client, provider, key, &model, timeout);
        let (d, s, e, h, _) = exchange(request, retry_after).await;
        // A completion the provider itself fails on says nothing new about the key.
        if probe_is_conclusive(d.class) {
            decision = d;
            class = d.class;
            status = s;
            error = e;
            retry_after = h.as_ref().and_then(retry_hint).or(retry_after);
        }
    }
    let retry_at = (class == FailureClass::RateLimited).then(|| {
        let wait = retry_after.unwrap_or(Duration::from_secs(60));
        (Local::now() + chrono::Duration::from_std(wait).unwrap_or_default())
            .format("%H:%M")
            .to_string()
    });
    TestReport {
        key_id: key.id.clone(),
        label: key.label.clone(),
        provider: provider.name.clone(),
        ok: class == FailureClass::Success,
        class: class.into(),
        status,
        latency_ms,
        model_count: models.len(),
        models: models.into_iter().take(SHOWN_MODELS).collect(),
        headroom,
        deep: go_deep,
        hint: hint(class, status, retry_at.as_deref()),
        state: HealthState::Unknown,
        reason: None,
        error: error.map(|e| key.redactor.scrub_for_storage(&e)),
        tested_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        balance: None,
        decision: Some(decision),
    }
}

/// The provider's model-list request with `key`.
fn models_request(
    client: &reqwest::Client,
    provider: &LiveProvider,
    key: &LiveKey,
    timeout: Duration,
) -> reqwest::RequestBuilder {
    let url = format!(
        "{}{}",
        provider.base_url.trim_end_matches('/'),
        models_path(provider.kind, azure_api_version(provider))
    );
    client
        .get(&url)
        .headers(native_headers(&HeaderMap::new(), provider, key))
        .timeout(timeout)
}

/// Every model `key` can see on `provider` (`keygate model sync`) with the prices the list
/// carries (OpenRouter's), or why not (scrubbed).
pub async fn fetch_models(
    client: &reqwest::Client,
    provider: &LiveProvider,
    key: &LiveKey,
    timeout: Duration,
) -> Result<ListedModels, String> {
    let (decision, status, error, _, body) =
        exchange(models_request(client, provider, key, timeout), None).await;
    match body {
        Some(body) if decision.class == FailureClass::Success => Ok(ListedModels {
            ids: model_ids(&body),
            prices: keygate_core::prices::listed_prices(&body),
        }),
        _ => Err(format!(
            "{} ({}){}",
            hint(decision.class, status, None),
            decision.class.as_str(),
            error
                .map(|e| format!(": {}", key.redactor.scrub_for_storage(&e)))
                .unwrap_or_default()
        )),
    }
}

/// A provider's model list: the ids, and the prices it carries (OpenRouter's `pricing`).
#[derive(Debug, Clone, Default)]
pub struct ListedModels {
    pub ids: Vec<String>,
    pub prices: Vec<(String, keygate_core::prices::Price)>,
}

/// Applies a test's outcome to the key's live state and fills in the resulting health; returns
/// the update to save, or `None` when the test could not tell (provider down, unreachable).
pub fn apply_report(
    report: &mut TestReport,
    key: &LiveKey,
    clock: &Clock,
    latency: Duration,
) -> Option<HealthUpdate> {
    let now = clock.now_ms();
    let conclusive = report
        .decision
        .is_some_and(|d| probe_is_conclusive(d.class));
    if conclusive && let Some(decision) = report.decision {
        let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        key.runtime.apply_effect(decision.key, latency_us, now);
    }
    let (state, reason) = key.runtime.health(now);
    report.state = state;
    report.reason = reason;
    conclusive.then(|| {
        health_update(
            key,
            report.status,
            report
                .error
                .clone()
                .or_else(|| (!report.ok).then(|| report.hint.clone())),
            report.ok,
            now,
        )
    })
}

type Exchange = (
    Decision,
    Option<u16>,
    Option<String>,
    Option<reqwest::header::HeaderMap>,
    Option<Value>,
);

/// Sends a request and classifies the answer like the proxy does; `retry_fallback` is the
/// reset hint to use when this answer carries none.
async fn exchange(request: reqwest::RequestBuilder, retry_fallback: Option<Duration>) -> Exchange {
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            let outcome = if e.is_timeout() {
                UpstreamOutcome::Timeout
            } else {
                UpstreamOutcome::ConnectError
            };
            return (classify(&outcome), None, None, None, None);
        }
    };
    let status = response.status();
    let headers = response.headers().clone();
    let Ok(body) = response.bytes().await else {
        let decision = classify(&UpstreamOutcome::Timeout);
        return (decision, Some(status.as_u16()), None, Some(headers), None);
    };
    let (mut outcome, error) = answered(status, &headers, &body);
    if let UpstreamOutcome::Answered { retry_after, .. } = &mut outcome {
        *retry_after = retry_after.or(retry_fallback);
    }
    let json = serde_json::from_slice(&body).ok();
    (
        classify(&outcome),
        Some(status.as_u16()),
        error,
        Some(headers),
        json,
    )
}

fn retry_hint(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    crate::proxy::attempt::retry_hint(headers)
}

/// A cheap chat model to spend one token on: one with a telling name, else the first listed.
fn pick_model(provider: &LiveProvider, models: &[String]) -> Option<String> {
    const CHEAP: [&str; 6] = ["mini", "flash", "haiku", "chat", "turbo", "small"];
    let chat_like = |m: &&String| {
        ![
            "embed",
            "whisper",
            "tts",
            "dall-e",
            "image",
            "moderation",
            "audio",
        ]
        .iter()
        .any(|bad| m.contains(bad))
    };
    models
        .iter()
        .filter(chat_like)
        .find(|m| CHEAP.iter().any(|c| m.contains(c)))
        .or_else(|| models.iter().find(chat_like))
        .cloned()
        .or_else(|| (provider.kind == ProviderKind::Azure).then(String::new))
        .filter(|m| !m.is_empty())
}

/// A one-token completion in the provider's own protocol.
fn completion(
    client: &reqwest::Client,
    provider: &LiveProvider,
    key: &LiveKey,
    model: &str,
    timeout: Duration,
) -> reqwest::RequestBuilder {
    let messages = json!([{ "role": "user", "content": "hi" }]);
    let (url, headers, body) = match provider.kind {
        ProviderKind::Anthropic => (
            format!("{}/v1/messages", provider.base_url.trim_end_matches('/')),
            native_headers(&HeaderMap::new(), provider, key),
            json!({ "model": model, "max_tokens": 1, "messages": messages }),
        ),
        _ => (
            endpoint_url(provider, "/chat/completions", model)
                .map(|u| u.to_string())
                .unwrap_or_default(),
            request_headers(&HeaderMap::new(), provider, key),
            json!({ "model": model, "max_tokens": 1, "messages": messages }),
        ),
    };
    client
        .post(url)
        .headers(headers)
        .header("content-type", "application/json")
        .body(body.to_string())
        .timeout(timeout)
}
