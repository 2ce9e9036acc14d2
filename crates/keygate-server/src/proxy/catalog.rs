//! The proxy's in-memory view of providers, keys and access tokens: built from the store and
//! the vault off the request path, swapped in atomically, read lock-free by every request.
//! Live counters (cooldowns, quarantines, errors, latency) survive reloads, keyed by key id.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use keygate_core::breaker::{BreakerConfig, CircuitBreaker};
use keygate_core::budget::{BudgetGate, Budgets};
use keygate_core::failure::KeyEffect;
use keygate_core::health::{HealthReason, HealthState};
use keygate_core::health_machine::{KeyHealth, Signal};
use keygate_core::key::KeyLimits;
use keygate_core::limits::Limiter;
use keygate_core::prices::PriceBook;
use keygate_core::provider::ProviderKind;
use keygate_core::redact::Redactor;
use keygate_core::select::Strategy;
use keygate_vault::Sensitive;

/// Milliseconds on the engine's monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A key's live state: its health (the pure machine's value, [`KeyHealth`], behind an atomic
/// pointer, replaced as a whole on every change) and counters. The request path never takes a
/// lock for a key.
#[derive(Debug, Default)]
pub struct KeyRuntime {
    health: ArcSwap<KeyHealth>,
    /// The consecutive-error limit in force, shared by the engine's keys.
    max_errors: ErrorLimit,
    pub uses: AtomicU64,
    pub latency_us: AtomicU64,
    /// When a success last reached the health writer (ms), to refresh steady keys sparingly.
    pub health_saved_ms: AtomicU64,
    /// Requests and tokens against the key's local limits (`--rpm`, `--tpm`, `--rpd`).
    pub limiter: Limiter,
    /// Remaining requests the provider last reported (`x-ratelimit-remaining-requests`,
    /// `anthropic-ratelimit-requests-remaining`), plus one; 0 when never reported.
    upstream_remaining: AtomicU64,
    /// Spend and tokens this day and month, against the key's budgets, and the block a
    /// spent one puts on the key.
    pub budget: BudgetGate,
    /// The provider balance was last seen at zero or below: yellow "out of credit soon".
    pub out_of_credit: std::sync::atomic::AtomicBool,
}

/// Consecutive errors that take a key out (DESIGN §5 default).
pub const MAX_CONSECUTIVE_ERRORS: u32 = 5;

/// The consecutive-error limit in force (the health checker's `max_error_count`), shared by
/// every key of one engine: the registry sets it, each key reads it with one atomic load.
#[derive(Debug, Clone)]
pub struct ErrorLimit(Arc<AtomicU32>);

impl Default for ErrorLimit {
    fn default() -> Self {
        Self(Arc::new(AtomicU32::new(MAX_CONSECUTIVE_ERRORS)))
    }
}

impl ErrorLimit {
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, n: u32) {
        self.0.store(n.max(1), Ordering::Relaxed);
    }
}

impl KeyRuntime {
    /// A key's state under the engine's consecutive-error limit.
    pub fn new(max_errors: ErrorLimit) -> Self {
        Self {
            max_errors,
            ..Self::default()
        }
    }

    /// Consecutive errors that take this key out.
    pub fn max_errors(&self) -> u32 {
        self.max_errors.get()
    }

    /// The key's health now (a consistent snapshot).
    pub fn snapshot(&self) -> Arc<KeyHealth> {
        self.health.load_full()
    }

    /// Moves the key's health by `signal` (compare-and-swap; concurrent signals all apply).
    pub fn signal(&self, signal: Signal, now_ms: u64) {
        let max = self.max_errors.get();
        self.health
            .rcu(|current| Arc::new(current.apply(signal, now_ms, max)));
    }

    /// Applies what the classification of an answer says to do to the key (proxied traffic and
    /// key tests alike).
    pub fn apply_effect(&self, effect: KeyEffect, latency_us: u64, now_ms: u64) {
        match effect {
            KeyEffect::Reset => self.on_success(latency_us, now_ms),
            KeyEffect::Nothing => {}
            KeyEffect::Quarantine(reason) => self.quarantine(reason, now_ms),
            KeyEffect::Cool(wait) => {
                let until = now_ms + u64::try_from(wait.as_millis()).unwrap_or(u64::MAX / 2);
                self.signal(Signal::Cool { until_ms: until }, now_ms);
            }
            KeyEffect::CountError => self.signal(Signal::Error, now_ms),
        }
    }

