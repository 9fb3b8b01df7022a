//! The RPC binding under bad input and failure, over real TCP on 127.0.0.1: garbage and
//! malformed frames from a raw socket, overload, cancellation, deadlines, a server that dies,
//! restarts or shuts down, dead peers, and a fake server that misbehaves towards the client.
//!
//! Every wait is bounded ([`WAIT`]); every test asserts what it saw.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use svcgen::descriptor::{HttpMethod, MethodDescriptor, MethodKind, ServiceDescriptor};
use svcgen::dispatch::{BoxFuture, Codec, Payload, Reply};
use svcgen::rpc::frame::{Frame, HANDSHAKE, MAGIC, RequestHead};
use svcgen::rpc::{RpcClient, RpcConfig, RpcServer};
use svcgen::{Code, Context, Dispatch, Problem, Status};
use svcgen_tests::conformance::ConformanceImpl;
use svcgen_tests::fixture_conformance::conformance::{Caller, ConformanceClient, ConformanceServer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// The longest any single step may take before the test fails.
const WAIT: Duration = Duration::from_secs(3);

/// The conformance service's wire name.
const CONFORMANCE: &str = "conformance.Conformance";

/// `fut`, or a test failure naming `what` after [`WAIT`].
async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut).await.unwrap_or_else(|_| panic!("timed out: {what}"))
}

// ---------------------------------------------------------------------------------------------
// Servers

/// A server on 127.0.0.1 that stops (gracefully) on [`Running::stop`], and is aborted when
/// dropped.
struct Running {
    addr: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Triggers the graceful shutdown and waits for `serve_until` to return.
    async fn stop(mut self) {
        self.trigger_stop();
        within("serve_until returns", &mut self.task)
            .await
            .expect("the server task")
            .expect("the server ends cleanly");
    }

    /// Triggers the graceful shutdown without waiting.
    fn trigger_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(server: RpcServer) -> Running {
    serve_on(TcpListener::bind("127.0.0.1:0").await.expect("a free port"), server)
}

fn serve_on(listener: TcpListener, server: RpcServer) -> Running {
    let addr = listener.local_addr().expect("bound").to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve_until(listener, async move {
        let _ = stopped.await;
    }));
    Running { addr, stop: Some(stop), task }
}

fn conformance_service() -> ConformanceServer<ConformanceImpl> {
    ConformanceServer::new(ConformanceImpl::default())
}

fn conformance(config: RpcConfig) -> RpcServer {
    RpcServer::new().service(conformance_service()).config(config)
}

/// A server in a runtime of its own, so it can die like a process: every task dropped and
/// every socket closed at once.
struct Isolated {
    addr: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Isolated {
    fn serve(server: RpcServer) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("bound").to_string();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.spawn(async move {
            let listener = TcpListener::from_std(listener).expect("a tokio listener");
            server.serve(listener).await
        });
        Self { addr, runtime: Some(runtime) }
    }

