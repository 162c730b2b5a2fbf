//! Live capture through libpcap on its own thread.
//!
//! The capture thread does nothing but read packets, copy them into [`OwnedPacket`]s and
//! `try_send` them over a bounded channel: it never waits for the analysis (or a terminal).
//! When the channel is full the packet is shed and counted, so a slow consumer shows up as a
//! number in the summary instead of as kernel drops.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;

use pcap::{Active, Capture, Device};

use super::{CaptureError, Linktype, Packet, Timestamp};

/// A packet copied out of libpcap's buffer, to cross threads.
#[derive(Clone, Debug)]
pub struct OwnedPacket {
    /// Capture timestamp.
    pub ts: Timestamp,
    /// Link type.
    pub linktype: Linktype,
    /// Bytes as captured.
    pub data: Vec<u8>,
    /// Length on the wire.
    pub orig_len: u32,
}

impl OwnedPacket {
    /// Copies a borrowed packet.
    #[must_use]
    pub fn from_frame(packet: &Packet<'_>) -> Self {
        OwnedPacket {
            ts: packet.ts,
            linktype: packet.linktype,
            data: packet.data.to_vec(),
            orig_len: packet.orig_len,
        }
    }

    /// Borrows it as a [`Packet`] with packet number `number`.
    #[must_use]
    pub fn as_frame(&self, number: u64) -> Packet<'_> {
        Packet {
            number,
            ts: self.ts,
            linktype: self.linktype,
            data: &self.data,
            orig_len: self.orig_len,
        }
    }
}

/// How to open the interface (tcpdump's `-i`, `-s`, `-p`, `-B`).
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Interface name (`any` for all).
    pub interface: String,
    /// Snap length in bytes (0 = libpcap's maximum).
    pub snaplen: u32,
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// Kernel buffer size in bytes, if set.
    pub buffer_size: Option<u32>,
    /// BPF filter expression, if any.
    pub filter: Option<String>,
}

/// Counters of one live capture.
#[derive(Clone, Copy, Debug, Default)]
pub struct LiveStats {
    /// Packets read from libpcap.
    pub captured: u64,
    /// Packets shed because the analysis fell behind (channel full).
    pub shed: u64,
    /// libpcap: packets received by the filter.
    pub received: u64,
    /// libpcap: packets dropped by the kernel (buffer full).
    pub kernel_dropped: u64,
    /// libpcap: packets dropped by the interface or driver.
    pub interface_dropped: u64,
}

/// Counters the capture thread updates while it runs, readable from any thread.
#[derive(Debug, Default)]
pub struct LiveCounters {
    captured: AtomicU64,
    shed: AtomicU64,
    received: AtomicU64,
    kernel_dropped: AtomicU64,
    interface_dropped: AtomicU64,
    /// Why libpcap stopped delivering packets (the interface went away, …), if it did.
    failure: std::sync::OnceLock<String>,
}

impl LiveCounters {
    /// Why the capture stopped on its own, if it did: libpcap's message (e.g. "The interface
    /// disappeared" when a veth is deleted or a USB NIC unplugged).
    #[must_use]
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }
}

impl LiveCounters {
    /// The counters now.
    #[must_use]
    pub fn snapshot(&self) -> LiveStats {
        LiveStats {
            captured: self.captured.load(Ordering::Relaxed),
            shed: self.shed.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            kernel_dropped: self.kernel_dropped.load(Ordering::Relaxed),
            interface_dropped: self.interface_dropped.load(Ordering::Relaxed),
        }
    }
}

impl LiveStats {
    /// Packets lost anywhere between the wire and the analysis.
    #[must_use]
    pub fn lost(&self) -> u64 {
        self.kernel_dropped + self.interface_dropped + self.shed
    }
}

/// How often the capture thread asks libpcap for its drop counters.
const STATS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// An open live capture, ready to run on a thread.
pub struct LiveCapture {
    capture: Capture<Active>,
    linktype: Linktype,
    interface: String,
    snaplen: u32,
}

/// Kernel buffer when `-B` is not given. In immediate mode libpcap gives every packet a ring
/// slot of the snap length (TPACKET_V2), so libpcap's 2 MiB default holds only 8 packets on
/// `-i any` (no MTU to cap the slot): a handshake's burst overflowed it. 32 MiB holds 128
/// full-size slots there and thousands on an interface with a 1500-byte MTU.
pub const DEFAULT_BUFFER_BYTES: u32 = 32 * 1024 * 1024;

/// Pause when no packet is waiting (bounds the added latency).
const IDLE_NAP: std::time::Duration = std::time::Duration::from_millis(2);

