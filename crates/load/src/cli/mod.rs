//! The command line: `connections` (the harness, or with `--shard` one shard of
//! a run), `merge`, and the comparisons built on `connections`.

use crate::error::LoadError;
use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};

use crate::target::Target;

mod experiments;
mod listen;
mod pipeline;
mod run;

pub use experiments::{CapacityPlan, ComparePlan, LifecyclePlan, MergePlan, RunShape, ScalingPlan};
pub use listen::{Bus, ListenPlan};
pub use pipeline::PipelinePlan;
pub use run::{Arrivals, RunPlan};

#[derive(Parser)]
#[command(
    name = "mcpbench-load",
    about = "Concurrent MCP connections against an MCP server (ours, or any at --target), measured"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Open N connections, call a tool at a rate, report. With --shard, one shard
    /// of a run spread over processes or machines.
    Connections(Plan),
    /// Merge shard files (`connections --shard I/N`) into one result: histograms
    /// added, counters summed, the verdict evaluated once on the merged result.
    Merge(MergePlan),
    /// The same load against several MCP servers in turn (ours, its bare ceiling,
    /// the official SDKs' servers from `scripts/peers install`): one table.
    Compare(ComparePlan),
    /// For each server, the highest rate at which every call is answered with p99
    /// within the SLO (a search over the rate, repeated near the edge).
    Capacity(CapacityPlan),
    /// For each server, on fresh processes: N sessions ended with DELETE, N
    /// abandoned, N past its session cap; memory and old session ids watched after.
    Lifecycle(LifecyclePlan),
    /// A child of the harness or of an experiment: runs the plan read from the
    /// first line of stdin ([`crate::wire::ToChild::Plan`]).
    #[command(hide = true)]
    Child,
    /// For each server, the same load at growing session counts, stopping at its
    /// first failure.
    Scaling(ScalingPlan),
    /// Load any MCP server with a scenario: stages, a weighted mix of
    /// operations, session churn, tools discovered from the server, thresholds
    /// that set the exit code (`run SCENARIO.toml`, or flags for a one-liner).
    Run(RunPlan),
    /// Hold N server-to-client streams open (`subscriptions/listen`, or the GET
    /// stream), trigger resource updates at a rate, and time every delivery.
    Listen(ListenPlan),
    /// Ask each server which protocol generation it answers (2025-11-25 with a
    /// session, 2026-07-28 stateless) and which tools it lists in each: a table
    /// of what can be compared, and driven by `listen`, in which generation.
    Generations(GenerationsPlan),
    /// `tools/call` pipelined over one TCP connection (`--depth` requests per
    /// write), calls/s per round; with --redis, each round beside
    /// `redis-benchmark -P` on a redis-server on the same machine.
    Pipeline(PipelinePlan),
}

/// What `generations` asks.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct GenerationsPlan {
    /// Servers to start and ask, comma-separated; by default every one (a server
    /// not installed is reported as not run), or none when --target is given.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub servers: Vec<crate::peers::PeerName>,
    /// A running server to ask as well (`http://HOST:PORT/PATH`); repeatable.
    #[arg(long)]
    pub target: Vec<Target>,
    /// The result file (default target/mcpbench/generations.json, its table
    /// beside it).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl GenerationsPlan {
    /// `--servers`, or every server when neither it nor --target is given.
    pub fn resolved(mut self) -> GenerationsPlan {
        if self.servers.is_empty() && self.target.is_empty() {
            self.servers = <crate::peers::PeerName as clap::ValueEnum>::value_variants().to_vec();
        }
        self
    }
}

