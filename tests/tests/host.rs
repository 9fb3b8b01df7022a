//! One `Host`, one implementation, every binding; one shutdown signal stops them all.

use std::time::Duration;

use svcgen::Code;
use svcgen_tests::conformance::ConformanceImpl;
use svcgen_tests::fixture_conformance::conformance::{ConformanceClient, ConformanceServer, Item};

#[tokio::test]
async fn one_host_serves_every_binding_and_stops_them_together() {
    let host = svcgen::Host::new()
        .rest("127.0.0.1:0")
        // REST's address: the socket binding shares its port.
        .socket("127.0.0.1:0")
        .rpc("127.0.0.1:0")
        .service(ConformanceServer::new(ConformanceImpl::default()))
        .bind()
        .await
        .expect("bound");
    let rest = ConformanceClient::rest(&format!("http://{}", host.rest_addr().expect("REST"))).expect("URL");
    let rpc = ConformanceClient::rpc(&host.rpc_addr().expect("RPC").to_string());
    assert_eq!(host.socket_addr(), host.rest_addr(), "one port for REST and socket");
    let socket = ConformanceClient::socket(&format!("ws://{}/ws", host.socket_addr().expect("socket")))
        .expect("a ws URL");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(host.serve_until(async { stopped.await.unwrap_or(()) }));

    // One implementation: what REST stores, RPC reads.
    let item = Item { name: "shared".into(), count: 1, tags: Vec::new(), note: None };
    rest.put(item.clone()).await.expect("put over REST");
    assert_eq!(rpc.get("shared".into()).await.expect("get over RPC"), item);
    assert_eq!(socket.get("shared".into()).await.expect("get over the socket"), item);

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(15), serving)
        .await
        .expect("the host stops")
        .expect("not panicked")
        .expect("served without error");
    assert_eq!(rpc.whoami().await.expect_err("RPC is down").code(), Code::Unavailable);
    assert_eq!(rest.whoami().await.expect_err("REST is down").code(), Code::Unavailable);
    assert_eq!(socket.whoami().await.expect_err("the socket is down").code(), Code::Unavailable);
}
