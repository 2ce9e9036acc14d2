//! The background health checker: a tokio task that probes every enabled key about once per
//! `interval_minutes`, spread over the interval (no thundering herd), re-probes unhealthy keys
//! with backoff (`retry_after_minutes`, ×5, ×15, ×60, capped at an hour) so they recover by
//! themselves, runs at most a few probes at once, and applies a new configuration at once.
//! Disabled keys are not in the catalog, so they are never probed. Provider balances are
//! fetched at most hourly per key, beside the probes (`crate::balance`).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use keygate_core::events::EventKind;
use keygate_core::health::HealthState;
use tokio::task::JoinHandle;

use keygate_core::health_machine::{Expiry, expiry};

use super::config::CheckerConfig;
use crate::events::Event;
use crate::proxy::state::ProxyState;

/// Probes in flight at once.
const CONCURRENCY: usize = 4;
/// The longest the checker sleeps without looking again.
const MAX_NAP: Duration = Duration::from_secs(30);
/// How often a key's provider balance is fetched.
const BALANCE_EVERY_MS: u64 = 3_600_000;

impl CheckerConfig {
    fn interval_ms(&self, scale: f64) -> u64 {
        scaled(u64::from(self.interval_minutes) * 60_000, scale)
    }

    /// The wait before the `n`-th re-probe of an unhealthy key.
    fn backoff_ms(&self, n: u32, scale: f64) -> u64 {
        const FACTORS: [u64; 4] = [1, 5, 15, 60];
        let base = u64::from(self.retry_after_minutes) * 60_000;
        let step = base * FACTORS[(n as usize).min(FACTORS.len() - 1)];
        scaled(step.min(3_600_000.max(base)), scale)
    }
}

/// `KEYGATE_HEALTH_TIME_SCALE` (default 1) shrinks the checker's minutes, for tests and demos.
pub fn time_scale() -> f64 {
    std::env::var("KEYGATE_HEALTH_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| *v > 0.0 && *v <= 1.0)
        .unwrap_or(1.0)
}

fn scaled(ms: u64, scale: f64) -> u64 {
    ((ms as f64) * scale).max(10.0) as u64
}

/// When each key is next due, and how many re-probes in a row found it unhealthy.
#[derive(Default)]
struct Schedule {
    next_ms: HashMap<String, u64>,
    failures: HashMap<String, u32>,
    /// When each key's balance is next fetched.
    balance_next_ms: HashMap<String, u64>,
    /// Keys whose coming expiry was announced in this run.
    warned: std::collections::HashSet<String>,
}

/// A key's first probe lands somewhere in the first interval, the same place every start.
fn spread(key_id: &str, interval_ms: u64) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    key_id.hash(&mut hasher);
    hasher.finish() % interval_ms.max(1)
}

/// `KEYGATE_HEALTH_CHECKER=off`: this engine runs no background checks, whatever the saved
/// configuration says (the Settings page shows so).
pub fn off_for_this_run() -> bool {
    std::env::var("KEYGATE_HEALTH_CHECKER").is_ok_and(|v| v == "off")
}

/// Starts the checker, unless `KEYGATE_HEALTH_CHECKER=off` says this run must not probe at
/// all (scripted runs and tests that count every upstream request).
pub fn spawn_checker(proxy: Weak<ProxyState>) -> Option<JoinHandle<()>> {
    if off_for_this_run() {
        tracing::info!(
            "background health checks are off for this run (KEYGATE_HEALTH_CHECKER=off)"
        );
        return None;
    }
    let strong = proxy.upgrade()?;
    let mut config_rx = strong.health_config.subscribe();
    let mut stopping = strong.stopping();
    drop(strong);
    let scale = time_scale();
    Some(tokio::spawn(async move {
        let mut schedule = Schedule::default();
        loop {
            if *stopping.borrow() {
                return;
            }
            let config = config_rx.borrow_and_update().clone();
            let nap = match proxy.upgrade() {
                Some(proxy) if config.enabled => round(&proxy, &config, scale, &mut schedule).await,
                Some(_) => MAX_NAP,
                None => return,
            };
            tokio::select! {
                () = tokio::time::sleep(nap) => {}
                changed = config_rx.changed() => {
                    if changed.is_err() { return; }
                    // New timing: every key is rescheduled from now.
                    schedule = Schedule::default();
                }
                _ = stopping.wait_for(|s| *s) => return,
            }
        }
    }))
}

