//! Compact JSON for `--json`: any `Serialize` value written into a byte buffer, byte for byte
//! what `serde_json::to_writer` writes, with strings escaped eight bytes at a time.
//!
//! serde_json looks each byte of every string up in a table (its escaper was the costliest
//! function of a plaintext run: ~7 % of the instructions, a fifth of the correlation stage of a
//! sharded one) and hands every run between escapes to the writer. Here a string is scanned a
//! word at a time for the bytes JSON must escape (controls, `"` and `\`), and the record is
//! built in one buffer that the sink writes at once. Numbers are formatted as serde_json does
//! (itoa, zmij; a non-finite float is `null`), map keys likewise (strings; numbers and booleans
//! quoted). It never writes anything but the value, never allocates but the buffer's growth,
//! and fails only where serde_json fails: a map key that is not a string, a number, a boolean
//! or a unit variant, or an error a `Serialize` impl raises.

use std::fmt::{self, Display};

use serde::ser::{self, Impossible, Serialize};

/// Why a value could not be written: a map key JSON cannot have, or a `Serialize` impl's
/// own error.
#[derive(Debug)]
pub(crate) struct Error(String);

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Appends `value` as compact JSON to `out`. On an error `out` holds part of it. (The
/// hand-written record writers hand it the parts records seldom carry.)
///
/// # Errors
/// A map key that is not a string, a number, a boolean or a unit variant, or an error the
/// value's `Serialize` impl raised.
pub(crate) fn append<T: ?Sized + Serialize>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    value.serialize(&mut Json { out, inline: false })
}

/// Appends `{"type":"<kind>","schema":<schema>` and then `record`'s own fields in the same
/// object: what serde_json writes for a struct of those two fields with `record` under
/// `#[serde(flatten)]`, without serde's flatten layer (a map entry and a key serializer per
/// field). `kind` is written as it is: it must need no escape. On an error `out` holds part
/// of the line.
///
/// # Errors
/// `record` is not a struct or a map (flatten refuses those too), or [`append`]'s errors.
pub(crate) fn append_tagged<T: ?Sized + Serialize>(
    out: &mut Vec<u8>,
    kind: &str,
    schema: u32,
    record: &T,
) -> Result<(), Error> {
    open_tagged(out, kind, schema);
    let mut json = Json { out, inline: true };
    record.serialize(&mut json)?;
    if json.inline {
        return Err(Error(format!("a {kind} record is not a struct or a map")));
    }
    Ok(())
}

