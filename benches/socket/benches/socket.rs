//! The generated socket client and server beside a raw tokio-tungstenite peer doing the same
//! JSON work, and beside our RPC binding, in one process and one run; then memory per idle
//! connection, the server in a child process.
//!
//! Run with `cargo bench -p svcgen-bench-socket`. It is a plain bench binary (`harness = false`):
//!
//! - one thread (`socket-server`) runs a current-thread tokio runtime with the three servers:
//!   `SocketServer` serving the generated `BenchServer`, the raw tokio-tungstenite server, and
//!   `RpcServer` serving the same `BenchServer`; it is pinned to the first core;
//! - the main thread runs a current-thread tokio runtime with the clients, one connection per
//!   caller (the generated `BenchClient::socket`, the raw client, `BenchClient::rpc`); it is
//!   pinned to the second core. Callers are tasks in a closed loop.
//!
//! Before timing it captures the request our client sends (a raw server takes it off the wire)
//! and checks that the raw client sends the same text (with the captured ids), that the raw
//! server answers it with the same text as our server, and that every peer echoes each blob.
//! Then, for each message size and each number of connections, each peer is warmed up, then
//! rounds run every peer once in a rotating order. Ratios are medians of per-round ratios.
//!
//! Environment:
//! - `SVCGEN_BENCH_SECS` — seconds per peer per round (default 0.15);
//! - `SVCGEN_BENCH_WARMUP` — seconds of warm-up before each timed run (default 0.05; the first
//!   of each peer in a cell is twice as long);
//! - `SVCGEN_BENCH_ROUNDS` — timed rounds (default 21);
//! - `SVCGEN_BENCH_CONCURRENCY` — connections (one caller each), comma-separated (default `1,100`);
//! - `SVCGEN_BENCH_SIZES` — the blob's JSON size in bytes, comma-separated (default `20,1024,16384`);
//! - `SVCGEN_BENCH_IDLE` — idle connections for the memory measure (default 10000; `0` skips it);
//! - `SVCGEN_BENCH_PIN` — `0` to leave the threads unpinned (default pinned);
//! - `SVCGEN_BENCH_PROFILE=peer` — no comparison: run one peer (`svcgen`, `raw`, `rpc`) for
//!   `SVCGEN_BENCH_SECS` at the first size and concurrency, and print calls and CPU time (for
//!   `perf`).

#![allow(missing_docs)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use svcgen::rpc::RpcServer;
use svcgen::socket::{DEFAULT_PATH, SocketServer};
use svcgen_bench_rpc::load::{
    Timing, client_runtime, closed_loop_each, compare, cores, env, env_list, server_thread,
};
use svcgen_bench_rpc::stats::{Cell, Cpu, median_ratio, to_f64};
use svcgen_bench_socket::idle::{self, SERVE_ENV, Server};
use svcgen_bench_socket::peers::{Caller, Client};
use svcgen_bench_socket::raw::{self, RawClient};
use svcgen_bench_socket::sbench::{BenchClient, BenchServer};
use svcgen_bench_socket::service::{BenchImpl, blob_of_json_size};
use tokio_tungstenite::tungstenite::Message;

const PEERS: [&str; 4] =
    ["svcgen socket (JSON)", "raw tokio-tungstenite", "svcgen RPC", "svcgen socket (binary)"];
const SOCKET: usize = 0;
const RAW: usize = 1;
const RPC: usize = 2;
const BINARY: usize = 3;
const SERVER_THREAD: &str = "socket-server";

struct Config {
    timing: Timing,
    concurrency: Vec<usize>,
    sizes: Vec<usize>,
    idle: usize,
    pin: bool,
    profile: Option<String>,
}

