//! The conformance suite over the socket binding's binary mode (the RPC binding's frames, one
//! per WebSocket binary message, subprotocol `svcgen.envelope.v1`), a real server on 127.0.0.1;
//! and the binary mode's own behaviour: the subprotocol negotiation, frames by hand, bad input,
//! limits, reconnection, shutdown.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::json;
use svcgen::dispatch::Codec;
use svcgen::rpc::RpcClient;
use svcgen::rpc::frame::{Frame, RequestHead};
use svcgen::socket::{BINARY_SUBPROTOCOL, SUBPROTOCOL, SocketConfig};
use svcgen::{Channel, Code, Problem};
use svcgen_tests::conformance::Fixture;
use svcgen_tests::fixture_conformance::conformance::{Caller, ConformanceClient};
use svcgen_tests::fixture_conformance_v2::conformance as v2;
use svcgen_tests::socket::{Raw, Stoppable, close_code, offering, reconnects_to_a_restarted_server, serve};
use tokio_tungstenite::tungstenite::Message;

async fn socket_binary() -> Fixture {
    let (url, guard) = serve(SocketConfig::default()).await;
    Fixture {
        client: ConformanceClient::new(Channel::socket_binary(&url).expect("a ws URL")),
        v2: v2::ConformanceClient::new(Channel::socket_binary(&url).expect("a ws URL")),
        broker: svcgen_tests::conformance::memory_events(),
        guard: Box::new(guard),
    }
}

svcgen_tests::conformance_suite!(socket_binary);

/// A hand-driven connection in binary mode.
async fn raw(url: &str) -> Raw {
    let (socket, selected) = offering(url, BINARY_SUBPROTOCOL).await;
    assert_eq!(selected.as_deref(), Some(BINARY_SUBPROTOCOL), "the server selects binary mode");
    socket
}

/// A request frame for a method of the conformance service, its arguments by name.
fn request(call: u32, method: &str, args: &serde_json::Value) -> Frame {
    Frame::Request {
        call,
        head: RequestHead {
            service: "conformance.Conformance".into(),
            method: method.into(),
            correlation_id: format!("raw-{call}"),
            ..RequestHead::default()
        },
        payload: Codec::MsgPack.encode(args).expect("encodable"),
    }
}

async fn send(socket: &mut Raw, frame: &Frame) {
    socket.send(Message::Binary(frame.to_bytes())).await.expect("sent");
}

/// The next frame the server sends (WebSocket pings skipped), each message exactly one frame;
/// `None` once it closed. Panics after 5 s.
async fn next_frame(socket: &mut Raw) -> Option<Frame> {
    loop {
        let message =
            tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("an answer within 5 s");
        match message {
            Some(Ok(Message::Binary(bytes))) => {
                let mut buf = bytes::BytesMut::from(bytes.as_ref());
                let frame = Frame::decode(&mut buf, 1 << 24).expect("a valid frame").expect("a whole frame");
                assert!(buf.is_empty(), "one frame per message");
                return Some(frame);
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(_))) | None => return None,
            other => panic!("expected a binary message, got {other:?}"),
        }
    }
}

/// The payload of the `Reply` for `call`.
fn reply(frame: Option<Frame>, call: u32) -> Bytes {
    match frame {
        Some(Frame::Reply { call: c, payload }) if c == call => payload,
        other => panic!("expected a Reply for call {call}, got {other:?}"),
    }
}

/// The connection is served: `whoami` as `call` gets its answer.
async fn assert_served(socket: &mut Raw, call: u32) {
    send(socket, &request(call, "whoami", &json!({}))).await;
    let caller: Caller = Codec::MsgPack.decode(&reply(next_frame(socket).await, call)).expect("a Caller");
    assert_eq!(caller.correlation_id, format!("raw-{call}"));
}

/// A malformed message is answered like a malformed frame over TCP: a `GoAway` naming it, then
/// (in place of closing the TCP connection) a close frame with `code`.
async fn assert_refused(socket: &mut Raw, code: u16) -> String {
    let reason = match next_frame(socket).await {
        Some(Frame::GoAway { reason, .. }) => reason,
        other => panic!("expected a GoAway, got {other:?}"),
    };
    assert_eq!(close_code(socket).await, code, "after GoAway `{reason}`");
    reason
}

