//! The RPC client: one connection, many calls in flight, reconnection with backoff.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::{mpsc, oneshot};

use super::frame::{Frame, HANDSHAKE, MAGIC};
use super::reconnect::{Open, Reconnecting};
use super::source::{ByteFrames, FrameSource};
use super::{RpcConfig, status_of, write_frames};
use crate::context::Context;
use crate::descriptor::MethodDescriptor;
use crate::dispatch::{Codec, Streaming};
use crate::status::{Code, Status};

/// Calls services over the RPC protocol. Cheap to clone: clones share one connection.
#[derive(Clone, Debug)]
pub struct RpcClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    addr: String,
    config: RpcConfig,
    transport: Transport,
    /// The connection, made again after it closes.
    connection: Reconnecting<Conn>,
}

/// What carries an RPC client's frames.
#[derive(Debug)]
pub(crate) enum Transport {
    /// A byte stream (TCP, a Unix socket) opened with the RPC handshake.
    Stream,
    /// A WebSocket in the socket binding's binary mode, one frame per message, opened as this
    /// configuration says (its limits, timings and TLS).
    #[cfg(feature = "socket")]
    WebSocket(Box<crate::socket::SocketConfig>),
}

/// Where the answer to a call goes.
enum Slot {
    Unary(oneshot::Sender<Result<Bytes, Status>>),
    /// Items, and why the stream was cut when its queue could not take the news.
    Stream(mpsc::Sender<Result<Bytes, Status>>, Cut),
}

/// Why a stream ended early, kept here when its queue was full: the consumer fell behind, or
/// the call failed or lost its connection with items still queued. Its consumer reads it after
/// the last item, so a cut stream never looks complete.
type Cut = Arc<Mutex<Option<Status>>>;

/// Ends a stream with `status`: queued after its items, or kept in `cut` if the queue is full.
fn end_stream(items: &mpsc::Sender<Result<Bytes, Status>>, cut: &Cut, status: Status) {
    if let Err(mpsc::error::TrySendError::Full(Err(status))) = items.try_send(Err(status)) {
        *cut.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(status);
    }
}

#[derive(Debug)]
pub(crate) struct Conn {
    tx: mpsc::Sender<Bytes>,
    calls: Mutex<HashMap<u32, SlotBox>>,
    next: AtomicU32,
    open: AtomicBool,
}

/// `Slot` is not `Debug`; this wrapper is, for `Conn`'s sake.
struct SlotBox(Slot);

impl std::fmt::Debug for SlotBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Slot::Unary(_) => "Unary",
            Slot::Stream(..) => "Stream",
        })
    }
}

impl Open for Conn {
    fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }
}

