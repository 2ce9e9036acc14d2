//! Spend and token budgets per key and per access token (daily and monthly, UTC periods): counted in memory from
//! the usage the writer learns, so the request path only reads one atomic to skip a key whose
//! budget is spent. Crossing 80 % or 100 % of a budget is reported once per period (by the
//! add that crossed it), not once per request. Time is a parameter.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::Serialize;

use crate::key::KeyLimits;

/// Which budget a figure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BudgetKind {
    DailySpend,
    MonthlySpend,
    DailyTokens,
    MonthlyTokens,
}

impl BudgetKind {
    pub const ALL: [Self; 4] = [
        Self::DailySpend,
        Self::MonthlySpend,
        Self::DailyTokens,
        Self::MonthlyTokens,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Self::DailySpend => "daily spend budget",
            Self::MonthlySpend => "monthly spend budget",
            Self::DailyTokens => "daily token budget",
            Self::MonthlyTokens => "monthly token budget",
        }
    }

    fn monthly(self) -> bool {
        matches!(self, Self::MonthlySpend | Self::MonthlyTokens)
    }

    /// The limit for this budget (micro-dollars or tokens), if there is one.
    pub fn limit(self, budgets: &Budgets) -> Option<u64> {
        match self {
            Self::DailySpend => budgets.daily_spend_micros,
            Self::MonthlySpend => budgets.monthly_spend_micros,
            Self::DailyTokens => budgets.daily_tokens,
            Self::MonthlyTokens => budgets.monthly_tokens,
        }
    }
}

/// The spend (micro-dollars) and token budgets of a key or an access token; `None` is no
/// budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budgets {
    pub daily_spend_micros: Option<u64>,
    pub monthly_spend_micros: Option<u64>,
    pub daily_tokens: Option<u64>,
    pub monthly_tokens: Option<u64>,
}

impl Budgets {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// What is wrong with these budgets, per field (`daily_tokens`, `monthly_tokens`): a token
    /// budget over `i64::MAX` does not fit the store. The same rules for keys and tokens, the
    /// admin API and the CLI.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        [
            ("daily_tokens", self.daily_tokens),
            ("monthly_tokens", self.monthly_tokens),
        ]
        .into_iter()
        .filter_map(
            |(field, value)| match value.map(crate::bounds::check_stored_integer) {
                Some(Err(e)) => Some((field, e)),
                _ => None,
            },
        )
        .collect()
    }
}

impl KeyLimits {
    /// The key's budgets.
    pub fn budgets(&self) -> Budgets {
        let spend = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
        Budgets {
            daily_spend_micros: spend(self.daily_budget_micros),
            monthly_spend_micros: spend(self.monthly_budget_micros),
            daily_tokens: self.daily_token_budget,
            monthly_tokens: self.monthly_token_budget,
        }
    }
}

/// A budget passed 80 % or 100 % with this add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Crossing {
    pub kind: BudgetKind,
    pub percent: u8,
    pub used: u64,
    pub limit: u64,
}

/// Where one budget stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BudgetStatus {
    pub kind: BudgetKind,
    pub used: u64,
    pub limit: u64,
    pub percent: u64,
    /// Unix seconds when the period (and the count) resets.
    pub resets_at: i64,
}

/// The day (days since 1970-01-01 UTC) and month (months since 1970-01) of a unix time.
fn periods(now_s: i64) -> (u64, u64) {
    let day = u64::try_from(now_s.div_euclid(86_400)).unwrap_or(0);
    let date = DateTime::<Utc>::from_timestamp(now_s, 0).unwrap_or_default();
    let month =
        u64::try_from(i64::from(date.year() - 1970) * 12 + i64::from(date.month0())).unwrap_or(0);
    (day, month)
}

