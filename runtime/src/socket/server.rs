//! The socket server: an axum WebSocket route serving the Dispatcher over JSON-RPC 2.0.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Version, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt as _;
use hyper_util::rt::TokioIo;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::sync::{Notify, Semaphore, oneshot, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tracing::Instrument as _;

use super::outbox::{Kind, Out, Outbox};
use super::shared::{Firing, Heard, Keepalive, SharedSocket, poll_registering};
use super::wire::{self, CANCEL, Envelope, INVALID_REQUEST, Incoming, PARSE_ERROR, SUBSCRIBE};
use super::{
    BINARY_SUBPROTOCOL, SUBPROTOCOL, SUBPROTOCOLS, SlowReceiver, SocketConfig, SocketPeer, close_code,
};
use crate::context::Context;
use crate::descriptor::{MethodDescriptor, MethodKind};
use crate::dispatch::{Codec, Dispatch, Payload, Reply, run_call};
use crate::queue::{Broker, ConsumerSpec};
use crate::rpc::{ServiceMap, Services};
use crate::status::{Code, Status};

/// Serves services over JSON-RPC 2.0 on WebSocket (`docs/protocol.md`, "Socket binding").
///
/// ```no_run
/// # async fn run(catalog: impl svcgen::Dispatch) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
/// svcgen::socket::SocketServer::new().service(catalog).serve(listener).await // ws://127.0.0.1:8081/ws
/// # }
/// ```
#[derive(Default)]
pub struct SocketServer {
    services: ServiceMap,
    config: SocketConfig,
    events: Option<Arc<dyn Broker>>,
    on_connect: Option<OnConnect>,
}

/// What a server does with each new connection's [`SocketPeer`].
type OnConnect = Arc<dyn Fn(SocketPeer) + Send + Sync>;

impl std::fmt::Debug for SocketServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketServer")
            .field("services", &self.services.keys())
            .field("config", &self.config)
            .field("events", &self.events)
            .field("on_connect", &self.on_connect.is_some())
            .finish()
    }
}

/// What every connection of one server shares.
struct Shared {
    services: Services,
    config: SocketConfig,
    events: Option<Arc<dyn Broker>>,
    on_connect: Option<OnConnect>,
    stop: watch::Receiver<bool>,
    live: Arc<Live>,
}

/// Counts open connections, so a stopping server can wait for their close handshakes.
#[derive(Default)]
struct Live {
    count: AtomicUsize,
    changed: Notify,
}

struct LiveGuard(Arc<Live>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_waiters();
    }
}

/// Closes a server's connections gracefully: each stops reading, lets its calls in flight
/// finish (up to the drain time), then sends a close frame with code 1001. Dropping it drops
/// the connections at once (as a process that ends does).
#[derive(Debug)]
pub struct SocketShutdown {
    stop: watch::Sender<bool>,
    live: Arc<LiveDebug>,
}

/// `Live`, printable.
struct LiveDebug(Arc<Live>);

impl std::fmt::Debug for LiveDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} connections", self.0.count.load(Ordering::Acquire))
    }
}

impl SocketShutdown {
    /// Closes every connection and waits until they are closed (or `wait` has passed).
    pub async fn close(self, wait: std::time::Duration) {
        let _ = self.stop.send(true);
        let live = self.live.0.clone();
        let _ = tokio::time::timeout(wait, async move {
            loop {
                let changed = live.changed.notified();
                if live.count.load(Ordering::Acquire) == 0 {
                    return;
                }
                changed.await;
            }
        })
        .await;
    }
}

impl SocketServer {
    /// A server with no service yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a service (a generated `…Server`).
    #[must_use]
    pub fn service(self, service: impl Dispatch) -> Self {
        self.shared_service(Arc::new(service))
    }

    /// Adds a shared service (one implementation served on several bindings).
    #[must_use]
    pub fn shared_service(mut self, service: Arc<dyn Dispatch>) -> Self {
        let d = service.descriptor();
        self.services.insert(format!("{}.{}", d.package, d.name), service);
        self
    }

    /// Pushes the events published on `broker` to the connections that subscribe to them
    /// (`svcgen.subscribe`): for each subscription the server consumes the event's subject
    /// alone (every event published while it exists) and forwards each event as a
    /// `svcgen.event` notification. Only the events the services served here declare can be
    /// subscribed to (`{package}.{service}.{event}`).
    #[must_use]
    pub fn events(mut self, broker: impl Broker) -> Self {
        self.events = Some(Arc::new(broker));
        self
    }

    /// Calls `f` with each new connection's [`SocketPeer`], through which the server calls the
    /// services that client exposes (`SocketClient::serve`): calls in both directions on one
    /// connection. `f` runs on the connection's task: keep it short (store or spawn).
    #[must_use]
    pub fn on_connect(mut self, f: impl Fn(SocketPeer) + Send + Sync + 'static) -> Self {
        self.on_connect = Some(Arc::new(f));
        self
    }

    /// Limits, timings, the slow-receiver policy and the path.
    #[must_use]
    pub fn config(mut self, config: SocketConfig) -> Self {
        self.config = config;
        self
    }

