//! How a WebSocket connection ended: close frames (RFC 6455 §7) combined with how TCP
//! ended, classified into a [`ConnectionEnding`], and the findings that tell the story (no
//! close frame, reset, unanswered close, error or application close codes, and a teardown
//! after a round number of silent seconds: the signature of a proxy's idle timeout). A reset
//! after both close frames is a clean ending with an info finding: many stacks close that way.
//! A close frame sent only after the other side's FIN or RST answers that teardown: the side
//! that tore down first sent no close frame, and is the one the findings name.
//!
//! In: the close frames both sides sent, how TCP ended ([`TcpEnd`]) and how long the
//! connection had been silent. Out: the classification and its findings. Pure: looks at no
//! frame and keeps no state.

use crate::capture::Timestamp;
use crate::event::{CloseInfo, ConnectionEnding, ConnectionRecord, Ending, Peer};
use crate::finding::{Code, Evidence, Finding};
use crate::websocket::frame::{close_code_kind, close_code_meaning, CloseCodeKind};
use crate::websocket::rules::sender;

/// How far a measured silence may be from a timer's value and still be that timer: 0.5 s
/// plus 1 % of the value, either way. A timer fires its value after the last byte the
/// intermediary saw, plus scheduling delay; the capture point saw that byte and the teardown
/// up to a round trip earlier or later than the intermediary did.
pub(crate) const IDLE_TOLERANCE_MS: f64 = 500.0;
/// The part of the tolerance that grows with the timer's value.
const IDLE_TOLERANCE_SHARE: f64 = 0.01;

/// What an intermediary's timer measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Measures {
    /// Time with no data in either direction.
    Silence,
    /// The connection's lifetime since the 101, busy or not.
    Lifetime,
}

/// A default timer of a widely deployed intermediary that ends WebSocket connections.
struct KnownTimer {
    seconds: f64,
    measures: Measures,
    /// It ends the flow with an RST, never a FIN.
    rst_only: bool,
    what: &'static str,
}

/// Vendor defaults, from their documentation. HAProxy is not here: `timeout tunnel` has no
/// default (a configuration sets it, or `timeout client`/`server` apply), so its value comes
/// from `--proxy-idle-timeout`.
const KNOWN_TIMERS: &[KnownTimer] = &[
    // nginx.org/en/docs/http/websocket.html: "By default, the connection will be closed if
    // the proxied server does not transmit any data within 60 seconds"
    // (proxy_read_timeout; proxy_send_timeout is 60 s too). AWS: "By default, Elastic Load
    // Balancing maintains a 60-second idle connection timeout" (Classic), and the
    // Application Load Balancer's idle_timeout.timeout_seconds defaults to 60.
    KnownTimer {
        seconds: 60.0,
        measures: Measures::Silence,
        rst_only: false,
        what: "nginx's default proxy_read_timeout and the AWS ALB/CLB default idle timeout",
    },
    // developers.cloudflare.com/fundamentals/reference/connection-limits: Proxy Read Timeout
    // 100 s (Enterprise plans can change it); proxied WebSockets idle that long are closed.
    KnownTimer {
        seconds: 100.0,
        measures: Measures::Silence,
        rst_only: false,
        what: "Cloudflare's proxy read timeout",
    },
    // learn.microsoft.com/azure/load-balancer/load-balancer-tcp-idle-timeout: "The default
    // setting is 4 minutes"; the flow is dropped silently unless "TCP reset on idle" is on,
    // which sends RSTs both ways: only an RST teardown can show it.
    KnownTimer {
        seconds: 240.0,
        measures: Measures::Silence,
        rst_only: true,
        what: "the Azure Load Balancer default idle timeout (with TCP reset on idle)",
    },
    // envoyproxy.io/docs/envoy/latest/faq/configuration/timeouts: stream_idle_timeout
    // defaults to 5 minutes, and an upgraded WebSocket is a stream.
    KnownTimer {
        seconds: 300.0,
        measures: Measures::Silence,
        rst_only: false,
        what: "Envoy's default stream_idle_timeout (Istio and other Envoy-based gateways)",
    },
    // docs.aws.amazon.com/elasticloadbalancing/latest/network/update-idle-timeout.html:
    // "The default idle timeout value for TCP flows is 350 seconds."
    KnownTimer {
        seconds: 350.0,
        measures: Measures::Silence,
        rst_only: false,
        what: "the AWS NLB default TCP idle timeout",
    },
    // Google Cloud external Application Load Balancers: the backend service timeout (default
    // 30 s) is the longest a WebSocket may stay open, idle or not.
    KnownTimer {
        seconds: 30.0,
        measures: Measures::Lifetime,
        rst_only: false,
        what: "the Google Cloud load balancer default backend service timeout, which limits a WebSocket's whole lifetime",
    },
];

