//! TLS: what a passive observer sees of a TLS connection, and, with a key log, its plaintext.
//!
//! Key material side (this file lists only its modules; the record walker, hello parsing and
//! the connection state sit beside them): [`keylog`] reads NSS key logs and pcapng
//! Decryption Secrets Blocks, [`keyschedule`] derives keys (TLS 1.2 PRF, TLS 1.3
//! HKDF-Expand-Label), [`decrypt`] opens records one direction at a time, [`suite`] names the
//! cipher suites. Pure: keys arrive as bytes from the caller, never from a file read here.

pub mod decrypt;
pub mod keylog;
pub mod keyschedule;
pub mod suite;
