//! Budgets on the writer's side: each finished request's cost and tokens count against its
//! key's daily and monthly budgets; crossing 80 % raises one `budget_alert`, 100 % one
//! `budget_reached` and takes the key out (yellow "budget" state) until the period resets,
//! when `budget_reset` announces it back. The request path only reads the block flag.

use std::sync::Arc;

use keygate_core::budget::{BudgetKind, Crossing};
use keygate_core::events::EventKind;
use keygate_core::health::{HealthReason, HealthState};
use keygate_core::key::format_usd_micros;

use super::catalog::{Clock, LiveKey};
use super::outcome::health_update;
use super::state::ProxyState;
use super::state::WriteOp;
use crate::events::Event;

/// Keys whose budget is spent, watched until their period resets.
#[derive(Default)]
pub struct BudgetWatch {
    blocked: Vec<(Arc<LiveKey>, String)>,
}

impl BudgetWatch {
    /// Counts one finished request against the key's budgets.
    pub fn count(
        &mut self,
        proxy: Option<&ProxyState>,
        clock: Clock,
        key: &Arc<LiveKey>,
        provider: &str,
        cost_micros: u64,
        tokens: u64,
    ) {
        let now_s = chrono::Utc::now().timestamp();
        let Some(crossing) = key
            .runtime
            .budget
            .add(&key.limits, now_s, cost_micros, tokens)
        else {
            return;
        };
        let Some(proxy) = proxy else { return };
        let now_ms = clock.now_ms();
        let before = key.runtime.health(now_ms);
        let blocked =
            crossing.percent >= 100 && key.runtime.apply_budgets(&key.limits, now_s, now_ms);
        let kind = if crossing.percent >= 100 {
            EventKind::BudgetReached
        } else {
            EventKind::BudgetAlert
        };
        proxy.emit(Event {
            key_id: Some(key.id.clone()),
            key_label: Some(key.label.clone()),
            provider: Some(provider.to_string()),
            ..Event::new(kind, describe(key, provider, &crossing))
        });
        if blocked {
            let after = key.runtime.health(now_ms);
            proxy.announce_change(key, provider, before, after);
            let _ = proxy.writer_tx.send(WriteOp::Health(health_update(
                key, None, None, false, now_ms,
            )));
            if !self.blocked.iter().any(|(k, _)| Arc::ptr_eq(k, key)) {
                self.blocked.push((key.clone(), provider.to_string()));
            }
        }
    }

    /// Lets keys whose budget period reset back in, and says so.
    pub fn release_due(&mut self, proxy: &ProxyState) {
        if self.blocked.is_empty() {
            return;
        }
        let now_ms = proxy.clock.now_ms();
        let now_s = chrono::Utc::now().timestamp();
        self.blocked.retain(|(key, provider)| {
            if key.runtime.budget_blocked(now_ms)
                && key.runtime.apply_budgets(&key.limits, now_s, now_ms)
            {
                return true;
            }
            let after = key.runtime.health(now_ms);
            proxy.announce_change(
                key,
                provider,
                (HealthState::Degraded, Some(HealthReason::Budget)),
                after,
            );
            proxy.emit(Event {
                key_id: Some(key.id.clone()),
                key_label: Some(key.label.clone()),
                provider: Some(provider.clone()),
                ..Event::new(
                    EventKind::BudgetReset,
                    format!(
                        "key {:?} of {provider} is back: its budget period reset",
                        key.label
                    ),
                )
            });
            let _ = proxy.writer_tx.send(WriteOp::Health(health_update(
                key, None, None, false, now_ms,
            )));
            false
        });
    }
}

fn amount(kind: BudgetKind, value: u64) -> String {
    match kind {
        BudgetKind::DailySpend | BudgetKind::MonthlySpend => {
            format!(
                "${}",
                format_usd_micros(i64::try_from(value).unwrap_or(i64::MAX))
            )
        }
        BudgetKind::DailyTokens | BudgetKind::MonthlyTokens => format!("{value} tokens"),
    }
}

fn describe(key: &LiveKey, provider: &str, c: &Crossing) -> String {
    let what = if c.percent >= 100 {
        "reached its".to_string()
    } else {
        format!("used {} % of its", c.percent)
    };
    let then = if c.percent >= 100 {
        "; it is skipped until the period resets"
    } else {
        ""
    };
    format!(
        "key {:?} of {provider} {what} {} ({} of {}){then}",
        key.label,
        c.kind.describe(),
        amount(c.kind, c.used),
        amount(c.kind, c.limit),
    )
}
