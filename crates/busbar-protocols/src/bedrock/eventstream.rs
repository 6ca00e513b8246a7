//! The AWS event-stream binary framing (`application/vnd.amazon.eventstream`).
//!
//! Bedrock's `ConverseStream` sends its events as frames of this shape, all
//! integers big-endian:
//!
//! ```text
//! [total_len u32][headers_len u32][crc32 of the 8 bytes before]
//! [headers: headers_len bytes][payload][crc32 of every byte before]
//! ```
//!
//! A header is `[name_len u8][name][type u8][value]`, the value's encoding
//! chosen by the type: 0 true and 1 false (no bytes), 2 `i8`, 3 `i16`,
//! 4 `i32`, 5 `i64`, 6 bytes and 7 UTF-8 string (each a `u16` length, then
//! the bytes), 8 a timestamp (`i64` milliseconds since the Unix epoch), 9 a
//! UUID (16 bytes). The checksums are CRC-32 (IEEE, as in zlib).
//!
//! [`FrameDecoder`] reads frames from bytes split anywhere. It checks the
//! prelude checksum before it trusts the lengths, so a corrupt length is
//! reported at once rather than waited for, and it refuses frames beyond the
//! limits botocore enforces ([`MAX_HEADERS_LEN`], [`MAX_PAYLOAD_LEN`]).
//! [`write_frame`] writes a frame with string headers (all Bedrock sends);
//! [`Frame::encode`] writes any header type.
//!
//! Written here rather than borrowed from `aws-smithy-eventstream` on
//! purpose: the test mock upstream uses AWS's implementation, so the tests
//! cross-check two independent ones.

use thiserror::Error;

use header::{check_header, decode_headers, write_header};

mod header;
#[cfg(test)]
mod tests;

/// Bytes before the headers: total length, headers length, prelude checksum.
pub const PRELUDE_LEN: usize = 12;
/// The smallest frame: a prelude and a message checksum, no headers or payload.
pub const MIN_FRAME_LEN: usize = PRELUDE_LEN + 4;
/// The most header bytes a frame may carry (botocore's limit).
pub const MAX_HEADERS_LEN: usize = 128 * 1024;
/// The most payload bytes a frame may carry (botocore's limit).
pub const MAX_PAYLOAD_LEN: usize = 24 * 1024 * 1024;
/// The longest frame: the two maxima plus the fixed parts.
pub const MAX_FRAME_LEN: usize = MIN_FRAME_LEN + MAX_HEADERS_LEN + MAX_PAYLOAD_LEN;

/// A header's value, one variant per wire type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderValue {
    /// Types 0 (`true`) and 1 (`false`).
    Bool(bool),
    /// Type 2.
    Byte(i8),
    /// Type 3.
    Int16(i16),
    /// Type 4.
    Int32(i32),
    /// Type 5.
    Int64(i64),
    /// Type 6: at most 65 535 bytes.
    Bytes(Vec<u8>),
    /// Type 7: at most 65 535 bytes of UTF-8.
    String(String),
    /// Type 8: milliseconds since the Unix epoch.
    Timestamp(i64),
    /// Type 9.
    Uuid([u8; 16]),
}

impl HeaderValue {
    /// The text of a string header.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(text) => Some(text),
            _ => None,
        }
    }

    /// Bytes the value takes on the wire, type byte included.
    fn wire_len(&self) -> usize {
        1 + match self {
            Self::Bool(_) => 0,
            Self::Byte(_) => 1,
            Self::Int16(_) => 2,
            Self::Int32(_) => 4,
            Self::Int64(_) | Self::Timestamp(_) => 8,
            Self::Bytes(bytes) => 2 + bytes.len(),
            Self::String(text) => 2 + text.len(),
            Self::Uuid(_) => 16,
        }
    }
}

/// One header of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// The name, at most 255 bytes.
    pub name: String,
    /// The value.
    pub value: HeaderValue,
}

impl Header {
    /// A header with the given name and value.
    pub fn new(name: impl Into<String>, value: HeaderValue) -> Self {
        Self {
            name: name.into(),
            value,
        }
    }

    /// A string header.
    pub fn string(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(name, HeaderValue::String(value.into()))
    }
}

