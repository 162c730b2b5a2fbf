//! Per-flow actions: put the curl replay line in the clipboard, write the flow's packets to a
//! pcap file, write the record as JSON, and read raw packets back for the hex view. Raw bytes are never
//! kept in memory by the TUI: they are read again on demand from the capture file, by byte
//! offset through its packet index ([`crate::capture::index`]), from merged files by file
//! and offset ([`crate::capture::MergedIndex`]), or, live and from standard input, from the
//! bounded ring of recent packets ([`super::feed::PacketRing`]).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;

use std::collections::BTreeMap;

use crate::capture::index::PacketIndex;
use crate::capture::{FileSource, Linktype};
use crate::event::{ConnectionRecord, HandshakeRecord};
use crate::sink::pcap::{PcapWriter, MAX_SNAPLEN};

use super::app::{HexDump, HexWindow, MAX_HEX_PACKETS};
use super::feed::PacketStore;
use super::flows::PacketLists;
use super::scan::{scan, HexRequest, ScanEnd, ScanProgress, ScanRange};

/// The OSC 52 sequence that puts `text` in the terminal's clipboard (works over SSH and in
/// tmux with `set-clipboard on`).
#[must_use]
pub(crate) fn osc52(text: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    format!("\x1b]52;c;{b64}\x07")
}

/// Packet numbers of the handshake's request, interim and final responses, sorted, capped.
#[must_use]
fn handshake_packets(r: &HandshakeRecord) -> Vec<u64> {
    let mut packets: Vec<u64> = r
        .request
        .iter()
        .chain(r.interim.iter())
        .chain(r.response.iter())
        .flat_map(|m| m.packets.iter().copied())
        .collect();
    packets.sort_unstable();
    packets.dedup();
    packets.truncate(MAX_HEX_PACKETS);
    packets
}

/// Packets read again for the hex view: (number, link type, captured bytes).
type Loaded = Vec<(u64, Linktype, Vec<u8>)>;

/// Reads the packets numbered `wanted` (sorted, distinct) again: from the capture `path` by
/// byte offset through the file's packet index (`store`), from the live ring, or from the
/// start of the file when it was not indexed. The note says why some or all are missing.
fn read_again(
    path: Option<&str>,
    store: Option<&PacketStore>,
    wanted: &[u64],
) -> (Loaded, Option<String>) {
    let mut got: Loaded = Vec::new();
    if let Some(PacketStore::Ring(ring)) = store {
        let Ok(ring) = ring.lock() else {
            return (
                got,
                Some("the ring of recent packets is not available".into()),
            );
        };
        got = ring.get(wanted);
        let missing = wanted.len() - got.len();
        // Standard input is read once, like an interface: only its recent packets are kept.
        let what = ring.what();
        let note = (missing > 0).then(|| {
            format!(
                "{missing} of these {} packets are no longer in the ring of recent {what} ({} MiB, from packet {} on)",
                wanted.len(),
                ring.cap() / (1024 * 1024),
                ring.oldest().map_or_else(|| "-".to_owned(), |n| n.to_string())
            )
        });
        return (got, note);
    }
    if let Some(PacketStore::Merged(index)) = store {
        let read = index.read_packets(wanted, |p| {
            got.push((p.number, p.linktype, p.data.to_vec()));
        });
        let note = match read {
            Err(e) => Some(e.to_string()),
            Ok(()) if got.len() < wanted.len() && index.is_full() => Some(format!(
                "{} of these {} packets cannot be read again: the merged files interleave too finely for the merge index",
                wanted.len() - got.len(),
                wanted.len()
            )),
            Ok(()) if got.len() < wanted.len() => Some(format!(
                "{} of these {} packets are not in the capture files",
                wanted.len() - got.len(),
                wanted.len()
            )),
            Ok(()) => None,
        };
        return (got, note);
    }
    let Some(path) = path.filter(|p| *p != "-") else {
        return (
            got,
            Some("raw bytes are read again from the capture file; not available for this source (standard input keeps none)".into()),
        );
    };
    let unindexed = PacketIndex::new();
    let index = match store {
        Some(PacketStore::File(index)) => index,
        _ => &unindexed,
    };
    let read = index.read_packets(path, wanted, |p| {
        got.push((p.number, p.linktype, p.data.to_vec()));
    });
    let note = match read {
        Err(e) => Some(e.to_string()),
        Ok(()) if got.len() < wanted.len() => Some(format!(
            "{} of these {} packets are not in the capture file",
            wanted.len() - got.len(),
            wanted.len()
        )),
        Ok(()) => None,
    };
    (got, note)
}