impl Conn {
    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<u32, SlotBox>> {
        self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a call; `false` if the connection is closing (`close` may have failed every
    /// call already, and nothing would ever answer this one).
    fn register(&self, call: u32, slot: SlotBox) -> bool {
        let mut slots = self.slots();
        if !self.open.load(Ordering::Acquire) {
            return false;
        }
        slots.insert(call, slot);
        true
    }

    /// Routes one frame from the server to its call.
    fn deliver(&self, frame: Frame) -> Result<(), Status> {
        match frame {
            Frame::Reply { call, payload } => self.finish(call, Ok(payload)),
            Frame::Error { call, problem } => self.finish(call, Err(status_of(&problem))),
            Frame::StreamItem { call, payload } => {
                let mut slots = self.slots();
                if let Some(SlotBox(Slot::Stream(items, cut))) = slots.get(&call)
                    && items.try_send(Ok(payload)).is_err()
                {
                    // The consumer fell behind (or is gone): cut this stream, not the connection.
                    *cut.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Status::new(
                        Code::ResourceExhausted,
                        "the stream was cut: its consumer fell behind",
                    ));
                    slots.remove(&call);
                    let _ = self.tx.try_send(Frame::Cancel { call }.to_bytes());
                }
            }
            Frame::StreamEnd { call } => {
                self.slots().remove(&call);
            }
            Frame::Ping { nonce } => {
                let _ = self.tx.try_send(Frame::Pong { nonce }.to_bytes());
            }
            Frame::Pong { .. } => {}
            Frame::GoAway { .. } => self.open.store(false, Ordering::Release),
            Frame::Request { .. } | Frame::Cancel { .. } => {
                return Err(Status::unavailable("the server sent a client frame"));
            }
        }
        Ok(())
    }

    fn finish(&self, call: u32, result: Result<Bytes, Status>) {
        match self.slots().remove(&call) {
            Some(SlotBox(Slot::Unary(reply))) => {
                let _ = reply.send(result);
            }
            Some(SlotBox(Slot::Stream(items, cut))) => {
                // A reply to a stream call: an error (before any item, or ending it), or a server bug.
                let status =
                    result.err().unwrap_or_else(|| Status::internal("a stream call got a single reply"));
                end_stream(&items, &cut, status);
            }
            None => {} // late or duplicate: the caller gave up already
        }
    }

    /// The connection is gone: every call in flight fails with `status`.
    fn close(&self, status: &Status) {
        self.open.store(false, Ordering::Release);
        for (_, SlotBox(slot)) in self.slots().drain() {
            match slot {
                Slot::Unary(reply) => {
                    let _ = reply.send(Err(status.clone()));
                }
                Slot::Stream(items, cut) => end_stream(&items, &cut, status.clone()),
            }
        }
    }
}

/// Sends `Cancel` for a call whose caller stopped waiting.
struct CancelOnDrop {
    conn: Arc<Conn>,
    call: u32,
    armed: bool,
}

impl CancelOnDrop {
    /// The call finished: nothing to cancel.
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed && self.conn.slots().remove(&self.call).is_some() {
            let _ = self.conn.tx.try_send(Frame::Cancel { call: self.call }.to_bytes());
        }
    }
}

impl RpcClient {
    /// A client of the server at `addr`: `host:port` for TCP, or `unix:/path/to.sock` for a
    /// Unix socket. It connects on the first call.
    #[must_use]
    pub fn new(addr: &str) -> Self {
        Self::with_config(addr, RpcConfig::default())
    }

    /// A client with explicit limits and timings.
    #[must_use]
    pub fn with_config(addr: &str, config: RpcConfig) -> Self {
        Self::over(addr, config, Transport::Stream)
    }

    /// A client whose connections go to `addr` over `transport`.
    pub(crate) fn over(addr: &str, config: RpcConfig, transport: Transport) -> Self {
        Self {
            inner: Arc::new(Inner {
                addr: addr.to_owned(),
                config,
                transport,
                connection: Reconnecting::default(),
            }),
        }
    }

    /// Calls a method that returns one value.
    ///
    /// # Errors
    /// The call's status: the server's error, `unavailable` when it cannot be reached or the
    /// connection drops, `deadline_exceeded` when the context's deadline passes.
    pub async fn unary<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<Resp, Status> {
        let bytes = self.call(method, ctx, request).await?;
        Codec::MsgPack
            .decode(&bytes)
            .map_err(|e| Status::internal(format!("the server's reply is not valid: {}", e.message())))
    }

    /// Calls a method that returns nothing (or a oneway one: done once the server accepted it).
    ///
    /// # Errors
    /// As [`RpcClient::unary`].
    pub async fn empty<Req: Serialize>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<(), Status> {
        self.call(method, ctx, request).await.map(drop)
    }

