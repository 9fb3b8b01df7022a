//! Events on every broker (in memory, NATS, `RabbitMQ`): group and broadcast delivery,
//! retries, dead letters, dedupe, bad input, the `CloudEvents` headers; a `RabbitMQ`
//! connection cut and a NATS server restart while events flow; `JetStream`'s server-side
//! dedupe of a re-published event.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use svcgen::queue::events::{EventPublisher, RetryPolicy, Subscriber, ce};
use svcgen::queue::{Broker, ConsumerSpec, Deliveries, Delivery, Message, header};
use svcgen::{Context, Status};
use svcgen_tests::brokers;

const SUBJECT: &str = "probe.orders.placed";
const DEAD_LETTERS: &str = "svcgen.dlq.probe.orders.placed";
/// Events the fault test publishes.
const EVENTS: u32 = 400;

fn fast(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
    }
}

/// What handlers saw: (member, data, attempt).
type Seen = Arc<Mutex<Vec<(&'static str, u32, u32)>>>;

fn seen_data(seen: &Seen) -> Vec<u32> {
    let mut data: Vec<u32> = seen.lock().expect("lock").iter().map(|(_, d, _)| *d).collect();
    data.sort_unstable();
    data
}

async fn eventually(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn next_within(deliveries: &mut Deliveries, what: &str) -> Delivery {
    tokio::time::timeout(Duration::from_secs(15), deliveries.next())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .expect("the consumer is open")
}

/// A subscriber that records what it handles and fails while `fail(data, attempt)`.
async fn recorder<B: Broker>(
    subscriber: Subscriber<B, u32>,
    member: &'static str,
    seen: &Seen,
    fail: fn(u32, u32) -> bool,
) -> svcgen::queue::events::Subscription {
    busy_recorder(subscriber, member, seen, fail, Duration::ZERO).await
}

/// A [`recorder`] that takes `pause` over each event, as a handler doing real work would.
async fn busy_recorder<B: Broker>(
    subscriber: Subscriber<B, u32>,
    member: &'static str,
    seen: &Seen,
    fail: fn(u32, u32) -> bool,
    pause: Duration,
) -> svcgen::queue::events::Subscription {
    let seen = seen.clone();
    subscriber
        .start(move |event: svcgen::queue::events::Event<u32>| {
            let seen = seen.clone();
            async move {
                seen.lock().expect("lock").push((member, event.data, event.attempt));
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                if fail(event.data, event.attempt) {
                    return Err(Status::unavailable(format!("attempt {} failed on purpose", event.attempt)));
                }
                Ok(())
            }
        })
        .await
        .expect("subscribed")
}

fn never(_: u32, _: u32) -> bool {
    false
}

/// Two members of a group share the events; each event is handled once.
async fn group_shares_events<B: Broker + Clone>(broker: B) {
    let seen = Seen::default();
    // Busy members, one event at a time: while one works, the other takes the next.
    let member = || Subscriber::group(broker.clone(), SUBJECT, "billing").max_in_flight(1);
    let pause = Duration::from_millis(5);
    let _a = busy_recorder(member(), "a", &seen, never, pause).await;
    let _b = busy_recorder(member(), "b", &seen, never, pause).await;
    let publisher = EventPublisher::new(broker);
    for n in 0..60 {
        publisher.publish(SUBJECT, &Context::new(), &n).await.expect("published");
    }
    eventually("60 events", Duration::from_secs(20), || seen.lock().expect("lock").len() >= 60).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen_data(&seen), (0..60).collect::<Vec<_>>(), "each event once");
    let members: std::collections::BTreeSet<_> =
        seen.lock().expect("lock").iter().map(|(m, _, _)| *m).collect();
    assert_eq!(members.len(), 2, "both members handled events");
}

/// Events published while a group has no member running wait for its next member.
async fn events_wait_for_the_group<B: Broker + Clone>(broker: B) {
    let seen = Seen::default();
    let first = recorder(Subscriber::group(broker.clone(), SUBJECT, "billing"), "a", &seen, never).await;
    drop(first);
    let publisher = EventPublisher::new(broker.clone());
    for n in 0..5 {
        publisher.publish(SUBJECT, &Context::new(), &n).await.expect("published");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(seen.lock().expect("lock").is_empty(), "nobody was running");
    let _next = recorder(Subscriber::group(broker, SUBJECT, "billing"), "b", &seen, never).await;
    eventually("the waiting events", Duration::from_secs(20), || seen.lock().expect("lock").len() >= 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen_data(&seen), (0..5).collect::<Vec<_>>());
}

/// Two lone subscribers each get every event.
async fn alone_gets_every_event<B: Broker + Clone>(broker: B) {
    let (one, two) = (Seen::default(), Seen::default());
    let _a = recorder(Subscriber::alone(broker.clone(), SUBJECT), "a", &one, never).await;
    let _b = recorder(Subscriber::alone(broker.clone(), SUBJECT), "b", &two, never).await;
    let publisher = EventPublisher::new(broker);
    for n in 0..10 {
        publisher.publish(SUBJECT, &Context::new(), &n).await.expect("published");
    }
    for seen in [&one, &two] {
        eventually("10 events each", Duration::from_secs(20), || seen.lock().expect("lock").len() >= 10)
            .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen_data(&one), (0..10).collect::<Vec<_>>());
    assert_eq!(seen_data(&two), (0..10).collect::<Vec<_>>());
}

/// A handler that fails twice, then succeeds: the event comes three times, then never again.
async fn retried_until_handled<B: Broker + Clone>(broker: B) {
    let seen = Seen::default();
    let subscriber = Subscriber::group(broker.clone(), SUBJECT, "billing").retry(fast(5));
    let _s = recorder(subscriber, "a", &seen, |_, attempt| attempt < 3).await;
    EventPublisher::new(broker).publish(SUBJECT, &Context::new(), &7).await.expect("published");
    eventually("the third attempt", Duration::from_secs(20), || seen.lock().expect("lock").len() >= 3).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let attempts: Vec<u32> = seen.lock().expect("lock").iter().map(|(_, _, a)| *a).collect();
    assert_eq!(attempts, [1, 2, 3], "handled on the third attempt, and acknowledged");
}

/// A handler that always fails: after the last attempt the event is on the dead-letter
/// subject with the reason, and it is not delivered again.
async fn dead_lettered_after_the_last_attempt<B: Broker + Clone>(broker: B) {
    let mut dead = broker.consume(ConsumerSpec::group(DEAD_LETTERS, "inspect")).await.expect("consume");
    let seen = Seen::default();
    let subscriber = Subscriber::group(broker.clone(), SUBJECT, "billing").retry(fast(3));
    let _s = recorder(subscriber, "a", &seen, |_, _| true).await;
    let ctx = Context::new().with_correlation_id("order-dead");
    let id = EventPublisher::new(broker).publish(SUBJECT, &ctx, &9).await.expect("published");
    let letter = next_within(&mut dead, "the dead letter").await;
    let reason = letter.message.header(header::DEAD_LETTER_REASON).expect("a reason").to_owned();
    assert!(reason.contains("failed 3 times") && reason.contains("attempt 3 failed on purpose"), "{reason}");
    assert_eq!(letter.message.header(ce::ID), Some(id.as_str()));
    assert_eq!(letter.message.header(header::CORRELATION_ID), Some("order-dead"));
    assert!(letter.message.header(header::DEAD_LETTER_SUBJECT).is_some_and(|s| s.ends_with(SUBJECT)));
    assert_eq!(&letter.message.body[..], b"9");
    letter.ack().await.expect("acked");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let attempts: Vec<u32> = seen.lock().expect("lock").iter().map(|(_, _, a)| *a).collect();
    assert_eq!(attempts, [1, 2, 3], "not delivered again after the dead letter");
}

/// The same event id twice is handled once.
async fn duplicates_are_dropped<B: Broker + Clone>(broker: B) {
    let seen = Seen::default();
    let _s = recorder(Subscriber::group(broker.clone(), SUBJECT, "billing"), "a", &seen, never).await;
    let publisher = EventPublisher::new(broker);
    publisher.publish_with_id(SUBJECT, "dup-1", &Context::new(), &1).await.expect("published");
    publisher.publish_with_id(SUBJECT, "dup-1", &Context::new(), &1).await.expect("published");
    publisher.publish_with_id(SUBJECT, "other", &Context::new(), &2).await.expect("published");
    eventually("both events", Duration::from_secs(20), || seen_data(&seen).contains(&2)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(seen_data(&seen), [1, 2], "the duplicate was dropped");
}

/// Messages that are no valid event are dead-lettered at once, with the reason; the next
/// good event is handled.
async fn bad_input_is_dead_lettered<B: Broker + Clone>(broker: B) {
    let mut dead = broker.consume(ConsumerSpec::group(DEAD_LETTERS, "inspect")).await.expect("consume");
    let seen = Seen::default();
    let _s = recorder(Subscriber::group(broker.clone(), SUBJECT, "billing"), "a", &seen, never).await;
    let raw = |body: &'static [u8]| Message {
        subject: SUBJECT.to_owned(),
        body: bytes::Bytes::from_static(body),
        ..Message::default()
    };
    let event = |kind: &str, body: &'static [u8]| {
        raw(body)
            .with_header(ce::SPECVERSION, "1.0")
            .with_header(ce::ID, format!("bad-{kind}"))
            .with_header(ce::SOURCE, "probe.orders")
            .with_header(ce::TYPE, kind.to_owned())
            .with_header(header::CORRELATION_ID, format!("corr-{kind}"))
    };
    broker.publish_durable(raw(b"1")).await.expect("published");
    broker.publish_durable(event(SUBJECT, b"{not json")).await.expect("published");
    broker.publish_durable(event("probe.orders.what", b"1")).await.expect("published");
    EventPublisher::new(broker).publish(SUBJECT, &Context::new(), &5).await.expect("published");
    let mut reasons = Vec::new();
    for _ in 0..3 {
        let letter = next_within(&mut dead, "a dead letter").await;
        reasons.push(letter.message.header(header::DEAD_LETTER_REASON).unwrap_or_default().to_owned());
        letter.ack().await.expect("acked");
    }
    reasons.sort();
    assert!(reasons[0].contains("missing header `ce-specversion`"), "{reasons:?}");
    assert!(reasons[1].contains("undecodable data"), "{reasons:?}");
    assert!(reasons[2].contains("unknown event type `probe.orders.what`"), "{reasons:?}");
    eventually("the good event", Duration::from_secs(20), || !seen.lock().expect("lock").is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen_data(&seen), [5], "only the good event reached the handler");
}

/// The `CloudEvents` attributes (binary mode), the correlation id and the trace context.
async fn cloud_events_headers<B: Broker + Clone>(broker: B) {
    let mut raw = broker.consume(ConsumerSpec::alone(SUBJECT)).await.expect("consume");
    let ctx = Context::new().with_correlation_id("order-42");
    let id = EventPublisher::new(broker)
        .publish(SUBJECT, &ctx, &BTreeMap::from([("n", 42)]))
        .await
        .expect("published");
    let delivery = next_within(&mut raw, "the event").await;
    let m = &delivery.message;
    assert_eq!(m.subject, SUBJECT);
    assert_eq!(m.header(ce::SPECVERSION), Some("1.0"));
    assert_eq!(m.header(ce::ID), Some(id.as_str()));
    assert_eq!(m.header(ce::SOURCE), Some("probe.orders"));
    assert_eq!(m.header(ce::TYPE), Some(SUBJECT));
    let time = m.header(ce::TIME).expect("ce-time");
    assert!(chrono_like(time), "RFC 3339: {time}");
    assert_eq!(m.header(header::CONTENT_TYPE), Some("application/json"));
    assert_eq!(m.header(header::CORRELATION_ID), Some("order-42"));
    assert_eq!(m.header(ce::TRACEPARENT), ctx.traceparent());
    assert_eq!(m.header(header::TRACEPARENT), ctx.traceparent());
    assert_eq!(&m.body[..], br#"{"n":42}"#);
    assert_eq!(delivery.attempt, 1);
    delivery.ack().await.expect("acked");
}

/// `2026-11-21T04:30:52.123Z`.
fn chrono_like(time: &str) -> bool {
    let b = time.as_bytes();
    b.len() == 24 && b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && time.ends_with('Z')
}

/// Runs `scenario` under a namespace of its own, then removes what it left on the broker
/// (`JetStream` streams, durable `RabbitMQ` queues), whether it passed or not.
async fn isolated<B, F, Fut>(broker: B, scenario: F, cleanup: impl AsyncFnOnce(&str))
where
    B: Broker + Clone,
    F: FnOnce(svcgen::queue::Namespace<B>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let prefix = format!("t{}", svcgen::Uuid::new_v4().simple());
    let outcome = tokio::spawn(scenario(svcgen::queue::Namespace::new(&prefix, broker))).await;
    cleanup(&prefix).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn no_cleanup(_: &str) {}

/// Deletes the streams of the namespace `prefix`.
async fn nats_cleanup(prefix: &str) {
    let js = async_nats::jetstream::new(brokers::nats().await.client().clone());
    let mut names = js.stream_names();
    let mut ours = Vec::new();
    while let Some(Ok(name)) = names.next().await {
        if name.starts_with(&format!("svcgen_{prefix}_")) {
            ours.push(name);
        }
    }
    for name in ours {
        js.delete_stream(&name).await.expect("stream deleted");
    }
}

/// Deletes the group queues the scenarios make in the namespace `prefix`.
async fn amqp_cleanup(prefix: &str) {
    let amqp = brokers::amqp().await;
    let channel = amqp.connection().create_channel().await.expect("a channel");
    for (subject, group) in [(SUBJECT, "billing"), (DEAD_LETTERS, "inspect")] {
        let queue = format!("svcgen.events.{prefix}.{subject}.{prefix}.{group}");
        channel
            .queue_delete(queue.as_str().into(), lapin::options::QueueDeleteOptions::default())
            .await
            .expect("queue deleted");
    }
}

/// A handler that panics — before its first `await` or after — is retried like one that
/// failed, and the subscriber goes on with the next events (a panic cannot take it down, even
/// when the event is handled in the subscriber's own task).
async fn a_panicking_handler_is_retried<B: Broker + Clone>(broker: B) {
    let seen = Seen::default();
    let recorded = seen.clone();
    let _s = Subscriber::group(broker.clone(), SUBJECT, "billing")
        .retry(fast(3))
        .start(move |event: svcgen::queue::events::Event<u32>| {
            recorded.lock().expect("lock").push(("a", event.data, event.attempt));
            // Event 1 panics at once on its first attempt, event 2 on its first poll.
            assert!(!(event.data == 1 && event.attempt == 1), "a panic before the handler's future");
            async move {
                assert!(!(event.data == 2 && event.attempt == 1), "a panic inside the handler's future");
                Ok::<(), Status>(())
            }
        })
        .await
        .expect("subscribed");
    let publisher = EventPublisher::new(broker);
    for n in 1..=3 {
        publisher.publish(SUBJECT, &Context::new(), &n).await.expect("published");
    }
    let handled = |data: u32, attempt: u32| seen.lock().expect("lock").contains(&("a", data, attempt));
    eventually("the panicked events retried, the next one handled", Duration::from_secs(20), || {
        handled(1, 2) && handled(2, 2) && handled(3, 1)
    })
    .await;
}

macro_rules! on_every_broker {
    ($($scenario:ident),*) => {
        mod in_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let broker = svcgen::queue::MemoryBroker::new();
                    super::isolated(broker, super::$scenario, super::no_cleanup).await;
                }
            )*
        }
        mod on_nats {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let broker = super::brokers::nats().await;
                    super::isolated(broker, super::$scenario, super::nats_cleanup).await;
                }
            )*
        }
        mod on_rabbitmq {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let broker = super::brokers::amqp().await;
                    super::isolated(broker, super::$scenario, super::amqp_cleanup).await;
                }
            )*
        }
    };
}

