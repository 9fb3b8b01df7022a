//! Durable messages (events): what [`Broker::publish_durable`](super::Broker::publish_durable)
//! stores and [`Broker::consume`](super::Broker::consume) delivers, each delivery settled once.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;

use super::{HeaderText, Message, header};
use crate::dispatch::BoxFuture;
use crate::status::Status;

/// What a consumer consumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerSpec {
    /// The subject (exact, no wildcards): `shop.orders.order_placed`.
    pub subject: String,
    /// The group it joins: each message goes to one member of the group, and the group's
    /// consumer outlives its members (messages wait for them). `None`: a lone consumer that
    /// gets every message published while it exists.
    pub group: Option<String>,
    /// Where its dead letters go: `svcgen.dlq.{subject}` by default.
    pub dead_letter: String,
}

impl ConsumerSpec {
    /// A member of `group` on `subject`.
    #[must_use]
    pub fn group(subject: &str, group: &str) -> Self {
        Self {
            subject: subject.to_owned(),
            group: Some(group.to_owned()),
            dead_letter: dead_letter_subject(subject),
        }
    }

    /// A lone consumer of `subject`: every message.
    #[must_use]
    pub fn alone(subject: &str) -> Self {
        Self { subject: subject.to_owned(), group: None, dead_letter: dead_letter_subject(subject) }
    }
}

/// The dead-letter subject of `subject`: `svcgen.dlq.{subject}`.
#[must_use]
pub fn dead_letter_subject(subject: &str) -> String {
    format!("svcgen.dlq.{subject}")
}

/// How a backend settles one delivery. Exactly one method is called, once, by [`Delivery`]; the
/// message comes back with the ones that may need it (a backend that redelivers by itself
/// ignores it, the in-memory one requeues it without having kept a copy).
pub trait Settle: Send + 'static {
    /// The message was handled: the broker forgets it.
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), Status>>;
    /// The message comes again, as the next attempt, after `delay`.
    fn retry(self: Box<Self>, message: Message, delay: Duration) -> BoxFuture<'static, Result<(), Status>>;
    /// The message is given up: `dead_letter` (built by [`dead_letter_message`]) is published
    /// durably, then the message is acknowledged (never before: a failure leaves it to come
    /// again).
    fn dead_letter(self: Box<Self>, dead_letter: Message) -> BoxFuture<'static, Result<(), Status>>;
    /// The delivery was dropped unsettled: the message must come again. By default nothing is
    /// done, for brokers that redeliver by themselves (after an acknowledgement timeout, or
    /// when the connection ends).
    fn unsettled(self: Box<Self>, message: Message) {
        drop(message);
    }
}

/// One delivery of a durable message. Settle it with [`ack`](Self::ack),
/// [`retry`](Self::retry) or [`dead_letter`](Self::dead_letter); a delivery dropped unsettled
/// comes again (after the broker's acknowledgement timeout, or when the connection ends).
pub struct Delivery {
    /// The message.
    pub message: Message,
    /// Which delivery of it this is, from 1.
    pub attempt: u32,
    dead_letter: Arc<str>,
    /// `None` once settled.
    settle: Option<Box<dyn Settle>>,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("message", &self.message)
            .field("attempt", &self.attempt)
            .field("dead_letter", &self.dead_letter)
            .finish_non_exhaustive()
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(settle) = self.settle.take() {
            settle.unsettled(std::mem::take(&mut self.message));
        }
    }
}

impl Delivery {
    /// A delivery, for a backend: `dead_letter` is the consumer's dead-letter subject.
    #[must_use]
    pub fn new(message: Message, attempt: u32, dead_letter: Arc<str>, settle: Box<dyn Settle>) -> Self {
        Self { message, attempt: attempt.max(1), dead_letter, settle: Some(settle) }
    }

    /// Handled: the broker forgets it.
    pub async fn ack(mut self) -> Result<(), Status> {
        match self.settle.take() {
            Some(settle) => settle.ack().await,
            None => Ok(()),
        }
    }

    /// Comes again after `delay`, as attempt `attempt + 1`.
    pub async fn retry(mut self, delay: Duration) -> Result<(), Status> {
        match self.settle.take() {
            Some(settle) => settle.retry(std::mem::take(&mut self.message), delay).await,
            None => Ok(()),
        }
    }

    /// Given up: published on the dead-letter subject with `reason`, then acknowledged.
    pub async fn dead_letter(mut self, reason: &str) -> Result<(), Status> {
        let message = dead_letter_message(&self.message, &self.dead_letter, reason, self.attempt);
        match self.settle.take() {
            Some(settle) => settle.dead_letter(message).await,
            None => Ok(()),
        }
    }
}

/// The dead letter of `message`: the same headers and body on `subject`, with why, where it
/// was published and how many attempts it had.
#[must_use]
pub fn dead_letter_message(message: &Message, subject: &str, reason: &str, attempts: u32) -> Message {
    let mut headers: Vec<(HeaderText, HeaderText)> =
        message.headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case(header::ATTEMPT)).cloned().collect();
    // One line: header values cannot hold line breaks.
    let reason: String = reason.chars().map(|c| if c.is_control() { ' ' } else { c }).take(1024).collect();
    headers.push((header::DEAD_LETTER_REASON.into(), reason.into()));
    headers.push((header::DEAD_LETTER_SUBJECT.into(), message.subject.clone().into()));
    headers.push((header::DEAD_LETTER_ATTEMPTS.into(), attempts.to_string().into()));
    Message { subject: subject.to_owned(), reply_to: None, headers, body: message.body.clone() }
}

/// Deliveries as a broker makes them.
pub type Deliveries = Pin<Box<dyn Stream<Item = Delivery> + Send + 'static>>;

/// The attempt a message's `svcgen-attempt` header names (1 when absent or malformed).
#[cfg(feature = "amqp")]
pub(crate) fn attempt_of(message: &Message) -> u32 {
    message.header(header::ATTEMPT).and_then(|a| a.parse().ok()).unwrap_or(1).max(1)
}

/// `message` as attempt `attempt` (its `svcgen-attempt` header replaced).
#[cfg(feature = "amqp")]
pub(crate) fn with_attempt(mut message: Message, attempt: u32) -> Message {
    message.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(header::ATTEMPT));
    message.headers.push((header::ATTEMPT.into(), attempt.to_string().into()));
    message
}