/// When the period of `kind` containing `now_s` ends (unix seconds).
pub fn period_end(kind: BudgetKind, now_s: i64) -> i64 {
    if !kind.monthly() {
        return (now_s.div_euclid(86_400) + 1) * 86_400;
    }
    let date = DateTime::<Utc>::from_timestamp(now_s, 0).unwrap_or_default();
    let (year, month) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .map_or(now_s + 86_400, |t| t.timestamp())
}

/// The first hour of the current day and month, as the rollups name hours
/// (`YYYY-MM-DDTHH`), for seeding a meter from stored usage.
pub fn period_starts(now_s: i64) -> (String, String) {
    let date = DateTime::<Utc>::from_timestamp(now_s, 0).unwrap_or_default();
    (
        date.format("%Y-%m-%dT00").to_string(),
        date.format("%Y-%m-01T00").to_string(),
    )
}

/// A key's spend and tokens in the current day and month.
#[derive(Debug, Default)]
pub struct BudgetMeter {
    day: AtomicU64,
    day_spend: AtomicU64,
    day_tokens: AtomicU64,
    month: AtomicU64,
    month_spend: AtomicU64,
    month_tokens: AtomicU64,
}

impl BudgetMeter {
    /// Starts the meter from usage already recorded in this day and month.
    pub fn seed(&self, now_s: i64, day: (u64, u64), month: (u64, u64)) {
        let (d, m) = periods(now_s);
        self.day.store(d, Ordering::Release);
        self.day_spend.store(day.0, Ordering::Release);
        self.day_tokens.store(day.1, Ordering::Release);
        self.month.store(m, Ordering::Release);
        self.month_spend.store(month.0, Ordering::Release);
        self.month_tokens.store(month.1, Ordering::Release);
    }

    /// Starts new periods when the day or month changed. One writer adds (the usage writer),
    /// so the swap of period and counters needs no lock.
    fn roll(&self, now_s: i64) {
        let (d, m) = periods(now_s);
        if self.day.load(Ordering::Acquire) != d {
            self.day_spend.store(0, Ordering::Release);
            self.day_tokens.store(0, Ordering::Release);
            self.day.store(d, Ordering::Release);
        }
        if self.month.load(Ordering::Acquire) != m {
            self.month_spend.store(0, Ordering::Release);
            self.month_tokens.store(0, Ordering::Release);
            self.month.store(m, Ordering::Release);
        }
    }

    /// The count of one budget in the period containing `now_s` (0 once the period changed).
    pub fn used(&self, kind: BudgetKind, now_s: i64) -> u64 {
        let (d, m) = periods(now_s);
        let (period, now, counter) = match kind {
            BudgetKind::DailySpend => (&self.day, d, &self.day_spend),
            BudgetKind::DailyTokens => (&self.day, d, &self.day_tokens),
            BudgetKind::MonthlySpend => (&self.month, m, &self.month_spend),
            BudgetKind::MonthlyTokens => (&self.month, m, &self.month_tokens),
        };
        if period.load(Ordering::Acquire) == now {
            counter.load(Ordering::Acquire)
        } else {
            0
        }
    }

    /// Counts a finished request's cost and tokens; returns the most severe budget threshold
    /// this add crossed, if any (100 % before 80 %).
    pub fn add(
        &self,
        limits: &Budgets,
        now_s: i64,
        cost_micros: u64,
        tokens: u64,
    ) -> Option<Crossing> {
        self.roll(now_s);
        self.day_spend.fetch_add(cost_micros, Ordering::AcqRel);
        self.month_spend.fetch_add(cost_micros, Ordering::AcqRel);
        self.day_tokens.fetch_add(tokens, Ordering::AcqRel);
        self.month_tokens.fetch_add(tokens, Ordering::AcqRel);
        let mut worst: Option<Crossing> = None;
        for kind in BudgetKind::ALL {
            let Some(limit) = kind.limit(limits) else {
                continue;
            };
            let added = match kind {
                BudgetKind::DailySpend | BudgetKind::MonthlySpend => cost_micros,
                BudgetKind::DailyTokens | BudgetKind::MonthlyTokens => tokens,
            };
            let new = self.used(kind, now_s);
            let old = new.saturating_sub(added);
            let crossed = |percent: u64| {
                let threshold = (u128::from(limit) * u128::from(percent)).div_ceil(100);
                u128::from(old) < threshold && u128::from(new) >= threshold
            };
            let percent = if crossed(100) {
                100
            } else if crossed(80) {
                80
            } else {
                continue;
            };
            if worst.is_none_or(|w| w.percent < percent) {
                worst = Some(Crossing {
                    kind,
                    percent,
                    used: new,
                    limit,
                });
            }
        }
        worst
    }

