//! HPACK header-block decoding (RFC 7541) for one direction of an HTTP/2 connection: one
//! dynamic table per sender, the caps on table size and header-list size, and what to do
//! when the capture began after the table was built.
//!
//! The field decoding itself (integers, strings, Huffman, the static and dynamic tables)
//! is `loona-hpack`'s. This module delimits the block into its field representations
//! (RFC 7541 §6: only prefix integers and string lengths, never string contents) and hands
//! them to the crate one at a time, so that one field it cannot resolve does not lose the
//! rest of the block:
//!
//! ```text
//!  block ─▶ representation ─┬─ size update (§6.3) ─▶ capped, checked, applied here
//!                           ├─ static index / literal ─▶ loona-hpack ─▶ Field (known)
//!                           └─ dynamic index the table does not hold ─▶ Field (unknown)
//!                                 (insertions of unknown names keep a placeholder entry,
//!                                  so later indices still line up)
//! ```
//!
//! A dynamic index counts from the newest entry, so an entry inserted while the capture ran is
//! always found at the same index as in the real table (entries older than the capture are
//! missing from ours, never misplaced): a capture that starts mid-connection shows the
//! static-table and literal fields and marks the rest unknown, and never guesses. Memory per
//! decoder is bounded by [`HpackLimits::max_table_size`]; the list kept per block by
//! [`HpackLimits::max_header_list`]. Never panics on any input; never does I/O.

use std::collections::VecDeque;
use std::fmt;

use loona_hpack::decoder::{DecoderError, StringDecodingError};

use super::huffman;

/// The name a placeholder entry carries in the crate's table: a name no HTTP/2 field can
/// have (RFC 9113 §8.2.1: names are lower-case tokens), marking an entry whose name (or
/// whole content) the capture does not show.
const UNKNOWN_NAME: &[u8] = b"\0?";
/// Its length, as the one-octet string length of a literal name.
const UNKNOWN_NAME_LEN: u8 = 2;

/// RFC 7541 §4.1: every entry counts 32 octets beyond its name and value (also the unit of
/// SETTINGS_MAX_HEADER_LIST_SIZE, RFC 9113 §6.5.2).
const ENTRY_OVERHEAD: usize = 32;

/// Bytes the crate's table spends per entry beyond the name and value (two `Vec` headers),
/// plus our shadow's slot: for memory accounting.
const ENTRY_MEMORY: usize = 2 * std::mem::size_of::<Vec<u8>>() + std::mem::size_of::<usize>();

/// Entries in the static table (RFC 7541 Appendix A).
const STATIC_ENTRIES: usize = 61;

/// Most field representations decoded per block. loona-hpack builds its Huffman tables for
/// every coded string (loona issues 228/229), about 10 µs each in a release build: this cap
/// keeps one block under a few milliseconds whatever it holds. Browsers send a few dozen
/// fields per request; past the cap the block's rest is unknown and the table lost.
pub const MAX_FIELDS_PER_BLOCK: usize = 256;

/// The HPACK default table size before any SETTINGS (RFC 9113 §6.5.2).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// Caps on what one direction's decoder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HpackLimits {
    /// Largest dynamic table honoured: a size update above it is reported and clamped
    /// (entries the real table would still hold then show as unknown, never wrong).
    pub max_table_size: usize,
    /// Largest header list kept per block, counted as RFC 9113 §6.5.2 does (name + value +
    /// 32 per field); fields past it are decoded (the table must stay in step) but dropped.
    pub max_header_list: usize,
}

impl Default for HpackLimits {
    fn default() -> Self {
        HpackLimits {
            max_table_size: 64 * 1024,
            max_header_list: 64 * 1024,
        }
    }
}

/// One decoded field; `None` where the capture does not show the name or the value (an
/// index into table entries inserted before the capture started).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The field name (lower case on the wire in HTTP/2), if known.
    pub name: Option<String>,
    /// The field value, if known.
    pub value: Option<String>,
}

