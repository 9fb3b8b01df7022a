//! The conformance suite over the socket binding (JSON-RPC 2.0 over WebSocket), a real server on
//! 127.0.0.1, and the socket's own behaviour: bad input, batches, limits, reconnection, shutdown.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use svcgen::Code;
use svcgen::socket::{SUBPROTOCOL, SlowReceiver, SocketConfig};
use svcgen_tests::conformance::Fixture;
use svcgen_tests::fixture_conformance::conformance::ConformanceClient;
use svcgen_tests::fixture_conformance_v2::conformance as v2;
use svcgen_tests::socket::{Raw, Stoppable, close_code, offering, reconnects_to_a_restarted_server, serve};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;

async fn socket() -> Fixture {
    let broker = svcgen::queue::MemoryBroker::new();
    let (url, serving) = svcgen_tests::socket::serve_with_events(&broker, SocketConfig::default()).await;
    Fixture {
        client: ConformanceClient::socket(&url).expect("a ws URL"),
        v2: v2::ConformanceClient::socket(&url).expect("a ws URL"),
        broker: std::sync::Arc::new(broker),
        guard: Box::new(serving),
    }
}

svcgen_tests::conformance_suite!(socket);
// Events pushed over the socket, watched as a stream.
svcgen_tests::conformance_suite!(@tests socket; event_stream);

/// A hand-driven WebSocket connection offering our subprotocol.
async fn raw(url: &str) -> Raw {
    let (socket, selected) = offering(url, SUBPROTOCOL).await;
    assert_eq!(selected.as_deref(), Some(SUBPROTOCOL), "the server selects the subprotocol");
    socket
}

