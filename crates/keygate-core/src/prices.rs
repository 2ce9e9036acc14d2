//! The built-in price list: USD per million tokens (input, output, cached input) for the common
//! models of the preset providers, as integer micro-dollars so sums stay exact. Model names
//! match by longest prefix (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`), so dated snapshots
//! need no rows of their own. Prices change: this list is a default that states its date, and
//! issue-tracked work makes it editable with effective dates.

/// When the list below was last checked against the providers' pricing pages.
pub const PRICES_AS_OF: &str = "2025-10-01";

/// A model's price, micro-USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    pub input: u64,
    pub output: u64,
    pub cached_input: u64,
}

const fn usd(input: f64, output: f64, cached: f64) -> Price {
    Price {
        input: (input * 1_000_000.0) as u64,
        output: (output * 1_000_000.0) as u64,
        cached_input: (cached * 1_000_000.0) as u64,
    }
}

/// (provider preset, model prefix, price). Longer prefixes first within a provider is not
/// needed: the longest match wins.
const PRICES: &[(&str, &str, Price)] = &[
    ("openai", "gpt-5", usd(1.25, 10.0, 0.125)),
    ("openai", "gpt-5-mini", usd(0.25, 2.0, 0.025)),
    ("openai", "gpt-5-nano", usd(0.05, 0.40, 0.005)),
    ("openai", "gpt-4.1", usd(2.0, 8.0, 0.50)),
    ("openai", "gpt-4.1-mini", usd(0.40, 1.60, 0.10)),
    ("openai", "gpt-4.1-nano", usd(0.10, 0.40, 0.025)),
    ("openai", "gpt-4o", usd(2.50, 10.0, 1.25)),
    ("openai", "gpt-4o-mini", usd(0.15, 0.60, 0.075)),
    ("openai", "o3", usd(2.0, 8.0, 0.50)),
    ("openai", "o4-mini", usd(1.10, 4.40, 0.275)),
    ("openai", "text-embedding-3-small", usd(0.02, 0.0, 0.0)),
    ("openai", "text-embedding-3-large", usd(0.13, 0.0, 0.0)),
    ("anthropic", "claude-opus-4", usd(15.0, 75.0, 1.50)),
    ("anthropic", "claude-sonnet-4", usd(3.0, 15.0, 0.30)),
    ("anthropic", "claude-haiku-4", usd(1.0, 5.0, 0.10)),
    ("anthropic", "claude-3-5-haiku", usd(0.80, 4.0, 0.08)),
    ("anthropic", "claude-3-7-sonnet", usd(3.0, 15.0, 0.30)),
    ("gemini", "gemini-2.5-pro", usd(1.25, 10.0, 0.31)),
    ("gemini", "gemini-2.5-flash", usd(0.30, 2.50, 0.075)),
    ("gemini", "gemini-2.5-flash-lite", usd(0.10, 0.40, 0.025)),
    ("gemini", "gemini-2.0-flash", usd(0.10, 0.40, 0.025)),
    ("deepseek", "deepseek-chat", usd(0.28, 0.42, 0.028)),
    ("deepseek", "deepseek-reasoner", usd(0.28, 0.42, 0.028)),
    ("qwen", "qwen-max", usd(1.60, 6.40, 0.64)),
    ("qwen", "qwen-plus", usd(0.40, 1.20, 0.16)),
    ("qwen", "qwen-turbo", usd(0.05, 0.20, 0.02)),
    ("zhipu", "glm-4.5", usd(0.60, 2.20, 0.11)),
    ("zhipu", "glm-4.5-air", usd(0.20, 1.10, 0.03)),
    ("moonshot", "kimi-k2", usd(0.60, 2.50, 0.15)),
    ("mistral", "mistral-large", usd(2.0, 6.0, 2.0)),
    ("mistral", "mistral-small", usd(0.10, 0.30, 0.10)),
    ("groq", "llama-3.3-70b-versatile", usd(0.59, 0.79, 0.59)),
    ("groq", "llama-3.1-8b-instant", usd(0.05, 0.08, 0.05)),
];

/// Every built-in price: (provider preset, model prefix, price).
pub fn builtin_prices() -> impl Iterator<Item = (&'static str, &'static str, Price)> {
    PRICES.iter().copied()
}

