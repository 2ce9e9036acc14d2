//! The key health state machine, pure: a key's health is a value, every signal (an answer of
//! proxied traffic as classified by [`crate::failure::classify`], a probe's result, a user's
//! reset) maps it to the next value, and the clock is a parameter. The proxy keeps the value
//! behind an atomic pointer, so the request path never takes a lock to read or change it.
//!
//! Rules (DESIGN §5): a success resets every counter and bench; auth and quota failures bench
//! the key at once (red), retried after 1 m, 5 m, 15 m, 1 h…; `max_errors` consecutive errors
//! (broken streams) make it red for a minute; a 429 cools it (yellow) until its reset; 5xx and
//! timeouts are the provider's fault and never reach the key; a bench expires into a trial, so a
//! key comes back by itself, and stays red until that trial or a probe succeeds.

use crate::health::{HealthReason, HealthState};

/// How long a key benched for the n-th time in a row waits before traffic may try it again.
pub const BENCH_BACKOFF_MS: [u64; 4] = [60_000, 300_000, 900_000, 3_600_000];
/// How long a key that hit the consecutive-error limit rests.
pub const ERRORS_REST_MS: u64 = 60_000;

/// A key's health at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyHealth {
    pub consecutive_errors: u32,
    pub consecutive_successes: u32,
    /// Why the key is benched (auth or quota), if it is.
    pub bench_reason: Option<HealthReason>,
    /// Until when the key is not tried (a bench, or a rest after too many errors).
    pub benched_until_ms: u64,
    /// Benches in a row, for the backoff.
    pub bench_count: u32,
    /// Until when a 429 cools the key.
    pub cooling_until_ms: u64,
    /// When the key last got a 429 (0: not recently), to notice pool-wide rate limits.
    pub last_429_ms: u64,
}

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A 2xx answer, a complete stream, or a successful probe.
    Success,
    /// A failure that counts against the key but does not bench it at once (a broken stream).
    Error,
    /// Auth or quota failure: benched now.
    Bench(HealthReason),
    /// A 429 until the given time.
    Cool { until_ms: u64 },
    /// The provider turned out to be rate limited as a whole: the 429 was not this key's.
    WithdrawCooling,
    /// The user reset the key.
    Reset,
}

impl KeyHealth {
    /// The health after `signal` at `now_ms`; `max_errors` is the consecutive-error limit.
    #[must_use]
    pub fn apply(&self, signal: Signal, now_ms: u64, max_errors: u32) -> Self {
        let mut next = self.clone();
        match signal {
            Signal::Success => {
                next = Self {
                    consecutive_successes: self.consecutive_successes.saturating_add(1),
                    ..Self::default()
                };
            }
            Signal::Error => {
                next.consecutive_successes = 0;
                next.consecutive_errors = self.consecutive_errors.saturating_add(1);
                if next.consecutive_errors >= max_errors {
                    next.benched_until_ms = next.benched_until_ms.max(now_ms + ERRORS_REST_MS);
                }
            }
            Signal::Bench(reason) => {
                next.consecutive_successes = 0;
                next.consecutive_errors = self.consecutive_errors.saturating_add(1);
                let step = (self.bench_count as usize).min(BENCH_BACKOFF_MS.len() - 1);
                next.bench_reason = Some(reason);
                next.benched_until_ms = now_ms + BENCH_BACKOFF_MS[step];
                next.bench_count = self.bench_count.saturating_add(1);
            }
            Signal::Cool { until_ms } => {
                next.cooling_until_ms = self.cooling_until_ms.max(until_ms);
                next.last_429_ms = now_ms.max(1);
            }
            Signal::WithdrawCooling => {
                next.cooling_until_ms = 0;
                next.last_429_ms = 0;
            }
            Signal::Reset => next = Self::default(),
        }
        next
    }

    /// Whether traffic may try the key at `now_ms`. A bench that has run out is a trial.
    pub fn available(&self, now_ms: u64, max_errors: u32) -> bool {
        let benched = (self.bench_reason.is_some() || self.consecutive_errors >= max_errors)
            && now_ms < self.benched_until_ms;
        !benched && now_ms >= self.cooling_until_ms
    }

    /// The state the UI shows, and why.
    pub fn state(&self, now_ms: u64, max_errors: u32) -> (HealthState, Option<HealthReason>) {
        if let Some(reason) = self.bench_reason {
            return (HealthState::Unhealthy, Some(reason));
        }
        if self.consecutive_errors >= max_errors {
            return (HealthState::Unhealthy, Some(HealthReason::Errors));
        }
        if now_ms < self.cooling_until_ms {
            return (HealthState::Degraded, Some(HealthReason::RateLimited));
        }
        if self.consecutive_errors > 0 {
            return (HealthState::Degraded, Some(HealthReason::Errors));
        }
        (HealthState::Healthy, None)
    }
}

