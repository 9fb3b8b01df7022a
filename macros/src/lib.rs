//! Procedural macros for svcgen: `#[service]` on Rust traits and `include_svc!("x.svc")`.
//!
//! A thin shell, as `sqlx-macros` is over `sqlx-macros-core`: the macros will parse their
//! input with `syn` into the one `svcgen_idl::Model`, run the same checks as `svcgen check`,
//! and call the same code generator. This crate holds no generation logic; it is empty
//! until the macro front end lands.
