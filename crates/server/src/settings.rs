//! How a server is set up.

use std::net::SocketAddr;
use std::time::Duration;

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Bytes of text the `text` tool returns.
    pub result_size: usize,
    /// Most sessions at once; `initialize` beyond it gets an error.
    pub max_sessions: usize,
    /// The upstream MCP server the `proxy` tool calls, if any.
    pub upstream: Option<SocketAddr>,
    /// Connections to the upstream at most.
    pub upstream_connections: usize,
    /// Messages a tool's mailbox holds; beyond it a connection with a call for that
    /// tool waits for room, in arrival order (and reads nothing meanwhile).
    pub tool_queue: usize,
    /// Longest a call waits for its tool.
    pub call_timeout: Duration,
    /// Share the listening port with other processes (`SO_REUSEPORT`).
    pub reuse_port: bool,
    /// A session unused for this long expires (HTTP: its id then gets 404).
    pub session_ttl: Duration,
    /// Deadlines and caps of every connection (TCP: a connection must send
    /// `initialize` within `handshake`).
    pub guards: mcpbench_netio::Guards,
    /// Events an open stream (`subscriptions/listen`, GET) may fall behind before
    /// it is closed: the capacity of the event bus's ring, shared by all streams.
    pub listen_queue: usize,
    /// Share resource updates with the other server processes whose event bus is
    /// this folder ([`crate::events::HostBus`]); `None`: this process only.
    pub event_bus: Option<std::path::PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            result_size: 4096,
            max_sessions: 200_000,
            upstream: None,
            upstream_connections: 16,
            tool_queue: 4096,
            call_timeout: Duration::from_secs(10),
            reuse_port: false,
            session_ttl: Duration::from_secs(30 * 60),
            guards: mcpbench_netio::Guards {
                handshake: Some(Duration::from_secs(10)),
                ..mcpbench_netio::Guards::default()
            },
            listen_queue: 64,
            event_bus: None,
        }
    }
}
