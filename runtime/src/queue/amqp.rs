//! The `RabbitMQ` broker (lapin, AMQP 0-9-1).
//!
//! Requests are published to the topic exchange `svcgen` with the subject as routing key,
//! `mandatory` and with publisher confirms, so a subject nobody listens on is returned at once
//! ("no responders"). A group is a queue of that name bound to the exchange; its members are
//! competing consumers. An inbox is an exclusive, server-named queue; replies go to it
//! through the default exchange. A request's deadline is also its `expiration`, so the broker
//! drops requests that expire while they wait.

use std::sync::Arc;

use futures_util::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind};

use super::durable::{attempt_of, with_attempt};
use super::{Broker, ConsumerSpec, Deliveries, Delivery, Inbox, Message, Messages, Settle, header};
use crate::dispatch::BoxFuture;
use crate::status::Status;

/// The exchange requests are published to.
pub const EXCHANGE: &str = "svcgen";

/// The durable topic exchange events (and dead letters) are published to.
pub const EVENTS_EXCHANGE: &str = "svcgen.events";

/// The durable queue that keeps every dead letter (bound with `#.svcgen.dlq.#`), at most
/// [`DEAD_LETTERS_MAX`] (the oldest are dropped beyond).
pub const DEAD_LETTERS: &str = "svcgen.dlq";

/// The dead letters [`DEAD_LETTERS`] keeps at most.
pub const DEAD_LETTERS_MAX: i64 = 100_000;

/// How many unsettled events one consumer holds.
const EVENT_PREFETCH: u16 = 64;

/// How many unacknowledged requests one member of a group holds (it acknowledges each as it
/// takes it up, so this bounds what waits in the process rather than in the broker).
const PREFETCH: u16 = 256;

/// A `RabbitMQ` server, through one AMQP connection (which lapin recovers when it drops:
/// channels, queues, bindings and consumers are declared again). Cheap to clone.
#[derive(Clone, Debug)]
pub struct AmqpBroker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    connection: Connection,
    /// The channel requests and replies are published on, in confirm mode.
    publisher: Channel,
}

fn unavailable(what: &str, e: &impl std::fmt::Display) -> Status {
    Status::unavailable(format!("AMQP {what} failed: {e}"))
}

impl AmqpBroker {
    /// Connects to `uri` (`amqp://guest:guest@127.0.0.1:5672/%2f`) and declares the exchange.
    ///
    /// # Errors
    /// `unavailable` when the server cannot be reached.
    pub async fn connect(uri: &str) -> Result<Self, Status> {
        Self::connect_named(uri, "svcgen").await
    }

