//! The RPC server: one task reads each connection, one writes it, one runs each call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::Instrument as _;

use super::frame::{CODEC_MSGPACK, Frame, FrameError, HANDSHAKE, MAGIC, VERSION};
use super::source::{ByteFrames, FrameSource};
use super::{RpcConfig, context_of, problem_bytes, write_frames};
use crate::context::Context;
use crate::descriptor::MethodKind;
use crate::dispatch::{Codec, Dispatch, Payload, Reply, run_call};
use crate::status::{Code, Status};

/// Serves services over the RPC protocol (`docs/protocol.md`).
///
/// ```no_run
/// # async fn run(catalog: impl svcgen::Dispatch) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9090").await?;
/// svcgen::rpc::RpcServer::new().service(catalog).serve(listener).await
/// # }
/// ```
#[derive(Default)]
pub struct RpcServer {
    services: ServiceMap,
    config: RpcConfig,
}

impl std::fmt::Debug for RpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcServer")
            .field("services", &self.services.keys())
            .field("config", &self.config)
            .finish()
    }
}

/// The services of a server by `package.Service` (looked up on every call: a fast hash).
pub(crate) type ServiceMap = HashMap<String, Arc<dyn Dispatch>, foldhash::fast::RandomState>;
pub(crate) type Services = Arc<ServiceMap>;

impl RpcServer {
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

    /// Limits and timings.
    #[must_use]
    pub fn config(mut self, config: RpcConfig) -> Self {
        self.config = config;
        self
    }

    /// Serves on `listener` until the process ends.
    ///
    /// # Errors
    /// None today (accept failures are logged and retried); the `Result` leaves room.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        self.serve_until(listener, std::future::pending::<()>()).await
    }

    /// Serves until `shutdown` completes; then every connection gets a `GoAway`, and calls in
    /// flight are drained (up to the configured drain time).
    ///
    /// # Errors
    /// None today (accept failures are logged and retried); the `Result` leaves room.
    pub async fn serve_until(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.run(Listener::Tcp(listener), shutdown).await
    }

    /// Serves on a Unix socket until the process ends.
    ///
    /// # Errors
    /// None today (accept failures are logged and retried).
    #[cfg(unix)]
    pub async fn serve_unix(self, listener: tokio::net::UnixListener) -> std::io::Result<()> {
        self.serve_unix_until(listener, std::future::pending::<()>()).await
    }

    /// Serves on a Unix socket until `shutdown` completes, like [`RpcServer::serve_until`].
    ///
    /// # Errors
    /// None today (accept failures are logged and retried).
    #[cfg(unix)]
    pub async fn serve_unix_until(
        self,
        listener: tokio::net::UnixListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.run(Listener::Unix(listener), shutdown).await
    }

    async fn run(
        self,
        listener: Listener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let services: Services = Arc::new(self.services);
        let config = self.config;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = tokio::task::JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => {
                    let services = services.clone();
                    let stop = stop_rx.clone();
                    // A failed accept (too many open files, a reset in the backlog) is no reason
                    // to stop serving everyone: log it, give the system a moment, go on.
                    let accepted = match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            tracing::warn!(%error, "accepting a connection failed");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    match accepted {
                        Accepted::Tcp(stream, peer) => {
                            let _ = stream.set_nodelay(true);
                            connections.spawn(
                                serve_connection(stream, services, config.clone(), stop)
                                    .instrument(tracing::debug_span!("svcgen.rpc.connection", %peer)),
                            );
                        }
                        #[cfg(unix)]
                        Accepted::Unix(stream) => {
                            connections.spawn(
                                serve_connection(stream, services, config.clone(), stop)
                                    .instrument(tracing::debug_span!("svcgen.rpc.connection", peer = "unix")),
                            );
                        }
                    }
                }
            }
        }
        // Refuse new connections now, rather than leave them unanswered in the backlog.
        drop(listener);
        let _ = stop_tx.send(true);
        let _ =
            tokio::time::timeout(config.drain, async { while connections.join_next().await.is_some() {} })
                .await;
        Ok(())
    }
}