/// The built-in price of `model` on the preset `provider`; `None` when unknown.
pub fn builtin_price(provider: &str, model: &str) -> Option<Price> {
    builtin_match(provider, &model.to_ascii_lowercase()).map(|(_, price)| price)
}

/// The longest built-in prefix matching a lower-case model name: its length and price.
fn builtin_match(provider: &str, model: &str) -> Option<(usize, Price)> {
    PRICES
        .iter()
        .filter(|(p, prefix, _)| *p == provider && model.starts_with(prefix))
        .max_by_key(|(_, prefix, _)| prefix.len())
        .map(|(_, prefix, price)| (prefix.len(), *price))
}

/// A price the user set: for `model` (a name or prefix) on `provider` (`*` for any), from
/// `effective_from` (stored time format, see `period_bound`) on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceOverride {
    pub provider: String,
    pub model: String,
    pub effective_from: String,
    pub price: Price,
}

/// The prices in force: the user's overrides (each from its effective time on) over the
/// built-in list. Old usage keeps the price it was made at.
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    overrides: Vec<PriceOverride>,
}

impl PriceBook {
    pub fn new(overrides: Vec<PriceOverride>) -> Self {
        Self { overrides }
    }

    /// The price of `model` on `provider` for a request made at `at` (stored time format): the
    /// most specific match wins (the longest model prefix; a user's override over the
    /// built-in list when equally long; this provider's over `*`), in its latest version
    /// already in effect at `at`.
    pub fn price_at(&self, provider: &str, model: &str, at: &str) -> Option<Price> {
        let model = model.to_ascii_lowercase();
        let builtin = builtin_match(provider, &model);
        for scope in [provider, "*"] {
            let best = self
                .overrides
                .iter()
                .filter(|o| {
                    o.provider == scope
                        && model.starts_with(&o.model.to_ascii_lowercase())
                        && o.effective_from.as_str() <= at
                })
                .max_by(|a, b| {
                    (a.model.len(), &a.effective_from).cmp(&(b.model.len(), &b.effective_from))
                });
            if let Some(o) = best
                && builtin.is_none_or(|(len, _)| o.model.len() >= len)
            {
                return Some(o.price);
            }
        }
        builtin.map(|(_, price)| price)
    }
}

/// The cost of one request in micro-dollars: cached prompt tokens at the cached price, the
/// rest of the prompt at the input price, completion tokens at the output price. Integer math
/// throughout (rounded to the nearest micro-dollar once, at the end).
pub fn cost_micros(price: Price, prompt: u64, completion: u64, cached: u64) -> u64 {
    let cached = cached.min(prompt);
    let total = u128::from(prompt - cached) * u128::from(price.input)
        + u128::from(cached) * u128::from(price.cached_input)
        + u128::from(completion) * u128::from(price.output);
    u64::try_from((total + 500_000) / 1_000_000).unwrap_or(u64::MAX)
}