/// `{"type":"<kind>","schema":<schema>`: the start of every line, left open for the record's
/// own fields. `kind` is written as it is: it must need no escape.
pub(super) fn open_tagged(out: &mut Vec<u8>, kind: &str, schema: u32) {
    debug_assert!(!kind.bytes().any(escaped), "{kind:?} needs escaping");
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"schema\":");
    integer(out, schema);
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether JSON escapes this byte in a string (serde_json's table: the controls, `"`, `\`):
/// what the word test is checked against, and what keys written as they are must not hold.
#[cfg_attr(not(debug_assertions), allow(dead_code))]
fn escaped(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The bytes of `w` (little-endian) that JSON escapes, as their high bits. A borrow past a
/// byte below 0x20 may flag bytes above it too, never one below: the lowest flag is always
/// the first byte to escape, and a word without one has none.
#[inline]
fn escape_flags(w: u64) -> u64 {
    let below_space = w.wrapping_sub(ONES * 0x20) & !w;
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    (below_space | zero(quote) | zero(backslash)) & HIGHS
}

/// The index of the first byte from `from` on that JSON escapes, eight bytes at a time (the
/// last few padded with a byte that needs none).
#[inline]
fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    let rest = bytes.get(from..)?;
    let mut chunks = rest.chunks_exact(8);
    let mut base = from;
    for chunk in &mut chunks {
        let word = <[u8; 8]>::try_from(chunk).map_or(u64::MAX, u64::from_le_bytes);
        let flags = escape_flags(word);
        if flags != 0 {
            return Some(base + (flags.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    let tail = chunks.remainder();
    if tail.is_empty() {
        return None;
    }
    // The tail as the low bytes of a word, the rest `a`s: from the string's last eight bytes
    // when it has them (shifted past the ones already scanned), else byte by byte.
    let pad = ONES * u64::from(b'a');
    let filled = 8 * tail.len();
    let word = match bytes.len().checked_sub(8).and_then(|at| bytes.get(at..)) {
        Some(last) => {
            let last = <[u8; 8]>::try_from(last).map_or(u64::MAX, u64::from_le_bytes);
            (last >> (64 - filled)) | (pad << filled)
        }
        None => tail.iter().rev().fold(pad, |w, &b| (w << 8) | u64::from(b)),
    };
    let flags = escape_flags(word);
    (flags != 0).then(|| base + (flags.trailing_zeros() / 8) as usize)
}

/// Whether any byte of `bytes` needs an escape: a word at a time, the last (or only) word
/// overlapping the one before it, and no branch per word (the strings are short).
#[inline]
fn needs_escape(bytes: &[u8]) -> bool {
    let word = |chunk: &[u8]| <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes);
    let half = |chunk: &[u8]| <[u8; 4]>::try_from(chunk).map_or(0, u32::from_le_bytes);
    let len = bytes.len();
    let flags = if len >= 8 {
        let mut chunks = bytes.chunks_exact(8);
        let mut flags = chunks.by_ref().fold(0, |f, c| f | escape_flags(word(c)));
        if !chunks.remainder().is_empty() {
            flags |= escape_flags(word(bytes.get(len - 8..).unwrap_or_default()));
        }
        flags
    } else if len >= 4 {
        let low = half(bytes.get(..4).unwrap_or_default());
        let high = half(bytes.get(len - 4..).unwrap_or_default());
        escape_flags(u64::from(low) | (u64::from(high) << 32))
    } else {
        // Up to three bytes, padded with `a`s (which need none).
        let word = bytes
            .iter()
            .fold(ONES * u64::from(b'a'), |w, &b| (w << 8) | u64::from(b));
        escape_flags(word)
    };
    flags != 0
}

/// `s` as a JSON string, quoted and escaped as serde_json escapes it (short escapes for
/// `\b \t \n \f \r " \`, `\u00xx` in lower-case hex for the other controls, nothing else).
/// Most strings need no escape: one scan says so and they are copied whole.
pub(super) fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    string_content(out, s);
    out.push(b'"');
}

/// [`string`] without its quotes, for a writer whose constants hold them (`,"name":"`).
///
/// A string of at most 32 bytes (most header names and values, codes, addresses) is read as
/// two overlapping halves of a block, checked in those words and written as the whole block,
/// the vector then cut back to the string's end: fixed-size loads and one fixed-size store,
/// where a `memcpy` call of the string's length cost more than the string is long. Longer
/// ones are scanned by [`needs_escape`] and copied.
pub(super) fn string_content(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let len = bytes.len();
    let word = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|c| <[u8; 8]>::try_from(c).ok())
            .map_or(0, u64::from_le_bytes)
    };
    // A word that failed to load reads as zeros, which `escape_flags` flags: the string then
    // takes the escaping path, which is right for any string.
    match len {
        0 => {}
        1..=3 => {
            let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
            // Every byte of a string of one to three is one of these.
            let (first, middle, last) = (at(0), at(len / 2), at(len - 1));
            let padded = u32::from_le_bytes([first, middle, last, b'a']);
            if escape_flags(u64::from(padded) | (ONES << 32)) != 0 {
                escaped_content(out, bytes);
                return;
            }
            let mut block = [first; 4];
            if let Some(b) = block.get_mut(len / 2) {
                *b = middle;
            }
            if let Some(b) = block.get_mut(len - 1) {
                *b = last;
            }
            put_block(out, &block, len);
        }
        4..=7 => {
            let half = |at: usize| {
                bytes
                    .get(at..at + 4)
                    .and_then(|c| <[u8; 4]>::try_from(c).ok())
                    .unwrap_or([0; 4])
            };
            let (low, high) = (half(0), half(len - 4));
            let both =
                u64::from(u32::from_le_bytes(low)) | u64::from(u32::from_le_bytes(high)) << 32;
            if escape_flags(both) != 0 {
                escaped_content(out, bytes);
                return;
            }
            put_block(out, &halves::<8, 4>(low, high, len), len);
        }
        8..=16 => {
            let (low, high) = (word(0), word(len - 8));
            if escape_flags(low) | escape_flags(high) != 0 {
                escaped_content(out, bytes);
                return;
            }
            let block = halves::<16, 8>(low.to_le_bytes(), high.to_le_bytes(), len);
            put_block(out, &block, len);
        }
        17..=32 => {
            let (a, b, c, d) = (word(0), word(8), word(len - 16), word(len - 8));
            if escape_flags(a) | escape_flags(b) | escape_flags(c) | escape_flags(d) != 0 {
                escaped_content(out, bytes);
                return;
            }
            let sixteen = |x: u64, y: u64| (u128::from(x) | u128::from(y) << 64).to_le_bytes();
            let block = halves::<32, 16>(sixteen(a, b), sixteen(c, d), len);
            put_block(out, &block, len);
        }
        _ => {
            if needs_escape(bytes) {
                escaped_content(out, bytes);
            } else {
                out.extend_from_slice(bytes);
            }
        }
    }
}

/// A block of `N` bytes whose first `H` are `low` and whose `H` ending at `len` are `high`
/// (`H <= len <= N = 2 H`): a string's two overlapping halves put back together.
#[inline(always)]
fn halves<const N: usize, const H: usize>(low: [u8; H], high: [u8; H], len: usize) -> [u8; N] {
    let mut block = [0u8; N];
    if let Some(b) = block.get_mut(..H) {
        b.copy_from_slice(&low);
    }
    if let Some(b) = block.get_mut(len - H..len) {
        b.copy_from_slice(&high);
    }
    block
}

/// Appends the first `len` bytes of `block`: the whole block (one fixed-size store), then
/// the vector cut back.
#[inline(always)]
fn put_block<const N: usize>(out: &mut Vec<u8>, block: &[u8; N], len: usize) {
    let end = out.len() + len;
    out.extend_from_slice(block);
    out.truncate(end);
}

/// [`string_content`] for bytes that hold at least one byte to escape: the runs between escapes
/// copied whole, found a word at a time.
#[cold]
#[inline(never)]
fn escaped_content(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 8);
    let mut start = 0;
    while let Some(at) = next_escape(bytes, start) {
        out.extend_from_slice(bytes.get(start..at).unwrap_or_default());
        let b = bytes.get(at).copied().unwrap_or_default();
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let hex = |n: u8| HEX.get(usize::from(n & 0xf)).copied().unwrap_or(b'0');
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hex(b >> 4), hex(b)]);
            }
        }
        start = at + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
}

