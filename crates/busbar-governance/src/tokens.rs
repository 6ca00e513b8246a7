//! What a settled request used and where it was served: its tokens by
//! class, and the model and lane that answered it.
//!
//! The classes are those upstreams report (and `busbar-ir`'s `Usage`
//! carries): this crate takes them as plain counts so it needs no
//! dependency on the IR. They overlap as the vendors' do: `input` counts
//! every prompt token, cached ones included, and `output` every completion
//! token, reasoning included; the total is `input + output`.

use serde::Serialize;

/// Tokens by class, as a reply's usage reported them.
///
/// Serializes flat, as `input_tokens`, `output_tokens`,
/// `cache_read_tokens`, `cache_write_tokens` and `reasoning_tokens`, so it
/// can sit beside a `tokens` total in the admin API's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[non_exhaustive]
pub struct TokenCounts {
    /// Every prompt token, cached ones included.
    #[serde(rename = "input_tokens")]
    pub input: u64,
    /// Every completion token, reasoning included.
    #[serde(rename = "output_tokens")]
    pub output: u64,
    /// Prompt tokens read from the provider's cache.
    #[serde(rename = "cache_read_tokens")]
    pub cache_read: u64,
    /// Prompt tokens written to the provider's cache.
    #[serde(rename = "cache_write_tokens")]
    pub cache_write: u64,
    /// Completion tokens spent on reasoning.
    #[serde(rename = "reasoning_tokens")]
    pub reasoning: u64,
}

impl TokenCounts {
    /// Prompt and completion tokens, no cache or reasoning breakdown.
    pub const fn new(input: u64, output: u64) -> Self {
        Self {
            input,
            output,
            cache_read: 0,
            cache_write: 0,
            reasoning: 0,
        }
    }

    /// These counts with the prompt's cache reads and writes.
    pub const fn with_cache(mut self, read: u64, write: u64) -> Self {
        self.cache_read = read;
        self.cache_write = write;
        self
    }

    /// These counts with the completion's reasoning tokens.
    pub const fn with_reasoning(mut self, reasoning: u64) -> Self {
        self.reasoning = reasoning;
        self
    }

    /// Prompt plus completion: what flat pricing charges for and what
    /// `tokens` and `tpm_limit` count.
    pub const fn total(&self) -> u64 {
        self.input.saturating_add(self.output)
    }

    /// The sum, class by class, saturating.
    pub const fn saturating_add(self, other: Self) -> Self {
        Self {
            input: self.input.saturating_add(other.input),
            output: self.output.saturating_add(other.output),
            cache_read: self.cache_read.saturating_add(other.cache_read),
            cache_write: self.cache_write.saturating_add(other.cache_write),
            reasoning: self.reasoning.saturating_add(other.reasoning),
        }
    }
}

/// Where a request was served: the model and the lane, as the caller names
/// them. The spend ledger is kept per (key, model, lane, day).
///
/// `model` is the model the upstream was asked for (its upstream id, or the
/// configured model name); `lane` the configured lane (model entry) that
/// carried the request. Neither is checked against anything: they are
/// labels, and a renamed lane starts new rows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct Served {
    /// The model that answered.
    pub model: String,
    /// The lane that carried the request.
    pub lane: String,
}

impl Served {
    /// A request served by `model` over `lane`.
    pub fn new(model: impl Into<String>, lane: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            lane: lane.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_serialize_flat_with_their_class_names() {
        let counts = TokenCounts::new(120, 30)
            .with_cache(100, 5)
            .with_reasoning(12);
        assert_eq!(counts.total(), 150);
        assert_eq!(
            serde_json::to_value(counts).expect("json"),
            json!({"input_tokens": 120, "output_tokens": 30, "cache_read_tokens": 100,
                   "cache_write_tokens": 5, "reasoning_tokens": 12})
        );
    }

    #[test]
    fn counts_add_class_by_class_and_saturate() {
        let a = TokenCounts::new(1, 2).with_cache(3, 4).with_reasoning(5);
        let sum = a.saturating_add(a);
        assert_eq!(
            sum,
            TokenCounts::new(2, 4).with_cache(6, 8).with_reasoning(10)
        );
        assert_eq!(TokenCounts::new(u64::MAX, 1).total(), u64::MAX);
    }
}
