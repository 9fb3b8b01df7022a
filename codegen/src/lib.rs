//! svcgen's back end and command-line tool.
//!
//! This crate reads the [`svcgen_idl::Model`] and writes what users run: Rust code (`rust`,
//! and `Builder` for build scripts), the `OpenAPI` document of the REST binding, the `AsyncAPI`
//! document of the queue binding, the API reference, and the `svcgen` CLI over all of them.

mod build;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "documents")]
pub mod doc;
pub mod rust;

pub use build::{BuildError, Builder};
#[cfg(feature = "documents")]
pub mod asyncapi;
#[cfg(feature = "documents")]
pub mod openapi;