on_every_broker!(
    group_shares_events,
    events_wait_for_the_group,
    alone_gets_every_event,
    retried_until_handled,
    dead_lettered_after_the_last_attempt,
    duplicates_are_dropped,
    bad_input_is_dead_lettered,
    cloud_events_headers,
    a_panicking_handler_is_retried
);

/// On the wire, NATS carries the attributes as `ce-` headers on the event's subject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_wire_has_ce_headers() {
    let nats = brokers::nats().await;
    let subject = format!("t{}.{SUBJECT}", svcgen::Uuid::new_v4().simple());
    let mut wire = nats.client().subscribe(subject.clone()).await.expect("subscribed");
    nats.client().flush().await.expect("flushed");
    let id =
        EventPublisher::new(nats.clone()).publish(&subject, &Context::new(), &1).await.expect("published");
    let m = tokio::time::timeout(Duration::from_secs(10), wire.next())
        .await
        .expect("in time")
        .expect("a message");
    let headers = m.headers.expect("headers");
    assert_eq!(headers.get("ce-id").map(|v| v.as_str().to_owned()), Some(id));
    assert_eq!(headers.get("ce-specversion").map(|v| v.as_str().to_owned()), Some("1.0".to_owned()));
    assert_eq!(headers.get("ce-type").map(|v| v.as_str().to_owned()), Some(subject.clone()));
    let prefix = subject.split('.').next().unwrap_or_default().to_owned();
    nats_cleanup(&prefix).await;
}