/// The next text message, parsed (pings skipped); panics after 5 s.
async fn next_json<S>(socket: &mut tokio_tungstenite::WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("an answer within 5 s")
            .expect("the connection is open")
            .expect("a message");
        match message {
            Message::Text(text) => {
                return serde_json::from_str(text.as_str()).expect("the server sends JSON");
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// A JSON-RPC request to a method of the conformance service.
fn request(id: Value, method: &str, params: Value) -> Value {
    let mut request = serde_json::Map::new();
    request.insert("jsonrpc".into(), "2.0".into());
    request.insert("id".into(), id);
    request.insert("method".into(), format!("conformance.Conformance.{method}").into());
    request.insert("params".into(), params);
    Value::Object(request)
}

async fn send(socket: &mut Raw, value: &Value) {
    socket.send(Message::Text(value.to_string().into())).await.expect("sent");
}

#[tokio::test]
async fn bad_input_gets_the_standard_errors_and_the_connection_stays_usable() {
    let (url, _server) = serve(SocketConfig::default()).await;
    let mut socket = raw(&url).await;

    socket.send(Message::Text("{not json".into())).await.expect("sent");
    let answer = next_json(&mut socket).await;
    assert_eq!((answer["error"]["code"].clone(), answer["id"].clone()), (json!(-32700), Value::Null));

    for not_jsonrpc in
        [json!(42), json!({"hello": "world"}), json!({"jsonrpc": "1.0", "method": "x", "id": 1})]
    {
        send(&mut socket, &not_jsonrpc).await;
        let answer = next_json(&mut socket).await;
        assert_eq!(answer["error"]["code"], -32600, "{not_jsonrpc} → {answer}");
    }

    send(&mut socket, &json!({"jsonrpc": "2.0", "id": 7, "method": "conformance.Conformance.nope"})).await;
    let answer = next_json(&mut socket).await;
    assert_eq!(
        (answer["id"].clone(), answer["error"]["code"].clone()),
        (json!(7), json!(-32601)),
        "{answer}"
    );
    assert_eq!(answer["error"]["data"]["code"], "unimplemented");

    let wrong = request(json!("w"), "get", json!({"name": 5}));
    send(&mut socket, &wrong).await;
    let answer = next_json(&mut socket).await;
    assert_eq!(
        (answer["id"].clone(), answer["error"]["code"].clone()),
        (json!("w"), json!(-32602)),
        "{answer}"
    );

    let positional =
        json!({"jsonrpc": "2.0", "id": 8, "method": "conformance.Conformance.get", "params": ["x"]});
    send(&mut socket, &positional).await;
    assert_eq!(next_json(&mut socket).await["error"]["code"], -32602);

    // A typed domain error: the server range, the problem document in `data`.
    let missing = json!({"jsonrpc": "2.0", "id": 9, "method": "conformance.Conformance.get",
        "params": {"name": "gone", "_meta": {"correlation_id": "corr-9"}}});
    send(&mut socket, &missing).await;
    let answer = next_json(&mut socket).await;
    assert_eq!(answer["error"]["code"], -32000, "{answer}");
    assert_eq!(answer["error"]["data"]["type"], "urn:svcgen:error:conformance.NoSuchItem");
    assert_eq!(answer["error"]["data"]["error"], json!({"name": "gone"}));
    assert_eq!(answer["error"]["data"]["correlation_id"], "corr-9");

    // Still serving, on this connection.
    let ok = request(json!(10), "slow", json!({"millis": 1}));
    send(&mut socket, &ok).await;
    assert_eq!(next_json(&mut socket).await, json!({"jsonrpc": "2.0", "id": 10, "result": 1}));
}

#[tokio::test]
async fn a_binary_frame_in_text_mode_closes_with_1003_and_others_are_served() {
    let (url, _server) = serve(SocketConfig::default()).await;
    let mut bad = raw(&url).await;
    let mut good = raw(&url).await;
    bad.send(Message::Binary(vec![0x93, 1, 2, 3].into())).await.expect("sent");
    assert_eq!(close_code(&mut bad).await, 1003);
    let call = request(json!(1), "slow", json!({"millis": 1}));
    send(&mut good, &call).await;
    assert_eq!(next_json(&mut good).await["result"], 1);
}

#[tokio::test]
async fn an_oversize_message_closes_with_1009_and_others_are_served() {
    let config = SocketConfig { max_message: 64 * 1024, ..SocketConfig::default() };
    let (url, _server) = serve(config).await;
    let mut big = raw(&url).await;
    let mut other = raw(&url).await;
    let huge = json!({"jsonrpc": "2.0", "id": 1, "method": "conformance.Conformance.echo",
        "params": {"data": "", "text": "x".repeat(200 * 1024)}});
    // The server may close before the whole message is written: the send may fail.
    let _ = big.send(Message::Text(huge.to_string().into())).await;
    assert_eq!(close_code(&mut big).await, 1009);
    let call = request(json!(2), "slow", json!({"millis": 1}));
    send(&mut other, &call).await;
    assert_eq!(next_json(&mut other).await["result"], 1);

    // Our client, told the limit, refuses to send what the server would refuse; not told, it
    // sees the connection closed (`unavailable`, naming code 1009) and reconnects for the next call.
    let limited = svcgen::socket::SocketClient::with_config(
        &url,
        SocketConfig { max_message: 64 * 1024, ..SocketConfig::default() },
    )
    .expect("a ws URL");
    let bytes = || svcgen::Bytes(vec![0; 100 * 1024]);
    let status = ConformanceClient::new(limited).echo(bytes(), String::new(), None, None, None).await;
    assert_eq!(status.expect_err("too large").code(), Code::PayloadTooLarge);
    let unlimited = ConformanceClient::socket(&url).expect("a ws URL");
    let status = unlimited.echo(bytes(), String::new(), None, None, None).await.expect_err("refused");
    assert_eq!(status.code(), Code::Unavailable, "{status}");
    assert!(status.message().contains("1009"), "{status}");
    assert_eq!(unlimited.slow(3).await.expect("a new connection"), 3);
}

#[tokio::test]
async fn a_foreign_subprotocol_is_refused() {
    let (url, _server) = serve(SocketConfig::default()).await;
    let mut request = url.as_str().into_client_request().expect("a URL");
    request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
    let error = tokio_tungstenite::connect_async(request).await.expect_err("refused");
    assert!(error.to_string().contains("400"), "{error}");
}

#[tokio::test]
async fn a_batch_is_answered_in_one_message() {
    let (url, _server) = serve(SocketConfig::default()).await;
    let mut socket = raw(&url).await;
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "conformance.Conformance.slow", "params": {"millis": 30}},
        {"jsonrpc": "2.0", "method": "conformance.Conformance.record", "params": {"note": "from a batch"}},
        {"jsonrpc": "2.0", "id": 2, "method": "conformance.Conformance.get", "params": {"name": "none"}},
        {"jsonrpc": "2.0", "id": 3, "method": "conformance.Conformance.count", "params": {"up_to": 2}},
        {"jsonrpc": "2.0", "id": 4, "method": "conformance.Conformance.nope"},
        17,
    ]);
    send(&mut socket, &batch).await;
    let answer = next_json(&mut socket).await;
    let answers = answer.as_array().expect("a batch response");
    assert_eq!(answers.len(), 5, "the notification has no response: {answer}");
    let by_id = |id: Value| answers.iter().find(|a| a["id"] == id).cloned().unwrap_or(Value::Null);
    assert_eq!(by_id(json!(1))["result"], 30);
    assert_eq!(by_id(json!(2))["error"]["code"], -32000);
    assert_eq!(by_id(json!(3))["error"]["code"], -32602, "a stream cannot be batched");
    assert_eq!(by_id(json!(4))["error"]["code"], -32601);
    assert_eq!(by_id(Value::Null)["error"]["code"], -32600, "17 is not a request");

    send(&mut socket, &json!([])).await;
    assert_eq!(next_json(&mut socket).await["error"]["code"], -32600);
}