    /// The axum router with the WebSocket endpoint at the configured path, to serve or to merge
    /// beside REST (`rest_router.merge(router)`), and the handle that closes its connections
    /// (keep it while serving: dropping it drops them).
    pub fn router(&self) -> (axum::Router, SocketShutdown) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let live = Arc::new(Live::default());
        let shared = Arc::new(Shared {
            services: Arc::new(self.services.clone()),
            config: self.config.clone(),
            events: self.events.clone(),
            on_connect: self.on_connect.clone(),
            stop: stop_rx,
            live: live.clone(),
        });
        let router =
            axum::Router::new().route(&self.config.path, axum::routing::get(upgrade)).with_state(shared);
        (router, SocketShutdown { stop: stop_tx, live: Arc::new(LiveDebug(live)) })
    }

    /// Serves on `listener` until the process ends.
    ///
    /// # Errors
    /// When the listener fails.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        self.serve_until(listener, std::future::pending::<()>()).await
    }

    /// Serves until `shutdown` completes; then every connection drains its calls and is closed
    /// with code 1001.
    ///
    /// # Errors
    /// When the listener fails.
    pub async fn serve_until(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (router, closer) = self.router();
        serve_router(listener, router, closer, self.config.drain, shutdown).await
    }
}

/// Serves `router` (holding a socket route) until `shutdown`, then closes the sockets gracefully.
pub(crate) async fn serve_router(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    closer: SocketShutdown,
    drain: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stopped_tx, stopped_rx) = oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = stopped_tx.send(());
    };
    let serving = axum::serve(crate::rest::no_delay(listener), router).with_graceful_shutdown(async move {
        // HTTP stops accepting once the sockets were told to close.
        let _ = stopped_rx.await;
    });
    let closing = async move {
        signal.await;
        // A little more than the drain, for the close handshakes.
        closer.close(drain + std::time::Duration::from_secs(1)).await;
    };
    let (served, ()) = tokio::join!(serving, closing);
    served
}

/// An upgraded connection: the accepted TCP stream itself when hyper gives it back (nothing
/// between the WebSocket and the socket), hyper's upgraded connection otherwise (a listener of
/// another kind, or a server other than `axum::serve`).
type Io = tokio_util::either::Either<tokio::net::TcpStream, TokioIo<hyper::upgrade::Upgraded>>;

/// A server-side WebSocket.
type Ws = WebSocketStream<Io>;

/// The WebSocket opening handshake (RFC 6455 §4.2) on HTTP/1.1: answered with `101 Switching
/// Protocols`, the connection then served as a WebSocket by a task of its own.
async fn upgrade(State(shared): State<Arc<Shared>>, request: axum::extract::Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let headers = &parts.headers;
    let refuse = |message: &str| {
        let status = Status::invalid_argument(format!("not a WebSocket handshake: {message}"));
        problem(StatusCode::BAD_REQUEST, &status)
    };
    if parts.version != Version::HTTP_11 {
        return refuse("a WebSocket is opened over HTTP/1.1");
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return refuse("`Connection` must include `upgrade`");
    }
    if !has_token(headers, header::UPGRADE, "websocket") {
        return refuse("`Upgrade` must be `websocket`");
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|v| v.as_bytes() != b"13") {
        let status = Status::invalid_argument("this server speaks WebSocket version 13 only");
        let mut response = problem(StatusCode::UPGRADE_REQUIRED, &status);
        response.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return response;
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return refuse("`Sec-WebSocket-Key` is missing");
    };
    if let Some(origin) = headers.get(header::ORIGIN)
        && !origin_allowed(&shared.config.allowed_origins, origin.as_bytes())
    {
        let origin = String::from_utf8_lossy(origin.as_bytes());
        let status =
            Status::new(Code::PermissionDenied, format!("pages of `{origin}` may not open this WebSocket"));
        return problem(StatusCode::FORBIDDEN, &status);
    }
    let accept = derive_accept_key(key.as_bytes());
    // The server's order of preference decides when both are offered.
    let offered: Vec<&str> =
        tokens(headers, header::SEC_WEBSOCKET_PROTOCOL).filter(|p| !p.is_empty()).collect();
    let selected = SUBPROTOCOLS.into_iter().find(|p| offered.contains(p));
    if !offered.is_empty() && selected.is_none() {
        let status = Status::invalid_argument(format!(
            "no subprotocol offered in Sec-WebSocket-Protocol is served here; \
             this server speaks `{SUBPROTOCOL}` and `{BINARY_SUBPROTOCOL}`"
        ));
        return problem(StatusCode::BAD_REQUEST, &status);
    }
    let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        let status = Status::invalid_argument("this connection cannot be upgraded to a WebSocket");
        return problem(StatusCode::UPGRADE_REQUIRED, &status);
    };
    let binary = selected == Some(BINARY_SUBPROTOCOL);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else { return };
        let socket = websocket(upgraded, &shared.config).await;
        shared.live.count.fetch_add(1, Ordering::AcqRel);
        let _live = LiveGuard(shared.live.clone());
        if binary {
            let mut stop = shared.stop.clone();
            // `true`: close gracefully; `false`: the server was dropped, and its connections with it.
            let stopped = async move { stop.wait_for(|s| *s).await.is_ok() };
            super::binary::serve(socket, &shared.services, &shared.config, stopped).await;
        } else {
            serve_socket(socket, shared).await;
        }
    });
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = selected {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    }
    response
}

/// Whether a page of `origin` may open a connection: any when `allowed` is empty.
fn origin_allowed(allowed: &[String], origin: &[u8]) -> bool {
    allowed.is_empty() || allowed.iter().any(|a| a.as_bytes().eq_ignore_ascii_case(origin))
}

/// A problem document (RFC 9457) answering a handshake.
fn problem(code: StatusCode, status: &Status) -> Response {
    crate::rest::problem_as(code, status.to_problem(None))
}