    async fn call<Req: Serialize>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<Bytes, Status> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let (conn, call) = self.start(method, ctx, request, Slot::Unary(reply_tx)).await?;
        let mut guard = CancelOnDrop { conn, call, armed: true };
        let reply = match ctx.remaining() {
            Some(left) => tokio::time::timeout(left, reply_rx).await.map_err(|_| deadline())?,
            None => reply_rx.await,
        };
        guard.disarm();
        reply.map_err(|_| Status::unavailable("the connection closed during the call"))?
    }

    /// Calls a method that streams values.
    ///
    /// # Errors
    /// As [`RpcClient::unary`] for the call itself; errors during the stream are its items.
    pub async fn stream<Req: Serialize, Item: DeserializeOwned + Send + 'static>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<Streaming<Item>, Status> {
        let (items_tx, mut items) = mpsc::channel(256);
        let cut = Cut::default();
        let (conn, call) = self.start(method, ctx, request, Slot::Stream(items_tx, cut.clone())).await?;
        let mut guard = CancelOnDrop { conn, call, armed: true };
        // The first message tells a failed call from a stream.
        let first = match ctx.remaining() {
            Some(left) => tokio::time::timeout(left, items.recv()).await.map_err(|_| deadline())?,
            None => items.recv().await,
        };
        let first = match first {
            Some(Err(status)) => {
                guard.disarm();
                return Err(status);
            }
            other => other,
        };
        let state = (Some(first), items, guard, cut);
        let stream = futures_util::stream::unfold(state, |(pending, mut items, mut guard, cut)| async move {
            let next = match pending {
                Some(first) => first,
                None => items.recv().await,
            };
            let item = match next {
                Some(Ok(bytes)) => Codec::MsgPack
                    .decode::<Item>(&bytes)
                    .map_err(|e| Status::internal(format!("a streamed item is not valid: {}", e.message()))),
                Some(Err(status)) => {
                    guard.disarm();
                    Err(status)
                }
                None => {
                    guard.disarm();
                    // Cut short (not complete): its consumer is told why, once.
                    let why = cut.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
                    match why {
                        Some(status) => Err(status),
                        None => return None,
                    }
                }
            };
            Some((item, (None, items, guard, cut)))
        });
        Ok(Box::pin(stream))
    }

    /// Registers a call and sends its request.
    async fn start<Req: Serialize>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
        slot: Slot,
    ) -> Result<(Arc<Conn>, u32), Status> {
        if ctx.is_expired() {
            return Err(Status::deadline_exceeded("the deadline passed before the call was sent"));
        }
        let conn = self.connection().await?;
        let call = conn.next.fetch_add(1, Ordering::Relaxed);
        let frame = request_frame(call, method, ctx, request)?;
        if frame.len() > self.inner.config.max_frame {
            return Err(Status::new(
                Code::PayloadTooLarge,
                format!("the request is larger than {} bytes", self.inner.config.max_frame),
            ));
        }
        if !conn.register(call, SlotBox(slot)) {
            return Err(Status::unavailable("the connection closed"));
        }
        if conn.tx.send(frame).await.is_err() {
            conn.slots().remove(&call);
            return Err(Status::unavailable("the connection closed"));
        }
        Ok((conn, call))
    }

    /// The open connection, or a new one; after failures, not before the backoff has passed.
    async fn connection(&self) -> Result<Arc<Conn>, Status> {
        self.inner.connection.get(&self.inner.addr, self.inner.config.max_backoff, || self.connect()).await
    }

    async fn connect(&self) -> Result<Arc<Conn>, Status> {
        let config = &self.inner.config;
        let addr = &self.inner.addr;
        match &self.inner.transport {
            Transport::Stream => {}
            #[cfg(feature = "socket")]
            Transport::WebSocket(socket) => {
                return crate::socket::binary::connect(addr, config, socket).await;
            }
        }
        let unreachable =
            |e: &dyn std::fmt::Display| Status::unavailable(format!("cannot reach {addr}: {e}"));
        #[cfg(unix)]
        if let Some(path) = addr.strip_prefix("unix:") {
            let stream = tokio::time::timeout(config.connect_timeout, tokio::net::UnixStream::connect(path))
                .await
                .map_err(|e| unreachable(&e))?
                .map_err(|e| unreachable(&e))?;
            return self.open(stream).await;
        }
        let stream = tokio::time::timeout(config.connect_timeout, tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|e| unreachable(&e))?
            .map_err(|e| unreachable(&e))?;
        let _ = stream.set_nodelay(true);
        self.open(stream).await
    }

    /// Handshakes on a fresh stream and starts its reader, writer and keepalive.
    async fn open<S>(&self, stream: S) -> Result<Arc<Conn>, Status>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let config = &self.inner.config;
        let addr = &self.inner.addr;
        let unreachable =
            |e: &dyn std::fmt::Display| Status::unavailable(format!("cannot reach {addr}: {e}"));
        let (mut reader, mut writer) = tokio::io::split(stream);
        writer.write_all(&HANDSHAKE).await.map_err(|e| unreachable(&e))?;
        let mut answer = [0u8; 8];
        tokio::time::timeout(config.handshake_timeout, reader.read_exact(&mut answer))
            .await
            .map_err(|e| unreachable(&e))?
            .map_err(|e| unreachable(&e))?;
        if answer[..4] != MAGIC || answer[4] != HANDSHAKE[4] {
            return Err(Status::unavailable(format!(
                "{addr} does not speak svcgen RPC version {}",
                HANDSHAKE[4]
            )));
        }
        let (conn, rx) = Conn::start(ByteFrames::new(reader, config.max_frame), config);
        tokio::spawn(write_frames(writer, rx));
        Ok(conn)
    }
}

