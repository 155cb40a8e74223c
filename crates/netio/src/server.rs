//! The TCP server: accept loop, one task per connection, graceful shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::codec::{DEFAULT_MAX_FRAME_LEN, FrameDecoder, FrameError, encode};
use crate::guard::{Deadline, Guards, Timer, expiry};
use crate::jsonrpc::{Message, ProtocolError, codes, error_response};
use mcpbench_queue::UnboundedMailbox;

/// One accepted connection, as the handler sees it (lent for one `handle` call).
#[derive(Debug)]
pub struct Conn {
    /// Unique among the connections of one server, in accept order from 1.
    pub id: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// The connection's outbox while it is busy: made for the first reply after an
    /// idle spell and released once the connection is idle again with nothing
    /// waiting or promised, so an idle connection pays only for this slot.
    outbox: Mutex<Option<Arc<Outbox>>>,
    /// The handler said the connection is established ([`Conn::establish`]).
    established: AtomicBool,
}

/// Every reply of one connection on its way to the socket: a queue mailbox (replies
/// from `handle` and [`Deferred`] ones alike, sent in the order they arrive), and a
/// count of promised replies not yet sent.
#[derive(Debug)]
struct Outbox {
    replies: UnboundedMailbox<Bytes>,
    promised: AtomicUsize,
}

impl Conn {
    pub(crate) fn new(id: u64, peer: SocketAddr) -> Conn {
        Conn {
            id,
            peer,
            outbox: Mutex::new(None),
            established: AtomicBool::new(false),
        }
    }

    /// Marks the connection established (MCP: `initialize` answered), so the
    /// handshake deadline ([`Guards::handshake`]) no longer applies.
    pub fn establish(&self) {
        self.established.store(true, Ordering::Relaxed);
    }

    /// Whether [`Conn::establish`] was called.
    pub fn is_established(&self) -> bool {
        self.established.load(Ordering::Relaxed)
    }

    /// Replies promised and not yet sent (the connection is waiting on them).
    fn busy(outbox: Option<&Arc<Outbox>>) -> bool {
        outbox.is_some_and(|o| o.promised.load(Ordering::Relaxed) > 0 || !o.replies.is_empty())
    }

    /// The outbox, made if there is none.
    fn outbox(&self) -> Arc<Outbox> {
        let mut slot = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert_with(|| {
            Arc::new(Outbox {
                replies: UnboundedMailbox::unbounded(),
                promised: AtomicUsize::new(0),
            })
        })
        .clone()
    }

    /// The outbox, if there is one.
    fn current_outbox(&self) -> Option<Arc<Outbox>> {
        self.outbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Drops the outbox when nothing is promised or waiting in it. Only the
    /// connection's own task makes outboxes (`handle` runs on it), so none can be
    /// made meanwhile; a promise is released after its reply is pushed, so "nothing
    /// promised, then empty" sees every reply.
    fn release_idle_outbox(&self) {
        let mut slot = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(o) = slot.as_ref()
            && o.promised.load(Ordering::SeqCst) == 0
            && o.replies.is_empty()
        {
            *slot = None;
        }
    }

    /// Promises a reply that will be sent later, from anywhere (another task): the
    /// handler returns `None` now and the connection goes on reading and serving
    /// its next messages; replies go out in the order they are sent, which need not
    /// be the order of the requests (JSON-RPC ids correlate them). A graceful
    /// shutdown waits for every promised reply (or its [`Deferred`] being dropped).
    pub fn defer(&self) -> Deferred {
        let outbox = self.outbox();
        outbox.promised.fetch_add(1, Ordering::SeqCst);
        Deferred { outbox }
    }
}

impl PartialEq for Conn {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.peer == other.peer
    }
}

impl Eq for Conn {}

/// A reply promised by [`Conn::defer`]. Send it once; dropping it unsent releases
/// the promise (the client then gets no reply to that request).
#[derive(Debug)]
pub struct Deferred {
    outbox: Arc<Outbox>,
}

