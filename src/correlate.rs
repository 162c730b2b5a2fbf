//! Facts that span connections, derived in one place and in packet order: proxy hops (the
//! two legs of one proxied handshake, [`hop`]), stale (replayed) accepts ([`accepts`]),
//! WebSockets that fell back from HTTP/2 to an HTTP/1.1 upgrade ([`fallback`]) and Engine.IO
//! sessions across their connections ([`engineio`]), and what each TLS connection carried
//! ([`tls`]).

pub mod accepts;
pub mod engineio;
pub mod fallback;
pub mod hop;
pub mod tls;