/// Days before a key's expiry date when KeyGate starts warning.
pub const EXPIRY_WARNING_DAYS: i64 = 7;

/// Where a key stands against its expiry date (unix seconds, wall clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No date, or more than [`EXPIRY_WARNING_DAYS`] away.
    Valid,
    /// Expires within the warning window; `days_left` rounds up (0: later today).
    Soon { days_left: i64 },
    /// Past its date: red (`expired`), never used by the proxy.
    Expired,
}

pub fn expiry(expires_at: Option<i64>, now: i64) -> Expiry {
    let Some(at) = expires_at else {
        return Expiry::Valid;
    };
    if now >= at {
        return Expiry::Expired;
    }
    let left = at - now;
    if left <= EXPIRY_WARNING_DAYS * 86_400 {
        Expiry::Soon {
            days_left: left / 86_400,
        }
    } else {
        Expiry::Valid
    }
}

/// Reads an expiry given by a user: `YYYY-MM-DD` (the end of that day, UTC) or an RFC 3339
/// time; returns unix seconds. Years 1970 to 9999 only: stored times are RFC 3339 text that
/// must sort as it reads, which a year 10000 or a negative one would not.
pub fn parse_expiry(text: &str) -> Result<i64, String> {
    /// 9999-12-31T23:59:59Z.
    const LAST: i64 = 253_402_300_799;
    let text = text.trim();
    let at = if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let end = date
            .and_hms_opt(23, 59, 59)
            .ok_or_else(|| format!("invalid date {text:?}"))?;
        end.and_utc().timestamp()
    } else {
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.timestamp())
            .map_err(|_| {
                format!("invalid expiry {text:?}: write a date like 2026-12-31 or an RFC 3339 time")
            })?
    };
    if !(0..=LAST).contains(&at) {
        return Err(format!(
            "invalid expiry {text:?}: give a time between 1970 and 9999"
        ));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::{KeyEffect, UpstreamOutcome, classify};
    use std::time::Duration;

    const MAX: u32 = 5;
    const T0: u64 = 1_000_000;

    /// The signal proxied traffic sends for an upstream outcome (what the proxy does).
    fn traffic(outcome: UpstreamOutcome, now: u64) -> Option<Signal> {
        match classify(&outcome).key {
            KeyEffect::Reset => Some(Signal::Success),
            KeyEffect::Nothing => None,
            KeyEffect::Quarantine(reason) => Some(Signal::Bench(reason)),
            KeyEffect::Cool(wait) => Some(Signal::Cool {
                until_ms: now + u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            }),
            KeyEffect::CountError => Some(Signal::Error),
        }
    }

    fn answered(status: u16, code: Option<&str>) -> UpstreamOutcome {
        UpstreamOutcome::Answered {
            status,
            error_code: code.map(String::from),
            retry_after: Some(Duration::from_secs(30)),
        }
    }

    #[test]
    fn transient_5xx_and_timeouts_never_make_a_key_red() {
        let mut h = KeyHealth::default();
        for (i, outcome) in [
            answered(500, None),
            answered(503, None),
            UpstreamOutcome::Timeout,
            UpstreamOutcome::ConnectError,
            answered(502, None),
            answered(504, None),
            answered(529, None),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(signal) = traffic(outcome, T0 + i as u64) {
                h = h.apply(signal, T0 + i as u64, MAX);
            }
        }
        assert_eq!(h.state(T0 + 10, MAX), (HealthState::Healthy, None));
        assert!(h.available(T0 + 10, MAX));
    }

    #[test]
    fn a_401_makes_a_key_red_at_once_and_a_success_brings_it_back() {
        let signal = traffic(answered(401, Some("invalid_api_key")), T0).expect("signal");
        let red = KeyHealth::default().apply(signal, T0, MAX);
        assert_eq!(
            red.state(T0, MAX),
            (HealthState::Unhealthy, Some(HealthReason::Auth))
        );
        assert!(!red.available(T0 + 59_999, MAX));
        // The bench runs out into a trial, but the key stays red until something succeeds.
        assert!(red.available(T0 + 60_000, MAX));
        assert_eq!(red.state(T0 + 60_000, MAX).0, HealthState::Unhealthy);
        let green = red.apply(Signal::Success, T0 + 60_001, MAX);
        assert_eq!(green.state(T0 + 60_001, MAX), (HealthState::Healthy, None));
        assert_eq!(green.bench_count, 0, "the backoff starts over");
        assert_eq!(green.consecutive_successes, 1);
    }

    #[test]
    fn quota_and_payment_failures_bench_for_quota() {
        for outcome in [
            answered(402, None),
            answered(429, Some("insufficient_quota")),
        ] {
            let signal = traffic(outcome, T0).expect("signal");
            let h = KeyHealth::default().apply(signal, T0, MAX);
            assert_eq!(
                h.state(T0, MAX),
                (HealthState::Unhealthy, Some(HealthReason::Quota))
            );
        }
    }

    #[test]
    fn repeated_benches_back_off_1m_5m_15m_1h_and_stay_at_an_hour() {
        let mut h = KeyHealth::default();
        let mut now = T0;
        let mut waits = Vec::new();
        for _ in 0..6 {
            h = h.apply(Signal::Bench(HealthReason::Auth), now, MAX);
            waits.push((h.benched_until_ms - now) / 60_000);
            now = h.benched_until_ms;
        }
        assert_eq!(waits, [1, 5, 15, 60, 60, 60]);
    }

    #[test]
    fn a_429_cools_only_until_its_reset_and_can_be_withdrawn() {
        let signal = traffic(answered(429, Some("rate_limit_exceeded")), T0).expect("signal");
        let h = KeyHealth::default().apply(signal, T0, MAX);
        assert_eq!(
            h.state(T0, MAX),
            (HealthState::Degraded, Some(HealthReason::RateLimited))
        );
        assert!(!h.available(T0 + 29_999, MAX));
        assert!(h.available(T0 + 30_000, MAX));
        assert_eq!(h.state(T0 + 30_000, MAX), (HealthState::Healthy, None));
        let withdrawn = h.apply(Signal::WithdrawCooling, T0 + 1, MAX);
        assert!(withdrawn.available(T0 + 1, MAX));
        assert_eq!(withdrawn.last_429_ms, 0);
    }

    #[test]
    fn client_errors_change_nothing() {
        for status in [400, 404, 413, 422] {
            assert_eq!(traffic(answered(status, None), T0), None, "{status}");
        }
    }

    #[test]
    fn broken_streams_count_up_to_red_and_a_success_resets_the_count() {
        let mut h = KeyHealth::default();
        for i in 0..4 {
            h = h.apply(Signal::Error, T0 + i, MAX);
            assert_eq!(h.state(T0 + i, MAX).0, HealthState::Degraded);
            assert!(h.available(T0 + i, MAX));
        }
        let reset = h.apply(Signal::Success, T0 + 5, MAX);
        assert_eq!(reset.consecutive_errors, 0, "success resets the counter");
        h = h.apply(Signal::Error, T0 + 5, MAX);
        assert_eq!(
            h.state(T0 + 5, MAX),
            (HealthState::Unhealthy, Some(HealthReason::Errors))
        );
        assert!(!h.available(T0 + 5, MAX));
        assert!(
            h.available(T0 + 5 + ERRORS_REST_MS, MAX),
            "rests, then a trial"
        );
        // A lower limit set at run time applies to the same value.
        let two = KeyHealth::default()
            .apply(Signal::Error, T0, 2)
            .apply(Signal::Error, T0, 2);
        assert_eq!(two.state(T0, 2).0, HealthState::Unhealthy);
    }

    #[test]
    fn expiry_warns_seven_days_ahead_then_expires() {
        let at = parse_expiry("2026-12-31").expect("date");
        assert_eq!(
            chrono::DateTime::from_timestamp(at, 0)
                .expect("t")
                .to_rfc3339(),
            "2026-12-31T23:59:59+00:00"
        );
        assert_eq!(expiry(None, at), Expiry::Valid);
        assert_eq!(expiry(Some(at), at - 8 * 86_400), Expiry::Valid);
        assert_eq!(
            expiry(Some(at), at - 7 * 86_400),
            Expiry::Soon { days_left: 7 }
        );
        assert_eq!(expiry(Some(at), at - 3600), Expiry::Soon { days_left: 0 });
        assert_eq!(expiry(Some(at), at), Expiry::Expired);
        assert!(parse_expiry("2026-12-31T10:00:00+02:00").is_ok());
        assert!(parse_expiry("next tuesday").is_err());
        assert!(parse_expiry("+100000-01-01").is_err(), "a year past 9999");
        assert!(parse_expiry("1969-12-31T00:00:00Z").is_err());
    }

    #[test]
    fn reset_forgets_everything() {
        let h = KeyHealth::default()
            .apply(Signal::Bench(HealthReason::Quota), T0, MAX)
            .apply(Signal::Cool { until_ms: T0 + 5 }, T0, MAX)
            .apply(Signal::Reset, T0, MAX);
        assert_eq!(h, KeyHealth::default());
    }
}
