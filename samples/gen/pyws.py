#!/usr/bin/env python3
"""Python `websockets` servers and clients used by samples/generate.sh.

Every mode is bounded in time: servers exit after --lifetime seconds (the
generator also kills them), clients use short timeouts.

    pyws.py server --host 127.0.0.1 --port 18001 --mode echo
    pyws.py client --url ws://127.0.0.1:18001/chat --mode basic
"""

import argparse
import asyncio
import http
import os
import socket
import struct
import sys
import time

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus


def log(*a):
    print("[pyws]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- servers

async def echo_handler(ws):
    try:
        async for msg in ws:
            await ws.send(msg)
    except ConnectionClosed:
        pass


async def close_codes_handler(ws):
    """Path selects how the server ends the connection."""
    path = ws.request.path
    try:
        msg = await asyncio.wait_for(ws.recv(), 3)
        await ws.send(msg)
    except (ConnectionClosed, asyncio.TimeoutError):
        return
    if path == "/1008":
        await ws.close(1008, "policy")
    elif path == "/1011":
        await ws.close(1011, "error")
    elif path == "/4001":
        await ws.close(4001, "app")
    elif path == "/abort":
        # Drop the TCP connection without a close frame.
        ws.transport.abort()
    elif path == "/reset":
        # Same, but with SO_LINGER 0 so the kernel sends RST instead of FIN.
        sock = ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        ws.transport.abort()
    else:
        await ws.close(1000, "bye")


def auth_process_request(connection, request):
    if request.headers.get("Authorization") != "Bearer good-token":
        response = connection.respond(http.HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
        response.headers["WWW-Authenticate"] = 'Bearer realm="wssniff"'
        return response
    return None


# The credentials scenario (credentials-redacted.pcap): distinctive fake secrets, so a test
# can assert that none of their bytes reach any output of wssniff unless --no-redact.
CRED_BEARER = "s3cret-bearer-7f1d"
CRED_WRONG_BEARER = "s3cret-wrong-33aa"
CRED_QUERY = "s3cret-query-91ab"
CRED_COOKIE = "s3cret-cookie-5c2e"
CRED_SET_COOKIE = "s3cret-setcookie-e41b"
CRED_API_KEY = "s3cret-apikey-0d4f"
CRED_MESSAGE = "s3cret-message-a8e3"
# Kubernetes-style bearer token in a subprotocol: base64url("s3cret-k8s-6b2d"), unpadded.
CRED_K8S = "czNjcmV0LWs4cy02YjJk"


def credentials_process_request(connection, request):
    if request.headers.get("Authorization") != f"Bearer {CRED_BEARER}":
        response = connection.respond(http.HTTPStatus.UNAUTHORIZED, "invalid token\n")
        response.headers["WWW-Authenticate"] = 'Bearer realm="wssniff", error="invalid_token"'
        return response
    return None


def credentials_process_response(connection, request, response):
    if response.status_code == 101:
        response.headers["Set-Cookie"] = f"session={CRED_SET_COOKIE}; Path=/; HttpOnly; SameSite=Strict"
    return response


def version_process_request(connection, request):
    # RFC 6455 section 4.4: answer an unsupported version with 426 and the
    # versions the server does support.
    if request.headers.get("Sec-WebSocket-Version") != "13":
        response = connection.respond(
            http.HTTPStatus.UPGRADE_REQUIRED, "Unsupported WebSocket version\n"
        )
        response.headers["Sec-WebSocket-Version"] = "13"
        return response
    return None


async def slow_process_request(connection, request):
    # An auth or origin hook that takes 6 s (a slow database, an overloaded loop): the
    # handshake then goes on and succeeds, later than a 5 s client timeout allows.
    await asyncio.sleep(6)
    return None


async def run_server(args):
    kwargs = dict(ping_interval=None)
    handler = echo_handler
    if args.mode == "origin":
        kwargs["origins"] = ["https://good.example"]
    elif args.mode == "auth":
        kwargs["process_request"] = auth_process_request
    elif args.mode == "version":
        kwargs["process_request"] = version_process_request
    elif args.mode == "credentials":
        kwargs["process_request"] = credentials_process_request
        kwargs["process_response"] = credentials_process_response
        kwargs["subprotocols"] = ["v4.channel.k8s.io"]
    elif args.mode == "close-codes":
        handler = close_codes_handler
    elif args.mode == "subprotocol":
        # A client that offers none gets websockets' 400 "missing subprotocol".
        kwargs["subprotocols"] = ["chat"]
    elif args.mode == "slow":
        kwargs["process_request"] = slow_process_request
    async with serve(handler, args.host, args.port, **kwargs) as server:
        # The port bound, which the system chose for --port 0 (the live tests' servers).
        port = server.sockets[0].getsockname()[1]
        log(f"server {args.mode} listening on {args.host}:{port}")
        await asyncio.sleep(args.lifetime)


async def run_silent_server(args):
    """Accept TCP connections, read everything, never answer."""

    async def on_conn(reader, writer):
        try:
            while await asyncio.wait_for(reader.read(4096), args.lifetime):
                pass
        except (asyncio.TimeoutError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(on_conn, args.host, args.port)
    async with server:
        port = server.sockets[0].getsockname()[1]
        log(f"silent server listening on {args.host}:{port}")
        await asyncio.sleep(args.lifetime)


# ---------------------------------------------------------------- clients

async def client_basic(args):
    async with connect(args.url, proxy=None, ping_interval=None,
                       open_timeout=args.open_timeout, close_timeout=3) as ws:
        await ws.send("hello")
        log("echo:", await asyncio.wait_for(ws.recv(), 3))
        await ws.send(b"\x01\x02\x03\x04")
        log("echo:", await asyncio.wait_for(ws.recv(), 3))
        pong = await ws.ping(b"p1")
        await asyncio.wait_for(pong, 3)
        log("pong received")
        await ws.close(1000, "done")


async def client_reset_after_close(args):
    """The basic exchange and a clean close, from a socket with SO_LINGER 0 that websockets
    closes instead of half-closing (its code path over TLS, where a transport cannot write
    EOF): after both close frames and the server's FIN, the client's close() sends an RST
    (the kernel resets a socket closed in CLOSE_WAIT with linger 0)."""
    async with connect(args.url, proxy=None, ping_interval=None, open_timeout=5,
                       close_timeout=3) as ws:
        sock = ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        ws.transport.can_write_eof = lambda: False
        await ws.send("hello")
        log("echo:", await asyncio.wait_for(ws.recv(), 3))
        await ws.close(1000, "done")


async def client_expect_fail(args, url=None, **kwargs):
    try:
        async with connect(url or args.url, proxy=None, ping_interval=None, open_timeout=args.open_timeout,
                           close_timeout=2, **kwargs) as ws:
            log("unexpected: handshake succeeded")
            await ws.close()
    except InvalidStatus as exc:
        log("rejected as expected:", exc.response.status_code)
    except (InvalidHandshake, OSError, asyncio.TimeoutError, TimeoutError) as exc:
        log("failed as expected:", type(exc).__name__, exc)


async def client_idle(args):
    """Exchange one message, then stay silent until the peer closes."""
    async with connect(args.url, proxy=None, ping_interval=None, open_timeout=5,
                       close_timeout=2) as ws:
        await ws.send("hi")
        log("echo:", await asyncio.wait_for(ws.recv(), 3))
        try:
            await asyncio.wait_for(ws.recv(), args.duration)
        except ConnectionClosed as exc:
            log("closed by peer:", exc)
        except asyncio.TimeoutError:
            log("nobody closed; closing ourselves")


async def client_close_codes(args):
    for path in ("/1008", "/1011", "/4001", "/abort", "/reset"):
        url = args.url.rstrip("/") + path
        try:
            async with connect(url, proxy=None, ping_interval=None, open_timeout=5,
                               close_timeout=2) as ws:
                await ws.send("x")
                await asyncio.wait_for(ws.recv(), 3)
                await asyncio.wait_for(ws.recv(), 3)
        except ConnectionClosed as exc:
            log(path, "closed:", exc)
        except asyncio.TimeoutError:
            log(path, "timeout")
        await asyncio.sleep(0.2)


async def client_long(args):
    """Long-lived connection, a message every 0.2 s.  Writes --ready-file once
    the handshake is done and closes after --stop-file appears (or
    --duration seconds)."""
    async with connect(args.url, proxy=None, ping_interval=None,
                       open_timeout=args.open_timeout, close_timeout=3) as ws:
        if args.ready_file:
            open(args.ready_file, "w").close()
        deadline = time.monotonic() + args.duration
        n = 0
        while time.monotonic() < deadline:
            if args.stop_file and os.path.exists(args.stop_file):
                break
            n += 1
            await ws.send(f"tick {n}")
            await asyncio.wait_for(ws.recv(), 3)
            await asyncio.sleep(0.2)
        await ws.close(1000, "done")


async def client_credentials(args):
    """What a browser app or SDK sends when it authenticates a WebSocket: a bearer token in
    Authorization, a session cookie, an API key header, a token in the query string, a
    Kubernetes-style bearer subprotocol and a Socket.IO-style `40{"token":...}` first
    message. Twice with the same credentials (the hashes must match), then once with a
    wrong bearer token (the server answers 401)."""
    url = args.url.rstrip("/") + f"/chat?token={CRED_QUERY}&room=lobby"
    protocols = [f"base64url.bearer.authorization.k8s.io.{CRED_K8S}", "v4.channel.k8s.io"]

    def headers(bearer):
        return {
            "Authorization": f"Bearer {bearer}",
            "Cookie": f"session={CRED_COOKIE}; theme=dark",
            "X-Api-Key": CRED_API_KEY,
        }

    for _ in range(2):
        async with connect(url, proxy=None, ping_interval=None, open_timeout=5, close_timeout=3,
                           additional_headers=headers(CRED_BEARER), subprotocols=protocols) as ws:
            await ws.send('40{"token":"%s"}' % CRED_MESSAGE)
            log("echo:", await asyncio.wait_for(ws.recv(), 3))
            await ws.close(1000, "done")
        await asyncio.sleep(0.2)
    await client_expect_fail(args, additional_headers=headers(CRED_WRONG_BEARER),
                             subprotocols=protocols, url=url)


async def run_client(args):
    if args.mode == "basic":
        await client_basic(args)
    elif args.mode == "origin-evil":
        await client_expect_fail(args, origin="https://evil.example")
    elif args.mode == "expect-fail":
        await client_expect_fail(args)
    elif args.mode == "expect-fail-nodeflate":
        await client_expect_fail(args, compression=None)
    elif args.mode == "origin-evil-gzip":
        await client_expect_fail(args, origin="https://evil.example",
                                 additional_headers={"Accept-Encoding": "gzip, deflate"})
    elif args.mode == "expect-fail-gzip":
        # Browsers send Accept-Encoding on the upgrade request too.
        await client_expect_fail(args, additional_headers={"Accept-Encoding": "gzip, deflate"})
    elif args.mode == "expect-fail-chat":
        await client_expect_fail(args, subprotocols=["chat"])
    elif args.mode == "idle":
        await client_idle(args)
    elif args.mode == "close-codes":
        await client_close_codes(args)
    elif args.mode == "long":
        await client_long(args)
    elif args.mode == "credentials":
        await client_credentials(args)
    elif args.mode == "reset-after-close":
        await client_reset_after_close(args)
    else:
        raise SystemExit(f"unknown client mode {args.mode}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("server")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--mode", default="echo",
                   choices=["echo", "origin", "auth", "version", "close-codes", "silent",
                            "credentials", "subprotocol", "slow"])
    s.add_argument("--lifetime", type=float, default=60)
    c = sub.add_parser("client")
    c.add_argument("--url", required=True)
    c.add_argument("--mode", default="basic")
    c.add_argument("--open-timeout", type=float, default=5)
    c.add_argument("--duration", type=float, default=10)
    c.add_argument("--ready-file")
    c.add_argument("--stop-file")
    args = p.parse_args()
    if args.cmd == "server":
        coro = run_silent_server(args) if args.mode == "silent" else run_server(args)
    else:
        coro = run_client(args)
    try:
        asyncio.run(coro)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
