#![forbid(unsafe_code)]
//! Multi-producer multi-consumer mailboxes for an MCP server, on `crossbeam-queue`.
//!
//! A [`Mailbox`] is where a connection's outbound messages, or a tool's inbound
//! requests, wait for whoever serves them. It never loses a message: a push that
//! cannot be taken hands the message back ([`PushError`]), and after [`Mailbox::close`]
//! consumers drain what is left before they see the end.
//!
//! - [`Mailbox::bounded`] sits on a fixed-capacity `ArrayQueue`: back-pressure by
//!   construction, the default for anything a client can fill.
//! - [`Mailbox::unbounded`] sits on a `SegQueue`: for producers the server trusts.
//!
//! Both have non-blocking calls for threads (`try_*`) and async calls that wait
//! for room or for a message (`push`, `push_batch`, `pop`, `pop_batch`), usable from any async
//! runtime (wake-ups use `tokio::sync::Notify`, which needs no runtime).
//!
//! ```
//! use mcpbench_queue::{Mailbox, PushError};
//!
//! let mailbox = Mailbox::bounded(2);
//! mailbox.try_push("a").unwrap();
//! mailbox.try_push("b").unwrap();
//! // Full: the message comes back, nothing is dropped.
//! assert_eq!(mailbox.try_push("c"), Err(PushError::Full("c")));
//! assert_eq!(mailbox.try_pop(), Some("a"));
//!
//! mailbox.close();
//! assert_eq!(mailbox.try_push("d"), Err(PushError::Closed("d")));
//! // What was queued before close is still delivered.
//! assert_eq!(mailbox.try_pop(), Some("b"));
//! assert!(mailbox.is_drained());
//! ```

use std::marker::PhantomData;
use std::pin::pin;

use crossbeam_queue::SegQueue;
use crossbeam_utils::CachePadded;

#[cfg(not(loom))]
use crossbeam_queue::ArrayQueue;
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU64, Ordering, fence};
#[cfg(not(loom))]
use std::thread::yield_now;
#[cfg(not(loom))]
use tokio::sync::Notify;

// Under `--cfg loom` (tests/loom.rs) the same code runs on loom's atomics, with
// loom models of the bounded queue and of `Notify` (see `loom_model`).
#[cfg(loom)]
mod loom_model;
#[cfg(loom)]
use loom::sync::atomic::{AtomicU64, Ordering, fence};
#[cfg(loom)]
use loom::thread::yield_now;
#[cfg(loom)]
pub use loom_model::ArrayQueue;
#[cfg(loom)]
use loom_model::Notify;

// `state` holds everything a push must see atomically: bit 0: closed; bits 1..24:
// pushes in progress (synchronous, so bounded by threads); bits 24..64: tasks
// waiting for a message. Tasks waiting for room are counted in `push_waiters`, on
// a cache line of its own: poppers read it on every pop, and sharing the line with
// the counter every push writes would bounce it between producer and consumer.
const CLOSED: u64 = 1;
const PUSHER: u64 = 1 << 1;
const PUSHERS: u64 = ((1 << 24) - 1) & !CLOSED;
const POP_WAITER: u64 = 1 << 24;
const POP_WAITERS: u64 = !((1 << 24) - 1);

/// Why a push did not take the message; the message is handed back inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError<T> {
    /// The bounded mailbox has no free slot.
    #[error("mailbox is full")]
    Full(T),
    /// The mailbox was closed; it takes no new messages.
    #[error("mailbox is closed")]
    Closed(T),
}

impl<T> PushError<T> {
    /// The message that was not pushed.
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(m) | PushError::Closed(m) => m,
        }
    }
}

/// A push to a closed mailbox; the message is handed back inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("mailbox is closed")]
pub struct Closed<T>(pub T);

/// A batch push stopped early: why, and every message not pushed, in order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("batch push stopped after {pushed} messages: mailbox is {}", if *.closed { "closed" } else { "full" })]
pub struct BatchError<T> {
    /// How many messages from the front of the batch were pushed.
    pub pushed: usize,
    /// True when the mailbox was closed, false when it was full.
    pub closed: bool,
    /// The messages not pushed, in their original order.
    pub rest: Vec<T>,
}

