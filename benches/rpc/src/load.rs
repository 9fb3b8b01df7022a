//! The closed-loop driver, the callers of each peer, CPU pinning and CPU time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::bench::{BenchClient, Payload};
use crate::peers::{PbPayload, grpc, tarpc_echo};
use crate::raw::RawClient;
use crate::stats::{Cell, Cpu};

/// One client of each peer, with the payload it sends. Cheap to clone (every client shares its
/// one connection).
#[derive(Clone)]
pub enum Caller {
    /// The generated client over our RPC binding (`BenchClient::rpc`).
    Svcgen(BenchClient, Arc<Payload>),
    /// The hand-written floor.
    Raw(RawClient, Arc<Payload>),
    /// tarpc.
    Tarpc(tarpc_echo::TarpcEchoClient, Arc<Payload>),
    /// tonic.
    Tonic(grpc::echo_client::EchoClient<tonic::transport::Channel>, Arc<PbPayload>),
}

impl Caller {
    /// One call: an owned copy of the payload (as when a caller builds its request) sent and
    /// received back, checked for size.
    ///
    /// # Errors
    /// The call's failure, as text.
    pub async fn call(&self) -> Result<(), String> {
        let ok = match self {
            Caller::Svcgen(client, payload) => {
                client.echo((**payload).clone()).await.map_err(|e| e.to_string())?.id == payload.id
            }
            Caller::Raw(client, payload) => {
                client.echo((**payload).clone()).await.map_err(|e| e.to_string())?.id == payload.id
            }
            Caller::Tarpc(client, payload) => {
                client
                    .echo(tarpc::context::current(), (**payload).clone())
                    .await
                    .map_err(|e| e.to_string())?
                    .id
                    == payload.id
            }
            Caller::Tonic(client, payload) => {
                // The generated tonic client takes `&mut self`: a clone per call, as tonic
                // documents (it shares the channel).
                let mut client = client.clone();
                client
                    .echo(tonic::Request::new((**payload).clone()))
                    .await
                    .map_err(|e| e.to_string())?
                    .into_inner()
                    .id
                    == payload.id
            }
        };
        if ok { Ok(()) } else { Err("the echo came back different".to_owned()) }
    }

    /// The whole echoed payload (for the check that every peer answers alike).
    ///
    /// # Errors
    /// The call's failure, as text.
    pub async fn echo(&self) -> Result<Payload, String> {
        match self {
            Caller::Svcgen(client, payload) => {
                client.echo((**payload).clone()).await.map_err(|e| e.to_string())
            }
            Caller::Raw(client, payload) => client.echo((**payload).clone()).await.map_err(|e| e.to_string()),
            Caller::Tarpc(client, payload) => {
                client.echo(tarpc::context::current(), (**payload).clone()).await.map_err(|e| e.to_string())
            }
            Caller::Tonic(client, payload) => client
                .clone()
                .echo(tonic::Request::new((**payload).clone()))
                .await
                .map(|r| r.into_inner().into())
                .map_err(|e| e.to_string()),
        }
    }
}

/// What one closed-loop run did.
#[derive(Debug)]
pub struct Run {
    /// Calls completed.
    pub calls: u64,
    /// From the start to the last caller's last reply.
    pub elapsed: Duration,
    /// Every call's latency, in nanoseconds.
    pub latencies: Histogram<u64>,
}

/// A histogram of nanoseconds from 1 µs to 100 s, 3 significant digits.
///
/// # Panics
/// Never: the bounds are valid.
#[must_use]
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// One closed-loop caller: anything that makes one call and says whether it went well. Shared
/// with the other benchmarks (`svcgen-bench-socket`), which drive their own peers with
/// [`closed_loop_each`].
pub trait Call: Clone + Send + Sync + 'static {
    /// One call, checked.
    ///
    /// # Errors
    /// The call's failure, as text.
    fn call(&self) -> impl Future<Output = Result<(), String>> + Send;
}

impl Call for Caller {
    fn call(&self) -> impl Future<Output = Result<(), String>> + Send {
        Caller::call(self)
    }
}

