//! The queue benchmark's cells (request/reply) and flows (events); the histogram, the
//! closed-loop run, CPU time and ratios are the RPC benchmark's (`svcgen-bench-rpc`).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
pub use svcgen_bench_rpc::load::{Run, histogram, process_cpu};
pub use svcgen_bench_rpc::stats::{median_ratio, micros, per_second, to_f64};

/// Every round of one request/reply peer at one number of callers.
#[derive(Debug)]
pub struct Cell {
    calls: u64,
    elapsed: Duration,
    cpu: Duration,
    latencies: Histogram<u64>,
    /// Per round: calls per second.
    pub round_throughput: Vec<f64>,
    /// Per round: p50 in microseconds.
    pub round_p50: Vec<f64>,
}

impl Default for Cell {
    fn default() -> Self {
        Self {
            calls: 0,
            elapsed: Duration::ZERO,
            cpu: Duration::ZERO,
            latencies: histogram(),
            round_throughput: Vec::new(),
            round_p50: Vec::new(),
        }
    }
}

impl Cell {
    /// Adds a timed round and the CPU time this process spent during it.
    ///
    /// # Panics
    /// Never: every histogram here has the same bounds.
    pub fn add(&mut self, run: &Run, cpu: Duration) {
        self.calls += run.calls;
        self.elapsed += run.elapsed;
        self.cpu += cpu;
        self.round_throughput.push(per_second(run.calls, run.elapsed));
        self.round_p50.push(micros(run.latencies.value_at_quantile(0.5)));
        self.latencies.add(&run.latencies).expect("histograms of the same bounds");
    }

    /// Calls per second over all rounds.
    #[must_use]
    pub fn throughput(&self) -> f64 {
        per_second(self.calls, self.elapsed)
    }

    /// The latency at quantile `q` over every call of every round, in microseconds.
    #[must_use]
    pub fn percentile_us(&self, q: f64) -> f64 {
        micros(self.latencies.value_at_quantile(q))
    }

    /// CPU time of this process per call, in microseconds (the brokers' own is not in it).
    #[must_use]
    pub fn cpu_per_call_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / to_f64(self.calls.max(1))
    }
}

/// Every round of one event peer.
#[derive(Debug, Default)]
pub struct Flow {
    events: u64,
    elapsed: Duration,
    cpu: Duration,
    /// Per round: events handled per second.
    pub round_rate: Vec<f64>,
}

impl Flow {
    /// Adds a round: `events` published and handled in `elapsed`, `cpu` spent by this process.
    pub fn add(&mut self, events: u64, elapsed: Duration, cpu: Duration) {
        self.events += events;
        self.elapsed += elapsed;
        self.cpu += cpu;
        self.round_rate.push(per_second(events, elapsed));
    }

    /// Events handled per second over all rounds.
    #[must_use]
    pub fn rate(&self) -> f64 {
        per_second(self.events, self.elapsed)
    }

    /// CPU time of this process per event, in microseconds.
    #[must_use]
    pub fn cpu_per_event_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / to_f64(self.events.max(1))
    }
}

/// Waits until `done()` or `timeout`; whether it is done.
pub async fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= end {
            return false;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    true
}
