//! Recognising Engine.IO by the request target: `…?EIO=4&transport=polling&sid=…` on any
//! path (the server's `path` option is configurable, `/socket.io/` by default).
//!
//! [`mentions_eio`] is the cheap test the HTTP layer runs on each request line (a byte
//! search, no allocation); [`parse`] reads the query of a target that passed it.

/// The Engine.IO transport a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// HTTP long-polling (`transport=polling`): GET receives, POST sends.
    Polling,
    /// WebSocket (`transport=websocket`).
    Websocket,
    /// WebTransport or anything else named.
    Other,
}

impl Transport {
    /// The name on the wire.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Polling => "polling",
            Transport::Websocket => "websocket",
            Transport::Other => "other",
        }
    }
}

/// What an Engine.IO request target says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The protocol revision (`EIO=`): 2, 3 or 4 (other values are kept as sent, so an
    /// unsupported one can be named).
    pub version: u8,
    /// The transport asked for.
    pub transport: Transport,
    /// The session id, once the open packet gave one.
    pub sid: Option<String>,
    /// The path before the query (`/socket.io/`).
    pub path: String,
    /// JSONP polling (`j=N`, v3 and earlier).
    pub jsonp: bool,
    /// Base64 payloads asked for (`b64=1`).
    pub b64: bool,
}

/// Longest sid kept; real ones are 20 characters.
const MAX_SID: usize = 128;
/// Longest path kept.
const MAX_PATH: usize = 256;

/// Whether `target` carries an `EIO=` query parameter (case-sensitive as servers read it):
/// the one test ordinary requests pay, in the HTTP layer's scan.
pub use crate::http::head::mentions_eio;

/// Reads an Engine.IO request target; `None` when it has no `EIO=` parameter with a small
/// number or no `transport`.
#[must_use]
pub fn parse(target: &str) -> Option<Target> {
    let (path, query) = target.split_once('?')?;
    let mut version = None;
    let mut transport = None;
    let mut sid = None;
    let mut jsonp = false;
    let mut b64 = false;
    for pair in query.split('&').take(64) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "EIO" => version = value.parse::<u8>().ok(),
            "transport" => {
                transport = Some(match value {
                    "polling" => Transport::Polling,
                    "websocket" => Transport::Websocket,
                    _ => Transport::Other,
                });
            }
            "sid" if !value.is_empty() => {
                sid = Some(value.chars().take(MAX_SID).collect());
            }
            "j" => jsonp = true,
            "b64" => b64 = value == "1" || value == "true",
            _ => {}
        }
    }
    Some(Target {
        version: version?,
        transport: transport?,
        sid,
        path: path.chars().take(MAX_PATH).collect(),
        jsonp,
        b64,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_version_transport_and_sid_on_any_path() {
        let t = parse("/chat/engine/?EIO=4&transport=polling&t=abc&sid=Xy_1").unwrap();
        assert_eq!(t.version, 4);
        assert_eq!(t.transport, Transport::Polling);
        assert_eq!(t.sid.as_deref(), Some("Xy_1"));
        assert_eq!(t.path, "/chat/engine/");
        let ws = parse("/socket.io/?EIO=3&transport=websocket&j=0").unwrap();
        assert_eq!(
            (ws.version, ws.transport, ws.jsonp),
            (3, Transport::Websocket, true)
        );
    }

    #[test]
    fn needs_both_eio_and_transport() {
        assert_eq!(parse("/socket.io/?transport=polling"), None);
        assert_eq!(parse("/socket.io/?EIO=4"), None);
        assert_eq!(parse("/?EIO=x&transport=polling"), None);
        assert!(mentions_eio(b"/socket.io/?EIO=4&transport=polling"));
        assert!(!mentions_eio(b"/index.html?eio"));
    }
}
