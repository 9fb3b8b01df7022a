//! The conformance suite: one list of scenarios, written once against the generated
//! `ConformanceClient`, run on every binding by [`conformance_suite!`](crate::conformance_suite).
//!
//! A binding plugs in with a setup function that serves [`ConformanceImpl`] and returns a
//! [`Fixture`] of clients connected to it over that binding.
#![allow(clippy::missing_panics_doc)] // scenarios are test assertions: they panic on failure

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use svcgen::queue::events::{Event, EventData, RetryPolicy, Subscription, Topic};
use svcgen::queue::{Broker, ConsumerSpec, Deliveries, Delivery, dead_letter_subject, header};
use svcgen::{Code, Context, Status};

use crate::fixture_conformance::conformance::{
    ConformanceClient, ConformanceEvents, Counted, Echo, GetError, Item, NoSuchItem, PutError, Refused,
    RemoveError, Stored,
};
use crate::fixture_conformance_v2::conformance as v2;

/// The conformance service's implementation, stamped out on a generated `Conformance` trait:
/// `item_store!(Name, path::to::generated::module)`. The `.svc` code and the macro's code each
/// get one ([`ConformanceImpl`] here, `interop::MacroConformanceImpl`), from this one body.
macro_rules! item_store {
    ($(#[$attr:meta])* $name:ident, $($api:tt)+) => {
        mod store {
            use std::collections::BTreeMap;
            use std::sync::Mutex;
            use std::time::Duration;

            use futures_util::StreamExt as _;
            use svcgen::{Context, Status, Streaming};

            use $($api)+::{
                Caller, Conflict, Conformance, Echo, GetError, Item, NoSuchItem, PutError, Refused, RemoveError,
            };
            use $crate::conformance::lock;

            $(#[$attr])*
            #[derive(Debug, Default)]
            pub struct $name {
                items: Mutex<BTreeMap<String, Item>>,
                notes: Mutex<Vec<String>>,
            }

            impl Conformance for $name {
                async fn get(&self, _ctx: &Context, name: String) -> Result<Item, GetError> {
                    lock(&self.items).get(&name).cloned().ok_or(GetError::NoSuchItem(NoSuchItem { name }))
                }

                async fn put(&self, _ctx: &Context, item: Item) -> Result<Item, PutError> {
                    if item.name == "forbidden" {
                        return Err(PutError::Refused(Refused { why: "that name is forbidden".into() }));
                    }
                    let mut items = lock(&self.items);
                    if items.contains_key(&item.name) {
                        return Err(PutError::Conflict(Conflict { name: item.name, reason: "it exists".into() }));
                    }
                    items.insert(item.name.clone(), item.clone());
                    Ok(item)
                }

                async fn list(
                    &self,
                    _ctx: &Context,
                    prefix: Option<String>,
                    limit: u32,
                    tags: Vec<String>,
                ) -> Result<Vec<Item>, Status> {
                    let items = lock(&self.items);
                    Ok(items
                        .values()
                        .filter(|i| prefix.as_ref().is_none_or(|p| i.name.starts_with(p.as_str())))
                        .filter(|i| tags.iter().all(|t| i.tags.contains(t)))
                        .take(limit as usize)
                        .cloned()
                        .collect())
                }

                async fn remove(&self, _ctx: &Context, name: String) -> Result<(), RemoveError> {
                    match lock(&self.items).remove(&name) {
                        Some(_) => Ok(()),
                        None => Err(RemoveError::NoSuchItem(NoSuchItem { name })),
                    }
                }

                async fn echo(
                    &self,
                    _ctx: &Context,
                    data: svcgen::Bytes,
                    text: String,
                    when: Option<svcgen::Timestamp>,
                    wait: Option<svcgen::Duration>,
                    id: Option<svcgen::Uuid>,
                ) -> Result<Echo, Status> {
                    Ok(Echo { data, text, when, wait, id })
                }

                async fn slow(&self, _ctx: &Context, millis: u32) -> Result<u32, Status> {
                    tokio::time::sleep(Duration::from_millis(millis.into())).await;
                    Ok(millis)
                }

                async fn whoami(&self, ctx: &Context) -> Result<Caller, Status> {
                    Ok(Caller {
                        correlation_id: ctx.correlation_id().to_owned(),
                        traceparent: ctx.traceparent().map(str::to_owned),
                        deadline_ms: ctx.remaining().map(|r| u64::try_from(r.as_millis()).unwrap_or(u64::MAX)),
                        authorization: ctx.metadata("authorization").map(str::to_owned),
                    })
                }

                async fn count(
                    &self,
                    _ctx: &Context,
                    up_to: u32,
                    fail_at: Option<u32>,
                ) -> Result<Streaming<u32>, Status> {
                    let items = futures_util::stream::iter(1..=up_to).map(move |i| {
                        if Some(i) == fail_at { Err(Status::domain(&Refused { why: format!("not {i}") })) } else { Ok(i) }
                    });
                    Ok(svcgen::streaming(items))
                }

                async fn record(&self, _ctx: &Context, note: String) -> Result<(), Status> {
                    lock(&self.notes).push(note);
                    Ok(())
                }

                async fn recorded(&self, _ctx: &Context) -> Result<Vec<String>, Status> {
                    Ok(lock(&self.notes).clone())
                }

                async fn explode(&self, _ctx: &Context) -> Result<String, Status> {
                    panic!("the explode method always panics");
                }
            }
        }
        pub use store::$name;
    };
}
pub(crate) use item_store;

/// A lock whose poisoning (a panicking handler) is ignored: the data stays usable.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

item_store!(
    /// The service under test: an in-memory item store with a few instrumented methods.
    ConformanceImpl, crate::fixture_conformance::conformance
);

/// Clients of one server, over the binding under test.
pub struct Fixture {
    /// A client generated from `conformance.svc`.
    pub client: ConformanceClient,
    /// A client generated from the next version of it (one more method, one more field).
    pub v2: v2::ConformanceClient,
    /// The broker the service's events travel on: the queue binding's own, or an in-memory
    /// one beside the other bindings (whose clients then hydrate the events).
    pub broker: Arc<dyn Broker>,
    /// Keeps the server running; dropping it stops the server.
    pub guard: Box<dyn std::any::Any + Send>,
}

/// The events broker of a binding that has none of its own: in memory.
#[must_use]
pub fn memory_events() -> Arc<dyn Broker> {
    Arc::new(svcgen::queue::MemoryBroker::new())
}

fn item(name: &str, count: u32) -> Item {
    Item { name: name.into(), count, tags: vec!["a".into()], note: None }
}

/// A call that works returns the server's value.
pub async fn ok_call(f: &Fixture) {
    let stored = f.client.put(item("one", 1)).await.expect("put works");
    assert_eq!(stored, item("one", 1));
    assert_eq!(f.client.get("one".into()).await.expect("get works"), item("one", 1));
}

/// A domain error with `@status` arrives as the method's typed error.
pub async fn domain_error(f: &Fixture) {
    match f.client.get("missing".into()).await {
        Err(GetError::NoSuchItem(NoSuchItem { name })) => assert_eq!(name, "missing"),
        other => panic!("expected NoSuchItem, got {other:?}"),
    }
    f.client.put(item("twice", 1)).await.expect("first put works");
    match f.client.put(item("twice", 2)).await {
        Err(PutError::Conflict(c)) => {
            assert_eq!((c.name.as_str(), c.reason.as_str()), ("twice", "it exists"));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
}

/// A domain error without `@status` arrives typed as well.
pub async fn domain_error_without_status(f: &Fixture) {
    match f.client.put(item("forbidden", 1)).await {
        Err(PutError::Refused(r)) => assert_eq!(r.why, "that name is forbidden"),
        other => panic!("expected Refused, got {other:?}"),
    }
}

/// Invalid input is refused with `invalid_argument`, naming every bad field.
pub async fn invalid_input(f: &Fixture) {
    let bad = Item { name: String::new(), count: 5000, tags: Vec::new(), note: None };
    let Err(PutError::Status(status)) = f.client.put(bad).await else {
        panic!("an invalid item was accepted")
    };
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");
    let fields: Vec<&str> = status.violations().iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["item.name", "item.count"], "{status:?}");
    let Err(status) = f.client.list(None, 0, Vec::new()).await else { panic!("limit 0 was accepted") };
    assert_eq!(status.violations()[0].field, "limit");
}

/// A call that outlives its deadline fails with `deadline_exceeded`, promptly.
pub async fn deadline_exceeded(f: &Fixture) {
    let started = Instant::now();
    let result = f.client.with_deadline(Duration::from_millis(100)).slow(3_000).await;
    let status = result.expect_err("the slow call cannot finish in time");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status}");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    // The server is still serving.
    assert_eq!(f.client.slow(1).await.expect("a quick call works"), 1);
}

/// The remaining time travels to the server.
pub async fn deadline_propagates(f: &Fixture) {
    let caller = f.client.with_deadline(Duration::from_secs(5)).whoami().await.expect("whoami works");
    let ms = caller.deadline_ms.expect("the server sees a deadline");
    assert!(ms > 0 && ms <= 5_000, "{ms} ms left");
    assert_eq!(f.client.whoami().await.expect("whoami works").deadline_ms, None);
}

/// The caller's correlation id, trace and metadata reach the handler.
pub async fn context_round_trip(f: &Fixture) {
    let ctx = Context::new().with_correlation_id("order-4711").with_metadata("authorization", "Bearer t0ken");
    let caller = f.client.with_context(&ctx).whoami().await.expect("whoami works");
    assert_eq!(caller.correlation_id, "order-4711");
    assert_eq!(caller.authorization.as_deref(), Some("Bearer t0ken"));
    let sent = ctx.traceparent().expect("a trace");
    let seen = caller.traceparent.expect("the server sees a trace");
    assert_eq!(&seen[3..35], &sent[3..35], "same trace id");
    // Without a context, each call has its own id.
    let a = f.client.whoami().await.expect("whoami works").correlation_id;
    let b = f.client.whoami().await.expect("whoami works").correlation_id;
    assert_ne!(a, b);
}

/// A method the server does not have answers `unimplemented`.
pub async fn unknown_method(f: &Fixture) {
    let status = f.v2.added().await.expect_err("the old server has no `added`");
    assert_eq!(status.code(), Code::Unimplemented, "{status}");
}

/// A newer peer's new optional field is ignored by an older one, not an error.
pub async fn new_optional_field(f: &Fixture) {
    let newer = v2::Item {
        name: "colored".into(),
        count: 1,
        tags: Vec::new(),
        note: None,
        color: Some("red".into()),
    };
    let back = f.v2.put(newer).await.expect("the old server accepts the new field");
    assert_eq!(back.color, None, "the old server does not know colors");
    assert_eq!(back.name, "colored");
}

/// Special scalars and large values survive the round trip.
pub async fn large_payload(f: &Fixture) {
    let data = svcgen::Bytes((0..1_000_000u32).map(|i| u8::try_from(i % 251).unwrap_or(0)).collect());
    let text = "é✓ ".repeat(50_000);
    let when = svcgen::Timestamp::from_timestamp(1_700_000_000, 123_000_000);
    let wait = Some(svcgen::Duration(Duration::from_micros(1_500_250)));
    let id = Some(svcgen::Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8));
    let echo = f.client.echo(data.clone(), text.clone(), when, wait, id).await.expect("echo works");
    assert_eq!(echo, Echo { data, text, when, wait, id });
}

/// Many calls in flight at once all complete, each with its own correlation id.
pub async fn many_concurrent_calls(f: &Fixture) {
    let calls = (0..200).map(|_| f.client.whoami());
    let results = futures_util::future::join_all(calls).await;
    let ids: std::collections::HashSet<String> =
        results.into_iter().map(|r| r.expect("every call works").correlation_id).collect();
    assert_eq!(ids.len(), 200);
}

/// A server stream delivers every item in order, and a failure ends it with the error.
pub async fn streaming(f: &Fixture) {
    let items: Vec<u32> =
        f.client.count(5, None).await.expect("count works").map(|i| i.expect("no error")).collect().await;
    assert_eq!(items, [1, 2, 3, 4, 5]);
    let results: Vec<Result<u32, Status>> =
        f.client.count(5, Some(3)).await.expect("count works").collect().await;
    assert_eq!(results.len(), 3, "{results:?}");
    assert_eq!(results[..2].iter().map(|r| r.clone().expect("ok")).collect::<Vec<_>>(), [1, 2]);
    let status = results[2].clone().expect_err("the third item fails");
    assert_eq!(status.downcast::<Refused>().map(|r| r.why), Some("not 3".into()));
}

/// A oneway call returns at once and the work happens.
pub async fn oneway(f: &Fixture) {
    f.client.record("remember me".into()).await.expect("record is accepted");
    for _ in 0..100 {
        if f.client.recorded().await.expect("recorded works").contains(&"remember me".to_owned()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the oneway call never ran");
}

/// Methods without a return value, and query parameters (lists, optionals, defaults).
pub async fn empty_reply_and_queries(f: &Fixture) {
    for (name, tags) in [("apple", vec!["fruit", "red"]), ("apricot", vec!["fruit"]), ("beet", vec!["red"])] {
        let item = Item {
            name: name.into(),
            count: 1,
            tags: tags.into_iter().map(Into::into).collect(),
            note: None,
        };
        f.client.put(item).await.expect("put works");
    }
    let names = |items: Vec<Item>| items.into_iter().map(|i| i.name).collect::<Vec<_>>();
    assert_eq!(
        names(f.client.list(Some("ap".into()), 10, Vec::new()).await.expect("list")),
        ["apple", "apricot"]
    );
    assert_eq!(
        names(f.client.list(None, 10, vec!["fruit".into(), "red".into()]).await.expect("list")),
        ["apple"]
    );
    assert_eq!(names(f.client.list(None, 1, Vec::new()).await.expect("list")), ["apple"]);
    f.client.remove("beet".into()).await.expect("remove works");
    match f.client.remove("beet".into()).await {
        Err(RemoveError::NoSuchItem(_)) => {}
        other => panic!("expected NoSuchItem, got {other:?}"),
    }
}

/// A handler that panics answers `internal`, and the server keeps serving.
pub async fn handler_panic(f: &Fixture) {
    let status = f.client.explode().await.expect_err("explode fails");
    assert_eq!(status.code(), Code::Internal, "{status}");
    f.client.whoami().await.expect("the server still serves");
}

// Events. The typed surface generated for `event`s: `ConformanceEvents` gives a `Topic` per
// event; subscribers join a group or listen alone; a failing handler is retried, then
// dead-lettered; duplicates are dropped; bad data never reaches a handler; a thin event is
// hydrated over the fixture's binding.

fn events(f: &Fixture) -> ConformanceEvents {
    ConformanceEvents::shared(f.broker.clone())
}

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
    }
}

/// What handlers saw of `counted` events: (member, count, attempt).
type Counts = Arc<Mutex<Vec<(&'static str, u32, u32)>>>;

/// A `counted` handler that records each event and fails while `fail(attempt)`.
fn counter(
    member: &'static str,
    seen: &Counts,
    fail: fn(u32) -> bool,
) -> impl Fn(Event<Counted>) -> std::future::Ready<Result<(), Status>> + Send + Sync + 'static {
    let seen = seen.clone();
    move |event| {
        lock(&seen).push((member, event.data.count, event.attempt));
        std::future::ready(if fail(event.attempt) {
            Err(Status::unavailable(format!("attempt {} failed on purpose", event.attempt)))
        } else {
            Ok(())
        })
    }
}

fn counts(seen: &Counts) -> Vec<u32> {
    let mut counts: Vec<u32> = lock(seen).iter().map(|(_, c, _)| *c).collect();
    counts.sort_unstable();
    counts
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn publish_counts(topic: &Topic<Counted>, range: std::ops::Range<u32>) {
    for count in range {
        let data = Counted { name: format!("n{count}"), count };
        topic.publish(&Context::new(), &data).await.expect("published");
    }
}

/// The dead letters of `topic`'s events, as they come.
async fn dead_letters<T: EventData>(f: &Fixture, topic: &Topic<T>) -> Deliveries {
    let spec = ConsumerSpec::group(&dead_letter_subject(topic.subject()), "inspect");
    f.broker.consume(spec).await.expect("consume")
}

async fn next_dead_letter(dead: &mut Deliveries) -> Delivery {
    tokio::time::timeout(Duration::from_secs(20), dead.next())
        .await
        .expect("a dead letter within 20 s")
        .expect("the consumer is open")
}

fn never(_: u32) -> bool {
    false
}

fn subscribed(result: Result<Subscription, Status>) -> Subscription {
    result.expect("subscribed")
}

/// Two members of a group share the events: each event is handled once, by one of them, and
/// while one member is busy the other takes the next.
pub async fn event_group(f: &Fixture) {
    let topic = events(f).counted();
    let seen = Counts::default();
    let busy = |member: &'static str| {
        let handle = counter(member, &seen, never);
        move |event: Event<Counted>| {
            let handled = handle(event);
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                handled.await
            }
        }
    };
    let _a = subscribed(topic.group("audit").max_in_flight(1).start(busy("a")).await);
    let _b = subscribed(topic.group("audit").max_in_flight(1).start(busy("b")).await);
    publish_counts(&topic, 0..40).await;
    until("40 events", || lock(&seen).len() >= 40).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(counts(&seen), (0..40).collect::<Vec<_>>(), "each event once");
    let members: std::collections::BTreeSet<_> = lock(&seen).iter().map(|(m, _, _)| *m).collect();
    assert_eq!(members.len(), 2, "both members handled events");
}

