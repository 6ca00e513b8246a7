//! The record as written: one JSON object per line, and the words it
//! uses for what a request was and how it ended.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::Value;

/// The record as written: one JSON object per line; `Attempts` yields
/// each attempt's [`AttemptLine`].
pub(super) struct Line<'a, Attempts> {
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
    /// The lane that served the reply.
    pub(super) served: Option<&'a LaneLine>,
    pub(super) attempts: Attempts,
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
    pub(super) lane: &'a LaneLine,
    pub(super) status: Option<u16>,
    pub(super) failure: Option<&'static str>,
    pub(super) upstream: Option<Duration>,
}

/// A lane's names as the record writes them, escaped once when the lane
/// is configured rather than for every request.
pub(crate) struct LaneLine {
    /// `{"lane":…,"provider":…,"egress":…,"upstream_model":…` opening the
    /// lane's entry in `attempts`.
    attempt: Vec<u8>,
    /// `,"lane":…,"egress":…,"upstream_model":…` for the record of a
    /// request this lane served.
    served: Vec<u8>,
    #[cfg(test)]
    names: (String, String, &'static str, String),
}

impl LaneLine {
    /// The names of lane `lane` (model `upstream_model` at provider
    /// `provider`, speaking `egress`).
    pub(crate) fn new(
        lane: &str,
        provider: &str,
        egress: &'static str,
        upstream_model: &str,
    ) -> Self {
        let mut attempt = Vec::new();
        let mut json = Json { out: &mut attempt };
        json.literal(b"{\"lane\":");
        json.string(lane);
        json.literal(b",\"provider\":");
        json.string(provider);
        json.literal(b",\"egress\":");
        json.word(egress);
        json.literal(b",\"upstream_model\":");
        json.string(upstream_model);
        let mut served = Vec::new();
        let mut json = Json { out: &mut served };
        json.literal(b",\"lane\":");
        json.string(lane);
        json.literal(b",\"egress\":");
        json.word(egress);
        json.literal(b",\"upstream_model\":");
        json.string(upstream_model);
        Self {
            attempt,
            served,
            #[cfg(test)]
            names: (
                lane.to_owned(),
                provider.to_owned(),
                egress,
                upstream_model.to_owned(),
            ),
        }
    }
}

pub(super) struct UsageLine {
    pub(super) input: u64,
    pub(super) output: u64,
    pub(super) cache_read: Option<u64>,
    pub(super) cache_write: Option<u64>,
    pub(super) cache_write_1h: Option<u64>,
    pub(super) reasoning: Option<u64>,
}

impl<'a, Attempts: Iterator<Item = AttemptLine<'a>>> Line<'a, Attempts> {
    /// Appends the record as one JSON object (without a newline) to `out`.
    ///
    /// Written by hand: a record is written for every request, and serde's
    /// generic path cost several times as much. The object's shape is fixed
    /// (only the arrays' lengths and the bodies vary), so each key is
    /// written with its separator and quotes as one literal.
    pub(super) fn write(self, out: &mut Vec<u8>) {
        let mut json = Json { out };
        json.literal(b"{\"request_id\":");
        json.string(self.request_id);
        json.literal(b",\"time\":\"");
        super::time::write_rfc3339(json.out, self.time);
        json.literal(b"\",\"kind\":");
        json.word(self.kind.as_str());
        json.literal(b",\"key_id\":");
        json.optional_string(self.key_id);
        json.literal(b",\"client\":");
        json.address(self.client);
        json.literal(b",\"ingress\":");
        json.word(self.ingress);
        json.literal(b",\"path\":");
        json.string(self.path);
        json.literal(b",\"model\":");
        json.optional_string(self.model);
        json.literal(b",\"pool\":");
        json.optional_string(self.pool);
        json.literal(b",\"stream\":");
        json.literal(match self.stream {
            Some(true) => b"true",
            Some(false) => b"false",
            None => b"null",
        });
        json.literal(b",\"status\":");
        json.number(u64::from(self.status));
        json.literal(b",\"outcome\":");
        json.word(self.outcome.as_str());
        json.literal(b",\"failure\":");
        json.optional_word(self.failure);
        json.literal(b",\"error\":");
        json.optional_string(self.error);
        match self.served {
            Some(lane) => json.literal(&lane.served),
            None => json.literal(b",\"lane\":null,\"egress\":null,\"upstream_model\":null"),
        }
        json.literal(b",\"attempts\":[");
        for (index, attempt) in self.attempts.enumerate() {
            if index > 0 {
                json.literal(b",");
            }
            json.literal(&attempt.lane.attempt);
            json.literal(b",\"status\":");
            json.optional_number(attempt.status.map(u64::from));
            json.literal(b",\"failure\":");
            json.optional_word(attempt.failure);
            json.literal(b",\"upstream_ms\":");
            json.optional_millis(attempt.upstream);
            json.literal(b"}");
        }
        json.literal(b"],\"usage\":");
        match &self.usage {
            Some(usage) => {
                json.literal(b"{\"input\":");
                json.number(usage.input);
                json.literal(b",\"output\":");
                json.number(usage.output);
                json.literal(b",\"cache_read\":");
                json.optional_number(usage.cache_read);
                json.literal(b",\"cache_write\":");
                json.optional_number(usage.cache_write);
                json.literal(b",\"cache_write_1h\":");
                json.optional_number(usage.cache_write_1h);
                json.literal(b",\"reasoning\":");
                json.optional_number(usage.reasoning);
                json.literal(b"}");
            }
            None => json.literal(b"null"),
        }
        json.literal(b",\"cost_microdollars\":");
        json.optional_number(self.cost_microdollars);
        json.literal(b",\"total_ms\":");
        json.millis(self.total);
        json.literal(b",\"first_byte_ms\":");
        json.optional_millis(self.first_byte);
        json.literal(b",\"upstream_ms\":");
        json.millis(self.upstream);
        json.literal(b",\"overhead_ms\":");
        json.millis(self.overhead);
        json.literal(b",\"dropped\":[");
        for (index, name) in self.dropped.iter().enumerate() {
            if index > 0 {
                json.literal(b",");
            }
            json.string(name);
        }
        json.literal(b"]");
        if let Some(body) = &self.request_body {
            json.literal(b",\"request_body\":");
            json.value(body);
        }
        if let Some(bytes) = self.request_body_bytes {
            json.literal(b",\"request_body_bytes\":");
            json.number(bytes);
        }
        if let Some(body) = &self.response_body {
            json.literal(b",\"response_body\":");
            json.value(body);
        }
        if let Some(bytes) = self.response_body_bytes {
            json.literal(b",\"response_body_bytes\":");
            json.number(bytes);
        }
        json.literal(b"}");
    }
}

