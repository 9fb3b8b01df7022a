//! The socket client: one WebSocket, many calls in flight, subscriptions, reconnection with
//! jittered backoff.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

use futures_util::StreamExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::local::{Local, Served, serve_request};
use super::shared::{Firing, Heard, Keepalive, SharedSocket};
use super::wire::{self, CANCEL, EVENT, Incoming, STREAM_END, STREAM_ERROR, STREAM_ITEM, SUBSCRIBE};
use super::{SUBPROTOCOL, SocketConfig};
use crate::context::Context;
use crate::descriptor::MethodDescriptor;
use crate::dispatch::Streaming;
use crate::rpc::reconnect::{Open, Reconnecting, backoff};
use crate::status::{Code, Status};

/// Calls services over the socket binding. Cheap to clone: clones share one connection.
#[derive(Clone, Debug)]
pub struct SocketClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    url: String,
    config: SocketConfig,
    /// What this client serves to the server (calls in the other direction).
    local: Local,
    /// The connection, made again after it closes.
    connection: Reconnecting<Conn>,
}

type Items = mpsc::Sender<Result<Value, Status>>;

/// Why a stream ended early when its queue could not take the news (see the RPC client).
type Cut = Arc<Mutex<Option<Status>>>;

/// Where the answer to a call goes.
enum Pending {
    /// The text of the response's `result`.
    Unary(oneshot::Sender<Result<ResultText, Status>>),
    Stream {
        started: oneshot::Sender<Result<String, Status>>,
        items: Items,
        cut: Cut,
    },
}

#[derive(Default)]
struct Calls {
    /// By request id (ours, one after another: a fast hash is safe).
    pending: HashMap<u64, Pending, foldhash::fast::RandomState>,
    streams: HashMap<String, (Items, Cut)>,
}

/// The text of a response's `result`: the received message (shared, not copied) and where in
/// it the result is, so it is decoded as text (no second UTF-8 check).
struct ResultText {
    message: Utf8Bytes,
    range: std::ops::Range<usize>,
}

impl ResultText {
    /// `result`, a member read from `message`.
    fn within(message: &Utf8Bytes, result: &RawValue) -> Self {
        let start = (result.get().as_ptr() as usize).saturating_sub(message.as_str().as_ptr() as usize);
        Self { message: message.clone(), range: start..start + result.get().len() }
    }

    fn as_str(&self) -> &str {
        self.message.as_str().get(self.range.clone()).unwrap_or("null")
    }
}

/// How a call's response came to its caller.
enum Answer {
    /// The text of its `result`, to decode.
    Text(ResultText),
    /// Decoded already, by the caller's decoder, as it was read (`Conn::read`).
    Decoded,
}

/// The call a caller waits for, and how it decodes a result: the decoder says whether the text
/// was a valid reply (and keeps the value).
type Mine<'a> = (u64, &'a mut dyn FnMut(&str) -> bool);

struct Conn {
    /// The writer task's queue: for messages sent from where no one can wait (cancels, pings,
    /// answers to the server's calls) and requests made while the socket is busy.
    tx: mpsc::Sender<Message>,
    /// The socket, written by the callers and the writer task (one at a time), read by a caller
    /// while it waits for its response (as a plain WebSocket client reads its own), by the
    /// reader task when no caller is reading.
    socket: Arc<SharedSocket<MaybeTlsStream<TcpStream>, Reader>>,
    /// The services this client exposes, and the server's calls of them running now.
    local: Local,
    served: Arc<Served>,
    calls: Mutex<Calls>,
    next: AtomicU64,
    open: AtomicBool,
}

/// Who reads the socket. Whoever reads a message routes it (`Conn::deliver`), so a response
/// read by another than its caller goes to the caller through its `oneshot`.
struct Reader {
    /// The reader task's waker: woken when no one is left to be woken for the next message
    /// ([`Armed`]), so that messages that come while no caller waits are read by the task.
    task: Option<Waker>,
    /// Who the next message wakes.
    armed: Armed,
    /// When the server was last heard from.
    heard: Heard,
}

/// Who the next message wakes: the last reader whose read found nothing (tokio-tungstenite keeps
/// one read waker, and tokio registers it when a read finds nothing).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Armed {
    /// No one: the last read returned a message and nothing was read since (or the caller that
    /// would have been woken is gone). The reader task must read.
    Nobody,
    /// The reader task.
    Reader,
    /// The caller of this call, which reads while it waits for its response; the reader task
    /// leaves the socket to it.
    Caller(u64),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("open", &self.open).finish_non_exhaustive()
    }
}

