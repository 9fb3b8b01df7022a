//! The queue client: request/reply over any [`Broker`], calls matched by id on one inbox.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};

use super::{
    Broker, HeaderText, Inbox, Message, QueueConfig, ReplyKind, codec_of, content_type, context_headers,
    header, reply_address,
};
use crate::context::Context;
use crate::descriptor::MethodDescriptor;
use crate::dispatch::{Codec, Streaming};
use crate::status::{Code, Problem, Status};

/// How many stream items wait for a slow consumer before its stream is cut.
const STREAM_BUFFER: usize = 256;

/// Calls services through a broker. Cheap to clone: clones share one reply inbox.
#[derive(Clone, Debug)]
pub struct QueueClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    broker: Arc<dyn Broker>,
    config: QueueConfig,
    replies: tokio::sync::Mutex<Option<Arc<Replies>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(replies) = self.replies.get_mut() {
            replies.close();
        }
    }
}

/// Where the answer to a call goes.
enum Slot {
    Unary(oneshot::Sender<Result<Message, Status>>),
    Stream(mpsc::Sender<Result<Message, Status>>),
}

/// One inbox and the calls waiting on it.
struct Replies {
    address: String,
    per_call: bool,
    calls: Mutex<HashMap<u64, Slot>>,
    next: AtomicU64,
    open: AtomicBool,
    reader: Mutex<Option<tokio::task::AbortHandle>>,
}

impl std::fmt::Debug for Replies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replies").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Replies {
    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Slot>> {
        self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn reply_to(&self, call: u64) -> String {
        reply_address(&self.address, self.per_call, call)
    }

    /// Registers a call; `None` if the inbox is closing.
    fn register(&self, slot: Slot) -> Option<u64> {
        let mut slots = self.slots();
        if !self.open.load(Ordering::Acquire) {
            return None;
        }
        let call = self.next.fetch_add(1, Ordering::Relaxed);
        slots.insert(call, slot);
        Some(call)
    }

    /// Routes one reply to its call; late and duplicate replies find no call and are dropped.
    fn deliver(&self, message: Message) {
        let call = match message.header(header::CALL) {
            Some(id) => id.parse::<u64>().ok(),
            None if self.per_call => message.subject.rsplit('.').next().and_then(|id| id.parse().ok()),
            None => None,
        };
        let Some(call) = call else {
            tracing::debug!(subject = %message.subject, "a reply without a call id was dropped");
            return;
        };
        let kind = kind_of(&message);
        let mut slots = self.slots();
        let Some(slot) = slots.get(&call) else {
            tracing::debug!(call, "a late or duplicate reply was dropped");
            return;
        };
        match (slot, kind) {
            (Slot::Stream(items), Some(ReplyKind::Item)) => {
                if items.try_send(Ok(message)).is_err() {
                    let cut =
                        Status::new(Code::ResourceExhausted, "the stream was cut: its consumer fell behind");
                    if let Some(Slot::Stream(items)) = slots.remove(&call) {
                        let _ = items.try_send(Err(cut));
                    }
                }
            }
            (Slot::Stream(_), Some(ReplyKind::End)) => {
                slots.remove(&call);
            }
            _ => {
                let result = outcome(message, kind);
                match slots.remove(&call) {
                    Some(Slot::Unary(tx)) => {
                        let _ = tx.send(result);
                    }
                    Some(Slot::Stream(items)) => {
                        let _ = items.try_send(result);
                    }
                    None => {}
                }
            }
        }
    }

    /// Fails every call in flight: the inbox is gone.
    fn close(&self) {
        let slots: Vec<Slot> = {
            let mut slots = self.slots();
            self.open.store(false, Ordering::Release);
            slots.drain().map(|(_, slot)| slot).collect()
        };
        for slot in slots {
            let status = Status::unavailable("the connection to the broker was lost during the call");
            match slot {
                Slot::Unary(tx) => {
                    let _ = tx.send(Err(status));
                }
                Slot::Stream(items) => {
                    let _ = items.try_send(Err(status));
                }
            }
        }
        if let Some(reader) = self.reader.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            reader.abort();
        }
    }
}

/// The kind of a reply (`svcgen-kind`; an error when its body was lost).
fn kind_of(message: &Message) -> Option<ReplyKind> {
    match message.header(header::BODY_ERROR) {
        // The reply's body was lost: the call fails as an error reply would.
        Some(_) => Some(ReplyKind::Error),
        None => message.header(header::KIND).and_then(ReplyKind::parse),
    }
}

/// What a unary call's reply of `kind` makes of it.
fn outcome(message: Message, kind: Option<ReplyKind>) -> Result<Message, Status> {
    match kind {
        Some(ReplyKind::Reply) => Ok(message),
        Some(ReplyKind::Error) => Err(status_of(&message)),
        Some(ReplyKind::NoResponders) => {
            Err(Status::unavailable(format!("no responders on `{}`", message.subject)))
        }
        Some(kind) => Err(Status::internal(format!("an unexpected `{}` reply", kind.as_str()))),
        None => Err(Status::internal("a reply without a valid `svcgen-kind` header")),
    }
}

