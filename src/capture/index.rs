//! A sparse index of a capture file's packets by byte offset, so a packet can be read again
//! by its number without reading the file from the start (the TUI's hex view of any packet).
//!
//! The reader records a [`Checkpoint`] each time it refills its read buffer (every 128–256
//! KiB of file), only when asked to ([`super::FileSource::index_packets`]): the number of the
//! next packet, the byte offset of the next record (pcap) or block (pcapng), and the state
//! needed to read on from there (the file or section header to parse first, and the pcapng
//! interfaces known at that point, shared until a new one is described). Reading packet `n`
//! again opens the file at the checkpoint at or before `n` and reads at most a buffer's worth
//! of records to reach it ([`read_packets`]).
//!
//! Cost: 24 bytes per refill (about 0.1 byte per KiB of capture), nothing per packet
//! (checkpoints are taken where the reader refills anyway). Never reads the clock; the only
//! I/O is [`PacketIndex::read_packets`] opening the file.

use std::sync::{Arc, Mutex};

use super::Linktype;

/// One capture interface as the reader knows it: link type and timestamp units (pcap has one,
/// from its file header; pcapng describes each in an Interface Description Block).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Interface {
    pub(crate) linktype: Linktype,
    pub(crate) units_per_sec: u64,
    pub(crate) ts_offset: i64,
}

/// Most checkpoints kept (about 500 GB of capture); later packets are not indexed and are
/// found by reading on from the last checkpoint.
const MAX_CHECKPOINTS: usize = 4_000_000;

/// The file or section header a checkpoint's reading starts with, and the interfaces it
/// had described by then.
#[derive(Clone, Debug, Default)]
pub(crate) struct Section {
    /// Byte offset of the pcap file header or the pcapng Section Header Block.
    pub(crate) header_at: u64,
    /// Its length in bytes.
    pub(crate) header_len: u64,
    /// pcapng interfaces described so far in the section (empty for pcap).
    pub(crate) interfaces: Vec<Interface>,
}

/// Where packet `number` starts in the file, and what reading from there needs.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The packet's number (1-based, file order).
    pub number: u64,
    /// Byte offset of its record or block.
    pub offset: u64,
    pub(crate) section: Arc<Section>,
}

/// The checkpoints of one file, shared between the thread reading it and whoever reads
/// packets again (cheap to clone).
#[derive(Clone, Debug, Default)]
pub struct PacketIndex {
    checkpoints: Arc<Mutex<Vec<Checkpoint>>>,
    /// No checkpoint is recorded any more: the reader re-sorts the file from here on
    /// (`capture::window`), so a byte offset no longer starts a run of packets numbered as
    /// the analysis numbered them. Reading again from an earlier checkpoint still does: the
    /// re-read re-sorts at the same packet.
    frozen: Arc<std::sync::atomic::AtomicBool>,
    /// The re-sort window the first reading was given (`--reorder-window`), which reading
    /// again must use too, or the packets would be numbered otherwise; unset: the default
    /// (re-sort from the first packet out of order on).
    reorder_window_ns: Arc<std::sync::OnceLock<i64>>,
}

impl PacketIndex {
    /// An empty index.
    #[must_use]
    pub fn new() -> Self {
        PacketIndex::default()
    }

    /// Records `cp` (in packet order; the reader calls this).
    pub(crate) fn push(&self, cp: Checkpoint) {
        if self.frozen.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        if let Ok(mut list) = self.checkpoints.lock() {
            if list.len() < MAX_CHECKPOINTS && list.last().is_none_or(|l| l.number < cp.number) {
                list.push(cp);
            }
        }
    }

    /// Records no more checkpoints (the reader started re-sorting packets).
    pub(crate) fn freeze(&self) {
        self.frozen
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Notes the re-sort window the reading was given (the reader calls this).
    pub(crate) fn set_reorder_window(&self, span_ns: i64) {
        let _ = self.reorder_window_ns.set(span_ns);
    }

    /// The re-sort window the reading was given, `None` for the default.
    #[must_use]
    pub fn reorder_window(&self) -> Option<i64> {
        self.reorder_window_ns.get().copied()
    }

    /// The checkpoint at or before packet `number`, if any was recorded.
    #[must_use]
    pub fn before(&self, number: u64) -> Option<Checkpoint> {
        let list = self.checkpoints.lock().ok()?;
        let at = list.partition_point(|c| c.number <= number);
        at.checked_sub(1).and_then(|i| list.get(i)).cloned()
    }

    /// Checkpoints recorded so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.checkpoints.lock().map_or(0, |l| l.len())
    }

