//! The pieces of the REST benchmarks (`benches/rest.rs`, run with
//! `cargo bench -p svcgen-bench-rest`):
//!
//! - [`bench`]: the code svcgen generates from `bench.svc` (by `build.rs`, with
//!   `svcgen_codegen::Builder`), and [`service::BenchImpl`], its implementation;
//! - [`raw`]: the same service written by hand on axum (two ways: doing the same work as the
//!   generated server, and the bare minimum), and the same calls made with reqwest;
//! - [`load`]: a small HTTP/1.1 load generator (in the spirit of `wrk`) and a driver for client
//!   calls, both recording every latency;
//! - [`stats`]: throughput and percentiles.

svcgen::include_generated!();

pub mod load;
pub mod raw;
pub mod service;
pub mod stats;