fn end_stream(items: &Items, cut: &Cut, status: Status) {
    if let Err(mpsc::error::TrySendError::Full(Err(status))) = items.try_send(Err(status)) {
        *cut.lock().unwrap_or_else(PoisonError::into_inner) = Some(status);
    }
}

impl Open for Conn {
    fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }
}

impl Conn {
    fn calls(&self) -> MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads and routes every message that has arrived, `cx` to be woken for the next one.
    /// `Ready(Some(outcome))` when the response to call `mine` was read (it is not routed);
    /// `Ready(None)` when the connection ended (every call in flight failed with the reason).
    ///
    /// A response to `mine` written as our server writes one (`wire::plain_response`) is
    /// decoded in one pass by its decoder, the message not read as an envelope first; when the
    /// decoder refuses it (a result of another type, or a message that is not that one object),
    /// it is read as any other message.
    fn read(
        &self,
        cx: &mut std::task::Context<'_>,
        mut mine: Option<Mine<'_>>,
    ) -> Poll<Option<Result<Answer, Status>>> {
        // Held while a message is routed, so that messages are routed in the order they came.
        let mut socket = self.socket.lock();
        if mine.is_none() {
            // The reader task: woken by callers (`stop_reading`) and by the socket.
            if !socket.extra.task.as_ref().is_some_and(|task| task.will_wake(cx.waker())) {
                socket.extra.task = Some(cx.waker().clone());
            }
            // It leaves the socket to a caller the next message wakes.
            if matches!(socket.extra.armed, Armed::Caller(_)) && self.open.load(Ordering::Acquire) {
                return Poll::Pending;
            }
        }
        loop {
            if !self.open.load(Ordering::Acquire) {
                return Poll::Ready(None);
            }
            let Poll::Ready(message) = socket.poll_next(cx) else {
                socket.extra.armed = mine.as_ref().map_or(Armed::Reader, |(n, _)| Armed::Caller(*n));
                return Poll::Pending;
            };
            socket.extra.heard.message();
            let why = match message {
                Some(Ok(Message::Text(text))) => {
                    if let Some((n, decode)) = mine.as_mut()
                        && wire::plain_response(&text).is_some_and(|(id, result)| id == *n && decode(result))
                        && self.calls().pending.remove(n).is_some()
                    {
                        socket.extra.armed = Armed::Nobody;
                        return Poll::Ready(Some(Ok(Answer::Decoded)));
                    }
                    match self.deliver(&text, mine.as_ref().map(|(n, _)| *n)) {
                        Some(outcome) => {
                            socket.extra.armed = Armed::Nobody;
                            return Poll::Ready(Some(outcome.map(Answer::Text)));
                        }
                        None => continue,
                    }
                }
                Some(Ok(Message::Close(Some(f)))) => {
                    let code = u16::from(f.code);
                    format!("the server closed the connection ({code}: {})", f.reason)
                }
                Some(Ok(Message::Close(None))) => "the server closed the connection".to_owned(),
                Some(Ok(_)) => continue,
                Some(Err(e)) => format!("the connection to the server was lost: {e}"),
                None => "the connection to the server was lost".to_owned(),
            };
            self.close(&Status::unavailable(why));
            // The reader task ends when it sees the connection closed.
            if let Some(task) = &socket.extra.task {
                task.wake_by_ref();
            }
            return Poll::Ready(None);
        }
    }

    /// Call `n` stops reading. When the next message would wake no one (its read returned its
    /// response), or would wake it, now gone, the reader task is woken to read. Its read attempt
    /// comes after the caller has its answer, not on the caller's way back; and when another
    /// call has started reading first, the task leaves the socket to it.
    fn stop_reading(&self, n: u64) {
        let mut socket = self.socket.lock();
        if matches!(socket.extra.armed, Armed::Nobody) || socket.extra.armed == Armed::Caller(n) {
            socket.extra.armed = Armed::Nobody;
            if let Some(task) = &socket.extra.task {
                task.wake_by_ref();
            }
        }
    }

