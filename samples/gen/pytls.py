#!/usr/bin/env python3
"""TLS servers and clients for samples/generate-tls.sh: Python `websockets` over `ssl`
with `keylog_filename` (wss://), and a raw client that gives up after the certificate.

Every mode is bounded in time: servers exit after --lifetime seconds (the generator
also kills them), clients use short timeouts.

    pytls.py server --port 18401 --cert c.pem --key k.pem [--tls 1.2|1.3] [--alpn h2,...]
    pytls.py client --url wss://localhost:18401/chat [--cafile c.pem] --keylog k.txt
    pytls.py give-up --port 18401 --sni localhost --keylog k.txt
"""

import argparse
import asyncio
import socket
import ssl
import sys

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
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
        async with connect(args.url, ssl=ctx, open_timeout=3, ping_interval=None,
                           server_hostname=args.sni) as ws:
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
    c = sub.add_parser("client")
    c.add_argument("--url", required=True)
    c.add_argument("--cafile", default="")
    c.add_argument("--sni", default=None)
    c.add_argument("--tls", default="")
    c.add_argument("--alpn", default="")
    c.add_argument("--keylog", default="")
    c.add_argument("--expect-fail", action="store_true")
    g = sub.add_parser("give-up")
    g.add_argument("--port", type=int, required=True)
    g.add_argument("--sni", default="localhost")
    g.add_argument("--keylog", default="")
    args = p.parse_args()
    if args.cmd == "server":
        asyncio.run(run_server(args))
    elif args.cmd == "client":
        asyncio.run(run_client(args))
    else:
        give_up(args)


if __name__ == "__main__":
    main()