/// Whether a header's comma-separated values include `token` (in any case).
fn has_token(headers: &axum::http::HeaderMap, name: header::HeaderName, token: &str) -> bool {
    tokens(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// The comma-separated values of every header `name`, trimmed.
fn tokens(headers: &axum::http::HeaderMap, name: header::HeaderName) -> impl Iterator<Item = &str> {
    headers
        .get_all(name)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// The WebSocket over an upgraded connection: over the TCP stream itself when it is one that
/// `axum::serve` accepted (the bytes hyper read past the handshake first).
async fn websocket(upgraded: hyper::upgrade::Upgraded, config: &SocketConfig) -> Ws {
    let mut ws_config = WebSocketConfig::default().read_buffer_size(config.read_buffer);
    ws_config.max_message_size = Some(config.max_message);
    ws_config.max_frame_size = Some(config.max_message);
    let (io, read) =
        match hyper_util::server::conn::auto::upgrade::downcast::<TokioIo<tokio::net::TcpStream>>(upgraded) {
            Ok(parts) => (Io::Left(parts.io.into_inner()), parts.read_buf),
            Err(upgraded) => (Io::Right(TokioIo::new(upgraded)), Bytes::new()),
        };
    if read.is_empty() {
        WebSocketStream::from_raw_socket(io, Role::Server, Some(ws_config)).await
    } else {
        WebSocketStream::from_partially_read(io, read.to_vec(), Role::Server, Some(ws_config)).await
    }
}

/// Why a connection's read loop ended.
enum Exit {
    /// The peer closed or vanished: nothing more to say.
    Gone,
    /// Close with this code and reason (after draining, for a shutdown).
    Close(u16, String),
    /// The outbox gave up on the peer (slow receiver, dead peer): drop it now.
    Kill,
    /// The peer sent a close frame: answer it (completing the close handshake), nothing else.
    Closed,
}

/// The calls and subscriptions of one connection, for `svcgen.cancel` and for the end.
#[derive(Default)]
struct Registry {
    tasks: HashMap<u64, Task>,
    /// Request id (its JSON text) → task, while the call has not been answered.
    ids: HashMap<String, u64>,
    /// Subscription id → task.
    subs: HashMap<String, u64>,
}

struct Task {
    handle: tokio::task::AbortHandle,
    id: Option<String>,
    sub: Option<String>,
}

impl Registry {
    fn remove(&mut self, n: u64) -> Option<tokio::task::AbortHandle> {
        let task = self.tasks.remove(&n)?;
        if let Some(id) = task.id
            && self.ids.get(&id) == Some(&n)
        {
            self.ids.remove(&id);
        }
        if let Some(sub) = task.sub
            && self.subs.get(&sub) == Some(&n)
        {
            self.subs.remove(&sub);
        }
        Some(task.handle)
    }

    /// A stream was answered: its request id may be used again; it is cancelled by subscription.
    fn release_id(&mut self, n: u64) {
        if let Some(id) = self.tasks.get_mut(&n).and_then(|t| t.id.take())
            && self.ids.get(&id) == Some(&n)
        {
            self.ids.remove(&id);
        }
    }
}

/// One connection.
struct Conn {
    services: Services,
    config: SocketConfig,
    events: Option<Arc<dyn Broker>>,
    /// The client, for the server's calls to it; its responses arrive here.
    peer: SocketPeer,
    outbox: Arc<Outbox>,
    registry: Arc<Mutex<Registry>>,
    slots: Arc<Semaphore>,
    next: AtomicU64,
}

impl Conn {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The connection's WebSocket, shared by its reader (which also writes a reply ready at once
/// itself when nothing is queued before it, saving a task and a wake-up) and its writer task
/// (which sends what the outbox queues).
type Socket = SharedSocket<Io>;

/// Sends a reply of the reader: written now when nothing is queued and the writer is idle
/// (`inline`), queued otherwise. Replies to different requests may go in any order.
async fn reply(conn: &Conn, inline: Option<&Socket>, text: String) {
    if let Some(socket) = inline
        && conn.outbox.is_idle()
        && let Some(mut turn) = socket.try_turn()
    {
        // A failed write is the end of the connection, which the reader sees next.
        let _ = turn.send(Message::Text(text.into())).await;
        return;
    }
    let _ = conn.outbox.push(text, Kind::Response).await;
}

/// Cancels a connection's calls still running when it ends.
struct CancelRemaining(Arc<Mutex<Registry>>);

impl Drop for CancelRemaining {
    fn drop(&mut self) {
        let mut registry = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (_, task) in registry.tasks.drain() {
            task.handle.abort();
        }
        registry.ids.clear();
        registry.subs.clear();
    }
}

async fn serve_socket(ws: Ws, shared: Arc<Shared>) {
    let config = shared.config.clone();
    let socket = Arc::new(Socket::new(ws, ()));
    let outbox = Arc::new(Outbox::new(config.send_buffer, config.slow_receiver));
    let writer = tokio::spawn({
        let outbox = outbox.clone();
        let socket = socket.clone();
        async move {
            while let Some(out) = outbox.next().await {
                let (message, last) = match out {
                    Out::Text(text) => (Message::Text(text.into()), false),
                    Out::Ping => (Message::Ping(bytes::Bytes::new()), false),
                    Out::Close(code, reason) => {
                        let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                        (Message::Close(Some(frame)), true)
                    }
                };
                let mut turn = socket.turn().await;
                let sent = turn.send(message).await;
                if last {
                    if sent.is_err() {
                        // The peer closed first: what goes is the answer to its close frame,
                        // which the WebSocket queued itself and a flush sends.
                        let _ = turn.flush().await;
                    }
                    break;
                }
                // A message taken before the connection began closing may fail to go (the peer
                // closed meanwhile); the close frame that follows must still be tried.
                if sent.is_err() && !outbox.is_closing() {
                    break;
                }
            }
        }
    });
    // The reader writes its own replies only where waiting for the socket is the policy anyway
    // (under `Disconnect` a full send buffer must be seen, so every reply is queued).
    let inline = (config.slow_receiver != SlowReceiver::Disconnect).then_some(&*socket);
    let conn = Arc::new(Conn {
        services: shared.services.clone(),
        config: config.clone(),
        events: shared.events.clone(),
        peer: SocketPeer::new(outbox.clone()),
        outbox: outbox.clone(),
        registry: Arc::default(),
        slots: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
        next: AtomicU64::new(1),
    });
    let cancel_remaining = CancelRemaining(conn.registry.clone());
    if let Some(on_connect) = &shared.on_connect {
        on_connect(conn.peer.clone());
    }
    let mut stop = shared.stop.clone();
    let stop_seen = shared.stop.clone();
    // `true`: close gracefully; `false`: the server was dropped, and its connections with it.
    let stopped = async move { stop.wait_for(|s| *s).await.is_ok() };
    tokio::pin!(stopped);
    // Made once, not per message (each would register with the outbox and leave again).
    let killed = outbox.killed();
    tokio::pin!(killed);
    let mut heard = Heard::new(tokio::time::Instant::now());
    let mut keepalive = Keepalive::new(config.keepalive);
    // `killed` and `stopped` (and the keepalive) are polled on the first turn, which registers
    // them to wake this task, and then only when they may be ready: polling them all for every
    // message costs more than reading a small one does.
    let mut armed = false;
    let exit = loop {
        let event = std::future::poll_fn(|cx| {
            if (!armed || outbox.is_dead()) && poll_registering(killed.as_mut(), cx).is_ready() {
                return Poll::Ready(Event::Killed);
            }
            if (!armed || stop_seen.has_changed().unwrap_or(true))
                && let Poll::Ready(graceful) = poll_registering(stopped.as_mut(), cx)
            {
                return Poll::Ready(Event::Stopped(graceful));
            }
            if keepalive.poll_fired(cx) {
                return Poll::Ready(Event::Idle);
            }
            armed = true;
            socket.lock().poll_next(cx).map(Event::Message)
        })
        .await;
        let message = match event {
            // Given up on, or the server was dropped (and its connections with it).
            Event::Killed | Event::Stopped(false) => break Exit::Kill,
            Event::Stopped(true) => {
                break Exit::Close(close_code::GOING_AWAY, "the server is shutting down".into());
            }
            Event::Idle => match keepalive.fired(&mut heard) {
                Firing::Gone => {
                    tracing::debug!("closing a silent socket connection");
                    break Exit::Kill;
                }
                Firing::Ping => {
                    outbox.ping();
                    continue;
                }
                Firing::Heard => continue,
            },
            Event::Message(message) => message,
        };
        heard.message();
        match message {
            None => break Exit::Gone,
            Some(Ok(Message::Close(_))) => break Exit::Closed,
            Some(Err(error)) => break exit_of(&error, config.max_message),
            Some(Ok(Message::Text(text))) => {
                // An answer waits for room in the send buffer; a peer that has not read for three
                // keepalive periods while it keeps sending is gone.
                // Most are handled at once; only one that waits is timed (no clock read).
                let mut handled = std::pin::pin!(handle_text(&conn, inline, text));
                let first = std::future::poll_fn(|cx| Poll::Ready(handled.as_mut().poll(cx))).await;
                let patience = config.keepalive * 3;
                if first.is_pending() && tokio::time::timeout(patience, handled).await.is_err() {
                    tracing::debug!("closing a socket connection that sends but does not read");
                    break Exit::Kill;
                }
            }
            Some(Ok(Message::Binary(_))) => {
                break Exit::Close(
                    close_code::UNSUPPORTED_DATA,
                    format!(
                        "binary messages are not accepted: `{SUBPROTOCOL}` is JSON text; binary mode is \
                         `{BINARY_SUBPROTOCOL}`"
                    ),
                );
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
        }
    };
    conn.peer.close();
    match exit {
        Exit::Closed => {
            drop(cancel_remaining);
            outbox.close_now(close_code::NORMAL, "");
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
        }
        Exit::Gone | Exit::Kill => {
            outbox.kill();
            drop(cancel_remaining);
            writer.abort();
        }
        Exit::Close(code, reason) => {
            if code == close_code::GOING_AWAY {
                let all = u32::try_from(config.max_in_flight.max(1)).unwrap_or(u32::MAX);
                let _ = tokio::time::timeout(config.drain, conn.slots.acquire_many(all)).await;
            } else {
                tracing::debug!(code, reason, "closing a socket connection");
            }
            drop(cancel_remaining);
            outbox.close(code, &reason);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
            // The peer's close frame completes the handshake; a short wait for it.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
                while let Some(Ok(_)) = std::future::poll_fn(|cx| socket.lock().poll_next(cx)).await {}
            })
            .await;
        }
    }
}

/// What woke a connection's reader.
enum Event {
    /// The outbox gave up on the peer.
    Killed,
    /// The server is stopping (`true`) or was dropped (`false`).
    Stopped(bool),
    /// The keepalive timer fired.
    Idle,
    /// The WebSocket's next message (`None`: the connection ended).
    Message(Option<Result<Message, WsError>>),
}

/// What a read error means for the connection.
fn exit_of(error: &WsError, max: usize) -> Exit {
    match error {
        WsError::Capacity(_) => {
            Exit::Close(close_code::MESSAGE_TOO_BIG, format!("a message is larger than {max} bytes"))
        }
        WsError::Protocol(e) => Exit::Close(close_code::PROTOCOL_ERROR, e.to_string()),
        WsError::Utf8(_) => Exit::Close(close_code::PROTOCOL_ERROR, "a text frame is not UTF-8".into()),
        _ => Exit::Gone,
    }
}

/// Handles one text message: a request, a notification, or a batch. Nothing is decoded but the
/// JSON-RPC members; the arguments are decoded from their text by the method's own code (which
/// alone reads them, for a request laid out as our client writes it: see [`start`]).
async fn handle_text(conn: &Arc<Conn>, inline: Option<&Socket>, text: Utf8Bytes) {
    let message = Bytes::from(text.clone());
    let mut lazily = true;
    loop {
        let read =
            if lazily { Incoming::parse_lazily(text.as_str()) } else { Incoming::parse(text.as_str()) };
        let incoming = match read {
            Ok(incoming) => incoming,
            Err(e) => return reply(conn, inline, not_json(&e)).await,
        };
        match incoming {
            Incoming::Batch(items) => handle_batch(conn, inline, &message, &items).await,
            Incoming::Object(envelope) => match start(conn, &message, &envelope, false) {
                Started::Now(Some(response)) => reply(conn, inline, response).await,
                Started::Reread => {
                    lazily = false;
                    continue;
                }
                Started::Now(None) | Started::Later(_) => {}
            },
            Incoming::Other => {
                let error =
                    wire::plain_error(INVALID_REQUEST, "invalid request: expected an object or an array");
                reply(conn, inline, wire::error_text(RawValue::NULL, &error)).await;
            }
        }
        return;
    }
}

/// The answer to text that is not JSON.
fn not_json(e: &serde_json::Error) -> String {
    wire::error_text(RawValue::NULL, &wire::plain_error(PARSE_ERROR, &format!("parse error: {e}")))
}

async fn handle_batch(conn: &Arc<Conn>, inline: Option<&Socket>, message: &Bytes, items: &[&RawValue]) {
    let refuse =
        |message: &str| wire::error_text(RawValue::NULL, &wire::plain_error(INVALID_REQUEST, message));
    if items.is_empty() {
        reply(conn, inline, refuse("invalid request: an empty batch")).await;
        return;
    }
    if items.len() > conn.config.max_batch {
        let message = format!("invalid request: more than {} requests in a batch", conn.config.max_batch);
        reply(conn, inline, refuse(&message)).await;
        return;
    }
    let mut answers = Vec::with_capacity(items.len());
    for item in items {
        let envelope = match wire::is_object(item).then(|| Incoming::parse(item.get())) {
            Some(Ok(Incoming::Object(envelope))) => envelope,
            Some(Err(e)) => {
                answers.push(Started::Now(Some(not_json(&e))));
                continue;
            }
            _ => {
                answers.push(Started::Now(Some(refuse("invalid request: expected an object"))));
                continue;
            }
        };
        answers.push(start(conn, message, &envelope, true));
    }
    let outbox = conn.outbox.clone();
    // Answered together once every call is done, without holding up the reader.
    tokio::spawn(async move {
        let mut responses = Vec::with_capacity(answers.len());
        for answer in answers {
            match answer {
                Started::Now(Some(text)) => responses.push(text),
                // (Never `Reread`: a batch's items are read in full.)
                Started::Now(None) | Started::Reread => {}
                Started::Later(rx) => {
                    if let Ok(text) = rx.await {
                        responses.push(text);
                    }
                }
            }
        }
        if !responses.is_empty() {
            let mut out = String::with_capacity(responses.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
            out.push('[');
            out.push_str(&responses.join(","));
            out.push(']');
            let _ = outbox.push(out, Kind::Response).await;
        }
    });
}

/// A request's answer: at once (or none, for a notification), or from its call task.
enum Started {
    Now(Option<String>),
    Later(oneshot::Receiver<String>),
    /// Nothing was started: the request's `params`, left unchecked by a lazy read, are not one
    /// JSON value, so the message is to be read again in full (it may still be JSON).
    Reread,
}

/// Where a call task sends its response.
enum Respond {
    /// Straight to the connection.
    Push(Arc<Outbox>),
    /// Into its batch's response.
    Batch(oneshot::Sender<String>),
    /// Nowhere: the request was a notification.
    Nowhere,
}

impl Respond {
    async fn send(self, text: String) {
        match self {
            Respond::Push(outbox) => {
                let _ = outbox.push(text, Kind::Response).await;
            }
            Respond::Batch(tx) => {
                let _ = tx.send(text);
            }
            Respond::Nowhere => {}
        }
    }
}

/// A call's work: its handler, under its deadline.
type Work = Pin<Box<dyn Future<Output = Result<Reply, Status>> + Send>>;

/// Checks one request and starts its call. `message` holds the text `envelope` was read from.
///
/// `params` a lazy read left unchecked ([`Envelope::params_unchecked`]) are proven JSON by the
/// method's own decoder, when it reads them all at its first poll
/// ([`Dispatch::reads_whole_payload`]) and that poll does not fail, or else checked before
/// anything is started. Any other answer is kept only once they prove JSON.
fn start(conn: &Arc<Conn>, message: &Bytes, envelope: &Envelope<'_>, in_batch: bool) -> Started {
    let mut proven = !envelope.params_unchecked;
    let started = start_checking(conn, message, envelope, in_batch, &mut proven);
    if !proven && !matches!(started, Started::Reread) && envelope.params.is_some_and(|p| !wire::is_json(p)) {
        return Started::Reread;
    }
    started
}

/// [`start`], with `proven` set once unchecked `params` proved JSON (before anything started).
fn start_checking(
    conn: &Arc<Conn>,
    message: &Bytes,
    envelope: &Envelope<'_>,
    in_batch: bool,
    proven: &mut bool,
) -> Started {
    // The id first: every later error is answered to it.
    let id = match envelope.id {
        None => None,
        Some(id) if wire::is_id(id) => Some(id),
        Some(_) => {
            let error = wire::plain_error(
                INVALID_REQUEST,
                "invalid request: `id` must be a string, a number or null",
            );
            return Started::Now(Some(wire::error_text(RawValue::NULL, &error)));
        }
    };
    let answer = |status: &Status, ctx: Option<&Context>| {
        Started::Now(
            id.map(|id| wire::error_text(id, &wire::error_object(status, ctx.map(Context::correlation_id)))),
        )
    };
    let invalid = |message: &str| {
        Started::Now(Some(wire::error_text(
            id.unwrap_or(RawValue::NULL),
            &wire::plain_error(INVALID_REQUEST, message),
        )))
    };
    if envelope.jsonrpc.and_then(wire::raw_str).as_deref() != Some("2.0") {
        return invalid("invalid request: `jsonrpc` must be \"2.0\"");
    }
    let method = match envelope.method {
        Some(method) => match wire::raw_str(method) {
            Some(method) => method,
            None => return invalid("invalid request: `method` must be a string"),
        },
        None if envelope.result.is_some() || envelope.error.is_some() => {
            // A response to one of the server's calls of the client (`SocketPeer`).
            if let Some(n) = id.and_then(|id| id.get().parse::<u64>().ok()) {
                let outcome = match (envelope.result, envelope.error) {
                    (_, Some(error)) => Err(wire::status_of_error(&wire::value_of(error.get()))),
                    (Some(result), None) => Ok(wire::value_of(result.get())),
                    (None, None) => Err(Status::internal("a response without `result` or `error`")),
                };
                conn.peer.deliver(n, outcome);
            }
            return Started::Now(None);
        }
        None => return invalid("invalid request: `method` is missing"),
    };
    let params = match envelope.params {
        None | Some("null") => None,
        Some(params) if params.starts_with('{') => Some(params),
        Some(params) if params.starts_with('[') => {
            let status = Status::invalid_argument("`params` must be an object of named parameters");
            return answer(&status, None);
        }
        Some(_) => return invalid("invalid request: `params` must be an object"),
    };
    // `params` as our client writes them are read by bytes (the Context, and the arguments).
    let plain = params.and_then(wire::Plain::of);
    let ctx = match (&plain, params) {
        (Some(plain), _) => Ok(plain.context()),
        (None, None) => wire::context_of_text(None),
        (None, Some(params)) => match wire::context_in(params) {
            Ok(ctx) => ctx,
            Err(e) => return Started::Now(Some(not_json(&e))),
        },
    };
    let ctx = match ctx {
        // The handler can call back the services the client exposes (`Context::caller`).
        Ok(ctx) => ctx.with_caller(conn.peer.clone()),
        Err(status) => return answer(&status, None),
    };
    let found = find(&conn.services, &method);
    if !*proven {
        let deferred = found.as_ref().is_some_and(|(service, method)| {
            matches!(method.kind, MethodKind::Unary | MethodKind::Empty) && service.reads_whole_payload()
        });
        if !deferred {
            if params.is_some_and(|params| !wire::is_json(params)) {
                return Started::Reread;
            }
            *proven = true;
        }
    }
    if method == CANCEL || method == SUBSCRIBE {
        let params = params.map_or_else(Map::new, |params| {
            serde_json::from_str::<Map<String, Value>>(params).unwrap_or_default()
        });
        if method == CANCEL {
            let found = cancel(conn, &params);
            return Started::Now(id.map(|id| wire::result_text(id, if found { b"true" } else { b"false" })));
        }
        let Some(id) = id else { return Started::Now(None) };
        if in_batch {
            let status = Status::invalid_argument("a subscription cannot be part of a batch");
            return Started::Now(Some(wire::error_text(
                id,
                &wire::error_object(&status, Some(ctx.correlation_id())),
            )));
        }
        return subscribe(conn, id, &params, ctx);
    }
    let Some((service, method_descriptor)) = found else {
        let status = Status::unimplemented(format!("no method `{method}` here"));
        return answer(&status, Some(&ctx));
    };
    let stream = method_descriptor.kind == MethodKind::ServerStream;
    if stream {
        if in_batch {
            let status = Status::invalid_argument("a server stream cannot be part of a batch");
            return answer(&status, Some(&ctx));
        }
        if id.is_none() {
            // A stream asked for as a notification could never be read.
            return Started::Now(None);
        }
    }
    let Ok(slot) = conn.slots.clone().try_acquire_owned() else {
        let status = Status::new(
            Code::ResourceExhausted,
            format!("more than {} calls in flight on this connection", conn.config.max_in_flight),
        );
        return answer(&status, Some(&ctx));
    };
    // The arguments are the text of `params` (`_meta` among them, ignored as unknown members are),
    // or, when our client wrote them, a copy without `_meta`: copying costs less than reading
    // `_meta` to skip it and checking the text's UTF-8 again (the copy is known to be text).
    let payload = match (plain.as_ref().and_then(wire::Plain::args), params) {
        (Some(args), _) => Payload::JsonText(args),
        (None, Some(params)) => Payload::Encoded(Codec::Json, message.slice_ref(params.as_bytes())),
        (None, None) => Payload::Encoded(Codec::Json, Bytes::from_static(b"{}")),
    };
    let span = tracing::info_span!(
        "svcgen.call",
        binding = "socket",
        method = %method,
        correlation_id = ctx.correlation_id()
    );
    if method_descriptor.kind == MethodKind::Oneway {
        // Checked and acknowledged now, worked on in the background.
        if let Err(status) = service.check(method_descriptor.name, &payload) {
            drop(slot);
            return answer(&status, Some(&ctx));
        }
        tokio::spawn(
            async move {
                if let Err(status) =
                    run_call(&*service, method_descriptor.name, payload, Codec::Json, ctx).await
                {
                    tracing::warn!(%status, "oneway call failed");
                }
                drop(slot);
            }
            .instrument(span),
        );
        return Started::Now(id.map(|id| wire::result_text(id, b"null")));
    }
    let correlation_id = ctx.shared_correlation_id();
    let mut work: Work =
        Box::pin(async move { run_call(&*service, method_descriptor.name, payload, Codec::Json, ctx).await });
    if !stream {
        // A handler that does not wait is answered now, without a task (most are: the
        // reply is then written by the reader itself). The task, if any, runs in the span too.
        let first = {
            let _entered = span.enter();
            crate::dispatch::poll_now(&mut work)
        };
        // Unless it failed, the first poll read all of `params` (when it was left to it).
        *proven |= !matches!(first, Poll::Ready(Err(_)));
        if let Poll::Ready(result) = first {
            drop(slot);
            let id_or_null = id.unwrap_or(RawValue::NULL);
            let text =
                answer_of(id_or_null, result, &correlation_id).unwrap_or_else(|_| not_a_stream(id_or_null));
            return Started::Now(id.map(|_| text));
        }
    }
    let (respond, started) = match (id, in_batch) {
        (None, _) => (Respond::Nowhere, Started::Now(None)),
        (Some(_), true) => {
            let (tx, rx) = oneshot::channel();
            (Respond::Batch(tx), Started::Later(rx))
        }
        (Some(_), false) => (Respond::Push(conn.outbox.clone()), Started::Now(None)),
    };
    let n = conn.next.fetch_add(1, Ordering::Relaxed);
    let sub = stream.then(|| format!("s{n}"));
    let id_key = id.map(wire::id_key);
    let call = Call { conn: conn.clone(), n, id: id.unwrap_or(RawValue::NULL).to_owned(), sub: sub.clone() };
    // Locked across the spawn, so the call cannot unregister itself before it is registered.
    let mut registry = conn.registry();
    let task = tokio::spawn(
        async move {
            let result = work.await;
            call.finish(result, &correlation_id, respond).await;
            drop(slot);
        }
        .instrument(span),
    );
    if let Some(key) = &id_key {
        registry.ids.insert(key.clone(), n);
    }
    if let Some(sub) = &sub {
        registry.subs.insert(sub.clone(), n);
    }
    registry.tasks.insert(n, Task { handle: task.abort_handle(), id: id_key, sub });
    started
}

/// The response to `id` of a call that ended, or its stream (which is answered with a
/// subscription).
fn answer_of(
    id: &RawValue,
    result: Result<Reply, Status>,
    correlation_id: &str,
) -> Result<String, ReplyStream> {
    match result {
        Ok(Reply::Value(bytes)) => Ok(wire::result_text(id, &bytes)),
        Ok(Reply::Text(text)) => Ok(wire::response_text(id, &text)),
        Ok(Reply::Empty) => Ok(wire::result_text(id, b"null")),
        Ok(Reply::Stream(items)) => Err(items),
        Err(status) => {
            if status.code() == Code::Internal {
                tracing::error!(%status, "call failed");
            }
            Ok(wire::error_text(id, &wire::error_object(&status, Some(correlation_id))))
        }
    }
}

/// The answer to a method that is not a stream and returned one.
fn not_a_stream(id: &RawValue) -> String {
    let status = Status::internal("a method that is not a stream returned one");
    wire::error_text(id, &wire::error_object(&status, None))
}

/// The items of a server stream, encoded.
type ReplyStream = Pin<Box<dyn futures_core::Stream<Item = Result<Bytes, Status>> + Send>>;

/// The service and method a JSON-RPC method name (`package.Service.method`) names.
fn find(services: &Services, name: &str) -> Option<(Arc<dyn Dispatch>, &'static MethodDescriptor)> {
    let (service, method) = name.rsplit_once('.')?;
    let service = services.get(service)?;
    let method = service.descriptor().method(method)?;
    Some((service.clone(), method))
}

/// `svcgen.cancel`: stops the call with this `id`, or the subscription; whether it was found.
fn cancel(conn: &Conn, params: &Map<String, Value>) -> bool {
    let mut registry = conn.registry();
    let n = match (params.get("subscription"), params.get("id")) {
        (Some(Value::String(sub)), _) => registry.subs.get(sub).copied(),
        (None, Some(id)) => registry.ids.get(&id.to_string()).copied(),
        _ => None,
    };
    let Some(handle) = n.and_then(|n| registry.remove(n)) else { return false };
    handle.abort();
    true
}

/// A running call: answers, streams, and unregisters itself.
struct Call {
    conn: Arc<Conn>,
    n: u64,
    id: Box<RawValue>,
    sub: Option<String>,
}

impl Call {
    async fn finish(self, result: Result<Reply, Status>, correlation_id: &str, respond: Respond) {
        let mut items = match answer_of(&self.id, result, correlation_id) {
            Ok(text) => {
                respond.send(text).await;
                return self.unregister();
            }
            Err(items) => items,
        };
        let Some(sub) = self.sub.clone() else {
            respond.send(not_a_stream(&self.id)).await;
            return self.unregister();
        };
        let started = serde_json::json!({ "subscription": sub }).to_string();
        self.conn.registry().release_id(self.n);
        respond.send(wire::result_text(&self.id, started.as_bytes())).await;
        let outbox = &self.conn.outbox;
        while let Some(item) = items.next().await {
            match item {
                Ok(bytes) => {
                    if outbox.push(wire::item_text(&sub, &bytes), Kind::Notification).await.is_err() {
                        return self.unregister();
                    }
                }
                Err(status) => {
                    let error = wire::error_object(&status, Some(correlation_id));
                    let params = serde_json::json!({ "subscription": sub, "error": error });
                    let text = wire::notification_text(wire::STREAM_ERROR, params);
                    let _ = outbox.push(text, Kind::Response).await;
                    return self.unregister();
                }
            }
        }
        let params = serde_json::json!({ "subscription": sub });
        let _ = outbox.push(wire::notification_text(wire::STREAM_END, params), Kind::Response).await;
        self.unregister();
    }

    fn unregister(&self) {
        self.conn.registry().remove(self.n);
    }
}

/// `svcgen.subscribe`: starts pushing an event's occurrences to this connection.
fn subscribe(conn: &Arc<Conn>, id: &RawValue, params: &Map<String, Value>, ctx: Context) -> Started {
    let refuse = |status: &Status| {
        Started::Now(Some(wire::error_text(id, &wire::error_object(status, Some(ctx.correlation_id())))))
    };
    let Some(Value::String(event)) = params.get("event") else {
        return refuse(&Status::invalid_fields(vec![crate::status::Violation {
            field: "event".to_owned(),
            message: "must be the event's subject, `package.service.event`".to_owned(),
        }]));
    };
    let Some(broker) = conn.events.clone() else {
        return refuse(&Status::unimplemented("this server pushes no events"));
    };
    // Events the services served here declare, only (not a method's subject, nor anyone's).
    let served =
        conn.services.values().any(|s| s.descriptor().events.iter().any(|e| e.subject == event.as_str()));
    if !served {
        return refuse(&Status::unimplemented(format!("no event `{event}` here")));
    }
    let Ok(slot) = conn.slots.clone().try_acquire_owned() else {
        return refuse(&Status::new(
            Code::ResourceExhausted,
            format!("more than {} calls and subscriptions on this connection", conn.config.max_in_flight),
        ));
    };
    let n = conn.next.fetch_add(1, Ordering::Relaxed);
    let sub = format!("e{n}");
    let id_key = wire::id_key(id);
    let call = Call { conn: conn.clone(), n, id: id.to_owned(), sub: Some(sub.clone()) };
    let subject = event.clone();
    let span = tracing::info_span!("svcgen.subscription", binding = "socket", subject = %subject);
    let mut registry = conn.registry();
    let task = tokio::spawn(
        async move {
            call.push_events(broker, &subject, &ctx).await;
            drop(slot);
        }
        .instrument(span),
    );
    registry.ids.insert(id_key.clone(), n);
    registry.subs.insert(sub.clone(), n);
    registry.tasks.insert(n, Task { handle: task.abort_handle(), id: Some(id_key), sub: Some(sub) });
    Started::Now(None)
}

/// An event message as a `CloudEvents` JSON event (structured mode); `None` if its data cannot
/// be read.
fn cloud_event(message: &crate::queue::Message) -> Option<String> {
    use crate::queue::events::ce;
    let data: Value = match message.header(crate::queue::header::CONTENT_TYPE) {
        None | Some("application/json") => serde_json::from_slice(&message.body).ok()?,
        Some("application/msgpack") => rmp_serde::from_slice(&message.body).ok()?,
        Some(_) => return None,
    };
    let mut event = Map::new();
    event.insert("specversion".into(), ce::VERSION.into());
    for (name, header) in [("id", ce::ID), ("source", ce::SOURCE), ("type", ce::TYPE), ("time", ce::TIME)] {
        if let Some(value) = message.header(header) {
            event.insert(name.into(), value.into());
        }
    }
    event.insert("datacontenttype".into(), "application/json".into());
    if let Some(tp) = message.header(ce::TRACEPARENT) {
        event.insert("traceparent".into(), tp.into());
    }
    if let Some(id) = message.header(crate::queue::header::CORRELATION_ID) {
        event.insert("correlationid".into(), id.into());
    }
    event.insert("data".into(), data);
    Some(Value::Object(event).to_string())
}

impl Call {
    /// Consumes `subject` and forwards its events until cancelled or the connection ends.
    async fn push_events(self, broker: Arc<dyn Broker>, subject: &str, ctx: &Context) {
        let mut deliveries = match broker.consume(ConsumerSpec::alone(subject)).await {
            Ok(deliveries) => deliveries,
            Err(status) => {
                let error = wire::error_object(&status, Some(ctx.correlation_id()));
                let _ = self.conn.outbox.push(wire::error_text(&self.id, &error), Kind::Response).await;
                return self.unregister();
            }
        };
        let Some(sub) = self.sub.clone() else { return self.unregister() };
        let started = serde_json::json!({ "subscription": sub }).to_string();
        self.conn.registry().release_id(self.n);
        let outbox = &self.conn.outbox;
        if outbox.push(wire::result_text(&self.id, started.as_bytes()), Kind::Response).await.is_err() {
            return self.unregister();
        }
        while let Some(delivery) = deliveries.next().await {
            let Some(event) = cloud_event(&delivery.message) else {
                tracing::warn!(subject, "an event that is not readable was not pushed");
                let _ = delivery.ack().await;
                continue;
            };
            if outbox.push(wire::event_text(&sub, &event), Kind::Notification).await.is_err() {
                return self.unregister();
            }
            let _ = delivery.ack().await;
        }
        let status = Status::unavailable("the event broker is gone");
        let error = wire::error_object(&status, Some(ctx.correlation_id()));
        let params = serde_json::json!({ "subscription": sub, "error": error });
        let _ = outbox.push(wire::notification_text(wire::STREAM_ERROR, params), Kind::Response).await;
        self.unregister();
    }
}
