//! Calls in both directions on one socket connection: the client exposes a service, the server
//! calls it through the connection's `SocketPeer` with a generated client, typed errors and
//! deadlines included.

use std::time::Duration;

use svcgen::descriptor::{HttpMethod, MethodDescriptor, MethodKind, ServiceDescriptor};
use svcgen::dispatch::{BoxFuture, Codec, Payload, Reply};
use svcgen::socket::{SocketClient, SocketPeer, SocketServer};
use svcgen::{Channel, Code, Context, Dispatch, Status};
use svcgen_tests::conformance::ConformanceImpl;
use svcgen_tests::fixture_conformance::conformance::{
    ConformanceClient, ConformanceServer, GetError, Item, NoSuchItem,
};
use tokio::sync::mpsc;

struct AbortOnDrop(tokio::task::JoinHandle<std::io::Result<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A server handing each connection's peer to the test; its URL.
async fn serve() -> (String, mpsc::Receiver<SocketPeer>, AbortOnDrop) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("ws://{}/ws", listener.local_addr().expect("bound"));
    let (peers_tx, peers) = mpsc::channel(8);
    let server = SocketServer::new().service(ConformanceServer::new(ConformanceImpl::default())).on_connect(
        move |peer| {
            let _ = peers_tx.try_send(peer);
        },
    );
    (url, peers, AbortOnDrop(tokio::spawn(server.serve(listener))))
}

async fn next_peer(peers: &mut mpsc::Receiver<SocketPeer>) -> SocketPeer {
    tokio::time::timeout(Duration::from_secs(5), peers.recv()).await.expect("a connection").expect("a peer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_calls_the_service_a_client_exposes() {
    let (url, mut peers, _server) = serve().await;
    let client = SocketClient::new(&url).expect("a ws URL");
    client.serve(ConformanceServer::new(ConformanceImpl::default()));
    let calls = ConformanceClient::new(client.clone());
    calls.slow(1).await.expect("the client's call works");

    // The other way: the server's generated client over the connection's peer.
    let back = ConformanceClient::new(next_peer(&mut peers).await);
    let item = Item { name: "on-the-client".into(), count: 2, tags: Vec::new(), note: None };
    assert_eq!(back.put(item.clone()).await.expect("put on the client"), item);
    assert_eq!(back.get("on-the-client".into()).await.expect("get from the client"), item);
    match back.get("missing".into()).await {
        Err(GetError::NoSuchItem(NoSuchItem { name })) => assert_eq!(name, "missing"),
        other => panic!("expected NoSuchItem from the client, got {other:?}"),
    }
    let late = back.with_deadline(Duration::from_millis(50)).slow(2_000).await;
    assert_eq!(late.expect_err("too slow").code(), Code::DeadlineExceeded);
    back.record("from the server".into()).await.expect("a oneway call to the client");
    let status = back.count(3, None).await.err().expect("no streams from a client");
    assert_eq!(status.code(), Code::Unimplemented, "{status}");
    // Calls both ways at once.
    let (there, here) = tokio::join!(back.slow(100), calls.slow(100));
    assert_eq!((there.expect("server → client"), here.expect("client → server")), (100, 100));
    // The client's own store is not the server's: the server has no such item.
    assert!(matches!(calls.get("on-the-client".into()).await, Err(GetError::NoSuchItem(_))));

    // The connection goes: the peer's calls fail with `unavailable`.
    let pending = tokio::spawn({
        let back = back.clone();
        async move { back.slow(10_000).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop((calls, client));
    let status = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("failed at once")
        .expect("not panicked")
        .expect_err("the client is gone");
    assert_eq!(status.code(), Code::Unavailable, "{status}");
    assert_eq!(back.whoami().await.expect_err("gone").code(), Code::Unavailable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_serves_nothing_answers_method_not_found() {
    let (url, mut peers, _server) = serve().await;
    let client = ConformanceClient::socket(&url).expect("a ws URL");
    client.slow(1).await.expect("connected");
    let back = ConformanceClient::new(next_peer(&mut peers).await);
    let status = back.whoami().await.expect_err("nothing served");
    assert_eq!(status.code(), Code::Unimplemented, "{status}");
    // And the connection goes on both ways.
    assert_eq!(client.slow(2).await.expect("still connected"), 2);
}

/// `relay.Relay.ask_back(name)`: asks the caller (its own `Conformance` service) for the item
/// `name`, through `Context::caller`, as part of the call (same correlation id).
static RELAY: ServiceDescriptor = ServiceDescriptor {
    package: "relay",
    name: "Relay",
    wire_name: "relay",
    subject: "relay.relay",
    methods: &[MethodDescriptor {
        service: "relay.Relay",
        name: "ask_back",
        subject: "relay.relay.ask_back",
        kind: MethodKind::Unary,
        http_method: HttpMethod::Post,
        http_path: "/",
        params: &[],
        errors: &[],
    }],
    events: &[],
};

struct Relay;

impl Dispatch for Relay {
    fn descriptor(&self) -> &'static ServiceDescriptor {
        &RELAY
    }

    fn dispatch(
        &self,
        _method: &str,
        payload: Payload,
        codec: Codec,
        ctx: Context,
    ) -> BoxFuture<'_, Result<Reply, Status>> {
        Box::pin(async move {
            let args: serde_json::Value = payload.decode()?;
            let name = args.get("name").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
            let caller = ctx
                .caller()
                .ok_or_else(|| Status::new(Code::FailedPrecondition, "no caller to call back"))?;
            let back = ConformanceClient::new(caller).with_context(&ctx);
            let who = back.whoami().await.map_err(svcgen::MethodError::into_status)?;
            let item = back.get(name).await.map_err(svcgen::MethodError::into_status)?;
            Reply::value(codec, &(who.correlation_id, item))
        })
    }
}

/// A handler calls back the client that called it, on the same connection, within the call:
/// the client's service answers (its typed error too), with the call's correlation id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_calls_back_its_caller() {
    use svcgen_tests::fixture_conformance::conformance::Conformance as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("ws://{}/ws", listener.local_addr().expect("bound"));
    let _server = AbortOnDrop(tokio::spawn(SocketServer::new().service(Relay).serve(listener)));
    // The client's own store holds one item.
    let store = ConformanceImpl::default();
    let item = Item { name: "kept-by-the-client".into(), count: 7, tags: Vec::new(), note: None };
    store.put(&Context::new(), item.clone()).await.expect("stored");
    let client = SocketClient::new(&url).expect("a ws URL");
    client.serve(ConformanceServer::new(store));
    let channel = Channel::from(client.clone());
    let ask_back = &RELAY.methods[0];
    let ask = |name: &'static str| std::collections::BTreeMap::from([("name", name)]);

    let ctx = Context::new().with_correlation_id("ask-back-1");
    let (correlation_id, got) = channel
        .unary::<_, (String, Item)>(ask_back, &ctx, &ask("kept-by-the-client"))
        .await
        .expect("the server asked the client back");
    assert_eq!(got, item, "the item came from the client's store");
    assert_eq!(correlation_id, "ask-back-1", "the call back was part of the call");

    let status = channel
        .unary::<_, (String, Item)>(ask_back, &Context::new(), &ask("missing"))
        .await
        .expect_err("the client has no such item");
    assert_eq!(status.code(), Code::NotFound, "the client's typed error came back: {status}");
    assert!(status.message().contains("missing") || format!("{status:?}").contains("missing"), "{status:?}");
}
