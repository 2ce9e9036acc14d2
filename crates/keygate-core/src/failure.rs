//! Failure classification: the one place that decides what an upstream answer means for the
//! key, the provider and the request (DESIGN §4). Pure: the caller passes what it saw.

use std::time::Duration;

use serde::Serialize;

use crate::health::HealthReason;

/// What an attempt against an upstream ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamOutcome {
    /// A complete answer: a non-streaming body, or a stream that ended with its terminal event.
    Answered {
        status: u16,
        /// `error.code` / `error.type` / `error.status` from the body, if it had one.
        error_code: Option<String>,
        /// From `Retry-After` or `x-ratelimit-reset-*`, when the answer gave one.
        retry_after: Option<Duration>,
    },
    /// No answer within the connect or first-byte timeout.
    Timeout,
    /// The connection could not be made or was reset before an answer.
    ConnectError,
    /// A 2xx stream that stopped before its terminal event.
    StreamBroken,
}

/// The class of an outcome, as logs and the UI name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    Success,
    ClientError,
    Auth,
    Quota,
    RateLimited,
    ServerError,
    Timeout,
    Connect,
    StreamBroken,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::ClientError => "client_error",
            Self::Auth => "auth",
            Self::Quota => "quota",
            Self::RateLimited => "rate_limited",
            Self::ServerError => "server_error",
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::StreamBroken => "stream_broken",
        }
    }
}

/// What happens to the key that made the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEffect {
    /// Success: consecutive error counters go back to zero.
    Reset,
    /// Not the key's fault: nothing changes.
    Nothing,
    /// The key is benched (red) and re-probed with backoff.
    Quarantine(HealthReason),
    /// The key rests until the given time has passed (yellow), then is used again.
    Cool(Duration),
    /// One more consecutive error; enough of them turn the key red.
    CountError,
}

/// What happens to the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderEffect {
    Success,
    Nothing,
    /// A fault of the provider's service: feeds its circuit breaker.
    Fault,
    /// A 429: if every key of the provider is limited at once, the provider is paused instead
    /// of the keys being blamed.
    RateLimited,
}

/// What happens to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestAction {
    /// Give the client this answer.
    Deliver,
    /// Try another key or tier, if attempts and time remain and no byte reached the client.
    FailOver,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub class: FailureClass,
    pub key: KeyEffect,
    pub provider: ProviderEffect,
    pub request: RequestAction,
}

/// How long a 429 cools a key when the answer says nothing about it.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);

/// Error codes that mean "out of credit" whatever the status (OpenAI sends some as 429).
const QUOTA_CODES: &[&str] = &[
    "insufficient_quota",
    "billing_hard_limit_reached",
    "billing_not_active",
    "insufficient_balance",
    "quota_exceeded",
    "payment_required",
];

pub fn classify(outcome: &UpstreamOutcome) -> Decision {
    use FailureClass as C;
    use KeyEffect as K;
    use ProviderEffect as P;
    use RequestAction as R;
    let decision = |class, key, provider, request| Decision {
        class,
        key,
        provider,
        request,
    };
    match outcome {
        UpstreamOutcome::Timeout => decision(C::Timeout, K::Nothing, P::Fault, R::FailOver),
        UpstreamOutcome::ConnectError => decision(C::Connect, K::Nothing, P::Fault, R::FailOver),
        UpstreamOutcome::StreamBroken => {
            decision(C::StreamBroken, K::CountError, P::Fault, R::Deliver)
        }
        UpstreamOutcome::Answered {
            status,
            error_code,
            retry_after,
        } => {
            let quota_code = error_code.as_deref().is_some_and(|code| {
                let code = code.to_ascii_lowercase();
                QUOTA_CODES.iter().any(|q| code.contains(q))
            });
            // Gemini answers a bad key with 400 and the reason API_KEY_INVALID.
            let bad_key_code = error_code
                .as_deref()
                .is_some_and(|code| code.eq_ignore_ascii_case("api_key_invalid"));
            match *status {
                200..=299 => decision(C::Success, K::Reset, P::Success, R::Deliver),
                400 if bad_key_code => decision(
                    C::Auth,
                    K::Quarantine(HealthReason::Auth),
                    P::Nothing,
                    R::FailOver,
                ),
                402 => decision(
                    C::Quota,
                    K::Quarantine(HealthReason::Quota),
                    P::Nothing,
                    R::FailOver,
                ),
                429 | 403 if quota_code => decision(
                    C::Quota,
                    K::Quarantine(HealthReason::Quota),
                    P::Nothing,
                    R::FailOver,
                ),
                401 | 403 => decision(
                    C::Auth,
                    K::Quarantine(HealthReason::Auth),
                    P::Nothing,
                    R::FailOver,
                ),
                429 => decision(
                    C::RateLimited,
                    K::Cool(retry_after.unwrap_or(DEFAULT_COOLDOWN)),
                    P::RateLimited,
                    R::FailOver,
                ),
                // The upstream timed out waiting for the request: transient, like a 5xx.
                408 => decision(C::Timeout, K::Nothing, P::Fault, R::FailOver),
                500..=599 => decision(C::ServerError, K::Nothing, P::Fault, R::FailOver),
                // 400, 404, 413, 422 and every other answer: the request's own fault, or
                // something another key would not change. Returned as is, nobody blamed.
                _ => decision(C::ClientError, K::Nothing, P::Nothing, R::Deliver),
            }
        }
    }
}

