//! The socket binding over TLS (`wss://`, the runtime's `tls` feature), through a
//! TLS-terminating proxy in front of the server: the whole conformance suite in JSON mode and in
//! binary mode, and a certificate the client does not trust refused as `unavailable`.

use std::sync::Arc;

use svcgen::rpc::RpcClient;
use svcgen::socket::{SocketClient, SocketConfig, tls};
use svcgen::{Channel, Code, MethodError as _};
use svcgen_tests::conformance::Fixture;
use svcgen_tests::fixture_conformance::conformance::{ConformanceClient, Item};
use svcgen_tests::fixture_conformance_v2::conformance as v2;
use svcgen_tests::socket;

/// A client configuration that trusts the proxy's certificate.
fn trusting(roots: tls::RootCertStore) -> SocketConfig {
    SocketConfig {
        tls: Some(tls::client_config(roots).expect("a TLS configuration")),
        ..SocketConfig::default()
    }
}

async fn wss() -> Fixture {
    let broker = svcgen::queue::MemoryBroker::new();
    let (url, serving) = socket::serve_with_events(&broker, SocketConfig::default()).await;
    let (wss, roots, proxy) = socket::behind_tls(&url).await;
    let config = trusting(roots);
    Fixture {
        client: ConformanceClient::new(SocketClient::with_config(&wss, config.clone()).expect("a wss URL")),
        v2: v2::ConformanceClient::new(SocketClient::with_config(&wss, config).expect("a wss URL")),
        broker: Arc::new(broker),
        guard: Box::new((serving, proxy)),
    }
}

svcgen_tests::conformance_suite!(wss);
svcgen_tests::conformance_suite!(@tests wss; event_stream);

/// Binary mode over `wss://` (its own module: the suite's tests are named by scenario).
mod binary {
    use super::*;

    async fn wss_binary() -> Fixture {
        let (url, serving) = socket::serve(SocketConfig::default()).await;
        let (wss, roots, proxy) = socket::behind_tls(&url).await;
        let config = trusting(roots);
        Fixture {
            client: ConformanceClient::new(Channel::from(
                RpcClient::websocket(&wss, &config).expect("a wss URL"),
            )),
            v2: v2::ConformanceClient::new(Channel::from(
                RpcClient::websocket(&wss, &config).expect("a wss URL"),
            )),
            broker: svcgen_tests::conformance::memory_events(),
            guard: Box::new((serving, proxy)),
        }
    }

    svcgen_tests::conformance_suite!(wss_binary);
}

#[tokio::test]
async fn a_certificate_the_client_does_not_trust_is_refused() {
    let (url, _serving) = socket::serve(SocketConfig::default()).await;
    let (wss, _roots, _proxy) = socket::behind_tls(&url).await;
    let item = || Item { name: "x".into(), count: 1, tags: Vec::new(), note: None };
    // The system's roots (the default), and an empty set: neither trusts a certificate made here.
    let empty = trusting(tls::RootCertStore::empty());
    for client in [SocketClient::new(&wss), SocketClient::with_config(&wss, empty)] {
        let client = ConformanceClient::new(client.expect("a wss URL"));
        let status = client.put(item()).await.expect_err("an untrusted certificate");
        let status = status.into_status();
        assert_eq!(status.code(), Code::Unavailable, "{status}");
        assert!(status.message().contains("certificate"), "names the certificate: {status}");
    }
}

#[test]
fn only_websocket_urls_are_taken() {
    for url in ["http://localhost/ws", "localhost:80", "wss:/missing"] {
        let refused = SocketClient::new(url).expect_err("not a WebSocket URL");
        assert_eq!(refused.code(), Code::InvalidArgument, "{url}");
    }
    assert!(SocketClient::new("wss://localhost/ws").is_ok(), "wss:// with the `tls` feature");
}
