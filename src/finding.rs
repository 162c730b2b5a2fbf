//! Findings: what wssniff says about a handshake or a WebSocket connection, each with a stable
//! code.
//!
//! The catalogue below is the single source of the codes, their default severity, a title
//! and the fix hint; `wssniff --list-findings` prints it and README.md documents it. Beside
//! it, [`NoticeCode`] catalogues the notices: what wssniff says about the capture as a whole
//! (a cap it hit, packets it cannot read), each with the flag that changes the cap.

use serde::Serialize;

/// How bad a finding is. The handshake verdict is derived from the worst one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Context worth knowing; never changes the verdict.
    Info,
    /// A rule was broken or evidence is incomplete, but the connection can still open.
    Warning,
    /// The connection did not open, or a compliant peer must fail it.
    Error,
}

impl Severity {
    /// Lower-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

macro_rules! catalogue {
    ($( $variant:ident => $code:literal, $sev:ident, $title:literal, $hint:literal; )*) => {
        /// A finding code. The snake_case string is stable: scripts and dashboards key on it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $( #[doc = $title] $variant, )*
        }

        impl Code {
            /// Every code, in catalogue order.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The stable snake_case code.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $code, )* }
            }

            /// Default severity.
            #[must_use]
            pub fn severity(self) -> Severity {
                match self { $( Code::$variant => Severity::$sev, )* }
            }

            /// One-line description of the condition.
            #[must_use]
            pub fn title(self) -> &'static str {
                match self { $( Code::$variant => $title, )* }
            }

            /// What to do about it, at the layer where it broke.
            #[must_use]
            pub fn hint(self) -> &'static str {
                match self { $( Code::$variant => $hint, )* }
            }

            /// Looks a code up by its string.
            #[must_use]
            pub fn parse(s: &str) -> Option<Code> {
                match s { $( $code => Some(Code::$variant), )* _ => None }
            }
        }
    };
}

