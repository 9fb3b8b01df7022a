//! What the queue binding promises beyond the conformance suite, on every broker (in memory,
//! NATS, `RabbitMQ`): "no responders" at once, requests shared by a group, expired requests
//! not worked on, late replies dropped, malformed requests answered with an error while the
//! server keeps serving, the service's events not taken for calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use svcgen::descriptor::{EventDescriptor, HttpMethod, MethodDescriptor, MethodKind, ServiceDescriptor};
use svcgen::dispatch::{BoxFuture, Codec, Payload, Reply};
use svcgen::queue::{Broker, Message, QueueClient, QueueConfig, QueueServer, header};
use svcgen::{Code, Context, Dispatch, Problem, Status};
use svcgen_tests::brokers;

const fn method(name: &'static str, subject: &'static str) -> MethodDescriptor {
    MethodDescriptor {
        service: "probe.Probe",
        name,
        subject,
        kind: MethodKind::Unary,
        http_method: HttpMethod::Post,
        http_path: "/",
        params: &[],
        errors: &[],
    }
}

/// `who() -> string`: the server's name; `sleep(millis) -> u64`: sleeps, counted; and the
/// event `happened`.
static PROBE: ServiceDescriptor = ServiceDescriptor {
    package: "probe",
    name: "Probe",
    wire_name: "probe",
    subject: "probe.probe",
    methods: &[
        method("who", "probe.probe.who"),
        method("sleep", "probe.probe.sleep"),
        MethodDescriptor { kind: MethodKind::ServerStream, ..method("ticks", "probe.probe.ticks") },
    ],
    events: &[EventDescriptor { service: "probe.Probe", name: "happened", subject: "probe.probe.happened" }],
};

static WHO: &MethodDescriptor = &PROBE.methods[0];
static SLEEP: &MethodDescriptor = &PROBE.methods[1];
static TICKS: &MethodDescriptor = &PROBE.methods[2];

#[derive(Clone)]
struct Probe {
    name: &'static str,
    /// Calls of `sleep` that started work.
    started: Arc<AtomicUsize>,
    /// Streams of `ticks` (endless, a tick every 5 ms) that were dropped by the server.
    ticks_stopped: Arc<AtomicUsize>,
}

impl Probe {
    fn new(name: &'static str) -> Self {
        Self { name, started: Arc::default(), ticks_stopped: Arc::default() }
    }
}

/// Counts itself when dropped.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Dispatch for Probe {
    fn descriptor(&self) -> &'static ServiceDescriptor {
        &PROBE
    }

    fn dispatch(
        &self,
        method: &str,
        payload: Payload,
        codec: Codec,
        _ctx: Context,
    ) -> BoxFuture<'_, Result<Reply, Status>> {
        let method = method.to_owned();
        Box::pin(async move {
            let args: std::collections::BTreeMap<String, u64> = payload.decode()?;
            match method.as_str() {
                "who" => Reply::value(codec, &self.name),
                "sleep" => {
                    self.started.fetch_add(1, Ordering::SeqCst);
                    let millis = args.get("millis").copied().unwrap_or(0);
                    tokio::time::sleep(Duration::from_millis(millis)).await;
                    Reply::value(codec, &millis)
                }
                "ticks" => {
                    let stopped = Counted(self.ticks_stopped.clone());
                    let ticks = futures_util::stream::unfold((0_u64, stopped), |(n, stopped)| async move {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        Some((Ok(n), (n + 1, stopped)))
                    });
                    Ok(Reply::stream(codec, svcgen::streaming(ticks)))
                }
                other => Err(Status::unimplemented(format!("no method `{other}`"))),
            }
        })
    }
}

struct Stop(tokio::task::JoinHandle<()>);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn serve<B: Broker + Clone>(broker: &B, probe: Probe, config: QueueConfig) -> Stop {
    let server =
        QueueServer::new(broker.clone()).config(config).service(probe).listen().await.expect("listening");
    Stop(tokio::spawn(server.serve_until(std::future::pending())))
}

fn args(millis: u64) -> std::collections::BTreeMap<&'static str, u64> {
    std::collections::BTreeMap::from([("millis", millis)])
}

