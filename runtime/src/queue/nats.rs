//! The NATS broker (async-nats): core NATS subjects, queue groups and inboxes.
//!
//! A message larger than the server's `max_payload` (1 MiB by default) travels by claim
//! check: its body is put in the `JetStream` object store bucket [`BODIES`], the message
//! carries its name in the `svcgen-body-ref` header, and the receiver fetches and deletes it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::io::AsyncReadExt as _;

use super::{
    Broker, ConsumerSpec, Deliveries, Delivery, HeaderText, Inbox, Message, Messages, ReplyKind, Settle,
    header,
};
use crate::dispatch::BoxFuture;
use crate::status::Status;

/// The object store bucket that holds bodies too large for one NATS message.
pub const BODIES: &str = "svcgen-bodies";

/// How long an unclaimed large body is kept.
const BODY_MAX_AGE: Duration = Duration::from_secs(3600);

/// How long a durable message (an event, a dead letter) is kept in its stream.
const EVENT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a delivered event may go unsettled before `JetStream` delivers it again.
const EVENT_ACK_WAIT: Duration = Duration::from_secs(30);

/// Events one pull asks for.
const EVENT_BATCH: usize = 64;

/// Unsettled events one consumer holds at most.
const EVENT_MAX_ACK_PENDING: i64 = 256;

/// A NATS server, through one async-nats connection (which reconnects and resubscribes by
/// itself when the connection drops). Cheap to clone.
#[derive(Clone)]
pub struct NatsBroker {
    client: async_nats::Client,
    bodies: Arc<tokio::sync::OnceCell<async_nats::jetstream::object_store::ObjectStore>>,
    /// The event streams known to exist (bounded: one per subject in use).
    streams: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// The `JetStream` context, made once (not per publish).
    jetstream: Arc<std::sync::OnceLock<async_nats::jetstream::Context>>,
}

impl std::fmt::Debug for NatsBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBroker").field("client", &self.client).finish_non_exhaustive()
    }
}

impl NatsBroker {
    /// How long `JetStream` remembers a published event's id (`Nats-Msg-Id`, which
    /// `publish_durable` sets to the event's `ce-id`) and drops a message with the same id as a
    /// duplicate: the `duplicate_window` of the event streams this broker makes (10 minutes, the
    /// same as a subscriber's default dedupe window).
    pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(600);

