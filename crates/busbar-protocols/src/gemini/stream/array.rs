//! An incremental splitter for a streamed JSON array (`[{…},{…}]`), the form
//! `streamGenerateContent` takes without `alt=sse`.

use crate::DecodeError;

/// The most bytes one element may hold, so a stream cannot make the decoder
/// buffer without bound.
const MAX_ELEMENT: usize = crate::sse::DEFAULT_MAX_LINE;

/// Splits a JSON array arriving in pieces into its elements' text. Only
/// objects are expected as elements; strings inside them may hold any
/// bytes, including brackets.
#[derive(Debug, Default)]
pub(super) struct Splitter {
    started: bool,
    ended: bool,
    element: Vec<u8>,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Splitter {
    /// Feeds bytes; appends each element they complete to `out`.
    pub(super) fn feed(&mut self, bytes: &[u8], out: &mut Vec<String>) -> Result<(), DecodeError> {
        for &byte in bytes {
            if self.depth == 0 {
                self.between(byte)?;
                continue;
            }
            if self.element.len() >= MAX_ELEMENT {
                return Err(DecodeError::Stream(format!(
                    "JSON array element longer than {MAX_ELEMENT} bytes"
                )));
            }
            self.element.push(byte);
            if self.in_string {
                match byte {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        let element = String::from_utf8(std::mem::take(&mut self.element))
                            .map_err(|_| {
                                DecodeError::Stream("JSON array element is not UTF-8".into())
                            })?;
                        out.push(element);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether the closing `]` has been read.
    #[cfg(test)]
    pub(super) fn is_ended(&self) -> bool {
        self.ended
    }

    /// A byte outside any element: whitespace, the brackets, commas, or the
    /// `{` that opens the next element.
    fn between(&mut self, byte: u8) -> Result<(), DecodeError> {
        match byte {
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b'[' if !self.started => self.started = true,
            b',' if self.started && !self.ended => {}
            b']' if self.started && !self.ended => self.ended = true,
            b'{' if self.started && !self.ended => {
                self.element.push(byte);
                self.depth = 1;
            }
            _ => {
                return Err(DecodeError::Stream(format!(
                    "unexpected byte {:?} in a JSON array stream",
                    char::from(byte)
                )))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(pieces: &[&[u8]]) -> Result<(Vec<String>, bool), DecodeError> {
        let mut splitter = Splitter::default();
        let mut out = Vec::new();
        for piece in pieces {
            splitter.feed(piece, &mut out)?;
        }
        Ok((out, splitter.is_ended()))
    }

    #[test]
    fn elements_are_split_whatever_the_pieces() {
        let text = "[{\"a\": \"]},{\\\"\"},\r\n{\"b\": [1, {\"c\": 2}]}\n]";
        let whole = split(&[text.as_bytes()]).unwrap();
        assert_eq!(
            whole,
            (
                vec![
                    "{\"a\": \"]},{\\\"\"}".to_owned(),
                    "{\"b\": [1, {\"c\": 2}]}".to_owned()
                ],
                true
            )
        );
        let bytes: Vec<&[u8]> = text.as_bytes().chunks(1).collect();
        assert_eq!(split(&bytes).unwrap(), whole);
    }

    #[test]
    fn an_unfinished_array_is_not_ended_and_garbage_is_an_error() {
        assert_eq!(
            split(&[b"[{\"a\":1},{\"b\""]).unwrap(),
            (vec!["{\"a\":1}".to_owned()], false)
        );
        assert!(split(&[b"[1]"]).is_err());
        assert!(split(&[b"[]]"]).is_err());
        assert!(split(&[b"x"]).is_err());
    }
}
