//! Calls in the other direction, on the server's side: [`SocketPeer`] calls the services a
//! connected client exposes, on that client's connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::oneshot;

use super::outbox::{Kind, Outbox};
use super::wire;
use crate::context::Context;
use crate::descriptor::MethodDescriptor;
use crate::dispatch::Streaming;
use crate::status::Status;

/// One connected client, as the server calls it: the services it exposes
/// ([`SocketClient::serve`](super::SocketClient::serve)) are called on its connection. A
/// generated client over it reads like any other: `NotifyClient::new(peer).notify(..)`.
/// Cheap to clone; calls fail with `unavailable` once the connection is gone.
#[derive(Clone)]
pub struct SocketPeer {
    inner: Arc<PeerInner>,
}

struct PeerInner {
    outbox: Arc<Outbox>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Result<Value, Status>>>>,
    next: AtomicU64,
    open: AtomicBool,
}

impl std::fmt::Debug for SocketPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketPeer").field("open", &self.inner.open.load(Ordering::Acquire)).finish()
    }
}

/// Removes a call whose caller stopped waiting, and tells the client.
struct CancelOnDrop<'a> {
    peer: &'a PeerInner,
    n: u64,
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed && self.peer.pending().remove(&self.n).is_some() {
            let params = serde_json::json!({ "id": self.n });
            self.peer.outbox.try_push(wire::notification_text(wire::CANCEL, params), Kind::Response);
        }
    }
}

impl PeerInner {
    fn pending(&self) -> MutexGuard<'_, HashMap<u64, oneshot::Sender<Result<Value, Status>>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SocketPeer {
    pub(crate) fn new(outbox: Arc<Outbox>) -> Self {
        Self {
            inner: Arc::new(PeerInner {
                outbox,
                pending: Mutex::default(),
                next: AtomicU64::new(1),
                open: AtomicBool::new(true),
            }),
        }
    }

    /// Whether the connection is still open.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.inner.open.load(Ordering::Acquire)
    }

    /// A response from the client to the call `n`.
    pub(crate) fn deliver(&self, n: u64, outcome: Result<Value, Status>) {
        if let Some(reply) = self.inner.pending().remove(&n) {
            let _ = reply.send(outcome);
        }
    }

    /// The connection is gone: every call in flight fails with `unavailable`.
    pub(crate) fn close(&self) {
        self.inner.open.store(false, Ordering::Release);
        for (_, reply) in self.inner.pending().drain() {
            let _ = reply.send(Err(Status::unavailable("the client's connection closed")));
        }
    }

    /// Calls a method of the client that returns one value.
    ///
    /// # Errors
    /// The call's status: the client's error, `unimplemented` when it does not serve the method,
    /// `unavailable` when the connection is gone, `deadline_exceeded` when the deadline passes.
    pub async fn unary<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<Resp, Status> {
        let value = self.call(method, ctx, request).await?;
        serde_json::from_value(value)
            .map_err(|e| Status::internal(format!("the client's reply is not valid: {e}")))
    }

    /// Calls a method of the client that returns nothing (or a oneway one).
    ///
    /// # Errors
    /// As [`SocketPeer::unary`].
    pub async fn empty<Req: Serialize>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<(), Status> {
        self.call(method, ctx, request).await.map(drop)
    }

    /// Streams from a client are not supported.
    ///
    /// # Errors
    /// Always `unimplemented`.
    #[allow(clippy::unused_async)] // the same shape as every other channel's
    pub async fn stream<Req: Serialize, Item: DeserializeOwned + Send + 'static>(
        &self,
        method: &MethodDescriptor,
        _ctx: &Context,
        _request: &Req,
    ) -> Result<Streaming<Item>, Status> {
        Err(Status::unimplemented(format!("`{}`: a client does not serve streams", method.name)))
    }

    async fn call<Req: Serialize>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<Value, Status> {
        if ctx.is_expired() {
            return Err(Status::deadline_exceeded("the deadline passed before the call was sent"));
        }
        let inner = &*self.inner;
        let n = inner.next.fetch_add(1, Ordering::Relaxed);
        let text = wire::request_text(n, &wire::method_name(method), request, ctx)?;
        let (reply_tx, reply_rx) = oneshot::channel();
        {
            let mut pending = inner.pending();
            if !inner.open.load(Ordering::Acquire) {
                return Err(Status::unavailable("the client's connection closed"));
            }
            pending.insert(n, reply_tx);
        }
        let mut guard = CancelOnDrop { peer: inner, n, armed: true };
        if inner.outbox.push(text, Kind::Response).await.is_err() {
            guard.armed = false;
            inner.pending().remove(&n);
            return Err(Status::unavailable("the client's connection closed"));
        }
        let reply = match ctx.remaining() {
            Some(left) => tokio::time::timeout(left, reply_rx)
                .await
                .map_err(|_| Status::deadline_exceeded("the deadline passed while waiting for the client"))?,
            None => reply_rx.await,
        };
        guard.armed = false;
        reply.map_err(|_| Status::unavailable("the client's connection closed"))?
    }
}
