//! The queue server: any [`Dispatch`] served to a group of competing consumers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt as _;
use tokio::sync::{Semaphore, oneshot};
use tracing::Instrument as _;

use super::{
    Broker, HeaderText, Inbox, Message, Messages, QueueConfig, ReplyKind, call_key, codec_of, content_type,
    context_of, header,
};
use crate::context::Context;
use crate::descriptor::{MethodKind, ServiceDescriptor};
use crate::dispatch::{Codec, Dispatch, Payload, Reply, poll_now, run_call};
use crate::status::{Code, Status};

/// Serves services through a broker: each service listens on `{package}.{service}.*` in the
/// group of that name, so every instance of a server shares the requests.
///
/// ```no_run
/// # async fn run(catalog: impl svcgen::Dispatch) -> Result<(), svcgen::Status> {
/// let broker = svcgen::queue::MemoryBroker::new();
/// let server = svcgen::queue::QueueServer::new(broker.clone()).service(catalog).listen().await?;
/// server.serve_until(async { tokio::signal::ctrl_c().await.unwrap_or(()) }).await;
/// # Ok(())
/// # }
/// ```
pub struct QueueServer {
    broker: Arc<dyn Broker>,
    services: Vec<Arc<dyn Dispatch>>,
    config: QueueConfig,
}

impl std::fmt::Debug for QueueServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.services.iter().map(|s| s.descriptor().name).collect();
        f.debug_struct("QueueServer")
            .field("broker", &self.broker)
            .field("services", &names)
            .field("config", &self.config)
            .finish()
    }
}

impl QueueServer {
    /// A server on `broker`, with no service yet.
    #[must_use]
    pub fn new(broker: impl Broker) -> Self {
        Self::shared(Arc::new(broker))
    }

    /// A server on a shared broker.
    #[must_use]
    pub fn shared(broker: Arc<dyn Broker>) -> Self {
        Self { broker, services: Vec::new(), config: QueueConfig::default() }
    }

    /// Adds a service (a generated `…Server`).
    #[must_use]
    pub fn service(self, service: impl Dispatch) -> Self {
        self.shared_service(Arc::new(service))
    }

    /// Adds a shared service.
    #[must_use]
    pub fn shared_service(mut self, service: Arc<dyn Dispatch>) -> Self {
        self.services.push(service);
        self
    }

    /// Sets the limits.
    #[must_use]
    pub fn config(mut self, config: QueueConfig) -> Self {
        self.config = config;
        self
    }

    /// Subscribes every service, so requests sent from now on are served.
    ///
    /// # Errors
    /// `unavailable` when the broker cannot be reached.
    pub async fn listen(self) -> Result<ListeningQueueServer, Status> {
        let mut subscriptions = Vec::with_capacity(self.services.len());
        for service in &self.services {
            let subject = service.descriptor().subject;
            let messages = self.broker.listen(&format!("{subject}.*"), subject).await?;
            subscriptions.push((service.clone(), messages));
        }
        // This instance's own address, where callers that stop reading a stream say so.
        let control = self.broker.inbox().await?;
        Ok(ListeningQueueServer { broker: self.broker, subscriptions, control, config: self.config })
    }
}

/// A [`QueueServer`] whose subscriptions are in place.
pub struct ListeningQueueServer {
    broker: Arc<dyn Broker>,
    subscriptions: Vec<(Arc<dyn Dispatch>, Messages)>,
    control: Inbox,
    config: QueueConfig,
}

/// The streams a server is sending, by [`call_key`], each with the way to stop it.
type Streams = Arc<Mutex<HashMap<(String, String), oneshot::Sender<()>>>>;

fn streams(streams: &Streams) -> std::sync::MutexGuard<'_, HashMap<(String, String), oneshot::Sender<()>>> {
    streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What every call of one server shares.
struct Shared {
    broker: Arc<dyn Broker>,
    /// The server's control address, on every stream item (`svcgen-cancel-to`).
    cancel_to: HeaderText,
    streams: Streams,
}

impl std::fmt::Debug for ListeningQueueServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListeningQueueServer").field("broker", &self.broker).finish_non_exhaustive()
    }
}