/// A JSON writer for the record's values; keys and punctuation are the
/// caller's literals.
struct Json<'o> {
    out: &'o mut Vec<u8>,
}

impl Json<'_> {
    /// Bytes written as they are: keys, punctuation, `null`.
    #[inline]
    fn literal(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    fn string(&mut self, value: &str) {
        self.out.push(b'"');
        escape(self.out, value);
        self.out.push(b'"');
    }

    fn optional_string(&mut self, value: Option<&str>) {
        match value {
            Some(value) => self.string(value),
            None => self.literal(b"null"),
        }
    }

    /// One of this module's own words, which need no escaping.
    fn word(&mut self, word: &'static str) {
        self.out.push(b'"');
        self.out.extend_from_slice(word.as_bytes());
        self.out.push(b'"');
    }

    fn optional_word(&mut self, word: Option<&'static str>) {
        match word {
            Some(word) => self.word(word),
            None => self.literal(b"null"),
        }
    }

    fn number(&mut self, value: u64) {
        digits(self.out, value);
    }

    fn optional_number(&mut self, value: Option<u64>) {
        match value {
            Some(value) => self.number(value),
            None => self.literal(b"null"),
        }
    }

    /// A duration in milliseconds, to the microsecond (`12.034`).
    fn millis(&mut self, duration: Duration) {
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        digits(self.out, micros / 1000);
        let fraction = (micros % 1000) as u16;
        self.out.push(b'.');
        self.out.push(b'0' + (fraction / 100) as u8);
        pair(self.out, (fraction % 100) as u8);
    }

    fn optional_millis(&mut self, duration: Option<Duration>) {
        match duration {
            Some(duration) => self.millis(duration),
            None => self.literal(b"null"),
        }
    }

    fn value(&mut self, value: &Value) {
        // A `Value` always serializes.
        let _ = serde_json::to_writer(&mut *self.out, value);
    }

    fn address(&mut self, address: SocketAddr) {
        self.out.push(b'"');
        match address {
            SocketAddr::V4(v4) => {
                let [a, b, c, d] = v4.ip().octets();
                for (octet, then) in [(a, b'.'), (b, b'.'), (c, b'.'), (d, b':')] {
                    digits(self.out, u64::from(octet));
                    self.out.push(then);
                }
                digits(self.out, u64::from(v4.port()));
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

/// `00` to `99`, two bytes a number.
const PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// `value` (below 100) as two digits.
#[inline]
pub(super) fn pair(out: &mut Vec<u8>, value: u8) {
    let at = usize::from(value) * 2;
    out.extend_from_slice(&PAIRS[at..at + 2]);
}

/// `value` in decimal, two digits at a time.
pub(super) fn digits(out: &mut Vec<u8>, mut value: u64) {
    if value < 10 {
        out.push(b'0' + value as u8);
        return;
    }
    let mut buffer = [0u8; 20];
    let mut at = buffer.len();
    while value >= 100 {
        let two = usize::from((value % 100) as u8) * 2;
        value /= 100;
        at -= 2;
        buffer[at..at + 2].copy_from_slice(&PAIRS[two..two + 2]);
    }
    if value >= 10 {
        let two = usize::from(value as u8) * 2;
        at -= 2;
        buffer[at..at + 2].copy_from_slice(&PAIRS[two..two + 2]);
    } else {
        at -= 1;
        buffer[at] = b'0' + value as u8;
    }
    out.extend_from_slice(&buffer[at..]);
}

/// Bytes a JSON string cannot hold as they are: control characters,
/// quotes, backslashes.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// `value` escaped for a JSON string: quotes, backslashes and control
/// characters; the rest as it is (UTF-8 passes through). The usual string
/// needs no escaping, which is checked eight bytes at a time and then
/// copied whole; one that does is copied a run at a time.
fn escape(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    if !needs_escape(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    let mut plain_from = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        if !NEEDS_ESCAPE[usize::from(byte)] {
            continue;
        }
        out.extend_from_slice(&bytes[plain_from..at]);
        plain_from = at + 1;
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 0xf)]);
            }
        }
    }
    out.extend_from_slice(&bytes[plain_from..]);
}

