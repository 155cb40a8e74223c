//! `target/mcpbench/latency/<bench id>.json`: the percentiles of one bench,
//! written by the benches (`mcpbench::latency::Recorder`), read by the report.

use serde::{Deserialize, Serialize};

use crate::env::Environment;

/// Longest latency a histogram holds, ns: one hour (a longer one is a stuck
/// run, recorded at this bound).
pub const HISTOGRAM_MAX_NS: u64 = 3_600_000_000_000;

/// The one histogram configuration of the workspace: nanoseconds from 1 to
/// [`HISTOGRAM_MAX_NS`], 3 significant digits. Benches, load shards and merges
/// use it, so their histograms add exactly.
pub fn histogram() -> hdrhistogram::Histogram<u64> {
    // Constant bounds within hdrhistogram's limits: this cannot fail.
    hdrhistogram::Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3)
        .expect("valid histogram bounds")
}

/// Most windows a run's calls are split into ([`window_ms`]).
pub const MAX_WINDOWS: u64 = 120;

/// The histogram of one window of a run: nanoseconds, 2 significant digits (a
/// percentile within 1%), resolution from 1 µs: about 26 KB, so a run's
/// [`MAX_WINDOWS`] stay small. Windows add exactly to each other, not to
/// [`histogram`].
pub fn window_histogram() -> hdrhistogram::Histogram<u64> {
    // Constant bounds within hdrhistogram's limits: this cannot fail.
    hdrhistogram::Histogram::new_with_bounds(1_000, HISTOGRAM_MAX_NS, 2)
        .expect("valid histogram bounds")
}

/// The window length of a run of `duration_s` seconds: one second, longer for
/// runs over [`MAX_WINDOWS`] seconds (whole seconds, at most that many windows).
///
/// ```
/// use mcpbench_files::latency::window_ms;
/// assert_eq!(window_ms(10.0), 1_000);
/// assert_eq!(window_ms(120.0), 1_000);
/// assert_eq!(window_ms(121.0), 2_000);
/// assert_eq!(window_ms(86_400.0), 720_000);
/// ```
pub fn window_ms(duration_s: f64) -> u64 {
    let seconds = if duration_s.is_finite() && duration_s > 0.0 {
        duration_s.ceil() as u64
    } else {
        1
    };
    seconds.div_ceil(MAX_WINDOWS).max(1) * 1_000
}

/// The calls' latency over time: one entry per window of their due time, so a
/// stall of the machine shows as one bad window among good ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyWindows {
    /// Window length, ms (0: none recorded).
    pub window_ms: u64,
    /// The windows in order, from the start of the calls.
    pub windows: Vec<WindowLatency>,
}

/// The calls due in one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowLatency {
    /// Samples (calls answered, and calls counted at their deadline).
    pub count: u64,
    /// Median, ns (2 significant digits).
    pub p50: u64,
    /// 99th percentile, ns.
    pub p99: u64,
    /// Largest, ns.
    pub max: u64,
}

impl LatencyWindows {
    /// The windows with at least `min_count` samples, and how many of them have
    /// p99 within `slo_ns`.
    pub fn within(&self, slo_ns: u64, min_count: u64) -> (usize, usize) {
        let counted: Vec<&WindowLatency> = self
            .windows
            .iter()
            .filter(|w| w.count >= min_count)
            .collect();
        let good = counted.iter().filter(|w| w.p99 <= slo_ns).count();
        (good, counted.len())
    }
}

/// Schema tag of [`LatencyFile`].
pub const LATENCY_SCHEMA: &str = "mcpbench.latency/1";

/// Percentiles of one bench id, as written to its side file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyFile {
    /// Always [`LATENCY_SCHEMA`].
    pub schema: String,
    /// The bench id (`group/function/parameter`).
    pub id: String,
    /// How each value was obtained (`per-op`, or `per-op, batches of K`).
    pub method: String,
    /// `closed-loop` or `open-loop`.
    #[serde(rename = "loop")]
    pub load: String,
    /// Always `ns`.
    pub unit: String,
    /// Number of values recorded; all of them are in the percentiles.
    pub count: u64,
    /// Smallest value.
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest value.
    pub max: u64,
    /// Mean.
    pub mean: f64,
    /// Where it was measured.
    pub environment: Environment,
}
