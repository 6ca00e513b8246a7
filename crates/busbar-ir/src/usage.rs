//! Token accounting.

use serde::{Deserialize, Serialize};

/// Tokens a request consumed.
///
/// `input_tokens` counts **every** input token, cached or not, as OpenAI's
/// `prompt_tokens` does; the cache counts are parts of it. Anthropic's
/// `input_tokens`, which excludes cache reads and writes, is converted at its
/// edge. `output_tokens` likewise includes `reasoning_tokens`, and
/// `cache_write_tokens` includes `cache_write_1h_tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// All input tokens, including cached ones.
    pub input_tokens: u64,
    /// All output tokens, including reasoning.
    pub output_tokens: u64,
    /// Input tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_tokens: Option<u64>,
    /// Input tokens written to the prompt cache, whatever their lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    /// The part of `cache_write_tokens` written with a 1-hour lifetime,
    /// which vendors charge at a higher rate than the default 5 minutes
    /// (Anthropic's `cache_creation.ephemeral_1h_input_tokens`, Bedrock's
    /// `cacheDetails`). `None` when the vendor did not say how the writes
    /// split; the rest of the writes have the default lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h_tokens: Option<u64>,
    /// Output tokens spent on reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
}

impl Usage {
    /// Usage with input and output counts only.
    pub fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens,
            output_tokens,
            ..Self::default()
        }
    }

    /// Input plus output tokens.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// Input tokens that were neither read from nor written to the cache.
    pub fn uncached_input_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_sub(self.cache_read_tokens.unwrap_or(0))
            .saturating_sub(self.cache_write_tokens.unwrap_or(0))
    }

    /// Folds a later report into this one: counts the later one has replace
    /// these (stream reports are cumulative), absent ones are kept.
    pub fn merge(&mut self, later: &Usage) {
        if later.input_tokens != 0 {
            self.input_tokens = later.input_tokens;
        }
        if later.output_tokens != 0 {
            self.output_tokens = later.output_tokens;
        }
        self.cache_read_tokens = later.cache_read_tokens.or(self.cache_read_tokens);
        self.cache_write_tokens = later.cache_write_tokens.or(self.cache_write_tokens);
        self.cache_write_1h_tokens = later.cache_write_1h_tokens.or(self.cache_write_1h_tokens);
        self.reasoning_tokens = later.reasoning_tokens.or(self.reasoning_tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncached_input_subtracts_both_cache_counts() {
        let usage = Usage {
            input_tokens: 100,
            output_tokens: 5,
            cache_read_tokens: Some(60),
            cache_write_tokens: Some(30),
            cache_write_1h_tokens: Some(20),
            reasoning_tokens: None,
        };
        assert_eq!(usage.uncached_input_tokens(), 10);
        assert_eq!(usage.total_tokens(), 105);
    }

    #[test]
    fn merge_keeps_earlier_counts_the_later_report_lacks() {
        let mut usage = Usage::new(12, 1);
        usage.cache_read_tokens = Some(4);
        usage.merge(&Usage::new(0, 9));
        assert_eq!(usage.input_tokens, 12);
        assert_eq!(usage.output_tokens, 9);
        assert_eq!(usage.cache_read_tokens, Some(4));
    }

    #[test]
    fn merge_keeps_the_1h_split_until_a_later_report_gives_one() {
        let mut usage = Usage::new(50, 1);
        usage.cache_write_tokens = Some(40);
        usage.cache_write_1h_tokens = Some(30);
        usage.merge(&Usage::new(0, 9));
        assert_eq!(usage.cache_write_1h_tokens, Some(30));
        let mut later = Usage::new(0, 10);
        later.cache_write_1h_tokens = Some(40);
        usage.merge(&later);
        assert_eq!(usage.cache_write_1h_tokens, Some(40));
    }

    #[test]
    fn an_unknown_split_is_not_serialized() {
        let json = serde_json::to_value(Usage::new(3, 4)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"input_tokens": 3, "output_tokens": 4})
        );
    }
}
