//! `target/mcpbench/scenario.json`: one run of `mcpbench-load run` (a scenario of
//! stages, a weighted mix of operations, session churn and thresholds against
//! any MCP server), written by the load tool, read by the tables and by users'
//! own tools. Every operation carries its counts and its whole latency histogram
//! (HdrHistogram V2 + DEFLATE, base64: HdrHistogram's own tools read it).

use serde::{Deserialize, Serialize};

use crate::Invalid;
use crate::invalid;

/// The schema of [`ScenarioFile`].
pub const SCENARIO_SCHEMA: &str = "mcpbench.scenario/1";

/// One stage as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRun {
    /// Seconds.
    pub duration_s: f64,
    /// Connections at its end (ramped to, linearly, from the previous stage's).
    pub connections: u64,
    /// Calls per second per connection during it.
    pub rate_per_connection: f64,
    /// `constant` or `poisson`.
    pub arrivals: String,
}

/// Latency percentiles, ns, from one histogram (open-loop: from each call's due
/// time to its reply).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

/// An error text and how many calls got it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCount {
    /// What went wrong, as counted (grouped by this text).
    pub why: String,
    /// How many times.
    pub count: u64,
}

/// One operation of the mix, as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRun {
    /// `method`, or `tools/call:TOOL`: how thresholds name it.
    pub label: String,
    /// The JSON-RPC method.
    pub method: String,
    /// Its weight in the mix.
    pub weight: u32,
    /// Requests sent.
    pub sent: u64,
    /// Answered with a result (for `tools/call`: not `isError`).
    pub answered: u64,
    /// Answered with an error (a JSON-RPC error, an HTTP error status, a tool
    /// error).
    pub error_replies: u64,
    /// Sent and never answered (the connection broke, or no reply by the run's
    /// end plus the grace period).
    pub lost: u64,
    /// Due, but not sent: no session could be opened for it.
    pub not_sent: u64,
    /// Answered calls' latency.
    pub latency_ns: Percentiles,
    /// The answered calls' histogram, ns, encoded.
    pub histogram: String,
    /// Why calls failed, most frequent first.
    pub errors: Vec<ErrorCount>,
}

impl OperationRun {
    /// Error replies, lost and unsent calls, as a share of those due (0 with
    /// none due): what `errors<...` thresholds judge.
    pub fn error_share(&self) -> f64 {
        let due = self.sent + self.not_sent;
        if due == 0 {
            0.0
        } else {
            (self.error_replies + self.lost + self.not_sent) as f64 / due as f64
        }
    }
}

/// Sessions opened and ended over the run (with churn, many per connection).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionsRun {
    /// Opened: connected and started (`initialize`, or `server/discover`).
    pub opened: u64,
    /// Could not be opened.
    pub failed: u64,
    /// Ended with DELETE (accepted).
    pub deleted: u64,
    /// DELETE refused or not answered.
    pub delete_failed: u64,
    /// Time to open one (connect, start), ns.
    pub open_latency_ns: Percentiles,
    /// Why sessions could not be opened, most frequent first.
    pub errors: Vec<ErrorCount>,
}

/// What the generator itself cost (this process's CPU time from /proc).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorCost {
    /// Threads the generator ran on (its runtime's workers).
    pub threads: u64,
    /// User + system CPU seconds of this process during the stages.
    pub cpu_s: f64,
    /// The CPU microseconds of the run divided by the requests sent.
    pub cpu_us_per_call: Option<f64>,
    /// The CPU microseconds of the run divided by the sessions opened (the
    /// cost of a session alone is the difference between a run with churn and
    /// one without: docs/load.md).
    pub cpu_us_per_session: Option<f64>,
    /// Most connections open at once.
    pub peak_connections: u64,
    /// How late after its due time each request was sent, ns: waiting for the
    /// previous reply on its connection (one call is outstanding per
    /// connection), or the generator itself late (a busy thread). Open-loop
    /// latencies count this wait.
    pub send_lag_ns: Percentiles,
}

/// One threshold and what it found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdRun {
    /// As written (`p99<15ms`, `tools/call:search errors<0.1%`).
    pub expr: String,
    /// The value observed, in the threshold's unit (`None`: nothing to judge,
    /// e.g. no answered call for a latency threshold: it fails).
    pub observed: Option<f64>,
    /// The unit of `observed` (`ms`, `%`, `calls/s`).
    pub unit: String,
    /// Met.
    pub passed: bool,
}

/// One tool of the target, as `--discover` found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscoveredTool {
    /// Its name.
    pub name: String,
    /// The arguments generated from its input schema, when they could be.
    pub arguments: Option<serde_json::Value>,
    /// Why it is not called (its schema cannot be satisfied by the generator).
    pub skipped: Option<String>,
}

/// The result of `mcpbench-load run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioFile {
    /// [`SCENARIO_SCHEMA`].
    pub schema: String,
    /// The scenario file, if one was given.
    pub scenario: Option<String>,
    /// The server loaded.
    pub target: String,
    /// The protocol generation asked for.
    pub protocol: String,
    /// The stages, in order.
    pub stages: Vec<StageRun>,
    /// A new session every this many calls (`None`: one per connection while it
    /// is active).
    pub session_calls: Option<u64>,
    /// Seconds of all stages.
    pub duration_s: f64,
    /// Every operation of the mix.
    pub operations: Vec<OperationRun>,
    /// All operations together.
    pub overall: OperationRun,
    /// Calls answered before the last stage ended, per second of the stages
    /// (answers in the grace period after are not counted here).
    pub achieved_per_s: f64,
    /// Sessions.
    pub sessions: SessionsRun,
    /// The generator's own cost.
    pub generator: GeneratorCost,
    /// The thresholds, in order.
    pub thresholds: Vec<ThresholdRun>,
    /// What `--discover` found (empty without it).
    pub discovered: Vec<DiscoveredTool>,
}

impl ScenarioFile {
    /// Refuses a file that contradicts itself.
    pub fn check(&self) -> Result<(), Invalid> {
        for op in self.operations.iter().chain([&self.overall]) {
            if op.answered + op.error_replies + op.lost > op.sent {
                return Err(invalid!(
                    "operation {}: answered {} + errors {} + lost {} exceed sent {}",
                    op.label,
                    op.answered,
                    op.error_replies,
                    op.lost,
                    op.sent
                ));
            }
            let p = &op.latency_ns;
            if !(p.p50 <= p.p90
                && p.p90 <= p.p95
                && p.p95 <= p.p99
                && p.p99 <= p.p999
                && p.p999 <= p.max)
            {
                return Err(invalid!(
                    "operation {}: percentiles out of order: {p:?}",
                    op.label
                ));
            }
        }
        Ok(())
    }

    /// Reads `path`, its schema tag first, and checks it.
    pub fn load(path: &std::path::Path) -> Result<ScenarioFile, crate::FileError> {
        crate::load_checked(path, SCENARIO_SCHEMA, ScenarioFile::check)
    }
}

/// The percentiles of `h` (all 0 when it is empty).
pub fn percentiles(h: &hdrhistogram::Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    Percentiles {
        count: h.len(),
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p95: h.value_at_quantile(0.95),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
    }
}