    /// Benches the key (auth or quota) with its backoff.
    pub fn quarantine(&self, reason: HealthReason, now_ms: u64) {
        self.signal(Signal::Bench(reason), now_ms);
    }

    pub fn quarantine_reason(&self) -> Option<HealthReason> {
        self.health.load().bench_reason
    }

    pub fn on_success(&self, latency_us: u64, now_ms: u64) {
        self.signal(Signal::Success, now_ms);
        // Exponentially weighted: new = old * 7/8 + sample / 8 (first sample taken as is).
        let old = self.latency_us.load(Ordering::Relaxed);
        let new = if old == 0 {
            latency_us.max(1)
        } else {
            (old * 7 + latency_us) / 8
        };
        self.latency_us.store(new.max(1), Ordering::Relaxed);
    }

    /// Reads the provider's remaining-requests header from an answer.
    pub fn note_rate_headers(&self, headers: &reqwest::header::HeaderMap) {
        use reqwest::header::HeaderName;
        // Constants: a `&str` name is parsed and validated on every lookup.
        const REMAINING: [HeaderName; 2] = [
            HeaderName::from_static("x-ratelimit-remaining-requests"),
            HeaderName::from_static("anthropic-ratelimit-requests-remaining"),
        ];
        let remaining = REMAINING
            .iter()
            .find_map(|name| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok());
        if let Some(remaining) = remaining {
            self.upstream_remaining
                .store(remaining.saturating_add(1), Ordering::Relaxed);
        }
    }

