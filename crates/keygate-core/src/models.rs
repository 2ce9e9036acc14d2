//! What the built-in catalog knows of each common model besides its price: context window,
//! output limit and what it accepts (streaming, tools, images). Matched by the longest model
//! prefix per provider preset, like prices; checked against the providers' model pages on
//! [`crate::prices::PRICES_AS_OF`]. Models a provider lists that are not here are still
//! served: these facts only inform the UI and the cost calculator.

use serde::Serialize;

/// Limits and abilities of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ModelSpec {
    /// Tokens of prompt plus answer the model can hold.
    pub context_window: u32,
    /// Most tokens one answer may have (0: the model does not generate text).
    pub max_output: u32,
    pub streaming: bool,
    pub tools: bool,
    pub vision: bool,
}

const fn chat(context_window: u32, max_output: u32, vision: bool) -> ModelSpec {
    ModelSpec {
        context_window,
        max_output,
        streaming: true,
        tools: true,
        vision,
    }
}

const fn embedding(context_window: u32) -> ModelSpec {
    ModelSpec {
        context_window,
        max_output: 0,
        streaming: false,
        tools: false,
        vision: false,
    }
}

/// (provider preset, model prefix, spec): the same models as the built-in price list.
const SPECS: &[(&str, &str, ModelSpec)] = &[
    ("openai", "gpt-5", chat(400_000, 128_000, true)),
    ("openai", "gpt-5-mini", chat(400_000, 128_000, true)),
    ("openai", "gpt-5-nano", chat(400_000, 128_000, true)),
    ("openai", "gpt-4.1", chat(1_047_576, 32_768, true)),
    ("openai", "gpt-4.1-mini", chat(1_047_576, 32_768, true)),
    ("openai", "gpt-4.1-nano", chat(1_047_576, 32_768, true)),
    ("openai", "gpt-4o", chat(128_000, 16_384, true)),
    ("openai", "gpt-4o-mini", chat(128_000, 16_384, true)),
    ("openai", "o3", chat(200_000, 100_000, true)),
    ("openai", "o4-mini", chat(200_000, 100_000, true)),
    ("openai", "text-embedding-3-small", embedding(8_191)),
    ("openai", "text-embedding-3-large", embedding(8_191)),
    ("anthropic", "claude-opus-4", chat(200_000, 32_000, true)),
    ("anthropic", "claude-sonnet-4", chat(200_000, 64_000, true)),
    ("anthropic", "claude-haiku-4", chat(200_000, 64_000, true)),
    ("anthropic", "claude-3-5-haiku", chat(200_000, 8_192, false)),
    (
        "anthropic",
        "claude-3-7-sonnet",
        chat(200_000, 64_000, true),
    ),
    ("gemini", "gemini-2.5-pro", chat(1_048_576, 65_536, true)),
    ("gemini", "gemini-2.5-flash", chat(1_048_576, 65_536, true)),
    (
        "gemini",
        "gemini-2.5-flash-lite",
        chat(1_048_576, 65_536, true),
    ),
    ("gemini", "gemini-2.0-flash", chat(1_048_576, 8_192, true)),
    ("deepseek", "deepseek-chat", chat(128_000, 8_192, false)),
    (
        "deepseek",
        "deepseek-reasoner",
        chat(128_000, 65_536, false),
    ),
    ("qwen", "qwen-max", chat(32_768, 8_192, false)),
    ("qwen", "qwen-plus", chat(131_072, 16_384, false)),
    ("qwen", "qwen-turbo", chat(1_000_000, 8_192, false)),
    ("zhipu", "glm-4.5", chat(128_000, 96_000, false)),
    ("zhipu", "glm-4.5-air", chat(128_000, 96_000, false)),
    ("moonshot", "kimi-k2", chat(131_072, 16_384, false)),
    ("mistral", "mistral-large", chat(131_072, 4_096, false)),
    ("mistral", "mistral-small", chat(131_072, 4_096, true)),
    (
        "groq",
        "llama-3.3-70b-versatile",
        chat(131_072, 32_768, false),
    ),
    (
        "groq",
        "llama-3.1-8b-instant",
        chat(131_072, 131_072, false),
    ),
];

