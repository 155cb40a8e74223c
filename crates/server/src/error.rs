//! The server's errors: setting it up, and a tool call that failed.

use std::net::SocketAddr;

/// Why a server could not be set up, naming the setting.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The `proxy` tool's upstream pool could not be made.
    #[error(
        "the upstream pool for {addr} (--upstream, --upstream-connections {connections}): {why}"
    )]
    Upstream {
        /// `--upstream`.
        addr: SocketAddr,
        /// `--upstream-connections`.
        connections: usize,
        /// The pool's reason.
        why: String,
    },
    /// The event bus could not be joined (its socket made in its folder, or
    /// Redis reached and subscribed to).
    #[error("the event bus at {at} (--event-bus): {why}")]
    EventBus {
        /// `--event-bus`.
        at: crate::settings::BusAt,
        /// Why.
        why: String,
    },
}

/// Why a tool call failed. MCP sends it to the client as the text of a result
/// with `isError: true`, not as a protocol error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The call's `arguments` are not what the tool takes.
    #[error("{0}")]
    Arguments(String),
    /// The `proxy` tool has no upstream (`--upstream` not given).
    #[error("no upstream configured (start with --upstream ADDR)")]
    NoUpstream,
    /// The upstream failed, answered with an error or not in time.
    #[error("{0}")]
    Upstream(String),
}