#[tokio::test]
async fn the_server_prefers_binary_mode_when_both_are_offered() {
    let (url, _server) = serve(SocketConfig::default()).await;
    for offer in ["svcgen.jsonrpc.v1, svcgen.envelope.v1", "svcgen.envelope.v1, svcgen.jsonrpc.v1"] {
        let (mut socket, selected) = offering(&url, offer).await;
        assert_eq!(selected.as_deref(), Some(BINARY_SUBPROTOCOL), "offered {offer}");
        assert_served(&mut socket, 1).await;
    }
    let (_, selected) = offering(&url, BINARY_SUBPROTOCOL).await;
    assert_eq!(selected.as_deref(), Some(BINARY_SUBPROTOCOL), "only binary offered");
    let (_, selected) = offering(&url, SUBPROTOCOL).await;
    assert_eq!(selected.as_deref(), Some(SUBPROTOCOL), "only JSON offered");
}

#[tokio::test]
async fn frames_by_hand_calls_errors_pings_streams_and_cancel() {
    let (url, _server) = serve(SocketConfig::default()).await;
    let mut socket = raw(&url).await;
    assert_served(&mut socket, 1).await;

    send(&mut socket, &request(2, "get", &json!({"name": "nobody"}))).await;
    let problem: Problem = match next_frame(&mut socket).await {
        Some(Frame::Error { call: 2, problem }) => Codec::MsgPack.decode(&problem).expect("a problem"),
        other => panic!("expected an Error for call 2, got {other:?}"),
    };
    assert_eq!(problem.status, 404, "{problem:?}");
    assert_eq!(problem.correlation_id.as_deref(), Some("raw-2"));

    send(&mut socket, &Frame::Ping { nonce: 77 }).await;
    assert_eq!(next_frame(&mut socket).await, Some(Frame::Pong { nonce: 77 }));

    send(&mut socket, &request(3, "count", &json!({"up_to": 3}))).await;
    let mut items = Vec::new();
    loop {
        match next_frame(&mut socket).await {
            Some(Frame::StreamItem { call: 3, payload }) => {
                items.push(Codec::MsgPack.decode::<u32>(&payload).expect("a u32"));
            }
            Some(Frame::StreamEnd { call: 3 }) => break,
            other => panic!("expected the stream of call 3, got {other:?}"),
        }
    }
    assert_eq!(items, [1, 2, 3]);

    // A cancelled call is never answered; the connection goes on.
    send(&mut socket, &request(4, "slow", &json!({"millis": 500}))).await;
    send(&mut socket, &Frame::Cancel { call: 4 }).await;
    send(&mut socket, &request(5, "slow", &json!({"millis": 700}))).await;
    assert_eq!(Codec::MsgPack.decode::<u32>(&reply(next_frame(&mut socket).await, 5)).expect("a u32"), 700);
}

