//! Hand-written JSON for the records a run writes by the thousand (handshake, connection and
//! TLS records, and their findings), byte for byte what their derived `Serialize` impls write
//! through serde_json: the tests hold the two to each other on every sample's records and on
//! random ones.
//!
//! Through serde each field is a call into the serializer that writes its key in three pieces
//! and dispatches its value by type (~10 instructions a byte of output). Here each key is one
//! constant with its comma and colon (`,"status":`) and each value is written directly; the
//! parts records seldom carry (evidence, HTTP/2, TLS carriers, certificates, alerts, bodies,
//! cuts, IPv6 endpoints) still go through the serde path ([`compact::append`]), which writes
//! what serde_json writes. Every struct is destructured whole, so a field added to one does
//! not compile here until it is written (and the tests then say whether it is written as
//! serde would).

use std::net::SocketAddr;

use super::compact::{self, float, integer, pair, string, string_content, Error};
use crate::event::{
    CloseFrame, CloseInfo, ConnectionRecord, DeflateParams, DirectionStats, Ending,
    HandshakeRecord, Intervals, Message, TcpLoss, Timing, TlsDirection, TlsRecord,
};
use crate::finding::Finding;

/// A handshake record's fields after `"schema"`, and the closing brace.
///
/// # Errors
/// Only what [`compact::append`] raises for the parts it writes.
pub(super) fn handshake(out: &mut Vec<u8>, r: &HandshakeRecord) -> Result<(), Error> {
    let HandshakeRecord {
        id,
        ts,
        client,
        server,
        community_id,
        verdict,
        status,
        method,
        host,
        path,
        origin,
        key,
        accept,
        expected_accept,
        subprotocols_offered,
        subprotocol,
        extensions_offered,
        extensions,
        request,
        response,
        interim,
        timing,
        ending,
        findings: record_findings,
        loss,
        h2,
        tls,
    } = r;
    out.extend_from_slice(b",\"id\":");
    count(out, *id);
    out.extend_from_slice(b",\"ts\":");
    float(out, ts.as_secs_f64());
    out.extend_from_slice(b",\"client\":");
    endpoint(out, client)?;
    out.extend_from_slice(b",\"server\":");
    endpoint(out, server)?;
    out.extend_from_slice(b",\"community_id\":\"");
    string_content(out, community_id);
    out.push(b'"');
    out.extend_from_slice(b",\"verdict\":\"");
    out.extend_from_slice(verdict.as_str().as_bytes());
    out.extend_from_slice(b"\",\"status\":");
    match status {
        Some(s) => small(out, (*s).into()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"method\":");
    opt_string(out, method.as_deref());
    out.extend_from_slice(b",\"host\":");
    opt_string(out, host.as_deref());
    out.extend_from_slice(b",\"path\":");
    opt_string(out, path.as_deref());
    out.extend_from_slice(b",\"origin\":");
    opt_string(out, origin.as_deref());
    out.extend_from_slice(b",\"key\":");
    opt_string(out, key.as_deref());
    out.extend_from_slice(b",\"accept\":");
    opt_string(out, accept.as_deref());
    out.extend_from_slice(b",\"expected_accept\":");
    opt_string(out, expected_accept.as_deref());
    out.extend_from_slice(b",\"subprotocols_offered\":");
    strings(out, subprotocols_offered);
    out.extend_from_slice(b",\"subprotocol\":");
    opt_string(out, subprotocol.as_deref());
    out.extend_from_slice(b",\"extensions_offered\":");
    strings(out, extensions_offered);
    out.extend_from_slice(b",\"extensions\":");
    strings(out, extensions);
    out.extend_from_slice(b",\"request\":");
    opt_message(out, request.as_ref())?;
    out.extend_from_slice(b",\"response\":");
    opt_message(out, response.as_ref())?;
    if !interim.is_empty() {
        out.extend_from_slice(b",\"interim\":[");
        for (i, m) in interim.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            message(out, m)?;
        }
        out.push(b']');
    }
    out.extend_from_slice(b",\"timing\":");
    self::timing(out, timing);
    if let Some(e) = ending {
        out.extend_from_slice(b",\"ending\":\"");
        out.extend_from_slice(ending_name(*e).as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b",\"findings\":");
    findings(out, record_findings)?;
    if !loss.is_clean() {
        out.extend_from_slice(b",\"loss\":");
        tcp_loss(out, loss);
    }
    if let Some(h2) = h2 {
        out.extend_from_slice(b",\"h2\":");
        compact::append(out, h2)?;
    }
    if let Some(tls) = tls {
        out.extend_from_slice(b",\"tls\":");
        compact::append(out, tls)?;
    }
    out.push(b'}');
    Ok(())
}

/// A connection record's fields after `"schema"`, and the closing brace.
///
/// # Errors
/// Only what [`compact::append`] raises for the parts it writes.
pub(super) fn connection(out: &mut Vec<u8>, c: &ConnectionRecord) -> Result<(), Error> {
    let ConnectionRecord {
        handshake_id,
        ts,
        end_ts,
        client,
        server,
        community_id,
        handshake_observed,
        permessage_deflate,
        duration_ms,
        client_to_server,
        server_to_client,
        close,
        ending,
        tcp_end,
        idle_before_end_ms,
        max_silence_ms,
        findings: record_findings,
        loss,
        h2_stream_id,
        // Not in the JSON (`#[serde(skip)]`).
        h2_goaway: _,
        tls,
        frame_log: _,
    } = c;
    out.extend_from_slice(b",\"handshake_id\":");
    match handshake_id {
        Some(id) => count(out, *id),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"ts\":");
    float(out, ts.as_secs_f64());
    out.extend_from_slice(b",\"end_ts\":");
    float(out, end_ts.as_secs_f64());
    out.extend_from_slice(b",\"client\":");
    endpoint(out, client)?;
    out.extend_from_slice(b",\"server\":");
    endpoint(out, server)?;
    out.extend_from_slice(b",\"community_id\":\"");
    string_content(out, community_id);
    out.push(b'"');
    out.extend_from_slice(b",\"handshake_observed\":");
    boolean(out, *handshake_observed);
    out.extend_from_slice(b",\"permessage_deflate\":");
    match permessage_deflate {
        Some(d) => deflate(out, d),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"duration_ms\":");
    float(out, *duration_ms);
    out.extend_from_slice(b",\"client_to_server\":");
    direction(out, client_to_server);
    out.extend_from_slice(b",\"server_to_client\":");
    direction(out, server_to_client);
    out.extend_from_slice(b",\"close\":");
    close_info(out, close);
    out.extend_from_slice(b",\"ending\":\"");
    out.extend_from_slice(ending.as_str().as_bytes());
    out.extend_from_slice(b"\",\"tcp_end\":\"");
    out.extend_from_slice(ending_name(*tcp_end).as_bytes());
    out.push(b'"');
    if let Some(ms) = idle_before_end_ms {
        out.extend_from_slice(b",\"idle_before_end_ms\":");
        float(out, *ms);
    }
    out.extend_from_slice(b",\"max_silence_ms\":");
    float(out, *max_silence_ms);
    out.extend_from_slice(b",\"findings\":");
    findings(out, record_findings)?;
    if !loss.is_clean() {
        out.extend_from_slice(b",\"loss\":");
        tcp_loss(out, loss);
    }
    if let Some(id) = h2_stream_id {
        out.extend_from_slice(b",\"h2_stream_id\":");
        integer(out, *id);
    }
    if let Some(tls) = tls {
        out.extend_from_slice(b",\"tls\":");
        compact::append(out, tls)?;
    }
    out.push(b'}');
    Ok(())
}

fn boolean(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

fn opt_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn strings(out: &mut Vec<u8>, items: &[String]) {
    if items.is_empty() {
        out.extend_from_slice(b"[]");
        return;
    }
    out.extend_from_slice(b"[\"");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\",\"");
        }
        string_content(out, s);
    }
    out.extend_from_slice(b"\"]");
}