/// Micro-dollars as dollars with six decimals (`0.004000`), for reports.
pub fn usd_text(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// A report period bound given by a user: `YYYY-MM-DD` (the start of that day, UTC) or an RFC
/// 3339 time, written the way request times are stored (UTC, milliseconds).
pub fn period_bound(text: &str) -> Result<String, String> {
    let text = text.trim();
    let time = if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        date.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .ok_or_else(|| format!("invalid date {text:?}"))?
    } else {
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|_| format!("invalid time {text:?}: write 2026-11-01 or an RFC 3339 time"))?
    };
    Ok(time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// A report period from optional user bounds: `from` defaults to 7 days before `now`, `to` to
/// just after `now`. The error names the field at fault.
pub fn report_period(
    from: Option<&str>,
    to: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(String, String), (&'static str, String)> {
    let stored =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let from = match from {
        Some(text) => period_bound(text).map_err(|e| ("from", e))?,
        None => stored(now - chrono::Duration::days(7)),
    };
    let to = match to {
        Some(text) => period_bound(text).map_err(|e| ("to", e))?,
        None => stored(now + chrono::Duration::seconds(1)),
    };
    if from >= to {
        return Err(("from", format!("{from} must be before {to}")));
    }
    Ok((from, to))
}

/// A comparable figure for choosing the cheaper model: the price of a typical request (three
/// prompt tokens per completion token).
pub fn blended(price: Price) -> u64 {
    price.input * 3 + price.output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_unknown_models_have_no_price() {
        let mini = builtin_price("openai", "gpt-4o-mini-2024-07-18").expect("price");
        assert_eq!(mini.input, 150_000);
        let full = builtin_price("openai", "gpt-4o-2024-08-06").expect("price");
        assert_eq!(full.output, 10_000_000);
        assert_eq!(builtin_price("openai", "no-such-model"), None);
        assert_eq!(builtin_price("deepseek", "gpt-4o"), None, "per provider");
    }

    #[test]
    fn cost_is_exact_with_cached_tokens_priced_as_cached() {
        // gpt-4o: 1000 prompt tokens of which 400 cached, 200 completion tokens.
        // 600 × 2.50/1M + 400 × 1.25/1M + 200 × 10/1M = 0.0015 + 0.0005 + 0.002 = $0.004
        let price = builtin_price("openai", "gpt-4o").expect("price");
        assert_eq!(cost_micros(price, 1000, 200, 400), 4_000);
        // A million requests of that size add up exactly.
        assert_eq!(
            cost_micros(price, 1000, 200, 400) * 1_000_000,
            4_000_000_000
        );
        // Cached tokens above the prompt count are not trusted.
        assert_eq!(cost_micros(price, 10, 0, 50), cost_micros(price, 10, 0, 10));
        assert_eq!(cost_micros(price, 0, 0, 0), 0);
    }

    #[test]
    fn overrides_apply_from_their_date_and_old_usage_keeps_its_price() {
        let p = |input: u64| Price {
            input,
            output: 0,
            cached_input: 0,
        };
        let book = PriceBook::new(vec![
            PriceOverride {
                provider: "openai".into(),
                model: "gpt-4o".into(),
                effective_from: "2026-11-10T00:00:00.000Z".into(),
                price: p(1),
            },
            PriceOverride {
                provider: "openai".into(),
                model: "gpt-4o".into(),
                effective_from: "2026-11-20T00:00:00.000Z".into(),
                price: p(2),
            },
            PriceOverride {
                provider: "*".into(),
                model: "my-local".into(),
                effective_from: "2026-01-01T00:00:00.000Z".into(),
                price: p(7),
            },
        ]);
        let at = |t: &str| {
            book.price_at("openai", "gpt-4o-2024-08-06", t)
                .map(|p| p.input)
        };
        assert_eq!(
            at("2026-11-01T00:00:00.000Z"),
            Some(2_500_000),
            "built-in before any override"
        );
        assert_eq!(at("2026-11-15T00:00:00.000Z"), Some(1));
        assert_eq!(
            at("2026-11-25T00:00:00.000Z"),
            Some(2),
            "a price change mid-period"
        );
        // gpt-4o-mini's own built-in price is more specific than an override for gpt-4o.
        assert_eq!(
            book.price_at("openai", "gpt-4o-mini", "2026-11-25T00:00:00.000Z")
                .map(|p| p.input),
            Some(150_000)
        );
        assert_eq!(
            book.price_at("ollama", "my-local-7b", "2026-11-25T00:00:00.000Z")
                .map(|p| p.input),
            Some(7),
            "a '*' override applies to every provider"
        );
    }

    #[test]
    fn report_bounds_and_dollar_text() {
        assert_eq!(usd_text(4_000), "0.004000");
        assert_eq!(usd_text(12_345_678), "12.345678");
        assert_eq!(
            period_bound("2026-11-01").expect("date"),
            "2026-11-01T00:00:00.000Z"
        );
        assert_eq!(
            period_bound("2026-11-01T02:00:00+02:00").expect("time"),
            "2026-11-01T00:00:00.000Z"
        );
        assert!(period_bound("yesterday").is_err());
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        assert_eq!(
            report_period(None, None, now).expect("period"),
            (
                "2026-11-23T12:00:00.000Z".to_string(),
                "2026-11-30T12:00:01.000Z".to_string()
            )
        );
        assert_eq!(
            report_period(Some("2026-12-01"), Some("2026-11-01"), now)
                .expect_err("backwards")
                .0,
            "from"
        );
        assert_eq!(
            report_period(None, Some("soon"), now).expect_err("bad").0,
            "to"
        );
    }

    #[test]
    fn blended_prices_order_models_by_what_they_cost() {
        let cheap = builtin_price("deepseek", "deepseek-chat").expect("price");
        let dear = builtin_price("openai", "gpt-4o").expect("price");
        assert!(blended(cheap) < blended(dear));
    }
}
