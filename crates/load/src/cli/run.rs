//! The plan of `run`: a scenario file, or flags for a one-liner.

use std::path::PathBuf;

use serde::Deserialize;

use super::Protocol;

/// What `run` runs.
#[derive(clap::Args, Clone, Debug)]
pub struct RunPlan {
    /// A scenario file (TOML): target, protocol, stage tables, churn,
    /// operation tables, threshold tables (docs/load.md; examples in scenarios/).
    pub scenario: Option<PathBuf>,
    /// The server: `http://HOST:PORT/PATH` (Streamable HTTP) or `tcp://HOST:PORT`;
    /// overrides the file's.
    #[arg(long)]
    pub target: Option<String>,
    /// The protocol generation: 2025-11-25, 2026-07-28 or auto; overrides the
    /// file's [default: 2025-11-25].
    #[arg(long, value_enum)]
    pub protocol: Option<Protocol>,
    /// Without stage tables in a file: connections of the one stage [default: 10].
    #[arg(long)]
    pub count: Option<u64>,
    /// Without stage tables: calls per second per connection [default: 1].
    #[arg(long)]
    pub rate: Option<f64>,
    /// Without stage tables: seconds [default: 10].
    #[arg(long)]
    pub duration: Option<f64>,
    /// Without stage tables: how calls arrive [default: constant].
    #[arg(long, value_enum)]
    pub arrivals: Option<Arrivals>,
    /// Adds a tools/call of this tool to the mix (weight 1).
    #[arg(long)]
    pub tool: Option<String>,
    /// With --tool: its arguments, a JSON object.
    #[arg(long, requires = "tool", default_value = "{}")]
    pub arguments: String,
    /// Adds every tool the target lists, with minimal valid arguments made from
    /// each tool's input schema (tools whose schema cannot be satisfied are
    /// listed and skipped).
    #[arg(long)]
    pub discover: bool,
    /// A new session every N calls (1: one per call); overrides the file's
    /// churn table [default: one session per connection].
    #[arg(long)]
    pub session_calls: Option<u64>,
    /// A threshold, k6-style (repeatable; added to the file's): `p99<15ms`,
    /// `errors<0.1%`, `rate>=900`, `tools/call:search p95<50ms`. Any that fails
    /// makes the exit code 1.
    #[arg(long = "assert", value_name = "EXPR")]
    pub asserts: Vec<String>,
    /// Where to write the result (default target/mcpbench/scenario.json; the
    /// table beside it as .md and the operations' HdrHistogram interval log as
    /// .hlog).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// How a connection's calls arrive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly spaced, 1 / rate apart.
    #[default]
    Constant,
    /// Exponentially distributed gaps of mean 1 / rate (a Poisson process).
    Poisson,
}

impl Arrivals {
    /// As written.
    pub fn name(self) -> &'static str {
        match self {
            Arrivals::Constant => "constant",
            Arrivals::Poisson => "poisson",
        }
    }
}
