//! Command line: raw flags ([`Cli`], clap) and the validated [`Config`] the run uses.
//! Flags follow tcpdump where a tcpdump flag exists (`-r`, `-i`, `-c`, `-q`, `-v`, trailing
//! filter expression; `-n`/`-nn` are accepted and ignored, as there are no names to resolve).

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::capture::live::LiveOptions;
use crate::dispatch::ConnLimits;
use crate::engine::{EngineConfig, ProxyIdleTimeouts, RecordOrder, MAX_PROXY_IDLE_TIMEOUTS};
use crate::event::Verdict;
use crate::h2::connection::{FloodLimits, H2Limits};
use crate::h2::hpack::HpackLimits;
use crate::tcp::flow::FlowLimits;
use crate::tcp::reassembly::StreamLimits;

/// Most servers `--metrics-servers` labels: each is one more series per verdict, and a
/// Prometheus server keeps every series it ever saw.
const MAX_METRICS_SERVERS: usize = 1000;

/// Largest `--body-bytes` and `--eio-body-bytes`: a kept body is held per connection while it
/// arrives (and a refusal's in its record afterwards). An Engine.IO server's default
/// `maxHttpBufferSize` (10^6 bytes) fits.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Raw command-line flags.
#[derive(Debug, Parser)]
#[command(
    name = "wssniff",
    version,
    about = "Passive WebSocket handshake analyzer: tells you why a WebSocket connection failed to open",
    after_help = "Examples:\n  wssniff -r capture.pcap\n  wssniff -r capture.pcap --tui\n  wssniff -i eth0 tcp port 443 or tcp port 8080\n  wssniff -r capture.pcapng --json > handshakes.jsonl\n  wssniff -r capture.pcap --report report.html\n  wssniff -r capture.pcap tcp port 8080\n  wssniff -r - < capture.pcap\n  wssniff --list-findings"
)]
pub struct Cli {
    /// Read packets from FILE (pcap or pcapng; `-` for standard input). Repeat it, or name
    /// a directory or a quoted pattern (`'ring/*.pcap'`), to read several files as one
    /// capture, merged by packet timestamp as mergecap does (a tcpdump -C/-G ring).
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Vec<String>,

