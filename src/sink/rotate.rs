//! `-w` with tcpdump's rotation: `-C` (a new file once the current one passed millions of
//! bytes), `-G` (a new file every SECONDS, its name put through strftime), `-W` (with `-C`, a
//! ring of N files overwritten in turn; with `-G` alone, stop after N files).
//!
//! A layer around [`PcapWriter`] (or, with `--write-secrets`, [`PcapngWriter`]): it decides
//! when a file ends and what the next one is called, and opens writers; what a file holds is
//! the writer's business. With secrets, each file gets a Decryption Secrets Block with a
//! connection's session lines ahead of that connection's first packet in it
//! ([`RotatingPcap::write_with_secrets`]), so every file opens decrypted on its own. Names are tcpdump's
//! (`MakeFilename`): without `-W` the first file is the name as given and the next ones get
//! 1, 2, …; with `-W N` every file is numbered from 0, zero-padded to the digits of N−1
//! (`-W 10`: `ws0`…`ws9`; `-W 100`: `ws00`…`ws99`). With `-G` the name is first expanded
//! by strftime at the time the file opens, in local time as tcpdump's `localtime` gives it
//! (the `TZ` environment variable, else `/etc/localtime`, else UTC: `%Y %m %d %H %M %S %j %y
//! %F %T %z %Z`, with `%s` the seconds since the epoch and `%%`), and the `-C` count starts
//! again at each time rotation. Time is the packets' capture time (the
//! first file's from the clock when it is opened), so rotation needs no timer thread. The
//! first file is created before privileges are dropped (and chowned with the other outputs);
//! later ones are created by the `-Z` user, so the folder must be writable by it, as for
//! tcpdump. Never reads anything.

use std::io;
use std::path::{Path, PathBuf};

use std::collections::{HashMap, VecDeque};

use jiff::tz::TimeZone;

use crate::capture::live::OwnedPacket;
use crate::capture::{Linktype, Timestamp};
use crate::tcp::flow::FlowKey;

use super::pcap::{PcapWriter, WritePackets};
use super::pcapng::PcapngWriter;

/// The file format being written.
enum Writer {
    Pcap(PcapWriter),
    /// `--write-secrets`: pcapng, which can carry Decryption Secrets Blocks.
    Pcapng(PcapngWriter),
}

impl Writer {
    fn write(&mut self, packet: &OwnedPacket) -> io::Result<()> {
        match self {
            Writer::Pcap(w) => w.write(packet),
            Writer::Pcapng(w) => w.write(packet),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Writer::Pcap(w) => w.flush(),
            Writer::Pcapng(w) => w.flush(),
        }
    }

    /// Bytes of the file's header, and of a record of `data` bytes.
    fn sizes(&self, data: usize) -> (u64, u64) {
        let padded = (data as u64).div_ceil(4) * 4;
        match self {
            Writer::Pcap(_) => (FILE_HEADER_BYTES, RECORD_HEADER_BYTES + data as u64),
            // Section Header (28) and Interface Description (32); an Enhanced Packet Block.
            Writer::Pcapng(_) => (60, 32 + padded),
        }
    }
}

/// Most connections whose session lines are kept to repeat in later files, and most bytes of
/// lines: past either the oldest go (a connection that outlives them is not decryptable in
/// files opened after).
const SECRETS_KEPT_FLOWS: usize = 4096;
const SECRETS_KEPT_BYTES: usize = 4 << 20;

/// `--write-secrets` across files: each connection's session lines (NSS key log), and how
/// much of them the current file holds. Secrets: never printed.
#[derive(Default)]
pub struct FileSecrets {
    by_flow: HashMap<FlowKey, String>,
    /// Connections in the order their lines came, for the caps.
    order: VecDeque<FlowKey>,
    bytes: usize,
    /// Bytes of each connection's lines written in the current file.
    in_file: HashMap<FlowKey, usize>,
    /// [`RotatingPcap::files_opened`] when `in_file` was last valid.
    file: u64,
}

