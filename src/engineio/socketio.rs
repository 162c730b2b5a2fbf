//! Socket.IO packets inside Engine.IO messages: `<type>[<attachments>-][<nsp>,][<id>][json]`
//! with types 0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR, 5 BINARY_EVENT,
//! 6 BINARY_ACK. Only what a session record needs is kept: the type, the namespace and a
//! CONNECT_ERROR's message. A CONNECT's payload (the `auth` object, often a token) is never
//! kept, so no output can leak it.

/// Socket.IO packet types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SioKind {
    /// `0`: join a namespace (client), or the answer with the socket id (server).
    Connect,
    /// `1`: leave a namespace.
    Disconnect,
    /// `2`: an event.
    Event,
    /// `3`: an acknowledgement.
    Ack,
    /// `4`: the server refused the namespace (auth middleware).
    ConnectError,
    /// `5`: an event with binary attachments.
    BinaryEvent,
    /// `6`: an ack with binary attachments.
    BinaryAck,
}

/// One Socket.IO packet, as much as a session record keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SioPacket {
    /// Its type.
    pub kind: SioKind,
    /// The namespace (`/` when absent).
    pub namespace: String,
    /// A CONNECT_ERROR's `message` (v5) or string payload (v4 and earlier).
    pub error: Option<String>,
}

/// Longest namespace kept.
const MAX_NAMESPACE: usize = 128;

/// Reads a Socket.IO packet from an Engine.IO message's text; `None` when it is not one.
///
/// ```
/// use wssniff::engineio::socketio::{parse, SioKind};
/// let p = parse(br#"44{"message":"not authorized"}"#.get(1..).unwrap()).unwrap();
/// assert_eq!(p.kind, SioKind::ConnectError);
/// assert_eq!(p.error.as_deref(), Some("not authorized"));
/// ```
#[must_use]
pub fn parse(data: &[u8]) -> Option<SioPacket> {
    let (&t, mut rest) = data.split_first()?;
    let kind = match t {
        b'0' => SioKind::Connect,
        b'1' => SioKind::Disconnect,
        b'2' => SioKind::Event,
        b'3' => SioKind::Ack,
        b'4' => SioKind::ConnectError,
        b'5' => SioKind::BinaryEvent,
        b'6' => SioKind::BinaryAck,
        _ => return None,
    };
    if matches!(kind, SioKind::BinaryEvent | SioKind::BinaryAck) {
        let dash = rest.iter().take(12).position(|&b| b == b'-')?;
        rest = rest.get(dash + 1..)?;
    }
    let mut namespace = String::from("/");
    if rest.first() == Some(&b'/') {
        let end = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
        let nsp = rest.get(..end)?;
        namespace = String::from_utf8_lossy(nsp)
            .chars()
            .take(MAX_NAMESPACE)
            .collect();
        rest = rest.get(end + 1..).unwrap_or_default();
    }
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let json = rest.get(digits..).unwrap_or_default();
    let error = (kind == SioKind::ConnectError).then(|| connect_error_message(json));
    Some(SioPacket {
        kind,
        namespace,
        error,
    })
}

fn connect_error_message(json: &[u8]) -> String {
    let text: String = match serde_json::from_slice::<serde_json::Value>(json) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(v) => v
            .get("message")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string()),
        Err(_) => String::from_utf8_lossy(json).into_owned(),
    };
    text.chars().take(256).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn namespaces_acks_and_attachments() {
        let p = parse(br#"2/admin,13["hello",1]"#).unwrap();
        assert_eq!((p.kind, p.namespace.as_str()), (SioKind::Event, "/admin"));
        let b = parse(br#"51-/chat,["up",{"_placeholder":true,"num":0}]"#).unwrap();
        assert_eq!(
            (b.kind, b.namespace.as_str()),
            (SioKind::BinaryEvent, "/chat")
        );
        let c = parse(br#"0{"token":"s3cret"}"#).unwrap();
        assert_eq!(
            (c.kind, c.namespace.as_str(), c.error),
            (SioKind::Connect, "/", None)
        );
        let v4 = parse(br#"4"Not authorized""#).unwrap();
        assert_eq!(v4.error.as_deref(), Some("Not authorized"));
        assert_eq!(parse(b"9"), None);
        assert_eq!(parse(b""), None);
    }
}