    fn cancel(&self, params: Value) {
        let text = wire::notification_text(CANCEL, params);
        let _ = self.tx.try_send(Message::Text(text.into()));
    }

    /// Routes one message from the server. A response's `result` is handed over as its text,
    /// decoded by the caller straight into the reply type: returned when it answers call
    /// `mine` (the caller that read it), sent to its caller otherwise.
    fn deliver(&self, text: &Utf8Bytes, mine: Option<u64>) -> Option<Result<ResultText, Status>> {
        let Ok(Incoming::Object(envelope)) = Incoming::parse(text.as_str()) else {
            tracing::debug!("ignored a socket message that is not a JSON-RPC object");
            return None;
        };
        if let Some(method) = envelope.method.and_then(wire::raw_str) {
            let params = envelope.params.map_or(Value::Null, wire::value_of);
            let sub = params.get("subscription").and_then(Value::as_str).unwrap_or_default();
            match &*method {
                STREAM_ITEM | EVENT => {
                    let member = if method == EVENT { "event" } else { "item" };
                    let item = params.get(member).cloned().unwrap_or(Value::Null);
                    let mut calls = self.calls();
                    match calls.streams.get(sub) {
                        Some((items, cut)) => {
                            if items.try_send(Ok(item)).is_err() {
                                // The consumer fell behind (or is gone): cut this stream only.
                                *cut.lock().unwrap_or_else(PoisonError::into_inner) = Some(Status::new(
                                    Code::ResourceExhausted,
                                    "the stream was cut: its consumer fell behind",
                                ));
                                calls.streams.remove(sub);
                                self.cancel(serde_json::json!({ "subscription": sub }));
                            }
                        }
                        // Nobody reads it (its caller left before it started): stop it.
                        None => self.cancel(serde_json::json!({ "subscription": sub })),
                    }
                }
                STREAM_END => {
                    self.calls().streams.remove(sub);
                }
                STREAM_ERROR => {
                    if let Some((items, cut)) = self.calls().streams.remove(sub) {
                        let error = params.get("error").cloned().unwrap_or(Value::Null);
                        end_stream(&items, &cut, wire::status_of_error(&error));
                    }
                }
                CANCEL => self.served.cancel(&params),
                // The server calls a method this client exposes.
                _ => serve_request(&self.local, &self.served, &self.tx, envelope.id, &method, params),
            }
            return None;
        }
        let n = envelope.id.and_then(|id| id.get().parse::<u64>().ok())?;
        let outcome = match (envelope.result, envelope.error) {
            (_, Some(error)) => Err(wire::status_of_error(&wire::value_of(error.get()))),
            (Some(result), None) => Ok(ResultText::within(text, result)),
            (None, None) => Err(Status::internal("a response without `result` or `error`")),
        };
        let mut calls = self.calls();
        match calls.pending.remove(&n) {
            Some(Pending::Unary(_)) if mine == Some(n) => return Some(outcome),
            Some(Pending::Unary(reply)) => {
                let _ = reply.send(outcome);
            }
            Some(Pending::Stream { started, items, cut }) => {
                let sub = outcome.and_then(|result| {
                    #[derive(serde::Deserialize)]
                    struct Started {
                        subscription: String,
                    }
                    serde_json::from_str::<Started>(result.as_str())
                        .map(|started| started.subscription)
                        .map_err(|_| Status::internal("a stream call was answered without a subscription"))
                });
                if let Ok(sub) = &sub {
                    calls.streams.insert(sub.clone(), (items, cut));
                }
                let _ = started.send(sub);
            }
            None => {} // late: the caller gave up already
        }
        None
    }

    /// The connection is gone: every call in flight fails with `status`.
    fn close(&self, status: &Status) {
        self.open.store(false, Ordering::Release);
        let mut calls = self.calls();
        for (_, pending) in calls.pending.drain() {
            match pending {
                Pending::Unary(reply) => {
                    let _ = reply.send(Err(status.clone()));
                }
                Pending::Stream { started, .. } => {
                    let _ = started.send(Err(status.clone()));
                }
            }
        }
        for (_, (items, cut)) in calls.streams.drain() {
            end_stream(&items, &cut, status.clone());
        }
    }
}

/// What a dropped call or stream cancels on the server.
enum Target {
    Call(u64),
    Subscription(String),
}

