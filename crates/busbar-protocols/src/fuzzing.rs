//! Entry points for the fuzz targets in `fuzz/`, kept in the library so the
//! targets stay three lines and the regression tests call the same code.
//!
//! Every function takes arbitrary bytes and must not panic because of them:
//! bad input is an `Err` the function ignores. It panics only when it catches
//! a broken invariant, with a message that names it, since a panic is what a
//! fuzzer reports:
//!
//! * an encoder wrote bytes its own format's decoder rejects (requests,
//!   replies and streams, from any source format into every format);
//! * the way a stream's bytes were split into reads changed what it decoded
//!   to (stream decoders, the SSE decoder, the event-stream frame decoder,
//!   the end-of-stream watch);
//! * re-encoding what a framing decoder read did not give back its bytes
//!   (SSE events, event-stream frames).
//!
//! A stream's first input byte is not part of the stream: it seeds the split
//! points (and, for re-encoding, the encoders' options), so one input
//! explores both the content and the chunking.
//!
//! Not part of the public API: `#[doc(hidden)]`, and free to change.

use std::borrow::Cow;

use busbar_ir::StreamEvent;

use crate::bedrock::eventstream::{self, Frame, FrameDecoder};
use crate::{sse, DecodeError, EndWatch, Protocol, ReplyOptions, RequestOptions};

/// The creation time encoders are given when a reply carries none.
const CREATED: u64 = 1_700_000_000;

/// Runs the fuzz target called `target` (as named in `fuzz/Cargo.toml`) on
/// `data`; `false` when no target has that name.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "sse" => sse(data),
        "eventstream" => eventstream(data),
        _ => {
            let Some((format, kind)) = target.rsplit_once('_') else {
                return false;
            };
            let Some(protocol) = Protocol::ALL
                .into_iter()
                .find(|protocol| target_prefix(*protocol) == format)
            else {
                return false;
            };
            match kind {
                "request" => request(protocol, data),
                "response" => response(protocol, data),
                "stream" => stream(protocol, data),
                _ => return false,
            }
        }
    }
    true
}

/// A format's name as fuzz target names spell it (`bedrock_invoke`: cargo
/// target names take no `-`).
fn target_prefix(protocol: Protocol) -> String {
    protocol.name().replace('-', "_")
}

/// The names of every fuzz target: three per format, then `sse` and
/// `eventstream`.
pub fn targets() -> Vec<String> {
    let mut names: Vec<String> = Protocol::ALL
        .iter()
        .flat_map(|protocol| {
            ["request", "response", "stream"]
                .map(|kind| format!("{}_{kind}", target_prefix(*protocol)))
        })
        .collect();
    names.extend(["sse".to_owned(), "eventstream".to_owned()]);
    names
}

/// Decodes a request body of `protocol`; when that succeeds, encodes the
/// request for every format and checks each format's decoder accepts it.
/// Then does the same for the bytes read as a token-count request.
pub fn request(protocol: Protocol, data: &[u8]) {
    count_request(protocol, data);
    let Ok(decoded) = protocol.decode_request(data) else {
        return;
    };
    let options = RequestOptions::new("m");
    for egress in Protocol::ALL {
        let encoded = egress.encode_request(&decoded.request, &options);
        if let Err(error) = egress.decode_request(&encoded.body) {
            panic!(
                "the {egress} request encoder wrote a body the {egress} decoder rejects: \
                 {error}\nrequest (decoded from {protocol}): {:?}\nbody: {}",
                decoded.request,
                String::from_utf8_lossy(&encoded.body),
                egress = egress.name(),
                protocol = protocol.name(),
            );
        }
    }
}

