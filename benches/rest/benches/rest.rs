//! The generated REST server and client beside hand-written axum and reqwest, in one process,
//! driven by the same load generator, interleaved.
//!
//! Run with `cargo bench -p svcgen-bench-rest`. It is a plain bench binary (`harness = false`):
//! it starts three servers on `127.0.0.1` in one tokio runtime (the generated server through
//! `RestServer`; axum doing the same work; bare axum), checks that they answer alike, then
//!
//! 1. **server**: drives each with the same HTTP/1.1 load generator (a fixed request on
//!    keep-alive connections, like `wrk`) from another runtime, for `POST /echo` (1 KiB JSON)
//!    and `GET /items/{id}`, at each concurrency;
//! 2. **client**: makes the same calls with the generated client, with reqwest doing the same
//!    work, and with bare reqwest (same `reqwest::Client` settings), against the bare axum
//!    server.
//!
//! Each measurement is warm-up, then rounds in which every target runs once, in a rotating
//! order. Throughput is over all rounds and p50/p99 over every request; a ratio between two
//! targets (throughput, p99) is the median of their per-round ratios, so a burst of noise from
//! the rest of the machine moves one round, not the verdict. The CPU time the server thread
//! and the load (or client) thread spent per request is read from `/proc/.../schedstat`: it
//! is steadier than throughput when the machine is shared.
//!
//! Environment:
//! - `SVCGEN_BENCH_ROUNDS` — timed rounds (default 10);
//! - `SVCGEN_BENCH_SECS` — seconds per target per round (default 0.5; warm-up is half of it);
//! - `SVCGEN_BENCH_CONCURRENCY` — connections or tasks, comma-separated (default `1,32`);
//! - `SVCGEN_BENCH_SERVER_THREADS` — the servers' tokio worker threads (default 1; the load
//!   generator always runs on one thread of its own);
//! - `SVCGEN_BENCH_ONLY` — `server` or `client`: run one half;
//! - `SVCGEN_BENCH_PIN` — `0` to leave the threads unpinned (default: the server runtime's
//!   threads pinned to the first core, the load generator to the second);
//! - `SVCGEN_BENCH_SERVE=dir` — only start the servers, write the `POST /echo` body to
//!   `dir/echo.json`, print the addresses and wait (for `wrk`: `benches/rest/wrk.sh`);
//! - `SVCGEN_BENCH_PROFILE=target/scenario` — no timing: send `SVCGEN_BENCH_REQUESTS` (default
//!   20,000) requests (on the first `SVCGEN_BENCH_CONCURRENCY` connections, default 1) to one
//!   target and exit, for `valgrind --tool=callgrind`.
//!   Targets: `svcgen`, `equivalent`, `bare` (servers), `generated`, `reqwest-equivalent`,
//!   `reqwest-bare` (clients); scenarios: `echo`, `item`.

#![allow(missing_docs, clippy::cast_precision_loss)]

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use svcgen::rest::RestServer;
use svcgen_bench_rest::bench::{BenchClient, BenchServer};
use svcgen_bench_rest::load::{self, Run, Until};
use svcgen_bench_rest::raw::{RawClient, RawPayload, bare_router, equivalent_router};
use svcgen_bench_rest::service::{BenchImpl, sample_payload};
use svcgen_bench_rest::stats::{Stats, median_ratio, this_thread_cpu, threads_cpu};
use tokio::runtime::Runtime;

const CORRELATION_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const ITEM_ID: u64 = 4242;

struct Config {
    rounds: usize,
    secs: f64,
    concurrency: Vec<usize>,
    server_threads: usize,
    only: Option<String>,
    pin: bool,
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| panic!("{name}={text:?} is not valid")),
        Err(_) => default,
    }
}

impl Config {
    fn from_env() -> Self {
        let concurrency = std::env::var("SVCGEN_BENCH_CONCURRENCY").unwrap_or_else(|_| "1,32".to_owned());
        Self {
            rounds: env("SVCGEN_BENCH_ROUNDS", 10),
            secs: env("SVCGEN_BENCH_SECS", 0.5),
            concurrency: concurrency
                .split(',')
                .map(|c| c.trim().parse().expect("SVCGEN_BENCH_CONCURRENCY: numbers, comma-separated"))
                .collect(),
            server_threads: env("SVCGEN_BENCH_SERVER_THREADS", 1),
            only: std::env::var("SVCGEN_BENCH_ONLY").ok(),
            pin: env("SVCGEN_BENCH_PIN", 1) != 0,
        }
    }

