//! Throughput and latency percentiles over the rounds of one target.

use std::time::Duration;

use crate::load::Run;

/// Everything measured for one target in one scenario, over every round.
#[derive(Debug, Default)]
pub struct Stats {
    requests: u64,
    elapsed: Duration,
    rounds: Vec<f64>,
    latencies: Vec<u64>,
    sorted: bool,
    server_cpu: Duration,
    load_cpu: Duration,
    round_p99: Vec<f64>,
}

impl Stats {
    /// Adds a timed round, with the CPU time the server threads and the load thread spent on it.
    pub fn add(&mut self, mut run: Run, server_cpu: Duration, load_cpu: Duration) {
        run.latencies.sort_unstable();
        self.round_p99.push(nearest_rank_us(&run.latencies, 99.0));
        self.requests += run.requests;
        self.elapsed += run.elapsed;
        self.rounds.push(per_second(run.requests, run.elapsed));
        self.latencies.extend(run.latencies);
        self.sorted = false;
        self.server_cpu += server_cpu;
        self.load_cpu += load_cpu;
    }

    /// The throughput of each round, in order.
    #[must_use]
    pub fn rounds(&self) -> &[f64] {
        &self.rounds
    }

    /// The p99 latency of each round, in microseconds, in order.
    #[must_use]
    pub fn round_p99(&self) -> &[f64] {
        &self.round_p99
    }

    /// CPU time of the server threads per request, in microseconds.
    #[must_use]
    pub fn server_cpu_us(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / to_f64(self.requests.max(1))
    }

    /// CPU time of the load generator's (or client's) thread per request, in microseconds.
    #[must_use]
    pub fn load_cpu_us(&self) -> f64 {
        self.load_cpu.as_secs_f64() * 1e6 / to_f64(self.requests.max(1))
    }

    /// Requests per second over all rounds.
    #[must_use]
    pub fn throughput(&self) -> f64 {
        per_second(self.requests, self.elapsed)
    }

    /// The lowest and highest throughput of a single round.
    #[must_use]
    pub fn round_range(&self) -> (f64, f64) {
        let min = self.rounds.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self.rounds.iter().copied().fold(0.0, f64::max);
        (min, max)
    }

    /// The latency at `p` (0 to 100) over every request of every round, in microseconds
    /// (nearest rank).
    pub fn percentile_us(&mut self, p: f64) -> f64 {
        if !self.sorted {
            self.latencies.sort_unstable();
            self.sorted = true;
        }
        nearest_rank_us(&self.latencies, p)
    }

    /// Requests timed.
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.requests
    }
}

/// The value at `p` (0 to 100) of sorted nanoseconds, in microseconds (nearest rank).
fn nearest_rank_us(sorted: &[u64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    let rank = (p / 100.0 * to_f64(n as u64)).ceil();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 1 ≤ rank ≤ n
    let index = if rank < 1.0 { 0 } else { (rank as usize).min(n) - 1 };
    to_f64(sorted[index]) / 1_000.0
}

fn per_second(requests: u64, elapsed: Duration) -> f64 {
    if elapsed.is_zero() { 0.0 } else { to_f64(requests) / elapsed.as_secs_f64() }
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

/// CPU time spent so far by this process's threads named `name` (Linux `schedstat`; zero
/// where it cannot be read).
#[must_use]
pub fn threads_cpu(name: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    tasks
        .flatten()
        .filter(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.trim_end() == name))
        .map(|task| schedstat(&task.path().join("schedstat")))
        .sum()
}

/// CPU time spent so far by the calling thread.
#[must_use]
pub fn this_thread_cpu() -> Duration {
    schedstat(std::path::Path::new("/proc/thread-self/schedstat"))
}

fn schedstat(path: &std::path::Path) -> Duration {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}