const CAP_HINT: &str = "run as root, or grant the capabilities once: sudo setcap cap_net_raw,cap_net_admin=eip \"$(command -v wssniff)\"";

impl LiveCapture {
    /// Opens `opts.interface` and applies the filter.
    ///
    /// # Errors
    /// No such interface (the message lists the ones that exist), no permission (the message
    /// names the capability), interface down, or a filter libpcap rejects.
    pub fn open(opts: &LiveOptions) -> Result<Self, CaptureError> {
        let devices = Device::list().unwrap_or_default();
        let device = devices.iter().find(|d| d.name == opts.interface).cloned();
        let Some(device) = device else {
            let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
            return Err(CaptureError::Live {
                interface: opts.interface.clone(),
                message: format!(
                    "no such interface; available: {}",
                    if names.is_empty() {
                        "none visible (try as root)".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
            });
        };
        if opts.interface != "any" && !device.flags.is_up() {
            return Err(CaptureError::Live {
                interface: opts.interface.clone(),
                message: format!(
                    "interface is down (bring it up: ip link set {} up)",
                    opts.interface
                ),
            });
        }
        let live_err = |e: pcap::Error| {
            let text = e.to_string();
            let lower = text.to_ascii_lowercase();
            let message = if lower.contains("permission") || lower.contains("not permitted") {
                format!("{text}: capturing needs CAP_NET_RAW and CAP_NET_ADMIN; {CAP_HINT}")
            } else {
                text
            };
            CaptureError::Live {
                interface: opts.interface.clone(),
                message,
            }
        };
        let snaplen = if opts.snaplen == 0 {
            262_144
        } else {
            opts.snaplen
        };
        let mut inactive = Capture::from_device(device)
            .map_err(live_err)?
            .promisc(opts.promiscuous)
            .snaplen(i32::try_from(snaplen).unwrap_or(262_144))
            // Deliver packets as they arrive: a handshake must show up at once, not when a
            // kernel buffer block fills.
            .immediate_mode(true)
            // Wake up regularly so a stop request is noticed on a quiet link.
            .timeout(100);
        let buffer = opts.buffer_size.unwrap_or(DEFAULT_BUFFER_BYTES);
        inactive = inactive.buffer_size(i32::try_from(buffer).unwrap_or(i32::MAX));
        // Non-blocking: in immediate mode libpcap may ignore the read timeout and block
        // forever on a quiet link, and a capture that cannot be told to stop is no good.
        let mut capture = inactive
            .open()
            .map_err(live_err)?
            .setnonblock()
            .map_err(live_err)?;
        if let Some(filter) = &opts.filter {
            capture
                .filter(filter, true)
                .map_err(|e| CaptureError::Filter {
                    filter: filter.clone(),
                    message: e.to_string(),
                })?;
        }
        if opts.interface == "any" {
            // As tcpdump does: SLL2 also records which interface each packet crossed. Older
            // libpcap without it keeps SLL, which decodes the same.
            let _ = capture.set_datalink(pcap::Linktype(276));
        }
        let linktype = Linktype(u32::try_from(capture.get_datalink().0).unwrap_or(0));
        Ok(LiveCapture {
            capture,
            linktype,
            interface: opts.interface.clone(),
            snaplen,
        })
    }

    /// The link type of the packets this capture delivers.
    #[must_use]
    pub fn linktype(&self) -> Linktype {
        self.linktype
    }

    /// The tcpdump-style start line: `listening on lo, link-type EN10MB (Ethernet), snapshot length 262144 bytes`.
    #[must_use]
    pub fn banner(&self) -> String {
        format!(
            "listening on {}, link-type {}, snapshot length {} bytes",
            self.interface, self.linktype, self.snaplen
        )
    }

    /// Reads packets until `stop` is set or the channel's receiver is gone, keeping
    /// `counters` current; returns the final counters.
    pub fn run(
        mut self,
        stop: &Arc<AtomicBool>,
        tx: &SyncSender<OwnedPacket>,
        counters: &LiveCounters,
    ) -> LiveStats {
        let mut last_stats = std::time::Instant::now();
        while !stop.load(Ordering::Relaxed) {
            match self.capture.next_packet() {
                Ok(packet) => {
                    counters.captured.fetch_add(1, Ordering::Relaxed);
                    let ts = Timestamp::from_parts(
                        packet.header.ts.tv_sec,
                        u64::try_from(packet.header.ts.tv_usec).unwrap_or(0),
                        1_000_000,
                    );
                    let packet = OwnedPacket {
                        ts,
                        linktype: self.linktype,
                        data: packet.data.to_vec(),
                        orig_len: packet.header.len,
                    };
                    match tx.try_send(packet) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_)) => {
                            counters.shed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(TrySendError::Disconnected(_)) => break,
                    }
                }
                Err(pcap::Error::TimeoutExpired) => {
                    // Nothing waiting: a short nap keeps a quiet link from costing a core.
                    std::thread::sleep(IDLE_NAP);
                }
                Err(e) => {
                    // Not a stop we asked for: the device failed or went away. Said once,
                    // by the analysis thread, with what was analysed up to here.
                    let _ = counters.failure.set(e.to_string());
                    break;
                }
            }
            if last_stats.elapsed() >= STATS_EVERY {
                last_stats = std::time::Instant::now();
                self.publish_stats(counters);
            }
        }
        self.publish_stats(counters);
        counters.snapshot()
    }