    fn round(&self) -> Until {
        Until::Elapsed(Duration::from_secs_f64(self.secs))
    }

    fn warm_up(&self) -> Until {
        Until::Elapsed(Duration::from_secs_f64(self.secs / 2.0))
    }
}

/// The three servers.
#[derive(Clone, Copy)]
struct Servers {
    svcgen: SocketAddr,
    equivalent: SocketAddr,
    bare: SocketAddr,
}

fn start_servers(rt: &Runtime) -> Servers {
    rt.block_on(async {
        let bind = || async { tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port") };
        let (a, b, c) = (bind().await, bind().await, bind().await);
        let addrs = Servers {
            svcgen: a.local_addr().expect("bound"),
            equivalent: b.local_addr().expect("bound"),
            bare: c.local_addr().expect("bound"),
        };
        tokio::spawn(RestServer::new().service(BenchServer::new(BenchImpl)).serve(a));
        tokio::spawn(async move { axum::serve(b, equivalent_router()).await });
        tokio::spawn(async move { axum::serve(c, bare_router()).await });
        addrs
    })
}

/// A scenario's request, as the load generator sends it to `addr`.
fn request(scenario: &str, addr: SocketAddr, body: &[u8]) -> Arc<[u8]> {
    let headers = [("x-correlation-id", CORRELATION_ID), ("traceparent", TRACEPARENT)];
    match scenario {
        "echo" => load::request_bytes("POST", "/echo", addr, &headers, body),
        "item" => load::request_bytes("GET", &format!("/items/{ITEM_ID}"), addr, &headers, &[]),
        other => panic!("unknown scenario {other}"),
    }
}

fn echo_body() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "msg": sample_payload() })).expect("JSON")
}

fn raw_payload() -> RawPayload {
    serde_json::from_value(serde_json::to_value(sample_payload()).expect("JSON")).expect("the same shape")
}

// ---- the servers answer alike -------------------------------------------------------------

fn check_servers(rt: &Runtime, servers: Servers) {
    rt.block_on(async {
        let body = echo_body();
        let mut bad = serde_json::json!({ "msg": sample_payload() });
        bad["msg"]["name"] = "".into();
        bad["msg"]["quantity"] = 2_000_000.into();
        let bad = serde_json::to_vec(&bad).expect("JSON");
        let named = [("svcgen", servers.svcgen), ("equivalent", servers.equivalent), ("bare", servers.bare)];
        for scenario in ["echo", "item"] {
            let mut bodies = Vec::new();
            for (name, addr) in named {
                let r = load::once(addr, &request(scenario, addr, &body)).await.expect("an answer");
                assert_eq!(r.status, 200, "{name} {scenario}: {}", String::from_utf8_lossy(&r.body));
                let head = r.head.to_ascii_lowercase();
                assert!(head.contains("content-type: application/json"), "{name} {scenario}: {head}");
                if name != "bare" {
                    assert!(head.contains(&format!("x-correlation-id: {CORRELATION_ID}")), "{name}: {head}");
                }
                let value: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
                bodies.push(value);
            }
            assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{scenario}: the servers disagree: {bodies:?}");
        }
        // The same constraints, every violation named, as a problem document.
        for (name, addr) in [("svcgen", servers.svcgen), ("equivalent", servers.equivalent)] {
            let r = load::once(addr, &request("echo", addr, &bad)).await.expect("an answer");
            assert_eq!(r.status, 400, "{name}");
            assert!(r.head.to_ascii_lowercase().contains("application/problem+json"), "{name}");
            let problem: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
            let fields: Vec<&str> = problem["violations"]
                .as_array()
                .expect("violations")
                .iter()
                .filter_map(|v| v["field"].as_str())
                .collect();
            assert_eq!(fields, ["msg.name", "msg.quantity"], "{name}: {problem}");
        }
    });
}

fn check_clients(rt: &Runtime, base: &str) {
    rt.block_on(async {
        let generated = BenchClient::rest(base).expect("a client");
        let raw = RawClient::new(base);
        let payload = raw_payload();
        let a = generated.echo(sample_payload()).await.expect("echo");
        let b = raw.echo_equivalent(payload.clone()).await.expect("echo");
        let c = raw.echo_bare(payload.clone()).await.expect("echo");
        assert_eq!(serde_json::to_value(&a).ok(), serde_json::to_value(&b).ok());
        assert_eq!(b, c);
        assert_eq!(b, payload);
        let a = generated.get_item(ITEM_ID).await.expect("item");
        let b = raw.item_equivalent(ITEM_ID).await.expect("item");
        let c = raw.item_bare(ITEM_ID).await.expect("item");
        assert_eq!(serde_json::to_value(&a).ok(), serde_json::to_value(&b).ok());
        assert_eq!(b, c);
    });
}

