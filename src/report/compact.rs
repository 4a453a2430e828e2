//! Compact JSON into a byte buffer: the writer of JSON Lines.
//!
//! It writes byte for byte what `serde_json::to_writer` writes (the tests compare the two on
//! every fixture's sessions and on every byte that JSON escapes), and exists because on an
//! all-SMTP capture serde_json's string escaping alone was a seventh of mailtap's
//! instructions. It is faster where that time went:
//! - struct field names are copied as they are: they are this crate's Rust identifiers or
//!   serde renames, never wire text, so they need no escaping (checked in debug builds);
//! - strings are scanned eight bytes at a time, and a word with no `"`, `\` or control byte
//!   is copied whole;
//! - `collect_str` escapes the `Display` text as it is formatted, with no `String` between.
//!
//! Errors are `serde_json::Error`, so both writers fail alike. Writing into a `Vec` cannot fail;
//! a `Display` implementation that fails, or a map key that is no string, can.

use std::fmt::{self, Display};

use serde::ser::{self, Error as _, Serialize};
use serde_json::Error;

/// Appends `value` as compact JSON to `out`.
pub(crate) fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    value.serialize(Compact(out))
}

struct Compact<'a>(&'a mut Vec<u8>);

/// A sequence or object being written: whether a comma comes before the next element, and
/// how many brackets close it (two for an enum variant's `{"name":[...]}`).
struct Compound<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    close: &'static [u8],
}

impl<'a> Compound<'a> {
    fn open(out: &'a mut Vec<u8>, open: &[u8], close: &'static [u8]) -> Self {
        out.extend_from_slice(open);
        Compound {
            out,
            first: true,
            close,
        }
    }

    fn comma(&mut self) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.comma();
        value.serialize(Compact(self.out))
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        debug_assert!(plain_prefix(key.as_bytes()) == key.len(), "{key:?}");
        self.comma();
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        value.serialize(Compact(self.out))
    }

    fn end(self) -> Result<(), Error> {
        self.out.extend_from_slice(self.close);
        Ok(())
    }
}

impl<'a> Compact<'a> {
    fn raw(self, text: &str) -> Result<(), Error> {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }

    fn integer(self, n: impl itoa::Integer) -> Result<(), Error> {
        self.raw(itoa::Buffer::new().format(n))
    }

    /// `{"variant":` — an enum variant with data, as serde_json writes it.
    fn variant(self, variant: &str) -> &'a mut Vec<u8> {
        self.0.push(b'{');
        escape_str(self.0, variant);
        self.0.push(b':');
        self.0
    }

    /// What only serde_json knows how to write the same (floats, chars, bytes): never in a
    /// session object, and written by serde_json itself if they ever are.
    fn by_serde_json<T: Serialize>(self, value: T) -> Result<(), Error> {
        serde_json::to_writer(self.0, &value)
    }
}

impl<'a> ser::Serializer for Compact<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.raw(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.by_serde_json(v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.by_serde_json(v)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.by_serde_json(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.by_serde_json(v)
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        escape_str(self.0, v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.raw("null")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.raw("null")
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.raw("null")
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let out = self.variant(variant);
        value.serialize(Compact(&mut *out))?;
        out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.0, b"[", b"]"))
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.variant(variant), b"[", b"]}"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.0, b"{", b"}"))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.0, b"{", b"}"))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.variant(variant), b"{", b"}}"))
    }
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<(), Error> {
        self.0.push(b'"');
        fmt::write(&mut Escaping(self.0), format_args!("{value}"))
            .map_err(|_| Error::custom("a Display implementation returned an error"))?;
        self.0.push(b'"');
        Ok(())
    }
}

/// The four kinds of sequence serde has, all written as a JSON array.
macro_rules! arrays {
    ($($kind:ident::$add:ident),*) => {$(
        impl ser::$kind for Compound<'_> {
            type Ok = ();
            type Error = Error;
            fn $add<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }
            fn end(self) -> Result<(), Error> {
                Compound::end(self)
            }
        }
    )*};
}

arrays!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        let start = self.out.len();
        key.serialize(Compact(self.out))?;
        // serde_json would quote a number key; no map of ours has one.
        if self.out.get(start) != Some(&b'"') {
            return Err(Error::custom("a JSON object key must be a string"));
        }
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.out.push(b':');
        value.serialize(Compact(self.out))
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

/// Structs and struct variants, both written as a JSON object.
macro_rules! objects {
    ($($kind:ident),*) => {$(
        impl ser::$kind for Compound<'_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                self.field(key, value)
            }
            fn end(self) -> Result<(), Error> {
                Compound::end(self)
            }
        }
    )*};
}

objects!(SerializeStruct, SerializeStructVariant);

/// Escapes what `Display` writes, piece by piece, straight into the output.
struct Escaping<'a>(&'a mut Vec<u8>);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_fragment(self.0, s.as_bytes());
        Ok(())
    }
}

/// `s` as a JSON string, quotes included.
fn escape_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    escape_fragment(out, s.as_bytes());
    out.push(b'"');
}