    /// Capture live on INTERFACE (`any` for all; needs root or CAP_NET_RAW+CAP_NET_ADMIN).
    #[arg(
        short = 'i',
        long = "interface",
        value_name = "INTERFACE",
        conflicts_with = "read"
    )]
    pub interface: Option<String>,

    /// List the interfaces live capture can use, and exit.
    #[arg(short = 'D', long = "list-interfaces")]
    pub list_interfaces: bool,

    /// Live: snap length in bytes (0 = the maximum, 262144).
    #[arg(
        short = 's',
        long = "snapshot-length",
        value_name = "BYTES",
        default_value_t = 0
    )]
    pub snaplen: u32,

    /// Live: do not put the interface into promiscuous mode.
    #[arg(short = 'p', long = "no-promiscuous-mode")]
    pub no_promiscuous: bool,

    /// Live: kernel capture buffer size in KiB (as tcpdump -B; default 32768).
    #[arg(short = 'B', long = "buffer-size", value_name = "KIB")]
    pub buffer_kib: Option<u32>,

    /// Live: also write the raw packets to FILE (pcap).
    #[arg(
        short = 'w',
        long = "write",
        value_name = "FILE",
        requires = "interface"
    )]
    pub write: Option<PathBuf>,

    /// With -w: write only the packets of connections that carried a WebSocket upgrade.
    #[arg(long, requires = "write")]
    pub write_handshakes_only: bool,

    /// With -w and --keylog: write pcapng with the secrets of every TLS session wssniff
    /// decrypted, in a Decryption Secrets Block before its packets (as `editcap
    /// --inject-secrets`), so tshark and Wireshark open the file decrypted; rotated (-C, -G),
    /// each file repeats them before the connection's first packet in it. The file then
    /// holds secrets: keep it as private as the key log.
    #[arg(long, requires_all = ["write", "keylog"], conflicts_with = "write_handshakes_only")]
    pub write_secrets: bool,

    /// Live, as root: after opening the device and the output files, switch to USER
    /// (tcpdump's -Z); `-Z root` keeps root.
    #[arg(
        short = 'Z',
        long = "relinquish-privileges",
        value_name = "USER",
        default_value = "nobody"
    )]
    pub relinquish: String,

    /// Live: stop after SECONDS (was -G before 0.2: -G is now tcpdump's rotation).
    #[arg(long = "duration", value_name = "SECONDS")]
    pub duration: Option<f64>,

    /// With -w, as tcpdump -C: start a new file once the current one holds more than MB
    /// million bytes; the files are FILE, FILE1, FILE2... (FILE0... with -W).
    #[arg(short = 'C', long = "file-size", value_name = "MB", requires = "write")]
    pub file_size: Option<f64>,

    /// With -w, as tcpdump -G: start a new file every SECONDS (of packet time), its name
    /// expanded by strftime in local time (TZ) as tcpdump's (`-w 'ws-%Y%m%d-%H%M%S.pcap'`).
    #[arg(
        short = 'G',
        long = "rotate-seconds",
        value_name = "SECONDS",
        requires = "write"
    )]
    pub rotate_seconds: Option<u64>,

    /// With -C, as tcpdump -W: a ring of N files (FILE0...), the oldest overwritten; with -G
    /// alone, stop once N files are written.
    #[arg(short = 'W', long = "file-count", value_name = "N")]
    pub file_count: Option<u32>,

    /// Live: report an upgrade request as `no_response` after SECONDS without an answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub response_timeout: f64,

    /// Warn (`slow_response`) when the answer to an upgrade request came more than SECONDS
    /// after it: clients with a shorter handshake timeout give up first. 0 turns it off.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub slow_response: f64,

    /// Stop after COUNT handshakes.
    #[arg(short = 'c', long = "count", value_name = "COUNT")]
    pub count: Option<u64>,

    /// Write JSON Lines (one object per handshake) to standard output.
    #[arg(long)]
    pub json: bool,

    /// Write JSON Lines to FILE (the line output stays on standard output). Live: SIGHUP
    /// reopens it (log rotation).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Write a forensic report to FILE: `.html` (self-contained, with charts), `.md` or `.json`.
    /// Live: SIGHUP writes the report so far.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Print only the summary.
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Print evidence lines, info findings and the full request and response heads.
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Accepted and ignored, as a tcpdump habit (`-n`, `-nn`): wssniff never resolves
    /// addresses or ports to names, so there is nothing to turn off.
    #[arg(short = 'n', action = clap::ArgAction::Count)]
    pub numeric: u8,

    /// Exit with status 1 when a handshake has this verdict or a worse one.
    #[arg(long, value_name = "VERDICT")]
    pub fail_on: Option<FailOn>,

    /// Colour the line output.
    #[arg(long, value_name = "WHEN", default_value = "auto")]
    pub color: ColorChoice,

    /// Most TCP connections tracked at once; the least recently active are evicted beyond it.
    #[arg(long, value_name = "N", default_value_t = FlowLimits::default().max_flows)]
    pub max_flows: usize,

    /// Seconds of silence (capture time) after which a connection is forgotten.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub flow_timeout: u64,

    /// An idle timeout of a proxy or load balancer on the path, in seconds (repeatable): a
    /// connection torn down after that long without frames is named as its timer. Not
    /// `--flow-timeout`, which is how long wssniff itself remembers a quiet connection.
    #[arg(long, value_name = "SECONDS")]
    pub proxy_idle_timeout: Vec<f64>,

    /// Longest HTTP head (request or response) accepted.
    #[arg(long, value_name = "BYTES", default_value_t = ConnLimits::default().max_header_bytes)]
    pub max_header_bytes: usize,

    /// Most bytes held out of order per direction while waiting for a missing segment.
    #[arg(long, value_name = "BYTES", default_value_t = StreamLimits::default().max_out_of_order)]
    pub max_buffer_bytes: usize,

    /// WebSocket frames with a larger payload are reported (`frame_too_large`), like a
    /// receiver's maxPayload / max_size limit.
    #[arg(long, value_name = "BYTES", default_value_t = ConnLimits::default().max_payload)]
    pub max_payload: u64,

    /// Show credentials as captured. By default the values of Authorization, Cookie,
    /// Set-Cookie, API-key and token headers, credential-like query parameters and JSON keys
    /// in message previews are replaced by `<redacted:HASH>` in every output (README:
    /// Redaction).
    #[arg(long)]
    pub no_redact: bool,

    /// Key for the hash beside each redacted value (created with owner-only permissions if
    /// missing); default $XDG_CONFIG_HOME/wssniff/redact.key (~/.config/wssniff/redact.key).
    #[arg(long, value_name = "FILE", conflicts_with = "no_redact")]
    pub redact_key_file: Option<PathBuf>,

    /// Keep the first BYTES of the body of every response to an upgrade request that is not
    /// a 101 (the server's reason), decoded; 0 keeps none.
    #[arg(long, value_name = "BYTES", default_value_t = ConnLimits::default().body_bytes)]
    pub body_bytes: usize,

    /// Read the first BYTES of each Engine.IO (Socket.IO) polling body: the open packet, error
    /// answers and the packets of each poll; a longer body is cut there, counted and said on
    /// its session (`engineio_body_cut`). 0 reads none.
    #[arg(long, value_name = "BYTES", default_value_t = ConnLimits::default().eio_body_bytes)]
    pub eio_body_bytes: usize,

    /// HTTP/2 rapid reset (`h2_rapid_reset`, CVE-2023-44487): the client's RST_STREAM frames
    /// draw on a token bucket of N tokens (nghttp2's default stream reset burst); 0 turns the
    /// check off.
    #[arg(long, value_name = "N", default_value_t = FloodLimits::default().reset_burst)]
    pub h2_reset_burst: u32,

    /// HTTP/2 rapid reset: tokens the bucket regains a second (nghttp2's default stream reset
    /// rate).
    #[arg(long, value_name = "N", default_value_t = FloodLimits::default().reset_rate)]
    pub h2_reset_rate: u32,

    /// HTTP/2 (`h2_flood`): more than N PING and SETTINGS frames of one sender left
    /// unacknowledged by its peer (nghttp2's default outbound ACK queue limit; CVE-2019-9512,
    /// CVE-2019-9515); 0 off.
    #[arg(long, value_name = "N", default_value_t = FloodLimits::default().max_unacked)]
    pub h2_max_unacked: u32,

    /// HTTP/2 (`h2_flood`): more than N CONTINUATION frames in one header block (nghttp2's
    /// default; CVE-2024-27316 and its kin); 0 off.
    #[arg(long, value_name = "N", default_value_t = FloodLimits::default().max_continuations)]
    pub h2_max_continuations: u32,

    /// HTTP/2 (`h2_flood`): more than N parameters in one SETTINGS frame (nghttp2's default;
    /// CVE-2020-11080); 0 off.
    #[arg(long, value_name = "N", default_value_t = FloodLimits::default().max_settings)]
    pub h2_max_settings: u32,

    /// HTTP/2 (`h2_flood`): more than N empty DATA frames without END_STREAM from one sender
    /// (CVE-2019-9518; nghttp2 has no such limit, node's maxSessionInvalidFrames is 1000);
    /// 0 off.
    #[arg(long, value_name = "N", default_value_t = FloodLimits::default().max_empty_data)]
    pub h2_max_empty_data: u32,

    /// Decrypt TLS with the secrets in FILE, an NSS key log (`SSLKEYLOGFILE`). Live, the file
    /// is re-read as it grows. Key logs are secrets: wssniff never prints their contents.
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<PathBuf>,

    /// Most TLS sessions kept from key logs (the --keylog file and the capture's own pcapng
    /// Decryption Secrets Blocks); later ones are reported and ignored.
    #[arg(long, value_name = "N", default_value_t = crate::tls::keylog::DEFAULT_MAX_SESSIONS)]
    pub keylog_max_sessions: usize,

    /// Files: sort each file by timestamp from its first packet on within SECONDS, as
    /// reordercap would, for merged and multi-queue captures: each packet waits until the file
    /// has been read SECONDS past it (a look-ahead of at most 1 MiB of each file's read
    /// buffer, so a very fast capture gets less). Without the flag a file is sorted within
    /// 0.01 s from its first packet out of order on (an ordered file costs nothing). A packet
    /// later than the window is analysed where the file has it and counted. 0: file order.
    #[arg(long, value_name = "SECONDS")]
    pub reorder_window: Option<f64>,

    /// Global memory budget over everything buffered that grows with traffic (K, M, G
    /// suffixes: 64M, 1G); past it new buffering is refused and counted, and the least
    /// recently active connections make room for new ones. Default 256M.
    #[arg(long, value_name = "BYTES", default_value = "256M", value_parser = parse_size)]
    pub memcap: usize,

    /// Analysis threads (-r, -i, --tui): connections are spread over N workers by a hash of
    /// their addresses, and one stage puts their results in packet order, so the output is
    /// the same as with 1. Default: the cores available, at most 8; 1 on fewer than 4 cores.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Open the full-screen terminal interface instead of printing lines.
    #[arg(long, conflicts_with_all = ["json", "quiet", "verbose", "count", "output", "report"])]
    pub tui: bool,

    /// Live: serve Prometheus metrics at http://ADDR/metrics (PORT alone binds 127.0.0.1;
    /// name an address such as 0.0.0.0:9464 to expose them beyond this host).
    #[arg(
        long,
        value_name = "ADDR",
        requires = "interface",
        conflicts_with = "tui"
    )]
    pub metrics: Option<String>,

    /// With --metrics: count handshakes per server for the first N servers seen (the rest
    /// as `other`); 0, the default, leaves the server label out.
    #[arg(long, value_name = "N", default_value_t = 0, requires = "metrics")]
    pub metrics_servers: usize,

    /// Print the table of finding codes and exit.
    #[arg(long)]
    pub list_findings: bool,

    /// Print the man page (roff) or a shell's completion script, and exit (as ripgrep's
    /// --generate): `wssniff --generate man > wssniff.1`.
    #[arg(long, value_name = "KIND")]
    pub generate: Option<Generate>,

    /// BPF filter expression (tcpdump syntax), applied to files too.
    #[arg(
        value_name = "FILTER",
        trailing_var_arg = true,
        allow_hyphen_values = false
    )]
    pub filter: Vec<String>,
}

