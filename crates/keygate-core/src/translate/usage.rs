//! Token usage in both protocols' terms. The two count the prompt differently: Anthropic's
//! `input_tokens` excludes cache reads and writes, OpenAI's `prompt_tokens` includes them.

use serde_json::{Value, json};

/// Token counts of one answer, in Anthropic's terms: `input_tokens` excludes cached tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Prompt tokens served from the provider's cache (Anthropic `cache_read_input_tokens`,
    /// OpenAI `prompt_tokens_details.cached_tokens`).
    pub cached_input_tokens: u64,
    /// Prompt tokens written to Anthropic's cache; OpenAI never reports these.
    pub cache_creation_input_tokens: u64,
}

impl StreamUsage {
    /// What OpenAI would call `prompt_tokens`.
    pub fn prompt_tokens(&self) -> u64 {
        self.input_tokens + self.cached_input_tokens + self.cache_creation_input_tokens
    }

    /// Reads an OpenAI `usage` object. A missing field counts as zero.
    pub(crate) fn from_chat(usage: &Value) -> Self {
        let prompt = count(usage, "prompt_tokens");
        let cached = usage
            .get("prompt_tokens_details")
            .and_then(|details| details.get("cached_tokens"))
            .and_then(Value::as_u64)
            // DeepSeek reports its cache hits here instead.
            .unwrap_or_else(|| count(usage, "prompt_cache_hit_tokens"));
        Self {
            input_tokens: prompt.saturating_sub(cached),
            output_tokens: count(usage, "completion_tokens"),
            cached_input_tokens: cached,
            cache_creation_input_tokens: 0,
        }
    }

    /// Overwrites the fields an Anthropic `usage` object carries. `message_delta` repeats only
    /// some of them, so absent fields keep what `message_start` said.
    pub(crate) fn update_from_anthropic(&mut self, usage: &Value) {
        let field = |key: &str| usage.get(key).and_then(Value::as_u64);
        if let Some(n) = field("input_tokens") {
            self.input_tokens = n;
        }
        if let Some(n) = field("output_tokens") {
            self.output_tokens = n;
        }
        if let Some(n) = field("cache_read_input_tokens") {
            self.cached_input_tokens = n;
        }
        if let Some(n) = field("cache_creation_input_tokens") {
            self.cache_creation_input_tokens = n;
        }
    }

    pub(crate) fn from_anthropic(usage: &Value) -> Self {
        let mut out = Self::default();
        out.update_from_anthropic(usage);
        out
    }

    pub(crate) fn to_chat(self) -> Value {
        let prompt = self.prompt_tokens();
        json!({
            "prompt_tokens": prompt,
            "completion_tokens": self.output_tokens,
            "total_tokens": prompt + self.output_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_input_tokens},
        })
    }

    pub(crate) fn to_anthropic(self) -> Value {
        json!({
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cached_input_tokens,
        })
    }
}

fn count(usage: &Value, key: &str) -> u64 {
    usage.get(key).and_then(Value::as_u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_cache_tokens_count_towards_openai_prompt_tokens() {
        let usage = StreamUsage::from_anthropic(&json!({
            "input_tokens": 10, "output_tokens": 5,
            "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20
        }));
        assert_eq!(
            usage.to_chat(),
            json!({
                "prompt_tokens": 130, "completion_tokens": 5, "total_tokens": 135,
                "prompt_tokens_details": {"cached_tokens": 100}
            })
        );
    }

    #[test]
    fn openai_cached_tokens_are_taken_out_of_anthropic_input_tokens() {
        let usage = StreamUsage::from_chat(&json!({
            "prompt_tokens": 130, "completion_tokens": 5, "total_tokens": 135,
            "prompt_tokens_details": {"cached_tokens": 100}
        }));
        assert_eq!(
            usage,
            StreamUsage {
                input_tokens: 30,
                output_tokens: 5,
                cached_input_tokens: 100,
                cache_creation_input_tokens: 0
            }
        );
        assert_eq!(
            usage.to_anthropic(),
            json!({
                "input_tokens": 30, "output_tokens": 5,
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100
            })
        );
    }

    #[test]
    fn deepseek_cache_hits_count_as_cached_tokens() {
        let usage = StreamUsage::from_chat(&json!({
            "prompt_tokens": 50, "completion_tokens": 1, "prompt_cache_hit_tokens": 40
        }));
        assert_eq!((usage.input_tokens, usage.cached_input_tokens), (10, 40));
    }

    #[test]
    fn message_delta_usage_keeps_fields_it_does_not_repeat() {
        let mut usage = StreamUsage::from_anthropic(&json!({
            "input_tokens": 7, "output_tokens": 1, "cache_read_input_tokens": 3
        }));
        usage.update_from_anthropic(&json!({"output_tokens": 42}));
        assert_eq!(
            usage,
            StreamUsage {
                input_tokens: 7,
                output_tokens: 42,
                cached_input_tokens: 3,
                cache_creation_input_tokens: 0
            }
        );
    }

    #[test]
    fn missing_usage_counts_as_zero() {
        assert_eq!(StreamUsage::from_chat(&Value::Null), StreamUsage::default());
        assert_eq!(
            StreamUsage::from_anthropic(&json!({})),
            StreamUsage::default()
        );
    }
}
