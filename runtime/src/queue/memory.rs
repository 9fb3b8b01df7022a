//! The in-memory broker: the embedded default, no server to run.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::{Broker, Inbox, Message, Messages, subject_matches};
use crate::dispatch::BoxFuture;
use crate::status::Status;

/// How many messages wait for one slow member before senders wait too (backpressure).
const MEMBER_BUFFER: usize = 1024;

/// A broker inside the process. Clones share it: a server and its clients hold clones of one
/// `MemoryBroker`. It has the semantics of the network brokers (subjects with wildcards,
/// groups of competing members, "no responders" at once), not their durability.
#[derive(Clone, Debug, Default)]
pub struct MemoryBroker {
    groups: Arc<Mutex<Vec<Group>>>,
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
        self.send(message)
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
    async fn nobody_listening_is_unavailable_at_once() {
        let broker = MemoryBroker::new();
        let status = broker.send(message("nobody.here", "")).await.expect_err("no responders");
        assert_eq!(status.code(), crate::Code::Unavailable);
        let gone = broker.listen("gone", "g").await.expect("listen");
        drop(gone);
        assert!(broker.send(message("gone", "")).await.is_err(), "a dropped member is no responder");
    }
}
