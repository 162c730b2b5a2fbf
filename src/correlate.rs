//! Facts that span connections, derived in one place and in packet order: proxy hops (the
//! two legs of one proxied handshake, [`hop`]) and stale (replayed) accepts ([`accepts`]).
//! TLS session resumption and Engine.IO sessions belong here too.

pub mod accepts;
pub mod hop;
