//! What an HTTP/2 stream's own end adds to its WebSocket connection record: the stream's
//! RST_STREAM and the connection's GOAWAY stand where TCP's RST and FIN stand for an
//! HTTP/1.1 WebSocket, so the ending findings the WebSocket layer wrote in TCP's words are
//! reworded for the stream, and a GOAWAY sent while the WebSocket was open is a finding of
//! its own (graceful, or the cause of the end).
//!
//! In: the record the WebSocket session finished, the RST_STREAM that ended the stream and
//! the first GOAWAY sent while it was open (from [`super::connection::H2Connection`]). Out:
//! the same record with its findings adjusted and that GOAWAY kept on it for the correlation
//! stage. Pure; never looks at bytes.

use crate::capture::Timestamp;
use crate::event::{
    CloseInfo, ConnectionEnding, ConnectionRecord, Ending, H2Goaway, H2Reset, Peer,
};
use crate::finding::{Code, Finding};

/// The last stream id a server sends in the first GOAWAY of a graceful shutdown (RFC 9113
/// §6.8: 2³¹−1, "all streams may still be processed").
const GRACEFUL_LAST_STREAM: u32 = (1 << 31) - 1;

/// Adjusts `record` (the WebSocket carried by `stream`) to how the stream ended: `reset` is
/// the RST_STREAM that ended it, `goaway` the first GOAWAY sent while it was open and when.
pub(crate) fn stream_findings(
    record: &mut ConnectionRecord,
    stream: u32,
    reset: Option<&H2Reset>,
    goaway: Option<(&H2Reset, Timestamp)>,
) {
    let end = End {
        close: &record.close,
        ending: record.ending,
        tcp_end: record.tcp_end,
        at: record.end_ts,
    };
    adjust(&mut record.findings, &end, stream, reset, goaway);
    // Most severe first, as the WebSocket session left them: a GOAWAY that ended the stream
    // (an error) reads before the teardown it caused.
    record
        .findings
        .sort_by_key(|f| std::cmp::Reverse(f.severity));
    // Kept for the correlation stage: a proxy hop's other leg reads the proxy's shutdown
    // from it (correlate::hop::proxy_shutdown).
    record.h2_goaway = goaway.map(|(frame, ts)| {
        Box::new(H2Goaway {
            frame: frame.clone(),
            ts,
        })
    });
}

/// What of a record's end the adjustments read.
struct End<'a> {
    close: &'a CloseInfo,
    ending: ConnectionEnding,
    tcp_end: Ending,
    at: Timestamp,
}

/// [`stream_findings`] on a record's findings.
fn adjust(
    findings: &mut Vec<Finding>,
    end: &End<'_>,
    stream: u32,
    reset: Option<&H2Reset>,
    goaway: Option<(&H2Reset, Timestamp)>,
) {
    if let Some(reset) = reset {
        let frame = format!("RST_STREAM {}", code_name(reset));
        for f in findings.iter_mut() {
            match f.code {
                Code::ResetAfterClose => {
                    f.message = format!(
                        "the {} reset the HTTP/2 stream ({frame}) after both close frames were exchanged: the close itself was clean (browsers end WebSocket streams this way)",
                        reset.by.as_str()
                    );
                    f.packets = vec![reset.packet];
                }
                Code::ConnectionReset => {
                    f.message = f.message.replacen(
                        "reset the connection (RST)",
                        &format!("reset the HTTP/2 stream ({frame})"),
                        1,
                    );
                    f.packets = vec![reset.packet];
                }
                _ => {}
            }
        }
    }
    let Some((g, at)) = goaway else { return };
    let Some(f) = goaway_finding(g, stream, end, at) else {
        return;
    };
    // A teardown after a GOAWAY, before any close frame, is that GOAWAY's doing whatever the
    // silence before it looked like: the shutdown's deadline after a graceful one, the
    // connection error (or the refused stream) after any other. No idle timer is claimed (the
    // correlation stage leaves such a record alone too, websocket::ending::silent_teardown).
    if !end.close.handshake_completed {
        let torn = findings.iter_mut().find(|f| {
            matches!(
                f.code,
                Code::IdleTimeout | Code::ConnectionReset | Code::CloseFrameMissing
            )
        });
        if let Some(torn) = torn {
            let rst = end.ending == ConnectionEnding::Rst;
            let code = if rst {
                Code::ConnectionReset
            } else {
                Code::CloseFrameMissing
            };
            let what = match reset {
                Some(r) => format!("reset the HTTP/2 stream (RST_STREAM {})", code_name(r)),
                None if rst => "tore the connection down (RST)".to_owned(),
                None => "closed the connection (FIN)".to_owned(),
            };
            // The silence before a shutdown's deadline looks like an idle timer's, so the
            // graceful case says it was none; after an error the GOAWAY is the whole story.
            let cause = if f.code == Code::H2GoawayGraceful {
                format!(
                    "the {}'s graceful GOAWAY, with no close frame: the shutdown's deadline ended the WebSocket, not an idle timeout",
                    g.by.as_str()
                )
            } else {
                format!(
                    "the {}'s GOAWAY {}, with no close frame: the GOAWAY ended the WebSocket",
                    g.by.as_str(),
                    code_name(g)
                )
            };
            let packet = reset.map_or(g.packet, |r| r.packet);
            *torn = Finding::new(
                code,
                format!(
                    "the {} {what} {} after {cause}; applications report 1006 (abnormal closure)",
                    closer(end.tcp_end),
                    since(at, end.at),
                ),
            )
            .packets(&[packet]);
        }
    }
    findings.push(f);
}

