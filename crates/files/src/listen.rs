//! `target/mcpbench/listen/listen.json`: one run of `mcpbench-load listen`
//! (N server-to-client streams held open, resource updates triggered at a
//! rate, each delivery timed), written by the load tool, read by users' tools
//! and the report.

use serde::{Deserialize, Serialize};

use crate::Invalid;
use crate::invalid;
use crate::scenario::Percentiles;

/// The schema of [`ListenFile`].
pub const LISTEN_SCHEMA: &str = "mcpbench.listen/1";

/// The server's own view, read with `mcpbench/stats` (servers of this project).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenServer {
    /// Allocator-counted heap per held listener: the heap with every listener
    /// held, less the heap before the first was opened, over the listeners;
    /// `None` when the server does not count its allocations.
    pub heap_per_listener_bytes: Option<f64>,
    /// RSS with every listener held.
    pub rss_bytes: Option<u64>,
    /// Streams the server counted open with every listener held.
    pub listeners: u64,
    /// Streams it closed because they fell behind, over the run.
    pub lagged: u64,
    /// Updates it published, over the run.
    pub events_published: u64,
}

/// What the listeners of one client process got (`listen` over several
/// processes: each child's last stdout line, [`ListenChildLine::Done`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenPart {
    /// Listeners held.
    pub listeners: u64,
    /// Listeners not opened.
    pub failed: u64,
    /// What went wrong, most frequent first.
    pub failures: Vec<crate::scenario::ErrorCount>,
    /// Deliveries received.
    pub delivered: u64,
    /// Deliveries due and not received.
    pub missed: u64,
    /// Streams that ended early.
    pub ended: u64,
    /// The deliveries' histogram, ns, encoded.
    pub histogram: String,
}

/// What a `listen` child writes on stdout, one JSON object per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "listen", rename_all = "snake_case")]
pub enum ListenChildLine {
    /// Every listener is held or failed.
    Ready {
        /// Held.
        listeners: u64,
        /// Not opened.
        failed: u64,
    },
    /// The child stopped: what its listeners got.
    Done(ListenPart),
}

/// What the parent tells a `listen` child on stdin, once the triggering and its
/// grace period are over: stop, with this many updates due to each listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenStop {
    /// Updates the server acknowledged.
    pub acked: u64,
}

/// What the triggering cost each side, from the first trigger to the end of the
/// grace period: CPU seconds and CPU microseconds per delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenCost {
    /// The load process (listeners, triggers, control; one thread), with its
    /// child processes over several processes.
    pub generator_cpu_s: f64,
    /// The server process, when this run started it (`None` with --target).
    pub server_cpu_s: Option<f64>,
    /// `generator_cpu_s` per delivery, us.
    pub generator_us_per_delivery: Option<f64>,
    /// `server_cpu_s` per delivery, us.
    pub server_us_per_delivery: Option<f64>,
    /// Seconds from the first trigger to the end of the grace period.
    pub wall_s: f64,
}

/// The result of `mcpbench-load listen`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenFile {
    /// [`LISTEN_SCHEMA`].
    pub schema: String,
    /// Which server: `mcpbench` or `bare` (started by the run), or `target` (a
    /// server it did not start).
    pub name: String,
    /// The server's endpoint.
    pub target: String,
    /// How the server processes the run started shared updates: `host` or
    /// `redis`; absent for one server process of its own bus, or a target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<String>,
    /// The protocol generation: `2026-07-28` (`subscriptions/listen`) or
    /// `2025-11-25` (GET stream + `resources/subscribe`).
    pub protocol: String,
    /// The resource subscribed to and touched.
    pub uri: String,
    /// Listeners asked for.
    pub requested: u64,
    /// Listeners held when the first event was triggered.
    pub listeners: u64,
    /// Listeners that could not be opened.
    pub failed: u64,
    /// What went wrong (listeners not opened, triggers, control calls, updates
    /// not as expected), most frequent first.
    pub failures: Vec<crate::scenario::ErrorCount>,
    /// Seconds to open every listener.
    pub open_s: f64,
    /// Events asked for per second.
    pub events_per_s: f64,
    /// Seconds of triggering.
    pub duration_s: f64,
    /// Events triggered and acknowledged by the server (`touch` answered).
    pub events: u64,
    /// Triggers that failed (not answered, or answered with an error).
    pub trigger_errors: u64,
    /// Deliveries due: for every acknowledged event, the listeners held when
    /// it was triggered.
    pub expected: u64,
    /// Deliveries received (by the end plus the grace period).
    pub delivered: u64,
    /// Deliveries due and never received.
    pub missed: u64,
    /// Streams that ended before the run did (closed by the server, or broken).
    pub streams_ended: u64,
    /// From each trigger's send time (its due time: open-loop) to each
    /// listener's receipt, ns.
    pub delivery_ns: Percentiles,
    /// The deliveries' histogram, ns, encoded (HdrHistogram V2 + DEFLATE,
    /// base64).
    pub delivery_histogram: String,
    /// The triggering `touch` calls, from due time to answer, ns.
    pub trigger_ns: Percentiles,
    /// The control calls (`tools/list` on a connection of its own, during the
    /// triggering), from due time to answer, ns.
    pub control_ns: Percentiles,
    /// Control calls that failed.
    pub control_errors: u64,
    /// The server's counts, when it answers `mcpbench/stats`.
    pub server: Option<ListenServer>,
    /// What the triggering cost the generator and the server.
    pub cost: ListenCost,
}

impl ListenFile {
    /// Reads `path`: its schema tag, its fields, and [`ListenFile::check`].
    pub fn load(path: &std::path::Path) -> Result<ListenFile, crate::FileError> {
        crate::load_checked(path, LISTEN_SCHEMA, ListenFile::check)
    }

    /// Refuses a file that contradicts itself.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.schema != LISTEN_SCHEMA {
            return Err(invalid!("schema: {:?}, not {LISTEN_SCHEMA}", self.schema));
        }
        if self.listeners + self.failed != self.requested {
            return Err(invalid!(
                "failed: {} held + {} failed is not the {} requested",
                self.listeners,
                self.failed,
                self.requested
            ));
        }
        if self.delivered + self.missed < self.expected {
            return Err(invalid!(
                "missed: {} delivered + {} missed is under the {} expected",
                self.delivered,
                self.missed,
                self.expected
            ));
        }
        if self.delivery_ns.count != self.delivered {
            return Err(invalid!(
                "delivery_ns.count: {}, not the {} delivered",
                self.delivery_ns.count,
                self.delivered
            ));
        }
        Ok(())
    }
}
