//! The TCP server: accept loop, one task per connection, graceful shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::codec::{DEFAULT_MAX_FRAME_LEN, FrameDecoder, FrameError};
pub use crate::conn::{Conn, Handler};
use crate::guard::{Deadline, Guards, Timer, expiry};
use crate::jsonrpc::{Message, ProtocolError, codes, error_response};
pub(crate) use crate::write::write_out;
use crate::write::{drain_outbox, flush_outbox, send_last};

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
}

/// Counters of a running server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections ended.
    pub closed: u64,
    /// Connections ended by a framing, protocol, reply or I/O error.
    pub closed_on_error: u64,
    /// `accept` calls that failed (for example: out of file descriptors).
    pub accept_errors: u64,
    /// Connections refused at once because [`Guards::max_connections`] were open
    /// (not counted as accepted).
    pub refused: u64,
    /// Connections closed by each deadline: idle, frame, write, handshake.
    pub closed_by_deadline: [u64; 4],
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    closed: AtomicU64,
    closed_on_error: AtomicU64,
    accept_errors: AtomicU64,
    refused: AtomicU64,
    closed_by_deadline: [AtomicU64; 4],
}

/// Where a deadline counts in [`ServerStats::closed_by_deadline`].
fn deadline_slot(d: Deadline) -> usize {
    match d {
        Deadline::Idle => 0,
        Deadline::Frame => 1,
        Deadline::Write => 2,
        Deadline::Handshake => 3,
    }
}

/// Accept backlog asked of the kernel (which caps it at `net.core.somaxconn`):
/// tokio's default of 1,024 drops SYNs when thousands of clients connect at once.
pub const BACKLOG: i32 = 4096;