/// Who sent the first FIN or RST, for a sentence.
fn closer(e: Ending) -> &'static str {
    match e {
        Ending::ClientFin | Ending::ClientRst => "client",
        Ending::ServerFin | Ending::ServerRst => "server",
        _ => "one side",
    }
}

/// `to - from` in words (milliseconds below a second, else seconds with one decimal).
fn since(from: Timestamp, to: Timestamp) -> String {
    let ns = to.0.saturating_sub(from.0).max(0);
    #[allow(clippy::cast_precision_loss)]
    let ms = ns as f64 / 1e6;
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// The finding for a GOAWAY sent at `at` while the WebSocket on `stream` was open, unless it
/// ends nothing of it: its close handshake was already complete by then, the teardown came
/// first (a peer that answers the other's FIN with a GOAWAY), or it is the client's NO_ERROR
/// (its last stream id counts the server's streams, RFC 9113 §6.8, so it says nothing of the
/// client's own extended CONNECT: the client is leaving, and the ending findings say how).
fn goaway_finding(g: &H2Reset, stream: u32, end: &End<'_>, at: Timestamp) -> Option<Finding> {
    let close = end.close;
    let before =
        |c: &Option<crate::event::CloseFrame>| c.as_ref().is_some_and(|c| c.packet < g.packet);
    if before(&close.client) && before(&close.server) {
        return None;
    }
    let torn_down = !matches!(
        end.ending,
        ConnectionEnding::Open | ConnectionEnding::Evicted
    );
    if (torn_down && at > end.at) || (g.by == Peer::Client && g.code == 0) {
        return None;
    }
    let last = g.last_stream.unwrap_or(0);
    let last_text = if last == GRACEFUL_LAST_STREAM {
        "last stream 2^31-1, the first GOAWAY of a graceful shutdown".to_owned()
    } else {
        format!("last stream {last}")
    };
    let debug = g
        .debug
        .as_deref()
        .map_or_else(String::new, |d| format!(", debug \"{d}\""));
    let by = g.by.as_str();
    let graceful = g.code == 0 && last >= stream;
    let f = if graceful {
        let after = match end.ending {
            _ if close.handshake_completed => "it did, and closed cleanly".to_owned(),
            ConnectionEnding::Open => "the capture ended with it still open".to_owned(),
            _ => format!(
                "it did not: the connection was torn down {} later without a close handshake (a shutdown deadline: HAProxy hard-stop-after, hypercorn graceful_timeout)",
                since(at, end.at)
            ),
        };
        Finding::new(
            Code::H2GoawayGraceful,
            format!("the {by} sent GOAWAY NO_ERROR ({last_text}{debug}) while this WebSocket was open on stream {stream}: a graceful shutdown, which lets the stream finish (RFC 9113 §6.8); {after}"),
        )
    } else {
        let why = if g.code == 0 {
            format!(
                "its last stream id is below {stream}, so its sender will not finish the stream"
            )
        } else {
            "a connection error closes every stream (RFC 9113 §5.4.1)".to_owned()
        };
        Finding::new(
            Code::H2GoawayClosedWebsocket,
            format!("the {by} ended the HTTP/2 connection with GOAWAY {} ({last_text}{debug}) while this WebSocket was open on stream {stream}: {why}, so the WebSocket ended with it", code_name(g)),
        )
    };
    Some(f.packets(&[g.packet]))
}

/// The code's RFC 9113 §7 name, or its number.
fn code_name(r: &H2Reset) -> String {
    r.name
        .map_or_else(|| format!("0x{:x}", r.code), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::CloseFrame;

    fn goaway(code: u32, last: u32, packet: u64) -> H2Reset {
        H2Reset {
            by: Peer::Server,
            code,
            name: crate::h2::frame::ErrorCode(code).name(),
            last_stream: Some(last),
            debug: None,
            packet,
        }
    }

    fn close(packet: u64) -> Option<CloseFrame> {
        Some(CloseFrame {
            code: Some(1000),
            reason: String::new(),
            packet,
            ts: Timestamp(0),
        })
    }

    /// An end torn down by the server at 3 s.
    fn torn(close: &CloseInfo, ending: ConnectionEnding) -> End<'_> {
        End {
            close,
            ending,
            tcp_end: Ending::ServerRst,
            at: Timestamp(3_000_000_000),
        }
    }

    #[test]
    fn a_graceful_goaway_is_info_and_an_error_goaway_is_the_cause() {
        let open = CloseInfo::default();
        let end = torn(&open, ConnectionEnding::Rst);
        let at = Timestamp(1_000_000_000);
        let g = goaway_finding(&goaway(0, GRACEFUL_LAST_STREAM, 9), 1, &end, at).unwrap();
        assert_eq!(g.code, Code::H2GoawayGraceful);
        assert!(g.message.contains("2^31-1"), "{}", g.message);
        assert!(g.message.contains("torn down 2.0 s later"), "{}", g.message);
        let e = goaway_finding(&goaway(2, 2003, 9), 1, &end, at).unwrap();
        assert_eq!(e.code, Code::H2GoawayClosedWebsocket);
        assert!(
            e.message
                .contains("GOAWAY INTERNAL_ERROR (last stream 2003"),
            "{}",
            e.message
        );
        assert_eq!(e.packets, [9]);
        // NO_ERROR that does not cover the stream does not let it finish.
        let below = goaway_finding(&goaway(0, 1, 9), 3, &end, at).unwrap();
        assert_eq!(below.code, Code::H2GoawayClosedWebsocket);
    }

    #[test]
    fn a_goaway_after_the_teardown_or_the_clients_no_error_ends_nothing() {
        // hypercorn after a rapid reset (h2c-hypercorn-rapid-reset): its FIN first, then the
        // client's Close and GOAWAY NO_ERROR (last stream 0: no pushed stream).
        let open = CloseInfo::default();
        let end = torn(&open, ConnectionEnding::FinWithoutClose);
        let mut client = goaway(0, 0, 9);
        client.by = Peer::Client;
        let after = Timestamp(3_000_000_001);
        assert!(goaway_finding(&client, 1, &end, after).is_none());
        // Before the teardown too: the client's last stream id counts the server's streams.
        assert!(goaway_finding(&client, 1, &end, Timestamp(0)).is_none());
        // The client's connection error still closes every stream.
        client.code = 1;
        let e = goaway_finding(&client, 1, &end, Timestamp(0)).unwrap();
        assert_eq!(e.code, Code::H2GoawayClosedWebsocket);
        assert!(goaway_finding(&client, 1, &end, after).is_none());
        // A server's GOAWAY after its own teardown ended nothing either; in the same packet
        // as it, it did.
        let server = goaway(2, 1, 9);
        assert!(goaway_finding(&server, 1, &end, after).is_none());
        assert!(goaway_finding(&server, 1, &end, Timestamp(3_000_000_000)).is_some());
    }

    #[test]
    fn a_goaway_after_both_close_frames_ends_nothing() {
        let done = CloseInfo {
            client: close(5),
            server: close(6),
            initiator: Some(Peer::Client),
            handshake_completed: true,
        };
        let end = torn(&done, ConnectionEnding::Clean);
        let at = Timestamp(0);
        assert!(goaway_finding(&goaway(2, 1, 9), 1, &end, at).is_none());
        assert!(goaway_finding(&goaway(2, 1, 6), 1, &end, at).is_some());
    }

    #[test]
    fn a_teardown_after_a_graceful_goaway_is_the_shutdown_not_an_idle_timeout() {
        let open = CloseInfo::default();
        let mut findings = vec![Finding::new(
            Code::IdleTimeout,
            "the server tore the connection down (RST) after 2.4 s: likely its idle timeout",
        )];
        let g = goaway(0, GRACEFUL_LAST_STREAM, 29);
        let end = torn(&open, ConnectionEnding::Rst);
        adjust(
            &mut findings,
            &end,
            1,
            None,
            Some((&g, Timestamp(500_000_000))),
        );
        let codes: Vec<Code> = findings.iter().map(|f| f.code).collect();
        assert_eq!(codes, [Code::ConnectionReset, Code::H2GoawayGraceful]);
        assert!(
            findings[0].message.starts_with(
                "the server tore the connection down (RST) 2.5 s after the server's graceful GOAWAY"
            ),
            "{}",
            findings[0].message
        );
        assert!(!findings[0].message.contains("likely its idle timeout"));
        // Before the correlation stage names a timer, the teardown is a connection_reset; a
        // RST_STREAM that ended the stream is named as such.
        let mut findings = vec![Finding::new(
            Code::ConnectionReset,
            "the server reset the connection (RST) after 2.4 s",
        )];
        let cancel = H2Reset {
            by: Peer::Server,
            code: 8,
            name: Some("CANCEL"),
            last_stream: None,
            debug: None,
            packet: 31,
        };
        adjust(
            &mut findings,
            &end,
            1,
            Some(&cancel),
            Some((&g, Timestamp(1_000_000_000))),
        );
        assert!(
            findings[0].message.starts_with(
                "the server reset the HTTP/2 stream (RST_STREAM CANCEL) 2.0 s after the server's graceful GOAWAY"
            ),
            "{}",
            findings[0].message
        );
        assert_eq!(findings[0].packets, [31]);
    }

    #[test]
    fn a_teardown_after_an_error_goaway_is_the_goaway_not_an_idle_timeout() {
        // HAProxy's answer to a client's WINDOW_UPDATE of 0 (h2c-haproxy-goaway-protocol-error):
        // GOAWAY PROTOCOL_ERROR, RST_STREAM NO_ERROR on the open WebSocket stream, the end.
        let open = CloseInfo::default();
        let end = torn(&open, ConnectionEnding::Rst);
        let no_error = H2Reset {
            by: Peer::Server,
            code: 0,
            name: Some("NO_ERROR"),
            last_stream: None,
            debug: None,
            packet: 28,
        };
        for before in [Code::IdleTimeout, Code::ConnectionReset] {
            let mut findings = vec![Finding::new(before, "likely its idle timeout")];
            let g = goaway(1, 1, 26);
            adjust(
                &mut findings,
                &end,
                1,
                Some(&no_error),
                Some((&g, Timestamp(2_999_000_000))),
            );
            let codes: Vec<Code> = findings.iter().map(|f| f.code).collect();
            assert_eq!(
                codes,
                [Code::ConnectionReset, Code::H2GoawayClosedWebsocket]
            );
            assert_eq!(
                findings[0].message,
                "the server reset the HTTP/2 stream (RST_STREAM NO_ERROR) 1.0 ms after the server's GOAWAY PROTOCOL_ERROR, with no close frame: the GOAWAY ended the WebSocket; applications report 1006 (abnormal closure)"
            );
            assert_eq!(findings[0].packets, [28]);
        }
        // A NO_ERROR whose last stream is below the WebSocket's refuses to finish it: the same.
        let mut findings = vec![Finding::new(Code::IdleTimeout, "idle")];
        adjust(
            &mut findings,
            &end,
            3,
            None,
            Some((&goaway(0, 1, 29), Timestamp(0))),
        );
        assert_eq!(findings[0].code, Code::ConnectionReset);
        assert!(
            findings[0]
                .message
                .contains("after the server's GOAWAY NO_ERROR, with no close frame"),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn a_reset_after_close_names_the_stream_reset_not_tcp() {
        let mut findings = vec![Finding::new(Code::ResetAfterClose, "TCP ended with an RST")];
        findings.push(Finding::new(
            Code::ConnectionReset,
            "the client reset the connection (RST) during the close handshake",
        ));
        let reset = H2Reset {
            by: Peer::Client,
            code: 8,
            name: Some("CANCEL"),
            last_stream: None,
            debug: None,
            packet: 39,
        };
        let close = CloseInfo::default();
        adjust(
            &mut findings,
            &torn(&close, ConnectionEnding::Rst),
            5,
            Some(&reset),
            None,
        );
        let m: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
        assert!(
            m[0].starts_with(
                "the client reset the HTTP/2 stream (RST_STREAM CANCEL) after both close frames"
            ),
            "{}",
            m[0]
        );
        assert_eq!(
            m[1],
            "the client reset the HTTP/2 stream (RST_STREAM CANCEL) during the close handshake"
        );
        assert!(findings.iter().all(|f| f.packets == [39]));
    }
}
