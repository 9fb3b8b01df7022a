//! The closed-loop driver, the callers of each peer, CPU pinning and CPU time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::bench::{BenchClient, Payload};
use crate::peers::{PbPayload, grpc, tarpc_echo};
use crate::raw::RawClient;

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