/// Decodes a token-count request of `protocol`; when that succeeds,
/// estimates it and encodes it for every counting endpoint, checking each
/// format's count decoder accepts what its encoder wrote.
pub fn count_request(protocol: Protocol, data: &[u8]) {
    let Ok(decoded) = protocol.decode_count_request(data) else {
        return;
    };
    let _ = crate::count::estimate(&decoded.request);
    let options = RequestOptions::new("m");
    for egress in Protocol::ALL {
        let Some(encoded) = egress.encode_count_request(&decoded.request, &options) else {
            continue;
        };
        if let Err(error) = egress.decode_count_request(&encoded.body) {
            panic!(
                "the {egress} count encoder wrote a body the {egress} count decoder rejects: \
                 {error}\nrequest (decoded from {protocol}): {:?}\nbody: {}",
                decoded.request,
                String::from_utf8_lossy(&encoded.body),
                egress = egress.name(),
                protocol = protocol.name(),
            );
        }
    }
}

/// Decodes a complete reply of `protocol`; when that succeeds, encodes it
/// for every format and checks each format's decoder accepts it. Also reads
/// the bytes as an error reply and renders that error in every format.
pub fn response(protocol: Protocol, data: &[u8]) {
    for status in [400, 503] {
        let error = protocol.decode_error(status, data, None);
        for egress in Protocol::ALL {
            let encoded = egress.encode_error(&error);
            egress.decode_error(encoded.status, &encoded.body, encoded.error_type);
        }
    }
    let Ok(response) = protocol.decode_response(data) else {
        return;
    };
    for egress in Protocol::ALL {
        let encoded = egress.encode_response(&response, &ReplyOptions::new(CREATED));
        if let Err(error) = egress.decode_response(&encoded.body) {
            panic!(
                "the {egress} response encoder wrote a body the {egress} decoder rejects: \
                 {error}\nresponse (decoded from {protocol}): {response:?}\nbody: {}",
                String::from_utf8_lossy(&encoded.body),
                egress = egress.name(),
                protocol = protocol.name(),
            );
        }
    }
}

/// Decodes a stream of `protocol` whole and split at the points the first
/// byte chooses, and checks both give the same result. When the stream
/// decodes, encodes its events for every format and checks each format's
/// decoder accepts them. Also runs [`end_watch`] over the same bytes.
///
/// Bedrock's event-stream frames carry CRC-32 checksums a fuzzer cannot
/// guess, so for Bedrock they are recomputed first (see [`eventstream`]).
pub fn stream(protocol: Protocol, data: &[u8]) {
    let Some((&seed, body)) = data.split_first() else {
        return;
    };
    let body: Cow<'_, [u8]> = if protocol == Protocol::Bedrock {
        Cow::Owned(fix_checksums(body))
    } else {
        Cow::Borrowed(body)
    };
    let whole = decode_stream(protocol, &[&body]);
    let split = decode_stream(protocol, &pieces(&body, seed));
    match (&whole, &split) {
        (Ok(a), Ok(b)) => assert!(
            a == b,
            "the {} stream decoder's events depend on how the bytes were split\n\
             whole: {a:?}\nsplit: {b:?}",
            protocol.name(),
        ),
        // Which error comes first may depend on the split (a whole read
        // meets a broken SSE line before an earlier event's JSON is read);
        // rejecting is what must not.
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "the {} stream decoder accepts the bytes only in one split\n\
             whole: {a:?}\nsplit: {b:?}",
            protocol.name(),
        ),
    }
    watch_splits(protocol, &body, seed);
    let Ok(events) = whole else {
        return;
    };
    // The seed's low bits also pick the encoders' options, so both of
    // OpenAI's usage settings and both of Gemini's framings get checked.
    let mut options = ReplyOptions::new(CREATED);
    options.include_usage = seed & 1 == 1;
    options.json_array = seed & 2 == 2;
    for egress in Protocol::ALL {
        let mut encoder = egress.stream_encoder(&options);
        let mut bytes = Vec::new();
        for event in &events {
            encoder.encode(event, &mut bytes);
        }
        encoder.finish(&mut bytes);
        if let Err(error) = decode_stream(egress, &[&bytes]) {
            panic!(
                "the {egress} stream encoder wrote a stream the {egress} decoder rejects: \
                 {error}\nevents (decoded from {protocol}): {events:?}\nstream: {}",
                String::from_utf8_lossy(&bytes),
                egress = egress.name(),
                protocol = protocol.name(),
            );
        }
    }
}

