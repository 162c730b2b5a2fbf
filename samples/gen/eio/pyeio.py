#!/usr/bin/env python3
"""python-socketio peers for samples/generate-engineio.sh: an aiohttp server and an asyncio
client, bounded in time; the client logs what the library reported as "event: detail" lines.

    pyeio.py server --port P [--ping-interval S] [--ping-timeout S] [--lifetime S]
    pyeio.py client --url URL [--transports polling,websocket] [--hold S]
    pyeio.py asgi --port P --cert C --key K --page DIR [--ping-interval S] [--ping-timeout S]
                  [--upgrade-header]

`asgi` serves python-socketio's ASGI app under hypercorn over TLS (ALPN h2, whose SETTINGS
enable extended CONNECT, RFC 8441) with DIR's files at / (a page loading socket.io-client's
browser bundle), so a browser polls over HTTP/2 streams and upgrades by extended CONNECT.

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


def with_upgrade_header(app):
    """An ASGI wrapper giving WebSocket requests without `Upgrade` and `Connection` headers
    the HTTP/1.1 ones.

    python-engineio decides a websocket request is one by its Upgrade header (the server's
    `transport != upgrade_header` check) and `Connection: upgrade` (the socket's), which an
    HTTP/2 extended CONNECT (RFC 8441) does not have: without the first it refuses every
    upgrade over h2 ("Invalid transport", which hypercorn sends as 403) and the session stays
    on polling; without the second it answers the WebSocket as a poll."""
    async def wrapped(scope, receive, send):
        if scope["type"] == "websocket" and not any(k == b"upgrade" for k, _ in scope["headers"]):
            extra = [(b"upgrade", b"websocket"), (b"connection", b"upgrade")]
            scope = dict(scope, headers=[*scope["headers"], *extra])
        await app(scope, receive, send)
    return wrapped


async def asgi(args):
    import os
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    # The page's origin (python-engineio checks Origin against the Host it was served as).
    sio = socketio.AsyncServer(async_mode="asgi", ping_interval=args.ping_interval,
                               ping_timeout=args.ping_timeout,
                               cors_allowed_origins=f"https://localhost:{args.port}",
                               engineio_logger=bool(os.environ.get("EIO_DEBUG")))  # its packet log
    page = args.page
    app = socketio.ASGIApp(sio, static_files={
        "/": os.path.join(page, "index.html"),
        "/socket.io.min.js": os.path.join(page, "socket.io.min.js"),
        "/favicon.ico": os.path.join(page, "favicon.ico"),
    })

    @sio.event
    async def connect(sid, environ, auth):
        print(f"server connect: sid={sid} transport={sio.transport(sid)}", flush=True)

    @sio.on("hello")
    async def hello(sid, data):
        print(f"server hello: {data} transport={sio.transport(sid)}", flush=True)
        return {"ok": True}

    @sio.on("log")
    async def client_log(sid, line):
        print(f"page: {line}", flush=True)

    @sio.event
    async def disconnect(sid, reason=None):
        print(f"server disconnect: sid={sid} reason={reason}", flush=True)

    if args.upgrade_header:
        app = with_upgrade_header(app)
    config = Config()
    config.bind = [f"127.0.0.1:{args.port}"]
    config.certfile = args.cert
    config.keyfile = args.key
    config.alpn_protocols = ["h2", "http/1.1"]
    config.accesslog = "-"
    config.access_log_format = "access: %(H)s %(m)s %(U)s?%(q)s %(s)s"
    print("server listening", flush=True)
    try:
        await asyncio.wait_for(serve(app, config), args.lifetime)
    except asyncio.TimeoutError:
        pass


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

    try:
        await sio.connect(args.url, transports=args.transports.split(","), wait_timeout=3)
    except socketio.exceptions.ConnectionError as e:
        print(f"client connect failed: {e}", flush=True)
        return
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
    p.add_argument("mode", choices=["server", "client", "asgi"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--url", default="")
    p.add_argument("--transports", default="polling,websocket")
    p.add_argument("--ping-interval", type=float, default=25)
    p.add_argument("--ping-timeout", type=float, default=20)
    p.add_argument("--lifetime", type=float, default=30)
    p.add_argument("--hold", type=float, default=1.0)
    p.add_argument("--cert", default="")
    p.add_argument("--key", default="")
    p.add_argument("--page", default="")
    p.add_argument("--upgrade-header", action="store_true",
                   help="asgi: add the Upgrade header python-engineio looks for (see with_upgrade_header)")
    args = p.parse_args()
    run = {"server": server, "client": client, "asgi": asgi}[args.mode]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