struct CancelOnDrop {
    conn: Arc<Conn>,
    target: Target,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        match &self.target {
            Target::Call(n) => {
                if self.conn.calls().pending.remove(n).is_some() {
                    self.conn.cancel(serde_json::json!({ "id": n }));
                }
            }
            Target::Subscription(sub) => {
                if self.conn.calls().streams.remove(sub).is_some() {
                    self.conn.cancel(serde_json::json!({ "subscription": sub }));
                }
            }
        }
    }
}

/// An event pushed by the server: a `CloudEvents` event (JSON format).
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct SocketEvent {
    /// Its id, unique per source.
    pub id: String,
    /// Where it happened (`shop.catalog.catalog`).
    #[serde(default)]
    pub source: String,
    /// What happened: the subject (`shop.catalog.catalog.price_changed`).
    #[serde(rename = "type", default)]
    pub event_type: String,
    /// When it was published (RFC 3339).
    #[serde(default)]
    pub time: Option<String>,
    /// The correlation id of the exchange that published it.
    #[serde(rename = "correlationid", default)]
    pub correlation_id: Option<String>,
    /// The W3C trace context it was published under.
    #[serde(default)]
    pub traceparent: Option<String>,
    /// The event's fields.
    #[serde(default)]
    pub data: Value,
}

/// The events of a subscription ([`SocketClient::subscribe`]).
pub type EventStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<SocketEvent, Status>> + Send>>;

/// A subscription that subscribes again after the connection dropped.
struct Resubscribe {
    client: SocketClient,
    subject: String,
    current: Option<Streaming<SocketEvent>>,
    /// Attempts that failed in a row.
    failures: u32,
}

impl SocketClient {
    /// A client of the socket server at `url` (`ws://host:port/ws`); it connects on the first
    /// call.
    ///
    /// # Errors
    /// When the URL is not a `ws://` or `wss://` URL (`wss://` with the `tls` feature).
    pub fn new(url: &str) -> Result<Self, Status> {
        Self::with_config(url, SocketConfig::default())
    }

