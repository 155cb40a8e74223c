//! `compare.json`: the same load against several MCP servers, one after another
//! on one machine (`mcpbench-load compare`).

use crate::Invalid;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{ConnectionsFile, FileError};

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
    /// The server does not serve the protocol generation asked (as
    /// `mcpbench-load generations` measured it); nothing ran.
    NotServed,
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
    /// The protocol generation its clients spoke (absent in files written
    /// before rows carried it: then the file's `protocol`).
    #[serde(default)]
    pub protocol: Option<String>,
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
    /// The protocol generation the clients spoke: `2025-11-25`, `2026-07-28`,
    /// or `each` (every server in each generation it serves, a row per pair).
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