fn integers(out: &mut Vec<u8>, items: &[u64]) {
    out.push(b'[');
    for (i, &n) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        count(out, n);
    }
    out.push(b']');
}

fn findings(out: &mut Vec<u8>, findings: &[Finding]) -> Result<(), Error> {
    out.push(b'[');
    for (i, f) in findings.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        finding(out, f)?;
    }
    out.push(b']');
    Ok(())
}

/// One finding (`Finding`'s derived `Serialize`), its evidence by the serde path.
fn finding(out: &mut Vec<u8>, f: &Finding) -> Result<(), Error> {
    let Finding {
        code,
        severity,
        message,
        packets,
        lines,
        evidence,
        hint,
    } = f;
    out.extend_from_slice(b"{\"code\":\"");
    string_content(out, code.as_str());
    out.extend_from_slice(b"\",\"severity\":\"");
    out.extend_from_slice(severity.as_str().as_bytes());
    out.extend_from_slice(b"\",\"message\":\"");
    string_content(out, message);
    out.push(b'"');
    if !packets.is_empty() {
        out.extend_from_slice(b",\"packets\":");
        integers(out, packets);
    }
    if !lines.is_empty() {
        out.extend_from_slice(b",\"lines\":");
        strings(out, lines);
    }
    if !evidence.is_empty() {
        out.extend_from_slice(b",\"evidence\":");
        compact::append(out, evidence)?;
    }
    out.extend_from_slice(b",\"hint\":\"");
    string_content(out, hint);
    out.extend_from_slice(b"\"}");
    Ok(())
}

