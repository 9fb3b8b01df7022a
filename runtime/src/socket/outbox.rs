//! A connection's bounded send queue, with the slow-receiver policy of [`SlowReceiver`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, Semaphore};

use super::SlowReceiver;

/// What kind of message is queued: the policy treats them differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A response: never dropped.
    Response,
    /// A notification (a stream item): may be dropped under `DropOldestNotifications`.
    Notification,
}

/// One queued message.
pub(crate) enum Out {
    /// Text to send.
    Text(String),
    /// A ping (heartbeat).
    Ping,
    /// The close frame: the last thing sent.
    Close(u16, String),
}

struct Entry {
    out: Out,
    kind: Option<Kind>,
}

struct State {
    queue: VecDeque<Entry>,
    closing: bool,
}

/// The queue between a connection's call tasks and its writer. At most `capacity` messages
/// wait (plus one ping and the close frame); what happens when it is full is the policy.
pub(crate) struct Outbox {
    state: Mutex<State>,
    room: Arc<Semaphore>,
    policy: SlowReceiver,
    ready: Notify,
    killed: Notify,
    dead: std::sync::atomic::AtomicBool,
}

/// The queue no longer takes messages: the connection is closing or gone.
#[derive(Debug)]
pub(crate) struct Closed;

impl Outbox {
    pub(crate) fn new(capacity: usize, policy: SlowReceiver) -> Self {
        Self {
            state: Mutex::new(State { queue: VecDeque::new(), closing: false }),
            room: Arc::new(Semaphore::new(capacity.max(1))),
            policy,
            ready: Notify::new(),
            killed: Notify::new(),
            dead: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a message, as the policy says when the queue is full.
    pub(crate) async fn push(&self, mut text: String, kind: Kind) -> Result<(), Closed> {
        let permit = match self.room.try_acquire() {
            Ok(permit) => permit,
            Err(tokio::sync::TryAcquireError::Closed) => return Err(Closed),
            Err(tokio::sync::TryAcquireError::NoPermits) => match (self.policy, kind) {
                (SlowReceiver::Disconnect, _) => {
                    self.kill();
                    return Err(Closed);
                }
                (SlowReceiver::DropOldestNotifications, Kind::Notification) => {
                    let swapped = {
                        let mut state = self.lock();
                        if state.closing {
                            return Err(Closed);
                        }
                        let oldest = state.queue.iter().position(|e| e.kind == Some(Kind::Notification));
                        if let Some(at) = oldest {
                            // The dropped message's room is the new one's.
                            state.queue.remove(at);
                            state.queue.push_back(Entry {
                                out: Out::Text(std::mem::take(&mut text)),
                                kind: Some(kind),
                            });
                        }
                        oldest.is_some()
                    };
                    if swapped {
                        self.ready.notify_one();
                        return Ok(());
                    }
                    self.room.acquire().await.map_err(|_| Closed)?
                }
                _ => self.room.acquire().await.map_err(|_| Closed)?,
            },
        };
        let mut state = self.lock();
        if state.closing {
            return Err(Closed);
        }
        permit.forget();
        state.queue.push_back(Entry { out: Out::Text(text), kind: Some(kind) });
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// Queues a message if there is room now; whether it was queued.
    pub(crate) fn try_push(&self, text: String, kind: Kind) -> bool {
        let Ok(permit) = self.room.try_acquire() else { return false };
        let mut state = self.lock();
        if state.closing {
            return false;
        }
        permit.forget();
        state.queue.push_back(Entry { out: Out::Text(text), kind: Some(kind) });
        drop(state);
        self.ready.notify_one();
        true
    }

    /// Whether nothing is queued and the queue takes messages: a message sent now by other means
    /// overtakes nothing.
    pub(crate) fn is_idle(&self) -> bool {
        let state = self.lock();
        !state.closing && state.queue.is_empty()
    }

    /// Whether the close frame is queued (or was sent), or the peer was given up on.
    pub(crate) fn is_closing(&self) -> bool {
        self.lock().closing
    }

    /// Queues a ping unless the queue is full (then the peer is busy reading anyway).
    pub(crate) fn ping(&self) {
        let mut state = self.lock();
        if !state.closing && !state.queue.iter().any(|e| matches!(e.out, Out::Ping)) {
            state.queue.push_back(Entry { out: Out::Ping, kind: None });
            drop(state);
            self.ready.notify_one();
        }
    }

    /// Queues the close frame after what is queued; nothing more is taken.
    pub(crate) fn close(&self, code: u16, reason: &str) {
        let mut state = self.lock();
        if state.closing {
            return;
        }
        state.closing = true;
        state.queue.push_back(Entry { out: Out::Close(code, reason.to_owned()), kind: None });
        drop(state);
        self.room.close();
        self.ready.notify_one();
    }

    /// Closes at once: what is queued is dropped (the peer closed; it takes no more data) and
    /// the close frame goes next.
    pub(crate) fn close_now(&self, code: u16, reason: &str) {
        let mut state = self.lock();
        state.closing = true;
        state.queue.clear();
        state.queue.push_back(Entry { out: Out::Close(code, reason.to_owned()), kind: None });
        drop(state);
        self.room.close();
        self.ready.notify_one();
    }

    /// Gives up on the peer: the connection is dropped without waiting for the writer.
    pub(crate) fn kill(&self) {
        self.dead.store(true, std::sync::atomic::Ordering::Release);
        self.lock().closing = true;
        self.room.close();
        self.killed.notify_one();
        self.ready.notify_one();
    }

    /// Whether [`Outbox::kill`] was called.
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Completes when [`Outbox::kill`] was called.
    pub(crate) async fn killed(&self) {
        if self.is_dead() {
            return;
        }
        self.killed.notified().await;
    }

    /// The next message to send; `None` once the close frame was taken or the queue is dead.
    pub(crate) async fn next(&self) -> Option<Out> {
        loop {
            {
                let mut state = self.lock();
                if self.is_dead() {
                    return None;
                }
                if let Some(entry) = state.queue.pop_front() {
                    if entry.kind.is_some() {
                        self.room.add_permits(1);
                    }
                    return Some(entry.out);
                }
            }
            self.ready.notified().await;
        }
    }
}
