//! Events: typed, durable, at-least-once messages on the queue binding.
//!
//! An event is a `CloudEvents` 1.0 event in binary mode: its attributes are headers (`ce-id`,
//! `ce-source`, `ce-type`, `ce-specversion`, `ce-time`, `ce-traceparent`; `RabbitMQ` spells
//! them `cloudEvents_id` ...), its data is the body (JSON by default). It is published on its
//! subject, `{package}.{service}.{event}`, with [`EventPublisher`], and handled by a
//! [`Subscriber`]: a member of a named group (each event to one member) or alone (every
//! event). The subscriber acknowledges an event only after its handler returned `Ok`; an
//! error is retried with backoff ([`RetryPolicy`]) and, after the last attempt, the event is
//! dead-lettered with the reason; an event whose id it has handled within the dedupe window is
//! dropped. A message that is not a valid event is dead-lettered at once. `docs/queue.md`,
//! "Events", has the wire format and what each broker does.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{FutureExt as _, StreamExt as _};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Broker, ConsumerSpec, Delivery, HeaderText, Message, codec_of, content_type, header};
use crate::context::Context;
use crate::descriptor::EventDescriptor;
use crate::dispatch::Codec;
use crate::status::Status;
use crate::validate::{Validate, validate};

/// The `CloudEvents` attributes as headers (binary mode). `RabbitMQ` carries them as
/// `cloudEvents_{attribute}` application properties; the broker maps them.
pub mod ce {
    /// The event's id, unique per source: what duplicates share.
    pub const ID: &str = "ce-id";
    /// Where it happened: `shop.orders` for an event on `shop.orders.order_placed`.
    pub const SOURCE: &str = "ce-source";
    /// What happened: the subject, `shop.orders.order_placed`.
    pub const TYPE: &str = "ce-type";
    /// Always `1.0`.
    pub const SPECVERSION: &str = "ce-specversion";
    /// When it was published (RFC 3339).
    pub const TIME: &str = "ce-time";
    /// The W3C trace context (the `CloudEvents` distributed tracing extension).
    pub const TRACEPARENT: &str = "ce-traceparent";
    /// The `CloudEvents` version written and accepted.
    pub const VERSION: &str = "1.0";
}

/// Publishes events. Cheap to clone when its broker is.
#[derive(Clone, Debug)]
pub struct EventPublisher<B> {
    broker: B,
    codec: Codec,
    source: Option<String>,
}

impl<B: Broker> EventPublisher<B> {
    /// A publisher of JSON events on `broker`, their source the subject's prefix.
    #[must_use]
    pub fn new(broker: B) -> Self {
        Self { broker, codec: Codec::Json, source: None }
    }

    /// Events' `source` attribute is `source`, not the subject's prefix.
    #[must_use]
    pub fn source(mut self, source: &str) -> Self {
        self.source = Some(source.to_owned());
        self
    }

