//! What the in-crate golden runners share: listing the cases under
//! `test_data/<format>/`, reading them, comparing output with the case's
//! `NAME.expected.*` (or writing it under `BUSBAR_BLESS=1`), and driving a
//! stream decoder or encoder over a whole transcript.
//!
//! What a case means and which outputs are expected stays in each format's
//! `golden.rs`.

use std::path::{Path, PathBuf};

use busbar_ir::StreamEvent;
use serde_json::Value;

use crate::{DecodeError, StreamDecoder, StreamEncoder};

/// Whether to write the expectations instead of checking them.
fn bless() -> bool {
    std::env::var_os("BUSBAR_BLESS").is_some()
}

/// The cases under `test_data/{format}` whose names start with `prefix` and
/// end with `ext`, sorted; expectations and stream-frame sources excluded.
pub(crate) fn cases(format: &str, prefix: &str, ext: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(format);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_str().unwrap();
            name.starts_with(prefix)
                && name.ends_with(ext)
                && !name.contains(".expected.")
                && !name.contains(".frames.")
        })
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no {prefix}*{ext} golden files");
    paths
}

/// `NAME.expected.{ext}` beside the case `NAME.*`.
fn expected_path(path: &Path, ext: &str) -> PathBuf {
    let stem = path.file_stem().unwrap().to_str().unwrap();
    path.with_file_name(format!("{stem}.expected.{ext}"))
}

/// Compares `actual` with the case's `NAME.expected.json`, or writes it when
/// blessing.
pub(crate) fn check(path: &Path, actual: Value) {
    let expected_path = expected_path(path, "json");
    if bless() {
        let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        std::fs::write(&expected_path, text).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
    let expected: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(actual, expected, "{}", path.display());
}

/// Compares `actual` byte for byte with the case's `NAME.expected.{ext}`, or
/// writes it when blessing.
pub(crate) fn check_exact(path: &Path, ext: &str, actual: &[u8]) {
    let expected_path = expected_path(path, ext);
    if bless() {
        std::fs::write(&expected_path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(&expected_path)
        .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
    // Shown as text: every such expectation but Bedrock's binary one is text,
    // and a lossy rendering still locates the difference there.
    assert!(
        actual == expected,
        "{} differs:\n--- expected\n{}\n--- actual\n{}",
        path.display(),
        String::from_utf8_lossy(&expected),
        String::from_utf8_lossy(actual),
    );
}

/// A case file parsed as JSON.
pub(crate) fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Feeds `bytes` to `decoder` one byte at a time, the harshest split, then
/// finishes it: the events, and how the stream ended.
pub(crate) fn decode_bytewise(
    mut decoder: impl StreamDecoder,
    bytes: &[u8],
) -> (Vec<StreamEvent>, Result<(), DecodeError>) {
    let mut events = Vec::new();
    let result = bytes
        .chunks(1)
        .try_for_each(|byte| decoder.feed(byte, &mut events))
        .and_then(|()| decoder.finish(&mut events));
    (events, result)
}

/// Feeds `bytes` to `decoder` in one piece and finishes it; panics if the
/// stream is not a valid, complete one.
pub(crate) fn decode_whole(mut decoder: impl StreamDecoder, bytes: &[u8]) -> Vec<StreamEvent> {
    let mut events = Vec::new();
    decoder.feed(bytes, &mut events).unwrap();
    decoder.finish(&mut events).unwrap();
    events
}

/// Encodes `events` with `encoder` and finishes the stream.
pub(crate) fn encode_all(mut encoder: impl StreamEncoder, events: &[StreamEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    events
        .iter()
        .for_each(|event| encoder.encode(event, &mut out));
    encoder.finish(&mut out);
    out
}