// ---- measuring ------------------------------------------------------------------------------

/// One row of the results.
struct Row {
    half: &'static str,
    scenario: &'static str,
    concurrency: usize,
    target: &'static str,
    stats: Stats,
}

/// Warm-up, then `rounds` rounds over every target in a rotating order.
fn measure(
    config: &Config,
    rt: &Runtime,
    targets: &[&'static str],
    mut run: impl FnMut(&Runtime, usize, Until) -> Run,
) -> Vec<Stats> {
    for t in 0..targets.len() {
        run(rt, t, config.warm_up());
    }
    let mut stats: Vec<Stats> = targets.iter().map(|_| Stats::default()).collect();
    for round in 0..config.rounds {
        for k in 0..targets.len() {
            let t = (round + k) % targets.len();
            let (server, load) = (threads_cpu("server"), this_thread_cpu());
            let result = run(rt, t, config.round());
            stats[t].add(
                result,
                threads_cpu("server").checked_sub(server).unwrap(),
                this_thread_cpu().checked_sub(load).unwrap(),
            );
        }
    }
    stats
}

const SERVER_TARGETS: [&str; 3] = ["svcgen server", "axum, equivalent work", "axum, bare"];
const CLIENT_TARGETS: [&str; 3] = ["svcgen client", "reqwest, equivalent work", "reqwest, bare"];

fn scenario_name(scenario: &str) -> &'static str {
    match scenario {
        "echo" => "POST /echo (1 KiB JSON)",
        _ => "GET /items/{id}",
    }
}

fn server_half(config: &Config, rt: &Runtime, servers: Servers, rows: &mut Vec<Row>) {
    let body = echo_body();
    for scenario in ["echo", "item"] {
        let addrs = [servers.svcgen, servers.equivalent, servers.bare];
        let requests: Vec<Arc<[u8]>> = addrs.iter().map(|a| request(scenario, *a, &body)).collect();
        for &c in &config.concurrency {
            let stats = measure(config, rt, &SERVER_TARGETS, |rt, t, until| {
                rt.block_on(load::hammer(addrs[t], Arc::clone(&requests[t]), c, until)).expect("a clean run")
            });
            finish("server", scenario_name(scenario), c, &SERVER_TARGETS, stats, rows);
        }
    }
}

/// A client call as the driver runs it.
fn client_call(
    scenario: &str,
    target: usize,
    generated: &BenchClient,
    raw: &RawClient,
) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Clone + Send + 'static
{
    let generated = generated.clone();
    let raw = raw.clone();
    let payload = Arc::new(sample_payload());
    let raw_payload = Arc::new(raw_payload());
    let echo = scenario == "echo";
    move || {
        let (generated, raw, payload, raw_payload) =
            (generated.clone(), raw.clone(), Arc::clone(&payload), Arc::clone(&raw_payload));
        Box::pin(async move {
            // Every call gets an owned payload, as when a caller builds its request.
            match (echo, target) {
                (true, 0) => generated.echo((*payload).clone()).await.map(drop).map_err(|e| e.to_string()),
                (true, 1) => {
                    raw.echo_equivalent((*raw_payload).clone()).await.map(drop).map_err(|e| format!("{e:?}"))
                }
                (true, _) => {
                    raw.echo_bare((*raw_payload).clone()).await.map(drop).map_err(|e| format!("{e:?}"))
                }
                (false, 0) => generated.get_item(ITEM_ID).await.map(drop).map_err(|e| e.to_string()),
                (false, 1) => raw.item_equivalent(ITEM_ID).await.map(drop).map_err(|e| format!("{e:?}")),
                (false, _) => raw.item_bare(ITEM_ID).await.map(drop).map_err(|e| format!("{e:?}")),
            }
        })
    }
}

fn client_half(config: &Config, rt: &Runtime, servers: Servers, rows: &mut Vec<Row>) {
    let base = format!("http://{}", servers.bare);
    // One client of each kind for the whole run: connections are pooled, as in an application.
    let generated = BenchClient::rest(&base).expect("a client");
    let raw = RawClient::new(&base);
    for scenario in ["echo", "item"] {
        let calls: Vec<_> = (0..3).map(|t| client_call(scenario, t, &generated, &raw)).collect();
        for &c in &config.concurrency {
            let stats = measure(config, rt, &CLIENT_TARGETS, |rt, t, until| {
                rt.block_on(load::drive(c, until, calls[t].clone())).expect("a clean run")
            });
            finish("client", scenario_name(scenario), c, &CLIENT_TARGETS, stats, rows);
        }
    }
}

