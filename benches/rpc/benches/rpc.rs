//! The generated RPC client and server beside tarpc, tonic and a hand-written floor, in one
//! process and one run, on the same echo of a 1 KiB struct.
//!
//! Run with `cargo bench -p svcgen-bench-rpc`. It is a plain bench binary (`harness = false`):
//!
//! - one thread (`rpc-server`) runs a current-thread tokio runtime with the four servers, each
//!   on its own port of `127.0.0.1`: the generated `BenchServer` on `RpcServer`, the raw floor,
//!   tarpc and tonic; it is pinned to the first core;
//! - the main thread runs a current-thread tokio runtime with the four clients, each on one
//!   connection (one HTTP/2 channel for tonic); it is pinned to the second core. Callers are
//!   tasks spawned in it, in a closed loop (each makes its next call when the last one is
//!   answered), all on the one connection of their peer.
//!
//! Before timing it checks that every peer echoes the payload unchanged. Then, for each
//! concurrency, each peer is warmed up; then come rounds in which every peer runs once, in a
//! rotating order, each run after a short warm-up of its own. Latencies go into `HdrHistogram`s
//! (p50 and p99 over every call of every round); CPU time is read from
//! `/proc/self/task/*/schedstat` (the whole process, and the server and client threads). A ratio
//! between two peers is the median of their per-round ratios, so a burst of noise from the
//! rest of the machine moves one round, not the verdict.
//!
//! Environment:
//! - `SVCGEN_BENCH_SECS` — seconds per peer per round (default 0.8);
//! - `SVCGEN_BENCH_WARMUP` — seconds of warm-up before each timed run (default 0.2; the first
//!   warm-up of each peer at each concurrency is twice as long);
//! - `SVCGEN_BENCH_ROUNDS` — timed rounds (default 5);
//! - `SVCGEN_BENCH_CONCURRENCY` — callers, comma-separated (default `1,16,256`);
//! - `SVCGEN_BENCH_PIN` — `0` to leave the threads unpinned (default pinned);
//! - `SVCGEN_BENCH_PROFILE=peer` — no comparison: run one peer (`svcgen`, `raw`, `tarpc`,
//!   `tonic`) for `SVCGEN_BENCH_SECS` at the first concurrency and print calls and CPU time
//!   (for `perf` or `valgrind --tool=callgrind`).

#![allow(missing_docs)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use svcgen::rpc::RpcServer;
use svcgen_bench_rpc::bench::{BenchClient, BenchServer};
use svcgen_bench_rpc::load::{
    Caller, Timing, client_runtime, closed_loop, compare, cores, env, env_list, server_thread,
};
use svcgen_bench_rpc::peers::{self, PbPayload};
use svcgen_bench_rpc::raw::{self, RawClient};
use svcgen_bench_rpc::service::{BenchImpl, sample_payload};
use svcgen_bench_rpc::stats::{Cell, Cpu, median_ratio, to_f64};

const PEERS: [&str; 4] = ["svcgen", "raw floor", "tarpc", "tonic"];
const SVCGEN: usize = 0;
const RAW: usize = 1;
const TARPC: usize = 2;
const TONIC: usize = 3;
const SERVER_THREAD: &str = "rpc-server";

struct Config {
    timing: Timing,
    concurrency: Vec<usize>,
    pin: bool,
    profile: Option<String>,
}

impl Config {
    fn from_env() -> Self {
        Self {
            timing: Timing::from_env(0.8, 5, SERVER_THREAD),
            concurrency: env_list("SVCGEN_BENCH_CONCURRENCY", "1,16,256"),
            pin: env("SVCGEN_BENCH_PIN", 1) != 0,
            profile: std::env::var("SVCGEN_BENCH_PROFILE").ok(),
        }
    }
}

/// The four servers' addresses, in the order of [`PEERS`].
type Servers = [SocketAddr; 4];

