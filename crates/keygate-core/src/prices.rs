//! The built-in price list: USD per million tokens (input, output, cached input) for the common
//! models of the preset providers, as integer micro-dollars so sums stay exact. Model names
//! match by longest prefix (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`), so dated snapshots
//! need no rows of their own. Prices change: this list is a default that states its date; a
//! public price catalog (models.dev's `api.json`, `keygate model prices refresh`) and the prices
//! providers publish in their model lists (OpenRouter) update it as newer built-ins, each from
//! an effective date, and the user's own prices win over both.

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
/// imported catalog (the same, per provider) over the built-in list. Old usage keeps the
/// price it was made at.
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    overrides: Vec<PriceOverride>,
    catalog: Vec<PriceOverride>,
}

impl PriceBook {
    pub fn new(overrides: Vec<PriceOverride>) -> Self {
        Self {
            overrides,
            catalog: Vec::new(),
        }
    }

    /// With imported catalog prices, which act as newer built-ins.
    pub fn with_catalog(overrides: Vec<PriceOverride>, catalog: Vec<PriceOverride>) -> Self {
        Self { overrides, catalog }
    }

    /// The built-in layer for `model` (lower case) at `at`: the imported catalog's longest
    /// prefix in effect, or the built-in list's when that is longer. Its length and price.
    fn base_match(&self, provider: &str, model: &str, at: &str) -> Option<(usize, Price)> {
        let imported = self
            .catalog
            .iter()
            .filter(|o| {
                o.provider == provider
                    && model.starts_with(&o.model.to_ascii_lowercase())
                    && o.effective_from.as_str() <= at
            })
            .max_by(|a, b| {
                (a.model.len(), &a.effective_from).cmp(&(b.model.len(), &b.effective_from))
            })
            .map(|o| (o.model.len(), o.price));
        let builtin = builtin_match(provider, model);
        match (imported, builtin) {
            (Some(i), Some(b)) if b.0 > i.0 => Some(b),
            (Some(i), _) => Some(i),
            (None, b) => b,
        }
    }

    /// The price of `model` on `provider` for a request made at `at` (stored time format): the
    /// most specific match wins (the longest model prefix; a user's override over the
    /// built-in list when equally long; this provider's over `*`), in its latest version
    /// already in effect at `at`.
    pub fn price_at(&self, provider: &str, model: &str, at: &str) -> Option<Price> {
        let model = model.to_ascii_lowercase();
        let builtin = self.base_match(provider, &model, at);
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

/// How models.dev names the providers KeyGate has presets for; others keep their own id.
const CATALOG_PROVIDERS: [(&str, &str); 5] = [
    ("google", "gemini"),
    ("alibaba", "qwen"),
    ("zhipuai", "zhipu"),
    ("moonshotai", "moonshot"),
    ("mistralai", "mistral"),
];

/// USD (per million tokens, or per token × `scale`) as micro-dollars per million tokens;
/// `None` for what is not a price (negative, not a number, absurdly large).
fn micros(value: &serde_json::Value, scale: f64) -> Option<u64> {
    let usd = value
        .as_f64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))?;
    let micros = (usd * scale * 1_000_000.0).round();
    (micros.is_finite() && (0.0..=1e15).contains(&micros)).then_some(micros as u64)
}

/// Reads a price catalog in models.dev's `api.json` format: `{provider: {models: {id: {cost:
/// {input, output, cache_read}}}}}`, USD per million tokens. Models without a cost are skipped;
/// the cached price defaults to the input price. Answers (provider, model, price), providers
/// named as KeyGate's presets.
pub fn read_price_catalog(
    json: &serde_json::Value,
) -> Result<Vec<(String, String, Price)>, String> {
    let providers = json
        .as_object()
        .ok_or("the catalog is not a JSON object of providers (models.dev api.json format)")?;
    let mut prices = Vec::new();
    for (id, provider) in providers {
        let Some(models) = provider.get("models").and_then(|m| m.as_object()) else {
            continue;
        };
        let name = CATALOG_PROVIDERS
            .iter()
            .find(|(from, _)| from == id)
            .map_or(id.as_str(), |(_, to)| to);
        for (model, spec) in models {
            let cost = &spec["cost"];
            let (Some(input), Some(output)) =
                (micros(&cost["input"], 1.0), micros(&cost["output"], 1.0))
            else {
                continue;
            };
            let cached_input = micros(&cost["cache_read"], 1.0).unwrap_or(input);
            prices.push((
                name.to_string(),
                model.clone(),
                Price {
                    input,
                    output,
                    cached_input,
                },
            ));
        }
    }
    if prices.is_empty() {
        return Err("the catalog holds no model with a cost (models.dev api.json format: provider → models → cost.input/cost.output)".into());
    }
    Ok(prices)
}

