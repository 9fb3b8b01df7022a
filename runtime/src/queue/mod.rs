//! The queue binding: services reached through a message broker.
//!
//! A [`Broker`] moves [`Message`]s: subjects, headers and a body. Three backends implement
//! it: [`MemoryBroker`] (in the process: the embedded default, and what tests use),
//! `NatsBroker` (feature `nats`, async-nats) and `AmqpBroker` (feature `amqp`, lapin, for
//! `RabbitMQ`). Everything above the broker is written once, here: [`QueueClient`] makes
//! request/reply calls (one reply address per client, calls matched by id, deadlines,
//! late replies dropped, "no responders" reported at once where the broker can tell) and
//! [`QueueServer`] serves any [`Dispatch`](crate::Dispatch) to a group of competing
//! consumers. The headers and subjects are specified in `docs/protocol.md`. Events (durable,
//! at least once: [`Broker::publish_durable`], [`Broker::consume`]) are in [`events`]
//! (`docs/queue.md`, "Events").

mod client;
mod durable;
pub mod events;
mod memory;
mod server;

#[cfg(feature = "amqp")]
mod amqp;
#[cfg(feature = "nats")]
mod nats;

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;

pub use client::QueueClient;
pub use durable::{ConsumerSpec, Deliveries, Delivery, Settle, dead_letter_message, dead_letter_subject};
pub use memory::MemoryBroker;
pub use server::{ListeningQueueServer, QueueServer};

#[cfg(feature = "amqp")]
pub use amqp::AmqpBroker;
#[cfg(feature = "nats")]
pub use nats::NatsBroker;

use crate::context::Context;
use crate::dispatch::{BoxFuture, Codec};
use crate::status::Status;

/// The names of the headers a queue message carries (`docs/protocol.md`, "Queue binding").
pub mod header {
    /// The call a request starts, or a reply answers: a decimal id unique per reply address.
    pub const CALL: &str = "svcgen-call";
    /// What a reply is: `reply`, `error`, `item` (a stream item) or `end` (a stream's end).
    pub const KIND: &str = "svcgen-kind";
    /// The correlation id that follows a request through every service.
    pub const CORRELATION_ID: &str = "svcgen-correlation-id";
    /// The W3C trace context.
    pub const TRACEPARENT: &str = "traceparent";
    /// The caller's remaining time, in milliseconds, when it sent the request.
    pub const DEADLINE_MS: &str = "svcgen-deadline-ms";
    /// The body's encoding: `application/json` (the default) or `application/msgpack`;
    /// error replies are `application/problem+json`.
    pub const CONTENT_TYPE: &str = "content-type";
    /// Caller metadata: `svcgen-meta-authorization: Bearer ...`.
    pub const METADATA_PREFIX: &str = "svcgen-meta-";
    /// NATS: the object store name of a body too large for one message (a claim check).
    pub const BODY_REF: &str = "svcgen-body-ref";
    /// Set by a receiver whose large body could not be fetched: why.
    pub const BODY_ERROR: &str = "svcgen-body-error";
    /// A durable message: the delivery attempt it is (1-based) where the broker does not count
    /// them itself (`RabbitMQ` and in memory).
    pub const ATTEMPT: &str = "svcgen-attempt";
    /// A dead letter: why it was given up.
    pub const DEAD_LETTER_REASON: &str = "svcgen-dead-letter-reason";
    /// A dead letter: the subject it was published on.
    pub const DEAD_LETTER_SUBJECT: &str = "svcgen-dead-letter-subject";
    /// A dead letter: the attempts it had.
    pub const DEAD_LETTER_ATTEMPTS: &str = "svcgen-dead-letter-attempts";
    /// On a stream's items: where the server that runs it takes a `cancel` for it.
    pub const CANCEL_TO: &str = "svcgen-cancel-to";

