//! Proof of the standard: a client we did not write (Python's `websockets` package, driven by
//! `tests/python/socket_client.py`) calls the socket binding, gets a typed error, receives
//! pushed stream notifications and a batch response. Fails when Python (`python3`, or
//! `$PYTHON`) or `websockets` is missing (`python3 -m pip install websockets`).

use std::time::Duration;

use svcgen::socket::SocketServer;
use svcgen_tests::conformance::ConformanceImpl;
use svcgen_tests::fixture_conformance::conformance::ConformanceServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_websockets_client_speaks_the_protocol() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("ws://{}/ws", listener.local_addr().expect("bound"));
    let server = SocketServer::new().service(ConformanceServer::new(ConformanceImpl::default()));
    let serving = tokio::spawn(server.serve(listener));

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/socket_client.py");
    let python = std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
    // The script gives up by itself after 30 s.
    let run = {
        let python = python.clone();
        tokio::task::spawn_blocking(move || std::process::Command::new(python).arg(script).arg(url).output())
    };
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the script finishes within 60 s")
        .expect("not panicked")
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.to_string_lossy()));
    serving.abort();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim() == "ok",
        "the Python client failed ({}); is `websockets` installed (`python3 -m pip install websockets`)?\n\
         stdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
}