    /// Events' data in `codec` (default JSON).
    #[must_use]
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Publishes `data` as a new event on `subject` (`shop.orders.order_placed`, also its
    /// type) and returns its id, once the broker has it.
    pub async fn publish<T: Serialize + ?Sized>(
        &self,
        subject: &str,
        ctx: &Context,
        data: &T,
    ) -> Result<String, Status> {
        let id = uuid::Uuid::new_v4().to_string();
        self.publish_with_id(subject, &id, ctx, data).await?;
        Ok(id)
    }

    /// Publishes `data` as the event `id` on `subject`: publishing it again (a retry after a
    /// failure) is a duplicate subscribers drop.
    pub async fn publish_with_id<T: Serialize + ?Sized>(
        &self,
        subject: &str,
        id: &str,
        ctx: &Context,
        data: &T,
    ) -> Result<(), Status> {
        let source = self.source.as_deref().unwrap_or_else(|| source_of(subject));
        let message = event_message(subject, id, source, self.codec, ctx, data)?;
        tracing::debug!(
            %subject,
            %id,
            correlation_id = ctx.correlation_id(),
            trace_id = ctx.trace_id(),
            "publishing an event"
        );
        self.broker.publish_durable(message).await
    }
}

/// The default source of an event on `subject`: the subject without its last token.
fn source_of(subject: &str) -> &str {
    subject.rsplit_once('.').map_or(subject, |(prefix, _)| prefix)
}

/// The message of an event (binary mode): the `CloudEvents` attributes, the correlation id and
/// trace context of `ctx`, `data` encoded as the body.
pub fn event_message<T: Serialize + ?Sized>(
    subject: &str,
    id: &str,
    source: &str,
    codec: Codec,
    ctx: &Context,
    data: &T,
) -> Result<Message, Status> {
    let body = match codec {
        Codec::Json => {
            // Room for a small event up front (growing from empty reallocates at every doubling).
            crate::json::with_capacity(data, 256)
                .map_err(|e| Status::internal(format!("event not encoded: {e}")))?
                .into_bytes()
        }
        Codec::MsgPack => {
            rmp_serde::to_vec_named(data).map_err(|e| Status::internal(format!("event not encoded: {e}")))?
        }
    };
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut headers: Vec<(HeaderText, HeaderText)> = Vec::with_capacity(9);
    headers.extend([
        (ce::SPECVERSION.into(), ce::VERSION.into()),
        (ce::ID.into(), id.to_owned().into()),
        (ce::SOURCE.into(), source.to_owned().into()),
        (ce::TYPE.into(), subject.to_owned().into()),
        (ce::TIME.into(), time.into()),
        (header::CONTENT_TYPE.into(), content_type(codec).into()),
        (header::CORRELATION_ID.into(), ctx.correlation_id().to_owned().into()),
    ]);
    if let Some(tp) = ctx.traceparent() {
        headers.push((ce::TRACEPARENT.into(), tp.to_owned().into()));
        headers.push((header::TRACEPARENT.into(), tp.to_owned().into()));
    }
    Ok(Message { subject: subject.to_owned(), reply_to: None, headers, body: body.into() })
}

/// An event as a handler gets it.
#[derive(Clone, Debug)]
pub struct Event<T> {
    /// `ce-id`.
    pub id: String,
    /// `ce-source`.
    pub source: String,
    /// `ce-type`.
    pub event_type: String,
    /// `ce-time`, when present.
    pub time: Option<String>,
    /// Which delivery of it this is, from 1.
    pub attempt: u32,
    /// Its correlation id and trace context.
    pub context: Context,
    /// The data.
    pub data: T,
}

impl<T> Event<T> {
    /// Hydrates a thin event: calls the method its `@hydrate` names on `service` (a generated
    /// client over any binding, or a local implementation) with the event's fields, as part
    /// of the event's context (its correlation id and trace).
    ///
    /// # Errors
    /// The method's errors.
    pub async fn hydrate<S: ?Sized>(&self, service: &S) -> Result<T::Output, T::Error>
    where
        T: Hydrate<S>,
    {
        self.data.hydrate(&self.context, service).await
    }
}

/// The data of an event a `.svc` declares: the generated struct of each `event`.
pub trait EventData: Serialize + DeserializeOwned + Validate + Send + Sync + 'static {
    /// Which event it is: its service, name and subject.
    const DESCRIPTOR: &'static EventDescriptor;
}

/// A thin event that a method of its service expands (`@hydrate(method)`), generated for
/// every service `S` implementing that service's trait.
pub trait Hydrate<S: ?Sized> {
    /// The method's reply.
    type Output;
    /// The method's error.
    type Error;
    /// Calls the method on `service` with this event's fields, as part of `ctx`.
    fn hydrate(
        &self,
        ctx: &Context,
        service: &S,
    ) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;
}

/// The events of one declared type on a broker: publish them, or subscribe to them. Made by
/// the generated `{Service}Events` (`events.product_created()`), or [`Topic::new`].
pub struct Topic<T> {
    publisher: EventPublisher<Arc<dyn Broker>>,
    _data: std::marker::PhantomData<fn() -> T>,
}

impl<T> Clone for Topic<T> {
    fn clone(&self) -> Self {
        Self { publisher: self.publisher.clone(), _data: std::marker::PhantomData }
    }
}

impl<T> fmt::Debug for Topic<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topic").field("publisher", &self.publisher).finish()
    }
}

