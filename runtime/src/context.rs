//! The Context of a call: correlation id, trace context, deadline and caller metadata.
//!
//! Every binding carries it (HTTP headers, RPC frame headers, broker message headers, socket
//! envelope fields). The deadline travels as *remaining time*, never as a clock reading, so
//! peers with different clocks agree on it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What travels with a call.
#[derive(Clone, Debug)]
pub struct Context {
    correlation_id: Arc<str>,
    traceparent: Option<Arc<str>>,
    deadline: Option<Instant>,
    /// `None` until an entry is added (most calls carry none, and make no map).
    metadata: Option<Arc<BTreeMap<String, String>>>,
    /// The connection the call came in on, where its binding lets the server call back.
    #[cfg(feature = "socket")]
    caller: Option<crate::socket::SocketPeer>,
}

impl Default for Context {
    fn default() -> Self {
        Self::new()
    }
}

impl Context {
    /// A new call: a fresh correlation id and trace, no deadline, no metadata.
    #[must_use]
    pub fn new() -> Self {
        Self {
            correlation_id: new_correlation_id(),
            traceparent: Some(fresh_traceparent()),
            deadline: None,
            metadata: None,
            #[cfg(feature = "socket")]
            caller: None,
        }
    }

    /// A context from what a caller sent: its correlation id and trace context when they are
    /// valid, fresh ones otherwise (nothing is generated that is then thrown away).
    #[must_use]
    pub fn from_headers(correlation_id: Option<&str>, traceparent: Option<&str>) -> Self {
        let correlation_id = match correlation_id {
            Some(id) if is_valid_correlation_id(id) => id.into(),
            _ => new_correlation_id(),
        };
        let traceparent = match traceparent {
            Some(tp) if is_valid_traceparent(tp) => tp.into(),
            _ => fresh_traceparent(),
        };
        Self {
            correlation_id,
            traceparent: Some(traceparent),
            deadline: None,
            metadata: None,
            #[cfg(feature = "socket")]
            caller: None,
        }
    }

    /// The id that follows this exchange through every service and event.
    #[must_use]
    pub fn correlation_id(&self) -> &str {
        &self.correlation_id
    }

    /// The correlation id, shared (not copied).
    #[cfg(feature = "socket")]
    pub(crate) fn shared_correlation_id(&self) -> Arc<str> {
        self.correlation_id.clone()
    }

    /// The same context with this correlation id (ignored unless it is 1 to 128 printable
    /// ASCII characters, so a hostile header cannot pollute logs).
    #[must_use]
    pub fn with_correlation_id(mut self, id: &str) -> Self {
        if is_valid_correlation_id(id) {
            self.correlation_id = id.into();
        }
        self
    }

    /// The W3C `traceparent`, if any.
    #[must_use]
    pub fn traceparent(&self) -> Option<&str> {
        self.traceparent.as_deref()
    }

    /// The trace id of the `traceparent` (32 hex digits), what log lines carry to follow one
    /// request through services and events; empty without a trace.
    #[must_use]
    pub fn trace_id(&self) -> &str {
        self.traceparent.as_deref().and_then(|tp| tp.get(3..35)).unwrap_or("")
    }

    /// The same context with this `traceparent` (ignored unless it is valid W3C trace context).
    #[must_use]
    pub fn with_traceparent(mut self, traceparent: &str) -> Self {
        if is_valid_traceparent(traceparent) {
            self.traceparent = Some(traceparent.into());
        }
        self
    }