    /// The server process dies.
    fn kill(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The server at `addr` still serves: a fresh client's call works.
async fn assert_serving(addr: &str) {
    let caller = within("a call on a fresh connection", ConformanceClient::rpc(addr).whoami())
        .await
        .expect("the server still serves");
    assert!(!caller.correlation_id.is_empty());
}

// ---------------------------------------------------------------------------------------------
// A hand-written service that counts what its handlers do

/// What the probe's handlers did.
#[derive(Debug, Default)]
struct Gauges {
    started: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
    completed: AtomicUsize,
    cancelled: AtomicUsize,
    ticks: AtomicUsize,
    streams_dropped: AtomicUsize,
}

impl Gauges {
    fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until `counter` reaches `at_least`.
    async fn reach(counter: &AtomicUsize, at_least: usize, what: &str) {
        within(what, async {
            while Self::get(counter) < at_least {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    }
}

/// One execution of `sleep`: counted while it runs; cancelled if dropped before `finish`.
struct Work {
    gauges: Arc<Gauges>,
    done: bool,
}

impl Work {
    fn start(gauges: Arc<Gauges>) -> Self {
        gauges.started.fetch_add(1, Ordering::SeqCst);
        let now = gauges.running.fetch_add(1, Ordering::SeqCst) + 1;
        gauges.max_running.fetch_max(now, Ordering::SeqCst);
        Self { gauges, done: false }
    }

    fn finish(mut self) {
        self.done = true;
        self.gauges.completed.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        self.gauges.running.fetch_sub(1, Ordering::SeqCst);
        if !self.done {
            self.gauges.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Counts a dropped `ticks` stream.
struct StreamGuard(Arc<Gauges>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.streams_dropped.fetch_add(1, Ordering::SeqCst);
    }
}

const fn probe_method(name: &'static str, subject: &'static str, kind: MethodKind) -> MethodDescriptor {
    MethodDescriptor {
        service: "robust.Probe",
        name,
        subject,
        kind,
        http_method: HttpMethod::Post,
        http_path: "/",
        params: &[],
        errors: &[],
    }
}

/// `sleep(millis) -> u64`: sleeps, counted by [`Work`].
///
/// `ticks(millis, limit?, pause?, fail?) -> stream u64`: one item every `millis` (0, 1, ...),
/// with a `pause` (ms) after the first; after `limit` items it fails with `not_found` if
/// `fail` is 1, or else hangs (never ends).
static PROBE: ServiceDescriptor = ServiceDescriptor {
    package: "robust",
    name: "Probe",
    wire_name: "probe",
    subject: "robust.probe",
    methods: &[
        probe_method("sleep", "robust.probe.sleep", MethodKind::Unary),
        probe_method("ticks", "robust.probe.ticks", MethodKind::ServerStream),
    ],
    events: &[],
};

struct Probe(Arc<Gauges>);

impl Dispatch for Probe {
    fn descriptor(&self) -> &'static ServiceDescriptor {
        &PROBE
    }

    fn dispatch(
        &self,
        method: &str,
        payload: Payload,
        _codec: Codec,
        _ctx: Context,
    ) -> BoxFuture<'_, Result<Reply, Status>> {
        let gauges = self.0.clone();
        let method = method.to_owned();
        Box::pin(async move {
            let args: BTreeMap<String, u64> = payload.decode()?;
            let millis = args.get("millis").copied().unwrap_or(0);
            let every = Duration::from_millis(millis);
            match method.as_str() {
                "sleep" => {
                    let work = Work::start(gauges);
                    tokio::time::sleep(every).await;
                    work.finish();
                    Reply::value(Codec::MsgPack, &millis)
                }
                "ticks" => {
                    let limit = args.get("limit").copied().unwrap_or(u64::MAX);
                    let pause = Duration::from_millis(args.get("pause").copied().unwrap_or(0));
                    let fail = args.get("fail") == Some(&1);
                    let state = (0u64, StreamGuard(gauges));
                    let items = futures_util::stream::unfold(state, move |(n, guard)| async move {
                        if n > limit {
                            return None;
                        }
                        if n == limit {
                            if fail {
                                return Some((Err(Status::not_found("no more ticks")), (n + 1, guard)));
                            }
                            std::future::pending::<()>().await;
                        }
                        if n == 1 {
                            tokio::time::sleep(pause).await;
                        }
                        if !every.is_zero() {
                            tokio::time::sleep(every).await;
                        }
                        guard.0.ticks.fetch_add(1, Ordering::SeqCst);
                        Some((Codec::MsgPack.encode(&n), (n + 1, guard)))
                    });
                    Ok(Reply::Stream(Box::pin(items)))
                }
                other => Err(Status::unimplemented(format!("no method `{other}`"))),
            }
        })
    }
}

fn probe(config: RpcConfig) -> (RpcServer, Arc<Gauges>) {
    let gauges = Arc::new(Gauges::default());
    (RpcServer::new().service(Probe(gauges.clone())).config(config), gauges)
}

fn args(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

async fn sleep_call(client: &RpcClient, millis: u64) -> Result<u64, Status> {
    client.unary(&PROBE.methods[0], &Context::new(), &args(&[("millis", millis)])).await
}

async fn ticks_call(client: &RpcClient, pairs: &[(&str, u64)]) -> Result<svcgen::Streaming<u64>, Status> {
    client.stream(&PROBE.methods[1], &Context::new(), &args(pairs)).await
}

// ---------------------------------------------------------------------------------------------
// Raw sockets

/// A TCP connection driven byte by byte.
struct Raw {
    stream: TcpStream,
    buf: BytesMut,
}

impl Raw {
    async fn connect(addr: &str) -> Self {
        let stream = within("connect", TcpStream::connect(addr)).await.expect("the server accepts");
        Self { stream, buf: BytesMut::new() }
    }

    /// Connects and exchanges handshakes.
    async fn open(addr: &str) -> Self {
        let mut raw = Self::connect(addr).await;
        raw.write(&HANDSHAKE).await;
        let mut answer = [0u8; 8];
        within("the server's handshake", raw.stream.read_exact(&mut answer)).await.expect("a handshake");
        assert_eq!(answer, HANDSHAKE, "the server's handshake");
        raw
    }

    async fn write(&mut self, bytes: &[u8]) {
        within("write", self.stream.write_all(bytes)).await.expect("the server reads");
    }

    async fn send(&mut self, frame: &Frame) {
        self.write(&frame.to_bytes()).await;
    }

    /// The next frame from the server; `None` when it closed the connection (EOF or reset).
    async fn next(&mut self) -> Option<Frame> {
        within("a frame or the end of the connection", async {
            loop {
                match Frame::decode(&mut self.buf, 16 << 20) {
                    Ok(Some(frame)) => return Some(frame),
                    Ok(None) => {}
                    Err(e) => panic!("the server sent a malformed frame: {e}"),
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => {
                        assert!(self.buf.is_empty(), "the server closed in the middle of a frame");
                        return None;
                    }
                    Ok(_) => {}
                }
            }
        })
        .await
    }

    /// The next frame that is not a keepalive `Ping`.
    async fn next_answer(&mut self) -> Option<Frame> {
        loop {
            match self.next().await {
                Some(Frame::Ping { .. }) => {}
                other => return other,
            }
        }
    }

    /// Asserts the server closes the connection after sending nothing but pings.
    async fn assert_closed(&mut self) {
        if let Some(frame) = self.next_answer().await {
            panic!("expected the connection to close, got {frame:?}");
        }
    }

    /// Every byte until the server closes the connection (EOF or reset).
    async fn bytes_until_closed(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        within("the server closes the connection", async {
            let mut chunk = [0u8; 1024];
            loop {
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => out.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await;
        out
    }
}

fn request(call: u32, service: &str, method: &str, payload: impl Into<Bytes>) -> Frame {
    Frame::Request {
        call,
        head: RequestHead {
            service: service.into(),
            method: method.into(),
            correlation_id: format!("raw-{call}"),
            ..RequestHead::default()
        },
        payload: payload.into(),
    }
}

fn encoded(pairs: &[(&str, u64)]) -> Bytes {
    Codec::MsgPack.encode(&args(pairs)).expect("encodable")
}

/// `whoami`, which takes no argument: an empty map.
fn whoami(call: u32) -> Frame {
    request(call, CONFORMANCE, "whoami", encoded(&[]))
}

/// The problem of the `Error` frame for `call`.
fn problem(frame: Option<Frame>, call: u32) -> Problem {
    match frame {
        Some(Frame::Error { call: c, problem }) if c == call => {
            Codec::MsgPack.decode(&problem).expect("the problem is MessagePack")
        }
        other => panic!("expected an Error for call {call}, got {other:?}"),
    }
}

/// The payload of the `Reply` for `call`.
fn reply(frame: Option<Frame>, call: u32) -> Bytes {
    match frame {
        Some(Frame::Reply { call: c, payload }) if c == call => payload,
        other => panic!("expected a Reply for call {call}, got {other:?}"),
    }
}

/// The connection still works: `whoami` as `call` gets its answer.
async fn assert_usable(raw: &mut Raw, call: u32) {
    raw.send(&whoami(call)).await;
    let caller: Caller = Codec::MsgPack.decode(&reply(raw.next_answer().await, call)).expect("a Caller");
    assert_eq!(caller.correlation_id, format!("raw-{call}"));
}

/// The reason of the `GoAway` the server sends before closing, once closed.
async fn goaway_then_close(raw: &mut Raw) -> String {
    let reason = match raw.next_answer().await {
        Some(Frame::GoAway { reason, .. }) => reason,
        other => panic!("expected a GoAway, got {other:?}"),
    };
    raw.assert_closed().await;
    reason
}

// ---------------------------------------------------------------------------------------------
// Handshakes

/// 1. Garbage instead of a handshake: refused with `SVCG` + version 0, closed; the server
///    keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_handshake_is_refused() {
    let server = serve(conformance(RpcConfig::default())).await;
    // Exactly eight bytes: the refusal, then a clean close.
    let mut raw = Raw::connect(&server.addr).await;
    raw.write(b"GET / HT").await;
    assert_eq!(raw.bytes_until_closed().await, b"SVCG\0\0\0\0");
    // A whole HTTP request: closed (the unread rest may turn the close into a reset).
    let mut raw = Raw::connect(&server.addr).await;
    raw.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    let got = raw.bytes_until_closed().await;
    assert!(got.is_empty() || got == b"SVCG\0\0\0\0", "{got:?}");
    assert_serving(&server.addr).await;
}

/// 2. A version this server does not speak: `SVCG` + version 0, then close. So is an
///    unknown codec.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_version_or_codec_is_refused() {
    let server = serve(conformance(RpcConfig::default())).await;
    for hello in [[b'S', b'V', b'C', b'G', 2, 1, 0, 0], [b'S', b'V', b'C', b'G', 1, 9, 0, 0]] {
        let mut raw = Raw::connect(&server.addr).await;
        raw.write(&hello).await;
        let got = raw.bytes_until_closed().await;
        assert_eq!(got, [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], 0, 0, 0, 0], "answer to {hello:?}");
    }
    assert_serving(&server.addr).await;
}

/// A peer that connects and never says hello is dropped after the handshake timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_before_handshake_is_dropped() {
    let config = RpcConfig { handshake_timeout: Duration::from_millis(200), ..RpcConfig::default() };
    let server = serve(conformance(config)).await;
    let mut raw = Raw::connect(&server.addr).await;
    raw.write(b"SVC").await; // a partial handshake
    let started = Instant::now();
    assert_eq!(raw.bytes_until_closed().await, b"");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(150) && took < Duration::from_secs(2), "closed after {took:?}");
    assert_serving(&server.addr).await;
}

// ---------------------------------------------------------------------------------------------
// Malformed frames

/// 3. Half a frame, then EOF: the server closes its side and keeps serving others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_frame_then_eof() {
    let server = serve(conformance(RpcConfig::default())).await;
    let mut raw = Raw::open(&server.addr).await;
    let frame = whoami(1).to_bytes();
    raw.write(&frame[..frame.len() / 2]).await;
    raw.stream.shutdown().await.expect("half-close");
    raw.assert_closed().await;
    // Only the length, then EOF.
    let mut raw = Raw::open(&server.addr).await;
    raw.write(&[0, 0, 0, 40]).await;
    raw.stream.shutdown().await.expect("half-close");
    raw.assert_closed().await;
    assert_serving(&server.addr).await;
}

/// 4. A frame over `max_frame`: `GoAway` naming the limit, then close. A frame of exactly
///    the limit is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_frame_goes_away() {
    let config = RpcConfig { max_frame: 1024, ..RpcConfig::default() };
    let server = serve(conformance(config)).await;

    // Exactly 1024 bytes after the length: accepted (its junk payload is the handler's problem).
    let mut raw = Raw::open(&server.addr).await;
    let head_len = whoami(1).to_bytes().len() - 4 - 1; // without the 1-byte empty map
    let exact = request(1, CONFORMANCE, "whoami", vec![0xc1; 1024 - head_len]).to_bytes();
    assert_eq!(exact.len(), 4 + 1024);
    raw.write(&exact).await;
    assert_eq!(problem(raw.next_answer().await, 1).code, "invalid_argument");
    assert_usable(&mut raw, 2).await;

    // One byte more: only its header is sent, the server refuses it from the length alone.
    let mut raw = Raw::open(&server.addr).await;
    let over = request(1, CONFORMANCE, "whoami", vec![0xc1; 1025 - head_len]).to_bytes();
    raw.write(&over[..10]).await;
    let reason = goaway_then_close(&mut raw).await;
    assert!(reason.contains("1025") && reason.contains("1024"), "{reason}");

    // A length near u32::MAX does not make the server allocate or wait for it.
    let mut raw = Raw::open(&server.addr).await;
    raw.write(&[0xff, 0xff, 0xff, 0xf0, 1, 0]).await;
    let reason = goaway_then_close(&mut raw).await;
    assert!(reason.contains("limit of 1024"), "{reason}");
    assert_serving(&server.addr).await;
}

/// 5. An unknown kind, a malformed request, a short header, a client sending a server's
///    frame, a `GoAway` from the client: each ends the connection (with a `GoAway` for
///    the errors), and other connections are fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_go_away() {
    let server = serve(conformance(RpcConfig::default())).await;

    let mut raw = Raw::open(&server.addr).await;
    raw.write(&[0, 0, 0, 6, 42, 0, 0, 0, 0, 1]).await;
    assert_eq!(goaway_then_close(&mut raw).await, "unknown frame kind 42");

    // A request whose service name claims 200 bytes; the body has 3.
    let mut raw = Raw::open(&server.addr).await;
    raw.write(&[0, 0, 0, 11, 1, 0, 0, 0, 0, 1, 0, 200, b'a', b'b', b'c']).await;
    let reason = goaway_then_close(&mut raw).await;
    assert!(reason.contains("cut short"), "{reason}");

    // A request that stops before its deadline and metadata count.
    let mut raw = Raw::open(&server.addr).await;
    raw.write(&[0, 0, 0, 14, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]).await;
    let reason = goaway_then_close(&mut raw).await;
    assert!(reason.contains("deadline or metadata count"), "{reason}");

    // A service name that is not UTF-8.
    let mut raw = Raw::open(&server.addr).await;
    let mut bad = whoami(1).to_bytes().to_vec();
    bad[12] = 0xff; // the first byte of "conformance.Conformance"
    raw.write(&bad).await;
    assert!(goaway_then_close(&mut raw).await.contains("UTF-8"));

    // A length shorter than the fixed header.
    let mut raw = Raw::open(&server.addr).await;
    raw.write(&[0, 0, 0, 2, 7, 0]).await;
    assert!(goaway_then_close(&mut raw).await.contains("shorter than a frame header"));

    // A ping with a body.
    let mut raw = Raw::open(&server.addr).await;
    raw.write(&[0, 0, 0, 7, 7, 0, 0, 0, 0, 1, 0]).await;
    assert!(goaway_then_close(&mut raw).await.contains("a ping has a body"));

    // A frame only a server sends.
    let mut raw = Raw::open(&server.addr).await;
    raw.send(&Frame::Reply { call: 1, payload: Bytes::new() }).await;
    assert!(goaway_then_close(&mut raw).await.contains("a client sent a server frame"));

    // The client's own GoAway: the server just closes.
    let mut raw = Raw::open(&server.addr).await;
    raw.send(&Frame::GoAway { last: 0, reason: "bye".into() }).await;
    raw.assert_closed().await;

    assert_serving(&server.addr).await;
}

/// Frames that arrive one byte at a time, and several frames in one write, are all served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_split_and_coalesced() {
    let server = serve(conformance(RpcConfig::default())).await;
    let mut raw = Raw::open(&server.addr).await;
    for byte in &whoami(1).to_bytes() {
        raw.write(&[*byte]).await;
        raw.stream.flush().await.expect("flush");
    }
    reply(raw.next_answer().await, 1);
    let mut many = Vec::new();
    for call in 2..=11 {
        many.extend_from_slice(&whoami(call).to_bytes());
    }
    many.extend_from_slice(&Frame::Ping { nonce: 77 }.to_bytes());
    raw.write(&many).await;
    let mut seen = Vec::new();
    let mut pong = false;
    while seen.len() < 10 || !pong {
        match raw.next().await {
            Some(Frame::Reply { call, .. }) => seen.push(call),
            Some(Frame::Pong { nonce: 77 }) => pong = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, (2..=11).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// Well-formed requests the server cannot run

/// 6. An unknown service or method: an `Error` with `unimplemented`; the connection stays
///    usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_service_and_method_are_unimplemented() {
    let server = serve(conformance(RpcConfig::default())).await;
    let mut raw = Raw::open(&server.addr).await;
    raw.send(&request(1, "nowhere.Nothing", "whoami", encoded(&[]))).await;
    let p = problem(raw.next_answer().await, 1);
    assert_eq!((p.code.as_str(), p.status), ("unimplemented", 501), "{p:?}");
    assert!(p.detail.as_deref().is_some_and(|d| d.contains("nowhere.Nothing")), "{p:?}");
    assert_eq!(p.correlation_id.as_deref(), Some("raw-1"));
    assert_usable(&mut raw, 2).await;

    raw.send(&request(3, CONFORMANCE, "teleport", encoded(&[]))).await;
    let p = problem(raw.next_answer().await, 3);
    assert_eq!(p.code, "unimplemented", "{p:?}");
    assert!(p.detail.as_deref().is_some_and(|d| d.contains("teleport")), "{p:?}");
    assert_usable(&mut raw, 4).await;
}

/// 7. Arguments that are not `MessagePack`, or not the method's: `invalid_argument`; the
///    connection stays usable. Also for a oneway method, which is checked before it is
///    acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_payload_is_invalid_argument() {
    let server = serve(conformance(RpcConfig::default())).await;
    let mut raw = Raw::open(&server.addr).await;
    let junk: [&[u8]; 4] = [&[0xc1, 0x00, 0xff, 0x13, 0x37], b"", &[0x92, 0x01], &[0xa3, b'a', b'b', b'c']];
    let mut call = 0;
    for payload in junk {
        call += 1;
        raw.send(&request(call, CONFORMANCE, "slow", payload.to_vec())).await;
        let p = problem(raw.next_answer().await, call);
        assert_eq!(p.code, "invalid_argument", "payload {payload:02x?}: {p:?}");
    }
    // A map with the wrong type for `millis`.
    call += 1;
    let wrong = Codec::MsgPack.encode(&BTreeMap::from([("millis", "soon")])).expect("encodable");
    raw.send(&request(call, CONFORMANCE, "slow", wrong)).await;
    assert_eq!(problem(raw.next_answer().await, call).code, "invalid_argument");
    // Oneway `record` without its `note`: refused, not acknowledged.
    call += 1;
    raw.send(&request(call, CONFORMANCE, "record", vec![0xc1])).await;
    assert_eq!(problem(raw.next_answer().await, call).code, "invalid_argument");
    assert_usable(&mut raw, call + 1).await;
}

/// 10. A request with `deadline_ms` = 1 to a slow method: `deadline_exceeded`, quickly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_deadline_is_refused_quickly() {
    let server = serve(conformance(RpcConfig::default())).await;
    let mut raw = Raw::open(&server.addr).await;
    let mut slow = request(1, CONFORMANCE, "slow", encoded(&[("millis", 5_000)]));
    if let Frame::Request { head, .. } = &mut slow {
        head.deadline_ms = 1;
    }
    let started = Instant::now();
    raw.send(&slow).await;
    let p = problem(raw.next_answer().await, 1);
    assert_eq!(p.code, "deadline_exceeded", "{p:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert_usable(&mut raw, 2).await;
}

// ---------------------------------------------------------------------------------------------
// Load and cancellation

/// 8. Forty calls at once against `max_in_flight: 4`: all succeed (backpressure, not failure)
///    and never more than four run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_is_throttled_not_failed() {
    let (server, gauges) = probe(RpcConfig { max_in_flight: 4, ..RpcConfig::default() });
    let server = serve(server).await;
    let client = RpcClient::new(&server.addr);
    let started = Instant::now();
    let calls = (0..40).map(|_| sleep_call(&client, 50));
    let results = within("every call", futures_util::future::join_all(calls)).await;
    let took = started.elapsed();
    for result in results {
        assert_eq!(result.expect("backpressure, not failure"), 50);
    }
    assert_eq!(Gauges::get(&gauges.completed), 40);
    assert_eq!(Gauges::get(&gauges.max_running), 4, "at most 4 at once, and 4 were used");
    assert!(took >= Duration::from_millis(40 / 4 * 50 - 50), "too fast for 4 at a time: {took:?}");
}

