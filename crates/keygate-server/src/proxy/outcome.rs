//! Applying an attempt's classification to the key's and provider's live state, and handing
//! the resulting health to a background writer (the request path never touches the database).

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use keygate_core::events::EventKind;
use keygate_core::failure::{Decision, KeyEffect, ProviderEffect};
use keygate_core::health::{HealthReason, HealthState};
use keygate_core::health_machine::Signal;
use keygate_store::HealthUpdate;

use super::catalog::{LiveKey, LiveProvider};
use super::state::{ProxyState, WriteOp};
use crate::events::Event;

/// Keys of one provider that all got a 429 within this window mean the provider (or the
/// caller's IP) is limited, not the keys.
const POOL_WIDE_429_WINDOW_MS: u64 = 10_000;
/// How often a steadily healthy key's health row is refreshed.
const HEALTHY_REFRESH_MS: u64 = 1_000;

/// What one attempt came to, as the key's and provider's live state take it.
pub struct Attempted<'a> {
    pub decision: &'a Decision,
    /// The upstream's status, if it answered.
    pub status: Option<u16>,
    /// The upstream's error text (scrubbed before it is stored).
    pub error: Option<String>,
    pub took: Duration,
}

/// Applies one attempt's outcome; a key whose health changes because of it is announced on
/// the event bus.
pub fn record(proxy: &ProxyState, provider: &LiveProvider, key: &LiveKey, attempt: Attempted<'_>) {
    let before = key.runtime.health(proxy.clock.now_ms());
    apply(proxy, provider, key, attempt);
    let after = key.runtime.health(proxy.clock.now_ms());
    proxy.announce_change(key, &provider.name, before, after);
}

fn apply(proxy: &ProxyState, provider: &LiveProvider, key: &LiveKey, attempt: Attempted<'_>) {
    let Attempted {
        decision,
        status,
        error,
        took: latency,
    } = attempt;
    let now = proxy.clock.now_ms();
    let rt = &key.runtime;
    rt.uses.fetch_add(1, Ordering::Relaxed);
    // A key out of credit soon is otherwise healthy: its successes are not written each time.
    let was_healthy = matches!(
        rt.health(now),
        (HealthState::Healthy, None) | (HealthState::Degraded, Some(HealthReason::Credit))
    );
    let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    rt.apply_effect(decision.key, latency_us, now);
    let mut blame_key = decision.key != KeyEffect::Nothing;
    if let KeyEffect::Cool(wait) = decision.key
        && pool_wide_rate_limit(provider, now)
    {
        let until = now + u64::try_from(wait.as_millis()).unwrap_or(u64::MAX / 2);
        let resume = provider
            .keys
            .iter()
            .map(|k| k.runtime.snapshot().cooling_until_ms)
            .min()
            .unwrap_or(until);
        provider
            .runtime
            .paused_until_ms
            .store(resume, Ordering::Relaxed);
        blame_key = false;
        tracing::warn!(provider = %provider.name, "every key got 429 at once: provider paused, keys not blamed");
        let mut event = Event::new(
            EventKind::ProviderPaused,
            format!(
                "every key of {} was rate limited at once: the provider rests for {} s, no key is blamed",
                provider.name,
                resume.saturating_sub(now).div_ceil(1000)
            ),
        );
        event.provider = Some(provider.name.clone());
        proxy.emit(event);
        // The pause covers every key; take back the cooldowns (and the yellow marks) that the
        // earlier 429s of this burst put on individual keys.
        for other in &provider.keys {
            other.runtime.signal(Signal::WithdrawCooling, now);
            if other.id != key.id {
                send_health(proxy, other, None, None, false, now);
            }
        }
    }
    // The first success after a pool-wide pause announces the provider's return.
    if decision.provider == ProviderEffect::Success
        && provider.runtime.paused_until_ms.load(Ordering::Relaxed) != 0
        && provider.runtime.paused_until_ms.swap(0, Ordering::Relaxed) != 0
    {
        let mut event = Event::new(
            EventKind::ProviderResumed,
            format!("{} answers again after its rate-limit pause", provider.name),
        );
        event.provider = Some(provider.name.clone());
        proxy.emit(event);
    }
    if let Ok(mut breaker) = provider.runtime.breaker.lock() {
        match decision.provider {
            ProviderEffect::Success => breaker.on_success(),
            ProviderEffect::Fault => breaker.on_fault(now),
            ProviderEffect::Nothing | ProviderEffect::RateLimited => breaker.on_neutral(),
        }
    }
    if !blame_key && decision.key != KeyEffect::Reset {
        return;
    }
    // A healthy key that stays healthy needs its "last success" refreshed, not one database
    // write per request.
    let saved = rt.health_saved_ms.load(Ordering::Relaxed);
    if decision.key == KeyEffect::Reset
        && was_healthy
        && saved != 0
        && now.saturating_sub(saved) < HEALTHY_REFRESH_MS
    {
        return;
    }
    rt.health_saved_ms.store(now.max(1), Ordering::Relaxed);
    send_health(
        proxy,
        key,
        status,
        error,
        decision.key == KeyEffect::Reset,
        now,
    );
}

/// Queues the key's current health for the background writer.
fn send_health(
    proxy: &ProxyState,
    key: &LiveKey,
    status: Option<u16>,
    error: Option<String>,
    success: bool,
    now: u64,
) {
    let update = health_update(key, status, error, success, now);
    let _ = proxy.writer_tx.send(WriteOp::Health(update));
}

/// The key's current live health as a row for the store; `error` is scrubbed here of every
/// secret of the key's provider and anything else shaped like a key.
pub fn health_update(
    key: &LiveKey,
    status: Option<u16>,
    error: Option<String>,
    success: bool,
    now: u64,
) -> HealthUpdate {
    let rt = &key.runtime;
    let (state, reason) = rt.health(now);
    let wall = |ms_from_now: u64| {
        (Utc::now()
            + chrono::Duration::milliseconds(i64::try_from(ms_from_now).unwrap_or(i64::MAX / 2)))
        .to_rfc3339_opts(SecondsFormat::Secs, true)
    };
    let health = rt.snapshot();
    let cooling = health.cooling_until_ms;
    let quarantined = health.benched_until_ms;
    HealthUpdate {
        key_id: key.id.clone(),
        state: state.as_str().to_string(),
        reason: reason.map(|r| r.as_str().to_string()),
        consecutive_errors: i64::from(health.consecutive_errors),
        consecutive_successes: i64::from(health.consecutive_successes),
        last_status: status.map(i64::from),
        last_error: error.map(|e| key.redactor.scrub_for_storage(&e)),
        at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        success,
        cooldown_until: (cooling > now).then(|| wall(cooling - now)),
        next_retry_at: (quarantined > now).then(|| wall(quarantined - now)),
    }
}

/// True when every key of the provider got a 429 within the window.
fn pool_wide_rate_limit(provider: &LiveProvider, now: u64) -> bool {
    provider.keys.len() > 1
        && provider.keys.iter().all(|k| {
            let at = k.runtime.snapshot().last_429_ms;
            at > 0 && now.saturating_sub(at) <= POOL_WIDE_429_WINDOW_MS
        })
}