    /// The same context, due within `timeout` from now (or earlier, if it already was).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        let due = Instant::now().checked_add(timeout);
        self.deadline = match (self.deadline, due) {
            (Some(current), Some(due)) => Some(current.min(due)),
            (current, due) => current.or(due),
        };
        self
    }

    /// When the call must be done, if it has a deadline.
    #[must_use]
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left before the deadline (zero once passed); `None` without a deadline.
    #[must_use]
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether the deadline has passed.
    #[must_use]
    pub fn is_expired(&self) -> bool {
        self.remaining().is_some_and(|r| r.is_zero())
    }

    /// One metadata value (keys are lower case, like HTTP header names).
    #[must_use]
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.as_ref()?.get(&key.to_ascii_lowercase()).map(String::as_str)
    }

    /// Every metadata entry.
    pub fn metadata_iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.metadata.iter().flat_map(|m| m.iter()).map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The same context with one more metadata entry (the key is lower-cased).
    #[must_use]
    pub fn with_metadata(mut self, key: &str, value: impl Into<String>) -> Self {
        Arc::make_mut(self.metadata.get_or_insert_default()).insert(key.to_ascii_lowercase(), value.into());
        self
    }

    /// The context for a call made while serving this one: the same correlation id, trace
    /// and deadline (so nested calls inherit the remainder), with a new span in the trace.
    #[must_use]
    pub fn child(&self) -> Self {
        let traceparent = self.traceparent.as_deref().map(|tp| {
            let trace_id = tp.get(3..35).map_or_else(|| random_hex(32), str::to_owned);
            new_traceparent(&trace_id)
        });
        // (Not the caller: a nested call goes elsewhere, and a context kept for later must not
        // keep the connection's buffers alive.)
        Self {
            traceparent,
            #[cfg(feature = "socket")]
            caller: None,
            ..self.clone()
        }
    }

    /// The caller, where the binding lets a server call it back on the connection the call
    /// came in on: on the socket binding (JSON mode), the services the client exposes
    /// (`SocketClient::serve`), through a generated client over it —
    /// `NotifyClient::new(ctx.caller()?)`. `None` on REST, RPC, the queue and the
    /// socket's binary mode, and on a context the caller did not come with ([`Self::child`] leaves
    /// it out). Calls through it fail `unavailable` once the connection is gone.
    #[must_use]
    pub fn caller(&self) -> Option<crate::Channel> {
        #[cfg(feature = "socket")]
        {
            self.caller.clone().map(crate::Channel::SocketPeer)
        }
        #[cfg(not(feature = "socket"))]
        {
            None
        }
    }

    /// The same context, its caller reachable on `peer` (for the socket server).
    #[cfg(feature = "socket")]
    #[must_use]
    pub(crate) fn with_caller(mut self, peer: crate::socket::SocketPeer) -> Self {
        self.caller = Some(peer);
        self
    }
}

fn random_hex(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        out.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    out.truncate(len);
    out
}

/// 32 random hex digits, formatted on the stack (one allocation: the `Arc`).
fn new_correlation_id() -> Arc<str> {
    let mut hex = [0u8; 32];
    Arc::from(&*uuid::Uuid::new_v4().simple().encode_lower(&mut hex))
}

/// A `traceparent` with a new trace id and a new span id.
fn fresh_traceparent() -> Arc<str> {
    let mut hex = [0u8; 32];
    new_traceparent(uuid::Uuid::new_v4().simple().encode_lower(&mut hex))
}

/// `00-<trace_id>-<new span id>-01`, formatted on the stack when it has the standard length
/// (one allocation: the `Arc`).
fn new_traceparent(trace_id: &str) -> Arc<str> {
    let mut hex = [0u8; 32];
    let span_id = &uuid::Uuid::new_v4().simple().encode_lower(&mut hex)[..16];
    let parts = ["00-", trace_id, "-", span_id, "-01"];
    let mut tp = [0u8; 55];
    if parts.iter().map(|part| part.len()).sum::<usize>() == tp.len() {
        let mut at = 0;
        for part in parts {
            tp[at..at + part.len()].copy_from_slice(part.as_bytes());
            at += part.len();
        }
        if let Ok(text) = std::str::from_utf8(&tp) {
            return Arc::from(text);
        }
    }
    Arc::from(parts.concat())
}

