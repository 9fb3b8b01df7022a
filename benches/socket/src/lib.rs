//! The pieces of the socket benchmark (`benches/socket.rs`, run with
//! `cargo bench -p svcgen-bench-socket`):
//!
//! - [`sbench`]: the code svcgen generates from `bench.svc` (by `build.rs`), and
//!   [`service::BenchImpl`], its implementation, and the payloads of each size;
//! - [`raw`]: the same echo on a bare tokio-tungstenite server and client that do the same JSON
//!   work (the same request and response text, parsed into the same typed values) and nothing
//!   else;
//! - [`peers`]: one closed-loop caller of each peer (ours over the socket binding, the raw
//!   WebSocket peer, ours over the RPC binding), driven by `svcgen-bench-rpc`'s `load`;
//! - [`idle`]: memory per idle connection, the server in a child process.
//!
//! The closed-loop driver, CPU pinning and time, and the statistics come from the RPC
//! benchmark's crate (`svcgen_bench_rpc::{load, stats}`).

svcgen::include_generated!();

pub mod idle;
pub mod peers;
pub mod raw;
pub mod service;
