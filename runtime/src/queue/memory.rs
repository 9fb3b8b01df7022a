//! The in-memory broker: the embedded default, no server to run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::{Broker, ConsumerSpec, Deliveries, Delivery, Inbox, Message, Messages, Settle, subject_matches};
use crate::dispatch::BoxFuture;
use crate::status::Status;

/// How many messages wait for one slow member before senders wait too (backpressure).
const MEMBER_BUFFER: usize = 1024;

/// How many durable messages one consumer (a group's, or a lone one) holds before publishers
/// wait (backpressure).
const DURABLE_BUFFER: usize = 10_000;

/// A broker inside the process. Clones share it: a server and its clients hold clones of one
/// `MemoryBroker`. It has the semantics of the network brokers (subjects with wildcards,
/// groups of competing members, "no responders" at once), not their durability.
#[derive(Clone, Debug, Default)]
pub struct MemoryBroker {
    groups: Arc<Mutex<Vec<Group>>>,
    durable: Arc<Mutex<Vec<DurableConsumer>>>,
    /// The requests waiting for their reply ([`Broker::request`]), by reply address.
    requests: Arc<Requests>,
}

#[derive(Debug, Default)]
struct Requests {
    waiting: Mutex<HashMap<String, oneshot::Sender<Message>>>,
    next: AtomicU64,
}

impl Requests {
    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Message>>> {
        self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Forgets a request whose caller stopped waiting: its late reply finds nobody.
struct Waiting<'a> {
    requests: &'a Requests,
    address: String,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.requests.waiting().remove(&self.address);
    }
}

/// A durable consumer: a group's (kept while the broker lives, so messages wait for its
/// members) or a lone one (gone with its stream).
#[derive(Debug)]
struct DurableConsumer {
    subject: String,
    group: Option<String>,
    queue: mpsc::Sender<Queued>,
    /// A group's queue, shared by its members.
    shared: Option<Arc<tokio::sync::Mutex<mpsc::Receiver<Queued>>>>,
}

/// A durable message waiting in a consumer's queue, and which attempt it will be (kept beside
/// the message: it never leaves the process, so it needs no header).
#[derive(Debug)]
struct Queued {
    message: Message,
    attempt: u32,
}

#[derive(Debug)]
struct Group {
    pattern: String,
    name: String,
    members: Vec<mpsc::Sender<Message>>,
    next: usize,
}

impl MemoryBroker {
    /// A new, empty broker.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// One member of each group that listens on `subject`, round robin within a group.
    fn receivers(&self, subject: &str) -> Vec<mpsc::Sender<Message>> {
        let mut groups = self.groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        groups.retain_mut(|g| {
            g.members.retain(|m| !m.is_closed());
            !g.members.is_empty()
        });
        groups
            .iter_mut()
            .filter(|g| subject_matches(&g.pattern, subject))
            .map(|g| {
                g.next = g.next.wrapping_add(1);
                g.members[g.next % g.members.len()].clone()
            })
            .collect()
    }

    fn join(&self, pattern: &str, group: &str) -> Messages {
        let (tx, rx) = mpsc::channel(MEMBER_BUFFER);
        let mut groups = self.groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match groups.iter_mut().find(|g| g.pattern == pattern && g.name == group) {
            Some(g) => g.members.push(tx),
            None => groups.push(Group {
                pattern: pattern.to_owned(),
                name: group.to_owned(),
                members: vec![tx],
                next: 0,
            }),
        }
        Box::pin(tokio_stream_of(rx))
    }
}

/// How the in-memory broker settles a delivery: a retried, or dropped unsettled, message goes
/// back in its queue as the next attempt, as a network broker would redeliver it.
struct MemorySettle {
    broker: MemoryBroker,
    queue: mpsc::Sender<Queued>,
    attempt: u32,
}

