//! The events a client stream is made of, written from borrowed structs.

use serde::Serialize;

use super::super::super::output::{ItemOut, ResponseOut, SummaryOut, TextOut};

/// Writes one event: its `event:` line and its data, which repeats the type
/// and carries the next sequence number.
pub(super) fn emit<T: Serialize>(
    sequence: &mut u64,
    out: &mut Vec<u8>,
    kind: &'static str,
    body: &T,
) {
    let frame = Frame {
        kind,
        body,
        sequence_number: *sequence,
    };
    *sequence += 1;
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Compact JSON holds no raw newline, so one data line suffices;
    // serialising borrowed structs into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &frame);
    out.extend_from_slice(b"\n\n");
}

#[derive(Serialize)]
struct Frame<'a, T> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    body: &'a T,
    sequence_number: u64,
}

#[derive(Serialize)]
pub(super) struct ResponseEvent<'a> {
    pub(super) response: ResponseOut<'a>,
}

#[derive(Serialize)]
pub(super) struct ItemEvent<'a> {
    pub(super) output_index: usize,
    pub(super) item: &'a ItemOut<'a>,
}

#[derive(Serialize)]
pub(super) struct PartEvent<'a> {
    pub(super) item_id: &'a str,
    pub(super) output_index: usize,
    pub(super) content_index: usize,
    pub(super) part: TextOut<'a>,
}

#[derive(Serialize)]
pub(super) struct TextDelta<'a> {
    pub(super) item_id: &'a str,
    pub(super) output_index: usize,
    pub(super) content_index: usize,
    pub(super) delta: &'a str,
    pub(super) logprobs: [(); 0],
}

#[derive(Serialize)]
pub(super) struct TextDone<'a> {
    pub(super) item_id: &'a str,
    pub(super) output_index: usize,
    pub(super) content_index: usize,
    pub(super) text: &'a str,
    pub(super) logprobs: [(); 0],
}

#[derive(Serialize)]
pub(super) struct ArgumentsDelta<'a> {
    pub(super) item_id: &'a str,
    pub(super) output_index: usize,
    pub(super) delta: &'a str,
}

#[derive(Serialize)]
pub(super) struct ArgumentsDone<'a> {
    pub(super) item_id: &'a str,
    pub(super) output_index: usize,
    pub(super) name: &'a str,
    pub(super) arguments: &'a str,
}

#[derive(Serialize)]
pub(super) struct SummaryPartEvent<'a> {
    pub(super) item_id: &'a str,
    pub(super) output_index: usize,
    pub(super) summary_index: usize,
    pub(super) part: SummaryOut<'a>,
}

#[derive(Serialize)]
pub(super) struct SummaryDelta<'a> {
    pub(super) item_id: &'a str,
    pub(super) output_index: usize,
    pub(super) summary_index: usize,
    pub(super) delta: &'a str,
}

#[derive(Serialize)]
pub(super) struct SummaryDone<'a> {
    pub(super) item_id: &'a str,
    pub(super) output_index: usize,
    pub(super) summary_index: usize,
    pub(super) text: &'a str,
}