#[tokio::test]
async fn a_stream_is_a_subscription_that_can_be_cancelled() {
    let (url, _server) = serve(SocketConfig::default()).await;
    let mut socket = raw(&url).await;
    let call = request(json!(1), "count", json!({"up_to": 2}));
    send(&mut socket, &call).await;
    let answer = next_json(&mut socket).await;
    let sub = answer["result"]["subscription"].as_str().expect("a subscription id").to_owned();
    for i in 1..=2 {
        let item = next_json(&mut socket).await;
        assert_eq!(item["method"], "svcgen.stream.item");
        assert_eq!(item["params"], json!({"subscription": sub, "item": i}));
    }
    let end = next_json(&mut socket).await;
    assert_eq!(
        (end["method"].clone(), end["params"]["subscription"].clone()),
        (json!("svcgen.stream.end"), json!(sub))
    );

    // A long stream, cancelled: the server confirms, and the items stop.
    let call = request(json!(2), "count", json!({"up_to": 1_000_000}));
    send(&mut socket, &call).await;
    let sub = next_json(&mut socket).await["result"]["subscription"].clone();
    send(
        &mut socket,
        &json!({"jsonrpc": "2.0", "id": 3, "method": "svcgen.cancel", "params": {"subscription": sub}}),
    )
    .await;
    let mut after_confirm = 0;
    let mut confirmed = false;
    loop {
        let next = tokio::time::timeout(Duration::from_millis(300), socket.next()).await;
        let Ok(Some(Ok(Message::Text(text)))) = next else { break };
        let message: Value = serde_json::from_str(text.as_str()).expect("JSON");
        if message["id"] == 3 {
            assert_eq!(message["result"], true);
            confirmed = true;
        } else if confirmed {
            after_confirm += 1;
        }
    }
    assert!(confirmed, "the cancel was answered");
    assert_eq!(after_confirm, 0, "no item after the cancel was confirmed");

    // Dropping a client's stream cancels it too; the connection goes on.
    let client = ConformanceClient::socket(&url).expect("a ws URL");
    let mut counting = client.count(1_000_000, None).await.expect("count starts");
    assert_eq!(counting.next().await.map(|r| r.expect("an item")), Some(1));
    drop(counting);
    assert_eq!(client.slow(1).await.expect("still serving"), 1);
}

#[tokio::test]
async fn too_many_calls_in_flight_are_refused_not_queued() {
    let config = SocketConfig { max_in_flight: 2, ..SocketConfig::default() };
    let (url, _server) = serve(config).await;
    let mut socket = raw(&url).await;
    for id in 1..=3 {
        let call = request(json!(id), "slow", json!({"millis": 300}));
        send(&mut socket, &call).await;
    }
    let first = next_json(&mut socket).await;
    assert_eq!((first["id"].clone(), first["error"]["code"].clone()), (json!(3), json!(-32007)), "{first}");
    assert_eq!(first["error"]["data"]["code"], "resource_exhausted");
    let mut ok: Vec<i64> = Vec::new();
    for _ in 0..2 {
        ok.push(next_json(&mut socket).await["id"].as_i64().expect("an id"));
    }
    ok.sort_unstable();
    assert_eq!(ok, [1, 2]);
}

