//! `baselines/targets.toml`: the targets, stated once and applied as written.

use std::path::Path;

use serde::Deserialize;

use crate::error::{ReportError, read};

/// Which result file a test reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A Criterion bench group (its headline bench plus latency side files).
    #[default]
    Criterion,
    /// `target/mcpbench/memory.json`.
    Memory,
    /// `target/mcpbench/sustained.json`.
    Sustained,
    /// `target/mcpbench/connections.json` (`scripts/load connections`), with
    /// `connections-bare.json` beside it when the bare ceiling ran the same load.
    Connections,
}

/// One of the eight tests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Test {
    /// Bench group name (`registry`, ...).
    pub name: String,
    /// Heading in the report.
    pub title: String,
    /// Where its results are.
    #[serde(default)]
    pub kind: Kind,
    /// The bench whose throughput and latency stand for the test.
    pub headline: Option<String>,
    /// The bench whose latency file stands for the test, when not the headline
    /// (a throughput headline can be pipelined while latency is a round trip).
    pub latency: Option<String>,
    /// The seed report's published throughput for this test, msg/s.
    pub seed_ops_per_s: Option<f64>,
    /// What the seed's code really measured.
    pub seed_note: Option<String>,
}

/// A component bench and its ceiling, with the least ratio expected.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ratio {
    /// The component bench.
    pub bench: String,
    /// The raw-library bench it is built on.
    pub ceiling: String,
    /// Least acceptable bench/ceiling throughput ratio.
    pub min: f64,
    /// Why a ratio above 1.0 here does not mean the ceiling is weak, when it was
    /// measured not to (shown beside "ceiling too weak" in the report).
    #[serde(default)]
    pub note: Option<String>,
}

/// The whole targets file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Least throughput of every test's headline, ops/s.
    pub min_ops_per_s: f64,
    /// Largest p95 latency of every headline with a latency file, ns.
    pub max_p95_ns: u64,
    /// Largest p99 latency, ns.
    pub max_p99_ns: u64,
    /// Largest allocator-counted leak of any memory component, bytes kept per
    /// item (the slope between runs with N and 2N items).
    pub max_leak_per_item_bytes: f64,
    /// Largest live-bytes growth over the sustained run, bytes.
    pub max_sustained_growth_bytes: i64,
    /// Largest server heap per idle connection in the connection load, bytes.
    #[serde(default)]
    pub max_bytes_per_idle_connection: Option<f64>,
    /// Least capacity of mcpbench-server at the SLO as a share of the bare
    /// ceiling's, both from one `scripts/load capacity` run.
    #[serde(default)]
    pub min_capacity_ratio: Option<f64>,
    /// The eight tests, in report order.
    pub test: Vec<Test>,
    /// Ceiling ratios.
    #[serde(default)]
    pub ratio: Vec<Ratio>,
}

impl Targets {
    /// Reads and checks a targets file.
    pub fn load(path: &Path) -> Result<Targets, ReportError> {
        let text = read(path, "the targets (baselines/targets.toml)")?;
        let targets: Targets = toml::from_str(&text).map_err(|e| ReportError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let invalid = |reason: String| {
            Err(ReportError::Invalid {
                path: path.to_path_buf(),
                reason,
            })
        };
        if targets.test.is_empty() {
            return invalid("no [[test]] entries".into());
        }
        for t in &targets.test {
            if t.kind == Kind::Criterion && t.headline.is_none() {
                return invalid(format!("test {:?} needs a headline bench", t.name));
            }
        }
        for r in &targets.ratio {
            if r.min.is_nan() || r.min <= 0.0 {
                return invalid(format!("ratio of {} must have min > 0", r.bench));
            }
        }
        Ok(targets)
    }
}
