//! WebSocket after the switch (RFC 6455 §5–§8, RFC 7692): the frame codec ([`frame`]), the
//! session that follows both directions of one connection and tells its story ([`session`]),
//! and the pieces the session is made of:
//!
//! - `walker`: one direction's bytes → frame events, skipping unwanted payloads unread;
//! - `rules`: the §5 framing, §7.4 close-code and §8.1 UTF-8 rules, and their findings;
//! - `message`: a data message being assembled (UTF-8 check, preview);
//! - `inflate`: permessage-deflate within fixed budgets; `utf8`: incremental validation;
//! - `ending`: close frames plus TCP → how the connection ended, idle-timeout signature;
//! - `sniff`: recognising frames on a flow whose handshake was not captured;
//! - `extensions`: the negotiated permessage-deflate parameters.
//!
//! [`content`] is the hook for layers that read payloads (Engine.IO): a bounded stream of
//! message contents from a session to an observer. The public paths are `frame`, `session`
//! (which re-exports what callers of the session need) and `content`.

pub mod content;
pub(crate) mod ending;
pub(crate) mod extensions;
pub mod frame;
pub(crate) mod inflate;
pub(crate) mod message;
pub(crate) mod rules;
pub mod session;
pub(crate) mod sniff;
#[cfg(test)]
pub(crate) mod testing;
pub(crate) mod utf8;
pub(crate) mod walker;