    /// Connects to `url` (`nats://127.0.0.1:4222`).
    ///
    /// # Errors
    /// `unavailable` when the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, Status> {
        let client = async_nats::ConnectOptions::new()
            .name("svcgen")
            .connect(url)
            .await
            .map_err(|e| Status::unavailable(format!("cannot connect to NATS at {url}: {e}")))?;
        Ok(Self::from_client(client))
    }

    /// A broker on a connection the caller made (its own options, credentials, TLS).
    #[must_use]
    pub fn from_client(client: async_nats::Client) -> Self {
        Self { client, bodies: Arc::default(), streams: Arc::default(), jetstream: Arc::default() }
    }

    /// The `JetStream` context of the connection (made on first use, inside the runtime).
    fn jetstream(&self) -> &async_nats::jetstream::Context {
        self.jetstream.get_or_init(|| async_nats::jetstream::new(self.client.clone()))
    }

    /// The bucket of large bodies, created on first use (idempotently).
    async fn bodies(&self) -> Result<&async_nats::jetstream::object_store::ObjectStore, Status> {
        self.bodies
            .get_or_try_init(|| async {
                let js = async_nats::jetstream::new(self.client.clone());
                let config = async_nats::jetstream::object_store::Config {
                    bucket: BODIES.to_owned(),
                    description: Some("svcgen: message bodies larger than max_payload".to_owned()),
                    max_age: BODY_MAX_AGE,
                    ..Default::default()
                };
                match js.create_object_store(config).await {
                    Ok(store) => Ok(store),
                    Err(created) => js
                        .get_object_store(BODIES)
                        .await
                        .map_err(|e| unavailable("object store", &format!("{created}; {e}"))),
                }
            })
            .await
    }

    /// The message as it goes out: a body too large for NATS is stored and referred to.
    async fn outgoing(&self, mut message: Message) -> Result<Message, Status> {
        let header_bytes: usize =
            message.headers.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>() + 16;
        if message.body.len() + header_bytes <= self.client.server_info().max_payload {
            return Ok(message);
        }
        let name = uuid::Uuid::new_v4().simple().to_string();
        let mut body = &message.body[..];
        self.bodies()
            .await?
            .put(name.as_str(), &mut body)
            .await
            .map_err(|e| unavailable("large body upload", &e))?;
        message.body = bytes::Bytes::new();
        message.headers.push((header::BODY_REF.into(), name.into()));
        Ok(message)
    }

    /// A subscription's messages, once the server has registered it, so that a request sent
    /// right after `listen` or `inbox` returns, on any connection, finds it.
    async fn messages(&self, subscriber: async_nats::Subscriber) -> Result<Messages, Status> {
        round_trip(&self.client).await?;
        let broker = self.clone();
        Ok(Box::pin(subscriber.then(move |m| {
            let message = message_of(&m);
            // (Only a claim check needs the broker: most messages go through without a clone of it.)
            let broker = message.header(header::BODY_REF).is_some().then(|| broker.clone());
            async move {
                match broker {
                    Some(broker) => broker.incoming(message).await,
                    None => message,
                }
            }
        })))
    }

    /// The message as it came in, its large body fetched (and deleted: one receiver claims it).
    async fn incoming(&self, mut message: Message) -> Message {
        let Some(name) = message.header(header::BODY_REF).map(str::to_owned) else { return message };
        let fetched = async {
            let store = self.bodies().await?;
            let mut object = store.get(&name).await.map_err(|e| unavailable("large body download", &e))?;
            let mut body = Vec::new();
            object.read_to_end(&mut body).await.map_err(|e| unavailable("large body download", &e))?;
            if let Err(e) = store.delete(&name).await {
                tracing::debug!(error = %e, "a claimed large body was not deleted (it expires)");
            }
            Ok::<_, Status>(body)
        };
        match fetched.await {
            Ok(body) => message.body = body.into(),
            Err(status) => {
                tracing::warn!(%status, subject = %message.subject, "a large body could not be fetched");
                message.headers.push((header::BODY_ERROR.into(), status.message().to_owned().into()));
            }
        }
        message
    }

    /// The underlying connection.
    #[must_use]
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The `JetStream` stream of the durable messages on `subject`, `svcgen_{subject}` (dots
    /// as `_`), made on first use (idempotently).
    async fn stream(&self, subject: &str) -> Result<async_nats::jetstream::stream::Stream, Status> {
        let js = self.jetstream();
        let config = async_nats::jetstream::stream::Config {
            name: stream_name(subject),
            subjects: vec![subject.to_owned()],
            max_age: EVENT_MAX_AGE,
            duplicate_window: Self::DUPLICATE_WINDOW,
            description: Some("svcgen: durable events".to_owned()),
            ..Default::default()
        };
        let stream = match js.get_or_create_stream(config).await {
            Ok(stream) => stream,
            // A stream of the user's may already hold the subject (subjects of streams must not
            // overlap): events go there.
            Err(created) => {
                let name = js
                    .stream_by_subject(subject)
                    .await
                    .map_err(|e| unavailable("stream", &format!("{created}; {e}")))?;
                js.get_stream(name).await.map_err(|e| unavailable("stream", &e))?
            }
        };
        let mut known = self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.len() >= 10_000 {
            known.clear();
        }
        known.insert(subject.to_owned());
        Ok(stream)
    }
}

/// Returns once the server has processed everything this connection sent before: a message to
/// a fresh inbox of ours comes back only after the server handled the commands before it (it
/// reads a connection in order). `flush` is not enough: it only writes the buffer to the socket,
/// so a subscription could still be unknown to the server when another connection publishes.
pub(crate) async fn round_trip(client: &async_nats::Client) -> Result<(), Status> {
    let probe = client.new_inbox();
    let mut echo = client.subscribe(probe.clone()).await.map_err(|e| unavailable("subscribe", &e))?;
    client.publish(probe, bytes::Bytes::new()).await.map_err(|e| unavailable("publish", &e))?;
    client.flush().await.map_err(|e| unavailable("flush", &e))?;
    match tokio::time::timeout(ROUND_TRIP_TIMEOUT, echo.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Status::unavailable("NATS round trip failed: the connection closed")),
        Err(_) => Err(Status::unavailable("NATS round trip failed: no answer from the server")),
    }
}