pub(super) fn integer<I: itoa::Integer>(out: &mut Vec<u8>, v: I) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// A float as serde_json writes it: the shortest text that reads back the same (zmij), and
/// `null` for NaN and the infinities.
pub(super) fn float(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// The decimal digits of 0 to 99, two to each entry.
#[rustfmt::skip]
const DIGIT_PAIRS: [[u8; 2]; 100] = [
    *b"00", *b"01", *b"02", *b"03", *b"04", *b"05", *b"06", *b"07", *b"08", *b"09",
    *b"10", *b"11", *b"12", *b"13", *b"14", *b"15", *b"16", *b"17", *b"18", *b"19",
    *b"20", *b"21", *b"22", *b"23", *b"24", *b"25", *b"26", *b"27", *b"28", *b"29",
    *b"30", *b"31", *b"32", *b"33", *b"34", *b"35", *b"36", *b"37", *b"38", *b"39",
    *b"40", *b"41", *b"42", *b"43", *b"44", *b"45", *b"46", *b"47", *b"48", *b"49",
    *b"50", *b"51", *b"52", *b"53", *b"54", *b"55", *b"56", *b"57", *b"58", *b"59",
    *b"60", *b"61", *b"62", *b"63", *b"64", *b"65", *b"66", *b"67", *b"68", *b"69",
    *b"70", *b"71", *b"72", *b"73", *b"74", *b"75", *b"76", *b"77", *b"78", *b"79",
    *b"80", *b"81", *b"82", *b"83", *b"84", *b"85", *b"86", *b"87", *b"88", *b"89",
    *b"90", *b"91", *b"92", *b"93", *b"94", *b"95", *b"96", *b"97", *b"98", *b"99",
];

/// The two decimal digits of `n % 100`.
#[inline]
pub(super) fn pair(n: u64) -> [u8; 2] {
    DIGIT_PAIRS
        .get((n % 100) as usize)
        .copied()
        .unwrap_or([b'0'; 2])
}

/// The serializer: appends to the buffer it holds.
struct Json<'a> {
    out: &'a mut Vec<u8>,
    /// The next struct or map continues an object already open (its `{` and first fields
    /// written by [`append_tagged`]): its fields follow a comma, and it writes no `{`.
    inline: bool,
}