/// What the server accepts connections on.
enum Listener {
    Tcp(tokio::net::TcpListener),
    #[cfg(unix)]
    Unix(tokio::net::UnixListener),
}

enum Accepted {
    Tcp(tokio::net::TcpStream, std::net::SocketAddr),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

impl Listener {
    async fn accept(&self) -> std::io::Result<Accepted> {
        match self {
            Listener::Tcp(l) => l.accept().await.map(|(s, peer)| Accepted::Tcp(s, peer)),
            #[cfg(unix)]
            Listener::Unix(l) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
        }
    }
}

/// Serves one connection (any byte stream: TCP, a Unix socket).
pub async fn serve_connection<S>(
    stream: S,
    services: Services,
    config: RpcConfig,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut hello = [0u8; 8];
    match tokio::time::timeout(config.handshake_timeout, reader.read_exact(&mut hello)).await {
        Ok(Ok(_)) => {}
        _ => return,
    }
    if hello[..4] != MAGIC || hello[4] != VERSION || hello[5] != CODEC_MSGPACK {
        // Refuse: version 0 says "not this one"; then close.
        let _ = writer.write_all(&[MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], 0, 0, 0, 0]).await;
        tracing::debug!("refused a connection: bad handshake {hello:02x?}");
        return;
    }
    if writer.write_all(&HANDSHAKE).await.is_err() {
        return;
    }

    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    let write_task = tokio::spawn(write_frames(writer, rx));
    let stop = async move {
        let _ = stop.changed().await;
        true
    };
    let mut frames = ByteFrames::new(reader, config.max_frame);
    if let Ended::Protocol(error) = serve_frames(&mut frames, tx, &services, &config, stop).await {
        tracing::warn!(%error, "closed a connection after a protocol error");
    }
    let _ = write_task.await;
}

/// How a connection's frames stopped coming.
#[derive(Debug)]
pub(crate) enum Ended {
    /// The peer closed, vanished or went silent, or sent `GoAway`.
    Gone,
    /// The peer sent a frame that cannot be read (answered with a `GoAway` naming it).
    Protocol(FrameError),
    /// The server is stopping (a `GoAway` was sent, calls in flight drained).
    Stopped,
    /// The server was dropped: calls in flight were cancelled, nothing drained.
    Dropped,
}

/// Serves the frames of one connection, whatever carries them, writing to `tx` (the
/// connection's writer task): calls, cancels, keepalive, `GoAway`. `stop` completes with `true`
/// to stop gracefully (`GoAway`, then calls in flight drain), `false` to drop every call now.
/// Returns once every call has finished or been cancelled, with `tx` dropped.
pub(crate) async fn serve_frames(
    frames: &mut impl FrameSource,
    tx: mpsc::Sender<Bytes>,
    services: &Services,
    config: &RpcConfig,
    stop: impl std::future::Future<Output = bool> + Send,
) -> Ended {
    let limits = Limits::new(config.max_in_flight);
    let calls: Arc<Mutex<HashMap<u32, tokio::task::AbortHandle>>> = Arc::default();
    let cancel_remaining = CancelRemaining(calls.clone());
    let mut last_call = 0u32;
    let mut heard = tokio::time::Instant::now();
    let mut nonce = 0u32;
    // One timer for the connection, reset when it fires (not a timeout armed for every read).
    let idle = tokio::time::sleep(config.keepalive);
    tokio::pin!(idle);
    tokio::pin!(stop);
    let ended = loop {
        tokio::select! {
            frame = frames.next_frame() => match frame {
                Ok(Some(frame)) => {
                    heard = tokio::time::Instant::now();
                    if let Frame::Request { call, .. } = &frame {
                        last_call = *call;
                    }
                    match handle(frame, services, &tx, &limits, &calls).await {
                        Ok(true) => {}
                        Ok(false) => break Ended::Gone,
                        Err(error) => {
                            protocol_error(&tx, last_call, &error).await;
                            break Ended::Protocol(error);
                        }
                    }
                }
                Ok(None) => break Ended::Gone,
                Err(error) => {
                    protocol_error(&tx, last_call, &error).await;
                    break Ended::Protocol(error);
                }
            },
            () = &mut idle => {
                let now = tokio::time::Instant::now();
                // Silent for three keepalive periods, pings unanswered: the peer is gone.
                if now >= heard + config.keepalive * 3 {
                    break Ended::Gone;
                }
                if now >= heard + config.keepalive {
                    nonce = nonce.wrapping_add(1);
                    let _ = tx.try_send(Frame::Ping { nonce }.to_bytes());
                    idle.as_mut().reset(now + config.keepalive);
                } else {
                    idle.as_mut().reset(heard + config.keepalive);
                }
            }
            graceful = &mut stop => {
                if !graceful {
                    break Ended::Dropped;
                }
                let _ = tx.send(Frame::GoAway { last: last_call, reason: "the server is shutting down".into() }.to_bytes()).await;
                break Ended::Stopped;
            }
        }
    };
    if !matches!(ended, Ended::Dropped) {
        // Drain: wait until every admitted call has finished.
        let _ = tokio::time::timeout(config.drain, limits.all_done()).await;
    }
    // Calls still running hold the writer open: cancel them, so the connection closes now.
    drop(cancel_remaining);
    drop(tx);
    ended
}

