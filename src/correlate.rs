//! Facts that span connections, derived in one place and in packet order: proxy hops (the
//! two legs of one proxied handshake, [`hop`]). Stale (replayed) accepts are traced by the
//! engine's accept memory today; TLS session resumption and Engine.IO sessions belong here.

pub mod hop;