/// An array or object being written: whether the next element is its first, and what closes
/// it (`]`, `}`, or for an enum variant's contents also the object around them).
struct Compound<'b, 'a> {
    json: &'b mut Json<'a>,
    first: bool,
    close: &'static [u8],
}

impl Compound<'_, '_> {
    #[inline]
    fn comma(&mut self) {
        if !self.first {
            self.json.out.push(b',');
        }
        self.first = false;
    }

    /// A struct field's name: a Rust identifier or a `rename`, written as it is (serde_json
    /// would escape it, but no field name of ours holds a byte that needs it; debug builds
    /// check).
    #[inline]
    fn key(&mut self, key: &'static str) {
        debug_assert!(!key.bytes().any(escaped), "field {key:?} needs escaping");
        let out = &mut *self.json.out;
        out.reserve(key.len() + 4);
        out.extend_from_slice(if self.first { b"\"" } else { b",\"" });
        self.first = false;
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
    }

    #[inline]
    fn close(self) {
        self.json.out.extend_from_slice(self.close);
    }
}

impl<'b, 'a> Json<'a> {
    /// A struct or a map: a new object, or the rest of the one [`append_tagged`] opened.
    #[inline]
    fn object(&'b mut self) -> Compound<'b, 'a> {
        if self.inline {
            self.inline = false;
            return Compound {
                json: self,
                first: false,
                close: b"}",
            };
        }
        self.open(b"{", b"}")
    }

    #[inline]
    fn open(&'b mut self, open: &[u8], close: &'static [u8]) -> Compound<'b, 'a> {
        self.out.extend_from_slice(open);
        Compound {
            json: self,
            first: true,
            close,
        }
    }

    /// `{"variant":` before an enum variant's contents.
    #[inline]
    fn variant_key(&mut self, variant: &str) {
        self.out.push(b'{');
        string(self.out, variant);
        self.out.push(b':');
    }
}