impl MemorySettle {
    /// Back in the queue, as the next attempt, after `delay`.
    fn requeue(self, message: Message, delay: std::time::Duration) {
        let queued = Queued { message, attempt: self.attempt.saturating_add(1) };
        let queued = if delay.is_zero() {
            match self.queue.try_send(queued) {
                // (A lone consumer that is gone takes its messages with it.)
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => return,
                Err(mpsc::error::TrySendError::Full(queued)) => queued,
            }
        } else {
            queued
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // (No runtime left: the process is ending, and memory with it; one try, no wait.)
            let _ = self.queue.try_send(queued);
            return;
        };
        let queue = self.queue;
        runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = queue.send(queued).await;
        });
    }
}

impl Settle for MemorySettle {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), Status>> {
        Box::pin(async { Ok(()) })
    }

    fn retry(
        self: Box<Self>,
        message: Message,
        delay: std::time::Duration,
    ) -> BoxFuture<'static, Result<(), Status>> {
        self.requeue(message, delay);
        Box::pin(async { Ok(()) })
    }

    fn dead_letter(self: Box<Self>, dead_letter: Message) -> BoxFuture<'static, Result<(), Status>> {
        // (Publishing in memory cannot fail, so the message is not kept for another attempt.)
        Box::pin(async move { self.broker.publish_durable(dead_letter).await })
    }

    fn unsettled(self: Box<Self>, message: Message) {
        self.requeue(message, std::time::Duration::ZERO);
    }
}

fn tokio_stream_of(mut rx: mpsc::Receiver<Message>) -> impl futures_core::Stream<Item = Message> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

