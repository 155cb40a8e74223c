#![forbid(unsafe_code)]
//! The routing tables of an MCP server, on `dashmap`.
//!
//! - [`Registry`] maps a route key (a tool, upstream server or transport name) to a
//!   destination [`Mailbox`]; [`Registry::route`] delivers a message there and hands
//!   it back when there is no route or no room.
//! - [`InFlight`] maps a JSON-RPC request id to the one-shot responder of whoever
//!   waits for its answer, with cancellation and expiry of requests never answered.
//!
//! # Hashing
//! A [`RouteKey`] is hashed once, when it is made, with a randomly seeded `ahash`
//! (seeded once per process); the route table then uses that stored hash as is, so a
//! lookup costs one comparison of the stored hashes and one of the names, never a
//! rehash. Request ids come from clients, who could pick ids that collide under a
//! known hash function (hash flooding): [`InFlight`] hashes them with `ahash` seeded
//! randomly per table, so colliding ids cannot be computed from outside.
//!
//! ```
//! use std::sync::Arc;
//! use mcpbench_queue::Mailbox;
//! use mcpbench_registry::{Registry, RouteError, RouteKey};
//!
//! let registry = Registry::new();
//! let weather = RouteKey::new("tools/get_weather");
//! let mailbox = Arc::new(Mailbox::bounded(1));
//! registry.register(weather.clone(), mailbox.clone()).unwrap();
//! // A second registration is refused, never silently replaces the first.
//! assert!(registry.register(weather.clone(), Arc::new(Mailbox::bounded(1))).is_err());
//!
//! registry.route(&weather, "call 1").unwrap();
//! // No room: the message comes back.
//! assert_eq!(registry.route(&weather, "call 2"), Err(RouteError::Full("call 2")));
//! assert_eq!(mailbox.try_pop(), Some("call 1"));
//! // No route: the message comes back too.
//! assert_eq!(registry.route(&RouteKey::new("tools/nope"), "x"), Err(RouteError::NoRoute("x")));
//! ```

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use dashmap::DashMap;
use dashmap::mapref::one::Ref;
use mcpbench_queue::{Closed, Mailbox, PushError};
use tokio::sync::oneshot;

static ROUTE_SEED: LazyLock<ahash::RandomState> = LazyLock::new(ahash::RandomState::new);

/// A route name with its hash computed once. Cheap to clone (an `Arc<str>` and a `u64`).
#[derive(Clone)]
pub struct RouteKey {
    hash: u64,
    name: Arc<str>,
}

impl RouteKey {
    /// Makes a key, hashing `name` once.
    pub fn new(name: &str) -> Self {
        RouteKey {
            hash: ROUTE_SEED.hash_one(name),
            name: Arc::from(name),
        }
    }

    /// The route name.
    pub fn as_str(&self) -> &str {
        &self.name
    }
}

impl From<&str> for RouteKey {
    fn from(name: &str) -> Self {
        RouteKey::new(name)
    }
}

impl PartialEq for RouteKey {
    fn eq(&self, other: &Self) -> bool {
        // Keys are usually clones of one registered key: compare the pointers first
        // and skip reading the names (a cache miss in a large table).
        self.hash == other.hash && (Arc::ptr_eq(&self.name, &other.name) || self.name == other.name)
    }
}

impl Eq for RouteKey {}

impl Hash for RouteKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl fmt::Debug for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.name, f)
    }
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Passes a [`RouteKey`]'s stored hash through unchanged.
#[derive(Default)]
struct StoredHash(u64);

impl Hasher for StoredHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `RouteKey` is hashed with this hasher, and it only calls `write_u64`;
        // fold anyway so a misuse is slow, not wrong.
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

/// A route registered twice: the first registration stays.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route {0} is already registered")]
pub struct AlreadyRegistered(pub RouteKey);

/// Why [`Registry::route`] did not deliver; the message is handed back inside.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError<M> {
    /// No destination is registered under the key.
    #[error("no route for this key")]
    NoRoute(M),
    /// The destination's mailbox is full.
    #[error("destination mailbox is full")]
    Full(M),
    /// The destination's mailbox is closed.
    #[error("destination mailbox is closed")]
    Closed(M),
}

