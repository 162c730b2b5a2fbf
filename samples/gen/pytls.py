#!/usr/bin/env python3
"""TLS servers and clients for samples/generate-tls.sh: Python `websockets` over `ssl`
with `keylog_filename` (wss://), and a raw client that gives up after the certificate.

Every mode is bounded in time: servers exit after --lifetime seconds (the generator
also kills them), clients use short timeouts.

    pytls.py server --port 18401 --cert c.pem --key k.pem [--tls 1.2|1.3] [--alpn h2,...]
    pytls.py client --url wss://localhost:18401/chat [--cafile c.pem] --keylog k.txt
    pytls.py give-up --port 18401 --sni localhost --keylog k.txt
    pytls.py resume --port 18401 --cafile c.pem --keylog first.txt --keylog2 second.txt
"""

import argparse
import asyncio
import socket
import ssl
import sys

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.sync.client import connect as sync_connect
from websockets.exceptions import ConnectionClosed


def log(*a):
    print("[pytls]", *a, file=sys.stderr, flush=True)


def versions(ctx, tls):
    if tls == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif tls == "1.3":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3


async def echo(ws):
    try:
        async for msg in ws:
            await ws.send(msg)
    except ConnectionClosed:
        pass


async def run_server(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    versions(ctx, args.tls)
    if args.alpn:
        ctx.set_alpn_protocols(args.alpn.split(","))
    if args.keylog:
        ctx.keylog_filename = args.keylog
    if args.no_ticket:
        # Resumption by session id only (the server's session cache), no RFC 5077 tickets.
        ctx.options |= ssl.OP_NO_TICKET
    async with serve(echo, "127.0.0.1", args.port, ssl=ctx, ping_interval=None):
        log(f"wss server listening on 127.0.0.1:{args.port}")
        await asyncio.sleep(args.lifetime)


async def run_client(args):
    ctx = ssl.create_default_context(cafile=args.cafile) if args.cafile else ssl.create_default_context()
    versions(ctx, args.tls)
    if args.keylog:
        ctx.keylog_filename = args.keylog
    if args.alpn:
        ctx.set_alpn_protocols(args.alpn.split(","))
    try:
        # proxy: an HTTP CONNECT proxy URL, or None (no proxy from the environment).
        async with connect(args.url, ssl=ctx, open_timeout=3, ping_interval=None,
                           server_hostname=args.sni, proxy=args.proxy or None) as ws:
            await ws.send("hello over tls")
            log("echo:", await asyncio.wait_for(ws.recv(), 3))
            await ws.close(1000, "done")
    except (ssl.SSLError, OSError, asyncio.TimeoutError) as e:
        log("client failed as", "expected" if args.expect_fail else "UNEXPECTED", repr(e))
        if not args.expect_fail:
            sys.exit(1)
        return
    if args.expect_fail:
        log("client succeeded but a failure was expected")
        sys.exit(1)


def give_up(args):
    """A TLS 1.2 client that reads the server's first flight (certificate included) and
    closes the socket without an alert, as some clients do on a certificate they distrust."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if args.keylog:
        ctx.keylog_filename = args.keylog
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=args.sni)
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=3)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    sock.sendall(outgoing.read())
    got = b""
    sock.settimeout(1)
    try:
        while len(got) < 5 or b"\x0e\x00\x00\x00" not in got:  # until ServerHelloDone
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    log(f"read {len(got)} bytes of the server's flight; closing without an alert")
    sock.close()


def resume(args):
    """Two wss:// connections over TLS 1.2, the second resuming the first's session (by
    session id or ticket, whichever the server offers): Python's ssl with `session=`,
    websockets' sync client over the TLS socket. The first connection's secrets go to
    --keylog, the second's to --keylog2, so a key log can lack the resumed connection's
    line, as some stacks write none for it."""
    ctx = ssl.create_default_context(cafile=args.cafile)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    session = None
    for i, keylog in enumerate([args.keylog, args.keylog2]):
        ctx.keylog_filename = keylog
        raw = socket.create_connection(("127.0.0.1", args.port), timeout=3)
        tls = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
        log(f"connection {i + 1}: session reused: {tls.session_reused}")
        if i == 1 and not tls.session_reused:
            sys.exit("the server did not resume the session")
        session = tls.session
        # ws:// over the TLS socket: the scheme only tells websockets not to wrap it again.
        with sync_connect(f"ws://localhost:{args.port}/chat", sock=tls, open_timeout=3) as ws:
            ws.send(f"hello over tls, connection {i + 1}")
            log("echo:", ws.recv(timeout=3))
            ws.close(1000, "done")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("server")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--tls", default="")
    s.add_argument("--alpn", default="")
    s.add_argument("--keylog", default="")
    s.add_argument("--lifetime", type=float, default=60)
    s.add_argument("--no-ticket", action="store_true")
    c = sub.add_parser("client")
    c.add_argument("--url", required=True)
    c.add_argument("--cafile", default="")
    c.add_argument("--sni", default=None)
    c.add_argument("--tls", default="")
    c.add_argument("--alpn", default="")
    c.add_argument("--keylog", default="")
    c.add_argument("--expect-fail", action="store_true")
    c.add_argument("--proxy", default="")
    g = sub.add_parser("give-up")
    g.add_argument("--port", type=int, required=True)
    g.add_argument("--sni", default="localhost")
    g.add_argument("--keylog", default="")
    r = sub.add_parser("resume")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--cafile", required=True)
    r.add_argument("--keylog", required=True)
    r.add_argument("--keylog2", required=True)
    args = p.parse_args()
    if args.cmd == "server":
        asyncio.run(run_server(args))
    elif args.cmd == "client":
        asyncio.run(run_client(args))
    elif args.cmd == "resume":
        resume(args)
    else:
        give_up(args)


if __name__ == "__main__":
    main()
