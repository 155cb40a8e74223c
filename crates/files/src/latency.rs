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