/// The queue under a mailbox. Sealed: the two implementations are
/// `crossbeam_queue::ArrayQueue` (bounded) and `crossbeam_queue::SegQueue` (unbounded).
#[allow(clippy::len_without_is_empty)] // internal to Mailbox, which has both
pub trait Slots<T>: sealed::Sealed + Send + Sync {
    /// True when `push` can fail for lack of room, so pops must wake pushers.
    const BOUNDED: bool;
    #[doc(hidden)]
    fn push(&self, msg: T) -> Result<(), T>;
    #[doc(hidden)]
    fn pop(&self) -> Option<T>;
    #[doc(hidden)]
    fn len(&self) -> usize;
    #[doc(hidden)]
    fn capacity(&self) -> Option<usize>;
}

mod sealed {
    pub trait Sealed {}
    impl<T> Sealed for super::ArrayQueue<T> {}
    impl<T> Sealed for crossbeam_queue::SegQueue<T> {}
}

impl<T: Send> Slots<T> for ArrayQueue<T> {
    const BOUNDED: bool = true;
    #[inline]
    fn push(&self, msg: T) -> Result<(), T> {
        ArrayQueue::push(self, msg)
    }
    #[inline]
    fn pop(&self) -> Option<T> {
        ArrayQueue::pop(self)
    }
    fn len(&self) -> usize {
        ArrayQueue::len(self)
    }
    fn capacity(&self) -> Option<usize> {
        Some(ArrayQueue::capacity(self))
    }
}

impl<T: Send> Slots<T> for SegQueue<T> {
    const BOUNDED: bool = false;
    #[inline]
    fn push(&self, msg: T) -> Result<(), T> {
        SegQueue::push(self, msg);
        Ok(())
    }
    #[inline]
    fn pop(&self) -> Option<T> {
        SegQueue::pop(self)
    }
    fn len(&self) -> usize {
        SegQueue::len(self)
    }
    fn capacity(&self) -> Option<usize> {
        None
    }
}

/// A multi-producer multi-consumer mailbox. See the [crate docs](crate).
pub struct Mailbox<T, S = ArrayQueue<T>> {
    slots: S,
    state: AtomicU64,
    push_waiters: CachePadded<AtomicU64>,
    not_empty: Notify,
    not_full: Notify,
    _msg: PhantomData<fn(T) -> T>,
}

/// A mailbox on an unbounded `SegQueue`.
pub type UnboundedMailbox<T> = Mailbox<T, SegQueue<T>>;

impl<T: Send> Mailbox<T, ArrayQueue<T>> {
    /// A mailbox holding at most `capacity` messages.
    ///
    /// # Panics
    /// If `capacity` is zero.
    pub fn bounded(capacity: usize) -> Self {
        Self::with_slots(ArrayQueue::new(capacity))
    }
}

impl<T: Send> Mailbox<T, SegQueue<T>> {
    /// A mailbox that grows as needed; `try_push` only fails once closed.
    pub fn unbounded() -> Self {
        Self::with_slots(SegQueue::new())
    }
}

/// Undoes a waiter registration when the waiting future ends or is dropped.
struct Waiting<'a>(&'a AtomicU64, u64);

impl<'a> Waiting<'a> {
    fn register(state: &'a AtomicU64, unit: u64) -> Self {
        state.fetch_add(unit, Ordering::SeqCst);
        // Pairs with the fence after a push/pop: either they see us waiting, or we
        // see their message/room when we retry below.
        fence(Ordering::SeqCst);
        Waiting(state, unit)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Ordering::SeqCst);
    }
}

impl<T: Send, S: Slots<T>> Mailbox<T, S> {
    fn with_slots(slots: S) -> Self {
        Mailbox {
            slots,
            state: AtomicU64::new(0),
            push_waiters: CachePadded::new(AtomicU64::new(0)),
            not_empty: Notify::new(),
            not_full: Notify::new(),
            _msg: PhantomData,
        }
    }

    /// Pushes without waiting. On a full or closed mailbox the message comes back.
    #[inline]
    pub fn try_push(&self, msg: T) -> Result<(), PushError<T>> {
        let before = self.state.fetch_add(PUSHER, Ordering::AcqRel);
        if before & CLOSED != 0 {
            self.state.fetch_sub(PUSHER, Ordering::Release);
            return Err(PushError::Closed(msg));
        }
        let pushed = self.slots.push(msg);
        let now = self.state.fetch_sub(PUSHER, Ordering::SeqCst);
        match pushed {
            Ok(()) => {
                if now & POP_WAITERS != 0 {
                    self.not_empty.notify_one();
                }
                Ok(())
            }
            Err(msg) => Err(PushError::Full(msg)),
        }
    }

