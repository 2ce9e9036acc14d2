//! The model catalog people see (`keygate model list`, `GET /api/models`): every model with a
//! price in force now — the user's (from its date on), an imported catalog's (models.dev,
//! a provider's model list; from its date on) or the built-in one — plus the models
//! providers listed at their last `keygate model sync`, flagged when KeyGate has no price for
//! them, each with what the built-in catalog knows of its limits and abilities.

use keygate_core::bounds::{MAX_PRICE_MICROS, check_name, clip};
use keygate_core::models::{ModelSpec, builtin_spec};
use keygate_core::prices::{
    PRICES_AS_OF, Price, PriceBook, PriceOverride, builtin_prices, usd_text,
};
use keygate_store::{PriceRow, Store, StoreError};
use serde::Serialize;

/// A model in the catalog; prices are exact decimal text in USD per million tokens.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModelEntry {
    pub provider: String,
    /// A model name or, for catalog prices, a prefix (`gpt-4o` covers its dated snapshots).
    pub model: String,
    /// USD per million tokens; `None` when KeyGate has no price for the model.
    pub input_usd: Option<String>,
    pub output_usd: Option<String>,
    pub cached_usd: Option<String>,
    /// `built-in (2025-10-01)`, `set, from 2026-11-01` or `no price`.
    pub source: String,
    pub priced: bool,
    /// Listed by the provider at the last sync.
    pub synced: bool,
    /// What the built-in catalog knows of the model's limits and abilities: all of the fields
    /// below, or none (`null`).
    #[serde(flatten)]
    pub abilities: Abilities,
}

/// A model's limits and abilities, each `null` when the built-in catalog does not know the
/// model.
#[derive(Debug, Clone, Copy, Default, Serialize, utoipa::ToSchema)]
pub struct Abilities {
    /// Tokens of prompt plus answer the model can hold.
    pub context_window: Option<u32>,
    /// Most tokens one answer may have (0: the model does not generate text).
    pub max_output: Option<u32>,
    pub streaming: Option<bool>,
    pub tools: Option<bool>,
    pub vision: Option<bool>,
}

impl From<Option<ModelSpec>> for Abilities {
    fn from(spec: Option<ModelSpec>) -> Self {
        spec.map_or_else(Self::default, |s| Self {
            context_window: Some(s.context_window),
            max_output: Some(s.max_output),
            streaming: Some(s.streaming),
            tools: Some(s.tools),
            vision: Some(s.vision),
        })
    }
}

/// The prices in force for the proxy and the catalog: the user's over the imported over the
/// built-in.
pub fn price_book(store: &Store) -> Result<PriceBook, StoreError> {
    let over = |r: &PriceRow| PriceOverride {
        provider: r.provider.clone(),
        model: r.model.clone(),
        effective_from: r.effective_from.clone(),
        price: price_of(r),
    };
    Ok(PriceBook::with_catalog(
        store.list_prices()?.iter().map(over).collect(),
        store
            .list_catalog_prices()?
            .iter()
            .map(|c| over(&c.price))
            .collect(),
    ))
}

/// The latest of `rows` (per provider and model) already in effect at `now`.
fn in_force<'a, T>(rows: &'a [T], row: impl Fn(&T) -> &PriceRow, now: &str) -> Vec<&'a T> {
    rows.iter()
        .filter(|r| row(r).effective_from.as_str() <= now)
        .filter(|r| {
            let r = row(r);
            !rows.iter().map(&row).any(|o| {
                o.provider == r.provider
                    && o.model == r.model
                    && o.effective_from > r.effective_from
                    && o.effective_from.as_str() <= now
            })
        })
        .collect()
}

fn price_of(row: &PriceRow) -> Price {
    Price {
        input: row.input_micros,
        output: row.output_micros,
        cached_input: row.cached_micros,
    }
}

fn entry(provider: &str, model: &str, price: Option<Price>, source: String) -> ModelEntry {
    ModelEntry {
        provider: provider.to_string(),
        model: model.to_string(),
        input_usd: price.map(|p| usd_text(p.input)),
        output_usd: price.map(|p| usd_text(p.output)),
        cached_usd: price.map(|p| usd_text(p.cached_input)),
        priced: price.is_some(),
        source,
        synced: false,
        abilities: builtin_spec(provider, model).into(),
    }
}

/// The catalog as of `now` (stored time format), optionally for one provider (`*` prices
/// always apply).
pub fn entries(
    store: &Store,
    provider: Option<&str>,
    now: &str,
) -> Result<Vec<ModelEntry>, StoreError> {
    let set = store.list_prices()?;
    let mut out: Vec<ModelEntry> = Vec::new();
    let since = |r: &PriceRow| {
        r.effective_from
            .get(..10)
            .unwrap_or(&r.effective_from)
            .to_string()
    };
    // The user's prices in force now: per (provider, model), the latest already started.
    for row in in_force(&set, |r| r, now) {
        out.push(entry(
            &row.provider,
            &row.model,
            Some(price_of(row)),
            format!("set, from {}", since(row)),
        ));
    }
    // Then the imported catalog's, where the user set none.
    let imported = store.list_catalog_prices()?;
    for c in in_force(&imported, |c| &c.price, now) {
        let row = &c.price;
        if !out
            .iter()
            .any(|e| e.provider == row.provider && e.model == row.model)
        {
            out.push(entry(
                &row.provider,
                &row.model,
                Some(price_of(row)),
                format!("{}, from {}", c.source, since(row)),
            ));
        }
    }
    for (p, model, price) in builtin_prices() {
        if !out.iter().any(|e| e.provider == p && e.model == model) {
            out.push(entry(
                p,
                model,
                Some(price),
                format!("built-in ({PRICES_AS_OF})"),
            ));
        }
    }
    let book = price_book(store)?;
    for synced in store.list_provider_models()? {
        if let Some(known) = out
            .iter_mut()
            .find(|e| e.provider == synced.provider && e.model == synced.model)
        {
            known.synced = true;
            continue;
        }
        let price = book.price_at(&synced.provider, &synced.model, now);
        let source = if price.is_some() {
            "synced".to_string()
        } else {
            "no price".to_string()
        };
        let mut e = entry(&synced.provider, &synced.model, price, source);
        e.synced = true;
        out.push(e);
    }
    out.retain(|e| provider.is_none_or(|p| e.provider == p || e.provider == "*"));
    out.sort_by(|a, b| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)));
    Ok(out)
}

