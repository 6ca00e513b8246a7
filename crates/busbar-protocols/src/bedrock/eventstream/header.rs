//! Event-stream headers: `[name_len u8][name][type u8][value]`, read and written.

use super::{EventStreamError, Header, HeaderValue};

/// Parses a frame's header bytes, in wire order.
pub(super) fn decode_headers(mut bytes: &[u8]) -> Result<Vec<Header>, EventStreamError> {
    let mut headers = Vec::new();
    while let Some((&name_len, rest)) = bytes.split_first() {
        let (name, rest) = take(rest, usize::from(name_len), "name runs past the headers")?;
        let name = std::str::from_utf8(name)
            .map_err(|_| EventStreamError::MalformedHeader("name is not UTF-8"))?;
        let (&kind, rest) = rest.split_first().ok_or(EventStreamError::MalformedHeader(
            "type runs past the headers",
        ))?;
        let (value, rest) = decode_value(kind, rest)?;
        headers.push(Header::new(name, value));
        bytes = rest;
    }
    Ok(headers)
}

/// One value of wire type `kind` from the start of `bytes`, and the rest.
fn decode_value(kind: u8, bytes: &[u8]) -> Result<(HeaderValue, &[u8]), EventStreamError> {
    const SHORT: &str = "value runs past the headers";
    Ok(match kind {
        0 => (HeaderValue::Bool(true), bytes),
        1 => (HeaderValue::Bool(false), bytes),
        2 => {
            let (value, rest) = fixed::<1>(bytes)?;
            (HeaderValue::Byte(i8::from_be_bytes(value)), rest)
        }
        3 => {
            let (value, rest) = fixed::<2>(bytes)?;
            (HeaderValue::Int16(i16::from_be_bytes(value)), rest)
        }
        4 => {
            let (value, rest) = fixed::<4>(bytes)?;
            (HeaderValue::Int32(i32::from_be_bytes(value)), rest)
        }
        5 => {
            let (value, rest) = fixed::<8>(bytes)?;
            (HeaderValue::Int64(i64::from_be_bytes(value)), rest)
        }
        6 | 7 => {
            let (len, rest) = fixed::<2>(bytes)?;
            let (value, rest) = take(rest, usize::from(u16::from_be_bytes(len)), SHORT)?;
            let value = if kind == 6 {
                HeaderValue::Bytes(value.to_vec())
            } else {
                let text = std::str::from_utf8(value)
                    .map_err(|_| EventStreamError::MalformedHeader("string is not UTF-8"))?;
                HeaderValue::String(text.to_owned())
            };
            (value, rest)
        }
        8 => {
            let (value, rest) = fixed::<8>(bytes)?;
            (HeaderValue::Timestamp(i64::from_be_bytes(value)), rest)
        }
        9 => {
            let (value, rest) = fixed::<16>(bytes)?;
            (HeaderValue::Uuid(value), rest)
        }
        _ => return Err(EventStreamError::MalformedHeader("unknown value type")),
    })
}

fn take<'a>(
    bytes: &'a [u8],
    len: usize,
    reason: &'static str,
) -> Result<(&'a [u8], &'a [u8]), EventStreamError> {
    if bytes.len() < len {
        return Err(EventStreamError::MalformedHeader(reason));
    }
    Ok(bytes.split_at(len))
}

fn fixed<const N: usize>(bytes: &[u8]) -> Result<([u8; N], &[u8]), EventStreamError> {
    let (value, rest) = take(bytes, N, "value runs past the headers")?;
    let mut array = [0; N];
    array.copy_from_slice(value);
    Ok((array, rest))
}

/// Whether a header fits the wire's length fields.
pub(super) fn check_header(name: &str, value: &HeaderValue) -> Result<(), EventStreamError> {
    if name.len() > usize::from(u8::MAX) {
        return Err(EventStreamError::HeaderNameTooLong(name.len()));
    }
    match value {
        HeaderValue::Bytes(bytes) if bytes.len() > usize::from(u16::MAX) => {
            Err(EventStreamError::HeaderValueTooLong(bytes.len()))
        }
        HeaderValue::String(text) if text.len() > usize::from(u16::MAX) => {
            Err(EventStreamError::HeaderValueTooLong(text.len()))
        }
        _ => Ok(()),
    }
}

/// Appends a header checked by [`check_header`].
pub(super) fn write_header(name: &str, value: &HeaderValue, out: &mut Vec<u8>) {
    // Lengths were checked by `check_header`.
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    match value {
        HeaderValue::Bool(true) => out.push(0),
        HeaderValue::Bool(false) => out.push(1),
        HeaderValue::Byte(value) => {
            out.push(2);
            out.extend_from_slice(&value.to_be_bytes());
        }
        HeaderValue::Int16(value) => {
            out.push(3);
            out.extend_from_slice(&value.to_be_bytes());
        }
        HeaderValue::Int32(value) => {
            out.push(4);
            out.extend_from_slice(&value.to_be_bytes());
        }
        HeaderValue::Int64(value) => {
            out.push(5);
            out.extend_from_slice(&value.to_be_bytes());
        }
        HeaderValue::Bytes(bytes) => {
            out.push(6);
            out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        HeaderValue::String(text) => {
            out.push(7);
            out.extend_from_slice(&(text.len() as u16).to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        HeaderValue::Timestamp(millis) => {
            out.push(8);
            out.extend_from_slice(&millis.to_be_bytes());
        }
        HeaderValue::Uuid(bytes) => {
            out.push(9);
            out.extend_from_slice(bytes);
        }
    }
}
