//! Capture input: turns a pcap/pcapng file (or, later, a live interface) into [`Packet`]s.
//!
//! This is the only stage that reads files. Everything downstream sees a [`Packet`]: the packet
//! number (1-based, as tshark and Wireshark count), the capture timestamp, the link type and
//! the bytes as captured, borrowed from the reader's buffer (no per-packet copy).

mod file;
pub mod filter;
pub mod index;
pub mod live;
mod merge;
mod window;

pub use file::{BlockPool, FileSource, InBlock, ReadSummary, SharedBlock, BLOCK_BYTES};
pub use merge::{expand_inputs, FileRead, MergeNote, MergeSummary, MergedIndex, MergedSource};
pub use window::DEFAULT_REORDER_WINDOW_NS;

use std::fmt;

/// A link-layer header type (a `LINKTYPE_*` value from the tcpdump.org registry).
///
/// An open set: an unknown value is just a value, not a parse failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Linktype(pub u32);

impl Linktype {
    /// BSD loopback: 4-byte address family in the writer's byte order.
    pub const NULL: Linktype = Linktype(0);
    /// Ethernet II, with optional 802.1Q / 802.1ad tags.
    pub const ETHERNET: Linktype = Linktype(1);
    /// Raw IP as numbered by some BSDs (DLT_RAW = 12).
    pub const RAW_BSD: Linktype = Linktype(12);
    /// Raw IP as numbered by some other BSDs (DLT_RAW = 14).
    pub const RAW_BSD14: Linktype = Linktype(14);
    /// Raw IPv4 or IPv6, version taken from the first nibble.
    pub const RAW: Linktype = Linktype(101);
    /// OpenBSD loopback: like NULL but the family is always big-endian.
    pub const LOOP: Linktype = Linktype(108);
    /// Linux cooked capture v1 (`-i any` on older libpcap).
    pub const LINUX_SLL: Linktype = Linktype(113);
    /// Raw IPv4.
    pub const IPV4: Linktype = Linktype(228);
    /// Raw IPv6.
    pub const IPV6: Linktype = Linktype(229);
    /// Linux cooked capture v2 (`-i any` on libpcap ≥ 1.10).
    pub const LINUX_SLL2: Linktype = Linktype(276);

    /// The libpcap name of this link type, when it is one wssniff knows.
    #[must_use]
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NULL => "NULL",
            Self::ETHERNET => "EN10MB",
            Self::RAW_BSD | Self::RAW_BSD14 | Self::RAW => "RAW",
            Self::LOOP => "LOOP",
            Self::LINUX_SLL => "LINUX_SLL",
            Self::IPV4 => "IPV4",
            Self::IPV6 => "IPV6",
            Self::LINUX_SLL2 => "LINUX_SLL2",
            _ => return None,
        })
    }
}

impl fmt::Display for Linktype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// A capture timestamp: nanoseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Builds a timestamp from whole seconds and a fraction in `units_per_sec` units.
    #[must_use]
    pub fn from_parts(secs: i64, frac: u64, units_per_sec: u64) -> Self {
        let units = units_per_sec.max(1);
        let frac = frac.min(units - 1);
        let nanos = match units {
            // The two resolutions of pcap files, exact without a 128-bit division (one per
            // packet read).
            1_000_000 => frac * 1_000,
            1_000_000_000 => frac,
            _ => {
                let nanos = u128::from(frac) * 1_000_000_000 / u128::from(units);
                u64::try_from(nanos).unwrap_or(u64::MAX)
            }
        };
        let nanos = i64::try_from(nanos).unwrap_or(0);
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    /// Seconds since the epoch as a float (the Zeek `ts` convention).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Whole seconds since the epoch.
    #[must_use]
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }

    /// Nanoseconds past the whole second.
    #[must_use]
    pub fn subsec_nanos(self) -> u32 {
        u32::try_from(self.0.rem_euclid(1_000_000_000)).unwrap_or(0)
    }

    /// Time from `earlier` to `self` in nanoseconds (negative if `earlier` is later).
    #[must_use]
    pub fn nanos_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// One captured packet, borrowed from the source's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// Packet number, 1-based, in file order (tshark's `packet.number`).
    pub number: u64,
    /// Capture timestamp.
    pub ts: Timestamp,
    /// Link-layer type of `data`.
    pub linktype: Linktype,
    /// The bytes as captured (possibly cut short by the snap length).
    pub data: &'a [u8],
    /// Length of the packet on the wire; larger than `data.len()` when it was cut by snaplen.
    pub orig_len: u32,
}