/// Fills `dump` with `loaded`, masking credentials in the TCP payloads when `redact` (found
/// in each direction's payloads joined in packet order, so a header split across packets is
/// masked whole), as the rest of the TUI shows them redacted.
fn fill(dump: &mut HexDump, loaded: Loaded, client: SocketAddr, redact: bool) {
    let mut spans = Vec::new();
    for (i, (number, linktype, data)) in loaded.into_iter().enumerate() {
        if redact {
            let packet = crate::capture::Packet {
                number,
                ts: crate::capture::Timestamp(0),
                linktype,
                data: &data,
                orig_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
            };
            spans.extend(payload_span(i, &packet, client));
        }
        dump.packets.push((number, data));
    }
    if redact && mask_credentials(&mut dump.packets, &spans) {
        dump.note.get_or_insert_with(|| {
            "credential bytes are shown as * (2a); --no-redact shows them as captured".into()
        });
    }
}

/// Reads the handshake's packets again for the hex view (by byte offset from the capture
/// `path` through `store`'s packet index, or from the live ring); with `redact`, the bytes
/// of every credential in their TCP payloads are overwritten with `*`.
#[must_use]
pub fn load_hex(
    path: Option<&str>,
    store: Option<&PacketStore>,
    r: &HandshakeRecord,
    redact: bool,
) -> HexDump {
    let mut dump = HexDump {
        record_id: r.id,
        ..HexDump::default()
    };
    let wanted = handshake_packets(r);
    if wanted.is_empty() {
        dump.note = Some("no packet numbers recorded for this handshake".into());
        return dump;
    }
    let (loaded, note) = read_again(path, store, &wanted);
    dump.note = note;
    fill(&mut dump, loaded, r.client, redact);
    dump
}

/// The curl command one argument per line (shared with the report: [`crate::present`]).
pub use crate::present::curl_for_copying;

/// Packets of a connection kept for its hex view: the first and the last this many.
const CONNECTION_HEX_EACH_END: usize = MAX_HEX_PACKETS / 2;

/// The packets connection `c`'s records cite, each with what it carried: the opening
/// handshake's request and responses (`opened_by`), every frame its frame log kept (the
/// first and last frames), its close frames; sorted by number.
fn connection_packets(
    c: &ConnectionRecord,
    opened_by: Option<&HandshakeRecord>,
) -> BTreeMap<u64, Vec<String>> {
    let mut cited: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut cite = |n: u64, what: String| {
        if n > 0 {
            let list = cited.entry(n).or_default();
            if !list.contains(&what) {
                list.push(what);
            }
        }
    };
    if let Some(r) = opened_by {
        for (what, m) in r
            .request
            .iter()
            .map(|m| ("request", m))
            .chain(r.interim.iter().map(|m| ("interim response", m)))
            .chain(r.response.iter().map(|m| ("response", m)))
        {
            for &n in &m.packets {
                cite(n, format!("handshake {what}"));
            }
        }
    }
    let (frames, _) = c.frame_log.in_time_order();
    for f in &frames {
        let dir = match f.peer {
            crate::event::Peer::Client => "C→S",
            crate::event::Peer::Server => "S→C",
        };
        cite(f.packet, format!("{dir} {} frame", f.opcode_name()));
    }
    for (who, close) in [("client", &c.close.client), ("server", &c.close.server)] {
        if let Some(close) = close {
            cite(close.packet, format!("{who} close"));
        }
    }
    cited
}

