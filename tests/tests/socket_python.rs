//! Proof of the standard: a client we did not write (Python's `websockets` package, driven by
//! `tests/python/socket_client.py`) calls the socket binding, gets a typed error, receives
//! pushed stream notifications and events, and a batch response. Fails when Python (`python3`, or
//! `$PYTHON`) is missing; installs `websockets` with pip on first use, as the `OpenAPI` test does.

use svcgen::socket::SocketConfig;
use svcgen_tests::socket;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_websockets_client_speaks_the_protocol() {
    let broker = svcgen::queue::MemoryBroker::new();
    let (url, serving) = socket::serve_with_events(&broker, SocketConfig::default()).await;
    // Events all along: the script gets those published while it is subscribed.
    let publishing = socket::publish_stored_events(broker);

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/socket_client.py").to_owned();
    let python = std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
    // The script gives up by itself after 30 s.
    let mut output = socket::run_foreign_client(python.clone(), vec![script.clone(), url.clone()]).await;
    if output.status.code() == Some(2) {
        // `websockets` is missing: install it once (PyPI is reachable here), then retry.
        let installed = std::process::Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "websockets"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(installed, "`websockets` is not installed and pip could not install it");
        output = socket::run_foreign_client(python, vec![script, url]).await;
    }
    drop(serving);
    publishing.abort();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim() == "ok",
        "the Python client failed ({}); is `websockets` installed (`python3 -m pip install websockets`)?\n\
         stdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
}
