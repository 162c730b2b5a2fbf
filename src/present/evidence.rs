//! Reading a finding's structured evidence back for display: which findings cite a given line
//! of a message's head, and which lines a head is missing. The analysis says where its
//! evidence is ([`crate::finding::Evidence`]); every sink that highlights head lines asks
//! here, so the TUI and the report mark the same lines with the same codes.

use crate::finding::{Evidence, Finding, HeadPart, MessageRef};

/// The findings (in the record's order, worst first) that cite `part` of `message`.
pub(crate) fn citing<'a>(
    findings: &'a [Finding],
    message: MessageRef,
    part: &'a HeadPart,
) -> impl Iterator<Item = &'a Finding> + 'a {
    findings.iter().filter(move |f| {
        f.evidence.iter().any(
            |e| matches!(e, Evidence::Head { message: m, part: p } if *m == message && p == part),
        )
    })
}

/// The lines `message` should have and does not, each with the finding that says so.
pub(crate) fn missing_lines(findings: &[Finding], message: MessageRef) -> Vec<(&str, &Finding)> {
    findings
        .iter()
        .flat_map(|f| {
            f.evidence.iter().filter_map(move |e| match e {
                Evidence::Head {
                    message: m,
                    part: HeadPart::Missing(line),
                } if *m == message => Some((line.as_str(), f)),
                _ => None,
            })
        })
        .collect()
}

/// The part of the head each line of `raw` (split on `\n`) shows: the start line first, then
/// one header per line, a line starting with a space or tab continuing the header before it
/// (obsolete folding, RFC 9112 §5.2). `None` past the last header.
pub(crate) fn raw_line_parts(raw: &str, headers: usize) -> Vec<Option<HeadPart>> {
    let mut out = Vec::new();
    let mut header: Option<usize> = None;
    for (i, line) in raw.split('\n').enumerate() {
        let part = if i == 0 {
            Some(HeadPart::StartLine)
        } else if line.starts_with([' ', '\t']) && header.is_some() {
            header.map(HeadPart::Header)
        } else {
            let next = header.map_or(0, |h| h + 1);
            header = Some(next);
            (next < headers).then_some(HeadPart::Header(next))
        };
        out.push(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Code;

    #[test]
    fn citing_follows_message_and_part() {
        let findings = vec![
            Finding::new(Code::RequestConnectionMissingUpgrade, "x")
                .cite(MessageRef::Request, HeadPart::Header(1)),
            Finding::new(Code::UpgradeIgnored, "y").cite(MessageRef::Response, HeadPart::Header(1)),
            Finding::new(Code::RequestUpgradeMissing, "z").cite(
                MessageRef::Request,
                HeadPart::Missing("Upgrade: websocket".into()),
            ),
        ];
        let codes =
            |m, p| -> Vec<&str> { citing(&findings, m, &p).map(|f| f.code.as_str()).collect() };
        assert_eq!(
            codes(MessageRef::Response, HeadPart::Header(1)),
            vec!["upgrade_ignored"]
        );
        assert_eq!(
            codes(MessageRef::Request, HeadPart::Header(1)),
            vec!["request_connection_missing_upgrade"]
        );
        assert!(codes(MessageRef::Request, HeadPart::StartLine).is_empty());
        let missing: Vec<&str> = missing_lines(&findings, MessageRef::Request)
            .iter()
            .map(|(l, _)| *l)
            .collect();
        assert_eq!(missing, vec!["Upgrade: websocket"]);
        assert!(missing_lines(&findings, MessageRef::Response).is_empty());
    }

    #[test]
    fn folded_lines_belong_to_their_header() {
        let parts = raw_line_parts(
            "HTTP/1.1 101 X\r\nA: 1\r\nB: 2\r\n  more\r\nC: 3\r\n\r\n",
            3,
        );
        assert_eq!(
            parts,
            vec![
                Some(HeadPart::StartLine),
                Some(HeadPart::Header(0)),
                Some(HeadPart::Header(1)),
                Some(HeadPart::Header(1)),
                Some(HeadPart::Header(2)),
                None,
                None,
            ]
        );
    }
}