impl<M> RouteError<M> {
    /// The message that was not delivered.
    pub fn into_inner(self) -> M {
        match self {
            RouteError::NoRoute(m) | RouteError::Full(m) | RouteError::Closed(m) => m,
        }
    }
}

/// A destination found by [`Registry::lookup`]. It holds a read lock on one shard
/// of the table: use it and drop it, never hold it across an `.await`.
pub struct Route<'a, M>(Ref<'a, RouteKey, Arc<Mailbox<M>>>);

impl<M> std::ops::Deref for Route<'_, M> {
    type Target = Arc<Mailbox<M>>;
    fn deref(&self) -> &Self::Target {
        self.0.value()
    }
}

/// The route table: route key to destination mailbox.
pub struct Registry<M> {
    routes: DashMap<RouteKey, Arc<Mailbox<M>>, BuildHasherDefault<StoredHash>>,
}

impl<M: Send> Default for Registry<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Send> Registry<M> {
    /// An empty route table.
    pub fn new() -> Self {
        Registry {
            routes: DashMap::with_hasher(BuildHasherDefault::default()),
        }
    }

    /// An empty route table with room for `capacity` routes before it grows.
    pub fn with_capacity(capacity: usize) -> Self {
        Registry {
            routes: DashMap::with_capacity_and_hasher(capacity, BuildHasherDefault::default()),
        }
    }

    /// Registers `destination` under `key`. A key already registered is refused and
    /// keeps its destination.
    pub fn register(
        &self,
        key: RouteKey,
        destination: Arc<Mailbox<M>>,
    ) -> Result<(), AlreadyRegistered> {
        match self.routes.entry(key) {
            dashmap::Entry::Occupied(taken) => Err(AlreadyRegistered(taken.key().clone())),
            dashmap::Entry::Vacant(free) => {
                free.insert(destination);
                Ok(())
            }
        }
    }

    /// Removes the route; returns its destination if there was one.
    pub fn unregister(&self, key: &RouteKey) -> Option<Arc<Mailbox<M>>> {
        self.routes.remove(key).map(|(_, destination)| destination)
    }

    /// The destination registered under `key`.
    #[inline]
    pub fn lookup(&self, key: &RouteKey) -> Option<Route<'_, M>> {
        self.routes.get(key).map(Route)
    }

    /// Delivers `msg` into the mailbox registered under `key`, without waiting.
    #[inline]
    pub fn route(&self, key: &RouteKey, msg: M) -> Result<(), RouteError<M>> {
        let Some(destination) = self.routes.get(key) else {
            return Err(RouteError::NoRoute(msg));
        };
        destination.try_push(msg).map_err(|e| match e {
            PushError::Full(m) => RouteError::Full(m),
            PushError::Closed(m) => RouteError::Closed(m),
        })
    }

    /// Delivers `msg` into the mailbox registered under `key`, waiting for room while
    /// that mailbox is full: back-pressure for a caller that can wait (a connection
    /// then stops reading) instead of [`RouteError::Full`], which this never returns.
    /// The table's lock is not held while waiting. Waiting callers are not served
    /// in arrival order (see `Mailbox::push`).
    pub async fn route_wait(&self, key: &RouteKey, msg: M) -> Result<(), RouteError<M>> {
        let destination = {
            let Some(destination) = self.routes.get(key) else {
                return Err(RouteError::NoRoute(msg));
            };
            match destination.try_push(msg) {
                Ok(()) => return Ok(()),
                Err(PushError::Closed(m)) => return Err(RouteError::Closed(m)),
                Err(PushError::Full(m)) => (destination.value().clone(), m),
            }
        };
        let (destination, msg) = destination;
        destination
            .push(msg)
            .await
            .map_err(|Closed(m)| RouteError::Closed(m))
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when no route is registered.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Calls `f` on every route (the seed's "iteration" workload). Shards are read
    /// one at a time, so this sees a consistent view of each shard, not of the table.
    pub fn for_each(&self, mut f: impl FnMut(&RouteKey, &Arc<Mailbox<M>>)) {
        for entry in self.routes.iter() {
            f(entry.key(), entry.value());
        }
    }
}

/// Why a request registered with [`InFlight::begin`] got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unanswered {
    /// Its deadline passed ([`InFlight::expire`]).
    #[error("request expired before it was answered")]
    Expired,
    /// It was cancelled ([`InFlight::cancel`]).
    #[error("request was cancelled")]
    Cancelled,
}