#[tokio::test]
async fn a_text_message_in_binary_mode_closes_with_1003_and_others_are_served() {
    let (url, _server) = serve(SocketConfig::default()).await;
    let mut bad = raw(&url).await;
    let mut good = raw(&url).await;
    bad.send(Message::Text(r#"{"jsonrpc": "2.0", "id": 1, "method": "x"}"#.into())).await.expect("sent");
    let reason = assert_refused(&mut bad, 1003).await;
    assert!(reason.contains("text"), "{reason}");
    assert_served(&mut good, 1).await;
}

#[tokio::test]
async fn malformed_frames_close_with_1002_and_others_are_served() {
    let (url, _server) = serve(SocketConfig::default()).await;
    let mut good = raw(&url).await;
    let two = [Frame::Ping { nonce: 1 }.to_bytes(), Frame::Ping { nonce: 2 }.to_bytes()].concat();
    let cases: [(&str, Vec<u8>); 6] = [
        ("an unknown kind", vec![0, 0, 0, 6, 0x63, 0, 0, 0, 0, 1]),
        ("a body where none belongs", vec![0, 0, 0, 7, 5, 0, 0, 0, 0, 1, 0xff]),
        ("part of a frame", vec![0, 0, 0, 40, 2, 0, 0, 0, 0, 1]),
        ("two frames", two),
        ("garbage", b"\x00\x00\x00\x08\xde\xad\xbe\xef\x00\x00".to_vec()),
        ("a server's frame", Frame::Reply { call: 1, payload: Bytes::new() }.to_bytes().to_vec()),
    ];
    for (n, (what, bytes)) in (1..).zip(cases) {
        let mut bad = raw(&url).await;
        bad.send(Message::Binary(bytes.into())).await.expect("sent");
        let reason = assert_refused(&mut bad, 1002).await;
        assert!(!reason.is_empty(), "{what}");
        assert_served(&mut good, n).await;
    }
}

#[tokio::test]
async fn an_oversize_frame_closes_with_1009_and_others_are_served() {
    let config = SocketConfig { max_message: 64 * 1024, ..SocketConfig::default() };
    let (url, _server) = serve(config.clone()).await;
    let mut other = raw(&url).await;

    // A message larger than the limit (the WebSocket layer refuses it) …
    let mut big = raw(&url).await;
    let huge = request(1, "echo", &json!({"data": vec![0u8; 100 * 1024], "text": ""}));
    // The server may close before the whole message is written: the send may fail.
    let _ = big.send(Message::Binary(huge.to_bytes())).await;
    assert_eq!(close_code(&mut big).await, 1009);
    assert_served(&mut other, 1).await;

    // … and a small message whose frame claims more than the limit.
    let mut lying = raw(&url).await;
    lying.send(Message::Binary(vec![0, 2, 0, 0, 2, 0, 0, 0, 0, 1].into())).await.expect("sent");
    let reason = assert_refused(&mut lying, 1009).await;
    assert!(reason.contains("exceeds"), "{reason}");
    assert_served(&mut other, 2).await;

    // Our client, told the limit, refuses to send what the server would refuse; not told, it
    // sees the connection closed and reconnects for the next call.
    let limited = RpcClient::websocket(&url, &config).expect("a ws URL");
    let bytes = || svcgen::Bytes(vec![0; 100 * 1024]);
    let status = ConformanceClient::new(limited).echo(bytes(), String::new(), None, None, None).await;
    assert_eq!(status.expect_err("too large").code(), Code::PayloadTooLarge);
    let unlimited = ConformanceClient::new(Channel::socket_binary(&url).expect("a ws URL"));
    let status = unlimited.echo(bytes(), String::new(), None, None, None).await.expect_err("refused");
    assert_eq!(status.code(), Code::Unavailable, "{status}");
    let mut answer = None;
    for _ in 0..100 {
        if let Ok(n) = unlimited.slow(3).await {
            answer = Some(n);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(answer, Some(3), "a new connection");
}

#[tokio::test]
async fn the_binary_client_reconnects_to_a_restarted_server() {
    reconnects_to_a_restarted_server(|url| {
        ConformanceClient::new(Channel::socket_binary(url).expect("a ws URL"))
    })
    .await;
}

#[tokio::test]
async fn shutdown_sends_goaway_drains_calls_then_closes_with_1001() {
    let mut server = Stoppable::start().await;
    let mut socket = raw(&server.url).await;
    send(&mut socket, &request(1, "slow", &json!({"millis": 300}))).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.stop();
    assert!(matches!(next_frame(&mut socket).await, Some(Frame::GoAway { last: 1, .. })), "GoAway first");
    let value: u32 = Codec::MsgPack.decode(&reply(next_frame(&mut socket).await, 1)).expect("a u32");
    assert_eq!(value, 300, "the call in flight finishes");
    assert_eq!(close_code(&mut socket).await, 1001);
    server.assert_stopped().await;
}

#[tokio::test]
async fn a_silent_peer_is_pinged_with_rpc_frames_then_dropped() {
    let config = SocketConfig { keepalive: Duration::from_millis(100), ..SocketConfig::default() };
    let (url, _server) = serve(config).await;
    let mut socket = raw(&url).await;
    assert!(matches!(next_frame(&mut socket).await, Some(Frame::Ping { .. })), "an RPC ping");
    // Not answered: the server gives up after three keepalive periods.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the silent connection was dropped");
}

#[tokio::test]
async fn calls_beyond_the_in_flight_limit_wait_for_a_slot_as_on_rpc() {
    let config = SocketConfig { max_in_flight: 1, ..SocketConfig::default() };
    let (url, _server) = serve(config).await;
    let mut socket = raw(&url).await;
    let started = std::time::Instant::now();
    send(&mut socket, &request(1, "slow", &json!({"millis": 300}))).await;
    send(&mut socket, &request(2, "slow", &json!({"millis": 300}))).await;
    assert_eq!(Codec::MsgPack.decode::<u32>(&reply(next_frame(&mut socket).await, 1)).expect("a u32"), 300);
    assert_eq!(Codec::MsgPack.decode::<u32>(&reply(next_frame(&mut socket).await, 2)).expect("a u32"), 300);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(600), "one call at a time: both done after {elapsed:?}");
}
