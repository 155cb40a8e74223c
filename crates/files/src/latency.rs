//! `target/mcpbench/latency/<bench id>.json`: the percentiles of one bench,
//! written by the benches (`mcpbench::latency::Recorder`), read by the report.

use serde::{Deserialize, Serialize};

use crate::env::Environment;

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
