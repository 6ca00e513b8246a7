//! Server-Sent Events: an incremental decoder and an encoder.
//!
//! The decoder follows the WHATWG event-stream rules that matter for LLM
//! streams: lines end in LF, CRLF or CR; `data:` lines accumulate (joined by
//! LF); `event:` names the event; lines starting with `:` are comments
//! (pings); a blank line dispatches. Input may be split anywhere, including
//! between a CR and its LF or inside a UTF-8 sequence, and yields the same
//! events. A line longer than the configured cap is an error rather than an
//! unbounded allocation.
//!
//! [`Driver`] is the drive loop every SSE-based stream decoder shares (Chat
//! Completions, Responses, Anthropic, Gemini, Cohere), so that all of them
//! treat a broken line the same way; see [`Handler`].

use busbar_ir::StreamEvent;

use crate::error::DecodeError;

/// The default cap on one line: large enough for a data line carrying a
/// whole multi-megabyte tool result or image, small enough to bound memory.
pub const DEFAULT_MAX_LINE: usize = 16 * 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// The `event:` name, if the event had one.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// An incremental SSE decoder. One per stream.
#[derive(Debug)]
pub struct Decoder {
    line: Vec<u8>,
    event: Option<String>,
    data: String,
    has_data: bool,
    /// The previous chunk ended in CR: a leading LF in the next one belongs
    /// to the same line ending.
    after_cr: bool,
    max_line: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with [`DEFAULT_MAX_LINE`].
    pub fn new() -> Self {
        Self::with_max_line(DEFAULT_MAX_LINE)
    }

    /// A decoder that rejects lines longer than `max_line` bytes.
    pub fn with_max_line(max_line: usize) -> Self {
        Self {
            line: Vec::new(),
            event: None,
            data: String::new(),
            has_data: false,
            after_cr: false,
            max_line,
        }
    }

    /// Decodes the next bytes; appends every event they complete to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        // An empty read (hyper may deliver empty data frames) must not
        // forget that the previous read ended in CR.
        if bytes.is_empty() {
            return Ok(());
        }
        if self.after_cr {
            self.after_cr = false;
            if let [b'\n', rest @ ..] = bytes {
                bytes = rest;
            }
        }
        while let Some(end) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (head, tail) = bytes.split_at(end);
            self.push_partial(head)?;
            self.end_line(out)?;
            bytes = &tail[1..];
            if tail[0] == b'\r' {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.push_partial(bytes)
    }

    /// The stream ended: dispatches an event whose lines were complete but
    /// which lacked its closing blank line. A trailing partial line is
    /// discarded, as the SSE rules require.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        self.line.clear();
        self.dispatch(out);
    }

    /// Whether no partial line or undispatched event is pending.
    pub fn is_idle(&self) -> bool {
        self.line.is_empty() && !self.has_data && self.event.is_none()
    }

    fn push_partial(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        if self.line.len() + bytes.len() > self.max_line {
            return Err(DecodeError::Stream(format!(
                "SSE line longer than {} bytes",
                self.max_line
            )));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<Event>) -> Result<(), DecodeError> {
        if self.line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        let line = std::str::from_utf8(&self.line)
            .map_err(|_| DecodeError::Stream("SSE line is not UTF-8".into()))?;
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            // Comments (empty field name), `id`, `retry` and unknown fields
            // carry nothing an LLM stream needs.
            _ => {}
        }
        self.line.clear();
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<Event>) {
        if self.has_data {
            out.push(Event {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
            });
        }
        self.event = None;
        self.has_data = false;
    }
}

/// A stream decoder built on SSE, as [`Driver`] drives it: what one event
/// means in its format, and whether the format's terminal event has been
/// read.
///
/// The one rule on a framing error (an overlong or non-UTF-8 line): the
/// events completed before the broken line are handled, so what they say
/// reaches `out`, and then the error is returned. Once the terminal event
/// has been read nothing after it is read, broken or not, so where the
/// bytes were split never decides whether a stream fails.
pub(crate) trait Handler: Sized {
    /// The driver, kept in the decoder.
    fn driver(&mut self) -> &mut Driver;