impl<'b, 'a> ser::Serializer for &'b mut Json<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'b, 'a>;
    type SerializeTuple = Compound<'b, 'a>;
    type SerializeTupleStruct = Compound<'b, 'a>;
    type SerializeTupleVariant = Compound<'b, 'a>;
    type SerializeMap = Compound<'b, 'a>;
    type SerializeStruct = Compound<'b, 'a>;
    type SerializeStructVariant = Compound<'b, 'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        if v.is_finite() {
            self.out
                .extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
        } else {
            self.out.extend_from_slice(b"null");
        }
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        float(self.out, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        string(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        string(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        let mut seq = self.open(b"[", b"]");
        for &b in v {
            seq.comma();
            integer(seq.json.out, b);
        }
        seq.close();
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
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
        string(self.out, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.variant_key(variant);
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'b, 'a>, Error> {
        Ok(self.open(b"[", b"]"))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Compound<'b, 'a>, Error> {
        Ok(self.open(b"[", b"]"))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'b, 'a>, Error> {
        Ok(self.open(b"[", b"]"))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'b, 'a>, Error> {
        self.variant_key(variant);
        Ok(self.open(b"[", b"]}"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'b, 'a>, Error> {
        Ok(self.object())
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'b, 'a>, Error> {
        Ok(self.object())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'b, 'a>, Error> {
        self.variant_key(variant);
        Ok(self.open(b"{", b"}}"))
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.comma();
        value.serialize(&mut *self.json)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        key.serialize(Key {
            out: &mut *self.json.out,
        })?;
        self.json.out.push(b':');
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.json)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.key(key);
        value.serialize(&mut *self.json)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

/// A map key: a JSON string whatever the key's type, as serde_json writes it (numbers and
/// booleans quoted), or an error.
struct Key<'a> {
    out: &'a mut Vec<u8>,
}

impl Key<'_> {
    fn quoted(self, text: &str) -> Result<(), Error> {
        self.out.push(b'"');
        self.out.extend_from_slice(text.as_bytes());
        self.out.push(b'"');
        Ok(())
    }
}

fn key_must_be_a_string() -> Error {
    Error("key must be a string".into())
}

impl ser::Serializer for Key<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.quoted(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        if !v.is_finite() {
            return Err(Error("float key must be finite (got NaN or +/-inf)".into()));
        }
        self.quoted(zmij::Buffer::new().format_finite(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        if !v.is_finite() {
            return Err(Error("float key must be finite (got NaN or +/-inf)".into()));
        }
        self.quoted(zmij::Buffer::new().format_finite(v))
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        string(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        string(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        string(self.out, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::*;

    fn ours<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
        let mut out = Vec::new();
        append(&mut out, v).unwrap();
        out
    }

    fn same<T: Serialize + ?Sized>(v: &T) {
        let theirs = serde_json::to_vec(v).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ours(v)),
            String::from_utf8_lossy(&theirs)
        );
    }

    /// Every byte value at every position of a word and across word boundaries, every code
    /// point below U+3000 and a few beyond, and runs of escapes: escaped as serde_json does.
    #[test]
    fn strings_match_serde_json() {
        for c in (0u32..0x3000).chain([0xfeff, 0xfffd, 0x1_f600, 0x10_ffff]) {
            let Some(c) = char::from_u32(c) else { continue };
            for pad in 0..17 {
                let before = "a".repeat(pad);
                same(&format!("{before}{c}"));
                same(&format!("{before}{c}tail-{c}{c}-0123456789"));
            }
            same(&c);
        }
        for b in 0u8..0x80 {
            let s: String = (0..40)
                .map(|i| if i % 3 == 0 { char::from(b) } else { 'x' })
                .collect();
            same(&s);
        }
        same("");
        same("\"\\\"\\\u{1}\u{1f}\u{7f}\u{80}");
        same(&"\n".repeat(33));
        // Bytes just above the escaped ones, which a borrow in the word test may flag.
        same(" !#[]^_`\u{20}\u{21}\u{23}\u{5b}\u{5d}");
    }

    /// The writer before the one-scan fast path (session 7's: the escape loop for every
    /// string), kept to hold the new one against.
    fn previous_string(out: &mut Vec<u8>, s: &str) {
        let bytes = s.as_bytes();
        out.push(b'"');
        let mut start = 0;
        while let Some(at) = next_escape(bytes, start) {
            out.extend_from_slice(&bytes[start..at]);
            let b = bytes[at];
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x09 => out.extend_from_slice(b"\\t"),
                0x0a => out.extend_from_slice(b"\\n"),
                0x0c => out.extend_from_slice(b"\\f"),
                0x0d => out.extend_from_slice(b"\\r"),
                _ => out.extend_from_slice(format!("\\u{:04x}", b).as_bytes()),
            }
            start = at + 1;
        }
        out.extend_from_slice(&bytes[start..]);
        out.push(b'"');
    }

    /// One scan's answer for every length up to three words, with each interesting byte at
    /// each position and the others clean: the overlapping loads miss nothing and flag
    /// nothing clean.
    #[test]
    fn needs_escape_sees_every_position_of_every_length() {
        let interesting = [
            0u8, 0x01, 0x08, 0x0a, 0x1f, 0x20, 0x21, b'"', b'#', b'\\', b']', 0x7f, 0x80, 0xc3,
            0xe2, 0xff,
        ];
        for len in 0..=24 {
            for fill in [b'a', b' ', 0x7f, 0xff, b'~'] {
                let clean = vec![fill; len];
                assert!(!needs_escape(&clean), "{clean:?}");
                for pos in 0..len {
                    for &b in &interesting {
                        let mut bytes = clean.clone();
                        bytes[pos] = b;
                        assert_eq!(needs_escape(&bytes), escaped(b), "{bytes:?}");
                    }
                }
            }
        }
    }

    /// The short forms (one to three bytes, two halves of 4, 8 and 16 bytes) and the long
    /// one, at every length to five words, with each interesting byte at each position among
    /// clean ones: written as the previous writer writes them.
    #[test]
    fn short_strings_are_written_whole_at_every_length_and_position() {
        let interesting = [
            '\0', '\u{1}', '\n', '\u{1f}', ' ', '"', '\\', '\u{7f}', 'é', '€',
        ];
        for len in 0..=40 {
            for fill in ['a', '~', ' '] {
                let clean: String = std::iter::repeat_n(fill, len).collect();
                for pos in 0..=len {
                    for &c in &interesting {
                        let mut text = clean.clone();
                        if pos < len {
                            text.replace_range(pos..=pos, c.encode_utf8(&mut [0; 4]));
                        }
                        let mut ours = b"xy".to_vec();
                        string(&mut ours, &text);
                        let mut theirs = b"xy".to_vec();
                        previous_string(&mut theirs, &text);
                        assert_eq!(ours, theirs, "{text:?}");
                    }
                }
            }
        }
    }

    /// Random strings mixing controls, quotes, backslashes, ASCII, two-, three- and four-byte
    /// characters (U+2028 and U+2029 among them, which JSON leaves as they are): the writer
    /// matches serde_json and the previous writer byte for byte.
    #[test]
    fn random_strings_match_serde_json_and_the_previous_writer() {
        let pieces = [
            "\u{0}",
            "\u{1}",
            "\u{8}",
            "\t",
            "\n",
            "\u{b}",
            "\u{c}",
            "\r",
            "\u{1f}",
            " ",
            "\"",
            "\\",
            "/",
            "a",
            "Z",
            "~",
            "\u{7f}",
            "é",
            "\u{80}",
            "\u{2028}",
            "\u{2029}",
            "€",
            "\u{feff}",
            "\u{fffd}",
            "😀",
            "\u{10ffff}",
            "0123456789abcdef",
            "Sec-WebSocket-Key",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..100_000 {
            let len = (next() % 24) as usize;
            let text: String = (0..len)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let mut ours = Vec::new();
            string(&mut ours, &text);
            let mut previous = Vec::new();
            previous_string(&mut previous, &text);
            assert_eq!(ours, previous, "{text:?}");
            assert_eq!(ours, serde_json::to_vec(&text).unwrap(), "{text:?}");
        }
        let mut out = Vec::new();
        string(&mut out, "\u{2028}\u{2029}");
        assert_eq!(out, "\"\u{2028}\u{2029}\"".as_bytes());
    }

    #[derive(Serialize)]
    enum Kind {
        Unit,
        Newtype(u8),
        Tuple(u8, &'static str),
        Struct { a: Option<u8>, b: Vec<u8> },
    }

    #[derive(Serialize)]
    struct Inner {
        x: f64,
        y: f32,
    }

    #[derive(Serialize)]
    struct Outer<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(flatten)]
        inner: &'a Inner,
        kinds: Vec<Kind>,
        map: BTreeMap<u16, bool>,
        names: BTreeMap<&'static str, ()>,
        bools: BTreeMap<bool, i64>,
        empty: Vec<u8>,
        nothing: Option<String>,
        #[serde(with = "serde_bytes_like")]
        bytes: Vec<u8>,
        big: (u128, i128, i8),
    }

    mod serde_bytes_like {
        pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    /// Numbers (zmij floats, non-finite as null), options, enums of every shape, flattened
    /// fields, maps with numeric, boolean and string keys, bytes: as serde_json writes them.
    #[test]
    fn values_match_serde_json() {
        for (x, y) in [
            (1_700_000_000.000_074, 0.1f32),
            (0.0, -0.0),
            (-1e300, 3.4e38),
            (f64::NAN, f32::INFINITY),
            (f64::NEG_INFINITY, f32::NAN),
            (126.629, 1.5e-7),
            (5e-324, f32::MIN_POSITIVE),
        ] {
            let inner = Inner { x, y };
            let v = Outer {
                kind: "handshake",
                inner: &inner,
                kinds: vec![
                    Kind::Unit,
                    Kind::Newtype(7),
                    Kind::Tuple(1, "t\""),
                    Kind::Struct {
                        a: None,
                        b: vec![1, 2],
                    },
                    Kind::Struct {
                        a: Some(0),
                        b: vec![],
                    },
                ],
                map: [(0, true), (65535, false)].into(),
                names: [("a\nb", ()), ("", ())].into(),
                bools: [(true, -1), (false, i64::MIN)].into(),
                empty: vec![],
                nothing: None,
                bytes: vec![0, 255, 10],
                big: (u128::MAX, i128::MIN, -128),
            };
            same(&v);
        }
        same(&[Some(1.0f64), None]);
        same(&BTreeMap::<String, Vec<u8>>::new());
    }

    /// serde_json's output for `{"type":kind,"schema":n, ...record}` with the record flattened.
    /// (The sink's own `Line`, which the pretty export still writes through serde_json.)
    fn flattened<T: Serialize>(kind: &'static str, record: &T) -> String {
        let line = super::super::Line {
            kind,
            schema: 7,
            record,
        };
        serde_json::to_string(&line).unwrap()
    }

    fn tagged<T: Serialize>(kind: &'static str, record: &T) -> String {
        let mut out = b"junk before".to_vec();
        append_tagged(&mut out, kind, 7, record).unwrap();
        let text = String::from_utf8(out).unwrap();
        text.strip_prefix("junk before").unwrap().to_owned()
    }

    #[derive(Serialize)]
    struct Empty {}

    #[derive(Serialize)]
    struct Skipped {
        #[serde(skip_serializing_if = "Option::is_none")]
        a: Option<u8>,
        #[serde(skip_serializing_if = "Option::is_none")]
        b: Option<Inner>,
    }

    #[derive(Serialize)]
    struct Newtype(Skipped);

    /// A record written after `"type"` and `"schema"` in the same object is byte for byte what
    /// serde_json writes with the record flattened: structs with nested objects and arrays,
    /// structs whose every field is skipped, maps, newtypes around a struct, empty structs.
    #[test]
    fn tagged_records_match_serde_json_flatten() {
        let inner = Inner { x: 1.5, y: -0.0 };
        let outer = Outer {
            kind: "x\"y",
            inner: &inner,
            kinds: vec![Kind::Unit, Kind::Tuple(2, "\n")],
            map: [(1, true)].into(),
            names: [("k", ())].into(),
            bools: BTreeMap::new(),
            empty: vec![],
            nothing: Some("é\u{2028}".into()),
            bytes: vec![3],
            big: (0, -1, 1),
        };
        assert_eq!(tagged("handshake", &outer), flattened("handshake", &outer));
        assert_eq!(tagged("hop", &inner), flattened("hop", &inner));
        let none = Skipped { a: None, b: None };
        assert_eq!(tagged("notice", &none), flattened("notice", &none));
        assert_eq!(tagged("notice", &none), r#"{"type":"notice","schema":7}"#);
        let some = Skipped {
            a: Some(1),
            b: Some(Inner { x: 2.0, y: 3.0 }),
        };
        assert_eq!(tagged("tls", &some), flattened("tls", &some));
        assert_eq!(tagged("notice", &none), flattened("notice", &none));
        let wrapped = Newtype(some);
        assert_eq!(tagged("tls", &wrapped), flattened("tls", &wrapped));
        assert_eq!(
            tagged("tls", &wrapped),
            r#"{"type":"tls","schema":7,"a":1,"b":{"x":2.0,"y":3.0}}"#
        );
        assert_eq!(
            tagged("summary", &Empty {}),
            flattened("summary", &Empty {})
        );
        let map: BTreeMap<&str, Vec<u8>> = [("a", vec![1]), ("b\t", vec![])].into();
        assert_eq!(tagged("connection", &map), flattened("connection", &map));
        // A record that is not an object is refused, as flatten refuses it.
        #[derive(Serialize)]
        struct Flat<'a> {
            #[serde(flatten)]
            record: &'a [u8],
        }
        assert!(serde_json::to_string(&Flat { record: &[1] }).is_err());
        assert!(append_tagged(&mut Vec::new(), "hop", 7, &[1u8]).is_err());
        assert!(append_tagged(&mut Vec::new(), "hop", 7, &3u8).is_err());
    }

    /// Keys JSON cannot have are refused, as serde_json refuses them.
    #[test]
    fn bad_keys_are_errors() {
        let map: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into();
        assert!(serde_json::to_vec(&map).is_err());
        assert!(append(&mut Vec::new(), &map).is_err());
        let map: BTreeMap<Option<u8>, u8> = [(None, 1)].into();
        assert!(serde_json::to_vec(&map).is_err());
        assert!(append(&mut Vec::new(), &map).is_err());
        let map: BTreeMap<Option<u8>, u8> = [(Some(3), 1)].into();
        same(&map);
    }

    /// The word test finds the first byte that needs escaping, at any position, whatever
    /// the bytes around it.
    #[test]
    fn word_test_finds_the_first_escape() {
        for b in 0u8..=255 {
            for pos in 0..8 {
                for fill in [b'a', 0x7f, 0xff, b' ', 0x1f] {
                    let mut w = [fill; 8];
                    if let Some(slot) = w.get_mut(pos) {
                        *slot = b;
                    }
                    let first = w.iter().position(|&x| escaped(x));
                    let flags = escape_flags(u64::from_le_bytes(w));
                    let found = (flags != 0).then(|| (flags.trailing_zeros() / 8) as usize);
                    assert_eq!(found, first, "{w:?}");
                    assert_eq!(next_escape(&w, 0), first, "{w:?}");
                }
            }
        }
        // Words of bytes around the escaped ones, several per word.
        let near = [
            0u8, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0xff,
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let w: Vec<u8> = (0..11)
                .map(|i| {
                    near.get(((seed >> (i * 5)) % 13) as usize)
                        .copied()
                        .unwrap_or(0)
                })
                .collect();
            let first = w.iter().position(|&x| escaped(x));
            assert_eq!(next_escape(&w, 0), first, "{w:?}");
        }
    }
}
