"""A client we did not write: Python's `websockets` speaking JSON-RPC 2.0 to the socket binding.

Run by `tests/tests/socket_python.rs` against a real server: `python3 socket_client.py ws://host:port/ws`.
It uses nothing of svcgen's, only what `docs/protocol.md` ("Socket binding") says. The server
publishes `conformance.conformance.stored` events all along; they are pushed once subscribed.
Exits 0 and prints `ok` when every exchange is as documented, 2 when `websockets` is missing.
"""

import asyncio
import json
import sys

try:
    import websockets
except ImportError:
    print("the `websockets` package is missing: python3 -m pip install websockets", file=sys.stderr)
    sys.exit(2)

SERVICE = "conformance.Conformance"


async def call(ws, id, method, params):
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": id, "method": f"{SERVICE}.{method}", "params": params}))
    return json.loads(await ws.recv())


async def main(url):
    async with websockets.connect(url, subprotocols=["svcgen.jsonrpc.v1"]) as ws:
        assert ws.subprotocol == "svcgen.jsonrpc.v1", ws.subprotocol

        # A call: named params (the REST body), the Context in `_meta`.
        item = {"name": "from-python", "count": 3, "tags": ["py"]}
        reply = await call(ws, 1, "put", {"item": item, "_meta": {"correlation_id": "py-1"}})
        assert reply["jsonrpc"] == "2.0" and reply["id"] == 1, reply
        assert reply["result"]["name"] == "from-python" and reply["result"]["count"] == 3, reply

        # A typed domain error: the server range, the error's fields in `data`.
        reply = await call(ws, "two", "get", {"name": "missing", "_meta": {"correlation_id": "py-2"}})
        error = reply["error"]
        assert reply["id"] == "two", reply
        assert error["code"] == -32000, error
        assert error["data"]["type"] == "urn:svcgen:error:conformance.NoSuchItem", error
        assert error["data"]["title"] == "NoSuchItem", error
        assert error["data"]["error"] == {"name": "missing"}, error
        assert error["data"]["status"] == 404 and error["data"]["code"] == "not_found", error
        assert error["data"]["correlation_id"] == "py-2", error

        # Invalid params: -32602, every bad field named.
        reply = await call(ws, 3, "put", {"item": {"name": "", "count": 5000}})
        assert reply["error"]["code"] == -32602, reply
        fields = [v["field"] for v in reply["error"]["data"]["violations"]]
        assert fields == ["item.name", "item.count"], fields

        # Pushed notifications: a server stream is a subscription.
        reply = await call(ws, 4, "count", {"up_to": 3})
        subscription = reply["result"]["subscription"]
        items = []
        while True:
            message = json.loads(await ws.recv())
            assert "id" not in message, message
            assert message["params"]["subscription"] == subscription, message
            if message["method"] == "svcgen.stream.end":
                break
            assert message["method"] == "svcgen.stream.item", message
            items.append(message["params"]["item"])
        assert items == [1, 2, 3], items

        # A batch: one message, one response per request (none for the notification).
        await ws.send(json.dumps([
            {"jsonrpc": "2.0", "id": 5, "method": f"{SERVICE}.slow", "params": {"millis": 1}},
            {"jsonrpc": "2.0", "method": f"{SERVICE}.record", "params": {"note": "python"}},
            {"jsonrpc": "2.0", "id": 6, "method": f"{SERVICE}.missing"},
        ]))
        replies = {r["id"]: r for r in json.loads(await ws.recv())}
        assert set(replies) == {5, 6}, replies
        assert replies[5]["result"] == 1 and replies[6]["error"]["code"] == -32601, replies

        # Not JSON at all: a parse error, and the connection goes on.
        await ws.send("{oops")
        reply = json.loads(await ws.recv())
        assert reply["error"]["code"] == -32700 and reply["id"] is None, reply
        reply = await call(ws, 7, "slow", {"millis": 2})
        assert reply["result"] == 2, reply

        # Pushed events: subscribe, receive one (a CloudEvents JSON event), cancel.
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 8, "method": "svcgen.subscribe",
                                  "params": {"event": "conformance.conformance.stored"}}))
        reply = json.loads(await ws.recv())
        subscription = reply["result"]["subscription"]
        message = json.loads(await ws.recv())
        assert message["method"] == "svcgen.event", message
        assert message["params"]["subscription"] == subscription, message
        event = message["params"]["event"]
        assert event["specversion"] == "1.0" and event["type"] == "conformance.conformance.stored", event
        assert event["data"]["name"] == "pen" and event["id"], event
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 9, "method": "svcgen.cancel",
                                  "params": {"subscription": subscription}}))
        while True:  # events already on their way may come first
            message = json.loads(await ws.recv())
            if message.get("id") == 9:
                assert message["result"] is True, message
                break
            assert message["method"] == "svcgen.event", message
    print("ok")


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), timeout=30))
