//! `lifecycle.json` and `scaling.json`: what happens to a server's sessions over
//! their life (`mcpbench-load lifecycle`), and how far a server goes as the
//! concurrent sessions grow (`mcpbench-load scaling`).

use crate::{Invalid, invalid};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::compare::{CompareEntry, Outcome};
use crate::{ConnectionsFile, FileError};

/// Schema tag of [`LifecycleFile`].
pub const LIFECYCLE_SCHEMA: &str = "mcpbench.lifecycle/1";
/// Schema tag of [`ScalingFile`].
pub const SCALING_SCHEMA: &str = "mcpbench.scaling/1";

/// The server's RSS at one moment after the load ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RssSample {
    /// Seconds since the load's sessions ended (DELETE) or were abandoned.
    pub at_s: f64,
    /// Resident set size, bytes (`None`: the process was gone).
    pub rss: Option<u64>,
}

/// One request (`ping`) sent with a session id the load had ended or abandoned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Seconds since the sessions ended or were abandoned.
    pub at_s: f64,
    /// The HTTP status (404: the server no longer knows the session).
    pub status: Option<u16>,
    /// Why there was no status (refused, timed out...).
    pub error: Option<String>,
}

/// One scenario on a fresh server process: sessions opened by the load, then
/// ended (DELETE) or abandoned (connections closed, no DELETE), then watched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Watched {
    /// The load that opened the sessions (and the server's RSS before and idle).
    pub run: CompareEntry,
    /// RSS after the sessions ended or were abandoned, over the wait.
    pub samples: Vec<RssSample>,
    /// Requests made with ended or abandoned session ids, in time order.
    pub probes: Vec<Probe>,
}

impl Watched {
    /// The first probe the server answered 404 (it forgot the session), if any.
    pub fn first_forgotten(&self) -> Option<f64> {
        self.probes
            .iter()
            .find(|p| p.status == Some(404))
            .map(|p| p.at_s)
    }

    /// The last probe before `t` the server still answered 2xx (it knew the
    /// session then).
    pub fn last_known_before(&self, t: f64) -> Option<f64> {
        self.probes
            .iter()
            .rev()
            .find(|p| p.at_s < t && p.status.is_some_and(|s| (200..300).contains(&s)))
            .map(|p| p.at_s)
    }

    /// Probes answered 404, of those that got a status.
    pub fn forgotten(&self) -> (usize, usize) {
        let answered = self.probes.iter().filter(|p| p.status.is_some()).count();
        let gone = self.probes.iter().filter(|p| p.status == Some(404)).count();
        (gone, answered)
    }

    /// Of the RSS the sessions added (idle minus before), the share still held at
    /// the last sample: 1.0 = nothing given back.
    pub fn still_held(&self) -> Option<f64> {
        let rss = self.run.result.as_ref()?.server_rss.as_ref()?;
        let last = self.samples.iter().rev().find_map(|s| s.rss)?;
        let added = rss.idle as f64 - rss.before as f64;
        (added > 0.0).then(|| (last as f64 - rss.before as f64) / added)
    }
}

/// Going past the server's session cap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastCap {
    /// The cap the server was started with (`None`: it has no such setting).
    pub cap: Option<u64>,
    /// The flags that set it.
    pub flags: Vec<String>,
    /// The load (more sessions than the cap), with what each refused client got.
    pub run: CompareEntry,
}

/// One server's session lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEntry {
    /// The server's name (as `compare --servers` takes it).
    pub name: String,
    /// What it is.
    pub description: String,
    /// The flags that set its idle expiry to the run's `idle_s` (empty: it has no
    /// such setting, and runs with its default).
    pub idle_flags: Vec<String>,
    /// Its own default idle expiry, as documented by its source.
    pub default_idle: String,
    /// N sessions, each ended with DELETE.
    pub deleted: Option<Watched>,
    /// N sessions abandoned: connections closed, no DELETE.
    pub abandoned: Option<Watched>,
    /// More sessions than its cap.
    pub past_cap: Option<PastCap>,
    /// Why a scenario did not run.
    pub why: Vec<String>,
}