/// How long [`round_trip`] waits for the server.
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(10);

/// A name `JetStream` accepts (no `.`, `*`, `>` or spaces) made from `text`.
fn js_name(prefix: &str, text: &str) -> String {
    let safe: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    format!("{prefix}{safe}")
}

fn stream_name(subject: &str) -> String {
    js_name("svcgen_", subject)
}

/// How a `JetStream` delivery is settled.
struct NatsSettle {
    /// (Shared by the consumer's deliveries: a clone of the broker per delivery costs more.)
    broker: Arc<NatsBroker>,
    message: async_nats::jetstream::Message,
}

impl Settle for NatsSettle {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), Status>> {
        Box::pin(async move { self.message.ack().await.map_err(|e| unavailable("ack", &e)) })
    }

    fn retry(self: Box<Self>, _: Message, delay: Duration) -> BoxFuture<'static, Result<(), Status>> {
        Box::pin(async move {
            let nak = async_nats::jetstream::AckKind::Nak(Some(delay));
            self.message.ack_with(nak).await.map_err(|e| unavailable("nak", &e))
        })
    }

    fn dead_letter(self: Box<Self>, dead_letter: Message) -> BoxFuture<'static, Result<(), Status>> {
        Box::pin(async move {
            self.broker.publish_durable(dead_letter).await?;
            let term = async_nats::jetstream::AckKind::Term;
            self.message.ack_with(term).await.map_err(|e| unavailable("term", &e))
        })
    }
}

fn unavailable(what: &str, e: &impl std::fmt::Display) -> Status {
    Status::unavailable(format!("NATS {what} failed: {e}"))
}

/// Our message as NATS headers (the values moved, not copied).
fn header_map(headers: Vec<(HeaderText, HeaderText)>) -> async_nats::HeaderMap {
    // Which headers repeat an earlier name: the first of a name is inserted with one hash lookup
    // (`append` takes two). Past 64 headers, every one is appended.
    let mut repeats = 0_u64;
    for (i, (name, _)) in headers.iter().enumerate().take(64) {
        if headers[..i].iter().any(|(n, _)| n == name) {
            repeats |= 1 << i;
        }
    }
    let mut map = async_nats::HeaderMap::new();
    for (i, (name, value)) in headers.into_iter().enumerate() {
        append(&mut map, &name, value, i >= 64 || repeats & (1 << i) != 0);
    }
    map
}

/// Adds one header (`repeated`: another value of a name already there; else the first, stored
/// with one hash lookup instead of two). A name or value NATS cannot carry (a `:` or a control
/// character in the name, a line break in the value: async-nats would panic on them) is left out
/// and logged.
fn append(headers: &mut async_nats::HeaderMap, name: &HeaderText, value: HeaderText, repeated: bool) {
    if value.contains(['\r', '\n']) {
        tracing::warn!(header = %name, "a header value with a line break was left out");
        return;
    }
    let name = match header::KNOWN.iter().find(|known| **known == &**name) {
        Some(known) => async_nats::header::HeaderName::from_static(known),
        None => match name.parse::<async_nats::header::HeaderName>() {
            Ok(name) => name,
            Err(e) => {
                tracing::warn!(header = %name, error = %e, "a header name NATS cannot carry was left out");
                return;
            }
        },
    };
    let value = async_nats::HeaderValue::from(value.into_owned());
    if repeated {
        headers.append(name, value);
    } else {
        headers.insert(name, value);
    }
}

