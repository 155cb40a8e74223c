#![forbid(unsafe_code)]
//! The MCP session store (Streamable HTTP transport, revision 2025-11-25).
//!
//! A server assigns an `Mcp-Session-Id` at `initialize` and the client sends it back
//! on every later request. This crate makes those ids ([`SessionId`]: 128 random
//! bits from a cryptographically secure generator, rendered as 32 lowercase hex
//! digits, a subset of the visible ASCII the spec allows), parses what clients send
//! back (anything else is an error, never a panic), and keeps the [`Session`] records
//! in a [`SessionStore`]: bounded in size, safe to update from many tasks at once,
//! with idle eviction.
//!
//! The store is a fixed array of `parking_lot::RwLock<HashMap>` shards. Because ids
//! are random and only the server makes them, their bits serve as the hash directly:
//! no hashing on any operation, and nothing a client sends can build a collision
//! chain (a client can only *look up* an id, never insert one).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use mcpbench_session::{ClientInfo, NewSession, SessionId, SessionStore};
//!
//! let store = SessionStore::new(10_000);
//! let t0 = Instant::now();
//! let id = store
//!     .create(NewSession {
//!         protocol_version: "2025-11-25".into(),
//!         client: ClientInfo { name: "inspector".into(), version: "1.0".into() },
//!         capabilities: r#"{"sampling":{}}"#.into(),
//!     }, t0)
//!     .unwrap();
//!
//! // The client echoes the header back; parse it before use.
//! let header = id.to_string();
//! let parsed: SessionId = header.parse().unwrap();
//! store.update(&parsed, |s| s.initialized = true);
//! assert_eq!(store.read(&parsed, |s| s.initialized), Some(true));
//! assert!("not a session id".parse::<SessionId>().is_err());
//!
//! // Idle for longer than the TTL: evicted.
//! assert_eq!(store.evict_idle(t0 + Duration::from_secs(301), Duration::from_secs(300)), 1);
//! assert!(store.read(&parsed, |_| ()).is_none());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use parking_lot::RwLock;

/// An MCP session id: 128 random bits. Displays as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(u128);

impl SessionId {
    /// A fresh id from the thread-local CSPRNG (`rand::rng()`, ChaCha reseeded from
    /// the OS).
    pub fn random() -> Self {
        SessionId(rand::random())
    }

    /// Parses an id as rendered by `Display`. See [`ParseIdError`] for what is refused.
    pub fn parse(text: &str) -> Result<Self, ParseIdError> {
        if text.is_empty() {
            return Err(ParseIdError::Empty);
        }
        if let Some(position) = text.bytes().position(|b| !(0x21..=0x7e).contains(&b)) {
            return Err(ParseIdError::NotVisibleAscii {
                position,
                byte: text.as_bytes()[position],
            });
        }
        if text.len() != 32 {
            return Err(ParseIdError::WrongLength { len: text.len() });
        }
        let mut bits = 0u128;
        for (position, b) in text.bytes().enumerate() {
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                _ => return Err(ParseIdError::NotHex { position, byte: b }),
            };
            bits = bits << 4 | u128::from(digit);
        }
        Ok(SessionId(bits))
    }

    /// Which shard of `count` (a power of two) holds this id: the top bits, so the
    /// low bits used inside the shard's table stay independent.
    fn shard(self, count: usize) -> usize {
        (self.0 >> (128 - count.trailing_zeros())) as usize
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

impl FromStr for SessionId {
    type Err = ParseIdError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        SessionId::parse(text)
    }
}

/// Why a client-supplied session id was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    /// The header was empty.
    #[error("session id is empty")]
    Empty,
    /// A byte outside visible ASCII (0x21-0x7E), which the spec forbids.
    #[error("session id has byte {byte:#04x} at {position}, outside visible ASCII")]
    NotVisibleAscii {
        /// Byte offset of the first offending byte.
        position: usize,
        /// The byte.
        byte: u8,
    },
    /// Visible ASCII, but not the 32 characters this server issues.
    #[error("session id is {len} characters long, this server issues 32")]
    WrongLength {
        /// The length received.
        len: usize,
    },
    /// Visible ASCII of the right length, but not lowercase hex.
    #[error("session id has {:?} at {position}, this server issues lowercase hex", *.byte as char)]
    NotHex {
        /// Byte offset of the first offending character.
        position: usize,
        /// The character.
        byte: u8,
    },
}

/// The client's `clientInfo` from `initialize`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// Client name.
    pub name: String,
    /// Client version.
    pub version: String,
}

/// What `initialize` tells the server about a new session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewSession {
    /// The protocol revision agreed on.
    pub protocol_version: String,
    /// Who the client is.
    pub client: ClientInfo,
    /// The client's `capabilities` object, as raw JSON text.
    pub capabilities: Box<str>,
}

/// One session's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The protocol revision agreed on.
    pub protocol_version: String,
    /// Who the client is.
    pub client: ClientInfo,
    /// The client's `capabilities` object, as raw JSON text.
    pub capabilities: Box<str>,
    /// Set once the client sent `notifications/initialized`.
    pub initialized: bool,
    /// When the session was created.
    pub created: Instant,
    /// When the session was last used ([`SessionStore::touch`]).
    pub last_seen: Instant,
    /// Requests served in this session.
    pub requests: u64,
    /// Notifications received in this session.
    pub notifications: u64,
    /// What the session subscribed to, one bit per topic (what a bit stands for
    /// is the server's business; MCP: `resources/subscribe`).
    pub subscriptions: u64,
}