/// One decoded frame: its headers in wire order and its payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Frame {
    /// The headers, in the order they were sent.
    pub headers: Vec<Header>,
    /// The payload (Bedrock's is JSON).
    pub payload: Vec<u8>,
}

impl Frame {
    /// A frame with the given headers and payload.
    pub fn new(headers: Vec<Header>, payload: Vec<u8>) -> Self {
        Self { headers, payload }
    }

    /// The value of the header called `name`. When a frame repeats a name
    /// the last one wins, as in botocore.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .rev()
            .find(|header| header.name == name)
            .map(|header| &header.value)
    }

    /// The text of the string header called `name`.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(HeaderValue::as_str)
    }

    /// Appends the frame's bytes to `out`, or appends nothing and fails when
    /// a name, value, the headers or the payload exceed their limits.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EventStreamError> {
        let mut headers_len = 0;
        for header in &self.headers {
            check_header(&header.name, &header.value)?;
            headers_len += 1 + header.name.len() + header.value.wire_len();
        }
        let start = begin_frame(headers_len, self.payload.len(), out)?;
        for header in &self.headers {
            write_header(&header.name, &header.value, out);
        }
        end_frame(start, &self.payload, out);
        Ok(())
    }
}

/// Appends a frame with string headers and `payload` to `out`, or appends
/// nothing and fails when a name, value or the payload exceed their limits.
pub fn write_frame(
    headers: &[(&str, &str)],
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EventStreamError> {
    let mut headers_len = 0;
    for (name, value) in headers {
        if name.len() > usize::from(u8::MAX) {
            return Err(EventStreamError::HeaderNameTooLong(name.len()));
        }
        if value.len() > usize::from(u16::MAX) {
            return Err(EventStreamError::HeaderValueTooLong(value.len()));
        }
        headers_len += 1 + name.len() + 1 + 2 + value.len();
    }
    let start = begin_frame(headers_len, payload.len(), out)?;
    for (name, value) in headers {
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.push(7);
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    end_frame(start, payload, out);
    Ok(())
}

/// Why bytes are not a well-formed event-stream frame, or a frame cannot be
/// written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EventStreamError {
    /// The prelude's checksum does not match its first 8 bytes.
    #[error("prelude checksum mismatch (computed {computed:#010x}, sent {sent:#010x})")]
    PreludeChecksum {
        /// The checksum of the bytes received.
        computed: u32,
        /// The checksum the frame carries.
        sent: u32,
    },
    /// The message checksum does not match the frame's bytes.
    #[error("message checksum mismatch (computed {computed:#010x}, sent {sent:#010x})")]
    MessageChecksum {
        /// The checksum of the bytes received.
        computed: u32,
        /// The checksum the frame carries.
        sent: u32,
    },
    /// The total length is below the 16 bytes of an empty frame.
    #[error("frame length {0} is below the 16-byte minimum")]
    FrameTooShort(u32),
    /// The headers length exceeds the limit or the frame.
    #[error("headers length {0} exceeds the 128 KiB limit or the frame")]
    HeadersTooLong(usize),
    /// The payload exceeds the limit.
    #[error("payload length {0} exceeds the 24 MiB limit")]
    PayloadTooLong(usize),
    /// A header name is longer than 255 bytes.
    #[error("header name of {0} bytes exceeds 255")]
    HeaderNameTooLong(usize),
    /// A byte or string header value is longer than 65 535 bytes.
    #[error("header value of {0} bytes exceeds 65535")]
    HeaderValueTooLong(usize),
    /// The header bytes do not parse.
    #[error("malformed header: {0}")]
    MalformedHeader(&'static str),
}

/// Reads frames from bytes that arrive in any split.
///
/// One decoder per stream. After an error the stream cannot be resynchronised
/// (lengths can no longer be trusted), so every later call fails with the
/// same error.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    failed: Option<EventStreamError>,
}

impl FrameDecoder {
    /// A decoder for one stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes `bytes`, appending every frame they complete to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Frame>) -> Result<(), EventStreamError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        // Whole frames in `bytes` are read in place; only a trailing partial
        // frame is copied into the buffer.
        let result = if self.buffer.is_empty() {
            decode_frames(bytes, out).map(|used| self.buffer.extend_from_slice(&bytes[used..]))
        } else {
            self.buffer.extend_from_slice(bytes);
            decode_frames(&self.buffer, out).map(|used| {
                self.buffer.drain(..used);
            })
        };
        if let Err(error) = &result {
            self.failed = Some(error.clone());
            self.buffer = Vec::new();
        }
        result
    }

    /// Bytes of an incomplete frame held back; non-zero at the end of a
    /// stream means the stream was cut inside a frame.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }
}

