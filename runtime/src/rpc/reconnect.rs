//! A client's one connection, made on the first call and made again after it closes, not
//! sooner than a jittered backoff after a failure: what the RPC client and the socket client
//! share.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::status::Status;

/// A connection that knows whether it is still open.
pub(crate) trait Open {
    /// Whether calls can still go through it.
    fn is_open(&self) -> bool;
}

/// The current connection of a client, and when the next attempt may be made.
#[derive(Debug)]
pub(crate) struct Reconnecting<C> {
    /// Locked only to connect.
    state: tokio::sync::Mutex<State<C>>,
    /// The open connection, for the fast path of every call.
    current: Mutex<Option<Arc<C>>>,
}

#[derive(Debug)]
struct State<C> {
    conn: Option<Arc<C>>,
    failures: u32,
    retry_at: Option<Instant>,
}

impl<C> Default for Reconnecting<C> {
    fn default() -> Self {
        Self {
            state: tokio::sync::Mutex::new(State { conn: None, failures: 0, retry_at: None }),
            current: Mutex::new(None),
        }
    }
}

impl<C: Open> Reconnecting<C> {
    /// The open connection, or a new one from `connect`; after failures, not before the
    /// backoff (capped at `max_backoff`) has passed. `target` names the peer in the error.
    pub(crate) async fn get<F: Future<Output = Result<Arc<C>, Status>>>(
        &self,
        target: &str,
        max_backoff: Duration,
        connect: impl FnOnce() -> F,
    ) -> Result<Arc<C>, Status> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(conn) = current
            && conn.is_open()
        {
            return Ok(conn);
        }
        let mut state = self.state.lock().await;
        if let Some(conn) = &state.conn
            && conn.is_open()
        {
            return Ok(conn.clone());
        }
        if let Some(at) = state.retry_at {
            let now = Instant::now();
            if now < at {
                return Err(Status::unavailable(format!(
                    "cannot reach {target}; next attempt in {} ms",
                    (at - now).as_millis()
                )));
            }
        }
        // Boxed: connecting is the cold path, and its future is large; every call's future
        // would carry it otherwise.
        match Box::pin(connect()).await {
            Ok(conn) => {
                state.conn = Some(conn.clone());
                *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(conn.clone());
                state.failures = 0;
                state.retry_at = None;
                Ok(conn)
            }
            Err(status) => {
                state.failures = state.failures.saturating_add(1);
                state.retry_at = Some(Instant::now() + backoff(state.failures, max_backoff));
                Err(status)
            }
        }
    }
}

/// 100 ms, doubling per failure, capped at `max`, with up to 50 % random jitter.
pub(crate) fn backoff(failures: u32, max: Duration) -> Duration {
    let base = Duration::from_millis(100).saturating_mul(1u32 << failures.min(16)).min(max);
    let jitter = u32::try_from(uuid::Uuid::new_v4().as_u128() % 1000).unwrap_or(0);
    base.mul_f64(0.5 + f64::from(jitter) / 2000.0)
}
