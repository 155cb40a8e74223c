//! `connections.json`: one `mcpbench-load connections` run.

use crate::{Invalid, invalid};
use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::FileError;

/// Schema tag of [`ConnectionsFile`].
pub const CONNECTIONS_SCHEMA: &str = "mcpbench.connections/2";

/// Which server the load ran against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    /// `mcpbench-server`.
    Mcp,
    /// Its bare ceiling (`mcpbench-server --bare`).
    Bare,
    /// A server the load did not start (`--target URL`).
    External,
}

/// How the load spoke to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Newline-delimited JSON-RPC over TCP.
    Tcp,
    /// MCP's Streamable HTTP.
    Http,
}

/// What was asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requested {
    /// Concurrent connections.
    pub connections: u64,
    /// `tools/call` per second per connection.
    pub rate_per_connection: f64,
    /// Seconds of calls.
    pub duration_s: f64,
    /// Bytes of text asked of our `text` tool (`--size`); tools that take no size
    /// ignore it. What came back is [`Messages::reply_bytes_mean`].
    pub result_bytes: u64,
    /// The server.
    pub server: ServerKind,
    /// The transport.
    pub transport: Transport,
    /// Where the server was (`http://127.0.0.1:PORT/mcp`, `tcp://...`).
    pub target: String,
    /// The protocol generation asked for: `2025-11-25`, `2026-07-28` or `auto`
    /// (HTTP); `tcp` for the TCP transport.
    pub protocol: String,
    /// The tool each call calls, and its arguments as JSON.
    pub tool: String,
    /// The arguments.
    pub arguments: String,
    /// Sessions left open at the end instead of deleted.
    pub abandon: bool,
}

/// The processes the load was spread over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Processes {
    /// Server processes (sharing one port).
    pub servers: u64,
    /// Client processes.
    pub clients: u64,
    /// Connections per process at most.
    pub per_process: u64,
    /// The open-file limit per process.
    pub open_file_limit: u64,
}

/// How connecting went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connections {
    /// Connected and initialized.
    pub established: u64,
    /// Failed to connect or initialize.
    pub failed: u64,
    /// Failures by reason.
    pub errors: BTreeMap<String, u64>,
    /// Seconds until every connection was up.
    pub connect_s: f64,
    /// Connections per second.
    pub connect_per_s: f64,
    /// Connections the server closed between requests (a keep-alive timeout)
    /// that a client opened again: each client still has one connection at a time.
    pub reopened: u64,
}

/// The calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Messages {
    /// Calls due by the schedule.
    pub due: u64,
    /// Calls sent.
    pub sent: u64,
    /// Calls answered (by the deadline).
    pub answered: u64,
    /// `error_replies + unanswered`.
    pub lost: u64,
    /// Calls answered with an error.
    pub error_replies: u64,
    /// Calls sent and never answered by the deadline.
    pub unanswered: u64,
    /// Calls due but not sent by the deadline.
    pub not_sent_too_late: u64,
    /// Calls answered within the run's duration.
    pub answered_in_run: u64,
    /// `answered_in_run / duration`.
    pub achieved_per_s: f64,
    /// Answered per second, the grace period included.
    pub answered_per_s_with_grace: f64,
    /// `established * rate`.
    pub requested_per_s: f64,
    /// Mean bytes of a reply answered with a result, measured (the whole
    /// JSON-RPC message); `None` when no call was answered, and in files written
    /// before it was measured.
    #[serde(default)]
    pub reply_bytes_mean: Option<f64>,
}

/// Per-connection outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerConnection {
    /// Connections with every due call answered.
    pub every_call_answered: u64,
    /// Connections with at least one due call not answered.
    pub some_call_not_answered: u64,
    /// Connections that had no call due.
    pub no_call_due: u64,
}

/// Open-loop latency of every due call, in ns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenLoopLatency {
    /// How it was measured.
    pub method: String,
    /// Samples.
    pub count: u64,
    /// Samples recorded at the deadline (lower bounds).
    pub censored: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

/// Latency of one phase of opening a connection, in ns, one sample per
/// connection (closed-loop: each step starts when the previous one has ended).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseLatency {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

/// Latency of the steps before the calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phases {
    /// TCP connect.
    pub connect: PhaseLatency,
    /// `initialize` + `notifications/initialized` (handshake generation), or
    /// `server/discover` (stateless; under `auto`, the probe and any fallback).
    pub handshake: PhaseLatency,
    /// `tools/list`.
    pub tools_list: PhaseLatency,
}