/// 9. A caller that stops waiting (its future dropped) cancels the work on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_call_cancels_the_handler() {
    let (server, gauges) = probe(RpcConfig::default());
    let server = serve(server).await;
    let client = RpcClient::new(&server.addr);
    let gave_up = tokio::time::timeout(Duration::from_millis(200), sleep_call(&client, 5_000)).await;
    assert!(gave_up.is_err(), "the call cannot finish in 200 ms");
    assert_eq!(Gauges::get(&gauges.started), 1);
    Gauges::reach(&gauges.cancelled, 1, "the handler is cancelled").await;
    assert_eq!(Gauges::get(&gauges.completed), 0);
    assert_eq!(Gauges::get(&gauges.running), 0);
    // The same for a call that runs out of its deadline.
    let ctx = Context::new().with_timeout(Duration::from_millis(100));
    let status = client
        .unary::<_, u64>(&PROBE.methods[0], &ctx, &args(&[("millis", 5_000)]))
        .await
        .expect_err("too slow");
    assert_eq!(status.code(), Code::DeadlineExceeded);
    Gauges::reach(&gauges.cancelled, 2, "the handler is cancelled").await;
    assert_eq!(Gauges::get(&gauges.completed), 0);
    // The connection is fine.
    assert_eq!(sleep_call(&client, 1).await.expect("a quick call"), 1);
}

