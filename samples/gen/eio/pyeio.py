#!/usr/bin/env python3
"""python-socketio peers for samples/generate-engineio.sh: an aiohttp server and an asyncio
client, bounded in time; the client logs what the library reported as "event: detail" lines.

    pyeio.py server --port P [--ping-interval S] [--ping-timeout S] [--lifetime S]
    pyeio.py client --url URL [--transports polling,websocket] [--hold S]

The client also logs the Engine.IO library's warnings ("client log: ...", e.g. "Server has
stopped communicating" when no ping came within pingInterval + pingTimeout), its upgrade
to websocket and the reason it was disconnected.
"""
import argparse
import asyncio
import logging

import socketio
from aiohttp import web


async def server(args):
    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=args.ping_interval,
                               ping_timeout=args.ping_timeout)
    app = web.Application()
    sio.attach(app)

    @sio.event
    async def connect(sid, environ, auth):
        print(f"server connect: sid={sid}", flush=True)

    @sio.on("hello")
    async def hello(sid, data):
        print(f"server hello: {data}", flush=True)
        return {"ok": True}

    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    print("server listening", flush=True)
    await asyncio.sleep(args.lifetime)
    await runner.cleanup()


async def client(args):
    logging.basicConfig(format="client log: %(message)s", level=logging.WARNING)
    eio_logger = logging.getLogger("engineio.client")
    eio_logger.setLevel(logging.WARNING)
    sio = socketio.AsyncClient(reconnection=False, engineio_logger=eio_logger)

    @sio.event
    async def connect():
        print(f"client connect: transport={sio.transport()} sid={sio.eio.sid}", flush=True)

    @sio.event
    async def connect_error(data):
        print(f"client connect_error: {data}", flush=True)

    @sio.event
    async def disconnect(reason=None):
        print(f"client disconnect: {reason}", flush=True)

    await sio.connect(args.url, transports=args.transports.split(","), wait_timeout=3)
    answer = await sio.call("hello", {"n": 1}, timeout=3)
    print(f"client ack: {answer}", flush=True)
    for _ in range(30):
        if sio.transport() == "websocket":
            print("client upgrade: websocket", flush=True)
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(args.hold)
    print(f"client final: transport={sio.transport()} connected={sio.connected}", flush=True)
    if sio.connected:
        await sio.disconnect()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["server", "client"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--url", default="")
    p.add_argument("--transports", default="polling,websocket")
    p.add_argument("--ping-interval", type=float, default=25)
    p.add_argument("--ping-timeout", type=float, default=20)
    p.add_argument("--lifetime", type=float, default=30)
    p.add_argument("--hold", type=float, default=1.0)
    args = p.parse_args()
    asyncio.run(server(args) if args.mode == "server" else client(args))


if __name__ == "__main__":
    main()
