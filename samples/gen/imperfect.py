#!/usr/bin/env python3
"""Real peers for the imperfect-capture samples (issue 19): a websockets server and a client
that makes a fixed plan of attempts, each endpoint writing a JSON-lines log of what it did.

The logs are the expected results: the tests hold wssniff's records of a cut, one-way or
lossy capture of this traffic to what the endpoints themselves saw.

    imperfect.py server --host 127.0.0.1 --port 18201 --log server.jsonl
    imperfect.py client --host 127.0.0.1 --port 18201 --log client.jsonl [--big]

Server: /forbidden* -> 403, /missing* -> 404, anything else -> 101 (subprotocol "chat"
when offered; permessage-deflate when offered); echoes every message, the client closes.
Client plan (12 attempts, one after the other): 4 x /ok (permessage-deflate offered),
2 x /chat offering "superchat, chat", 2 x /forbidden, 2 x /missing, 1 x an Engine.IO
target, 1 x /plain without compression. --big sends a 20 kB message on each opened
connection (so a dropped segment shows as a retransmission).
"""

import argparse
import asyncio
import json
import socket
import sys
from http import HTTPStatus

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

PLAN = (
    [("/ok", None, "deflate")] * 4
    + [("/chat", ["superchat", "chat"], "deflate")] * 2
    + [("/forbidden", None, "deflate")] * 2
    + [("/missing", None, "deflate")] * 2
    + [("/socket.io/?EIO=4&transport=websocket", None, "deflate")]
    + [("/plain", None, None)]
)


def write(log, record):
    log.write(json.dumps(record, sort_keys=True) + "\n")
    log.flush()


async def run_server(args):
    log = open(args.log, "w")

    def process_request(connection, request):
        if request.path.startswith("/forbidden"):
            return connection.respond(HTTPStatus.FORBIDDEN, "forbidden\n")
        if request.path.startswith("/missing"):
            return connection.respond(HTTPStatus.NOT_FOUND, "no such endpoint\n")
        return None

    def process_response(connection, request, response):
        write(
            log,
            {
                "client_port": connection.remote_address[1],
                "path": request.path,
                "status": response.status_code,
                "subprotocol": response.headers.get("Sec-WebSocket-Protocol"),
                "extensions": response.headers.get("Sec-WebSocket-Extensions"),
                "key": request.headers.get("Sec-WebSocket-Key"),
            },
        )
        return None

    async def echo(ws):
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass

    async with serve(
        echo,
        args.host,
        args.port,
        process_request=process_request,
        process_response=process_response,
        # "chat" when offered, none otherwise (a plain `subprotocols=` list would refuse
        # clients that offer none).
        select_subprotocol=lambda connection, offered: "chat" if "chat" in offered else None,
        max_size=None,
    ) as server:
        print(f"listening on {args.host}:{args.port}", flush=True)
        await server.serve_forever()


async def run_client(args):
    log = open(args.log, "w")
    message = "x" * 20000 if args.big else "hello"
    for path, subprotocols, compression in PLAN:
        sock = socket.create_connection((args.host, args.port), timeout=5)
        local_port = sock.getsockname()[1]
        record = {"client_port": local_port, "path": path}
        try:
            async with connect(
                f"ws://{args.host}:{args.port}{path}",
                sock=sock,
                subprotocols=subprotocols,
                compression=compression,
                open_timeout=5,
                max_size=None,
            ) as ws:
                record["status"] = 101
                record["subprotocol"] = ws.subprotocol
                record["extensions"] = ws.response.headers.get("Sec-WebSocket-Extensions")
                record["key"] = ws.request.headers.get("Sec-WebSocket-Key")
                await ws.send(message)
                echo = await asyncio.wait_for(ws.recv(), 10)
                record["echoed"] = echo == message
        except InvalidStatus as e:
            record["status"] = e.response.status_code
        write(log, record)
        await asyncio.sleep(0.05)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--big", action="store_true")
    args = p.parse_args()
    run = run_server if args.role == "server" else run_client
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