    /// Pushes as many messages of `batch` as fit, in order, paying for the closed
    /// check and the wake-up once per batch instead of once per message.
    pub fn try_push_batch<I: IntoIterator<Item = T>>(&self, batch: I) -> Result<(), BatchError<T>> {
        let mut batch = batch.into_iter();
        let before = self.state.fetch_add(PUSHER, Ordering::AcqRel);
        if before & CLOSED != 0 {
            self.state.fetch_sub(PUSHER, Ordering::Release);
            return Err(BatchError {
                pushed: 0,
                closed: true,
                rest: batch.collect(),
            });
        }
        let mut pushed = 0;
        let mut refused = None;
        for msg in batch.by_ref() {
            match self.slots.push(msg) {
                Ok(()) => pushed += 1,
                Err(msg) => {
                    refused = Some(msg);
                    break;
                }
            }
        }
        let now = self.state.fetch_sub(PUSHER, Ordering::SeqCst);
        if pushed > 0 && now & POP_WAITERS != 0 {
            // Several consumers may be waiting and several messages are there for them.
            for _ in 0..pushed.min(((now & POP_WAITERS) / POP_WAITER) as usize) {
                self.not_empty.notify_one();
            }
        }
        match refused {
            None => Ok(()),
            Some(first) => {
                let mut rest = vec![first];
                rest.extend(batch);
                Err(BatchError {
                    pushed,
                    closed: false,
                    rest,
                })
            }
        }
    }

    /// Pushes, waiting for room while the mailbox is full. Fails only when closed.
    ///
    /// Not first-come-first-served: a pusher woken for a freed slot retries, and a
    /// newcomer's push (or `try_push`) can take the slot first; the woken pusher
    /// then waits again at the back. Under sustained overload some pushers wait
    /// much longer than others (seen in the 100,000-connection run, README).
    ///
    /// Cancel-safe: dropping the future drops the message it was carrying, and
    /// nothing else.
    pub async fn push(&self, msg: T) -> Result<(), Closed<T>> {
        let mut msg = match self.try_push(msg) {
            Ok(()) => return Ok(()),
            Err(PushError::Closed(m)) => return Err(Closed(m)),
            Err(PushError::Full(m)) => m,
        };
        loop {
            let mut room = pin!(self.not_full.notified());
            room.as_mut().enable();
            let _waiting = Waiting::register(&self.push_waiters, 1);
            msg = match self.try_push(msg) {
                Ok(()) => return Ok(()),
                Err(PushError::Closed(m)) => return Err(Closed(m)),
                Err(PushError::Full(m)) => m,
            };
            room.await;
        }
    }

    /// Pushes every message of `batch`, in order, waiting for room whenever the
    /// mailbox is full. Fails only when closed: the error holds every message not
    /// pushed. Cancel-safe in the same way as [`push`](Self::push): messages not
    /// yet pushed are dropped with the future.
    pub async fn push_batch<I: IntoIterator<Item = T>>(
        &self,
        batch: I,
    ) -> Result<(), BatchError<T>> {
        let mut pending = match self.try_push_batch(batch) {
            Ok(()) => return Ok(()),
            Err(e) if e.closed => return Err(e),
            Err(e) => e,
        };
        let mut pushed = pending.pushed;
        loop {
            let mut rest = std::mem::take(&mut pending.rest).into_iter();
            let Some(first) = rest.next() else {
                return Ok(());
            };
            if let Err(Closed(first)) = self.push(first).await {
                let mut back = vec![first];
                back.extend(rest);
                return Err(BatchError {
                    pushed,
                    closed: true,
                    rest: back,
                });
            }
            pushed += 1;
            pending = match self.try_push_batch(rest) {
                Ok(()) => return Ok(()),
                Err(e) if e.closed => {
                    return Err(BatchError {
                        pushed: pushed + e.pushed,
                        ..e
                    });
                }
                Err(e) => {
                    pushed += e.pushed;
                    e
                }
            };
        }
    }