/// A durable message's NATS headers: `Nats-Msg-Id` is the event's id (`ce-id`), so that
/// `JetStream` drops the same event published again within [`NatsBroker::DUPLICATE_WINDOW`], from any
/// process. (A copy the message carries already, as a dead letter does from its delivery, is
/// replaced.)
fn durable_header_map(mut headers: Vec<(HeaderText, HeaderText)>) -> async_nats::HeaderMap {
    let id_header: &str = async_nats::header::NATS_MESSAGE_ID.as_ref();
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case(id_header));
    let id =
        headers.iter().find(|(name, _)| name == crate::queue::events::ce::ID).map(|(_, id)| id.to_string());
    let mut map = header_map(headers);
    if let Some(id) = id {
        map.insert(async_nats::header::NATS_MESSAGE_ID, id);
    }
    map
}

/// A NATS message as ours; the server's "no responders" status becomes a reply of that kind.
fn message_of(nats: &async_nats::Message) -> Message {
    let mut message = durable_message_of(nats);
    message.reply_to = nats.reply.as_ref().map(|r| r.as_str().to_owned());
    message
}

/// A `JetStream` delivery as ours: its reply subject is the broker's acknowledgement address,
/// not a reply address of ours, so it is left out.
fn durable_message_of(nats: &async_nats::Message) -> Message {
    let mut headers = Vec::with_capacity(nats.headers.as_ref().map_or(0, async_nats::HeaderMap::len) + 1);
    if let Some(map) = &nats.headers {
        for (name, values) in map.iter() {
            let name = header::name(name.as_ref());
            for value in values {
                headers.push((name.clone(), value.as_str().to_owned().into()));
            }
        }
    }
    if nats.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
        headers.push((header::KIND.into(), ReplyKind::NoResponders.as_str().into()));
    }
    Message { subject: nats.subject.as_str().to_owned(), reply_to: None, headers, body: nats.payload.clone() }
}