impl Conn {
    /// A connection reading `frames`: its reader and keepalive tasks run; the frames to write
    /// come out of the receiver, for the transport's writer.
    pub(crate) fn start(
        frames: impl FrameSource + 'static,
        config: &RpcConfig,
    ) -> (Arc<Conn>, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel(1024);
        let conn = Arc::new(Conn {
            tx,
            calls: Mutex::default(),
            next: AtomicU32::new(1),
            open: AtomicBool::new(true),
        });
        tokio::spawn(read_frames(Arc::downgrade(&conn), frames, config.keepalive));
        tokio::spawn(keepalive(Arc::downgrade(&conn), config.keepalive));
        (conn, rx)
    }
}

/// The `Request` frame of a call made under `ctx`: its head straight from the Context (the
/// deadline as milliseconds left, at least 1; metadata that fits the format) and its arguments
/// encoded in place, in one buffer.
fn request_frame<Req: Serialize>(
    call: u32,
    method: &MethodDescriptor,
    ctx: &Context,
    request: &Req,
) -> Result<Bytes, Status> {
    let mut out = Vec::with_capacity(1024);
    let deadline_ms = ctx.remaining().map_or(0, |r| u32::try_from(r.as_millis()).unwrap_or(u32::MAX).max(1));
    let metadata: Vec<(&str, &str)> = ctx
        .metadata_iter()
        .filter(|(k, v)| u16::try_from(k.len()).is_ok() && u16::try_from(v.len()).is_ok())
        .collect();
    let strings = [method.service, method.name, ctx.correlation_id(), ctx.traceparent().unwrap_or_default()];
    let start = Frame::start_request(&mut out, call, strings, deadline_ms, &metadata);
    rmp_serde::encode::write_named(&mut out, request)
        .map_err(|e| Status::invalid_argument(format!("cannot encode the request: {e}")))?;
    Frame::finish(&mut out, start);
    Ok(Bytes::from(out))
}

fn deadline() -> Status {
    Status::deadline_exceeded("the deadline passed while waiting for the server")
}

async fn read_frames(conn: Weak<Conn>, mut frames: impl FrameSource, keepalive: Duration) {
    // Nothing heard for three keepalive periods: the server is gone. One timer for the
    // connection, moved on when it fires (not a timeout armed for every read).
    let limit = keepalive * 3;
    let mut heard = tokio::time::Instant::now();
    let idle = tokio::time::sleep(limit);
    tokio::pin!(idle);
    let why = loop {
        tokio::select! {
            frame = frames.next_frame() => match frame {
                Ok(Some(frame)) => {
                    heard = tokio::time::Instant::now();
                    let Some(c) = conn.upgrade() else { return };
                    if let Err(status) = c.deliver(frame) {
                        break status;
                    }
                }
                Ok(None) => break Status::unavailable("the connection to the server was lost"),
                Err(error) => break Status::unavailable(format!("protocol error: {error}")),
            },
            () = &mut idle => {
                if tokio::time::Instant::now() < heard + limit {
                    idle.as_mut().reset(heard + limit);
                    continue;
                }
                break Status::unavailable("the connection to the server was lost");
            }
        }
    };
    if let Some(c) = conn.upgrade() {
        c.close(&why);
    }
}

async fn keepalive(conn: Weak<Conn>, every: Duration) {
    let mut nonce = 0u32;
    loop {
        tokio::time::sleep(every).await;
        let Some(c) = conn.upgrade() else { return };
        if !c.open.load(Ordering::Acquire) {
            return;
        }
        nonce = nonce.wrapping_add(1);
        let _ = c.tx.try_send(Frame::Ping { nonce }.to_bytes());
    }
}
