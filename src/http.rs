//! HTTP/1.x on a connection: heads found and parsed ([`head`]), each direction's message
//! boundaries ([`framer`]), bodies read within bounds ([`body`]) and requests paired with their responses ([`exchange`]), over any
//! byte stream (TCP payload today, TLS plaintext later). What comes out is a WebSocket
//! exchange (upgrade request, interim and final response, evidence) for the handshake
//! checks, and what a 101 switches the connection to; the switch itself is `dispatch`'s.

pub mod body;
pub mod exchange;
pub mod framer;
pub mod head;
