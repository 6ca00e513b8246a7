//! The record as written: one JSON object per line, and the words it
//! uses for what a request was and how it ended.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::Value;

/// The record as written: one JSON object per line.
pub(super) struct Line<'a> {
    pub(super) request_id: &'a str,
    pub(super) time: SystemTime,
    pub(super) kind: Kind,
    pub(super) key_id: Option<&'a str>,
    pub(super) client: SocketAddr,
    pub(super) ingress: &'static str,
    pub(super) path: &'a str,
    pub(super) model: Option<&'a str>,
    pub(super) pool: Option<&'a str>,
    pub(super) stream: Option<bool>,
    pub(super) status: u16,
    pub(super) outcome: Outcome,
    pub(super) failure: Option<&'static str>,
    pub(super) error: Option<&'a str>,
    pub(super) lane: Option<&'a str>,
    pub(super) egress: Option<&'static str>,
    pub(super) upstream_model: Option<&'a str>,
    pub(super) attempts: Vec<AttemptLine<'a>>,
    pub(super) usage: Option<UsageLine>,
    pub(super) cost_microdollars: Option<u64>,
    pub(super) total: Duration,
    pub(super) first_byte: Option<Duration>,
    pub(super) upstream: Duration,
    pub(super) overhead: Duration,
    pub(super) dropped: &'a [String],
    pub(super) request_body: Option<Value>,
    pub(super) request_body_bytes: Option<u64>,
    pub(super) response_body: Option<Value>,
    pub(super) response_body_bytes: Option<u64>,
}

pub(super) struct AttemptLine<'a> {
    pub(super) lane: &'a str,
    pub(super) provider: &'a str,
    pub(super) egress: &'static str,
    pub(super) upstream_model: &'a str,
    pub(super) status: Option<u16>,
    pub(super) failure: Option<&'static str>,
    pub(super) upstream: Option<Duration>,
}

pub(super) struct UsageLine {
    pub(super) input: u64,
    pub(super) output: u64,
    pub(super) cache_read: Option<u64>,
    pub(super) cache_write: Option<u64>,
    pub(super) cache_write_1h: Option<u64>,
    pub(super) reasoning: Option<u64>,
}

impl Line<'_> {
    /// Appends the record as one JSON object (without a newline) to `out`.
    ///
    /// Written by hand, field by field: a record is written for every
    /// request, and serde's generic path (each string escaped through
    /// `io::Write`, each number and the time through `fmt`) cost several
    /// times as much.
    pub(super) fn write(&self, out: &mut Vec<u8>) {
        let mut json = Json { out, first: true };
        json.open(b'{');
        json.key("request_id").string(self.request_id);
        json.key("time");
        json.out.push(b'"');
        super::time::write_rfc3339(json.out, self.time);
        json.out.push(b'"');
        json.key("kind").string(self.kind.as_str());
        json.key("key_id").optional_string(self.key_id);
        json.key("client").address(self.client);
        json.key("ingress").string(self.ingress);
        json.key("path").string(self.path);
        json.key("model").optional_string(self.model);
        json.key("pool").optional_string(self.pool);
        json.key("stream");
        match self.stream {
            Some(stream) => json.boolean(stream),
            None => json.null(),
        }
        json.key("status").number(u64::from(self.status));
        json.key("outcome").string(self.outcome.as_str());
        json.key("failure").optional_string(self.failure);
        json.key("error").optional_string(self.error);
        json.key("lane").optional_string(self.lane);
        json.key("egress").optional_string(self.egress);
        json.key("upstream_model")
            .optional_string(self.upstream_model);
        json.key("attempts").open(b'[');
        for attempt in &self.attempts {
            json.element().open(b'{');
            json.key("lane").string(attempt.lane);
            json.key("provider").string(attempt.provider);
            json.key("egress").string(attempt.egress);
            json.key("upstream_model").string(attempt.upstream_model);
            json.key("status")
                .optional_number(attempt.status.map(u64::from));
            json.key("failure").optional_string(attempt.failure);
            json.key("upstream_ms");
            match attempt.upstream {
                Some(upstream) => json.millis(upstream),
                None => json.null(),
            }
            json.close(b'}');
        }
        json.close(b']');
        json.key("usage");
        match &self.usage {
            Some(usage) => {
                json.open(b'{');
                json.key("input").number(usage.input);
                json.key("output").number(usage.output);
                json.key("cache_read").optional_number(usage.cache_read);
                json.key("cache_write").optional_number(usage.cache_write);
                json.key("cache_write_1h")
                    .optional_number(usage.cache_write_1h);
                json.key("reasoning").optional_number(usage.reasoning);
                json.close(b'}');
            }
            None => json.null(),
        }
        json.key("cost_microdollars")
            .optional_number(self.cost_microdollars);
        json.key("total_ms").millis(self.total);
        json.key("first_byte_ms");
        match self.first_byte {
            Some(first_byte) => json.millis(first_byte),
            None => json.null(),
        }
        json.key("upstream_ms").millis(self.upstream);
        json.key("overhead_ms").millis(self.overhead);
        json.key("dropped").open(b'[');
        for name in self.dropped {
            json.element().string(name);
        }
        json.close(b']');
        for (key, body, bytes) in [
            ("request_body", &self.request_body, self.request_body_bytes),
            (
                "response_body",
                &self.response_body,
                self.response_body_bytes,
            ),
        ] {
            if let Some(body) = body {
                json.key(key);
                // A `Value` always serializes.
                let _ = serde_json::to_writer(&mut *json.out, body);
            }
            if let Some(bytes) = bytes {
                json.key(&format!("{key}_bytes")).number(bytes);
            }
        }
        json.close(b'}');
    }
}