/// Cancellation works when the server is at its in-flight limit: the `Cancel` frames of
/// calls the client gave up on do not queue behind a request waiting for a slot (calls over
/// the limit wait in cancellable tasks; the server stops reading only at twice the limit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_a_server_at_its_limit() {
    let (server, gauges) = probe(RpcConfig { max_in_flight: 2, ..RpcConfig::default() });
    let server = serve(server).await;
    let client = RpcClient::new(&server.addr);
    // Three slow calls: two run, the third waits for a slot; the client gives up on all.
    let calls = (0..3).map(|_| tokio::time::timeout(Duration::from_millis(200), sleep_call(&client, 5_000)));
    for result in futures_util::future::join_all(calls).await {
        assert!(result.is_err(), "cannot finish in 200 ms");
    }
    Gauges::reach(&gauges.cancelled, 2, "both running handlers are cancelled").await;
    let started = Instant::now();
    assert_eq!(within("a call after the cancels", sleep_call(&client, 1)).await.expect("works"), 1);
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert_eq!(Gauges::get(&gauges.completed), 1, "only the quick call ran to the end");
}

/// 14. Dropping a stream stops the server producing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_stream_stops_the_producer() {
    let (server, gauges) = probe(RpcConfig::default());
    let server = serve(server).await;
    let client = RpcClient::new(&server.addr);
    let mut ticks = ticks_call(&client, &[("millis", 10)]).await.expect("a stream");
    for expected in 0..3 {
        let item = within("an item", ticks.next()).await.expect("an item").expect("no error");
        assert_eq!(item, expected);
    }
    drop(ticks);
    Gauges::reach(&gauges.streams_dropped, 1, "the server drops the stream").await;
    let produced = Gauges::get(&gauges.ticks);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(Gauges::get(&gauges.ticks), produced, "the server kept producing");
    assert!(produced < 20, "{produced} ticks for a stream dropped after 3");
}