catalogue! {
    // --- the request (RFC 6455 §4.1, §4.2.1) ---
    RequestNotGet => "request_not_get", Error,
        "The upgrade request does not use GET (RFC 6455 §4.1)",
        "Send the handshake as GET. If the client does, an API gateway or proxy is rewriting the method.";
    RequestHttpVersion => "request_http_version", Error,
        "The upgrade request is not HTTP/1.1 or later (RFC 6455 §4.1)",
        "HTTP/1.0 has no Upgrade. A proxy speaking HTTP/1.0 upstream (nginx's default) needs `proxy_http_version 1.1;`.";
    RequestHostMissing => "request_host_missing", Error,
        "The upgrade request has no Host header (RFC 6455 §4.1 item 4)",
        "Send Host; if the client does, a proxy between it and this capture point dropped it.";
    RequestUpgradeMissing => "request_upgrade_missing", Error,
        "The request carries Sec-WebSocket-* headers but no `Upgrade: websocket` (RFC 6455 §4.1 item 5)",
        "Upgrade is hop-by-hop: every proxy must forward it explicitly. nginx: `proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";`. Check each hop between the client and this capture point.";
    RequestUpgradeNotWebsocket => "request_upgrade_not_websocket", Error,
        "The request's Upgrade header does not contain the token `websocket`",
        "Send `Upgrade: websocket`. A proxy that sets a fixed Upgrade value (e.g. h2c) is overwriting the client's.";
    RequestConnectionMissingUpgrade => "request_connection_missing_upgrade", Error,
        "The request's Connection header does not contain the token `Upgrade` (RFC 6455 §4.1 item 6)",
        "Connection must list `Upgrade` (e.g. `Connection: keep-alive, Upgrade`). nginx: `proxy_set_header Connection \"upgrade\";` (or a map from $http_upgrade).";
    RequestKeyMissing => "request_key_missing", Error,
        "The request has no Sec-WebSocket-Key (RFC 6455 §4.1 item 7)",
        "A hand-made client (curl, a health check) must send a random 16-byte base64 key; real WebSocket libraries always do.";
    RequestKeyDuplicate => "request_key_duplicate", Error,
        "The request has more than one Sec-WebSocket-Key",
        "Send exactly one key; something between client and server is adding a second one.";
    RequestKeyInvalid => "request_key_invalid", Error,
        "Sec-WebSocket-Key is not base64 of exactly 16 bytes (RFC 6455 §4.1 item 7)",
        "Generate the key as base64 of 16 random bytes (24 characters ending in `==`).";
    RequestVersionMissing => "request_version_missing", Error,
        "The request has no Sec-WebSocket-Version (RFC 6455 §4.1 item 9)",
        "Send `Sec-WebSocket-Version: 13`.";
    RequestVersionUnsupported => "request_version_unsupported", Error,
        "Sec-WebSocket-Version is not 13 (RFC 6455 §4.1 item 9)",
        "Upgrade the client library: only version 13 is standard; 8 and earlier are drafts servers refuse.";
    CrossOrigin => "cross_origin", Info,
        "Origin names a different host than Host (a cross-origin WebSocket)",
        "Servers that check Origin reject this unless the origin is on their allow list.";
    // --- the response status ---
    UpgradeIgnored => "upgrade_ignored", Error,
        "The server answered a 2xx instead of 101: the Upgrade never reached the application",
        "Classic header stripping: a proxy or load balancer forwarded the request as plain HTTP. nginx: `proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";` in the location; for other proxies enable WebSocket/upgrade support. If no proxy is involved, the route serves HTTP only.";
    Redirected => "redirected", Error,
        "The server answered a redirect; WebSocket clients do not follow redirects (RFC 6455 §4.1)",
        "Point the client at the final URL in Location (check ws vs wss, host and trailing slash), or stop the redirect for the WebSocket path.";
    BadRequest => "bad_request", Error,
        "The server answered 400 Bad Request to the upgrade",
        "The server rejected the handshake headers: see the request findings and the response body for its reason.";
    Unauthorized => "unauthorized", Error,
        "The server answered 401/407: authentication required",
        "Browsers cannot set Authorization on a WebSocket: pass the credential in a cookie, the query string or the first message, or authenticate at the proxy.";
    Forbidden => "forbidden", Error,
        "The server answered 403 Forbidden to the upgrade",
        "Usually an Origin check (websockets `origins=`, ws `verifyClient`, Spring `setAllowedOrigins`, Socket.IO `cors`) or an auth/WAF rule: allow the Origin shown, or fix the credential.";
    NotFound => "not_found", Error,
        "The server answered 404: no WebSocket endpoint at this path",
        "Check the path and that the proxy location routes it to the WebSocket backend (trailing slash, path prefix rewriting).";
    VersionRejected => "version_rejected", Error,
        "The server answered 426 Upgrade Required: it does not speak the client's WebSocket version",
        "Use a client that sends Sec-WebSocket-Version 13 (the versions the server supports are listed in its response).";
    UpgradeRequired => "upgrade_required", Error,
        "The server answered 426 Upgrade Required although the version was 13: it saw no valid upgrade",
        "The request reached the server without a usable Upgrade/Connection pair: see the request findings; a proxy on the way may have stripped them.";
    BadGateway => "bad_gateway", Error,
        "A proxy answered 502 Bad Gateway: it could not reach or understand the upstream",
        "The proxy is up, the WebSocket backend is not: check the upstream address and port, that the backend is running, and the proxy's error log.";
    ServiceUnavailable => "service_unavailable", Error,
        "The server or proxy answered 503 Service Unavailable",
        "No healthy backend, rate limiting or maintenance mode: check the proxy's upstream health and connection limits.";
    BackendRefused => "backend_refused", Error,
        "The proxy's own TCP connects to its backend were refused (an RST answering the SYN) while the request waited: the 502/503 is the proxy's, the backend is not listening",
        "Start the backend, or fix the address and port the proxy connects to (HAProxy `server` line, nginx `upstream`/`proxy_pass`): the packets show the port that refused. HAProxy logs this as termination state SC-- after its retries; nginx as \"connect() failed (111: Connection refused)\".";
    GatewayTimeout => "gateway_timeout", Error,
        "A proxy answered 504 Gateway Timeout: the upstream did not answer the handshake in time",
        "The backend accepted the connection but did not complete the handshake: check it is not blocked, and the proxy's connect/read timeouts.";
    HttpVersionRejected => "http_version_rejected", Error,
        "The server answered 505 HTTP Version Not Supported: it refused the request's HTTP version (an upgrade needs HTTP/1.1)",
        "Send the upgrade as HTTP/1.1. If the client did, a proxy between it and the server forwarded it as HTTP/1.0: nginx's default, fixed with `proxy_http_version 1.1;` in the location (see the proxy hop when both legs are captured).";
    ClientError => "client_error", Error,
        "The server answered another 4xx status to the upgrade",
        "Read the response body and the server log for the reason; the request findings may name it.";
    ServerError => "server_error", Error,
        "The server answered another 5xx status to the upgrade",
        "The application failed while handling the handshake: check its log at the response time shown.";
    UnexpectedStatus => "unexpected_status", Error,
        "The server answered a status that is not 101 and not a known failure",
        "Only 101 Switching Protocols opens a WebSocket.";
    // --- proxy hops (both legs of a proxied handshake captured; `hop` records) ---
    ProxyBrokeRequest => "proxy_broke_request", Error,
        "A proxy forwarded the upgrade in a form that cannot upgrade; the refusal the client got is the upstream's answer to that forwarded request",
        "Fix the proxy, not the server: forward WebSocket upgrades as HTTP/1.1 with Upgrade and Connection passed on (nginx: `proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";` in the location; other proxies: enable WebSocket/upgrade support). The upstream's reason describes the request the proxy sent, not the client's.";
    ProxyBrokeResponse => "proxy_broke_response", Error,
        "The upstream accepted the upgrade (101) but the proxy answered the client something else, or changed the 101 on the way back",
        "Fix the proxy, not the server: something in it (a response header filter, a cache, an auth or WAF module answering on its own, an upstream timeout shorter than the handshake) replaced or rewrote the upstream's 101. Check its configuration and error log at the response time shown.";
    // --- the 101 response (RFC 6455 §4.2.2, §4.1 client checks) ---
    ResponseUpgradeMissing => "response_upgrade_missing", Error,
        "The 101 response has no `Upgrade: websocket` (RFC 6455 §4.1, client check 2)",
        "The server or a proxy in front of it must send `Upgrade: websocket`; compliant clients fail the connection without it.";
    ResponseConnectionMissingUpgrade => "response_connection_missing_upgrade", Error,
        "The 101 response's Connection header does not contain `Upgrade` (RFC 6455 §4.1, client check 3)",
        "Send `Connection: Upgrade` in the 101; a proxy that rewrites Connection on responses must keep it.";
    AcceptMissing => "accept_missing", Error,
        "The 101 response has no Sec-WebSocket-Accept (RFC 6455 §4.1, client check 4)",
        "The server must answer the client's key; a proxy answering 101 on its own must too.";
    AcceptMismatch => "accept_mismatch", Error,
        "Sec-WebSocket-Accept does not match the client's key (RFC 6455 §4.2.2 item 5.4)",
        "Accept = base64(SHA-1(key + \"258EAFA5-E914-47DA-95CA-C5AB0DC85B11\")). A stale value comes from a cache or a proxy that replays responses; a wrong one from a hand-made server implementation.";
    AcceptDuplicate => "accept_duplicate", Error,
        "The 101 response has more than one Sec-WebSocket-Accept",
        "Send exactly one; two usually means both a proxy and the backend answered the key.";
    SubprotocolNotOffered => "subprotocol_not_offered", Error,
        "The server chose a subprotocol the client did not offer (RFC 6455 §4.1, client check 6)",
        "The server must pick one of the client's Sec-WebSocket-Protocol values (or none); align the protocol names on both sides.";
    SubprotocolMultiple => "subprotocol_multiple", Error,
        "The server chose more than one subprotocol (RFC 6455 §4.2.2)",
        "Answer with exactly one Sec-WebSocket-Protocol value.";
    SubprotocolNotSelected => "subprotocol_not_selected", Warning,
        "The client offered subprotocols and the server chose none",
        "Browsers accept this but some clients (node ws) fail the connection; make the server select one of the offered protocols.";
    ExtensionNotOffered => "extension_not_offered", Error,
        "The server accepted an extension the client did not offer (RFC 6455 §4.1, client check 5)",
        "The server (or a proxy) must only answer extensions from the client's Sec-WebSocket-Extensions.";
    ExtensionParamsInvalid => "extension_params_invalid", Error,
        "The negotiated permessage-deflate parameters are invalid (RFC 7692 §7)",
        "Check the window-bits values (8–15) and that client_max_window_bits is only answered when the client offered it.";
    // --- no or partial exchange ---
    NoResponse => "no_response", Error,
        "The connection closed with no response to the upgrade request",
        "The server accepted TCP but never answered the handshake: check the application is listening on HTTP there (not TLS or another protocol), is not blocked, and for a proxy's timeouts.";
    HttpAfterSwitch => "http_after_switch", Warning,
        "HTTP followed a 101 on the same connection: the switch to WebSocket did not take effect",
        "One side kept speaking HTTP after the 101: a proxy or server that answers 101 without tunnelling, or a client that ignored a failed handshake and sent another request. The packets show which side; check that every hop really switches after a 101 (the HTTP that followed is analysed as HTTP, not as frames).";
    SlowResponse => "slow_response", Warning,
        "The response came later than --slow-response after the request: clients with a shorter handshake timeout give up first",
        "Clients give up on a slow opening handshake (websockets open_timeout 10 s, Socket.IO timeout 20 s, ws handshakeTimeout when set) and report a failure the server never sees: find what delays the answer (an auth or origin hook, an overloaded event loop, a proxy queueing upgrades or a slow upstream connect), or raise the client's timeout.";
    ResponseNotCaptured => "response_not_captured", Warning,
        "The capture ended before the response arrived",
        "Capture for longer, or check the server if the response is long overdue.";
    RequestNotCaptured => "request_not_captured", Warning,
        "A WebSocket response was captured without its request (capture started late or lost packets)",
        "Start the capture before the client connects.";
    ResponseAckedNotCaptured => "response_acked_not_captured", Warning,
        "The client acknowledged bytes from the server that the capture does not hold: the server answered, the capture did not keep it",
        "Capture both directions at one point (on the host, or a SPAN/TAP of both directions): asymmetric (ECMP) routing or a one-way SPAN sends the return path elsewhere. If both directions were captured, the capture dropped packets: capture with a larger buffer (-B), a snaplen of 0, or closer to the host.";
    HttpMalformed => "http_malformed", Error,
        "A request or response head is not valid HTTP/1.x",
        "The peer sent bytes that are not HTTP: check what listens on this port (TLS where plain HTTP is expected, or another protocol).";
    // --- the capture itself ---
    CaptureGap => "capture_gap", Warning,
        "Bytes of this exchange were missing from the capture",
        "Packets were dropped by the capture (not necessarily the network): capture with a larger buffer (-B), a snaplen of 0, or closer to the host.";
    SnaplenTruncated => "snaplen_truncated", Warning,
        "Packets of this exchange were cut short by the capture's snap length",
        "Capture with `-s 0` so the headers are complete.";
    OverlapConflict => "overlap_conflict", Warning,
        "A retransmitted TCP segment carried different bytes than the first copy",
        "Either the capture is corrupt or something on the path rewrites retransmissions (IDS evasion); the first copy was used.";
    HeaderLimitExceeded => "header_limit_exceeded", Warning,
        "The HTTP head grew past wssniff's header cap before it ended",
        "Raise the cap with --max-header-bytes if the head is legitimately large; servers typically reject heads over 8-16 KiB with 431.";
    FlowEvicted => "flow_evicted", Warning,
        "The connection was dropped from the flow table (flow cap or idle timeout) while the handshake was pending",
        "Raise --max-flows or --flow-timeout.";
    MemcapReached => "memcap_reached", Warning,
        "wssniff's memory budget (--memcap) was full: part of this exchange or connection was not kept (the message says what)",
        "The capture holds more buffered state than the budget (many unfinished heads, large out-of-order windows, pipelined floods: often an attack). Raise --memcap if the host has the memory, or lower --max-flows / --max-header-bytes.";
    // --- HTTP/2 extended CONNECT (RFC 8441) ---
    H2ConnectProtocolNotEnabled => "h2_connect_protocol_not_enabled", Error,
        "The client sent an extended CONNECT (:protocol) although the server's SETTINGS did not enable it (RFC 8441 §4)",
        "The client is at fault: it may send :protocol only after the server's SETTINGS carried SETTINGS_ENABLE_CONNECT_PROTOCOL = 1; otherwise it must open the WebSocket on a separate HTTP/1.1 connection. A server (or proxy) that means to serve WebSockets over HTTP/2 must send the setting.";
    H2ConnectMalformed => "h2_connect_malformed", Error,
        "The extended CONNECT lacks a pseudo-header RFC 8441 §4 requires (:method CONNECT, :protocol websocket, :scheme, :path, :authority)",
        "Send all five pseudo-header fields; a proxy that rewrites HTTP/2 requests may be dropping :protocol.";
    H2StreamReset => "h2_stream_reset", Error,
        "The stream was reset (RST_STREAM) before the server's final response",
        "The error code names the cause: REFUSED_STREAM or ENHANCE_YOUR_CALM (server load or limits), PROTOCOL_ERROR (a malformed request, often :protocol unsupported), CANCEL (the client gave up).";
    H2Goaway => "h2_goaway", Error,
        "The connection went away (GOAWAY) before the server answered the stream",
        "Streams above GOAWAY's last stream id were never processed: the client should retry on a new connection; an error code other than NO_ERROR names the fault.";
    H2GoawayClosedWebsocket => "h2_goaway_closed_websocket", Error,
        "A peer ended the HTTP/2 connection (GOAWAY with an error code, or one whose last stream id is below the stream) while a WebSocket was open on it: the WebSocket ended with the connection",
        "The error code names the fault: ENHANCE_YOUR_CALM or INTERNAL_ERROR after a flood (often a server's denial-of-service defence), PROTOCOL_ERROR (a broken peer), NO_ERROR with a low last stream (a shutdown that did not wait). Every WebSocket on the connection ends at once: clients see 1006 and must reconnect.";
    H2GoawayGraceful => "h2_goaway_graceful", Info,
        "The server began a graceful shutdown (GOAWAY NO_ERROR covering the stream) while the WebSocket was open: the stream may finish, no new stream may start on the connection",
        "A proxy reload or a server stopping: HTTP/2 lets open streams finish, so long-lived WebSockets keep the old process alive until they close (HAProxy hard-stop-after, hypercorn graceful_timeout bound that). If WebSockets drop soon after, the shutdown's deadline is the cause.";
    H2Fallback => "h2_fallback", Info,
        "The WebSocket used an HTTP/1.1 upgrade on its own connection while the client had an HTTP/2 connection to the same server",
        "When that connection's SETTINGS did not enable extended CONNECT, enable RFC 8441 on the server or proxy (HAProxy 2.4+, Envoy, h2o, hypercorn; nginx 1.22 cannot) to carry WebSockets on the existing h2 connection; otherwise the client chose HTTP/1.1.";
    H2AlpnDowngrade => "h2_alpn_downgrade", Info,
        "The client offered h2 by ALPN, the server selected HTTP/1.1: the WebSocket used a classic upgrade on that TLS connection, since extended CONNECT (RFC 8441) needs HTTP/2",
        "Nothing is broken: the HTTP/1.1 upgrade is the normal path. To carry WebSockets over HTTP/2, the server or proxy must offer h2 on this TLS listener (nginx `listen ... ssl http2`, HAProxy `bind ... alpn h2,http/1.1`) and enable extended CONNECT (HAProxy 2.4+, Envoy, h2o, hypercorn; nginx 1.22 cannot).";
    H2FieldsUnknown => "h2_fields_unknown", Info,
        "Some header fields cannot be shown: the capture started after the HPACK table was built",
        "Capture from the start of the HTTP/2 connection to see every field; the fields shown are exact, the rest are marked (unknown).";
    H2FrameInvalid => "h2_frame_invalid", Warning,
        "An HTTP/2 frame breaks RFC 9113 (length, padding, stream, sequence) or the preface is missing",
        "A real peer answers this with a connection error: check the implementation (or the proxy) that sent it.";
    H2HpackProblem => "h2_hpack_problem", Warning,
        "An HPACK header block hit a cap or broke RFC 7541 (table size update, unknown index, undecodable field)",
        "Over a cap: raise --max-header-bytes if the traffic is legitimate. Otherwise the sender's HPACK encoder is faulty and a real peer answers COMPRESSION_ERROR.";
    H2RapidReset => "h2_rapid_reset", Warning,
        "The client reset streams faster than nghttp2's rapid-reset limit allows (CVE-2023-44487: a token bucket, by default 1000 resets and 33 more a second)",
        "A denial-of-service pattern, not a WebSocket fault: the client opens streams and cancels them at once so the server works for nothing. Limit resets per connection at the server or proxy (nghttp2 stream reset rate limit, Envoy overload manager, HAProxy 2.8+ glitches); a legitimate client that cancels this often is misbehaving. wssniff's bucket is --h2-reset-burst and --h2-reset-rate.";
    H2Flood => "h2_flood", Warning,
        "A sender flooded the connection with frames a peer must process or answer (PING or SETTINGS left unacknowledged, empty DATA, CONTINUATION, oversized SETTINGS) past nghttp2's limits",
        "A denial-of-service pattern (CVE-2019-9512/9515/9518, CVE-2020-11080, CVE-2024-27316): the server or proxy should close the connection (ENHANCE_YOUR_CALM); the threshold crossed is in the message, each one a flag (--h2-max-unacked, --h2-max-continuations, --h2-max-settings, --h2-max-empty-data; 0 turns one off).";
    // --- frames after the 101 (RFC 6455 §5, RFC 7692) ---
    FrameClientUnmasked => "frame_client_unmasked", Error,
        "A client frame was not masked (RFC 6455 §5.1)",
        "Clients must mask every frame; servers close with 1002. A hand-made client or a proxy that rewrites frames is at fault.";
    FrameServerMasked => "frame_server_masked", Error,
        "A server frame was masked (RFC 6455 §5.1)",
        "Servers must not mask frames; clients fail the connection. Check the server library, or a proxy that re-frames traffic in the wrong role.";
    FrameRsvUnnegotiated => "frame_rsv_unnegotiated", Error,
        "A frame set an RSV bit that no negotiated extension defines (RFC 6455 §5.2; RSV1 needs permessage-deflate, RFC 7692 §6)",
        "The sender compresses (or uses an extension) that the handshake did not agree on; a proxy may have dropped Sec-WebSocket-Extensions from the response while frames pass through compressed.";
    FrameOpcodeUnknown => "frame_opcode_unknown", Error,
        "A frame used a reserved opcode (RFC 6455 §5.2)",
        "The peer must fail the connection (1002). The sender is broken, or the bytes are not WebSocket frames (desynchronised stream).";
    FrameLengthInvalid => "frame_length_invalid", Error,
        "A frame length was not minimally encoded or had its top bit set (RFC 6455 §5.2)",
        "Use the shortest length encoding; strict peers (autobahn-tested libraries) close with 1002.";
    FrameControlInvalid => "frame_control_invalid", Error,
        "A control frame was fragmented or longer than 125 bytes (RFC 6455 §5.5)",
        "Keep ping/pong/close payloads at 125 bytes or less and unfragmented; close reasons must fit in 123 bytes.";
    FrameTooLarge => "frame_too_large", Warning,
        "A frame was larger than the --max-payload limit",
        "Receivers with a size cap (ws maxPayload, websockets max_size, Spring buffer limits) close with 1009: split large messages, or raise the receiver's limit.";
    FrameAfterClose => "frame_after_close", Error,
        "A data frame followed the sender's close frame (RFC 6455 §5.5.1)",
        "After sending Close an endpoint must not send data; the application kept writing after close() (check for a race between close and send).";
    FrameContinuationUnexpected => "frame_continuation_unexpected", Error,
        "A continuation frame had no message to continue, or a new message began inside a fragmented one (RFC 6455 §5.4)",
        "Fragments of one message must not interleave with another data message; check senders that write from several threads without a lock.";
    TextInvalidUtf8 => "text_invalid_utf8", Error,
        "A text message was not valid UTF-8 (RFC 6455 §8.1)",
        "Receivers close with 1007. Send binary frames for non-text data, or fix the encoding (e.g. Latin-1 strings, or text split mid-character by the sender).";
    InflateFailed => "inflate_failed", Warning,
        "A permessage-deflate message could not be inflated (RFC 7692 §7.2.2)",
        "Either the sender's compressor is broken (receivers close with 1007) or the capture missed data that the shared compression context depends on.";
    CloseFrameInvalid => "close_frame_invalid", Error,
        "A close frame had a 1-byte payload, an invalid code or a reason that is not UTF-8 (RFC 6455 §5.5.1, §7.4)",
        "Send a 2-byte code from 1000-1003, 1007-1014 or 3000-4999, and a UTF-8 reason.";
    CloseCodeReserved => "close_code_reserved", Error,
        "A close frame carried 1005, 1006 or 1015, codes that must never be sent (RFC 6455 §7.4.1)",
        "These codes are for APIs to report a condition locally; the sender is forwarding a locally reported code onto the wire (a proxy or a library bug). Send 1000/1001/1011 instead.";
    CloseError => "close_error", Warning,
        "The connection was closed with an error code (1002-1014)",
        "The code names the cause: 1002 protocol error, 1003 unsupported data, 1007 bad payload, 1008 policy, 1009 message too big, 1011 server error, 1012/1013 restart or overload, 1014 bad gateway. Check the logs of the side that sent it at that time.";
    CloseApplication => "close_application", Info,
        "The connection was closed with an application code (3000-4999)",
        "Registered (3xxx) or private (4xxx) code: its meaning is defined by the application or framework; look it up there.";
    CloseFrameMissing => "close_frame_missing", Warning,
        "TCP was closed with no close frame from either side",
        "The application or a proxy dropped the socket without the closing handshake (clients report 1006). Close WebSockets with close() and a code; if a proxy did it, check its timeouts and logs.";
    CloseNotAnswered => "close_not_answered", Warning,
        "A close frame was sent but never answered before TCP closed (RFC 6455 §5.5.1)",
        "The peer must echo the close frame; it was blocked, crashed, or a proxy cut the connection. The initiator should wait for the echo before closing TCP.";
    ConnectionReset => "connection_reset", Warning,
        "The WebSocket connection was reset (TCP RST)",
        "A process exited or aborted the socket, or a firewall/proxy killed it. Without a close frame first, clients report 1006.";
    ResetAfterClose => "reset_after_close", Info,
        "The connection (TCP RST) or its HTTP/2 stream (RST_STREAM) was reset after both close frames were exchanged",
        "Normal for many stacks (a socket closed with unread data, or with SO_LINGER 0, sends RST; browsers cancel an HTTP/2 WebSocket stream with RST_STREAM CANCEL): the closing handshake completed, so applications see the close code, not 1006. Nothing to fix.";
    IdleTimeout => "idle_timeout", Warning,
        "A quiet connection was torn down after a silence that matches an intermediary's idle timeout (a vendor default, --proxy-idle-timeout, or the proxy of a hop in the capture)",
        "Send pings from the application more often than the timeout (e.g. every 30 s), or raise the proxy's timeout (nginx proxy_read_timeout/proxy_send_timeout, AWS ALB idle_timeout, Cloudflare: pings are the only option).";
    ClosedAfterFailedHandshake => "closed_after_failed_handshake", Info,
        "The connection closed after a 101 the client must reject, before the client sent a frame: no WebSocket connection opened (RFC 6455 §4.1)",
        "Nothing to fix in the client: a compliant client fails the connection this way. Fix the handshake finding above it.";
    HandshakeNotObserved => "handshake_not_observed", Info,
        "WebSocket frames were seen on a connection whose opening handshake was not captured",
        "Start the capture before the client connects to see the handshake; frames, close codes and the ending are still reported.";
    // --- TLS (issue 12): the layer under wss:// ---
    TlsCertificateRejected => "tls_certificate_rejected", Error,
        "The client rejected the server's certificate with a TLS alert (bad_certificate, unknown_ca, certificate_unknown, certificate_expired, …)",
        "Browsers show this as WebSocket close 1006 and nothing else. Serve the full chain (leaf + intermediates) from a CA the client trusts, with a name that covers the host in the wss:// URL and valid dates; for a private CA add it to the client's trust store (node: NODE_EXTRA_CA_CERTS, Python: ssl cafile, Java: the truststore).";
    TlsHandshakeFailure => "tls_handshake_failure", Error,
        "The server ended the TLS handshake with handshake_failure (or insufficient_security): nothing in common in the client's offer",
        "No shared cipher suite, group or signature algorithm, or a client certificate the server requires was missing: compare the suites and versions in the ClientHello with the server's configuration (nginx ssl_ciphers/ssl_protocols, a FIPS or legacy-only policy).";
    TlsProtocolVersion => "tls_protocol_version", Error,
        "The server refused every TLS version the client offered (protocol_version alert)",
        "Align the versions: an old client offering only TLS 1.0/1.1 against a TLS 1.2+ server, or a server limited to TLS 1.3 (nginx ssl_protocols, Node minVersion, Java jdk.tls.client.protocols).";
    TlsUnrecognizedName => "tls_unrecognized_name", Error,
        "The server does not serve the name the client asked for (unrecognized_name alert to the SNI)",
        "The SNI names no virtual host on this server: check the host in the wss:// URL, the server_name/certificate configuration, and that a load balancer routes this name here.";
    TlsNoApplicationProtocol => "tls_no_application_protocol", Error,
        "The server accepts none of the ALPN protocols the client offered (no_application_protocol alert)",
        "WebSocket over HTTP/1.1 needs `http/1.1` in the client's ALPN list and the server's; a server (or gRPC-style proxy) accepting only h2 refuses a client offering only http/1.1.";
    TlsAlert => "tls_alert", Error,
        "The TLS handshake ended with a fatal alert",
        "The alert names the cause (decode_error, illegal_parameter, decrypt_error, internal_error, …): check the logs of the side that sent it at that time; a middlebox that rewrites TLS can cause it too.";
    TlsProbableAlert => "tls_probable_alert", Error,
        "During a TLS 1.3 handshake one side sent a short encrypted record and closed: most likely an encrypted alert",
        "TLS 1.3 encrypts alerts, so the capture cannot name it. From the client right after the server's flight it is almost always a rejected certificate (see tls_certificate_rejected); run with --keylog FILE to read it, or check the client's error log.";
    TlsClientGaveUp => "tls_client_gave_up", Error,
        "The client closed the connection after the server's certificate without sending an alert",
        "Some clients (and browsers on an interstitial page) drop the connection instead of alerting when they distrust the certificate: check the chain, names and dates, and the client's error.";
    TlsNoServerHello => "tls_no_server_hello", Error,
        "The server closed the connection after the ClientHello without answering it",
        "Nothing TLS answered: a plain HTTP or other service on this port, an SNI-routing proxy with no route for this name, or a server rejecting the client's offer without an alert. Check what listens there and the proxy's logs.";
    TlsCertificateNameMismatch => "tls_certificate_name_mismatch", Error,
        "The certificate's names do not cover the server name the client asked for (SNI)",
        "Issue the certificate for the host in the wss:// URL (subjectAltName; wildcards cover one label), or point the client at a name the certificate covers. A client that went on anyway does not check names.";
    TlsCertificateExpired => "tls_certificate_expired", Error,
        "The certificate was outside its validity period at capture time",
        "Renew the certificate (and check the server picked up the new one: reload nginx/the proxy), or fix the clock of the side whose time is wrong.";
    TlsDecryptFailed => "tls_decrypt_failed", Warning,
        "TLS records of a session whose keys are known failed to authenticate: their plaintext is missing from the analysis",
        "Either the keys do not belong to this session (a key log from another run, or edited) or packets inside those records were lost from the capture: check the key log came with this capture, and the summary's capture loss (a larger capture buffer, -B, or a filter closer to the traffic). The analysis resumes at the next record that opens.";
    // --- Engine.IO / Socket.IO sessions (across connections) ---
    EngineioSessionUnknown => "engineio_session_unknown", Error,
        "A request carrying the Engine.IO sid was answered 400 Session ID unknown: it reached a server that never created the session",
        "Several backends without sticky sessions: every request of a session must reach the process that opened it. nginx: `ip_hash;` or `hash $remote_addr consistent;` in the upstream; HAProxy: `balance source` or a cookie (`cookie io prefix`); cloud load balancers and Kubernetes ingress: session affinity (e.g. `nginx.ingress.kubernetes.io/affinity: cookie`). Or skip polling with the client option `transports: ['websocket']`. With several Node processes also use an adapter (@socket.io/redis-adapter) so broadcasts reach every process.";
    EngineioFellBackToPolling => "engineio_fell_back_to_polling", Warning,
        "The Engine.IO session never moved to WebSocket: it kept working over HTTP long-polling",
        "Polling costs a request per message and per ping. If the upgrade was refused, fix the handshake cause named here (a proxy that strips Upgrade: nginx needs `proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";`); if the server offered `upgrades: []`, enable the websocket transport on the server (`transports: ['polling', 'websocket']`); if an HTTP/2 extended CONNECT (RFC 8441) was refused, the server takes WebSockets only as HTTP/1.1 upgrades (python-engineio does): front it with a proxy that forwards over HTTP/1.1, or serve it without `SETTINGS_ENABLE_CONNECT_PROTOCOL` so browsers open a separate HTTP/1.1 connection.";
    EngineioProbeUnanswered => "engineio_probe_unanswered", Error,
        "The WebSocket opened (101) but the Engine.IO probe `2probe` got no `3probe` back",
        "The 101 came from something that does not speak Engine.IO on that path (a proxy answering itself, another app), or the server lost the session between the poll and the upgrade (non-sticky balancing). Check where the upgrade request is routed.";
    EngineioUnsupportedVersion => "engineio_unsupported_version", Error,
        "The server refused the client's Engine.IO protocol revision (code 5, Unsupported protocol version)",
        "Socket.IO v2 clients speak Engine.IO 3, v3/v4 clients Engine.IO 4. Upgrade the client, or accept both on a socket.io 4 server with `allowEIO3: true`.";
    EngineioPingTimeout => "engineio_ping_timeout", Error,
        "The session ended by a heartbeat timeout: a ping unanswered for pingTimeout, or no ping for pingInterval + pingTimeout",
        "The side the message names stopped (a frozen or suspended process, a blocked event loop, a proxy buffering the stream) or the network dropped the packets. Check that side at that time; raise pingTimeout if long pauses are expected (mobile background tabs).";
    EngineioRejected => "engineio_rejected", Error,
        "The Engine.IO server refused a request with an error body (transport unknown, bad handshake method, bad request or forbidden)",
        "Read the server's code and message: 0 the transport is not enabled, 2 the first request must be a GET, 3 a malformed request or a websocket request without Upgrade (a proxy stripped it), 4 the `allowRequest` hook refused it (CORS or auth).";
    EngineioNotServed => "engineio_not_served", Error,
        "An Engine.IO request was answered by something that does not speak Engine.IO: a 404, a 5xx, or an HTML page where a polling payload belongs",
        "The request did not reach a Socket.IO server. A 404: something else serves the path (the client's `path` option must match the server's, `/socket.io/` by default; behind a proxy a location must route it, e.g. nginx `location /socket.io/ { proxy_pass http://backend; }`). A 502, 503 or 504: the proxy could not reach the Socket.IO server (down, restarting, a wrong upstream port). An HTML page: a single-page app's fallback to index.html or another web server answered (the client points at the front end instead of the Socket.IO server).";
    EngineioMalformed => "engineio_malformed", Warning,
        "An Engine.IO payload or packet did not parse",
        "Usually a client and server of incompatible versions, or a proxy that altered the body (compression, an injected page). Compare both libraries' versions.";
    EngineioBodyCut => "engineio_body_cut", Info,
        "An Engine.IO polling body was longer than wssniff reads (--eio-body-bytes): the packets after the cut were not analysed",
        "Raise --eio-body-bytes (up to 1 MiB) to read whole batches; the session's open packet and errors come first and are read either way.";
    EngineioPollsNotFollowed => "engineio_polls_not_followed", Warning,
        "Engine.IO polling requests of the session were not followed: their HTTP/2 connection had more polling streams open at once than wssniff follows (32)",
        "The session's record lacks those exchanges' answers and bodies (an error answer, a close packet, pings): what it says of them may be incomplete. A browser keeps two polls open per session; this many on one connection is a proxy's upstream connection multiplexing many clients' sessions. Capture the client side of the proxy, where each client's connection carries its own polls.";
    SocketioNamespaceRefused => "socketio_namespace_refused", Error,
        "The server refused the Socket.IO namespace connection (CONNECT_ERROR)",
        "Auth middleware (`io.use(...)`) or a namespace handler rejected the client with this message: check the credential the client sends in `auth` and the middleware's condition.";
}

/// Which HTTP message of an exchange a piece of evidence is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageRef {
    /// The upgrade request.
    Request,
    /// The final response.
    Response,
    /// The n-th interim (1xx) response before it, from 0.
    Interim(usize),
}

