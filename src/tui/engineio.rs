//! The TUI's Socket.IO tab: one row per Engine.IO session (`engineio_session` records, the
//! sid shortened as everywhere people read it), a [`Listing`](super::tabs::Listing) like the
//! other tabs: filtered as you type (over every column, the connections' addresses, the
//! namespaces, errors and findings), sorted by any column, and opened (Enter or →) to its
//! detail view, drawn by `render::detail`: the story, the open packet, a line per TCP
//! connection named by its part (the open, the polls, the upgrade to WebSocket with its probe,
//! or the WebSocket of a websocket-only client), the upgrade, pings and pongs, namespaces,
//! errors, how it ended and the findings with their fixes. This file says what a session row
//! shows, how it sorts and matches, and how a connection is named. Plain data: no terminal,
//! no I/O.

use std::cmp::Ordering;

use crate::event::{EioConnection, EngineIoSession, Verdict};
use crate::finding::{Finding, Severity};
use crate::present::{engineio_story, escape, format_time_of_day, short_sid};

use super::tabs::{col, ColSpec, Listed};

/// What a connection did for its session: `open`, `poll`, `upgrade` or `websocket` (the
/// only transport of a websocket-only client).
#[must_use]
pub fn role(s: &EngineIoSession, c: &EioConnection) -> &'static str {
    if c.transport == "websocket" {
        if s.upgrade.is_some() {
            "upgrade"
        } else {
            "websocket"
        }
    } else if s
        .open
        .as_ref()
        .is_some_and(|o| o.transport == "polling" && c.first_packet <= o.packet)
    {
        // The open poll (on both legs when a proxy's two legs are captured).
        "open"
    } else {
        "poll"
    }
}

fn mark(b: bool) -> &'static str {
    if b {
        "✓"
    } else {
        "✗"
    }
}

/// What a connection carried for its session, in a few words: the upgrade's status and
/// probe, the WebSocket's handshake, or the polls' request count; then its first packet.
#[must_use]
pub fn connection_detail(s: &EngineIoSession, c: &EioConnection) -> String {
    let mut out = match (role(s, c), &s.upgrade) {
        ("upgrade", Some(u)) if c.handshake_id == u.handshake_id => format!(
            "#{} HTTP {} · 2probe {} 3probe {} 5 {}",
            c.handshake_id.unwrap_or(0),
            u.status.map_or("(no answer)".to_owned(), |s| s.to_string()),
            mark(u.probe_sent),
            mark(u.probe_answered),
            mark(u.upgraded),
        ),
        ("upgrade", _) => format!(
            "#{} (a proxy leg of the upgrade)",
            c.handshake_id.unwrap_or(0)
        ),
        ("websocket", _) => match &s.open {
            Some(o) => format!(
                "#{} · open in packet {}",
                c.handshake_id.unwrap_or(0),
                o.packet
            ),
            None => format!("#{}", c.handshake_id.unwrap_or(0)),
        },
        _ => format!(
            "{} request{}",
            c.requests,
            if c.requests == 1 { "" } else { "s" }
        ),
    };
    out.push_str(&format!(" · packet {}", c.first_packet));
    out
}

/// The transports of a session as the shared story words them (`polling → websocket`,
/// `upgrade failed, stayed on polling`, `websocket only`).
#[must_use]
pub fn transports(s: &EngineIoSession) -> String {
    let story = engineio_story(s);
    let cut = format!(", {} connection", s.connections.len());
    story
        .split_once(": ")
        .and_then(|(_, r)| r.split(cut.as_str()).next())
        .unwrap_or_default()
        .to_owned()
}

fn sid(s: &EngineIoSession) -> String {
    s.sid
        .as_deref()
        .map_or_else(|| "(no sid)".to_owned(), short_sid)
}

