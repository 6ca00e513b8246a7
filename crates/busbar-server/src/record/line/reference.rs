//! The writer as it was before it was tuned, kept to check the tuned one
//! against, byte for byte.

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
        json.key("lane").optional_string(self.lane);
        json.key("egress").optional_string(self.egress);
        json.key("upstream_model")
            .optional_string(self.upstream_model);
        json.key("attempts").open(b'[');
        for attempt in self.attempts {
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
