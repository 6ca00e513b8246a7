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
//!
//! A write is split by lifetime as the vendors report it (`cache_creation` /
//! `cacheDetails`): the words up to the last marker with `ttl: 1h` are written for an hour, the
//! rest for five minutes (Anthropic takes longer lifetimes only before shorter ones).

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
    /// The part of `write` written for an hour.
    pub(crate) write_1h: u64,
}

impl CacheUse {
    /// Words counted from the cache, either way.
    pub(crate) fn total(self) -> u64 {
        self.read + self.write
    }

    /// The part of `write` written for five minutes.
    pub(crate) fn write_5m(self) -> u64 {
        self.write - self.write_1h
    }
}

impl PromptCache {
    /// Records a request whose cacheable prefix is `prefix` (its text) holding `words` words,
    /// the first `words_1h` of them up to a marker with a 1-hour lifetime. `None` (no marker) or
    /// an empty prefix uses no cache.
    pub(crate) fn settle(
        &self,
        scope: &str,
        prefix: Option<&str>,
        words: u64,
        words_1h: u64,
    ) -> CacheUse {
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
                write_1h: words_1h.min(words),
            }
        } else {
            CacheUse {
                read: words,
                ..CacheUse::default()
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
        let write = cache.settle("anthropic/m", Some("a b c"), 3, 0);
        let expected = CacheUse {
            read: 0,
            write: 3,
            write_1h: 0,
        };
        assert_eq!(write, expected);
        assert_eq!(cache.settle("anthropic/m", Some("a b c"), 3, 0).read, 3);
        assert_eq!(
            cache.settle("anthropic/other", Some("a b c"), 3, 0).write,
            3
        );
        assert_eq!(cache.settle("anthropic/m", None, 3, 0), CacheUse::default());
        assert_eq!(cache.settle("anthropic/m", Some(""), 0, 0).total(), 0);
    }

    #[test]
    fn a_write_is_split_by_lifetime_and_a_read_is_not() {
        let cache = PromptCache::default();
        let write = cache.settle("anthropic/m", Some("a b c d"), 4, 3);
        assert_eq!((write.write, write.write_1h, write.write_5m()), (4, 3, 1));
        let read = cache.settle("anthropic/m", Some("a b c d"), 4, 3);
        assert_eq!((read.read, read.write, read.write_1h), (4, 0, 0));
    }
}