/// Prints one measurement's table and keeps its rows.
fn finish(
    half: &'static str,
    scenario: &'static str,
    concurrency: usize,
    targets: &[&'static str],
    mut stats: Vec<Stats>,
    rows: &mut Vec<Row>,
) {
    let peer_rounds = stats[1].rounds().to_vec();
    let peer_p99 = stats[1].round_p99().to_vec();
    println!("\n{half} · {scenario} · concurrency {concurrency}");
    println!(
        "  {:<25} {:>8} {:>17} {:>8} {:>8} {:>8} {:>9} {:>8} {:>10} {:>10}",
        "target",
        "req/s",
        "(round min–max)",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "vs equiv",
        "p99 vs",
        "server µs",
        "load µs"
    );
    for (t, s) in stats.iter_mut().enumerate() {
        let (lo, hi) = s.round_range();
        println!(
            "  {:<25} {:>8.0} {:>17} {:>8.1} {:>8.1} {:>8.1} {:>9.3} {:>8.3} {:>10.2} {:>10.2}",
            targets[t],
            s.throughput(),
            format!("({lo:.0}–{hi:.0})"),
            s.percentile_us(50.0),
            s.percentile_us(90.0),
            s.percentile_us(99.0),
            median_ratio(s.rounds(), &peer_rounds),
            median_ratio(s.round_p99(), &peer_p99),
            s.server_cpu_us(),
            s.load_cpu_us(),
        );
    }
    for (t, s) in stats.into_iter().enumerate() {
        rows.push(Row { half, scenario, concurrency, target: targets[t], stats: s });
    }
}

/// The summary: a Markdown table and the verdicts. Ratios (throughput, p99) are medians of
/// the per-round ratios; p50 and p99 themselves are over every request of every round.
fn summary(rows: &mut [Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| side | call | conc. | target | req/s | p50 µs | p99 µs | req/s ÷ equiv. | p99 ÷ equiv. | req/s ÷ bare | server CPU µs/req | load CPU µs/req |"
    );
    let _ = writeln!(out, "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut verdicts = Vec::new();
    for group in rows.chunks_mut(3) {
        let equiv_rounds = group[1].stats.rounds().to_vec();
        let bare_rounds = group[2].stats.rounds().to_vec();
        let equiv_p99 = group[1].stats.round_p99().to_vec();
        let equiv_p50 = group[1].stats.percentile_us(50.0);
        let equiv_load = group[1].stats.load_cpu_us();
        let bare_load = group[2].stats.load_cpu_us();
        for row in group.iter_mut() {
            let s = &mut row.stats;
            let (p50, p99) = (s.percentile_us(50.0), s.percentile_us(99.0));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.3} | {:.3} | {:.3} | {:.2} | {:.2} |",
                row.half,
                row.scenario.replace('|', "\\|"),
                row.concurrency,
                row.target,
                s.throughput(),
                p50,
                p99,
                median_ratio(s.rounds(), &equiv_rounds),
                median_ratio(s.round_p99(), &equiv_p99),
                median_ratio(s.rounds(), &bare_rounds),
                s.server_cpu_us(),
                s.load_cpu_us(),
            );
        }
        let g = &mut group[0];
        let ratio = median_ratio(g.stats.rounds(), &equiv_rounds);
        let vs_bare = median_ratio(g.stats.rounds(), &bare_rounds);
        let p99 = median_ratio(g.stats.round_p99(), &equiv_p99) - 1.0;
        let p50 = g.stats.percentile_us(50.0) / equiv_p50 - 1.0;
        if g.half == "server" {
            let met = ratio >= 0.95 && p99 <= 0.10;
            verdicts.push(format!(
                "server {} c={}: throughput {ratio:.3}× equivalent (target ≥ 0.95), p99 {:+.1}% (target ≤ +10%); {vs_bare:.3}× bare → {}",
                g.scenario,
                g.concurrency,
                p99 * 100.0,
                if met { "met" } else { "NOT MET" }
            ));
        } else {
            // Overhead: time per call, ours over the peer's.
            let overhead = 1.0 / ratio - 1.0;
            let cpu = g.stats.load_cpu_us() / equiv_load - 1.0;
            verdicts.push(format!(
                "client {} c={}: overhead {:+.1}% per call vs equivalent (target ≤ 5%), p50 {:+.1}%, client CPU {:+.1}%; vs bare {:+.1}% per call, CPU {:+.1}% → {}",
                g.scenario,
                g.concurrency,
                overhead * 100.0,
                p50 * 100.0,
                cpu * 100.0,
                (1.0 / vs_bare - 1.0) * 100.0,
                (g.stats.load_cpu_us() / bare_load - 1.0) * 100.0,
                if overhead <= 0.05 { "met" } else { "NOT MET" }
            ));
        }
    }
    out.push('\n');
    for v in verdicts {
        let _ = writeln!(out, "- {v}");
    }
    out
}