impl Broker for NatsBroker {
    fn send(&self, message: Message) -> BoxFuture<'_, Result<(), Status>> {
        Box::pin(async move {
            let mut message = self.outgoing(message).await?;
            let headers = header_map(std::mem::take(&mut message.headers));
            let published = match message.reply_to {
                Some(reply) => {
                    self.client
                        .publish_with_reply_and_headers(message.subject, reply, headers, message.body)
                        .await
                }
                None => self.client.publish_with_headers(message.subject, headers, message.body).await,
            };
            published.map_err(|e| unavailable("publish", &e))
        })
    }

    fn reply(&self, message: Message) -> BoxFuture<'_, Result<(), Status>> {
        self.send(message)
    }

    fn listen(&self, subject: &str, group: &str) -> BoxFuture<'_, Result<Messages, Status>> {
        let (subject, group) = (subject.to_owned(), group.to_owned());
        Box::pin(async move {
            let subscriber = self
                .client
                .queue_subscribe(subject, group)
                .await
                .map_err(|e| unavailable("subscribe", &e))?;
            self.messages(subscriber).await
        })
    }

    fn inbox(&self) -> BoxFuture<'_, Result<Inbox, Status>> {
        Box::pin(async move {
            let address = self.client.new_inbox();
            let subscriber = self
                .client
                .subscribe(format!("{address}.*"))
                .await
                .map_err(|e| unavailable("subscribe", &e))?;
            let messages = self.messages(subscriber).await?;
            Ok(Inbox { address, per_call: true, messages })
        })
    }

    fn request(&self, message: Message) -> Result<BoxFuture<'_, Result<Message, Status>>, Message> {
        use async_nats::RequestErrorKind;
        Ok(Box::pin(async move {
            let mut message = self.outgoing(message).await?;
            let request = async_nats::Request::new()
                .headers(header_map(std::mem::take(&mut message.headers)))
                .payload(message.body)
                // (The caller's deadline bounds the call.)
                .timeout(None);
            match self.client.send_request(message.subject.clone(), request).await {
                Ok(reply) => {
                    let reply = message_of(&reply);
                    Ok(if reply.header(header::BODY_REF).is_some() {
                        self.incoming(reply).await
                    } else {
                        reply
                    })
                }
                Err(e) if e.kind() == RequestErrorKind::NoResponders => {
                    Err(Status::unavailable(format!("no responders on `{}`", message.subject)))
                }
                Err(e) => Err(unavailable("request", &e)),
            }
        }))
    }

    fn publish_durable(&self, mut message: Message) -> BoxFuture<'_, Result<(), Status>> {
        Box::pin(async move {
            let known = self
                .streams
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains(&message.subject);
            if !known {
                self.stream(&message.subject).await?;
            }
            let headers = durable_header_map(std::mem::take(&mut message.headers));
            let ack = self
                .jetstream()
                .publish_with_headers(message.subject, headers, message.body)
                .await
                .map_err(|e| unavailable("JetStream publish", &e))?;
            ack.await.map_err(|e| unavailable("JetStream publish acknowledgement", &e))?;
            Ok(())
        })
    }

    fn consume(&self, spec: ConsumerSpec) -> BoxFuture<'_, Result<Deliveries, Status>> {
        use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
        Box::pin(async move {
            let stream = self.stream(&spec.subject).await?;
            let name = spec.group.as_deref().map(|g| js_name("", g));
            let config = pull::Config {
                durable_name: name.clone(),
                filter_subject: spec.subject.clone(),
                ack_policy: AckPolicy::Explicit,
                // A new consumer starts with the events published from now on.
                deliver_policy: DeliverPolicy::New,
                ack_wait: EVENT_ACK_WAIT,
                max_ack_pending: EVENT_MAX_ACK_PENDING,
                inactive_threshold: if name.is_some() { Duration::ZERO } else { Duration::from_secs(60) },
                ..Default::default()
            };
            let consumer = match &name {
                Some(name) => stream.get_or_create_consumer(name, config).await,
                None => stream.create_consumer(config).await,
            }
            .map_err(|e| unavailable("consumer", &e))?;
            // Pulled in batches of at most 64, so events do not wait in the process long enough
            // for their acknowledgement time to run out.
            let messages = consumer
                .stream()
                .max_messages_per_batch(EVENT_BATCH)
                .messages()
                .await
                .map_err(|e| unavailable("consume", &e))?;
            let (broker, dead_letter) = (Arc::new(self.clone()), Arc::<str>::from(spec.dead_letter));
            let deliveries = messages.filter_map(move |next| {
                let (broker, dead_letter) = (broker.clone(), dead_letter.clone());
                async move {
                    let message = match next {
                        Ok(message) => message,
                        Err(e) => {
                            tracing::debug!(error = %e, "a JetStream consumer hiccup (it goes on)");
                            return None;
                        }
                    };
                    let attempt = message.info().map_or(1, |info| u32::try_from(info.delivered).unwrap_or(1));
                    let ours = durable_message_of(&message.message);
                    let settle = NatsSettle { broker, message };
                    Some(Delivery::new(ours, attempt, dead_letter, Box::new(settle)))
                }
            });
            Ok(Box::pin(deliveries) as Deliveries)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_nats_cannot_carry_are_left_out_not_a_panic() {
        let message = Message::default()
            .with_header(header::CALL, "7")
            .with_header("svcgen-meta-a:b", "x")
            .with_header("svcgen-meta-c", "one\r\ntwo")
            .with_header("svcgen-meta-d", "fine")
            .with_header("svcgen-meta-d", "twice");
        let headers = header_map(message.headers);
        assert_eq!(headers.get(header::CALL).map(async_nats::HeaderValue::as_str), Some("7"));
        let both: Vec<&str> = headers.get_all("svcgen-meta-d").map(async_nats::HeaderValue::as_str).collect();
        assert_eq!(both, ["fine", "twice"], "a repeated header keeps every value");
        assert_eq!(headers.get("svcgen-meta-d").map(async_nats::HeaderValue::as_str), Some("fine"));
        assert!(headers.get("svcgen-meta-c").is_none());
        assert_eq!(headers.iter().count(), 2);
    }

    #[test]
    fn a_durable_message_carries_its_event_id_for_jetstream() {
        let message = Message::default()
            .with_header(crate::queue::events::ce::ID, "e-1")
            .with_header("nats-msg-id", "stale");
        let headers = durable_header_map(message.headers);
        let ids: Vec<&str> = headers
            .get_all(async_nats::header::NATS_MESSAGE_ID)
            .map(async_nats::HeaderValue::as_str)
            .collect();
        assert_eq!(ids, ["e-1"]);
    }
}
