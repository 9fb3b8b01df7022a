//! The queue binding against raw clients of its brokers, in one process and one run:
//! request/reply through the generated client and server, and events publish → handled through
//! the runtime's `EventPublisher` and `Subscriber`, on NATS, `RabbitMQ` and in memory.
//!
//! Run with `cargo bench -p svcgen-bench-queue` (NATS at `SVCGEN_NATS_URL`, default
//! `nats://127.0.0.1:4222`, with `JetStream`; `RabbitMQ` at `SVCGEN_AMQP_URL`, default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`). A plain bench binary (`harness = false`):
//!
//! - one thread (`queue-server`) runs a current-thread tokio runtime with the servers and the
//!   event consumers, and its own connection to each broker;
//! - the main thread runs a current-thread tokio runtime with the callers and producers, and
//!   its own connections.
//!
//! Request/reply: the generated `BenchClient::queue(broker)` calling `BenchServer` served by
//! `QueueServer`; raw async-nats (`request_with_headers`, a queue subscription answering inline)
//! and raw lapin (reply-to + correlation-id, an exclusive reply queue, mandatory publishes with
//! confirms, as the runtime does) sending the bytes the generated client sends (captured off
//! NATS before timing); in memory, a bare `mpsc` + `oneshot` round trip (and one carrying the
//! same JSON). Each peer's server listens only during its own runs (they share the subject and
//! the group); the benchmark checks that no other server answered. Callers run in a closed loop.
//!
//! Events: each producer publishes for a fixed time with at most `SVCGEN_BENCH_WINDOW`
//! publishes unacknowledged (a pipelining producer); the rate is the events published divided by
//! the time until the last of them was handled.
//!
//! Environment: `SVCGEN_BENCH_SECS` (request/reply seconds per run, 0.5),
//! `SVCGEN_BENCH_EVENT_SECS` (1.0), `SVCGEN_BENCH_WARMUP` (0.2), `SVCGEN_BENCH_ROUNDS` (3),
//! `SVCGEN_BENCH_CONCURRENCY` (`1,32`), `SVCGEN_BENCH_WINDOW` (256),
//! `SVCGEN_BENCH_ONLY=reqrep|events`, `SVCGEN_BENCH_BROKERS` (`memory,nats,amqp`),
//! `SVCGEN_BENCH_PEER` (only peers whose name contains it: for a profiler),
//! `SVCGEN_BENCH_PIN=1` (pin the server runtime to core 0 and the client's to core 1).

#![allow(missing_docs)]

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use svcgen::queue::events::EventPublisher;
use svcgen::queue::{AmqpBroker, Broker, MemoryBroker, NatsBroker};
use svcgen_bench_queue::events::{self as ev, Handled, Producer};
use svcgen_bench_queue::qbench::BenchClient;
use svcgen_bench_queue::reqrep::{self as rr, Caller, RAW_SERVED, RawAmqpClient, Serving};
use svcgen_bench_queue::service::{EchoArgs, SVCGEN_SERVED, sample_payload};
use svcgen_bench_queue::stats::{Cell, Flow, median_ratio, process_cpu, wait_until};

struct Config {
    secs: f64,
    event_secs: f64,
    warm_up: f64,
    rounds: usize,
    concurrency: Vec<usize>,
    window: usize,
    only: Option<String>,
    brokers: Vec<String>,
    peer: Option<String>,
    pin: bool,
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| panic!("{name}={text:?} is not valid")),
        Err(_) => default,
    }
}

fn list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect()
}

