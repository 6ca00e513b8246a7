//! W3C trace context: reading a client's `traceparent` and `tracestate`,
//! writing our own, new trace and span ids, and the sampler the
//! OpenTelemetry variables choose.

use std::cell::Cell;

use http::{HeaderMap, HeaderName, HeaderValue};

/// A 16-byte trace id (never all zero).
pub(super) type TraceId = [u8; 16];
/// An 8-byte span id (never all zero).
pub(super) type SpanId = [u8; 8];

pub(super) const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub(super) const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The `sampled` bit of the W3C trace flags.
pub(super) const SAMPLED: u8 = 0x01;

/// The context a client's `traceparent` carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Parent {
    pub(super) trace_id: TraceId,
    pub(super) span_id: SpanId,
    pub(super) flags: u8,
}

/// The client's span context from its `traceparent` header, when it sent
/// one valid one (W3C Trace Context, level 1: version `00` exactly as
/// long as it defines, a later version possibly longer).
pub(super) fn parent(headers: &HeaderMap) -> Option<Parent> {
    let mut values = headers.get_all(&TRACEPARENT).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    parse_traceparent(value.as_bytes())
}

fn parse_traceparent(value: &[u8]) -> Option<Parent> {
    if value.len() < 55 || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let version = hex_byte(&value[..2])?;
    match version {
        0x00 if value.len() != 55 => return None,
        0xff => return None,
        _ if value.len() > 55 && value[55] != b'-' => return None,
        _ => {}
    }
    let mut trace_id = [0; 16];
    for (byte, pair) in trace_id.iter_mut().zip(value[3..35].chunks_exact(2)) {
        *byte = hex_byte(pair)?;
    }
    let mut span_id = [0; 8];
    for (byte, pair) in span_id.iter_mut().zip(value[36..52].chunks_exact(2)) {
        *byte = hex_byte(pair)?;
    }
    let flags = hex_byte(&value[53..55])?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some(Parent {
        trace_id,
        span_id,
        flags,
    })
}

/// Two lowercase hex digits.
fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    Some(digit(pair[0])? << 4 | digit(pair[1])?)
}

/// The client's `tracestate`, carried on when it is well formed: list
/// members `key=value`, at most 32 of them and 512 bytes in all (a longer
/// or malformed one is dropped, as the W3C allows).
pub(super) fn tracestate(headers: &HeaderMap) -> Option<HeaderValue> {
    let value = headers.get(&TRACESTATE)?;
    let text = value.to_str().ok()?;
    if text.len() > 512 {
        return None;
    }
    let mut members = 0;
    for member in text.split(',') {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            continue;
        }
        members += 1;
        let (key, state) = member.split_once('=')?;
        let key_ok = !key.is_empty()
            && key.len() <= 256
            && key
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/@".contains(&c));
        let state_ok = !state.is_empty()
            && state.len() <= 256
            && state
                .bytes()
                .all(|c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=');
        if !key_ok || !state_ok {
            return None;
        }
    }
    (members > 0 && members <= 32).then(|| value.clone())
}

/// The W3C `traceparent` for span `span_id` of trace `trace_id`:
/// `00-{trace id}-{span id}-{flags}` in lowercase hex.
pub(super) fn traceparent(trace_id: &TraceId, span_id: &SpanId, flags: u8) -> [u8; 55] {
    let mut value = [b'-'; 55];
    value[..2].copy_from_slice(b"00");
    hex(trace_id, &mut value[3..35]);
    hex(span_id, &mut value[36..52]);
    hex(&[flags], &mut value[53..]);
    value
}

fn hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

thread_local! {
    /// Each thread's id generator, seeded from the operating system.
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut bytes = [0; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No entropy source: the clock and the thread still tell threads
        // and runs apart.
        use std::hash::{BuildHasher, RandomState};
        return RandomState::new().hash_one(std::thread::current().id());
    }
    u64::from_le_bytes(bytes)
}