    /// Connects as [`connect`](Self::connect) does, under a connection name the broker shows
    /// (`rabbitmqctl list_connections user_provided_name`, the management UI).
    ///
    /// # Errors
    /// `unavailable` when the server cannot be reached.
    pub async fn connect_named(uri: &str, name: &str) -> Result<Self, Status> {
        let properties =
            ConnectionProperties::default().with_connection_name(name.into()).enable_auto_recover();
        let connection =
            Connection::connect(uri, properties).await.map_err(|e| unavailable("connection", &e))?;
        let publisher = connection.create_channel().await.map_err(|e| unavailable("channel", &e))?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| unavailable("confirm", &e))?;
        declare_exchange(&publisher).await?;
        Ok(Self { inner: Arc::new(Inner { connection, publisher }) })
    }

    /// The underlying connection.
    #[must_use]
    pub fn connection(&self) -> &Connection {
        &self.inner.connection
    }

    async fn publish(&self, exchange: &str, message: Message) -> Result<(), Status> {
        let options = BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
        let publish = |properties: BasicProperties| {
            let channel = &self.inner.publisher;
            let (exchange, subject, body) = (exchange, message.subject.as_str(), &message.body);
            async move {
                channel.basic_publish(exchange.into(), subject.into(), options, body, properties).await?.await
            }
        };
        let confirmation = match publish(request_properties(&message)).await {
            Ok(confirmation) => confirmation,
            // The connection dropped: wait for lapin to recover it, then publish once more.
            Err(e) => {
                self.inner.publisher.wait_for_recovery(e).await.map_err(|e| unavailable("publish", &e))?;
                publish(request_properties(&message)).await.map_err(|e| unavailable("publish", &e))?
            }
        };
        match confirmation {
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
            Confirmation::Ack(Some(_)) => {
                Err(Status::unavailable(format!("no responders on `{}`", message.subject)))
            }
            Confirmation::Nack(_) => {
                Err(Status::unavailable(format!("the broker refused a message on `{}`", message.subject)))
            }
        }
    }

    /// Publishes a persistent event, confirmed; the attributes `ce-x` become `cloudEvents_x`.
    async fn publish_event(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &Message,
    ) -> Result<(), Status> {
        let mut table = FieldTable::default();
        for (name, value) in &message.headers {
            let name =
                name.strip_prefix("ce-").map_or_else(|| name.to_string(), |a| format!("cloudEvents_{a}"));
            table.insert(ShortString::from(name), AMQPValue::LongString(value.as_bytes().into()));
        }
        let mut properties = BasicProperties::default().with_headers(table).with_delivery_mode(2);
        if let Some(content_type) = message.header(header::CONTENT_TYPE) {
            properties = properties.with_content_type(content_type.into());
        }
        if let Some(id) = message.header("ce-id") {
            properties = properties.with_message_id(id.into());
        }
        let options = BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
        let publish = |properties: BasicProperties| {
            let channel = &self.inner.publisher;
            let body = &message.body;
            async move {
                channel
                    .basic_publish(exchange.into(), routing_key.into(), options, body, properties)
                    .await?
                    .await
            }
        };
        let confirmation = match publish(properties.clone()).await {
            Ok(confirmation) => confirmation,
            Err(e) => {
                self.inner.publisher.wait_for_recovery(e).await.map_err(|e| unavailable("publish", &e))?;
                publish(properties).await.map_err(|e| unavailable("publish", &e))?
            }
        };
        match confirmation {
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
            Confirmation::Ack(Some(_)) => {
                tracing::warn!(subject = %routing_key, "an event no queue is bound for was dropped by RabbitMQ");
                Ok(())
            }
            Confirmation::Nack(_) => {
                Err(Status::unavailable(format!("the broker refused an event on `{routing_key}`")))
            }
        }
    }

    /// The queue a consumer consumes: a group's durable queue, or a lone exclusive one.
    async fn event_queue(&self, channel: &Channel, spec: &ConsumerSpec) -> Result<String, Status> {
        let events = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
        channel
            .exchange_declare(EVENTS_EXCHANGE.into(), ExchangeKind::Topic, events, FieldTable::default())
            .await
            .map_err(|e| unavailable("exchange declaration", &e))?;
        let mut limits = FieldTable::default();
        limits.insert("x-max-length".into(), AMQPValue::LongLongInt(DEAD_LETTERS_MAX));
        let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
        channel
            .queue_declare(DEAD_LETTERS.into(), durable, limits)
            .await
            .map_err(|e| unavailable("queue declaration", &e))?;
        self.bind(channel, DEAD_LETTERS, "#.svcgen.dlq.#").await?;
        let queue = if let Some(group) = &spec.group {
            let name = format!("svcgen.events.{}.{group}", spec.subject);
            channel
                .queue_declare(name.as_str().into(), durable, FieldTable::default())
                .await
                .map_err(|e| unavailable("queue declaration", &e))?;
            name
        } else {
            let options =
                QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() };
            let queue = channel
                .queue_declare("".into(), options, FieldTable::default())
                .await
                .map_err(|e| unavailable("queue declaration", &e))?;
            queue.name().as_str().to_owned()
        };
        self.bind(channel, &queue, &spec.subject).await?;
        Ok(queue)
    }

    async fn bind(&self, channel: &Channel, queue: &str, pattern: &str) -> Result<(), Status> {
        channel
            .queue_bind(
                queue.into(),
                EVENTS_EXCHANGE.into(),
                pattern.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| unavailable("queue binding", &e))
    }

    /// A channel consuming `queue`, each delivery acknowledged as it is taken.
    async fn consume(&self, channel: Channel, queue: &str) -> Result<Messages, Status> {
        channel.basic_qos(PREFETCH, BasicQosOptions::default()).await.map_err(|e| unavailable("qos", &e))?;
        let consumer = channel
            .basic_consume(queue.into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
            .await
            .map_err(|e| unavailable("consume", &e))?;
        let state = (consumer, channel);
        let messages = futures_util::stream::unfold(state, |(mut consumer, channel)| async move {
            loop {
                match consumer.next().await? {
                    Ok(mut delivery) => {
                        if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
                            tracing::debug!(error = %e, "an AMQP ack failed");
                        }
                        let message = message_of(&mut delivery);
                        return Some((message, (consumer, channel)));
                    }
                    Err(e) => {
                        // Recovered: the consumer is declared again and delivers on.
                        if let Err(e) = channel.wait_for_recovery(e).await {
                            tracing::warn!(error = %e, "an AMQP consumer is gone");
                            return None;
                        }
                    }
                }
            }
        });
        Ok(Box::pin(messages))
    }
}