/// Whether `measured_ms` is a timer of `timer_ms`, within the stated tolerance.
fn within(measured_ms: f64, timer_ms: f64) -> bool {
    (measured_ms - timer_ms).abs() <= IDLE_TOLERANCE_MS + IDLE_TOLERANCE_SHARE * timer_ms
}

fn tolerance_text(timer_ms: f64) -> String {
    format!(
        "within ±{}",
        short_duration(IDLE_TOLERANCE_MS + IDLE_TOLERANCE_SHARE * timer_ms)
    )
}

/// A duration for a message: `999.8 ms`, `2.0 s`.
fn short_duration(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// What says a teardown was an intermediary's timer, besides the vendor defaults: the values
/// the user passed (`--proxy-idle-timeout`) and, when the capture holds both legs of a proxied
/// handshake, the proxy that closed.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IdleEvidence<'a> {
    /// Idle timeouts configured on the path, in milliseconds.
    pub user_timeouts_ms: &'a [f64],
    /// The closing side is this proxy (its description: software and address).
    pub closing_proxy: Option<&'a str>,
}

/// Why a teardown after `silence_ms` without frames (`lifetime_ms` after the 101, by an RST
/// when `rst`) was an intermediary's timer, when something says so; `None` otherwise (the
/// silence is then reported as measured). Identical inputs give identical answers: nothing
/// here rounds to whole seconds.
pub(crate) fn idle_cause(
    silence_ms: f64,
    lifetime_ms: f64,
    rst: bool,
    evidence: &IdleEvidence<'_>,
) -> Option<String> {
    if let Some(proxy) = evidence.closing_proxy {
        return Some(format!(
            "the closing side is {proxy} (a proxy hop in this capture): likely its idle timeout"
        ));
    }
    for &t in evidence.user_timeouts_ms {
        if t > 0.0 && within(silence_ms, t) {
            return Some(format!(
                "it matches --proxy-idle-timeout {} ({})",
                short_duration(t),
                tolerance_text(t)
            ));
        }
    }
    for k in KNOWN_TIMERS {
        let ms = k.seconds * 1000.0;
        let measured = match k.measures {
            Measures::Silence => silence_ms,
            Measures::Lifetime => lifetime_ms,
        };
        if (rst || !k.rst_only) && within(measured, ms) {
            return Some(format!(
                "likely an intermediary idle timeout: {:.0} s is {} ({})",
                k.seconds,
                k.what,
                tolerance_text(ms)
            ));
        }
    }
    None
}

/// Names an intermediary's timer on a finished record when `evidence` says so: the
/// `close_frame_missing` or `connection_reset` finding of a silent teardown becomes
/// `idle_timeout`. For what the engine learns after the session ended (the values the user
/// passed, a proxy hop); a record that already names one is left alone.
pub(crate) fn name_idle_timeout(record: &mut ConnectionRecord, evidence: &IdleEvidence<'_>) {
    let (Some(silence_ms), Some(at)) = (record.idle_before_end_ms, silent_teardown(record)) else {
        return;
    };
    let rst = record.ending == ConnectionEnding::Rst;
    let Some(why) = idle_cause(silence_ms, record.duration_ms, rst, evidence) else {
        return;
    };
    let who = match record.tcp_end {
        Ending::ClientFin | Ending::ClientRst => "client",
        Ending::ServerFin | Ending::ServerRst => "server",
        _ => "one side",
    };
    if let Some(f) = record.findings.get_mut(at) {
        *f = idle_finding(who, rst, silence_ms, &why);
    }
    record
        .findings
        .sort_by_key(|f| std::cmp::Reverse(f.severity));
}

