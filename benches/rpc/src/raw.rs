//! The floor: the same echo over hand-written tokio TCP, with our protocol's handshake, frames
//! (the runtime's own [`Frame`] encoder and decoder) and codec (`MessagePack` with field names,
//! rmp-serde), and nothing else — no Context, no dispatch table, no task per call, no
//! deadlines, no backpressure, no reconnection.
//!
//! The server answers every complete request in its read buffer inline, then writes all the
//! replies with one system call. The client multiplexes calls on one connection by call id
//! through a map of oneshot senders; one writer task sends whatever frames are queued with one
//! system call.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use svcgen::rpc::frame::{Frame, HANDSHAKE, RequestHead};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::bench::Payload;

/// The largest frame either side reads.
const MAX_FRAME: usize = 16 << 20;
/// What the request head carries: the same service and method names as the generated client,
/// and a correlation id and `traceparent` of the same lengths, fixed (no Context is made).
const SERVICE: &str = "bench.Bench";
const METHOD: &str = "echo";
const CORRELATION_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The arguments of `echo`, as the generated code encodes them: a map `{"msg": …}`.
#[derive(Serialize, Deserialize)]
struct EchoArgs {
    msg: Payload,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Serves the echo on `listener`, a task per connection.
pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            if let Err(error) = serve_connection(stream).await {
                eprintln!("raw server: {error}");
            }
        });
    }
}

async fn serve_connection(mut stream: TcpStream) -> io::Result<()> {
    let mut hello = [0u8; 8];
    stream.read_exact(&mut hello).await?;
    if hello != HANDSHAKE {
        return Err(invalid("bad handshake"));
    }
    stream.write_all(&HANDSHAKE).await?;
    let mut input = BytesMut::with_capacity(64 * 1024);
    let mut output = BytesMut::with_capacity(64 * 1024);
    loop {
        while let Some(frame) = Frame::decode(&mut input, MAX_FRAME).map_err(invalid)? {
            let Frame::Request { call, payload, .. } = frame else { continue };
            let args: EchoArgs = rmp_serde::from_slice(&payload).map_err(invalid)?;
            let reply = rmp_serde::to_vec_named(&args.msg).map_err(invalid)?;
            Frame::Reply { call, payload: Bytes::from(reply) }.encode(&mut output);
        }
        if !output.is_empty() {
            stream.write_all(&output).await?;
            output.clear();
        }
        if stream.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
    }
}

/// A client of [`serve`]: one connection, calls multiplexed by id. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RawClient {
    inner: Arc<Conn>,
}

#[derive(Debug)]
struct Conn {
    tx: mpsc::Sender<Bytes>,
    calls: Mutex<HashMap<u32, oneshot::Sender<Bytes>>>,
    next: AtomicU32,
}

impl RawClient {
    /// Connects and handshakes; starts the reader and writer tasks in the current runtime.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses the handshake.
    pub async fn connect(addr: std::net::SocketAddr) -> io::Result<Self> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        stream.write_all(&HANDSHAKE).await?;
        let mut answer = [0u8; 8];
        stream.read_exact(&mut answer).await?;
        if answer != HANDSHAKE {
            return Err(invalid("the server refused the handshake"));
        }
        let (reader, writer) = stream.into_split();
        let (tx, rx) = mpsc::channel(1024);
        let inner = Arc::new(Conn { tx, calls: Mutex::default(), next: AtomicU32::new(1) });
        tokio::spawn(write_frames(writer, rx));
        tokio::spawn(read_frames(reader, Arc::clone(&inner)));
        Ok(Self { inner })
    }

    /// Sends `msg` and waits for it to come back.
    ///
    /// # Errors
    /// When the connection is gone or a payload cannot be encoded or decoded.
    pub async fn echo(&self, msg: Payload) -> io::Result<Payload> {
        let payload = rmp_serde::to_vec_named(&EchoArgs { msg }).map_err(invalid)?;
        let call = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let (reply_tx, reply_rx) = oneshot::channel();
        self.inner.calls.lock().unwrap_or_else(PoisonError::into_inner).insert(call, reply_tx);
        let head = RequestHead {
            service: SERVICE.to_owned(),
            method: METHOD.to_owned(),
            correlation_id: CORRELATION_ID.to_owned(),
            traceparent: TRACEPARENT.to_owned(),
            deadline_ms: 0,
            metadata: Vec::new(),
        };
        let frame = Frame::Request { call, head, payload: Bytes::from(payload) }.to_bytes();
        self.inner.tx.send(frame).await.map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        let reply = reply_rx.await.map_err(|_| io::Error::from(io::ErrorKind::ConnectionReset))?;
        rmp_serde::from_slice(&reply).map_err(invalid)
    }
}

async fn write_frames(mut writer: tokio::net::tcp::OwnedWriteHalf, mut rx: mpsc::Receiver<Bytes>) {
    let mut out = BytesMut::with_capacity(64 * 1024);
    while let Some(frame) = rx.recv().await {
        out.extend_from_slice(&frame);
        while let Ok(more) = rx.try_recv() {
            out.extend_from_slice(&more);
        }
        if writer.write_all(&out).await.is_err() {
            return;
        }
        out.clear();
    }
}

async fn read_frames(mut reader: tokio::net::tcp::OwnedReadHalf, conn: Arc<Conn>) {
    let mut input = BytesMut::with_capacity(64 * 1024);
    loop {
        loop {
            match Frame::decode(&mut input, MAX_FRAME) {
                Ok(Some(Frame::Reply { call, payload })) => {
                    let slot = conn.calls.lock().unwrap_or_else(PoisonError::into_inner).remove(&call);
                    if let Some(slot) = slot {
                        let _ = slot.send(payload);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(error) => {
                    eprintln!("raw client: {error}");
                    conn.calls.lock().unwrap_or_else(PoisonError::into_inner).clear();
                    return;
                }
            }
        }
        if !matches!(reader.read_buf(&mut input).await, Ok(n) if n > 0) {
            conn.calls.lock().unwrap_or_else(PoisonError::into_inner).clear();
            return;
        }
    }
}
