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

use super::{Broker, Inbox, Message, Messages, header};
use crate::dispatch::BoxFuture;
use crate::status::Status;

/// The exchange requests are published to.
pub const EXCHANGE: &str = "svcgen";

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
        let mut properties = BasicProperties::default().with_headers(field_table(&message));
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
        let options = BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
        let publish = |properties: BasicProperties| {
            let channel = &self.inner.publisher;
            let (exchange, subject, body) = (exchange, message.subject.as_str(), &message.body);
            async move {
                channel.basic_publish(exchange.into(), subject.into(), options, body, properties).await?.await
            }
        };
        let confirmation = match publish(properties.clone()).await {
            Ok(confirmation) => confirmation,
            // The connection dropped: wait for lapin to recover it, then publish once more.
            Err(e) => {
                self.inner.publisher.wait_for_recovery(e).await.map_err(|e| unavailable("publish", &e))?;
                publish(properties).await.map_err(|e| unavailable("publish", &e))?
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
                    Ok(delivery) => {
                        if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
                            tracing::debug!(error = %e, "an AMQP ack failed");
                        }
                        let message = message_of(&delivery);
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

/// Our headers as an AMQP table (string values).
fn field_table(message: &Message) -> FieldTable {
    let mut table = FieldTable::default();
    for (name, value) in &message.headers {
        table.insert(ShortString::from(name.as_str()), AMQPValue::LongString(value.as_str().into()));
    }
    table
}

/// An AMQP delivery as our message (string and byte-string headers are kept).
fn message_of(delivery: &lapin::message::Delivery) -> Message {
    let mut headers = Vec::new();
    if let Some(table) = delivery.properties.headers() {
        for (name, value) in table.inner() {
            let value = match value {
                AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                AMQPValue::ShortString(s) => s.as_str().to_owned(),
                AMQPValue::ByteArray(b) => String::from_utf8_lossy(b.as_slice()).into_owned(),
                _ => continue,
            };
            headers.push((name.as_str().to_ascii_lowercase(), value));
        }
    }
    Message {
        subject: delivery.routing_key.as_str().to_owned(),
        reply_to: delivery.properties.reply_to().as_ref().map(|r| r.as_str().to_owned()),
        headers,
        body: bytes::Bytes::copy_from_slice(&delivery.data),
    }
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
}
