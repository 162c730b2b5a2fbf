//! What an HTTP/2 stream's own end adds to its WebSocket connection record: the stream's
//! RST_STREAM and the connection's GOAWAY stand where TCP's RST and FIN stand for an
//! HTTP/1.1 WebSocket, so the ending findings the WebSocket layer wrote in TCP's words are
//! reworded for the stream, and a GOAWAY sent while the WebSocket was open is a finding of
//! its own (graceful, or the cause of the end).
//!
//! In: the record the WebSocket session finished and the stream's [`StreamEnding`]. Out: the
//! same record with its findings adjusted. Pure; never looks at bytes.

use crate::event::{CloseInfo, ConnectionRecord, H2Reset};
use crate::finding::{Code, Finding};

/// The last stream id a server sends in the first GOAWAY of a graceful shutdown (RFC 9113
/// §6.8: 2³¹−1, "all streams may still be processed").
const GRACEFUL_LAST_STREAM: u32 = (1 << 31) - 1;

/// Adjusts `record` (the WebSocket carried by `stream`) to how the stream ended: `reset` is
/// the RST_STREAM that ended it, `goaway` the first GOAWAY sent while it was open.
pub(crate) fn stream_findings(
    record: &mut ConnectionRecord,
    stream: u32,
    reset: Option<&H2Reset>,
    goaway: Option<&H2Reset>,
) {
    adjust(&mut record.findings, &record.close, stream, reset, goaway);
}

/// [`stream_findings`] on a record's findings and closing handshake.
fn adjust(
    findings: &mut Vec<Finding>,
    close: &CloseInfo,
    stream: u32,
    reset: Option<&H2Reset>,
    goaway: Option<&H2Reset>,
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
    if let Some(g) = goaway {
        if let Some(f) = goaway_finding(g, stream, close) {
            findings.push(f);
        }
    }
}

/// The finding for a GOAWAY sent while the WebSocket on `stream` was open, unless its close
/// handshake was already complete by then (the GOAWAY then ends nothing of it).
fn goaway_finding(g: &H2Reset, stream: u32, close: &CloseInfo) -> Option<Finding> {
    let before =
        |c: &Option<crate::event::CloseFrame>| c.as_ref().is_some_and(|c| c.packet < g.packet);
    if before(&close.client) && before(&close.server) {
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
        let after = if close.handshake_completed {
            "it did, and closed cleanly"
        } else {
            "it ended without completing a close handshake"
        };
        Finding::new(
            Code::H2GoawayGraceful,
            format!("the {by} sent GOAWAY NO_ERROR ({last_text}{debug}) while this WebSocket was open on stream {stream}: a graceful shutdown, which lets the stream finish (RFC 9113 §6.8); {after}"),
        )
    } else {
        let why = if g.code == 0 {
            format!("its last stream is below {stream}, so the stream was never processed")
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
    use crate::capture::Timestamp;
    use crate::event::{CloseFrame, Peer};

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

    #[test]
    fn a_graceful_goaway_is_info_and_an_error_goaway_is_the_cause() {
        let open = CloseInfo::default();
        let g = goaway_finding(&goaway(0, GRACEFUL_LAST_STREAM, 9), 1, &open).unwrap();
        assert_eq!(g.code, Code::H2GoawayGraceful);
        assert!(g.message.contains("2^31-1"), "{}", g.message);
        let e = goaway_finding(&goaway(2, 2003, 9), 1, &open).unwrap();
        assert_eq!(e.code, Code::H2GoawayClosedWebsocket);
        assert!(
            e.message
                .contains("GOAWAY INTERNAL_ERROR (last stream 2003"),
            "{}",
            e.message
        );
        assert_eq!(e.packets, [9]);
        // NO_ERROR that does not cover the stream refused it.
        let below = goaway_finding(&goaway(0, 1, 9), 3, &open).unwrap();
        assert_eq!(below.code, Code::H2GoawayClosedWebsocket);
    }

    #[test]
    fn a_goaway_after_both_close_frames_ends_nothing() {
        let done = CloseInfo {
            client: close(5),
            server: close(6),
            initiator: Some(Peer::Client),
            handshake_completed: true,
        };
        assert!(goaway_finding(&goaway(2, 1, 9), 1, &done).is_none());
        assert!(goaway_finding(&goaway(2, 1, 6), 1, &done).is_some());
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
        adjust(&mut findings, &CloseInfo::default(), 5, Some(&reset), None);
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