/// Smallest `--memcap`: below it a handful of connections fill the budget.
pub const MIN_MEMCAP: usize = 1024 * 1024;

/// Parses a byte count with an optional binary suffix: `65536`, `64K`, `64M`, `1G` (also
/// `KiB`/`MiB`/`GiB`, `KB`/`MB`/`GB`, any case; all powers of 1024).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, suffix) = t.split_at(digits);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a byte count (e.g. 64M, 1G, 268435456)"))?;
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "{text:?}: unknown size suffix {suffix:?} (use K, M or G)"
            ))
        }
    };
    n.checked_mul(1u64 << shift)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// What `--generate` prints; every one is derived from [`Cli`]'s clap definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    /// The man page, roff (section 1).
    Man,
    /// Completion script for bash.
    CompleteBash,
    /// Completion script for zsh.
    CompleteZsh,
    /// Completion script for fish.
    CompleteFish,
    /// Completion script for PowerShell.
    CompletePowershell,
    /// Completion script for elvish.
    CompleteElvish,
}

/// Writes what `kind` names for the `wssniff` command to `out`.
pub fn generate(kind: Generate, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap::CommandFactory;
    use clap_complete::Shell;
    let mut command = Cli::command();
    let shell = match kind {
        Generate::Man => return render_man(command, out),
        Generate::CompleteBash => Shell::Bash,
        Generate::CompleteZsh => Shell::Zsh,
        Generate::CompleteFish => Shell::Fish,
        Generate::CompletePowershell => Shell::PowerShell,
        Generate::CompleteElvish => Shell::Elvish,
    };
    clap_complete::generate(shell, &mut command, "wssniff", out);
    Ok(())
}

