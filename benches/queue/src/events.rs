//! Events, publish → handled: the runtime's `EventPublisher` and `Subscriber` on each broker,
//! and beside them raw async-nats `JetStream` (publish, pull consumer, ack), raw lapin (publish
//! with confirms, consume with ack) and a bare `tokio::sync::mpsc`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Confirmation};
use svcgen::Context;
use svcgen::queue::Broker;
use svcgen::queue::events::{Event, EventPublisher, Subscriber, Subscription};
use tokio::sync::mpsc;

use crate::qbench::OrderPlaced;
use crate::service::order;

/// The subject the runtime's peers publish on.
pub const EVENT: &str = "qbench.bench.order_placed";
/// The subject the raw peers publish on: the same configuration, a stream (queue) of its own, so
/// the peers never see each other's events.
pub const RAW_EVENT: &str = "qbench.raw.order_placed";
/// The consumer group.
pub const GROUP: &str = "qbench-billing";
/// The runtime's `JetStream` stream of [`RAW_EVENT`] would be called this (`svcgen_{subject}`).
pub const RAW_STREAM: &str = "svcgen_qbench_raw_order_placed";
/// The `RabbitMQ` exchange of events (the runtime's).
pub const EVENTS_EXCHANGE: &str = "svcgen.events";
/// The durable queue of the raw `RabbitMQ` consumer (named as the runtime names a group's).
pub const RAW_QUEUE: &str = "svcgen.events.qbench.raw.order_placed.qbench-billing";

/// Events handled, per peer.
pub type Handled = Arc<AtomicU64>;

/// One producer of each peer.
pub enum Producer {
    /// `EventPublisher::publish`, up to `window` at once.
    Svcgen(EventPublisher<Arc<dyn Broker>>),
    /// `JetStream` publish of the same headers and body, up to `window` acknowledgements pending.
    RawNats(async_nats::jetstream::Context, Vec<(String, String)>),
    /// lapin publish (persistent, mandatory) of the same headers and body, up to `window`
    /// confirms pending.
    RawAmqp(lapin::Channel, Vec<(String, String)>),
    /// A bare bounded `mpsc` of the data.
    Bare(mpsc::Sender<OrderPlaced>),
}