/// 64 random bits (SplitMix64 over a per-thread seed): ids must be unique
/// and unpredictable enough to spread, not secret.
fn random() -> u64 {
    STATE.with(|state| {
        let next = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// A new trace id.
pub(super) fn new_trace_id() -> TraceId {
    loop {
        let high = random();
        let low = random();
        if high | low != 0 {
            let mut id = [0; 16];
            id[..8].copy_from_slice(&high.to_be_bytes());
            id[8..].copy_from_slice(&low.to_be_bytes());
            return id;
        }
    }
}

/// A new span id.
pub(super) fn new_span_id() -> SpanId {
    loop {
        let id = random();
        if id != 0 {
            return id.to_be_bytes();
        }
    }
}

/// Which traces are recorded: `OTEL_TRACES_SAMPLER` and
/// `OTEL_TRACES_SAMPLER_ARG`, as the OpenTelemetry SDKs read them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Sampler {
    /// Follow a client's sampled flag when it sent a `traceparent`.
    parent_based: bool,
    /// For a trace that starts here: record those whose id falls under
    /// this bound (`0` none, `u64::MAX` all).
    root_bound: u64,
}

impl Sampler {
    /// The sampler the environment names; the default (and what an unknown
    /// name gets, with a warning) is `parentbased_always_on`.
    pub(super) fn from_env() -> Self {
        let name = std::env::var("OTEL_TRACES_SAMPLER").unwrap_or_default();
        let arg = std::env::var("OTEL_TRACES_SAMPLER_ARG").ok();
        Self::named(&name, arg.as_deref())
    }

    pub(super) fn named(name: &str, arg: Option<&str>) -> Self {
        let ratio = || match arg.map(str::trim) {
            None | Some("") => 1.0,
            Some(text) => match text.parse::<f64>() {
                Ok(ratio) if (0.0..=1.0).contains(&ratio) => ratio,
                _ => {
                    tracing::warn!(
                        value = text,
                        "traces: OTEL_TRACES_SAMPLER_ARG is not a ratio from 0 to 1; using 1"
                    );
                    1.0
                }
            },
        };
        let (parent_based, root_bound) = match name.trim() {
            "always_on" => (false, u64::MAX),
            "always_off" => (false, 0),
            "traceidratio" => (false, bound(ratio())),
            "" | "parentbased_always_on" => (true, u64::MAX),
            "parentbased_always_off" => (true, 0),
            "parentbased_traceidratio" => (true, bound(ratio())),
            other => {
                tracing::warn!(
                    sampler = other,
                    "traces: OTEL_TRACES_SAMPLER names no sampler Busbar knows; using parentbased_always_on"
                );
                (true, u64::MAX)
            }
        };
        Self {
            parent_based,
            root_bound,
        }
    }

    /// Whether the trace `trace_id` is recorded here, given the client's
    /// context `parent` (if it sent one).
    pub(super) fn sampled(&self, trace_id: &TraceId, parent: Option<&Parent>) -> bool {
        if self.parent_based {
            if let Some(parent) = parent {
                return parent.flags & SAMPLED != 0;
            }
        }
        match self.root_bound {
            0 => false,
            u64::MAX => true,
            // The id's last eight bytes, as the SDKs' ratio sampler reads
            // them (so a trace is kept or dropped alike everywhere).
            bound => {
                let mut low = [0; 8];
                low.copy_from_slice(&trace_id[8..]);
                u64::from_be_bytes(low) >> 1 < bound
            }
        }
    }
}

/// The ratio's bound on the id's top 63 bits.
fn bound(ratio: f64) -> u64 {
    if ratio >= 1.0 {
        return u64::MAX;
    }
    // Exact enough: the product is below 2^63.
    (ratio * (1_u64 << 63) as f64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn a_valid_traceparent_is_read_and_written_back_the_same() {
        let text = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let parent = parent(&headers(&[("traceparent", text)])).expect("valid");
        assert_eq!(parent.flags, 1);
        assert_eq!(
            &traceparent(&parent.trace_id, &parent.span_id, parent.flags),
            text.as_bytes()
        );
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for text in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01extra",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert_eq!(parent(&headers(&[("traceparent", text)])), None, "{text}");
        }
        // A later version may carry more after another dash.
        assert!(parent(&headers(&[(
            "traceparent",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-more"
        )]))
        .is_some());
        // Two headers: which one is meant is unknown.
        let two = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert_eq!(
            parent(&headers(&[("traceparent", two), ("traceparent", two)])),
            None
        );
    }

    #[test]
    fn a_tracestate_is_carried_only_when_well_formed() {
        let kept = |value: &str| tracestate(&headers(&[("tracestate", value)])).is_some();
        assert!(kept("congo=t61rcWkgMzE"));
        assert!(kept("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE"));
        assert!(kept("tenant@vendor=x"));
        assert!(!kept(""));
        assert!(!kept("novalue"));
        assert!(!kept("UPPER=1"));
        assert!(!kept("a=b=c"));
        assert!(!kept(&"k=v,".repeat(33)));
    }

    #[test]
    fn ids_are_never_zero_and_do_not_repeat() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(new_trace_id()));
            assert_ne!(new_span_id(), [0; 8]);
        }
    }

    #[test]
    fn the_samplers_follow_their_names() {
        let id = new_trace_id();
        let sampled = Parent {
            trace_id: id,
            span_id: [1; 8],
            flags: SAMPLED,
        };
        let unsampled = Parent {
            flags: 0,
            ..sampled.clone()
        };
        let default = Sampler::named("", None);
        assert!(default.sampled(&id, None));
        assert!(default.sampled(&id, Some(&sampled)));
        assert!(!default.sampled(&id, Some(&unsampled)));
        assert!(Sampler::named("always_on", None).sampled(&id, Some(&unsampled)));
        assert!(!Sampler::named("always_off", None).sampled(&id, Some(&sampled)));
        assert!(Sampler::named("parentbased_always_off", None).sampled(&id, Some(&sampled)));
        assert!(!Sampler::named("parentbased_always_off", None).sampled(&id, None));
        let tenth = Sampler::named("traceidratio", Some("0.1"));
        let kept = (0..20_000)
            .filter(|_| tenth.sampled(&new_trace_id(), None))
            .count();
        assert!((1_500..2_500).contains(&kept), "{kept} of 20000");
        assert!(!Sampler::named("traceidratio", Some("0")).sampled(&id, None));
        assert_eq!(
            Sampler::named("no_such_sampler", None),
            Sampler::named("parentbased_always_on", None)
        );
    }
}
