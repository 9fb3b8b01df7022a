//! The socket binding's binary mode (`docs/protocol.md`, "S11. Binary mode"): the RPC
//! binding's frames, one per WebSocket binary message, on the subprotocol
//! [`BINARY_SUBPROTOCOL`](super::BINARY_SUBPROTOCOL).
//!
//! Nothing about frames is written here: the server is the RPC server's frame loop
//! (`rpc::serve_frames`) and the client is the [`RpcClient`]'s connection (`rpc::Conn`), both
//! reading through `rpc::source::FrameSource`. This module only carries frames in messages and
//! maps the endings of a connection to close codes.

use std::future::Future;

use bytes::Bytes;
use futures_util::{Sink, SinkExt as _, Stream, StreamExt as _};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite;

use super::client::open_socket;
use super::{BINARY_SUBPROTOCOL, SocketConfig, close_code};
use crate::rpc::frame::{Frame, FrameError};
use crate::rpc::source::{FrameSource, one_frame};
use crate::rpc::{Conn, Ended, RpcClient, RpcConfig, Services, serve_frames};
use crate::status::Status;

/// The RPC limits and timings of a binary-mode connection, from the socket's.
pub(crate) fn rpc_config(config: &SocketConfig) -> RpcConfig {
    RpcConfig {
        max_frame: config.max_message,
        max_in_flight: config.max_in_flight,
        keepalive: config.keepalive,
        handshake_timeout: config.connect_timeout,
        drain: config.drain,
        connect_timeout: config.connect_timeout,
        max_backoff: config.max_backoff,
    }
}

/// What one WebSocket message is to a binary-mode connection.
enum Step {
    /// A binary message: one frame.
    Frame(Bytes),
    /// A ping or a pong (answered by the WebSocket library): nothing to read.
    Skip,
    /// The peer closed or vanished.
    Gone,
    /// The end of the connection with this close code, for this reason.
    Refuse(u16, FrameError),
}

/// The frames of a binary-mode connection's messages.
struct Messages<S: Stream> {
    stream: S,
    max: usize,
    step: fn(S::Item) -> Step,
    /// The close code an unreadable message calls for.
    close: Option<u16>,
}

impl<S: Stream + Unpin + Send> FrameSource for Messages<S> {
    async fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        loop {
            let Some(message) = self.stream.next().await else { return Ok(None) };
            match (self.step)(message) {
                Step::Frame(bytes) => {
                    let frame = one_frame(bytes, self.max);
                    if let Err(FrameError::TooLarge { .. }) = &frame {
                        self.close = Some(close_code::MESSAGE_TOO_BIG);
                    }
                    return frame.map(Some);
                }
                Step::Skip => {}
                Step::Gone => return Ok(None),
                Step::Refuse(code, error) => {
                    self.close = Some(code);
                    return Err(error);
                }
            }
        }
    }
}

/// What a WebSocket error means: a message over the limit or a broken frame ends the connection
/// with a close code; anything else is a peer gone.
fn refusal(error: &tungstenite::Error) -> Step {
    use tungstenite::error::CapacityError;
    match error {
        tungstenite::Error::Capacity(CapacityError::MessageTooLong { size, max_size }) => Step::Refuse(
            close_code::MESSAGE_TOO_BIG,
            FrameError::TooLarge { length: *size, limit: *max_size },
        ),
        tungstenite::Error::Capacity(_) => {
            Step::Refuse(close_code::MESSAGE_TOO_BIG, FrameError::Malformed("a message over the limit"))
        }
        tungstenite::Error::Protocol(_) | tungstenite::Error::Utf8(_) => Step::Refuse(
            close_code::PROTOCOL_ERROR,
            FrameError::Malformed("a WebSocket frame that breaks RFC 6455"),
        ),
        _ => Step::Gone,
    }
}

fn text_refused() -> Step {
    Step::Refuse(close_code::UNSUPPORTED_DATA, FrameError::Malformed("a text message in binary mode"))
}

/// What one message is, on either side.
fn step(message: Result<tungstenite::Message, tungstenite::Error>) -> Step {
    use tungstenite::Message;
    match message {
        Ok(Message::Binary(bytes)) => Step::Frame(bytes),
        Ok(Message::Text(_)) => text_refused(),
        Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => Step::Skip,
        Ok(Message::Close(_)) => Step::Gone,
        Err(error) => refusal(&error),
    }
}

