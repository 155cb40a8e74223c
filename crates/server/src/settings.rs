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
    /// Send every call through its tool's mailbox and worker, even a tool
    /// that answers without waiting (`echo`, `text`, `touch`), which are
    /// otherwise answered on the caller's own task.
    pub tool_workers: bool,
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
    /// Share resource updates with the other server processes on the same bus
    /// (a folder on this host, or a Redis server); `None`: this process only.
    pub event_bus: Option<BusAt>,
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
            tool_workers: false,
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

/// Where a server's event bus is shared (`--event-bus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusAt {
    /// Server processes on one host: a folder of Unix datagram sockets
    /// ([`crate::events::HostBus`]).
    Host(std::path::PathBuf),
    /// Server processes on any nodes: Redis pub/sub at this URL
    /// ([`crate::redis_bus::RedisBus`]).
    Redis(String),
}

impl std::str::FromStr for BusAt {
    type Err = String;

    /// `redis://HOST:PORT` (or `redis+unix:///SOCKET`) is a Redis bus;
    /// anything else is a folder.
    fn from_str(s: &str) -> Result<BusAt, String> {
        if s.is_empty() {
            return Err("an empty --event-bus: give a folder or redis://HOST:PORT".into());
        }
        if ["redis://", "redis+unix://"]
            .iter()
            .any(|p| s.starts_with(p))
        {
            return Ok(BusAt::Redis(s.to_string()));
        }
        if s.contains("://") {
            return Err(format!(
                "{s}: an event bus is redis://HOST:PORT, redis+unix:///SOCKET or a folder"
            ));
        }
        Ok(BusAt::Host(std::path::PathBuf::from(s)))
    }
}

impl std::fmt::Display for BusAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BusAt::Host(dir) => write!(f, "{}", dir.display()),
            BusAt::Redis(url) => f.write_str(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BusAt;

    #[test]
    fn an_event_bus_is_a_redis_url_or_a_folder_and_nothing_else() {
        assert_eq!(
            "redis://127.0.0.1:6379".parse(),
            Ok(BusAt::Redis("redis://127.0.0.1:6379".into()))
        );
        assert_eq!(
            "redis+unix:///tmp/r.sock".parse(),
            Ok(BusAt::Redis("redis+unix:///tmp/r.sock".into()))
        );
        assert_eq!("/tmp/bus".parse(), Ok(BusAt::Host("/tmp/bus".into())));
        let e = "http://127.0.0.1:6379".parse::<BusAt>().unwrap_err();
        assert!(
            e.contains("http://127.0.0.1:6379") && e.contains("redis://"),
            "{e}"
        );
        assert!("".parse::<BusAt>().is_err());
    }
}
