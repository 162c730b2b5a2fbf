//! Words for what the engine decided: how a WebSocket connection ended (its one-line story and
//! the meaning of each ending), where a proxy hop broke, and what the accept check says. The
//! decisions are the engine's; this file only words them, once for every sink.

use super::escape;
use crate::event::{
    BrokenAt, CloseFrame, ConnectionEnding, ConnectionRecord, DirectionStats, Peer,
};

/// The close frames in the order they were sent, each with its sender: the initiator's first
/// (the client's when nobody is known to have initiated).
pub(crate) fn close_order<T>(
    initiator: Option<Peer>,
    client: Option<T>,
    server: Option<T>,
) -> Vec<(Peer, T)> {
    let client = client.map(|c| (Peer::Client, c));
    let server = server.map(|s| (Peer::Server, s));
    let ordered = match initiator {
        Some(Peer::Server) => [server, client],
        _ => [client, server],
    };
    ordered.into_iter().flatten().collect()
}

/// The connection's story in one line, for people: how it ended, the close frames in
/// order, message counts per direction and the duration. Untrusted text is escaped.
#[must_use]
pub(crate) fn connection_story(record: &ConnectionRecord) -> String {
    let close = |(peer, c): (Peer, &CloseFrame)| {
        let code = c
            .code
            .map_or_else(|| "(no code)".to_owned(), |n| n.to_string());
        if c.reason.is_empty() {
            format!("{} {code}", peer.as_str())
        } else {
            // Escaped once (not Debug-quoted on top, which doubled every backslash).
            format!("{} {code} \"{}\"", peer.as_str(), escape(&c.reason))
        }
    };
    let closes: Vec<String> = close_order(
        record.close.initiator,
        record.close.client.as_ref(),
        record.close.server.as_ref(),
    )
    .into_iter()
    .map(close)
    .collect();
    let closes = if closes.is_empty() {
        "no close frame".to_owned()
    } else {
        closes.join(" → ")
    };
    let dir = |s: &DirectionStats| {
        format!(
            "{} msg{} {} B",
            s.messages,
            if s.messages == 1 { "" } else { "s" },
            s.payload_bytes
        )
    };
    let state = if record.ending == ConnectionEnding::Open {
        "still open".to_owned()
    } else {
        format!("closed {}", record.ending.as_str())
    };
    format!(
        "{state}: {closes}; c→s {}, s→c {}, {:.1} s",
        dir(&record.client_to_server),
        dir(&record.server_to_client),
        record.duration_ms / 1000.0
    )
}

/// What a connection ending means, in a few words.
#[must_use]
pub(crate) fn connection_ending_meaning(e: ConnectionEnding) -> &'static str {
    match e {
        ConnectionEnding::Clean => "close frames both ways, then TCP closed",
        ConnectionEnding::CloseNotAnswered => {
            "one side sent a close frame, TCP closed before the other answered"
        }
        ConnectionEnding::FinWithoutClose => {
            "TCP closed (FIN) with no close frame before it; applications report 1006"
        }
        ConnectionEnding::Rst => "TCP reset",
        ConnectionEnding::Open => "still open when the capture ended",
        ConnectionEnding::Evicted => "dropped by wssniff's flow caps",
    }
}

/// The headline of a proxy hop: where the handshake broke.
#[must_use]
pub(crate) fn broken_at_headline(b: BrokenAt) -> &'static str {
    match b {
        BrokenAt::Nowhere => "Passed through intact",
        BrokenAt::ProxyRequest => "Broken by the proxy: the forwarded request cannot upgrade",
        BrokenAt::ProxyResponse => "Broken by the proxy: it changed the upstream's answer",
        BrokenAt::Upstream => "Rejected by the upstream server",
        BrokenAt::Unknown => "Upstream answer not captured",
    }
}

/// What comparing the expected Sec-WebSocket-Accept with the one sent says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AcceptCheck {
    /// The server sent the value the key requires.
    Match,
    /// A 101 whose accept is not the one the key requires (or is missing).
    Mismatch,
    /// No 101, so there was no accept to check.
    NoSwitch,
}

impl AcceptCheck {
    /// The words a sink prints after the two values (it styles them its own way).
    #[must_use]
    pub(crate) fn words(self) -> &'static str {
        match self {
            AcceptCheck::Match => "match",
            AcceptCheck::Mismatch => "mismatch",
            AcceptCheck::NoSwitch => "no 101 response, so no accept to check",
        }
    }
}

/// The accept check of a handshake, `None` when there is neither an expected nor a sent
/// value to compare.
#[must_use]
pub(crate) fn accept_check(
    expected: Option<&str>,
    actual: Option<&str>,
    status: Option<u16>,
) -> Option<AcceptCheck> {
    if expected.is_none() && actual.is_none() {
        return None;
    }
    Some(if expected == actual {
        AcceptCheck::Match
    } else if status == Some(101) {
        AcceptCheck::Mismatch
    } else {
        AcceptCheck::NoSwitch
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_are_ordered_by_who_sent_first() {
        assert_eq!(
            close_order(Some(Peer::Server), Some(1), Some(2)),
            vec![(Peer::Server, 2), (Peer::Client, 1)]
        );
        assert_eq!(
            close_order(None, Some(1), Some(2)),
            vec![(Peer::Client, 1), (Peer::Server, 2)]
        );
        assert_eq!(close_order::<u8>(Some(Peer::Client), None, None), vec![]);
    }

    #[test]
    fn accept_check_words() {
        assert_eq!(accept_check(None, None, Some(101)), None);
        assert_eq!(
            accept_check(Some("a"), Some("a"), Some(101)),
            Some(AcceptCheck::Match)
        );
        assert_eq!(
            accept_check(Some("a"), None, Some(101)),
            Some(AcceptCheck::Mismatch)
        );
        assert_eq!(
            accept_check(Some("a"), None, Some(400)),
            Some(AcceptCheck::NoSwitch)
        );
    }
}