impl Config {
    fn from_env() -> Self {
        Self {
            secs: env("SVCGEN_BENCH_SECS", 0.5),
            event_secs: env("SVCGEN_BENCH_EVENT_SECS", 1.0),
            warm_up: env("SVCGEN_BENCH_WARMUP", 0.2),
            rounds: env("SVCGEN_BENCH_ROUNDS", 3),
            concurrency: list("SVCGEN_BENCH_CONCURRENCY", "1,32")
                .iter()
                .map(|c| c.parse().expect("SVCGEN_BENCH_CONCURRENCY: numbers, comma-separated"))
                .collect(),
            window: env("SVCGEN_BENCH_WINDOW", 256),
            only: std::env::var("SVCGEN_BENCH_ONLY").ok(),
            brokers: list("SVCGEN_BENCH_BROKERS", "memory,nats,amqp"),
            peer: std::env::var("SVCGEN_BENCH_PEER").ok(),
            pin: env("SVCGEN_BENCH_PIN", 0) != 0,
        }
    }

    fn wants(&self, part: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == part)
    }

    fn wants_broker(&self, broker: &str) -> bool {
        self.brokers.iter().any(|b| b == broker)
    }

    fn wants_peer(&self, peer: &str) -> bool {
        self.peer.as_deref().is_none_or(|p| peer.contains(p))
    }
}