/// Something a header block did that a report should mention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HpackProblem {
    /// A table size update above [`HpackLimits::max_table_size`] (clamped).
    TableSizeOverCap {
        /// The size the encoder asked for.
        requested: usize,
        /// The cap applied.
        cap: usize,
    },
    /// A table size update above the receiver's SETTINGS_HEADER_TABLE_SIZE (RFC 7541 §6.3:
    /// a decoding error for a real receiver).
    TableSizeOverSetting {
        /// The size the encoder asked for.
        requested: usize,
        /// What the receiver's SETTINGS allowed.
        setting: usize,
    },
    /// A table size update after the first field of a block (RFC 7541 §4.2).
    SizeUpdateMisplaced,
    /// The decoded list passed [`HpackLimits::max_header_list`]; later fields were dropped.
    HeaderListOverCap {
        /// The cap.
        cap: usize,
    },
    /// More than [`MAX_FIELDS_PER_BLOCK`] fields: the rest of the block was not decoded and
    /// the table is no longer known.
    FieldsOverCap {
        /// The cap.
        cap: usize,
    },
    /// An index the table does not hold although the capture saw the connection from its
    /// start (a COMPRESSION_ERROR for a real receiver).
    IndexUnknown {
        /// The index.
        index: usize,
    },
    /// The block cannot be decoded past this point (a truncated integer or string, bad
    /// Huffman, index 0); the table can no longer be trusted.
    Malformed(String),
}

impl fmt::Display for HpackProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HpackProblem::TableSizeOverCap { requested, cap } => write!(
                f,
                "HPACK table size update to {requested} bytes, over the cap of {cap} (--max-header-bytes)"
            ),
            HpackProblem::TableSizeOverSetting { requested, setting } => write!(
                f,
                "HPACK table size update to {requested} bytes, over the receiver's SETTINGS_HEADER_TABLE_SIZE {setting}"
            ),
            HpackProblem::SizeUpdateMisplaced => {
                f.write_str("HPACK table size update after the first field of a block")
            }
            HpackProblem::HeaderListOverCap { cap } => write!(
                f,
                "header list over {cap} bytes (--max-header-bytes); later fields were dropped"
            ),
            HpackProblem::FieldsOverCap { cap } => write!(
                f,
                "more than {cap} fields in one header block; the rest was not decoded"
            ),
            HpackProblem::IndexUnknown { index } => {
                write!(f, "HPACK index {index} is not in the table")
            }
            HpackProblem::Malformed(why) => write!(f, "undecodable HPACK block: {why}"),
        }
    }
}

/// A decoded header block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderList {
    /// The fields in order, up to the header-list cap.
    pub fields: Vec<Field>,
    /// The list's size as RFC 9113 §6.5.2 counts it, including dropped fields.
    pub size: usize,
    /// Fields whose name or value the capture does not show.
    pub unknown: usize,
    /// What the block did that a report should mention.
    pub problems: Vec<HpackProblem>,
}

impl HeaderList {
    /// The value of the first field named `name`, when known.
    #[must_use]
    pub fn value(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.name.as_deref() == Some(name))
            .and_then(|f| f.value.as_deref())
    }
}

/// How a representation names its field.
#[derive(Clone, Copy, Debug)]
enum Rep {
    /// §6.1: a table entry.
    Indexed(usize),
    /// §6.2: a literal value; `name_index` 0 means a literal name too.
    Literal {
        name_index: usize,
        /// The first octet's kind bits (0x40 with indexing, 0x10 never, 0x00 without).
        kind: u8,
        /// Where the value's string representation starts within the representation.
        value_at: usize,
    },
    /// §6.3: a dynamic table size update.
    SizeUpdate(usize),
}

