//! `compare.json`: the same load against several MCP servers, one after another
//! on one machine (`mcpbench-load compare`).

use crate::Invalid;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{ConnectionsFile, FileError};

/// A server whose capacity exceeds its bare ceiling's by more than this has not
/// beaten the ceiling: the ceiling's search met a stall of the machine (seen here:
/// bare hyper at 1.4 calls/s per session in a run where ours passed 26). Our server
/// measured 0.92-1.12x hyper at saturation, so 1.25x leaves room for that.
pub const SUSPECT_ABOVE_CEILING: f64 = 1.25;

/// Schema tag of [`CompareFile`].
pub const COMPARE_SCHEMA: &str = "mcpbench.compare/1";

/// How one server's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every connection established, every call answered, nothing lost.
    Passed,
    /// The load ran and found failures (see `why`).
    Failed,
    /// The server could not be started or the load could not run (see `why`).
    NotRun,
}

/// One server of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareEntry {
    /// `mcpbench`, `bare`, `python`, `typescript`, `rmcp`, ...
    pub name: String,
    /// What it is (SDK and version).
    pub description: String,
    /// The command that started it.
    pub command: Vec<String>,
    /// How it went.
    pub outcome: Outcome,
    /// Why it failed or did not run, one line per reason (empty when passed).
    pub why: Vec<String>,
    /// The server process was gone when the load ended (it crashed or exited).
    pub crashed: bool,
    /// The load's result, when it ran.
    pub result: Option<ConnectionsFile>,
}

/// `target/mcpbench/compare.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareFile {
    /// Always [`COMPARE_SCHEMA`].
    pub schema: String,
    /// Connections per server.
    pub connections: u64,
    /// Calls per second per connection.
    pub rate_per_connection: f64,
    /// Seconds of calls.
    pub duration_s: f64,
    /// The protocol generation the clients spoke.
    pub protocol: String,
    /// The servers, in the order they ran.
    pub servers: Vec<CompareEntry>,
}

impl CompareFile {
    /// Reads `path` and checks its schema.
    pub fn load(path: &Path) -> Result<CompareFile, FileError> {
        crate::load_checked(path, COMPARE_SCHEMA, CompareFile::check)
    }

    /// Each result is itself consistent.
    pub fn check(&self) -> Result<(), Invalid> {
        for s in &self.servers {
            if let Some(r) = &s.result {
                r.check()
                    .map_err(|e| e.within(format_args!("servers.{}", s.name)))?;
            }
        }
        Ok(())
    }
}

/// Schema tag of [`CapacityFile`].
pub const CAPACITY_SCHEMA: &str = "mcpbench.capacity/1";

/// One load at one rate during the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Calls per second per connection asked for.
    pub rate_per_connection: f64,
    /// Every call answered, nothing lost, p99 within the SLO.
    pub passed: bool,
    /// Calls per second answered during the run.
    pub achieved_per_s: f64,
    /// Open-loop p99, ns (0 when nothing was answered).
    pub p99_ns: u64,
    /// Why it did not pass.
    pub why: Vec<String>,
}

/// One server's capacity at the SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityEntry {
    /// The server's name (as `compare --servers` takes it).
    pub name: String,
    /// What it is.
    pub description: String,
    /// The highest rate per connection that passed, if any did.
    pub capacity_per_connection: Option<f64>,
    /// The search stopped at `--max-rate` with that rate passing: the capacity is
    /// at least this, not this.
    pub capped: bool,
    /// The calls per second answered in each repeat at that rate.
    pub repeats_achieved_per_s: Vec<f64>,
    /// Repeats at that rate that passed (of `repeats_achieved_per_s.len()`).
    pub repeats_passed: u64,
    /// Every trial, in the order run.
    pub trials: Vec<Trial>,
    /// Why no capacity was found (the server did not start, failed at the lowest
    /// rate tried, ...).
    pub why: Vec<String>,
}

/// `target/mcpbench/capacity.json`: `mcpbench-load capacity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityFile {
    /// Always [`CAPACITY_SCHEMA`].
    pub schema: String,
    /// Connections per trial.
    pub connections: u64,
    /// Seconds of calls per trial.
    pub duration_s: f64,
    /// The SLO: p99 at most this, in ns, with every call answered.
    pub slo_p99_ns: u64,
    /// The protocol generation the clients spoke.
    pub protocol: String,
    /// The servers, in the order they ran.
    pub servers: Vec<CapacityEntry>,
}

/// A server's capacity against the bare ceiling's, from one capacity run: the
/// one verdict the table and the report both print.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VsBare {
    /// Its capacity over the bare ceiling's.
    Ratio(f64),
    /// Above its ceiling by more than [`SUSPECT_ABOVE_CEILING`]: the ceiling's
    /// search met a stall, no verdict.
    Suspect(f64),
    /// A search (its own or the ceiling's) stopped at `--max-rate`: lower
    /// bounds, no ratio.
    Capped,
    /// Either has no capacity (not in the run, or no rate passed).
    Unknown,
}

impl CapacityFile {
    /// Calls/s server `name` answered at its capacity, over every connection.
    pub fn total(&self, name: &str) -> Option<f64> {
        self.servers
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.capacity_per_connection)
            .map(|r| r * self.connections as f64)
    }

    /// Server `name` against the bare ceiling of the same run.
    pub fn vs_bare(&self, name: &str) -> VsBare {
        let capped = |n: &str| self.servers.iter().any(|s| s.name == n && s.capped);
        match (self.total(name), self.total("bare")) {
            (Some(_), Some(_)) if capped(name) || capped("bare") => VsBare::Capped,
            (Some(c), Some(b)) if c / b > SUSPECT_ABOVE_CEILING => VsBare::Suspect(c / b),
            (Some(c), Some(b)) => VsBare::Ratio(c / b),
            _ => VsBare::Unknown,
        }
    }

    /// Reads `path` and checks its schema.
    pub fn load(path: &Path) -> Result<CapacityFile, FileError> {
        crate::load_checked(path, CAPACITY_SCHEMA, |_: &CapacityFile| Ok(()))
    }
}
