//! Memory per idle connection: a server in a child process (this bench binary run again with
//! [`SERVE_ENV`] set), many connections opened to it from this process, and the child's
//! resident memory (`VmRSS` in `/proc/<pid>/status`) before and after.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;

use crate::raw::{self, Socket};
use crate::sbench::BenchServer;
use crate::service::{BenchImpl, blob_of_json_size};

/// Set to `svcgen` or `raw` in the child: it serves that server and prints its port.
pub const SERVE_ENV: &str = "SVCGEN_BENCH_SERVE";

/// Which server the child runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// `SocketServer` serving the generated `BenchServer`.
    Svcgen,
    /// The raw tokio-tungstenite echo server.
    Raw,
}

impl Server {
    /// The name in [`SERVE_ENV`].
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Server::Svcgen => "svcgen",
            Server::Raw => "raw",
        }
    }
}

/// In the child: serves `server` on a free port of `127.0.0.1` in a current-thread runtime,
/// prints `port <n>` on standard output, and exits when standard input closes (the parent
/// ended or dropped it).
///
/// # Panics
/// When no runtime or port can be had: the parent sees the child end and reports it.
pub fn serve_child(which: &str) {
    std::thread::spawn(|| {
        // Standard input closing is the signal to stop.
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a server runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        println!("port {port}");
        match which {
            "svcgen" => {
                let served =
                    svcgen::socket::SocketServer::new().service(BenchServer::new(BenchImpl)).serve(listener);
                served.await.expect("the socket server serves");
            }
            "raw" => raw::serve(listener).await,
            other => panic!("{SERVE_ENV}={other:?}: `svcgen` or `raw`"),
        }
    });
}

/// What holding idle connections cost the server.
#[derive(Clone, Copy, Debug)]
pub struct Idle {
    /// Connections held.
    pub connections: usize,
    /// The server's resident memory with one connection opened, used and closed, in KiB.
    pub rss_before_kib: u64,
    /// With every connection open, in KiB.
    pub rss_after_kib: u64,
    /// How long opening them took.
    pub open_time: Duration,
}

impl Idle {
    /// Resident memory per connection, in KiB.
    #[must_use]
    pub fn per_connection_kib(&self) -> f64 {
        let grown = self.rss_after_kib.saturating_sub(self.rss_before_kib);
        svcgen_bench_rpc::stats::to_f64(grown)
            / svcgen_bench_rpc::stats::to_f64(u64::try_from(self.connections.max(1)).unwrap_or(u64::MAX))
    }
}

/// The child process; killed when dropped.
struct ChildServer(Child);

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kib(pid: u32) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("server {pid}: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("server {pid}: no VmRSS"))
}

/// One call on `ws`, checked.
async fn call(ws: &mut Socket, id: u64) -> Result<(), String> {
    let msg = blob_of_json_size(20);
    let text = raw::fresh_request_text(id, &msg)?;
    let reply = raw::round_trip(ws, text).await?;
    let echoed = raw::parse_response(reply.as_str(), id)?;
    if echoed == msg { Ok(()) } else { Err("the echo came back different".to_owned()) }
}

/// Starts `server` in a child process, opens `connections` WebSocket connections to it (64
/// handshakes at a time), makes one call on the last one (so the server really holds every
/// connection accepted and upgraded), and reads the child's resident memory before and after.
/// Must be called inside a tokio runtime.
///
/// # Errors
/// When the child does not start, a connection fails, or the call on the last one fails.
pub async fn measure(server: Server, connections: usize) -> Result<Idle, String> {
    let exe = std::env::current_exe().map_err(|e| format!("this executable: {e}"))?;
    let mut child = Command::new(exe)
        .env(SERVE_ENV, server.name())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the server: {e}"))?;
    let pid = child.id();
    let stdout = child.stdout.take().ok_or("the server's standard output")?;
    let child = ChildServer(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).map_err(|e| format!("the server's port: {e}"))?;
    let port: u16 = line
        .trim()
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("the server said {line:?}, not its port"))?;
    let url = format!("ws://127.0.0.1:{port}{}", svcgen::socket::DEFAULT_PATH);

    // One connection used and closed first, so that what is made once (the runtime's buffers,
    // the router) is in the baseline.
    let mut first = raw::open(&url).await?;
    call(&mut first, 1).await?;
    let _ = first.close(None).await;
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before_kib = rss_kib(pid)?;

    let started = Instant::now();
    let opened: Vec<Result<Socket, String>> = futures_util::stream::iter(0..connections)
        .map(|_| raw::open(&url))
        .buffer_unordered(64)
        .collect()
        .await;
    let mut sockets = opened.into_iter().collect::<Result<Vec<_>, _>>()?;
    let open_time = started.elapsed();
    let last = sockets.last_mut().ok_or("no connection")?;
    call(last, 2).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after_kib = rss_kib(pid)?;
    drop(child);
    drop(sockets);
    Ok(Idle { connections, rss_before_kib, rss_after_kib, open_time })
}