/// A TLS record's fields after `"schema"`, and the closing brace.
///
/// # Errors
/// Only what [`compact::append`] raises for the parts it writes.
pub(super) fn tls(out: &mut Vec<u8>, t: &TlsRecord) -> Result<(), Error> {
    let TlsRecord {
        ts,
        end_ts,
        client,
        server,
        community_id,
        sni,
        ech,
        ech_verdict,
        version,
        cipher,
        alpn_offered,
        alpn,
        versions_offered,
        ciphers_offered,
        hello_retry,
        resumed,
        early_data,
        encrypted_handshake,
        certificate,
        alerts,
        outcome,
        client_to_server,
        server_to_client,
        tcp_end,
        decrypted,
        decryption,
        packets,
        handshakes,
        websockets,
        findings: record_findings,
    } = t;
    out.extend_from_slice(b",\"ts\":");
    float(out, ts.as_secs_f64());
    out.extend_from_slice(b",\"end_ts\":");
    float(out, end_ts.as_secs_f64());
    out.extend_from_slice(b",\"client\":");
    endpoint(out, client)?;
    out.extend_from_slice(b",\"server\":");
    endpoint(out, server)?;
    out.extend_from_slice(b",\"community_id\":\"");
    string_content(out, community_id);
    out.extend_from_slice(b"\",\"sni\":");
    opt_string(out, sni.as_deref());
    out.extend_from_slice(b",\"ech\":");
    boolean(out, *ech);
    if let Some(v) = ech_verdict {
        out.extend_from_slice(b",\"ech_verdict\":");
        string(out, v);
    }
    out.extend_from_slice(b",\"version\":");
    opt_string(out, version.as_deref());
    out.extend_from_slice(b",\"cipher\":");
    opt_string(out, cipher.as_deref());
    out.extend_from_slice(b",\"alpn_offered\":");
    strings(out, alpn_offered);
    out.extend_from_slice(b",\"alpn\":");
    opt_string(out, alpn.as_deref());
    out.extend_from_slice(b",\"versions_offered\":");
    strings(out, versions_offered);
    out.extend_from_slice(b",\"ciphers_offered\":");
    integer(out, *ciphers_offered);
    out.extend_from_slice(b",\"hello_retry\":");
    boolean(out, *hello_retry);
    out.extend_from_slice(b",\"resumed\":");
    boolean(out, *resumed);
    if let Some(v) = early_data {
        out.extend_from_slice(b",\"early_data\":");
        string(out, v);
    }
    out.extend_from_slice(b",\"encrypted_handshake\":");
    boolean(out, *encrypted_handshake);
    out.extend_from_slice(b",\"certificate\":");
    match certificate {
        Some(c) => compact::append(out, c)?,
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"alerts\":");
    if alerts.is_empty() {
        out.extend_from_slice(b"[]");
    } else {
        compact::append(out, alerts)?;
    }
    out.extend_from_slice(b",\"outcome\":\"");
    out.extend_from_slice(outcome.as_str().as_bytes());
    out.push(b'"');
    for (key, d) in [
        (
            &b",\"client_to_server\":{\"records\":"[..],
            client_to_server,
        ),
        (b",\"server_to_client\":{\"records\":", server_to_client),
    ] {
        let TlsDirection {
            records,
            application_data_bytes,
        } = d;
        out.extend_from_slice(key);
        count(out, *records);
        out.extend_from_slice(b",\"application_data_bytes\":");
        count(out, *application_data_bytes);
        out.push(b'}');
    }
    out.extend_from_slice(b",\"tcp_end\":\"");
    out.extend_from_slice(ending_name(*tcp_end).as_bytes());
    out.extend_from_slice(b"\",\"decrypted\":");
    boolean(out, *decrypted);
    out.extend_from_slice(b",\"decryption\":");
    opt_string(out, decryption.as_deref());
    out.extend_from_slice(b",\"packets\":");
    integers(out, packets);
    out.extend_from_slice(b",\"handshakes\":");
    integers(out, handshakes);
    out.extend_from_slice(b",\"websockets\":");
    match websockets {
        Some(n) => count(out, *n),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"findings\":");
    findings(out, record_findings)?;
    out.push(b'}');
    Ok(())
}

/// An endpoint as `ser_endpoint` writes it: `"a.b.c.d:port"` digit by digit for IPv4, serde's
/// text for IPv6.
fn endpoint(out: &mut Vec<u8>, addr: &SocketAddr) -> Result<(), Error> {
    let SocketAddr::V4(v4) = addr else {
        return compact::append(out, addr);
    };
    let [a, b, c, d] = v4.ip().octets();
    out.push(b'"');
    small(out, a.into());
    out.push(b'.');
    small(out, b.into());
    out.push(b'.');
    small(out, c.into());
    out.push(b'.');
    small(out, d.into());
    out.push(b':');
    small(out, v4.port().into());
    out.push(b'"');
    Ok(())
}

/// `n` (below 100,000: an octet or a port) in decimal, without a buffer to copy from: two
/// digits a table lookup (a division by 100 for each pair rather than one by 10 for each
/// digit), one append.
#[inline]
fn small(out: &mut Vec<u8>, n: u32) {
    let lone = |n: u32| b'0' + (n % 10) as u8;
    let pair = |n: u32| pair(n.into());
    if n < 10 {
        out.push(lone(n));
    } else if n < 100 {
        out.extend_from_slice(&pair(n));
    } else if n < 1000 {
        let [b, c] = pair(n);
        out.extend_from_slice(&[lone(n / 100), b, c]);
    } else if n < 10_000 {
        let ([a, b], [c, d]) = (pair(n / 100), pair(n));
        out.extend_from_slice(&[a, b, c, d]);
    } else if n < 100_000 {
        let ([b, c], [d, e]) = (pair(n / 100), pair(n));
        out.extend_from_slice(&[lone(n / 10_000), b, c, d, e]);
    } else {
        integer(out, n);
    }
}

/// A counter: most are below 100 (a direction's pings, closes, messages), written without
/// itoa's buffer; larger ones by itoa.
fn count(out: &mut Vec<u8>, n: u64) {
    match u32::try_from(n) {
        Ok(n) if n < 100_000 => small(out, n),
        _ => integer(out, n),
    }
}