    /// No checkpoint recorded yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::FileSource;
    use std::ops::ControlFlow;

    fn sample(name: &str) -> String {
        format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    /// Every packet, as one reading from the start sees it: (number, linktype, bytes).
    fn all(path: &str, index: Option<&PacketIndex>) -> Vec<(u64, u32, Vec<u8>)> {
        let mut source = FileSource::open(path).unwrap();
        if let Some(index) = index {
            source.index_packets(index);
        }
        let mut out = Vec::new();
        source.for_each_packet(|p| {
            out.push((p.number, p.linktype.0, p.data.to_vec()));
            ControlFlow::Continue(())
        });
        out
    }

    /// Read again by checkpoint, any packet is the packet a reading from the start saw
    /// (number, link type, bytes), in pcap and in pcapng with several interfaces; the
    /// checkpoints sit at byte offsets where records start.
    #[test]
    fn packets_read_again_by_offset_are_the_packets_read_in_order() {
        for name in [
            "close-codes.pcap",
            "pcapng-mixed-linktypes.pcapng",
            "nanosecond-ok.pcap",
        ] {
            let path = sample(name);
            let index = PacketIndex::new();
            let every = all(&path, Some(&index));
            assert!(every.len() > 6, "{name}");
            // The unit tests' 2 KiB read buffer refills every few packets.
            assert!(index.len() >= 2, "{name}: {} checkpoints", index.len());
            let last = index.before(u64::MAX).unwrap();
            assert!(last.number > 2 && last.offset > 24, "{name}: {last:?}");
            assert!(index.before(1).is_none());
            for wanted in [
                vec![1],
                vec![2, 5, 6],
                vec![every.len() as u64],
                (1..=every.len() as u64).collect::<Vec<_>>(),
                vec![3, 4, 1_000_000],
            ] {
                let mut got = Vec::new();
                index
                    .read_packets(&path, &wanted, |p| {
                        got.push((p.number, p.linktype.0, p.data.to_vec()));
                    })
                    .unwrap();
                let expected: Vec<_> = every
                    .iter()
                    .filter(|(n, _, _)| wanted.contains(n))
                    .cloned()
                    .collect();
                assert_eq!(got, expected, "{name} {wanted:?}");
            }
        }
    }

    /// A file the reader re-sorts (out-of-order timestamps): no checkpoint is taken once
    /// re-sorting starts, so every packet read again is the packet the first reading numbered
    /// so (a checkpoint inside the re-sorted part would number packets in file order).
    #[test]
    fn a_re_sorted_file_reads_again_as_first_numbered() {
        let path = sample("imperfect/out-of-order.pcap");
        let index = PacketIndex::new();
        let every = all(&path, Some(&index));
        let n = every.len() as u64;
        let wanted: Vec<u64> = (1..=n).collect();
        let mut got = Vec::new();
        index
            .read_packets(&path, &wanted, |p| {
                got.push((p.number, p.linktype.0, p.data.to_vec()));
            })
            .unwrap();
        assert_eq!(got, every);
        // The test means something only if re-sorting started and stopped the checkpoints
        // (in file order the same reading takes more).
        let unsorted = PacketIndex::new();
        let mut reader = FileSource::open(&path).unwrap().with_reorder_window(0);
        reader.index_packets(&unsorted);
        reader.for_each_packet(|_| ControlFlow::Continue(()));
        assert!(
            index.len() < unsorted.len(),
            "{} checkpoints while re-sorting, {} in file order",
            index.len(),
            unsorted.len()
        );
    }

    /// Without checkpoints (an index not recorded), packets are found from the start.
    #[test]
    fn an_empty_index_reads_from_the_start() {
        let path = sample("close-codes.pcap");
        let every = all(&path, None);
        let mut got = Vec::new();
        PacketIndex::new()
            .read_packets(&path, &[2, 9], |p| got.push(p.number))
            .unwrap();
        assert_eq!(got, vec![2, 9]);
        assert!(every.len() >= 9);
    }
}
