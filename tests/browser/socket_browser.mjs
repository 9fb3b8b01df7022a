// A client we did not write: a real browser (headless Chromium, driven by playwright-core)
// opening the socket binding with its own `WebSocket` object, from a page with a real origin.
//
// Run by `tests/tests/socket_browser.rs` against real servers:
//   node socket_browser.mjs <ws-url> <ws-url allowing the page> <ws-url allowing another origin> <page port>
// The page runs only what `docs/protocol.md` ("Socket binding") says: calls, a typed error,
// invalid params, a server stream, a batch, a parse error, pushed events, and, on the first
// server (keepalive of 100 ms), a pause long enough to be pinged, which the browser answers by
// itself. Prints `ok` and exits 0 when every exchange is as documented; exits 2 when
// playwright-core is not installed (`npm ci` in this folder), 3 when there is no Chromium.

import { existsSync } from "node:fs";
import http from "node:http";

let chromium;
try {
  ({ chromium } = await import("playwright-core"));
} catch {
  console.error("playwright-core is missing: run `npm ci` in tests/browser");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
if (!existsSync(executablePath)) {
  console.error(`no Chromium at ${executablePath}: install Debian's \`chromium\`, or set CHROMIUM`);
  process.exit(3);
}

const [url, allowingUrl, refusingUrl, pagePort] = process.argv.slice(2);
// Whatever happens, the script ends (its caller waits for it).
setTimeout(() => {
  console.error("timed out after 30 s");
  process.exit(1);
}, 30_000).unref();

// The page, served over HTTP so that it has an origin of its own (`http://127.0.0.1:<port>`).
const page = http.createServer((_, response) => {
  response.writeHead(200, { "content-type": "text/html" });
  response.end("<!doctype html><title>svcgen socket binding</title>");
});
await new Promise((resolve) => page.listen(Number(pagePort), "127.0.0.1", resolve));

// Everything below `exchange` runs in the browser: it may use nothing but the page's globals.
async function exchange({ url, allowingUrl, refusingUrl }) {
  const SERVICE = "conformance.Conformance";
  const SUBPROTOCOL = "svcgen.jsonrpc.v1";
  const check = (ok, what) => {
    if (!ok) throw new Error(`unexpected: ${JSON.stringify(what)}`);
  };

  // A connection with a queue of the messages it received, read one at a time.
  const connect = (url) =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, SUBPROTOCOL);
      const queue = [];
      const waiting = [];
      let closed = null;
      ws.onmessage = (e) => (waiting.length ? waiting.shift().resolve(e.data) : queue.push(e.data));
      ws.onclose = (e) => {
        closed = new Error(`closed: ${e.code} ${e.reason}`);
        for (const w of waiting.splice(0)) w.reject(closed);
        reject(new Error(`closed before it opened: ${e.code}`));
      };
      // The next message; fails when the connection is closed, or after 5 s.
      ws.recv = () => {
        if (queue.length) return Promise.resolve(JSON.parse(queue.shift()));
        if (closed) return Promise.reject(closed);
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error("no message within 5 s")), 5000);
          const done = (f) => (value) => (clearTimeout(timer), f(value));
          waiting.push({ resolve: done(resolve), reject: done(reject) });
        }).then(JSON.parse);
      };
      ws.call = (id, method, params) => {
        ws.send(JSON.stringify({ jsonrpc: "2.0", id, method: `${SERVICE}.${method}`, params }));
        return ws.recv();
      };
      ws.onopen = () => resolve(ws);
    });
  const closed = (ws) => new Promise((resolve) => (ws.onclose = (e) => resolve(e.code)));

  const ws = await connect(url);
  check(ws.protocol === SUBPROTOCOL, ws.protocol);

  // A call: named params (the REST body), the Context in `_meta`.
  const item = { name: "from-a-browser", count: 3, tags: ["web"] };
  let reply = await ws.call(1, "put", { item, _meta: { correlation_id: "web-1" } });
  check(reply.jsonrpc === "2.0" && reply.id === 1, reply);
  check(reply.result.name === "from-a-browser" && reply.result.count === 3, reply);

  // A typed domain error: the server range, the error's fields in `data`.
  reply = await ws.call("two", "get", { name: "missing", _meta: { correlation_id: "web-2" } });
  const error = reply.error;
  check(reply.id === "two" && error.code === -32000, reply);
  check(error.data.type === "urn:svcgen:error:conformance.NoSuchItem" && error.data.title === "NoSuchItem", error);
  check(error.data.error.name === "missing" && error.data.status === 404 && error.data.code === "not_found", error);
  check(error.data.correlation_id === "web-2", error);

  // Invalid params: -32602, every bad field named.
  reply = await ws.call(3, "put", { item: { name: "", count: 5000 } });
  check(reply.error.code === -32602, reply);
  const fields = reply.error.data.violations.map((v) => v.field);
  check(fields.join() === "item.name,item.count", fields);

  // A server stream: a subscription whose items are pushed as notifications.
  reply = await ws.call(4, "count", { up_to: 3 });
  const stream = reply.result.subscription;
  const items = [];
  for (;;) {
    const message = await ws.recv();
    check(!("id" in message) && message.params.subscription === stream, message);
    if (message.method === "svcgen.stream.end") break;
    check(message.method === "svcgen.stream.item", message);
    items.push(message.params.item);
  }
  check(items.join() === "1,2,3", items);

  // A batch: one message, one response per request (none for the notification).
  ws.send(
    JSON.stringify([
      { jsonrpc: "2.0", id: 5, method: `${SERVICE}.slow`, params: { millis: 1 } },
      { jsonrpc: "2.0", method: `${SERVICE}.record`, params: { note: "browser" } },
      { jsonrpc: "2.0", id: 6, method: `${SERVICE}.missing` },
    ]),
  );
  const replies = Object.fromEntries((await ws.recv()).map((r) => [r.id, r]));
  check(Object.keys(replies).join() === "5,6", replies);
  check(replies[5].result === 1 && replies[6].error.code === -32601, replies);

  // Not JSON: a parse error, and the connection goes on.
  ws.send("{oops");
  reply = await ws.recv();
  check(reply.error.code === -32700 && reply.id === null, reply);

  // Silent for ten keepalive periods: the server pings, the browser answers, the server keeps it.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  reply = await ws.call(7, "slow", { millis: 2 });
  check(reply.result === 2, reply);

  // Pushed events: subscribe, receive one (a CloudEvents JSON event), cancel.
  ws.send(
    JSON.stringify({
      jsonrpc: "2.0",
      id: 8,
      method: "svcgen.subscribe",
      params: { event: "conformance.conformance.stored" },
    }),
  );
  reply = await ws.recv();
  const subscription = reply.result.subscription;
  let message = await ws.recv();
  check(message.method === "svcgen.event" && message.params.subscription === subscription, message);
  const event = message.params.event;
  check(event.specversion === "1.0" && event.type === "conformance.conformance.stored", event);
  check(event.data.name === "pen" && event.id, event);
  ws.send(JSON.stringify({ jsonrpc: "2.0", id: 9, method: "svcgen.cancel", params: { subscription } }));
  for (;;) {
    // Events already on their way may come first.
    message = await ws.recv();
    if (message.id === 9) break;
    check(message.method === "svcgen.event", message);
  }
  check(message.result === true, message);

  // A binary message on a connection in text mode: closed with 1003 (unsupported data).
  const binary = await connect(url);
  const code = closed(binary);
  binary.send(new Uint8Array([1, 2, 3]));
  check((await code) === 1003, "close code 1003 for a binary message");
  ws.close(1000);

  // A server that lists this page's origin serves it; one that lists another refuses the
  // handshake, which a page sees as a connection closed with 1006 before it opened.
  const allowed = await connect(allowingUrl);
  check((await allowed.call(10, "slow", { millis: 1 })).result === 1, "served on the allowing server");
  allowed.close(1000);
  const refused = await connect(refusingUrl).then(
    () => "opened",
    (e) => e.message,
  );
  check(refused === "closed before it opened: 1006", refused);
  return "ok";
}

const browser = await chromium.launch({
  executablePath,
  chromiumSandbox: false,
  args: [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let failed = false;
try {
  const tab = await browser.newPage();
  await tab.goto(`http://127.0.0.1:${pagePort}/`);
  console.log(await tab.evaluate(exchange, { url, allowingUrl, refusingUrl }));
} catch (e) {
  console.error(e.message);
  failed = true;
} finally {
  await browser.close();
  page.close();
}
process.exit(failed ? 1 : 0);