    /// The names our messages carry, known statically (no copy of the name per message).
    #[cfg(any(feature = "nats", feature = "amqp"))]
    pub(crate) const KNOWN: [&str; 18] = [
        CALL,
        KIND,
        CORRELATION_ID,
        TRACEPARENT,
        DEADLINE_MS,
        CONTENT_TYPE,
        BODY_REF,
        ATTEMPT,
        super::events::ce::ID,
        super::events::ce::SOURCE,
        super::events::ce::TYPE,
        super::events::ce::SPECVERSION,
        super::events::ce::TIME,
        super::events::ce::TRACEPARENT,
        DEAD_LETTER_REASON,
        DEAD_LETTER_SUBJECT,
        DEAD_LETTER_ATTEMPTS,
        CANCEL_TO,
    ];

    /// A header name as a message keeps it: lower case, and one of [`KNOWN`] without a copy.
    #[cfg(any(feature = "nats", feature = "amqp"))]
    pub(crate) fn name(name: &str) -> super::HeaderText {
        // (Names come in lower case as a rule: the exact comparison first, cheaper.)
        let known = KNOWN.iter().find(|known| **known == name);
        match known.or_else(|| KNOWN.iter().find(|known| known.eq_ignore_ascii_case(name))) {
            Some(known) => super::HeaderText::Borrowed(known),
            None => super::HeaderText::Owned(name.to_ascii_lowercase()),
        }
    }
}

/// A header's name or value: borrowed when it is known statically (the names in [`header`],
/// fixed values such as a content type), owned otherwise, so a message costs no copy of them.
pub type HeaderText = std::borrow::Cow<'static, str>;

/// A message on the broker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// Where it goes: a subject (`shop.catalog.catalog.get_product`) or a reply address.
    pub subject: String,
    /// Where replies go, for a request.
    pub reply_to: Option<String>,
    /// Headers, in order; names are lower case.
    pub headers: Vec<(HeaderText, HeaderText)>,
    /// The body.
    pub body: bytes::Bytes,
}

impl Message {
    /// The first header called `name`.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| &**v)
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<HeaderText>, value: impl Into<HeaderText>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Messages as a broker delivers them.
pub type Messages = Pin<Box<dyn Stream<Item = Message> + Send + 'static>>;

/// Where a client's replies arrive.
pub struct Inbox {
    /// The reply address, or its prefix when `per_call` is set.
    pub address: String,
    /// Each call gets its own reply address, `{address}.{call}` (NATS: the broker tells a
    /// call nobody answers by sending a status to that address, and only the address says
    /// which call it was). Otherwise every call shares `address` and replies are matched by
    /// their `svcgen-call` header.
    pub per_call: bool,
    /// The replies.
    pub messages: Messages,
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("address", &self.address)
            .field("per_call", &self.per_call)
            .finish_non_exhaustive()
    }
}

impl Inbox {
    /// The reply address of one call.
    #[must_use]
    pub fn reply_to(&self, call: u64) -> String {
        reply_address(&self.address, self.per_call, call)
    }
}

/// The reply address of one call to an inbox.
pub(crate) fn reply_address(address: &str, per_call: bool, call: u64) -> String {
    if per_call { format!("{address}.{call}") } else { address.to_owned() }
}

