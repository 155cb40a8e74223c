#![forbid(unsafe_code)]
//! The files and replies that cross a process boundary, one type each, shared by
//! the process that writes them and the one that reads them: a renamed field is a
//! compile error on one side, never a silent zero on the other.
//!
//! - [`ConnectionsFile`]: `connections.json`, written by `mcpbench-load`, read by
//!   the report.
//! - [`shard::ShardFile`]: one shard of a run (`mcpbench-load connections
//!   --shard I/N`), read by `mcpbench-load merge`.
//! - [`ServerStats`]: the one-line `stats` reply of `mcpbench-server` to its
//!   harness, read by `mcpbench-load`.
//! - [`latency::LatencyFile`], [`bench::MemoryFile`], [`bench::SustainedFile`],
//!   [`instructions::InstructionsFile`], [`allocations::AllocationsFile`]: the side files the benches write and the
//!   report reads; [`env::Environment`], recorded in every one of them.
//! - [`baseline::Baseline`] (with [`baseline::Measured`] per bench) and
//!   [`noise::NoiseFile`]: `baselines/NAME.json` and `baselines/noise-<machine>.json`,
//!   written and read by the report's commands, kept across checkouts.
//!
//! Every field is required (the exceptions, [`baseline::Baseline::instructions`] and
//! [`baseline::Baseline::allocations`], are absent from baselines saved before those
//! counts existed); [`parse`] refuses a
//! missing or mistyped one with the source and the field's path named.
//!
//! ```
//! use mcpbench_files::{ServerStats, parse};
//!
//! let ok: ServerStats = parse(
//!     r#"{"sessions":0,"maxSessions":10,"sessionsExpired":0,"allocatorCounted":true,"liveBytes":1024,"rssBytes":4096}"#,
//!     "server 1's stats",
//! )
//! .unwrap();
//! assert_eq!(ok.live_bytes, 1024);
//! let e = parse::<ServerStats>(r#"{"maxSessions":10,"sessionsExpired":0,"allocatorCounted":true,"liveBytes":1,"rssBytes":1}"#, "server 1's stats")
//!     .unwrap_err();
//! assert!(e.to_string().contains("missing field `sessions`"), "{e}");
//! ```

pub mod allocations;
pub mod baseline;
pub mod bench;
pub mod capacity;
pub mod compare;
mod connections;
pub mod env;
pub mod generations;
pub mod instructions;
pub mod latency;
pub mod lifecycle;
pub mod listen;
pub mod noise;
pub mod paired;
pub mod pipeline;
pub mod scenario;
#[cfg(test)]
mod scratch;
pub mod shard;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use connections::{
    CONNECTIONS_SCHEMA, Connections, ConnectionsFile, Messages, OpenLoopLatency, PerConnection,
    PhaseLatency, Phases, Processes, Requested, ServerKind, ServerMemory, ServerRss, Sessions,
    Transport,
};
pub use latency::{LatencyWindows, WindowLatency};

/// A file or reply that cannot be used, and why; names the source and the field.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not JSON of the expected shape: a field missing or of the wrong type.
    #[error("{source_name}: {}{reason}", if field.is_empty() || field == "." { String::new() } else { format!("field `{field}`: ") })]
    Shape {
        /// The file or reply.
        source_name: String,
        /// The path of the field at fault (`messages.lost`), empty at the top.
        field: String,
        /// The parser's message.
        reason: String,
    },
    /// A schema tag this version does not read.
    #[error("{source_name}: unknown schema {found:?} (expected {expected:?})")]
    Schema {
        /// The file or reply.
        source_name: String,
        /// What it declares.
        found: String,
        /// What this version reads.
        expected: &'static str,
    },
    /// Values that cannot all be true (percentiles out of order...).
    #[error("{source_name}: {reason}")]
    Invalid {
        /// The file or reply.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// The file could not be written.
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Why a file's figures cannot all be true, naming the field (the file's name
/// is put in front by [`FileError::Invalid`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    /// The same reason, inside `at` (`servers.rmcp: ...`).
    pub fn within(self, at: impl std::fmt::Display) -> Invalid {
        Invalid(format!("{at}: {}", self.0))
    }
}

impl From<&str> for Invalid {
    fn from(reason: &str) -> Invalid {
        Invalid(reason.to_string())
    }
}

/// An [`Invalid`] from `format!` arguments.
#[macro_export]
macro_rules! invalid {
    ($($arg:tt)*) => {
        $crate::Invalid(format!($($arg)*))
    };
}

