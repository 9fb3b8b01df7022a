//! The conformance suite: one list of scenarios, written once against the generated
//! `ConformanceClient`, run on every binding by [`conformance_suite!`](crate::conformance_suite).
//!
//! A binding plugs in with a setup function that serves [`ConformanceImpl`] and returns a
//! [`Fixture`] of clients connected to it over that binding.
#![allow(clippy::missing_panics_doc)] // scenarios are test assertions: they panic on failure

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use svcgen::{Code, Context, Status};

use crate::fixture_conformance::conformance::{
    ConformanceClient, Echo, GetError, Item, NoSuchItem, PutError, Refused, RemoveError,
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
    /// Keeps the server running; dropping it stops the server.
    pub guard: Box<dyn std::any::Any + Send>,
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

/// Stamps out one `#[tokio::test]` per scenario for a binding: `conformance_suite!(setup)`,
/// where `async fn setup() -> Fixture` serves [`ConformanceImpl`] on the binding.
#[macro_export]
macro_rules! conformance_suite {
    ($setup:path) => {
        $crate::conformance_suite!(@tests $setup;
            ok_call, domain_error, domain_error_without_status, invalid_input, deadline_exceeded,
            deadline_propagates, context_round_trip, unknown_method, new_optional_field, large_payload,
            many_concurrent_calls, streaming, oneway, empty_reply_and_queries, handler_panic);
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