#[tokio::test]
async fn a_client_that_never_reads_is_disconnected_and_memory_stays_bounded() {
    let config =
        SocketConfig { send_buffer: 8, slow_receiver: SlowReceiver::Disconnect, ..SocketConfig::default() };
    let (url, _server) = serve(config).await;
    let mut lazy = raw(&url).await;
    // Big items, a long stream, and this client never reads: TCP buffers fill, then the send
    // buffer, then the server gives up on the connection.
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "conformance.Conformance.echo",
        "params": {"data": "", "text": "y".repeat(1000)}});
    let stream = request(json!(2), "count", json!({"up_to": 100_000_000}));
    send(&mut lazy, &call).await;
    send(&mut lazy, &stream).await;
    // Meanwhile another connection is served.
    let client = ConformanceClient::socket(&url).expect("a ws URL");
    assert_eq!(client.slow(1).await.expect("served"), 1);
    // The lazy connection ends: after what was buffered, the stream stops (no end, no more
    // items), within a few seconds.
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        let mut items = 0u64;
        loop {
            match lazy.next().await {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(text.as_str()).expect("JSON");
                    assert_ne!(
                        message["method"], "svcgen.stream.end",
                        "a stream of 10^8 items cannot have ended"
                    );
                    items += 1;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return items,
            }
        }
    })
    .await
    .expect("the server dropped the slow connection");
    assert!(ended < 100_000_000, "{ended} messages arrived");
    assert_eq!(client.slow(2).await.expect("still served"), 2);
}

#[tokio::test]
async fn the_client_reconnects_to_a_restarted_server() {
    reconnects_to_a_restarted_server(|url| ConformanceClient::socket(url).expect("a ws URL")).await;
}

#[tokio::test]
async fn shutdown_drains_calls_then_closes_with_1001() {
    let mut server = Stoppable::start().await;
    let mut socket = raw(&server.url).await;
    let call = request(json!(1), "slow", json!({"millis": 300}));
    send(&mut socket, &call).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.stop();
    assert_eq!(next_json(&mut socket).await["result"], 300, "the call in flight finishes first");
    assert_eq!(close_code(&mut socket).await, 1001);
    server.assert_stopped().await;
}

#[tokio::test]
async fn a_silent_peer_is_dropped() {
    let config = SocketConfig { keepalive: Duration::from_millis(100), ..SocketConfig::default() };
    let (url, _server) = serve(config).await;
    // A raw TCP client that upgrades and then never answers a ping.
    let mut socket = raw(&url).await;
    let started = std::time::Instant::now();
    // Read nothing (so no pong goes back) for a while, then see the connection is gone.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let gone = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("the server dropped the silent peer");
    assert!(gone && started.elapsed() >= Duration::from_millis(300));
}

/// A server by hand: the next connection on `listener`, upgraded with our subprotocol selected.
async fn accept_one(
    listener: &tokio::net::TcpListener,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let (tcp, _) = listener.accept().await.expect("a connection");
    // (The error type is tungstenite's, as its callback requires.)
    #[allow(clippy::result_large_err)]
    let select =
        |_: &tokio_tungstenite::tungstenite::handshake::server::Request,
         mut response: tokio_tungstenite::tungstenite::handshake::server::Response| {
            response.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static(SUBPROTOCOL));
            Ok(response)
        };
    tokio_tungstenite::accept_hdr_async(tcp, select).await.expect("upgraded")
}

/// The client's side of the keepalive: a server that upgrades and then neither reads nor writes
/// (so no pong comes back) fails the call in flight after three to four periods.
#[tokio::test]
async fn a_silent_server_fails_the_call_in_flight() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("ws://{}/ws", listener.local_addr().expect("bound"));
    let server = tokio::spawn(async move {
        let socket = accept_one(&listener).await;
        // Held, never read.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(socket);
    });
    let period = Duration::from_millis(100);
    let client = svcgen::socket::SocketClient::with_config(
        &url,
        SocketConfig { keepalive: period, ..SocketConfig::default() },
    )
    .expect("a ws URL");
    let started = std::time::Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(5), ConformanceClient::new(client).slow(1))
        .await
        .expect("the client gave up on the silent server")
        .expect_err("no answer");
    assert_eq!(status.code(), Code::Unavailable, "{status}");
    assert!(status.message().contains("stopped answering"), "{status}");
    assert!(started.elapsed() >= period * 3, "after {:?}", started.elapsed());
    server.abort();
}

