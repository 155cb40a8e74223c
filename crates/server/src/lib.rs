#![forbid(unsafe_code)]
//! A small MCP server made of the five mcpbench components, to load-test.
//!
//! Newline-delimited JSON-RPC over TCP (`mcpbench-netio`), and MCP's Streamable
//! HTTP in both generations (`http.rs`). Over TCP, one MCP session per
//! connection (`mcpbench-session`): `initialize` creates it, the connection's end
//! removes it. `tools/call` is routed by tool name through the route table
//! (`mcpbench-registry`) into the tool's mailbox (`mcpbench-queue`); the tool's
//! worker answers through the in-flight table. The `proxy` tool forwards to an
//! upstream MCP server over pooled connections (`mcpbench-pool`).
//!
//! Methods: `initialize`, `notifications/initialized`, `ping`, `tools/list`,
//! `tools/call`, and `mcpbench/stats` (sessions, allocator-counted heap, RSS: what
//! the load harness reads). Tools: `echo` (returns `arguments.text`), `text` (returns a text of
//! [`Settings::result_size`] bytes, 4 KiB by default: the seed's message size),
//! `proxy` (calls `echo` upstream). Errors: -32601 unknown method, -32602 unknown
//! tool or bad params, -32600 a request before `initialize` or a second
//! `initialize`, -32603 a tool that did not answer in time (a full tool queue makes
//! the connection wait, in arrival order: back-pressure, not an error); a
//! tool that fails answers with `isError: true`.
//!
//! A `tools/call` whose tool answers within one yield (echo, text) is answered at
//! once; otherwise (proxy) from a task of its own through netio's deferred replies,
//! so the requests of one connection are served concurrently and their replies come
//! back in completion order (ids correlate them).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mcpbench_netio::Client;
//! use mcpbench_server::{Settings, start};
//!
//! let server = start("127.0.0.1:0".parse()?, Settings::default()).await?;
//! let mut client = Client::connect(server.local_addr()).await?;
//! let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"doc","version":"1"}}}"#;
//! let reply: serde_json::Value = serde_json::from_slice(&client.call(init.as_bytes()).await?)?;
//! assert_eq!(reply["result"]["serverInfo"]["name"], "mcpbench-server");
//! server.shutdown().await;
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use mcpbench_files::ServerStats;
use mcpbench_pool::{Pool, PoolConfig};
use mcpbench_registry::{InFlight, Registry};
use mcpbench_session::{SessionId, SessionStore};
use serde_json::Value;
use tokio::sync::Semaphore;

// Code map: settings (Settings), protocol (revisions, replies, params), sessions
// (initialize, touch, expiry), dispatch (ping, tools/list, tools/call), tcp (the
// TCP Handler), http (Streamable HTTP, both generations), tools + upstream (the
// tools behind one trait), workers (a worker per tool), running (start a
// server), ceilings (the bare servers it is measured against), error.
pub mod ceilings;
mod dispatch;
mod error;
pub mod events;
pub mod http;
mod listen;
mod protocol;
pub mod redis_bus;
mod running;
mod sessions;
mod settings;
mod stateless_params;
mod tcp;
mod tools;
mod upstream;
mod workers;

pub use ceilings::{bare, bare_http};
pub use error::{ServerError, ToolError};
pub use protocol::{
    MAX_CLIENT_INFO_BYTES, MAX_SESSION_BYTES, PROTOCOL_VERSION, SUPPORTED_VERSIONS,
};
pub use running::{Running, start, start_http};
pub use settings::{BusAt, Settings};
pub use upstream::Upstream;

use events::{EventBus, HostBus, LocalBus, Resources};
use redis_bus::RedisBus;
use tools::{AnswersAtOnce, Echo, Text, Tool, ToolCall, Touch, listing};
use upstream::Proxy;