impl FileSecrets {
    fn add(&mut self, flow: FlowKey, lines: &str) {
        let kept = self.by_flow.entry(flow).or_insert_with(|| {
            self.order.push_back(flow);
            String::new()
        });
        kept.push_str(lines);
        self.bytes += lines.len();
        while self.order.len() > SECRETS_KEPT_FLOWS || self.bytes > SECRETS_KEPT_BYTES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(lines) = self.by_flow.remove(&oldest) {
                self.bytes = self.bytes.saturating_sub(lines.len());
            }
            self.in_file.remove(&oldest);
        }
    }

    /// The lines of `flow` that file `file` lacks (marked written).
    fn missing(&mut self, flow: FlowKey, file: u64) -> Option<&str> {
        if file != self.file {
            self.file = file;
            self.in_file.clear();
        }
        let lines = self.by_flow.get(&flow)?;
        let written = self.in_file.entry(flow).or_insert(0);
        let missing = lines.get(*written..).filter(|m| !m.is_empty())?;
        *written = lines.len();
        Some(missing)
    }
}

/// When `-w` starts a new file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// `-C`: a new file once the current one holds more than this many bytes.
    pub max_bytes: Option<u64>,
    /// `-G`: a new file once this many seconds passed since the current one opened.
    pub seconds: Option<u64>,
    /// `-W`: with `-C`, the size of the ring; with `-G` alone, the most files written.
    pub files: Option<u32>,
}

impl Rotation {
    /// Whether any rotation is asked for.
    #[must_use]
    pub fn is_some(&self) -> bool {
        self.max_bytes.is_some() || self.seconds.is_some()
    }
}

/// A `-w` output that rotates; without rotation flags, one file at the path as given.
pub struct RotatingPcap {
    base: PathBuf,
    rotation: Rotation,
    linktype: Linktype,
    snaplen: u32,
    writer: Writer,
    /// Bytes in the current file (header and records).
    bytes: u64,
    /// When the current file opened, in seconds since the epoch (`-G`).
    opened_secs: i64,
    /// The `-C` count of the current file (tcpdump's `Cflag_count`).
    size_count: u32,
    /// Files opened by `-G` so far (for `-W` with `-G`).
    time_files: u32,
    /// `-G -W N`: the N files are written; later packets are not.
    full: bool,
    /// The local time zone `-G` names are in (read once, when the first file opens).
    zone: TimeZone,
    /// Files opened after the first.
    opened: u64,
}

/// Bytes of the pcap file header, and of each record's header.
const FILE_HEADER_BYTES: u64 = 24;
const RECORD_HEADER_BYTES: u64 = 16;

impl RotatingPcap {
    /// Creates the first file (at `now`, the clock's time, for `-G` names).
    ///
    /// # Errors
    /// The file cannot be created; the message names it.
    pub fn create(
        base: &Path,
        rotation: Rotation,
        linktype: Linktype,
        snaplen: u32,
        now: Timestamp,
    ) -> io::Result<Self> {
        Self::create_as(base, rotation, (linktype, snaplen), now, false)
    }

    /// As [`RotatingPcap::create`], writing pcapng, for [`RotatingPcap::write_with_secrets`].
    ///
    /// # Errors
    /// The file cannot be created; the message names it.
    pub fn create_pcapng(
        base: &Path,
        rotation: Rotation,
        linktype: Linktype,
        snaplen: u32,
        now: Timestamp,
    ) -> io::Result<Self> {
        Self::create_as(base, rotation, (linktype, snaplen), now, true)
    }

    fn create_as(
        base: &Path,
        rotation: Rotation,
        (linktype, snaplen): (Linktype, u32),
        now: Timestamp,
        pcapng: bool,
    ) -> io::Result<Self> {
        let zone = local_zone(&rotation);
        let path = file_name(base, &rotation, now.secs(), 0, &zone);
        let writer = open(&path, linktype, snaplen, pcapng)?;
        let bytes = writer.sizes(0).0;
        Ok(RotatingPcap {
            base: base.to_owned(),
            rotation,
            linktype,
            snaplen,
            writer,
            bytes,
            opened_secs: now.secs(),
            size_count: 0,
            time_files: 1,
            full: false,
            zone,
            opened: 0,
        })
    }