#[tokio::test]
async fn a_peer_that_sends_but_never_reads_is_dropped() {
    let config =
        SocketConfig { send_buffer: 4, keepalive: Duration::from_millis(200), ..SocketConfig::default() };
    let (url, _server) = serve(config).await;
    let socket = raw(&url).await;
    let (mut sink, mut stream) = socket.split();
    // Garbage, each answered with a parse error this client never reads: the answers fill the
    // TCP buffers, then the send buffer; the server stops waiting and drops the connection.
    let flood = tokio::spawn(async move {
        let garbage = format!("{{{}", "x".repeat(4000));
        for _ in 0..100_000 {
            if sink.send(Message::Text(garbage.clone().into())).await.is_err() {
                return true;
            }
        }
        false
    });
    let cut = tokio::time::timeout(Duration::from_secs(30), flood)
        .await
        .expect("the server dropped the connection within 30 s")
        .expect("not panicked");
    assert!(cut, "100 000 messages were taken without being read");
    // What was buffered can still be read; then the connection is gone.
    let mut answers = 0u32;
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
        answers += 1;
    }
    assert!(answers < 100_000, "{answers}");
    // Others are served.
    let client = ConformanceClient::socket(&url).expect("a ws URL");
    assert_eq!(client.slow(1).await.expect("served"), 1);
}

#[tokio::test]
async fn under_drop_oldest_a_slow_reader_loses_items_not_the_end() {
    let config = SocketConfig {
        send_buffer: 8,
        slow_receiver: SlowReceiver::DropOldestNotifications,
        ..SocketConfig::default()
    };
    let (url, _server) = serve(config).await;
    let mut socket = raw(&url).await;
    send(&mut socket, &request(json!(1), "count", json!({"up_to": 300_000}))).await;
    let sub = next_json(&mut socket).await["result"]["subscription"].clone();
    // Not reading for a while: the producer runs ahead, dropping what does not fit.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut last = 0u64;
    let mut items = 0u64;
    loop {
        let message = next_json(&mut socket).await;
        assert_eq!(message["params"]["subscription"], sub);
        if message["method"] == "svcgen.stream.end" {
            break;
        }
        let item = message["params"]["item"].as_u64().expect("an item");
        assert!(item > last, "in order: {item} after {last}");
        (last, items) = (item, items + 1);
    }
    assert!(items < 300_000, "some items were dropped: {items} arrived");
    assert_eq!(last, 300_000, "the newest item is never the one dropped");
}

#[tokio::test]
async fn a_close_from_the_client_is_answered() {
    let (url, _server) = serve(SocketConfig::default()).await;
    let mut socket = raw(&url).await;
    // A stream in full flow: the server answers the close, not with more items.
    send(&mut socket, &request(json!(1), "count", json!({"up_to": 1_000_000}))).await;
    assert!(next_json(&mut socket).await["result"]["subscription"].is_string());
    socket.close(None).await.expect("close sent");
    let answered = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => {} // items sent before the server read the close
                Some(Err(_)) | None => return false,
            }
        }
    })
    .await
    .expect("the server answers within 5 s");
    assert!(answered, "the server closed the connection without its close frame");
}

