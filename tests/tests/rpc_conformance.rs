//! The conformance suite over RPC: the same scenarios as REST, a real TCP server on 127.0.0.1.

use svcgen::rpc::RpcServer;
use svcgen_tests::conformance::{ConformanceImpl, Fixture};
use svcgen_tests::fixture_conformance::conformance::{ConformanceClient, ConformanceServer};
use svcgen_tests::fixture_conformance_v2::conformance as v2;

struct AbortOnDrop(tokio::task::JoinHandle<std::io::Result<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn rpc() -> Fixture {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("bound").to_string();
    let server = RpcServer::new().service(ConformanceServer::new(ConformanceImpl::default()));
    let task = tokio::spawn(server.serve(listener));
    Fixture {
        client: ConformanceClient::rpc(&addr),
        v2: v2::ConformanceClient::rpc(&addr),
        broker: svcgen_tests::conformance::memory_events(),
        guard: Box::new(AbortOnDrop(task)),
    }
}

svcgen_tests::conformance_suite!(rpc);
svcgen_tests::conformance_suite!(@tests rpc; event_stream_unimplemented);
