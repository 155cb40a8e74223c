//! The side files the custom harnesses write, shared by writer (benches) and
//! reader (the report), so one definition serves both. Latency files are in
//! [`crate::latency::LatencyFile`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::env::Environment;
use crate::latency::LatencyFile;

/// Schema tag of [`MemoryFile`].
pub const MEMORY_SCHEMA: &str = "mcpbench.memory/1";
/// Schema tag of [`SustainedFile`].
pub const SUSTAINED_SCHEMA: &str = "mcpbench.sustained/1";

/// Allocator-counted live bytes and RSS at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Allocator-counted live bytes.
    pub live_bytes: i64,
    /// Resident set size (kernel view, includes allocator caches): context only.
    pub rss_bytes: u64,
}

/// One component's memory accounting (`benches/memory.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryComponent {
    /// Bench id, such as `memory/registry/100k`.
    pub id: String,
    /// What one item is (route, session, queued message, connection).
    pub item: String,
    /// Items loaded.
    pub items: u64,
    /// Operations run between load and teardown.
    pub ops: u64,
    /// Before loading.
    pub before: Snapshot,
    /// While loaded, by mark name.
    pub loaded: BTreeMap<String, Snapshot>,
    /// (live bytes at the mark - live bytes before) / items, by mark name.
    pub bytes_per_item: BTreeMap<String, f64>,
    /// After teardown.
    pub after: Snapshot,
    /// Live bytes after teardown - before, in the run with `items`. Not a leak
    /// by itself: a runtime buffer may reach a new high-water mark in any run.
    pub leaked_bytes: i64,
    /// The same in a run with twice the items (absent in files written before
    /// the slope existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaked_bytes_2n: Option<i64>,
    /// The leak: `(leaked_bytes_2n - leaked_bytes) / items`, bytes kept per item.
    /// Anything kept per item adds at least one byte; a one-time allocation adds
    /// nothing (absent in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leak_per_item: Option<f64>,
}

/// What a baseline keeps of one memory component (`memory.json`), for the
/// gate's live-bytes and leak channels: exact allocator counts, no time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryCount {
    /// What one item is.
    pub item: String,
    /// Items loaded (N).
    pub items: u64,
    /// Live bytes per item at the component's fullest mark.
    pub bytes_per_item: f64,
    /// Bytes kept per item after teardown (the N vs 2N slope), when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leak_per_item: Option<f64>,
}

impl From<&MemoryComponent> for MemoryCount {
    fn from(c: &MemoryComponent) -> MemoryCount {
        MemoryCount {
            item: c.item.clone(),
            items: c.items,
            bytes_per_item: c.bytes_per_item.values().copied().fold(0.0, f64::max),
            leak_per_item: c.leak_per_item,
        }
    }
}

impl MemoryComponent {
    /// Whether this component leaks more than `max_per_item` bytes per item: the
    /// slope when the file has one, else (older files) any residue at all.
    pub fn leaks(&self, max_per_item: f64) -> bool {
        match self.leak_per_item {
            Some(slope) => slope > max_per_item,
            None => self.leaked_bytes > 0,
        }
    }
}

/// `target/mcpbench/memory.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryFile {
    /// Always [`MEMORY_SCHEMA`].
    pub schema: String,
    /// Where it was measured.
    pub environment: Environment,
    /// One entry per component measured.
    pub components: Vec<MemoryComponent>,
}

/// Throughput of one window of the sustained run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Window start, seconds after the measurement began.
    pub start_s: f64,
    /// Window end.
    pub end_s: f64,
    /// Operations completed in the window.
    pub ops: u64,
    /// `ops / (end_s - start_s)`.
    pub ops_per_s: f64,
}

/// Live bytes at the start and end of the sustained run (workers parked both times).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SustainedMemory {
    /// Allocator-counted live bytes at the start.
    pub live_bytes_start: i64,
    /// At the end.
    pub live_bytes_end: i64,
    /// End - start.
    pub live_bytes_delta: i64,
    /// RSS at the start (context only).
    pub rss_bytes_start: u64,
    /// RSS at the end (context only).
    pub rss_bytes_end: u64,
}

/// `target/mcpbench/sustained.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SustainedFile {
    /// Always [`SUSTAINED_SCHEMA`].
    pub schema: String,
    /// Bench id.
    pub id: String,
    /// Concurrent workers.
    pub workers: usize,
    /// Warm-up before measuring, seconds.
    pub warm_up_s: f64,
    /// Measured wall-clock seconds.
    pub seconds: f64,
    /// Operations completed while measuring.
    pub ops: u64,
    /// `ops / seconds`.
    pub ops_per_s: f64,
    /// Throughput per window (a third of the run each).
    pub windows: Vec<Window>,
    /// (fastest window - slowest window) / overall rate, in percent.
    pub window_spread_pct: f64,
    /// Per-op latency.
    pub latency: LatencyFile,
    /// Memory at start and end.
    pub memory: SustainedMemory,
    /// Where it was measured.
    pub environment: Environment,
}