/// A JSON writer for the record's fixed shape: keys are this module's
/// own (plain ASCII), values are escaped.
struct Json<'o> {
    out: &'o mut Vec<u8>,
    /// No member or element yet in the innermost object or array.
    first: bool,
}

impl Json<'_> {
    fn open(&mut self, bracket: u8) -> &mut Self {
        self.out.push(bracket);
        self.first = true;
        self
    }

    fn close(&mut self, bracket: u8) {
        self.out.push(bracket);
        self.first = false;
    }

    fn separate(&mut self) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
    }

    fn key(&mut self, key: &str) -> &mut Self {
        self.separate();
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self
    }

    fn element(&mut self) -> &mut Self {
        self.separate();
        self
    }

    fn null(&mut self) {
        self.out.extend_from_slice(b"null");
    }

    fn boolean(&mut self, value: bool) {
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    fn string(&mut self, value: &str) {
        self.out.push(b'"');
        escape(self.out, value);
        self.out.push(b'"');
    }

    fn optional_string(&mut self, value: Option<&str>) {
        match value {
            Some(value) => self.string(value),
            None => self.null(),
        }
    }

    fn number(&mut self, value: u64) {
        digits(self.out, value, 1);
    }

    fn optional_number(&mut self, value: Option<u64>) {
        match value {
            Some(value) => self.number(value),
            None => self.null(),
        }
    }

    /// A duration in milliseconds, to the microsecond (`12.034`).
    fn millis(&mut self, duration: Duration) {
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        digits(self.out, micros / 1000, 1);
        self.out.push(b'.');
        digits(self.out, micros % 1000, 3);
    }

    fn address(&mut self, address: SocketAddr) {
        self.out.push(b'"');
        match address {
            SocketAddr::V4(v4) => {
                for (index, octet) in v4.ip().octets().into_iter().enumerate() {
                    if index > 0 {
                        self.out.push(b'.');
                    }
                    digits(self.out, u64::from(octet), 1);
                }
                self.out.push(b':');
                digits(self.out, u64::from(v4.port()), 1);
            }
            // Rare enough for `fmt`; an address needs no escaping.
            SocketAddr::V6(v6) => {
                use std::io::Write as _;
                let _ = write!(self.out, "{v6}");
            }
        }
        self.out.push(b'"');
    }
}

/// `value` in decimal, zero-padded to at least `width` digits.
pub(super) fn digits(out: &mut Vec<u8>, mut value: u64, width: usize) {
    let mut buffer = [b'0'; 20];
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    let start = at.min(buffer.len() - width.min(buffer.len()));
    out.extend_from_slice(&buffer[start..]);
}

/// `value` escaped for a JSON string: quotes, backslashes and control
/// characters; the rest as it is (UTF-8 passes through).
fn escape(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    let plain = |byte: u8| byte >= 0x20 && byte != b'"' && byte != b'\\';
    if bytes.iter().all(|&byte| plain(byte)) {
        out.extend_from_slice(bytes);
        return;
    }
    for &byte in bytes {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            byte if byte < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 0xf)]);
            }
            byte => out.push(byte),
        }
    }
}

/// What a model route was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// A reply.
    Generate,
    /// A prompt's token count.
    CountTokens,
}

impl Kind {
    /// The word the record uses.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Generate => "generate",
            Self::CountTokens => "count_tokens",
        }
    }
}

/// How the request ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// The reply reached its end.
    Success,
    /// The upstream's error was returned (no lane left to fail over to).
    UpstreamError,
    /// Busbar refused or could not serve the request.
    Error,
    /// A stream began and ended with an in-stream error event.
    StreamError,
    /// The client left before the body's end.
    ClientGone,
}

impl Outcome {
    /// The word the record uses.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::UpstreamError => "upstream_error",
            Self::Error => "error",
            Self::StreamError => "stream_error",
            Self::ClientGone => "client_gone",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(write: impl FnOnce(&mut Json<'_>)) -> String {
        let mut out = Vec::new();
        let mut json = Json {
            out: &mut out,
            first: true,
        };
        write(&mut json);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn strings_are_escaped_as_serde_json_would() {
        for text in [
            "plain",
            "",
            "quote \" and \\ back",
            "lines\r\n\ttab \u{1} \u{1f} \u{7f} é 漢字 🚀",
        ] {
            let ours = written(|json| json.string(text));
            assert_eq!(ours, serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn numbers_durations_and_addresses_read_back() {
        assert_eq!(written(|json| json.number(0)), "0");
        assert_eq!(written(|json| json.number(u64::MAX)), u64::MAX.to_string());
        assert_eq!(
            written(|json| json.millis(Duration::from_micros(12_034))),
            "12.034"
        );
        assert_eq!(written(|json| json.millis(Duration::ZERO)), "0.000");
        assert_eq!(
            written(|json| json.address("10.0.255.1:65535".parse().unwrap())),
            "\"10.0.255.1:65535\""
        );
        assert_eq!(
            written(|json| json.address("[::1]:80".parse().unwrap())),
            "\"[::1]:80\""
        );
        let object = written(|json| {
            json.open(b'{');
            json.key("a").open(b'[');
            json.element().number(1);
            json.element().open(b'{');
            json.close(b'}');
            json.close(b']');
            json.key("b").null();
            json.close(b'}');
        });
        assert_eq!(object, r#"{"a":[1,{}],"b":null}"#);
    }
}