/// On the wire, `RabbitMQ` carries the attributes as `cloudEvents_` headers of a persistent
/// message on the `svcgen.events` exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_wire_has_cloud_events_headers() {
    use lapin::options::{BasicGetOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
    use lapin::types::{AMQPValue, FieldTable};
    let amqp = brokers::amqp().await;
    let subject = format!("t{}.{SUBJECT}", svcgen::Uuid::new_v4().simple());
    let channel = amqp.connection().create_channel().await.expect("a channel");
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel
        .exchange_declare("svcgen.events".into(), lapin::ExchangeKind::Topic, durable, FieldTable::default())
        .await
        .expect("the exchange");
    let exclusive =
        QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() };
    let queue = channel.queue_declare("".into(), exclusive, FieldTable::default()).await.expect("a queue");
    channel
        .queue_bind(
            queue.name().clone(),
            "svcgen.events".into(),
            subject.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bound");
    let id =
        EventPublisher::new(amqp.clone()).publish(&subject, &Context::new(), &1).await.expect("published");
    let got = channel
        .basic_get(queue.name().clone(), BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get")
        .expect("the event is in the queue (publish returned on the confirm)");
    let properties = &got.delivery.properties;
    let headers = properties.headers().clone().expect("headers");
    let text = |name: &str| match headers.inner().get(name) {
        Some(AMQPValue::LongString(s)) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        _ => None,
    };
    assert_eq!(text("cloudEvents_id"), Some(id.clone()));
    assert_eq!(text("cloudEvents_specversion").as_deref(), Some("1.0"));
    assert_eq!(text("cloudEvents_type"), Some(subject));
    assert!(text("cloudEvents_time").is_some() && text("cloudEvents_source").is_some());
    assert!(text("ce-id").is_none(), "no `ce-` names on AMQP");
    assert_eq!(properties.message_id().as_ref().map(|m| m.as_str().to_owned()), Some(id));
    assert_eq!(
        properties.content_type().as_ref().map(|c| c.as_str().to_owned()).as_deref(),
        Some("application/json")
    );
    assert_eq!(*properties.delivery_mode(), Some(2), "persistent");
    assert_eq!(&got.delivery.data[..], b"1");
}

/// `RabbitMQ` closes our connection while events flow: afterwards every published event was
/// handled, and (with dedupe) exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_connection_loss_loses_no_event() {
    let name = format!("svcgen-events-fault-{}", svcgen::Uuid::new_v4().simple());
    let url = brokers::amqp_url();
    let broker = svcgen::queue::AmqpBroker::connect_named(&url, &name).await.expect("RabbitMQ is reachable");
    let prefix = format!("t{}", svcgen::Uuid::new_v4().simple());
    let broker = svcgen::queue::Namespace::new(&prefix, broker);
    let counts: Arc<Mutex<BTreeMap<u32, usize>>> = Arc::default();
    let _s = counting(&broker, &counts).await;
    // (A publish whose confirmation is lost is published again: a duplicate, dropped.)
    let publishing = produce(&broker, Duration::from_secs(30));
    eventually("events flowing", Duration::from_secs(20), || counts.lock().expect("lock").len() >= 30).await;
    brokers::cut_amqp_connection(&name, "svcgen events fault test");
    assert!(!publishing.is_finished(), "the cut came while events flowed");
    publishing.await.expect("every event published");
    eventually("every event handled", Duration::from_secs(60), || {
        counts.lock().expect("lock").len() == EVENTS as usize
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counts = counts.lock().expect("lock").clone();
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c != 1).collect();
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
    assert_eq!(counts.len(), EVENTS as usize);
    amqp_cleanup(&prefix).await;
}

/// A counting subscriber (a member of `billing`) whose handler takes a little time, so that
/// deliveries are in flight when a fault comes.
async fn counting<B: Broker + Clone>(
    broker: &B,
    counts: &Arc<Mutex<BTreeMap<u32, usize>>>,
) -> svcgen::queue::events::Subscription {
    let counts = counts.clone();
    Subscriber::group(broker.clone(), SUBJECT, "billing")
        .retry(fast(50))
        .start(move |event: svcgen::queue::events::Event<u32>| {
            let counts = counts.clone();
            async move {
                *counts.lock().expect("lock").entry(event.data).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(())
            }
        })
        .await
        .expect("subscribed")
}

/// Publishes events `0..EVENTS` as `fault-{n}`, each until it is acknowledged: a publish that
/// fails (the broker is away) is published again with the same id, as a real producer does.
fn produce<B: Broker + Clone>(broker: &B, give_up: Duration) -> tokio::task::JoinHandle<()> {
    let publisher = EventPublisher::new(broker.clone());
    tokio::spawn(async move {
        for n in 0..EVENTS {
            let id = format!("fault-{n}");
            let started = Instant::now();
            while let Err(status) = publisher.publish_with_id(SUBJECT, &id, &Context::new(), &n).await {
                assert!(started.elapsed() < give_up, "event {n} never published: {status}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    })
}

/// The NATS server is killed and restarted (same port, same `JetStream` store) while events flow:
/// the broker reconnects, the group's consumer pulls on, and every published event is handled,
/// exactly once (the subscriber's dedupe drops redeliveries of events whose acknowledgement was
/// lost; `JetStream` drops re-published ones).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_restart_loses_no_event() {
    let mut server = brokers::PrivateNats::start();
    let broker = svcgen::queue::NatsBroker::connect(&server.url()).await.expect("the test's own NATS server");
    let counts: Arc<Mutex<BTreeMap<u32, usize>>> = Arc::default();
    let _s = counting(&broker, &counts).await;
    let publishing = produce(&broker, Duration::from_secs(60));
    eventually("events flowing", Duration::from_secs(20), || counts.lock().expect("lock").len() >= 30).await;
    server.kill();
    let during = counts.lock().expect("lock").len();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!publishing.is_finished(), "the server went away while events flowed");
    server.restart();
    publishing.await.expect("every event published");
    // (Events whose acknowledgement was lost come again after the 30 s acknowledgement wait.)
    eventually("every event handled", Duration::from_secs(90), || {
        counts.lock().expect("lock").len() == EVENTS as usize
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counts = counts.lock().expect("lock").clone();
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c != 1).collect();
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
    assert_eq!(counts.len(), EVENTS as usize);
    assert!(during < EVENTS as usize - 50, "the restart came early in the flow ({during} handled before)");
}

/// `JetStream` drops an event published again with the same id (`Nats-Msg-Id` is the `ce-id`),
/// from another connection as from another process: a subscriber without dedupe of its own
/// handles it once. The event streams' duplicate window is `NatsBroker::DUPLICATE_WINDOW`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_drops_a_republished_event_server_side() {
    let prefix = format!("t{}", svcgen::Uuid::new_v4().simple());
    let broker = svcgen::queue::Namespace::new(&prefix, brokers::nats().await);
    let other_process = svcgen::queue::Namespace::new(&prefix, brokers::nats().await);
    let seen = Seen::default();
    let subscriber = Subscriber::group(broker.clone(), SUBJECT, "billing").dedupe(Duration::ZERO, 0);
    let _s = recorder(subscriber, "a", &seen, never).await;
    let ctx = Context::new();
    EventPublisher::new(broker.clone())
        .publish_with_id(SUBJECT, "same-1", &ctx, &1)
        .await
        .expect("published");
    EventPublisher::new(other_process.clone())
        .publish_with_id(SUBJECT, "same-1", &ctx, &1)
        .await
        .expect("published again");
    EventPublisher::new(broker.clone())
        .publish_with_id(SUBJECT, "same-1", &ctx, &1)
        .await
        .expect("and again");
    EventPublisher::new(broker).publish_with_id(SUBJECT, "other-2", &ctx, &2).await.expect("published");
    eventually("both events", Duration::from_secs(20), || seen_data(&seen).contains(&2)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(seen_data(&seen), [1, 2], "JetStream kept one copy of `same-1`");
    let js = async_nats::jetstream::new(brokers::nats().await.client().clone());
    let mut stream = js.get_stream(format!("svcgen_{prefix}_probe_orders_placed")).await.expect("the stream");
    let info = stream.info().await.expect("its configuration");
    assert_eq!(info.config.duplicate_window, svcgen::queue::NatsBroker::DUPLICATE_WINDOW);
    assert_eq!(info.state.messages, 2, "two messages stored");
    nats_cleanup(&prefix).await;
}