/// Which part of a message's head a piece of evidence is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HeadPart {
    /// The request or status line.
    StartLine,
    /// The header at this index of the head's headers, in wire order (`headers[i]` in the
    /// record's JSON).
    Header(usize),
    /// A header that should be there and is not: the line that would satisfy the rule.
    Missing(String),
}

/// Which end of a WebSocket connection sent the frames a piece of evidence cites.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FrameSender {
    /// The side that sent the upgrade request.
    Client,
    /// The side that answered 101.
    Server,
}

impl FrameSender {
    /// Lower-case name, as in the JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            FrameSender::Client => "client",
            FrameSender::Server => "server",
        }
    }
}

/// Where a finding's evidence is: a line of one HTTP message's head (or the line it lacks),
/// or, after the switch, the WebSocket frames one side sent. The analysis that makes a
/// finding says this once; every sink highlights what it is told and never matches text to
/// find it again. The packets behind it are the finding's `packets`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Evidence {
    /// A part of the head of one message of the exchange.
    Head {
        /// The message.
        message: MessageRef,
        /// The part of its head.
        part: HeadPart,
    },
    /// Frames `sender` sent (the finding's packets carry them).
    Frames {
        /// Who sent them.
        sender: FrameSender,
    },
    /// The close frame `sender` sent (the connection record's `close.client` or
    /// `close.server`).
    CloseFrame {
        /// Who sent it.
        sender: FrameSender,
    },
}