/// Cancels a connection's calls that are still running when it ends: the drain ran out, or
/// the server was dropped (the connection's task with it).
struct CancelRemaining(Arc<Mutex<HashMap<u32, tokio::task::AbortHandle>>>);

impl Drop for CancelRemaining {
    fn drop(&mut self) {
        for (_, call) in self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain() {
            call.abort();
        }
    }
}

async fn protocol_error(tx: &mpsc::Sender<Bytes>, last: u32, error: &FrameError) {
    let _ = tx.send(Frame::GoAway { last, reason: error.to_string() }.to_bytes()).await;
}

/// The bounds of one connection. `running` calls execute at once; up to as many more wait
/// for a slot in tasks of their own, so a `Cancel` reaches them; beyond `admitted`, the
/// reader stops reading (TCP backpressure). Nothing is queued without bound.
struct Limits {
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
    capacity: u32,
}

impl Limits {
    fn new(max_in_flight: usize) -> Self {
        let max_in_flight = max_in_flight.max(1);
        let capacity = u32::try_from(max_in_flight.saturating_mul(2)).unwrap_or(u32::MAX);
        Self {
            admitted: Arc::new(Semaphore::new(capacity as usize)),
            running: Arc::new(Semaphore::new(max_in_flight)),
            capacity,
        }
    }

    /// Waits until every admitted call has finished.
    async fn all_done(&self) {
        let _ = self.admitted.acquire_many(self.capacity).await;
    }
}

