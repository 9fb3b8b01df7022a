//! The svcgen runtime: what generated services and clients call.
//!
//! Generated code depends on this crate only (never on the IDL parser or the code
//! generator). It holds the [`Context`] of a call, the one error model ([`Status`]), the
//! static method descriptors, the [`Dispatch`] contract every server implements, and one
//! module per binding: [`rest`], [`rpc`] and [`socket`] behind their features, [`queue`] always (its
//! in-memory broker needs nothing; the NATS and `RabbitMQ` backends are the `nats` and `amqp`
//! features). The `full` feature turns on every binding and broker.

pub mod channel;
pub mod context;
pub mod descriptor;
pub mod dispatch;
mod host;
mod json;
pub mod queue;
#[cfg(feature = "rest")]
pub mod rest;
#[cfg(feature = "rpc")]
pub mod rpc;
#[cfg(feature = "socket")]
pub mod socket;
pub mod status;
pub mod types;
pub mod validate;

pub use channel::Channel;
pub use context::Context;
pub use dispatch::{Dispatch, Streaming, streaming};
pub use host::{BoundHost, Host};
pub use status::{Code, DomainError, MethodError, Problem, Status, Violation};
pub use types::{Bytes, Duration, Timestamp, Uuid};

/// `#[svcgen::service]` on a module or trait, and `svcgen::include_svc!("x.svc")`: the same
/// generated code as `svcgen generate`, without a build script (see `docs/macros.md`).
#[cfg(feature = "macros")]
pub use svcgen_macros::{include_svc, service};

/// Includes the code `svcgen_codegen::Builder` generated in `OUT_DIR`: one module per
/// package (`shop_catalog`, `shop_money`, ...).
#[macro_export]
macro_rules! include_generated {
    () => {
        include!(concat!(env!("OUT_DIR"), "/svcgen.rs"));
    };
}

/// What generated code names, through one hidden path (like serde's `__private`).
#[doc(hidden)]
pub mod __private {
    pub use crate::descriptor::{
        ErrorDescriptor, EventDescriptor, HttpMethod, MethodDescriptor, MethodKind, ParamDescriptor,
        ParamKind, ServiceDescriptor,
    };
    pub use crate::dispatch::{BoxFuture, Codec, Payload, Reply};
    pub use crate::queue::events::{EventData, Hydrate};
    pub use crate::validate::{Length, Validate, Violations, validate};
    pub use regex::Regex;
    pub use serde;
    pub use std::sync::LazyLock;

    /// A `timestamp` default (checked by `svcgen check`, so it parses; the epoch otherwise).
    #[must_use]
    pub fn parse_timestamp(text: &str) -> crate::Timestamp {
        chrono::DateTime::parse_from_rfc3339(text).map(|d| d.with_timezone(&chrono::Utc)).unwrap_or_default()
    }
}