impl<T: EventData> Topic<T> {
    /// The events of type `T` on `broker`, published as JSON with the subject's prefix as
    /// their source.
    #[must_use]
    pub fn new(broker: Arc<dyn Broker>) -> Self {
        Self { publisher: EventPublisher::new(broker), _data: std::marker::PhantomData }
    }

    /// Events' `source` attribute is `source` (default: the subject's prefix, the package
    /// and service).
    #[must_use]
    pub fn source(mut self, source: &str) -> Self {
        self.publisher = self.publisher.source(source);
        self
    }

    /// Events' data in `codec` (default JSON).
    #[must_use]
    pub fn codec(mut self, codec: Codec) -> Self {
        self.publisher = self.publisher.codec(codec);
        self
    }

    /// The subject, also the events' type: `shop.catalog.catalog.product_created`.
    #[must_use]
    pub fn subject(&self) -> &'static str {
        T::DESCRIPTOR.subject
    }

    /// Publishes `data` as a new event, as part of `ctx` (its correlation id and trace), and
    /// returns its id once the broker has it.
    ///
    /// # Errors
    /// `invalid_argument` naming every field that breaks a constraint (nothing is published);
    /// `unavailable` when the broker did not take it.
    pub async fn publish(&self, ctx: &Context, data: &T) -> Result<String, Status> {
        validate(data)?;
        self.publisher.publish(T::DESCRIPTOR.subject, ctx, data).await
    }

    /// Publishes `data` as the event `id`: publishing it again (a retry after a failure) is a
    /// duplicate that subscribers drop.
    ///
    /// # Errors
    /// As [`Self::publish`].
    pub async fn publish_with_id(&self, id: &str, ctx: &Context, data: &T) -> Result<(), Status> {
        validate(data)?;
        self.publisher.publish_with_id(T::DESCRIPTOR.subject, id, ctx, data).await
    }

    /// A member of `group`: each event goes to one member of the group, and events wait (in
    /// the broker) while the group has no member running. Events whose data breaks a
    /// constraint are dead-lettered.
    #[must_use]
    pub fn group(&self, group: &str) -> Subscriber<Arc<dyn Broker>, T> {
        self.checked(ConsumerSpec::group(T::DESCRIPTOR.subject, group))
    }

    /// Alone: every event published while it runs.
    #[must_use]
    pub fn alone(&self) -> Subscriber<Arc<dyn Broker>, T> {
        self.checked(ConsumerSpec::alone(T::DESCRIPTOR.subject))
    }

    fn checked(&self, spec: ConsumerSpec) -> Subscriber<Arc<dyn Broker>, T> {
        Subscriber { check: |data| validate(data), ..Subscriber::new(self.publisher.broker.clone(), spec) }
    }
}

/// Events of one type as a stream ([`Channel::events`](crate::Channel::events)).
pub type EventStream<T> =
    std::pin::Pin<Box<dyn futures_core::Stream<Item = Result<Event<T>, Status>> + Send>>;

/// The events of `deliveries` (a lone consumer's) as a stream: each is acknowledged as it is
/// taken (a stream has no handler whose success could be awaited: this is for watching, like
/// the socket's push, not for work that must not be lost, which a [`Subscriber`] does); one
/// that is no valid `T` is dead-lettered with the reason, and the stream goes on.
pub(crate) fn event_stream<T: EventData>(deliveries: super::Deliveries) -> EventStream<T> {
    let subject = T::DESCRIPTOR.subject;
    Box::pin(deliveries.filter_map(move |delivery| async move {
        let correlation_id = delivery.message.header(header::CORRELATION_ID).unwrap_or("").to_owned();
        let checked = decode::<T>(&delivery.message, subject, delivery.attempt).and_then(|event| {
            validate(&event.data).map_err(|status| format!("invalid data: {}", status.message()))?;
            Ok(event)
        });
        match checked {
            Ok(event) => {
                settled(&correlation_id, delivery.ack().await);
                Some(Ok(event))
            }
            Err(reason) => {
                tracing::warn!(%correlation_id, %subject, %reason, "not a valid event: dead-lettered");
                settled(&correlation_id, delivery.dead_letter(&reason).await);
                None
            }
        }
    }))
}