    /// A client with explicit limits and timings.
    ///
    /// # Errors
    /// As [`SocketClient::new`].
    pub fn with_config(url: &str, config: SocketConfig) -> Result<Self, Status> {
        super::check_url(url)?;
        Ok(Self {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                config,
                connection: Reconnecting::default(),
                local: Local::default(),
            }),
        })
    }

    /// Serves `service` (a generated `…Server`) to the server on this client's connections: the
    /// server calls it with a [`SocketPeer`](super::SocketPeer) (calls in both directions on one
    /// connection). Unary, empty and oneway methods; not server streams.
    pub fn serve(&self, service: impl crate::Dispatch) -> &Self {
        let d = service.descriptor();
        let key = format!("{}.{}", d.package, d.name);
        self.inner.local.0.write().unwrap_or_else(PoisonError::into_inner).insert(key, Arc::new(service));
        self
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
        let mut decoded = None;
        let decode = |text: &str| {
            decoded = serde_json::from_str::<Resp>(text).ok();
            decoded.is_some()
        };
        match self.call(method, ctx, request, decode).await? {
            Answer::Decoded => decoded.ok_or_else(|| Status::internal("the server's reply was lost")),
            Answer::Text(result) => serde_json::from_str(result.as_str())
                .map_err(|e| Status::internal(format!("the server's reply is not valid: {e}"))),
        }
    }

    /// Calls a method that returns nothing (or a oneway one: done once the server accepted it).
    ///
    /// # Errors
    /// As [`SocketClient::unary`].
    pub async fn empty<Req: Serialize>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<(), Status> {
        self.call(method, ctx, request, |_: &str| false).await.map(drop)
    }

    /// Makes a call; `decode` may decode its result as it is read (see `Conn::read`).
    async fn call<Req: Serialize>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
        mut decode: impl FnMut(&str) -> bool,
    ) -> Result<Answer, Status> {
        let (reply_tx, mut reply_rx) = oneshot::channel();
        let (conn, n) = self.start(wire::method_name(method), ctx, request, Pending::Unary(reply_tx)).await?;
        let mut guard = CancelOnDrop { conn: conn.clone(), target: Target::Call(n), armed: true };
        let _reading = Reading(&conn, n);
        // The caller reads the socket itself while it waits; a response read by someone else
        // (another caller, the reader task) comes through `reply_rx`.
        let closed = || Status::unavailable("the connection closed during the call");
        let wait = std::future::poll_fn(|cx| {
            if let Poll::Ready(reply) = std::pin::Pin::new(&mut reply_rx).poll(cx) {
                return Poll::Ready(reply.unwrap_or_else(|_| Err(closed())).map(Answer::Text));
            }
            match conn.read(cx, Some((n, &mut decode))) {
                Poll::Ready(Some(outcome)) => Poll::Ready(outcome),
                // The connection ended: `close` failed this call through `reply_rx`, or is about to.
                Poll::Ready(None) => Poll::Ready(match std::pin::Pin::new(&mut reply_rx).poll(cx) {
                    Poll::Ready(Ok(reply)) => reply.map(Answer::Text),
                    _ => Err(closed()),
                }),
                Poll::Pending => Poll::Pending,
            }
        });
        let reply = match ctx.remaining() {
            Some(left) => tokio::time::timeout(left, wait).await.map_err(|_| deadline())?,
            None => wait.await,
        };
        guard.armed = false;
        reply
    }

    /// Calls a method that streams values: a subscription, cancelled when the stream is dropped.
    ///
    /// # Errors
    /// As [`SocketClient::unary`] for the call itself; errors during the stream are its items.
    pub async fn stream<Req: Serialize, Item: DeserializeOwned + Send + 'static>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<Streaming<Item>, Status> {
        self.subscription(wire::method_name(method), ctx, request).await
    }

    /// The events of type `T` (a generated event struct) the server pushes
    /// (`SocketServer::events`): every one published while the subscription exists, as a
    /// stream of typed [`Event`](crate::queue::events::Event)s. When the connection drops, the
    /// stream reconnects and subscribes again with jittered backoff (events published in
    /// between are missed); it ends when dropped, or with an error the server sent. An event
    /// whose data is no valid `T` is logged and skipped.
    ///
    /// # Errors
    /// The subscription's status: `unimplemented` when the server pushes no such event,
    /// `unavailable` when it cannot be reached.
    pub async fn events<T: crate::queue::events::EventData>(
        &self,
    ) -> Result<crate::queue::events::EventStream<T>, Status> {
        let events = self.subscribe(T::DESCRIPTOR.subject).await?;
        Ok(Box::pin(futures_util::StreamExt::filter_map(events, |event| async move {
            match event {
                Ok(event) => typed(event),
                Err(status) => Some(Err(status)),
            }
        })))
    }

    /// The events on `subject` (`{package}.{service}.{event}`), untyped: as
    /// [`Self::events`], for a subject no generated struct describes.
    ///
    /// # Errors
    /// As [`Self::events`].
    pub async fn subscribe(&self, subject: &str) -> Result<EventStream, Status> {
        let first = self.subscribe_once(subject).await?;
        let state = Resubscribe {
            client: self.clone(),
            subject: subject.to_owned(),
            current: Some(first),
            failures: 0,
        };
        Ok(Box::pin(futures_util::stream::unfold(Some(state), |state| async move {
            let mut state = state?;
            loop {
                if let Some(current) = state.current.as_mut() {
                    match current.next().await {
                        Some(Ok(event)) => return Some((Ok(event), Some(state))),
                        Some(Err(status)) if status.code() == Code::Unavailable => state.current = None,
                        Some(Err(status)) => return Some((Err(status), None)),
                        None => return None,
                    }
                } else {
                    tokio::time::sleep(backoff(state.failures, state.client.inner.config.max_backoff)).await;
                    match state.client.subscribe_once(&state.subject).await {
                        Ok(stream) => (state.current, state.failures) = (Some(stream), 0),
                        Err(status) if status.code() == Code::Unavailable => {
                            state.failures = state.failures.saturating_add(1);
                        }
                        Err(status) => return Some((Err(status), None)),
                    }
                }
            }
        })))
    }

    async fn subscribe_once(&self, subject: &str) -> Result<Streaming<SocketEvent>, Status> {
        #[derive(Serialize)]
        struct Subscribe<'a> {
            event: &'a str,
        }
        self.subscription(SUBSCRIBE.to_owned(), &Context::new(), &Subscribe { event: subject }).await
    }

    /// Starts a subscription (a server stream or an event) and reads its notifications.
    async fn subscription<Req: Serialize, Item: DeserializeOwned + Send + 'static>(
        &self,
        method: String,
        ctx: &Context,
        request: &Req,
    ) -> Result<Streaming<Item>, Status> {
        let (started_tx, started_rx) = oneshot::channel();
        let (items_tx, items) = mpsc::channel(256);
        let cut = Cut::default();
        let pending = Pending::Stream { started: started_tx, items: items_tx, cut: cut.clone() };
        let (conn, n) = self.start(method, ctx, request, pending).await?;
        let mut guard = CancelOnDrop { conn, target: Target::Call(n), armed: true };
        let started = match ctx.remaining() {
            Some(left) => tokio::time::timeout(left, started_rx).await.map_err(|_| deadline())?,
            None => started_rx.await,
        };
        let sub = match started {
            Ok(Ok(sub)) => sub,
            Ok(Err(status)) => {
                guard.armed = false;
                return Err(status);
            }
            Err(_) => {
                guard.armed = false;
                return Err(Status::unavailable("the connection closed during the call"));
            }
        };
        guard.target = Target::Subscription(sub);
        let stream =
            futures_util::stream::unfold((items, guard, cut), |(mut items, mut guard, cut)| async move {
                let item = match items.recv().await {
                    Some(Ok(value)) => serde_json::from_value::<Item>(value)
                        .map_err(|e| Status::internal(format!("a streamed item is not valid: {e}"))),
                    Some(Err(status)) => {
                        guard.armed = false;
                        Err(status)
                    }
                    None => {
                        guard.armed = false;
                        let why = cut.lock().unwrap_or_else(PoisonError::into_inner).take();
                        match why {
                            Some(status) => Err(status),
                            None => return None,
                        }
                    }
                };
                Some((item, (items, guard, cut)))
            });
        Ok(Box::pin(stream))
    }

    /// Registers a call and sends its request.
    async fn start<Req: Serialize>(
        &self,
        method: String,
        ctx: &Context,
        request: &Req,
        pending: Pending,
    ) -> Result<(Arc<Conn>, u64), Status> {
        if ctx.is_expired() {
            return Err(Status::deadline_exceeded("the deadline passed before the call was sent"));
        }
        let conn = self.connection().await?;
        let n = conn.next.fetch_add(1, Ordering::Relaxed);
        let text = wire::request_text(n, &method, request, ctx)?;
        if text.len() > self.inner.config.max_message {
            return Err(Status::new(
                Code::PayloadTooLarge,
                format!("the request is larger than {} bytes", self.inner.config.max_message),
            ));
        }
        {
            let mut calls = conn.calls();
            if !conn.open.load(Ordering::Acquire) {
                return Err(Status::unavailable("the connection closed"));
            }
            calls.pending.insert(n, pending);
        }
        // Written by the caller itself when the socket is free (no task hop, as a plain
        // WebSocket client would); through the writer task when another write is under way.
        let message = Message::Text(text.into());
        let sent = match conn.socket.try_turn() {
            Some(mut turn) => turn.send(message).await.is_ok(),
            None => conn.tx.send(message).await.is_ok(),
        };
        if !sent {
            conn.calls().pending.remove(&n);
            return Err(Status::unavailable("the connection closed"));
        }
        Ok((conn, n))
    }

    /// The open connection, or a new one; after failures, not before the backoff has passed.
    async fn connection(&self) -> Result<Arc<Conn>, Status> {
        self.inner.connection.get(&self.inner.url, self.inner.config.max_backoff, || self.connect()).await
    }

    async fn connect(&self) -> Result<Arc<Conn>, Status> {
        let config = &self.inner.config;
        let url = &self.inner.url;
        let socket = open_socket(url, SUBPROTOCOL, config).await?;
        let reader =
            Reader { task: None, armed: Armed::Nobody, heard: Heard::new(tokio::time::Instant::now()) };
        let socket = Arc::new(SharedSocket::new(socket, reader));
        let (tx, mut rx) = mpsc::channel::<Message>(1024);
        let conn = Arc::new(Conn {
            tx,
            socket: socket.clone(),
            local: self.inner.local.clone(),
            served: Arc::new(Served::new(config.max_in_flight)),
            calls: Mutex::default(),
            next: AtomicU64::new(1),
            open: AtomicBool::new(true),
        });
        tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                if socket.turn().await.send(message).await.is_err() {
                    return;
                }
            }
            let _ = socket.turn().await.close().await;
        });
        tokio::spawn(read_messages(Arc::downgrade(&conn), config.keepalive));
        Ok(conn)
    }
}

