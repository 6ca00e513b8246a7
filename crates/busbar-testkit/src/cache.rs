//! The mock's prompt cache: which request prefixes it has seen, so usage can report cache writes
//! and reads the way the vendors do for requests that carry cache markers.
//!
//! The rule, the same in every format that has markers (Anthropic `cache_control`, Bedrock
//! `cachePoint`): the words of the input up to and including the last marked block are the
//! cacheable prefix. The first request with a given prefix (per format and model) writes it —
//! `cache_creation_input_tokens` / `cacheWriteInputTokens` — and every later one reads it —
//! `cache_read_input_tokens` / `cacheReadInputTokens`; the plain input count then excludes those
//! words, as both vendors' does. A request without markers neither reads nor writes. Tool
//! definitions count no words (see the crate docs), so a marker on a tool alone caches nothing.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, PoisonError};

/// Prefixes seen so far, by hash.
#[derive(Debug, Default)]
pub(crate) struct PromptCache {
    seen: Mutex<HashSet<u64>>,
}

/// Cache tokens of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CacheUse {
    pub(crate) read: u64,
    pub(crate) write: u64,
}

impl CacheUse {
    /// Words counted from the cache, either way.
    pub(crate) fn total(self) -> u64 {
        self.read + self.write
    }
}

impl PromptCache {
    /// Records a request whose cacheable prefix is `prefix` (its text) holding `words` words.
    /// `None` (no marker) or an empty prefix uses no cache.
    pub(crate) fn settle(&self, scope: &str, prefix: Option<&str>, words: u64) -> CacheUse {
        let Some(prefix) = prefix.filter(|_| words > 0) else {
            return CacheUse::default();
        };
        // SipHash with its fixed default keys: the same prefix hashes the same in every run.
        let mut hasher = DefaultHasher::new();
        (scope, prefix).hash(&mut hasher);
        let fresh = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(hasher.finish());
        if fresh {
            CacheUse {
                read: 0,
                write: words,
            }
        } else {
            CacheUse {
                read: words,
                write: 0,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_request_writes_later_ones_read() {
        let cache = PromptCache::default();
        let write = cache.settle("anthropic/m", Some("a b c"), 3);
        assert_eq!(write, CacheUse { read: 0, write: 3 });
        assert_eq!(cache.settle("anthropic/m", Some("a b c"), 3).read, 3);
        assert_eq!(cache.settle("anthropic/other", Some("a b c"), 3).write, 3);
        assert_eq!(cache.settle("anthropic/m", None, 3), CacheUse::default());
        assert_eq!(cache.settle("anthropic/m", Some(""), 0).total(), 0);
    }
}
