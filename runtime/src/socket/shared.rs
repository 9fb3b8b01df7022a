//! One WebSocket shared by the tasks of a connection, behind one lock: the task that reads it,
//! and the tasks that write to it one at a time (the holder of the write [`Turn`]).
//!
//! `futures`' `split` would lock twice per message (its `BiLock`, and a mutex around the sink so
//! that a message is written whole); here a read and a write are one short lock each, never held
//! across an await. Reading and writing register different wakers with tokio-tungstenite, so a
//! reader waiting for a message and a writer waiting for the socket to drain do not disturb
//! each other; only the holder of the turn ever waits to write, so no write wake-up is lost.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::{Sink as _, Stream as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Error, Message};

/// A WebSocket and `X`, what its reader keeps beside it (under the same lock).
pub(super) struct SharedSocket<S, X = ()> {
    state: Mutex<State<S, X>>,
}

/// What the lock guards.
pub(super) struct State<S, X> {
    ws: WebSocketStream<S>,
    /// Whether a [`Turn`] is held.
    writing: bool,
    /// The task waiting for the turn.
    waiting: Option<Waker>,
    /// The reader's own state.
    pub(super) extra: X,
}

impl<S, X> State<S, X>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// The next message, `cx` to be woken when one comes.
    pub(super) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        std::pin::Pin::new(&mut self.ws).poll_next(cx)
    }
}

impl<S, X> SharedSocket<S, X>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    pub(super) fn new(ws: WebSocketStream<S>, extra: X) -> Self {
        Self { state: Mutex::new(State { ws, writing: false, waiting: None, extra }) }
    }

    /// The socket, locked (for a read, or the reader's state); never held across an await.
    pub(super) fn lock(&self) -> MutexGuard<'_, State<S, X>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The write turn if no one holds it, without waiting.
    pub(super) fn try_turn(&self) -> Option<Turn<'_, S, X>> {
        let mut state = self.lock();
        if state.writing {
            return None;
        }
        state.writing = true;
        Some(Turn(self))
    }

    /// The write turn, when its holder gives it back. One task at a time waits for it (the
    /// connection's writer task); the others take it only when it is free ([`Self::try_turn`]).
    pub(super) async fn turn(&self) -> Turn<'_, S, X> {
        std::future::poll_fn(|cx| {
            let mut state = self.lock();
            if state.writing {
                if !state.waiting.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    // Another waiter (there should be none) is woken to take its chance again.
                    if let Some(other) = state.waiting.replace(cx.waker().clone()) {
                        other.wake();
                    }
                }
                return Poll::Pending;
            }
            state.writing = true;
            Poll::Ready(())
        })
        .await;
        Turn(self)
    }
}

/// The right to write to a [`SharedSocket`]: a message is written whole by one task. Given back
/// when dropped.
pub(super) struct Turn<'a, S, X>(&'a SharedSocket<S, X>)
where
    S: AsyncRead + AsyncWrite + Unpin;

impl<S, X> Turn<'_, S, X>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Sends `message` and flushes it.
    pub(super) async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Queues `message` in the WebSocket's write buffer (written once it is full, or flushed).
    async fn feed(&mut self, message: Message) -> Result<(), Error> {
        let mut message = Some(message);
        std::future::poll_fn(|cx| {
            let mut state = self.0.lock();
            let ws = std::pin::Pin::new(&mut state.ws);
            match ws.poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
            let Some(message) = message.take() else { return Poll::Ready(Ok(())) };
            Poll::Ready(std::pin::Pin::new(&mut state.ws).start_send(message))
        })
        .await
    }

    /// Writes what is buffered.
    pub(super) async fn flush(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut self.0.lock().ws).poll_flush(cx)).await
    }

    /// Sends a close frame (or completes the close handshake the peer began) and flushes.
    pub(super) async fn close(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut self.0.lock().ws).poll_close(cx)).await
    }
}

impl<S, X> Drop for Turn<'_, S, X>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn drop(&mut self) {
        let waiting = {
            let mut state = self.0.lock();
            state.writing = false;
            state.waiting.take()
        };
        if let Some(waiting) = waiting {
            waiting.wake();
        }
    }
}

/// When the peer was last heard from, for the keepalive. Messages are counted as they come and
/// the clock is read only when the keepalive timer fires: a message counted since the last
/// firing counts as heard then. So a silent peer is pinged after one to two keepalive periods
/// and given up on after three to four, and no message pays for a clock read.
pub(super) struct Heard {
    at: tokio::time::Instant,
    messages: u64,
    counted: u64,
}

impl Heard {
    /// A connection that opened `at`.
    pub(super) fn new(at: tokio::time::Instant) -> Self {
        Self { at, messages: 0, counted: 0 }
    }

    /// A message came.
    pub(super) fn message(&mut self) {
        self.messages = self.messages.wrapping_add(1);
    }

    /// When the peer was last heard from, as of `now` (the keepalive timer firing).
    pub(super) fn as_of(&mut self, now: tokio::time::Instant) -> tokio::time::Instant {
        if self.messages != self.counted {
            self.counted = self.messages;
            self.at = now;
        }
        self.at
    }
}

/// A connection reader's keepalive timer. It is polled once, which registers it, and then only
/// when it may have fired: polling a timer for every message costs more than reading a small one.
pub(super) struct Keepalive {
    period: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// Whether the timer is registered to wake the reader.
    armed: bool,
}

/// What a keepalive firing means.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Firing {
    /// Nothing heard at three firings in a row (pings unanswered): the peer is gone.
    Gone,
    /// Silent for a period: ping it.
    Ping,
    /// Heard from lately: nothing to do.
    Heard,
}

impl Keepalive {
    pub(super) fn new(period: Duration) -> Self {
        Self { period, timer: Box::pin(tokio::time::sleep(period)), armed: false }
    }

    /// Whether the timer fired; `cx` is woken when it does.
    pub(super) fn poll_fired(&mut self, cx: &mut Context<'_>) -> bool {
        if (!self.armed || self.timer.is_elapsed()) && poll_registering(self.timer.as_mut(), cx).is_ready() {
            // A timer that fired forgets its waker: polled again to register one.
            self.armed = false;
            return true;
        }
        self.armed = true;
        false
    }

    /// What the firing means for a peer `heard` from as counted, and the timer set again.
    pub(super) fn fired(&mut self, heard: &mut Heard) -> Firing {
        let now = tokio::time::Instant::now();
        let heard = heard.as_of(now);
        if now >= heard + self.period * 3 {
            return Firing::Gone;
        }
        if now >= heard + self.period {
            self.timer.as_mut().reset(now + self.period);
            Firing::Ping
        } else {
            self.timer.as_mut().reset(heard + self.period);
            Firing::Heard
        }
    }
}

/// Polls `future` outside the task's cooperative budget, so that `Pending` always means it is
/// registered to wake the task (a future that ran out of budget returns `Pending` without).
pub(super) fn poll_registering<F: Future>(future: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
    Pin::new(&mut tokio::task::unconstrained(future)).poll(cx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_counts_as_heard_at_the_next_firing() {
        let open = tokio::time::Instant::now();
        let mut heard = Heard::new(open);
        let tick = |n: u32| open + std::time::Duration::from_secs(u64::from(n));
        assert_eq!(heard.as_of(tick(1)), open);
        heard.message();
        heard.message();
        assert_eq!(heard.as_of(tick(2)), tick(2));
        assert_eq!(heard.as_of(tick(3)), tick(2));
        heard.message();
        assert_eq!(heard.as_of(tick(4)), tick(4));
    }
}