/// Starts the server thread (pinned to `core`) and the four servers in its runtime.
fn start_servers(core: Option<core_affinity::CoreId>) -> (Servers, bool) {
    server_thread(SERVER_THREAD, core, || async {
        let bind = || async { tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port") };
        let listeners = [bind().await, bind().await, bind().await, bind().await];
        let addrs = listeners.each_ref().map(|l| l.local_addr().expect("bound"));
        let [svcgen, raw_floor, tarpc, tonic] = listeners;
        tokio::spawn(RpcServer::new().service(BenchServer::new(BenchImpl)).serve(svcgen));
        tokio::spawn(raw::serve(raw_floor));
        tokio::spawn(peers::serve_tarpc(tarpc));
        tokio::spawn(peers::serve_tonic(tonic));
        addrs
    })
}

/// One client of each peer, connected, in the order of [`PEERS`].
async fn connect(servers: Servers) -> Vec<Caller> {
    let payload = Arc::new(sample_payload());
    let svcgen = BenchClient::rpc(&servers[SVCGEN].to_string());
    let raw = RawClient::connect(servers[RAW]).await.expect("the raw server");
    let tarpc = peers::tarpc_client(servers[TARPC]).await.expect("the tarpc server");
    let tonic = peers::tonic_client(servers[TONIC]).await.expect("the tonic server");
    vec![
        Caller::Svcgen(svcgen, payload.clone()),
        Caller::Raw(raw, payload.clone()),
        Caller::Tarpc(tarpc, payload.clone()),
        Caller::Tonic(tonic, Arc::new(PbPayload::from((*payload).clone()))),
    ]
}

/// Every peer echoes the payload unchanged (and the svcgen client is connected).
async fn check(callers: &[Caller]) {
    let expected = sample_payload();
    for (name, caller) in PEERS.iter().zip(callers) {
        let echoed = caller.echo().await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(echoed, expected, "{name} changed the payload");
    }
}

/// Warm-up, then `rounds` rounds over every peer in a rotating order, at `concurrency` callers
/// sharing each peer's one connection.
fn measure(
    config: &Config,
    rt: &tokio::runtime::Runtime,
    callers: &[Caller],
    concurrency: usize,
) -> Vec<Cell> {
    let peers: Vec<Vec<Caller>> = callers.iter().map(|caller| vec![caller.clone(); concurrency]).collect();
    compare(rt, &peers, &config.timing)
}

fn ratio_or_dash(value: f64, own: bool) -> String {
    if own { "1".to_owned() } else { format!("{value:.2}") }
}

/// The table (Markdown) for every concurrency, and the verdicts.
fn report(results: &[(usize, Vec<Cell>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| callers | peer | calls/s | p50 µs | p99 µs | CPU µs/call (server + client) | p50 ÷ raw | calls/s ÷ raw | ÷ tarpc | ÷ tonic | calls per CPU s ÷ raw | ÷ tarpc | ÷ tonic |"
    );
    let _ = writeln!(out, "|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for (concurrency, cells) in results {
        for (p, cell) in cells.iter().enumerate() {
            let (cpu, server, client) = cell.cpu_per_call_us();
            let tput = |peer: usize| median_ratio(&cell.round_throughput, &cells[peer].round_throughput);
            let eff = |peer: usize| median_ratio(&cell.round_efficiency, &cells[peer].round_efficiency);
            let _ = writeln!(
                out,
                "| {concurrency} | {} | {:.0} | {:.1} | {:.1} | {cpu:.1} ({server:.1} + {client:.1}) | {} | {} | {} | {} | {} | {} | {} |",
                PEERS[p],
                cell.throughput(),
                cell.percentile_us(0.5),
                cell.percentile_us(0.99),
                ratio_or_dash(median_ratio(&cell.round_p50, &cells[RAW].round_p50), p == RAW),
                ratio_or_dash(tput(RAW), p == RAW),
                ratio_or_dash(tput(TARPC), p == TARPC),
                ratio_or_dash(tput(TONIC), p == TONIC),
                ratio_or_dash(eff(RAW), p == RAW),
                ratio_or_dash(eff(TARPC), p == TARPC),
                ratio_or_dash(eff(TONIC), p == TONIC),
            );
        }
    }
    out.push('\n');
    let cells_at = |c: usize| results.iter().find(|(k, _)| *k == c).map(|(_, cells)| cells);
    if let Some(cells) = cells_at(1) {
        let r = median_ratio(&cells[SVCGEN].round_p50, &cells[RAW].round_p50);
        let _ = writeln!(
            out,
            "- sequential p50 ÷ raw floor: {r:.2}× (target ≤ 1.2×) → {}",
            verdict(r <= 1.2, &format!("{:.0}% over the target", (r / 1.2 - 1.0) * 100.0))
        );
    }
    if let Some(cells) = cells_at(256) {
        let t = median_ratio(&cells[SVCGEN].round_throughput, &cells[TARPC].round_throughput);
        let te = median_ratio(&cells[SVCGEN].round_efficiency, &cells[TARPC].round_efficiency);
        let _ = writeln!(
            out,
            "- 256 in flight, calls/s ÷ tarpc: {t:.2}× (target ≥ 1.0×, aim 1.5×; per CPU second {te:.2}×) → {}",
            verdict(t >= 1.0, &format!("{:.0}% short", (1.0 - t) * 100.0))
        );
        let g = median_ratio(&cells[SVCGEN].round_efficiency, &cells[TONIC].round_efficiency);
        let gt = median_ratio(&cells[SVCGEN].round_throughput, &cells[TONIC].round_throughput);
        let _ = writeln!(
            out,
            "- 256 in flight, calls per CPU second ÷ tonic: {g:.2}× (target ≥ 3×; calls/s {gt:.2}×) → {}",
            verdict(g >= 3.0, &format!("{:.0}% short", (1.0 - g / 3.0) * 100.0))
        );
    }
    out
}

fn verdict(met: bool, by: &str) -> String {
    if met { "met".to_owned() } else { format!("MISSED ({by})") }
}

fn main() {
    // `cargo bench` passes `--bench`; this binary takes no arguments of its own.
    let config = Config::from_env();
    // Counted before this thread is pinned (pinning narrows what it may see).
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let cores = cores(config.pin);
    let (servers, server_pinned) = start_servers(cores.map(|c| c.0));
    let (rt, client_pinned) = client_runtime(cores.map(|c| c.1));
    let callers = rt.block_on(connect(servers));
    rt.block_on(check(&callers));
    let bytes = rmp_serde::to_vec_named(&sample_payload()).expect("MessagePack").len();

    if let Some(peer) = &config.profile {
        let p = PEERS
            .iter()
            .position(|name| name.starts_with(peer.as_str()))
            .expect("SVCGEN_BENCH_PROFILE: a peer");
        let concurrency = config.concurrency[0];
        let before = Cpu::now(SERVER_THREAD);
        let run = rt
            .block_on(closed_loop(&callers[p], concurrency, Duration::from_secs_f64(config.timing.secs)))
            .expect("a clean run");
        let cpu = before.elapsed(SERVER_THREAD);
        let calls = run.calls.max(1);
        println!(
            "{}: {} calls at {concurrency} in {:.2?}; CPU µs/call: process {:.2}, server {:.2}, client {:.2}",
            PEERS[p],
            run.calls,
            run.elapsed,
            cpu.process.as_secs_f64() * 1e6 / to_f64(calls),
            cpu.server.as_secs_f64() * 1e6 / to_f64(calls),
            cpu.client.as_secs_f64() * 1e6 / to_f64(calls),
        );
        return;
    }

    println!(
        "svcgen RPC benchmark: echo of a {bytes}-byte MessagePack struct; {} rounds × {:.1} s per peer \
         (each after {:.1} s warm-up), callers {:?}; server runtime {}, client runtime {} ({} CPUs)",
        config.timing.rounds,
        config.timing.secs,
        config.timing.warm_up,
        config.concurrency,
        if server_pinned { "pinned to core 0" } else { "not pinned" },
        if client_pinned { "pinned to core 1" } else { "not pinned" },
        cpus,
    );
    let mut results = Vec::new();
    for &concurrency in &config.concurrency {
        let cells = measure(&config, &rt, &callers, concurrency);
        results.push((concurrency, cells));
        println!("\n{}", report(&results[results.len() - 1..]));
    }
    println!("\nAll:\n\n{}", report(&results));
}
