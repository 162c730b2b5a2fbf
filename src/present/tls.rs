//! Words for a TLS connection record: the one-line story every sink shows (line output, TUI,
//! report), and what a handshake or WebSocket record says of the TLS connection that carried
//! it. Plain text: callers escape it for their medium (the SNI and ALPN are untrusted).

use crate::event::{Ending, TlsCarrier, TlsOutcome, TlsRecord};

/// `sni=chat.example TLSv1.3 TLS_AES_128_GCM_SHA256 alpn=http/1.1 → handshake failed: the
/// server sent a fatal unrecognized_name alert`.
#[must_use]
pub fn tls_story(r: &TlsRecord) -> String {
    let mut parts: Vec<String> = Vec::new();
    match (&r.sni, r.ech, r.ech_verdict) {
        (Some(s), true, Some("hidden")) => {
            parts.push(format!("sni={s} (ECH accepted: the public name, the real one hidden)"));
        }
        (Some(s), true, Some("not_hidden")) => {
            parts.push(format!("sni={s} (ECH extension not used: GREASE or not accepted)"));
        }
        (Some(s), true, _) => parts.push(format!(
            "sni={s} (ECH extension: the public name if the ECH is real, the real name if it is GREASE)"
        )),
        (Some(s), false, _) => parts.push(format!("sni={s}")),
        (None, true, _) => parts.push("no SNI (GREASE ECH: a real ECH names its public name)".to_owned()),
        (None, false, _) => parts.push("no SNI".to_owned()),
    }
    if let Some(v) = &r.version {
        parts.push(v.clone());
    }
    if let Some(c) = &r.cipher {
        parts.push(c.clone());
    }
    match (&r.alpn, r.alpn_offered.is_empty()) {
        (Some(a), _) => parts.push(format!("alpn={a}")),
        (None, false) => parts.push(format!("alpn offered={}", r.alpn_offered.join(","))),
        (None, true) => {}
    }
    format!(
        "{} → {}{}",
        parts.join(" "),
        outcome_words(r),
        carried_words(r)
    )
}

/// What a decrypted connection carried, as the story's tail: `; carried handshake #1 and 1
/// WebSocket connection`; empty when it carried no handshake (or was not decrypted).
#[must_use]
pub fn carried_words(r: &TlsRecord) -> String {
    if r.handshakes.is_empty() {
        return String::new();
    }
    let ids: Vec<String> = r.handshakes.iter().map(|id| format!("#{id}")).collect();
    let n = r.websockets.unwrap_or(0);
    format!(
        "; carried handshake{} {} and {n} WebSocket connection{}",
        if ids.len() == 1 { "" } else { "s" },
        ids.join(", "),
        if n == 1 { "" } else { "s" }
    )
}

/// The TLS connection that carried a handshake or WebSocket connection, in a few words:
/// `TLSv1.3 sni=chat.example alpn=h2`.
#[must_use]
pub fn tls_carrier_words(t: &TlsCarrier) -> String {
    let mut parts = vec![t.version.clone().unwrap_or_else(|| "TLS".to_owned())];
    match &t.sni {
        Some(s) => parts.push(format!("sni={s}")),
        None => parts.push("no SNI".to_owned()),
    }
    if let Some(a) = &t.alpn {
        parts.push(format!("alpn={a}"));
    }
    parts.join(" ")
}

/// What happened, in a few words.
#[must_use]
pub fn outcome_words(r: &TlsRecord) -> String {
    match r.outcome {
        TlsOutcome::ApplicationData => format!(
            "application data (c→s {} B, s→c {} B){}",
            r.client_to_server.application_data_bytes,
            r.server_to_client.application_data_bytes,
            if r.decrypted {
                ", decrypted"
            } else {
                ", not decrypted"
            }
        ),
        TlsOutcome::HandshakeFailed => {
            let alert = r
                .alerts
                .iter()
                .find(|a| a.level == Some("fatal") || a.description.is_none());
            match alert {
                Some(a) if a.probable => format!(
                    "handshake failed: probable encrypted alert from the {}",
                    a.from.as_str()
                ),
                Some(a) => match &a.description {
                    Some(d) => format!("handshake failed: {} alert {d}", a.from.as_str()),
                    None => format!(
                        "handshake failed: encrypted alert from the {}",
                        a.from.as_str()
                    ),
                },
                None => "handshake failed".to_owned(),
            }
        }
        TlsOutcome::Aborted => format!("aborted without an alert: {}", tcp_words(r.tcp_end)),
        TlsOutcome::ClosedBeforeData => format!(
            "handshake done, closed before application data: {}",
            tcp_words(r.tcp_end)
        ),
        TlsOutcome::Unused => format!(
            "handshake done, not used: {} without sending application data or an alert (a spare connection, as browsers open ahead of need)",
            tcp_words(r.tcp_end)
        ),
        TlsOutcome::Incomplete => "incomplete: the capture ended during the handshake".to_owned(),
        TlsOutcome::HandshakeNotObserved => {
            "handshake not captured (encrypted records only)".to_owned()
        }
    }
}

fn tcp_words(e: Ending) -> &'static str {
    e.describe()
}
