//! Which providers (tiers) may serve a requested model, in the order to try them.
//!
//! A route (`keygate route add ALIAS --to provider:model,…`) gives the tiers and strategy; an
//! alias with a `*` (`claude-*`) is a pattern, for the models no alias names exactly.
//! Otherwise `provider/model` names a provider explicitly. A bare model goes to the enabled providers
//! known to serve it (built-in model prefixes per preset), by provider priority. When exactly
//! one provider has keys, every model goes there: a single-provider setup needs no routing.

use std::sync::Arc;

use keygate_core::prices::blended;
use keygate_core::provider::preset_serves_model;
use keygate_core::select::Strategy;

use super::catalog::{Catalog, LiveProvider};

pub struct Tier {
    pub provider: Arc<LiveProvider>,
    /// The model name to send upstream.
    pub model: String,
    pub strategy: Strategy,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RouteError {
    UnknownProvider(String),
    NoProvider(String),
}

pub fn tiers(catalog: &Catalog, requested: &str) -> Result<Vec<Tier>, RouteError> {
    if let Some(route) = catalog.route(requested) {
        // Tiers whose provider is gone or disabled are skipped; the rest keep their order,
        // except that `lowest_cost` tries the cheapest known model first (unknown prices last).
        let mut tiers: Vec<Tier> = route
            .tiers
            .iter()
            .filter_map(|(provider, model)| {
                let provider = catalog.provider(provider)?.clone();
                Some(Tier {
                    provider,
                    model: model.clone(),
                    strategy: route.strategy,
                })
            })
            .collect();
        if route.strategy == Strategy::LowestCost {
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            tiers.sort_by_key(|t| {
                catalog
                    .prices
                    .price_at(&t.provider.name, &t.model, &now)
                    .map_or(u64::MAX, blended)
            });
        }
        return if tiers.is_empty() {
            Err(RouteError::NoProvider(requested.to_string()))
        } else {
            Ok(tiers)
        };
    }
    if let Some((provider, model)) = requested.split_once('/')
        && let Some(p) = catalog.provider(provider)
    {
        return Ok(vec![Tier {
            provider: p.clone(),
            model: model.to_string(),
            strategy: Strategy::Priority,
        }]);
    }
    // Keys the keyring will not give still count: the caller learns that the keyring is
    // locked (a 503 with the fix), not that no provider serves the model.
    let with_keys: Vec<&Arc<LiveProvider>> = catalog
        .providers
        .iter()
        .filter(|p| !p.keys.is_empty() || p.keyring_problem.is_some())
        .collect();
    let mut matching: Vec<&Arc<LiveProvider>> = with_keys
        .iter()
        .copied()
        .filter(|p| preset_serves_model(&p.name, requested))
        .collect();
    if matching.is_empty() && with_keys.len() == 1 {
        matching = with_keys;
    }
    if matching.is_empty() {
        return Err(match requested.split_once('/') {
            Some((provider, _)) => RouteError::UnknownProvider(provider.to_string()),
            None => RouteError::NoProvider(requested.to_string()),
        });
    }
    matching.sort_by_key(|p| p.priority);
    Ok(matching
        .into_iter()
        .map(|p| Tier {
            provider: p.clone(),
            model: requested.to_string(),
            strategy: Strategy::Priority,
        })
        .collect())
}

/// Whether some provider with keys serves `model` by its name: a route or pattern names it, or
/// a provider's preset or kind does (Anthropic's `claude-*`, Gemini's `gemini-*`). Unlike
/// [`tiers`] this does not count the one-provider rule, which sends any name to the only
/// provider there is (the Connect page warns before a tool's model meets a provider that does
/// not know it).
pub fn serves_by_name(catalog: &Catalog, model: &str) -> bool {
    use keygate_core::provider::ProviderKind;
    if catalog.route(model).is_some() {
        return true;
    }
    let lower = model.to_ascii_lowercase();
    catalog
        .providers
        .iter()
        .filter(|p| !p.keys.is_empty() || p.keyring_problem.is_some())
        .any(|p| {
            preset_serves_model(&p.name, model)
                || (p.kind == ProviderKind::Anthropic && lower.starts_with("claude"))
                || (p.kind == ProviderKind::Gemini && lower.starts_with("gemini"))
        })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use keygate_core::provider::ProviderKind;
    use keygate_vault::Sensitive;

    use super::*;
    use crate::proxy::catalog::{LiveKey, ProviderRuntime};

    fn provider(name: &str, priority: i64, with_key: bool) -> Arc<LiveProvider> {
        let keys = if with_key {
            vec![Arc::new(LiveKey {
                id: format!("k_{name}"),
                label: name.into(),
                secret: Sensitive::new("sk-test".into()),
                redactor: Arc::default(),
                priority: 0,
                weight: 1,
                limits: Default::default(),
                expires_at: None,
                runtime: Arc::default(),
                low_balance: None,
            })]
        } else {
            Vec::new()
        };
        Arc::new(LiveProvider {
            name: name.into(),
            kind: ProviderKind::OpenAi,
            base_url: "http://127.0.0.1:9/v1".into(),
            headers: BTreeMap::new(),
            priority,
            keys,
            runtime: Arc::new(ProviderRuntime::default()),
            endpoints: std::collections::HashMap::new(),
            keyring_problem: None,
        })
    }

    fn names(result: Result<Vec<Tier>, RouteError>) -> Result<Vec<(String, String)>, RouteError> {
        result.map(|tiers| {
            tiers
                .into_iter()
                .map(|t| (t.provider.name.clone(), t.model))
                .collect()
        })
    }

    #[test]
    fn bare_models_go_to_the_providers_that_serve_them_by_priority() {
        let catalog = Catalog {
            providers: vec![provider("openai", 1, true), provider("deepseek", 0, true)],
            ..Catalog::default()
        };
        assert_eq!(
            names(tiers(&catalog, "gpt-4o")),
            Ok(vec![("openai".into(), "gpt-4o".into())])
        );
        assert_eq!(
            names(tiers(&catalog, "deepseek-chat")),
            Ok(vec![("deepseek".into(), "deepseek-chat".into())])
        );
        assert_eq!(
            names(tiers(&catalog, "openai/gpt-4.1")),
            Ok(vec![("openai".into(), "gpt-4.1".into())])
        );
    }

    #[test]
    fn unknown_models_and_providers_are_named_in_the_error() {
        let catalog = Catalog {
            providers: vec![provider("openai", 0, true), provider("deepseek", 0, true)],
            ..Catalog::default()
        };
        assert_eq!(
            names(tiers(&catalog, "mystery-1")),
            Err(RouteError::NoProvider("mystery-1".into()))
        );
        assert_eq!(
            names(tiers(&catalog, "nosuch/model")),
            Err(RouteError::UnknownProvider("nosuch".into()))
        );
    }

    #[test]
    fn a_pattern_route_takes_the_models_no_alias_names_most_specific_first() {
        let mut catalog = Catalog {
            providers: vec![
                provider("anthropic", 0, true),
                provider("deepseek", 5, true),
            ],
            ..Catalog::default()
        };
        for (alias, model) in [
            ("claude-*", "deepseek-chat"),
            ("claude-*haiku*", "deepseek-lite"),
            ("claude-exact", "deepseek-reasoner"),
        ] {
            catalog.routes.insert(
                alias.into(),
                crate::proxy::catalog::LiveRoute {
                    tiers: vec![("deepseek".into(), model.into())],
                    strategy: Strategy::Priority,
                },
            );
        }
        catalog.route_patterns = crate::proxy::catalog::route_patterns(&catalog.routes);
        let served = |model: &str| {
            let tiers = tiers(&catalog, model).expect("tiers");
            format!("{}:{}", tiers[0].provider.name, tiers[0].model)
        };
        assert_eq!(served("claude-opus-5-5"), "deepseek:deepseek-chat");
        assert_eq!(
            served("claude-haiku-4-5-20251001"),
            "deepseek:deepseek-lite"
        );
        assert_eq!(served("claude-exact"), "deepseek:deepseek-reasoner");
        // Not a Claude name: the provider that serves it, as without the patterns.
        assert_eq!(served("deepseek-chat"), "deepseek:deepseek-chat");
    }

    #[test]
    fn a_route_gives_tiers_in_order_with_its_strategy_and_skips_missing_providers() {
        let mut catalog = Catalog {
            providers: vec![provider("openai", 0, true), provider("deepseek", 5, true)],
            ..Catalog::default()
        };
        catalog.routes.insert(
            "smart".into(),
            crate::proxy::catalog::LiveRoute {
                tiers: vec![
                    ("deepseek".into(), "deepseek-chat".into()),
                    ("gone".into(), "x".into()),
                    ("openai".into(), "gpt-4o".into()),
                ],
                strategy: Strategy::RoundRobin,
            },
        );
        let tiers = tiers(&catalog, "smart").expect("route");
        let got: Vec<(&str, &str, Strategy)> = tiers
            .iter()
            .map(|t| (t.provider.name.as_str(), t.model.as_str(), t.strategy))
            .collect();
        assert_eq!(
            got,
            vec![
                ("deepseek", "deepseek-chat", Strategy::RoundRobin),
                ("openai", "gpt-4o", Strategy::RoundRobin)
            ]
        );
    }

    #[test]
    fn a_single_provider_with_keys_serves_every_model() {
        let catalog = Catalog {
            providers: vec![
                provider("openrouter", 0, true),
                provider("openai", 0, false),
            ],
            ..Catalog::default()
        };
        assert_eq!(
            names(tiers(&catalog, "anthropic/claude-sonnet-4")),
            Ok(vec![(
                "openrouter".into(),
                "anthropic/claude-sonnet-4".into()
            )])
        );
    }
}
