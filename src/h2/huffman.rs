//! HPACK's Huffman code (RFC 7541 §5.2, Appendix B), decoding only: the string literals of
//! a header block, turned back into their octets.
//!
//! In: the octets of one Huffman-coded string literal. Out: the decoded octets, or why not
//! (the end-of-string symbol inside the string, padding longer than 7 bits or not the
//! most significant bits of EOS), the same verdicts `loona-hpack` gives (checked against it
//! in the tests). It exists because `loona-hpack` builds its decoding tables again for
//! every coded string (loona issues 228/229, ~700,000 instructions each); the code here is
//! computed once, at compile time. Never panics, never allocates beyond the output.
//!
//! The code is canonical: codes are handed out in order of (length, symbol), so the code
//! lengths alone define it, and a decoder needs per length only the first code, how many
//! codes there are and where their symbols start.

/// Code length of each symbol: octets 0–255, then EOS (256). RFC 7541 Appendix B.
const CODE_LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

/// The end-of-string symbol: never inside a string, and its leading bits are the padding.
const EOS: u16 = 256;

/// Longest code, in bits.
const MAX_LEN: usize = 30;

/// The canonical decoding tables, indexed by code length.
struct Canonical {
    /// The first (smallest) code of each length.
    first: [u32; MAX_LEN + 1],
    /// How many codes each length has.
    count: [u32; MAX_LEN + 1],
    /// Where each length's symbols start in `symbols`.
    offset: [u32; MAX_LEN + 1],
    /// Symbols in code order.
    symbols: [u16; 257],
}

// Evaluated at compile time only (`TABLE`): an index out of range is a build error, not a
// panic, and every length is at most 30 and every count at most 257.
#[allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]
const fn canonical() -> Canonical {
    let mut count = [0u32; MAX_LEN + 1];
    let mut s = 0;
    while s < CODE_LENGTHS.len() {
        count[CODE_LENGTHS[s] as usize] += 1;
        s += 1;
    }
    let mut first = [0u32; MAX_LEN + 1];
    let mut offset = [0u32; MAX_LEN + 1];
    let mut code = 0u32;
    let mut at = 0u32;
    let mut len = 1;
    while len <= MAX_LEN {
        first[len] = code;
        offset[len] = at;
        code = (code + count[len]) << 1;
        at += count[len];
        len += 1;
    }
    let mut symbols = [0u16; 257];
    let mut next = offset;
    let mut s = 0;
    while s < CODE_LENGTHS.len() {
        let len = CODE_LENGTHS[s] as usize;
        symbols[next[len] as usize] = s as u16;
        next[len] += 1;
        s += 1;
    }
    Canonical {
        first,
        count,
        offset,
        symbols,
    }
}

static TABLE: Canonical = canonical();

/// Why a coded string does not decode (RFC 7541 §5.2): the crate's own error type, so a
/// verdict reads the same whichever decoder gave it.
pub(crate) use loona_hpack::huffman::HuffmanDecoderError as Invalid;

/// Appends the octets `coded` decodes to onto `out`.
///
/// # Errors
/// EOS inside the string, then padding longer than 7 bits, then padding that is not all
/// ones (loona-hpack's order); `out` then holds what decoded before the fault.
pub fn decode(coded: &[u8], out: &mut Vec<u8>) -> Result<(), Invalid> {
    let t = &TABLE;
    let mut code = 0u32;
    let mut len = 0usize;
    for &octet in coded {
        for bit in (0..8).rev() {
            code = code << 1 | u32::from(octet >> bit & 1);
            len += 1;
            let (Some(&first), Some(&count), Some(&offset)) =
                (t.first.get(len), t.count.get(len), t.offset.get(len))
            else {
                // Longer than any code: cannot happen with a complete code, refused anyway.
                return Err(Invalid::PaddingTooLarge);
            };
            let index = code.wrapping_sub(first);
            if index < count {
                let symbol = t
                    .symbols
                    .get((offset + index) as usize)
                    .copied()
                    .unwrap_or(EOS);
                if symbol == EOS {
                    return Err(Invalid::EOSInString);
                }
                // Every symbol below EOS is an octet.
                out.push(u8::try_from(symbol).unwrap_or(u8::MAX));
                code = 0;
                len = 0;
            }
        }
    }
    // Padding: at most 7 bits, all ones (the start of EOS's code).
    if len > 7 {
        return Err(Invalid::PaddingTooLarge);
    }
    if code != (1u32 << len) - 1 {
        return Err(Invalid::InvalidPadding);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(coded: &[u8]) -> Result<Vec<u8>, Invalid> {
        let mut out = Vec::new();
        decode(coded, &mut out).map(|()| out)
    }

    /// The table is a complete prefix code: the codes of the longest length end exactly at
    /// the all-ones code (EOS, 30 ones).
    #[test]
    fn code_is_complete_and_eos_is_all_ones() {
        let t = &TABLE;
        assert_eq!(t.first[MAX_LEN] + t.count[MAX_LEN], 1 << MAX_LEN);
        assert_eq!(t.symbols[256], EOS);
        assert_eq!(t.first[5], 0, "the shortest codes start at zero");
    }

    #[test]
    fn rfc_7541_appendix_c_strings() {
        // C.4.1: www.example.com; C.4.2: no-cache; C.6.1: 302, private, a date, a URL.
        assert_eq!(
            decoded(b"\xf1\xe3\xc2\xe5\xf2\x3a\x6b\xa0\xab\x90\xf4\xff").unwrap(),
            b"www.example.com"
        );
        assert_eq!(decoded(b"\xa8\xeb\x10\x64\x9c\xbf").unwrap(), b"no-cache");
        assert_eq!(decoded(b"\x64\x02").unwrap(), b"302");
        assert_eq!(decoded(b"\xae\xc3\x77\x1a\x4b").unwrap(), b"private");
        assert_eq!(
            decoded(b"\x9d\x29\xad\x17\x18\x63\xc7\x8f\x0b\x97\xc8\xe9\xae\x82\xae\x43\xd3")
                .unwrap(),
            b"https://www.example.com"
        );
        assert_eq!(decoded(b"").unwrap(), b"");
    }

    #[test]
    fn bad_padding_and_eos_are_invalid() {
        assert_eq!(decoded(b"\xff\xff\xff\xff"), Err(Invalid::EOSInString));
        assert_eq!(decoded(b"\xff"), Err(Invalid::PaddingTooLarge), "8 bits");
        assert_eq!(
            decoded(b"\x1f"),
            Ok(b"a".to_vec()),
            "'a' (00011) and 3 bits of ones"
        );
        assert_eq!(
            decoded(b"\x18"),
            Err(Invalid::InvalidPadding),
            "not all ones"
        );
    }

    /// Every verdict and every output is loona-hpack's, on strings built to hit each case.
    #[test]
    fn agrees_with_loona_hpack() {
        let mut loona = loona_hpack::huffman::HuffmanDecoder::new();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut ok, mut bad) = (0, 0);
        for i in 0..20_000 {
            let len = (next() % 24) as usize;
            let mut coded: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Mostly ones at the end, as real padding is, so the valid cases are common.
            if i % 3 != 0 {
                if let Some(last) = coded.last_mut() {
                    *last |= 0xff >> (next() % 8);
                }
            }
            let theirs = loona.decode(&coded);
            assert_eq!(decoded(&coded), theirs, "{coded:02x?}");
            if theirs.is_ok() {
                ok += 1;
            } else {
                bad += 1;
            }
        }
        assert!(
            ok > 2_000 && bad > 2_000,
            "both verdicts exercised: {ok} {bad}"
        );
    }
}