/// How a failed event is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (default 5); after the last it is dead-lettered.
    pub max_attempts: u32,
    /// The wait before the second attempt (default 1 s); it doubles each attempt ...
    pub backoff_base: Duration,
    /// ... up to this (default 60 s).
    pub backoff_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 5, backoff_base: Duration::from_secs(1), backoff_max: Duration::from_secs(60) }
    }
}

impl RetryPolicy {
    /// The wait after attempt `attempt` failed.
    #[must_use]
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(20);
        self.backoff_base.saturating_mul(1 << doublings).min(self.backoff_max)
    }
}

/// Handles the events of one subject, their data a `T`: a member of a group, or alone.
pub struct Subscriber<B, T> {
    broker: B,
    spec: ConsumerSpec,
    event_type: String,
    retry: RetryPolicy,
    dedupe_window: Duration,
    dedupe_capacity: usize,
    max_in_flight: usize,
    check: fn(&T) -> Result<(), Status>,
}

impl<B: fmt::Debug, T> fmt::Debug for Subscriber<B, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("broker", &self.broker)
            .field("spec", &self.spec)
            .field("retry", &self.retry)
            .field("dedupe_window", &self.dedupe_window)
            .field("dedupe_capacity", &self.dedupe_capacity)
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl<B: Broker, T> Subscriber<B, T> {
    fn new(broker: B, spec: ConsumerSpec) -> Self {
        Self {
            broker,
            event_type: spec.subject.clone(),
            spec,
            retry: RetryPolicy::default(),
            dedupe_window: Duration::from_secs(600),
            dedupe_capacity: 10_000,
            max_in_flight: 64,
            check: |_| Ok(()),
        }
    }

    /// A member of `group` on `subject`: each event goes to one member of the group, and
    /// events wait (in the broker) for a group with no member running.
    #[must_use]
    pub fn group(broker: B, subject: &str, group: &str) -> Self {
        Self::new(broker, ConsumerSpec::group(subject, group))
    }

    /// Alone on `subject`: every event published while it runs.
    #[must_use]
    pub fn alone(broker: B, subject: &str) -> Self {
        Self::new(broker, ConsumerSpec::alone(subject))
    }

    /// How failures are retried (default [`RetryPolicy::default`]).
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Duplicates are dropped: an event whose id was handled within `window` (default 10
    /// minutes), remembering at most `capacity` ids (default 10 000; 0 turns it off). The
    /// memory is this subscriber's, in the process.
    #[must_use]
    pub fn dedupe(mut self, window: Duration, capacity: usize) -> Self {
        self.dedupe_window = window;
        self.dedupe_capacity = capacity;
        self
    }

    /// Events handled at once (default 64).
    #[must_use]
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max.max(1);
        self
    }

    /// Starts handling events with `handler`: each event is acknowledged once `handler`
    /// returns `Ok`, retried when it returns an error (or panics), dead-lettered after the
    /// last attempt. The consumer exists when this returns.
    ///
    /// # Errors
    /// `unavailable` when the broker cannot be reached.
    pub async fn start<H, F>(self, handler: H) -> Result<Subscription, Status>
    where
        T: DeserializeOwned + Send + 'static,
        H: Fn(Event<T>) -> F + Send + Sync + 'static,
        F: Future<Output = Result<(), Status>> + Send + 'static,
    {
        let mut deliveries = self.broker.consume(self.spec.clone()).await?;
        let shared = Arc::new(Shared {
            handler,
            check: self.check,
            event_type: self.event_type,
            retry: self.retry,
            dedupe: Mutex::new(Dedupe::new(self.dedupe_window, self.dedupe_capacity)),
            _data: std::marker::PhantomData,
        });
        let slots = Arc::new(tokio::sync::Semaphore::new(self.max_in_flight));
        let subject = self.spec.subject;
        let task = tokio::spawn(async move {
            let mut handling = tokio::task::JoinSet::new();
            while let Some(delivery) = deliveries.next().await {
                while handling.try_join_next().is_some() {}
                let Ok(slot) = slots.clone().acquire_owned().await else { break };
                let shared = shared.clone();
                // (Boxed: the handling future is large, and a task moves its future around whole.)
                let mut handle = Box::pin(async move {
                    shared.handle(delivery).await;
                    drop(slot);
                });
                // Most events are handled without waiting: here, at once, in this task; only an
                // event whose handling waits gets a task of its own (and its waker, polled there).
                if crate::dispatch::poll_now(&mut handle).is_pending() {
                    handling.spawn(handle);
                }
            }
            tracing::warn!(%subject, "the event consumer ended: the broker is gone");
            while handling.join_next().await.is_some() {}
        });
        Ok(Subscription { task })
    }
}