/// The prices a provider publishes in its model list, as OpenRouter does: `data[].pricing`
/// with `prompt`, `completion` and `input_cache_read` in USD per token. Models without both
/// prices are left out.
pub fn listed_prices(answer: &serde_json::Value) -> Vec<(String, Price)> {
    let Some(data) = answer.get("data").and_then(|d| d.as_array()) else {
        return Vec::new();
    };
    data.iter()
        .filter_map(|m| {
            let id = m.get("id")?.as_str()?;
            let pricing = m.get("pricing")?;
            let input = micros(&pricing["prompt"], 1_000_000.0)?;
            let output = micros(&pricing["completion"], 1_000_000.0)?;
            let cached_input = micros(&pricing["input_cache_read"], 1_000_000.0).unwrap_or(input);
            Some((
                id.to_string(),
                Price {
                    input,
                    output,
                    cached_input,
                },
            ))
        })
        .collect()
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

#[cfg(test)]
mod catalog_tests {
    use serde_json::json;

    use super::*;

    fn at(book: &PriceBook, provider: &str, model: &str, when: &str) -> Option<u64> {
        book.price_at(provider, model, when).map(|p| p.input)
    }

    #[test]
    fn a_models_dev_catalog_reads_with_preset_names_and_skips_models_without_cost() {
        let catalog = json!({
            "openai": { "id": "openai", "models": {
                "gpt-4o": { "id": "gpt-4o", "cost": { "input": 2.5, "output": 10, "cache_read": 1.25 } },
                "dall-e-3": { "id": "dall-e-3" }
            }},
            "google": { "models": { "gemini-2.5-pro": { "cost": { "input": 1.25, "output": 10 } } } },
            "openrouter": { "models": { "anthropic/claude-sonnet-4": { "cost": { "input": "3", "output": "15" } } } },
            "broken": { "models": { "x": { "cost": { "input": -1, "output": 2 } } } }
        });
        let mut prices = read_price_catalog(&catalog).expect("catalog");
        prices.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let names: Vec<(&str, &str)> = prices
            .iter()
            .map(|(p, m, _)| (p.as_str(), m.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("gemini", "gemini-2.5-pro"),
                ("openai", "gpt-4o"),
                ("openrouter", "anthropic/claude-sonnet-4")
            ]
        );
        assert_eq!(
            prices[0].2.cached_input, 1_250_000,
            "cached defaults to input"
        );
        assert_eq!(prices[1].2.cached_input, 1_250_000);
        assert_eq!(prices[2].2.output, 15_000_000);
        assert!(read_price_catalog(&json!([1, 2])).is_err());
        assert!(read_price_catalog(&json!({ "openai": { "models": {} } })).is_err());
    }

    #[test]
    fn openrouter_model_list_prices_are_per_token() {
        let list = json!({ "data": [
            { "id": "anthropic/claude-sonnet-4", "pricing": { "prompt": "0.000003", "completion": "0.000015", "input_cache_read": "0.0000003" } },
            { "id": "openrouter/auto", "pricing": { "prompt": "-1", "completion": "-1" } },
            { "id": "meta-llama/llama-3.3-70b:free", "pricing": { "prompt": "0", "completion": "0" } },
            { "id": "no-pricing" }
        ]});
        let prices = listed_prices(&list);
        assert_eq!(prices.len(), 2, "{prices:?}");
        assert_eq!(
            prices[0].1,
            Price {
                input: 3_000_000,
                output: 15_000_000,
                cached_input: 300_000
            }
        );
        assert_eq!(
            prices[1].1.input, 0,
            "free models cost nothing, and are priced"
        );
        assert!(listed_prices(&json!({ "object": "list" })).is_empty());
    }

    #[test]
    fn imported_prices_apply_from_their_date_over_built_ins_and_the_users_win() {
        let price = |input: u64| Price {
            input,
            output: 0,
            cached_input: 0,
        };
        let imported = |model: &str, from: &str, input: u64| PriceOverride {
            provider: "openai".into(),
            model: model.into(),
            effective_from: from.into(),
            price: price(input),
        };
        let catalog = vec![
            imported("gpt-4o", "2026-12-01T00:00:00.000Z", 2_000_000),
            imported("gpt-4o-2024-08-06", "2026-12-01T00:00:00.000Z", 2_200_000),
            imported("gpt-9", "2026-12-01T00:00:00.000Z", 9),
        ];
        let book = PriceBook::with_catalog(Vec::new(), catalog.clone());
        assert_eq!(
            at(&book, "openai", "gpt-4o", "2026-11-30T00:00:00.000Z"),
            Some(2_500_000),
            "built-in before its date"
        );
        assert_eq!(
            at(&book, "openai", "gpt-4o", "2026-12-02T00:00:00.000Z"),
            Some(2_000_000)
        );
        assert_eq!(
            at(
                &book,
                "openai",
                "gpt-4o-2024-08-06",
                "2026-12-02T00:00:00.000Z"
            ),
            Some(2_200_000),
            "the longer name"
        );
        assert_eq!(
            at(&book, "openai", "gpt-4o-mini", "2026-12-02T00:00:00.000Z"),
            Some(150_000),
            "a longer built-in prefix still wins"
        );
        assert_eq!(
            at(&book, "openai", "gpt-9-turbo", "2026-12-02T00:00:00.000Z"),
            Some(9)
        );
        assert_eq!(
            at(&book, "deepseek", "gpt-9", "2026-12-02T00:00:00.000Z"),
            None,
            "per provider"
        );
        let user = PriceOverride {
            provider: "openai".into(),
            model: "gpt-4o".into(),
            effective_from: "2026-01-01T00:00:00.000Z".into(),
            price: price(1),
        };
        let book = PriceBook::with_catalog(vec![user], catalog);
        assert_eq!(
            at(&book, "openai", "gpt-4o", "2026-12-02T00:00:00.000Z"),
            Some(1),
            "the user's price wins"
        );
    }
}
