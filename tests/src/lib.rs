//! Workspace-level tests.
//!
//! This crate's build script generates Rust for every `tests/fixtures/valid/*.svc` and for
//! the shop example, and includes it all below: building the crate is the compile test, and
//! `cargo clippy --all-targets -- -D warnings` (with the workspace's `clippy::pedantic` and
//! `missing_docs`) is the lint test. Its `tests/` folder runs the bindings end to end.
#![deny(warnings, missing_docs)]

pub mod brokers;
pub mod conformance;
pub mod conformance_macro;
pub mod interop;
/// `macros/core/tests/catalog/catalog.rs`: the shop catalogue as a `#[svcgen::service]`
/// module, compiled and linted here like the generated code of every fixture.
#[path = "../../macros/core/tests/catalog/catalog.rs"]
pub mod macro_catalog;
pub mod socket;

include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));