/// Whether a 400 says the request is longer than the model's context window, in any
/// provider's words: OpenAI's `context_length_exceeded` (and the "maximum context length"
/// message OpenAI-compatible servers copy), Anthropic's "prompt is too long", Gemini's "input
/// token count … exceeds the maximum".
pub fn is_context_overflow(status: u16, error_code: Option<&str>, message: Option<&str>) -> bool {
    if status != 400 {
        return false;
    }
    if error_code.is_some_and(|c| c.eq_ignore_ascii_case("context_length_exceeded")) {
        return true;
    }
    let Some(message) = message else {
        return false;
    };
    let message = message.to_ascii_lowercase();
    [
        "maximum context length",
        "context length exceeded",
        "prompt is too long",
        "exceed context limit",
        "exceeds the maximum number of tokens",
        "context window",
    ]
    .iter()
    .any(|phrase| message.contains(phrase))
}

/// Parses a rate-limit reset or retry hint: `Retry-After` seconds (`"20"`, `"1.5"`), or
/// OpenAI's durations (`"1s"`, `"6m0s"`, `"20ms"`, `"1h2m3.5s"`). HTTP dates are not accepted.
pub fn parse_reset_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(86_400.0)));
    }
    let mut total = 0.0_f64;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    let mut saw_unit = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = number.parse().ok()?;
        number.clear();
        let unit_seconds = match c {
            'h' => 3600.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0.001
            }
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
        total += value * unit_seconds;
        saw_unit = true;
    }
    if !number.is_empty() || !saw_unit {
        return None;
    }
    Some(Duration::from_secs_f64(total.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_overflows_are_recognised_in_every_providers_words() {
        assert!(is_context_overflow(
            400,
            Some("context_length_exceeded"),
            None
        ));
        assert!(is_context_overflow(
            400,
            Some("invalid_request_error"),
            Some("prompt is too long: 210000 tokens > 200000 maximum")
        ));
        assert!(is_context_overflow(
            400,
            Some("INVALID_ARGUMENT"),
            Some(
                "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
            )
        ));
        assert!(is_context_overflow(
            400,
            None,
            Some("This model's maximum context length is 65536 tokens.")
        ));
        assert!(!is_context_overflow(
            400,
            Some("invalid_request_error"),
            Some("messages: required")
        ));
        assert!(!is_context_overflow(
            413,
            Some("context_length_exceeded"),
            None
        ));
    }

    fn answered(status: u16, code: Option<&str>, retry: Option<u64>) -> UpstreamOutcome {
        UpstreamOutcome::Answered {
            status,
            error_code: code.map(String::from),
            retry_after: retry.map(Duration::from_secs),
        }
    }

    /// Every row of DESIGN §4's table, and the edge cases around it.
    #[test]
    fn classification_table() {
        use FailureClass as C;
        use KeyEffect as K;
        use ProviderEffect as P;
        use RequestAction as R;
        let rows: Vec<(UpstreamOutcome, C, K, P, R)> = vec![
            (
                answered(400, Some("API_KEY_INVALID"), None),
                C::Auth,
                K::Quarantine(HealthReason::Auth),
                P::Nothing,
                R::FailOver,
            ),
            (
                answered(200, None, None),
                C::Success,
                K::Reset,
                P::Success,
                R::Deliver,
            ),
            (
                answered(201, None, None),
                C::Success,
                K::Reset,
                P::Success,
                R::Deliver,
            ),
            (
                answered(400, Some("context_length_exceeded"), None),
                C::ClientError,
                K::Nothing,
                P::Nothing,
                R::Deliver,
            ),
            (
                answered(404, Some("model_not_found"), None),
                C::ClientError,
                K::Nothing,
                P::Nothing,
                R::Deliver,
            ),
            (
                answered(413, None, None),
                C::ClientError,
                K::Nothing,
                P::Nothing,
                R::Deliver,
            ),
            (
                answered(422, None, None),
                C::ClientError,
                K::Nothing,
                P::Nothing,
                R::Deliver,
            ),
            (
                answered(401, Some("invalid_api_key"), None),
                C::Auth,
                K::Quarantine(HealthReason::Auth),
                P::Nothing,
                R::FailOver,
            ),
            (
                answered(403, Some("permission_error"), None),
                C::Auth,
                K::Quarantine(HealthReason::Auth),
                P::Nothing,
                R::FailOver,
            ),
            (
                answered(402, None, None),
                C::Quota,
                K::Quarantine(HealthReason::Quota),
                P::Nothing,
                R::FailOver,
            ),
            (
                answered(429, Some("insufficient_quota"), None),
                C::Quota,
                K::Quarantine(HealthReason::Quota),
                P::Nothing,
                R::FailOver,
            ),
            (
                answered(403, Some("billing_not_active"), None),
                C::Quota,
                K::Quarantine(HealthReason::Quota),
                P::Nothing,
                R::FailOver,
            ),
            (
                answered(429, Some("rate_limit_exceeded"), Some(7)),
                C::RateLimited,
                K::Cool(Duration::from_secs(7)),
                P::RateLimited,
                R::FailOver,
            ),
            (
                answered(429, None, None),
                C::RateLimited,
                K::Cool(DEFAULT_COOLDOWN),
                P::RateLimited,
                R::FailOver,
            ),
            (
                answered(500, None, None),
                C::ServerError,
                K::Nothing,
                P::Fault,
                R::FailOver,
            ),
            (
                answered(503, None, None),
                C::ServerError,
                K::Nothing,
                P::Fault,
                R::FailOver,
            ),
            (
                answered(529, Some("overloaded_error"), None),
                C::ServerError,
                K::Nothing,
                P::Fault,
                R::FailOver,
            ),
            (
                answered(408, None, None),
                C::Timeout,
                K::Nothing,
                P::Fault,
                R::FailOver,
            ),
            (
                UpstreamOutcome::Timeout,
                C::Timeout,
                K::Nothing,
                P::Fault,
                R::FailOver,
            ),
            (
                UpstreamOutcome::ConnectError,
                C::Connect,
                K::Nothing,
                P::Fault,
                R::FailOver,
            ),
            (
                UpstreamOutcome::StreamBroken,
                C::StreamBroken,
                K::CountError,
                P::Fault,
                R::Deliver,
            ),
            (
                answered(409, None, None),
                C::ClientError,
                K::Nothing,
                P::Nothing,
                R::Deliver,
            ),
        ];
        for (outcome, class, key, provider, request) in rows {
            let d = classify(&outcome);
            assert_eq!(
                (d.class, d.key, d.provider, d.request),
                (class, key, provider, request),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn transient_faults_never_blame_the_key() {
        for outcome in [
            answered(500, None, None),
            answered(503, None, None),
            UpstreamOutcome::Timeout,
            UpstreamOutcome::ConnectError,
        ] {
            assert_eq!(classify(&outcome).key, KeyEffect::Nothing, "{outcome:?}");
        }
    }

    #[test]
    fn reset_durations_parse_in_every_documented_form() {
        assert_eq!(parse_reset_duration("20"), Some(Duration::from_secs(20)));
        assert_eq!(
            parse_reset_duration("1.5"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_reset_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_reset_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(
            parse_reset_duration("20ms"),
            Some(Duration::from_millis(20))
        );
        assert_eq!(
            parse_reset_duration("1h2m3.5s"),
            Some(Duration::from_millis(3_723_500))
        );
        assert_eq!(parse_reset_duration("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_reset_duration("5x"), None);
        assert_eq!(parse_reset_duration("12"), Some(Duration::from_secs(12)));
        assert_eq!(parse_reset_duration("-3"), None);
        assert_eq!(parse_reset_duration(""), None);
        assert_eq!(
            parse_reset_duration("99999999"),
            Some(Duration::from_secs(86_400)),
            "capped at a day"
        );
    }
}