/// What the waiter of a request receives: the response, or why there is none.
pub type Answer<R> = oneshot::Receiver<Result<R, Unanswered>>;

/// A request id that is already in flight: ids must be unique while in flight.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("request id {0:?} is already in flight")]
pub struct DuplicateRequest<K: fmt::Debug>(pub K);

/// Why [`InFlight::complete`] did not deliver; the response is handed back inside.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompleteError<R> {
    /// No request with this id is in flight (never sent, already answered,
    /// cancelled or expired).
    #[error("no request with this id is in flight")]
    Unknown(R),
    /// The request was in flight but its waiter has gone; it is removed now.
    #[error("the waiter of this request has gone")]
    Abandoned(R),
}

struct Pending<R> {
    responder: oneshot::Sender<Result<R, Unanswered>>,
    deadline: Instant,
}

/// The in-flight request table: request id to the responder of its waiter.
pub struct InFlight<K, R> {
    pending: DashMap<K, Pending<R>, ahash::RandomState>,
}

impl<K: Hash + Eq + Clone + fmt::Debug, R> Default for InFlight<K, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Clone + fmt::Debug, R> InFlight<K, R> {
    /// An empty table, with a fresh random hash seed.
    pub fn new() -> Self {
        InFlight {
            pending: DashMap::with_hasher(ahash::RandomState::new()),
        }
    }

    /// Records request `id` as in flight until `deadline`; returns where its answer
    /// will arrive. A duplicate id is refused and the first request keeps its place.
    pub fn begin(&self, id: K, deadline: Instant) -> Result<Answer<R>, DuplicateRequest<K>> {
        match self.pending.entry(id) {
            dashmap::Entry::Occupied(taken) => Err(DuplicateRequest(taken.key().clone())),
            dashmap::Entry::Vacant(free) => {
                let (responder, answer) = oneshot::channel();
                free.insert(Pending {
                    responder,
                    deadline,
                });
                Ok(answer)
            }
        }
    }

    /// Delivers `response` to the waiter of request `id` and forgets the request.
    pub fn complete<Q>(&self, id: &Q, response: R) -> Result<(), CompleteError<R>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some((_, pending)) = self.pending.remove(id) else {
            return Err(CompleteError::Unknown(response));
        };
        pending
            .responder
            .send(Ok(response))
            .map_err(|sent| match sent {
                Ok(response) => CompleteError::Abandoned(response),
                Err(_) => unreachable!("only Ok responses are sent here"),
            })
    }

    /// Cancels request `id`: its waiter receives [`Unanswered::Cancelled`].
    /// Returns false when no such request was in flight.
    pub fn cancel<Q>(&self, id: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.pending.remove(id) {
            Some((_, pending)) => {
                // The waiter may have gone already; either way the request is over.
                let _ = pending.responder.send(Err(Unanswered::Cancelled));
                true
            }
            None => false,
        }
    }

    /// Ends every request whose deadline is at or before `now`, and every request
    /// whose waiter has gone: waiters receive [`Unanswered::Expired`]. Returns the
    /// ids ended. Scans the whole table: call it periodically, not per request.
    pub fn expire(&self, now: Instant) -> Vec<K> {
        let overdue =
            |pending: &Pending<R>| pending.deadline <= now || pending.responder.is_closed();
        let candidates: Vec<K> = self
            .pending
            .iter()
            .filter(|e| overdue(e.value()))
            .map(|e| e.key().clone())
            .collect();
        let mut ended = Vec::with_capacity(candidates.len());
        for id in candidates {
            // Re-checked under the write lock: it may have been completed meanwhile.
            if let Some((id, pending)) = self.pending.remove_if(&id, |_, p| overdue(p)) {
                let _ = pending.responder.send(Err(Unanswered::Expired));
                ended.push(id);
            }
        }
        ended
    }

    /// Requests in flight.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when no request is in flight.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests;
