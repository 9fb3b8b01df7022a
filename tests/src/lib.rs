//! Workspace-level tests.
//!
//! This crate's build script generates Rust for every `tests/fixtures/valid/*.svc` and for
//! the shop example, and includes it all below: building the crate is the compile test, and
//! `cargo clippy --all-targets -- -D warnings` (with the workspace's `clippy::pedantic` and
//! `missing_docs`) is the lint test. Its `tests/` folder runs the bindings end to end.
#![deny(warnings, missing_docs)]

pub mod brokers;
pub mod conformance;

include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));