/// Reads the packets of connection `c` again for the hex view, each by its byte offset (or
/// from the live ring): every packet of the TCP connection the reader listed (`lists`: the
/// first and the last [`crate::tui::flows::EACH_END`], bare ACKs included) and those its
/// records cite (the opening handshake `opened_by`, the frames its frame log kept, the close
/// frames); of them the first and the last [`MAX_HEX_PACKETS`]` / 2`, each labelled with
/// what it carried (a packet no record cites, with its TCP flags). `index` is the
/// connection's arrival index in the connections tab. With `redact`, credentials in the TCP
/// payloads are masked as [`load_hex`] does.
#[must_use]
pub fn load_connection_hex(
    path: Option<&str>,
    (store, lists): (Option<&PacketStore>, Option<&Mutex<PacketLists>>),
    c: &ConnectionRecord,
    opened_by: Option<&HandshakeRecord>,
    index: usize,
    redact: bool,
) -> HexDump {
    let mut dump = HexDump {
        connection: Some(index),
        ..HexDump::default()
    };
    let cited = connection_packets(c, opened_by);
    // From the handshake's request (before the connection's `ts`) to its end.
    let from = opened_by.map_or(c.ts, |r| r.ts.min(c.ts));
    // Copied out, so the reader is not held up while the file is read.
    let (listed, lists_cap, lists_full) = match lists.and_then(|l| l.lock().ok()) {
        Some(l) => (
            l.of(c.client, c.server, from, c.end_ts)
                .map(|p| (p.numbers(), p.total)),
            l.cap(),
            l.given_up() > 0,
        ),
        None => (None, 0, false),
    };
    let mut wanted: Vec<u64> = cited.keys().copied().collect();
    if let Some((numbers, _)) = &listed {
        wanted.extend(numbers);
        wanted.sort_unstable();
        wanted.dedup();
    }
    if wanted.is_empty() {
        dump.note = Some("no packet of this connection is cited by its records".into());
        return dump;
    }
    // Every packet of the connection when it was listed whole, else those known.
    let known = listed
        .as_ref()
        .map_or(wanted.len() as u64, |l| l.1.max(wanted.len() as u64));
    let between = wanted.len().saturating_sub(MAX_HEX_PACKETS);
    if between > 0 {
        wanted.drain(CONNECTION_HEX_EACH_END..wanted.len() - CONNECTION_HEX_EACH_END);
    }
    let hidden = known - wanted.len() as u64;
    let what = if listed.is_some() {
        "packets"
    } else {
        "cited packets"
    };
    let (loaded, note) = read_again(path, store, &wanted);
    let unlisted = match (&listed, lists) {
        (Some(_), _) => None,
        (None, Some(_)) if lists_full => Some(format!(
            "only the packets its records cite: the connection was not listed (the packet lists were full, {} MiB)",
            lists_cap / (1024 * 1024)
        )),
        (None, _) => Some("only the packets its records cite (the connection's packets were not listed)".to_owned()),
    };
    let shown = (hidden > 0).then(|| {
        format!(
            "the first and the last {CONNECTION_HEX_EACH_END} of the connection's {known} {what}; {hidden} between them are not shown"
        )
    });
    let notes: Vec<String> = [note, unlisted, shown].into_iter().flatten().collect();
    dump.note = (!notes.is_empty()).then(|| notes.join("; "));
    dump.total = listed.as_ref().map(|l| l.1);
    dump.labels = cited
        .into_iter()
        .filter(|(n, _)| wanted.binary_search(n).is_ok())
        .map(|(n, what)| (n, what.join(", ")))
        .collect();
    for (number, linktype, data) in &loaded {
        if !dump.labels.contains_key(number) {
            if let Some(label) = tcp_label(*number, data, *linktype, c.client) {
                dump.labels.insert(*number, label);
            }
        }
    }
    fill(&mut dump, loaded, c.client, redact);
    dump
}

/// Packet time a scan for a connection that was not listed looks before its first record
/// and after its end (its SYN comes before the handshake; a late ACK after the close).
const UNLISTED_SLACK_NS: i64 = 2_000_000_000;