impl ListeningQueueServer {
    /// Serves until `shutdown` completes (or the broker is gone for good), then stops taking
    /// requests and waits up to the drain time for the calls in flight.
    pub async fn serve_until(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
        let limit = Arc::new(Semaphore::new(self.config.max_in_flight));
        // (An inbox whose calls each have an address of their own takes messages on those.)
        let cancel_to = self.control.reply_to(0);
        let mut cancels = self.control.messages;
        let shared = Arc::new(Shared {
            broker: self.broker,
            cancel_to: cancel_to.into(),
            streams: Streams::default(),
        });
        // A caller that stops reading a stream says so here: the stream stops.
        let control = {
            let streams = shared.streams.clone();
            tokio::spawn(async move {
                while let Some(message) = cancels.next().await {
                    let cancelled = (message.header(header::KIND) == Some(ReplyKind::Cancel.as_str()))
                        .then(|| call_key(&message))
                        .flatten()
                        .and_then(|key| self::streams(&streams).remove(&key));
                    if let Some(stop) = cancelled {
                        let _ = stop.send(());
                    }
                }
            })
        };
        let mut consumers = tokio::task::JoinSet::new();
        for (service, mut messages) in self.subscriptions {
            let shared = shared.clone();
            let limit = limit.clone();
            consumers.spawn(async move {
                while let Some(message) = messages.next().await {
                    // The service's own events share its subjects (a JetStream publish is a
                    // request for the stream's acknowledgement): they are not calls, and an
                    // answer from here would race the broker's.
                    if is_event(service.descriptor(), &message.subject) {
                        continue;
                    }
                    // The deadline counts from here: time spent waiting for a slot is spent.
                    let ctx = context_of(&message);
                    // Backpressure: at the limit, stop taking requests (they wait in the broker).
                    let Ok(slot) = limit.clone().acquire_owned().await else { return };
                    let (shared, service) = (shared.clone(), service.clone());
                    // (Boxed: the call's future is large, and a task moves its future around whole.)
                    let mut call = Box::pin(async move {
                        handle(&shared, service, message, ctx).await;
                        drop(slot);
                    });
                    // A call that finishes without waiting is served here, at once; one that waits
                    // gets a task of its own, so the next requests are taken meanwhile.
                    if poll_now(&mut call).is_pending() {
                        tokio::spawn(call);
                    }
                }
            });
        }
        tokio::select! {
            () = shutdown => {}
            () = async { while consumers.join_next().await.is_some() {} } => {
                tracing::warn!("the broker closed every subscription; the queue server stops");
            }
        }
        consumers.abort_all();
        control.abort();
        let capacity = u32::try_from(self.config.max_in_flight).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(self.config.drain, limit.acquire_many(capacity)).await;
    }
}

/// Whether `subject` is one of the events of the service (not a method's).
fn is_event(descriptor: &ServiceDescriptor, subject: &str) -> bool {
    method_of(descriptor, subject).is_some_and(|name| descriptor.event(name).is_some())
}

/// The method name a subject of the service ends with.
fn method_of<'s>(descriptor: &ServiceDescriptor, subject: &'s str) -> Option<&'s str> {
    subject.strip_prefix(descriptor.subject).and_then(|rest| rest.strip_prefix('.'))
}

/// Serves one request.
async fn handle(
    shared: &Shared,
    service: Arc<dyn Dispatch>,
    mut message: Message,
    ctx: Result<Context, Box<(Context, Status)>>,
) {
    let descriptor = service.descriptor();
    // (What the replies need is taken out of the request, not copied.)
    let call = message
        .headers
        .iter()
        .position(|(name, _)| name == header::CALL)
        .map(|at| message.headers.swap_remove(at).1);
    let replier =
        Replier { broker: &*shared.broker, reply_to: message.reply_to.take(), call, cancel_to: None };
    let ctx = match ctx {
        Ok(ctx) => ctx,
        Err(failed) => {
            let (ctx, status) = *failed;
            return replier.fail(&status, &ctx, Codec::Json).await;
        }
    };
    let method_name = method_of(descriptor, &message.subject).unwrap_or_default();
    let method = descriptor
        .method(method_name)
        .ok_or_else(|| Status::unimplemented(format!("no method `{method_name}` in `{}`", descriptor.name)));
    let span = tracing::info_span!("svcgen.call", binding = "queue", service = descriptor.name, method = %method_name, correlation_id = ctx.correlation_id(), trace_id = ctx.trace_id());
    async move {
        if let Some(why) = message.header(header::BODY_ERROR) {
            let status = Status::unavailable(format!("the request's body could not be fetched: {why}"));
            return replier.fail(&status, &ctx, Codec::Json).await;
        }
        let codec = match codec_of(&message) {
            Ok(codec) => codec,
            Err(status) => return replier.fail(&status, &ctx, Codec::Json).await,
        };
        let method = match method {
            Ok(method) => method,
            Err(status) => return replier.fail(&status, &ctx, codec).await,
        };
        let payload = Payload::Encoded(codec, message.body);
        if method.kind == MethodKind::Oneway {
            // Checked and acknowledged now, then worked on.
            if let Err(status) = service.check(method.name, &payload) {
                return replier.fail(&status, &ctx, codec).await;
            }
            replier.send(ReplyKind::Reply, codec, bytes::Bytes::new(), &ctx).await;
            if let Err(status) = run_call(&*service, method.name, payload, codec, ctx).await {
                tracing::warn!(%status, "oneway call failed");
            }
            return;
        }
        match run_call(&*service, method.name, payload, codec, ctx.clone()).await {
            Ok(Reply::Value(body)) => {
                replier.send(ReplyKind::Reply, codec, body, &ctx).await;
            }
            Ok(Reply::Text(text)) => {
                replier.send(ReplyKind::Reply, codec, bytes::Bytes::from(text), &ctx).await;
            }
            Ok(Reply::Empty) => {
                replier.send(ReplyKind::Reply, codec, bytes::Bytes::new(), &ctx).await;
            }
            Ok(Reply::Stream(items)) => {
                let key = replier
                    .reply_to
                    .clone()
                    .map(|to| (to, replier.call.as_deref().unwrap_or_default().to_owned()));
                let Some(key) = key else {
                    // Nobody to send the items to.
                    return replier
                        .fail(&Status::invalid_argument("a stream needs a reply address"), &ctx, codec)
                        .await;
                };
                let (stop, stopped) = oneshot::channel();
                streams(&shared.streams).insert(key.clone(), stop);
                let replier = Replier { cancel_to: Some(shared.cancel_to.clone()), ..replier };
                stream(&replier, items, stopped, codec, &ctx).await;
                streams(&shared.streams).remove(&key);
            }
            Err(status) => replier.fail(&status, &ctx, codec).await,
        }
    }
    .instrument(span)
    .await;
}