/// A running subscriber; dropping it (or [`stop`](Self::stop)) stops it, and the events it was
/// handling come again.
#[derive(Debug)]
pub struct Subscription {
    task: tokio::task::JoinHandle<()>,
}

impl Subscription {
    /// Stops handling events.
    pub fn stop(self) {}
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared<T, H> {
    handler: H,
    check: fn(&T) -> Result<(), Status>,
    event_type: String,
    retry: RetryPolicy,
    dedupe: Mutex<Dedupe>,
    _data: std::marker::PhantomData<fn() -> T>,
}

impl<T, H, F> Shared<T, H>
where
    T: DeserializeOwned + Send + 'static,
    H: Fn(Event<T>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), Status>> + Send + 'static,
{
    async fn handle(&self, delivery: Delivery) {
        let decoded = decode::<T>(&delivery.message, &self.event_type, delivery.attempt).and_then(|event| {
            (self.check)(&event.data).map_err(|status| format!("invalid data: {}", status.message()))?;
            Ok(event)
        });
        let event = match decoded {
            Ok(event) => event,
            Err(reason) => {
                let correlation_id = delivery.message.header(header::CORRELATION_ID).unwrap_or("").to_owned();
                let subject = &delivery.message.subject;
                tracing::warn!(%correlation_id, %subject, %reason, "not a valid event: dead-lettered");
                settled(&correlation_id, delivery.dead_letter(&reason).await);
                return;
            }
        };
        // (The event moves into the handler: what the log lines need is kept, cheaply.)
        let ctx = event.context.clone();
        let correlation_id = ctx.correlation_id();
        let subject = &*self.event_type;
        let id: Arc<str> = Arc::from(event.id.as_str());
        let seen = self.dedupe.lock().unwrap_or_else(PoisonError::into_inner).begin(&id);
        match seen {
            Seen::Handled => {
                tracing::debug!(%correlation_id, %subject, %id, "a duplicate event is dropped");
                settled(correlation_id, delivery.ack().await);
                return;
            }
            // Its twin is being handled: this one comes again, to be dropped if that succeeds.
            Seen::InFlight => {
                settled(correlation_id, delivery.retry(self.retry.backoff_base).await);
                return;
            }
            Seen::New => {}
        }
        let attempt = delivery.attempt;
        // The handler's log lines carry the event's correlation id and trace.
        let span = tracing::info_span!(
            "svcgen.event",
            %subject,
            %id,
            attempt,
            correlation_id = %correlation_id,
            trace_id = ctx.trace_id(),
        );
        // (The handler is called inside the future: a panic before its first `await` is caught
        // too, and cannot take the consumer down with it — the event may be handled in its task.)
        let handling = std::panic::AssertUnwindSafe(async { (self.handler)(event).await }).catch_unwind();
        let outcome = tracing::Instrument::instrument(handling, span).await;
        let outcome = outcome.unwrap_or_else(|_| Err(Status::internal("the event handler panicked")));
        self.dedupe.lock().unwrap_or_else(PoisonError::into_inner).finish(id.clone(), outcome.is_ok());
        match outcome {
            Ok(()) => settled(correlation_id, delivery.ack().await),
            Err(status) if attempt >= self.retry.max_attempts => {
                let reason = format!("failed {attempt} times; the last: {status}");
                tracing::warn!(%correlation_id, %subject, %id, %reason, "an event is dead-lettered");
                settled(correlation_id, delivery.dead_letter(&reason).await);
            }
            Err(status) => {
                tracing::info!(%correlation_id, %subject, %id, attempt, %status, "an event failed: retried");
                settled(correlation_id, delivery.retry(self.retry.delay(attempt)).await);
            }
        }
    }
}

/// A settlement that failed leaves the event to come again (at least once).
fn settled(correlation_id: &str, result: Result<(), Status>) {
    if let Err(status) = result {
        tracing::warn!(%correlation_id, %status, "an event was not settled: it comes again");
    }
}

/// The event a message carries, or why it is none.
fn decode<T: DeserializeOwned>(
    message: &Message,
    event_type: &str,
    attempt: u32,
) -> Result<Event<T>, String> {
    // One pass over the headers (names are lower case); the first of a name counts.
    let mut attributes = Attributes::default();
    for (name, value) in &message.headers {
        let slot = match &**name {
            ce::SPECVERSION => &mut attributes.version,
            ce::ID => &mut attributes.id,
            ce::SOURCE => &mut attributes.source,
            ce::TYPE => &mut attributes.kind,
            ce::TIME => &mut attributes.time,
            ce::TRACEPARENT => &mut attributes.ce_traceparent,
            header::TRACEPARENT => &mut attributes.traceparent,
            header::CORRELATION_ID => &mut attributes.correlation_id,
            _ => continue,
        };
        slot.get_or_insert(&**value);
    }
    let version = required(attributes.version, ce::SPECVERSION)?;
    if version != ce::VERSION {
        return Err(format!("unsupported CloudEvents version `{version}`"));
    }
    let id = required(attributes.id, ce::ID)?;
    let source = required(attributes.source, ce::SOURCE)?;
    let kind = required(attributes.kind, ce::TYPE)?;
    if kind != event_type {
        return Err(format!("unknown event type `{kind}` (expected `{event_type}`)"));
    }
    let data = match codec_of(message).map_err(|s| s.message().to_owned())? {
        Codec::Json => serde_json::from_slice(&message.body).map_err(|e| format!("undecodable data: {e}"))?,
        Codec::MsgPack => {
            rmp_serde::from_slice(&message.body).map_err(|e| format!("undecodable data: {e}"))?
        }
    };
    let traceparent = attributes.traceparent.or(attributes.ce_traceparent);
    Ok(Event {
        id: id.to_owned(),
        source: source.to_owned(),
        event_type: kind.to_owned(),
        time: attributes.time.map(str::to_owned),
        attempt,
        context: Context::from_headers(attributes.correlation_id, traceparent),
        data,
    })
}

/// A header an event must have, not empty.
fn required<'m>(value: Option<&'m str>, name: &str) -> Result<&'m str, String> {
    value.filter(|v| !v.is_empty()).ok_or_else(|| format!("missing header `{name}`"))
}

