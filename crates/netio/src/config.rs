//! A server's settings and why its connections end: leaf types every other
//! module of the server uses (the I/O strategy, the configuration, the close
//! reasons).

use std::io;

use crate::codec::{DEFAULT_MAX_FRAME_LEN, FrameError};
use crate::guard::{Deadline, Guards};
use crate::jsonrpc::ProtocolError;

/// How a connection handles its buffers, frames and writes. The default is the
/// fastest; the others exist so each step of the classic optimisation plan can be
/// measured against the naive version (`benches/netio.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoStrategy {
    /// Copy each frame out of the receive buffer before handling it, instead of
    /// handing over a shared view.
    pub copy_frames: bool,
    /// Keep the receive and send buffers while the connection is busy, instead of
    /// a fresh buffer for every read and every reply. Either way a connection
    /// found idle (a read would block and no partial frame is pending) drops its
    /// buffers, so idle connections stay cheap.
    pub reuse_buffers: bool,
    /// Send all replies to one read in one write, instead of one write per reply.
    pub coalesce_writes: bool,
}

impl IoStrategy {
    /// Fresh buffer per read and per reply, one write per reply, frames copied.
    pub const NAIVE: IoStrategy = IoStrategy {
        copy_frames: true,
        reuse_buffers: false,
        coalesce_writes: false,
    };
    /// Naive plus buffer reuse ("packet pooling").
    pub const POOLED: IoStrategy = IoStrategy {
        copy_frames: true,
        reuse_buffers: true,
        coalesce_writes: false,
    };
    /// Pooled plus one write per batch of replies ("batching").
    pub const BATCHED: IoStrategy = IoStrategy {
        copy_frames: true,
        reuse_buffers: true,
        coalesce_writes: true,
    };
    /// Batched plus frames handed over as views of the receive buffer ("zero-copy").
    /// The default.
    pub const ZERO_COPY: IoStrategy = IoStrategy {
        copy_frames: false,
        reuse_buffers: true,
        coalesce_writes: true,
    };
}

impl Default for IoStrategy {
    fn default() -> Self {
        IoStrategy::ZERO_COPY
    }
}

/// Server settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// Longest frame accepted; a longer line closes the connection.
    pub max_frame_len: usize,
    /// Bytes reserved for each read.
    pub read_chunk: usize,
    /// Set `TCP_NODELAY` on accepted connections (replies are small and
    /// latency-bound; writes are already coalesced).
    pub nodelay: bool,
    /// Buffer, frame and write handling.
    pub strategy: IoStrategy,
    /// Deadlines and caps ([`Guards::default`]).
    pub guards: Guards,
}

impl Default for ServerConfig {
    /// 4 MiB frames, 16 KiB reads, `TCP_NODELAY`, [`IoStrategy::ZERO_COPY`],
    /// [`Guards::default`].
    fn default() -> Self {
        ServerConfig {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            read_chunk: 16 * 1024,
            nodelay: true,
            strategy: IoStrategy::default(),
            guards: Guards::default(),
        }
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    /// The client closed it cleanly, between frames.
    #[error("peer closed the connection")]
    PeerClosed,
    /// The server shut down.
    #[error("server shut down")]
    Shutdown,
    /// The client broke the framing rules (too long, not UTF-8, cut off).
    #[error("framing error: {0}")]
    Frame(FrameError),
    /// The client sent something that is not JSON-RPC.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// The handler returned a reply that cannot be framed (it has a newline).
    #[error("handler produced an unframeable reply: {0}")]
    BadReply(FrameError),
    /// The socket failed.
    #[error("I/O error: {0}")]
    Io(io::ErrorKind),
    /// The client sent a request HTTP could not read (answered with its status).
    #[error("HTTP error: {0}")]
    Http(crate::http::HttpError),
    /// The client asked for the connection to close after a response
    /// (`Connection: close`).
    #[error("closed after the response, as the client asked")]
    HttpClose,
    /// A deadline passed ([`Guards`]).
    #[error("deadline: {0}")]
    Deadline(Deadline),
    /// An open event stream ended on the server's side (the connection closes
    /// with it).
    #[error("event stream: {0}")]
    Stream(crate::http::StreamEnd),
}
