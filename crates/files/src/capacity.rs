//! `capacity.json`: `mcpbench-load capacity`, each server's highest rate within
//! the SLO, every trial kept.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::FileError;

/// Schema tag of [`CapacityFile`] (2: windows, interleaved trials, a status and an
/// interval per server).
pub const CAPACITY_SCHEMA: &str = "mcpbench.capacity/2";

/// A server whose capacity exceeds its bare ceiling's by more than this has not
/// beaten the ceiling: the ceiling's search met a stall of the machine (seen here:
/// bare hyper at 1.4 calls/s per session in a run where ours passed 26). Our server
/// measured 0.92-1.12x hyper at saturation, so 1.25x leaves room for that.
pub const SUSPECT_ABOVE_CEILING: f64 = 1.25;

/// One load at one rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Its place among every trial of the run, all servers together (from 0):
    /// trials of different servers run next to each other.
    pub order: u64,
    /// Calls per second per connection asked for.
    pub rate_per_connection: f64,
    /// A repeat at the rate found (not a step of the search).
    pub repeat: bool,
    /// It met the rule ([`CapacityFile::rule`]).
    pub passed: bool,
    /// Calls per second answered during the run.
    pub achieved_per_s: f64,
    /// Calls lost (error replies, no reply, not sent in time).
    pub lost: u64,
    /// Open-loop p99 of the whole trial, ns (0 when nothing was answered).
    pub p99_ns: u64,
    /// Windows with enough samples to judge ([`CapacityFile::min_window_samples`]).
    pub windows_counted: u64,
    /// Of those, the windows whose p99 is within the SLO.
    pub windows_within: u64,
    /// Why it did not pass.
    pub why: Vec<String>,
}

/// How a server's search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapacityStatus {
    /// A rate passed its search trial and every repeat: the capacity.
    Confirmed,
    /// The search reached its highest rate with every trial passing: a lower
    /// bound, not a capacity.
    Capped,
    /// No rate passed.
    NoPass,
    /// Rates passed, but none passed its repeats too.
    Withdrawn,
    /// The server could not be started (not installed, exited at once...).
    NotRun,
    /// The server does not serve the protocol generation asked for (the
    /// TypeScript SDK 1.x in 2026-07-28): not run, and `why` says so.
    NotServed,
}

/// One server's capacity at the SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityEntry {
    /// The server's name (as `compare --servers` takes it).
    pub name: String,
    /// What it is.
    pub description: String,
    /// How its search ended.
    pub status: CapacityStatus,
    /// The confirmed capacity, calls/s per connection (only when
    /// [`CapacityStatus::Confirmed`]).
    pub capacity_per_connection: Option<f64>,
    /// The lowest rate that failed above the capacity: the capacity lies in
    /// `[capacity_per_connection, rejected_per_connection)`.
    pub rejected_per_connection: Option<f64>,
    /// The highest rate tried, all passing (only when [`CapacityStatus::Capped`]).
    pub lower_bound_per_connection: Option<f64>,
    /// Calls/s answered in each trial at the rate found (its search trial, then
    /// the repeats).
    pub repeats_achieved_per_s: Vec<f64>,
    /// Their p99s, ns.
    pub repeats_p99_ns: Vec<u64>,
    /// How many of them passed.
    pub repeats_passed: u64,
    /// Every trial of this server, in the order run.
    pub trials: Vec<Trial>,
    /// Why there is no capacity (the server did not start, failed at the lowest
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
    /// The share of a trial's windows whose p99 must be within the SLO.
    pub window_share: f64,
    /// Windows with fewer samples are not judged.
    pub min_window_samples: u64,
    /// The highest rate the search could try, calls/s per connection.
    pub max_rate_per_connection: f64,
    /// The rule a trial passes by, in words.
    pub rule: String,
    /// The protocol generation the clients spoke.
    pub protocol: String,
    /// The servers, in the order of their first trials.
    pub servers: Vec<CapacityEntry>,
}

/// A server's capacity against the bare ceiling's, from one capacity run: the
/// one verdict the table and the report both print.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VsBare {
    /// Both confirmed: the ratio.
    Ratio(f64),
    /// Above its ceiling by more than [`SUSPECT_ABOVE_CEILING`]: the ceiling's
    /// search met a stall, no verdict.
    Suspect(f64),
    /// A search (its own or the ceiling's) stopped at its highest rate: lower
    /// bounds, no ratio.
    Capped,
    /// Either has no capacity (not in the run, no rate passed, withdrawn).
    Unknown,
}

impl CapacityFile {
    /// Calls/s server `name` answered at its capacity (or at its lower bound,
    /// when capped), over every connection.
    pub fn total(&self, name: &str) -> Option<f64> {
        self.servers
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.capacity_per_connection.or(s.lower_bound_per_connection))
            .map(|r| r * self.connections as f64)
    }

    /// Server `name` against the bare ceiling of the same run.
    pub fn vs_bare(&self, name: &str) -> VsBare {
        let status = |n: &str| self.servers.iter().find(|s| s.name == n).map(|s| s.status);
        let capped = |n: &str| status(n) == Some(CapacityStatus::Capped);
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
