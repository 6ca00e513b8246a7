//! The ids a lane's upstream model may be listed under in the catalog.
//!
//! Vendors publish one price per model but accept several ids for it: a
//! dated snapshot (`claude-sonnet-4-5-20250929`, `gpt-4.1-2025-04-14`), and
//! on Bedrock a versioned id (`anthropic.claude-sonnet-4-5-20250929-v1:0`)
//! behind a cross-region inference profile (`us.`, `eu.`, `global.` …). The
//! catalog lists the plain id; a lane's id is looked up as written first,
//! so a snapshot priced differently can still be listed on its own.

/// Bedrock's cross-region inference profile prefixes.
const REGION_PREFIXES: [&str; 9] = [
    "us", "us-gov", "eu", "apac", "jp", "au", "ca", "in", "global",
];

/// `id`, then each shorter form of it in turn: without a Bedrock region
/// prefix, without a Bedrock version suffix (`-v1:0`, `:0`), without a
/// date suffix (`-20250929`, `-2025-04-14`, `@20250929`). Each form is
/// listed once.
pub fn candidates(id: &str) -> Vec<String> {
    let mut out = vec![id.to_owned()];
    let mut current = id;
    for strip in [region_prefix, version_suffix, date_suffix] {
        if let Some(shorter) = strip(current) {
            current = shorter;
            if out.last().is_none_or(|last| last != shorter) {
                out.push(shorter.to_owned());
            }
        }
    }
    out
}

/// `us.anthropic.claude-…` → `anthropic.claude-…`.
fn region_prefix(id: &str) -> Option<&str> {
    let (prefix, rest) = id.split_once('.')?;
    (REGION_PREFIXES.contains(&prefix) && rest.contains('.')).then_some(rest)
}

/// `…-v1:0` → `…`; `…-v2` → `…`.
fn version_suffix(id: &str) -> Option<&str> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let versioned = match id.rsplit_once(':') {
        Some((head, tail)) if digits(tail) => head,
        _ => id,
    };
    let (head, version) = versioned.rsplit_once("-v")?;
    (digits(version) && !head.is_empty()).then_some(head)
}

/// `…-20250929`, `…-2025-04-14` or `…@20250929` → `…`.
fn date_suffix(id: &str) -> Option<&str> {
    let bytes = id.as_bytes();
    let is_date = |s: &[u8]| {
        s.len() == 8
            && s.iter().all(u8::is_ascii_digit)
            && (s.starts_with(b"19") || s.starts_with(b"20"))
    };
    if bytes.len() > 9 {
        let (head, tail) = bytes.split_at(bytes.len() - 9);
        if (tail[0] == b'-' || tail[0] == b'@') && is_date(&tail[1..]) && !head.is_empty() {
            return Some(&id[..head.len()]);
        }
    }
    if bytes.len() > 11 {
        let (head, tail) = bytes.split_at(bytes.len() - 11);
        let compact: Vec<u8> = tail[1..].iter().copied().filter(|b| *b != b'-').collect();
        let shaped = tail[0] == b'-' && tail[5] == b'-' && tail[8] == b'-';
        if shaped && is_date(&compact) && !head.is_empty() {
            return Some(&id[..head.len()]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::candidates;

    #[test]
    fn each_shorter_form_follows_the_id() {
        let cases: [(&str, &[&str]); 10] = [
            ("claude-sonnet-4-5", &["claude-sonnet-4-5"]),
            (
                "claude-sonnet-4-5-20250929",
                &["claude-sonnet-4-5-20250929", "claude-sonnet-4-5"],
            ),
            ("gpt-4.1-2025-04-14", &["gpt-4.1-2025-04-14", "gpt-4.1"]),
            (
                "claude-opus-4-1@20250805",
                &["claude-opus-4-1@20250805", "claude-opus-4-1"],
            ),
            (
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &[
                    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                    "anthropic.claude-sonnet-4-5-20250929-v1:0",
                    "anthropic.claude-sonnet-4-5-20250929",
                    "anthropic.claude-sonnet-4-5",
                ],
            ),
            (
                "global.anthropic.claude-haiku-4-5-20251001-v1:0",
                &[
                    "global.anthropic.claude-haiku-4-5-20251001-v1:0",
                    "anthropic.claude-haiku-4-5-20251001-v1:0",
                    "anthropic.claude-haiku-4-5-20251001",
                    "anthropic.claude-haiku-4-5",
                ],
            ),
            // India's geographic profile; the id has no version.
            (
                "in.openai.gpt-5.6-terra",
                &["in.openai.gpt-5.6-terra", "openai.gpt-5.6-terra"],
            ),
            (
                "amazon.nova-pro-v1:0",
                &["amazon.nova-pro-v1:0", "amazon.nova-pro"],
            ),
            ("gpt-4o-mini", &["gpt-4o-mini"]),
            // A four-digit suffix is a model revision, not a date.
            ("mistral-large-2411", &["mistral-large-2411"]),
        ];
        for (id, expected) in cases {
            assert_eq!(candidates(id), expected, "{id}");
        }
    }

    #[test]
    fn nothing_strips_an_id_to_nothing() {
        assert_eq!(candidates("-20250929"), ["-20250929"]);
        assert_eq!(candidates("v1:0"), ["v1:0"]);
        assert_eq!(candidates("us.x"), ["us.x"]);
    }
}