/// Writes `value` as JSON to `path` whole: folders made, the text written to a
/// temporary file beside it and renamed over `path`, so a reader (a report, a
/// merge, a harness polling for it) never sees half a file. Pretty-printed, or
/// on one line when `one_line`. Returns the text written, without the final
/// newline. Every result file of the workspace is written here.
pub fn write_json(
    path: &Path,
    value: &impl Serialize,
    one_line: bool,
) -> Result<String, FileError> {
    let fail = |source| FileError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let text = if one_line {
        serde_json::to_string(value)
    } else {
        serde_json::to_string_pretty(value)
    }
    .map_err(|e| fail(std::io::Error::other(e)))?;
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    std::fs::write(&part, format!("{text}\n"))
        .and_then(|()| std::fs::rename(&part, path))
        .map_err(fail)?;
    Ok(text)
}

/// Parses `text` as a `T`; `source_name` (a path, or "server 2's stats") names it
/// in errors, with the path of the field at fault.
pub fn parse<T: DeserializeOwned>(text: &str, source_name: &str) -> Result<T, FileError> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| FileError::Shape {
        source_name: source_name.to_string(),
        field: e.path().to_string(),
        reason: e.inner().to_string(),
    })
}

/// Reads and parses the file at `path`.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, FileError> {
    parse(&read(path)?, &path.display().to_string())
}

/// The text of the file at `path`.
fn read(path: &Path) -> Result<String, FileError> {
    std::fs::read_to_string(path).map_err(|source| FileError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the file at `path`, checks that its `schema` tag is `expected`, parses it
/// and runs `check` on it (figures that cannot all be true are
/// [`FileError::Invalid`]). The tag is read first, so a file of another version
/// says so instead of naming the first field it lacks; a file without one
/// declares the schema `""`.
fn load_checked<T: DeserializeOwned>(
    path: &Path,
    expected: &'static str,
    check: impl FnOnce(&T) -> Result<(), Invalid>,
) -> Result<T, FileError> {
    check_text(&read(path)?, path.display().to_string(), expected, check)
}

/// [`load_checked`] of `text` read from `source_name`.
fn check_text<T: DeserializeOwned>(
    text: &str,
    source_name: String,
    expected: &'static str,
    check: impl FnOnce(&T) -> Result<(), Invalid>,
) -> Result<T, FileError> {
    #[derive(Deserialize)]
    struct Tag {
        schema: Option<String>,
    }
    let tag: Tag = parse(text, &source_name)?;
    let found = tag.schema.unwrap_or_default();
    if found != expected {
        return Err(FileError::Schema {
            source_name,
            found,
            expected,
        });
    }
    let file: T = parse(text, &source_name)?;
    check(&file).map_err(|e| FileError::Invalid {
        source_name,
        reason: e.0,
    })?;
    Ok(file)
}

/// The reply of a server process to its harness's `stats` line (and to the MCP
/// method `mcpbench/stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerStats {
    /// Sessions open now.
    pub sessions: u64,
    /// Most sessions at once (0: a server that keeps none, like the bare one).
    pub max_sessions: u64,
    /// Sessions ended by expiry since the server started.
    pub sessions_expired: u64,
    /// The binary counts its allocations (else `live_bytes` means nothing).
    pub allocator_counted: bool,
    /// Allocator-counted live heap bytes.
    pub live_bytes: i64,
    /// Resident set size, kernel view (context only); null where the kernel does
    /// not say.
    pub rss_bytes: Option<u64>,
    /// Connections refused at once at the connection cap (absent from servers
    /// that have none).
    #[serde(default)]
    pub connections_refused: u64,
    /// Connections closed by each deadline: idle, frame, write, handshake.
    #[serde(default)]
    pub closed_by_deadline: [u64; 4],
    /// Server-to-client streams open now (`subscriptions/listen`, GET).
    #[serde(default)]
    pub listeners: u64,
    /// Streams opened since the server started.
    #[serde(default)]
    pub listeners_opened: u64,
    /// Streams closed because they fell further behind than the server keeps.
    #[serde(default)]
    pub listeners_lagged: u64,
    /// Resource updates published since the server started.
    #[serde(default)]
    pub events_published: u64,
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `<workspace>/target`.
pub fn target_dir(workspace: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace.join("target"),
    }
}

/// Where result files go by default: `<target>/mcpbench`, the folder the report
/// reads.
pub fn results_dir(workspace: &Path) -> PathBuf {
    target_dir(workspace).join("mcpbench")
}

#[cfg(test)]
mod tests;
