//! The pieces of the queue benchmark (`benches/queue.rs`, run with
//! `cargo bench -p svcgen-bench-queue`):
//!
//! - [`qbench`]: the code svcgen generates from `bench.svc` (by `build.rs`), and
//!   [`service::BenchImpl`], its implementation;
//! - [`reqrep`]: request/reply callers and servers — the generated client and server on each
//!   broker, raw async-nats, raw lapin, bare `mpsc` + `oneshot`;
//! - [`events`]: producers and consumers of events — the runtime's `EventPublisher` and
//!   `Subscriber` on each broker, raw `JetStream`, raw lapin, bare `mpsc`;
//! - [`stats`]: `HdrHistogram` percentiles, rates, CPU time, per-round ratios.

// A poisoned lock in a benchmark is a failed run: its panics are not documented one by one.
#![allow(clippy::missing_panics_doc)]

svcgen::include_generated!();

pub mod events;
pub mod reqrep;
pub mod service;
pub mod stats;