/// The man page: clap's sections, then the ones a man reader looks for (examples, exit status,
/// files, see also) in place of clap's unlabelled "extra" block.
fn render_man(command: clap::Command, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(command);
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    out.write_all(MAN_TAIL.as_bytes())
}

/// Hand-written roff for the sections clap has no source for; `\-` is a literal hyphen.
const MAN_TAIL: &str = r#".SH EXAMPLES
.TP
\fBwssniff \-r capture.pcap\fR
One line per WebSocket handshake and connection, with the verdict and the fix.
.TP
\fBwssniff \-i eth0 \-\-keylog keys.log tcp port 443\fR
Live capture, decrypting wss:// with an NSS key log (SSLKEYLOGFILE).
.TP
\fBwssniff \-r capture.pcapng \-\-json > handshakes.jsonl\fR
JSON Lines, one record per handshake, connection and TLS connection.
.TP
\fBwssniff \-r capture.pcap \-\-report report.html\fR
A forensic report (HTML, Markdown or JSON by the file's extension).
.TP
\fBwssniff \-r capture.pcap \-\-tui\fR
The full\-screen interface.
.SH EXIT STATUS
.TP
0
The capture was read (whatever the verdicts).
.TP
1
A handshake tripped \fB\-\-fail\-on\fR.
.TP
2
Usage error, or the input could not be opened or was damaged (results before the damage
were reported).
.TP
3
The run stopped early for a reason outside the input: the interface went away or an
output could not be written.
.SH FILES
.TP
\fI$XDG_CONFIG_HOME/wssniff/redact.key\fR
The key of the hash shown beside redacted credentials (see \fB\-\-redact\-key\-file\fR).
.SH SEE ALSO
\fBtcpdump\fR(1), \fBtshark\fR(1), \fBpcap\-filter\fR(7)
"#;

/// `--fail-on` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Any failed handshake.
    Failed,
    /// Any failed or incomplete handshake.
    Incomplete,
    /// Anything but ok.
    Warning,
}

