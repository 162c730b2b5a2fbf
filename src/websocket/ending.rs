//! How a WebSocket connection ended: close frames (RFC 6455 §7) combined with how TCP
//! ended, classified into a [`ConnectionEnding`], and the findings that tell the story (no
//! close frame, reset, unanswered close, error or application close codes, and a teardown
//! after a round number of silent seconds: the signature of a proxy's idle timeout). A reset
//! after both close frames is a clean ending with an info finding: many stacks close that way.
//!
//! In: the close frames both sides sent, how TCP ended ([`TcpEnd`]) and how long the
//! connection had been silent. Out: the classification and its findings. Pure: looks at no
//! frame and keeps no state.

use crate::capture::Timestamp;
use crate::event::{CloseInfo, ConnectionEnding, Ending, Peer};
use crate::finding::{Code, Evidence, Finding};
use crate::websocket::frame::{close_code_kind, close_code_meaning, CloseCodeKind};
use crate::websocket::rules::sender;

/// Silence before a teardown that can be an idle timeout.
const MIN_IDLE_SECONDS: f64 = 1.0;

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

/// Combines how TCP ended with the close frames seen.
pub(crate) fn classify(tcp: &TcpEnd, close: &CloseInfo) -> ConnectionEnding {
    match tcp.ending {
        Ending::CaptureEnded => ConnectionEnding::Open,
        Ending::Evicted => ConnectionEnding::Evicted,
        // The WebSocket closing handshake is done: an RST after it (unread data at close(),
        // SO_LINGER 0) loses nothing, and clients report the close code, not 1006.
        _ if close.handshake_completed => ConnectionEnding::Clean,
        _ if tcp.rst => ConnectionEnding::Rst,
        _ if close.initiator.is_some() => ConnectionEnding::CloseNotAnswered,
        _ => ConnectionEnding::FinWithoutClose,
    }
}

/// The findings of an ending. `closer` sent the first FIN/RST; `reset` says an RST was seen;
/// `idle_ns` is the silence before a teardown (`None` when the connection was not torn
/// down); `handshake_failed` says the opening handshake failed and the client sent no frame,
/// so a dropped connection is the client failing it, as it must.
pub(crate) fn ending_findings(
    ending: ConnectionEnding,
    closer: Option<Peer>,
    reset: bool,
    idle_ns: Option<i64>,
    close: &CloseInfo,
    handshake_failed: bool,
) -> Vec<Finding> {
    let mut out = Vec::new();
    // RFC 6455 §4.1: after a failed handshake the client must _Fail the WebSocket
    // Connection_ (drop TCP, no close frame); the handshake record already says why.
    let expected_drop = handshake_failed && !close.handshake_completed;
    let who = closer.map_or("one side", Peer::as_str);
    let closer_sent_close = closer.is_some_and(|p| match p {
        Peer::Client => close.client.is_some(),
        Peer::Server => close.server.is_some(),
    });
    #[allow(clippy::cast_precision_loss)]
    let idle_s = idle_ns.map(|n| n as f64 / 1e9);
    let idle = match idle_s {
        Some(s) if !closer_sent_close && !close.handshake_completed => idle_timeout(s),
        _ => None,
    };
    if expected_drop {
        // Nothing to add about how TCP ended: it is the failure itself.
    } else if let (Some(what), Some(s)) = (idle, idle_s) {
        out.push(Finding::new(
            Code::IdleTimeout,
            format!(
                "the {who} tore the connection down ({}) after {s:.1} s with no frames and no close frame: {what}",
                if ending == ConnectionEnding::Rst { "RST" } else { "FIN" }
            ),
        ));
    } else {
        match ending {
            ConnectionEnding::FinWithoutClose => out.push(Finding::new(
                Code::CloseFrameMissing,
                format!("the {who} closed TCP (FIN) without a close frame from either side; applications report 1006 (abnormal closure)"),
            )),
            ConnectionEnding::Clean if reset => out.push(Finding::new(
                Code::ResetAfterClose,
                "TCP ended with an RST after both close frames were exchanged: the close itself was clean",
            )),
            ConnectionEnding::Rst => {
                let when = if close.initiator.is_some() {
                    "during the close handshake"
                } else {
                    "with no close frame; applications report 1006 (abnormal closure)"
                };
                out.push(Finding::new(
                    Code::ConnectionReset,
                    format!("the {who} reset the connection (RST) {when}"),
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

/// Whether a teardown after `seconds` of silence looks like an intermediary's idle timer,
/// and which one. Timers fire on whole seconds after the last byte, so the silence lands
/// just past a round number.
pub(crate) fn idle_timeout(seconds: f64) -> Option<String> {
    if seconds < MIN_IDLE_SECONDS {
        return None;
    }
    let known: &[(f64, &str)] = &[
        (
            30.0,
            "30 s is the default backend timeout of Google Cloud load balancers",
        ),
        (
            60.0,
            "60 s is nginx's default proxy_read_timeout and the AWS ALB default idle timeout",
        ),
        (
            100.0,
            "100 s is Cloudflare's idle timeout for proxied WebSockets",
        ),
        (350.0, "350 s is the AWS NLB idle timeout"),
    ];
    for (n, what) in known {
        if seconds >= *n - 0.5 && seconds <= n * 1.03 + 0.5 {
            return Some(format!("likely an intermediary idle timeout ({what})"));
        }
    }
    let whole = seconds.floor();
    let past = seconds - whole;
    // A timer set to N s fires at N s plus scheduling delay: allow 0.5% or 100 ms past N.
    if past <= (0.005 * whole).max(0.1) {
        return Some(format!(
            "likely an idle timeout of {whole:.0} s in a proxy or load balancer (e.g. nginx proxy_read_timeout {whole:.0}s)"
        ));
    }
    None
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
    fn a_failed_handshake_expects_the_drop_and_only_the_initiator_code_counts() {
        let none = CloseInfo::default();
        let f = ending_findings(
            ConnectionEnding::FinWithoutClose,
            Some(Peer::Client),
            false,
            Some(60_000_000_000),
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
        let f = ending_findings(ConnectionEnding::Clean, None, false, None, &close, false);
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
            false,
            Some(60_000_000_000),
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

    #[test]
    fn idle_timeout_needs_a_round_number_of_seconds() {
        assert!(idle_timeout(60.02).unwrap().contains("nginx"));
        assert!(idle_timeout(100.3).unwrap().contains("Cloudflare"));
        assert!(idle_timeout(2.001).unwrap().contains("2 s"));
        assert_eq!(idle_timeout(0.5), None);
        assert_eq!(idle_timeout(37.4), None);
        // A teardown 60 s after the last frame, no close frame: the seed case.
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
    }
}
