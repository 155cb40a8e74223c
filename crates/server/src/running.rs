//! Starting the server on either transport, and the handle to a running one.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use mcpbench_files::ServerStats;
use mcpbench_netio::{Server, ServerConfig};

use crate::{McpServer, Settings, http};

/// A running MCP server.
pub struct Running {
    server: Server,
    state: Arc<McpServer>,
}

impl Running {
    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Its state (sessions, ...).
    pub fn state(&self) -> &Arc<McpServer> {
        &self.state
    }

    /// The stats reply, with the connection counters of the transport (the same
    /// as the `mcpbench/stats` method answers).
    pub fn stats(&self) -> ServerStats {
        self.state.stats()
    }

    /// Stops accepting, answers what was already read, closes every connection.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// Starts a server on `addr` with `settings`, newline-delimited JSON-RPC over TCP.
/// Call from a tokio runtime.
pub async fn start(addr: SocketAddr, settings: Settings) -> io::Result<Running> {
    let listener = mcpbench_netio::listen(addr, settings.reuse_port)?;
    let config = ServerConfig {
        guards: settings.guards,
        ..ServerConfig::default()
    };
    let state = McpServer::open(settings).await.map_err(io::Error::other)?;
    let server = Server::serve(listener, state.clone(), config)?;
    state.attach(server.stats_handle());
    Ok(Running { server, state })
}

/// Starts a server on `addr` with `settings`, MCP's Streamable HTTP transport
/// (both generations) at `http.endpoint`. Call from a tokio runtime.
pub async fn start_http(
    addr: SocketAddr,
    settings: Settings,
    http: http::HttpSettings,
) -> io::Result<Running> {
    let listener = mcpbench_netio::listen(addr, settings.reuse_port)?;
    let config = mcpbench_netio::HttpConfig {
        limits: http.limits,
        guards: settings.guards,
        stream_keepalive: http.stream_keepalive,
        ..Default::default()
    };
    let state = McpServer::open(settings).await.map_err(io::Error::other)?;
    state.sweep_expired();
    let server = Server::serve_http(
        listener,
        Arc::new(http::McpHttp::new(state.clone(), http)),
        config,
    )?;
    state.attach(server.stats_handle());
    Ok(Running { server, state })
}