    fn publish_stats(&mut self, counters: &LiveCounters) {
        if let Ok(s) = self.capture.stats() {
            counters
                .received
                .store(u64::from(s.received), Ordering::Relaxed);
            counters
                .kernel_dropped
                .store(u64::from(s.dropped), Ordering::Relaxed);
            counters
                .interface_dropped
                .store(u64::from(s.if_dropped), Ordering::Relaxed);
        }
    }
}

/// Gives up root once the device and the output files are open (tcpdump's `-Z`): a bug in a
/// dissector of hostile traffic then runs as `user`, not as root. Does nothing when not
/// root or when `user` is `root` (the explicit opt-out). Returns what it did, for the log.
///
/// Must run before any other thread starts: the process's threads share the credentials
/// only if all of them exist when they change (glibc broadcasts setuid to every thread).
///
/// # Errors
/// The user does not exist or the kernel refuses the change; continuing as root would
/// silently break the promise, so the run stops.
///
/// `created` are the output files this run created (`-w`, `-o`, `--report`): they are handed
/// to `user` first (owner and group), as tcpdump's files are under `-Z`, so whoever the
/// capture runs as can read what it wrote. Files that existed before keep their owner.
pub fn drop_privileges(user: &str, created: &[&Path]) -> Result<Option<String>, CaptureError> {
    use nix::unistd::{geteuid, setgid, setgroups, setuid, User};
    if !geteuid().is_root() || user == "root" {
        return Ok(None);
    }
    let fail = |message: String| CaptureError::Live {
        interface: String::new(),
        message,
    };
    let account = User::from_name(user)
        .map_err(|e| fail(format!("looking up user {user}: {e}")))?
        .ok_or_else(|| {
            fail(format!(
                "no user {user} to drop privileges to (-Z USER, or -Z root to keep root)"
            ))
        })?;
    for path in created {
        // Only regular files: `-w /dev/stdout` must not hand a device over.
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file()) {
            std::os::unix::fs::chown(path, Some(account.uid.as_raw()), Some(account.gid.as_raw()))
                .map_err(|e| fail(format!("handing {} to {user}: {e}", path.display())))?;
        }
    }
    setgroups(&[account.gid]).map_err(|e| fail(format!("setgroups: {e}")))?;
    setgid(account.gid).map_err(|e| fail(format!("setgid {}: {e}", account.gid)))?;
    setuid(account.uid).map_err(|e| fail(format!("setuid {}: {e}", account.uid)))?;
    Ok(Some(format!(
        "dropped root privileges to user {user} (uid {}, gid {})",
        account.uid, account.gid
    )))
}

/// The interface list in tcpdump `-D` style: `1.eth0 [Up, Running] 10.0.0.5/24`.
///
/// # Errors
/// libpcap cannot list devices.
pub fn list_interfaces() -> Result<String, CaptureError> {
    let devices = Device::list().map_err(|e| CaptureError::Live {
        interface: String::new(),
        message: e.to_string(),
    })?;
    let mut out = String::new();
    for (i, d) in devices.iter().enumerate() {
        let mut flags = Vec::new();
        if d.flags.is_up() {
            flags.push("Up");
        }
        if d.flags.is_running() {
            flags.push("Running");
        }
        if d.flags.is_loopback() {
            flags.push("Loopback");
        }
        let addrs: Vec<String> = d.addresses.iter().map(|a| a.addr.to_string()).collect();
        let desc = d
            .desc
            .as_deref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{}.{}{desc} [{}]{}\n",
            i + 1,
            d.name,
            flags.join(", "),
            if addrs.is_empty() {
                String::new()
            } else {
                format!(" {}", addrs.join(" "))
            }
        ));
    }
    Ok(out)
}
