//! The extensions a 101 response accepted (`Sec-WebSocket-Extensions`), as far as the walker
//! needs them: whether permessage-deflate (RFC 7692 §7.1) is in use and with which
//! parameters.
//!
//! In: the header's comma-separated items, already split. Out: [`DeflateParams`] or `None`.
//! Judging whether the server was allowed to accept them is the handshake checks' job
//! (`handshake`), not this module's: an unknown or malformed parameter is ignored here.

use crate::event::DeflateParams;

/// Parses `Sec-WebSocket-Extensions` items as accepted by the server into the negotiated
/// permessage-deflate parameters (RFC 7692 §7.1), if it was accepted.
#[must_use]
pub fn deflate_params(extensions: &[String]) -> Option<DeflateParams> {
    let item = extensions.iter().find(|e| {
        e.split(';')
            .next()
            .is_some_and(|n| n.trim().eq_ignore_ascii_case("permessage-deflate"))
    })?;
    let mut p = DeflateParams {
        client_max_window_bits: 15,
        server_max_window_bits: 15,
        ..DeflateParams::default()
    };
    for param in item.split(';').skip(1) {
        let (k, v) = match param.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
            None => (param.trim(), None),
        };
        let bits = v.and_then(|v| v.parse::<u8>().ok()).unwrap_or(15);
        match k.to_ascii_lowercase().as_str() {
            "client_no_context_takeover" => p.client_no_context_takeover = true,
            "server_no_context_takeover" => p.server_no_context_takeover = true,
            "client_max_window_bits" => p.client_max_window_bits = bits,
            "server_max_window_bits" => p.server_max_window_bits = bits,
            _ => {}
        }
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn params(items: &[&str]) -> Option<DeflateParams> {
        deflate_params(&items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn bare_permessage_deflate_uses_the_defaults() {
        let p = params(&["permessage-deflate"]).unwrap();
        assert_eq!(
            p,
            DeflateParams {
                client_no_context_takeover: false,
                server_no_context_takeover: false,
                client_max_window_bits: 15,
                server_max_window_bits: 15,
            }
        );
    }

    #[test]
    fn parameters_are_read_case_insensitively_with_quoted_values() {
        let p = params(&[
            "x-webkit-deflate-frame",
            " PerMessage-Deflate ; Server_No_Context_Takeover; client_max_window_bits=\"10\"; server_max_window_bits = 12",
        ])
        .unwrap();
        assert!(p.server_no_context_takeover && !p.client_no_context_takeover);
        assert_eq!(
            (p.client_max_window_bits, p.server_max_window_bits),
            (10, 12)
        );
    }

    #[test]
    fn a_valueless_or_bad_window_means_15_and_other_extensions_mean_none() {
        let p = params(&["permessage-deflate; client_max_window_bits; server_max_window_bits=x"])
            .unwrap();
        assert_eq!(
            (p.client_max_window_bits, p.server_max_window_bits),
            (15, 15)
        );
        assert_eq!(params(&["x-webkit-deflate-frame"]), None);
        assert_eq!(params(&[]), None);
        // A parameter named like the extension does not count.
        assert_eq!(params(&["foo; permessage-deflate"]), None);
    }
}