/// An error that ends a stream is delivered even when the consumer has 256 items queued
/// (the client's queue is full when it arrives): the stream must not look complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_error_is_not_lost_behind_queued_items() {
    let (server, gauges) = probe(RpcConfig::default());
    let server = serve(server).await;
    let client = RpcClient::new(&server.addr);
    // The call takes item 0 itself; after a pause, 1..=256 fill the queue; then the error.
    let pairs = [("millis", 0), ("limit", 257), ("pause", 100), ("fail", 1)];
    let stream = ticks_call(&client, &pairs).await.expect("a stream");
    Gauges::reach(&gauges.ticks, 257, "every item is produced").await;
    tokio::time::sleep(Duration::from_millis(200)).await; // and has arrived, with the error
    let results: Vec<Result<u64, Status>> = within("the stream", stream.collect()).await;
    assert_eq!(results.len(), 258, "257 items and the error");
    for (i, result) in (0..).zip(&results[..257]) {
        assert_eq!(result.as_ref().ok(), Some(&i));
    }
    let status = results[257].clone().expect_err("the stream ends with its error");
    assert_eq!((status.code(), status.message()), (Code::NotFound, "no more ticks"));
}

/// A consumer that falls more than 256 items behind loses the stream, and is told so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_stream_consumer_is_cut_and_told() {
    let server = serve(conformance(RpcConfig::default())).await;
    let client = ConformanceClient::rpc(&server.addr);
    let stream = client.count(1_000, None).await.expect("a stream");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let results: Vec<Result<u32, Status>> = within("the stream", stream.collect()).await;
    let last = results.last().expect("something").clone();
    assert_eq!(last.expect_err("cut").code(), Code::ResourceExhausted);
    assert!(results.len() < 1_000, "{} items", results.len());
    // The connection is fine.
    assert_eq!(client.slow(1).await.expect("a call"), 1);
}