/// The store is at its maximum session count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("session store is full ({max} sessions); evict idle sessions or raise the limit")]
pub struct StoreFull {
    /// The configured maximum.
    pub max: usize,
}

/// Uses the low 64 bits of a [`SessionId`] as its hash (see the crate docs for why
/// that is safe).
#[derive(Default)]
struct IdBits(u64);

impl Hasher for IdBits {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_u128(&mut self, id: u128) {
        self.0 = id as u64;
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

type Shard = CachePadded<RwLock<HashMap<SessionId, Session, BuildHasherDefault<IdBits>>>>;

/// Sessions by id, bounded in number. See the [crate docs](crate).
pub struct SessionStore {
    shards: Box<[Shard]>,
    live: AtomicUsize,
    max: usize,
}

impl SessionStore {
    /// A store that refuses new sessions beyond `max_sessions`, with a shard count
    /// of four per CPU (rounded to a power of two), as dashmap chooses.
    pub fn new(max_sessions: usize) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_shards(max_sessions, cpus * 4)
    }

    /// As [`new`](Self::new) with an explicit shard count (rounded up to a power of
    /// two, at least 2).
    pub fn with_shards(max_sessions: usize, shards: usize) -> Self {
        let shards = shards.max(2).next_power_of_two();
        SessionStore {
            shards: (0..shards)
                .map(|_| CachePadded::new(RwLock::new(HashMap::default())))
                .collect(),
            live: AtomicUsize::new(0),
            max: max_sessions,
        }
    }

    fn shard(&self, id: &SessionId) -> &Shard {
        &self.shards[id.shard(self.shards.len())]
    }

    /// Creates a session with a fresh id, or refuses when the store is full.
    pub fn create(&self, new: NewSession, now: Instant) -> Result<SessionId, StoreFull> {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .map_err(|_| StoreFull { max: self.max })?;
        let session = Session {
            protocol_version: new.protocol_version,
            client: new.client,
            capabilities: new.capabilities,
            initialized: false,
            created: now,
            last_seen: now,
            requests: 0,
            notifications: 0,
            subscriptions: 0,
        };
        loop {
            let id = SessionId::random();
            let mut shard = self.shard(&id).write();
            // 128 random bits collide with odds of about n / 2^128; retry rather
            // than ever replace a live session.
            if let std::collections::hash_map::Entry::Vacant(free) = shard.entry(id) {
                free.insert(session);
                return Ok(id);
            }
        }
    }

    /// Calls `f` with the session, under a shared lock. `None` if there is no such
    /// session.
    #[inline]
    pub fn read<R>(&self, id: &SessionId, f: impl FnOnce(&Session) -> R) -> Option<R> {
        self.shard(id).read().get(id).map(f)
    }

    /// Calls `f` with the session, under an exclusive lock, so concurrent updates
    /// never lose each other's changes. `None` if there is no such session.
    #[inline]
    pub fn update<R>(&self, id: &SessionId, f: impl FnOnce(&mut Session) -> R) -> Option<R> {
        self.shard(id).write().get_mut(id).map(f)
    }

    /// Marks the session used at `now`. False if there is no such session.
    pub fn touch(&self, id: &SessionId, now: Instant) -> bool {
        self.update(id, |s| s.last_seen = s.last_seen.max(now))
            .is_some()
    }

    /// Removes the session and returns its record.
    pub fn remove(&self, id: &SessionId) -> Option<Session> {
        let mut shard = self.shard(id).write();
        let removed = shard.remove(id);
        if removed.is_some() {
            self.live.fetch_sub(1, Ordering::AcqRel);
            shrink_if_sparse(&mut shard);
        }
        removed
    }

    /// Removes every session not seen for longer than `ttl` before `now`; returns
    /// how many. Locks one shard at a time, so other shards stay usable meanwhile.
    pub fn evict_idle(&self, now: Instant, ttl: Duration) -> usize {
        let mut evicted = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.write();
            let before = shard.len();
            shard.retain(|_, s| now.saturating_duration_since(s.last_seen) <= ttl);
            evicted += before - shard.len();
            shrink_if_sparse(&mut shard);
        }
        self.live.fetch_sub(evicted, Ordering::AcqRel);
        evicted
    }

    /// Sessions in the store.
    pub fn len(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// True when the store holds no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The configured maximum session count.
    pub fn max_sessions(&self) -> usize {
        self.max
    }
}

/// Gives memory back once a shard is under a quarter full, so a store emptied by
/// deletes or expiry returns to its empty-table size. Halving at a quarter keeps
/// the cost amortised: a shrink follows at least as many removals as it moves
/// entries.
fn shrink_if_sparse<V>(shard: &mut HashMap<SessionId, V, BuildHasherDefault<IdBits>>) {
    if shard.capacity() > 16 && shard.len() * 4 < shard.capacity() {
        shard.shrink_to(shard.len() * 2);
    }
}

impl fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionStore")
            .field("len", &self.len())
            .field("max", &self.max)
            .field("shards", &self.shards.len())
            .finish()
    }
}

#[cfg(test)]
mod tests;