/// The status an error reply carries (a problem document in JSON).
fn status_of(message: &Message) -> Status {
    if let Some(why) = message.header(header::BODY_ERROR) {
        return Status::unavailable(format!("the reply's body could not be fetched: {why}"));
    }
    serde_json::from_slice::<Problem>(&message.body).map_or_else(
        |e| Status::internal(format!("the server's error is not readable: {e}")),
        Status::from_problem,
    )
}

/// Forgets a call whose caller stopped waiting, so its late reply is dropped.
struct Forget {
    replies: Arc<Replies>,
    call: u64,
}

impl Drop for Forget {
    fn drop(&mut self) {
        self.replies.slots().remove(&self.call);
    }
}

/// A stream's call: dropped before the stream ended, it tells the server that runs it to stop
/// (at the address the items name, `svcgen-cancel-to`), so a long or endless stream does not go
/// on for nobody (on NATS, replies to a caller that stopped listening are not refused).
struct StreamCall {
    forget: Forget,
    broker: Arc<dyn Broker>,
    cancel_to: Option<String>,
    ended: bool,
}

impl StreamCall {
    /// The stream ended (or failed): nothing to cancel.
    fn end(&mut self) {
        self.ended = true;
    }
}

impl Drop for StreamCall {
    fn drop(&mut self) {
        let Some(cancel_to) = self.cancel_to.take().filter(|_| !self.ended) else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let call = self.forget.call;
        let cancel = Message {
            subject: cancel_to,
            reply_to: Some(self.forget.replies.reply_to(call)),
            headers: vec![
                (header::KIND.into(), ReplyKind::Cancel.as_str().into()),
                (header::CALL.into(), call.to_string().into()),
            ],
            body: bytes::Bytes::new(),
        };
        let broker = self.broker.clone();
        runtime.spawn(async move {
            if let Err(status) = broker.reply(cancel).await {
                tracing::debug!(%status, "a stream's cancel was not sent (its server is gone)");
            }
        });
    }
}

fn deadline(after: std::time::Duration) -> Status {
    Status::deadline_exceeded(format!("no reply within {} ms", after.as_millis()))
}

impl QueueClient {
    /// A client calling through `broker`, with the default [`QueueConfig`].
    #[must_use]
    pub fn new(broker: impl Broker) -> Self {
        Self::shared(Arc::new(broker), QueueConfig::default())
    }

    /// A client calling through a shared broker, with `config`.
    #[must_use]
    pub fn shared(broker: Arc<dyn Broker>, config: QueueConfig) -> Self {
        Self { inner: Arc::new(Inner { broker, config, replies: tokio::sync::Mutex::default() }) }
    }

    /// The inbox, opened on first use and again after it was lost.
    async fn replies(&self) -> Result<Arc<Replies>, Status> {
        let mut current = self.inner.replies.lock().await;
        if let Some(replies) = current.as_ref()
            && replies.open.load(Ordering::Acquire)
        {
            return Ok(replies.clone());
        }
        let Inbox { address, per_call, mut messages } = self.inner.broker.inbox().await?;
        let replies = Arc::new(Replies {
            address,
            per_call,
            calls: Mutex::default(),
            next: AtomicU64::new(1),
            open: AtomicBool::new(true),
            reader: Mutex::default(),
        });
        let reader = {
            let replies = Arc::downgrade(&replies);
            tokio::spawn(async move {
                while let Some(message) = messages.next().await {
                    let Some(replies) = replies.upgrade() else { return };
                    replies.deliver(message);
                }
                if let Some(replies) = replies.upgrade() {
                    replies.close();
                }
            })
        };
        *replies.reader.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(reader.abort_handle());
        *current = Some(replies.clone());
        Ok(replies)
    }

    /// The request message of a call (no reply address yet).
    fn request(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &impl Serialize,
    ) -> Result<Message, Status> {
        let codec = self.inner.config.codec;
        let body = codec
            .encode(request)
            .map_err(|e| Status::invalid_argument(format!("cannot encode: {}", e.message())))?;
        let mut headers: Vec<(HeaderText, HeaderText)> = Vec::with_capacity(8);
        headers.push((header::CONTENT_TYPE.into(), content_type(codec).into()));
        context_headers(ctx, &mut headers);
        Ok(Message { subject: method.subject.to_owned(), reply_to: None, headers, body })
    }

    /// Sends a request with the client's inbox as its reply address; the reply goes to `slot`.
    async fn start(&self, mut message: Message, slot: Slot) -> Result<Forget, Status> {
        let replies = self.replies().await?;
        let call =
            replies.register(slot).ok_or_else(|| Status::unavailable("the broker connection is closing"))?;
        let forget = Forget { replies: replies.clone(), call };
        message.reply_to = Some(replies.reply_to(call));
        message.headers.insert(0, (header::CALL.into(), call.to_string().into()));
        self.inner.broker.send(message).await?;
        Ok(forget)
    }

