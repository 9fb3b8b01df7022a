//! The RPC binding: our binary protocol over TCP, specified in `docs/protocol.md`.
//!
//! One long-lived connection carries many calls at once: length-prefixed frames, each call
//! with its id, `MessagePack` payloads, the Context in every request, errors as RFC 9457
//! problem documents. [`RpcServer`] serves any [`Dispatch`](crate::Dispatch); [`RpcClient`]
//! calls it, reconnecting with backoff.

mod client;
pub mod frame;
pub(crate) mod reconnect;
mod server;
pub(crate) mod source;

use std::time::Duration;

pub use client::RpcClient;
#[cfg(feature = "socket")]
pub(crate) use client::{Conn, Transport};
#[cfg(feature = "socket")]
pub(crate) use server::{Ended, ServiceMap, Services, serve_frames};
pub use server::{RpcServer, serve_connection};

use crate::context::Context;
use crate::status::Status;
use frame::RequestHead;

/// Limits and timings of an RPC server or client.
#[derive(Clone, Debug)]
pub struct RpcConfig {
    /// The largest frame accepted, in bytes (default 16 MiB); a larger one closes the connection.
    pub max_frame: usize,
    /// Calls running at once per connection (default 1024). As many more wait for a slot
    /// (and can still be cancelled); beyond that the server stops reading the connection.
    pub max_in_flight: usize,
    /// A silent connection is pinged after this, and closed after three times it (default 20 s).
    pub keepalive: Duration,
    /// How long the handshake may take (default 5 s).
    pub handshake_timeout: Duration,
    /// How long a stopping server waits for calls in flight (default 10 s).
    pub drain: Duration,
    /// How long a client waits to connect (default 5 s).
    pub connect_timeout: Duration,
    /// The longest a client waits between reconnection attempts (default 5 s).
    pub max_backoff: Duration,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            max_frame: 16 << 20,
            max_in_flight: 1024,
            keepalive: Duration::from_secs(20),
            handshake_timeout: Duration::from_secs(5),
            drain: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// The Context a request carries.
/// A correlation id or `traceparent` that is missing or not valid is made fresh (and nothing
/// is generated only to be replaced).
pub(crate) fn context_of(head: &RequestHead) -> Context {
    fn given(s: &str) -> Option<&str> {
        (!s.is_empty()).then_some(s)
    }
    let mut ctx = Context::from_headers(given(&head.correlation_id), given(&head.traceparent));
    if head.deadline_ms > 0 {
        ctx = ctx.with_timeout(Duration::from_millis(head.deadline_ms.into()));
    }
    for (key, value) in &head.metadata {
        ctx = ctx.with_metadata(key, value.clone());
    }
    ctx
}

/// A status as the problem document an `Error` frame carries (`MessagePack`).
pub(crate) fn problem_bytes(status: &Status, ctx: &Context) -> bytes::Bytes {
    let problem = status.to_problem(Some(ctx.correlation_id()));
    rmp_serde::to_vec_named(&problem).map(bytes::Bytes::from).unwrap_or_default()
}

/// Writes frames as they come, several per syscall when several are ready (both sides).
pub(crate) async fn write_frames<W: tokio::io::AsyncWrite + Unpin>(
    writer: W,
    mut rx: tokio::sync::mpsc::Receiver<bytes::Bytes>,
) {
    use tokio::io::AsyncWriteExt as _;
    let mut writer = tokio::io::BufWriter::with_capacity(64 * 1024, writer);
    while let Some(frame) = rx.recv().await {
        if writer.write_all(&frame).await.is_err() {
            return;
        }
        while let Ok(more) = rx.try_recv() {
            if writer.write_all(&more).await.is_err() {
                return;
            }
        }
        if writer.flush().await.is_err() {
            return;
        }
    }
    let _ = writer.shutdown().await;
}

/// The status an `Error` frame describes.
pub(crate) fn status_of(problem: &[u8]) -> Status {
    rmp_serde::from_slice::<crate::status::Problem>(problem).map_or_else(
        |e| Status::internal(format!("the server's error is not readable: {e}")),
        Status::from_problem,
    )
}
