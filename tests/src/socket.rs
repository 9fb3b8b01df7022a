//! What the socket binding's tests share, in its JSON text mode and in its binary mode: a
//! server of the conformance service on a free port, a WebSocket driven by hand, and the
//! reconnection scenario.
#![allow(clippy::missing_panics_doc)] // a failed expectation is a test failure

use std::time::Duration;

use futures_util::StreamExt as _;
use svcgen::Code;
use svcgen::socket::{SocketConfig, SocketServer};

use crate::conformance::ConformanceImpl;
use crate::fixture_conformance::conformance::{ConformanceClient, ConformanceServer, Item};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// A WebSocket connection driven by hand.
pub type Raw = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A connection to `url` offering the subprotocols `offer` (`Sec-WebSocket-Protocol`), and the
/// one the server selected.
pub async fn offering(url: &str, offer: &'static str) -> (Raw, Option<String>) {
    let mut request = url.into_client_request().expect("a URL");
    request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static(offer));
    let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("connected");
    let selected =
        response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (socket, selected)
}

/// The close frame the server ends the connection with: its code (messages before it skipped).
pub async fn close_code(socket: &mut Raw) -> u16 {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("the server closes within 5 s");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code.into(),
            Some(Ok(Message::Close(None))) | None => panic!("closed without a code"),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("the connection failed instead of closing: {e}"),
        }
    }
}

/// A server that stops gracefully when told to.
#[derive(Debug)]
pub struct Stoppable {
    /// Its `ws://` URL.
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Stoppable {
    /// A socket server of the conformance service on a free port, serving until told to stop.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let url = format!("ws://{}/ws", listener.local_addr().expect("bound"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = conformance_server(SocketConfig::default());
        let serving = tokio::spawn(server.serve_until(listener, async { stopped.await.unwrap_or(()) }));
        Self { url, stop: Some(stop), serving }
    }

    /// Tells the server to stop (its connections drain, then close).
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits (5 s at most) for the stopped server to end, without an error.
    pub async fn assert_stopped(self) {
        tokio::time::timeout(Duration::from_secs(5), self.serving)
            .await
            .expect("the server stops")
            .expect("not panicked")
            .expect("no error");
    }
}

/// A server's task, aborted when this is dropped (as a process that ends).
#[derive(Debug)]
pub struct Serving(tokio::task::JoinHandle<std::io::Result<()>>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A socket server of the conformance service with `config`.
fn conformance_server(config: SocketConfig) -> SocketServer {
    SocketServer::new().config(config).service(ConformanceServer::new(ConformanceImpl::default()))
}

/// A socket server of the conformance service on `listener`.
#[must_use]
pub fn serve_on(listener: tokio::net::TcpListener, config: SocketConfig) -> Serving {
    Serving(tokio::spawn(conformance_server(config).serve(listener)))
}

/// A socket server of the conformance service on a free port, pushing the events of `broker`;
/// its `ws://` URL.
pub async fn serve_with_events(
    broker: &svcgen::queue::MemoryBroker,
    config: SocketConfig,
) -> (String, Serving) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("ws://{}/ws", listener.local_addr().expect("bound"));
    let server = conformance_server(config).events(broker.clone());
    (url, Serving(tokio::spawn(server.serve(listener))))
}

/// Publishes a `conformance.conformance.stored` event (`{"name": "pen"}`) on `broker` every
/// 20 ms until the task is aborted, so a client that subscribes gets one soon.
#[must_use = "aborting the task stops the events"]
pub fn publish_stored_events(broker: svcgen::queue::MemoryBroker) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let publisher = svcgen::queue::events::EventPublisher::new(broker);
        let data = serde_json::json!({"name": "pen"});
        loop {
            publisher
                .publish("conformance.conformance.stored", &svcgen::Context::new(), &data)
                .await
                .expect("published");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// Runs a client written in another language (`program` with `args`) to its end, off the
/// runtime, 60 s at most: its output.
pub async fn run_foreign_client(program: std::ffi::OsString, args: Vec<String>) -> std::process::Output {
    let run = tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new(&program).args(args).output();
        output.unwrap_or_else(|e| panic!("cannot run {}: {e}", program.to_string_lossy()))
    });
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the client finishes within 60 s")
        .expect("not panicked")
}

/// A socket server of the conformance service with `config` on a free port; its `ws://` URL.
pub async fn serve(config: SocketConfig) -> (String, Serving) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("bound");
    (format!("ws://{addr}/ws"), serve_on(listener, config))
}

/// A client (made by `connect` from the server's `ws://` URL) whose server goes away fails its
/// call in flight with `unavailable` at once, then reconnects to the server restarted on the
/// same port.
pub async fn reconnects_to_a_restarted_server(connect: impl Fn(&str) -> ConformanceClient) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("bound");
    let server = serve_on(listener, SocketConfig::default());
    let client = connect(&format!("ws://{addr}/ws"));
    client.put(Item { name: "before".into(), count: 1, tags: Vec::new(), note: None }).await.expect("put");

    // A call in flight when the server goes fails with `unavailable`.
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.slow(10_000).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(server);
    let status = tokio::time::timeout(Duration::from_secs(5), slow)
        .await
        .expect("failed at once")
        .expect("not panicked")
        .expect_err("the server is gone");
    assert_eq!(status.code(), Code::Unavailable, "{status}");

    let listener = tokio::net::TcpListener::bind(addr).await.expect("the same port again");
    let _server = serve_on(listener, SocketConfig::default());
    let mut last = None;
    for _ in 0..100 {
        match client.slow(1).await {
            Ok(n) => {
                assert_eq!(n, 1);
                return;
            }
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status}");
                last = Some(status);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never reconnected: {last:?}");
}

/// A TLS-terminating proxy in front of the plain socket server at `url` (as a load balancer
/// is), with a certificate for `localhost` made on the spot: its `wss://localhost:<port>/ws`
/// URL, the roots that trust its certificate, and its task.
pub async fn behind_tls(url: &str) -> (String, svcgen::socket::tls::RootCertStore, Serving) {
    use tokio_rustls::rustls;

    let backend = url.trim_start_matches("ws://").trim_end_matches("/ws").to_owned();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.into())
        .expect("a certificate and its key");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let port = listener.local_addr().expect("bound").port();
    let proxy = tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await?;
            let (acceptor, backend) = (acceptor.clone(), backend.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    let mut roots = svcgen::socket::tls::RootCertStore::empty();
    roots.add(cert).expect("a root");
    (format!("wss://localhost:{port}/ws"), roots, Serving(proxy))
}