/// A WebSocket connected to `url`, the server having selected `protocol`, as `config` says: the
/// handshake within its `connect_timeout`, messages up to `max_message` bytes either way,
/// `read_buffer` bytes read at a time, TLS for `wss://` (the `tls` feature).
pub(super) async fn open_socket(
    url: &str,
    protocol: &'static str,
    config: &SocketConfig,
) -> Result<Socket, Status> {
    let unreachable = |e: &dyn std::fmt::Display| Status::unavailable(format!("cannot reach {url}: {e}"));
    let mut request = url.into_client_request().map_err(|e| unreachable(&e))?;
    request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static(protocol));
    let mut ws_config = WebSocketConfig::default();
    ws_config.max_message_size = Some(config.max_message);
    ws_config.max_frame_size = Some(config.max_message);
    ws_config.read_buffer_size = config.read_buffer;
    #[cfg(feature = "tls")]
    let connecting = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(ws_config),
        true,
        super::tls::connector(url, config)?,
    );
    #[cfg(not(feature = "tls"))]
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(ws_config), true);
    let (socket, response) = tokio::time::timeout(config.connect_timeout, connecting)
        .await
        .map_err(|e| unreachable(&e))?
        .map_err(|e| unreachable(&e))?;
    let selected = response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok());
    if selected != Some(protocol) {
        return Err(Status::unavailable(format!("{url} does not serve the subprotocol `{protocol}`")));
    }
    Ok(socket)
}