#[tokio::test]
async fn hostile_json_shapes_are_answered_not_fatal() {
    let (url, _server) = serve(SocketConfig::default()).await;
    let mut socket = raw(&url).await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let get = r#""method":"conformance.Conformance.get""#;
    let whoami = r#""method":"conformance.Conformance.whoami""#;
    let meta = r#""_meta":{"correlation_id":"c-7","traceparent":"t"}}"#;
    let ff = '\u{c}';
    let hostile = [
        (deep.clone(), -32700),
        (r#"{"jsonrpc":"2.0","id":{"a":1},"method":"x"}"#.to_owned(), -32600),
        (r#"{"jsonrpc":"2.0","id":1,"method":7}"#.to_owned(), -32600),
        (format!(r#"{{"jsonrpc":"2.0","id":1,{get},"params":"name"}}"#), -32600),
        (format!(r#"{{"jsonrpc":"2.0","id":1,{get},"params":{{"_meta":7}}}}"#), -32602),
        (
            format!(r#"{{"jsonrpc":"2.0","id":1,{whoami},"params":{{"_meta":{{"metadata":{{"a":1}}}}}}}}"#),
            -32602,
        ),
        (r#"{"jsonrpc":"2.0","id":1e999,"method":"x"}"#.to_owned(), -32700),
        (r#"{"jsonrpc":"2.0","id":1,"method":"..."}"#.to_owned(), -32601),
        (r#"{"jsonrpc":"2.0","id":1,"method":"svcgen.subscribe","params":{"event":3}}"#.to_owned(), -32602),
        ("\u{0}".to_owned(), -32700),
        // Laid out as our client writes a request, whose `params` the server leaves to the
        // method's decoder: not JSON is still a parse error, whatever else is wrong.
        (format!(r#"{{"jsonrpc":"2.0","id":1,{get},"params":{{"name":}}}}"#), -32700),
        (format!(r#"{{"jsonrpc":"2.0","id":1,{get},"params":{{"name":"a"}} x}}"#), -32700),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"conformance.Conformance.nope","params":{"x":}}"#.to_owned(),
            -32700,
        ),
        (
            format!(
                r#"{{"jsonrpc":"2.0","id":1,{get},"params":{{"name":"a","_meta":{{"deadline_ms":0}}}} x}}"#
            ),
            -32700,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"conformance.Conformance.count","params":{"up_to":}}"#
                .to_owned(),
            -32700,
        ),
        (r#"{"jsonrpc":"2.0","id":1,"method":"svcgen.cancel","params":{"id":}}"#.to_owned(), -32700),
        (format!(r#"{{"jsonrpc":"2.0","id":1,{get},"params":{{"name":5}}}}"#), -32602),
        (
            format!(
                r#"{{"jsonrpc":"2.0","id":1,{get},"params":{{"name":"a","_meta":{{"deadline_ms":0}}}}}}"#
            ),
            -32602,
        ),
        // Form feed is no JSON whitespace, wherever the server skips whitespace itself.
        (format!(r#"{{"jsonrpc":"2.0","id":1,{whoami},"params":{{}}{ff}}}"#), -32700),
        (format!(r#"{{"jsonrpc":"2.0","id":1,{whoami},"params":{{"x":1,{ff}{meta}}}"#), -32700),
        // Our client's `_meta`, last, is cut off before the arguments are decoded (by a method
        // that takes none here, so that only text that is not JSON can fail): what is left is
        // JSON only when the whole was.
        (format!(r#"{{"jsonrpc":"2.0","id":1,{whoami},"params":{{"x":"a",,{meta}}}"#), -32700),
        (format!(r#"{{"jsonrpc":"2.0","id":1,{whoami},"params":{{,{meta}}}"#), -32700),
        (format!(r#"{{"jsonrpc":"2.0","id":1,{whoami},"params":{{ , {meta}}}"#), -32700),
        (format!(r#"{{"jsonrpc":"2.0","id":1,{whoami},"params":{{"x":["a",{meta}}}"#), -32700),
        (format!(r#"{{"jsonrpc":"2.0","id":1,{whoami},"params":{{"x":{{{meta}}}"#), -32700),
        (
            format!(
                r#"{{"jsonrpc":"2.0","id":1,{whoami},"params":{{"_meta":{{"correlation_id":"c{}","traceparent":"t"}}}}}}"#,
                '\n'
            ),
            -32700,
        ),
    ];
    for (text, code) in hostile {
        socket.send(Message::Text(text.clone().into())).await.expect("sent");
        let answer = next_json(&mut socket).await;
        assert_eq!(answer["error"]["code"], code, "{} → {answer}", &text[..text.len().min(80)]);
    }
    // That `_meta` is the call's Context all the same.
    let plain = format!(r#"{{"jsonrpc":"2.0","id":5,{whoami},"params":{{{meta}}}"#);
    socket.send(Message::Text(plain.into())).await.expect("sent");
    assert_eq!(next_json(&mut socket).await["result"]["correlation_id"], "c-7");
    let (sent, received) = (request(json!(2), "slow", json!({"millis": 1})), json!(1));
    send(&mut socket, &sent).await;
    assert_eq!(next_json(&mut socket).await["result"], received);
    // That layout with members after `params` is JSON all the same (the last `id` counts).
    let more =
        r#"{"jsonrpc":"2.0","id":3,"method":"conformance.Conformance.slow","params":{"millis":1},"id":4}"#;
    socket.send(Message::Text(more.into())).await.expect("sent");
    assert_eq!(next_json(&mut socket).await, json!({"jsonrpc": "2.0", "id": 4, "result": 1}));
}

/// The client reads a response whatever its layout: one written as our server writes it is
/// decoded in one pass, any other member by member as JSON-RPC reads it — extra members, a
/// repeated `id` (the last counts), `error` beside `result`, a result of the wrong type.
#[tokio::test]
async fn the_client_reads_any_layout_of_a_response() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("ws://{}/ws", listener.local_addr().expect("bound"));
    let server = tokio::spawn(async move {
        let mut socket = accept_one(&listener).await;
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else { continue };
            let request: Value = serde_json::from_str(&text).expect("JSON");
            let id = request["id"].to_string();
            let head = format!(r#"{{"jsonrpc":"2.0","id":{id}"#);
            let answers = match request["params"]["millis"].as_u64().expect("millis") {
                1 => vec![format!(r#"{head},"result":1}}"#)],
                2 => vec![format!(r#"{head},"result":2,"extra":[3]}}"#)],
                3 => vec![format!(r#"{head},"result":7,"id":999}}"#), format!(r#"{head},"result":3}}"#)],
                4 => vec![format!(r#"{head},"result":"four"}}"#)],
                5 => vec![format!(r#"{head},"result":5 }}"#)],
                _ => vec![format!(r#"{head},"result":6,"error":{{"code":-32601,"message":"no"}}}}"#)],
            };
            for answer in answers {
                socket.send(Message::text(answer)).await.expect("sent");
            }
        }
    });
    let client = ConformanceClient::socket(&url).expect("a ws URL");
    for n in [1, 2, 3, 5] {
        assert_eq!(client.slow(n).await.expect("answered"), n);
    }
    assert_eq!(client.slow(4).await.expect_err("a string").code(), Code::Internal);
    assert_eq!(client.slow(6).await.expect_err("an error").code(), Code::Unimplemented);
    server.abort();
}

/// `host:port` of a `ws://host:port/ws` URL.
fn authority(url: &str) -> &str {
    url.trim_start_matches("ws://").split('/').next().unwrap_or_default()
}

#[tokio::test]
async fn a_request_that_is_no_websocket_handshake_gets_a_problem() {
    let (url, _server) = serve(SocketConfig::default()).await;
    let http = format!("http://{}/ws", authority(&url));
    let client = reqwest::Client::new();
    let handshake = |version: &'static str| {
        client
            .get(&http)
            .header("connection", "keep-alive, Upgrade")
            .header("upgrade", "WebSocket")
            .header("sec-websocket-version", version)
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    };
    // A plain GET.
    let plain = client.get(&http).send().await.expect("an answer");
    assert_eq!(plain.status(), 400);
    assert_eq!(plain.headers()["content-type"], "application/problem+json");
    let problem: Value = plain.json().await.expect("a problem document");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("`Connection`")), "{problem}");
    // Another WebSocket version: 426, naming the one served (RFC 6455 §4.4).
    let old = handshake("8").send().await.expect("an answer");
    assert_eq!(old.status(), 426);
    assert_eq!(old.headers()["sec-websocket-version"], "13");
    let problem: Value = old.json().await.expect("a problem document");
    assert_eq!(problem["status"], 426, "the document says the response's status: {problem}");
    // No key.
    let keyless = client
        .get(&http)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .send()
        .await
        .expect("an answer");
    assert_eq!(keyless.status(), 400);
    let problem: Value = keyless.json().await.expect("a problem document");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("Sec-WebSocket-Key")), "{problem}");
    // The server still serves WebSockets.
    let mut socket = raw(&url).await;
    send(&mut socket, &request(json!(1), "slow", json!({"millis": 1}))).await;
    assert_eq!(next_json(&mut socket).await["result"], 1);
}

#[tokio::test]
async fn only_listed_origins_may_open_a_websocket() {
    let allowed = "https://app.example".to_owned();
    let (url, _server) =
        serve(SocketConfig { allowed_origins: vec![allowed.clone()], ..SocketConfig::default() }).await;
    let (open_url, _open) = serve(SocketConfig::default()).await;
    let client = reqwest::Client::new();
    let handshake = |url: &str, origin: Option<&str>| {
        let request = client
            .get(format!("http://{}/ws", authority(url)))
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-protocol", SUBPROTOCOL);
        match origin {
            Some(origin) => request.header("origin", origin),
            None => request,
        }
        .send()
    };
    // Another site's page: 403, a problem document naming the origin.
    let refused = handshake(&url, Some("https://evil.example")).await.expect("an answer");
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    let problem: Value = refused.json().await.expect("a problem document");
    assert_eq!(problem["code"], "permission_denied", "{problem}");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("https://evil.example")), "{problem}");
    // The listed origin (in any case), and a client that sends none (not a browser): upgraded.
    for origin in [Some("https://APP.example"), Some(allowed.as_str()), None] {
        let upgraded = handshake(&url, origin).await.expect("an answer");
        assert_eq!(upgraded.status(), 101, "{origin:?}");
    }
    // With no list (the default), any origin is served.
    let open = handshake(&open_url, Some("https://evil.example")).await.expect("an answer");
    assert_eq!(open.status(), 101);
}

#[tokio::test]
async fn a_message_sent_with_the_handshake_is_read() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio_tungstenite::tungstenite::protocol::Role;
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

    let (url, _server) = serve(SocketConfig::default()).await;
    let mut tcp = tokio::net::TcpStream::connect(authority(&url)).await.expect("connected");
    // The request and a first (masked) message in one write: hyper reads past the handshake,
    // and what it read must reach the WebSocket.
    let mut bytes = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n",
        authority(&url)
    )
    .into_bytes();
    let call = request(json!(7), "slow", json!({"millis": 2})).to_string();
    let mut frame = Frame::message(call.into_bytes(), OpCode::Data(Data::Text), true);
    frame.header_mut().mask = Some([1, 2, 3, 4]);
    frame.format(&mut bytes).expect("a frame");
    tcp.write_all(&bytes).await.expect("sent");
    // The 101, and whatever follows it in the same read.
    let mut head = Vec::new();
    let end = loop {
        let mut buf = [0u8; 1024];
        let n = tcp.read(&mut buf).await.expect("read");
        assert!(n > 0, "the server closed: {}", String::from_utf8_lossy(&head));
        head.extend_from_slice(&buf[..n]);
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let response = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
    assert!(response.starts_with("http/1.1 101"), "{response}");
    // RFC 6455's own example key and answer.
    assert!(response.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{response}");
    assert!(response.contains(&format!("sec-websocket-protocol: {SUBPROTOCOL}")), "{response}");
    let mut socket = tokio_tungstenite::WebSocketStream::from_partially_read(
        tcp,
        head[end..].to_vec(),
        Role::Client,
        None,
    )
    .await;
    let answer = next_json(&mut socket).await;
    assert_eq!(answer, json!({"jsonrpc": "2.0", "id": 7, "result": 2}));
}

#[cfg(unix)]
#[tokio::test]
async fn the_router_serves_websockets_on_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("svcgen-ws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let path = dir.join("socket");
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).expect("bound");
    let server = svcgen::socket::SocketServer::new().service(
        svcgen_tests::fixture_conformance::conformance::ConformanceServer::new(
            svcgen_tests::conformance::ConformanceImpl::default(),
        ),
    );
    let (router, _closer) = server.router();
    let serving = tokio::spawn(async move { axum::serve(listener, router).await });
    // Not a TCP stream: the WebSocket runs over hyper's upgraded connection.
    let stream = tokio::net::UnixStream::connect(&path).await.expect("connected");
    let mut handshake = "ws://localhost/ws".into_client_request().expect("a request");
    handshake.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static(SUBPROTOCOL));
    let (mut socket, _) = tokio_tungstenite::client_async(handshake, stream).await.expect("upgraded");
    let call = request(json!(3), "slow", json!({"millis": 4})).to_string();
    socket.send(Message::Text(call.into())).await.expect("sent");
    let answer = next_json(&mut socket).await;
    assert_eq!(answer, json!({"jsonrpc": "2.0", "id": 3, "result": 4}));
    serving.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