/// What became of the sessions (HTTP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sessions {
    /// Connections that spoke the handshake generation (a session each).
    pub handshake: u64,
    /// Connections that spoke the stateless generation (no session).
    pub stateless: u64,
    /// Sessions ended with DELETE at the end (a 2xx answer).
    pub deleted: u64,
    /// DELETEs that failed (another status, or no answer).
    pub delete_failed: u64,
}

/// The servers' heap, allocator-counted, summed over server processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerMemory {
    /// Before any connection.
    pub live_bytes_before: i64,
    /// With every connection open and idle.
    pub live_bytes_idle: i64,
    /// `(idle - before) / established`, when any was established.
    pub bytes_per_idle_connection: Option<f64>,
    /// RSS with every connection idle (context only).
    pub rss_bytes_idle: u64,
    /// After every connection closed.
    pub live_bytes_after_close: i64,
    /// Sessions left after every connection closed: must be 0.
    pub sessions_after_close: u64,
    /// `(after close - before) / established`: an upper bound (tables keep capacity).
    pub retained_bytes_per_connection_after_close: Option<f64>,
    /// What the retained figure means.
    pub retained_note: String,
    /// Every server counted its allocations.
    pub counted: bool,
    /// Servers whose stats reply was missing or malformed (their sessions are
    /// unknown, not zero).
    pub servers_unreadable: u64,
}

/// The resident set size of a server process the load did not start but was told
/// about (`--server-pid`): the kernel's view, for servers whose heap cannot be
/// counted. RSS keeps pages a process freed, so "after" is an upper bound of what
/// is still held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerRss {
    /// The process.
    pub pid: u32,
    /// Before any connection.
    pub before: u64,
    /// With every connection open and idle.
    pub idle: u64,
    /// After every session ended (or was abandoned) and every connection closed.
    pub after: u64,
    /// `(idle - before) / established`, when any was established.
    pub per_connection_idle: Option<f64>,
    /// `(after - before) / established`.
    pub per_connection_after: Option<f64>,
    /// Server processes whose RSS is summed (several when the load started ours
    /// sharing one port).
    #[serde(default = "one_process")]
    pub processes: u64,
}

fn one_process() -> u64 {
    1
}

/// `target/mcpbench/connections.json` (or `connections-bare.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionsFile {
    /// Always [`CONNECTIONS_SCHEMA`].
    pub schema: String,
    /// What was asked for.
    pub requested: Requested,
    /// Processes used.
    pub processes: Processes,
    /// Connecting.
    pub connections: Connections,
    /// Calls.
    pub messages: Messages,
    /// Per connection.
    pub per_connection: PerConnection,
    /// Latency of the calls.
    pub latency_ns: OpenLoopLatency,
    /// The calls' latency window by window of their due time (absent from files
    /// written before windows existed).
    #[serde(default)]
    pub latency_windows: crate::latency::LatencyWindows,
    /// Latency of the steps before them.
    pub phases_ns: Phases,
    /// Sessions.
    pub sessions: Sessions,
    /// Server heap; `None` for a server the load did not start (it cannot ask).
    pub server_memory: Option<ServerMemory>,
    /// RSS of the server process named with `--server-pid`, if one was.
    pub server_rss: Option<ServerRss>,
    /// Client processes that never reported their end.
    pub unfinished_clients: u64,
    /// The shards merged into this result (`mcpbench-load merge`, or the local
    /// processes of a run); absent from files written before shards existed.
    #[serde(default)]
    pub shards: Option<crate::shard::MergedShards>,
}

impl PhaseLatency {
    /// p50, p99, p99.9, max.
    pub fn quantiles(&self) -> [u64; 4] {
        [self.p50, self.p99, self.p999, self.max]
    }
}

impl ConnectionsFile {
    /// Reads `path`, checks its schema and that its figures can all be true.
    pub fn load(path: &Path) -> Result<ConnectionsFile, FileError> {
        crate::load_checked(path, CONNECTIONS_SCHEMA, ConnectionsFile::check)
    }