/// Writes frames as binary messages, several per flush when several are ready; gives the sink
/// back when the frames end (`None` if the peer is gone).
async fn write_messages<S, M>(mut sink: S, mut rx: mpsc::Receiver<Bytes>, wrap: fn(Bytes) -> M) -> Option<S>
where
    S: Sink<M> + Unpin,
{
    while let Some(frame) = rx.recv().await {
        sink.feed(wrap(frame)).await.ok()?;
        while let Ok(more) = rx.try_recv() {
            sink.feed(wrap(more)).await.ok()?;
        }
        sink.flush().await.ok()?;
    }
    Some(sink)
}

/// Serves one binary-mode connection until it ends; `stop` as for `rpc::serve_frames`.
pub(crate) async fn serve<S>(
    socket: tokio_tungstenite::WebSocketStream<S>,
    services: &Services,
    config: &SocketConfig,
    stop: impl Future<Output = bool> + Send,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tungstenite::Message;
    use tungstenite::protocol::CloseFrame;
    let (sink, stream) = socket.split();
    let (tx, rx) = mpsc::channel(config.send_buffer.max(1));
    let mut writer = tokio::spawn(write_messages(sink, rx, Message::Binary));
    let mut frames = Messages { stream, max: config.max_message, step, close: None };
    let ended = serve_frames(&mut frames, tx, services, &rpc_config(config), stop).await;
    let (code, reason) = match ended {
        Ended::Dropped => return writer.abort(),
        Ended::Gone => (close_code::NORMAL, String::new()),
        Ended::Stopped => (close_code::GOING_AWAY, "the server is shutting down".to_owned()),
        Ended::Protocol(error) => {
            tracing::warn!(%error, "closing a binary-mode socket connection after a protocol error");
            (frames.close.unwrap_or(close_code::PROTOCOL_ERROR), error.to_string())
        }
    };
    // A peer that does not read gets 5 s for the frames still queued, then is cut.
    let Ok(written) = tokio::time::timeout(std::time::Duration::from_secs(5), &mut writer).await else {
        return writer.abort();
    };
    let Ok(Some(mut sink)) = written else { return };
    let close = CloseFrame { code: code.into(), reason: reason.into() };
    if sink.send(Message::Close(Some(close))).await.is_err() {
        return;
    }
    // The peer's close frame completes the handshake; a short wait for it. After a read error
    // (a message over the limit) nothing more can be read: the connection stays open that
    // while all the same, so that the peer reads our close frame before the connection is
    // reset for the bytes it sent that were never read.
    let unreadable = frames.close.is_some();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        loop {
            match frames.stream.next().await {
                Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
                None | Some(Err(_)) if unreadable => std::future::pending::<()>().await,
                None | Some(Err(_)) => return,
            }
        }
    })
    .await;
}

impl RpcClient {
    /// A client of the socket server at `url` (`ws://host:port/ws`) in **binary mode**: the RPC
    /// binding's frames in WebSocket binary messages, on the subprotocol
    /// [`BINARY_SUBPROTOCOL`](super::BINARY_SUBPROTOCOL) (`docs/protocol.md`, "S11. Binary
    /// mode"). The calls, errors, deadlines, streams and cancellation of RPC, through a port
    /// that a socket server (or REST beside it) already serves. It connects on the first call
    /// and reconnects with backoff, as over TCP.
    ///
    /// ```no_run
    /// # fn run() -> Result<(), svcgen::Status> {
    /// let client = svcgen::rpc::RpcClient::websocket("ws://127.0.0.1:8081/ws", &Default::default())?;
    /// let channel = svcgen::Channel::from(client); // for any generated `XClient::new`
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the URL is not a `ws://` or `wss://` URL (`wss://` with the `tls` feature).
    pub fn websocket(url: &str, config: &SocketConfig) -> Result<Self, Status> {
        super::check_url(url)?;
        let transport = crate::rpc::Transport::WebSocket(Box::new(config.clone()));
        Ok(Self::over(url, rpc_config(config), transport))
    }
}

/// Connects a binary-mode client's connection: the WebSocket handshake selects
/// [`BINARY_SUBPROTOCOL`] (it replaces the RPC handshake), then frames flow.
pub(crate) async fn connect(
    url: &str,
    config: &RpcConfig,
    socket: &SocketConfig,
) -> Result<std::sync::Arc<Conn>, Status> {
    let socket = open_socket(url, BINARY_SUBPROTOCOL, socket).await?;
    let (sink, stream) = socket.split();
    let frames = Messages { stream, max: config.max_frame, step, close: None };
    let (conn, rx) = Conn::start(frames, config);
    tokio::spawn(async move {
        if let Some(mut sink) = write_messages(sink, rx, tungstenite::Message::Binary).await {
            let _ = sink.close().await;
        }
    });
    Ok(conn)
}
