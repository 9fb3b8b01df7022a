//! Where a connection's frames come from, whatever carries them: a byte stream (TCP, a Unix
//! socket) cut into frames by their length, or a WebSocket whose binary messages are one frame
//! each (the socket binding's binary mode). The server and the client read frames through this
//! and nothing else, so the two transports share every rule about frames.

use std::future::Future;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt as _};

use super::frame::{Frame, FrameError};

/// The frames a peer sends.
pub(crate) trait FrameSource: Send {
    /// The next frame: `Ok(None)` when the peer has gone; an error for a frame that cannot be
    /// read (the connection ends after a `GoAway` naming it). Cancel-safe: a future dropped
    /// before it completes loses nothing.
    fn next_frame(&mut self) -> impl Future<Output = Result<Option<Frame>, FrameError>> + Send;
}

/// Frames from a byte stream, as they arrive (after the handshake).
pub(crate) struct ByteFrames<R> {
    reader: R,
    buf: BytesMut,
    max: usize,
}

impl<R> ByteFrames<R> {
    /// Frames from `reader`, none longer than `max` bytes.
    pub(crate) fn new(reader: R, max: usize) -> Self {
        Self { reader, buf: BytesMut::with_capacity(16 * 1024), max }
    }
}

impl<R: AsyncRead + Unpin + Send> FrameSource for ByteFrames<R> {
    async fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        loop {
            if let Some(frame) = Frame::decode(&mut self.buf, self.max)? {
                return Ok(Some(frame));
            }
            match self.reader.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return Ok(None),
                Ok(_) => {}
            }
        }
    }
}

/// The one frame a message holds: exactly one, nothing before or after it.
///
/// # Errors
/// A frame over `max` bytes, one that does not follow the format, a message that holds part of
/// a frame, or more than one.
#[cfg(feature = "socket")]
pub(crate) fn one_frame(message: bytes::Bytes, max: usize) -> Result<Frame, FrameError> {
    let mut buf = BytesMut::from(message);
    match Frame::decode(&mut buf, max)? {
        Some(frame) if buf.is_empty() => Ok(frame),
        Some(_) => Err(FrameError::Malformed("a message holds more than one frame")),
        None => Err(FrameError::Malformed("a message holds part of a frame")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "socket")]
    fn a_message_holds_exactly_one_frame() {
        let ping = Frame::Ping { nonce: 7 }.to_bytes();
        assert_eq!(one_frame(ping.clone(), 64), Ok(Frame::Ping { nonce: 7 }));
        let two = bytes::Bytes::from([ping.as_ref(), ping.as_ref()].concat());
        assert_eq!(one_frame(two, 64), Err(FrameError::Malformed("a message holds more than one frame")));
        let part = ping.slice(..ping.len() - 1);
        assert_eq!(one_frame(part, 64), Err(FrameError::Malformed("a message holds part of a frame")));
        assert_eq!(
            one_frame(bytes::Bytes::new(), 64),
            Err(FrameError::Malformed("a message holds part of a frame"))
        );
        assert_eq!(one_frame(ping, 4), Err(FrameError::TooLarge { length: 6, limit: 4 }));
    }

    #[tokio::test]
    async fn a_byte_stream_is_cut_into_frames_and_ends() {
        let bytes = [Frame::Ping { nonce: 1 }.to_bytes(), Frame::Pong { nonce: 2 }.to_bytes()].concat();
        let mut frames = ByteFrames::new(bytes.as_slice(), 64);
        assert_eq!(frames.next_frame().await, Ok(Some(Frame::Ping { nonce: 1 })));
        assert_eq!(frames.next_frame().await, Ok(Some(Frame::Pong { nonce: 2 })));
        assert_eq!(frames.next_frame().await, Ok(None));
    }
}