fn opt_message(out: &mut Vec<u8>, m: Option<&Message>) -> Result<(), Error> {
    match m {
        Some(m) => message(out, m),
        None => {
            out.extend_from_slice(b"null");
            Ok(())
        }
    }
}

/// A request or response head with its evidence (`Message`'s own `Serialize`).
fn message(out: &mut Vec<u8>, m: &Message) -> Result<(), Error> {
    let Message {
        head,
        packets,
        first_ts,
        // Not in the JSON.
        last_ts: _,
        truncated: _,
        body,
        cut,
    } = m;
    out.extend_from_slice(b"{\"start_line\":\"");
    string_content(out, &head.start_line);
    out.extend_from_slice(b"\",\"headers\":[");
    for (i, h) in head.headers.iter().enumerate() {
        out.extend_from_slice(if i == 0 {
            b"{\"name\":\""
        } else {
            b",{\"name\":\""
        });
        string_content(out, h.name);
        out.extend_from_slice(b"\",\"value\":\"");
        string_content(out, h.value);
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"],\"packets\":");
    integers(out, packets);
    out.extend_from_slice(b",\"ts\":");
    float(out, first_ts.as_secs_f64());
    out.extend_from_slice(b",\"head_bytes\":");
    integer(out, head.len);
    if let Some(body) = body {
        out.extend_from_slice(b",\"body\":");
        compact::append(out, body)?;
    }
    if let Some(cut) = cut {
        out.extend_from_slice(b",\"cut\":");
        compact::append(out, cut)?;
    }
    out.push(b'}');
    Ok(())
}

fn timing(out: &mut Vec<u8>, t: &Timing) {
    let Timing {
        connect_rtt_ms,
        response_ms,
        waited_ms,
    } = t;
    out.push(b'{');
    let mut first = true;
    let mut field = |out: &mut Vec<u8>, key: &[u8], value: Option<f64>| {
        if let Some(v) = value {
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(key);
            float(out, v);
        }
    };
    field(out, b"\"connect_rtt_ms\":", *connect_rtt_ms);
    field(out, b"\"response_ms\":", *response_ms);
    field(out, b"\"waited_ms\":", *waited_ms);
    out.push(b'}');
}

/// `Ending`'s snake_case name, as its derived `Serialize` writes it.
fn ending_name(e: Ending) -> &'static str {
    match e {
        Ending::CaptureEnded => "capture_ended",
        Ending::ClientFin => "client_fin",
        Ending::ServerFin => "server_fin",
        Ending::ClientRst => "client_rst",
        Ending::ServerRst => "server_rst",
        Ending::Evicted => "evicted",
        Ending::ResponseTimeout => "response_timeout",
    }
}

fn tcp_loss(out: &mut Vec<u8>, l: &TcpLoss) {
    let TcpLoss {
        acks,
        gaps,
        missed_bytes,
        retransmitted_segments,
        retransmitted_bytes,
    } = l;
    out.extend_from_slice(b"{\"acks\":");
    integer(out, *acks);
    out.extend_from_slice(b",\"gaps\":");
    integer(out, *gaps);
    out.extend_from_slice(b",\"missed_bytes\":");
    integer(out, *missed_bytes);
    out.extend_from_slice(b",\"retransmitted_segments\":");
    integer(out, *retransmitted_segments);
    out.extend_from_slice(b",\"retransmitted_bytes\":");
    integer(out, *retransmitted_bytes);
    out.push(b'}');
}

fn deflate(out: &mut Vec<u8>, d: &DeflateParams) {
    let DeflateParams {
        client_no_context_takeover,
        server_no_context_takeover,
        client_max_window_bits,
        server_max_window_bits,
    } = d;
    out.extend_from_slice(b"{\"client_no_context_takeover\":");
    boolean(out, *client_no_context_takeover);
    out.extend_from_slice(b",\"server_no_context_takeover\":");
    boolean(out, *server_no_context_takeover);
    out.extend_from_slice(b",\"client_max_window_bits\":");
    integer(out, *client_max_window_bits);
    out.extend_from_slice(b",\"server_max_window_bits\":");
    integer(out, *server_max_window_bits);
    out.push(b'}');
}