/// Watches a relayed stream of `protocol` for its end, whole and split at
/// the points the first byte chooses: both must agree.
pub fn end_watch(protocol: Protocol, data: &[u8]) {
    if let Some((&seed, body)) = data.split_first() {
        watch_splits(protocol, body, seed);
    }
}

/// Decodes Server-Sent Events whole and split at the points the first byte
/// chooses, checks both agree, and checks the events written back out
/// decode to the same events.
pub fn sse(data: &[u8]) {
    let Some((&seed, body)) = data.split_first() else {
        return;
    };
    let whole = decode_sse(&[body]);
    let split = decode_sse(&pieces(body, seed));
    let events = match (whole, split) {
        (Some(a), Some(b)) => {
            assert!(
                a == b,
                "SSE events depend on how the bytes were split\nwhole: {a:?}\nsplit: {b:?}"
            );
            a
        }
        (None, None) => return,
        (a, b) => panic!("SSE bytes decode only in one split\nwhole: {a:?}\nsplit: {b:?}"),
    };
    let mut bytes = Vec::new();
    for event in &events {
        sse::write_event(&mut bytes, event.event.as_deref(), &event.data);
    }
    let again = decode_sse(&[&bytes]);
    assert!(
        again.as_ref() == Some(&events),
        "SSE events written back out decode differently\nevents: {events:?}\nagain: {again:?}\n\
         bytes: {}",
        String::from_utf8_lossy(&bytes),
    );
}

/// Decodes event-stream frames whole and split at the points the first byte
/// chooses, checks both agree, and checks the frames re-encode to the bytes
/// they were read from. Runs twice: on the bytes as given, and with every
/// frame's checksums recomputed so the fuzzer reaches the header parser.
pub fn eventstream(data: &[u8]) {
    let Some((&seed, body)) = data.split_first() else {
        return;
    };
    frames(body, seed);
    frames(&fix_checksums(body), seed);
}

fn frames(body: &[u8], seed: u8) {
    let whole = decode_frames(&[body]);
    let split = decode_frames(&pieces(body, seed));
    let (frames, buffered) = match (whole, split) {
        (Ok(a), Ok(b)) => {
            assert!(
                a == b,
                "event-stream frames depend on how the bytes were split\nwhole: {a:?}\nsplit: {b:?}"
            );
            a
        }
        (Err(a), Err(b)) => {
            assert!(
                a == b,
                "the event-stream error depends on how the bytes were split\nwhole: {a}\nsplit: {b}"
            );
            return;
        }
        (a, b) => panic!("event-stream bytes decode only in one split\nwhole: {a:?}\nsplit: {b:?}"),
    };
    let mut bytes = Vec::new();
    for frame in &frames {
        if let Err(error) = frame.encode(&mut bytes) {
            panic!("a decoded event-stream frame does not encode: {error}\nframe: {frame:?}");
        }
    }
    let read = &body[..body.len() - buffered];
    assert!(
        bytes == read,
        "event-stream frames re-encode to other bytes\nframes: {frames:?}\nread: {read:?}\n\
         written: {bytes:?}"
    );
}

/// Feeds `pieces` to a fresh decoder of `protocol` and finishes it, stopping
/// at the first error as a relay would.
fn decode_stream(protocol: Protocol, pieces: &[&[u8]]) -> Result<Vec<StreamEvent>, DecodeError> {
    let mut decoder = protocol.stream_decoder();
    let mut events = Vec::new();
    for piece in pieces {
        decoder.feed(piece, &mut events)?;
    }
    decoder.finish(&mut events)?;
    Ok(events)
}