/// The built-in facts about `model` on the preset `provider`, by longest prefix.
pub fn builtin_spec(provider: &str, model: &str) -> Option<ModelSpec> {
    let model = model.to_ascii_lowercase();
    SPECS
        .iter()
        .filter(|(p, prefix, _)| *p == provider && model.starts_with(prefix))
        .max_by_key(|(_, prefix, _)| prefix.len())
        .map(|(_, _, spec)| *spec)
}

/// The built-in facts about `model` wherever it is served: on the preset `provider` if it is
/// one, else by the longest prefix any preset knows (a custom provider serving `gpt-4o`).
pub fn spec_for(provider: &str, model: &str) -> Option<ModelSpec> {
    builtin_spec(provider, model).or_else(|| {
        let model = model.to_ascii_lowercase();
        SPECS
            .iter()
            .filter(|(_, prefix, _)| model.starts_with(prefix))
            .max_by_key(|(_, prefix, _)| prefix.len())
            .map(|(_, _, spec)| *spec)
    })
}

/// How a model can be asked to go on with an answer that broke off mid-way (stream rescue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuation {
    /// The partial answer goes as a trailing assistant message, which the model continues
    /// (an Anthropic prefill). Its trailing whitespace must go: Anthropic refuses it.
    Prefill,
    /// The partial answer goes as a trailing assistant message marked `"prefix": true`
    /// (DeepSeek's prefix completion).
    Prefix,
    /// The partial answer goes as an assistant message followed by a user message asking to
    /// continue exactly where it stopped: for every model that rejects a trailing assistant
    /// message (Claude 4.6 and later) or ignores it (most OpenAI-compatible ones).
    Instruct,
}

/// (model prefix, how it continues), by longest prefix; any other model is [`Continuation::Instruct`].
/// Claude models accepted a prefill up to 4.5; 4.6 and later answer 400 "This model does not
/// support assistant message prefill".
const CONTINUATIONS: &[(&str, Continuation)] = &[
    ("claude-", Continuation::Prefill),
    ("claude-opus-4-6", Continuation::Instruct),
    ("claude-sonnet-4-6", Continuation::Instruct),
    ("claude-haiku-4-6", Continuation::Instruct),
    ("claude-opus-4-7", Continuation::Instruct),
    ("claude-sonnet-4-7", Continuation::Instruct),
    ("claude-opus-5", Continuation::Instruct),
    ("claude-sonnet-5", Continuation::Instruct),
    ("claude-haiku-5", Continuation::Instruct),
    ("deepseek-chat", Continuation::Prefix),
    ("deepseek-reasoner", Continuation::Prefix),
];

/// How `model` continues a broken-off answer (see [`Continuation`]).
pub fn continuation(model: &str) -> Continuation {
    let model = model.to_ascii_lowercase();
    let model = model.rsplit('/').next().unwrap_or(&model);
    CONTINUATIONS
        .iter()
        .filter(|(prefix, _)| model.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map_or(Continuation::Instruct, |(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prices::builtin_prices;

    #[test]
    fn every_priced_model_has_its_facts_and_dated_names_match() {
        for (provider, model, _) in builtin_prices() {
            assert!(
                SPECS.iter().any(|(p, m, _)| *p == provider && *m == model),
                "{provider}/{model} has a price but no spec"
            );
        }
        let mini = builtin_spec("openai", "gpt-4o-mini-2024-07-18").expect("spec");
        assert_eq!(mini.context_window, 128_000);
        assert!(mini.vision && mini.tools && mini.streaming);
        assert_eq!(
            builtin_spec("openai", "text-embedding-3-small").map(|s| s.max_output),
            Some(0)
        );
        assert_eq!(builtin_spec("deepseek", "gpt-4o"), None);
    }

    #[test]
    fn older_claude_models_take_a_prefill_and_newer_ones_an_instruction() {
        assert_eq!(
            continuation("claude-3-7-sonnet-20250219"),
            Continuation::Prefill
        );
        assert_eq!(continuation("claude-sonnet-4-5"), Continuation::Prefill);
        assert_eq!(
            continuation("anthropic/claude-opus-4-1"),
            Continuation::Prefill
        );
        assert_eq!(continuation("claude-opus-4-6"), Continuation::Instruct);
        assert_eq!(
            continuation("claude-sonnet-4-6-20260101"),
            Continuation::Instruct
        );
        assert_eq!(continuation("deepseek-chat"), Continuation::Prefix);
        assert_eq!(continuation("gpt-4o-mini"), Continuation::Instruct);
    }
}