/// Probes the keys that are due; returns how long to sleep until the next one is.
async fn round(
    proxy: &Arc<ProxyState>,
    config: &CheckerConfig,
    scale: f64,
    schedule: &mut Schedule,
) -> Duration {
    let interval = config.interval_ms(scale);
    let catalog = proxy.catalog();
    let now = proxy.clock.now_ms();
    let live: Vec<_> = catalog
        .providers
        .iter()
        .flat_map(|p| p.keys.iter().map(move |k| (p.clone(), k.clone())))
        .collect();
    schedule
        .next_ms
        .retain(|id, _| live.iter().any(|(_, k)| &k.id == id));
    schedule
        .balance_next_ms
        .retain(|id, _| live.iter().any(|(_, k)| &k.id == id));
    let wall = chrono::Utc::now().timestamp();
    for (provider, key) in &live {
        if let Expiry::Soon { days_left } = expiry(key.expires_at, wall)
            && schedule.warned.insert(key.id.clone())
        {
            let mut event = Event::new(
                EventKind::KeyExpiring,
                format!(
                    "key {:?} of {} expires in {days_left} day(s): replace it before it stops working",
                    key.label, provider.name
                ),
            );
            event.key_id = Some(key.id.clone());
            event.key_label = Some(key.label.clone());
            event.provider = Some(provider.name.clone());
            proxy.emit(event);
        }
    }
    let balance_every = scaled(BALANCE_EVERY_MS, scale);
    let balances_due: Vec<_> = live
        .iter()
        .filter(|(_, key)| !key.expired(wall))
        .filter(|(_, key)| {
            let next = schedule
                .balance_next_ms
                .entry(key.id.clone())
                .or_insert_with(|| now + spread(&key.id, interval));
            if now < *next {
                return false;
            }
            *next = now + balance_every;
            true
        })
        .cloned()
        .collect();
    let due: Vec<_> = live
        .into_iter()
        // An expired key is never used; probing it would only spend a request.
        .filter(|(_, key)| !key.expired(wall))
        .filter(|(_, key)| {
            let next = *schedule
                .next_ms
                .entry(key.id.clone())
                .or_insert_with(|| now + spread(&key.id, interval));
            now >= next
        })
        .collect();
    let results: Vec<_> = futures_util::stream::iter(due)
        .map(|(provider, key)| async move {
            let report = super::probe_live(proxy, &provider, &key, false).await;
            (key, report)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    futures_util::stream::iter(balances_due)
        .for_each_concurrent(CONCURRENCY, |(provider, key)| async move {
            crate::balance::refresh_live(proxy, &provider, &key, key.low_balance.clone()).await;
        })
        .await;
    let now = proxy.clock.now_ms();
    for (key, report) in results {
        let unhealthy = report.state == HealthState::Unhealthy;
        let next = if unhealthy {
            let n = schedule.failures.entry(key.id.clone()).or_insert(0);
            let wait = config.backoff_ms(*n, scale);
            *n += 1;
            now + wait
        } else {
            schedule.failures.remove(&key.id);
            now + interval
        };
        schedule.next_ms.insert(key.id.clone(), next);
    }
    let earliest = schedule
        .next_ms
        .values()
        .chain(schedule.balance_next_ms.values())
        .min()
        .copied()
        .unwrap_or(now + interval);
    Duration::from_millis(earliest.saturating_sub(now).max(10)).min(MAX_NAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped_and_config_is_validated() {
        let config = CheckerConfig::default();
        let minutes = |n| config.backoff_ms(n, 1.0) / 60_000;
        assert_eq!(
            [minutes(0), minutes(1), minutes(2), minutes(3), minutes(9)],
            [1, 5, 15, 60, 60]
        );
        assert_eq!(config.interval_ms(1.0), 300_000);
        assert_eq!(config.interval_ms(0.001), 300);
        assert!(config.problems().is_empty());
        let bad = CheckerConfig {
            interval_minutes: 0,
            max_error_count: 0,
            ..CheckerConfig::default()
        };
        assert_eq!(bad.problems().len(), 2);
    }

    #[test]
    fn first_probes_spread_over_the_interval() {
        let offsets: Vec<u64> = (0..50)
            .map(|i| spread(&format!("k_{i:010}"), 300_000))
            .collect();
        assert!(offsets.iter().all(|o| *o < 300_000));
        let early = offsets.iter().filter(|o| **o < 150_000).count();
        assert!(
            (10..=40).contains(&early),
            "not bunched: {early} of 50 in the first half"
        );
    }
}
