#!/usr/bin/env python3
"""Calls the shop example over the socket binding (JSON-RPC 2.0 over WebSocket) with Python's
`websockets` package and nothing of ours.

Usage: python3 socket_client.py ws://127.0.0.1:8080/ws
It follows docs/protocol.md ("socket binding"): the subprotocol `svcgen.jsonrpc.v1`, named params
(the REST body) with the Context in `_meta`, typed errors in the error's `data`, and live prices
(`watch_prices`) as a subscription whose ticks are pushed as notifications.
Exits 2 when `websockets` is missing.
"""
import asyncio
import json
import sys

try:
    import websockets
except ImportError:
    print("the `websockets` package is missing: python3 -m pip install websockets", file=sys.stderr)
    sys.exit(2)

CATALOG = "shop.catalog.Catalog"


def check(condition, message):
    if not condition:
        print("FAILED:", message)
        sys.exit(1)


async def main(url):
    async with websockets.connect(url, subprotocols=["svcgen.jsonrpc.v1"]) as ws:
        calls = iter(range(1, 1000))

        async def call(method, params):
            id = next(calls)
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": id, "method": f"{CATALOG}.{method}", "params": params}))
            reply = json.loads(await ws.recv())
            check(reply.get("id") == id, f"{method}: {reply}")
            return reply

        new = {"name": "Socket lamp", "price": {"amount": 2500, "currency": "EUR"}, "tags": ["light"]}
        reply = await call("create_product", {"product": new, "_meta": {"correlation_id": "py-socket-1"}})
        product = reply["result"]
        check(product["name"] == "Socket lamp", f"create_product: {reply}")
        print("created", product["id"], product["name"])

        # A typed domain error: code -32000, the problem document in `data`.
        reply = await call("get_product", {"id": 999})
        error = reply["error"]
        check(error["code"] == -32000, f"get_product: {reply}")
        check(error["data"]["type"] == "urn:svcgen:error:shop.catalog.NotFound", f"{error}")
        check(error["data"]["error"] == {"id": 999}, f"{error}")
        print("not found", error["data"]["type"], error["data"]["error"])

        # Live prices: a subscription; ticks arrive as svcgen.stream.item notifications.
        reply = await call("watch_prices", {"ids": [product["id"]]})
        subscription = reply["result"]["subscription"]
        prices = []
        while True:
            message = json.loads(await ws.recv())
            check(message["params"]["subscription"] == subscription, f"{message}")
            if message["method"] == "svcgen.stream.end":
                break
            check(message["method"] == "svcgen.stream.item", f"{message}")
            tick = message["params"]["item"]
            prices.append(tick["price"]["amount"])
            print("tick", tick["id"], tick["price"]["amount"], tick["at"])
        check(prices == [2500, 2510, 2520], f"prices: {prices}")
    print("OK")


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), timeout=30))
