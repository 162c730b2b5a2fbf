#!/usr/bin/env python3
"""An aiohttp WebSocket echo server for samples/generate.sh (a second real server
library beside websockets and ws).  Exits after --lifetime seconds.

    aiows.py --host 127.0.0.1 --port 18221
    aiows.py --port 18271 --mode refuse

--mode refuse refuses every upgrade the way applications do on their own, with a body
that is not plain text: /proto answers 403 with a protobuf-encoded error (google.rpc.Status
{code: 7 PERMISSION_DENIED, message: "origin not allowed"}, as gRPC-style APIs send), and
/deflate answers 400 with a text reason that aiohttp compresses (Content-Encoding: deflate,
chunked) for a client that accepts it.
"""

import argparse
import asyncio
import sys

from aiohttp import WSMsgType, web


async def ws_handler(request):
    ws = web.WebSocketResponse(heartbeat=None)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


# google.rpc.Status as protobuf: field 1 (code, varint) = 7, field 2 (message, bytes).
DENIED = b"\x08\x07\x12\x12origin not allowed"


async def refuse_proto(request):
    return web.Response(status=403, body=DENIED, content_type="application/x-protobuf")


async def refuse_deflate(request):
    resp = web.Response(
        status=400,
        text="Refused: this endpoint needs the subprotocol v2.chat.example; "
        "the client offered none.\n",
    )
    resp.enable_compression(web.ContentCoding.deflate)
    return resp


async def main(args):
    app = web.Application()
    if args.mode == "refuse":
        app.router.add_get("/proto", refuse_proto)
        app.router.add_get("/deflate", refuse_deflate)
    else:
        app.router.add_get("/ws", ws_handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    print(f"[aiows] listening on {args.host}:{args.port}", file=sys.stderr, flush=True)
    await asyncio.sleep(args.lifetime)
    await runner.cleanup()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--lifetime", type=float, default=60)
    p.add_argument("--mode", default="echo", choices=["echo", "refuse"])
    try:
        asyncio.run(main(p.parse_args()))
    except KeyboardInterrupt:
        pass