fn direction(out: &mut Vec<u8>, d: &DirectionStats) {
    let DirectionStats {
        frames,
        bytes,
        payload_bytes,
        messages,
        text_messages,
        text_bytes,
        binary_messages,
        binary_bytes,
        fragmented_messages,
        compressed_messages,
        largest_message,
        pings,
        pongs,
        closes,
        first_frame_ms,
        ping_intervals,
        preview,
        decoding_stopped,
    } = d;
    out.extend_from_slice(b"{\"frames\":");
    count(out, *frames);
    out.extend_from_slice(b",\"bytes\":");
    count(out, *bytes);
    out.extend_from_slice(b",\"payload_bytes\":");
    count(out, *payload_bytes);
    out.extend_from_slice(b",\"messages\":");
    count(out, *messages);
    out.extend_from_slice(b",\"text_messages\":");
    count(out, *text_messages);
    out.extend_from_slice(b",\"text_bytes\":");
    count(out, *text_bytes);
    out.extend_from_slice(b",\"binary_messages\":");
    count(out, *binary_messages);
    out.extend_from_slice(b",\"binary_bytes\":");
    count(out, *binary_bytes);
    out.extend_from_slice(b",\"fragmented_messages\":");
    count(out, *fragmented_messages);
    out.extend_from_slice(b",\"compressed_messages\":");
    count(out, *compressed_messages);
    out.extend_from_slice(b",\"largest_message\":");
    count(out, *largest_message);
    out.extend_from_slice(b",\"pings\":");
    count(out, *pings);
    out.extend_from_slice(b",\"pongs\":");
    count(out, *pongs);
    out.extend_from_slice(b",\"closes\":");
    count(out, *closes);
    if let Some(ms) = first_frame_ms {
        out.extend_from_slice(b",\"first_frame_ms\":");
        float(out, *ms);
    }
    if let Some(i) = ping_intervals {
        out.extend_from_slice(b",\"ping_intervals\":");
        intervals(out, i);
    }
    if let Some(p) = preview {
        out.extend_from_slice(b",\"preview\":");
        string(out, p);
    }
    if *decoding_stopped {
        out.extend_from_slice(b",\"decoding_stopped\":true");
    }
    out.push(b'}');
}

fn intervals(out: &mut Vec<u8>, i: &Intervals) {
    let Intervals {
        count,
        min_ms,
        max_ms,
        mean_ms,
    } = i;
    out.extend_from_slice(b"{\"count\":");
    integer(out, *count);
    out.extend_from_slice(b",\"min_ms\":");
    float(out, *min_ms);
    out.extend_from_slice(b",\"max_ms\":");
    float(out, *max_ms);
    out.extend_from_slice(b",\"mean_ms\":");
    float(out, *mean_ms);
    out.push(b'}');
}

