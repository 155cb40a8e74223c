#![forbid(unsafe_code)]
//! Upstream connection pools for an MCP server, on `deadpool` (managed pools).
//!
//! An MCP server that proxies tools to upstream servers keeps warm connections to
//! each. [`Pool`] is one upstream's pool: generic over how a connection is made and
//! checked (a `deadpool` [`Manager`]), with a maximum size, a wait timeout, a create
//! timeout and a recycle timeout ([`PoolConfig`]). [`Pool::checkout`] returns a
//! guard ([`Checkout`]) that puts the connection back when dropped; before a pooled
//! connection is handed out again it is recycled (checked), and a broken one is
//! discarded, never handed out. A checkout future dropped while waiting leaves
//! nothing behind. [`PoolSet`] holds one pool per upstream, keyed by name.
//!
//! [`TcpManager`] is the real manager this crate ships: TCP connections to an
//! upstream address, with `TCP_NODELAY` set, dropped when the peer closed them.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use mcpbench_pool::{Pool, PoolConfig, TcpManager};
//!
//! let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let pool = Pool::new(TcpManager::new(upstream.local_addr()?), &PoolConfig::default()).unwrap();
//! let conn = pool.checkout().await.unwrap(); // connects
//! assert_eq!(pool.status().size, 1);
//! drop(conn); // back in the pool
//! assert_eq!(pool.status().available, 1);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::hash::Hash;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

pub use deadpool::Status;
use deadpool::managed;
pub use deadpool::managed::{Manager, Metrics, RecycleError, RecycleResult, TimeoutType};
use tokio::net::TcpStream;

/// A checked-out connection. Derefs to the connection; dropping it returns the
/// connection to its pool. To throw a connection away instead (you saw it break),
/// call [`Checkout::take`] and drop what it returns.
pub type Checkout<M> = managed::Object<M>;

/// Sizes and timeouts of a pool. `None` timeouts wait forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most connections open at once (checked out plus idle).
    pub max_size: usize,
    /// Longest a checkout waits for a free connection when the pool is at max size.
    pub wait_timeout: Option<Duration>,
    /// Longest a checkout waits for a new connection to be made.
    pub create_timeout: Option<Duration>,
    /// Longest the check of a pooled connection may take.
    pub recycle_timeout: Option<Duration>,
}

impl Default for PoolConfig {
    /// 16 connections; wait up to 5 s for one, 2 s to connect, 1 s to check.
    fn default() -> Self {
        PoolConfig {
            max_size: 16,
            wait_timeout: Some(Duration::from_secs(5)),
            create_timeout: Some(Duration::from_secs(2)),
            recycle_timeout: Some(Duration::from_secs(1)),
        }
    }
}

/// The pool configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid pool configuration: {0}")]
pub struct ConfigError(String);

/// Why a checkout failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError<E> {
    /// Waiting for a free connection, creating one, or checking one took too long.
    #[error("checkout timed out while {}", match .0 {
        TimeoutType::Wait => "waiting for a free connection",
        TimeoutType::Create => "connecting",
        TimeoutType::Recycle => "checking a pooled connection",
    })]
    Timeout(TimeoutType),
    /// Making a new connection failed.
    #[error("connecting failed: {0}")]
    Connect(E),
    /// The pool was closed.
    #[error("pool is closed")]
    Closed,
    /// [`PoolSet::checkout`] was asked for an upstream it does not have.
    #[error("no pool for this upstream")]
    UnknownUpstream,
}

impl<E> From<managed::PoolError<E>> for CheckoutError<E> {
    fn from(e: managed::PoolError<E>) -> Self {
        match e {
            managed::PoolError::Timeout(t) => CheckoutError::Timeout(t),
            managed::PoolError::Backend(e) => CheckoutError::Connect(e),
            // No runtime or hook is ever configured without the other here, and no
            // hooks are installed: both surface as a closed pool rather than a panic.
            managed::PoolError::Closed
            | managed::PoolError::NoRuntimeSpecified
            | managed::PoolError::PostCreateHook(_) => CheckoutError::Closed,
        }
    }
}