// ---------------------------------------------------------------------------------------------
// The server goes away

/// 11. The server process dies with calls in flight: they fail with `unavailable`
///     promptly, and so do new calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_death_fails_calls_in_flight() {
    let server = Isolated::serve(conformance(RpcConfig::default()));
    let client = ConformanceClient::rpc(&server.addr);
    client.whoami().await.expect("connected");
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.slow(5_000).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = Instant::now();
    server.kill();
    for call in calls {
        let status = within("the call fails", call).await.expect("joined").expect_err("the server died");
        assert_eq!(status.code(), Code::Unavailable, "{status}");
    }
    assert!(killed.elapsed() < Duration::from_secs(1), "took {:?}", killed.elapsed());
    let status = within("a new call", client.whoami()).await.expect_err("nobody there");
    assert_eq!(status.code(), Code::Unavailable, "{status}");
}

/// A stream cut by the server's death ends with `unavailable`, even when the consumer has
/// 256 items queued (it must not look complete).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_death_is_not_a_clean_stream_end() {
    let (server, gauges) = probe(RpcConfig::default());
    let server = Isolated::serve(server);
    let client = RpcClient::new(&server.addr);
    // The call takes item 0 itself; after a pause, 1..=256 fill the queue; then it hangs.
    let stream =
        ticks_call(&client, &[("millis", 0), ("limit", 257), ("pause", 100)]).await.expect("a stream");
    Gauges::reach(&gauges.ticks, 257, "every item is produced").await;
    tokio::time::sleep(Duration::from_millis(200)).await; // and has arrived
    server.kill();
    tokio::time::sleep(Duration::from_millis(200)).await; // the client notices
    let results: Vec<Result<u64, Status>> = within("the stream", stream.collect()).await;
    assert_eq!(results.len(), 258, "257 items and the error");
    let status = results[257].clone().expect_err("the stream was cut");
    assert_eq!(status.code(), Code::Unavailable, "{status}");
}

/// The serving task is aborted (dropped) with calls in flight: the calls stop on the server
/// and fail on the client, promptly (not when the handler would have finished).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_server_stops_its_calls() {
    let (server, gauges) = probe(RpcConfig::default());
    let server = serve(server).await;
    let client = RpcClient::new(&server.addr);
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { sleep_call(&client, 5_000).await })
        })
        .collect();
    let mut stream = ticks_call(&client, &[("millis", 10)]).await.expect("a stream");
    Gauges::reach(&gauges.started, 3, "the calls run").await;
    let aborted = Instant::now();
    drop(server);
    Gauges::reach(&gauges.cancelled, 3, "the handlers are cancelled").await;
    Gauges::reach(&gauges.streams_dropped, 1, "the stream is dropped").await;
    for call in calls {
        let status = within("the call fails", call).await.expect("joined").expect_err("no server");
        assert_eq!(status.code(), Code::Unavailable, "{status}");
    }
    let end = within("the stream ends", async {
        loop {
            match stream.next().await {
                Some(Ok(_)) => {}
                other => return other,
            }
        }
    })
    .await;
    assert_eq!(end.expect("an error, not a clean end").expect_err("an error").code(), Code::Unavailable);
    assert!(aborted.elapsed() < Duration::from_secs(1), "took {:?}", aborted.elapsed());
    assert_eq!(Gauges::get(&gauges.completed), 0);
}

