//! Local rate limits per key (`--rpm`, `--tpm`, `--rpd`): counted in memory on the request
//! path with atomics only, as sliding windows approximated from the current and the previous
//! fixed window (the previous one weighted by how much of it still overlaps). The clock is a
//! parameter, so every rule here is tested without waiting.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::key::KeyLimits;

/// One sliding window of `span_ms`.
#[derive(Debug)]
pub struct Window {
    span_ms: u64,
    /// Index of the fixed window `current` counts (`now / span`).
    index: AtomicU64,
    current: AtomicU64,
    previous: AtomicU64,
}

impl Window {
    pub const fn new(span_ms: u64) -> Self {
        Self {
            span_ms,
            index: AtomicU64::new(0),
            current: AtomicU64::new(0),
            previous: AtomicU64::new(0),
        }
    }

    fn roll(&self, now_ms: u64) {
        let index = now_ms / self.span_ms;
        let seen = self.index.load(Ordering::Acquire);
        if index > seen
            && self
                .index
                .compare_exchange(seen, index, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            let finished = self.current.swap(0, Ordering::AcqRel);
            let previous = if index == seen + 1 { finished } else { 0 };
            self.previous.store(previous, Ordering::Release);
        }
    }

    pub fn add(&self, now_ms: u64, n: u64) {
        self.roll(now_ms);
        self.current.fetch_add(n, Ordering::AcqRel);
    }

    /// The estimated count over the last `span_ms`.
    pub fn used(&self, now_ms: u64) -> u64 {
        self.roll(now_ms);
        let into = now_ms % self.span_ms;
        let previous = self.previous.load(Ordering::Acquire);
        // Rounded up: a limit is better kept a moment too long than broken.
        let overlap = previous
            .saturating_mul(self.span_ms - into)
            .div_ceil(self.span_ms);
        overlap + self.current.load(Ordering::Acquire)
    }
}

const MINUTE_MS: u64 = 60_000;
const DAY_MS: u64 = 86_400_000;

/// A key's usage against its rate limits ([`KeyLimits`]: `None` is unlimited).
#[derive(Debug)]
pub struct Limiter {
    requests_minute: Window,
    tokens_minute: Window,
    requests_day: Window,
}

impl Default for Limiter {
    fn default() -> Self {
        Self {
            requests_minute: Window::new(MINUTE_MS),
            tokens_minute: Window::new(MINUTE_MS),
            requests_day: Window::new(DAY_MS),
        }
    }
}

impl Limiter {
    /// Counts one request sent upstream with this key.
    pub fn note_request(&self, now_ms: u64) {
        self.requests_minute.add(now_ms, 1);
        self.requests_day.add(now_ms, 1);
    }

    /// Counts tokens an answer used (known once the answer is complete).
    pub fn note_tokens(&self, now_ms: u64, tokens: u64) {
        self.tokens_minute.add(now_ms, tokens);
    }

    /// How many more requests the limits allow now (`None`: no request limit); 0 means the key
    /// must be skipped. A key over its token limit has no headroom either.
    pub fn headroom(&self, limits: &KeyLimits, now_ms: u64) -> Option<u64> {
        if let Some(tpm) = limits.tpm
            && self.tokens_minute.used(now_ms) >= u64::from(tpm)
        {
            return Some(0);
        }
        let left = |limit: Option<u32>, window: &Window| {
            limit.map(|l| u64::from(l).saturating_sub(window.used(now_ms)))
        };
        match (
            left(limits.rpm, &self.requests_minute),
            left(limits.rpd, &self.requests_day),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn allows(&self, limits: &KeyLimits, now_ms: u64) -> bool {
        let unlimited = limits.rpm.is_none() && limits.tpm.is_none() && limits.rpd.is_none();
        unlimited || self.headroom(limits, now_ms) != Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_000 * MINUTE_MS;

    #[test]
    fn rpm_allows_the_limit_then_skips_until_the_window_slides() {
        let limits = KeyLimits {
            rpm: Some(3),
            ..KeyLimits::default()
        };
        let limiter = Limiter::default();
        for i in 0..3 {
            assert!(limiter.allows(&limits, T0 + i));
            limiter.note_request(T0 + i);
        }
        assert!(!limiter.allows(&limits, T0 + 10));
        assert_eq!(limiter.headroom(&limits, T0 + 10), Some(0));
        // Half a minute into the next window, half of the previous window still counts.
        assert!(!limiter.allows(&limits, T0 + MINUTE_MS + 1));
        assert_eq!(
            limiter.headroom(&limits, T0 + MINUTE_MS + MINUTE_MS / 2),
            Some(1)
        );
        // Two windows later nothing counts.
        assert_eq!(limiter.headroom(&limits, T0 + 3 * MINUTE_MS), Some(3));
    }

    #[test]
    fn tokens_per_minute_take_a_key_out_until_they_age() {
        let limits = KeyLimits {
            tpm: Some(1000),
            ..KeyLimits::default()
        };
        let limiter = Limiter::default();
        limiter.note_tokens(T0, 600);
        assert!(limiter.allows(&limits, T0));
        limiter.note_tokens(T0 + 5, 600);
        assert!(!limiter.allows(&limits, T0 + 6));
        assert!(limiter.allows(&limits, T0 + 2 * MINUTE_MS + 1));
    }

    #[test]
    fn the_tighter_of_rpm_and_rpd_wins_and_unlimited_keys_always_pass() {
        let limiter = Limiter::default();
        for i in 0..5 {
            limiter.note_request(T0 + i);
        }
        let limits = KeyLimits {
            rpm: Some(100),
            rpd: Some(6),
            ..KeyLimits::default()
        };
        assert_eq!(limiter.headroom(&limits, T0 + 10), Some(1));
        assert!(limiter.allows(&KeyLimits::default(), T0 + 10));
        assert_eq!(limiter.headroom(&KeyLimits::default(), T0 + 10), None);
    }
}
