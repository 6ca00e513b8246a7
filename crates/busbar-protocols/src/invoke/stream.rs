//! InvokeModelWithResponseStream replies ⇄ [`StreamEvent`]s: AWS
//! event-stream `chunk` frames around base64 Anthropic stream events.
//!
//! The decoder unwraps each chunk into the Server-Sent Event the Anthropic
//! decoder reads (`event: TYPE` + `data: JSON`), and the encoder wraps each
//! event the Anthropic encoder writes into a chunk, so the Messages stream
//! itself has one home (`anthropic::stream`). Exception frames are
//! Bedrock's, in both directions.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use busbar_ir::StreamEvent;
use serde::{Deserialize, Serialize};

use crate::bedrock::error;
use crate::bedrock::eventstream::{write_frame, Frame, FrameDecoder};
use crate::{anthropic, sse, DecodeError, ReplyOptions, StreamDecoder, StreamEncoder};

/// A `chunk` event's payload.
#[derive(Deserialize)]
struct ChunkIn {
    bytes: String,
}

#[derive(Serialize)]
struct ChunkOut<'a> {
    bytes: &'a str,
}

/// What the decoder needs of an unwrapped event: its name.
#[derive(Deserialize)]
struct Typed<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
}

/// Turns one InvokeModelWithResponseStream reply into IR events.
///
/// Frames other than `chunk` events and exceptions are ignored (as AWS's
/// SDKs ignore unknown events); a chunk whose `bytes` are not base64 or do
/// not hold a JSON object with a `type` is a malformed stream. After an
/// exception the stream is over: nothing more is read, and its end is not
/// a truncation; nor is anything after the stream's own stop or error event.
pub struct Decoder {
    frames: FrameDecoder,
    pending: Vec<Frame>,
    inner: anthropic::stream::Decoder,
    /// The unwrapped Server-Sent Event handed to `inner`.
    sse: Vec<u8>,
    /// The IR index of the block the events so far left open.
    open: Option<usize>,
    /// The stream ended (its stop, an error event or an exception frame):
    /// nothing after it is read.
    done: bool,
}

impl Decoder {
    /// A decoder for one stream.
    pub fn new() -> Self {
        Self {
            frames: FrameDecoder::new(),
            pending: Vec::new(),
            inner: anthropic::stream::Decoder::new(),
            sse: Vec::new(),
            open: None,
            done: false,
        }
    }

    fn frame(&mut self, frame: &Frame, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        match frame.header_str(":message-type").unwrap_or("event") {
            "exception" => {
                let kind = frame
                    .header_str(":exception-type")
                    .unwrap_or("internalServerException");
                // A block the stream left open is closed before the error.
                if let Some(index) = self.open.take() {
                    out.push(StreamEvent::BlockStop { index });
                }
                out.push(StreamEvent::Error(error::from_stream_exception(
                    kind,
                    &frame.payload,
                )));
                self.done = true;
                return Ok(());
            }
            "event" if frame.header_str(":event-type") == Some("chunk") => {}
            _ => return Ok(()),
        }
        let chunk: ChunkIn = serde_json::from_slice(&frame.payload)?;
        let json = STANDARD
            .decode(chunk.bytes.as_bytes())
            .map_err(|e| DecodeError::Stream(format!("chunk bytes are not base64: {e}")))?;
        let json = std::str::from_utf8(&json)
            .map_err(|_| DecodeError::Stream("chunk bytes are not UTF-8".into()))?;
        let typed: Typed<'_> = serde_json::from_str(json)?;
        // One event per chunk: a line break inside it would split the
        // Server-Sent Event, and JSON needs none.
        self.sse.clear();
        let line = json.replace(['\r', '\n'], " ");
        sse::write_event(&mut self.sse, Some(&typed.kind), &line);
        let from = out.len();
        let fed = self.inner.feed(&self.sse, out);
        for event in &out[from..] {
            match event {
                StreamEvent::BlockStart { index, .. } => self.open = Some(*index),
                StreamEvent::BlockStop { .. } => self.open = None,
                StreamEvent::MessageStop | StreamEvent::Error(_) => {
                    self.open = None;
                    self.done = true;
                }
                _ => {}
            }
        }
        fed
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamDecoder for Decoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if self.done {
            return Ok(());
        }
        let framed = self.frames.feed(bytes, &mut self.pending);
        // Taken while `frame` borrows `self`, then put back empty so its
        // allocation serves the next feed.
        let frames = std::mem::take(&mut self.pending);
        for frame in &frames {
            if self.done {
                break;
            }
            self.frame(frame, out)?;
        }
        self.pending = frames;
        self.pending.clear();
        framed.map_err(|e| DecodeError::Stream(e.to_string()))
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if self.done {
            return Ok(());
        }
        if self.frames.buffered() > 0 {
            return Err(DecodeError::Truncated);
        }
        self.inner.finish(out)
    }
}

/// Turns IR events into one InvokeModelWithResponseStream reply.
///
/// The Anthropic encoder writes each event; every Server-Sent Event it
/// writes becomes one `chunk` frame. An error becomes an exception frame
/// instead, as ConverseStream sends it (botocore reads no `error` chunk).
pub struct Encoder {
    inner: anthropic::stream::Encoder,
    sse: sse::Decoder,
    written: Vec<u8>,
    events: Vec<sse::Event>,
    payload: Vec<u8>,
}

impl Encoder {
    /// An encoder for one stream.
    pub fn new(options: &ReplyOptions) -> Self {
        Self {
            inner: anthropic::stream::Encoder::new(options),
            sse: sse::Decoder::new(),
            written: Vec::new(),
            events: Vec::new(),
            payload: Vec::new(),
        }
    }

    /// Wraps what the Anthropic encoder wrote into chunk frames.
    fn wrap(&mut self, out: &mut Vec<u8>) {
        // The encoder writes whole events, so the decoder never holds a
        // partial one, and its own output is never malformed.
        let _ = self.sse.feed(&self.written, &mut self.events);
        self.written.clear();
        for event in self.events.drain(..) {
            let encoded = STANDARD.encode(event.data.as_bytes());
            self.payload.clear();
            if serde_json::to_writer(&mut self.payload, &ChunkOut { bytes: &encoded }).is_err() {
                continue;
            }
            let headers = [
                (":event-type", "chunk"),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ];
            if write_frame(&headers, &self.payload, out).is_err() {
                // An event over the frame limit (24 MiB): end the stream
                // with an exception rather than a torn frame.
                let headers = [
                    (":exception-type", "internalServerException"),
                    (":content-type", "application/json"),
                    (":message-type", "exception"),
                ];
                let _ = write_frame(
                    &headers,
                    br#"{"message":"a stream event is too large for one frame"}"#,
                    out,
                );
            }
        }
    }
}

impl StreamEncoder for Encoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if let StreamEvent::Error(api_error) = event {
            error::write_exception_frame(api_error, &mut self.payload, out);
            return;
        }
        self.inner.encode(event, &mut self.written);
        self.wrap(out);
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.inner.finish(&mut self.written);
        self.wrap(out);
    }
}

#[cfg(test)]
mod tests;