/// What `connections` runs: parsed from the command line, or passed whole to a
/// child process as JSON ([`crate::wire::ToChild`]), never rebuilt as argv.
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Concurrent connections to open.
    #[arg(long)]
    pub count: u64,
    /// tools/call messages per second per connection.
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Seconds of calls after every connection is up.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Bytes of the text each call returns (the server's --result-size).
    #[arg(long, default_value_t = 4096)]
    pub size: usize,
    /// Connects in flight at once per client process.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Once this many connections of a client process have failed, its other
    /// connections are not attempted (counted as failed, with that reason): a
    /// server that has stopped accepting is then found out in one connect limit
    /// (60 s), not in one per batch of connects. Default: never give up.
    #[arg(long)]
    pub give_up_after: Option<u64>,
    /// At least this many client processes (and server processes, for ours):
    /// by default as many as the open-file limit needs, one per 15,000
    /// connections. Each is one thread: with one, a fast server can be held back
    /// by its single client process.
    #[arg(long, default_value_t = 1)]
    pub processes: u64,
    /// Which of our servers to start: `mcp` (mcpbench-server) or `bare` (the
    /// ceiling beside it: the same reply bytes, nothing parsed; a plain tokio loop
    /// over TCP, a plain hyper service over HTTP). Ignored with --target.
    #[arg(long, value_enum, default_value_t = ServerKind::Mcp)]
    pub server: ServerKind,
    /// Load a server that is already running instead of starting ours:
    /// `http://HOST:PORT/PATH` (MCP Streamable HTTP) or `tcp://HOST:PORT`
    /// (newline-delimited JSON-RPC). Its memory cannot be read then.
    #[arg(long)]
    #[serde(with = "as_text")]
    pub target: Option<Target>,
    /// With --target: the server's process id, so its RSS can be read from /proc
    /// before, with every connection idle, and after.
    #[arg(long, requires = "target")]
    pub server_pid: Option<u32>,
    /// Without --target: the transport our servers speak.
    #[arg(long, value_enum, default_value_t = TransportKind::Tcp)]
    pub transport: TransportKind,
    /// HTTP: the protocol generation: `2025-11-25` (initialize, a session per
    /// connection, DELETE at the end), `2026-07-28` (stateless, `server/discover`)
    /// or `auto` (the spec's client rule: try the stateless probe, fall back to
    /// initialize).
    #[arg(long, value_enum, default_value_t = Protocol::Handshake)]
    pub protocol: Protocol,
    /// The tool every call calls.
    #[arg(long, default_value = "text")]
    pub tool: String,
    /// The tool's arguments, a JSON object.
    #[arg(long, default_value = "{}")]
    pub arguments: String,
    /// HTTP: leave the sessions open at the end (no DELETE), as most real clients
    /// do; the run then reports what the server holds for them.
    #[arg(long)]
    pub abandon: bool,
    /// Where to write the result (default target/mcpbench/connections.json, or
    /// connections-bare.json for `--server bare`; $CARGO_TARGET_DIR is honoured).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Profile every server process; server K writes FILE with `-serverK` before
    /// its extension.
    #[arg(long)]
    pub flamegraph: Option<PathBuf>,
    /// Run as one shard of a run spread over processes or machines: `I/N` (shard
    /// I, from 0, of N), or `N` with I read from $JOB_COMPLETION_INDEX (what a
    /// Kubernetes Indexed Job sets). --count is the whole run's: the shard opens
    /// its slice, so it carries its share of the total rate. One process, against
    /// --target, from --start-at. Writes its result to --out (default
    /// target/mcpbench/shard-I.json) and prints it as one line `MCPBENCH-SHARD
    /// {json}`; `merge` gives the verdict, the shard's exit code only says it
    /// reported (0) or could not run (2).
    #[arg(long, requires = "target")]
    #[serde(with = "as_text")]
    pub shard: Option<ShardSpec>,
    /// With --shard: when every shard starts its calls, an RFC 3339 instant
    /// (`2026-12-03T12:00:00Z`; clocks are assumed synchronised). A shard still
    /// connecting then starts once connected, and its file records how late.
    #[arg(long, requires = "shard")]
    #[serde(with = "as_text")]
    pub start_at: Option<StartAt>,
    /// With --shard: the local address its connections are opened from (default:
    /// the system's choice).
    #[arg(long, requires = "shard")]
    pub source: Option<IpAddr>,
    /// A shard of the local harness: the start comes as a [`crate::wire::ToChild::Go`]
    /// line on stdin, progress goes out as JSON lines, stdin closing ends it. Set
    /// by the harness in the plan it sends, never on a command line.
    #[arg(skip)]
    #[serde(default)]
    pub go_on_stdin: bool,
}

/// (De)serializes an optional value as its command-line text (`Display` and
/// `FromStr`), so a plan's JSON reads like its flags.
mod as_text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr<Err: Display>,
        D: Deserializer<'de>,
    {
        Option::<String>::deserialize(d)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// `--shard I/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardSpec {
    /// I, from 0.
    pub index: u64,
    /// N.
    pub of: u64,
}

impl ShardSpec {
    /// This shard's slice of `count` connections: (first, how many). The first
    /// `count % N` shards take one more.
    pub fn slice(&self, count: u64) -> (u64, u64) {
        let (base, extra) = (count / self.of, count % self.of);
        let first = self.index * base + self.index.min(extra);
        (first, base + u64::from(self.index < extra))
    }

    fn parse(text: &str, job_index: Option<&str>) -> Result<ShardSpec, LoadError> {
        let number = |what: &str, v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| LoadError::Plan(format!("{what} {v:?} is not a whole number")))
        };
        let (index, of) = match text.split_once('/') {
            Some((i, n)) => (number("the shard index", i)?, number("the shard count", n)?),
            None => {
                let of = number("the shard count", text)?;
                let Some(i) = job_index else {
                    return Err(LoadError::Plan(format!(
                        "{text:?} gives no index and $JOB_COMPLETION_INDEX is not set; write I/N"
                    )));
                };
                (number("$JOB_COMPLETION_INDEX", i)?, of)
            }
        };
        if of == 0 || index >= of {
            return Err(LoadError::Plan(format!(
                "shard {index} of {of}: the index must be in 0..{of}"
            )));
        }
        Ok(ShardSpec { index, of })
    }
}