/// A subject nobody listens on fails with `unavailable`, not after the timeout.
async fn no_responders<B: Broker + Clone>(broker: B) {
    let client = QueueClient::new(broker);
    let started = Instant::now();
    let ctx = Context::new().with_timeout(Duration::from_secs(20));
    let status = client.unary::<_, String>(WHO, &ctx, &args(0)).await.expect_err("nobody serves probe");
    assert_eq!(status.code(), Code::Unavailable, "{status}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

/// Two servers in one group share the requests; each request is served once.
async fn group_shares_requests<B: Broker + Clone>(broker: B) {
    let _a = serve(&broker, Probe::new("a"), QueueConfig::default()).await;
    let _b = serve(&broker, Probe::new("b"), QueueConfig::default()).await;
    let client = QueueClient::new(broker);
    let ctx = Context::new();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..60 {
        let who: String = client.unary(WHO, &ctx, &args(0)).await.expect("who works");
        *seen.entry(who).or_default() += 1;
    }
    assert_eq!(seen.values().sum::<usize>(), 60);
    assert_eq!(seen.len(), 2, "both members served: {seen:?}");
}

/// A request whose deadline passed while it waited is refused, not worked on; the reply a
/// caller no longer waits for is dropped, and later calls get their own replies.
async fn expired_and_late<B: Broker + Clone>(broker: B) {
    let probe = Probe::new("p");
    let started = probe.started.clone();
    let one_at_a_time = QueueConfig { max_in_flight: 1, ..QueueConfig::default() };
    let _server = serve(&broker, probe, one_at_a_time).await;
    let client = QueueClient::new(broker);
    // Occupies the only slot for 600 ms (no deadline); its caller stops waiting after 100 ms,
    // so its reply arrives late, for nobody.
    let busy = {
        let client = client.clone();
        tokio::spawn(async move {
            let (ctx, args) = (Context::new(), args(600));
            tokio::time::timeout(Duration::from_millis(100), client.unary::<_, u64>(SLEEP, &ctx, &args)).await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Waits behind it and expires before the slot is free.
    let ctx = Context::new().with_timeout(Duration::from_millis(150));
    let status =
        client.unary::<_, u64>(SLEEP, &ctx, &args(1)).await.expect_err("it cannot be served in time");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status}");
    busy.await.expect("joined").expect_err("the busy call's caller gave up");
    // After the busy call finishes (its reply arrives late, for nobody), calls get their own.
    tokio::time::sleep(Duration::from_millis(700)).await;
    for millis in [2, 3] {
        let got: u64 = client.unary(SLEEP, &Context::new(), &args(millis)).await.expect("sleep works");
        assert_eq!(got, millis);
    }
    assert_eq!(started.load(Ordering::SeqCst), 3, "the expired request was never worked on");
}

/// Sends a raw request and waits for its one reply.
async fn raw_request<B: Broker>(broker: &B, mut request: Message) -> Message {
    let mut inbox = broker.inbox().await.expect("an inbox");
    request.reply_to = Some(inbox.reply_to(7));
    request.headers.push((header::CALL.into(), "7".into()));
    broker.send(request).await.expect("sent");
    tokio::time::timeout(Duration::from_secs(10), inbox.messages.next())
        .await
        .expect("a reply in time")
        .expect("the inbox is open")
}

fn problem(reply: &Message) -> Problem {
    assert_eq!(reply.header(header::KIND), Some("error"), "{reply:?}");
    assert_eq!(reply.header(header::CALL), Some("7"), "the reply names its call");
    serde_json::from_slice(&reply.body).expect("a problem document")
}

/// Malformed requests get a clear error reply; the server keeps serving.
async fn malformed_requests<B: Broker + Clone>(broker: B) {
    let _server = serve(&broker, Probe::new("p"), QueueConfig::default()).await;
    let request = |subject: &str, body: &'static [u8]| Message {
        subject: subject.to_owned(),
        body: bytes::Bytes::from_static(body),
        ..Message::default()
    };
    let not_json = problem(&raw_request(&broker, request("probe.probe.who", b"{not json")).await);
    assert_eq!(not_json.code, "invalid_argument", "{not_json:?}");
    assert!(not_json.detail.as_deref().unwrap_or_default().contains("malformed JSON"), "{not_json:?}");
    let unknown = problem(&raw_request(&broker, request("probe.probe.nope", b"{}")).await);
    assert_eq!(unknown.code, "unimplemented", "{unknown:?}");
    let odd_type = request("probe.probe.who", b"{}").with_header(header::CONTENT_TYPE, "application/x-what");
    assert_eq!(problem(&raw_request(&broker, odd_type).await).code, "invalid_argument");
    let odd_deadline = request("probe.probe.who", b"{}").with_header(header::DEADLINE_MS, "later");
    assert_eq!(problem(&raw_request(&broker, odd_deadline).await).code, "invalid_argument");
    // No headers at all is a valid request: JSON, no deadline, a fresh correlation id.
    let bare = raw_request(&broker, request("probe.probe.who", b"{}")).await;
    assert_eq!(bare.header(header::KIND), Some("reply"), "{bare:?}");
    assert_eq!(&bare.body[..], b"\"p\"");
    assert!(bare.header(header::CORRELATION_ID).is_some_and(|id| !id.is_empty()));
    // And a typed call still works.
    let who: String =
        QueueClient::new(broker).unary(WHO, &Context::new(), &args(0)).await.expect("who works");
    assert_eq!(who, "p");
}

/// The service's events share its subjects, but they are not calls: the server does not answer
/// them (on NATS a `JetStream` publish waits for the stream's answer, which an error reply from
/// the server would race); a method it does not have still gets `unimplemented`.
async fn events_are_not_calls<B: Broker + Clone>(broker: B) {
    let _server = serve(&broker, Probe::new("p"), QueueConfig::default()).await;
    let mut inbox = broker.inbox().await.expect("an inbox");
    let event = Message {
        subject: "probe.probe.happened".to_owned(),
        reply_to: Some(inbox.reply_to(1)),
        body: bytes::Bytes::from_static(b"{}"),
        ..Message::default()
    };
    broker.send(event).await.expect("sent");
    let unknown = Message {
        subject: "probe.probe.nope".to_owned(),
        body: bytes::Bytes::from_static(b"{}"),
        ..Message::default()
    };
    assert_eq!(problem(&raw_request(&broker, unknown).await).code, "unimplemented");
    let answered = tokio::time::timeout(Duration::from_millis(300), inbox.messages.next()).await;
    assert!(answered.is_err(), "the server answered an event: {answered:?}");
}

/// A caller that drops a stream before its end stops it on the server (an endless one would
/// otherwise go on for nobody: the caller's inbox takes the items and drops them); a stream
/// that is read on is not stopped.
async fn a_dropped_stream_stops_on_the_server<B: Broker + Clone>(broker: B) {
    let probe = Probe::new("p");
    let stopped = probe.ticks_stopped.clone();
    let _server = serve(&broker, probe, QueueConfig::default()).await;
    let client = QueueClient::new(broker);
    let ctx = Context::new().with_timeout(Duration::from_secs(30));
    let mut kept = client.stream::<_, u64>(TICKS, &ctx, &args(0)).await.expect("a stream");
    let mut dropped = client.stream::<_, u64>(TICKS, &ctx, &args(0)).await.expect("a stream");
    for expected in 0..3 {
        let tick = dropped.next().await.expect("a tick").expect("not an error");
        assert_eq!(tick, expected);
    }
    drop(dropped);
    let waited = Instant::now();
    while stopped.load(Ordering::SeqCst) == 0 && waited.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stopped.load(Ordering::SeqCst), 1, "the dropped stream was not stopped on the server");
    // The other stream goes on.
    for expected in 0..5 {
        let tick = kept.next().await.expect("a tick").expect("not an error");
        assert_eq!(tick, expected);
    }
    assert_eq!(stopped.load(Ordering::SeqCst), 1, "only the dropped stream stopped");
}

macro_rules! on_every_broker {
    ($($scenario:ident),*) => {
        mod in_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(svcgen_tests::brokers::isolated(svcgen::queue::MemoryBroker::new())).await;
                }
            )*
        }
        mod on_nats {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(svcgen_tests::brokers::isolated(super::brokers::nats().await)).await;
                }
            )*
        }
        mod on_rabbitmq {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(svcgen_tests::brokers::isolated(super::brokers::amqp().await)).await;
                }
            )*
        }
    };
}