impl Listed for EngineIoSession {
    const COLUMNS: &'static [ColSpec] = &[
        col("Time", 12, 12, 0),
        col("Sid", 5, 24, 0),
        col("Path", 6, 30, 4),
        col("EIO", 3, 3, 5),
        col("Conns", 5, 5, 3),
        col("Polls", 5, 6, 2),
        col("Transports", 10, 34, 0),
        col("Pings", 5, 11, 1),
        col("Ending", 6, 16, 0),
        col("Top finding", 10, 60, 0),
    ];

    fn cell(&self, col: usize) -> String {
        match col {
            0 => format_time_of_day(self.ts),
            1 => escape(&sid(self)),
            2 => escape(&self.path),
            3 => self.version.to_string(),
            4 => self.connections.len().to_string(),
            5 => self.polls.to_string(),
            6 => escape(&transports(self)),
            7 => format!("{}/{}", self.heartbeat.pings, self.heartbeat.pongs),
            8 => self.ending.to_owned(),
            _ => self
                .findings
                .first()
                .map(|f| f.code.as_str().to_owned())
                .unwrap_or_default(),
        }
    }

    fn compare(&self, other: &Self, col: usize) -> Ordering {
        match col {
            0 => self.ts.cmp(&other.ts),
            3 => self.version.cmp(&other.version),
            4 => self.connections.len().cmp(&other.connections.len()),
            5 => self.polls.cmp(&other.polls),
            7 => self.heartbeat.pings.cmp(&other.heartbeat.pings),
            _ => self.cell(col).cmp(&other.cell(col)),
        }
    }

    fn findings(&self) -> &[Finding] {
        &self.findings
    }

    fn verdict(&self) -> Verdict {
        match self.findings.iter().map(|f| f.severity).max() {
            Some(Severity::Error) => Verdict::Failed,
            Some(Severity::Warning) => Verdict::Warning,
            _ => Verdict::Ok,
        }
    }

    fn extra_text(&self, out: &mut String) {
        for c in &self.connections {
            out.push_str(&format!(
                "{} → {} {} {}\n",
                c.client,
                c.server,
                c.transport,
                role(self, c)
            ));
        }
        for n in &self.namespaces {
            out.push_str(&n.namespace);
            out.push('\n');
            if let Some(e) = &n.error {
                out.push_str(e);
                out.push('\n');
            }
        }
        for e in &self.errors {
            out.push_str(&e.message);
            out.push('\n');
        }
        for f in &self.findings {
            out.push_str(f.code.as_str());
            out.push('\n');
            out.push_str(&f.message);
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use std::net::SocketAddr;
    use std::sync::Arc;

    use super::*;
    use crate::capture::Timestamp;
    use crate::event::{EioHeartbeat, EioOpen, EioUpgrade};
    use crate::finding::{Code, Finding};
    use crate::tui::filter::Filter;
    use crate::tui::tabs::Listing;

    fn conn(port: u16, transport: &'static str, first_packet: u64) -> EioConnection {
        EioConnection {
            client: SocketAddr::from(([10, 0, 0, 1], port)),
            server: SocketAddr::from(([10, 0, 0, 2], 80)),
            transport,
            requests: u64::from(transport == "polling"),
            handshake_id: (transport == "websocket").then_some(1),
            first_packet,
        }
    }

    fn session(sid: &str, upgraded: bool) -> EngineIoSession {
        EngineIoSession {
            inferred: false,
            sid: Some(sid.to_owned()),
            version: 4,
            path: "/socket.io/".to_owned(),
            ts: Timestamp(1_796_132_898_223_819_000),
            end_ts: Timestamp(1_796_132_899_430_231_000),
            open: Some(EioOpen {
                transport: "polling",
                packet: 3,
                upgrades: vec!["websocket".to_owned()],
                ping_interval_ms: Some(25_000),
                ping_timeout_ms: Some(20_000),
                max_payload: None,
            }),
            transport: if upgraded { "websocket" } else { "polling" },
            polls: if upgraded { 3 } else { 7 },
            upgrade: Some(EioUpgrade {
                h2_stream: None,
                handshake_id: Some(1),
                status: Some(101),
                verdict: "ok",
                probe_sent: true,
                probe_answered: upgraded,
                upgraded,
            }),
            connections: vec![
                conn(40001, "polling", 1),
                conn(40002, "polling", 7),
                conn(40003, "websocket", 9),
            ],
            errors: Vec::new(),
            namespaces: Vec::new(),
            heartbeat: EioHeartbeat::default(),
            ending: "transport_closed",
            findings: if upgraded {
                Vec::new()
            } else {
                vec![Finding::new(Code::EngineioProbeUnanswered, "no 3probe")]
            },
        }
    }

    #[test]
    fn connections_are_named_by_their_part_in_the_session() {
        let s = session("S", true);
        let roles: Vec<&str> = s.connections.iter().map(|c| role(&s, c)).collect();
        assert_eq!(roles, ["open", "poll", "upgrade"]);
        assert_eq!(
            connection_detail(&s, &s.connections[2]),
            "#1 HTTP 101 · 2probe ✓ 3probe ✓ 5 ✓ · packet 9"
        );
        let mut ws_only = session("S", true);
        ws_only.upgrade = None;
        assert_eq!(role(&ws_only, &ws_only.connections[2]), "websocket");
    }

    /// The tab filters as the others do (text in any column or finding, a finding code, a
    /// verdict) and sorts by any column; the sid shows shortened.
    #[test]
    fn sessions_filter_by_text_code_and_verdict_and_sort_by_any_column() {
        let mut list: Listing<EngineIoSession> = Listing::default();
        let all = Filter::default();
        list.push(Arc::new(session("AbCdEfGhIjKlMnOp", true)), &all, false);
        list.push(Arc::new(session("QrStUvWxYz012345", false)), &all, false);
        assert_eq!(list.view_len(), 2);
        assert_eq!(list.record(0).unwrap().cell(1), "AbCd…");
        let shown = |f: &str, list: &mut Listing<EngineIoSession>| {
            list.rebuild(&Filter::parse(f).unwrap());
            list.visible(10).map(|(_, s)| s.cell(1)).collect::<Vec<_>>()
        };
        assert_eq!(shown("probe_unanswered", &mut list), ["QrSt…"]);
        assert_eq!(
            shown("code:engineio_probe_unanswered", &mut list),
            ["QrSt…"]
        );
        assert_eq!(shown("v:ok", &mut list), ["AbCd…"]);
        assert_eq!(
            shown("10.0.0.1:40003", &mut list).len(),
            2,
            "a connection's address"
        );
        assert_eq!(shown("stayed on polling", &mut list), ["QrSt…"]);
        // By polls, most first.
        list.sort_by(5, &all);
        list.reverse(&all);
        let order: Vec<String> = list.visible(10).map(|(_, s)| s.cell(5)).collect();
        assert_eq!(order, ["7", "3"]);
    }
}