    /// Pops without waiting.
    #[inline]
    pub fn try_pop(&self) -> Option<T> {
        let msg = self.slots.pop()?;
        self.wake_pushers(1);
        Some(msg)
    }

    /// Pops up to `max` messages into `out` without waiting; returns how many.
    pub fn try_pop_batch(&self, max: usize, out: &mut Vec<T>) -> usize {
        let mut popped = 0;
        while popped < max {
            match self.slots.pop() {
                Some(msg) => {
                    out.push(msg);
                    popped += 1;
                }
                None => break,
            }
        }
        if popped > 0 {
            self.wake_pushers(popped);
        }
        popped
    }

    #[inline]
    fn wake_pushers(&self, freed: usize) {
        if S::BOUNDED {
            // No fence needed here: the pop that freed the slot was a SeqCst
            // compare-exchange on the queue's head (crossbeam-queue 0.3's
            // `ArrayQueue::pop`), and this load is SeqCst too. A waiting pusher
            // registers with a SeqCst RMW followed by a SeqCst fence before it
            // re-reads the head. In the single total order either the pop comes
            // before that fence (the pusher's retry sees the room) or the
            // registration comes before this load (we see the waiter). The
            // concurrent tests in this crate exercise exactly this handshake,
            // and tests/loom.rs checks it under every interleaving (the
            // crossbeam-queue pin in the workspace Cargo.toml guards the CAS).
            let waiting = self.push_waiters.load(Ordering::SeqCst);
            if waiting != 0 {
                for _ in 0..freed.min(waiting as usize) {
                    self.not_full.notify_one();
                }
            }
        }
    }

    /// Pops, waiting for a message. `None` once the mailbox is closed and drained.
    ///
    /// Cancel-safe: a message is only taken when the future completes.
    pub async fn pop(&self) -> Option<T> {
        loop {
            if let Some(msg) = self.try_pop() {
                return Some(msg);
            }
            if let Some(end) = self.try_finish() {
                return end;
            }
            let mut arrival = pin!(self.not_empty.notified());
            arrival.as_mut().enable();
            let _waiting = Waiting::register(&self.state, POP_WAITER);
            if let Some(msg) = self.try_pop() {
                return Some(msg);
            }
            if let Some(end) = self.try_finish() {
                return end;
            }
            arrival.await;
        }
    }

    /// Waits for at least one message, then takes up to `max` (at least one) without
    /// further waiting. An empty vector means closed and drained.
    pub async fn pop_batch(&self, max: usize) -> Vec<T> {
        let mut out = Vec::new();
        if let Some(first) = self.pop().await {
            out.push(first);
            self.try_pop_batch(max.saturating_sub(1), &mut out);
        }
        out
    }

    /// When closed with no push still in progress, the final answer for a pop:
    /// one last message, or `Some(None)` for the end. `None` while still open.
    fn try_finish(&self) -> Option<Option<T>> {
        loop {
            let state = self.state.load(Ordering::Acquire);
            if state & CLOSED == 0 {
                return None;
            }
            if state & PUSHERS == 0 {
                // Every push that got past the closed check has landed: this pop
                // sees all of them.
                return Some(self.try_pop());
            }
            // A push that started before close is mid-flight; it takes nanoseconds.
            yield_now();
        }
    }

    /// Closes the mailbox: pushes fail from now on, pops drain what is left, then end.
    /// Idempotent.
    pub fn close(&self) {
        self.state.fetch_or(CLOSED, Ordering::SeqCst);
        self.not_empty.notify_waiters();
        self.not_full.notify_waiters();
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// True when closed and nothing is left to pop.
    pub fn is_drained(&self) -> bool {
        let state = self.state.load(Ordering::Acquire);
        state & CLOSED != 0 && state & PUSHERS == 0 && self.slots.len() == 0
    }

    /// Messages waiting now (a snapshot; other threads may change it at once).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when no message is waiting (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.slots.len() == 0
    }

    /// The fixed capacity, or `None` for an unbounded mailbox.
    pub fn capacity(&self) -> Option<usize> {
        self.slots.capacity()
    }
}

impl<T, S: Slots<T>> std::fmt::Debug for Mailbox<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.load(Ordering::Relaxed);
        f.debug_struct("Mailbox")
            .field("len", &self.slots.len())
            .field("capacity", &self.slots.capacity())
            .field("closed", &(state & CLOSED != 0))
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