/// The headers of an event that [`decode`] reads.
#[derive(Default)]
struct Attributes<'m> {
    version: Option<&'m str>,
    id: Option<&'m str>,
    source: Option<&'m str>,
    kind: Option<&'m str>,
    time: Option<&'m str>,
    ce_traceparent: Option<&'m str>,
    traceparent: Option<&'m str>,
    correlation_id: Option<&'m str>,
}

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    New,
    InFlight,
    Handled,
}

/// The ids a subscriber handled lately (bounded by a window and a capacity) and is handling:
/// one map, each id held once (shared with the order of their handling).
#[derive(Debug)]
struct Dedupe {
    window: Duration,
    capacity: usize,
    ids: HashMap<Arc<str>, Handling, foldhash::fast::RandomState>,
    /// The handled ids, oldest first, with when their handling began.
    order: VecDeque<(Arc<str>, Instant)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handling {
    /// Being handled, since then.
    InFlight(Instant),
    /// Handled; its handling began then.
    Handled(Instant),
}

impl Dedupe {
    fn new(window: Duration, capacity: usize) -> Self {
        Self { window, capacity, ids: HashMap::default(), order: VecDeque::new() }
    }

    fn begin(&mut self, id: &Arc<str>) -> Seen {
        if self.capacity == 0 {
            return Seen::New;
        }
        let now = Instant::now();
        while let Some((_, at)) = self.order.front() {
            if now.duration_since(*at) < self.window {
                break;
            }
            self.forget_oldest();
        }
        match self.ids.entry(id.clone()) {
            std::collections::hash_map::Entry::Occupied(seen) => match seen.get() {
                Handling::Handled(_) => Seen::Handled,
                Handling::InFlight(_) => Seen::InFlight,
            },
            std::collections::hash_map::Entry::Vacant(new) => {
                new.insert(Handling::InFlight(now));
                Seen::New
            }
        }
    }