impl Packet<'_> {
    /// Whether the capture cut this packet short (snap length).
    #[must_use]
    pub fn is_truncated(&self) -> bool {
        u64::from(self.orig_len) > self.data.len() as u64
    }
}

/// What a capture file yields, in file order: packets, and the key material some pcapng
/// files carry for their own traffic.
#[derive(Clone, Copy, Debug)]
pub enum Record<'p, 'a> {
    /// A captured packet.
    Packet(&'p Packet<'a>),
    /// A pcapng Decryption Secrets Block (what `editcap --inject-secrets` writes).
    Secrets(Secrets<'a>),
}

/// The contents of a pcapng Decryption Secrets Block, borrowed from the reader. Secrets:
/// hand them to the key store, never print them.
#[derive(Clone, Copy)]
pub struct Secrets<'a> {
    /// What kind of secrets the block holds.
    pub kind: SecretsKind,
    /// The block's secrets as stored (for [`SecretsKind::TlsKeyLog`], NSS key log text).
    pub data: &'a [u8],
    /// Packets read before the block (0 when it precedes them all, as editcap writes it).
    pub after_packet: u64,
}

impl fmt::Debug for Secrets<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Secrets {{ kind: {:?}, {} bytes (redacted), after_packet: {} }}",
            self.kind,
            self.data.len(),
            self.after_packet
        )
    }
}

/// The secrets type of a Decryption Secrets Block (pcapng §4.7); an open set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretsKind {
    /// `0x544c534b` ("TLSK"): an NSS key log.
    TlsKeyLog,
    /// Any other type (WireGuard, SSH, …), which wssniff does not use.
    Other(u32),
}

/// Why a capture could not be read (or stopped being readable).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The path as the user gave it.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The input is a directory.
    #[error("{path}: is a directory, not a capture file")]
    IsDirectory {
        /// The path as the user gave it.
        path: String,
    },
    /// The input is empty.
    #[error("{path}: empty file, not a capture")]
    Empty {
        /// The path as the user gave it.
        path: String,
    },
    /// The first bytes are neither a pcap nor a pcapng header.
    #[error("{path}: not a pcap or pcapng file (unrecognised magic number {magic})")]
    BadMagic {
        /// The path as the user gave it.
        path: String,
        /// The first four bytes, in hex.
        magic: String,
    },
    /// The file ends in the middle of a record.
    #[error("{path}: truncated capture: the file ends inside the record after packet {after_packet} (byte offset {offset}); results up to there are complete")]
    Truncated {
        /// The path as the user gave it.
        path: String,
        /// The last packet read completely.
        after_packet: u64,
        /// Byte offset of the incomplete record.
        offset: u64,
    },
    /// A record could not be parsed; the rest of the file cannot be located reliably.
    #[error("{path}: corrupt record after packet {after_packet} (byte offset {offset}): {detail}; results up to there are complete")]
    Corrupt {
        /// The path as the user gave it.
        path: String,
        /// The last packet read completely.
        after_packet: u64,
        /// Byte offset of the record.
        offset: u64,
        /// What was wrong.
        detail: String,
    },
    /// A live interface could not be opened or read.
    #[error("{interface}: {message}")]
    Live {
        /// The interface as given.
        interface: String,
        /// What went wrong, with the fix when known.
        message: String,
    },
    /// A BPF filter did not compile.
    #[error("bad filter expression '{filter}': {message}")]
    Filter {
        /// The filter as given.
        filter: String,
        /// libpcap's message.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    /// The microsecond and nanosecond shortcuts give what the general 128-bit formula gives.
    #[test]
    fn timestamp_resolutions_agree_with_the_general_formula() {
        let general = |secs: i64, frac: u64, units: u64| {
            let nanos = u128::from(frac.min(units - 1)) * 1_000_000_000 / u128::from(units);
            Timestamp(
                secs.saturating_mul(1_000_000_000)
                    .saturating_add(i64::try_from(nanos).unwrap_or(0)),
            )
        };
        for units in [1_000_000, 1_000_000_000, 1_000, 1 << 20] {
            for frac in [
                0,
                1,
                999,
                999_999,
                1_000_000,
                999_999_999,
                u64::from(u32::MAX),
            ] {
                for secs in [0, 1_700_000_000, -5, i64::MAX / 2] {
                    assert_eq!(
                        Timestamp::from_parts(secs, frac, units),
                        general(secs, frac, units),
                        "{secs} {frac} {units}"
                    );
                }
            }
        }
    }
}