    /// The budget that is spent at `now_s`, if any, with how long until its period resets
    /// (seconds). With several spent, the one that resets last.
    pub fn spent(&self, limits: &Budgets, now_s: i64) -> Option<(BudgetKind, i64)> {
        BudgetKind::ALL
            .into_iter()
            .filter(|k| k.limit(limits).is_some_and(|l| self.used(*k, now_s) >= l))
            .map(|k| (k, period_end(k, now_s) - now_s))
            .max_by_key(|(_, left)| *left)
    }

    /// Every configured budget's standing, for the API and the CLI.
    pub fn status(&self, limits: &Budgets, now_s: i64) -> Vec<BudgetStatus> {
        BudgetKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let limit = kind.limit(limits)?;
                let used = self.used(kind, now_s);
                Some(BudgetStatus {
                    kind,
                    used,
                    limit,
                    percent: if limit == 0 {
                        100
                    } else {
                        u64::try_from(u128::from(used) * 100 / u128::from(limit))
                            .unwrap_or(u64::MAX)
                    },
                    resets_at: period_end(kind, now_s),
                })
            })
            .collect()
    }
}

/// A meter and the block it puts on its owner (a key or an access token) once a budget is
/// spent: the request path reads one atomic, the usage writer adds and blocks.
#[derive(Debug, Default)]
pub struct BudgetGate {
    pub meter: BudgetMeter,
    /// Engine-clock ms until which a spent budget keeps the owner out (0: not blocked).
    blocked_until_ms: AtomicU64,
}

impl BudgetGate {
    pub fn blocked(&self, now_ms: u64) -> bool {
        now_ms < self.blocked_until_ms.load(Ordering::Relaxed)
    }

    /// The engine-clock ms until which the owner is kept out (0: not blocked).
    pub fn blocked_until_ms(&self) -> u64 {
        self.blocked_until_ms.load(Ordering::Relaxed)
    }

