//! The server on top: the listening socket, the accept loop (one task per
//! connection, served by a [`Protocol`]: newline-delimited JSON-RPC or HTTP),
//! the connection cap, the counters and graceful shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{CloseReason, ServerConfig};
use crate::conn::{Conn, Handler};
use crate::guard::Deadline;
use crate::http_server::{Http, HttpConfig, HttpHandler};
use crate::io::Protocol;
use crate::line::Lines;

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

/// Reads a server's counters ([`Server::stats_handle`]).
#[derive(Clone, Default)]
pub struct StatsHandle(Arc<Counters>);

impl StatsHandle {
    /// The counters now.
    pub fn get(&self) -> ServerStats {
        let c = &self.0;
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

    /// Serves HTTP/1.1 with `handler` on a listener (from [`crate::listen`], say).
    /// Call from a tokio runtime. [`Server::shutdown`] lets each connection finish
    /// the request it is serving, then closes it.
    pub fn serve_http<H: HttpHandler>(
        listener: TcpListener,
        handler: Arc<H>,
        config: HttpConfig,
    ) -> io::Result<Server> {
        Server::start(
            listener,
            Arc::new(Http { handler, config }),
            config.nodelay,
            config.guards.max_connections,
        )
    }

    /// Binds `addr` and serves HTTP/1.1 with `handler`. Call from a tokio runtime.
    pub fn bind_http<H: HttpHandler>(
        addr: SocketAddr,
        handler: Arc<H>,
        config: HttpConfig,
    ) -> io::Result<Server> {
        Server::serve_http(listen(addr, false)?, handler, config)
    }

    /// Starts the accept loop; `protocol` serves each connection.
    fn start<P: Protocol>(
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
        self.stats_handle().get()
    }

    /// A handle that reads these counters from anywhere, for as long as it is
    /// kept (a handler that reports them, say).
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle(self.counters.clone())
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
