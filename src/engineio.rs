//! Engine.IO (Socket.IO's transport) on the wire: which HTTP requests and WebSocket
//! connections carry it ([`target`]), its packets and polling payloads, v3 and v4
//! ([`packet`]), the Socket.IO packets inside its messages ([`socketio`]), and the observer
//! that reads them from a WebSocket session's content hook ([`observer`]).
//!
//! Inputs are request targets, HTTP bodies (read by `http::body`, bounded) and WebSocket
//! message content (bounded by the content hook); outputs are small owned summaries that
//! the correlation stage (`correlate::engineio`) folds into one session record per `sid`.
//! Pure: no I/O, no clock; every parser is bounded by its input and by named caps, and bad
//! input is an `Err` value the session turns into a finding, never a panic.

pub mod observer;
pub mod packet;
pub mod socketio;
pub mod target;
