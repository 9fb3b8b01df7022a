//! svcgen's back end and command-line tool.
//!
//! This crate reads the [`svcgen_idl::Model`] and writes what users run: today the `svcgen`
//! CLI (`check`, `fmt`, `model`); Rust code generation, `OpenAPI`, `AsyncAPI` and the API
//! reference arrive with the bindings (see the issues and `ARCHITECTURE.md`).

pub mod cli;
