//! BPF filters applied to packets from files, compiled by libpcap once per link type.
//!
//! Files hold packets of several link types (pcapng), and a BPF program is compiled for one
//! link type, so a program is compiled lazily the first time each link type shows up.

use pcap::{BpfProgram, Capture};

use super::{CaptureError, Linktype, Packet};

/// A tcpdump-syntax filter expression, compiled per link type on first use.
pub struct PacketFilter {
    expression: String,
    programs: Vec<(Linktype, Option<BpfProgram>)>,
}

impl PacketFilter {
    /// Checks that `expression` compiles for Ethernet, so typos fail before reading starts.
    ///
    /// # Errors
    /// libpcap rejects the expression.
    pub fn new(expression: &str) -> Result<Self, CaptureError> {
        let mut filter = PacketFilter {
            expression: expression.to_owned(),
            programs: Vec::new(),
        };
        let program = filter.compile(Linktype::ETHERNET)?;
        filter.programs.push((Linktype::ETHERNET, Some(program)));
        Ok(filter)
    }

    /// The expression as given.
    #[must_use]
    pub fn expression(&self) -> &str {
        &self.expression
    }

    fn compile(&self, linktype: Linktype) -> Result<BpfProgram, CaptureError> {
        let err = |e: pcap::Error| CaptureError::Filter {
            filter: self.expression.clone(),
            message: e.to_string(),
        };
        let dlt = i32::try_from(linktype.0).unwrap_or(-1);
        let dead = Capture::dead(pcap::Linktype(dlt)).map_err(err)?;
        dead.compile(&self.expression, true).map_err(err)
    }

    /// Whether `packet` passes. A link type the expression cannot compile for (e.g. a filter
    /// on `ether host` against raw IP) matches nothing, as with tcpdump.
    pub fn matches(&mut self, packet: &Packet<'_>) -> bool {
        let index = match self
            .programs
            .iter()
            .position(|(lt, _)| *lt == packet.linktype)
        {
            Some(i) => i,
            None => {
                let program = self.compile(packet.linktype).ok();
                self.programs.push((packet.linktype, program));
                self.programs.len() - 1
            }
        };
        match self.programs.get(index) {
            Some((_, Some(program))) => program.filter(packet.data),
            _ => false,
        }
    }

    /// Link types the expression did not compile for (reported once in the summary).
    pub fn unmatched_linktypes(&self) -> impl Iterator<Item = Linktype> + '_ {
        self.programs
            .iter()
            .filter(|(_, p)| p.is_none())
            .map(|(lt, _)| *lt)
    }
}
