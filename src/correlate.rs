//! Facts that span connections, derived in one place and in packet order: proxy hops (the
//! two legs of one proxied handshake, [`hop`]) and stale (replayed) accepts ([`accepts`]).
//! Engine.IO sessions across their connections ([`engineio`]). TLS session resumption
//! belongs here too.

pub mod accepts;
pub mod engineio;
pub mod hop;