/// Whether any byte of `bytes` needs escaping: eight at a time, the last
/// eight (overlapping) for the tail, byte by byte only when shorter.
fn needs_escape(bytes: &[u8]) -> bool {
    let word = |eight: &[u8]| u64::from_le_bytes(eight.try_into().expect("eight bytes"));
    if bytes.len() < 8 {
        return bytes.iter().any(|&byte| NEEDS_ESCAPE[usize::from(byte)]);
    }
    let mut chunks = bytes.chunks_exact(8);
    if chunks.by_ref().any(|eight| any_needs_escape(word(eight))) {
        return true;
    }
    !chunks.remainder().is_empty() && any_needs_escape(word(&bytes[bytes.len() - 8..]))
}

/// Whether any of the eight bytes in `word` is a control character, a
/// quote or a backslash (never wrong when it says no; a yes is checked
/// byte by byte).
fn any_needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
    control | quote | backslash != 0
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
    use std::sync::LazyLock;
    use std::time::UNIX_EPOCH;

    use super::*;

    fn written(write: impl FnOnce(&mut Json<'_>)) -> String {
        let mut out = Vec::new();
        write(&mut Json { out: &mut out });
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn the_eight_byte_check_misses_no_byte_that_needs_escaping() {
        for byte in 0..=255_u8 {
            for position in 0..8 {
                let mut word = [b'a'; 8];
                word[position] = byte;
                assert_eq!(
                    any_needs_escape(u64::from_le_bytes(word)),
                    NEEDS_ESCAPE[usize::from(byte)],
                    "byte {byte:#04x} at {position}"
                );
            }
        }
        // Mixed words, high bytes of UTF-8 among them.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = state.to_le_bytes();
            let expected = bytes.iter().any(|&byte| NEEDS_ESCAPE[usize::from(byte)]);
            assert_eq!(any_needs_escape(state), expected, "{bytes:?}");
        }
    }

    #[test]
    fn strings_of_every_length_with_an_escape_anywhere_match_serde_json() {
        for length in 0..40 {
            for position in 0..=length {
                for special in ['"', '\\', '\n', '\u{1}', 'é'] {
                    let mut text: String = "abcdefghij".chars().cycle().take(length).collect();
                    if position < length {
                        text.replace_range(position..=position, &special.to_string());
                    }
                    let ours = written(|json| json.string(&text));
                    assert_eq!(ours, serde_json::to_string(&text).unwrap(), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_would() {
        for text in [
            "plain",
            "",
            "\"",
            "quote \" and \\ back",
            "lines\r\n\ttab \u{1} \u{1f} \u{7f} é 漢字 🚀",
            "ends escaped\n",
        ] {
            let ours = written(|json| json.string(text));
            assert_eq!(ours, serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn numbers_durations_and_addresses_read_back() {
        let mut value = 1u64;
        for _ in 0..20 {
            for number in [value - 1, value, value + 1, value.saturating_mul(5)] {
                assert_eq!(written(|json| json.number(number)), number.to_string());
            }
            value = value.saturating_mul(10);
        }
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
    }

    /// The `case`th of many lines, each a different mix of the fields that
    /// vary: absent values, escapes, attempts, usage, bodies.
    fn line(case: u32) -> Line<'static, std::vec::IntoIter<AttemptLine<'static>>> {
        let bit = |n: u32| case & (1 << n) != 0;
        static LANES: LazyLock<Vec<LaneLine>> = LazyLock::new(|| {
            (0..6)
                .map(|n| {
                    LaneLine::new(
                        ["a", "lane \"two\"", "ln\u{1}"][n % 3],
                        "prov\\ider",
                        ["openai", "anthropic"][n % 2],
                        "gpt-x",
                    )
                })
                .collect()
        });
        static SERVED: LazyLock<LaneLine> =
            LazyLock::new(|| LaneLine::new("b", "p", "openai", "claude \u{1f}"));
        let attempt = |n: u32| AttemptLine {
            lane: &LANES[n as usize % 6],
            status: n.is_multiple_of(2).then_some(529 + n as u16),
            failure: (n % 3 != 2).then_some("overloaded"),
            upstream: (n != 1).then(|| Duration::from_micros(u64::from(n) * 1_234_567 + 9)),
        };
        let attempts: Vec<AttemptLine<'static>> = (0..case % 4).map(attempt).collect();
        static DROPPED: LazyLock<[String; 2]> =
            LazyLock::new(|| ["top_k".to_owned(), "meta\"data".to_owned()]);
        Line {
            request_id: if bit(0) { "req \"1\"\n" } else { "0193-abcd" },
            time: UNIX_EPOCH + Duration::from_millis(u64::from(case) * 987_654_321_017),
            kind: if bit(1) {
                Kind::CountTokens
            } else {
                Kind::Generate
            },
            key_id: bit(2).then_some("team\tkey"),
            client: if bit(3) {
                "[2001:db8::1]:443".parse().unwrap()
            } else {
                "192.168.10.200:54321".parse().unwrap()
            },
            ingress: "openai",
            path: "/v1/chat/completions",
            model: bit(4).then_some("fast"),
            pool: bit(5).then_some("pool é"),
            stream: [None, Some(true), Some(false)][case as usize % 3],
            status: [200, 502, 0][case as usize % 3],
            outcome: [
                Outcome::Success,
                Outcome::UpstreamError,
                Outcome::ClientGone,
            ][case as usize % 3],
            failure: bit(6).then_some("rate_limited"),
            error: bit(7).then_some("upstream said \"no\"\r\n"),
            served: bit(2).then(|| &*SERVED),
            attempts: attempts.into_iter(),
            usage: bit(8).then_some(UsageLine {
                input: u64::from(case) * 1_000_003,
                output: 9,
                cache_read: bit(1).then_some(0),
                cache_write: bit(3).then_some(12_345),
                cache_write_1h: bit(4).then_some(u64::MAX),
                reasoning: bit(5).then_some(100),
            }),
            cost_microdollars: bit(9).then_some(5_500),
            total: Duration::from_nanos(u64::from(case) * 123_456_789),
            first_byte: bit(10).then(|| Duration::from_micros(999)),
            upstream: Duration::from_micros(u64::from(case) * 1_001),
            overhead: Duration::from_secs(u64::from(case)),
            dropped: if bit(11) { &DROPPED[..] } else { &[] },
            request_body: bit(12).then(|| serde_json::json!({"messages": [{"content": "hi\n"}]})),
            request_body_bytes: bit(12).then_some(4_096),
            response_body: bit(13).then(|| Value::String("partial \"reply".into())),
            response_body_bytes: bit(11).then_some(0),
        }
    }

    #[test]
    fn lines_are_written_byte_for_byte_as_before() {
        for case in 0..(1 << 14) {
            let mut ours = Vec::new();
            line(case).write(&mut ours);
            let mut before = Vec::new();
            line(case).write_as_before(&mut before);
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&before),
                "case {case}"
            );
            if case.is_multiple_of(97) {
                let parsed: Value = serde_json::from_slice(&ours).expect("JSON");
                assert!(parsed.is_object());
            }
        }
    }
}

/// The writer as it was before it was tuned, kept to check the tuned one
/// against, byte for byte.
#[cfg(test)]
mod reference {
    use std::net::SocketAddr;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::{AttemptLine, Line};

    impl<'a, Attempts: Iterator<Item = AttemptLine<'a>>> Line<'a, Attempts> {
        /// Appends the record as one JSON object (without a newline) to `out`.
        ///
        /// Written by hand, field by field: a record is written for every
        /// request, and serde's generic path (each string escaped through
        /// `io::Write`, each number and the time through `fmt`) cost several
        /// times as much.
        pub(in crate::record) fn write_as_before(self, out: &mut Vec<u8>) {
            let mut json = Json { out, first: true };
            json.open(b'{');
            json.key("request_id").string(self.request_id);
            json.key("time");
            json.out.push(b'"');
            write_rfc3339(json.out, self.time);
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
            let served = self.served.map(|lane| &lane.names);
            json.key("lane")
                .optional_string(served.map(|names| names.0.as_str()));
            json.key("egress")
                .optional_string(served.map(|names| names.2));
            json.key("upstream_model")
                .optional_string(served.map(|names| names.3.as_str()));
            json.key("attempts").open(b'[');
            for attempt in self.attempts {
                json.element().open(b'{');
                let names = &attempt.lane.names;
                json.key("lane").string(&names.0);
                json.key("provider").string(&names.1);
                json.key("egress").string(names.2);
                json.key("upstream_model").string(&names.3);
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
    fn digits(out: &mut Vec<u8>, mut value: u64, width: usize) {
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

    /// Appends `at` as `YYYY-MM-DDTHH:MM:SS.mmmZ` to `out`,
    /// digit by digit: it is written for every request.
    fn write_rfc3339(out: &mut Vec<u8>, at: SystemTime) {
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let days = i64::try_from(secs / 86_400).unwrap_or(0);
        let of_day = secs % 86_400;
        let (year, month, day) = crate::record::time::civil(days);
        let digits = digits;
        digits(out, u64::try_from(year).unwrap_or(0), 4);
        out.push(b'-');
        digits(out, u64::from(month), 2);
        out.push(b'-');
        digits(out, u64::from(day), 2);
        out.push(b'T');
        digits(out, of_day / 3600, 2);
        out.push(b':');
        digits(out, of_day / 60 % 60, 2);
        out.push(b':');
        digits(out, of_day % 60, 2);
        out.push(b'.');
        digits(out, u64::from(since.subsec_millis()), 3);
        out.push(b'Z');
    }
}