/// JSON: `{"message":"request","header":3}`, `{"message":"response","start_line":true}`,
/// `{"message":"request","missing":"Upgrade: websocket"}` (an interim response adds
/// `"interim":n`); `{"frames":"client"}`, `{"close_frame":"server"}`.
impl Serialize for Evidence {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        match self {
            Evidence::Head { message, part } => {
                match message {
                    MessageRef::Request => m.serialize_entry("message", "request")?,
                    MessageRef::Response => m.serialize_entry("message", "response")?,
                    MessageRef::Interim(n) => {
                        m.serialize_entry("message", "interim")?;
                        m.serialize_entry("interim", n)?;
                    }
                }
                match part {
                    HeadPart::StartLine => m.serialize_entry("start_line", &true)?,
                    HeadPart::Header(i) => m.serialize_entry("header", i)?,
                    HeadPart::Missing(line) => m.serialize_entry("missing", line)?,
                }
            }
            Evidence::Frames { sender } => m.serialize_entry("frames", sender.as_str())?,
            Evidence::CloseFrame { sender } => {
                m.serialize_entry("close_frame", sender.as_str())?;
            }
        }
        m.end()
    }
}

macro_rules! notices {
    ($( $variant:ident => $code:literal, $flag:expr, $meaning:literal; )*) => {
        /// A notice code: something about the capture as a whole (a cap hit, packets skipped),
        /// said once per run (per link type for `unsupported_linktype`). Stable snake_case,
        /// like finding codes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum NoticeCode {
            $( #[doc = $meaning] $variant, )*
        }

        impl NoticeCode {
            /// Every notice code, in catalogue order.
            pub const ALL: &'static [NoticeCode] = &[ $( NoticeCode::$variant, )* ];

            /// The stable snake_case code.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $( NoticeCode::$variant => $code, )* }
            }

            /// What happened, in one line.
            #[must_use]
            pub fn meaning(self) -> &'static str {
                match self { $( NoticeCode::$variant => $meaning, )* }
            }

            /// The flag that changes the cap behind the notice, when there is one.
            #[must_use]
            pub fn flag(self) -> Option<&'static str> {
                match self { $( NoticeCode::$variant => $flag, )* }
            }

            /// Looks a notice code up by its string.
            #[must_use]
            pub fn parse(s: &str) -> Option<NoticeCode> {
                match s { $( $code => Some(NoticeCode::$variant), )* _ => None }
            }
        }
    };
}