/// The events in `pieces`, or `None` when the SSE decoder rejects them.
fn decode_sse(pieces: &[&[u8]]) -> Option<Vec<sse::Event>> {
    let mut decoder = sse::Decoder::new();
    let mut events = Vec::new();
    for piece in pieces {
        decoder.feed(piece, &mut events).ok()?;
    }
    decoder.finish(&mut events);
    Some(events)
}

/// The frames in `pieces` and the bytes of an incomplete frame left over.
fn decode_frames(pieces: &[&[u8]]) -> Result<(Vec<Frame>, usize), eventstream::EventStreamError> {
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    for piece in pieces {
        decoder.feed(piece, &mut frames)?;
    }
    Ok((frames, decoder.buffered()))
}

fn watch_splits(protocol: Protocol, body: &[u8], seed: u8) {
    let mut whole = EndWatch::new(protocol);
    whole.feed(body);
    let mut split = EndWatch::new(protocol);
    for piece in pieces(body, seed) {
        split.feed(piece);
    }
    assert!(
        whole.is_complete() == split.is_complete(),
        "the {} end watch sees the end (whole: {}, split: {}) depending on the split",
        protocol.name(),
        whole.is_complete(),
        split.is_complete(),
    );
}

/// Splits `data` into pieces whose lengths a small generator seeded with
/// `seed` draws from `1..=seed % 64 + 1`, with an empty piece now and then
/// (hyper delivers empty data frames). Seed 0 gives single bytes.
fn pieces(data: &[u8], seed: u8) -> Vec<&[u8]> {
    let longest = usize::from(seed % 64) + 1;
    let mut state = u32::from(seed).wrapping_mul(0x9E37_79B9) | 1;
    let mut pieces = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        // xorshift32: deterministic, no dependency, and enough variety.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        if state % 16 == 0 {
            pieces.push(&rest[..0]);
        }
        let len = (state as usize % longest + 1).min(rest.len());
        let (piece, tail) = rest.split_at(len);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// `data` with the prelude and message checksums of each whole frame it
/// starts with recomputed; bytes after the last whole frame are left as
/// they are.
fn fix_checksums(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut at = 0;
    while let Some(prelude) = out.get(at..at + eventstream::PRELUDE_LEN) {
        let total = u32::from_be_bytes([prelude[0], prelude[1], prelude[2], prelude[3]]) as usize;
        if total < eventstream::MIN_FRAME_LEN || total > out.len() - at {
            break;
        }
        let sum = crc32(&out[at..at + 8]);
        out[at + 8..at + 12].copy_from_slice(&sum.to_be_bytes());
        let end = at + total;
        let sum = crc32(&out[at..end - 4]);
        out[end - 4..end].copy_from_slice(&sum.to_be_bytes());
        at = end;
    }
    out
}

/// CRC-32 (IEEE), bit by bit: slow, but independent of the decoder's own.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_input_in_order() {
        let data: Vec<u8> = (0..=255).collect();
        for seed in 0..=255 {
            let joined: Vec<u8> = pieces(&data, seed).concat();
            assert_eq!(joined, data, "seed {seed}");
        }
        assert!(pieces(&data, 0).iter().all(|piece| piece.len() <= 1));
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn fixed_checksums_make_a_frame_the_decoder_accepts() {
        let mut frame = Vec::new();
        eventstream::write_frame(&[(":event-type", "messageStop")], b"{}", &mut frame).unwrap();
        let mut broken = frame.clone();
        broken[8] ^= 0xFF;
        let last = broken.len() - 1;
        broken[last] ^= 0xFF;
        assert_eq!(fix_checksums(&broken), frame);
    }

    #[test]
    fn every_target_name_runs() {
        for target in targets() {
            assert!(run(&target, b""), "{target}");
        }
        assert!(!run("openai_nothing", b""));
        assert!(!run("nothing_request", b""));
    }
}