    /// Figures that cannot all be true are refused.
    pub fn check(&self) -> Result<(), Invalid> {
        let l = &self.latency_ns;
        let ordered = [
            ("latency_ns", [l.p50, l.p99, l.p999, l.max]),
            ("phases_ns.connect", self.phases_ns.connect.quantiles()),
            ("phases_ns.handshake", self.phases_ns.handshake.quantiles()),
            (
                "phases_ns.tools_list",
                self.phases_ns.tools_list.quantiles(),
            ),
        ];
        for (field, [p50, p99, p999, max]) in ordered {
            if !(p50 <= p99 && p99 <= p999 && p999 <= max) {
                return Err(invalid!(
                    "{field}: percentiles out of order (p50 {p50}, p99 {p99}, p99.9 {p999}, max {max})"
                ));
            }
        }
        let c = &self.connections;
        if c.established + c.failed > self.requested.connections {
            return Err(invalid!(
                "connections: {} established + {} failed > {} requested",
                c.established,
                c.failed,
                self.requested.connections
            ));
        }
        let m = &self.messages;
        if m.lost != m.error_replies + m.unanswered {
            return Err(invalid!(
                "messages: lost {} is not error_replies {} + unanswered {}",
                m.lost,
                m.error_replies,
                m.unanswered
            ));
        }
        Ok(())
    }

    /// A complete, consistent example: 2,000 connections at 1 call/s for 3 s,
    /// every call answered (for docs and tests; the figures are made up).
    pub fn example() -> ConnectionsFile {
        ConnectionsFile {
            schema: CONNECTIONS_SCHEMA.into(),
            requested: Requested {
                connections: 2000,
                rate_per_connection: 1.0,
                duration_s: 3.0,
                result_bytes: 4096,
                server: ServerKind::Mcp,
                transport: Transport::Tcp,
                target: "tcp://127.0.0.1:7400".into(),
                protocol: "tcp".into(),
                tool: "text".into(),
                arguments: "{}".into(),
                abandon: false,
            },
            processes: Processes {
                servers: 1,
                clients: 1,
                per_process: 15_000,
                open_file_limit: 20_000,
            },
            connections: Connections {
                established: 2000,
                failed: 0,
                errors: Default::default(),
                connect_s: 0.3,
                connect_per_s: 6666.0,
                reopened: 0,
            },
            messages: Messages {
                due: 6000,
                sent: 6000,
                answered: 6000,
                lost: 0,
                error_replies: 0,
                unanswered: 0,
                not_sent_too_late: 0,
                answered_in_run: 6000,
                achieved_per_s: 2000.0,
                answered_per_s_with_grace: 1500.0,
                requested_per_s: 2000.0,
                reply_bytes_mean: Some(4_180.0),
            },
            per_connection: PerConnection {
                every_call_answered: 2000,
                some_call_not_answered: 0,
                no_call_due: 0,
            },
            latency_ns: OpenLoopLatency {
                method: "per-op, open-loop".into(),
                count: 6000,
                censored: 0,
                p50: 1_000_000,
                p99: 3_000_000,
                p999: 5_000_000,
                max: 9_000_000,
            },
            latency_windows: crate::latency::LatencyWindows {
                window_ms: 1_000,
                windows: vec![
                    crate::latency::WindowLatency {
                        count: 2000,
                        p50: 1_000_000,
                        p99: 3_000_000,
                        max: 9_000_000,
                    };
                    3
                ],
            },
            phases_ns: Phases {
                connect: PhaseLatency {
                    count: 2000,
                    p50: 50_000,
                    p99: 400_000,
                    p999: 900_000,
                    max: 1_000_000,
                },
                handshake: PhaseLatency {
                    count: 2000,
                    p50: 100_000,
                    p99: 800_000,
                    p999: 1_500_000,
                    max: 2_000_000,
                },
                tools_list: PhaseLatency {
                    count: 0,
                    p50: 0,
                    p99: 0,
                    p999: 0,
                    max: 0,
                },
            },
            sessions: Sessions {
                handshake: 2000,
                stateless: 0,
                deleted: 0,
                delete_failed: 0,
            },
            server_memory: Some(ServerMemory {
                live_bytes_before: 1000,
                live_bytes_idle: 3_000_000,
                bytes_per_idle_connection: Some(1500.0),
                rss_bytes_idle: 10_000_000,
                live_bytes_after_close: 2000,
                sessions_after_close: 0,
                retained_bytes_per_connection_after_close: Some(0.5),
                retained_note: "upper bound".into(),
                counted: true,
                servers_unreadable: 0,
            }),
            server_rss: None,
            unfinished_clients: 0,
            shards: None,
        }
    }

    /// Every connection established, every call answered, nothing lost, no session
    /// left behind: what the load's exit code and the report's row require.
    pub fn all_answered(&self) -> bool {
        let (c, m) = (&self.connections, &self.messages);
        self.requested.connections > 0
            && c.established == self.requested.connections
            && c.failed == 0
            && m.lost == 0
            && m.not_sent_too_late == 0
            && self.per_connection.some_call_not_answered == 0
    }
}