    /// The path of the first file, before any packet (to chown it with the other outputs).
    #[must_use]
    pub fn first_path(base: &Path, rotation: &Rotation, now: Timestamp) -> PathBuf {
        file_name(base, rotation, now.secs(), 0, &local_zone(rotation))
    }

    /// Whether `-G -W N` has written its N files: the capture can stop (tcpdump exits 0).
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Writes one packet, first starting a new file when the current one is due.
    ///
    /// # Errors
    /// A file could not be created or written.
    pub fn write(&mut self, packet: &OwnedPacket) -> io::Result<()> {
        if self.full || self.rotate_if_due(packet)? {
            return Ok(());
        }
        self.append(packet)
    }

    /// As [`RotatingPcap::write`] (a pcapng one), with the secrets `--write-secrets` needs:
    /// `found`, the session lines the key store found at this packet, go to `flow`'s; when
    /// the file the packet goes to lacks some of its connection's lines (a new file, or new
    /// lines) they are written first, in a Decryption Secrets Block.
    ///
    /// # Errors
    /// A file could not be created or written.
    pub fn write_with_secrets(
        &mut self,
        packet: &OwnedPacket,
        flow: Option<FlowKey>,
        found: &str,
        secrets: &mut FileSecrets,
    ) -> io::Result<()> {
        if let Some(flow) = flow.filter(|_| !found.is_empty()) {
            secrets.add(flow, found);
        }
        if self.full || self.rotate_if_due(packet)? {
            return Ok(());
        }
        let lines = match flow {
            Some(flow) => secrets.missing(flow, self.opened),
            None => Some(found).filter(|f| !f.is_empty()),
        };
        if let (Some(lines), Writer::Pcapng(w)) = (lines, &mut self.writer) {
            w.secrets(lines.as_bytes())?;
            self.bytes += 20 + (lines.len() as u64).div_ceil(4) * 4;
        }
        self.append(packet)
    }

    fn append(&mut self, packet: &OwnedPacket) -> io::Result<()> {
        self.bytes += self.writer.sizes(packet.data.len()).1;
        self.writer.write(packet)
    }

    /// Starts the next file when the current one is due; `true` when `-G -W N` is done and
    /// the packet is not written.
    fn rotate_if_due(&mut self, packet: &OwnedPacket) -> io::Result<bool> {
        if let Some(seconds) = self.rotation.seconds {
            let now = packet.ts.secs();
            if now.saturating_sub(self.opened_secs) >= i64::try_from(seconds).unwrap_or(i64::MAX) {
                if self
                    .rotation
                    .files
                    .is_some_and(|n| self.rotation.max_bytes.is_none() && self.time_files >= n)
                {
                    self.full = true;
                    self.writer.flush()?;
                    return Ok(true);
                }
                self.opened_secs = now;
                self.time_files += 1;
                self.size_count = 0;
                self.reopen(now)?;
            }
        }
        if let Some(max) = self.rotation.max_bytes {
            if self.bytes > max {
                self.size_count = match self.rotation.files {
                    Some(n) if self.size_count + 1 >= n => 0,
                    _ => self.size_count + 1,
                };
                self.reopen(self.opened_secs)?;
            }
        }
        Ok(false)
    }

    fn reopen(&mut self, secs: i64) -> io::Result<()> {
        self.writer.flush()?;
        let path = file_name(
            &self.base,
            &self.rotation,
            secs,
            self.size_count,
            &self.zone,
        );
        let pcapng = matches!(self.writer, Writer::Pcapng(_));
        self.writer = open(&path, self.linktype, self.snaplen, pcapng)?;
        self.bytes = self.writer.sizes(0).0;
        self.opened += 1;
        Ok(())
    }