/// Reads the packets `request` asks for again: for [`HexWindow::Ends`] as
/// [`load_connection_hex`]; for a window of positions, those the packet lists hold by
/// number, and those in the middle they do not (a long connection past the lists' room,
/// or one not listed at all) by scanning the capture ([`scan`]), with `progress` shared. A
/// cancelled scan returns what it has, which nobody looks at.
#[must_use]
pub fn load_connection_window(request: &HexRequest, progress: &ScanProgress) -> HexDump {
    let (path, store) = (request.path.as_deref(), request.store.as_ref());
    let c = &request.connection;
    let opened_by = request.opened_by.as_deref();
    let HexWindow::From(asked) = request.window else {
        return load_connection_hex(
            path,
            (store, request.lists.as_deref()),
            c,
            opened_by,
            request.index,
            request.redact,
        );
    };
    let mut dump = HexDump {
        connection: Some(request.index),
        window: request.window,
        ..HexDump::default()
    };
    let page = MAX_HEX_PACKETS as u64;
    let cited = connection_packets(c, opened_by);
    let from_ts = opened_by.map_or(c.ts, |r| r.ts.min(c.ts));
    // What the lists know of these positions, taken under their lock (the reader waits
    // for it only that long).
    let listed = request
        .lists
        .as_ref()
        .and_then(|l| l.lock().ok())
        .and_then(|l| {
            let p = l.of(c.client, c.server, from_ts, c.end_ts)?;
            let start = asked.min(p.total.saturating_sub(page));
            Some((start, p.total, p.window(start, start + page), p.span()))
        });
    let mut loaded: Loaded = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let ends = (c.client, c.server);
    let start = if let Some((start, total, window, span)) = listed {
        let numbers: Vec<u64> = window.known.iter().map(|k| k.1).collect();
        if !numbers.is_empty() {
            let (got, note) = read_again(path, store, &numbers);
            loaded = got;
            notes.extend(note);
        }
        if let Some(gap) = window.gap {
            let lo = start.max(gap.first);
            let hi = (start + page).min(gap.first + gap.count);
            let mut pos = gap.first;
            let range = ScanRange {
                ends,
                after: gap.after,
                before: gap.before,
                since: None,
                until: (gap.before == u64::MAX).then_some(span.1),
                capture_packets: request.capture_packets,
            };
            let end = scan(path, store, range, progress, |p| {
                if (lo..hi).contains(&pos) {
                    loaded.push((p.number, p.linktype, p.data.to_vec()));
                }
                pos += 1;
                if pos >= hi {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            match end {
                ScanEnd::Done => notes.push(format!(
                    "packets {}–{} found by scanning the capture after packet {} (the packet lists were full: this connection's list stops at its packet {})",
                    lo + 1,
                    hi,
                    gap.after,
                    gap.first
                )),
                ScanEnd::Cancelled => return dump,
                ScanEnd::Failed(why) => notes.push(why),
            }
        }
        dump.total = Some(total);
        start
    } else {
        // Not listed (the lists were full when it opened): every packet of its addresses
        // within its time range, counted from the start of the capture.
        let mut pos = 0u64;
        let mut recent: std::collections::VecDeque<(u64, Linktype, Vec<u8>)> =
            std::collections::VecDeque::new();
        let range = ScanRange {
            ends,
            after: 0,
            before: u64::MAX,
            since: Some(crate::capture::Timestamp(
                from_ts.0.saturating_sub(UNLISTED_SLACK_NS),
            )),
            until: Some(crate::capture::Timestamp(
                c.end_ts.0.saturating_add(UNLISTED_SLACK_NS),
            )),
            capture_packets: request.capture_packets,
        };
        let end = scan(path, store, range, progress, |p| {
            // The last page seen, in case the connection ends before the asked positions.
            if pos < asked.saturating_add(page) {
                if recent.len() == MAX_HEX_PACKETS {
                    recent.pop_front();
                }
                recent.push_back((p.number, p.linktype, p.data.to_vec()));
            }
            pos += 1;
            ControlFlow::Continue(())
        });
        match end {
            ScanEnd::Done => notes.push(format!(
                "{pos} packets found by scanning the capture for its addresses (the packet lists were full when it opened)"
            )),
            ScanEnd::Cancelled => return dump,
            ScanEnd::Failed(why) => notes.push(why),
        }
        // `recent` holds the positions just before the last one it took.
        let start = pos
            .min(asked.saturating_add(page))
            .saturating_sub(recent.len() as u64);
        loaded = recent.into_iter().collect();
        dump.total = Some(pos);
        start
    };
    loaded.sort_unstable_by_key(|l| l.0);
    loaded.dedup_by_key(|l| l.0);
    dump.window = HexWindow::From(start);
    dump.positions = Some(start..start + loaded.len() as u64);
    dump.note = (!notes.is_empty()).then(|| notes.join("; "));
    for (number, linktype, data) in &loaded {
        let label = match cited.get(number) {
            Some(what) => Some(what.join(", ")),
            None => tcp_label(*number, data, *linktype, c.client),
        };
        if let Some(label) = label {
            dump.labels.insert(*number, label);
        }
    }
    fill(&mut dump, loaded, c.client, request.redact);
    dump
}

/// What a packet no record cites carried, from its TCP header: `C→S ACK`, `S→C FIN ACK,
/// 120 bytes`.
fn tcp_label(number: u64, data: &[u8], linktype: Linktype, client: SocketAddr) -> Option<String> {
    let packet = crate::capture::Packet {
        number,
        ts: crate::capture::Timestamp(0),
        linktype,
        data,
        orig_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
    };
    let seg = crate::decode::decode(&packet).ok()?;
    let dir = if SocketAddr::new(seg.src_ip, seg.src_port) == client {
        "C→S"
    } else {
        "S→C"
    };
    let f = seg.flags;
    let flags: Vec<&str> = [
        (f.syn, "SYN"),
        (f.fin, "FIN"),
        (f.rst, "RST"),
        (f.ack, "ACK"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    let mut label = format!("{dir} {}", flags.join(" "));
    if !seg.payload.is_empty() {
        label.push_str(&format!(", {} bytes", seg.payload.len()));
    }
    Some(label)
}

/// Where one loaded packet's TCP payload is: its index in the dump, the payload's offset in
/// its bytes and length, and whether the client sent it.
type PayloadSpan = (usize, usize, usize, bool);

/// The span of `packet`'s TCP payload, when it decodes to a segment with one.
fn payload_span(
    index: usize,
    packet: &crate::capture::Packet<'_>,
    client: SocketAddr,
) -> Option<PayloadSpan> {
    let seg = crate::decode::decode(packet).ok()?;
    if seg.payload.is_empty() {
        return None;
    }
    // The payload borrows from the packet's bytes: its offset is the distance between them.
    let offset = (seg.payload.as_ptr() as usize).checked_sub(packet.data.as_ptr() as usize)?;
    let from_client = SocketAddr::new(seg.src_ip, seg.src_port) == client;
    Some((index, offset, seg.payload.len(), from_client))
}

/// Overwrites the credential bytes in the TCP payloads of `packets` with `*`, per direction
/// (the spans from the client joined in order, then the server's); `true` when any byte was
/// masked.
fn mask_credentials(packets: &mut [(u64, Vec<u8>)], spans: &[PayloadSpan]) -> bool {
    let mut masked = false;
    for direction in [true, false] {
        let pieces: Vec<&PayloadSpan> = spans.iter().filter(|s| s.3 == direction).collect();
        let mut stream = Vec::new();
        for &&(i, offset, len, _) in &pieces {
            if let Some(bytes) = packets
                .get(i)
                .and_then(|(_, d)| d.get(offset..offset + len))
            {
                stream.extend_from_slice(bytes);
            }
        }
        let mut mask = vec![false; stream.len()];
        for (start, end) in crate::present::redact::secret_ranges(&stream) {
            if let Some(m) = mask.get_mut(start..end) {
                m.fill(true);
            }
        }
        let mut at = 0;
        for &&(i, offset, len, _) in &pieces {
            if let Some(bytes) = packets
                .get_mut(i)
                .and_then(|(_, d)| d.get_mut(offset..offset + len))
            {
                for (b, m) in bytes.iter_mut().zip(mask.get(at..).unwrap_or_default()) {
                    if *m {
                        *b = b'*';
                        masked = true;
                    }
                }
            }
            at += len;
        }
    }
    masked
}

/// Creates `dir/stem.ext`, or `stem-2.ext`, `stem-3.ext` … so an export never overwrites.
fn create_new(dir: &Path, stem: &str, ext: &str) -> io::Result<(PathBuf, File)> {
    for n in 1..1000 {
        let name = if n == 1 {
            format!("{stem}.{ext}")
        } else {
            format!("{stem}-{n}.{ext}")
        };
        let path = dir.join(name);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            // Owner-only, like every output that holds captured traffic.
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{stem}.{ext}: too many existing exports"),
    ))
}

/// Writes `r` as pretty JSON to `dir/wssniff-ID.json`, shaped like a `--json` handshake line
/// (`"type"`, `"schema"`, then the record); returns the path.
///
/// # Errors
/// The file cannot be created or written.
pub fn export_json(dir: &Path, r: &HandshakeRecord) -> io::Result<PathBuf> {
    let (path, file) = create_new(dir, &format!("wssniff-{}", r.id), "json")?;
    let mut w = BufWriter::new(file);
    crate::sink::write_handshake_pretty(&mut w, r)?;
    w.write_all(b"\n")?;
    w.flush()?;
    Ok(path)
}

fn in_flow(client: SocketAddr, server: SocketAddr, packet: &crate::capture::Packet<'_>) -> bool {
    crate::decode::decode(packet).is_ok_and(|seg| {
        let src = SocketAddr::new(seg.src_ip, seg.src_port);
        let dst = SocketAddr::new(seg.dst_ip, seg.dst_port);
        (src == client && dst == server) || (src == server && dst == client)
    })
}

/// Writes every packet of `r`'s TCP connection in `capture` to `dir/wssniff-ID-flow.pcap`
/// (nanosecond pcap, the link type of the flow's first packet); returns the path and the
/// number of packets written.
///
/// # Errors
/// The capture cannot be read or the output cannot be written.
pub fn export_pcap(capture: &str, dir: &Path, r: &HandshakeRecord) -> io::Result<(PathBuf, u64)> {
    export_pcap_from(&[capture.to_owned()], dir, r)
}

/// [`export_pcap`] from several capture files read as one (merged by timestamp, as `-r A
/// -r B` reads them), or from one.
///
/// # Errors
/// A capture cannot be read or the output cannot be written.
pub fn export_pcap_from(
    captures: &[String],
    dir: &Path,
    r: &HandshakeRecord,
) -> io::Result<(PathBuf, u64)> {
    let err = |e: crate::capture::CaptureError| io::Error::other(e.to_string());
    let source = match captures {
        [one] => Capture::One(Box::new(FileSource::open(one).map_err(err)?)),
        many => Capture::Many(crate::capture::MergedSource::open(many).map_err(err)?),
    };
    let (path, file) = create_new(dir, &format!("wssniff-{}-flow", r.id), "pcap")?;
    let mut file = Some(BufWriter::new(file));
    let mut writer: Option<PcapWriter<BufWriter<File>>> = None;
    let mut written = 0u64;
    let mut error: Option<io::Error> = None;
    source.for_each_packet(|packet| {
        if !in_flow(r.client, r.server, packet) {
            return ControlFlow::Continue(());
        }
        if writer.is_none() {
            // The header takes the link type of the flow's first packet.
            if let Some(out) = file.take() {
                match PcapWriter::new(out, packet.linktype, MAX_SNAPLEN) {
                    Ok(w) => writer = Some(w),
                    Err(e) => {
                        error = Some(e);
                        return ControlFlow::Break(());
                    }
                }
            }
        }
        let Some(w) = writer.as_mut() else {
            return ControlFlow::Break(());
        };
        // One pcap file has one link type; a pcapng mixing them keeps the first one's packets.
        if w.linktype() != packet.linktype {
            return ControlFlow::Continue(());
        }
        match w.write_packet(packet) {
            Ok(()) => written += 1,
            Err(e) => {
                error = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    if let Some(e) = error {
        return Err(e);
    }
    let mut writer = match (writer, file) {
        (Some(w), _) => w,
        // No packet of the flow: an empty capture, still a valid file.
        (None, Some(out)) => PcapWriter::new(out, Linktype::ETHERNET, MAX_SNAPLEN)?,
        (None, None) => return Err(io::Error::other("pcap export: no output")),
    };
    writer.flush()?;
    Ok((path, written))
}

/// What an export reads: one file, or several merged.
enum Capture {
    One(Box<FileSource>),
    Many(crate::capture::MergedSource),
}

impl Capture {
    /// Every packet in order to `on_packet`, until the end or `Break`.
    fn for_each_packet(
        self,
        mut on_packet: impl FnMut(&crate::capture::Packet<'_>) -> ControlFlow<()>,
    ) {
        match self {
            Capture::One(mut source) => {
                source.for_each_packet(on_packet);
            }
            Capture::Many(source) => {
                source.for_each_record(|record| match record {
                    crate::capture::Record::Packet(p) => on_packet(p),
                    crate::capture::Record::Secrets(_) => ControlFlow::Continue(()),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_is_base64_in_an_osc() {
        assert_eq!(osc52("hi"), "\x1b]52;c;aGk=\x07");
    }
}