/// RFC 7541 §5.1 prefix integer: value and octets used; `None` when truncated or larger
/// than 2^28 (five octets, as loona-hpack also allows).
fn integer(buf: &[u8], prefix: u8) -> Option<(usize, usize)> {
    let mask = u8::MAX >> (8 - prefix);
    let first = buf.first()? & mask;
    if first < mask {
        return Some((usize::from(first), 1));
    }
    let mut value = usize::from(mask);
    for (i, &b) in buf.iter().enumerate().skip(1).take(4) {
        value += usize::from(b & 0x7f) << (7 * (i - 1));
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Octets of a §5.2 string literal at the front of `buf`.
fn string_len(buf: &[u8]) -> Option<usize> {
    let (len, used) = integer(buf, 7)?;
    let total = used.checked_add(len)?;
    (total <= buf.len()).then_some(total)
}

/// A representation as the crate is to be given it ([`without_huffman`]).
enum Plain {
    /// Not a literal, or no string Huffman-coded: as it came.
    Unchanged,
    /// The literal with its Huffman strings as plain strings.
    Rewritten(Vec<u8>),
    /// A string does not decode: what the crate would say, after it looked up the name.
    Invalid {
        name_index: usize,
        error: huffman::Invalid,
    },
}

/// A literal representation (RFC 7541 §6.2) with its Huffman-coded strings replaced by
/// the octets they decode to, as plain §5.2 strings.
fn without_huffman(rep: &[u8]) -> Plain {
    let Some(&first) = rep.first() else {
        return Plain::Unchanged;
    };
    if first & 0x80 != 0 || first & 0xe0 == 0x20 {
        return Plain::Unchanged;
    }
    let prefix = if first & 0x40 != 0 { 6 } else { 4 };
    let Some((name_index, mut at)) = integer(rep, prefix) else {
        return Plain::Unchanged;
    };
    let strings = if name_index == 0 { 2 } else { 1 };
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    for _ in 0..strings {
        let Some(rest) = rep.get(at..) else {
            return Plain::Unchanged;
        };
        let Some((len, used)) = integer(rest, 7) else {
            return Plain::Unchanged;
        };
        let end = at.saturating_add(used).saturating_add(len);
        let Some(coded) = rep.get(at + used..end) else {
            return Plain::Unchanged;
        };
        if rest.first().is_some_and(|b| b & 0x80 != 0) {
            let mut plain = Vec::with_capacity(len * 8 / 5 + 1);
            if let Err(error) = huffman::decode(coded, &mut plain) {
                return Plain::Invalid { name_index, error };
            }
            if plain.len() >= 1 << 27 {
                // Past what the crate's five-octet lengths hold once re-encoded.
                return Plain::Unchanged;
            }
            let out = out.get_or_insert_with(|| Vec::with_capacity(rep.len() * 2));
            out.extend_from_slice(rep.get(copied..at).unwrap_or_default());
            prefix_integer(plain.len(), 7, 0x00, out);
            out.extend_from_slice(&plain);
            copied = end;
        }
        at = end;
    }
    match out {
        Some(mut out) => {
            out.extend_from_slice(rep.get(copied..).unwrap_or_default());
            Plain::Rewritten(out)
        }
        None => Plain::Unchanged,
    }
}

/// Appends `value` as an RFC 7541 §5.1 integer with a `prefix`-bit prefix, the first
/// octet's other bits set to `flags`.
fn prefix_integer(mut value: usize, prefix: u8, flags: u8, out: &mut Vec<u8>) {
    let max = usize::from(u8::MAX >> (8 - prefix));
    if value < max {
        out.push(flags | u8::try_from(value).unwrap_or(0));
        return;
    }
    out.push(flags | u8::try_from(max).unwrap_or(0));
    value -= max;
    while value >= 0x80 {
        out.push(u8::try_from(value & 0x7f).unwrap_or(0) | 0x80);
        value >>= 7;
    }
    out.push(u8::try_from(value).unwrap_or(0));
}

/// Delimits the representation at the front of `buf`: what it is and its length.
fn delimit(buf: &[u8]) -> Result<(Rep, usize), &'static str> {
    let first = *buf.first().ok_or("empty")?;
    let truncated = "truncated field representation";
    if first & 0x80 != 0 {
        let (index, used) = integer(buf, 7).ok_or(truncated)?;
        if index == 0 {
            return Err("index 0");
        }
        return Ok((Rep::Indexed(index), used));
    }
    if first & 0xe0 == 0x20 {
        let (size, used) = integer(buf, 5).ok_or(truncated)?;
        return Ok((Rep::SizeUpdate(size), used));
    }
    let (prefix, kind) = if first & 0x40 != 0 {
        (6, 0x40)
    } else {
        (4, first & 0x10)
    };
    let (name_index, mut at) = integer(buf, prefix).ok_or(truncated)?;
    if name_index == 0 {
        at += string_len(buf.get(at..).unwrap_or_default()).ok_or(truncated)?;
    }
    let value_at = at;
    at += string_len(buf.get(at..).unwrap_or_default()).ok_or(truncated)?;
    Ok((
        Rep::Literal {
            name_index,
            kind,
            value_at,
        },
        at,
    ))
}

/// The sizes of the crate's dynamic table entries, newest first, kept in step with it for
/// memory accounting (the crate does not expose its table).
#[derive(Debug, Default)]
struct Shadow {
    entries: VecDeque<usize>,
    size: usize,
    max: usize,
}

impl Shadow {
    fn evict(&mut self) {
        while self.size > self.max {
            let Some(oldest) = self.entries.pop_back() else {
                self.size = 0;
                break;
            };
            self.size = self.size.saturating_sub(oldest);
        }
    }

    /// RFC 7541 §4.4: evict until the new entry fits, then add it (an entry larger than the
    /// table empties it and is not added). Evicting first, not after the push, keeps the
    /// queue at the table's entry count: one push over it doubled the queue's capacity.
    fn insert(&mut self, bytes: usize) {
        let entry = bytes.saturating_add(ENTRY_OVERHEAD);
        if entry > self.max {
            self.entries.clear();
            self.size = 0;
            return;
        }
        while self.size.saturating_add(entry) > self.max {
            let Some(oldest) = self.entries.pop_back() else {
                self.size = 0;
                break;
            };
            self.size = self.size.saturating_sub(oldest);
        }
        self.size = self.size.saturating_add(entry);
        self.entries.push_front(entry);
    }

    fn set_max(&mut self, max: usize) {
        self.max = max;
        self.evict();
    }
}

/// One sender's HPACK decoder, as seen by a passive observer.
pub struct HpackDecoder {
    inner: loona_hpack::Decoder<'static>,
    limits: HpackLimits,
    shadow: Shadow,
    /// The capture holds this direction from its first header block: an index the table
    /// does not hold is the sender's error, not a gap in the evidence.
    from_start: bool,
    /// A malformed block left the table in an unknown state: dynamic indices are unknown.
    desynced: bool,
    /// The receiver's SETTINGS_HEADER_TABLE_SIZE, once seen.
    setting: Option<usize>,
    /// The memory budget had no room for the table ([`HpackDecoder::drop_table`]): it
    /// stays empty whatever size the encoder asks for.
    dropped: bool,
}

impl fmt::Debug for HpackDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HpackDecoder")
            .field("limits", &self.limits)
            .field("shadow", &self.shadow)
            .field("from_start", &self.from_start)
            .field("desynced", &self.desynced)
            .field("setting", &self.setting)
            .finish_non_exhaustive()
    }
}