impl Broker for MemoryBroker {
    fn send(&self, message: Message) -> BoxFuture<'_, Result<(), Status>> {
        Box::pin(async move {
            let receivers = self.receivers(&message.subject);
            if receivers.is_empty() {
                return Err(Status::unavailable(format!("no responders on `{}`", message.subject)));
            }
            let mut delivered = false;
            for receiver in receivers {
                delivered |= receiver.send(message.clone()).await.is_ok();
            }
            if delivered {
                Ok(())
            } else {
                Err(Status::unavailable(format!("no responders on `{}`", message.subject)))
            }
        })
    }

    fn reply(&self, message: Message) -> BoxFuture<'_, Result<(), Status>> {
        // A reply to a request made with `request` goes straight to its caller.
        let waiting = self.requests.waiting().remove(&message.subject);
        match waiting {
            Some(caller) => {
                let _ = caller.send(message);
                Box::pin(async { Ok(()) })
            }
            None => self.send(message),
        }
    }

    fn request(&self, mut message: Message) -> Result<BoxFuture<'_, Result<Message, Status>>, Message> {
        Ok(Box::pin(async move {
            let n = self.requests.next.fetch_add(1, Ordering::Relaxed);
            let address = format!("_INBOX.request.{n}");
            let (tx, rx) = oneshot::channel();
            self.requests.waiting().insert(address.clone(), tx);
            message.reply_to = Some(address.clone());
            let _waiting = Waiting { requests: &self.requests, address };
            self.send(message).await?;
            rx.await.map_err(|_| Status::unavailable("the broker dropped the request"))
        }))
    }

    fn listen(&self, subject: &str, group: &str) -> BoxFuture<'_, Result<Messages, Status>> {
        let messages = self.join(subject, group);
        Box::pin(async move { Ok(messages) })
    }

    fn inbox(&self) -> BoxFuture<'_, Result<Inbox, Status>> {
        let address = format!("_INBOX.{}", uuid::Uuid::new_v4().simple());
        let messages = self.join(&format!("{address}.*"), &address);
        Box::pin(async move { Ok(Inbox { address, per_call: true, messages }) })
    }

    fn publish_durable(&self, message: Message) -> BoxFuture<'_, Result<(), Status>> {
        Box::pin(async move {
            let queues: Vec<mpsc::Sender<Queued>> = {
                let mut consumers = self.durable.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                consumers.retain(|c| !c.queue.is_closed());
                consumers.iter().filter(|c| c.subject == message.subject).map(|c| c.queue.clone()).collect()
            };
            if queues.is_empty() {
                tracing::warn!(subject = %message.subject, "a durable message nobody consumes is dropped");
            }
            // (A lone consumer that is gone takes its messages with it.) The last queue takes the
            // message itself, the others a copy.
            if let Some((last, others)) = queues.split_last() {
                for queue in others {
                    let _ = queue.send(Queued { message: message.clone(), attempt: 1 }).await;
                }
                let _ = last.send(Queued { message, attempt: 1 }).await;
            }
            Ok(())
        })
    }

    fn consume(&self, spec: ConsumerSpec) -> BoxFuture<'_, Result<Deliveries, Status>> {
        let (queue, shared) = {
            let mut consumers = self.durable.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let existing = consumers
                .iter()
                .find(|c| spec.group.is_some() && c.group == spec.group && c.subject == spec.subject)
                .and_then(|c| c.shared.clone().map(|shared| (c.queue.clone(), shared)));
            if let Some(found) = existing {
                found
            } else {
                let (tx, rx) = mpsc::channel(DURABLE_BUFFER);
                let rx = Arc::new(tokio::sync::Mutex::new(rx));
                consumers.push(DurableConsumer {
                    subject: spec.subject.clone(),
                    group: spec.group.clone(),
                    queue: tx.clone(),
                    shared: spec.group.is_some().then(|| rx.clone()),
                });
                (tx, rx)
            }
        };
        let broker = self.clone();
        let dead_letter = Arc::<str>::from(spec.dead_letter);
        let deliveries = futures_util::stream::unfold(shared, move |shared| {
            let (broker, queue, dead_letter) = (broker.clone(), queue.clone(), dead_letter.clone());
            async move {
                let Queued { message, attempt } = shared.lock().await.recv().await?;
                let settle = MemorySettle { broker, queue, attempt };
                Some((Delivery::new(message, attempt, dead_letter, Box::new(settle)), shared))
            }
        });
        Box::pin(async move { Ok(Box::pin(deliveries) as Deliveries) })
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;

    fn message(subject: &str, body: &'static str) -> Message {
        Message {
            subject: subject.into(),
            body: bytes::Bytes::from_static(body.as_bytes()),
            ..Message::default()
        }
    }

    #[tokio::test]
    async fn each_group_gets_each_message_once() {
        let broker = MemoryBroker::new();
        let mut a1 = broker.listen("s.*", "a").await.expect("listen");
        let mut a2 = broker.listen("s.*", "a").await.expect("listen");
        let mut b = broker.listen("s.x", "b").await.expect("listen");
        broker.send(message("s.x", "1")).await.expect("sent");
        broker.send(message("s.x", "2")).await.expect("sent");
        let first = a1.next().await.expect("a1 got one").body;
        let second = a2.next().await.expect("a2 got one").body;
        assert_ne!(first, second, "the group shares the work");
        assert_eq!(b.next().await.expect("b").body, "1");
        assert_eq!(b.next().await.expect("b").body, "2");
    }

    #[tokio::test]
    async fn an_unsettled_delivery_comes_again() {
        let broker = MemoryBroker::new();
        let mut deliveries = broker.consume(ConsumerSpec::group("e.x", "g")).await.expect("consume");
        broker.publish_durable(message("e.x", "1")).await.expect("published");
        let first = deliveries.next().await.expect("delivered");
        assert_eq!(first.attempt, 1);
        drop(first);
        let again = deliveries.next().await.expect("delivered again");
        assert_eq!((again.attempt, &again.message.body[..]), (2, &b"1"[..]));
        again.ack().await.expect("acked");
        broker.publish_durable(message("e.x", "2")).await.expect("published");
        let next = deliveries.next().await.expect("the next one");
        assert_eq!(&next.message.body[..], b"2", "an acknowledged delivery does not come again");
    }

    #[tokio::test]
    async fn nobody_listening_is_unavailable_at_once() {
        let broker = MemoryBroker::new();
        let status = broker.send(message("nobody.here", "")).await.expect_err("no responders");
        assert_eq!(status.code(), crate::Code::Unavailable);
        let gone = broker.listen("gone", "g").await.expect("listen");
        drop(gone);
        assert!(broker.send(message("gone", "")).await.is_err(), "a dropped member is no responder");
    }
}
