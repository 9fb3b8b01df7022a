//! The socket binding: JSON-RPC 2.0 over WebSocket, specified in `docs/protocol.md`
//! ("Socket binding").
//!
//! Calls are JSON-RPC requests whose `params` are the method's arguments by name (the REST
//! body) plus the reserved `_meta` member (the Context); replies are responses; errors carry
//! the REST problem document in `data`; server streams are subscriptions whose items arrive as
//! notifications. [`SocketServer`] serves any [`Dispatch`](crate::Dispatch) as an axum route
//! (beside REST on one port) or on its own listener; [`SocketClient`] calls it, reconnecting
//! with jittered backoff.
//!
//! The binary mode (subprotocol [`BINARY_SUBPROTOCOL`]) carries the RPC binding's frames
//! instead, one per binary message; [`Channel::socket_binary`](crate::Channel::socket_binary)
//! calls it with an [`RpcClient`](crate::rpc::RpcClient).

pub(crate) mod binary;
mod client;
mod local;
mod outbox;
mod peer;
mod server;
mod shared;
#[cfg(feature = "tls")]
pub mod tls;
pub mod wire;

use std::time::Duration;

pub use client::{EventStream, SocketClient, SocketEvent};
pub use peer::SocketPeer;
pub(crate) use server::serve_router;
pub use server::{SocketServer, SocketShutdown};

/// The WebSocket subprotocol (`Sec-WebSocket-Protocol`) of the JSON text mode.
pub const SUBPROTOCOL: &str = "svcgen.jsonrpc.v1";

/// The WebSocket subprotocol of the binary mode: the RPC binding's frames, one per binary
/// message (`docs/protocol.md`, "S11. Binary mode"); called with
/// [`Channel::socket_binary`](crate::Channel::socket_binary).
pub const BINARY_SUBPROTOCOL: &str = "svcgen.envelope.v1";

/// The subprotocols a [`SocketServer`] serves, in its order of preference: a client that offers
/// both gets binary mode (only a client that can speak it offers it, and it is the faster).
pub const SUBPROTOCOLS: [&str; 2] = [BINARY_SUBPROTOCOL, SUBPROTOCOL];

/// The path a [`SocketServer`] is mounted at unless configured otherwise.
pub const DEFAULT_PATH: &str = "/ws";

/// What a server does when a connection's send buffer is full (the peer reads too slowly).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlowReceiver {
    /// The sender waits for room: a stream's producer is slowed down to the reader's pace,
    /// responses wait their turn. Nothing is lost; the in-flight limit bounds the waiters.
    #[default]
    Wait,
    /// The oldest queued notification (a stream item) is dropped to make room for a new one;
    /// responses still wait. For live data where only the latest matters.
    DropOldestNotifications,
    /// The connection is closed (code 1008, policy violation).
    Disconnect,
}

/// Limits and timings of a socket server or client.
#[derive(Clone, Debug)]
pub struct SocketConfig {
    /// The largest message accepted, in bytes (default 16 MiB); a larger one closes the
    /// connection with code 1009.
    pub max_message: usize,
    /// Calls (and open subscriptions) at once per connection (default 1024); one more is
    /// answered `resource_exhausted` at once.
    pub max_in_flight: usize,
    /// Requests in one batch (default 1024); a larger batch is an invalid request.
    pub max_batch: usize,
    /// Messages queued for sending per connection (default 1024), then [`SlowReceiver`] applies.
    pub send_buffer: usize,
    /// The policy for a peer that does not read fast enough.
    pub slow_receiver: SlowReceiver,
    /// How often a connection is looked at (default 20 s): one silent since the last look is
    /// pinged, one silent for three looks in a row is closed (so after three to four times it).
    pub keepalive: Duration,
    /// How long a stopping server lets calls in flight finish before its close frame (default 10 s).
    pub drain: Duration,
    /// How long a client waits to connect, handshake included (default 5 s).
    pub connect_timeout: Duration,
    /// The longest a client waits between reconnection attempts (default 5 s).
    pub max_backoff: Duration,
    /// The HTTP path of the WebSocket endpoint (server side; default [`DEFAULT_PATH`]).
    pub path: String,
    /// The bytes read from the connection at a time, a buffer each connection holds for its
    /// life (default [`DEFAULT_READ_BUFFER`], 8 KiB; tungstenite's own default, 128 KiB, costs
    /// 128 KiB per idle connection). Larger messages are read in several reads.
    pub read_buffer: usize,
    /// The web origins whose pages may open a connection (server side), as browsers send them in
    /// `Origin` (`https://app.example.com`, `http://localhost:8080`; compared without regard to
    /// case). Empty (the default): any. A handshake that carries another `Origin` is refused
    /// with `403`; one that carries none (a client that is not a browser) is served. Set it when
    /// a browser's cookies or other ambient credentials authenticate the connection, so another
    /// site's page cannot open it in the user's name (cross-site WebSocket hijacking).
    pub allowed_origins: Vec<String>,
    /// TLS for a client's `wss://` URL (the `tls` feature): `None` (the default) trusts the
    /// system's root certificates; [`tls::client_config`] makes one that trusts others.
    #[cfg(feature = "tls")]
    pub tls: Option<std::sync::Arc<tls::ClientConfig>>,
}

/// The default [`SocketConfig::read_buffer`]: 8 KiB.
pub const DEFAULT_READ_BUFFER: usize = 8 << 10;

impl Default for SocketConfig {
    fn default() -> Self {
        Self {
            max_message: 16 << 20,
            max_in_flight: 1024,
            max_batch: 1024,
            send_buffer: 1024,
            slow_receiver: SlowReceiver::Wait,
            keepalive: Duration::from_secs(20),
            drain: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_backoff: Duration::from_secs(5),
            path: DEFAULT_PATH.to_owned(),
            read_buffer: DEFAULT_READ_BUFFER,
            allowed_origins: Vec::new(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// Refuses a client's URL that is not `ws://`, or `wss://` where this build has TLS.
fn check_url(url: &str) -> Result<(), crate::Status> {
    if url.starts_with("ws://") || (cfg!(feature = "tls") && url.starts_with("wss://")) {
        return Ok(());
    }
    let message = if url.starts_with("wss://") {
        format!("`{url}`: `wss://` needs svcgen's `tls` feature")
    } else {
        format!("`{url}` is not a ws:// or wss:// URL")
    };
    Err(crate::Status::invalid_argument(message))
}

/// Close codes the binding uses (RFC 6455, section 7.4.1).
pub mod close_code {
    /// The answer to the peer's close frame.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down (after its calls in flight finished).
    pub const GOING_AWAY: u16 = 1001;
    /// A frame that breaks the WebSocket protocol; in binary mode also an RPC frame that
    /// cannot be read.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A binary message on a connection in JSON text mode, or a text message in binary mode.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Reserved: refusing a peer by policy (a peer dropped under
    /// [`SlowReceiver::Disconnect`](super::SlowReceiver::Disconnect) is cut without a close frame).
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A message larger than the limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
}
