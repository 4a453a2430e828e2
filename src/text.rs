//! Text that came off the wire, and how it may be shown.
//!
//! Everything a peer sent is attacker-controlled: a banner can carry ESC sequences that
//! repaint a terminal, or bytes that are not UTF-8. [`WireText`] keeps the bytes and only ever
//! shows them escaped:
//! - for terminals ([`WireText::escaped`]): control characters (C0, DEL, C1) and invalid UTF-8
//!   become `\xNN`, `\r` `\n` `\t` become `\r` `\n` `\t`, and a backslash becomes `\\`, so the
//!   result is printable and the bytes can be recovered from it;
//! - for JSON (serde): the same escaping minus the control characters, which JSON escapes by
//!   itself (`\u001b`); invalid UTF-8 becomes `\xNN` and a backslash `\\`, so the original
//!   bytes stay recoverable from any JSON string.

use std::fmt::{self, Write};

use serde::{Serialize, Serializer};

/// How many bytes of one line are kept as evidence.
pub const MAX_KEPT: usize = 512;

/// Bytes from the wire, at most [`MAX_KEPT`] of them.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct WireText {
    bytes: Vec<u8>,
    /// How many bytes the original had beyond what is kept.
    cut: usize,
}

impl WireText {
    /// Keeps the first [`MAX_KEPT`] bytes and counts the rest (shown as `…[+N bytes]`).
    pub fn new(bytes: &[u8]) -> Self {
        let kept = bytes.len().min(MAX_KEPT);
        WireText {
            bytes: bytes[..kept].to_vec(),
            cut: bytes.len() - kept,
        }
    }

    /// The kept bytes, unescaped: attacker-controlled, never for a terminal as they are.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Printable on any terminal; see the module docs.
    pub fn escaped(&self) -> String {
        self.render(true)
    }

    /// The text itself when it needs none of our escaping (JSON's own is serde_json's): valid
    /// UTF-8, no backslash, nothing cut. That is almost every line a real peer sends.
    fn plain(&self) -> Option<&str> {
        if self.cut > 0 || memchr::memchr(b'\\', &self.bytes).is_some() {
            return None;
        }
        std::str::from_utf8(&self.bytes).ok()
    }

    fn render(&self, escape_controls: bool) -> String {
        let mut out = String::with_capacity(self.bytes.len() + 8);
        for chunk in self.bytes.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\r' if escape_controls => out.push_str("\\r"),
                    '\n' if escape_controls => out.push_str("\\n"),
                    '\t' if escape_controls => out.push_str("\\t"),
                    c if escape_controls && (c.is_control()) => {
                        let _ = write!(out, "\\x{:02x}", c as u32);
                    }
                    c => out.push(c),
                }
            }
            for b in chunk.invalid() {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
        if self.cut > 0 {
            let _ = write!(out, "…[+{} bytes]", self.cut);
        }
        out
    }
}

/// Text mailtap wrote itself (a finding's explanation); escaped like the rest when shown,
/// since it may quote the wire.
impl From<String> for WireText {
    fn from(text: String) -> Self {
        WireText::new(text.as_bytes())
    }
}

impl fmt::Debug for WireText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.escaped())
    }
}

impl fmt::Display for WireText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.escaped())
    }
}

impl Serialize for WireText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.plain() {
            Some(text) => serializer.serialize_str(text),
            None => serializer.serialize_str(&self.render(false)),
        }
    }
}

/// Escapes any string for a terminal (used for text that did not come as [`WireText`], such as
/// certificate names, which are attacker-controlled too).
pub fn escape_str(s: &str) -> String {
    WireText {
        bytes: s.as_bytes().to_vec(),
        cut: 0,
    }
    .escaped()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_are_neutralised() {
        let t = WireText::new(b"220 \x1b[2J\x1b]0;pwned\x07 mail\\ \xff\xc2\x9b ok\r");
        assert_eq!(
            t.escaped(),
            "220 \\x1b[2J\\x1b]0;pwned\\x07 mail\\\\ \\xff\\x9b ok\\r"
        );
        assert!(!t.escaped().chars().any(|c| c.is_control()));
    }

    #[test]
    fn json_stays_valid_and_recoverable() {
        let t = WireText::new(b"a\x1bb\xfe\\");
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#""a\u001bb\\xfe\\\\""#);
        let back: String = serde_json::from_str(&json).unwrap();
        assert_eq!(back, "a\u{1b}b\\xfe\\\\");
    }

    #[test]
    fn long_lines_are_cut_and_say_so() {
        let t = WireText::new(&vec![b'A'; MAX_KEPT + 10]);
        assert_eq!(t.as_bytes().len(), MAX_KEPT);
        assert!(t.escaped().ends_with("…[+10 bytes]"));
    }
}
