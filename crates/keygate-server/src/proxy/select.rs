//! The order in which a provider's keys are tried now, a session's key first, and how long
//! until a key that is only cooling down may be tried again.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use keygate_core::select::{Candidate, Strategy, try_order};

use super::catalog::{LiveKey, LiveProvider};
use super::routing::Tier;
use super::state::ProxyState;
use super::sticky::{Session, key_tag};

/// Moves the key that last served `session` to the front, if it is among `keys` (available).
pub(super) fn prefer_session_key(proxy: &ProxyState, session: Session, keys: &mut [Arc<LiveKey>]) {
    let Some(tag) = proxy.sessions.key_of(session) else {
        return;
    };
    if let Some(at) = keys.iter().position(|k| key_tag(&k.id) == tag) {
        keys[..=at].rotate_right(1);
    }
}

/// How long until the first key of `tiers` that is only cooling down (429, or its provider
/// paused) may be tried again; `None` when no key is merely cooling.
pub(super) fn first_cool(proxy: &ProxyState, tiers: &[Tier]) -> Option<Duration> {
    let now = proxy.clock.now_ms();
    tiers
        .iter()
        .flat_map(|tier| {
            let paused = tier
                .provider
                .runtime
                .paused_until_ms
                .load(Ordering::Relaxed);
            tier.provider.keys.iter().filter_map(move |key| {
                let health = key.runtime.snapshot();
                let benched = health.bench_reason.is_some()
                    || health.consecutive_errors >= key.runtime.max_errors();
                let until = health.cooling_until_ms.max(paused);
                (!benched && until > now).then(|| until - now)
            })
        })
        .min()
        .map(Duration::from_millis)
}

/// The keys of a provider in the order to try them now (empty while the provider is paused).
pub(super) fn key_order(
    proxy: &ProxyState,
    provider: &LiveProvider,
    strategy: Strategy,
) -> Vec<Arc<LiveKey>> {
    let now = proxy.clock.now_ms();
    if now < provider.runtime.paused_until_ms.load(Ordering::Relaxed) {
        return Vec::new();
    }
    let candidates: Vec<Candidate> = provider
        .keys
        .iter()
        .map(|k| {
            let headroom = k.runtime.headroom(&k.limits, now);
            Candidate {
                priority: k.priority,
                weight: k.weight,
                // A key at its local limit (rpm/tpm/rpd) waits like a cooling one; an expired
                // key is never used.
                available: k.runtime.available(now)
                    && k.runtime.limiter.allows(&k.limits, now)
                    && !k.expired_now(),
                uses: k.runtime.uses.load(Ordering::Relaxed),
                latency_us: k.runtime.latency_us.load(Ordering::Relaxed),
                cost: 0,
                headroom,
            }
        })
        .collect();
    let rotation = provider.runtime.rotation.fetch_add(1, Ordering::Relaxed);
    try_order(
        strategy,
        &candidates,
        usize::try_from(rotation).unwrap_or(0),
        rand::random(),
    )
    .into_iter()
    .map(|i| provider.keys[i].clone())
    .collect()
}