/// A price the user typed (USD per million tokens as text), checked field by field: the
/// same rules for `keygate model price` and `PUT /api/models/price`. `cached` defaults to
/// the input price, `provider` to every provider (`*`), `from` to `now`.
pub fn price_row(
    provider: Option<&str>,
    model: &str,
    input: &str,
    output: &str,
    cached: Option<&str>,
    from: Option<&str>,
    now: &str,
) -> Result<PriceRow, Vec<(&'static str, String)>> {
    let mut problems = Vec::new();
    let mut dollars = |field: &'static str, text: &str| {
        let value = keygate_core::key::parse_usd_micros(text)
            .ok()
            .and_then(|v| u64::try_from(v).ok());
        match value {
            Some(v) if v <= MAX_PRICE_MICROS => {}
            Some(_) => problems.push((
                field,
                format!(
                    "must be at most {} USD per million tokens",
                    MAX_PRICE_MICROS / 1_000_000
                ),
            )),
            // The text is quoted clipped: it is the caller's, and may be long.
            None => problems.push((
                field,
                format!(
                    "{:?} is not a price in USD per million tokens (like 2.50)",
                    clip(text)
                ),
            )),
        }
        value.filter(|v| *v <= MAX_PRICE_MICROS).unwrap_or(0)
    };
    let input_micros = dollars("input", input);
    let output_micros = dollars("output", output);
    let cached_micros = cached.map_or(input_micros, |c| dollars("cached", c));
    let model = model.trim();
    if model.is_empty() {
        problems.push(("model", "give a model name or prefix".into()));
    } else if let Err(e) = check_name(model) {
        problems.push(("model", e));
    }
    let provider = provider
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .unwrap_or("*");
    if let Err(e) = check_name(provider) {
        problems.push(("provider", e));
    }
    let effective_from = match from {
        Some(text) => keygate_core::prices::period_bound(text).unwrap_or_else(|e| {
            problems.push(("from", e));
            String::new()
        }),
        None => now.to_string(),
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(PriceRow {
        provider: provider.to_string(),
        model: model.to_string(),
        effective_from,
        input_micros,
        output_micros,
        cached_micros,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_for_a_model_with_a_nul_or_a_huge_amount_is_refused() {
        let now = "2026-11-30T12:00:00.000Z";
        let fields = |r: Result<PriceRow, Vec<(&'static str, String)>>| -> Vec<&'static str> {
            r.err()
                .unwrap_or_default()
                .into_iter()
                .map(|(f, _)| f)
                .collect()
        };
        assert_eq!(
            fields(price_row(None, "a\u{0}b", "1", "2", None, None, now)),
            ["model"]
        );
        assert_eq!(
            fields(price_row(None, &"m".repeat(300), "1", "2", None, None, now)),
            ["model"]
        );
        assert_eq!(
            fields(price_row(Some("x\ny"), "m", "1", "2", None, None, now)),
            ["provider"]
        );
        assert_eq!(
            fields(price_row(
                None,
                "m",
                "-1",
                "NaN",
                Some("9000000000000"),
                None,
                now
            )),
            ["input", "output", "cached"]
        );
        assert!(price_row(None, "m", "100000", "0.5", None, None, now).is_ok());
    }

    #[test]
    fn synced_models_get_prefix_prices_or_are_flagged_unpriced() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = Store::open_in(dir.path()).expect("store");
        store
            .replace_provider_models(
                "openai",
                &[
                    "gpt-4o-2024-08-06".into(),
                    "whisper-1".into(),
                    "gpt-4o".into(),
                ],
                "2026-11-30T00:00:00.000Z",
            )
            .expect("sync");
        store
            .set_price(&PriceRow {
                provider: "openai".into(),
                model: "gpt-4o".into(),
                effective_from: "2026-12-01T00:00:00.000Z".into(),
                input_micros: 1,
                output_micros: 2,
                cached_micros: 1,
            })
            .expect("price");
        let now = "2026-11-30T12:00:00.000Z";
        let all = entries(&store, Some("openai"), now).expect("entries");
        let find = |m: &str| all.iter().find(|e| e.model == m).expect(m);
        let dated = find("gpt-4o-2024-08-06");
        assert!(dated.priced && dated.synced);
        assert_eq!(
            dated.input_usd.as_deref(),
            Some("2.500000"),
            "built-in until Dec 1"
        );
        assert_eq!(dated.abilities.context_window, Some(128_000));
        let whisper = find("whisper-1");
        assert!(!whisper.priced && whisper.source == "no price");
        let base = find("gpt-4o");
        assert!(base.synced && base.source.starts_with("built-in"));
        assert!(all.iter().all(|e| e.provider == "openai"));
        let later = entries(&store, None, "2026-12-02T00:00:00.000Z").expect("entries");
        let base = later
            .iter()
            .find(|e| e.provider == "openai" && e.model == "gpt-4o")
            .expect("gpt-4o");
        assert_eq!(base.source, "set, from 2026-12-01");
    }
}