/// Sends a stream's items, then its end, until the caller cancels it.
async fn stream(
    replier: &Replier<'_>,
    mut items: std::pin::Pin<Box<dyn futures_core::Stream<Item = Result<bytes::Bytes, Status>> + Send>>,
    mut stopped: oneshot::Receiver<()>,
    codec: Codec,
    ctx: &Context,
) {
    loop {
        let item = tokio::select! {
            item = items.next() => item,
            _ = &mut stopped => {
                tracing::debug!("the caller cancelled the stream");
                return;
            }
        };
        match item {
            Some(Ok(body)) => {
                if !replier.send(ReplyKind::Item, codec, body, ctx).await {
                    return;
                }
            }
            Some(Err(status)) => return replier.fail(&status, ctx, codec).await,
            None => break,
        }
    }
    replier.send(ReplyKind::End, codec, bytes::Bytes::new(), ctx).await;
}

/// Sends the replies of one request.
struct Replier<'a> {
    broker: &'a dyn Broker,
    reply_to: Option<String>,
    call: Option<HeaderText>,
    /// A stream's: where its caller cancels it.
    cancel_to: Option<HeaderText>,
}

impl Replier<'_> {
    /// Sends one reply; whether it went out (a request without a reply address wants none).
    async fn send(&self, kind: ReplyKind, codec: Codec, body: bytes::Bytes, ctx: &Context) -> bool {
        let Some(reply_to) = &self.reply_to else { return false };
        let content_type =
            if kind == ReplyKind::Error { "application/problem+json" } else { content_type(codec) };
        let mut headers: Vec<(HeaderText, HeaderText)> = Vec::with_capacity(4);
        if let Some(call) = &self.call {
            headers.push((header::CALL.into(), call.clone()));
        }
        headers.push((header::KIND.into(), kind.as_str().into()));
        headers.push((header::CONTENT_TYPE.into(), content_type.into()));
        headers.push((header::CORRELATION_ID.into(), ctx.correlation_id().to_owned().into()));
        if let (ReplyKind::Item, Some(cancel_to)) = (kind, &self.cancel_to) {
            headers.push((header::CANCEL_TO.into(), cancel_to.clone()));
        }
        let reply = Message { subject: reply_to.clone(), reply_to: None, headers, body };
        match self.broker.reply(reply).await {
            Ok(()) => true,
            Err(status) => {
                // The caller is gone (its deadline passed, or it stopped): nobody to tell.
                tracing::debug!(%status, "a reply could not be sent");
                false
            }
        }
    }

    /// Sends an error reply: the status as an RFC 9457 problem document (JSON).
    async fn fail(&self, status: &Status, ctx: &Context, codec: Codec) {
        if status.code() == Code::Internal {
            tracing::error!(%status, "call failed");
        }
        if self.reply_to.is_none() {
            tracing::warn!(%status, "a request without a reply address failed");
            return;
        }
        let problem = status.to_problem(Some(ctx.correlation_id()));
        let body = serde_json::to_vec(&problem).map(bytes::Bytes::from).unwrap_or_default();
        self.send(ReplyKind::Error, codec, body, ctx).await;
    }
}