    /// Flushes the current file.
    ///
    /// # Errors
    /// Writing failed.
    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

impl WritePackets for RotatingPcap {
    fn write(&mut self, packet: &OwnedPacket) -> io::Result<()> {
        RotatingPcap::write(self, packet)
    }
    fn flush(&mut self) -> io::Result<()> {
        RotatingPcap::flush(self)
    }
}

fn open(path: &Path, linktype: Linktype, snaplen: u32, pcapng: bool) -> io::Result<Writer> {
    let writer = if pcapng {
        PcapngWriter::create(path, linktype, snaplen).map(Writer::Pcapng)
    } else {
        PcapWriter::create(path, linktype, snaplen).map(Writer::Pcap)
    };
    writer.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// The zone `-G` names are made in: the system's local one (`TZ`, `/etc/localtime`), read
/// only when `-G` is given.
fn local_zone(rotation: &Rotation) -> TimeZone {
    if rotation.seconds.is_some() {
        TimeZone::system()
    } else {
        TimeZone::UTC
    }
}

/// tcpdump's `MakeFilename`: strftime under `-G` (in `zone`), then the `-C`/`-W` number.
fn file_name(base: &Path, rotation: &Rotation, secs: i64, count: u32, zone: &TimeZone) -> PathBuf {
    let name = base.to_string_lossy();
    let name = if rotation.seconds.is_some() {
        strftime(&name, secs, zone)
    } else {
        name.into_owned()
    };
    let width = rotation.files.map_or(0, |n| digits(n.saturating_sub(1)));
    if (count == 0 && width == 0) || rotation.max_bytes.is_none() && rotation.files.is_none() {
        return PathBuf::from(name);
    }
    if rotation.max_bytes.is_none() {
        // -G with -W: tcpdump numbers nothing (the time names differ already).
        return PathBuf::from(name);
    }
    PathBuf::from(format!("{name}{count:0width$}"))
}

/// tcpdump's `getWflagChars`: the digits of `n` (0 for 0).
fn digits(mut n: u32) -> usize {
    let mut d = 0;
    while n > 0 {
        d += 1;
        n /= 10;
    }
    d
}

/// The strftime conversions tcpdump users put in `-G` names, at `secs` since the epoch in
/// `zone`; any other `%x` is kept.
fn strftime(pattern: &str, secs: i64, zone: &TimeZone) -> String {
    let info = jiff::Timestamp::from_second(secs)
        .ok()
        .map(|ts| zone.to_offset_info(ts));
    let offset = info.as_ref().map_or(0, |i| i.offset().seconds());
    let abbreviation = info.as_ref().map_or("UTC", |i| i.abbreviation());
    let local = secs.saturating_add(i64::from(offset));
    let days = local.div_euclid(86_400);
    let rem = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let yday = days - days_from_civil(y, 1, 1) + 1;
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&format!("{y:04}")),
            Some('y') => out.push_str(&format!("{:02}", y.rem_euclid(100))),
            Some('m') => out.push_str(&format!("{m:02}")),
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('H') => out.push_str(&format!("{hh:02}")),
            Some('M') => out.push_str(&format!("{mm:02}")),
            Some('S') => out.push_str(&format!("{ss:02}")),
            Some('j') => out.push_str(&format!("{yday:03}")),
            Some('s') => out.push_str(&secs.to_string()),
            Some('F') => out.push_str(&format!("{y:04}-{m:02}-{d:02}")),
            Some('T') => out.push_str(&format!("{hh:02}:{mm:02}:{ss:02}")),
            Some('z') => {
                let (sign, abs) = if offset < 0 {
                    ('-', -offset)
                } else {
                    ('+', offset)
                };
                out.push_str(&format!("{sign}{:02}{:02}", abs / 3600, abs % 3600 / 60));
            }
            Some('Z') => out.push_str(abbreviation),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rot(c: Option<u64>, g: Option<u64>, w: Option<u32>) -> Rotation {
        Rotation {
            max_bytes: c,
            seconds: g,
            files: w,
        }
    }

    #[test]
    fn names_are_tcpdumps() {
        let b = Path::new("/d/ws");
        let c = rot(Some(1_000_000), None, None);
        let utc = TimeZone::UTC;
        assert_eq!(file_name(b, &c, 0, 0, &utc), Path::new("/d/ws"));
        assert_eq!(file_name(b, &c, 0, 1, &utc), Path::new("/d/ws1"));
        assert_eq!(file_name(b, &c, 0, 12, &utc), Path::new("/d/ws12"));
        let ring = rot(Some(1), None, Some(10));
        assert_eq!(file_name(b, &ring, 0, 0, &utc), Path::new("/d/ws0"));
        assert_eq!(file_name(b, &ring, 0, 9, &utc), Path::new("/d/ws9"));
        let ring = rot(Some(1), None, Some(100));
        assert_eq!(file_name(b, &ring, 0, 7, &utc), Path::new("/d/ws07"));
        let timed = rot(None, Some(60), None);
        let p = Path::new("/d/ws-%Y%m%d-%H%M%S.pcap");
        // 2025-12-01 15:04:05 UTC
        assert_eq!(
            file_name(p, &timed, 1_764_601_445, 0, &utc),
            Path::new("/d/ws-20251201-150405.pcap")
        );
        assert_eq!(
            strftime("%F %T %j %y %s %z %Z %% %q", 0, &utc),
            "1970-01-01 00:00:00 001 70 0 +0000 UTC % %q"
        );
        assert_eq!(strftime("%F", 951_782_400, &utc), "2000-02-29");
        assert_eq!(strftime("%j", 1_767_139_200, &utc), "365", "2025-12-31");
    }

    #[test]
    fn time_names_are_in_local_time() {
        // Central European rules (as TZ=CET-1CEST,M3.5.0,M10.5.0/3 says them): winter +1,
        // summer +2; %s stays the epoch's.
        let cet = TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        // 2025-12-01 15:04:05 UTC, then 2025-07-01 12:00:00 UTC.
        assert_eq!(
            strftime("%F %T %z %Z %s", 1_764_601_445, &cet),
            "2025-12-01 16:04:05 +0100 CET 1764601445"
        );
        assert_eq!(strftime("%H %z %Z", 1_751_371_200, &cet), "14 +0200 CEST");
        // West of Greenwich, across midnight: 1970-01-01 02:00 UTC is the 31st of December.
        let west = TimeZone::posix("XST5:30").unwrap();
        assert_eq!(
            strftime("%F %H:%M %j %z", 7200, &west),
            "1969-12-31 20:30 365 -0530"
        );
    }

    fn packet(ts_secs: i64, len: usize) -> OwnedPacket {
        let data = vec![0u8; len];
        let p = crate::capture::Packet {
            number: 1,
            ts: Timestamp(ts_secs * 1_000_000_000),
            linktype: Linktype::ETHERNET,
            data: &data,
            orig_len: u32::try_from(len).unwrap(),
        };
        OwnedPacket::from_frame(&p)
    }

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("wssniff-rotate-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn listing(dir: &Path) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn size_rotation_passes_the_limit_then_opens_the_next_file() {
        let dir = temp("size");
        let base = dir.join("ws");
        // A 1000-byte limit, 484-byte records: the third record goes past it, the fourth opens ws1.
        let rotation = rot(Some(1000), None, None);
        let mut w =
            RotatingPcap::create(&base, rotation, Linktype::ETHERNET, 65535, Timestamp(0)).unwrap();
        for i in 0..7 {
            w.write(&packet(i, 468)).unwrap();
        }
        w.flush().unwrap();
        let r = 16 + 468;
        assert_eq!(
            listing(&dir),
            vec![
                ("ws".into(), 24 + 3 * r),
                ("ws1".into(), 24 + 3 * r),
                ("ws2".into(), 24 + r)
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The block types of a pcapng file, with each secrets block's text.
    fn blocks(path: &Path) -> Vec<(u32, String)> {
        let bytes = std::fs::read(path).unwrap();
        let mut out = Vec::new();
        let mut at = 0;
        while at + 12 <= bytes.len() {
            let kind = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
            let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
            let text = if kind == 0x0a {
                let n = u32::from_le_bytes(bytes[at + 12..at + 16].try_into().unwrap()) as usize;
                String::from_utf8_lossy(&bytes[at + 16..at + 16 + n]).into_owned()
            } else {
                String::new()
            };
            out.push((kind, text));
            at += len;
        }
        out
    }

    #[test]
    fn secrets_go_in_every_file_their_connection_reaches() {
        let dir = temp("secrets");
        let base = dir.join("ws");
        // Every 200-byte record passes the 100-byte limit: one packet a file.
        let rotation = rot(Some(100), None, None);
        let mut w =
            RotatingPcap::create_pcapng(&base, rotation, Linktype::ETHERNET, 65535, Timestamp(0))
                .unwrap();
        let flow = |port| {
            FlowKey::new(
                "10.0.0.1".parse().unwrap(),
                port,
                "10.0.0.2".parse().unwrap(),
                443,
            )
            .0
        };
        let (tls, other) = (flow(1), flow(2));
        let mut kept = FileSecrets::default();
        let p = packet(0, 200);
        // ClientHello, then the ServerHello at which the keys are found, then data, with
        // another connection's packet between.
        w.write_with_secrets(&p, Some(tls), "", &mut kept).unwrap();
        w.write_with_secrets(&p, Some(tls), "LINE A\n", &mut kept)
            .unwrap();
        w.write_with_secrets(&p, Some(other), "", &mut kept)
            .unwrap();
        w.write_with_secrets(&p, Some(tls), "", &mut kept).unwrap();
        w.write_with_secrets(&p, Some(tls), "LINE B\n", &mut kept)
            .unwrap();
        w.flush().unwrap();
        let (shb, idb, epb, dsb) = (0x0a0d_0d0a, 1, 6, 0x0a);
        let kinds = |name: &str| blocks(&dir.join(name));
        let plain = |k: u32| (k, String::new());
        assert_eq!(kinds("ws"), [plain(shb), plain(idb), plain(epb)]);
        assert_eq!(
            kinds("ws1"),
            [plain(shb), plain(idb), (dsb, "LINE A\n".into()), plain(epb)]
        );
        assert_eq!(
            kinds("ws2"),
            [plain(shb), plain(idb), plain(epb)],
            "not its own"
        );
        assert_eq!(
            kinds("ws3"),
            [plain(shb), plain(idb), (dsb, "LINE A\n".into()), plain(epb)],
            "repeated in a new file"
        );
        assert_eq!(
            kinds("ws4"),
            [
                plain(shb),
                plain(idb),
                (dsb, "LINE A\nLINE B\n".into()),
                plain(epb)
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_ring_overwrites_its_oldest_file() {
        let dir = temp("ring");
        let base = dir.join("ws");
        let rotation = rot(Some(100), None, Some(3));
        let mut w =
            RotatingPcap::create(&base, rotation, Linktype::ETHERNET, 65535, Timestamp(0)).unwrap();
        // Every file takes one 200-byte record: files 0 1 2 0 1 → ws0 holds the 4th packet.
        for i in 0..5u8 {
            w.write(&packet(i64::from(i), 200 + usize::from(i)))
                .unwrap();
        }
        w.flush().unwrap();
        let names: Vec<(String, u64)> = listing(&dir);
        assert_eq!(
            names,
            vec![
                ("ws0".into(), 24 + 16 + 203),
                ("ws1".into(), 24 + 16 + 204),
                ("ws2".into(), 24 + 16 + 202)
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn time_rotation_names_by_strftime_and_w_stops_after_n_files() {
        let dir = temp("time");
        let base = dir.join("ws-%s.pcap");
        let rotation = rot(None, Some(10), Some(2));
        let mut w = RotatingPcap::create(
            &base,
            rotation,
            Linktype::ETHERNET,
            65535,
            Timestamp(1_000 * 1_000_000_000),
        )
        .unwrap();
        for t in [1_001, 1_009, 1_010, 1_015, 1_020, 1_030] {
            w.write(&packet(t, 10)).unwrap();
        }
        assert!(w.is_full());
        w.flush().unwrap();
        let r = 16 + 10;
        assert_eq!(
            listing(&dir),
            vec![
                ("ws-1000.pcap".into(), 24 + 2 * r),
                ("ws-1010.pcap".into(), 24 + 2 * r)
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
