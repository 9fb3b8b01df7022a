//! JSON text exactly as `serde_json::to_string` writes it, with strings scanned for what needs
//! escaping sixteen bytes at a time.
//!
//! `serde_json`'s serializer looks each byte of a string up in its escape table, a loop of
//! about eleven instructions a byte (callgrind). For the long strings of a 1 KiB or 16 KiB
//! message that loop was the largest single cost of writing a request or a reply
//! (`docs/benchmarks.md`, `socket-perf7`). Here a string is first tested whole, sixteen bytes
//! at a time (a short one as two overlapping words), for the three things JSON escapes (`"`,
//! `\` and control characters) and then copied whole; only a string that has one is searched
//! for them, and the runs between them copied. Everything else is written as `serde_json`
//! writes it: numbers by its own `CompactFormatter`, and arrays, objects, map keys, enum
//! variants, non-finite floats (`null`) and [`serde_json::value::RawValue`] by the same rules.
//! The tests compare the two byte for byte.
//!
//! Every JSON the runtime sends of a caller's or a handler's data is written here (`Codec::Json`,
//! `Reply::value`, the socket's requests, REST request bodies, events); the small documents of
//! its own (problem documents) are written by `serde_json`.

use std::io::Cursor;

use serde::Serialize;
use serde::ser::{self, Error as _};
use serde_json::Error;
use serde_json::ser::{CompactFormatter, Formatter as _};

/// `value` as JSON text, as `serde_json::to_string` writes it.
pub(crate) fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    with_capacity(value, 128)
}

/// [`to_string`] into a `String` that starts with room for `capacity` bytes.
pub(crate) fn with_capacity<T: Serialize + ?Sized>(value: &T, capacity: usize) -> Result<String, Error> {
    let mut json = Json { out: String::with_capacity(capacity), raw: false };
    value.serialize(&mut json)?;
    Ok(json.out)
}

/// The names under which `serde_json` passes text to be written as it is: a `RawValue`'s, and
/// (with its `arbitrary_precision` feature, which any crate of a build may turn on) a `Number`'s.
const RAW_TOKENS: [&str; 2] = ["$serde_json::private::RawValue", "$serde_json::private::Number"];

/// The serializer: the text so far, and whether the next string is raw JSON (inside one of
/// the structs of [`RAW_TOKENS`]).
struct Json {
    out: String,
    raw: bool,
}

impl Json {
    /// Writes a number with `serde_json`'s own formatter (into a stack buffer: the longest,
    /// an `i128`, takes 40 bytes).
    fn number(
        &mut self,
        write: impl FnOnce(&mut CompactFormatter, &mut Cursor<&mut [u8]>) -> std::io::Result<()>,
    ) -> Result<(), Error> {
        let mut buffer = [0_u8; 48];
        let mut cursor = Cursor::new(&mut buffer[..]);
        write(&mut CompactFormatter, &mut cursor).map_err(Error::custom)?;
        let len = usize::try_from(cursor.position()).unwrap_or(usize::MAX);
        let text = buffer.get(..len).and_then(|b| std::str::from_utf8(b).ok());
        self.out.push_str(text.ok_or_else(|| Error::custom("a number that is not text"))?);
        Ok(())
    }

    /// Opens an object of one member named `variant` (how an enum's variant with data is
    /// written), to be closed by `}`.
    fn variant(&mut self, variant: &str) {
        self.out.push('{');
        write_str(&mut self.out, variant);
        self.out.push(':');
    }

    /// Opens an array or object (`open`), in a variant's object when there is one: what
    /// follows are its members, and `close` ends it.
    fn open(&mut self, variant: Option<&str>, open: char, close: &'static str) -> Compound<'_> {
        if let Some(variant) = variant {
            self.variant(variant);
        }
        self.out.push(open);
        Compound::Members { json: self, first: true, close }
    }

    /// Writes a map key: a string, or a number or bool in quotes, as JSON objects need.
    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let at = self.out.len();
        key.serialize(&mut *self)?;
        match self.out.as_bytes().get(at) {
            Some(b'"') => Ok(()),
            Some(b'-' | b'0'..=b'9' | b't' | b'f') => {
                self.out.insert(at, '"');
                self.out.push('"');
                Ok(())
            }
            _ => Err(Error::custom("key must be a string")),
        }
    }
}

macro_rules! numbers {
    ($($serialize:ident, $write:ident, $ty:ty;)*) => {
        $(
            fn $serialize(self, value: $ty) -> Result<(), Error> {
                self.number(|f, w| f.$write(w, value))
            }
        )*
    };
}

