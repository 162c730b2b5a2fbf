//! HTTP/2 (RFC 9113) as a passive observer reads it: the frame layer, HPACK decoding per
//! direction, and the streams that carry WebSockets by extended CONNECT (RFC 8441).
//!
//! ```text
//!  ByteStream (TCP payload, later TLS plaintext) ─▶ connection: preface, frames (frame),
//!      header blocks ─▶ hpack (one decoder per sender) ─▶ request/response per stream
//!      ├─ extended CONNECT answered ─▶ http::exchange::Completed (stream id, h2 facts)
//!      └─ after a 2xx: the stream's DATA ─▶ a Relay per direction (with packet evidence),
//!         END_STREAM / RST_STREAM as the stream's ending
//! ```
//!
//! The parser switch (`dispatch`) chooses this layer for a connection that starts with the
//! client preface (prior knowledge) or switched after `Upgrade: h2c` and a 101, and runs the
//! WebSocket walker over each open stream's relays; the layer itself knows nothing of
//! WebSocket frames. Its input is any [`ByteStream`](crate::tcp::stream::ByteStream), so
//! decrypted TLS (ALPN `h2`) feeds it the same way. Never does I/O.

pub mod connection;
pub(crate) mod ending;
pub mod engineio;
pub mod frame;
pub mod hpack;
pub(crate) mod huffman;