impl Producer {
    /// Publishes for `duration`, at most `window` unacknowledged; how many were acknowledged.
    ///
    /// # Errors
    /// The first failed publish.
    pub async fn produce(&self, window: usize, duration: Duration) -> Result<u64, String> {
        let end = Instant::now() + duration;
        match self {
            Producer::Svcgen(publisher) => {
                let ctx = Context::new();
                let acked = AtomicU64::new(0);
                let failed = std::sync::Mutex::new(None);
                futures_util::stream::iter(0_u64..)
                    .take_while(|_| std::future::ready(Instant::now() < end))
                    .for_each_concurrent(window, |n| {
                        let (ctx, acked, failed) = (&ctx, &acked, &failed);
                        async move {
                            match publisher.publish(EVENT, ctx, &order(n)).await {
                                Ok(_) => {
                                    acked.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => *failed.lock().expect("lock") = Some(e.to_string()),
                            }
                        }
                    })
                    .await;
                match failed.into_inner().expect("lock") {
                    Some(e) => Err(e),
                    None => Ok(acked.into_inner()),
                }
            }
            Producer::RawNats(js, headers) => {
                let mut pending: FuturesUnordered<
                    <async_nats::jetstream::context::PublishAckFuture as IntoFuture>::IntoFuture,
                > = FuturesUnordered::new();
                let mut acked = 0;
                let mut n = 0;
                while Instant::now() < end {
                    while pending.len() >= window {
                        if let Some(ack) = pending.next().await {
                            ack.map_err(|e| e.to_string())?;
                            acked += 1;
                        }
                    }
                    let id = uuid::Uuid::new_v4().to_string();
                    let mut map = async_nats::HeaderMap::new();
                    for (name, value) in headers {
                        map.append(
                            name.as_str(),
                            if value.is_empty() { id.as_str() } else { value.as_str() },
                        );
                    }
                    let body = serde_json::to_vec(&order(n)).map_err(|e| e.to_string())?;
                    let ack = js
                        .publish_with_headers(RAW_EVENT, map, body.into())
                        .await
                        .map_err(|e| e.to_string())?;
                    pending.push(ack.into_future());
                    n += 1;
                }
                while let Some(ack) = pending.next().await {
                    ack.map_err(|e| e.to_string())?;
                    acked += 1;
                }
                Ok(acked)
            }
            Producer::RawAmqp(channel, headers) => {
                let mut pending = FuturesUnordered::new();
                let mut acked = 0;
                let mut n = 0;
                let check = |c: Result<Confirmation, lapin::Error>| match c {
                    Ok(Confirmation::Ack(None)) => Ok(()),
                    other => Err(format!("not confirmed: {other:?}")),
                };
                while Instant::now() < end {
                    while pending.len() >= window {
                        if let Some(confirm) = pending.next().await {
                            check(confirm)?;
                            acked += 1;
                        }
                    }
                    let id = uuid::Uuid::new_v4().to_string();
                    let mut table = FieldTable::default();
                    for (name, value) in headers {
                        let value = if value.is_empty() { id.as_str() } else { value.as_str() };
                        table.insert(name.as_str().into(), AMQPValue::LongString(value.into()));
                    }
                    let properties = BasicProperties::default()
                        .with_headers(table)
                        .with_delivery_mode(2)
                        .with_content_type("application/json".into())
                        .with_message_id(id.as_str().into());
                    let body = serde_json::to_vec(&order(n)).map_err(|e| e.to_string())?;
                    let options = BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
                    let confirm = channel
                        .basic_publish(EVENTS_EXCHANGE.into(), RAW_EVENT.into(), options, &body, properties)
                        .await
                        .map_err(|e| e.to_string())?;
                    pending.push(confirm);
                    n += 1;
                }
                while let Some(confirm) = pending.next().await {
                    check(confirm)?;
                    acked += 1;
                }
                Ok(acked)
            }
            Producer::Bare(tx) => {
                let mut n = 0;
                while Instant::now() < end {
                    // (The clock is read every 64 sends: it costs more than a send.)
                    for _ in 0..64 {
                        tx.send(order(n)).await.map_err(|_| "the bare consumer is gone")?;
                        n += 1;
                    }
                }
                Ok(n)
            }
        }
    }
}

/// The runtime's subscriber: a member of [`GROUP`] on [`EVENT`], counting what it handles.
///
/// # Errors
/// When the broker refuses the consumer.
pub async fn subscribe_svcgen(broker: Arc<dyn Broker>, handled: Handled) -> Result<Subscription, String> {
    Subscriber::group(broker, EVENT, GROUP)
        .start(move |event: Event<OrderPlaced>| {
            let handled = handled.clone();
            async move {
                std::hint::black_box(&event.data);
                handled.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        })
        .await
        .map_err(|e| e.to_string())
}

/// The `JetStream` stream of [`RAW_EVENT`], configured as the runtime configures its streams.
///
/// # Errors
/// When `JetStream` refuses it.
pub async fn raw_stream(js: &async_nats::jetstream::Context) -> Result<(), String> {
    let config = async_nats::jetstream::stream::Config {
        name: RAW_STREAM.to_owned(),
        subjects: vec![RAW_EVENT.to_owned()],
        max_age: Duration::from_secs(7 * 24 * 3600),
        duplicate_window: svcgen::queue::NatsBroker::DUPLICATE_WINDOW,
        description: Some("svcgen: durable events".to_owned()),
        ..Default::default()
    };
    js.get_or_create_stream(config).await.map(drop).map_err(|e| e.to_string())
}

/// The raw `JetStream` consumer: a durable pull consumer as the runtime makes a group's
/// (explicit ack, 30 s ack wait, at most 256 pending, batches of 64), each event decoded, counted
/// and acknowledged in turn.
///
/// # Errors
/// When `JetStream` refuses the consumer.
pub async fn subscribe_raw_nats(
    js: async_nats::jetstream::Context,
    handled: Handled,
) -> Result<tokio::task::JoinHandle<()>, String> {
    use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
    raw_stream(&js).await?;
    let stream = js.get_stream(RAW_STREAM).await.map_err(|e| e.to_string())?;
    let config = pull::Config {
        durable_name: Some(GROUP.to_owned()),
        filter_subject: RAW_EVENT.to_owned(),
        ack_policy: AckPolicy::Explicit,
        deliver_policy: DeliverPolicy::New,
        ack_wait: Duration::from_secs(30),
        max_ack_pending: 256,
        ..Default::default()
    };
    let consumer = stream.get_or_create_consumer(GROUP, config).await.map_err(|e| e.to_string())?;
    let mut messages =
        consumer.stream().max_messages_per_batch(64).messages().await.map_err(|e| e.to_string())?;
    Ok(tokio::spawn(async move {
        while let Some(next) = messages.next().await {
            let Ok(message) = next else { continue };
            if let Ok(data) = serde_json::from_slice::<OrderPlaced>(&message.payload) {
                std::hint::black_box(&data);
                handled.fetch_add(1, Ordering::Relaxed);
                let _ = message.ack().await;
            }
        }
    }))
}

/// The raw `RabbitMQ` consumer: a durable queue bound to [`RAW_EVENT`] on the runtime's events
/// exchange, prefetch 64, each event decoded, counted and acknowledged in turn.
///
/// # Errors
/// When `RabbitMQ` refuses a declaration.
pub async fn subscribe_raw_amqp(
    connection: &lapin::Connection,
    handled: Handled,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let e = |e: lapin::Error| e.to_string();
    let channel = connection.create_channel().await.map_err(e)?;
    declare_raw_queue(&channel).await?;
    channel.basic_qos(64, BasicQosOptions::default()).await.map_err(e)?;
    let mut consumer = channel
        .basic_consume(RAW_QUEUE.into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .map_err(e)?;
    Ok(tokio::spawn(async move {
        let _channel = channel;
        while let Some(Ok(delivery)) = consumer.next().await {
            if let Ok(data) = serde_json::from_slice::<OrderPlaced>(&delivery.data) {
                std::hint::black_box(&data);
                handled.fetch_add(1, Ordering::Relaxed);
            }
            let _ = delivery.ack(BasicAckOptions::default()).await;
        }
    }))
}

/// The events exchange and the raw peer's durable queue, bound.
///
/// # Errors
/// When `RabbitMQ` refuses a declaration.
pub async fn declare_raw_queue(channel: &lapin::Channel) -> Result<(), String> {
    let e = |e: lapin::Error| e.to_string();
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel
        .exchange_declare(EVENTS_EXCHANGE.into(), lapin::ExchangeKind::Topic, durable, FieldTable::default())
        .await
        .map_err(e)?;
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(RAW_QUEUE.into(), durable, FieldTable::default()).await.map_err(e)?;
    channel
        .queue_bind(
            RAW_QUEUE.into(),
            EVENTS_EXCHANGE.into(),
            RAW_EVENT.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(e)
}

/// A raw `RabbitMQ` producer's channel (publisher confirms on).
///
/// # Errors
/// When `RabbitMQ` refuses it.
pub async fn raw_amqp_channel(connection: &lapin::Connection) -> Result<lapin::Channel, String> {
    let channel = connection.create_channel().await.map_err(|e| e.to_string())?;
    channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(|e| e.to_string())?;
    declare_raw_queue(&channel).await?;
    Ok(channel)
}

/// The bare consumer: a task counting what a bounded `mpsc` (the in-memory broker's size,
/// 10 000) delivers.
#[must_use]
pub fn subscribe_bare(handled: Handled) -> mpsc::Sender<OrderPlaced> {
    let (tx, mut rx) = mpsc::channel::<OrderPlaced>(10_000);
    tokio::spawn(async move {
        while let Some(data) = rx.recv().await {
            std::hint::black_box(&data);
            handled.fetch_add(1, Ordering::Relaxed);
        }
    });
    tx
}

/// The headers the runtime's publisher puts on an event, read off NATS (a plain subscription
/// on the subject sees what `JetStream` stores). The event id's value (in every header that
/// carries it) is left empty: a raw producer puts a fresh id there.
///
/// # Errors
/// When NATS cannot be used.
pub async fn capture(
    client: &async_nats::Client,
    publisher: &EventPublisher<Arc<dyn Broker>>,
) -> Result<Vec<(String, String)>, String> {
    let mut tap = client.subscribe(EVENT).await.map_err(|e| e.to_string())?;
    client.flush().await.map_err(|e| e.to_string())?;
    let id = publisher.publish(EVENT, &Context::new(), &order(0)).await.map_err(|e| e.to_string())?;
    let event = tokio::time::timeout(Duration::from_secs(10), tap.next())
        .await
        .map_err(|_| "no event seen on NATS")?
        .ok_or("the tap closed")?;
    let mut headers = Vec::new();
    if let Some(map) = &event.headers {
        for (name, values) in map.iter() {
            for value in values {
                let value = value.as_str();
                headers.push((name.to_string(), if value == id { String::new() } else { value.to_owned() }));
            }
        }
    }
    Ok(headers)
}