/// The finding of a silent teardown that an intermediary's timer could explain: the
/// `close_frame_missing` or `connection_reset` of a record torn down with no close frame
/// (its index). `None` for anything else, and for an HTTP/2 stream torn down after a
/// GOAWAY reached it: the shutdown's deadline or the GOAWAY's error, not a timer
/// (h2::ending says so).
pub(crate) fn silent_teardown(record: &ConnectionRecord) -> Option<usize> {
    if record.idle_before_end_ms.is_none()
        || record.close.initiator.is_some()
        || record.findings.iter().any(|f| {
            matches!(
                f.code,
                Code::H2GoawayGraceful | Code::H2GoawayClosedWebsocket
            )
        })
    {
        return None;
    }
    record
        .findings
        .iter()
        .position(|f| matches!(f.code, Code::CloseFrameMissing | Code::ConnectionReset))
}

fn idle_finding(who: &str, rst: bool, silence_ms: f64, why: &str) -> Finding {
    Finding::new(
        Code::IdleTimeout,
        format!(
            "the {who} tore the connection down ({}) after {} with no frames and no close frame: {why}",
            if rst { "RST" } else { "FIN" },
            short_duration(silence_ms)
        ),
    )
}

/// How the TCP connection ended, as the exchange layer saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpEnd {
    /// First FIN or RST, or the capture end / eviction.
    pub ending: Ending,
    /// Capture time of that FIN or RST (or of the last packet, when neither was seen).
    pub at: Timestamp,
    /// Whether an RST was seen at any point.
    pub rst: bool,
}

/// The peer whose FIN or RST came first, by the TCP ending; `None` when TCP was not torn down.
fn tcp_closer(ending: Ending) -> Option<Peer> {
    match ending {
        Ending::ClientFin | Ending::ClientRst => Some(Peer::Client),
        Ending::ServerFin | Ending::ServerRst => Some(Peer::Server),
        _ => None,
    }
}

/// The peer whose first close frame came only after the other peer had torn TCP down (its
/// FIN or RST, or for an HTTP/2 stream the stream's end): that close answers the teardown and
/// opens no closing handshake the closer could have answered, so the closer tore the
/// connection down without a close frame. Ordered by capture time: a close frame at the
/// teardown's own timestamp counts as sent before it (a crossing, not an answer).
fn close_after_teardown(tcp: &TcpEnd, close: &CloseInfo) -> Option<Peer> {
    let initiator = close.initiator?;
    let closer = tcp_closer(tcp.ending)?;
    let frame = match initiator {
        Peer::Client => close.client.as_ref(),
        Peer::Server => close.server.as_ref(),
    }?;
    (closer != initiator && frame.ts > tcp.at).then_some(initiator)
}

/// Combines how TCP ended with the close frames seen.
pub(crate) fn classify(tcp: &TcpEnd, close: &CloseInfo) -> ConnectionEnding {
    match tcp.ending {
        Ending::CaptureEnded => ConnectionEnding::Open,
        Ending::Evicted => ConnectionEnding::Evicted,
        // The WebSocket closing handshake is done: an RST after it (unread data at close(),
        // SO_LINGER 0) loses nothing, and clients report the close code, not 1006.
        _ if close.handshake_completed => ConnectionEnding::Clean,
        // The first teardown was a FIN with no close frame before it; an RST later answers
        // the close frame written to a socket already closed (RFC 1122 §4.2.2.13).
        Ending::ClientFin | Ending::ServerFin if close_after_teardown(tcp, close).is_some() => {
            ConnectionEnding::FinWithoutClose
        }
        _ if tcp.rst => ConnectionEnding::Rst,
        _ if close.initiator.is_some() => ConnectionEnding::CloseNotAnswered,
        _ => ConnectionEnding::FinWithoutClose,
    }
}

