//! Load generation: a small HTTP/1.1 client over raw TCP (like `wrk`: keep-alive connections,
//! one request in flight on each, a fixed request sent again and again), and a driver for any
//! async call (the generated client, reqwest). Both time every request.

use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// When each connection (or task) of a run stops.
#[derive(Clone, Copy, Debug)]
pub enum Until {
    /// After this long.
    Elapsed(Duration),
    /// After this many requests (each).
    Count(u64),
}

impl Until {
    fn done(self, start: Instant, now: Instant, sent: usize) -> bool {
        match self {
            Until::Elapsed(d) => now >= start + d,
            Until::Count(n) => sent as u64 >= n,
        }
    }
}

/// What one timed run did.
#[derive(Debug, Default)]
pub struct Run {
    /// Requests completed (all answered `200`).
    pub requests: u64,
    /// From the first request sent to the last reply read.
    pub elapsed: Duration,
    /// Every request's latency, in nanoseconds.
    pub latencies: Vec<u64>,
}

/// One HTTP/1.1 request, ready to send as it is.
#[must_use]
pub fn request_bytes(
    method: &str,
    path: &str,
    addr: SocketAddr,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Arc<[u8]> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\n");
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    if !body.is_empty() || method != "GET" {
        let _ = write!(head, "content-type: application/json\r\ncontent-length: {}\r\n", body.len());
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes.into()
}

/// A response read from a connection.
#[derive(Debug)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The header block, as text.
    pub head: String,
    /// The body.
    pub body: Vec<u8>,
}

/// Reads one response (with a `content-length`) from `stream` into `buf`, which is cleared
/// first. Returns the status and the length of the header block.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<(u16, usize)> {
    buf.clear();
    let (head_len, body_len) = loop {
        if stream.read_buf(buf).await? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"));
        }
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break (end + 4, content_length(&buf[..end])?);
        }
    };
    buf.reserve((head_len + body_len).saturating_sub(buf.len()));
    while buf.len() < head_len + body_len {
        if stream.read_buf(buf).await? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the body was cut short"));
        }
    }
    if buf.len() != head_len + body_len {
        return Err(io::Error::other("more bytes than one response"));
    }
    let status = buf
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other("not an HTTP/1.1 status line"))?;
    Ok((status, head_len))
}

fn content_length(head: &[u8]) -> io::Result<usize> {
    head.split(|b| *b == b'\n')
        .find_map(|line| {
            let line = std::str::from_utf8(line).ok()?;
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
        })
        .ok_or_else(|| io::Error::other("a response without content-length"))
}

/// Sends `request` once on a new connection and returns the response (to check servers).
///
/// # Errors
/// When the exchange fails.
pub async fn once(addr: SocketAddr, request: &[u8]) -> io::Result<Response> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    stream.write_all(request).await?;
    let mut buf = Vec::new();
    let (status, head_len) = read_response(&mut stream, &mut buf).await?;
    let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
    Ok(Response { status, head, body: buf[head_len..].to_vec() })
}

/// Sends `request` on `connections` keep-alive connections, one at a time on each, `until`
/// each is done; connecting is not timed.
///
/// # Errors
/// When a connection fails or a response is not `200`.
pub async fn hammer(
    addr: SocketAddr,
    request: Arc<[u8]>,
    connections: usize,
    until: Until,
) -> io::Result<Run> {
    let mut streams = Vec::with_capacity(connections);
    for _ in 0..connections {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        streams.push(stream);
    }
    let start = Instant::now();
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            let request = Arc::clone(&request);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(64 * 1024);
                let mut buf = Vec::with_capacity(16 * 1024);
                loop {
                    let sent = Instant::now();
                    if until.done(start, sent, latencies.len()) {
                        break;
                    }
                    stream.write_all(&request).await?;
                    let (status, _) = read_response(&mut stream, &mut buf).await?;
                    if status != 200 {
                        return Err(io::Error::other(format!(
                            "status {status}: {}",
                            String::from_utf8_lossy(&buf)
                        )));
                    }
                    latencies.push(nanos(sent.elapsed()));
                }
                Ok::<_, io::Error>(latencies)
            })
        })
        .collect();
    collect(start, tasks).await
}

/// Runs `call` on `concurrency` tasks, one call at a time on each, `until` each is done.
///
/// # Errors
/// When a call fails (its error, as text).
pub async fn drive<F, Fut, E>(concurrency: usize, until: Until, call: F) -> io::Result<Run>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Debug + Send + 'static,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(64 * 1024);
                loop {
                    let sent = Instant::now();
                    if until.done(start, sent, latencies.len()) {
                        break;
                    }
                    call().await.map_err(|e| io::Error::other(format!("{e:?}")))?;
                    latencies.push(nanos(sent.elapsed()));
                }
                Ok::<_, io::Error>(latencies)
            })
        })
        .collect();
    collect(start, tasks).await
}

async fn collect(
    start: Instant,
    tasks: Vec<tokio::task::JoinHandle<io::Result<Vec<u64>>>>,
) -> io::Result<Run> {
    let mut run = Run::default();
    for task in tasks {
        let latencies = task.await.map_err(io::Error::other)??;
        run.latencies.extend_from_slice(&latencies);
    }
    run.elapsed = start.elapsed();
    run.requests = run.latencies.len() as u64;
    Ok(run)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
