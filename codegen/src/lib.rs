//! svcgen's back end and command-line tool.
//!
//! This crate reads the [`svcgen_idl::Model`] and writes what users run: today the `svcgen`
//! CLI (`check`, `fmt`, `model`); Rust code generation, `OpenAPI`, `AsyncAPI` and the API
//! reference arrive with the bindings (see the issues and `ARCHITECTURE.md`).

mod build;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "documents")]
pub mod doc;
pub mod rust;

pub use build::{BuildError, Builder};
#[cfg(feature = "documents")]
pub mod openapi;