    fn timeout(&self, ctx: &Context) -> std::time::Duration {
        ctx.remaining().unwrap_or(self.inner.config.default_timeout)
    }

    async fn call<Req: Serialize>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<Message, Status> {
        let call = async {
            let message = self.request(method, ctx, request)?;
            let wait = self.timeout(ctx);
            // The broker's own request multiplexer where it has one (NATS) ...
            let message = match self.inner.broker.request(message) {
                Ok(reply) => {
                    let reply = tokio::time::timeout(wait, reply).await.map_err(|_| deadline(wait))??;
                    let kind = kind_of(&reply);
                    return outcome(reply, kind);
                }
                Err(message) => message,
            };
            // ... else the client's inbox.
            let (tx, rx) = oneshot::channel();
            let forget = self.start(message, Slot::Unary(tx)).await?;
            let reply = tokio::time::timeout(wait, rx).await.map_err(|_| deadline(wait))?;
            drop(forget);
            reply.map_err(|_| Status::unavailable("the connection to the broker was lost during the call"))?
        };
        tracing::Instrument::instrument(call, client_span(method, ctx)).await
    }

    /// Calls a method that returns one value.
    ///
    /// # Errors
    /// The call's status.
    pub async fn unary<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<Resp, Status> {
        let reply = self.call(method, ctx, request).await?;
        decode(&reply, "reply")
    }

    /// Calls a method that returns nothing, or a oneway one.
    ///
    /// # Errors
    /// The call's status.
    pub async fn empty<Req: Serialize>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<(), Status> {
        self.call(method, ctx, request).await.map(drop)
    }

    /// Calls a method that streams values.
    ///
    /// # Errors
    /// The call's status; errors during the stream are its items.
    pub async fn stream<Req: Serialize, Item: DeserializeOwned + Send + 'static>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<Streaming<Item>, Status> {
        let (tx, mut items) = mpsc::channel(STREAM_BUFFER);
        let message = self.request(method, ctx, request)?;
        let forget =
            tracing::Instrument::instrument(self.start(message, Slot::Stream(tx)), client_span(method, ctx))
                .await?;
        // The first message tells a failed call from a stream (an empty stream just ends).
        let wait = self.timeout(ctx);
        let first = tokio::time::timeout(wait, items.recv()).await.map_err(|_| deadline(wait))?;
        if let Some(Err(status)) = first {
            return Err(status);
        }
        let deadline = ctx.deadline();
        let guard = StreamCall { forget, broker: self.inner.broker.clone(), cancel_to: None, ended: false };
        let state = (Some(first), Some(items), guard);
        let stream = futures_util::stream::unfold(state, move |(pending, items, mut guard)| async move {
            let mut items = items?;
            let next = match pending {
                Some(first) => first,
                None => match deadline {
                    Some(at) => tokio::time::timeout_at(at.into(), items.recv()).await.unwrap_or_else(|_| {
                        Some(Err(Status::deadline_exceeded("the stream outlived its deadline")))
                    }),
                    None => items.recv().await,
                },
            };
            match next {
                Some(Ok(message)) => {
                    if guard.cancel_to.is_none() {
                        guard.cancel_to = message.header(header::CANCEL_TO).map(str::to_owned);
                    }
                    Some((decode(&message, "streamed item"), (None, Some(items), guard)))
                }
                // An error ends the stream, after it is told.
                Some(Err(status)) => {
                    guard.end();
                    Some((Err(status), (None, None, guard)))
                }
                None => {
                    guard.end();
                    None
                }
            }
        });
        Ok(Box::pin(stream))
    }
}

impl QueueClient {
    /// Every event of type `T` published from now on, as a stream (a lone consumer on the
    /// client's broker; see [`Channel::events`](crate::Channel::events)).
    ///
    /// # Errors
    /// `unavailable` when the broker cannot be reached.
    pub async fn events<T: super::events::EventData>(&self) -> Result<super::events::EventStream<T>, Status> {
        let spec = super::ConsumerSpec::alone(T::DESCRIPTOR.subject);
        let deliveries = self.inner.broker.consume(spec).await?;
        Ok(super::events::event_stream(deliveries))
    }
}

/// The span of a call on the caller's side: its log lines carry the correlation id and trace.
fn client_span(method: &MethodDescriptor, ctx: &Context) -> tracing::Span {
    tracing::debug_span!(
        "svcgen.client",
        binding = "queue",
        method = method.name,
        correlation_id = ctx.correlation_id(),
        trace_id = ctx.trace_id(),
    )
}

fn decode<T: DeserializeOwned>(message: &Message, what: &str) -> Result<T, Status> {
    let codec = codec_of(message).unwrap_or(Codec::Json);
    codec
        .decode(&message.body)
        .map_err(|e| Status::internal(format!("the server's {what} is not valid: {}", e.message())))
}