/// `target/mcpbench/lifecycle.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleFile {
    /// Always [`LIFECYCLE_SCHEMA`].
    pub schema: String,
    /// Sessions opened in the DELETE and abandon scenarios.
    pub sessions: u64,
    /// The idle expiry every server that has one was given, seconds.
    pub idle_s: f64,
    /// How long each scenario watched after the sessions ended, seconds.
    pub wait_s: f64,
    /// The cap given to servers that have one; the cap scenario opens `sessions`.
    pub cap: u64,
    /// The servers, in the order they ran.
    pub servers: Vec<LifecycleEntry>,
}

impl LifecycleFile {
    /// Reads `path` and checks its schema and every load result in it.
    pub fn load(path: &Path) -> Result<LifecycleFile, FileError> {
        crate::load_checked(path, LIFECYCLE_SCHEMA, LifecycleFile::check)
    }

    /// Each load result is itself consistent; sample times go forward.
    pub fn check(&self) -> Result<(), Invalid> {
        for s in &self.servers {
            let runs = [
                (
                    "deleted",
                    s.deleted.as_ref().map(|w| (&w.run, &w.samples[..])),
                ),
                (
                    "abandoned",
                    s.abandoned.as_ref().map(|w| (&w.run, &w.samples[..])),
                ),
                ("past_cap", s.past_cap.as_ref().map(|c| (&c.run, &[][..]))),
            ];
            for (scenario, run) in runs {
                let Some((run, samples)) = run else { continue };
                if let Some(r) = &run.result {
                    r.check()
                        .map_err(|e| e.within(format_args!("servers.{}.{scenario}", s.name)))?;
                }
                if samples.windows(2).any(|w| w[1].at_s < w[0].at_s) {
                    return Err(invalid!(
                        "servers.{}.{scenario}.samples: times go backwards",
                        s.name
                    ));
                }
            }
        }
        Ok(())
    }
}

/// One server across the session counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingEntry {
    /// The server's name.
    pub name: String,
    /// What it is.
    pub description: String,
    /// One load per count, in the order run; the last one failed when the server
    /// was stopped early.
    pub points: Vec<CompareEntry>,
    /// Why the curve stopped before the last count (the first failure).
    pub stopped: Option<String>,
}

/// `target/mcpbench/scaling.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingFile {
    /// Always [`SCALING_SCHEMA`].
    pub schema: String,
    /// The concurrent session counts, ascending.
    pub counts: Vec<u64>,
    /// Calls per second per connection.
    pub rate_per_connection: f64,
    /// Seconds of calls per load.
    pub duration_s: f64,
    /// The protocol generation the clients spoke.
    pub protocol: String,
    /// The servers, in the order they ran.
    pub servers: Vec<ScalingEntry>,
}

/// The figures of one point of the curve, for tables and charts.
pub struct Point {
    /// Sessions asked for.
    pub count: u64,
    /// Sessions established.
    pub established: u64,
    /// Passed (everything established, every call answered).
    pub passed: bool,
    /// RSS per connection with every connection idle, bytes.
    pub rss_per_connection: Option<f64>,
    /// Open-loop p99, ns.
    pub p99_ns: Option<u64>,
}

impl ScalingEntry {
    /// Each point's figures.
    pub fn points(&self) -> Vec<Point> {
        self.points
            .iter()
            .map(|e| {
                let r: Option<&ConnectionsFile> = e.result.as_ref();
                Point {
                    count: r.map_or(0, |r| r.requested.connections),
                    established: r.map_or(0, |r| r.connections.established),
                    passed: e.outcome == Outcome::Passed,
                    rss_per_connection: r
                        .and_then(|r| r.server_rss.as_ref())
                        .and_then(|s| s.per_connection_idle),
                    p99_ns: r
                        .filter(|r| r.latency_ns.count > 0)
                        .map(|r| r.latency_ns.p99),
                }
            })
            .collect()
    }
}

impl ScalingFile {
    /// Reads `path` and checks its schema and every load result in it.
    pub fn load(path: &Path) -> Result<ScalingFile, FileError> {
        crate::load_checked(path, SCALING_SCHEMA, ScalingFile::check)
    }

    /// Counts ascend; each load result is consistent.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.counts.windows(2).any(|w| w[1] <= w[0]) {
            return Err(Invalid::from("counts: not ascending"));
        }
        for s in &self.servers {
            for e in &s.points {
                if let Some(r) = &e.result {
                    r.check()
                        .map_err(|e| e.within(format_args!("servers.{}", s.name)))?;
                }
            }
        }
        Ok(())
    }
}