impl Config {
    fn from_env() -> Self {
        Self {
            // Many short rounds: this machine's speed drifts over seconds, and peers that take
            // turns every 0.2 s see the same drift (two runs of 21 × 0.15 s agreed to 0.03 in
            // the cells near their target, where 5 × 0.6 s runs differed by up to 0.25).
            timing: Timing {
                warm_up: env("SVCGEN_BENCH_WARMUP", 0.05),
                ..Timing::from_env(0.15, 21, SERVER_THREAD)
            },
            concurrency: env_list("SVCGEN_BENCH_CONCURRENCY", "1,100"),
            sizes: env_list("SVCGEN_BENCH_SIZES", "20,1024,16384"),
            idle: env("SVCGEN_BENCH_IDLE", 10_000),
            pin: env("SVCGEN_BENCH_PIN", 1) != 0,
            profile: std::env::var("SVCGEN_BENCH_PROFILE").ok(),
        }
    }
}

/// The three servers' addresses (binary mode is served by the socket server).
type Servers = [SocketAddr; 3];

fn ws_url(addr: SocketAddr) -> String {
    format!("ws://{addr}{DEFAULT_PATH}")
}

/// Starts the server thread (pinned to `core`) and the three servers in its runtime.
fn start_servers(core: Option<core_affinity::CoreId>) -> (Servers, bool) {
    server_thread(SERVER_THREAD, core, || async {
        let bind = || async { tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port") };
        let listeners = [bind().await, bind().await, bind().await];
        let addrs = listeners.each_ref().map(|l| l.local_addr().expect("bound"));
        let [socket, raw_ws, rpc] = listeners;
        tokio::spawn(SocketServer::new().service(BenchServer::new(BenchImpl)).serve(socket));
        tokio::spawn(raw::serve(raw_ws));
        tokio::spawn(RpcServer::new().service(BenchServer::new(BenchImpl)).serve(rpc));
        addrs
    })
}

/// `n` clients of each peer, each its own connection, in the order of [`PEERS`].
async fn connect(servers: Servers, n: usize) -> Vec<Vec<Client>> {
    let mut socket = Vec::with_capacity(n);
    let mut raw_clients = Vec::with_capacity(n);
    let mut rpc = Vec::with_capacity(n);
    let mut binary = Vec::with_capacity(n);
    for _ in 0..n {
        socket.push(Client::Socket(BenchClient::socket(&ws_url(servers[SOCKET])).expect("a ws:// URL")));
        raw_clients
            .push(Client::Raw(RawClient::connect(&ws_url(servers[RAW])).await.expect("the raw server")));
        rpc.push(Client::Rpc(BenchClient::rpc(&servers[RPC].to_string())));
        // Binary mode is served by the same socket server, chosen at the handshake.
        let channel = svcgen::Channel::socket_binary(&ws_url(servers[SOCKET])).expect("a ws:// URL");
        binary.push(Client::SocketBinary(BenchClient::new(channel)));
    }
    vec![socket, raw_clients, rpc, binary]
}

/// A string field's value in a JSON text (`"name":"value"`).
fn member<'a>(text: &'a str, name: &str) -> &'a str {
    let key = format!("\"{name}\":\"");
    let start = text.find(&key).unwrap_or_else(|| panic!("no {name} in {text:.300}")) + key.len();
    let len = text[start..].find('"').expect("a closed string");
    &text[start..start + len]
}