/// What a representation handed to the crate produced.
enum Fed {
    Field(Field),
    Unresolved,
    Failed(String),
}

fn text(bytes: &[u8]) -> Option<String> {
    (bytes != UNKNOWN_NAME).then(|| String::from_utf8_lossy(bytes).into_owned())
}

impl HpackDecoder {
    /// A decoder for one direction; `from_start`: the capture holds the connection from its
    /// beginning (so the table is complete).
    #[must_use]
    pub fn new(limits: HpackLimits, from_start: bool) -> Self {
        let mut inner = loona_hpack::Decoder::new();
        let max = DEFAULT_TABLE_SIZE.min(limits.max_table_size);
        inner.set_max_table_size(max);
        HpackDecoder {
            inner,
            limits,
            shadow: Shadow {
                max,
                ..Shadow::default()
            },
            from_start,
            desynced: false,
            setting: None,
            dropped: false,
        }
    }

    /// The receiver announced SETTINGS_HEADER_TABLE_SIZE `size`: the bound for this
    /// encoder's size updates.
    pub fn set_receiver_setting(&mut self, size: u32) {
        self.setting = Some(usize::try_from(size).unwrap_or(usize::MAX));
    }

    /// A header block of this sender was lost (over a cap, malformed frame): the table is
    /// no longer known, so dynamic indices decode as unknown from now on.
    pub fn lose_table(&mut self) {
        self.desynced = true;
    }

    /// The memory budget has no room for the dynamic table (`--memcap`): it is emptied and
    /// kept empty, so dynamic indices decode as unknown from now on (as after
    /// [`HpackDecoder::lose_table`]) and the table costs nothing.
    pub fn drop_table(&mut self) {
        self.desynced = true;
        self.dropped = true;
        // A fresh decoder and shadow: emptying the old ones would keep their queues' capacity.
        let mut inner = loona_hpack::Decoder::new();
        inner.set_max_table_size(0);
        self.inner = inner;
        self.shadow = Shadow::default();
    }

    /// Bytes held by the dynamic table (and its shadow), for memory accounting.
    #[must_use]
    pub fn memory(&self) -> usize {
        // By capacity: the crate's queue of entries grows as the shadow's does.
        self.shadow.size + self.shadow.entries.capacity() * ENTRY_MEMORY
    }