fn close_info(out: &mut Vec<u8>, c: &CloseInfo) {
    let CloseInfo {
        client,
        server,
        initiator,
        handshake_completed,
    } = c;
    out.extend_from_slice(b"{\"client\":");
    opt_close_frame(out, client.as_ref());
    out.extend_from_slice(b",\"server\":");
    opt_close_frame(out, server.as_ref());
    out.extend_from_slice(b",\"initiator\":");
    match initiator {
        Some(p) => {
            out.push(b'"');
            out.extend_from_slice(p.as_str().as_bytes());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"handshake_completed\":");
    boolean(out, *handshake_completed);
    out.push(b'}');
}

fn opt_close_frame(out: &mut Vec<u8>, f: Option<&CloseFrame>) {
    let Some(CloseFrame {
        code,
        reason,
        packet,
        ts,
    }) = f
    else {
        out.extend_from_slice(b"null");
        return;
    };
    out.extend_from_slice(b"{\"code\":");
    match code {
        Some(c) => small(out, (*c).into()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"reason\":\"");
    string_content(out, reason);
    out.extend_from_slice(b"\",\"packet\":");
    count(out, *packet);
    out.extend_from_slice(b",\"ts\":");
    float(out, ts.as_secs_f64());
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv6Addr, SocketAddrV6};
    use std::path::Path;

    use super::super::{Line, SCHEMA};
    use super::*;
    use crate::capture::Timestamp;
    use crate::event::{
        BodyExcerpt, CertificateSummary, ConnectionEnding, Event, H2Goaway, H2Reset, H2Stream,
        Head, HeadCut, Header, Peer, StartLine, TlsAlert, TlsCarrier, TlsOutcome, Verdict,
    };
    use crate::finding::{Code, Evidence, FrameSender, HeadPart, MessageRef};
    use crate::present::redact::Redactor;

    fn ours(kind: &'static str, write: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>) -> String {
        let mut out = b"junk before".to_vec();
        compact::open_tagged(&mut out, kind, SCHEMA);
        write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        text.strip_prefix("junk before").unwrap().to_owned()
    }

    /// serde_json's line for the record: the oracle.
    fn theirs<R: serde::Serialize>(kind: &'static str, record: &R) -> String {
        serde_json::to_string(&Line {
            kind,
            schema: SCHEMA,
            record,
        })
        .unwrap()
    }

    /// Holds the hand-written line of a handshake or connection event to serde_json's; returns
    /// whether the event was one of those.
    fn same(event: &Event) -> bool {
        match event {
            Event::Handshake(r) => {
                assert_eq!(
                    ours("handshake", |out| handshake(out, r)),
                    theirs("handshake", r.as_ref()),
                    "{r:#?}"
                );
                true
            }
            Event::Connection(c) => {
                assert_eq!(
                    ours("connection", |out| connection(out, c)),
                    theirs("connection", c.as_ref()),
                    "{c:#?}"
                );
                true
            }
            Event::Tls(t) => {
                assert_eq!(
                    ours("tls", |out| tls(out, t)),
                    theirs("tls", t.as_ref()),
                    "{t:#?}"
                );
                true
            }
            _ => false,
        }
    }

    /// The events of one capture (with its key log when it has one: the wss:// records).
    fn events(pcap: &Path, redactor: Redactor) -> Vec<Event> {
        use crate::tui::feed::{spawn_file_reader, Feed, FileInput};
        let keylog = pcap.with_extension("keys");
        let keys = crate::run::keylog::Keys::open(
            keylog.is_file().then_some(keylog.as_path()),
            crate::tls::keylog::DEFAULT_MAX_SESSIONS,
            false,
        )
        .unwrap();
        let input = FileInput::one(pcap.to_str().unwrap());
        let (rx, handle) =
            spawn_file_reader(&input, None, Default::default(), redactor, keys).unwrap();
        let events = rx
            .iter()
            .filter_map(|f| match f {
                Feed::Event(e) => Some(e),
                _ => None,
            })
            .collect();
        handle.join().unwrap();
        events
    }

    fn captures(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .collect();
        v.sort();
        v
    }

    /// Every handshake, connection and TLS record of every bundled capture (plaintext, h2c, wss://
    /// with its keys, Engine.IO), as the engine emits it and as the redactor masks it: the
    /// hand-written line is serde_json's, byte for byte.
    #[test]
    fn every_samples_records_match_serde_json() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let mut dirs = vec![root.clone(), root.join("tls")];
        if let Some(public) = std::env::var_os("WSSNIFF_PUBLIC_CAPTURES") {
            dirs.push(public.into());
        }
        let mut compared = 0;
        for dir in dirs.iter().filter(|d| d.is_dir()) {
            for pcap in captures(dir) {
                for redactor in [Redactor::disabled(), Redactor::new(&[7; 16]).unwrap()] {
                    for e in events(&pcap, redactor) {
                        compared += usize::from(same(&e));
                    }
                }
            }
        }
        assert!(compared >= 390, "only {compared} records compared");
    }

    /// A small deterministic generator (xorshift) for the random records.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn coin(&mut self) -> bool {
            self.next() & 1 == 1
        }
        fn pick<T: Clone>(&mut self, items: &[T]) -> T {
            items[self.below(items.len())].clone()
        }
        fn text(&mut self) -> String {
            const PIECES: &[&str] = &[
                "",
                "a",
                "Host",
                "websocket",
                "\"",
                "\\",
                "\n",
                "\r\n",
                "\t",
                "\u{0}",
                "\u{1f}",
                "\u{7f}",
                "é",
                "€",
                "😀",
                "\u{2028}",
                "/",
                "0123456789abcdef",
                " ",
                "<redacted:",
            ];
            let n = self.below(6);
            (0..n).map(|_| self.pick(PIECES)).collect()
        }
        fn opt_text(&mut self) -> Option<String> {
            self.coin().then(|| self.text())
        }
        fn texts(&mut self) -> Vec<String> {
            (0..self.below(4)).map(|_| self.text()).collect()
        }
        fn number(&mut self) -> u64 {
            let edges = [
                0,
                1,
                9,
                10,
                99,
                100,
                999,
                1000,
                9999,
                10_000,
                99_999,
                100_000,
                u64::from(u32::MAX),
                u64::MAX,
            ];
            if self.coin() {
                self.pick(&edges)
            } else {
                self.next() >> self.below(64)
            }
        }
        fn float(&mut self) -> f64 {
            let edges = [
                0.0,
                -0.0,
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                1e300,
                -1e-300,
                5e-324,
                126.629,
                0.009,
                1_700_000_000.000_074,
            ];
            if self.coin() {
                self.pick(&edges)
            } else {
                f64::from_bits(self.next())
            }
        }
        fn opt_float(&mut self) -> Option<f64> {
            self.coin().then(|| self.float())
        }
        fn ts(&mut self) -> Timestamp {
            let edges = [0, -1, i64::MIN, i64::MAX, 1_700_000_000_000_074_000];
            Timestamp(if self.coin() {
                self.pick(&edges)
            } else {
                self.next() as i64
            })
        }
        fn endpoint(&mut self) -> SocketAddr {
            let port = self.pick(&[0u16, 7, 80, 443, 8080, 10_000, 65_535]);
            if self.below(4) == 0 {
                let ip = Ipv6Addr::from(u128::from(self.next()) << self.below(64));
                SocketAddr::V6(SocketAddrV6::new(ip, port, 0, self.pick(&[0, 3])))
            } else {
                let mut octet = || self.pick(&[0u8, 1, 9, 10, 99, 100, 199, 200, 255]);
                SocketAddr::from(([octet(), octet(), octet(), octet()], port))
            }
        }
        fn packets(&mut self) -> Vec<u64> {
            (0..self.below(4)).map(|_| self.number()).collect()
        }
        fn findings(&mut self) -> Vec<Finding> {
            let codes = [Code::AcceptMismatch, Code::SlowResponse, Code::NoResponse];
            (0..self.below(3))
                .map(|_| {
                    let mut f = Finding::new(self.pick(&codes), self.text())
                        .packets(&self.packets())
                        .cite(MessageRef::Interim(self.below(3)), HeadPart::Header(2))
                        .cite(MessageRef::Request, HeadPart::Missing(self.text()))
                        .evidence(Evidence::Frames {
                            sender: FrameSender::Server,
                        });
                    for _ in 0..self.below(3) {
                        f = f.line(self.text());
                    }
                    if self.coin() {
                        f.downgrade();
                    }
                    f
                })
                .collect()
        }
        fn message(&mut self) -> Message {
            let start = if self.coin() {
                StartLine::Request {
                    method: self.text(),
                    target: self.text(),
                }
            } else {
                StartLine::Response {
                    status: self.number() as u16,
                    reason: self.text(),
                }
            };
            let headers = (0..self.below(6))
                .map(|_| Header {
                    name: self.text(),
                    value: self.text(),
                })
                .collect();
            let body = self.coin().then(|| BodyExcerpt {
                bytes: if self.coin() {
                    self.text().into_bytes()
                } else {
                    vec![0, 0xff, 3]
                },
                length: self.coin().then(|| self.number()),
                truncated: self.coin(),
                content_encoding: self.opt_text(),
                undecoded: self.coin(),
                problem: self.opt_text(),
            });
            Message {
                head: Head {
                    start,
                    version_minor: 1,
                    start_line: self.text(),
                    headers,
                    len: self.number() as usize,
                    raw: self.text(),
                },
                packets: self.packets(),
                first_ts: self.ts(),
                last_ts: self.ts(),
                truncated: self.coin(),
                body,
                cut: self.coin().then(|| HeadCut {
                    snaplen: self.number() as u32,
                    missing_bytes: self.number(),
                    packet: self.number(),
                }),
            }
        }
        fn loss(&mut self) -> TcpLoss {
            if self.coin() {
                return TcpLoss::default();
            }
            TcpLoss {
                acks: self.number(),
                gaps: self.number(),
                missed_bytes: self.number(),
                retransmitted_segments: self.number(),
                retransmitted_bytes: self.number(),
            }
        }
        fn tls(&mut self) -> Option<TlsCarrier> {
            self.coin().then(|| TlsCarrier {
                sni: self.opt_text(),
                version: self.opt_text(),
                cipher: self.opt_text(),
                alpn: self.opt_text(),
                h2_offered: self.coin(),
            })
        }
        fn reset(&mut self) -> H2Reset {
            H2Reset {
                by: self.pick(&[Peer::Client, Peer::Server]),
                code: self.number() as u32,
                name: self.coin().then_some("CANCEL"),
                last_stream: self.coin().then(|| self.number() as u32),
                debug: self.opt_text(),
                packet: self.number(),
            }
        }
        fn ending(&mut self) -> Ending {
            self.pick(&[
                Ending::CaptureEnded,
                Ending::ClientFin,
                Ending::ServerFin,
                Ending::ClientRst,
                Ending::ServerRst,
                Ending::Evicted,
                Ending::ResponseTimeout,
            ])
        }
        fn handshake(&mut self) -> HandshakeRecord {
            HandshakeRecord {
                id: self.number(),
                ts: self.ts(),
                client: self.endpoint(),
                server: self.endpoint(),
                community_id: self.text(),
                verdict: self.pick(&[
                    Verdict::Ok,
                    Verdict::Warning,
                    Verdict::Failed,
                    Verdict::Incomplete,
                ]),
                status: self.coin().then(|| self.number() as u16),
                method: self.opt_text(),
                host: self.opt_text(),
                path: self.opt_text(),
                origin: self.opt_text(),
                key: self.opt_text(),
                accept: self.opt_text(),
                expected_accept: self.opt_text(),
                subprotocols_offered: self.texts(),
                subprotocol: self.opt_text(),
                extensions_offered: self.texts(),
                extensions: self.texts(),
                request: self.coin().then(|| self.message()),
                response: self.coin().then(|| self.message()),
                interim: (0..self.below(3)).map(|_| self.message()).collect(),
                timing: Timing {
                    connect_rtt_ms: self.opt_float(),
                    response_ms: self.opt_float(),
                    waited_ms: self.opt_float(),
                },
                ending: self.coin().then(|| self.ending()),
                findings: self.findings(),
                loss: self.loss(),
                h2: self.coin().then(|| H2Stream {
                    stream_id: self.number() as u32,
                    upgraded: self.coin(),
                    connect_protocol_enabled: self.coin().then(|| self.coin()),
                    unknown_fields: self.number() as usize,
                    mid_connection: self.coin(),
                    reset: self.coin().then(|| self.reset()),
                    goaway: self.coin().then(|| self.reset()),
                }),
                tls: self.tls(),
            }
        }
        fn direction(&mut self) -> DirectionStats {
            DirectionStats {
                frames: self.number(),
                bytes: self.number(),
                payload_bytes: self.number(),
                messages: self.number(),
                text_messages: self.number(),
                text_bytes: self.number(),
                binary_messages: self.number(),
                binary_bytes: self.number(),
                fragmented_messages: self.number(),
                compressed_messages: self.number(),
                largest_message: self.number(),
                pings: self.number(),
                pongs: self.number(),
                closes: self.number(),
                first_frame_ms: self.opt_float(),
                ping_intervals: self.coin().then(|| Intervals {
                    count: self.number(),
                    min_ms: self.float(),
                    max_ms: self.float(),
                    mean_ms: self.float(),
                }),
                preview: self.opt_text(),
                decoding_stopped: self.coin(),
            }
        }
        fn close_frame(&mut self) -> Option<CloseFrame> {
            self.coin().then(|| CloseFrame {
                code: self.coin().then(|| self.number() as u16),
                reason: self.text(),
                packet: self.number(),
                ts: self.ts(),
            })
        }
        fn connection(&mut self) -> ConnectionRecord {
            ConnectionRecord {
                handshake_id: self.coin().then(|| self.number()),
                ts: self.ts(),
                end_ts: self.ts(),
                client: self.endpoint(),
                server: self.endpoint(),
                community_id: self.text(),
                handshake_observed: self.coin(),
                permessage_deflate: self.coin().then(|| DeflateParams {
                    client_no_context_takeover: self.coin(),
                    server_no_context_takeover: self.coin(),
                    client_max_window_bits: self.number() as u8,
                    server_max_window_bits: self.number() as u8,
                }),
                duration_ms: self.float(),
                client_to_server: self.direction(),
                server_to_client: self.direction(),
                close: CloseInfo {
                    client: self.close_frame(),
                    server: self.close_frame(),
                    initiator: self
                        .coin()
                        .then(|| self.pick(&[Peer::Client, Peer::Server])),
                    handshake_completed: self.coin(),
                },
                ending: self.pick(&[
                    ConnectionEnding::Clean,
                    ConnectionEnding::CloseNotAnswered,
                    ConnectionEnding::FinWithoutClose,
                    ConnectionEnding::Rst,
                    ConnectionEnding::Open,
                    ConnectionEnding::Evicted,
                ]),
                tcp_end: self.ending(),
                idle_before_end_ms: self.opt_float(),
                max_silence_ms: self.float(),
                findings: self.findings(),
                loss: self.loss(),
                h2_stream_id: self.coin().then(|| self.number() as u32),
                h2_goaway: self.coin().then(|| {
                    Box::new(H2Goaway {
                        frame: self.reset(),
                        ts: self.ts(),
                    })
                }),
                tls: self.tls(),
                frame_log: Default::default(),
            }
        }
    }

    impl Rng {
        fn tls_record(&mut self) -> TlsRecord {
            let words = ["hidden", "offered", "a\"b", ""];
            TlsRecord {
                ts: self.ts(),
                end_ts: self.ts(),
                client: self.endpoint(),
                server: self.endpoint(),
                community_id: self.text(),
                sni: self.opt_text(),
                ech: self.coin(),
                ech_verdict: self.coin().then(|| self.pick(&words)),
                version: self.opt_text(),
                cipher: self.opt_text(),
                alpn_offered: self.texts(),
                alpn: self.opt_text(),
                versions_offered: self.texts(),
                ciphers_offered: self.number() as usize,
                hello_retry: self.coin(),
                resumed: self.coin(),
                early_data: self.coin().then(|| self.pick(&words)),
                encrypted_handshake: self.coin(),
                certificate: self.coin().then(|| CertificateSummary {
                    subject: self.text(),
                    issuer: self.text(),
                    san: self.texts(),
                    not_before: self.next() as i64,
                    not_after: self.next() as i64,
                    self_signed: self.coin(),
                    chain_len: self.number() as usize,
                }),
                alerts: (0..self.below(3))
                    .map(|_| TlsAlert {
                        from: self.pick(&[Peer::Client, Peer::Server]),
                        level: self.coin().then_some("fatal"),
                        description: self.opt_text(),
                        encrypted: self.coin(),
                        probable: self.coin(),
                        packet: self.number(),
                        ts: self.ts(),
                    })
                    .collect(),
                outcome: self.pick(&[
                    TlsOutcome::ApplicationData,
                    TlsOutcome::HandshakeFailed,
                    TlsOutcome::Aborted,
                    TlsOutcome::ClosedBeforeData,
                    TlsOutcome::Unused,
                    TlsOutcome::Incomplete,
                    TlsOutcome::HandshakeNotObserved,
                ]),
                client_to_server: TlsDirection {
                    records: self.number(),
                    application_data_bytes: self.number(),
                },
                server_to_client: TlsDirection {
                    records: self.number(),
                    application_data_bytes: self.number(),
                },
                tcp_end: self.ending(),
                decrypted: self.coin(),
                decryption: self.opt_text(),
                packets: self.packets(),
                handshakes: self.packets(),
                websockets: self.coin().then(|| self.number()),
                findings: self.findings(),
            }
        }
    }

    /// Random records with every optional part present or not, every enum value, strings of
    /// escapes, controls and non-ASCII, edge and random numbers, non-finite floats (null, as
    /// serde_json writes them), IPv4 and IPv6 endpoints: byte for byte serde_json's line.
    #[test]
    fn random_records_match_serde_json() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            assert!(same(&Event::Handshake(rng.handshake().into())));
            assert!(same(&Event::Connection(rng.connection().into())));
            assert!(same(&Event::Tls(rng.tls_record().into())));
        }
    }

    /// The digit writers against itoa at and around every power of ten, and every value the
    /// pair table writes (below 100,000) and a little past it.
    #[test]
    fn counters_are_written_as_itoa_writes_them() {
        let mut values: Vec<u64> = (0..=120_000).collect();
        for p in 1..20 {
            let t = 10u64.pow(p);
            values.extend([t - 1, t, t + 1]);
        }
        values.extend([u64::from(u32::MAX), u64::MAX]);
        for v in values {
            let mut out = Vec::new();
            count(&mut out, v);
            assert_eq!(out, itoa::Buffer::new().format(v).as_bytes(), "{v}");
            if let Ok(v) = u32::try_from(v) {
                out.clear();
                small(&mut out, v);
                assert_eq!(out, itoa::Buffer::new().format(v).as_bytes(), "{v}");
            }
        }
    }
}