/// 12. The server stops and comes back on the same port: the same client recovers (after
///     failing with `unavailable` while nobody listens).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reconnects_to_a_restarted_server() {
    let drain = RpcConfig { drain: Duration::from_millis(200), ..RpcConfig::default() };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("bound");
    let server = serve_on(listener, conformance(drain.clone()));
    let client = ConformanceClient::rpc(&server.addr);
    assert_eq!(client.slow(1).await.expect("first server"), 1);
    server.stop().await;

    for _ in 0..3 {
        let status = within("a call to nobody", client.slow(1)).await.expect_err("nobody listens");
        assert_eq!(status.code(), Code::Unavailable, "{status}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let listener = TcpListener::bind(addr).await.expect("the same port again");
    let _server = serve_on(listener, conformance(drain));
    let started = Instant::now();
    let mut failures = 0;
    loop {
        match within("a call", client.slow(1)).await {
            Ok(v) => {
                assert_eq!(v, 1);
                break;
            }
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status}");
                failures += 1;
                assert!(started.elapsed() < Duration::from_secs(5), "no recovery; {failures} failures");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // Connected again: calls work back to back.
    for _ in 0..5 {
        client.whoami().await.expect("recovered");
    }
}

/// 13. Graceful shutdown: a call in flight completes; calls afterwards fail with
///     `unavailable`, promptly (also while the server is still draining).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_drains_calls_in_flight() {
    let (server, gauges) = probe(RpcConfig::default());
    let mut server = serve(server).await;
    let client = RpcClient::new(&server.addr);
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move { sleep_call(&client, 1_000).await })
    };
    Gauges::reach(&gauges.started, 1, "the call runs").await;
    server.trigger_stop();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // While it drains: no new call gets in, and a fresh client is refused at once.
    let started = Instant::now();
    let status =
        within("a call on the draining connection", sleep_call(&client, 1)).await.expect_err("stopping");
    assert_eq!(status.code(), Code::Unavailable, "{status}");
    let status =
        within("a fresh client", sleep_call(&RpcClient::new(&server.addr), 1)).await.expect_err("stopping");
    assert_eq!(status.code(), Code::Unavailable, "{status}");
    assert!(started.elapsed() < Duration::from_millis(500), "refusals took {:?}", started.elapsed());

    assert_eq!(within("the call in flight", in_flight).await.expect("joined").expect("drained"), 1_000);
    assert_eq!(Gauges::get(&gauges.completed), 1);
    within("serve_until returns", &mut server.task).await.expect("joined").expect("clean");
    let status = within("a call afterwards", sleep_call(&client, 1)).await.expect_err("stopped");
    assert_eq!(status.code(), Code::Unavailable, "{status}");
}

/// The drain is bounded: calls still running when it ends are cancelled, and their callers
/// told `unavailable`, when the drain ends, not when the handler would have finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_time_is_enforced() {
    let (server, gauges) = probe(RpcConfig { drain: Duration::from_millis(300), ..RpcConfig::default() });
    let server = serve(server).await;
    let client = RpcClient::new(&server.addr);
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move { sleep_call(&client, 5_000).await })
    };
    Gauges::reach(&gauges.started, 1, "the call runs").await;
    let stopped = Instant::now();
    server.stop().await;
    let status = within("the call", in_flight).await.expect("joined").expect_err("not drained in time");
    assert_eq!(status.code(), Code::Unavailable, "{status}");
    assert!(stopped.elapsed() < Duration::from_secs(1), "took {:?}", stopped.elapsed());
    Gauges::reach(&gauges.cancelled, 1, "the handler is cancelled").await;
    assert_eq!(Gauges::get(&gauges.completed), 0);
}

// ---------------------------------------------------------------------------------------------
// Keepalive

/// 15. A peer that completes the handshake and goes silent is closed after about three
///     keepalive periods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peer_is_closed() {
    let config = RpcConfig { keepalive: Duration::from_millis(100), ..RpcConfig::default() };
    let server = serve(conformance(config)).await;
    let mut raw = Raw::open(&server.addr).await;
    let started = Instant::now();
    raw.assert_closed().await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(1), "closed after {took:?}");
    assert_serving(&server.addr).await;
}

/// A quiet peer that answers the server's pings is alive, and is kept: the server pings a
/// silent connection after `keepalive` (as `RpcConfig::keepalive` says).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_answering_pings_is_kept() {
    let config = RpcConfig { keepalive: Duration::from_millis(100), ..RpcConfig::default() };
    let server = serve(conformance(config)).await;
    let mut raw = Raw::open(&server.addr).await;
    let started = Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_millis(800) {
        match raw.next().await {
            Some(Frame::Ping { nonce }) => {
                pings += 1;
                raw.send(&Frame::Pong { nonce }).await;
            }
            other => panic!("expected pings, got {other:?}"),
        }
    }
    assert!(pings >= 4, "{pings} pings in 800 ms");
    assert_usable(&mut raw, 1).await;
}

/// A peer that pings is kept too, and gets its pongs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinging_peer_is_kept() {
    let config = RpcConfig { keepalive: Duration::from_millis(100), ..RpcConfig::default() };
    let server = serve(conformance(config)).await;
    let mut raw = Raw::open(&server.addr).await;
    for nonce in 0..8 {
        raw.send(&Frame::Ping { nonce }).await;
        loop {
            match raw.next().await {
                Some(Frame::Pong { nonce: n }) if n == nonce => break,
                Some(Frame::Ping { nonce: n }) => raw.send(&Frame::Pong { nonce: n }).await,
                other => panic!("expected the pong {nonce}, got {other:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_usable(&mut raw, 1).await;
}

/// A client whose calls are idle longer than the server's keepalive keeps its connection
/// (its own pings keep it alive) and its calls work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_client_survives_keepalive() {
    let keepalive = RpcConfig { keepalive: Duration::from_millis(100), ..RpcConfig::default() };
    let (server, gauges) = probe(keepalive.clone());
    let server = serve(server).await;
    let client = RpcClient::with_config(&server.addr, keepalive);
    assert_eq!(sleep_call(&client, 1).await.expect("a call"), 1);
    // A call much longer than 3 × keepalive, during which the client sends nothing else.
    assert_eq!(within("a long call", sleep_call(&client, 700)).await.expect("kept alive"), 700);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sleep_call(&client, 1).await.expect("still connected"), 1);
    assert_eq!(Gauges::get(&gauges.cancelled), 0);
}

// ---------------------------------------------------------------------------------------------
// A misbehaving server, as the client sees it

/// A fake server: accepts connections and hands each to `script`.
async fn fake<F, Fut>(script: F) -> (String, tokio::task::JoinHandle<()>)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("bound").to_string();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(script(stream));
        }
    });
    (addr, task)
}