notices! {
    // --- packets wssniff cannot read ---
    UnsupportedLinktype => "unsupported_linktype", None,
        "Packets of a link type wssniff cannot decode were skipped (one notice per link type)";
    FilterLinktype => "filter_linktype", None,
        "The BPF filter does not compile for one of the file's link types; its packets were skipped";
    IpFragments => "ip_fragments", None,
        "The capture holds fragmented IP packets; they are counted, not reassembled, so TCP data inside them is not analysed";
    // --- caps (README, "Limits") ---
    FlowLimit => "flow_limit", Some("--max-flows"),
        "The flow table was full: the least recently active connections were evicted (pending handshakes get flow_evicted)";
    HeaderLimit => "header_limit", Some("--max-header-bytes"),
        "An HTTP head passed the header cap without ending; that exchange was not analysed (header_limit_exceeded)";
    PendingLimit => "pending_limit", None,
        "A connection pipelined more requests than wssniff keeps waiting for answers (1024); it stopped following that connection";
    Memcap => "memcap", Some("--memcap"),
        "The memory budget was full: new buffering was refused (counted by kind in the summary) and the least recently active connections were evicted to make room for new ones; affected records carry memcap_reached";
    EngineioBodyLimit => "engineio_body_limit", Some("--eio-body-bytes"),
        "An Engine.IO polling body was longer than the cap; its session says so (engineio_body_cut) and the packets past the cut were not read";
    EngineioPollLimit => "engineio_poll_limit", None,
        "An HTTP/2 connection had more Engine.IO polling streams open at once than are followed (32); the polls beyond them were not read, and their sessions say so (engineio_polls_not_followed)";
    OrderLimit => "order_limit", None,
        "More records waited behind an unanswered handshake than are held to write a file in id order (10,000 or 32 MiB); that handshake is written out of id order";
    // --- what the capture lacks ---
    SnapLength => "snap_length", None,
        "Packets were cut by the capture's snap length: heads and frames beyond the cut are not in the capture, and what needs them is not checked (capture with -s 0)";
    OneDirection => "one_direction", None,
        "Only one direction of some connections was captured (their ACKs acknowledge bytes the capture never saw): asymmetric routing or a one-way SPAN";
    CaptureLoss => "capture_loss", None,
        "Peers acknowledged bytes the capture does not hold: the capture lost packets (not the network); the ratio is Zeek's capture_loss (gaps per ACK)";
    // --- several files read as one (-r a -r b, a directory, a pattern) ---
    FilesOutOfOrder => "files_out_of_order", None,
        "The capture files were given (or listed) in another order than that of their first packets; they were read in timestamp order";
    FilesOverlap => "files_overlap", None,
        "Two capture files cover the same time span (captures from two points, or a ring overwritten out of turn); their packets were interleaved by timestamp";
    // --- TLS key logs (issue 12) ---
    KeylogMalformed => "keylog_malformed", None,
        "A key log line (--keylog file or pcapng Decryption Secrets Block) was not used; the message gives its line number and what was wrong, never its contents";
    KeylogLimit => "keylog_limit", Some("--keylog-max-sessions"),
        "The key logs named more TLS sessions than are kept; later sessions are not decrypted";
}