/// Captures the request our client sends (a raw server takes it off the wire and answers it as
/// the raw server does), and checks that the raw client's request and the raw server's
/// response are the same text as ours.
async fn check_wire() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = ws_url(listener.local_addr().expect("bound"));
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let capture = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("our client connects");
        let mut ws = raw::accept(stream).await.expect("a handshake");
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                let _ = tx.send(text.as_str().to_owned());
                ws.send(Message::text(raw::answer(text.as_str()))).await.expect("the reply is sent");
                break;
            }
        }
        // Hold the connection until the client has read the reply.
        let _ = ws.next().await;
    });
    let msg = blob_of_json_size(64);
    let client = BenchClient::socket(&url).expect("a ws:// URL");
    let echoed = client.echo(msg.clone()).await.expect("our client takes the raw server's answer");
    assert_eq!(echoed, msg, "the raw server's answer read by our client");
    let ours = rx.await.expect("a captured request");
    drop(client);
    capture.abort();

    let id: u64 = {
        let start = ours.find(r#""id":"#).expect("an id") + 5;
        let digits: String = ours[start..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().expect("a numeric id")
    };
    let theirs = raw::request_text(id, &msg, member(&ours, "correlation_id"), member(&ours, "traceparent"))
        .expect("a request");
    assert_eq!(theirs, ours, "the raw client's request differs from ours");
    let fresh = raw::fresh_request_text(id, &msg).expect("a request");
    assert_eq!(fresh.len(), ours.len(), "fresh ids of another length than ours: {fresh} / {ours}");
    ours
}

/// Our server and the raw server answer the captured request with the same text.
async fn check_answers(servers: Servers, request: &str) {
    let mut answers = Vec::new();
    for addr in [servers[SOCKET], servers[RAW]] {
        let mut ws = raw::open(&ws_url(addr)).await.expect("a connection");
        let reply = raw::round_trip(&mut ws, request.to_owned()).await.expect("an answer");
        answers.push(reply.as_str().to_owned());
        let _ = ws.close(None).await;
    }
    assert_eq!(answers[0], answers[1], "the raw server answers other text than ours");
    assert_eq!(answers[1], raw::answer(request));
}

fn callers(clients: &[Client], n: usize, payload: &Arc<svcgen_bench_socket::sbench::Blob>) -> Vec<Caller> {
    clients.iter().take(n).map(|client| Caller { client: client.clone(), payload: payload.clone() }).collect()
}

struct Measured {
    size: usize,
    concurrency: usize,
    cells: Vec<Cell>,
}

fn ratio_or_one(value: f64, own: bool) -> String {
    if own { "1".to_owned() } else { format!("{value:.2}") }
}

fn report(results: &[Measured]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| JSON size | conns | peer | calls/s | p50 µs | p99 µs | CPU µs/call (server + client) | calls/s ÷ raw | p50 ÷ raw | p99 ÷ raw | CPU/call ÷ raw | calls/s ÷ RPC |"
    );
    let _ = writeln!(out, "|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|");
    for Measured { size, concurrency, cells } in results {
        for (p, cell) in cells.iter().enumerate() {
            let (cpu, server, client) = cell.cpu_per_call_us();
            let raw_cpu = cells[RAW].cpu_per_call_us().0;
            let _ = writeln!(
                out,
                "| {size} | {concurrency} | {} | {:.0} | {:.1} | {:.1} | {cpu:.1} ({server:.1} + {client:.1}) | {} | {} | {} | {} | {} |",
                PEERS[p],
                cell.throughput(),
                cell.percentile_us(0.5),
                cell.percentile_us(0.99),
                ratio_or_one(median_ratio(&cell.round_throughput, &cells[RAW].round_throughput), p == RAW),
                ratio_or_one(median_ratio(&cell.round_p50, &cells[RAW].round_p50), p == RAW),
                ratio_or_one(cell.percentile_us(0.99) / cells[RAW].percentile_us(0.99), p == RAW),
                ratio_or_one(cpu / raw_cpu, p == RAW),
                ratio_or_one(median_ratio(&cell.round_throughput, &cells[RPC].round_throughput), p == RPC),
            );
        }
    }
    out
}

fn verdicts(results: &[Measured]) -> String {
    let mut out = String::new();
    for Measured { size, concurrency, cells } in results {
        let t = median_ratio(&cells[SOCKET].round_throughput, &cells[RAW].round_throughput);
        // "Within 1.3× of RPC": RPC's calls/s at most 1.3 times binary mode's.
        let b = median_ratio(&cells[BINARY].round_throughput, &cells[RPC].round_throughput);
        let verdict =
            |ok: bool, short: f64| if ok { "met".to_owned() } else { format!("MISSED ({short:.0}% short)") };
        let _ = writeln!(
            out,
            "- {size} B, {concurrency} conn.: JSON mode calls/s ÷ raw {t:.2}× (target ≥ 0.9×) → {}; \
             binary mode calls/s ÷ RPC {b:.2}× (target ≥ 1/1.3 = 0.77×) → {}",
            verdict(t >= 0.9, (1.0 - t / 0.9) * 100.0),
            verdict(b >= 1.0 / 1.3, (1.0 - b * 1.3) * 100.0),
        );
    }
    out
}

