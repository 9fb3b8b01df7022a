//! Throughput, percentiles and CPU time per call over the rounds of one cell (a peer at one
//! concurrency).

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::load::{Run, histogram, process_cpu, this_thread_cpu, threads_cpu};

/// Everything measured for one peer at one concurrency, over every round.
#[derive(Debug)]
pub struct Cell {
    calls: u64,
    elapsed: Duration,
    latencies: Histogram<u64>,
    cpu: Duration,
    server_cpu: Duration,
    client_cpu: Duration,
    /// Per round: calls per second.
    pub round_throughput: Vec<f64>,
    /// Per round: calls per CPU second (the whole process: server and client).
    pub round_efficiency: Vec<f64>,
    /// Per round: p50 in microseconds.
    pub round_p50: Vec<f64>,
}

impl Default for Cell {
    fn default() -> Self {
        Self {
            calls: 0,
            elapsed: Duration::ZERO,
            latencies: histogram(),
            cpu: Duration::ZERO,
            server_cpu: Duration::ZERO,
            client_cpu: Duration::ZERO,
            round_throughput: Vec::new(),
            round_efficiency: Vec::new(),
            round_p50: Vec::new(),
        }
    }
}

/// CPU time spent during one round.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu {
    /// The whole process.
    pub process: Duration,
    /// The server runtime's thread.
    pub server: Duration,
    /// The client runtime's thread.
    pub client: Duration,
}

impl Cpu {
    /// CPU time so far: the process, the threads named `server_thread`, the calling thread
    /// (the client runtime's).
    #[must_use]
    pub fn now(server_thread: &str) -> Self {
        Self { process: process_cpu(), server: threads_cpu(server_thread), client: this_thread_cpu() }
    }

    /// CPU time spent since `self` was read with [`Cpu::now`].
    #[must_use]
    pub fn elapsed(self, server_thread: &str) -> Self {
        let now = Self::now(server_thread);
        Self {
            process: now.process.saturating_sub(self.process),
            server: now.server.saturating_sub(self.server),
            client: now.client.saturating_sub(self.client),
        }
    }
}

impl Cell {
    /// Adds a timed round and the CPU time spent during it.
    ///
    /// # Panics
    /// Never: every histogram here has the same bounds.
    pub fn add(&mut self, run: &Run, cpu: Cpu) {
        self.calls += run.calls;
        self.elapsed += run.elapsed;
        self.cpu += cpu.process;
        self.server_cpu += cpu.server;
        self.client_cpu += cpu.client;
        self.round_throughput.push(per_second(run.calls, run.elapsed));
        self.round_efficiency.push(per_second(run.calls, cpu.process));
        self.round_p50.push(micros(run.latencies.value_at_quantile(0.5)));
        self.latencies.add(&run.latencies).expect("histograms of the same bounds");
    }

    /// Calls per second over all rounds.
    #[must_use]
    pub fn throughput(&self) -> f64 {
        per_second(self.calls, self.elapsed)
    }

    /// Calls per CPU second (the whole process) over all rounds.
    #[must_use]
    pub fn efficiency(&self) -> f64 {
        per_second(self.calls, self.cpu)
    }

    /// The latency at quantile `q` (0 to 1) over every call of every round, in microseconds.
    #[must_use]
    pub fn percentile_us(&self, q: f64) -> f64 {
        micros(self.latencies.value_at_quantile(q))
    }

    /// CPU time per call, in microseconds: the whole process, the server thread, the client thread.
    #[must_use]
    pub fn cpu_per_call_us(&self) -> (f64, f64, f64) {
        let per = |d: Duration| d.as_secs_f64() * 1e6 / to_f64(self.calls.max(1));
        (per(self.cpu), per(self.server_cpu), per(self.client_cpu))
    }

    /// Calls timed.
    #[must_use]
    pub fn calls(&self) -> u64 {
        self.calls
    }
}

/// Nanoseconds in microseconds.
#[must_use]
pub fn micros(nanos: u64) -> f64 {
    to_f64(nanos) / 1_000.0
}

/// `count` per second of `elapsed` (0 for no time).
#[must_use]
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    if elapsed.is_zero() { 0.0 } else { to_f64(count) / elapsed.as_secs_f64() }
}

/// `u64` to `f64` (exact below 2^53, which every count here is).
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn to_f64(n: u64) -> f64 {
    n as f64
}

/// The median of per-round ratios `a[i] / b[i]` (rounds run back to back, so the ratio of one
/// round is little affected by what else the machine was doing then).
#[must_use]
pub fn median_ratio(a: &[f64], b: &[f64]) -> f64 {
    let mut ratios: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    ratios.sort_by(f64::total_cmp);
    match ratios.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => ratios[n / 2],
        n => f64::midpoint(ratios[n / 2 - 1], ratios[n / 2]),
    }
}
