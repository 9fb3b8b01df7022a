//! Proof of the standard, from a browser: headless Chromium (Debian's `chromium`, driven by
//! `tests/browser/socket_browser.mjs` through playwright-core) opens the socket binding with
//! the browser's own `WebSocket` from a page with a real origin, calls, gets a typed error and
//! invalid params, reads a server stream and pushed events, sends a batch and a parse error,
//! answers the server's pings, and is closed for a binary message. Two more servers check
//! `SocketConfig::allowed_origins` against the `Origin` the browser really sends.
//!
//! Fails, saying what to install, when Node.js or Chromium is missing (`.ci/run` installs
//! Chromium); installs playwright-core from `tests/browser/package-lock.json` (`npm ci`) on
//! first use, as the `AsyncAPI` test does with its parser.

use std::path::Path;
use std::time::Duration;

use svcgen::socket::SocketConfig;
use svcgen_tests::socket;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_speaks_the_protocol() {
    let chromium = std::env::var_os("CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "no Chromium at {}: install Debian's `chromium` (`apt-get install chromium`), or set CHROMIUM",
        chromium.to_string_lossy()
    );
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    if !tool.join("node_modules/playwright-core").exists() {
        let installed = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--quiet"])
            .current_dir(&tool)
            .status()
            .is_ok_and(|s| s.success());
        assert!(installed, "cannot install playwright-core: run `npm ci` in {}", tool.display());
    }

    // The page's origin: a port that is free now, which the script serves the page on.
    let page_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().expect("bound").port()
    };
    let broker = svcgen::queue::MemoryBroker::new();
    // A short keepalive: the page's pause of one second outlasts ten periods.
    let keepalive = SocketConfig { keepalive: Duration::from_millis(100), ..SocketConfig::default() };
    let (url, serving) = socket::serve_with_events(&broker, keepalive).await;
    let only = |origin: String| SocketConfig { allowed_origins: vec![origin], ..SocketConfig::default() };
    let (allowing, allowing_server) = socket::serve(only(format!("http://127.0.0.1:{page_port}"))).await;
    let (refusing, refusing_server) = socket::serve(only("https://elsewhere.example".to_owned())).await;
    let publishing = socket::publish_stored_events(broker);

    let script = tool.join("socket_browser.mjs").to_string_lossy().into_owned();
    let output = socket::run_foreign_client(
        "node".into(),
        vec![script, url, allowing, refusing, page_port.to_string()],
    )
    .await;
    drop((serving, allowing_server, refusing_server));
    publishing.abort();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim() == "ok",
        "the browser client failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
}
