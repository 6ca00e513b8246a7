//! Telling a complete stream from a truncated one without decoding it.
//!
//! A same-protocol relay forwards stream bytes untouched, but must still know
//! whether the upstream ended with its format's terminal event: an SSE
//! stream that simply stops looks complete to a client and is not. Decoding
//! every event only to find out would cost the relay its speed, so an
//! [`EndWatch`] looks for byte markers that only a terminal event contains —
//! chosen so that text inside a JSON string, where quotes are escaped and
//! newlines cannot occur raw, can never produce one.

use crate::Protocol;

/// Watches a relayed stream for its format's terminal event.
#[derive(Debug, Clone)]
pub struct EndWatch {
    markers: &'static [&'static [u8]],
    /// The end of the previous chunk, so a marker split across two chunks
    /// is still seen.
    carry: Vec<u8>,
    seen: bool,
}

impl EndWatch {
    /// A watch for a stream of `protocol`.
    pub fn new(protocol: Protocol) -> Self {
        let markers = protocol.wire().end_markers();
        Self {
            markers,
            carry: Vec::new(),
            seen: false,
        }
    }

    /// Looks at the next relayed bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.seen || bytes.is_empty() {
            return;
        }
        let longest = self.markers.iter().map(|m| m.len()).max().unwrap_or(0);
        // Only the seam needs the carried bytes; the chunk itself is
        // searched in place.
        let seam_len = longest.saturating_sub(1).min(bytes.len());
        let mut seam = std::mem::take(&mut self.carry);
        seam.extend_from_slice(&bytes[..seam_len]);
        self.seen = self
            .markers
            .iter()
            .any(|marker| contains(&seam, marker) || contains(bytes, marker));
        let keep = longest.saturating_sub(1);
        if bytes.len() >= keep {
            seam.clear();
            seam.extend_from_slice(&bytes[bytes.len() - keep..]);
        } else {
            let drop = seam.len().saturating_sub(keep);
            seam.drain(..drop);
        }
        self.carry = seam;
    }

    /// Whether the terminal event has been seen.
    pub fn is_complete(&self) -> bool {
        self.seen
    }
}

/// Whether `needle` occurs in `haystack`: a scan for its first byte (which
/// the compiler vectorises), then a comparison only where that byte is.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let mut from = 0;
    while let Some(offset) = haystack[from..].iter().position(|&b| b == first) {
        let at = from + offset;
        if haystack[at + 1..].starts_with(rest) {
            return true;
        }
        from = at + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(protocol: Protocol, chunks: &[&[u8]]) -> bool {
        let mut watch = EndWatch::new(protocol);
        for chunk in chunks {
            watch.feed(chunk);
        }
        watch.is_complete()
    }

    #[test]
    fn sees_each_formats_terminal_event() {
        assert!(watch(
            Protocol::OpenAi,
            &[b"data: {}\n\n", b"data: [DONE]\n\n"]
        ));
        assert!(watch(
            Protocol::Anthropic,
            &[b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"]
        ));
        assert!(watch(
            Protocol::Responses,
            &[b"data: {\"type\":\"response.completed\",\"response\":{}}\n\n"]
        ));
        assert!(watch(
            Protocol::Gemini,
            &[b"data: {\"candidates\":[{\"finishReason\":\"STOP\"}]}\n\n"]
        ));
        assert!(watch(
            Protocol::Cohere,
            &[b"data: {\"type\":\"message-end\"}\n\n"]
        ));
        assert!(watch(
            Protocol::Bedrock,
            &[b"\x0b:event-type\x07\x00\x0bmessageStop"]
        ));
        assert!(watch(
            Protocol::BedrockInvoke,
            &[b"{\"bytes\":\"eyJ0eXBlIjoibWVzc2FnZV9zdG9wIn0=\"}"]
        ));
    }

    #[test]
    fn a_stream_that_just_stops_is_not_complete() {
        assert!(!watch(Protocol::OpenAi, &[b"data: {\"choices\":[]}\n\n"]));
        assert!(!watch(
            Protocol::Anthropic,
            &[b"event: content_block_delta\ndata: {}\n\n"]
        ));
        assert!(!watch(
            Protocol::Gemini,
            &[b"data: {\"candidates\":[]}\n\n"]
        ));
    }

    #[test]
    fn markers_split_across_chunks_are_seen() {
        let bytes = b"data: {}\n\ndata: [DONE]\n\n";
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            assert!(watch(Protocol::OpenAi, &[a, b]), "cut at {cut}");
        }
        let bytes = b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            let singles: Vec<&[u8]> = a.chunks(1).chain(b.chunks(3)).collect();
            assert!(watch(Protocol::Anthropic, &singles), "cut at {cut}");
        }
    }

    #[test]
    fn markers_quoted_inside_text_do_not_count() {
        let text = br#"data: {"choices":[{"delta":{"content":"say data: [DONE] and message_stop\" now"}}]}"#;
        assert!(!watch(Protocol::OpenAi, &[text]));
        let text = br#"data: {"type":"content_block_delta","delta":{"text":"message_stop\" or \"finishReason\": here"}}"#;
        assert!(!watch(Protocol::Anthropic, &[text]));
        assert!(!watch(Protocol::Gemini, &[text]));
    }
}