/// Appends `bytes` (UTF-8) with JSON's escapes for `"`, `\` and the control bytes below
/// 0x20 — the same escapes, in the same spelling, as serde_json.
fn escape_fragment(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut rest = bytes;
    loop {
        let plain = plain_prefix(rest);
        out.extend_from_slice(&rest[..plain]);
        let Some(&byte) = rest.get(plain) else {
            return;
        };
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 0xf)]);
            }
        }
        rest = &rest[plain + 1..];
    }
}

fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// How many leading bytes need no escape. Whole words first: the test below has no false
/// negatives (a word it passes has no byte to escape); a word it stops at is searched byte by
/// byte.
fn plain_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    // Some byte of `w` is below `n` (n <= 0x80).
    let has_below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH != 0;
    let has_byte = |w: u64, b: u8| has_below(w ^ (ONES * u64::from(b)), 1);
    let mut words = bytes.chunks_exact(8);
    let mut plain = 0;
    for word in words.by_ref() {
        let w = u64::from_ne_bytes(word.try_into().expect("8 bytes"));
        if has_below(w, 0x20) || has_byte(w, b'"') || has_byte(w, b'\\') {
            break;
        }
        plain += 8;
    }
    plain
        + bytes[plain..]
            .iter()
            .position(|&b| needs_escape(b))
            .unwrap_or(bytes.len() - plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    fn both<T: Serialize + ?Sized>(value: &T) -> (String, String) {
        let mut ours = Vec::new();
        write(&mut ours, value).unwrap();
        (
            String::from_utf8(ours).unwrap(),
            serde_json::to_string(value).unwrap(),
        )
    }

    #[test]
    fn every_byte_json_escapes_is_escaped_by_serde_json_does_at_every_offset() {
        let specials: Vec<char> = (0u8..0x80)
            .map(char::from)
            .chain(['é', '€', '😀', '\u{7f}'])
            .collect();
        for c in specials {
            for offset in 0..20 {
                for len in [offset, offset + 1, 23] {
                    let s: String = "a".repeat(offset) + &c.to_string() + &"b".repeat(len);
                    let (ours, theirs) = both(&s);
                    assert_eq!(ours, theirs, "{c:?} at {offset}");
                }
            }
        }
        let (ours, theirs) = both("\"\\\u{1}\u{1f}\"\"\\");
        assert_eq!(ours, theirs);
    }

    #[test]
    fn display_text_is_escaped_as_it_is_formatted() {
        struct Quoted;
        impl Display for Quoted {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let tail = "back\\slash\u{1b}[31m";
                write!(f, "say \"{}\"\t{}", 42, tail)
            }
        }
        let mut ours = Vec::new();
        ser::Serializer::collect_str(Compact(&mut ours), &Quoted).unwrap();
        assert_eq!(ours, serde_json::to_vec(&Quoted.to_string()).unwrap());
    }

    #[test]
    fn every_shape_serde_has_is_written_by_serde_json_writes_it() {
        #[derive(Serialize)]
        enum Shape {
            Unit,
            Newtype(u8),
            Tuple(i32, bool),
            Struct { a: Option<u64>, b: &'static str },
        }
        #[derive(Serialize)]
        struct Unit;
        #[derive(Serialize)]
        struct Pair(u16, i64);
        #[derive(Serialize)]
        struct All {
            shapes: Vec<Shape>,
            unit: Unit,
            pair: Pair,
            tuple: (u8, char),
            map: std::collections::BTreeMap<&'static str, u32>,
            float: f64,
            not_finite: f32,
            none: Option<u8>,
            empty: Vec<u8>,
            big: u128,
            small: i128,
            #[serde(skip_serializing_if = "Option::is_none")]
            skipped: Option<u8>,
        }
        let all = All {
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(7),
                Shape::Tuple(-3, true),
                Shape::Struct {
                    a: Some(u64::MAX),
                    b: "x\"y",
                },
                Shape::Struct { a: None, b: "" },
            ],
            unit: Unit,
            pair: Pair(65535, i64::MIN),
            tuple: (0, 'q'),
            map: [("one", 1), ("tw\"o", 2)].into_iter().collect(),
            float: 0.1,
            not_finite: f32::NAN,
            none: None,
            empty: vec![],
            big: u128::MAX,
            small: i128::MIN,
            skipped: None,
        };
        let (ours, theirs) = both(&all);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn every_fixture_session_is_written_by_serde_json_writes_it() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut sessions = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if !matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            ) {
                continue;
            }
            let file = std::fs::File::open(&path).unwrap();
            let analysis = crate::analyze(file, &crate::analyzer::Config::default()).unwrap();
            for report in &analysis.sessions {
                let session = crate::report::json::SessionJson::new("a \"capture\"", report);
                let (ours, theirs) = both(&session);
                assert_eq!(ours, theirs, "{}", path.display());
                sessions += 1;
            }
        }
        assert!(sessions > 100, "{sessions} sessions");
    }

    #[test]
    fn a_map_key_that_is_no_string_is_an_error() {
        let map: std::collections::BTreeMap<u8, u8> = [(1, 2)].into_iter().collect();
        assert!(write(&mut Vec::new(), &map).is_err());
    }
}