/// Runs `callers` callers in a closed loop (each makes its next call when its last one is
/// answered) for `duration`, each a task spawned in the current runtime, all on `caller`'s one
/// connection. Must be called inside a tokio runtime.
///
/// # Errors
/// The first failed call.
pub async fn closed_loop<C: Call>(caller: &C, callers: usize, duration: Duration) -> Result<Run, String> {
    closed_loop_each(&vec![caller.clone(); callers], duration).await
}

/// Runs each of `callers` in a closed loop of its own (each makes its next call when its last
/// one is answered) for `duration`, each a task spawned in the current runtime: one caller per
/// connection when each was connected on its own. Must be called inside a tokio runtime.
///
/// # Errors
/// The first failed call.
pub async fn closed_loop_each<C: Call>(callers: &[C], duration: Duration) -> Result<Run, String> {
    let start = Instant::now();
    let end = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for caller in callers {
        let caller = caller.clone();
        tasks.spawn(async move {
            // Plain pushes while timing (a histogram per caller would be a cache miss per
            // call); the histogram is filled afterwards.
            let mut latencies = Vec::with_capacity(4096);
            loop {
                let sent = Instant::now();
                caller.call().await?;
                let now = Instant::now();
                latencies.push(u64::try_from((now - sent).as_nanos()).unwrap_or(u64::MAX));
                if now >= end {
                    return Ok::<_, String>((latencies, now));
                }
            }
        });
    }
    let mut all = Vec::new();
    let mut last = start;
    while let Some(done) = tasks.join_next().await {
        let (one, finished) = done.map_err(|e| format!("a caller task failed: {e}"))??;
        all.push(one);
        last = last.max(finished);
    }
    let elapsed = last - start;
    let mut latencies = histogram();
    for nanos in all.into_iter().flatten() {
        latencies.saturating_record(nanos);
    }
    Ok(Run { calls: latencies.len(), elapsed, latencies })
}

/// A setting from the environment variable `name`, or `default` when it is not set.
///
/// # Panics
/// When it is set to something that does not parse: a mistake of whoever runs the benchmark.
#[must_use]
pub fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| panic!("{name}={text:?} is not valid")),
        Err(_) => default,
    }
}

/// A comma-separated list of settings from the environment variable `name` (or `default`).
///
/// # Panics
/// As [`env`].
#[must_use]
pub fn env_list<T: std::str::FromStr>(name: &str, default: &str) -> Vec<T> {
    let text = std::env::var(name).unwrap_or_else(|_| default.to_owned());
    text.split(',')
        .map(|item| item.trim().parse().unwrap_or_else(|_| panic!("{name}={text:?}: a comma-separated list")))
        .collect()
}

/// Starts a thread named `name` (pinned to `core`, if given) running a current-thread tokio
/// runtime (its blocking pool pinned likewise), runs `start` in it — which spawns the servers
/// and returns what the caller needs, their addresses — then keeps the runtime serving until
/// the process ends. Returns what `start` returned and whether the thread was pinned.
///
/// # Panics
/// When the thread or its runtime cannot be made.
pub fn server_thread<T, F>(
    name: &'static str,
    core: Option<core_affinity::CoreId>,
    start: impl FnOnce() -> F + Send + 'static,
) -> (T, bool)
where
    T: Send + 'static,
    F: Future<Output = T> + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let pinned = pin(core);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_name(name)
                .on_thread_start(move || {
                    let _ = pin(core);
                })
                .build()
                .expect("a server runtime");
            rt.block_on(async move {
                let started = start().await;
                tx.send((started, pinned)).expect("the main thread waits");
                std::future::pending::<()>().await;
            });
        })
        .expect("a server thread");
    rx.recv().expect("the servers start")
}