/// One upstream's connection pool. Cheap to clone (shared).
pub struct Pool<M: Manager> {
    inner: managed::Pool<M>,
}

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Pool {
            inner: self.inner.clone(),
        }
    }
}

impl<M: Manager> Pool<M> {
    /// A pool that makes connections with `manager`. Connections are made lazily,
    /// on checkout. Timeouts run on tokio.
    pub fn new(manager: M, config: &PoolConfig) -> Result<Self, ConfigError> {
        if config.max_size == 0 {
            return Err(ConfigError("max_size must be at least 1".into()));
        }
        let inner = managed::Pool::builder(manager)
            .max_size(config.max_size)
            .wait_timeout(config.wait_timeout)
            .create_timeout(config.create_timeout)
            .recycle_timeout(config.recycle_timeout)
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| ConfigError(e.to_string()))?;
        Ok(Pool { inner })
    }

    /// A connection: an idle one that passes its check, else a new one, else wait
    /// for one to come back (up to the wait timeout).
    pub async fn checkout(&self) -> Result<Checkout<M>, CheckoutError<M::Error>> {
        Ok(self.inner.get().await?)
    }

    /// Size, idle count and number of waiting checkouts.
    pub fn status(&self) -> Status {
        self.inner.status()
    }

    /// Closes the pool: waiting and future checkouts fail, idle connections are
    /// dropped, checked-out ones are dropped when they come back.
    pub fn close(&self) {
        self.inner.close();
    }
}

/// One pool per upstream, keyed by upstream name. Fixed at construction.
pub struct PoolSet<K, M: Manager> {
    pools: HashMap<K, Pool<M>>,
}

impl<K: Hash + Eq, M: Manager> PoolSet<K, M> {
    /// A pool for each `(upstream, manager)`, all with the same configuration.
    pub fn new(
        upstreams: impl IntoIterator<Item = (K, M)>,
        config: &PoolConfig,
    ) -> Result<Self, ConfigError> {
        let pools = upstreams
            .into_iter()
            .map(|(key, manager)| Ok((key, Pool::new(manager, config)?)))
            .collect::<Result<_, ConfigError>>()?;
        Ok(PoolSet { pools })
    }

    /// The pool of `upstream`.
    pub fn get(&self, upstream: &K) -> Option<&Pool<M>> {
        self.pools.get(upstream)
    }

    /// A connection to `upstream`.
    pub async fn checkout(&self, upstream: &K) -> Result<Checkout<M>, CheckoutError<M::Error>> {
        self.get(upstream)
            .ok_or(CheckoutError::UnknownUpstream)?
            .checkout()
            .await
    }

    /// Number of upstreams.
    pub fn len(&self) -> usize {
        self.pools.len()
    }

    /// True when the set has no upstream.
    pub fn is_empty(&self) -> bool {
        self.pools.is_empty()
    }

    /// Closes every pool.
    pub fn close(&self) {
        self.pools.values().for_each(Pool::close);
    }
}

/// Makes TCP connections to one upstream address, with `TCP_NODELAY` (MCP
/// messages are small and latency-bound).
#[derive(Debug, Clone)]
pub struct TcpManager {
    addr: SocketAddr,
}

impl TcpManager {
    /// A manager connecting to `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        TcpManager { addr }
    }

    /// The upstream address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Manager for TcpManager {
    type Type = TcpStream;
    type Error = io::Error;

    async fn create(&self) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn recycle(&self, conn: &mut TcpStream, _: &Metrics) -> RecycleResult<io::Error> {
        // An idle pooled connection has nothing to read. Readable means the peer
        // closed it (EOF) or sent bytes nobody asked for: either way it is not
        // fit to hand out.
        let mut probe = [0u8; 1];
        match conn.try_read(&mut probe) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Ok(0) => Err(RecycleError::message("upstream closed the connection")),
            Ok(_) => Err(RecycleError::message(
                "unexpected bytes on an idle connection",
            )),
            Err(e) => Err(RecycleError::Backend(e)),
        }
    }
}

#[cfg(test)]
mod tests;