/// A message broker, as the queue binding uses it. Implemented by [`MemoryBroker`],
/// `NatsBroker` and `AmqpBroker`; another broker is one more implementation, nothing else.
pub trait Broker: Send + Sync + fmt::Debug + 'static {
    /// Sends a request to its subject (not persisted).
    ///
    /// # Errors
    /// `unavailable` when the broker cannot be reached, or when it can tell that nobody
    /// listens on the subject (the "no responders" case).
    fn send(&self, message: Message) -> BoxFuture<'_, Result<(), Status>>;

    /// Sends a reply to the reply address in its `subject` (an [`Inbox`]'s).
    ///
    /// # Errors
    /// `unavailable` when the broker cannot be reached or the inbox is gone.
    fn reply(&self, message: Message) -> BoxFuture<'_, Result<(), Status>>;

    /// Receives the messages sent to `subject` (a trailing `.*` matches one more token) as a
    /// member of `group`: each message goes to one member of the group. The stream ends when
    /// the broker is gone for good; a backend that can reconnect does so underneath it.
    ///
    /// # Errors
    /// `unavailable` when the broker cannot be reached.
    fn listen(&self, subject: &str, group: &str) -> BoxFuture<'_, Result<Messages, Status>>;

    /// A private reply address and the replies sent to it.
    ///
    /// # Errors
    /// `unavailable` when the broker cannot be reached.
    fn inbox(&self) -> BoxFuture<'_, Result<Inbox, Status>>;

    /// Sends a request and waits for its one reply, where the broker's client routes replies
    /// to their requests itself (NATS' request multiplexer: no inbox of ours, no task between the
    /// connection and the caller). A broker that does not gives the message back (`Err`), and
    /// the caller uses an [`Inbox`] of its own (the default). The caller enforces the deadline,
    /// by dropping the future.
    ///
    /// # Errors
    /// The future fails `unavailable` when the broker cannot be reached, when nobody listens on
    /// the subject, or when the connection is lost before the reply.
    #[allow(clippy::type_complexity)]
    fn request(&self, message: Message) -> Result<BoxFuture<'_, Result<Message, Status>>, Message> {
        Err(message)
    }

    /// Publishes a durable message (an event) on its subject, and returns once the broker has
    /// it: `JetStream`'s publish acknowledgement, `RabbitMQ`'s publisher confirm of a
    /// persistent message, the in-memory broker's queues.
    ///
    /// # Errors
    /// `unavailable` when the broker cannot be reached or does not confirm the message.
    fn publish_durable(&self, message: Message) -> BoxFuture<'_, Result<(), Status>>;

    /// Consumes the durable messages published on `spec.subject` from the time the consumer
    /// (the group's, or this lone one) was first made. Each [`Delivery`] must be settled:
    /// acknowledged, retried later or dead-lettered; one left unsettled comes again.
    ///
    /// # Errors
    /// `unavailable` when the broker cannot be reached.
    fn consume(&self, spec: ConsumerSpec) -> BoxFuture<'_, Result<Deliveries, Status>>;
}

/// A shared broker is a broker, so one chosen at run time (`Arc<dyn Broker>`) serves and calls
/// like any other.
impl<B: Broker + ?Sized> Broker for std::sync::Arc<B> {
    fn send(&self, message: Message) -> BoxFuture<'_, Result<(), Status>> {
        (**self).send(message)
    }

    fn reply(&self, message: Message) -> BoxFuture<'_, Result<(), Status>> {
        (**self).reply(message)
    }

    fn listen(&self, subject: &str, group: &str) -> BoxFuture<'_, Result<Messages, Status>> {
        (**self).listen(subject, group)
    }

    fn inbox(&self) -> BoxFuture<'_, Result<Inbox, Status>> {
        (**self).inbox()
    }

    fn request(&self, message: Message) -> Result<BoxFuture<'_, Result<Message, Status>>, Message> {
        (**self).request(message)
    }

    fn publish_durable(&self, message: Message) -> BoxFuture<'_, Result<(), Status>> {
        (**self).publish_durable(message)
    }

    fn consume(&self, spec: ConsumerSpec) -> BoxFuture<'_, Result<Deliveries, Status>> {
        (**self).consume(spec)
    }
}

/// A broker whose subjects all live under a prefix: `Namespace::new("staging", broker)` sends
/// `shop.catalog.catalog.get_product` as `staging.shop.catalog.catalog.get_product`, and its
/// servers form their own groups. Several environments (or test runs) share one broker this
/// way without seeing each other's requests.
#[derive(Clone, Debug)]
pub struct Namespace<B> {
    prefix: String,
    broker: B,
}

impl<B: Broker> Namespace<B> {
    /// `broker`, with every subject and group under `prefix`.
    #[must_use]
    pub fn new(prefix: &str, broker: B) -> Self {
        Self { prefix: prefix.to_owned(), broker }
    }
}