    /// Decodes one complete header block (HEADERS or PUSH_PROMISE and its CONTINUATIONs).
    ///
    /// ```
    /// use wssniff::h2::hpack::{HpackDecoder, HpackLimits};
    /// // RFC 7541 C.3.1: :method GET, :scheme http, :path /, :authority www.example.com.
    /// let block = b"\x82\x86\x84\x41\x0fwww.example.com";
    /// let mut d = HpackDecoder::new(HpackLimits::default(), true);
    /// let list = d.decode(block);
    /// assert_eq!(list.value(":authority"), Some("www.example.com"));
    /// // The literal was indexed: the next block may name it by index 62.
    /// assert_eq!(d.decode(b"\xbe").value(":authority"), Some("www.example.com"));
    /// ```
    pub fn decode(&mut self, block: &[u8]) -> HeaderList {
        let mut list = HeaderList::default();
        let mut at = 0;
        let mut fields_seen = false;
        let mut reps = 0;
        while let Some(rest) = block.get(at..).filter(|r| !r.is_empty()) {
            reps += 1;
            if reps > MAX_FIELDS_PER_BLOCK {
                list.problems.push(HpackProblem::FieldsOverCap {
                    cap: MAX_FIELDS_PER_BLOCK,
                });
                self.desynced = true;
                break;
            }
            let (rep, len) = match delimit(rest) {
                Ok(r) => r,
                Err(why) => {
                    self.malformed(&mut list, why.to_owned());
                    break;
                }
            };
            let bytes = rest.get(..len).unwrap_or_default();
            at += len;
            let fed = match rep {
                Rep::SizeUpdate(size) => {
                    if fields_seen {
                        list.problems.push(HpackProblem::SizeUpdateMisplaced);
                    }
                    self.size_update(size, &mut list);
                    continue;
                }
                Rep::Indexed(index) if index > STATIC_ENTRIES && self.desynced => Fed::Unresolved,
                Rep::Indexed(index) => match self.feed(bytes) {
                    Fed::Unresolved => {
                        self.unresolved(index, &mut list);
                        Fed::Unresolved
                    }
                    fed => fed,
                },
                Rep::Literal {
                    name_index,
                    kind,
                    value_at,
                } => {
                    let named = name_index == 0 || name_index <= STATIC_ENTRIES || !self.desynced;
                    let fed = if named {
                        self.feed(bytes)
                    } else {
                        Fed::Unresolved
                    };
                    match fed {
                        Fed::Unresolved => {
                            if !self.desynced {
                                self.unresolved(name_index, &mut list);
                            }
                            // The value is on the wire: decode it under a placeholder name
                            // (inserting the placeholder when the field is indexed).
                            let mut crafted = vec![kind, UNKNOWN_NAME_LEN];
                            crafted.extend_from_slice(UNKNOWN_NAME);
                            crafted.extend_from_slice(bytes.get(value_at..).unwrap_or_default());
                            self.feed(&crafted)
                        }
                        fed => fed,
                    }
                }
            };
            fields_seen = true;
            let field = match fed {
                Fed::Field(f) => f,
                Fed::Unresolved => Field {
                    name: None,
                    value: None,
                },
                Fed::Failed(why) => {
                    self.malformed(&mut list, why);
                    break;
                }
            };
            let size = field.name.as_ref().map_or(0, String::len)
                + field.value.as_ref().map_or(0, String::len)
                + ENTRY_OVERHEAD;
            list.size = list.size.saturating_add(size);
            if field.name.is_none() || field.value.is_none() {
                list.unknown += 1;
            }
            if list.size <= self.limits.max_header_list {
                list.fields.push(field);
            } else if !list
                .problems
                .iter()
                .any(|p| matches!(p, HpackProblem::HeaderListOverCap { .. }))
            {
                list.problems.push(HpackProblem::HeaderListOverCap {
                    cap: self.limits.max_header_list,
                });
            }
        }
        list
    }

    fn malformed(&mut self, list: &mut HeaderList, why: String) {
        list.problems.push(HpackProblem::Malformed(why));
        self.desynced = true;
    }

    /// An index the table does not hold: evidence missing, or the sender's error.
    fn unresolved(&self, index: usize, list: &mut HeaderList) {
        if self.from_start && !self.desynced {
            list.problems.push(HpackProblem::IndexUnknown { index });
        }
    }

    fn size_update(&mut self, requested: usize, list: &mut HeaderList) {
        let cap = self.limits.max_table_size;
        if let Some(setting) = self.setting.filter(|s| requested > *s) {
            list.problems
                .push(HpackProblem::TableSizeOverSetting { requested, setting });
        }
        if requested > cap {
            list.problems
                .push(HpackProblem::TableSizeOverCap { requested, cap });
        }
        let size = if self.dropped { 0 } else { requested.min(cap) };
        self.inner.set_max_table_size(size);
        self.shadow.set_max(size);
    }

