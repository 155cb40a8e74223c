//! The plans of `merge` and of the experiments built on `connections`:
//! `compare`, `capacity`, `lifecycle`, `scaling`.

use std::path::PathBuf;

use super::Protocol;
use crate::peers::PeerName;

/// What `merge` reads and writes.
#[derive(clap::Args, Clone)]
pub struct MergePlan {
    /// The shard files (`shard-I.json`, or a log holding a `MCPBENCH-SHARD` line),
    /// one per index 0..N-1.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Where to write the merged result (default
    /// target/mcpbench/connections-merged.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// What `compare` runs.
#[derive(clap::Args, Clone)]
pub struct ComparePlan {
    /// Concurrent connections per server.
    #[arg(long)]
    pub count: u64,
    /// The servers, in order, comma-separated: mcpbench, bare, rmcp, python,
    /// python-stateless, typescript, typescript-stateless.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "mcpbench,bare,rmcp,python,typescript"
    )]
    pub servers: Vec<PeerName>,
    /// tools/call (`text`) per second per connection.
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// How each run is made.
    #[command(flatten)]
    pub shape: RunShape,
    /// Instead of --protocol: every server in each generation it serves,
    /// 2025-11-25 then 2026-07-28, a row per server and generation; a
    /// generation a server does not serve (the TypeScript SDK 1.x: 2026-07-28,
    /// as `mcpbench-load generations` measured) is a row saying so, and does not
    /// fail the run.
    #[arg(long, conflicts_with = "protocol")]
    pub each_generation: bool,
    /// Where to write the result (default target/mcpbench/compare.json, and the
    /// table beside it as compare.md).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// How each run of `compare` and `capacity` is made.
#[derive(clap::Args, Clone)]
pub struct RunShape {
    /// Seconds of calls per run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Bytes of text each call returns.
    #[arg(long, default_value_t = 4096)]
    pub size: usize,
    /// The protocol generation the clients speak.
    #[arg(long, value_enum, default_value_t = Protocol::Handshake)]
    pub protocol: Protocol,
    /// Client processes (one thread each) driving each server.
    #[arg(long, default_value_t = 2)]
    pub processes: u64,
}

/// What `capacity` runs.
#[derive(clap::Args, Clone)]
pub struct CapacityPlan {
    /// Concurrent connections per trial.
    #[arg(long)]
    pub count: u64,
    /// The servers, in order, comma-separated (as for `compare`).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "mcpbench,bare"
    )]
    pub servers: Vec<PeerName>,
    /// The SLO: p99 at most this many milliseconds, every call answered.
    #[arg(long, default_value_t = 15.0)]
    pub slo_p99_ms: f64,
    /// A trial whose whole p99 is over the SLO still passes when this share of
    /// its one-second windows (those with 100 calls or more) have p99 within it:
    /// one stalled second of the machine does not fail a 10 s trial at 0.8, an
    /// overloaded server does.
    #[arg(long, default_value_t = 0.8)]
    pub window_share: f64,
    /// The first rate tried, calls/s per connection (doubled until a failure).
    #[arg(long, default_value_t = 1.0)]
    pub start: f64,
    /// The highest rate tried, calls/s per connection [default: 1,000,000 calls/s
    /// over all connections, beyond any server here: the search ends at a
    /// failure]. A search that reaches it with every trial passing reports a
    /// lower bound, and exits 4.
    #[arg(long)]
    pub max_rate: Option<f64>,
    /// Bisections between the last pass and the first failure (one trial accepts
    /// or rejects a rate).
    #[arg(long, default_value_t = 4)]
    pub steps: u32,
    /// Retries of each side of the edge: of the lowest rate rejected (all passing
    /// overturn the rejection, and the search goes on above it) and of the rate
    /// found (all must pass; a failed one withdraws the figure and the next lower
    /// passing rate is repeated instead).
    #[arg(long, default_value_t = 2)]
    pub repeats: u32,
    /// How each run is made.
    #[command(flatten)]
    pub shape: RunShape,
    /// Where to write the result (default target/mcpbench/capacity.json, and
    /// capacity.md beside it).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// What `lifecycle` runs.
#[derive(clap::Args, Clone)]
pub struct LifecyclePlan {
    /// Sessions per scenario.
    #[arg(long)]
    pub count: u64,
    /// The servers, in order, comma-separated (those that keep sessions: mcpbench,
    /// rmcp, python, typescript).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "mcpbench,rmcp,python,typescript"
    )]
    pub servers: Vec<PeerName>,
    /// The idle expiry, seconds, given to every server that has the setting (each
    /// runs with its own default otherwise; the table says which). More than twice
    /// the call interval, or sessions expire while in use.
    #[arg(long, default_value_t = 30.0)]
    pub idle: f64,
    /// Seconds to watch memory and old session ids after the sessions ended.
    #[arg(long, default_value_t = 90.0)]
    pub wait: f64,
    /// The session cap for the cap scenario, where the server has one (default:
    /// half of --count).
    #[arg(long)]
    pub cap: Option<u64>,
    /// tools/call (`text`) per second per connection while the sessions are open.
    #[arg(long, default_value_t = 0.2)]
    pub rate: f64,
    /// How each load is made.
    #[command(flatten)]
    pub shape: RunShape,
    /// Where to write the result (default target/mcpbench/lifecycle.json, and
    /// lifecycle.md beside it).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// What `scaling` runs.
#[derive(clap::Args, Clone)]
pub struct ScalingPlan {
    /// Concurrent session counts, ascending, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,30000,100000")]
    pub counts: Vec<u64>,
    /// The servers, in order, comma-separated (as for `compare`).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "mcpbench,bare,rmcp,python,typescript"
    )]
    pub servers: Vec<PeerName>,
    /// tools/call (`text`) per second per connection.
    #[arg(long, default_value_t = 0.05)]
    pub rate: f64,
    /// How each load is made.
    #[command(flatten)]
    pub shape: RunShape,
    /// Where to write the result (default target/mcpbench/scaling.json, and
    /// scaling.md beside it).
    #[arg(long)]
    pub out: Option<PathBuf>,
}