impl<'a> ser::Serializer for &'a mut Json {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    numbers! {
        serialize_i8, write_i8, i8;
        serialize_i16, write_i16, i16;
        serialize_i32, write_i32, i32;
        serialize_i64, write_i64, i64;
        serialize_i128, write_i128, i128;
        serialize_u8, write_u8, u8;
        serialize_u16, write_u16, u16;
        serialize_u32, write_u32, u32;
        serialize_u64, write_u64, u64;
        serialize_u128, write_u128, u128;
    }

    fn serialize_bool(self, value: bool) -> Result<(), Error> {
        self.out.push_str(if value { "true" } else { "false" });
        Ok(())
    }

    fn serialize_f32(self, value: f32) -> Result<(), Error> {
        if value.is_finite() { self.number(|f, w| f.write_f32(w, value)) } else { self.serialize_unit() }
    }

    fn serialize_f64(self, value: f64) -> Result<(), Error> {
        if value.is_finite() { self.number(|f, w| f.write_f64(w, value)) } else { self.serialize_unit() }
    }

    fn serialize_char(self, value: char) -> Result<(), Error> {
        self.serialize_str(value.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, value: &str) -> Result<(), Error> {
        if self.raw {
            self.out.push_str(value);
        } else {
            write_str(&mut self.out, value);
        }
        Ok(())
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<(), Error> {
        let mut items = ser::Serializer::serialize_seq(self, Some(value.len()))?;
        for byte in value {
            ser::SerializeSeq::serialize_element(&mut items, byte)?;
        }
        ser::SerializeSeq::end(items)
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
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
        self.variant(variant);
        value.serialize(&mut *self)?;
        self.out.push('}');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(self.open(None, '[', "]"))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(self.open(Some(variant), '[', "]}"))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(self.open(None, '{', "}"))
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Compound<'a>, Error> {
        if RAW_TOKENS.contains(&name) {
            return Ok(Compound::Raw(self));
        }
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(self.open(Some(variant), '{', "}}"))
    }
}

/// An array or object being written (`close` ends it), or the struct that carries raw JSON.
enum Compound<'a> {
    Members { json: &'a mut Json, first: bool, close: &'static str },
    Raw(&'a mut Json),
}

impl Compound<'_> {
    /// Starts the next member: a comma before all but the first.
    fn next(&mut self) -> &mut Json {
        match self {
            Compound::Members { json, first, .. } => {
                if !std::mem::take(first) {
                    json.out.push(',');
                }
                json
            }
            Compound::Raw(json) => json,
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(self.next())
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        if let Compound::Raw(json) = self {
            json.raw = true;
            let written = value.serialize(&mut **json);
            json.raw = false;
            return written;
        }
        let json = self.next();
        write_str(&mut json.out, key);
        json.out.push(':');
        value.serialize(json)
    }

    fn close(self) {
        if let Compound::Members { json, close, .. } = self {
            json.out.push_str(close);
        }
    }
}

/// serde's traits for the parts of arrays and objects, all served by [`Compound`]: `element`
/// for the items of arrays, `field` for the named members of structs.
macro_rules! compound {
    ($($trait:ident :: $method:ident => $call:ident($($key:ident)?);)*) => {
        $(
            impl ser::$trait for Compound<'_> {
                type Ok = ();
                type Error = Error;
                fn $method<T: Serialize + ?Sized>(&mut self, $($key: &'static str,)? value: &T) -> Result<(), Error> {
                    self.$call($($key,)? value)
                }
                fn end(self) -> Result<(), Error> {
                    self.close();
                    Ok(())
                }
            }
        )*
    };
}

compound! {
    SerializeSeq::serialize_element => element();
    SerializeTuple::serialize_element => element();
    SerializeTupleStruct::serialize_field => element();
    SerializeTupleVariant::serialize_field => element();
    SerializeStruct::serialize_field => field(key);
    SerializeStructVariant::serialize_field => field(key);
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.next().key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let (Compound::Members { json, .. } | Compound::Raw(json)) = self;
        json.out.push(':');
        value.serialize(&mut **json)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

/// Writes `text` as a JSON string: quoted, with `"`, `\` and control characters escaped as
/// `serde_json` escapes them.
pub(crate) fn write_str(out: &mut String, text: &str) {
    out.reserve(text.len() + 2);
    out.push('"');
    let bytes = text.as_bytes();
    if clean(bytes) {
        // Most strings: copied whole.
        out.push_str(text);
    } else {
        let mut written = 0;
        while let Some(at) = next_escape(bytes, written) {
            // `at` is an ASCII byte, so both ends of the run are character boundaries.
            out.push_str(text.get(written..at).unwrap_or_default());
            push_escape(out, bytes.get(at).copied().unwrap_or_default());
            written = at + 1;
        }
        out.push_str(text.get(written..).unwrap_or_default());
    }
    out.push('"');
}

/// Whether no byte of `bytes` needs escaping, tested without a loop over single bytes but for
/// the shortest strings: whole blocks of 16, then the last 16 again (overlapping); below 16
/// bytes two 8-byte words (the first and the last), below 8 two 4-byte words.
fn clean(bytes: &[u8]) -> bool {
    if let Some(last) = bytes.last_chunk::<BLOCK>() {
        let (blocks, _) = bytes.as_chunks::<BLOCK>();
        for block in blocks {
            if block_escapes(block) {
                return false;
            }
        }
        !block_escapes(last)
    } else if let (Some(first), Some(last)) = (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
        word_escapes(u64::from_le_bytes(*first)) | word_escapes(u64::from_le_bytes(*last)) == 0
    } else if let (Some(first), Some(last)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        // Four bytes of spaces above the word's own four: spaces are never escaped.
        let word = |w: &[u8; 4]| u64::from(u32::from_le_bytes(*w)) | 0x2020_2020_0000_0000;
        word_escapes(word(first)) | word_escapes(word(last)) == 0
    } else {
        !bytes.iter().any(|&b| escaped(b))
    }
}

/// The bytes a string is tested for escapes at a time: one SSE2 register.
const BLOCK: usize = 16;

/// Whether a byte of `block` needs escaping. Without a branch per byte, so the compiler tests
/// the block whole (SSE2 on x86-64).
#[inline] // called per block of a long string: a call would cost more than the test
fn block_escapes(block: &[u8; BLOCK]) -> bool {
    block.iter().fold(0_u8, |any, &b| any | u8::from(escaped(b))) != 0
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);

/// The high bit of each byte of `word` that needs escaping (below 0x20, `"` or `\`), and maybe
/// of some above one that does (a borrow): zero exactly when none does.
///
/// `(x - 0x01…) & !x & 0x80…` flags the bytes of `x` that are zero (here `x` is the word less
/// 0x20 a byte, or the word xor `"` or `\`); bytes of 0x80 and above (UTF-8) are never flagged
/// (the `!word`).
fn word_escapes(word: u64) -> u64 {
    let control = word.wrapping_sub(ONES * 0x20);
    let quote = (word ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES);
    let backslash = (word ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES);
    (control | quote | backslash) & !word & HIGH
}

/// The first byte at or after `from` that JSON escapes: sixteen bytes a step, then the tail.
fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    let (blocks, tail) = bytes.get(from..)?.as_chunks::<BLOCK>();
    let mut at = from;
    for block in blocks {
        // About 1.2 instructions a byte, where serde_json's loop takes 11 (callgrind).
        if block_escapes(block) {
            return block.iter().position(|&b| escaped(b)).map(|i| at + i);
        }
        at += BLOCK;
    }
    tail.iter().position(|&b| escaped(b)).map(|i| at + i)
}

/// Whether JSON escapes this byte of UTF-8: `"`, `\` and control characters (bytes of
/// multi-byte characters are all 0x80 and above).
fn escaped(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

fn push_escape(out: &mut String, byte: u8) {
    let short = match byte {
        b'"' => "\\\"",
        b'\\' => "\\\\",
        0x08 => "\\b",
        0x0c => "\\f",
        b'\n' => "\\n",
        b'\r' => "\\r",
        b'\t' => "\\t",
        _ => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
            return;
        }
    };
    out.push_str(short);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    /// Ours and `serde_json`'s, which must be the same text (or both fail).
    fn same<T: Serialize + ?Sized>(value: &T) {
        let theirs = serde_json::to_string(value);
        let ours = to_string(value);
        match (theirs, ours) {
            (Ok(theirs), Ok(ours)) => assert_eq!(ours, theirs),
            (Err(_), Err(_)) => {}
            (theirs, ours) => panic!("serde_json: {theirs:?}, ours: {ours:?}"),
        }
    }

    #[test]
    fn every_ascii_character_at_every_place_in_a_block() {
        for byte in 0_u8..0x80 {
            let c = char::from(byte);
            for before in 0..19 {
                for after in [0, 1, 7, 8, 9] {
                    let text = format!("{}{c}{}", "a".repeat(before), "é".repeat(after));
                    same(&text);
                }
            }
        }
    }

    #[test]
    fn escapes_close_together_and_far_apart() {
        for text in [
            "",
            "\"",
            "\\\\\\",
            "\u{0}\u{1f}\u{7f}\u{80}\u{ff}",
            "a\"b\\c\nd\re\tf\u{8}g\u{c}h\u{b}",
            "𝄞 multi-byte \u{2028}\u{2029} and \u{10ffff} at the end\n",
            "abcdefg\"abcdefg\"abcdefghijklmnop\\",
        ] {
            same(text);
            same(&text.repeat(37));
        }
    }

    #[derive(Serialize)]
    enum Shape {
        Unit,
        Newtype(u8),
        Tuple(i32, String),
        Struct { x: f64, y: Option<f32> },
    }

    #[derive(Serialize)]
    struct Bytes<'a>(#[serde(with = "bytes_as_bytes")] &'a [u8]);

    mod bytes_as_bytes {
        pub fn serialize<S: serde::Serializer>(bytes: &&[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(bytes)
        }
    }

    #[derive(Serialize)]
    struct Inner<'a> {
        #[serde(rename = "with \"quotes\"\n")]
        quoted: &'a str,
        list: Vec<Shape>,
    }

    #[derive(Serialize)]
    struct Outer<'a> {
        #[serde(flatten)]
        inner: Inner<'a>,
        unit: (),
        tuple: (u128, i128, char, bool),
        floats: [f64; 6],
        small: [f32; 3],
        bytes: Bytes<'a>,
        empty: Vec<u8>,
        empty_map: BTreeMap<String, u8>,
        by_int: BTreeMap<i64, &'a str>,
        by_bool: BTreeMap<bool, u8>,
        by_char: BTreeMap<char, u8>,
        raw: Box<serde_json::value::RawValue>,
        value: Value,
    }

