#!/usr/bin/env python3
"""Raw-socket WebSocket clients and the hand-crafted 101 server used by
samples/generate.sh.  Standard library only; every socket has a timeout.

    raw.py dribble HOST PORT                 valid upgrade sent 3-5 bytes per send
    raw.py keepalive HOST PORT               plain GETs, then upgrade, same connection
    raw.py handcrafted-server HOST PORT MODE hand-written 101 responses
           MODE = bad-accept | unoffered-subprotocol | unoffered-extension |
                  upgrade-typo
"""

import base64
import hashlib
import os
import random
import socket
import struct
import sys
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TIMEOUT = 3.0


def log(*a):
    print("[raw]", *a, file=sys.stderr, flush=True)


def accept_of(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def upgrade_request(host, port, path="/", key=None, extra=""):
    key = key or new_key()
    req = (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        f"{extra}"
        "\r\n"
    )
    return req.encode(), key


def connect(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.connect((host, port))
    return s


class Reader:
    """Buffered reader over a socket (responses may arrive together)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(4096)
        if not data:
            raise EOFError("peer closed")
        self.buf += data

    def head(self):
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return lines[0], headers

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self):
        status, headers = self.head()
        body = b""
        if "content-length" in headers:
            body = self.exact(int(headers["content-length"]))
        return status, headers, body


def masked_frame(opcode, payload):
    mask = os.urandom(4)
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + data


def read_frame(reader):
    b0, b1 = reader.exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", reader.exact(2))[0]
    payload = reader.exact(n)
    log("server frame opcode", b0 & 0x0F, payload[:20])
    return b0 & 0x0F, payload


def ws_close_handshake(sock, reader):
    """Send a text frame, read the echo, then close with 1000."""
    try:
        sock.sendall(masked_frame(0x1, b"hi"))
        read_frame(reader)
        sock.sendall(masked_frame(0x8, struct.pack("!H", 1000) + b"bye"))
        while read_frame(reader)[0] != 0x8:
            pass
    except (EOFError, socket.timeout) as exc:
        log("while closing:", exc)
    sock.close()


def check_101(status, headers, key):
    log(status)
    if not status.startswith("HTTP/1.1 101"):
        raise SystemExit(f"expected 101, got {status}")
    if headers.get("sec-websocket-accept") != accept_of(key):
        raise SystemExit("bad Sec-WebSocket-Accept")


# ---------------------------------------------------------------- clients

def dribble(host, port):
    sock = connect(host, port)
    req, key = upgrade_request(host, port, "/dribble",
                               extra="User-Agent: wssniff-dribble/1\r\n")
    i = 0
    rnd = random.Random(42)
    while i < len(req):
        n = rnd.randint(3, 5)
        sock.send(req[i:i + n])
        i += n
        time.sleep(0.005)
    reader = Reader(sock)
    status, headers = reader.head()
    check_101(status, headers, key)
    ws_close_handshake(sock, reader)


def keepalive(host, port):
    hostport = f"{host}:{port}"
    # Connection 1: one plain GET, then the upgrade on the same connection.
    sock = connect(host, port)
    reader = Reader(sock)
    sock.sendall(f"GET /health HTTP/1.1\r\nHost: {hostport}\r\n\r\n".encode())
    log(reader.response()[0])
    req, key = upgrade_request(host, port, "/ws")
    sock.sendall(req)
    status, headers = reader.head()
    check_101(status, headers, key)
    ws_close_handshake(sock, reader)
    time.sleep(0.2)

    # Connection 2: two pipelined plain GETs in one write, then the upgrade.
    sock = connect(host, port)
    reader = Reader(sock)
    sock.sendall(
        f"GET /health HTTP/1.1\r\nHost: {hostport}\r\n\r\n"
        f"GET /index HTTP/1.1\r\nHost: {hostport}\r\n\r\n".encode()
    )
    log(reader.response()[0])
    log(reader.response()[0])
    req, key = upgrade_request(host, port, "/ws")
    sock.sendall(req)
    status, headers = reader.head()
    check_101(status, headers, key)
    ws_close_handshake(sock, reader)


# ---------------------------------------------------------------- server

def handcrafted_server(host, port, mode, lifetime=30):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(8)
    srv.settimeout(1.0)
    log(f"handcrafted-server {mode} listening on {host}:{port}")
    deadline = time.monotonic() + lifetime
    while time.monotonic() < deadline:
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        conn.settimeout(TIMEOUT)
        try:
            serve_one(conn, mode)
        except (OSError, EOFError) as exc:
            log("connection ended:", exc)
        finally:
            conn.close()


def serve_one(conn, mode):
    reader = Reader(conn)
    _, headers = reader.head()
    key = headers.get("sec-websocket-key", "")
    accept = accept_of(key)
    extra = ""
    upgrade = "websocket"
    if mode == "upgrade-typo":
        # A hand-written server that names the protocol "websockets": clients must fail it.
        upgrade = "websockets"
    elif mode == "bad-accept":
        # Hash computed without the RFC 6455 GUID: well-formed, but wrong.
        accept = base64.b64encode(hashlib.sha1(key.encode()).digest()).decode()
    elif mode == "unoffered-subprotocol":
        extra = "Sec-WebSocket-Protocol: graphql-ws\r\n"
    elif mode == "unoffered-extension":
        if "sec-websocket-extensions" in headers:
            # Client offered permessage-deflate once; accept it twice.
            extra = "Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate\r\n"
        else:
            # Client offered no extension at all.
            extra = "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    conn.sendall(
        (
            "HTTP/1.1 101 Switching Protocols\r\n"
            f"Upgrade: {upgrade}\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n"
            f"{extra}"
            "\r\n"
        ).encode()
    )
    # Wait for the client to give up (it should fail the connection).
    try:
        while conn.recv(4096):
            pass
    except socket.timeout:
        log("client did not close")


def main():
    cmd = sys.argv[1]
    host, port = sys.argv[2], int(sys.argv[3])
    if cmd == "dribble":
        dribble(host, port)
    elif cmd == "keepalive":
        keepalive(host, port)
    elif cmd == "handcrafted-server":
        handcrafted_server(host, port, sys.argv[4])
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