/// Handles one frame from the client; `false` to close the connection, an error for a frame a
/// client must not send.
async fn handle(
    frame: Frame,
    services: &Services,
    tx: &mpsc::Sender<Bytes>,
    limits: &Limits,
    calls: &Arc<Mutex<HashMap<u32, tokio::task::AbortHandle>>>,
) -> Result<bool, FrameError> {
    Ok(match frame {
        Frame::Request { call, head, payload } => {
            // Backpressure: with every slot taken and as many calls waiting, stop reading.
            let Ok(admitted) = limits.admitted.clone().acquire_owned().await else { return Ok(false) };
            let running = limits.running.clone();
            let ctx = context_of(&head);
            let Some(service) = services.get(&head.service).cloned() else {
                let status = Status::unimplemented(format!("no service `{}` here", head.service));
                let _ = tx.send(error_frame(call, &status, &ctx)).await;
                return Ok(true);
            };
            let Some(method) = service.descriptor().method(&head.method) else {
                let status =
                    Status::unimplemented(format!("no method `{}` in `{}`", head.method, head.service));
                let _ = tx.send(error_frame(call, &status, &ctx)).await;
                return Ok(true);
            };
            let payload = Payload::Encoded(Codec::MsgPack, payload);
            let tx = tx.clone();
            let span = tracing::info_span!("svcgen.call", binding = "rpc", service = %head.service, method = method.name, correlation_id = ctx.correlation_id(), trace_id = ctx.trace_id());
            if method.kind == MethodKind::Oneway {
                // Checked and acknowledged now, worked on in the background.
                if let Err(status) = service.check(method.name, &payload) {
                    let _ = tx.send(error_frame(call, &status, &ctx)).await;
                    return Ok(true);
                }
                let _ = tx.send(Frame::Reply { call, payload: Bytes::new() }.to_bytes()).await;
                tokio::spawn(
                    async move {
                        let Ok(slot) = running.acquire_owned().await else { return };
                        if let Err(status) =
                            run_call(&*service, method.name, payload, Codec::MsgPack, ctx).await
                        {
                            tracing::warn!(%status, "oneway call failed");
                        }
                        drop((slot, admitted));
                    }
                    .instrument(span),
                );
                return Ok(true);
            }
            let registry = calls.clone();
            // Locked across the spawn, so the call cannot unregister itself before it is registered.
            let mut calls = calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let task = tokio::spawn(
                async move {
                    // Waiting for a slot, the call is registered already: a Cancel reaches it.
                    let Ok(slot) = running.acquire_owned().await else { return };
                    let result = run_call(&*service, method.name, payload, Codec::MsgPack, ctx.clone()).await;
                    send_result(call, result, &ctx, &tx).await;
                    drop((slot, admitted));
                    unregister(&registry, call);
                }
                .instrument(span),
            );
            calls.insert(call, task.abort_handle());
            true
        }
        Frame::Cancel { call } => {
            if let Some(handle) =
                calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&call)
            {
                handle.abort();
            }
            true
        }
        Frame::Ping { nonce } => tx.send(Frame::Pong { nonce }.to_bytes()).await.is_ok(),
        Frame::Pong { .. } => true,
        Frame::GoAway { .. } => false,
        Frame::Reply { .. } | Frame::Error { .. } | Frame::StreamItem { .. } | Frame::StreamEnd { .. } => {
            return Err(FrameError::Malformed("a client sent a server frame"));
        }
    })
}

/// A finished call takes itself out of its connection's registry (unless a later call with the
/// same id has taken its place).
fn unregister(registry: &Mutex<HashMap<u32, tokio::task::AbortHandle>>, call: u32) {
    let Some(me) = tokio::task::try_id() else { return };
    let mut calls = registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if calls.get(&call).is_some_and(|handle| handle.id() == me) {
        calls.remove(&call);
    }
}

async fn send_result(call: u32, result: Result<Reply, Status>, ctx: &Context, tx: &mpsc::Sender<Bytes>) {
    match result {
        Ok(Reply::Value(payload)) => {
            let _ = tx.send(Frame::Reply { call, payload }.to_bytes()).await;
        }
        Ok(Reply::Text(text)) => {
            let _ = tx.send(Frame::Reply { call, payload: Bytes::from(text) }.to_bytes()).await;
        }
        Ok(Reply::Empty) => {
            let _ = tx.send(Frame::Reply { call, payload: Bytes::new() }.to_bytes()).await;
        }
        Ok(Reply::Stream(mut stream)) => {
            while let Some(item) = stream.next().await {
                match item {
                    Ok(payload) => {
                        if tx.send(Frame::StreamItem { call, payload }.to_bytes()).await.is_err() {
                            return;
                        }
                    }
                    Err(status) => {
                        let _ = tx.send(error_frame(call, &status, ctx)).await;
                        return;
                    }
                }
            }
            let _ = tx.send(Frame::StreamEnd { call }.to_bytes()).await;
        }
        Err(status) => {
            if status.code() == Code::Internal {
                tracing::error!(%status, "call failed");
            }
            let _ = tx.send(error_frame(call, &status, ctx)).await;
        }
    }
}

fn error_frame(call: u32, status: &Status, ctx: &Context) -> Bytes {
    Frame::Error { call, problem: problem_bytes(status, ctx) }.to_bytes()
}
