//! TCP: which packets belong to which connection, and each direction turned back into an
//! ordered byte stream with its gaps, FIN and RST, and the packet behind every byte.
//!
//! * [`flow`]: connection identity ([`flow::FlowKey`], [`flow::Side`]) and the bounded
//!   table of live connections;
//! * [`connection`]: one connection's lifecycle (SYN/FIN/RST, client side, connect time)
//!   and the [`connection::Application`] trait the parsers above implement;
//! * [`reassembly`]: one direction's byte stream;
//! * [`ledger`]: what the capture holds of each direction against the peers' ACKs (capture
//!   loss vs network loss, one-way captures);
//! * [`stream`]: the [`stream::ByteStream`] interface every parser reads, whoever produced
//!   the bytes, with the evidence behind them;
//! * [`community_id`]: the Community ID flow hash that joins wssniff's records to Zeek's and
//!   Suricata's.

pub mod community_id;
pub mod connection;
pub mod flow;
pub mod ledger;
pub mod reassembly;
#[cfg(test)]
pub(crate) mod script;
pub mod stream;