impl std::str::FromStr for ShardSpec {
    type Err = LoadError;
    fn from_str(text: &str) -> Result<ShardSpec, LoadError> {
        let job = std::env::var("JOB_COMPLETION_INDEX").ok();
        ShardSpec::parse(text, job.as_deref())
    }
}

impl std::fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.of)
    }
}

/// `--start-at`: a wall-clock instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartAt(pub std::time::SystemTime);

impl std::str::FromStr for StartAt {
    type Err = LoadError;
    fn from_str(text: &str) -> Result<StartAt, LoadError> {
        humantime::parse_rfc3339_weak(text.trim())
            .map(StartAt)
            .map_err(|e| {
                LoadError::Plan(format!(
                    "{text:?}: an RFC 3339 instant such as 2026-12-03T12:00:00Z is expected ({e})"
                ))
            })
    }
}

impl std::fmt::Display for StartAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", humantime::format_rfc3339_nanos(self.0))
    }
}

impl Plan {
    /// A plan of `count` connections with every other setting at its command-line
    /// default (the defaults live in one place: the flags above).
    pub fn with_defaults(count: u64) -> Plan {
        let count = count.to_string();
        match Cli::try_parse_from(["mcpbench-load", "connections", "--count", &count]) {
            Ok(Cli {
                command: Cmd::Connections(plan),
            }) => plan,
            // The defaults are constants of this file: a test parses them.
            _ => unreachable!("the default plan parses"),
        }
    }

    /// Refuses a plan no run could carry out: nothing to open, a rate or duration
    /// that is not a positive finite number (or would overflow the schedule),
    /// arguments that are not a JSON object.
    pub fn check(&self) -> Result<(), LoadError> {
        match serde_json::from_str::<serde_json::Value>(&self.arguments) {
            Ok(v) if v.is_object() => {}
            Ok(_) => {
                return Err(LoadError::Plan(format!(
                    "--arguments {}: a JSON object is expected",
                    self.arguments
                )));
            }
            Err(e) => {
                return Err(LoadError::Plan(format!(
                    "--arguments {}: not JSON: {e}",
                    self.arguments
                )));
            }
        }
        if self.tool.is_empty() || self.tool.contains(['"', '\\']) {
            return Err(LoadError::Plan(format!(
                "--tool {:?}: a tool name without quotes or backslashes is expected",
                self.tool
            )));
        }
        if self.count == 0 {
            return Err(LoadError::Plan("--count must be at least 1".into()));
        }
        if self.shard.is_some() {
            if self.start_at.is_none() && !self.go_on_stdin {
                return Err(LoadError::Plan(
                    "--shard needs --start-at: the instant every shard starts its calls".into(),
                ));
            }
            if self.processes > 1 || self.server_pid.is_some() || self.flamegraph.is_some() {
                return Err(LoadError::Plan("--shard is one process against --target: --processes, --server-pid and --flamegraph belong to the run that starts the servers".into()));
            }
        }
        check_rate("--rate", self.rate)?;
        check_seconds("--duration", self.duration, 86_400.0, "a day")
    }
}

/// `flag` holds a positive, finite number of seconds up to `max`.
pub fn check_seconds(flag: &str, v: f64, max: f64, max_text: &str) -> Result<(), LoadError> {
    if v.is_finite() && v > 0.0 && v <= max {
        Ok(())
    } else {
        Err(LoadError::Plan(format!(
            "{flag} {v}: a positive number of seconds up to {max_text} is expected"
        )))
    }
}

/// `flag` holds a rate of calls per second no schedule overflows on (≥ 1e-6).
pub fn check_rate(flag: &str, v: f64) -> Result<(), LoadError> {
    if v.is_finite() && v >= 1e-6 {
        Ok(())
    } else {
        Err(LoadError::Plan(format!(
            "{flag} {v}: a positive number of calls per second (at least 1e-6) is expected"
        )))
    }
}

/// Which of our servers the load starts.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerKind {
    /// mcpbench-server.
    Mcp,
    /// Its bare ceiling (`mcpbench-server --bare`).
    Bare,
}

/// The transport of our servers.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKind {
    /// Newline-delimited JSON-RPC over TCP.
    Tcp,
    /// MCP's Streamable HTTP.
    Http,
}

/// The MCP protocol generation an HTTP client speaks.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// 2025-11-25: initialize, a session, DELETE.
    #[value(name = "2025-11-25")]
    #[serde(rename = "2025-11-25")]
    Handshake,
    /// 2026-07-28: stateless, server/discover.
    #[value(name = "2026-07-28")]
    #[serde(rename = "2026-07-28")]
    Stateless,
    /// Probe stateless, fall back to initialize.
    Auto,
}

impl Protocol {
    /// As written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Handshake => "2025-11-25",
            Protocol::Stateless => "2026-07-28",
            Protocol::Auto => "auto",
        }
    }
}

#[cfg(test)]
mod tests;