async fn declare_exchange(channel: &Channel) -> Result<(), Status> {
    let options = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel
        .exchange_declare(EXCHANGE.into(), ExchangeKind::Topic, options, FieldTable::default())
        .await
        .map_err(|e| unavailable("exchange declaration", &e))
}

/// The properties of a request or reply: our headers, and the AMQP properties some of them are.
fn request_properties(message: &Message) -> BasicProperties {
    let mut properties = BasicProperties::default().with_headers(field_table(message));
    if let Some(reply_to) = &message.reply_to {
        properties = properties.with_reply_to(reply_to.as_str().into());
    }
    if let Some(call) = message.header(header::CALL) {
        properties = properties.with_correlation_id(call.into());
    }
    if let Some(content_type) = message.header(header::CONTENT_TYPE) {
        properties = properties.with_content_type(content_type.into());
    }
    // (Only a well-formed deadline: the broker closes the channel on a bad expiration; the
    // server refuses the malformed header itself.)
    if let Some(ms) = message.header(header::DEADLINE_MS).filter(|ms| ms.parse::<u32>().is_ok()) {
        properties = properties.with_expiration(ms.into());
    }
    properties
}

/// Our headers as an AMQP table (string values).
fn field_table(message: &Message) -> FieldTable {
    let mut table = FieldTable::default();
    for (name, value) in &message.headers {
        table.insert(ShortString::from(&**name), AMQPValue::LongString(value.as_bytes().into()));
    }
    table
}

/// An AMQP delivery as our message (string and byte-string headers are kept); its body is moved,
/// not copied (settling a delivery does not need it).
fn message_of(delivery: &mut lapin::message::Delivery) -> Message {
    let mut headers = Vec::new();
    if let Some(table) = delivery.properties.headers() {
        for (name, value) in table.inner() {
            let value = match value {
                AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                AMQPValue::ShortString(s) => s.as_str().to_owned(),
                AMQPValue::ByteArray(b) => String::from_utf8_lossy(b.as_slice()).into_owned(),
                _ => continue,
            };
            headers.push((header::name(name.as_str()), value.into()));
        }
    }
    Message {
        subject: delivery.routing_key.as_str().to_owned(),
        reply_to: delivery.properties.reply_to().as_ref().map(|r| r.as_str().to_owned()),
        headers,
        body: std::mem::take(&mut delivery.data).into(),
    }
}

/// How an AMQP event delivery is settled.
struct AmqpSettle {
    broker: AmqpBroker,
    delivery: lapin::message::Delivery,
    queue: std::sync::Arc<str>,
    attempt: u32,
}

impl Settle for AmqpSettle {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), Status>> {
        Box::pin(async move {
            self.delivery.ack(BasicAckOptions::default()).await.map(drop).map_err(|e| unavailable("ack", &e))
        })
    }

    /// A copy, the next attempt, is published to the consumer's queue after `delay`, and then
    /// the original is acknowledged: a failure in between delivers it again, never loses it.
    fn retry(
        self: Box<Self>,
        message: Message,
        delay: std::time::Duration,
    ) -> BoxFuture<'static, Result<(), Status>> {
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let next = with_attempt(message, self.attempt.saturating_add(1));
            let retried = async {
                self.broker.publish_event("", &self.queue, &next).await?;
                self.delivery.ack(BasicAckOptions::default()).await.map_err(|e| unavailable("ack", &e))
            };
            if let Err(status) = retried.await {
                tracing::warn!(%status, queue = %self.queue, "an event retry failed: it comes again");
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn dead_letter(self: Box<Self>, dead_letter: Message) -> BoxFuture<'static, Result<(), Status>> {
        Box::pin(async move {
            self.broker.publish_event(EVENTS_EXCHANGE, &dead_letter.subject, &dead_letter).await?;
            self.delivery.ack(BasicAckOptions::default()).await.map(drop).map_err(|e| unavailable("ack", &e))
        })
    }
}

/// An event delivery as our message: `cloudEvents_x` headers back as `ce-x`.
fn event_of(delivery: &mut lapin::message::Delivery) -> Message {
    let mut message = message_of(delivery);
    for (name, _) in &mut message.headers {
        if let Some(attribute) = name.strip_prefix("cloudevents_") {
            *name = header::name(&format!("ce-{attribute}"));
        }
    }
    if message.header(header::CONTENT_TYPE).is_none()
        && let Some(content_type) = delivery.properties.content_type()
    {
        message.headers.push((header::CONTENT_TYPE.into(), content_type.as_str().to_owned().into()));
    }
    message
}

