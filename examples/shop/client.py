#!/usr/bin/env python3
"""Calls the shop example over REST with nothing but the Python standard library.

Usage: python3 client.py http://127.0.0.1:8080
It follows docs/rest.md: JSON bodies keyed by parameter name, problem+json errors,
Server-Sent Events for streams, x-correlation-id echoed.
"""
import json
import sys
import urllib.error
import urllib.request

BASE = sys.argv[1].rstrip("/")


def call(method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request) as response:
            raw = response.read().decode()
            return response.status, dict(response.headers), raw
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def check(condition, message):
    if not condition:
        print("FAILED:", message)
        sys.exit(1)


# Create two products (POST /catalog/create_product: the default route).
new = {"product": {"name": "Notebook", "price": {"amount": 1200, "currency": "EUR"}, "tags": ["office"]}}
status, headers, raw = call("POST", "/catalog/create_product", new, {"x-correlation-id": "py-1"})
check(status == 200, f"create_product: {status} {raw}")
product = json.loads(raw)
check(headers.get("x-correlation-id") == "py-1", "the correlation id is echoed")
print("created", product["id"], product["name"], product["created_at"])
call("POST", "/catalog/create_product", {"product": {"name": "Pencil", "price": {"amount": 150}}})

# Read it back (GET /products/{id}).
status, _, raw = call("GET", f"/products/{product['id']}")
check(status == 200 and json.loads(raw)["name"] == "Notebook", f"get_product: {raw}")

# Query parameters, with a default (limit) and an enum (sort).
status, _, raw = call("GET", "/products?sort=PRICE")
names = [p["name"] for p in json.loads(raw)]
check(status == 200 and names == ["Pencil", "Notebook"], f"list_products: {raw}")
print("listed", names)

# A typed domain error: RFC 9457 problem+json.
status, headers, raw = call("GET", "/products/999")
problem = json.loads(raw)
check(status == 404, f"status {status}")
check(headers.get("content-type") == "application/problem+json", str(headers))
check(problem["type"] == "urn:svcgen:error:shop.catalog.NotFound" and problem["error"] == {"id": 999}, raw)
print("not found", problem["type"], problem["error"])

# Invalid input: every bad field is named.
bad = {"product": {"name": "", "price": {"amount": 1}, "sku": "nope"}}
status, _, raw = call("POST", "/catalog/create_product", bad)
fields = [v["field"] for v in json.loads(raw).get("violations", [])]
check(status == 400 and fields == ["product.name", "product.sku"], f"validation: {status} {raw}")
print("invalid", fields)

# A stream: Server-Sent Events, `item` events then `end`.
status, headers, raw = call("POST", "/catalog/watch_prices", {"ids": [product["id"]]})
check(headers.get("content-type", "").startswith("text/event-stream"), str(headers))
events = [block for block in raw.split("\n\n") if block.strip()]
kinds = [line[len("event:"):].strip() for block in events for line in block.splitlines() if line.startswith("event:")]
check(kinds == ["item", "item", "item", "end"], f"events: {kinds}")
print("streamed", len(kinds) - 1, "ticks")

# Oneway: accepted at once.
status, _, _ = call("POST", "/catalog/reindex", {"full": True})
check(status == 202, f"reindex: {status}")
print("OK")