impl<B: Broker> Broker for Namespace<B> {
    fn send(&self, mut message: Message) -> BoxFuture<'_, Result<(), Status>> {
        message.subject = format!("{}.{}", self.prefix, message.subject);
        self.broker.send(message)
    }

    fn reply(&self, message: Message) -> BoxFuture<'_, Result<(), Status>> {
        self.broker.reply(message)
    }

    fn listen(&self, subject: &str, group: &str) -> BoxFuture<'_, Result<Messages, Status>> {
        let (subject, group) = (format!("{}.{subject}", self.prefix), format!("{}.{group}", self.prefix));
        let prefix = format!("{}.", self.prefix);
        Box::pin(async move {
            let messages = self.broker.listen(&subject, &group).await?;
            // Servers see the subjects they listen on, without the prefix.
            let messages: Messages =
                Box::pin(futures_util::StreamExt::map(messages, move |mut m: Message| {
                    if let Some(rest) = m.subject.strip_prefix(&prefix) {
                        m.subject = rest.to_owned();
                    }
                    m
                }));
            Ok(messages)
        })
    }

    fn inbox(&self) -> BoxFuture<'_, Result<Inbox, Status>> {
        self.broker.inbox()
    }

    fn request(&self, mut message: Message) -> Result<BoxFuture<'_, Result<Message, Status>>, Message> {
        let subject = std::mem::take(&mut message.subject);
        message.subject = format!("{}.{subject}", self.prefix);
        self.broker.request(message).map_err(|mut message| {
            message.subject = subject;
            message
        })
    }

    fn publish_durable(&self, mut message: Message) -> BoxFuture<'_, Result<(), Status>> {
        message.subject = format!("{}.{}", self.prefix, message.subject);
        self.broker.publish_durable(message)
    }

    fn consume(&self, mut spec: ConsumerSpec) -> BoxFuture<'_, Result<Deliveries, Status>> {
        spec.subject = format!("{}.{}", self.prefix, spec.subject);
        spec.dead_letter = format!("{}.{}", self.prefix, spec.dead_letter);
        spec.group = spec.group.map(|g| format!("{}.{g}", self.prefix));
        let prefix = format!("{}.", self.prefix);
        Box::pin(async move {
            let deliveries = self.broker.consume(spec).await?;
            // Consumers see the subjects they consume, without the prefix.
            let deliveries: Deliveries =
                Box::pin(futures_util::StreamExt::map(deliveries, move |mut d: Delivery| {
                    if let Some(rest) = d.message.subject.strip_prefix(&prefix) {
                        d.message.subject = rest.to_owned();
                    }
                    d
                }));
            Ok(deliveries)
        })
    }
}

/// Limits and timings of a queue client or server.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// How a client encodes requests (default JSON, readable with any broker tool); a server
    /// answers in the encoding of each request.
    pub codec: Codec,
    /// How long a call without a deadline waits for its reply (default 30 s): a broker may
    /// hold a request for a server that never comes, and a call must not hang forever.
    pub default_timeout: Duration,
    /// Calls a server runs at once, per service (default 1024); more wait in the broker.
    pub max_in_flight: usize,
    /// How long a stopping server waits for calls in flight (default 10 s).
    pub drain: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            codec: Codec::Json,
            default_timeout: Duration::from_secs(30),
            max_in_flight: 1024,
            drain: Duration::from_secs(10),
        }
    }
}

/// What a reply is (the `svcgen-kind` header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplyKind {
    Reply,
    Error,
    Item,
    End,
    /// The broker's own answer: nobody listens on the subject.
    NoResponders,
    /// Not a reply: a caller that stopped reading a stream tells its server (`svcgen-cancel-to`).
    Cancel,
}

impl ReplyKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ReplyKind::Reply => "reply",
            ReplyKind::Error => "error",
            ReplyKind::Item => "item",
            ReplyKind::End => "end",
            ReplyKind::NoResponders => "no-responders",
            ReplyKind::Cancel => "cancel",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        [
            ReplyKind::Reply,
            ReplyKind::Error,
            ReplyKind::Item,
            ReplyKind::End,
            ReplyKind::NoResponders,
            ReplyKind::Cancel,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// What identifies a running call to its server: its reply address and, where replies share
/// one, its call id.
pub(crate) fn call_key(message: &Message) -> Option<(String, String)> {
    let reply_to = message.reply_to.clone()?;
    Some((reply_to, message.header(header::CALL).unwrap_or_default().to_owned()))
}

/// The content type of a codec.
pub(crate) fn content_type(codec: Codec) -> &'static str {
    match codec {
        Codec::Json => "application/json",
        Codec::MsgPack => "application/msgpack",
    }
}

