//! Wording of an Engine.IO session shared by the line output and the report: the one-line
//! story, and the sid shortened for people.

use crate::event::EngineIoSession;

/// The one-line story: `session Ab12… EIO=4 /socket.io/: polling → websocket, 3 connections, 5 polls, 4 pings,
/// ended close_packet`.
#[must_use]
pub fn engineio_story(s: &EngineIoSession) -> String {
    let sid = s
        .sid
        .as_deref()
        .map_or_else(|| "(no sid)".to_owned(), short_sid);
    let path = match (&s.upgrade, s.transport) {
        (Some(u), "websocket") if u.upgraded => "polling → websocket".to_owned(),
        (Some(_), t) => format!("upgrade failed, stayed on {t}"),
        (None, "websocket") => "websocket only".to_owned(),
        (None, t) => t.to_owned(),
    };
    let n = s.connections.len();
    if s.inferred {
        // No request was captured: neither the revision (unless a ping showed who pings)
        // nor the path is known.
        let version = match s.version {
            0 => "EIO=?".to_owned(),
            v => format!("EIO={v}"),
        };
        return format!(
            "session {sid} {version} (inferred from its WebSocket frames: the handshake is not in the capture): websocket, {} pings/{} pongs, ended {}",
            s.heartbeat.pings, s.heartbeat.pongs, s.ending,
        );
    }
    format!(
        "session {sid} EIO={} {}: {path}, {n} connection{}, {} polls, {} pings/{} pongs, ended {}",
        s.version,
        s.path,
        if n == 1 { "" } else { "s" },
        s.polls,
        s.heartbeat.pings,
        s.heartbeat.pongs,
        s.ending,
    )
}

/// An Engine.IO sid shortened for people: its first four characters (a redaction
/// placeholder is shown whole: it is short and says what it is).
#[must_use]
pub fn short_sid(sid: &str) -> String {
    if sid.starts_with("<redacted") {
        return sid.to_owned();
    }
    let head: String = sid.chars().take(4).collect();
    if head.len() < sid.len() {
        format!("{head}…")
    } else {
        head
    }
}