    #[test]
    fn every_serde_shape_is_written_as_serde_json_writes_it() {
        let outer = Outer {
            inner: Inner {
                quoted: "a \"string\"",
                list: vec![
                    Shape::Unit,
                    Shape::Newtype(7),
                    Shape::Tuple(-3, "t\u{1}".into()),
                    Shape::Struct { x: 1e300, y: None },
                    Shape::Struct { x: -0.0, y: Some(f32::NAN) },
                ],
            },
            unit: (),
            tuple: (u128::MAX, i128::MIN, '"', false),
            floats: [0.1, -1.5e-7, f64::MAX, f64::NAN, f64::INFINITY, 3.0],
            small: [0.1, f32::NEG_INFINITY, 16_777_216.0],
            bytes: Bytes(&[0, 1, 255]),
            empty: Vec::new(),
            empty_map: BTreeMap::new(),
            by_int: BTreeMap::from([(-1, "minus"), (0, "zero"), (i64::MAX, "max")]),
            by_bool: BTreeMap::from([(true, 1), (false, 0)]),
            by_char: BTreeMap::from([('\n', 1), ('x', 2)]),
            raw: serde_json::value::RawValue::from_string(r#"{ "kept" : [1, 2] }"#.into()).expect("raw"),
            value: serde_json::json!({"a": [null, true, 1, -2, 2.5, "s\"", {}], "b": {"c": []}}),
        };
        same(&outer);
        let text = to_string(&outer).expect("written");
        assert!(text.contains(r#""raw":{ "kept" : [1, 2] }"#), "{text}");
    }

    #[test]
    fn keys_that_are_not_strings_numbers_or_bools_are_refused() {
        #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
        enum Key {
            Named,
            Wrapped(u8),
        }
        same(&BTreeMap::from([(Key::Named, 1)]));
        same(&BTreeMap::from([(Key::Wrapped(1), 1)]));
        same(&BTreeMap::from([(vec![1], 1)]));
        same(&BTreeMap::from([((), 1)]));
        same(&BTreeMap::from([(Some("k"), 1)]));
        same(&BTreeMap::from([(None::<&str>, 1)]));
        assert!(to_string(&BTreeMap::from([(vec![1], 1)])).is_err());
        assert!(to_string(&BTreeMap::from([((), 1)])).is_err());
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[\\x00-\\x7f\"\\\\]{0,40}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_value_is_written_as_serde_json_writes_it(value in value()) {
            prop_assert_eq!(to_string(&value).expect("written"), serde_json::to_string(&value).expect("written"));
        }
    }
}