    /// Requests left before a limit, local or upstream (the smaller); `None` when unknown.
    pub fn headroom(&self, limits: &KeyLimits, now_ms: u64) -> Option<u64> {
        let upstream = self
            .upstream_remaining
            .load(Ordering::Relaxed)
            .checked_sub(1);
        match (self.limiter.headroom(limits, now_ms), upstream) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Forgets every failure, cooldown and quarantine (`key reset`).
    pub fn reset(&self, now_ms: u64) {
        self.signal(Signal::Reset, now_ms);
    }

    /// Whether the key may be tried at `now_ms`. A quarantine expires into a trial by traffic,
    /// so a key benched for a transient reason comes back by itself.
    pub fn available(&self, now_ms: u64) -> bool {
        self.health.load().available(now_ms, self.max_errors.get()) && !self.budget_blocked(now_ms)
    }

    /// The health state this runtime implies, for the store and the UI. A spent budget shows
    /// yellow unless something worse is wrong with the key.
    pub fn health(&self, now_ms: u64) -> (HealthState, Option<HealthReason>) {
        let state = self.health.load().state(now_ms, self.max_errors.get());
        if state.0 != HealthState::Unhealthy && self.budget_blocked(now_ms) {
            return (HealthState::Degraded, Some(HealthReason::Budget));
        }
        // Only a key that is otherwise well shows "out of credit soon"; errors say more.
        if matches!(state.0, HealthState::Healthy | HealthState::Unknown)
            && self.out_of_credit.load(Ordering::Relaxed)
        {
            return (HealthState::Degraded, Some(HealthReason::Credit));
        }
        state
    }

    pub fn budget_blocked(&self, now_ms: u64) -> bool {
        self.budget.blocked(now_ms)
    }

    /// Takes the key out (or lets it back in) by where its budgets stand at `now_s` (wall
    /// clock, unix seconds); `now_ms` is the engine clock. Returns whether it is blocked.
    pub fn apply_budgets(&self, limits: &KeyLimits, now_s: i64, now_ms: u64) -> bool {
        self.budget.apply(&limits.budgets(), now_s, now_ms)
    }
}

/// A provider's live state.
#[derive(Debug)]
pub struct ProviderRuntime {
    pub breaker: Mutex<CircuitBreaker>,
    /// Set when every key of the provider hit 429 at once: the provider rests, keys are not blamed.
    pub paused_until_ms: AtomicU64,
    pub rotation: AtomicU64,
}

impl Default for ProviderRuntime {
    fn default() -> Self {
        Self::new(BreakerConfig::default())
    }
}

impl ProviderRuntime {
    pub fn new(breaker: BreakerConfig) -> Self {
        Self {
            breaker: Mutex::new(CircuitBreaker::new(breaker)),
            paused_until_ms: AtomicU64::new(0),
            rotation: AtomicU64::new(0),
        }
    }
}

pub struct LiveKey {
    pub id: String,
    pub label: String,
    pub secret: Sensitive<String>,
    /// Finds the secrets of every key of this key's provider in what the upstream sends back
    /// (shared by the provider's keys).
    pub redactor: Arc<Redactor>,
    pub priority: i64,
    pub weight: u32,
    pub limits: KeyLimits,
    /// Unix seconds after which the key is never used.
    pub expires_at: Option<i64>,
    pub runtime: Arc<KeyRuntime>,
    /// When its provider balance counts as low (`10`, `3d`); read by balance checks only.
    pub low_balance: Option<String>,
}

impl LiveKey {
    /// Whether the key is past its expiry date at `now` (unix seconds).
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    /// Like [`LiveKey::expired`] for now; reads the wall clock only for keys with a date.
    pub fn expired_now(&self) -> bool {
        self.expires_at.is_some() && self.expired(chrono::Utc::now().timestamp())
    }
}

pub struct LiveProvider {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub headers: BTreeMap<String, String>,
    pub priority: i64,
    pub keys: Vec<Arc<LiveKey>>,
    pub runtime: Arc<ProviderRuntime>,
    /// The OpenAI-style endpoint URLs that do not depend on the model, parsed once here
    /// rather than on every request.
    pub endpoints: HashMap<&'static str, axum::http::Uri>,
    /// Why keys of this provider are missing from `keys`: the keyring would not give their
    /// secret (its reason, with the fix), for the 503 when no key is left.
    pub keyring_problem: Option<String>,
}

pub struct LiveToken {
    pub name: String,
    pub hash: [u8; 32],
    pub models: Vec<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub budgets: Budgets,
    /// The token's spend this day and month and its block, kept across catalog reloads.
    pub budget: Arc<BudgetGate>,
}

/// A model alias: the tiers that serve it, in order, and how each tier picks a key.
pub struct LiveRoute {
    pub tiers: Vec<(String, String)>,
    pub strategy: Strategy,
}

/// A consistent snapshot for request handling.
#[derive(Default)]
pub struct Catalog {
    pub providers: Vec<Arc<LiveProvider>>,
    pub tokens: Vec<Arc<LiveToken>>,
    pub routes: HashMap<String, LiveRoute>,
    /// The aliases with a `*` (`claude-*`), most specific first: a model no alias names
    /// exactly takes the first of these it matches.
    pub route_patterns: Vec<String>,
    /// Prices in force: the user's over the built-in list (shared with the writer).
    pub prices: Arc<PriceBook>,
}

impl Catalog {
    pub fn provider(&self, name: &str) -> Option<&Arc<LiveProvider>> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// The route for `model`: the alias that names it, else the most specific pattern.
    pub fn route(&self, model: &str) -> Option<&LiveRoute> {
        self.routes.get(model).or_else(|| {
            self.route_patterns
                .iter()
                .find(|pattern| keygate_core::token::glob_matches(pattern, model))
                .and_then(|pattern| self.routes.get(pattern))
        })
    }
}

/// The aliases of `routes` that are patterns, most specific (most literal characters) first,
/// then by name so the order is stable.
pub fn route_patterns(routes: &HashMap<String, LiveRoute>) -> Vec<String> {
    let mut patterns: Vec<String> = routes.keys().filter(|a| a.contains('*')).cloned().collect();
    patterns.sort_by(|a, b| {
        let literal = |s: &str| s.chars().filter(|&c| c != '*').count();
        literal(b).cmp(&literal(a)).then_with(|| a.cmp(b))
    });
    patterns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_is_the_smaller_of_the_local_limit_and_the_providers_report() {
        let runtime = KeyRuntime::default();
        let limits = KeyLimits {
            rpm: Some(10),
            ..KeyLimits::default()
        };
        assert_eq!(runtime.headroom(&KeyLimits::default(), 0), None);
        assert_eq!(runtime.headroom(&limits, 0), Some(10));
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "x-ratelimit-remaining-requests",
            "4".parse().expect("value"),
        );
        runtime.note_rate_headers(&headers);
        assert_eq!(runtime.headroom(&limits, 0), Some(4));
        assert_eq!(runtime.headroom(&KeyLimits::default(), 0), Some(4));
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "anthropic-ratelimit-requests-remaining",
            "0".parse().expect("value"),
        );
        runtime.note_rate_headers(&headers);
        assert_eq!(runtime.headroom(&limits, 0), Some(0));
    }
}