    /// Hands one representation to the crate.
    fn feed(&mut self, bytes: &[u8]) -> Fed {
        // Huffman strings decoded here, handed to the crate as plain ones (its decoder costs
        // ~10 µs per string, see `huffman`); one that does not decode goes as it came, for
        // the crate's own verdict in its own order.
        let plain = match without_huffman(bytes) {
            Plain::Unchanged => None,
            Plain::Rewritten(plain) => Some(plain),
            Plain::Invalid { name_index, error } => {
                // The crate looks an indexed name up before it reads the value.
                if name_index != 0 && !self.resolves(name_index) {
                    return Fed::Unresolved;
                }
                let e = StringDecodingError::HuffmanDecoderError(error);
                return Fed::Failed(DecoderError::StringDecodingError(e).to_string());
            }
        };
        let bytes = plain.as_deref().unwrap_or(bytes);
        let insert = bytes.first().is_some_and(|b| b & 0xc0 == 0x40);
        let mut out = None;
        let result = self.inner.decode_with_cb(bytes, |name, value| {
            out = Some((name.len() + value.len(), text(&name), text(&value)));
        });
        match (result, out) {
            (Ok(()), Some((bytes, name, value))) => {
                if insert {
                    self.shadow.insert(bytes);
                }
                Fed::Field(Field { name, value })
            }
            (Ok(()), None) => Fed::Failed("empty representation".to_owned()),
            (Err(DecoderError::HeaderIndexOutOfBounds), _) => Fed::Unresolved,
            (Err(e), _) => Fed::Failed(e.to_string()),
        }
    }