/// The client side's current-thread tokio runtime, on the calling thread: pins the calling
/// thread (and the runtime's blocking pool) to `core`, if given. Returns the runtime and
/// whether the thread was pinned.
///
/// # Panics
/// When the runtime cannot be made.
#[must_use]
pub fn client_runtime(core: Option<core_affinity::CoreId>) -> (tokio::runtime::Runtime, bool) {
    let pinned = pin(core);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_start(move || {
            let _ = pin(core);
        })
        .build()
        .expect("a client runtime");
    (rt, pinned)
}

/// How long a comparison runs.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Seconds per peer per round.
    pub secs: f64,
    /// Seconds of warm-up before each timed run (the first of each peer is twice as long).
    pub warm_up: f64,
    /// Timed rounds.
    pub rounds: usize,
    /// The name of the thread that runs the servers (its CPU time is shown apart).
    pub server_thread: &'static str,
}

impl Timing {
    /// The timing from `SVCGEN_BENCH_SECS`, `SVCGEN_BENCH_WARMUP` (default 0.2) and
    /// `SVCGEN_BENCH_ROUNDS`, with these defaults.
    ///
    /// # Panics
    /// As [`env`].
    #[must_use]
    pub fn from_env(secs: f64, rounds: usize, server_thread: &'static str) -> Self {
        Self {
            secs: env("SVCGEN_BENCH_SECS", secs),
            warm_up: env("SVCGEN_BENCH_WARMUP", 0.2),
            rounds: env("SVCGEN_BENCH_ROUNDS", rounds),
            server_thread,
        }
    }
}

/// Compares peers: each peer's callers (one task each, see [`closed_loop_each`]) warmed up,
/// then `rounds` rounds in which every peer runs once, in a rotating order, each run after a
/// short warm-up of its own. Must be called outside the runtime `rt`, on the client thread.
///
/// # Panics
/// When a call fails: the benchmark has no figure to give then.
#[must_use]
pub fn compare<C: Call>(rt: &tokio::runtime::Runtime, peers: &[Vec<C>], timing: &Timing) -> Vec<Cell> {
    let run = |callers: &[C], secs: f64| {
        rt.block_on(closed_loop_each(callers, Duration::from_secs_f64(secs))).expect("a clean run")
    };
    for callers in peers {
        run(callers, timing.warm_up * 2.0);
    }
    let mut cells: Vec<Cell> = peers.iter().map(|_| Cell::default()).collect();
    for round in 0..timing.rounds {
        for k in 0..peers.len() {
            let p = (round + k) % peers.len();
            run(&peers[p], timing.warm_up);
            let before = Cpu::now(timing.server_thread);
            let result = run(&peers[p], timing.secs);
            cells[p].add(&result, before.elapsed(timing.server_thread));
        }
    }
    cells
}

/// Pins the calling thread to `core`, if given; whether it was pinned.
#[must_use]
pub fn pin(core: Option<core_affinity::CoreId>) -> bool {
    core.is_some_and(core_affinity::set_for_current)
}

/// The two cores the server and the client runtimes are pinned to (the first two this process
/// may run on), or `None` when there are fewer than two or pinning is turned off.
#[must_use]
pub fn cores(enabled: bool) -> Option<(core_affinity::CoreId, core_affinity::CoreId)> {
    if !enabled {
        return None;
    }
    let ids = core_affinity::get_core_ids()?;
    match ids.as_slice() {
        [a, b, ..] => Some((*a, *b)),
        _ => None,
    }
}

/// CPU time spent so far by every thread of this process (Linux `schedstat`, nanoseconds;
/// zero where it cannot be read).
#[must_use]
pub fn process_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    tasks.flatten().map(|task| schedstat(&task.path().join("schedstat"))).sum()
}

/// CPU time spent so far by this process's threads named `name`.
#[must_use]
pub fn threads_cpu(name: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    tasks
        .flatten()
        .filter(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.trim_end() == name))
        .map(|task| schedstat(&task.path().join("schedstat")))
        .sum()
}

fn schedstat(path: &std::path::Path) -> Duration {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// CPU time spent so far by the calling thread.
#[must_use]
pub fn this_thread_cpu() -> Duration {
    schedstat(std::path::Path::new("/proc/thread-self/schedstat"))
}
