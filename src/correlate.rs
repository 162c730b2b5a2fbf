//! Facts that span connections, derived in one place and in packet order: proxy hops (the
//! two legs of one proxied handshake, [`hop`]), stale (replayed) accepts ([`accepts`]) and
//! WebSockets that fell back from HTTP/2 to an HTTP/1.1 upgrade ([`fallback`]).
//! TLS session resumption and Engine.IO sessions belong here too.

pub mod accepts;
pub mod fallback;
pub mod hop;
