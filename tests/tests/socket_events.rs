//! Event push over the socket binding: a server that consumes events from a broker on behalf of
//! its subscribed connections, a client that subscribes, and subscribes again after the server
//! restarted.

use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::json;
use svcgen::Code;
use svcgen::queue::MemoryBroker;
use svcgen::queue::events::EventPublisher;
use svcgen::socket::{SocketClient, SocketServer};
use svcgen_tests::conformance::ConformanceImpl;
use svcgen_tests::fixture_conformance::conformance::ConformanceServer;

/// The subject of an event of the conformance service.
const CHANGED: &str = "conformance.conformance.stored";

struct AbortOnDrop(tokio::task::JoinHandle<std::io::Result<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn start(listener: tokio::net::TcpListener, broker: &MemoryBroker) -> AbortOnDrop {
    let server = SocketServer::new()
        .service(ConformanceServer::new(ConformanceImpl::default()))
        .events(broker.clone());
    AbortOnDrop(tokio::spawn(server.serve(listener)))
}

/// Publishes `n` until `until` completes (events published before a subscription are missed).
async fn keep_publishing<T>(broker: &MemoryBroker, n: u32, until: impl std::future::Future<Output = T>) -> T {
    let publisher = EventPublisher::new(broker.clone());
    let publishing = async {
        loop {
            let ctx = svcgen::Context::new().with_correlation_id(&format!("event-{n}"));
            publisher.publish(CHANGED, &ctx, &json!({"name": "pen", "n": n})).await.expect("published");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        out = until => out,
        () = publishing => unreachable!("publishing never ends"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribed_clients_get_pushed_events_and_resubscribe_after_a_restart() {
    let broker = MemoryBroker::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("bound");
    let server = start(listener, &broker);
    let client = SocketClient::new(&format!("ws://{addr}/ws")).expect("a ws URL");
    let mut events = client.subscribe(CHANGED).await.expect("subscribed");

    let event = keep_publishing(&broker, 1, tokio::time::timeout(Duration::from_secs(5), events.next()))
        .await
        .expect("an event within 5 s")
        .expect("the stream goes on")
        .expect("an event");
    assert_eq!(event.event_type, CHANGED);
    assert_eq!(event.source, "conformance.conformance");
    assert_eq!(event.data, json!({"name": "pen", "n": 1}));
    assert_eq!(event.correlation_id.as_deref(), Some("event-1"));
    assert!(!event.id.is_empty());

    // The server restarts on the same port: the stream subscribes again by itself.
    drop(server);
    // (The aborted server lets go of its port when its task is next polled.)
    let mut bound = None;
    for _ in 0..200 {
        if let Ok(listener) = tokio::net::TcpListener::bind(addr).await {
            bound = Some(listener);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let listener = bound.expect("the same port again");
    let _server = start(listener, &broker);
    let later = keep_publishing(&broker, 2, async {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match events.next().await {
                    Some(Ok(event)) if event.data["n"] == 2 => return event,
                    Some(Ok(_)) => {} // published before the restart, still in flight
                    other => panic!("the stream ended: {other:?}"),
                }
            }
        })
        .await
    })
    .await
    .expect("an event after the restart within 10 s");
    assert_eq!(later.correlation_id.as_deref(), Some("event-2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_events_of_served_services_can_be_subscribed_to() {
    let broker = MemoryBroker::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("ws://{}/ws", listener.local_addr().expect("bound"));
    let _server = start(listener, &broker);
    let client = SocketClient::new(&url).expect("a ws URL");
    for subject in [
        "other.service.stored",
        "conformance.conformance",
        "conformance.conformance.get",
        "svcgen.dlq.conformance.conformance.stored",
    ] {
        let Err(status) = client.subscribe(subject).await else { panic!("{subject} was accepted") };
        assert_eq!(status.code(), Code::Unimplemented, "{subject}: {status}");
    }

    // A server without a broker pushes nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("ws://{}/ws", listener.local_addr().expect("bound"));
    let plain = SocketServer::new().service(ConformanceServer::new(ConformanceImpl::default()));
    let _plain = AbortOnDrop(tokio::spawn(plain.serve(listener)));
    let Err(status) = SocketClient::new(&url).expect("a ws URL").subscribe(CHANGED).await else {
        panic!("a server without events accepted a subscription")
    };
    assert_eq!(status.code(), Code::Unimplemented, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_event_stream_unsubscribes() {
    let broker = MemoryBroker::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("ws://{}/ws", listener.local_addr().expect("bound"));
    let _server = start(listener, &broker);
    let client = SocketClient::new(&url).expect("a ws URL");
    let mut events = client.subscribe(CHANGED).await.expect("subscribed");
    keep_publishing(&broker, 1, events.next()).await.expect("an event").expect("ok");
    drop(events);
    // The server stops consuming: the broker soon has no consumer for the subject, so a
    // subscription's slot is free again and a new one works.
    let mut again = client.subscribe(CHANGED).await.expect("subscribed again");
    let event = keep_publishing(&broker, 3, again.next()).await.expect("an event").expect("ok");
    assert_eq!(event.data["n"], 3);
}