fn nats_url() -> String {
    std::env::var("SVCGEN_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

fn amqp_url() -> String {
    std::env::var("SVCGEN_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// Each side's connections: the server runtime's and the client runtime's.
#[derive(Clone)]
struct Side {
    memory: MemoryBroker,
    nats: Option<NatsBroker>,
    amqp: Option<AmqpBroker>,
}

async fn connect(brokers: &[String], memory: MemoryBroker) -> Side {
    let nats = if brokers.iter().any(|b| b == "nats") {
        let url = nats_url();
        Some(NatsBroker::connect(&url).await.unwrap_or_else(|e| panic!("NATS at {url}: {e}")))
    } else {
        None
    };
    let amqp = if brokers.iter().any(|b| b == "amqp") {
        let url = amqp_url();
        Some(AmqpBroker::connect(&url).await.unwrap_or_else(|e| panic!("RabbitMQ at {url}: {e}")))
    } else {
        None
    };
    Side { memory, nats, amqp }
}

/// Which server a request/reply peer needs while it runs.
#[derive(Clone)]
enum Server {
    Svcgen(Arc<dyn Broker>),
    RawNats(async_nats::Client),
    RawAmqp(AmqpBroker),
    /// Runs all the time (in memory, nobody else sees it).
    Always,
}

struct RrPeer {
    broker: &'static str,
    name: &'static str,
    caller: Caller,
    server: Server,
}

fn pin(core: Option<core_affinity::CoreId>) -> bool {
    core.is_some_and(core_affinity::set_for_current)
}

fn main() {
    let config = Config::from_env();
    let cores = if config.pin {
        core_affinity::get_core_ids().and_then(|ids| (ids.len() >= 2).then(|| (ids[0], ids[1])))
    } else {
        None
    };
    let (server_core, client_core) = (cores.map(|c| c.0), cores.map(|c| c.1));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("queue-server".to_owned())
        .spawn(move || {
            let _ = pin(server_core);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .on_thread_start(move || {
                    let _ = pin(server_core);
                })
                .build()
                .expect("a server runtime");
            tx.send(rt.handle().clone()).expect("the main thread waits");
            rt.block_on(std::future::pending::<()>());
        })
        .expect("a server thread");
    let server_rt = rx.recv().expect("the server runtime");
    let client_pinned = pin(client_core);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_start(move || {
            let _ = pin(client_core);
        })
        .build()
        .expect("a client runtime");
    let on_server = |f: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>| {
        rt.block_on(server_rt.spawn(f)).expect("a server task");
    };

    let memory = MemoryBroker::new();
    let client = rt.block_on(connect(&config.brokers, memory.clone()));
    let server = {
        let (tx, rx) = std::sync::mpsc::channel();
        let (brokers, memory) = (config.brokers.clone(), memory.clone());
        on_server(Box::pin(async move {
            tx.send(connect(&brokers, memory).await).expect("sent");
        }));
        rx.recv().expect("the server's connections")
    };

    println!(
        "svcgen queue benchmark: {} rounds; request/reply {:.1} s per run (after {:.1} s warm-up), callers {:?}; \
         events {:.1} s per run, window {}; brokers {:?}; {} ({} CPUs)",
        config.rounds,
        config.secs,
        config.warm_up,
        config.concurrency,
        config.event_secs,
        config.window,
        config.brokers,
        if client_pinned {
            "server runtime pinned to core 0, client runtime to core 1"
        } else {
            "not pinned"
        },
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
    );

    let mut out = String::new();
    if config.wants("reqrep") {
        let results = reqrep(&config, &rt, &server_rt, &client, &server);
        out.push_str(&results);
    }
    if config.wants("events") {
        let results = events(&config, &rt, &server_rt, &client, &server);
        out.push_str(&results);
    }
    println!("\nAll:\n\n{out}");
}

/// Starts a peer's server in the server runtime.
fn start(
    rt: &tokio::runtime::Runtime,
    server_rt: &tokio::runtime::Handle,
    server: &Server,
) -> Option<Serving> {
    let serving = match server.clone() {
        Server::Always => return None,
        Server::Svcgen(broker) => server_rt.spawn(async move { rr::serve_svcgen(broker).await }),
        Server::RawNats(client) => server_rt.spawn(async move { rr::serve_raw_nats(client).await }),
        Server::RawAmqp(broker) => {
            server_rt.spawn(async move { rr::serve_raw_amqp(broker.connection()).await })
        }
    };
    Some(rt.block_on(serving).expect("a server task").unwrap_or_else(|e| panic!("a server: {e}")))
}

fn stop(rt: &tokio::runtime::Runtime, serving: Option<Serving>) {
    if let Some(serving) = serving {
        rt.block_on(async {
            serving.stop().await;
            // (Unsubscribing and cancelling reach the broker asynchronously.)
            tokio::time::sleep(Duration::from_millis(50)).await;
        });
    }
}

fn reqrep(
    config: &Config,
    rt: &tokio::runtime::Runtime,
    server_rt: &tokio::runtime::Handle,
    client: &Side,
    server: &Side,
) -> String {
    let payload = Arc::new(sample_payload());
    let mut peers = Vec::new();
    if config.wants_broker("memory") {
        let bare = rt.block_on(server_rt.spawn(async { rr::serve_bare() })).expect("bare");
        let bare_json = rt.block_on(server_rt.spawn(async { rr::serve_bare_json() })).expect("bare");
        peers.push(RrPeer {
            broker: "memory",
            name: "svcgen",
            caller: Caller::Svcgen(BenchClient::queue(client.memory.clone()), payload.clone()),
            server: Server::Svcgen(Arc::new(server.memory.clone())),
        });
        peers.push(RrPeer {
            broker: "memory",
            name: "bare mpsc + oneshot",
            caller: Caller::Bare(bare, payload.clone()),
            server: Server::Always,
        });
        peers.push(RrPeer {
            broker: "memory",
            name: "mpsc + oneshot, JSON",
            caller: Caller::BareJson(bare_json, payload.clone()),
            server: Server::Always,
        });
    }
    let mut wire = None;
    if let (Some(c), Some(s)) = (&client.nats, &server.nats) {
        let ours = BenchClient::queue(c.clone());
        let captured = rt.block_on(rr::capture(c.client(), &ours, &payload)).expect("captured");
        let raw_body = serde_json::to_vec(&EchoArgs { msg: (*payload).clone() }).expect("JSON");
        assert_eq!(captured.body, raw_body, "the raw callers send the generated client's bytes");
        println!(
            "\nThe generated client's request, as captured on NATS ({SUBJECT}, {} bytes of body):",
            captured.body.len(),
            SUBJECT = rr::SUBJECT
        );
        for (name, value) in &captured.headers {
            println!("  {name}: {value}");
        }
        peers.push(RrPeer {
            broker: "NATS",
            name: "svcgen",
            caller: Caller::Svcgen(ours, payload.clone()),
            server: Server::Svcgen(Arc::new(s.clone())),
        });
        peers.push(RrPeer {
            broker: "NATS",
            name: "raw async-nats",
            caller: Caller::RawNats(c.client().clone(), rr::nats_headers(&captured), payload.clone()),
            server: Server::RawNats(s.client().clone()),
        });
        wire = Some(captured);
    }
    if let (Some(c), Some(s)) = (&client.amqp, &server.amqp) {
        let wire = wire.clone().unwrap_or_else(|| rr::Wire {
            headers: vec![
                ("svcgen-call".to_owned(), "1".to_owned()),
                ("content-type".to_owned(), "application/json".to_owned()),
                ("svcgen-correlation-id".to_owned(), svcgen::Uuid::new_v4().to_string()),
                ("traceparent".to_owned(), format!("00-{}-{}-01", "0".repeat(32), "0".repeat(16))),
            ],
            body: bytes::Bytes::new(),
        });
        let raw = rt.block_on(RawAmqpClient::new(c.connection(), &wire)).expect("a raw AMQP client");
        peers.push(RrPeer {
            broker: "RabbitMQ",
            name: "svcgen",
            caller: Caller::Svcgen(BenchClient::queue(c.clone()), payload.clone()),
            server: Server::Svcgen(Arc::new(s.clone())),
        });
        peers.push(RrPeer {
            broker: "RabbitMQ",
            name: "raw lapin",
            caller: Caller::RawAmqp(Arc::new(raw), payload.clone()),
            server: Server::RawAmqp(s.clone()),
        });
    }
    peers.retain(|p| config.wants_peer(p.name) || config.peer.as_deref() == Some(p.broker));

    // Every peer echoes the payload unchanged.
    for peer in &peers {
        let serving = start(rt, server_rt, &peer.server);
        let echoed =
            rt.block_on(peer.caller.echo()).unwrap_or_else(|e| panic!("{} {}: {e}", peer.broker, peer.name));
        assert_eq!(echoed, *payload, "{} {} changed the payload", peer.broker, peer.name);
        stop(rt, serving);
    }

    let mut table = String::new();
    let _ = writeln!(
        table,
        "\nRequest/reply (echo of {} bytes of JSON):\n",
        serde_json::to_vec(&*payload).map_or(0, |v| v.len())
    );
    let _ = writeln!(
        table,
        "| broker | callers | peer | calls/s | p50 µs | p99 µs | CPU µs/call (this process) | calls/s ÷ raw | p50 ÷ raw |"
    );
    let _ = writeln!(table, "|---|---:|---|---:|---:|---:|---:|---:|---:|");
    let mut verdicts = String::new();
    for broker in ["memory", "NATS", "RabbitMQ"] {
        let group: Vec<&RrPeer> = peers.iter().filter(|p| p.broker == broker).collect();
        if group.is_empty() {
            continue;
        }
        for &concurrency in &config.concurrency {
            let cells = measure_rr(config, rt, server_rt, &group, concurrency);
            let base = 1.min(cells.len() - 1); // the raw (or bare) peer
            for (peer, cell) in group.iter().zip(&cells) {
                let _ = writeln!(
                    table,
                    "| {broker} | {concurrency} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.3} | {:.3} |",
                    peer.name,
                    cell.throughput(),
                    cell.percentile_us(0.5),
                    cell.percentile_us(0.99),
                    cell.cpu_per_call_us(),
                    median_ratio(&cell.round_throughput, &cells[base].round_throughput),
                    median_ratio(&cell.round_p50, &cells[base].round_p50),
                );
            }
            if group.len() > 1 && group[0].name == "svcgen" {
                let t = median_ratio(&cells[0].round_throughput, &cells[base].round_throughput);
                let p = median_ratio(&cells[0].round_p50, &cells[base].round_p50);
                let line = if broker == "memory" {
                    format!(
                        "- memory, {concurrency} caller(s): p50 {p:.2}× the bare round trip (target ≤ 1.5×) → {}; calls/s {t:.2}×",
                        verdict(p <= 1.5)
                    )
                } else if concurrency == 1 {
                    format!(
                        "- {broker}, 1 caller: p50 {:+.1}% over raw (target ≤ +10%) → {}; calls/s {t:.2}×",
                        (p - 1.0) * 100.0,
                        verdict(p <= 1.1)
                    )
                } else {
                    format!(
                        "- {broker}, {concurrency} callers: calls/s {t:.2}× raw (target ≥ 0.9×) → {}; p50 {p:.2}×",
                        verdict(t >= 0.9)
                    )
                };
                let _ = writeln!(verdicts, "{line}");
            }
        }
        println!("{table}");
    }
    format!("{table}\n{verdicts}")
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn measure_rr(
    config: &Config,
    rt: &tokio::runtime::Runtime,
    server_rt: &tokio::runtime::Handle,
    peers: &[&RrPeer],
    concurrency: usize,
) -> Vec<Cell> {
    let mut cells: Vec<Cell> = peers.iter().map(|_| Cell::default()).collect();
    for round in 0..config.rounds {
        for k in 0..peers.len() {
            let p = (round + k) % peers.len();
            let peer = peers[p];
            let serving = start(rt, server_rt, &peer.server);
            let run = |secs: f64| {
                rt.block_on(svcgen_bench_rpc::load::closed_loop(
                    &peer.caller,
                    concurrency,
                    Duration::from_secs_f64(secs),
                ))
                .unwrap_or_else(|e| panic!("{} {}: {e}", peer.broker, peer.name))
            };
            run(if round == 0 { config.warm_up * 2.0 } else { config.warm_up });
            let served = (SVCGEN_SERVED.load(Ordering::Relaxed), RAW_SERVED.load(Ordering::Relaxed));
            let cpu = process_cpu();
            let result = run(config.secs);
            let cpu = process_cpu().saturating_sub(cpu);
            let served = (
                SVCGEN_SERVED.load(Ordering::Relaxed) - served.0,
                RAW_SERVED.load(Ordering::Relaxed) - served.1,
            );
            stop(rt, serving);
            // Only the peer's own server answered (they share the subject and group).
            let expected = match peer.server {
                Server::Svcgen(_) => served.1 == 0 && served.0 >= result.calls,
                Server::RawNats(_) | Server::RawAmqp(_) => served.0 == 0 && served.1 >= result.calls,
                Server::Always => served == (0, 0),
            };
            assert!(
                expected,
                "{} {}: servers answered {served:?} for {} calls",
                peer.broker, peer.name, result.calls
            );
            cells[p].add(&result, cpu);
        }
    }
    cells
}

/// An event peer: its producer, and its count of handled events.
struct EvPeer {
    broker: &'static str,
    name: &'static str,
    producer: Producer,
    handled: Handled,
}

fn events(
    config: &Config,
    rt: &tokio::runtime::Runtime,
    server_rt: &tokio::runtime::Handle,
    client: &Side,
    server: &Side,
) -> String {
    // (async-nats makes its `JetStream` contexts inside a runtime.)
    let _entered = rt.enter();
    if let (Some(c), Some(s)) = (&client.nats, &client.amqp) {
        rt.block_on(cleanup(c, s));
    } else if let Some(c) = &client.nats {
        rt.block_on(cleanup_nats(c));
    }
    let mut peers = Vec::new();
    let mut keep = Vec::new();
    let subscribe = |broker: Arc<dyn Broker>, handled: Handled| {
        rt.block_on(server_rt.spawn(async move { ev::subscribe_svcgen(broker, handled).await }))
            .expect("a server task")
            .unwrap_or_else(|e| panic!("subscribe: {e}"))
    };
    let publisher = |broker: Arc<dyn Broker>| EventPublisher::new(broker);
    if config.wants_broker("memory") {
        let handled = Handled::default();
        keep.push(
            Box::new(subscribe(Arc::new(server.memory.clone()), handled.clone())) as Box<dyn std::any::Any>
        );
        peers.push(EvPeer {
            broker: "memory",
            name: "svcgen",
            producer: Producer::Svcgen(publisher(Arc::new(client.memory.clone()))),
            handled,
        });
        let handled = Handled::default();
        let h = handled.clone();
        let tx = rt.block_on(server_rt.spawn(async move { ev::subscribe_bare(h) })).expect("bare");
        peers.push(EvPeer { broker: "memory", name: "bare mpsc", producer: Producer::Bare(tx), handled });
    }
    let mut captured = None;
    if let (Some(c), Some(s)) = (&client.nats, &server.nats) {
        let handled = Handled::default();
        keep.push(Box::new(subscribe(Arc::new(s.clone()), handled.clone())));
        let ours = publisher(Arc::new(c.clone()));
        let headers = rt.block_on(ev::capture(c.client(), &ours)).expect("captured");
        println!("\nThe runtime's event, as captured on NATS ({}):", ev::EVENT);
        for (name, value) in &headers {
            println!("  {name}: {}", if value.is_empty() { "(the event id)" } else { value });
        }
        peers.push(EvPeer { broker: "NATS", name: "svcgen", producer: Producer::Svcgen(ours), handled });
        let handled = Handled::default();
        let (js, h) = (async_nats::jetstream::new(s.client().clone()), handled.clone());
        let task = rt
            .block_on(server_rt.spawn(async move { ev::subscribe_raw_nats(js, h).await }))
            .expect("a server task")
            .expect("a raw consumer");
        keep.push(Box::new(AbortOnDrop(task)));
        let js = async_nats::jetstream::new(c.client().clone());
        rt.block_on(ev::raw_stream(&js)).expect("the raw stream");
        peers.push(EvPeer {
            broker: "NATS",
            name: "raw JetStream",
            producer: Producer::RawNats(js, headers.clone()),
            handled,
        });
        captured = Some(headers);
    }
    if let (Some(c), Some(s)) = (&client.amqp, &server.amqp) {
        let handled = Handled::default();
        keep.push(Box::new(subscribe(Arc::new(s.clone()), handled.clone())));
        peers.push(EvPeer {
            broker: "RabbitMQ",
            name: "svcgen",
            producer: Producer::Svcgen(publisher(Arc::new(c.clone()))),
            handled,
        });
        let handled = Handled::default();
        let (broker, h) = (s.clone(), handled.clone());
        let task = rt
            .block_on(server_rt.spawn(async move { ev::subscribe_raw_amqp(broker.connection(), h).await }))
            .expect("a server task")
            .expect("a raw consumer");
        keep.push(Box::new(AbortOnDrop(task)));
        // The runtime's AMQP names of the attributes (`ce-x` is `cloudEvents_x`), the rest as is.
        let headers: Vec<(String, String)> = captured
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("nats-msg-id"))
            .map(|(name, value)| {
                (name.strip_prefix("ce-").map_or_else(|| name.clone(), |a| format!("cloudEvents_{a}")), value)
            })
            .collect();
        let channel = rt.block_on(ev::raw_amqp_channel(c.connection())).expect("a raw AMQP channel");
        peers.push(EvPeer {
            broker: "RabbitMQ",
            name: "raw lapin",
            producer: Producer::RawAmqp(channel, headers),
            handled,
        });
    }
    peers.retain(|p| config.wants_peer(p.name) || config.peer.as_deref() == Some(p.broker));

    let mut table = String::new();
    let _ = writeln!(
        table,
        "\nEvents, publish → handled (at most {} publishes unacknowledged):\n",
        config.window
    );
    let _ = writeln!(table, "| broker | peer | events/s | CPU µs/event (this process) | ÷ raw |");
    let _ = writeln!(table, "|---|---|---:|---:|---:|");
    let mut verdicts = String::new();
    for broker in ["memory", "NATS", "RabbitMQ"] {
        let group: Vec<&EvPeer> = peers.iter().filter(|p| p.broker == broker).collect();
        if group.is_empty() {
            continue;
        }
        let secs = if broker == "memory" { config.event_secs / 2.0 } else { config.event_secs };
        let flows = measure_events(config, rt, &group, secs);
        let base = 1.min(flows.len() - 1);
        for (peer, flow) in group.iter().zip(&flows) {
            let _ = writeln!(
                table,
                "| {broker} | {} | {:.0} | {:.2} | {:.3} |",
                peer.name,
                flow.rate(),
                flow.cpu_per_event_us(),
                median_ratio(&flow.round_rate, &flows[base].round_rate)
            );
        }
        if group.len() > 1 && group[0].name == "svcgen" {
            let r = median_ratio(&flows[0].round_rate, &flows[base].round_rate);
            let line = if broker == "memory" {
                let rate = flows[0].rate();
                format!(
                    "- memory events: {rate:.0}/s (target > 1,000,000) → {}; {r:.3}× bare mpsc (target ≥ 1/1.5 = 0.667×) → {}",
                    verdict(rate > 1e6),
                    verdict(r >= 1.0 / 1.5)
                )
            } else {
                format!("- {broker} events: {r:.3}× raw (target ≥ 0.9×) → {}", verdict(r >= 0.9))
            };
            let _ = writeln!(verdicts, "{line}");
        }
        println!("{table}");
    }
    drop(keep);
    if let (Some(c), Some(s)) = (&client.nats, &client.amqp) {
        rt.block_on(cleanup(c, s));
    } else if let Some(c) = &client.nats {
        rt.block_on(cleanup_nats(c));
    }
    format!("{table}\n{verdicts}")
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn measure_events(config: &Config, rt: &tokio::runtime::Runtime, peers: &[&EvPeer], secs: f64) -> Vec<Flow> {
    let mut flows: Vec<Flow> = peers.iter().map(|_| Flow::default()).collect();
    let run = |peer: &EvPeer, secs: f64| {
        rt.block_on(async {
            let before = peer.handled.load(Ordering::Relaxed);
            let started = Instant::now();
            let published = peer
                .producer
                .produce(config.window, Duration::from_secs_f64(secs))
                .await
                .unwrap_or_else(|e| panic!("{} {}: {e}", peer.broker, peer.name));
            let all = wait_until(Duration::from_secs(60), || {
                peer.handled.load(Ordering::Relaxed) - before >= published
            })
            .await;
            assert!(all, "{} {}: {published} published, not all handled in 60 s", peer.broker, peer.name);
            (published, started.elapsed())
        })
    };
    for round in 0..config.rounds {
        for k in 0..peers.len() {
            let p = (round + k) % peers.len();
            run(peers[p], if round == 0 { config.warm_up * 2.0 } else { config.warm_up });
            let cpu = process_cpu();
            let (events, elapsed) = run(peers[p], secs);
            flows[p].add(events, elapsed, process_cpu().saturating_sub(cpu));
        }
    }
    flows
}

/// Removes the benchmark's streams and durable queues (before, so a run starts empty; after).
async fn cleanup(nats: &NatsBroker, amqp: &AmqpBroker) {
    cleanup_nats(nats).await;
    if let Ok(channel) = amqp.connection().create_channel().await {
        for queue in [format!("svcgen.events.{}.{}", ev::EVENT, ev::GROUP), ev::RAW_QUEUE.to_owned()] {
            let _ = channel
                .queue_delete(queue.as_str().into(), lapin::options::QueueDeleteOptions::default())
                .await;
        }
    }
}

async fn cleanup_nats(nats: &NatsBroker) {
    let js = async_nats::jetstream::new(nats.client().clone());
    for stream in ["svcgen_qbench_bench_order_placed", ev::RAW_STREAM] {
        let _ = js.delete_stream(stream).await;
    }
}