    /// Handles one event; appends the IR events it completes to `out`.
    fn event(&mut self, event: &Event, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError>;

    /// Whether the format's terminal event has been read.
    fn ended(&self) -> bool;

    /// Decodes the next bytes and handles the events they complete.
    fn feed_sse(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if self.ended() {
            return Ok(());
        }
        let mut driver = std::mem::take(self.driver());
        let framed = driver.decoder.feed(bytes, &mut driver.events);
        let handled = driver.handle(self, out);
        *self.driver() = driver;
        handled?;
        if self.ended() {
            return Ok(());
        }
        framed
    }

    /// The input ended: handles the event still pending, if any.
    fn finish_sse(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if self.ended() {
            return Ok(());
        }
        let mut driver = std::mem::take(self.driver());
        driver.decoder.finish(&mut driver.events);
        let handled = driver.handle(self, out);
        *self.driver() = driver;
        handled
    }
}

/// The SSE side of a [`Handler`]: the decoder, and the events it completed
/// that are waiting to be handled (kept to reuse the allocation).
#[derive(Debug, Default)]
pub(crate) struct Driver {
    decoder: Decoder,
    events: Vec<Event>,
}

impl Driver {
    /// Hands the completed events to `handler` in order, stopping at the
    /// first it fails on or at the terminal event.
    fn handle<H: Handler>(
        &mut self,
        handler: &mut H,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), DecodeError> {
        let mut result = Ok(());
        for event in &self.events {
            if handler.ended() {
                break;
            }
            result = handler.event(event, out);
            if result.is_err() {
                break;
            }
        }
        self.events.clear();
        result
    }
}

/// Appends one event to `out`: an optional `event:` line, one `data: ` line
/// per line of `data`, and the blank line that dispatches it.
pub fn write_event(out: &mut Vec<u8>, event: Option<&str>, data: &str) {
    if let Some(name) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    for line in data.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<Event> {
        let mut decoder = Decoder::new();
        let mut out = Vec::new();
        for chunk in chunks {
            decoder.feed(chunk, &mut out).unwrap();
        }
        decoder.finish(&mut out);
        out
    }

    fn ev(event: Option<&str>, data: &str) -> Event {
        Event {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn named_and_unnamed_events() {
        let events = decode_all(&[b"event: ping\ndata: {}\n\ndata: {\"a\":1}\n\n"]);
        assert_eq!(events, vec![ev(Some("ping"), "{}"), ev(None, "{\"a\":1}")]);
    }

    #[test]
    fn crlf_cr_and_multiline_data() {
        let events = decode_all(&[b"data: one\r\ndata: two\r\n\r\ndata:three\r\r"]);
        assert_eq!(events, vec![ev(None, "one\ntwo"), ev(None, "three")]);
    }

    #[test]
    fn comments_and_fields_without_data_dispatch_nothing() {
        let events = decode_all(&[b": keep-alive\n\nid: 7\nretry: 10\n\nevent: x\n\n"]);
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn cr_split_from_its_lf_is_one_line_ending() {
        let events = decode_all(&[b"data: a\r", b"\n\r", b"\n"]);
        assert_eq!(events, vec![ev(None, "a")]);
    }

    #[test]
    fn an_empty_read_between_cr_and_lf_changes_nothing() {
        let events = decode_all(&[b"event: e\r\ndata: a\r", b"", b"\n\r\n"]);
        assert_eq!(events, vec![ev(Some("e"), "a")]);
    }

    #[test]
    fn utf8_split_across_reads() {
        let bytes = "data: héllo ✓\n\n".as_bytes();
        let events = decode_all(&[&bytes[..8], &bytes[8..15], &bytes[15..]]);
        assert_eq!(events, vec![ev(None, "héllo ✓")]);
    }

    #[test]
    fn unterminated_event_is_dispatched_at_finish_and_partial_line_dropped() {
        let events = decode_all(&[b"data: done\ndata: part"]);
        assert_eq!(events, vec![ev(None, "done")]);
    }

    #[test]
    fn overlong_lines_are_rejected() {
        let mut decoder = Decoder::with_max_line(8);
        let mut out = Vec::new();
        assert!(decoder.feed(b"data: 0123456789", &mut out).is_err());
    }

    #[test]
    fn writer_output_decodes_to_the_same_event() {
        let mut bytes = Vec::new();
        write_event(&mut bytes, Some("message_start"), "{\"x\":\n1}");
        assert_eq!(bytes, b"event: message_start\ndata: {\"x\":\ndata: 1}\n\n");
        assert_eq!(
            decode_all(&[&bytes]),
            vec![ev(Some("message_start"), "{\"x\":\n1}")]
        );
    }

    proptest! {
        #[test]
        fn any_split_yields_the_same_events(
            datas in proptest::collection::vec("[a-z{}\":, ]{0,20}", 1..6),
            crlf in any::<bool>(),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let mut bytes = Vec::new();
            for (i, data) in datas.iter().enumerate() {
                let name = format!("e{i}");
                write_event(&mut bytes, Some(&name), data);
            }
            if crlf {
                bytes = String::from_utf8(bytes).unwrap().replace('\n', "\r\n").into_bytes();
            }
            let whole = decode_all(&[&bytes]);
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for point in points {
                chunks.push(&bytes[start..point]);
                start = point;
            }
            chunks.push(&bytes[start..]);
            prop_assert_eq!(decode_all(&chunks), whole.clone());
            let expected: Vec<Event> = datas
                .iter()
                .enumerate()
                .map(|(i, d)| ev(Some(&format!("e{i}")), d))
                .collect();
            prop_assert_eq!(whole, expected);
        }
    }
}