/// The codec a content type names (JSON when absent).
pub(crate) fn codec_of(message: &Message) -> Result<Codec, Status> {
    match message.header(header::CONTENT_TYPE) {
        None | Some("application/json") => Ok(Codec::Json),
        Some("application/msgpack") => Ok(Codec::MsgPack),
        Some(other) => Err(Status::invalid_argument(format!("unsupported content type `{other}`"))),
    }
}

/// The headers that carry a Context (the deadline as milliseconds left, at least 1).
pub(crate) fn context_headers(ctx: &Context, headers: &mut Vec<(HeaderText, HeaderText)>) {
    headers.push((header::CORRELATION_ID.into(), ctx.correlation_id().to_owned().into()));
    if let Some(tp) = ctx.traceparent() {
        headers.push((header::TRACEPARENT.into(), tp.to_owned().into()));
    }
    if let Some(left) = ctx.remaining() {
        let ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1);
        headers.push((header::DEADLINE_MS.into(), ms.to_string().into()));
    }
    for (key, value) in ctx.metadata_iter() {
        headers.push((format!("{}{key}", header::METADATA_PREFIX).into(), value.to_owned().into()));
    }
}

/// The Context a request carries. A malformed deadline is refused, not ignored.
pub(crate) fn context_of(message: &Message) -> Result<Context, Box<(Context, Status)>> {
    let mut ctx =
        Context::from_headers(message.header(header::CORRELATION_ID), message.header(header::TRACEPARENT));
    for (key, value) in &message.headers {
        if let Some(key) = key.strip_prefix(header::METADATA_PREFIX) {
            ctx = ctx.with_metadata(key, &**value);
        }
    }
    if let Some(ms) = message.header(header::DEADLINE_MS) {
        let Ok(ms) = ms.parse::<u64>() else {
            let status = Status::invalid_argument(format!("the deadline header `{ms}` is not a number"));
            return Err(Box::new((ctx, status)));
        };
        ctx = ctx.with_timeout(Duration::from_millis(ms));
    }
    Ok(ctx)
}

/// Whether `subject` matches `pattern`, where a `*` token matches any one token and a
/// trailing `>` one or more (NATS' rules, which AMQP topic exchanges share for `*`).
#[must_use]
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut subject = subject.split('.');
    for token in pattern.split('.') {
        match (token, subject.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (token, Some(s)) if token == s => {}
            _ => return false,
        }
    }
    subject.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_like_nats() {
        assert!(subject_matches("a.b.*", "a.b.c"));
        assert!(!subject_matches("a.b.*", "a.b"));
        assert!(!subject_matches("a.b.*", "a.b.c.d"));
        assert!(subject_matches("a.>", "a.b.c"));
        assert!(!subject_matches("a.>", "a"));
        assert!(subject_matches("a.b", "a.b"));
        assert!(!subject_matches("a.b", "a.c"));
    }

    #[test]
    fn a_context_survives_its_headers() {
        let ctx = Context::new()
            .with_correlation_id("order-1")
            .with_metadata("authorization", "Bearer x")
            .with_timeout(Duration::from_secs(5));
        let mut headers = Vec::new();
        context_headers(&ctx, &mut headers);
        let back = context_of(&Message { headers, ..Message::default() }).expect("valid headers");
        assert_eq!(back.correlation_id(), "order-1");
        assert_eq!(back.traceparent(), ctx.traceparent());
        assert_eq!(back.metadata("authorization"), Some("Bearer x"));
        let left = back.remaining().expect("a deadline");
        assert!(left <= Duration::from_secs(5) && left > Duration::from_secs(4), "{left:?}");
    }

    #[test]
    fn a_malformed_deadline_is_refused() {
        let message = Message::default().with_header(header::DEADLINE_MS, "soon");
        let (_, status) = *context_of(&message).expect_err("not a number");
        assert_eq!(status.code(), crate::Code::InvalidArgument);
    }
}