/// One thing wssniff has to say about a handshake.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// Stable code.
    #[serde(serialize_with = "ser_code")]
    pub code: Code,
    /// Severity (usually the code's default; see [`Finding::downgrade`]).
    pub severity: Severity,
    /// One-line statement with the specifics of this handshake.
    pub message: String,
    /// Packet numbers that show it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packets: Vec<u64>,
    /// Header lines as on the wire that show it, quoted for people.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
    /// Where it shows, for highlighting: which message, which line of its head (or which
    /// line is missing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
    /// How to fix it.
    pub hint: &'static str,
}

fn ser_code<S: serde::Serializer>(code: &Code, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(code.as_str())
}

impl Finding {
    /// A finding with the code's default severity and hint.
    #[must_use]
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Finding {
            code,
            severity: code.severity(),
            message: message.into(),
            packets: Vec::new(),
            lines: Vec::new(),
            evidence: Vec::new(),
            hint: code.hint(),
        }
    }

    /// Adds packet numbers as evidence.
    #[must_use]
    pub fn packets(mut self, packets: &[u64]) -> Self {
        self.packets.extend_from_slice(packets);
        self.packets.dedup();
        self
    }

    /// Adds a header line as evidence.
    #[must_use]
    pub fn line(mut self, line: impl Into<String>) -> Self {
        self.lines.push(line.into());
        self
    }

    /// Says where in the exchange's heads it shows (see [`Evidence::Head`]).
    #[must_use]
    pub fn cite(self, message: MessageRef, part: HeadPart) -> Self {
        self.evidence(Evidence::Head { message, part })
    }

    /// Adds a piece of evidence (once).
    #[must_use]
    pub fn evidence(mut self, e: Evidence) -> Self {
        if !self.evidence.contains(&e) {
            self.evidence.push(e);
        }
        self
    }

    /// Lowers an error to a warning (a rule was broken but the peer tolerated it).
    pub fn downgrade(&mut self) {
        if self.severity == Severity::Error {
            self.severity = Severity::Warning;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &code in Code::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit()));
            assert_eq!(Code::parse(s), Some(code));
            assert!(!code.hint().is_empty() && !code.title().is_empty());
        }
        for &code in NoticeCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "notice {s} reuses a code");
            assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert_eq!(NoticeCode::parse(s), Some(code));
            assert!(!code.meaning().is_empty());
            assert!(code.flag().is_none_or(|f| f.starts_with("--")));
        }
    }

    #[test]
    fn evidence_serialises_one_key_per_part() {
        let f = Finding::new(Code::RequestUpgradeMissing, "x")
            .cite(MessageRef::Request, HeadPart::Header(3))
            .cite(MessageRef::Request, HeadPart::Header(3))
            .cite(MessageRef::Response, HeadPart::StartLine)
            .cite(
                MessageRef::Interim(0),
                HeadPart::Missing("Upgrade: websocket".into()),
            )
            .evidence(Evidence::Frames {
                sender: FrameSender::Client,
            })
            .evidence(Evidence::CloseFrame {
                sender: FrameSender::Server,
            });
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(
            v["evidence"],
            serde_json::json!([
                {"message": "request", "header": 3},
                {"message": "response", "start_line": true},
                {"message": "interim", "interim": 0, "missing": "Upgrade: websocket"},
                {"frames": "client"},
                {"close_frame": "server"},
            ])
        );
        assert!(
            serde_json::to_value(Finding::new(Code::NoResponse, "x")).unwrap()["evidence"]
                .is_null()
        );
    }
}
