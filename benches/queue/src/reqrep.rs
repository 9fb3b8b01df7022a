//! Request/reply: the generated client and server on each broker, and beside them raw
//! async-nats, raw lapin and a bare `tokio::sync::mpsc` + `oneshot` round trip.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Confirmation};
use svcgen::queue::{Broker, QueueServer};
use tokio::sync::{mpsc, oneshot};

use crate::qbench::{BenchClient, BenchServer, Payload};
use crate::service::{BenchImpl, EchoArgs};

/// The subject of `echo` (what the generated descriptor says).
pub const SUBJECT: &str = "qbench.bench.echo";
/// What a server listens on, and its group: the generated server's.
pub const LISTEN: &str = "qbench.bench.*";
/// The group of the service's servers.
pub const GROUP: &str = "qbench.bench";
/// The topic exchange requests go to on `RabbitMQ` (the runtime's).
pub const EXCHANGE: &str = "svcgen";

/// Calls the raw servers answered.
pub static RAW_SERVED: AtomicU64 = AtomicU64::new(0);

/// What a request carries, as the generated client sends it (captured from the wire).
#[derive(Clone, Debug)]
pub struct Wire {
    /// The request's headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body of the captured request (a raw caller encodes its own per call; it must be
    /// these bytes).
    pub body: Bytes,
}

/// One caller of each peer. Cheap to clone (clients share their connection).
#[derive(Clone)]
pub enum Caller {
    /// The generated client (`BenchClient::queue(broker)`), on any broker.
    Svcgen(BenchClient, Arc<Payload>),
    /// async-nats `request_with_headers`, the same headers and body.
    RawNats(async_nats::Client, async_nats::HeaderMap, Arc<Payload>),
    /// lapin: publish with `reply-to` and `correlation-id` (mandatory, confirmed, as the
    /// runtime does), replies on an exclusive queue.
    RawAmqp(Arc<RawAmqpClient>, Arc<Payload>),
    /// A bare `mpsc` + `oneshot` round trip of the payload (no encoding, no headers).
    Bare(mpsc::Sender<(Payload, oneshot::Sender<Payload>)>, Arc<Payload>),
    /// `mpsc` + `oneshot` carrying the same JSON bytes: encoded and decoded on both sides.
    BareJson(mpsc::Sender<(Bytes, oneshot::Sender<Bytes>)>, Arc<Payload>),
}

impl Caller {
    /// One call: an owned copy of the payload sent, the echo received and checked.
    ///
    /// # Errors
    /// The call's failure, as text.
    pub async fn call(&self) -> Result<(), String> {
        let back = self.echo().await?;
        let sent = match self {
            Caller::Svcgen(_, p)
            | Caller::RawNats(_, _, p)
            | Caller::RawAmqp(_, p)
            | Caller::Bare(_, p)
            | Caller::BareJson(_, p) => p,
        };
        if back.id == sent.id { Ok(()) } else { Err("the echo came back different".to_owned()) }
    }

