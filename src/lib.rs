//! Shared support for the mcpbench benches: one place for the Criterion
//! configuration, latency histograms, environment capture, result files, the
//! counting allocator, thread and batch timing, realistic MCP messages, and the
//! flamegraph profiler. A bench file reads as the workload it measures.
//!
//! The measuring rules are in `docs/method.md`; each module says
//! which rule it implements.

pub use mcpbench_alloc as alloc;
pub mod args;
pub mod ceilings;
/// Where and when a result was measured (shared with the report).
pub use mcpbench_files::env;
pub mod files;
pub mod group;
pub mod harness;
pub mod http;
pub mod http_ceiling;
pub mod instructions;
pub mod latency;
pub mod messages;
pub mod parallel;
pub mod profile;
pub mod results;
pub mod workloads;

use std::time::Duration;

use criterion::Criterion;

/// Criterion's warm-up time in every bench (and what latency recorders skip).
pub const WARM_UP: Duration = Duration::from_secs(1);
/// Criterion's measurement time in every bench.
pub const MEASUREMENT: Duration = Duration::from_secs(3);

/// The one Criterion configuration every bench uses: 1 s warm-up, 3 s of
/// measurement, the flamegraph profiler for `--profile-time`, then the command line.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .with_profiler(profile::Flamegraph::default())
        .configure_from_args()
}

/// The warm-up latency recorders should skip: none in `--test` mode (each bench
/// runs once), [`WARM_UP`] otherwise.
pub fn recorder_warm_up() -> Duration {
    if args::BenchArgs::from_env().test {
        Duration::ZERO
    } else {
        WARM_UP
    }
}

/// A multi-threaded tokio runtime with `workers` worker threads.
pub fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start a tokio runtime: {e}"))
}

/// Indices `0..n` in a fixed scattered order (a multiplicative permutation), so
/// lookups do not walk keys in insertion order.
pub fn scattered(n: usize) -> impl Iterator<Item = usize> {
    // 0x9E37_79B9 is odd and, being prime, coprime with any n it does not divide.
    const STEP: usize = 0x9E37_79B9;
    let step = if n % STEP == 0 { 1 } else { STEP % n.max(1) };
    let step = if step == 0 || gcd(step, n) != 1 {
        1
    } else {
        step
    };
    (0..n).map(move |i| (i * step) % n.max(1))
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scattered_is_a_permutation() {
        for n in [1, 2, 10, 100_000] {
            let mut v: Vec<usize> = super::scattered(n).collect();
            v.sort_unstable();
            assert_eq!(v, (0..n).collect::<Vec<_>>());
        }
    }
}