on_every_broker!(
    no_responders,
    group_shares_requests,
    expired_and_late,
    malformed_requests,
    events_are_not_calls,
    a_dropped_stream_stops_on_the_server
);

/// `RabbitMQ` closes our connection (as a broker restart or a network cut would): it is
/// recovered (channels, queues, bindings, consumers declared again) and calls work again, on
/// both the server's and the client's side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_connection_loss_is_survived() {
    let name = format!("svcgen-fault-{}", svcgen::Uuid::new_v4().simple());
    let url = brokers::amqp_url();
    let broker = svcgen::queue::AmqpBroker::connect_named(&url, &name).await.expect("RabbitMQ is reachable");
    let broker = brokers::isolated(broker);
    let _server = serve(&broker, Probe::new("p"), QueueConfig::default()).await;
    let client = QueueClient::new(broker);
    let ctx = || Context::new().with_timeout(Duration::from_secs(2));
    let who: String = client.unary(WHO, &ctx(), &args(0)).await.expect("who works");
    assert_eq!(who, "p");
    brokers::cut_amqp_connection(&name, "svcgen fault test");
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < Duration::from_secs(20) {
        match client.unary::<_, String>(WHO, &ctx(), &args(0)).await {
            Ok(who) => {
                assert_eq!(who, "p");
                return;
            }
            Err(status) => last = Some(status),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("calls never worked again after the connection loss: {last:?}");
}
