//! WebSocket after the switch (RFC 6455 §5–§7): the frame codec ([`frame`]) and the walker
//! that follows both directions of one connection and tells its story ([`session`]).

pub mod frame;
pub mod session;