/// A listening socket on `addr` with `SO_REUSEADDR`, a [`BACKLOG`]-deep accept
/// queue and, when `reuse_port` is set, `SO_REUSEPORT`, so that several listeners
/// (in one process or several) share one port and the kernel spreads connections
/// over them. Call from a tokio runtime.
pub fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// A running server. Dropping it without [`shutdown`](Server::shutdown) stops
/// accepting and cancels connections abruptly.
pub struct Server {
    local_addr: SocketAddr,
    stop: CancellationToken,
    connections: TaskTracker,
    counters: Arc<Counters>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` and starts serving with `handler`. Call from a tokio runtime.
    pub async fn bind<H: Handler>(
        addr: impl ToSocketAddrs,
        handler: Arc<H>,
        config: ServerConfig,
    ) -> io::Result<Server> {
        let mut last = None;
        for addr in tokio::net::lookup_host(addr).await? {
            match listen(addr, false) {
                Ok(listener) => return Server::serve(listener, handler, config),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "address resolved to nothing")
        }))
    }

    /// Serves on a listener made elsewhere (say, one of several `SO_REUSEPORT`
    /// listeners sharing a port). Call from a tokio runtime.
    pub fn serve<H: Handler>(
        listener: TcpListener,
        handler: Arc<H>,
        config: ServerConfig,
    ) -> io::Result<Server> {
        Server::start(
            listener,
            Arc::new(Lines { handler, config }),
            config.nodelay,
            config.guards.max_connections,
        )
    }

    /// Starts the accept loop; `protocol` serves each connection.
    pub(crate) fn start<P: Protocol>(
        listener: TcpListener,
        protocol: Arc<P>,
        nodelay: bool,
        max_connections: Option<u64>,
    ) -> io::Result<Server> {
        let local_addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let connections = TaskTracker::new();
        let counters = Arc::new(Counters::default());
        let accept = tokio::spawn(accept_loop(
            listener,
            protocol,
            (nodelay, max_connections),
            stop.clone(),
            connections.clone(),
            counters.clone(),
        ));
        Ok(Server {
            local_addr,
            stop,
            connections,
            counters,
            accept: Some(accept),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Current counters.
    pub fn stats(&self) -> ServerStats {
        let c = &self.counters;
        ServerStats {
            accepted: c.accepted.load(Ordering::Relaxed),
            closed: c.closed.load(Ordering::Relaxed),
            closed_on_error: c.closed_on_error.load(Ordering::Relaxed),
            accept_errors: c.accept_errors.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            closed_by_deadline: std::array::from_fn(|k| {
                c.closed_by_deadline[k].load(Ordering::Relaxed)
            }),
        }
    }

    /// Stops accepting, lets every connection finish the messages it has already
    /// read and send their replies, then closes them. Returns the final counters.
    pub async fn shutdown(mut self) -> ServerStats {
        self.stop.cancel();
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        self.connections.close();
        self.connections.wait().await;
        self.stats()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// How the connections of one server are served: newline-delimited JSON-RPC
/// ([`Lines`]) or HTTP (`crate::http_server`).
pub(crate) trait Protocol: Send + Sync + 'static {
    /// Serves one connection until it ends; says why it ended.
    fn serve(
        &self,
        stream: TcpStream,
        conn: &Conn,
        stop: &CancellationToken,
    ) -> impl Future<Output = CloseReason> + Send;

    /// Called once when a connection has ended.
    fn closed(&self, conn: &Conn, reason: &CloseReason);

    /// What a connection refused over [`Guards::max_connections`] is sent before
    /// it is closed.
    fn refusal(&self) -> &'static [u8];
}

/// Newline-delimited JSON-RPC: a [`Handler`] per message.
struct Lines<H> {
    handler: Arc<H>,
    config: ServerConfig,
}

impl<H: Handler> Protocol for Lines<H> {
    async fn serve(&self, stream: TcpStream, conn: &Conn, stop: &CancellationToken) -> CloseReason {
        serve_connection(stream, conn, &*self.handler, &self.config, stop).await
    }

    fn closed(&self, conn: &Conn, reason: &CloseReason) {
        if let Some(outbox) = conn.current_outbox() {
            // Late replies to a gone connection are dropped, not queued.
            outbox.replies.close();
        }
        self.handler.closed(conn, reason);
    }

    fn refusal(&self) -> &'static [u8] {
        b"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32000,\"message\":\"server at its connection limit\"}}\n"
    }
}

async fn accept_loop<P: Protocol>(
    listener: TcpListener,
    protocol: Arc<P>,
    (nodelay, max_connections): (bool, Option<u64>),
    stop: CancellationToken,
    connections: TaskTracker,
    counters: Arc<Counters>,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                if let Some(max) = max_connections {
                    let open = counters.accepted.load(Ordering::Relaxed)
                        - counters.closed.load(Ordering::Relaxed);
                    if open >= max {
                        // At once, without waiting on the peer: best effort.
                        let _ = stream.try_write(protocol.refusal());
                        counters.refused.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                }
                let id = counters.accepted.fetch_add(1, Ordering::Relaxed) + 1;
                let conn = Conn::new(id, peer);
                let (protocol, stop, counters) = (protocol.clone(), stop.clone(), counters.clone());
                connections.spawn(async move {
                    let reason = match stream.set_nodelay(nodelay) {
                        Ok(()) => protocol.serve(stream, &conn, &stop).await,
                        Err(e) => CloseReason::Io(e.kind()),
                    };
                    counters.closed.fetch_add(1, Ordering::Relaxed);
                    if let CloseReason::Deadline(d) = reason {
                        counters.closed_by_deadline[deadline_slot(d)]
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    if !matches!(
                        reason,
                        CloseReason::PeerClosed | CloseReason::Shutdown | CloseReason::HttpClose
                    ) {
                        counters.closed_on_error.fetch_add(1, Ordering::Relaxed);
                    }
                    protocol.closed(&conn, &reason);
                });
            }
            Err(_) => {
                // Typically EMFILE: back off instead of spinning on a full table.
                counters.accept_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// The reply for a frame error, where one is due.
fn frame_error_reply(e: &FrameError) -> Option<Bytes> {
    match e {
        FrameError::InvalidUtf8 { .. } => {
            Some(error_response(None, codes::PARSE_ERROR, &e.to_string()))
        }
        FrameError::TooLong { .. } => {
            Some(error_response(None, codes::INVALID_REQUEST, &e.to_string()))
        }
        FrameError::Truncated { .. }
        | FrameError::EmbeddedNewline { .. }
        | FrameError::TrailingCarriageReturn => None,
    }
}

async fn serve_connection<H: Handler>(
    mut stream: TcpStream,
    conn: &Conn,
    handler: &H,
    config: &ServerConfig,
    stop: &CancellationToken,
) -> CloseReason {
    let strategy = config.strategy;
    let guards = config.guards;
    let io = (strategy, guards.write);
    let mut decoder = FrameDecoder::new(config.max_frame_len);
    let mut inbuf = BytesMut::new();
    let mut outbuf = BytesMut::new();
    let mut timer = Timer::new();
    loop {
        // Wait for input holding no buffer (see `IoStrategy::reuse_buffers`), or for
        // deferred replies to send, or for the next deadline.
        let outbox = conn.current_outbox();
        let deadline = timer.next(&guards, conn.is_established(), Conn::busy(outbox.as_ref()));
        let deferred = async {
            match &outbox {
                Some(o) => o.replies.pop().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = stop.cancelled() => {
                drain_outbox(&mut stream, conn, &mut outbuf, io, guards.shutdown).await;
                return CloseReason::Shutdown;
            }
            Some(reply) = deferred => {
                // `deferred` only yields when there is an outbox.
                if let Some(o) = &outbox
                    && let Err(reason) = flush_outbox(&mut stream, o, Some(reply), &mut outbuf, io).await
                {
                    return reason;
                }
                timer.activity();
                drop(outbox);
                conn.release_idle_outbox();
                continue;
            }
            ready = stream.readable() => {
                if let Err(e) = ready {
                    return CloseReason::Io(e.kind());
                }
            }
            which = expiry(deadline) => return CloseReason::Deadline(which),
        }
        drop(outbox);
        if strategy.reuse_buffers {
            inbuf.reserve(config.read_chunk);
        } else {
            let mut fresh = BytesMut::with_capacity(inbuf.len() + config.read_chunk);
            fresh.extend_from_slice(&inbuf);
            inbuf = fresh;
        }
        let drained = match read_some(&stream, &mut inbuf) {
            Ok(Read::Eof) => {
                return match decoder.decode_eof(&mut inbuf) {
                    Ok(_) => {
                        // The client may only have closed its sending half: it still
                        // gets the replies it was promised.
                        drain_outbox(&mut stream, conn, &mut outbuf, io, guards.shutdown).await;
                        CloseReason::PeerClosed
                    }
                    Err(e) => CloseReason::Frame(e),
                };
            }
            Ok(Read::Some { drained }) => {
                timer.activity();
                drained
            }
            Ok(Read::Nothing) => {
                // Readiness was stale: nothing to read, the connection is idle.
                release_if_idle(conn, &mut inbuf, &mut outbuf);
                continue;
            }
            Err(e) => return CloseReason::Io(e.kind()),
        };
        // Reply bytes queued since the last write (see `Guards::max_outbox_bytes`).
        let mut queued = 0;
        loop {
            let frame = match decoder.decode(&mut inbuf) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    send_last(
                        &mut stream,
                        conn,
                        &mut outbuf,
                        frame_error_reply(&e),
                        guards.write,
                    )
                    .await;
                    return CloseReason::Frame(e);
                }
            };
            let frame = if strategy.copy_frames {
                Bytes::copy_from_slice(&frame)
            } else {
                frame
            };
            let msg = match Message::parse(frame) {
                Ok(msg) => msg,
                Err(e) => {
                    send_last(
                        &mut stream,
                        conn,
                        &mut outbuf,
                        Some(e.reply()),
                        guards.write,
                    )
                    .await;
                    return CloseReason::Protocol(e);
                }
            };
            // Boxed: the handler's future lives only while it runs, instead of
            // widening every connection's task by its size for the connection's
            // whole life (an idle connection's task measured 1,152 B unboxed with
            // mcpbench-server's handler, 848 B boxed; one allocation per message).
            let Some(reply) = Box::pin(handler.handle(msg, conn)).await else {
                continue;
            };
            // Every reply goes through the outbox; while the connection lives its
            // outbox is open and unbounded, so the push cannot fail.
            let outbox = conn.outbox();
            queued += reply.len();
            let _ = outbox.replies.try_push(reply);
            // Over the bound, stop reading and write first: a peer that sends but
            // never reads is then held by the write deadline, not by memory.
            if (!strategy.coalesce_writes || queued > guards.max_outbox_bytes)
                && let Err(reason) = flush_outbox(&mut stream, &outbox, None, &mut outbuf, io).await
            {
                return reason;
            }
            if queued > guards.max_outbox_bytes {
                queued = 0;
                timer.activity();
            }
        }
        // What is left in the buffer is a frame partly in: its deadline runs.
        timer.partial(!inbuf.is_empty());
        // The replies to this read (and deferred ones that came meanwhile), together.
        if let Some(outbox) = conn.current_outbox() {
            if let Err(reason) = flush_outbox(&mut stream, &outbox, None, &mut outbuf, io).await {
                return reason;
            }
            timer.activity();
        }
        if drained {
            release_if_idle(conn, &mut inbuf, &mut outbuf);
        }
    }
}

/// What one read got.
pub(crate) enum Read {
    /// The peer closed its sending half.
    Eof,
    /// Bytes; `drained` when the socket had fewer than the buffer's room (so it is
    /// empty now and its readiness was cleared: no second read to learn that).
    Some { drained: bool },
    /// Nothing: the readiness was stale.
    Nothing,
}

/// One non-blocking read into `buf`. A short read clears the socket's readiness
/// the way tokio's own `AsyncRead` does, saving the `EAGAIN` read per message that
/// `try_read_buf` alone needs. Safe against a lost wake-up: `try_io` clears only
/// the readiness it saw before the read, so data arriving during the read keeps
/// the socket ready.
pub(crate) fn read_some(stream: &TcpStream, buf: &mut BytesMut) -> io::Result<Read> {
    let room = buf.capacity() - buf.len();
    let mut got = 0;
    let outcome = stream.try_io(Interest::READABLE, || {
        got = stream.try_read_buf(buf)?;
        if got > 0 && got < room {
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(got)
        }
    });
    match outcome {
        Ok(0) => Ok(Read::Eof),
        Ok(_) => Ok(Read::Some { drained: false }),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => {
            Ok(Read::Some { drained: true })
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Read::Nothing),
        Err(e) => Err(e),
    }
}

/// An idle connection (nothing pending to read) drops its buffers, unless a partial
/// frame waits in them, and its outbox, unless replies are promised: it then costs
/// only its task and socket.
fn release_if_idle(conn: &Conn, inbuf: &mut BytesMut, outbuf: &mut BytesMut) {
    if inbuf.is_empty() {
        *inbuf = BytesMut::new();
        *outbuf = BytesMut::new();
        conn.release_idle_outbox();
    }
}