/// The findings of an ending. `closer` sent the first FIN/RST; `tcp` is how TCP ended (an
/// RST seen, the teardown's time); `idle_ns` is the silence before a teardown (`None` when
/// the connection was not torn down); `handshake_failed` says the opening handshake failed and the client sent no frame,
/// so a dropped connection is the client failing it, as it must.
pub(crate) fn ending_findings(
    ending: ConnectionEnding,
    closer: Option<Peer>,
    tcp: &TcpEnd,
    idle_ns: Option<i64>,
    lifetime_ns: i64,
    close: &CloseInfo,
    handshake_failed: bool,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let reset = tcp.rst;
    // A close frame sent after the teardown: the closer sent none, and the silence measured
    // runs to that late frame, not to the teardown.
    let late = close_after_teardown(tcp, close);
    // RFC 6455 §4.1: after a failed handshake the client must _Fail the WebSocket
    // Connection_ (drop TCP, no close frame); the handshake record already says why.
    let expected_drop = handshake_failed && !close.handshake_completed;
    let who = closer.map_or("one side", Peer::as_str);
    let closer_sent_close = closer.is_some_and(|p| match p {
        Peer::Client => close.client.is_some(),
        Peer::Server => close.server.is_some(),
    });
    #[allow(clippy::cast_precision_loss)]
    let idle_ms = idle_ns.filter(|_| late.is_none()).map(|n| n as f64 / 1e6);
    #[allow(clippy::cast_precision_loss)]
    let lifetime_ms = lifetime_ns as f64 / 1e6;
    let idle = match idle_ms {
        Some(ms) if !closer_sent_close && !close.handshake_completed => idle_cause(
            ms,
            lifetime_ms,
            ending == ConnectionEnding::Rst,
            &IdleEvidence::default(),
        ),
        _ => None,
    };
    // The silence as measured, for the findings that do not name a timer.
    let silence = idle_ms.map_or_else(String::new, |ms| {
        format!(" after {} of silence", short_duration(ms))
    });
    if expected_drop {
        // Nothing to add about how TCP ended: it is the failure itself.
    } else if let (Some(why), Some(ms)) = (idle, idle_ms) {
        out.push(idle_finding(who, ending == ConnectionEnding::Rst, ms, &why));
    } else {
        match ending {
            ConnectionEnding::FinWithoutClose => out.push(Finding::new(
                Code::CloseFrameMissing,
                match late {
                    Some(p) => format!("the {who} closed TCP (FIN) without a close frame; the {}'s close frame came only after that FIN, too late for a closing handshake; applications report 1006 (abnormal closure)", p.as_str()),
                    None => format!("the {who} closed TCP (FIN){silence} without a close frame from either side; applications report 1006 (abnormal closure)"),
                },
            )),
            ConnectionEnding::Clean if reset => out.push(Finding::new(
                Code::ResetAfterClose,
                "TCP ended with an RST after both close frames were exchanged: the close itself was clean",
            )),
            ConnectionEnding::Rst => {
                let when = if let Some(p) = late {
                    format!("with no close frame (the {}'s close frame came only after the reset); applications report 1006 (abnormal closure)", p.as_str())
                } else if close.initiator.is_some() {
                    "during the close handshake".to_owned()
                } else {
                    format!("{silence} with no close frame; applications report 1006 (abnormal closure)")
                };
                out.push(Finding::new(
                    Code::ConnectionReset,
                    format!("the {who} reset the connection (RST) {}", when.trim_start()),
                ));
            }
            ConnectionEnding::CloseNotAnswered => {
                let init = close.initiator.unwrap_or(Peer::Client);
                out.push(Finding::new(
                    Code::CloseNotAnswered,
                    format!(
                        "the {} sent a close frame but the {} never answered it before TCP closed (RFC 6455 §5.5.1)",
                        init.as_str(),
                        init.other().as_str()
                    ),
                ));
            }
            _ => {}
        }
    }
    for (peer, cf) in [(Peer::Client, &close.client), (Peer::Server, &close.server)] {
        let Some(cf) = cf else { continue };
        let Some(code) = cf.code else { continue };
        // An echoed code says nothing new: report the initiator's reason only.
        if close.initiator != Some(peer) {
            continue;
        }
        let reason = if cf.reason.is_empty() {
            String::new()
        } else {
            format!(" {:?}", cf.reason)
        };
        let f = match close_code_kind(code) {
            CloseCodeKind::Error => Finding::new(
                Code::CloseError,
                format!(
                    "the {} closed with {code} ({}){reason}",
                    peer.as_str(),
                    close_code_meaning(code)
                ),
            ),
            CloseCodeKind::Application => Finding::new(
                Code::CloseApplication,
                format!(
                    "the {} closed with application code {code}{reason}",
                    peer.as_str()
                ),
            ),
            _ => continue,
        };
        out.push(f.packets(&[cf.packet]).evidence(Evidence::CloseFrame {
            sender: sender(peer),
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::event::CloseFrame;
    use crate::websocket::testing::{client, close, codes, end, feed, plain, server};

    fn tcp(ending: Ending, rst: bool) -> TcpEnd {
        TcpEnd {
            ending,
            at: Timestamp(0),
            rst,
        }
    }

    fn frame(code: u16, reason: &str, packet: u64) -> Option<CloseFrame> {
        Some(CloseFrame {
            code: Some(code),
            reason: reason.to_owned(),
            packet,
            ts: Timestamp(0),
        })
    }

    #[test]
    fn tcp_and_close_frames_classify_the_ending() {
        let none = CloseInfo::default();
        let one = CloseInfo {
            client: frame(1000, "", 1),
            initiator: Some(Peer::Client),
            ..CloseInfo::default()
        };
        let both = CloseInfo {
            server: frame(1000, "", 2),
            handshake_completed: true,
            ..one.clone()
        };
        let cases = [
            (
                tcp(Ending::CaptureEnded, true),
                &both,
                ConnectionEnding::Open,
            ),
            (
                tcp(Ending::Evicted, false),
                &both,
                ConnectionEnding::Evicted,
            ),
            // An RST after both close frames ends a clean close; before it, it is a reset.
            (tcp(Ending::ServerRst, true), &both, ConnectionEnding::Clean),
            (tcp(Ending::ServerFin, true), &both, ConnectionEnding::Clean),
            (tcp(Ending::ClientRst, true), &one, ConnectionEnding::Rst),
            (tcp(Ending::ServerRst, true), &none, ConnectionEnding::Rst),
            (
                tcp(Ending::ServerFin, false),
                &both,
                ConnectionEnding::Clean,
            ),
            (
                tcp(Ending::ClientFin, false),
                &one,
                ConnectionEnding::CloseNotAnswered,
            ),
            (
                tcp(Ending::ClientFin, false),
                &none,
                ConnectionEnding::FinWithoutClose,
            ),
        ];
        for (t, close, want) in cases {
            assert_eq!(classify(&t, close), want, "{t:?}");
        }
    }

    #[test]
    fn a_close_frame_after_the_other_sides_teardown_opens_no_handshake() {
        let client_close_at = |ns: i64| CloseInfo {
            client: Some(CloseFrame {
                code: Some(1000),
                reason: String::new(),
                packet: 7,
                ts: Timestamp(ns),
            }),
            initiator: Some(Peer::Client),
            ..CloseInfo::default()
        };
        let at = |ending, rst| TcpEnd {
            ending,
            at: Timestamp(1_000),
            rst,
        };
        let late = client_close_at(2_000);
        // After the server's FIN (an RST answering it or not): the server's FIN without a
        // close frame. At the FIN's own time or before it: the server did not answer it.
        for (tcp, close, want) in [
            (
                at(Ending::ServerFin, false),
                &late,
                ConnectionEnding::FinWithoutClose,
            ),
            (
                at(Ending::ServerFin, true),
                &late,
                ConnectionEnding::FinWithoutClose,
            ),
            (at(Ending::ServerRst, true), &late, ConnectionEnding::Rst),
            (
                at(Ending::ServerFin, false),
                &client_close_at(1_000),
                ConnectionEnding::CloseNotAnswered,
            ),
            (
                at(Ending::ServerFin, true),
                &client_close_at(500),
                ConnectionEnding::Rst,
            ),
            // The client's own FIN after its close: the server did not answer in time.
            (
                at(Ending::ClientFin, false),
                &late,
                ConnectionEnding::CloseNotAnswered,
            ),
        ] {
            assert_eq!(classify(&tcp, close), want, "{tcp:?} {close:?}");
        }
        let findings = |tcp: TcpEnd| {
            let ending = classify(&tcp, &late);
            let closer = tcp_closer(tcp.ending);
            let f = ending_findings(ending, closer, &tcp, Some(0), 2_000, &late, false);
            assert_eq!(f.len(), 1, "{f:?}");
            (f[0].code, f[0].message.clone())
        };
        let (code, message) = findings(at(Ending::ServerFin, true));
        assert_eq!(code, Code::CloseFrameMissing);
        assert!(
            message.contains("the server closed TCP (FIN) without a close frame; the client's close frame came only after that FIN")
                && !message.contains("silence"),
            "{message}"
        );
        let (code, message) = findings(at(Ending::ServerRst, true));
        assert_eq!(code, Code::ConnectionReset);
        assert!(
            !message.contains("during the close handshake")
                && message.contains("the client's close frame came only after the reset"),
            "{message}"
        );
    }

    #[test]
    fn a_failed_handshake_expects_the_drop_and_only_the_initiator_code_counts() {
        let none = CloseInfo::default();
        let f = ending_findings(
            ConnectionEnding::FinWithoutClose,
            Some(Peer::Client),
            &tcp(Ending::ClientFin, false),
            Some(60_000_000_000),
            60_000_000_000,
            &none,
            true,
        );
        assert!(f.is_empty(), "{f:?}");
        // The server initiated with 1011; the client's echo of 4000 is not reported.
        let close = CloseInfo {
            server: frame(1011, "boom", 9),
            client: frame(4000, "", 10),
            initiator: Some(Peer::Server),
            handshake_completed: true,
        };
        let f = ending_findings(
            ConnectionEnding::Clean,
            None,
            &tcp(Ending::ClientFin, false),
            None,
            0,
            &close,
            false,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::CloseError);
        assert!(f[0].message.contains("1011") && f[0].message.contains("\"boom\""));
        assert_eq!(f[0].packets, [9]);
        assert_eq!(
            f[0].evidence,
            [Evidence::CloseFrame {
                sender: crate::finding::FrameSender::Server
            }]
        );
    }

    #[test]
    fn an_idle_teardown_is_not_blamed_on_a_peer_that_sent_a_close_frame() {
        let close = CloseInfo {
            server: frame(1000, "", 3),
            initiator: Some(Peer::Server),
            ..CloseInfo::default()
        };
        let f = ending_findings(
            ConnectionEnding::CloseNotAnswered,
            Some(Peer::Server),
            &tcp(Ending::ServerFin, false),
            Some(60_000_000_000),
            60_000_000_000,
            &close,
            false,
        );
        let got: Vec<&str> = f.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(got, ["close_not_answered"]);
    }

    #[test]
    fn endings_without_close_frames() {
        let mut s = plain();
        feed(&mut s, Peer::Server, &server(0x81, b"x"));
        let r = s.finish(
            TcpEnd {
                ending: Ending::ServerRst,
                at: Timestamp(300_000_000),
                rst: true,
            },
            Some(Peer::Server),
        );
        assert_eq!(r.ending, ConnectionEnding::Rst);
        assert_eq!(codes(&r), ["connection_reset"]);
        let mut s = plain();
        feed(&mut s, Peer::Client, &client(0x88, &close(1000, "")));
        let r = end(s);
        assert_eq!(r.ending, ConnectionEnding::CloseNotAnswered);
        assert_eq!(codes(&r), ["close_not_answered"]);
    }

    #[test]
    fn a_reset_after_both_close_frames_is_a_clean_ending_with_an_info_finding() {
        let mut s = plain();
        feed(&mut s, Peer::Client, &client(0x88, &close(1000, "")));
        feed(&mut s, Peer::Server, &server(0x88, &close(1000, "")));
        let r = s.finish(
            TcpEnd {
                ending: Ending::ServerRst,
                at: Timestamp(300_000_000),
                rst: true,
            },
            Some(Peer::Server),
        );
        assert_eq!(r.ending, ConnectionEnding::Clean);
        assert_eq!(codes(&r), ["reset_after_close"]);
        let f = &r.findings[0];
        assert_eq!(f.severity, crate::finding::Severity::Info);
        assert!(!f.message.contains("1006") && !f.hint.contains("report 1006"));
        // Only one close frame before the RST: still a warning.
        let mut s = plain();
        feed(&mut s, Peer::Client, &client(0x88, &close(1000, "")));
        let r = s.finish(
            TcpEnd {
                ending: Ending::ServerRst,
                at: Timestamp(300_000_000),
                rst: true,
            },
            Some(Peer::Server),
        );
        assert_eq!(r.ending, ConnectionEnding::Rst);
        assert_eq!(codes(&r), ["connection_reset"]);
        assert!(r.findings[0].message.contains("during the close handshake"));
    }

    fn cause(silence_ms: f64, lifetime_ms: f64, rst: bool) -> Option<String> {
        idle_cause(silence_ms, lifetime_ms, rst, &IdleEvidence::default())
    }

    #[test]
    fn an_idle_timeout_is_named_only_when_the_silence_matches_a_known_timer() {
        // Vendor defaults, within 0.5 s + 1 %.
        assert!(cause(60_020.0, 61_000.0, false).unwrap().contains("nginx"));
        assert!(cause(58_950.0, 61_000.0, false).unwrap().contains("nginx"));
        assert_eq!(cause(58_800.0, 61_000.0, false), None);
        assert!(cause(100_300.0, 200_000.0, false)
            .unwrap()
            .contains("Cloudflare"));
        assert!(cause(350_900.0, 400_000.0, true).unwrap().contains("NLB"));
        // Azure drops the flow silently unless it resets it: only an RST is its timer.
        assert!(cause(240_100.0, 300_000.0, true).unwrap().contains("Azure"));
        assert_eq!(cause(240_100.0, 300_000.0, false), None);
        // Google's timer counts the whole lifetime, not the silence.
        assert!(cause(2_000.0, 30_050.0, false).unwrap().contains("Google"));
        // A round number alone is no evidence: the curl exiting after 1 s, either
        // side of the second, gets the same answer.
        assert_eq!(cause(1_000.8, 1_000.8, false), None);
        assert_eq!(cause(999.8, 999.8, false), None);
        assert_eq!(cause(2_001.0, 2_001.0, false), None);
        assert_eq!(cause(37_400.0, 40_000.0, false), None);
    }

    #[test]
    fn user_timeouts_and_proxy_legs_are_evidence_too() {
        let user = IdleEvidence {
            user_timeouts_ms: &[2_000.0, 45_000.0],
            closing_proxy: None,
        };
        let why = idle_cause(2_003.0, 5_000.0, false, &user).unwrap();
        assert!(why.contains("--proxy-idle-timeout 2.0 s"), "{why}");
        assert!(idle_cause(44_600.0, 50_000.0, false, &user).is_some());
        assert_eq!(idle_cause(3_000.0, 5_000.0, false, &user), None);
        let proxy = IdleEvidence {
            user_timeouts_ms: &[],
            closing_proxy: Some("the proxy nginx at 10.0.0.2:80"),
        };
        let why = idle_cause(1_234.0, 5_000.0, false, &proxy).unwrap();
        assert!(why.contains("the proxy nginx at 10.0.0.2:80"), "{why}");
    }

    #[test]
    fn a_silent_teardown_reports_the_silence_as_measured() {
        // No timer matches: the same code on both sides of one second, the silence in words.
        for (at, words) in [(1_000_800_000, "1.0 s"), (999_800_000, "999.8 ms")] {
            let mut s = plain();
            let r = s_finish(&mut s, at);
            assert_eq!(codes(&r), ["close_frame_missing"]);
            assert!(
                r.findings[0]
                    .message
                    .contains(&format!("after {words} of silence")),
                "{}",
                r.findings[0].message
            );
        }
        // A teardown 60 s after the last frame, no close frame: nginx's or an ALB's timer.
        let mut s = plain();
        feed(&mut s, Peer::Server, &server(0x81, b"x"));
        let r = s.finish(
            TcpEnd {
                ending: Ending::ServerFin,
                at: Timestamp(60_004_000_000),
                rst: false,
            },
            Some(Peer::Server),
        );
        assert_eq!(codes(&r), ["idle_timeout"]);
        assert!((r.max_silence_ms - 60_004.0).abs() < 1.0);
        // What the engine learns later turns the measured silence into a named timer.
        let mut s = plain();
        let mut r = s_finish(&mut s, 2_001_000_000);
        name_idle_timeout(
            &mut r,
            &IdleEvidence {
                user_timeouts_ms: &[2_000.0],
                closing_proxy: None,
            },
        );
        assert_eq!(codes(&r), ["idle_timeout"]);
    }

    /// Ends `s` with a client FIN at `at` ns, nothing sent.
    fn s_finish(s: &mut crate::websocket::session::Session, at: i64) -> ConnectionRecord {
        let taken = std::mem::replace(s, plain());
        taken.finish(
            TcpEnd {
                ending: Ending::ClientFin,
                at: Timestamp(at),
                rst: false,
            },
            Some(Peer::Client),
        )
    }
}