/// The MCP server's state: a netio [`Handler`](mcpbench_netio::Handler) (TCP)
/// and the state behind the HTTP handler.
pub struct McpServer {
    /// This server, for the tasks that answer deferred calls.
    me: std::sync::Weak<McpServer>,
    settings: Settings,
    sessions: SessionStore,
    by_connection: DashMap<u64, SessionId>,
    tools: Registry<ToolCall>,
    /// One gate per tool with as many permits as its mailbox has slots: calls wait
    /// for a slot in arrival order (tokio's semaphore hands a freed permit to the
    /// longest waiter), where waiting on the full mailbox itself would let newcomers
    /// take slots freed for earlier callers (`Mailbox::push` is not FIFO).
    gates: Vec<(&'static str, Arc<Semaphore>)>,
    /// The tools answered on the caller's task (unless `tool_workers`).
    at_once: Vec<Box<dyn AnswersAtOnce>>,
    /// `tools/list`'s `tools`, built once.
    listed: Value,
    /// Answers are the serialized `result` member (or why the tool failed).
    in_flight: InFlight<u64, Result<Bytes, ToolError>>,
    next_call: AtomicU64,
    /// Sessions ended by expiry so far.
    expired: AtomicU64,
    /// The transport's counters (refusals, closes by deadline), once it runs:
    /// `mcpbench/stats` reports them over either transport.
    net: std::sync::OnceLock<mcpbench_netio::StatsHandle>,
    /// The resources' values and the open streams' counters.
    resources: Arc<Resources>,
    /// Where resource updates are published and every open stream receives them.
    bus: Arc<dyn EventBus>,
}

/// The in-flight table's expiry is a backstop for a tool that never answers; it
/// comes this long after the call timeout, so a tool that enforces the timeout
/// itself (the proxy: "no reply within N ms") is the one that answers, not a race
/// between the two (which the proxy test lost once in CI).
const BACKSTOP_GRACE: Duration = Duration::from_millis(250);

impl McpServer {
    /// How long a caller waits for its tool's answer: the call timeout plus
    /// [`BACKSTOP_GRACE`].
    pub(crate) fn answer_wait(&self) -> Duration {
        self.settings.call_timeout + BACKSTOP_GRACE
    }

    /// A server with `settings` and its event bus (in-process, [`LocalBus`]; or
    /// shared on the host, [`HostBus`], with `settings.event_bus`); its
    /// tool workers run on the current tokio runtime. Refused when the `proxy`
    /// tool's upstream pool cannot be made.
    pub fn new(settings: Settings) -> Result<Arc<McpServer>, ServerError> {
        let bus: Arc<dyn EventBus> = match &settings.event_bus {
            None => Arc::new(LocalBus::new(settings.listen_queue)),
            Some(BusAt::Host(dir)) => {
                HostBus::join(dir, settings.listen_queue).map_err(|e| ServerError::EventBus {
                    at: BusAt::Host(dir.clone()),
                    why: e.to_string(),
                })?
            }
            Some(at @ BusAt::Redis(_)) => {
                return Err(ServerError::EventBus {
                    at: at.clone(),
                    why: "a Redis bus is joined by McpServer::open (it connects first)".into(),
                });
            }
        };
        McpServer::with_bus(settings, bus)
    }

    /// As [`McpServer::new`], and for a Redis bus (`settings.event_bus`) first
    /// connects and subscribes, so the server starts only once updates from the
    /// other nodes can reach it.
    pub async fn open(settings: Settings) -> Result<Arc<McpServer>, ServerError> {
        match &settings.event_bus {
            Some(at @ BusAt::Redis(url)) => {
                let bus = RedisBus::join(url, settings.listen_queue)
                    .await
                    .map_err(|why| ServerError::EventBus {
                        at: at.clone(),
                        why,
                    })?;
                McpServer::with_bus(settings, bus)
            }
            _ => McpServer::new(settings),
        }
    }

