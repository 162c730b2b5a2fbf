#!/usr/bin/env python3
"""A forward proxy that only tunnels (HTTP CONNECT, RFC 9110 §9.3.6), for
samples/generate-tls.sh: the client's TLS runs inside the tunnel, end to end.

    connect_proxy.py --port 18490 [--lifetime 30]
"""

import argparse
import asyncio
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def handle(reader, writer):
    head = await reader.readuntil(b"\r\n\r\n")
    method, target, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
    if method != b"CONNECT":
        writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
        writer.close()
        return
    host, port = target.rsplit(b":", 1)
    up_reader, up_writer = await asyncio.open_connection(host.decode(), int(port))
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    await writer.drain()
    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--lifetime", type=float, default=30)
    args = p.parse_args()
    server = await asyncio.start_server(handle, "127.0.0.1", args.port)
    print(f"[proxy] CONNECT proxy on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    async with server:
        await asyncio.sleep(args.lifetime)


asyncio.run(main())
