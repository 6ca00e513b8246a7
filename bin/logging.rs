//! Log lines that text from clients, admins or upstreams cannot forge.
//!
//! Field values can carry anything a caller sent (a key's name, a model
//! name inside an error, an upstream's message). Written raw, a CR or LF
//! would start a line of the attacker's choosing and an ESC would drive the
//! operator's terminal; so every control character in a formatted event is
//! written escaped (`\r`, `\n`, `\u{1b}`), except the newline that ends the
//! event. ANSI colours are off for the same reason: an escape sequence in
//! the output is then never ours, so none is let through.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Standard output, escaped.
pub(crate) struct EscapedStdout;

impl<'a> MakeWriter<'a> for EscapedStdout {
    type Writer = Escaping<io::StdoutLock<'static>>;

    fn make_writer(&'a self) -> Self::Writer {
        Escaping(io::stdout().lock())
    }
}

/// Writes through to `W` with control characters escaped. The formatter
/// writes each event in one call, ending with its newline.
pub(crate) struct Escaping<W>(pub(crate) W);

impl<W: Write> Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (body, end) = match buf.split_last() {
            Some((b'\n', body)) => (body, &b"\n"[..]),
            _ => (buf, &b""[..]),
        };
        let mut out = Vec::with_capacity(buf.len() + 8);
        escape(body, &mut out);
        out.extend_from_slice(end);
        self.0.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Appends `bytes` to `out` with every ASCII control character but tab
/// escaped.
fn escape(bytes: &[u8], out: &mut Vec<u8>) {
    for &byte in bytes {
        match byte {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.push(b'\t'),
            0x00..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{{{byte:x}}}").as_bytes()),
            _ => out.push(byte),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(line: &[u8]) -> String {
        let mut writer = Escaping(Vec::new());
        writer.write_all(line).expect("a Vec takes anything");
        String::from_utf8(writer.0).expect("UTF-8 in, UTF-8 out")
    }

    #[test]
    fn only_the_final_newline_survives() {
        assert_eq!(
            escaped(b"key created name=a\r\nFORGED line\0 \x1b[31mred\n"),
            "key created name=a\\r\\nFORGED line\\u{0} \\u{1b}[31mred\n"
        );
        assert_eq!(escaped("tab\tand ü stay\n".as_bytes()), "tab\tand ü stay\n");
        assert_eq!(escaped(b"no newline"), "no newline");
    }
}