impl FailOn {
    /// Whether a handshake with `v` trips this setting.
    #[must_use]
    pub fn trips(self, v: Verdict) -> bool {
        match self {
            FailOn::Failed => v == Verdict::Failed,
            FailOn::Incomplete => matches!(v, Verdict::Failed | Verdict::Incomplete),
            FailOn::Warning => v != Verdict::Ok,
        }
    }
}

/// `--color` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When standard output is a terminal and NO_COLOR is unset.
    Auto,
    /// Colour even when piped (for `less -R`).
    Always,
    /// No colour escapes at all.
    Never,
}

/// Whether and how credentials are masked in the output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redaction {
    /// `--no-redact`: everything as captured.
    Off,
    /// Masked, each beside a hash keyed with the key in `key_file`, or in the default key
    /// file when `None` (created on first use).
    Keyed {
        /// `--redact-key-file`.
        key_file: Option<PathBuf>,
    },
}

/// Where packets come from.
#[derive(Clone, Debug)]
pub enum Input {
    /// A capture file (`-` = standard input).
    File(String),
    /// Several capture files (repeated `-r`, a directory, a pattern), read as one capture
    /// in packet timestamp order.
    Files(Vec<String>),
    /// A live interface.
    Live(Live),
}

/// Live capture settings.
#[derive(Clone, Debug)]
pub struct Live {
    /// How to open the interface.
    pub options: LiveOptions,
    /// `-w` file.
    pub write: Option<PathBuf>,
    /// `-C`, `-G`, `-W`: when `-w` starts a new file.
    pub rotation: crate::sink::rotate::Rotation,
    /// Only write connections that carried an upgrade.
    pub write_handshakes_only: bool,
    /// Write pcapng with the decrypted sessions' secrets (`--write-secrets`).
    pub write_secrets: bool,
    /// Stop after this long.
    pub duration: Option<std::time::Duration>,
    /// User to switch to once everything privileged is open (when run as root).
    pub relinquish: String,
    /// `--metrics`: where to serve Prometheus metrics.
    pub metrics: Option<std::net::SocketAddr>,
    /// `--metrics-servers`: servers given their own label.
    pub metrics_servers: usize,
}

/// The validated configuration of one run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Packet source.
    pub input: Input,
    /// BPF filter, if any.
    pub filter: Option<String>,
    /// Stop after this many handshakes.
    pub count: Option<u64>,
    /// JSON Lines to standard output instead of lines.
    pub json_stdout: bool,
    /// JSON Lines file.
    pub json_file: Option<PathBuf>,
    /// Forensic report file and its format.
    pub report: Option<(PathBuf, crate::report::Format)>,
    /// Summary only.
    pub quiet: bool,
    /// Verbose lines.
    pub verbose: bool,
    /// Colour the line output.
    pub color: bool,
    /// Exit 1 threshold.
    pub fail_on: Option<FailOn>,
    /// Engine caps.
    pub engine: EngineConfig,
    /// Full-screen interface (`--tui`).
    pub tui: bool,
    /// Credential redaction.
    pub redact: Redaction,
    /// `--keylog` file: NSS key log to decrypt TLS with.
    pub keylog: Option<PathBuf>,
    /// Most sessions kept from key logs (`--keylog-max-sessions`).
    pub keylog_max_sessions: usize,
    /// Flow-sharded analysis workers (`--threads`); 1 analyses on the reading thread.
    pub threads: usize,
    /// Re-sort window for files from their start, in nanoseconds (`--reorder-window`; 0: file
    /// order); `None`: the default window from the first packet out of order on.
    pub reorder_window_ns: Option<i64>,
}