fn is_valid_correlation_id(id: &str) -> bool {
    // Folded into a byte without early exits, so the check is vectorised (it runs on every call).
    (1..=128).contains(&id.len()) && id.bytes().fold(1, |ok, b| ok & u8::from(b.is_ascii_graphic())) == 1
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, ids not all zero.
fn is_valid_traceparent(tp: &str) -> bool {
    // Each part is folded into a byte without early exits, so the checks are vectorised.
    let hex = |s: &[u8]| {
        s.iter().fold(1, |ok, &c| ok & (u8::from(c.is_ascii_digit()) | u8::from(c.wrapping_sub(b'a') < 6)))
            == 1
    };
    let nonzero = |s: &[u8]| s.iter().fold(0, |any, &c| any | (c ^ b'0')) != 0;
    let b = tp.as_bytes();
    b.len() == 55
        && (b[2], b[35], b[52]) == (b'-', b'-', b'-')
        && &b[..2] != b"ff"
        && hex(&b[..2])
        && hex(&b[3..35])
        && hex(&b[36..52])
        && hex(&b[53..])
        && nonzero(&b[3..35])
        && nonzero(&b[36..52])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_contexts_have_ids_and_a_valid_trace() {
        let a = Context::new();
        let b = Context::new();
        assert_ne!(a.correlation_id(), b.correlation_id());
        assert!(is_valid_traceparent(a.traceparent().expect("made at the edge")));
    }

    #[test]
    fn hostile_ids_are_ignored() {
        let ctx = Context::new();
        let id = ctx.correlation_id().to_owned();
        assert_eq!(ctx.clone().with_correlation_id("a\nb").correlation_id(), id);
        assert_eq!(ctx.clone().with_correlation_id(&"x".repeat(129)).correlation_id(), id);
        assert_eq!(ctx.with_correlation_id("order-42").correlation_id(), "order-42");
    }

    #[test]
    fn child_keeps_trace_id_and_deadline_with_a_new_span() {
        let parent = Context::new().with_timeout(Duration::from_secs(5));
        let child = parent.child();
        let (p, c) = (parent.traceparent().expect("tp"), child.traceparent().expect("tp"));
        assert_eq!(&p[..35], &c[..35]);
        assert_ne!(p, c);
        assert_eq!(child.deadline(), parent.deadline());
        assert_eq!(child.correlation_id(), parent.correlation_id());
    }

    #[test]
    fn an_earlier_deadline_wins() {
        let ctx =
            Context::new().with_timeout(Duration::from_millis(10)).with_timeout(Duration::from_secs(60));
        assert!(ctx.remaining().expect("deadline") <= Duration::from_millis(10));
    }

    #[test]
    fn correlation_id_validation() {
        assert!(is_valid_correlation_id("order-42/A~!"));
        assert!(is_valid_correlation_id(&"x".repeat(128)));
        for bad in ["", "a b", "tab\there", "é", "nul\0", "del\u{7f}"] {
            assert!(!is_valid_correlation_id(bad), "{bad:?}");
        }
        assert!(!is_valid_correlation_id(&"x".repeat(129)));
    }

    #[test]
    fn traceparent_validation() {
        assert!(is_valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        assert!(!is_valid_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
        assert!(!is_valid_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
        assert!(!is_valid_traceparent("garbage"));
        for bad in [
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00-4bf92f3577b34da6a3ce929d0e0e473`-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473:-00f067aa0ba902b7-01",
            "0/-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba9\u{e9}b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
            "004-bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
        ] {
            assert!(!is_valid_traceparent(bad), "{bad}");
        }
        assert!(is_valid_traceparent("fe-00000000000000000000000000000001-0000000000000001-ff"));
        assert!(is_valid_traceparent(&fresh_traceparent()));
        assert!(is_valid_traceparent(Context::new().child().traceparent().expect("a trace")));
    }
}
