//! The REST binding: HTTP/JSON as specified in `docs/rest.md`.
//!
//! [`RestServer`] turns any [`Dispatch`](crate::Dispatch) into axum routes, from the
//! method descriptors; [`RestClient`] calls them with reqwest.

mod client;
mod server;

pub use client::RestClient;
pub use server::{DEFAULT_BODY_LIMIT, RestServer};
pub(crate) use server::{no_delay, problem_as};

/// The header carrying the correlation id (both ways).
pub const CORRELATION_ID: &str = "x-correlation-id";
/// The header carrying the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";
/// The header carrying the time left for the call, in milliseconds.
pub const DEADLINE_MS: &str = "x-deadline-ms";
/// The media type of error responses.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Splits a path template into literal text and parameter names (`{name}`), in order.
pub(crate) fn template_params(template: &str) -> impl Iterator<Item = &str> {
    template.split('{').skip(1).filter_map(|part| part.split_once('}').map(|(name, _)| name))
}
