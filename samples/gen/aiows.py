#!/usr/bin/env python3
"""An aiohttp WebSocket echo server for samples/generate.sh (a second real server
library beside websockets and ws).  Exits after --lifetime seconds.

    aiows.py --host 127.0.0.1 --port 18221
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


async def main(args):
    app = web.Application()
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
    try:
        asyncio.run(main(p.parse_args()))
    except KeyboardInterrupt:
        pass
