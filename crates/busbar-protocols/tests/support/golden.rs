//! What the OpenAI Chat Completions and Responses golden tests share: finding
//! the payloads under `test_data/<format>/<kind>/`, comparing output with the
//! expected file beside each one (or writing it under `BUSBAR_BLESS=1`), and
//! decoding a stream in pieces.
//!
//! Checks collect their mismatches and [`report`] them together, so one run
//! shows every golden file that moved.

use std::fs;
use std::path::{Path, PathBuf};

use busbar_ir::StreamEvent;
use busbar_protocols::{DecodeError, StreamDecoder};
use serde_json::{json, Value};

/// The payloads of one kind: files under `test_data/{format}/{kind}` with
/// `extension` that are not outputs, sorted.
pub(crate) fn inputs(format: &str, kind: &str, extension: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(format)
        .join(kind);
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.ends_with(extension) && !name.contains(".expected.") && !name.contains(".out.")
        })
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no {kind} payloads");
    paths
}

/// The file beside `path` named by its stem and `suffix`.
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let stem = path.file_stem().unwrap().to_string_lossy();
    path.with_file_name(format!("{stem}{suffix}"))
}

fn blessing() -> bool {
    std::env::var_os("BUSBAR_BLESS").is_some()
}

/// Compares `actual` with the expected file (or writes it when blessing);
/// returns a description of the mismatch.
pub(crate) fn check_text(expected_path: &Path, actual: &str) -> Option<String> {
    if blessing() {
        fs::write(expected_path, actual).unwrap();
        return None;
    }
    let expected = fs::read_to_string(expected_path).unwrap_or_default();
    (expected != actual).then(|| {
        format!(
            "{} differs:\n--- expected\n{expected}\n--- actual\n{actual}",
            expected_path.display()
        )
    })
}

/// [`check_text`] of `actual` pretty-printed.
pub(crate) fn check_json(expected_path: &Path, actual: &Value) -> Option<String> {
    check_text(
        expected_path,
        &(serde_json::to_string_pretty(actual).unwrap() + "\n"),
    )
}

/// Fails with every collected mismatch.
pub(crate) fn report(failures: Vec<String>) {
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A body Busbar wrote, parsed.
pub(crate) fn body_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// A decode error as it is recorded in expected files.
pub(crate) fn decode_error_json(error: &DecodeError) -> Value {
    match error {
        DecodeError::Invalid { field, reason } => json!({"field": field, "reason": reason}),
        other => json!(other.to_string()),
    }
}

/// Decodes `pieces` as one stream: the events, and the error it ended with.
pub(crate) fn decode_stream(
    mut decoder: impl StreamDecoder,
    pieces: &[&[u8]],
) -> (Vec<StreamEvent>, Option<DecodeError>) {
    let mut events = Vec::new();
    for piece in pieces {
        if let Err(error) = decoder.feed(piece, &mut events) {
            return (events, Some(error));
        }
    }
    let error = decoder.finish(&mut events).err();
    (events, error)
}
