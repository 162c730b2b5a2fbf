//! HTTP/1.x on a TCP connection: heads found and parsed ([`head`]), each direction framed
//! and requests paired with their responses ([`exchange`]). What comes out is a WebSocket
//! exchange (upgrade request, interim and final response, evidence) for the handshake
//! checks, and the hand-off to the WebSocket layer after a 101.

pub mod exchange;
pub mod framer;
pub mod head;
