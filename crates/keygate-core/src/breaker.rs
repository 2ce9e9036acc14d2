//! A provider's circuit breaker: closed while the service answers, open (skipped) after a run
//! of faults, half-open to let one request test whether it is back. Pure: times are passed in
//! as milliseconds on any monotonic clock.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive faults (5xx, timeouts, connect errors) that open the breaker.
    pub failure_threshold: u32,
    /// How long the breaker stays open the first time; doubles on each failed trial.
    pub open_ms: u64,
    pub max_open_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self::probing_every(10_000)
    }
}

impl BreakerConfig {
    /// Opens after 5 consecutive faults and lets one trial through every `interval_ms` while
    /// open, without growing the interval: a provider that recovered serves again within about
    /// one interval, and a dead one costs one attempt per interval.
    pub fn probing_every(interval_ms: u64) -> Self {
        Self {
            failure_threshold: 5,
            open_ms: interval_ms,
            max_open_ms: interval_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: BreakerState,
    consecutive_faults: u32,
    open_until_ms: u64,
    current_open_ms: u64,
    trial_in_flight: bool,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: BreakerState::Closed,
            consecutive_faults: 0,
            open_until_ms: 0,
            current_open_ms: config.open_ms,
            trial_in_flight: false,
        }
    }

    /// The state at `now_ms` (an open breaker whose time is up reads as half-open).
    pub fn state(&self, now_ms: u64) -> BreakerState {
        match self.state {
            BreakerState::Open if now_ms >= self.open_until_ms => BreakerState::HalfOpen,
            state => state,
        }
    }

    /// Whether a request may go to this provider now. In half-open, only one trial at a time.
    pub fn try_acquire(&mut self, now_ms: u64) -> bool {
        match self.state(now_ms) {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => {
                self.state = BreakerState::HalfOpen;
                if self.trial_in_flight {
                    false
                } else {
                    self.trial_in_flight = true;
                    true
                }
            }
        }
    }

    pub fn on_success(&mut self) {
        self.state = BreakerState::Closed;
        self.consecutive_faults = 0;
        self.current_open_ms = self.config.open_ms;
        self.trial_in_flight = false;
    }

    pub fn on_fault(&mut self, now_ms: u64) {
        self.consecutive_faults = self.consecutive_faults.saturating_add(1);
        match self.state {
            BreakerState::HalfOpen => {
                self.current_open_ms = (self.current_open_ms * 2).min(self.config.max_open_ms);
                self.open(now_ms);
            }
            BreakerState::Closed if self.consecutive_faults >= self.config.failure_threshold => {
                self.open(now_ms)
            }
            _ => {}
        }
    }

    /// An answer that says nothing about the service's health (a 4xx): frees a trial slot.
    pub fn on_neutral(&mut self) {
        self.trial_in_flight = false;
    }

    /// Until when (ms) the breaker stays open; meaningful only while open.
    pub fn open_until_ms(&self) -> u64 {
        self.open_until_ms
    }

    fn open(&mut self, now_ms: u64) {
        self.state = BreakerState::Open;
        self.open_until_ms = now_ms + self.current_open_ms;
        self.trial_in_flight = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            failure_threshold: 3,
            open_ms: 1000,
            max_open_ms: 3000,
        })
    }

    #[test]
    fn opens_after_the_threshold_and_half_opens_after_the_wait() {
        let mut b = breaker();
        b.on_fault(0);
        b.on_fault(0);
        assert!(b.try_acquire(0), "still closed after two faults");
        b.on_fault(10);
        assert_eq!(b.state(10), BreakerState::Open);
        assert!(!b.try_acquire(500));
        assert_eq!(b.state(1010), BreakerState::HalfOpen);
        assert!(b.try_acquire(1010), "one trial");
        assert!(!b.try_acquire(1011), "only one trial at a time");
        b.on_success();
        assert_eq!(b.state(1012), BreakerState::Closed);
        assert!(b.try_acquire(1012));
    }

    #[test]
    fn a_failed_trial_reopens_for_longer_up_to_the_cap() {
        let mut b = breaker();
        (0..3).for_each(|_| b.on_fault(0));
        assert!(b.try_acquire(1000));
        b.on_fault(1000);
        assert_eq!(b.open_until_ms(), 3000, "doubled to 2 s");
        assert!(b.try_acquire(3000));
        b.on_fault(3000);
        assert_eq!(b.open_until_ms(), 6000, "capped at 3 s");
    }

    #[test]
    fn a_success_resets_the_fault_count() {
        let mut b = breaker();
        b.on_fault(0);
        b.on_fault(0);
        b.on_success();
        b.on_fault(0);
        b.on_fault(0);
        assert_eq!(b.state(0), BreakerState::Closed);
    }

    #[test]
    fn a_neutral_answer_frees_the_trial_slot() {
        let mut b = breaker();
        (0..3).for_each(|_| b.on_fault(0));
        assert!(b.try_acquire(1000));
        b.on_neutral();
        assert!(b.try_acquire(1001));
    }
}