    /// As [`McpServer::new`], publishing resource updates on `bus` (one shared by
    /// several server processes delivers an update to the streams of all).
    pub fn with_bus(
        settings: Settings,
        bus: Arc<dyn EventBus>,
    ) -> Result<Arc<McpServer>, ServerError> {
        let upstream = settings
            .upstream
            .map(|addr| {
                let config = PoolConfig {
                    max_size: settings.upstream_connections,
                    ..PoolConfig::default()
                };
                Pool::new(Upstream { addr }, &config).map_err(|e| ServerError::Upstream {
                    addr,
                    connections: settings.upstream_connections,
                    why: e.to_string(),
                })
            })
            .transpose()?;
        let (echo, text) = (Echo, Text::new(settings.result_size));
        let proxy = Proxy {
            upstream,
            limit: settings.call_timeout,
        };
        let resources = Arc::new(Resources::default());
        let touch = Touch {
            resources: resources.clone(),
            bus: bus.clone(),
        };
        let listed = Value::Array(vec![
            listing(&echo),
            listing(&text),
            listing(&proxy),
            listing(&touch),
        ]);
        let gates = [
            Tool::name(&echo),
            Tool::name(&text),
            proxy.name(),
            Tool::name(&touch),
        ]
        .map(|name| (name, Arc::new(Semaphore::new(settings.tool_queue))))
        .to_vec();
        let at_once: Vec<Box<dyn AnswersAtOnce>> = if settings.tool_workers {
            Vec::new()
        } else {
            vec![
                Box::new(echo.clone()),
                Box::new(text.clone()),
                Box::new(touch.clone()),
            ]
        };
        let server = Arc::new_cyclic(|me| McpServer {
            me: me.clone(),
            sessions: SessionStore::new(settings.max_sessions),
            by_connection: DashMap::new(),
            tools: Registry::new(),
            gates,
            at_once,
            listed,
            in_flight: InFlight::new(),
            next_call: AtomicU64::new(1),
            expired: AtomicU64::new(0),
            net: std::sync::OnceLock::new(),
            resources,
            bus,
            settings,
        });
        workers::start(&server, echo);
        workers::start(&server, text);
        workers::start(&server, proxy);
        workers::start(&server, touch);
        Ok(server)
    }

    fn answer(&self, call: u64, outcome: Result<Bytes, ToolError>) {
        // The caller may have timed out or gone: nothing to do then.
        let _ = self.in_flight.complete(&call, outcome);
    }

    /// What `mcpbench/stats` answers: sessions, allocator-counted live heap bytes
    /// (when the binary installed the counting allocator) and RSS.
    pub fn stats(&self) -> ServerStats {
        let net = self.net.get().map(|n| n.get()).unwrap_or_default();
        ServerStats {
            max_sessions: self.sessions.max_sessions() as u64,
            sessions_expired: self.expired.load(Ordering::Relaxed),
            connections_refused: net.refused,
            closed_by_deadline: net.closed_by_deadline,
            listeners: self.resources.listeners.load(Ordering::Relaxed),
            listeners_opened: self.resources.listeners_opened.load(Ordering::Relaxed),
            listeners_lagged: self.resources.listeners_lagged.load(Ordering::Relaxed),
            events_published: self.resources.published.load(Ordering::Relaxed),
            ..McpServer::process_stats(self.sessions.len())
        }
    }

    /// The transport's counters, read by [`McpServer::stats`] from now on.
    pub(crate) fn attach(&self, net: mcpbench_netio::StatsHandle) {
        let _ = self.net.set(net);
    }

    /// [`McpServer::stats`] with the session count given: what a harness reads
    /// from any server process (the bare one has no sessions). The type is shared
    /// with the reader (`mcpbench-load`).
    pub fn process_stats(sessions: usize) -> ServerStats {
        ServerStats {
            sessions: sessions as u64,
            max_sessions: 0,
            sessions_expired: 0,
            allocator_counted: mcpbench_alloc::installed(),
            live_bytes: mcpbench_alloc::live_bytes(),
            rss_bytes: mcpbench_alloc::rss_bytes(),
            connections_refused: 0,
            closed_by_deadline: [0; 4],
            listeners: 0,
            listeners_opened: 0,
            listeners_lagged: 0,
            events_published: 0,
        }
    }
}

impl Drop for McpServer {
    fn drop(&mut self) {
        // Ends the tool workers: they drain their mailbox, then stop.
        self.tools.for_each(|_, mailbox| mailbox.close());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pool_that_cannot_be_made_is_an_error_naming_the_setting_not_a_silent_tool() {
        let settings = Settings {
            upstream: Some("127.0.0.1:9".parse().unwrap()),
            upstream_connections: 0,
            ..Settings::default()
        };
        let e = McpServer::new(settings).err().expect("refused").to_string();
        assert!(
            e.contains("127.0.0.1:9")
                && e.contains("--upstream-connections 0")
                && e.contains("max_size"),
            "{e}"
        );
        // Without --upstream there is no pool to fail: the proxy tool says so per call.
        assert!(McpServer::new(Settings::default()).is_ok());
    }
}