// ---- profiling mode -------------------------------------------------------------------------

fn profile(spec: &str, config: &Config, rt: &Runtime, servers: Servers) {
    let (target, scenario) = spec.split_once('/').expect("SVCGEN_BENCH_PROFILE=target/scenario");
    let n: u64 = env("SVCGEN_BENCH_REQUESTS", 20_000);
    // The first concurrency given (1 by default here), each sending its share.
    let c = std::env::var_os("SVCGEN_BENCH_CONCURRENCY").map_or(1, |_| config.concurrency[0]);
    let until = Until::Count(n / c as u64);
    let run = match target {
        "svcgen" | "equivalent" | "bare" => {
            let addr = match target {
                "svcgen" => servers.svcgen,
                "equivalent" => servers.equivalent,
                _ => servers.bare,
            };
            rt.block_on(load::hammer(addr, request(scenario, addr, &echo_body()), c, until))
        }
        _ => {
            let base = format!("http://{}", servers.bare);
            let generated = BenchClient::rest(&base).expect("a client");
            let raw = RawClient::new(&base);
            let t = match target {
                "generated" => 0,
                "reqwest-equivalent" => 1,
                "reqwest-bare" => 2,
                other => panic!("unknown target {other}"),
            };
            rt.block_on(load::drive(c, until, client_call(scenario, t, &generated, &raw)))
        }
    }
    .expect("a clean run");
    println!("{target}/{scenario}: {} requests in {:.2?}", run.requests, run.elapsed);
}

fn main() {
    // `cargo bench` passes `--bench`; this binary takes no arguments of its own.
    let config = Config::from_env();
    // Pinning: the server runtime's threads on the first core, the load generator (this thread)
    // on the second, so neither is moved around or shares a core with the other.
    let cores = if config.pin {
        core_affinity::get_core_ids().filter(|ids| ids.len() >= 2).map(|ids| (ids[0], ids[1]))
    } else {
        None
    };
    let server_core = cores.map(|c| c.0);
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.server_threads)
        .thread_name("server")
        .on_thread_start(move || {
            if let Some(core) = server_core {
                let _ = core_affinity::set_for_current(core);
            }
        })
        .enable_all()
        .build()
        .expect("a runtime");
    let pinned = cores.is_some_and(|c| core_affinity::set_for_current(c.1));
    let load_rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let servers = start_servers(&server_rt);
    check_servers(&load_rt, servers);
    check_clients(&load_rt, &format!("http://{}", servers.svcgen));

    if let Some(dir) = std::env::var_os("SVCGEN_BENCH_SERVE") {
        let body = std::path::Path::new(&dir).join("echo.json");
        std::fs::write(&body, echo_body()).expect("SVCGEN_BENCH_SERVE is a writable folder");
        println!("body       {}", body.display());
        println!("svcgen     http://{}", servers.svcgen);
        println!("equivalent http://{}", servers.equivalent);
        println!("bare       http://{}", servers.bare);
        loop {
            std::thread::park();
        }
    }
    if let Ok(spec) = std::env::var("SVCGEN_BENCH_PROFILE") {
        profile(&spec, &config, &load_rt, servers);
        return;
    }

    println!(
        "svcgen REST benchmark: {} rounds × {:.1} s per target (after {:.1} s warm-up), concurrency {:?}, \
         server runtime {} worker thread(s), load generator on 1 thread, {} CPUs, {}",
        config.rounds,
        config.secs,
        config.secs / 2.0,
        config.concurrency,
        config.server_threads,
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        if pinned { "server pinned to core 0, load generator to core 1" } else { "not pinned" },
    );
    let mut rows = Vec::new();
    let only = config.only.as_deref();
    if only.is_none_or(|o| o == "server") {
        server_half(&config, &load_rt, servers, &mut rows);
    }
    if only.is_none_or(|o| o == "client") {
        client_half(&config, &load_rt, servers, &mut rows);
    }
    println!("\n{}", summary(&mut rows));
}
