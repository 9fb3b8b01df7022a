//! The conformance suite over RPC on a Unix socket: the same protocol on another byte stream.
#![cfg(unix)]

use std::sync::atomic::{AtomicUsize, Ordering};

use svcgen::rpc::RpcServer;
use svcgen_tests::conformance::{ConformanceImpl, Fixture};
use svcgen_tests::fixture_conformance::conformance::{ConformanceClient, ConformanceServer};
use svcgen_tests::fixture_conformance_v2::conformance as v2;

/// Stops the server and removes its socket file.
struct Guard(tokio::task::JoinHandle<std::io::Result<()>>, std::path::PathBuf);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.abort();
        let _ = std::fs::remove_file(&self.1);
    }
}

#[allow(clippy::unused_async)] // the harness awaits every setup; binding a Unix socket needs no await
async fn rpc_unix() -> Fixture {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("svcgen-conformance-{}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).expect("a socket in the temporary folder");
    let server = RpcServer::new().service(ConformanceServer::new(ConformanceImpl::default()));
    let task = tokio::spawn(server.serve_unix(listener));
    let addr = format!("unix:{}", path.display());
    Fixture {
        client: ConformanceClient::rpc(&addr),
        v2: v2::ConformanceClient::rpc(&addr),
        broker: svcgen_tests::conformance::memory_events(),
        guard: Box::new(Guard(task, path)),
    }
}

svcgen_tests::conformance_suite!(rpc_unix);