    /// One call, returning the echoed payload.
    ///
    /// # Errors
    /// The call's failure, as text.
    pub async fn echo(&self) -> Result<Payload, String> {
        match self {
            Caller::Svcgen(client, payload) => {
                client.echo((**payload).clone()).await.map_err(|e| e.to_string())
            }
            Caller::RawNats(client, headers, payload) => {
                let body = encode(&EchoArgs { msg: (**payload).clone() })?;
                let reply = client
                    .request_with_headers(SUBJECT, headers.clone(), body.into())
                    .await
                    .map_err(|e| e.to_string())?;
                decode(&reply.payload)
            }
            Caller::RawAmqp(client, payload) => {
                let body = encode(&EchoArgs { msg: (**payload).clone() })?;
                let reply = client.call(&body).await?;
                decode(&reply)
            }
            Caller::Bare(tx, payload) => {
                let (reply, rx) = oneshot::channel();
                tx.send(((**payload).clone(), reply)).await.map_err(|_| "the bare server is gone")?;
                rx.await.map_err(|_| "no bare reply".to_owned())
            }
            Caller::BareJson(tx, payload) => {
                let body = encode(&EchoArgs { msg: (**payload).clone() })?;
                let (reply, rx) = oneshot::channel();
                tx.send((body.into(), reply)).await.map_err(|_| "the bare server is gone")?;
                decode(&rx.await.map_err(|_| "no bare reply".to_owned())?)
            }
        }
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|e| e.to_string())
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

impl svcgen_bench_rpc::load::Call for Caller {
    fn call(&self) -> impl Future<Output = Result<(), String>> + Send {
        Caller::call(self)
    }
}

/// A server that runs until this is dropped (or [`stop`](Self::stop)ped).
pub struct Serving {
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl Serving {
    /// Serving by a task that ends when `stop` completes.
    fn spawn<F>(serve: impl FnOnce(oneshot::Receiver<()>) -> F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        Self { stop: Some(stop), done: Some(tokio::spawn(serve(stopped))) }
    }

    /// Stops, and waits until the server no longer listens.
    pub async fn stop(mut self) {
        drop(self.stop.take());
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        drop(self.stop.take());
    }
}

/// The generated server (`BenchServer`) on `broker`, through `QueueServer`, until stopped.
///
/// # Errors
/// When the broker refuses the subscription.
pub async fn serve_svcgen<B: Broker + Clone>(broker: B) -> Result<Serving, String> {
    let server = QueueServer::new(broker.clone())
        .service(BenchServer::new(BenchImpl))
        .listen()
        .await
        .map_err(|e| e.to_string())?;
    Ok(Serving::spawn(|stopped| async move {
        server
            .serve_until(async move {
                let _ = stopped.await;
            })
            .await;
    }))
}

/// The raw NATS server: a queue subscription in the same group, each request decoded and
/// answered inline with the headers the generated server sends.
///
/// # Errors
/// When NATS refuses the subscription.
pub async fn serve_raw_nats(client: async_nats::Client) -> Result<Serving, String> {
    let mut requests = client.queue_subscribe(LISTEN, GROUP.to_owned()).await.map_err(|e| e.to_string())?;
    round_trip(&client).await?;
    Ok(Serving::spawn(|mut stopped| async move {
        loop {
            let request = tokio::select! {
                _ = &mut stopped => break,
                next = requests.next() => match next { Some(m) => m, None => break },
            };
            RAW_SERVED.fetch_add(1, Ordering::Relaxed);
            let Some(reply_to) = request.reply.clone() else { continue };
            let Ok(args) = decode::<EchoArgs>(&request.payload) else { continue };
            let Ok(body) = encode(&args.msg) else { continue };
            let mut headers = async_nats::HeaderMap::new();
            let copy = |name: &str| {
                request
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(name))
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default()
            };
            headers.append("svcgen-call", copy("svcgen-call").as_str());
            headers.append("svcgen-kind", "reply");
            headers.append("content-type", "application/json");
            headers.append("svcgen-correlation-id", copy("svcgen-correlation-id").as_str());
            let _ = client.publish_with_headers(reply_to, headers, body.into()).await;
        }
        let _ = requests.unsubscribe().await;
        let _ = client.flush().await;
    }))
}

/// Returns once NATS has processed what `client` sent before (its subscriptions): a message to
/// an inbox of its own comes back. (`flush` only writes the socket buffer.)
///
/// # Errors
/// When NATS cannot be used.
pub async fn round_trip(client: &async_nats::Client) -> Result<(), String> {
    let probe = client.new_inbox();
    let mut echo = client.subscribe(probe.clone()).await.map_err(|e| e.to_string())?;
    client.publish(probe, Bytes::new()).await.map_err(|e| e.to_string())?;
    tokio::time::timeout(Duration::from_secs(10), echo.next())
        .await
        .map_err(|_| "no NATS round trip")?
        .ok_or("no NATS round trip")?;
    Ok(())
}

/// The raw `RabbitMQ` server: the generated server's queue and binding, each request acknowledged
/// as it is taken, answered (mandatory, confirmed) through the default exchange by a task.
///
/// # Errors
/// When `RabbitMQ` refuses a declaration.
pub async fn serve_raw_amqp(connection: &lapin::Connection) -> Result<Serving, String> {
    let e = |e: lapin::Error| e.to_string();
    // One channel consumes, another publishes the replies (confirmed), as the runtime does.
    let channel = connection.create_channel().await.map_err(e)?;
    let replies = connection.create_channel().await.map_err(e)?;
    replies.confirm_select(ConfirmSelectOptions::default()).await.map_err(e)?;
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel
        .exchange_declare(EXCHANGE.into(), lapin::ExchangeKind::Topic, durable, FieldTable::default())
        .await
        .map_err(e)?;
    let auto_delete = QueueDeclareOptions { auto_delete: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(GROUP.into(), auto_delete, FieldTable::default()).await.map_err(e)?;
    channel
        .queue_bind(
            GROUP.into(),
            EXCHANGE.into(),
            LISTEN.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(e)?;
    channel.basic_qos(256, BasicQosOptions::default()).await.map_err(e)?;
    let mut consumer = channel
        .basic_consume(GROUP.into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .map_err(e)?;
    Ok(Serving::spawn(|mut stopped| async move {
        loop {
            let delivery = tokio::select! {
                _ = &mut stopped => break,
                next = consumer.next() => match next { Some(Ok(d)) => d, _ => break },
            };
            RAW_SERVED.fetch_add(1, Ordering::Relaxed);
            let _ = delivery.ack(BasicAckOptions::default()).await;
            let replies = replies.clone();
            tokio::spawn(async move {
                let props = &delivery.properties;
                let Some(reply_to) = props.reply_to().clone() else { return };
                let Ok(args) = decode::<EchoArgs>(&delivery.data) else { return };
                let Ok(body) = encode(&args.msg) else { return };
                let text = |name: &str| match props.headers().as_ref().and_then(|h| h.inner().get(name)) {
                    Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                    _ => String::new(),
                };
                let call = text("svcgen-call");
                let mut table = FieldTable::default();
                table.insert("svcgen-call".into(), AMQPValue::LongString(call.as_str().into()));
                table.insert("svcgen-kind".into(), AMQPValue::LongString("reply".into()));
                table.insert("content-type".into(), AMQPValue::LongString("application/json".into()));
                let corr = text("svcgen-correlation-id");
                table.insert("svcgen-correlation-id".into(), AMQPValue::LongString(corr.as_str().into()));
                let properties = BasicProperties::default()
                    .with_headers(table)
                    .with_content_type("application/json".into());
                let properties = match props.correlation_id() {
                    Some(id) => properties.with_correlation_id(id.clone()),
                    None => properties,
                };
                let options = BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
                if let Ok(confirm) = replies
                    .basic_publish("".into(), reply_to.as_str().into(), options, &body, properties)
                    .await
                {
                    let _ = confirm.await;
                }
            });
        }
        let _ = channel.basic_cancel(consumer.tag(), BasicCancelOptions::default()).await;
        let _ = channel.close(200, "done".into()).await;
        let _ = replies.close(200, "done".into()).await;
    }))
}

/// A raw lapin RPC client: one confirmed channel, an exclusive server-named reply queue (as the
/// runtime's inbox), calls matched by `correlation-id`.
pub struct RawAmqpClient {
    channel: lapin::Channel,
    reply_to: ShortString,
    headers: FieldTable,
    calls: Arc<Mutex<HashMap<u64, oneshot::Sender<Vec<u8>>>>>,
    next: AtomicU64,
}

impl RawAmqpClient {
    /// A client on `connection`, sending `wire`'s headers.
    ///
    /// # Errors
    /// When `RabbitMQ` refuses a declaration.
    pub async fn new(connection: &lapin::Connection, wire: &Wire) -> Result<Self, String> {
        let e = |e: lapin::Error| e.to_string();
        let channel = connection.create_channel().await.map_err(e)?;
        channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(e)?;
        let exclusive =
            QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() };
        let queue = channel.queue_declare("".into(), exclusive, FieldTable::default()).await.map_err(e)?;
        let reply_to = queue.name().clone();
        let reader = connection.create_channel().await.map_err(e)?;
        reader.basic_qos(256, BasicQosOptions::default()).await.map_err(e)?;
        let mut replies = reader
            .basic_consume(reply_to.clone(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
            .await
            .map_err(e)?;
        let calls: Arc<Mutex<HashMap<u64, oneshot::Sender<Vec<u8>>>>> = Arc::default();
        let routed = calls.clone();
        tokio::spawn(async move {
            let _reader = reader;
            while let Some(Ok(delivery)) = replies.next().await {
                let _ = delivery.ack(BasicAckOptions::default()).await;
                let call = delivery
                    .properties
                    .correlation_id()
                    .as_ref()
                    .and_then(|c| c.as_str().parse::<u64>().ok());
                let slot = call.and_then(|c| routed.lock().expect("lock").remove(&c));
                if let Some(slot) = slot {
                    let _ = slot.send(delivery.data);
                }
            }
        });
        let mut headers = FieldTable::default();
        for (name, value) in &wire.headers {
            headers.insert(name.as_str().into(), AMQPValue::LongString(value.as_str().into()));
        }
        Ok(Self { channel, reply_to, headers, calls, next: AtomicU64::new(1) })
    }

    /// One call: the request published (mandatory, confirmed), the reply awaited.
    ///
    /// # Errors
    /// The call's failure, as text.
    pub async fn call(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        let call = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.calls.lock().expect("lock").insert(call, tx);
        let id = call.to_string();
        let mut headers = self.headers.clone();
        headers.insert("svcgen-call".into(), AMQPValue::LongString(id.as_str().into()));
        let properties = BasicProperties::default()
            .with_headers(headers)
            .with_reply_to(self.reply_to.clone())
            .with_correlation_id(id.as_str().into())
            .with_content_type("application/json".into());
        let options = BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
        let confirm = self
            .channel
            .basic_publish(EXCHANGE.into(), SUBJECT.into(), options, body, properties)
            .await
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())?;
        if !matches!(confirm, Confirmation::Ack(None)) {
            return Err(format!("the request was not routed: {confirm:?}"));
        }
        rx.await.map_err(|_| "no reply".to_owned())
    }
}

/// The bare server: a task answering each payload through its `oneshot`.
#[must_use]
pub fn serve_bare() -> mpsc::Sender<(Payload, oneshot::Sender<Payload>)> {
    let (tx, mut rx) = mpsc::channel::<(Payload, oneshot::Sender<Payload>)>(1024);
    tokio::spawn(async move {
        while let Some((payload, reply)) = rx.recv().await {
            let _ = reply.send(payload);
        }
    });
    tx
}

/// The bare server with JSON: decodes the arguments, encodes the value back.
#[must_use]
pub fn serve_bare_json() -> mpsc::Sender<(Bytes, oneshot::Sender<Bytes>)> {
    let (tx, mut rx) = mpsc::channel::<(Bytes, oneshot::Sender<Bytes>)>(1024);
    tokio::spawn(async move {
        while let Some((body, reply)) = rx.recv().await {
            if let Ok(args) = decode::<EchoArgs>(&body)
                && let Ok(back) = encode(&args.msg)
            {
                let _ = reply.send(back.into());
            }
        }
    });
    tx
}

/// What the generated client sends for one call, read off NATS: a plain subscription on the
/// method's subject takes the request and answers it by hand, as a raw server would.
///
/// # Errors
/// When NATS cannot be used.
pub async fn capture(
    client: &async_nats::Client,
    caller: &BenchClient,
    payload: &Payload,
) -> Result<Wire, String> {
    let mut tap = client.subscribe(SUBJECT).await.map_err(|e| e.to_string())?;
    client.flush().await.map_err(|e| e.to_string())?;
    let call = {
        let caller = caller.clone();
        let payload = payload.clone();
        tokio::spawn(async move { caller.echo(payload).await })
    };
    let request = tokio::time::timeout(Duration::from_secs(10), tap.next())
        .await
        .map_err(|_| "no request seen on NATS")?
        .ok_or("the tap closed")?;
    let mut headers = Vec::new();
    let mut reply = async_nats::HeaderMap::new();
    if let Some(map) = &request.headers {
        for (name, values) in map.iter() {
            for value in values {
                headers.push((name.to_string(), value.as_str().to_owned()));
            }
        }
        for name in ["svcgen-call", "svcgen-correlation-id"] {
            if let Some(v) = map.get(name) {
                reply.append(name, v.as_str());
            }
        }
    }
    reply.append("svcgen-kind", "reply");
    reply.append("content-type", "application/json");
    let args: EchoArgs = decode(&request.payload)?;
    let reply_to = request.reply.clone().ok_or("a request without a reply subject")?;
    client
        .publish_with_headers(reply_to, reply, encode(&args.msg)?.into())
        .await
        .map_err(|e| e.to_string())?;
    let echoed = call.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
    if echoed != *payload {
        return Err("the hand-made reply was not understood".to_owned());
    }
    Ok(Wire { headers, body: request.payload })
}

/// The NATS headers of `wire`.
#[must_use]
pub fn nats_headers(wire: &Wire) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    for (name, value) in &wire.headers {
        headers.append(name.as_str(), value.as_str());
    }
    headers
}