fn main() {
    if let Ok(server) = std::env::var(SERVE_ENV) {
        idle::serve_child(&server);
        return;
    }
    // `cargo bench` passes `--bench`; this binary takes no arguments of its own.
    let config = Config::from_env();
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let cores = cores(config.pin);
    let (servers, server_pinned) = start_servers(cores.map(|c| c.0));
    let (rt, client_pinned) = client_runtime(cores.map(|c| c.1));

    let request = rt.block_on(check_wire());
    rt.block_on(check_answers(servers, &request));
    let most = config.concurrency.iter().copied().max().unwrap_or(1);
    let clients = rt.block_on(connect(servers, most));
    for &size in &config.sizes {
        let payload = Arc::new(blob_of_json_size(size));
        for (name, peer) in PEERS.iter().zip(&clients) {
            for caller in callers(peer, most, &payload) {
                let echoed = rt.block_on(caller.echo()).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(echoed, *payload, "{name} changed the blob");
            }
        }
    }
    println!(
        "checked: the raw client sends our client's request text ({} bytes with a 64-byte blob), the raw server answers as ours; every peer echoes every size",
        request.len()
    );

    if let Some(peer) = &config.profile {
        let p = PEERS
            .iter()
            .position(|name| name.starts_with(peer.as_str()))
            .expect("SVCGEN_BENCH_PROFILE: a peer");
        let payload = Arc::new(blob_of_json_size(config.sizes[0]));
        let callers = callers(&clients[p], config.concurrency[0], &payload);
        let before = Cpu::now(SERVER_THREAD);
        let run = rt
            .block_on(closed_loop_each(&callers, Duration::from_secs_f64(config.timing.secs)))
            .expect("a clean run");
        let cpu = before.elapsed(SERVER_THREAD);
        let calls = to_f64(run.calls.max(1));
        println!(
            "{}: {} calls in {:.2?}; CPU µs/call: process {:.2}, server {:.2}, client {:.2}",
            PEERS[p],
            run.calls,
            run.elapsed,
            cpu.process.as_secs_f64() * 1e6 / calls,
            cpu.server.as_secs_f64() * 1e6 / calls,
            cpu.client.as_secs_f64() * 1e6 / calls,
        );
        return;
    }

    println!(
        "svcgen socket benchmark: echo of a blob of {:?} bytes of JSON; {} rounds × {:.1} s per peer \
         (each after {:.1} s warm-up), connections {:?} (one caller each); server runtime {}, client runtime {} ({} CPUs)",
        config.sizes,
        config.timing.rounds,
        config.timing.secs,
        config.timing.warm_up,
        config.concurrency,
        if server_pinned { "pinned to core 0" } else { "not pinned" },
        if client_pinned { "pinned to core 1" } else { "not pinned" },
        cpus,
    );
    let mut results = Vec::new();
    for &size in &config.sizes {
        let payload = Arc::new(blob_of_json_size(size));
        for &concurrency in &config.concurrency {
            let peers: Vec<Vec<Caller>> = clients.iter().map(|c| callers(c, concurrency, &payload)).collect();
            let cells = compare(&rt, &peers, &config.timing);
            results.push(Measured { size, concurrency, cells });
            println!("\n{}", report(&results[results.len() - 1..]));
        }
    }
    println!("\nAll:\n\n{}\n{}", report(&results), verdicts(&results));

    if config.idle > 0 {
        println!(
            "Memory per idle connection ({} connections held, server in a child process):\n",
            config.idle
        );
        println!("| server | RSS before KiB | RSS after KiB | KiB per connection | opening took |");
        println!("|---|---:|---:|---:|---:|");
        let mut per = Vec::new();
        for server in [Server::Svcgen, Server::Raw] {
            let idle = rt
                .block_on(idle::measure(server, config.idle))
                .unwrap_or_else(|e| panic!("{}: {e}", server.name()));
            println!(
                "| {} | {} | {} | {:.1} | {:.2?} |",
                server.name(),
                idle.rss_before_kib,
                idle.rss_after_kib,
                idle.per_connection_kib(),
                idle.open_time
            );
            per.push(idle.per_connection_kib());
        }
        println!("\nsvcgen ÷ raw per idle connection: {:.2}×", per[0] / per[1]);
    }
}
