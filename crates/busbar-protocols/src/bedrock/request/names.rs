//! Tool names and tool-use ids fitted to the patterns Bedrock accepts.
//!
//! Bedrock refuses a tool name outside `[a-zA-Z0-9_-]{1,64}` and a tool-use
//! id outside `[a-zA-Z0-9_.:-]{1,64}`; other vendors are laxer (OpenAI's
//! names may hold dots, some ids are longer). A value that fits is sent as
//! is. One that does not is rewritten: each character Bedrock refuses
//! becomes `_`, the result is cut to leave room, and `_` plus a hash of the
//! whole original value is appended. The hash (64-bit FNV-1a, stable across
//! runs and platforms) keeps two different values from meeting in the same
//! rewrite, and the rewrite depends on the value alone, so a tool call and
//! the result that answers it, or a tool and a forced choice of it, still
//! match after rewriting.

use std::borrow::Cow;

/// Longest name or id Bedrock accepts, in characters (all ASCII).
const MAX_LEN: usize = 64;

/// `name` as a tool name Bedrock accepts, as [`encode`](super::encode)
/// sends it: unchanged when it fits. A caller that must give a client its
/// own tool names back can map each rewrite to its original.
pub fn fit_tool_name(name: &str) -> Cow<'_, str> {
    // Names are read by the model, so the hash is kept short.
    fit(
        name,
        |c| c.is_ascii_alphanumeric() || c == '_' || c == '-',
        8,
    )
}

/// `id` as a tool-use id Bedrock accepts, as [`encode`](super::encode)
/// sends it: unchanged when it fits.
pub fn fit_tool_use_id(id: &str) -> Cow<'_, str> {
    fit(
        id,
        |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'),
        16,
    )
}

fn fit(value: &str, allowed: impl Fn(char) -> bool, hash_digits: usize) -> Cow<'_, str> {
    if !value.is_empty() && value.len() <= MAX_LEN && value.chars().all(&allowed) {
        return Cow::Borrowed(value);
    }
    let keep = MAX_LEN - 1 - hash_digits;
    let mut out: String = value
        .chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .take(keep)
        .collect();
    out.push('_');
    let hash = format!("{:016x}", fnv1a(value.as_bytes()));
    out.push_str(&hash[16 - hash_digits..]);
    Cow::Owned(out)
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_name(value: &str) -> bool {
        (1..=MAX_LEN).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    fn is_id(value: &str) -> bool {
        (1..=MAX_LEN).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))
    }

    #[test]
    fn values_that_fit_are_sent_as_is() {
        assert!(matches!(fit_tool_name("get_weather-2"), Cow::Borrowed(_)));
        assert!(matches!(
            fit_tool_use_id("tooluse_abc.def:1-2"),
            Cow::Borrowed(_)
        ));
        let longest = "a".repeat(64);
        assert_eq!(fit_tool_name(&longest), longest.as_str());
    }

    #[test]
    fn other_values_are_rewritten_to_fit_and_stay_apart() {
        let cases = [
            "",
            "get.weather",
            "get weather",
            "get_weather_",
            "café",
            "名前",
            &"x".repeat(65),
            &"x".repeat(300),
        ];
        let mut seen = Vec::new();
        for value in cases {
            let name = fit_tool_name(value);
            let id = fit_tool_use_id(value);
            assert!(is_name(&name), "{value:?} → {name:?}");
            assert!(is_id(&id), "{value:?} → {id:?}");
            if value != "get_weather_" {
                assert!(!seen.contains(&name.to_string()), "{value:?} collides");
                seen.push(name.to_string());
            }
        }
        // Readable and stable: the same input always gives the same output.
        assert_eq!(fit_tool_name("get.weather"), fit_tool_name("get.weather"));
        assert!(fit_tool_name("get.weather").starts_with("get_weather_"));
        assert_eq!(fit_tool_name("get.weather").len(), "get_weather_".len() + 8);
        // Dots and colons are fine in ids.
        assert_eq!(fit_tool_use_id("call.1:a"), "call.1:a");
        assert!(fit_tool_use_id("call 1").starts_with("call_1_"));
    }

    #[test]
    fn fnv1a_matches_its_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