    /// Blocks (or lets back in) by where the budgets stand at `now_s` (wall clock, unix
    /// seconds); `now_ms` is the engine clock. Returns whether it is blocked.
    pub fn apply(&self, budgets: &Budgets, now_s: i64, now_ms: u64) -> bool {
        let until = match self.meter.spent(budgets, now_s) {
            Some((_, left_s)) => now_ms + u64::try_from(left_s).unwrap_or(0) * 1000,
            None => 0,
        };
        self.blocked_until_ms.store(until, Ordering::Relaxed);
        until > now_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-30T22:00:00Z: two hours before both a new day and a new month.
    const T0: i64 = 1_796_076_000;

    fn daily(usd_micros: u64) -> Budgets {
        Budgets {
            daily_spend_micros: Some(usd_micros),
            ..Budgets::default()
        }
    }

    #[test]
    fn periods_end_at_utc_midnight_and_the_first_of_the_month() {
        assert_eq!(
            DateTime::<Utc>::from_timestamp(T0, 0)
                .expect("t")
                .to_rfc3339(),
            "2026-11-30T22:00:00+00:00"
        );
        assert_eq!(period_end(BudgetKind::DailySpend, T0), T0 + 7200);
        assert_eq!(period_end(BudgetKind::MonthlyTokens, T0), T0 + 7200);
        assert_eq!(
            period_end(BudgetKind::MonthlySpend, T0 + 7200),
            T0 + 7200 + 31 * 86_400,
            "December has 31 days"
        );
        assert_eq!(
            period_starts(T0),
            ("2026-11-30T00".to_string(), "2026-11-01T00".to_string())
        );
    }

    #[test]
    fn eighty_percent_is_reported_once_then_a_hundred_once() {
        let meter = BudgetMeter::default();
        let limits = daily(1_000_000);
        assert_eq!(meter.add(&limits, T0, 500_000, 10), None);
        let at80 = meter.add(&limits, T0, 300_000, 10).expect("80 % crossed");
        assert_eq!((at80.kind, at80.percent), (BudgetKind::DailySpend, 80));
        assert_eq!(meter.add(&limits, T0, 100_000, 10), None, "still 90 %");
        assert_eq!(meter.spent(&limits, T0), None);
        let at100 = meter.add(&limits, T0, 150_000, 10).expect("100 % crossed");
        assert_eq!((at100.percent, at100.used), (100, 1_050_000));
        assert_eq!(meter.add(&limits, T0, 1, 1), None, "reported once");
        assert_eq!(
            meter.spent(&limits, T0 + 60),
            Some((BudgetKind::DailySpend, 7140))
        );
        // The next day the budget is whole again.
        assert_eq!(meter.spent(&limits, T0 + 7200), None);
        assert_eq!(meter.used(BudgetKind::DailySpend, T0 + 7200), 0);
        assert_eq!(meter.add(&limits, T0 + 7300, 10, 1), None);
        assert_eq!(meter.used(BudgetKind::DailySpend, T0 + 7300), 10);
    }

    #[test]
    fn one_big_request_past_both_thresholds_reports_the_hundred() {
        let meter = BudgetMeter::default();
        let limits = Budgets {
            monthly_tokens: Some(1000),
            ..Budgets::default()
        };
        let c = meter.add(&limits, T0, 0, 5000).expect("crossed");
        assert_eq!((c.kind, c.percent), (BudgetKind::MonthlyTokens, 100));
        let status = meter.status(&limits, T0);
        assert_eq!(status.len(), 1);
        assert_eq!(status[0].percent, 500);
    }

    #[test]
    fn a_gate_blocks_until_the_period_resets_and_a_raised_budget_lets_in_at_once() {
        let gate = BudgetGate::default();
        let budgets = daily(1_000);
        gate.meter.add(&budgets, T0, 1_000, 0);
        assert!(gate.apply(&budgets, T0, 5_000));
        assert!(gate.blocked(5_000));
        assert_eq!(
            gate.blocked_until_ms(),
            5_000 + 7_200_000,
            "until midnight UTC"
        );
        assert!(!gate.blocked(5_000 + 7_200_000));
        assert!(!gate.apply(&daily(2_000), T0, 6_000), "raised: back in");
        assert!(!gate.blocked(6_000));
    }

    #[test]
    fn key_limits_give_their_budgets() {
        let limits = KeyLimits {
            daily_budget_micros: Some(5),
            monthly_token_budget: Some(7),
            rpm: Some(3),
            ..KeyLimits::default()
        };
        let b = limits.budgets();
        assert_eq!((b.daily_spend_micros, b.monthly_tokens), (Some(5), Some(7)));
        assert!(!b.is_empty());
        assert!(KeyLimits::default().budgets().is_empty());
    }

    #[test]
    fn a_seeded_meter_continues_from_stored_usage_without_a_second_alert() {
        let meter = BudgetMeter::default();
        let limits = daily(1_000_000);
        meter.seed(T0, (850_000, 0), (850_000, 0));
        assert_eq!(
            meter.add(&limits, T0, 10, 0),
            None,
            "80 % was passed before"
        );
        assert_eq!(
            meter.add(&limits, T0, 200_000, 0).map(|c| c.percent),
            Some(100)
        );
        assert!(meter.status(&Budgets::default(), T0).is_empty());
    }
}