    fn finish(&mut self, id: Arc<str>, handled: bool) {
        if self.capacity == 0 {
            return;
        }
        if !handled {
            self.ids.remove(&id);
            return;
        }
        let Some(state) = self.ids.get_mut(&id) else { return };
        let Handling::InFlight(began) = *state else { return };
        *state = Handling::Handled(began);
        self.order.push_back((id, began));
        while self.order.len() > self.capacity {
            self.forget_oldest();
        }
    }

    /// Forgets the oldest handled id (unless it is being handled again).
    fn forget_oldest(&mut self) {
        if let Some((old, at)) = self.order.pop_front()
            && let std::collections::hash_map::Entry::Occupied(seen) = self.ids.entry(old)
            && *seen.get() == Handling::Handled(at)
        {
            seen.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_max() {
        let policy = RetryPolicy {
            max_attempts: 9,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(700),
        };
        let delays: Vec<u128> = (1..=5).map(|a| policy.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 700, 700]);
        assert_eq!(policy.delay(u32::MAX), Duration::from_millis(700));
    }

    #[test]
    fn dedupe_is_bounded_and_forgets_failures() {
        let mut dedupe = Dedupe::new(Duration::from_secs(60), 2);
        assert_eq!(dedupe.begin(&"a".into()), Seen::New);
        assert_eq!(dedupe.begin(&"a".into()), Seen::InFlight);
        dedupe.finish("a".into(), false);
        assert_eq!(dedupe.begin(&"a".into()), Seen::New, "a failure is not remembered as handled");
        dedupe.finish("a".into(), true);
        assert_eq!(dedupe.begin(&"a".into()), Seen::Handled);
        for id in ["b", "c"] {
            assert_eq!(dedupe.begin(&id.into()), Seen::New);
            dedupe.finish(id.into(), true);
        }
        assert_eq!(dedupe.begin(&"a".into()), Seen::New, "the oldest id is forgotten beyond the capacity");
        let handled = dedupe.ids.values().filter(|h| matches!(h, Handling::Handled(_))).count();
        assert!(handled <= 2 && dedupe.order.len() <= 2, "{handled} handled ids kept");
        let mut short = Dedupe::new(Duration::ZERO, 10);
        assert_eq!(short.begin(&"x".into()), Seen::New);
        short.finish("x".into(), true);
        assert_eq!(short.begin(&"x".into()), Seen::New, "outside the window it is new again");
    }

    #[test]
    fn an_event_survives_its_message() {
        let ctx = Context::new().with_correlation_id("order-1");
        let message = event_message("shop.orders.placed", "e-1", "shop.orders", Codec::Json, &ctx, &42_u32)
            .expect("encoded");
        assert_eq!(message.header(ce::SPECVERSION), Some("1.0"));
        assert_eq!(message.header(ce::TYPE), Some("shop.orders.placed"));
        let event: Event<u32> = decode(&message, "shop.orders.placed", 1).expect("an event");
        assert_eq!((event.id.as_str(), event.data), ("e-1", 42));
        assert_eq!(event.context.correlation_id(), "order-1");
        assert!(decode::<u32>(&message, "shop.orders.other", 1).expect_err("other type").contains("unknown"));
        let bare = Message { body: message.body.clone(), ..Message::default() };
        assert!(
            decode::<u32>(&bare, "shop.orders.placed", 1).expect_err("no headers").contains("ce-specversion")
        );
        let garbled = Message { body: bytes::Bytes::from_static(b"{"), ..message };
        assert!(
            decode::<u32>(&garbled, "shop.orders.placed", 1).expect_err("garbled").contains("undecodable")
        );
    }
}
