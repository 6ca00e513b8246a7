//! Server-sent events: build frames the way the vendors write them, and split a received stream
//! back into events so tests can assert on the sequence.
//!
//! Vendors always write `data: ` with the space (google-genai breaks without it), one `data:`
//! line per line of payload, and a blank line after each event. The parser follows the WHATWG
//! rules a client uses: `\n`, `\r\n` or `\r` line ends, comment lines, several `data:` lines
//! joined by `\n`, and an unterminated last event dropped.

use bytes::Bytes;
use serde_json::Value;

/// One SSE frame: an optional `event:` line, then `data:` lines, then a blank line.
///
/// ```
/// assert_eq!(busbar_testkit::sse::event(Some("ping"), "{}"), "event: ping\ndata: {}\n\n");
/// assert_eq!(busbar_testkit::sse::event(None, "[DONE]"), "data: [DONE]\n\n");
/// ```
pub fn event(name: Option<&str>, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(name) = name {
        out.push_str("event: ");
        out.push_str(name);
        out.push('\n');
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// A `data:`-only frame, as OpenAI Chat and Gemini write them.
pub fn data(data: &str) -> String {
    event(None, data)
}

/// A frame carrying compact JSON; the hot path of the mock's streams.
pub(crate) fn json_event(name: Option<&str>, value: &Value) -> Bytes {
    // serde_json never writes a raw newline in compact output, so one `data:` line suffices.
    let json = value.to_string();
    let mut out = Vec::with_capacity(json.len() + 32);
    if let Some(name) = name {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// One parsed event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SseEvent {
    /// The `event:` field, when present.
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

impl SseEvent {
    /// The data parsed as JSON, or `None` when it is not JSON (e.g. `[DONE]`).
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.data).ok()
    }
}

/// Splits an SSE body into events. Events with neither `event:` nor `data:` are skipped.
pub fn parse(body: &str) -> Vec<SseEvent> {
    let mut events = Vec::new();
    let mut name: Option<String> = None;
    let mut data: Option<String> = None;
    let mut rest = body;
    while let Some(end) = rest.find(['\n', '\r']) {
        let line = &rest[..end];
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
        if line.is_empty() {
            if name.is_some() || data.is_some() {
                events.push(SseEvent {
                    event: name.take(),
                    data: data.take().unwrap_or_default(),
                });
            }
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => name = Some(value.to_owned()),
            "data" => match &mut data {
                Some(joined) => {
                    joined.push('\n');
                    joined.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    events
}

/// The event names of a parsed stream, `"data"` standing in for events without a name.
pub fn event_names(events: &[SseEvent]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e.event.as_deref().unwrap_or("data"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builds_frames() {
        assert_eq!(event(Some("x"), "a\nb"), "event: x\ndata: a\ndata: b\n\n");
        assert_eq!(data("[DONE]"), "data: [DONE]\n\n");
        let frame = json_event(Some("ping"), &json!({"type": "ping"}));
        assert_eq!(&frame[..], b"event: ping\ndata: {\"type\":\"ping\"}\n\n");
    }

    #[test]
    fn parses_what_it_builds_and_vendor_quirks() {
        let body = [
            event(Some("message_start"), "{\"a\":1}"),
            ": keep-alive comment\n\n".to_owned(),
            "data:no-space\r\ndata: two\r\n\r\n".to_owned(),
            data("[DONE]"),
            "data: unterminated".to_owned(),
        ]
        .concat();
        let events = parse(&body);
        assert_eq!(event_names(&events), vec!["message_start", "data", "data"]);
        assert_eq!(events[0].json(), Some(json!({"a": 1})));
        assert_eq!(events[1].data, "no-space\ntwo");
        assert_eq!(events[2].data, "[DONE]");
        assert_eq!(events[2].json(), None);
    }

    #[test]
    fn lone_carriage_returns_end_lines() {
        let events = parse("event: e\rdata: d\r\r");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.as_deref(), Some("e"));
        assert_eq!(events[0].data, "d");
    }
}