/// Lone subscribers each get every event.
pub async fn event_broadcast(f: &Fixture) {
    let topic = events(f).counted();
    let (one, two) = (Counts::default(), Counts::default());
    let _a = subscribed(topic.alone().start(counter("a", &one, never)).await);
    let _b = subscribed(topic.alone().start(counter("b", &two, never)).await);
    publish_counts(&topic, 0..10).await;
    for seen in [&one, &two] {
        until("10 events each", || lock(seen).len() >= 10).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(counts(&one), (0..10).collect::<Vec<_>>());
    assert_eq!(counts(&two), (0..10).collect::<Vec<_>>());
}

/// A handler that fails twice is retried and then succeeds; one that always fails has its
/// event dead-lettered after the last attempt, with the reason, and never again delivered.
pub async fn event_retry_then_dead_letter(f: &Fixture) {
    let topic = events(f).counted();
    let mut dead = dead_letters(f, &topic).await;
    let seen = Counts::default();
    let _s = subscribed(
        topic.group("audit").retry(fast_retry(3)).start(counter("a", &seen, |attempt| attempt < 3)).await,
    );
    topic.publish(&Context::new(), &Counted { name: "flaky".into(), count: 1 }).await.expect("published");
    until("the third attempt", || lock(&seen).len() >= 3).await;
    let failing = Counts::default();
    let _f =
        subscribed(topic.group("doomed").retry(fast_retry(2)).start(counter("b", &failing, |_| true)).await);
    let ctx = Context::new().with_correlation_id("count-dead");
    let id = topic.publish(&ctx, &Counted { name: "doomed".into(), count: 2 }).await.expect("published");
    // The first event reaches the new group too (it is one more group): wait for the one we want.
    let letter = loop {
        let letter = next_dead_letter(&mut dead).await;
        let ours = letter.message.header(svcgen::queue::events::ce::ID) == Some(id.as_str());
        if ours {
            break letter;
        }
        letter.ack().await.expect("acked");
    };
    let reason = letter.message.header(header::DEAD_LETTER_REASON).expect("a reason").to_owned();
    assert!(reason.contains("failed 2 times") && reason.contains("attempt 2 failed on purpose"), "{reason}");
    assert_eq!(letter.message.header(header::CORRELATION_ID), Some("count-dead"));
    let data: Counted = serde_json::from_slice(&letter.message.body).expect("the event's data");
    assert_eq!(data, Counted { name: "doomed".into(), count: 2 });
    letter.ack().await.expect("acked");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let retried: Vec<u32> = lock(&seen).iter().filter(|(_, c, _)| *c == 1).map(|(_, _, a)| *a).collect();
    assert_eq!(retried, [1, 2, 3], "handled on the third attempt, then acknowledged");
    let doomed: Vec<u32> = lock(&failing).iter().filter(|(_, c, _)| *c == 2).map(|(_, _, a)| *a).collect();
    assert_eq!(doomed, [1, 2], "not delivered again after the dead letter");
}

/// The same event id twice is handled once.
pub async fn event_dedupe(f: &Fixture) {
    let topic = events(f).counted();
    let seen = Counts::default();
    let _s = subscribed(topic.group("audit").start(counter("a", &seen, never)).await);
    let one = Counted { name: "one".into(), count: 1 };
    topic.publish_with_id("dup-1", &Context::new(), &one).await.expect("published");
    topic.publish_with_id("dup-1", &Context::new(), &one).await.expect("published");
    topic.publish(&Context::new(), &Counted { name: "two".into(), count: 2 }).await.expect("published");
    until("both events", || counts(&seen).contains(&2)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(counts(&seen), [1, 2], "the duplicate was dropped");
}

/// Data that breaks the event's constraints is refused by the publisher (nothing is sent),
/// and dead-lettered by the subscriber when someone else sent it; the next event is handled.
pub async fn event_invalid_data(f: &Fixture) {
    let topic = events(f).counted();
    let mut dead = dead_letters(f, &topic).await;
    let seen = Counts::default();
    let _s = subscribed(topic.group("audit").start(counter("a", &seen, never)).await);
    let status = topic
        .publish(&Context::new(), &Counted { name: String::new(), count: 5000 })
        .await
        .expect_err("invalid data is not published");
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");
    let fields: Vec<&str> = status.violations().iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["name", "count"], "{status}");
    let ctx = Context::new().with_correlation_id("count-invalid");
    let forged = svcgen::queue::events::event_message(
        topic.subject(),
        "forged-1",
        "elsewhere",
        svcgen::__private::Codec::Json,
        &ctx,
        &serde_json::json!({ "name": "x", "count": 5000 }),
    )
    .expect("encoded");
    f.broker.publish_durable(forged).await.expect("published");
    topic.publish(&Context::new(), &Counted { name: "fine".into(), count: 7 }).await.expect("published");
    let letter = next_dead_letter(&mut dead).await;
    let reason = letter.message.header(header::DEAD_LETTER_REASON).expect("a reason");
    assert!(reason.contains("invalid data") && reason.contains("count"), "{reason}");
    assert_eq!(letter.message.header(header::CORRELATION_ID), Some("count-invalid"));
    letter.ack().await.expect("acked");
    until("the valid event", || counts(&seen).contains(&7)).await;
    assert_eq!(counts(&seen), [7], "the invalid event never reached the handler");
}

/// A thin event is hydrated in one line, over the fixture's binding, as part of the event's
/// context: the hydrating call carries its correlation id and trace.
pub async fn event_hydration(f: &Fixture) {
    f.client.put(item("hydrated", 3)).await.expect("stored");
    let topic = events(f).stored();
    let hydrated: Arc<Mutex<Vec<Result<Item, GetError>>>> = Arc::default();
    let client = f.client.clone();
    let sink = hydrated.clone();
    let _s = subscribed(
        topic
            .group("indexer")
            .start(move |event: Event<Stored>| {
                let (client, sink) = (client.clone(), sink.clone());
                async move {
                    let item = event.hydrate(&client).await;
                    lock(&sink).push(item);
                    Ok(())
                }
            })
            .await,
    );
    topic.publish(&Context::new(), &Stored { name: "hydrated".into() }).await.expect("published");
    topic.publish(&Context::new(), &Stored { name: "never-stored".into() }).await.expect("published");
    until("two hydrations", || lock(&hydrated).len() >= 2).await;
    let mut results = std::mem::take(&mut *lock(&hydrated));
    results.sort_by_key(Result::is_err);
    assert_eq!(results[0], Ok(item("hydrated", 3)));
    assert!(
        matches!(&results[1], Err(GetError::NoSuchItem(e)) if e.name == "never-stored"),
        "the typed error of the hydrating method: {:?}",
        results[1]
    );

    // `pinged` is hydrated with `whoami`: the server saw the event's correlation id and trace.
    let callers = Arc::new(Mutex::new(Vec::new()));
    let (client, sink) = (f.client.clone(), callers.clone());
    let _p = subscribed(
        events(f)
            .pinged()
            .alone()
            .start(move |event: Event<crate::fixture_conformance::conformance::Pinged>| {
                let (client, sink) = (client.clone(), sink.clone());
                async move {
                    let caller = event.hydrate(&client).await.map_err(svcgen::MethodError::into_status)?;
                    lock(&sink).push(caller);
                    Ok(())
                }
            })
            .await,
    );
    let ctx = Context::new().with_correlation_id("ping-42");
    events(f)
        .pinged()
        .publish(&ctx, &crate::fixture_conformance::conformance::Pinged {})
        .await
        .expect("published");
    until("the hydrated ping", || !lock(&callers).is_empty()).await;
    let caller = lock(&callers)[0].clone();
    assert_eq!(caller.correlation_id, "ping-42");
    let sent = ctx.traceparent().expect("a trace");
    let seen = caller.traceparent.expect("the server sees a trace");
    assert_eq!(&seen[3..35], &sent[3..35], "the event's trace id");
}

/// On the bindings that carry events (queue, socket), a client watches them as a stream:
/// typed, with the publisher's context, hydrated over the same client; data that is no valid
/// event is skipped.
pub async fn event_stream(f: &Fixture) {
    f.client.put(item("streamed", 2)).await.expect("stored");
    let mut stored = f.client.channel().events::<Stored>().await.expect("subscribed");
    let mut counted = f.client.channel().events::<Counted>().await.expect("subscribed");
    let ctx = Context::new().with_correlation_id("stream-1");
    events(f).stored().publish(&ctx, &Stored { name: "streamed".into() }).await.expect("published");
    let invalid = svcgen::queue::events::event_message(
        Counted::DESCRIPTOR.subject,
        "invalid-1",
        "elsewhere",
        svcgen::__private::Codec::Json,
        &Context::new(),
        &serde_json::json!({ "name": "", "count": 1 }),
    )
    .expect("encoded");
    f.broker.publish_durable(invalid).await.expect("published");
    events(f)
        .counted()
        .publish(&Context::new(), &Counted { name: "valid".into(), count: 3 })
        .await
        .expect("published");
    let event = tokio::time::timeout(Duration::from_secs(20), stored.next())
        .await
        .expect("an event within 20 s")
        .expect("the stream goes on")
        .expect("an event");
    assert_eq!(event.data, Stored { name: "streamed".into() });
    assert_eq!(event.context.correlation_id(), "stream-1");
    assert_eq!(event.context.trace_id(), ctx.trace_id());
    assert_eq!(event.hydrate(&f.client).await, Ok(item("streamed", 2)));
    let count = tokio::time::timeout(Duration::from_secs(20), counted.next())
        .await
        .expect("an event within 20 s")
        .expect("the stream goes on")
        .expect("an event");
    assert_eq!(count.data.count, 3, "the invalid event was skipped");
}

/// REST and RPC have no push: watching events there is `unimplemented`.
pub async fn event_stream_unimplemented(f: &Fixture) {
    let Err(status) = f.client.channel().events::<Stored>().await else {
        panic!("events over a binding without push")
    };
    assert_eq!(status.code(), Code::Unimplemented, "{status}");
}

/// Stamps out the event scenarios that need a broker's own delivery semantics (group,
/// broadcast, retries and dead letters, dedupe, bad data): `events_suite!(setup)`, for the
/// queue binding on each broker. Hydration is in [`conformance_suite!`](crate::conformance_suite).
#[macro_export]
macro_rules! events_suite {
    ($setup:path) => {
        $crate::conformance_suite!(@tests $setup;
            event_group, event_broadcast, event_retry_then_dead_letter, event_dedupe, event_invalid_data,
            event_stream);
    };
}

/// Stamps out one `#[tokio::test]` per scenario for a binding: `conformance_suite!(setup)`,
/// where `async fn setup() -> Fixture` serves [`ConformanceImpl`] on the binding.
#[macro_export]
macro_rules! conformance_suite {
    ($setup:path) => {
        $crate::conformance_suite!(@tests $setup;
            ok_call, domain_error, domain_error_without_status, invalid_input, deadline_exceeded,
            deadline_propagates, context_round_trip, unknown_method, new_optional_field, large_payload,
            many_concurrent_calls, streaming, oneway, empty_reply_and_queries, handler_panic,
            event_hydration);
    };
    (@tests $setup:path; $($scenario:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let fixture = $setup().await;
                $crate::conformance::$scenario(&fixture).await;
            }
        )*
    };
}