/// Most workers `--threads` defaults to: beyond a few, the one reader and the one
/// correlation stage are the limit, not the workers.
pub const MAX_DEFAULT_THREADS: usize = 8;

/// Most workers `--threads` takes.
pub const MAX_THREADS: usize = 64;

/// Fewest cores on which `--threads` defaults to more than 1: a sharded run keeps a reader,
/// the workers and the correlation stage busy, and on two cores it measured slower than one
/// thread (BENCHMARKS.md, session 5: median 4.4x the read floor against 3.4x, 44 % more CPU
/// per packet, 2.3x the memory).
pub const MIN_CORES_TO_SHARD: usize = 4;

/// `--threads`' default: the cores this process may run on, at most
/// [`MAX_DEFAULT_THREADS`]; 1 below [`MIN_CORES_TO_SHARD`].
#[must_use]
pub fn default_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    if cores < MIN_CORES_TO_SHARD {
        1
    } else {
        cores.min(MAX_DEFAULT_THREADS)
    }
}

impl Cli {
    /// Validates the flags.
    ///
    /// # Errors
    /// A message for the user when the flags do not make a run.
    pub fn into_config(self, stdout_is_terminal: bool) -> Result<Config, String> {
        let filter = if self.filter.is_empty() {
            None
        } else {
            Some(self.filter.join(" "))
        };
        let live = self.interface.is_some();
        let read = match self.read.as_slice() {
            [] => None,
            args => {
                let files = crate::capture::expand_inputs(args).map_err(|e| e.to_string())?;
                Some(match files.as_slice() {
                    [one] if args.len() == 1 && args.first() == Some(one) => {
                        Input::File(one.clone())
                    }
                    _ => Input::Files(files),
                })
            }
        };
        let input = match (read, self.interface) {
            (Some(input), None) => input,
            (None, Some(iface)) => {
                let duration = match self.duration {
                    Some(d) if d.is_finite() && d > 0.0 => {
                        Some(std::time::Duration::from_secs_f64(d))
                    }
                    Some(_) => return Err("--duration must be a positive number of seconds".into()),
                    None => None,
                };
                let max_bytes = match self.file_size {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    Some(mb) if mb.is_finite() && mb > 0.0 => Some((mb * 1e6) as u64),
                    Some(_) => return Err("-C must be a positive number of millions of bytes".into()),
                    None => None,
                };
                if self.rotate_seconds == Some(0) {
                    return Err("-G must be a positive number of seconds".into());
                }
                if self.file_count.is_some() && max_bytes.is_none() && self.rotate_seconds.is_none() {
                    return Err("-W needs -C or -G (as in tcpdump)".into());
                }
                if self.file_count == Some(0) {
                    return Err("-W must be at least 1".into());
                }
                let rotation = crate::sink::rotate::Rotation {
                    max_bytes,
                    seconds: self.rotate_seconds,
                    files: self.file_count,
                };
                Input::Live(Live {
                    options: LiveOptions {
                        interface: iface,
                        snaplen: self.snaplen,
                        promiscuous: !self.no_promiscuous,
                        buffer_size: self.buffer_kib.map(|k| k.saturating_mul(1024)),
                        filter: filter.clone(),
                    },
                    write: self.write,
                    rotation,
                    write_handshakes_only: self.write_handshakes_only,
                    write_secrets: self.write_secrets,
                    duration,
                    relinquish: self.relinquish.clone(),
                    metrics: self
                        .metrics
                        .as_deref()
                        .map(crate::sink::metrics::parse_listen_address)
                        .transpose()?,
                    metrics_servers: self.metrics_servers.min(MAX_METRICS_SERVERS),
                })
            }
            (None, None) => {
                return Err(
                    "no input: give -r FILE to read a capture (-r - for standard input) or -i IFACE to capture live (see --help)".into(),
                )
            }
            (Some(_), Some(_)) => return Err("-r and -i cannot be combined".into()),
        };
        if self.tui && !stdout_is_terminal {
            return Err(
                "--tui needs a terminal on standard output; without --tui wssniff prints lines you can pipe"
                    .into(),
            );
        }
        if self.max_flows == 0 {
            return Err("--max-flows must be at least 1".into());
        }
        if self.keylog_max_sessions == 0 {
            return Err("--keylog-max-sessions must be at least 1".into());
        }
        if self
            .reorder_window
            .is_some_and(|w| !(w.is_finite() && (0.0..=60.0).contains(&w)))
        {
            return Err("--reorder-window must be between 0 and 60 seconds".into());
        }
        if self.max_header_bytes < 64 {
            return Err("--max-header-bytes must be at least 64".into());
        }
        if self.body_bytes > MAX_BODY_BYTES {
            return Err(format!("--body-bytes must be at most {MAX_BODY_BYTES}"));
        }
        if self.eio_body_bytes > MAX_BODY_BYTES {
            return Err(format!("--eio-body-bytes must be at most {MAX_BODY_BYTES}"));
        }
        let threads = self.threads.unwrap_or_else(default_threads);
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(format!("--threads must be between 1 and {MAX_THREADS}"));
        }
        if self.memcap < MIN_MEMCAP {
            return Err("--memcap must be at least 1M".into());
        }
        let report = match self.report {
            Some(path) => {
                let format = crate::report::Format::from_path(&path)?;
                Some((path, format))
            }
            None => None,
        };
        let color = match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stdout_is_terminal && std::env::var_os("NO_COLOR").is_none(),
        };
        if !(self.response_timeout.is_finite() && self.response_timeout > 0.0) {
            return Err("--response-timeout must be a positive number of seconds".into());
        }
        #[allow(clippy::cast_possible_truncation)]
        let response_timeout_ns = (self.response_timeout * 1e9).min(1e18) as i64;
        if !(self.slow_response.is_finite() && self.slow_response >= 0.0) {
            return Err("--slow-response must be a number of seconds (0 turns it off)".into());
        }
        #[allow(clippy::cast_possible_truncation)]
        let slow_response_ns =
            (self.slow_response > 0.0).then(|| (self.slow_response * 1e9).min(1e18) as i64);
        let conn = ConnLimits {
            stream: StreamLimits {
                // The stream must hold a whole head plus a little: heads are parsed in place.
                max_buffered: self.max_header_bytes.saturating_add(4096),
                max_out_of_order: self.max_buffer_bytes,
            },
            max_header_bytes: self.max_header_bytes,
            max_payload: self.max_payload,
            body_bytes: self.body_bytes,
            eio_body_bytes: self.eio_body_bytes,
            // HTTP/2 header blocks, decoded lists and HPACK tables share the head cap.
            h2: H2Limits {
                max_header_block: self.max_header_bytes,
                hpack: HpackLimits {
                    max_table_size: self.max_header_bytes,
                    max_header_list: self.max_header_bytes,
                },
                flood: FloodLimits {
                    reset_burst: self.h2_reset_burst,
                    reset_rate: self.h2_reset_rate,
                    max_unacked: self.h2_max_unacked,
                    max_continuations: self.h2_max_continuations,
                    max_settings: self.h2_max_settings,
                    max_empty_data: self.h2_max_empty_data,
                },
                ..H2Limits::default()
            },
            ..ConnLimits::default()
        };
        let mut proxy_idle_timeouts = ProxyIdleTimeouts::default();
        for &t in &self.proxy_idle_timeout {
            if !proxy_idle_timeouts.push(t) {
                return Err(format!(
                    "--proxy-idle-timeout {t}: give at most {MAX_PROXY_IDLE_TIMEOUTS} values, each a positive number of seconds"
                ));
            }
        }
        let flow_timeout_ns = i64::try_from(self.flow_timeout)
            .unwrap_or(i64::MAX / 1_000_000_000)
            .saturating_mul(1_000_000_000);
        Ok(Config {
            input,
            filter,
            count: self.count,
            json_stdout: self.json,
            json_file: self.output,
            report,
            quiet: self.quiet,
            verbose: self.verbose,
            color: color && !self.json,
            fail_on: self.fail_on,
            engine: EngineConfig {
                flows: FlowLimits {
                    max_flows: self.max_flows,
                    idle_timeout_ns: flow_timeout_ns.max(1),
                },
                conn,
                // Files hold the whole story: wait for the connection to end. Live capture
                // cannot wait for an end that may never come.
                response_timeout_ns: live.then_some(response_timeout_ns),
                // A file's records come out in id order; live, each as soon as it is known.
                order: if live {
                    RecordOrder::AsKnown
                } else {
                    RecordOrder::ById
                },
                proxy_idle_timeouts,
                handshake: crate::handshake::Policy { slow_response_ns },
                memcap: Some(self.memcap),
                ..EngineConfig::default()
            },
            tui: self.tui,
            redact: if self.no_redact {
                Redaction::Off
            } else {
                Redaction::Keyed {
                    key_file: self.redact_key_file,
                }
            },
            keylog: self.keylog,
            keylog_max_sessions: self.keylog_max_sessions,
            threads,
            #[allow(clippy::cast_possible_truncation)] // at most 60 s, checked above
            reorder_window_ns: self.reorder_window.map(|w| (w * 1e9).round() as i64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::DEFAULT_MEMCAP;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2GB"), Ok(2 << 30));
        assert_eq!(
            parse_size("256M"),
            Ok(DEFAULT_MEMCAP),
            "the documented default"
        );
        for bad in ["", "M", "1.5G", "12X", "-1", "99999999999999999999G"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn write_secrets_needs_w_and_a_key_log_and_not_handshakes_only() {
        let parse = |args: &[&str]| {
            let mut all = vec!["wssniff", "-i", "lo"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).is_ok()
        };
        assert!(parse(&[
            "-w",
            "o.pcapng",
            "--keylog",
            "k",
            "--write-secrets"
        ]));
        assert!(!parse(&["-w", "o.pcapng", "--write-secrets"]), "no key log");
        assert!(!parse(&["--keylog", "k", "--write-secrets"]), "no -w");
        assert!(!parse(&[
            "-w",
            "o",
            "--keylog",
            "k",
            "--write-secrets",
            "--write-handshakes-only"
        ]));
    }

    #[test]
    fn memcap_reaches_the_engine_and_has_a_floor() {
        let cli = Cli::try_parse_from(["wssniff", "-r", "x.pcap", "--memcap", "64M"]).unwrap();
        let config = cli.into_config(false).unwrap();
        assert_eq!(config.engine.memcap, Some(64 << 20));
        let cli = Cli::try_parse_from(["wssniff", "-r", "x.pcap"]).unwrap();
        assert_eq!(
            cli.into_config(false).unwrap().engine.memcap,
            Some(DEFAULT_MEMCAP)
        );
        let cli = Cli::try_parse_from(["wssniff", "-r", "x.pcap", "--memcap", "512K"]).unwrap();
        assert!(cli.into_config(false).is_err());
    }

    #[test]
    fn h2_flood_thresholds_reach_the_h2_layer_and_default_to_nghttp2s() {
        let config = |args: &[&str]| {
            let mut all = vec!["wssniff", "-r", "x.pcap"];
            all.extend_from_slice(args);
            let cli = Cli::try_parse_from(all).unwrap();
            cli.into_config(false).unwrap().engine.conn.h2.flood
        };
        // nghttp2's defaults (nghttp2_option_set_stream_reset_rate_limit: 1000 and 33;
        // NGHTTP2_DEFAULT_MAX_OBQ_FLOOD_ITEM 1000; nghttp2_option_set_max_continuations: 8;
        // NGHTTP2_DEFAULT_MAX_SETTINGS 32), and node's maxSessionInvalidFrames for empty DATA.
        assert_eq!(
            config(&[]),
            FloodLimits {
                reset_burst: 1000,
                reset_rate: 33,
                max_unacked: 1000,
                max_continuations: 8,
                max_settings: 32,
                max_empty_data: 1000,
            }
        );
        let set = config(&[
            "--h2-reset-burst",
            "100",
            "--h2-reset-rate",
            "10",
            "--h2-max-unacked",
            "0",
            "--h2-max-continuations",
            "512",
            "--h2-max-settings",
            "64",
            "--h2-max-empty-data",
            "1",
        ]);
        assert_eq!(
            set,
            FloodLimits {
                reset_burst: 100,
                reset_rate: 10,
                max_unacked: 0,
                max_continuations: 512,
                max_settings: 64,
                max_empty_data: 1,
            }
        );
        let bad = Cli::try_parse_from(["wssniff", "-r", "x.pcap", "--h2-max-settings", "-1"]);
        assert!(bad.is_err());
    }
}