impl Broker for AmqpBroker {
    fn send(&self, message: Message) -> BoxFuture<'_, Result<(), Status>> {
        Box::pin(self.publish(EXCHANGE, message))
    }

    fn reply(&self, message: Message) -> BoxFuture<'_, Result<(), Status>> {
        Box::pin(self.publish("", message))
    }

    fn listen(&self, subject: &str, group: &str) -> BoxFuture<'_, Result<Messages, Status>> {
        // AMQP spells NATS' trailing `>` as `#`; `*` is the same in both.
        let pattern = subject.strip_suffix('>').map_or_else(|| subject.to_owned(), |s| format!("{s}#"));
        let group = group.to_owned();
        Box::pin(async move {
            let channel =
                self.inner.connection.create_channel().await.map_err(|e| unavailable("channel", &e))?;
            declare_exchange(&channel).await?;
            // The group's queue lives while it has members: with none left, requests are
            // returned as unroutable ("no responders") rather than kept for nobody.
            let options = QueueDeclareOptions { auto_delete: true, ..QueueDeclareOptions::default() };
            channel
                .queue_declare(group.as_str().into(), options, FieldTable::default())
                .await
                .map_err(|e| unavailable("queue declaration", &e))?;
            channel
                .queue_bind(
                    group.as_str().into(),
                    EXCHANGE.into(),
                    pattern.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| unavailable("queue binding", &e))?;
            self.consume(channel, &group).await
        })
    }

    fn inbox(&self) -> BoxFuture<'_, Result<Inbox, Status>> {
        Box::pin(async move {
            let channel =
                self.inner.connection.create_channel().await.map_err(|e| unavailable("channel", &e))?;
            let options =
                QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() };
            let queue = channel
                .queue_declare("".into(), options, FieldTable::default())
                .await
                .map_err(|e| unavailable("inbox declaration", &e))?;
            let address = queue.name().as_str().to_owned();
            let messages = self.consume(channel, &address).await?;
            Ok(Inbox { address, per_call: false, messages })
        })
    }

    fn publish_durable(&self, message: Message) -> BoxFuture<'_, Result<(), Status>> {
        Box::pin(async move { self.publish_event(EVENTS_EXCHANGE, &message.subject, &message).await })
    }

    fn consume(&self, spec: ConsumerSpec) -> BoxFuture<'_, Result<Deliveries, Status>> {
        Box::pin(async move {
            let channel =
                self.inner.connection.create_channel().await.map_err(|e| unavailable("channel", &e))?;
            let queue: std::sync::Arc<str> = self.event_queue(&channel, &spec).await?.into();
            channel
                .basic_qos(EVENT_PREFETCH, BasicQosOptions::default())
                .await
                .map_err(|e| unavailable("qos", &e))?;
            let consumer = channel
                .basic_consume(
                    (&*queue).into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| unavailable("consume", &e))?;
            let (broker, subject) = (self.clone(), spec.subject);
            let dead_letter = std::sync::Arc::<str>::from(spec.dead_letter);
            let state = (consumer, channel);
            let deliveries = futures_util::stream::unfold(state, move |(mut consumer, channel)| {
                let (broker, queue, dead_letter) = (broker.clone(), queue.clone(), dead_letter.clone());
                let subject = subject.clone();
                async move {
                    loop {
                        match consumer.next().await? {
                            Ok(mut delivery) => {
                                let mut message = event_of(&mut delivery);
                                // (A retried copy comes through the default exchange, routed by
                                // the queue's name: the subject is the one the queue is bound to.)
                                message.subject = subject;
                                let attempt =
                                    attempt_of(&message).saturating_add(u32::from(delivery.redelivered));
                                let settle = AmqpSettle { broker, delivery, queue, attempt };
                                let delivery = Delivery::new(message, attempt, dead_letter, Box::new(settle));
                                return Some((delivery, (consumer, channel)));
                            }
                            Err(e) => {
                                // Recovered: the consumer is declared again and delivers on.
                                if let Err(e) = channel.wait_for_recovery(e).await {
                                    tracing::warn!(error = %e, "an AMQP event consumer is gone");
                                    return None;
                                }
                            }
                        }
                    }
                }
            });
            Ok(Box::pin(deliveries) as Deliveries)
        })
    }
}