/// A client's WebSocket.
pub(super) type Socket = tokio_tungstenite::WebSocketStream<MaybeTlsStream<TcpStream>>;

fn deadline() -> Status {
    Status::deadline_exceeded("the deadline passed while waiting for the server")
}

/// Call `.1`, which reads the socket while it waits for its response, until it is done or
/// dropped ([`Conn::stop_reading`]).
struct Reading<'a>(&'a Conn, u64);

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.0.stop_reading(self.1);
    }
}

/// Reads the server's messages while no caller does; pings a silent server and gives up on a
/// dead one.
async fn read_messages(conn: Weak<Conn>, keepalive: Duration) {
    let mut keepalive = Keepalive::new(keepalive);
    loop {
        // Woken after most calls (see `Conn::stop_reading`), mostly to find the next caller
        // reading already: one lock, and the timer polled only when it may have fired.
        let fired = std::future::poll_fn(|cx| {
            if keepalive.poll_fired(cx) {
                return Poll::Ready(true);
            }
            let Some(c) = conn.upgrade() else { return Poll::Ready(false) };
            c.read(cx, None).map(|_| false)
        })
        .await;
        // The connection ended (and `read` failed its calls), or the client is gone.
        let Some(c) = conn.upgrade().filter(|_| fired) else { return };
        let firing = keepalive.fired(&mut c.socket.lock().extra.heard);
        match firing {
            Firing::Gone => return c.close(&Status::unavailable("the server stopped answering")),
            Firing::Ping => {
                let _ = c.tx.try_send(Message::Ping(bytes::Bytes::new()));
            }
            Firing::Heard => {}
        }
    }
}

/// A pushed event as `T`, or `None` (logged) when its data is no valid `T`.
fn typed<T: crate::queue::events::EventData>(
    event: SocketEvent,
) -> Option<Result<crate::queue::events::Event<T>, Status>> {
    let correlation_id = event.correlation_id.clone().unwrap_or_default();
    let data = serde_json::from_value::<T>(event.data)
        .map_err(|e| e.to_string())
        .and_then(|data| crate::validate::validate(&data).map(|()| data).map_err(|s| s.message().to_owned()));
    match data {
        Ok(data) => Some(Ok(crate::queue::events::Event {
            id: event.id,
            source: event.source,
            event_type: event.event_type,
            time: event.time,
            attempt: 1,
            context: Context::from_headers(event.correlation_id.as_deref(), event.traceparent.as_deref()),
            data,
        })),
        Err(reason) => {
            tracing::warn!(%correlation_id, subject = T::DESCRIPTOR.subject, %reason, "a pushed event is no valid event: skipped");
            None
        }
    }
}