impl Deferred {
    /// Sends the reply (one JSON value, no newline). If the connection has ended,
    /// the reply is dropped: there is no one to send it to.
    pub fn send(self, reply: Bytes) {
        let _ = self.outbox.replies.try_push(reply);
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        self.outbox.promised.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the server does with each message. One instance serves every connection.
pub trait Handler: Send + Sync + 'static {
    /// Serves one message from connection `conn` and returns the reply to send
    /// (one JSON value, no newline), or `None` (notifications, responses, and
    /// replies promised with [`Conn::defer`]). The connection awaits this future
    /// before reading on: a handler that must wait (for an upstream, a tool) should
    /// defer its reply and return, so the connection's other requests are served
    /// meanwhile. Replies to one read are sent together.
    fn handle(&self, msg: Message, conn: &Conn) -> impl Future<Output = Option<Bytes>> + Send;

    /// Called once when a connection ends, with why. The default does nothing.
    fn closed(&self, _conn: &Conn, _reason: &CloseReason) {}
}

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

/// Sends what waits in the outbox plus a last error reply, best effort: the
/// connection is closing anyway.
async fn send_last(
    stream: &mut TcpStream,
    conn: &Conn,
    out: &mut BytesMut,
    last: Option<Bytes>,
    write: Option<Duration>,
) {
    if let Some(outbox) = conn.current_outbox() {
        while let Some(reply) = outbox.replies.try_pop() {
            let _ = encode(&reply, usize::MAX, out);
        }
    }
    if let Some(reply) = last {
        let _ = encode(&reply, usize::MAX, out);
    }
    let _ = write_out(stream, out, write).await;
}

/// Most replies framed into one write.
const WRITE_BATCH: usize = 256;

/// Writes every reply waiting in the outbox (`first` before them), as `strategy`
/// says: one write per [`WRITE_BATCH`] replies, or one per reply.
async fn flush_outbox(
    stream: &mut TcpStream,
    outbox: &Outbox,
    first: Option<Bytes>,
    out: &mut BytesMut,
    (strategy, write): (IoStrategy, Option<Duration>),
) -> Result<(), CloseReason> {
    let mut next = first;
    loop {
        let mut framed = 0;
        while framed < WRITE_BATCH {
            let Some(reply) = next.take().or_else(|| outbox.replies.try_pop()) else {
                break;
            };
            if !strategy.reuse_buffers && out.is_empty() {
                *out = BytesMut::new();
            }
            if let Err(e) = encode(&reply, usize::MAX, out) {
                // Send the good replies before it, then close.
                let _ = write_out(stream, out, write).await;
                return Err(CloseReason::BadReply(e));
            }
            framed += 1;
            if !strategy.coalesce_writes {
                write_out(stream, out, write).await?;
            }
        }
        write_out(stream, out, write).await?;
        if framed < WRITE_BATCH {
            return Ok(());
        }
    }
}

/// Writes `out` whole and clears it (nothing when empty), within `deadline` (a
/// peer that does not read fails it).
pub(crate) async fn write_out(
    stream: &mut TcpStream,
    out: &mut BytesMut,
    deadline: Option<Duration>,
) -> Result<(), CloseReason> {
    if out.is_empty() {
        return Ok(());
    }
    let written = match deadline {
        Some(d) => tokio::time::timeout(d, stream.write_all(out))
            .await
            .map_err(|_| CloseReason::Deadline(Deadline::Write))?,
        None => stream.write_all(out).await,
    };
    written.map_err(|e| CloseReason::Io(e.kind()))?;
    out.clear();
    Ok(())
}

/// At shutdown or half-close: waits (up to `limit`) for every promised reply and
/// sends them; a write that would end past `limit` closes the connection instead
/// (nothing is cut: a reply is written whole or the connection closes).
async fn drain_outbox(
    stream: &mut TcpStream,
    conn: &Conn,
    out: &mut BytesMut,
    (strategy, write): (IoStrategy, Option<Duration>),
    limit: Duration,
) {
    let Some(outbox) = conn.current_outbox() else {
        return;
    };
    let deadline = tokio::time::Instant::now() + limit;
    let mut next = None;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let write = Some(write.map_or(left, |w| w.min(left)));
        if flush_outbox(stream, &outbox, next.take(), out, (strategy, write))
            .await
            .is_err()
        {
            return;
        }
        if outbox.promised.load(Ordering::SeqCst) == 0 && outbox.replies.is_empty() {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            return;
        }
        // A promise dropped unsent wakes no one: look again every 10 ms.
        if let Ok(reply) =
            tokio::time::timeout(Duration::from_millis(10), outbox.replies.pop()).await
        {
            next = reply;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Conn {
        Conn::new(1, "127.0.0.1:9".parse().expect("an address"))
    }

    #[test]
    fn an_outbox_is_released_only_when_empty_and_nothing_is_promised() {
        let c = conn();
        assert!(
            c.current_outbox().is_none(),
            "a new connection has no outbox"
        );
        c.release_idle_outbox();
        let o = c.outbox();
        assert!(Arc::ptr_eq(&o, &c.outbox()), "one outbox while busy");
        o.replies.try_push(Bytes::from_static(b"{}")).unwrap();
        c.release_idle_outbox();
        assert!(
            c.current_outbox().is_some(),
            "released with a reply waiting"
        );
        assert_eq!(o.replies.try_pop(), Some(Bytes::from_static(b"{}")));
        let promise = c.defer();
        c.release_idle_outbox();
        assert!(
            c.current_outbox().is_some(),
            "released with a reply promised"
        );
        promise.send(Bytes::from_static(b"[]"));
        c.release_idle_outbox();
        assert!(
            c.current_outbox().is_some(),
            "released with the promised reply waiting"
        );
        assert_eq!(o.replies.try_pop(), Some(Bytes::from_static(b"[]")));
        c.release_idle_outbox();
        assert!(c.current_outbox().is_none(), "kept while idle");
        drop(c.defer());
        c.release_idle_outbox();
        assert!(
            c.current_outbox().is_none(),
            "a dropped promise holds nothing"
        );
    }
}