    /// Whether the crate's tables hold name index `index`: asked with a literal that is
    /// not indexed (so the table is left as it was) and an empty plain value.
    fn resolves(&mut self, index: usize) -> bool {
        let mut probe = Vec::with_capacity(8);
        prefix_integer(index, 4, 0x00, &mut probe);
        probe.push(0);
        self.inner.decode_with_cb(&probe, |_, _| {}).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(name: &str, value: &str) -> Field {
        Field {
            name: Some(name.to_owned()),
            value: Some(value.to_owned()),
        }
    }

    fn unknown() -> Field {
        Field {
            name: None,
            value: None,
        }
    }

    /// A literal whose strings were Huffman-decoded here decodes, in the crate, to what the
    /// original gives there: same fields, same table, same errors.
    #[test]
    fn plain_rewrite_decodes_as_the_original() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut rewritten, mut invalid) = (0, 0);
        for i in 0..5_000 {
            let mut rep = vec![[0x40u8, 0x00, 0x10, 0x44, 0x0f][i % 5]];
            if i % 5 == 4 {
                rep.push(0x20); // name index 15 + 0x20, a continuation octet
            }
            for _ in 0..2 {
                let len = (next() % 20) as usize + if i % 7 == 0 { 130 } else { 0 };
                let huffman = next() % 4 != 0;
                let mut body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                if let Some(last) = body.last_mut() {
                    *last |= 0xff >> (next() % 8);
                }
                prefix_integer(len, 7, 0, &mut rep);
                if huffman {
                    let at = rep.len()
                        - if len < 0x7f {
                            1
                        } else {
                            1 + (len - 0x7f) / 128 + 1
                        };
                    rep[at] |= 0x80;
                }
                rep.extend_from_slice(&body);
            }
            let run = |bytes: &[u8]| {
                let mut d = loona_hpack::Decoder::new();
                let mut fields = Vec::new();
                let r = d.decode_with_cb(bytes, |n, v| fields.push((n.to_vec(), v.to_vec())));
                let again = d.decode_with_cb(b"\xbe", |_, _| {});
                (r.map_err(|e| e.to_string()), fields, again.is_ok())
            };
            match without_huffman(&rep) {
                Plain::Rewritten(plain) => {
                    rewritten += 1;
                    assert_eq!(run(&plain), run(&rep), "{rep:02x?}");
                }
                Plain::Invalid { error, .. } => {
                    invalid += 1;
                    let e = StringDecodingError::HuffmanDecoderError(error);
                    let ours = DecoderError::StringDecodingError(e).to_string();
                    let theirs = run(&rep).0.unwrap_err();
                    // A name index past the (empty) table fails first in the crate.
                    if i % 5 != 3 && i % 5 != 4 {
                        assert_eq!(ours, theirs, "{rep:02x?}");
                    }
                }
                Plain::Unchanged => {}
            }
        }
        assert!(rewritten > 1_000 && invalid > 500, "{rewritten} {invalid}");
    }

    #[test]
    fn prefix_integer_reads_back() {
        for prefix in [4, 6, 7] {
            for value in [
                0,
                1,
                14,
                15,
                16,
                62,
                63,
                64,
                126,
                127,
                128,
                255,
                16_510,
                1 << 20,
            ] {
                let mut out = Vec::new();
                prefix_integer(value, prefix, 0, &mut out);
                assert_eq!(integer(&out, prefix), Some((value, out.len())), "{value}");
            }
        }
    }

    /// An invalid Huffman value after a name index the table does not hold is unresolved
    /// (the crate looks the name up first), after one it holds a failure; and asking
    /// leaves the table as it was.
    #[test]
    fn invalid_huffman_value_after_an_unknown_name_index_is_unresolved() {
        let mut d = HpackDecoder::new(HpackLimits::default(), true);
        // 0x7e: literal with indexing, name index 62 (dynamic, empty table); value 0x81 0x18.
        assert!(matches!(d.feed(b"\x7e\x81\x18"), Fed::Unresolved));
        // Name index 1 (:authority): the value's padding is the answer.
        match d.feed(b"\x41\x81\x18") {
            Fed::Failed(why) => assert!(why.contains("Invalid padding"), "{why}"),
            _ => panic!("not a failure"),
        }
        let before = d.memory();
        assert!(d.resolves(1) && !d.resolves(62));
        assert_eq!(d.memory(), before);
        assert!(
            matches!(d.feed(b"\xbe"), Fed::Unresolved),
            "nothing was inserted"
        );
    }

    /// RFC 7541 C.4: three requests with Huffman coding, one table.
    const C4: [&[u8]; 3] = [
        b"\x82\x86\x84\x41\x8c\xf1\xe3\xc2\xe5\xf2\x3a\x6b\xa0\xab\x90\xf4\xff",
        b"\x82\x86\x84\xbe\x58\x86\xa8\xeb\x10\x64\x9c\xbf",
        b"\x82\x87\x85\xbf\x40\x88\x25\xa8\x49\xe9\x5b\xa9\x7d\x7f\x89\x25\xa8\x49\xe9\x5b\xb8\xe8\xb4\xbf",
    ];

    #[test]
    fn rfc_7541_c4_requests_decode_with_one_table() {
        let mut d = HpackDecoder::new(HpackLimits::default(), true);
        let third = C4.iter().map(|b| d.decode(b)).last().unwrap();
        assert_eq!(
            third.fields,
            [
                known(":method", "GET"),
                known(":scheme", "https"),
                known(":path", "/index.html"),
                known(":authority", "www.example.com"),
                known("custom-key", "custom-value"),
            ]
        );
        assert!(third.problems.is_empty());
        // Table after C.4.3: three entries, 164 octets (RFC 7541).
        assert_eq!(d.shadow.size, 164);
        assert_eq!(d.shadow.entries.len(), 3);
    }

    #[test]
    fn mid_connection_shows_static_and_literal_fields_and_marks_the_rest_unknown() {
        // The capture starts at the second block: 0xbe names an entry inserted before.
        let mut d = HpackDecoder::new(HpackLimits::default(), false);
        let second = d.decode(C4[1]);
        assert_eq!(
            second.fields,
            [
                known(":method", "GET"),
                known(":scheme", "http"),
                known(":path", "/"),
                unknown(),
                known("cache-control", "no-cache"),
            ]
        );
        assert_eq!(second.unknown, 1);
        assert!(second.problems.is_empty(), "missing evidence is no problem");
        // Third block: 0xbf is index 63, now the entry before cache-control (unknown), and
        // the new literal custom-key is inserted and known.
        let third = d.decode(C4[2]);
        assert_eq!(third.fields.get(3), Some(&unknown()));
        assert_eq!(
            third.fields.get(4),
            Some(&known("custom-key", "custom-value"))
        );
        // Index 62 is the newest entry: known even mid-connection.
        assert_eq!(
            d.decode(b"\xbe").fields,
            [known("custom-key", "custom-value")]
        );
        assert_eq!(
            d.decode(b"\xbf").fields,
            [known("cache-control", "no-cache")]
        );
    }

    #[test]
    fn an_unknown_name_index_keeps_the_value_and_a_placeholder_entry() {
        let mut d = HpackDecoder::new(HpackLimits::default(), false);
        // Literal with incremental indexing, name index 70 (unknown), value "v".
        let list = d.decode(b"\x7f\x07\x01v");
        assert_eq!(
            list.fields,
            [Field {
                name: None,
                value: Some("v".to_owned())
            }]
        );
        // The placeholder sits at 62: its name is unknown (not "\0?"), its value known.
        assert_eq!(d.decode(b"\xbe").fields, list.fields);
        // Since the sender saw the whole connection, an unknown index is its error.
        let mut d = HpackDecoder::new(HpackLimits::default(), true);
        let list = d.decode(b"\xbe");
        assert_eq!(list.problems, [HpackProblem::IndexUnknown { index: 62 }]);
    }

    #[test]
    fn table_size_updates_are_capped_and_checked() {
        let limits = HpackLimits {
            max_table_size: 100,
            max_header_list: 1024,
        };
        let mut d = HpackDecoder::new(limits, true);
        d.set_receiver_setting(50);
        // Size update to 200 (0x3f 0xa9 0x01), then a literal to index.
        let list = d.decode(b"\x3f\xa9\x01\x40\x01a\x01b");
        assert_eq!(
            list.problems,
            [
                HpackProblem::TableSizeOverSetting {
                    requested: 200,
                    setting: 50
                },
                HpackProblem::TableSizeOverCap {
                    requested: 200,
                    cap: 100
                },
            ]
        );
        assert_eq!(d.shadow.max, 100);
        // The entry's bytes and its queue's slots (counted by capacity).
        let slots = d.shadow.entries.capacity() * ENTRY_MEMORY;
        assert!(slots >= ENTRY_MEMORY);
        assert_eq!(d.memory(), 34 + slots);
        // A size update after a field is misplaced; to 0, it empties the table.
        let list = d.decode(b"\x82\x20");
        assert_eq!(list.problems, [HpackProblem::SizeUpdateMisplaced]);
        assert_eq!(d.memory(), slots);
        // Dropped for want of budget: the queues go too.
        d.drop_table();
        assert_eq!(d.memory(), 0);
    }

    #[test]
    fn the_header_list_cap_drops_fields_but_keeps_the_table_in_step() {
        let limits = HpackLimits {
            max_table_size: 4096,
            max_header_list: 40,
        };
        let mut d = HpackDecoder::new(limits, true);
        // :method GET (42 octets with overhead) is over the cap; then an indexed literal.
        let list = d.decode(b"\x82\x40\x01a\x01b");
        assert!(list.fields.is_empty());
        assert_eq!(list.size, 42 + 34);
        assert_eq!(list.problems, [HpackProblem::HeaderListOverCap { cap: 40 }]);
        assert_eq!(d.decode(b"\xbe").fields, [known("a", "b")]);
    }

    #[test]
    fn malformed_blocks_stop_and_distrust_the_table() {
        for bad in [
            &b"\x80"[..],            // index 0
            b"\xff\xff\xff\xff\xff", // integer too long
            b"\x40\x05ab",           // string longer than the block
            b"\x3f",                 // truncated size update (RUSTSEC-2023-0085's input)
            b"\x00\x81\xff\x00",     // Huffman name that is all padding (EOS)
        ] {
            let mut d = HpackDecoder::new(HpackLimits::default(), true);
            d.decode(b"\x40\x01a\x01b");
            let list = d.decode(bad);
            assert!(
                matches!(list.problems.as_slice(), [HpackProblem::Malformed(_)]),
                "{bad:02x?}: {:?}",
                list.problems
            );
            // After that, dynamic indices are unknown (and no longer the sender's error).
            let list = d.decode(b"\xbe\x82");
            assert_eq!(list.fields, [unknown(), known(":method", "GET")]);
            assert!(list.problems.is_empty());
        }
    }

    #[test]
    fn a_block_with_too_many_fields_stops_at_the_cap() {
        let mut d = HpackDecoder::new(HpackLimits::default(), true);
        let list = d.decode(&[0x82; MAX_FIELDS_PER_BLOCK + 1]);
        assert_eq!(list.fields.len(), MAX_FIELDS_PER_BLOCK);
        assert_eq!(
            list.problems,
            [HpackProblem::FieldsOverCap {
                cap: MAX_FIELDS_PER_BLOCK
            }]
        );
        assert!(d.desynced);
    }

    #[test]
    fn integers_follow_rfc_7541_c1() {
        assert_eq!(integer(&[0x0a], 5), Some((10, 1)));
        assert_eq!(integer(&[0x1f, 0x9a, 0x0a], 5), Some((1337, 3)));
        assert_eq!(integer(&[0x2a], 8), Some((42, 1)));
        assert_eq!(integer(&[0x1f, 0x9a], 5), None);
        assert_eq!(integer(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0x01], 5), None);
    }
}
