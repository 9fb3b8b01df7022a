//! The conformance suite over REST: a real axum server on 127.0.0.1, the generated client on reqwest.

use svcgen::rest::RestServer;
use svcgen_tests::conformance::{ConformanceImpl, Fixture};
use svcgen_tests::fixture_conformance::conformance::{ConformanceClient, ConformanceServer};
use svcgen_tests::fixture_conformance_v2::conformance as v2;

struct AbortOnDrop(tokio::task::JoinHandle<std::io::Result<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn rest() -> Fixture {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    let server = RestServer::new().service(ConformanceServer::new(ConformanceImpl::default()));
    let task = tokio::spawn(server.serve(listener));
    Fixture {
        client: ConformanceClient::rest(&url).expect("a valid URL"),
        v2: v2::ConformanceClient::rest(&url).expect("a valid URL"),
        broker: svcgen_tests::conformance::memory_events(),
        guard: Box::new(AbortOnDrop(task)),
    }
}

svcgen_tests::conformance_suite!(rest);
svcgen_tests::conformance_suite!(@tests rest; event_stream_unimplemented);