/// Reads the client's handshake and answers with ours.
async fn accept_handshake(stream: &mut TcpStream) {
    let mut hello = [0u8; 8];
    stream.read_exact(&mut hello).await.expect("the client's handshake");
    assert_eq!(hello, HANDSHAKE);
    stream.write_all(&HANDSHAKE).await.expect("our handshake");
}

/// The next request's call id.
async fn next_call(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<u32> {
    loop {
        match Frame::decode(buf, 16 << 20) {
            Ok(Some(Frame::Request { call, .. })) => return Some(call),
            Ok(Some(_)) => {}
            Ok(None) => match stream.read_buf(buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            },
            Err(e) => panic!("the client sent a malformed frame: {e}"),
        }
    }
}

fn fast_client(addr: &str) -> RpcClient {
    RpcClient::with_config(
        addr,
        RpcConfig { handshake_timeout: Duration::from_millis(300), ..RpcConfig::default() },
    )
}

/// Not an svcgen server (an HTTP answer, a refusal, silence): `unavailable`, promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_refuses_foreign_servers() {
    let (http, _a) = fake(|mut s| async move {
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    })
    .await;
    let (refusing, _b) = fake(|mut s| async move {
        let _ = s.write_all(b"SVCG\0\0\0\0").await;
    })
    .await;
    let (silent, _c) = fake(|s| async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(s);
    })
    .await;
    for addr in [http, refusing, silent] {
        let started = Instant::now();
        let status = within("the call", sleep_call(&fast_client(&addr), 1)).await.expect_err("no svcgen");
        assert_eq!(status.code(), Code::Unavailable, "{addr}: {status}");
        assert!(started.elapsed() < Duration::from_secs(1), "{addr}: took {:?}", started.elapsed());
    }
    // Nobody listening at all.
    let free = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = free.local_addr().expect("bound").to_string();
    drop(free);
    let status = within("the call", sleep_call(&fast_client(&addr), 1)).await.expect_err("nobody");
    assert_eq!(status.code(), Code::Unavailable, "{status}");
}

/// A server that sends garbage after the handshake: the call fails with `unavailable`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_survives_a_garbage_server() {
    let (addr, _task) = fake(|mut s| async move {
        accept_handshake(&mut s).await;
        let mut buf = BytesMut::new();
        if next_call(&mut s, &mut buf).await.is_some() {
            let _ = s.write_all(&[0, 0, 0, 6, 99, 0, 0, 0, 0, 1]).await; // kind 99
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
    })
    .await;
    let status = within("the call", sleep_call(&fast_client(&addr), 1)).await.expect_err("garbage");
    assert_eq!(status.code(), Code::Unavailable, "{status}");
    assert!(status.message().contains("unknown frame kind 99"), "{status}");
}

/// Replies to calls the client never made (or already forgot) are ignored; the real reply
/// still arrives. An `Error` whose problem is not readable is `internal`, not a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ignores_stray_replies() {
    let (addr, _task) = fake(|mut s| async move {
        accept_handshake(&mut s).await;
        let mut buf = BytesMut::new();
        while let Some(call) = next_call(&mut s, &mut buf).await {
            let mut out = BytesMut::new();
            Frame::Reply { call: call + 1000, payload: Bytes::from_static(&[0x01]) }.encode(&mut out);
            Frame::StreamItem { call: call + 2000, payload: Bytes::new() }.encode(&mut out);
            Frame::StreamEnd { call: call + 3000 }.encode(&mut out);
            Frame::Pong { nonce: 5 }.encode(&mut out);
            if call == 1 {
                Frame::Reply { call, payload: Codec::MsgPack.encode(&7u64).expect("u64") }.encode(&mut out);
            } else {
                Frame::Error { call, problem: Bytes::from_static(&[0xc1, 0xc1]) }.encode(&mut out);
            }
            if s.write_all(&out).await.is_err() {
                return;
            }
        }
    })
    .await;
    let client = RpcClient::new(&addr);
    assert_eq!(within("the first call", sleep_call(&client, 7)).await.expect("the real reply"), 7);
    let status = within("the second call", sleep_call(&client, 7)).await.expect_err("an error frame");
    assert_eq!(status.code(), Code::Internal, "{status}");
}

/// A connection that dies right after the handshake fails the call; it never hangs (the call
/// is registered on a connection that is already closing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_dying_at_once_never_hangs_a_call() {
    let (addr, _task) = fake(|mut s| async move {
        accept_handshake(&mut s).await;
        // gone
    })
    .await;
    for attempt in 0..200 {
        let client = RpcClient::new(&addr);
        let outcome = tokio::time::timeout(Duration::from_secs(1), sleep_call(&client, 1))
            .await
            .unwrap_or_else(|_| panic!("attempt {attempt}: the call hung on a dead connection"));
        let status = outcome.expect_err("a reply from nobody");
        assert_eq!(status.code(), Code::Unavailable, "{status}");
    }
}
