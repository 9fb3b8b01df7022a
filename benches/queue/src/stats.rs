//! Percentiles, throughput, CPU time and per-round ratios.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// A histogram of nanoseconds from 1 µs to 100 s, 3 significant digits.
///
/// # Panics
/// Never: the bounds are valid.
#[must_use]
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// What one closed-loop run of calls did.
#[derive(Debug)]
pub struct Run {
    /// Calls completed.
    pub calls: u64,
    /// From the start to the last caller's last reply.
    pub elapsed: Duration,
    /// Every call's latency, in nanoseconds.
    pub latencies: Histogram<u64>,
}

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

fn micros(nanos: u64) -> f64 {
    to_f64(nanos) / 1_000.0
}

/// `count` per second of `elapsed`.
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

/// The median of per-round ratios `a[i] / b[i]`.
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

/// CPU time spent so far by every thread of this process (Linux `schedstat`; zero where it
/// cannot be read).
#[must_use]
pub fn process_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    tasks
        .flatten()
        .map(|task| {
            std::fs::read_to_string(task.path().join("schedstat"))
                .ok()
                .and_then(|text| text.split_whitespace().next()?.parse().ok())
                .map_or(Duration::ZERO, Duration::from_nanos)
        })
        .sum()
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
