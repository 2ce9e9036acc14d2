//! Budgets on the writer's side: each finished request's cost and tokens count against its
//! key's and its access token's daily and monthly budgets; crossing 80 % raises one
//! `budget_alert`, 100 % one `budget_reached` and takes the key out (yellow "budget" state)
//! or refuses the token (429 `token_budget_exceeded`) until the period resets, when
//! `budget_reset` announces it back. The request path only reads the block flag.

use std::sync::Arc;

use keygate_core::budget::{BudgetKind, Crossing};
use keygate_core::events::EventKind;
use keygate_core::health::{HealthReason, HealthState};
use keygate_core::key::format_usd;

use super::catalog::{Clock, LiveKey, LiveToken};
use super::outcome::health_update;
use super::state::ProxyState;
use super::state::WriteOp;
use crate::events::Event;

/// Keys and tokens whose budget is spent, watched until their period resets.
#[derive(Default)]
pub struct BudgetWatch {
    blocked: Vec<(Arc<LiveKey>, String)>,
    blocked_tokens: Vec<Arc<LiveToken>>,
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
        let Some(crossing) =
            key.runtime
                .budget
                .meter
                .add(&key.limits.budgets(), now_s, cost_micros, tokens)
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

    /// Counts one finished request against its access token's budgets.
    pub fn count_token(
        &mut self,
        proxy: Option<&ProxyState>,
        clock: Clock,
        token: &Arc<LiveToken>,
        cost_micros: u64,
        tokens: u64,
    ) {
        let now_s = chrono::Utc::now().timestamp();
        let Some(crossing) = token
            .budget
            .meter
            .add(&token.budgets, now_s, cost_micros, tokens)
        else {
            return;
        };
        let Some(proxy) = proxy else { return };
        let reached = crossing.percent >= 100;
        if reached
            && token.budget.apply(&token.budgets, now_s, clock.now_ms())
            && !self.blocked_tokens.iter().any(|t| t.name == token.name)
        {
            self.blocked_tokens.push(token.clone());
        }
        let kind = if reached {
            EventKind::BudgetReached
        } else {
            EventKind::BudgetAlert
        };
        let what = if reached {
            "reached its".to_string()
        } else {
            format!("used {} % of its", crossing.percent)
        };
        let then = if reached {
            "; its requests are refused until the period resets"
        } else {
            ""
        };
        proxy.emit(Event::new(
            kind,
            format!(
                "access token {:?} {what} {} ({} of {}){then}",
                token.name,
                crossing.kind.describe(),
                amount(crossing.kind, crossing.used),
                amount(crossing.kind, crossing.limit),
            ),
        ));
    }

    /// Lets keys and tokens whose budget period reset back in, and says so.
    pub fn release_due(&mut self, proxy: &ProxyState) {
        if self.blocked.is_empty() && self.blocked_tokens.is_empty() {
            return;
        }
        let now_ms = proxy.clock.now_ms();
        let now_s = chrono::Utc::now().timestamp();
        self.blocked_tokens.retain(|token| {
            if token.budget.blocked(now_ms) && token.budget.apply(&token.budgets, now_s, now_ms) {
                return true;
            }
            proxy.emit(Event::new(
                EventKind::BudgetReset,
                format!(
                    "access token {:?} is let in again: its budget period reset or the budget was raised",
                    token.name
                ),
            ));
            false
        });
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
            format!("${}", format_usd(value))
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
