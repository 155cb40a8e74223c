//! What can go wrong in one client's MCP exchange. Its text is what a run's
//! error counts group by, so it names the step and the cause, never a request id.

/// One client's failure: the socket, the connection, or a step the server refused.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be made, bound, connected or set up: the operation
    /// (`connect`, `bind 10.0.0.2`, `nodelay`) and the OS's kind of error.
    #[error("{op}: {kind}")]
    Socket {
        /// What was being done.
        op: String,
        /// Why it failed.
        kind: std::io::ErrorKind,
    },
    /// The connection broke or was closed during an exchange.
    #[error("connection: {0}")]
    Broken(String),
    /// The server answered a step, but not with a result.
    #[error("{step} refused: {why}")]
    Refused {
        /// `initialize`, `tools/list`, `ping`...
        step: &'static str,
        /// The status or the start of the reply.
        why: String,
    },
    /// A step failed on the transport.
    #[error("{step}: {source}")]
    Step {
        /// `initialize`, `tools/list`...
        step: &'static str,
        /// The cause.
        source: Box<ClientError>,
    },
    /// A request that cannot be sent (a host name that is not a header value).
    #[error("bad request: {0}")]
    Request(String),
    /// Not done in the time allowed: what (`answer`, `connect, handshake and
    /// tools/list`) and the seconds.
    #[error("no {what} within {secs} s")]
    Timeout {
        /// What did not happen in time.
        what: &'static str,
        /// The time allowed.
        secs: u64,
    },
}

impl ClientError {
    /// A [`ClientError::Socket`] of `op`.
    pub fn socket(op: impl Into<String>, e: &std::io::Error) -> ClientError {
        ClientError::Socket {
            op: op.into(),
            kind: e.kind(),
        }
    }

    /// This error, as the cause of `step` failing.
    pub fn during(self, step: &'static str) -> ClientError {
        ClientError::Step {
            step,
            source: Box::new(self),
        }
    }
}

/// How a call was answered, when it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// With a result: the bytes of the reply (the whole JSON-RPC message).
    Result(usize),
    /// With an error (a JSON-RPC error, a tool error, an HTTP error status): why.
    Error(String),
}