/// Decodes the whole frames at the start of `data`; returns the bytes used.
fn decode_frames(data: &[u8], out: &mut Vec<Frame>) -> Result<usize, EventStreamError> {
    let mut used = 0;
    while let Some(len) = frame_len(&data[used..])? {
        let Some(bytes) = data.get(used..used + len) else {
            break;
        };
        out.push(decode_frame(bytes)?);
        used += len;
    }
    Ok(used)
}

/// The length of the frame starting `data`, once its prelude has arrived and
/// checked out; `None` while it has not arrived.
fn frame_len(data: &[u8]) -> Result<Option<usize>, EventStreamError> {
    let Some(prelude) = data.get(..PRELUDE_LEN) else {
        return Ok(None);
    };
    let computed = crc32(&prelude[..8]);
    let sent = be_u32(&prelude[8..12]);
    if computed != sent {
        return Err(EventStreamError::PreludeChecksum { computed, sent });
    }
    let total = be_u32(&prelude[..4]);
    let total_len = total as usize;
    let headers_len = be_u32(&prelude[4..8]) as usize;
    if total_len < MIN_FRAME_LEN {
        return Err(EventStreamError::FrameTooShort(total));
    }
    if headers_len > MAX_HEADERS_LEN || headers_len > total_len - MIN_FRAME_LEN {
        return Err(EventStreamError::HeadersTooLong(headers_len));
    }
    let payload_len = total_len - MIN_FRAME_LEN - headers_len;
    if payload_len > MAX_PAYLOAD_LEN {
        return Err(EventStreamError::PayloadTooLong(payload_len));
    }
    Ok(Some(total_len))
}

/// Decodes one complete frame whose prelude [`frame_len`] has checked.
fn decode_frame(bytes: &[u8]) -> Result<Frame, EventStreamError> {
    let (body, checksum) = bytes.split_at(bytes.len() - 4);
    let computed = crc32(body);
    let sent = be_u32(checksum);
    if computed != sent {
        return Err(EventStreamError::MessageChecksum { computed, sent });
    }
    let headers_len = be_u32(&bytes[4..8]) as usize;
    let (header_bytes, payload) = body[PRELUDE_LEN..].split_at(headers_len);
    Ok(Frame {
        headers: decode_headers(header_bytes)?,
        payload: payload.to_vec(),
    })
}

/// Checks the limits and writes the prelude; returns where the frame starts.
fn begin_frame(
    headers_len: usize,
    payload_len: usize,
    out: &mut Vec<u8>,
) -> Result<usize, EventStreamError> {
    if headers_len > MAX_HEADERS_LEN {
        return Err(EventStreamError::HeadersTooLong(headers_len));
    }
    if payload_len > MAX_PAYLOAD_LEN {
        return Err(EventStreamError::PayloadTooLong(payload_len));
    }
    // Both fit in u32: the limits keep the total under 25 MiB.
    let total = (MIN_FRAME_LEN + headers_len + payload_len) as u32;
    let start = out.len();
    out.reserve(total as usize);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&(headers_len as u32).to_be_bytes());
    let prelude_crc = crc32(&out[start..]);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    Ok(start)
}

/// Writes the payload and the message checksum of the frame at `start`.
fn end_frame(start: usize, payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(payload);
    let message_crc = crc32(&out[start..]);
    out.extend_from_slice(&message_crc.to_be_bytes());
}

fn be_u32(bytes: &[u8]) -> u32 {
    let mut array = [0; 4];
    array.copy_from_slice(&bytes[..4]);
    u32::from_be_bytes(array)
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as zlib computes it.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |crc, &byte| {
        CRC_TABLE[usize::from((crc as u8) ^ byte)] ^ (crc >> 8)
    })
}

/// The byte-at-a-time lookup table, built at compile time. Frames are small
/// and Bedrock's stream is network-bound, so one table is fast enough and
/// saves a dependency.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                0xEDB8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};
