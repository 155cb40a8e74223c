//! Loom stand-ins, compiled only under `--cfg loom` (see `tests/loom.rs`).
//!
//! Loom sees only operations on its own types. `crossbeam_queue::ArrayQueue`
//! and `tokio::sync::Notify` use std atomics and locks, which loom would run as
//! if they were single indivisible steps: far stronger than the real thing, so
//! a bug in the mailbox that relies on them would be invisible. Under loom the
//! mailbox therefore sits on the two types below. They are *models*: each keeps
//! exactly the guarantees the mailbox's wake-up argument uses, no more, and says
//! which property of the real type it stands for. Everything else in `lib.rs`
//! (the state word, the counters, their orderings, `push`/`pop`/`close`,
//! `wake_pushers`, `Waiting`) is the real code, compiled against loom atomics.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use loom::sync::Mutex;
use loom::sync::atomic::{AtomicUsize, Ordering, fence};

/// Model of `crossbeam_queue::ArrayQueue` (0.3.14), reduced to the guarantees
/// the mailbox's wake-up argument uses. The occupancy is one loom atomic, `len`;
/// the messages sit in a `std::sync::Mutex<VecDeque>` that loom does not see
/// (neither a scheduling point nor a source of happens-before), changed in the
/// same loom step as the RMW on `len` that claims them, so the queue itself is
/// linearizable but synchronises only through `len`:
///
/// - `pop` takes a message with a **SeqCst** read-modify-write of the queue's
///   index (crossbeam 0.3.14, `ArrayQueue::pop`:
///   `self.head.compare_exchange_weak(head, new, Ordering::SeqCst, Ordering::Relaxed)`).
///   This is what `Mailbox::wake_pushers` relies on: its SeqCst load of
///   `push_waiters` comes after that RMW in the single total order S.
/// - `push` declares the queue full only after `fence(SeqCst)` and a Relaxed
///   load of the index (crossbeam's `push_or_else` + `push`:
///   `atomic::fence(Ordering::SeqCst)` then `self.head.load(Ordering::Relaxed)`);
///   `pop` likewise declares it empty only after `fence(SeqCst)` and a reload.
/// - A successful push is a plain (to loom: AcqRel) RMW. crossbeam's tail CAS is
///   SeqCst too, but nothing in the mailbox relies on that (the pop-waiter
///   handshake goes through RMWs on `state`), so the model does not grant it.
///
/// One translation: loom treats SeqCst *accesses* as AcqRel (its
/// `Set::seq_cst` is a no-op; only SeqCst fences are modelled), so a SeqCst RMW
/// alone would get no place in S. The pop's RMW is therefore followed by
/// `fence(SeqCst)`. For the handshake with a registering pusher (store
/// buffering: the pop writes the index then reads `push_waiters`; the pusher
/// writes `push_waiters`, fences, then reads the index) the two are equivalent:
/// either the pop precedes the pusher's fence in S, and the pusher's reload
/// sees the room, or the pusher's fence precedes it, and the popper's load sees
/// the registration. Deleting that fence is the experiment "crossbeam's pop is
/// no longer SeqCst": loom then finds the lost wake-up (reported in
/// `tests/loom.rs`).
///
/// (crossbeam's per-slot stamps, which let a push or pop spin while another
/// is half-way through a slot, are left out: they are crossbeam's own
/// correctness, and their spins made the model too large for loom to finish.)
pub struct ArrayQueue<T> {
    len: AtomicUsize,
    cap: usize,
    /// Invisible to loom on purpose: see above.
    items: std::sync::Mutex<VecDeque<T>>,
}

impl<T> ArrayQueue<T> {
    /// A queue of `cap` slots. Panics on zero, as crossbeam's does.
    pub fn new(cap: usize) -> Self {
        assert!(cap > 0, "capacity must be non-zero");
        ArrayQueue {
            len: AtomicUsize::new(0),
            cap,
            items: std::sync::Mutex::new(VecDeque::with_capacity(cap)),
        }
    }

    fn items(&self) -> std::sync::MutexGuard<'_, VecDeque<T>> {
        self.items
            .try_lock()
            .expect("loom runs one thread at a time")
    }

    pub fn push(&self, value: T) -> Result<(), T> {
        let mut len = self.len.load(Ordering::Relaxed);
        loop {
            if len == self.cap {
                fence(Ordering::SeqCst);
                len = self.len.load(Ordering::Relaxed);
                if len == self.cap {
                    return Err(value);
                }
            }
            match self
                .len
                .compare_exchange(len, len + 1, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => {
                    // Same loom step as the CAS: no loom operation in between.
                    self.items().push_back(value);
                    return Ok(());
                }
                Err(now) => len = now,
            }
        }
    }

    pub fn pop(&self) -> Option<T> {
        let mut len = self.len.load(Ordering::Relaxed);
        loop {
            if len == 0 {
                fence(Ordering::SeqCst);
                len = self.len.load(Ordering::Relaxed);
                if len == 0 {
                    return None;
                }
            }
            match self
                .len
                .compare_exchange(len, len - 1, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => {
                    // Same loom step as the CAS: no loom operation in between.
                    let msg = self.items().pop_front().expect("len counts the items");
                    // The SeqCst of the RMW above, in terms loom models.
                    fence(Ordering::SeqCst);
                    return Some(msg);
                }
                Err(now) => len = now,
            }
        }
    }

    /// crossbeam's `len` reads its indices with SeqCst loads.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::SeqCst)
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }
}

/// Model of `tokio::sync::Notify`, with the parts of its contract the mailbox
/// uses:
///
/// - `notify_one` wakes one waiting `Notified` (one that was enabled or
///   polled), or, when none waits, stores a single permit that the next
///   `enable`/poll consumes;
/// - `notify_waiters` wakes every waiting `Notified` *and* every `Notified`
///   created before the call, even if not yet enabled; it stores no permit;
/// - a `Notified` woken by `notify_one` and dropped before it was polled to
///   completion passes its wake-up on (tokio's `Drop for Notified`).
///
/// Its state sits under one loom `Mutex`, as tokio's waiter list does (tokio's
/// fast paths are SeqCst RMWs on a state word, which loom could not order more
/// strongly than this lock does). The mailbox never relies on `Notify` for the
/// visibility of its own state: the handshakes on `state` and `push_waiters`
/// are what `tests/loom.rs` checks.
pub struct Notify {
    inner: Mutex<Inner>,
    /// How many times `notify_waiters` was called (changed under the lock, read
    /// without it by `notified`, as tokio's state word is).
    broadcasts: AtomicUsize,
    /// Waiter ids: bookkeeping only, so not a loom type.
    next_id: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct Inner {
    permit: bool,
    /// Waiting `Notified`s, oldest first, with the waker of their last poll.
    waiters: VecDeque<(u64, Option<Waker>)>,
    /// Waiters taken off the list by a notification, not yet seen by their
    /// `Notified`; `true` for a `notify_one`.
    woken: Vec<(u64, bool)>,
}

impl Inner {
    /// `notify_one` under the lock; returns the waker to wake after unlocking.
    fn notify_one(&mut self) -> Option<Waker> {
        match self.waiters.pop_front() {
            Some((id, waker)) => {
                self.woken.push((id, true));
                waker
            }
            None => {
                self.permit = true;
                None
            }
        }
    }

    fn take_woken(&mut self, id: u64) -> Option<bool> {
        let at = self.woken.iter().position(|&(w, _)| w == id)?;
        Some(self.woken.swap_remove(at).1)
    }
}

impl Default for Notify {
    fn default() -> Self {
        Self::new()
    }
}

impl Notify {
    pub fn new() -> Self {
        Notify {
            inner: Mutex::new(Inner::default()),
            broadcasts: AtomicUsize::new(0),
            next_id: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            id: self
                .next_id
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            broadcasts: self.broadcasts.load(Ordering::SeqCst),
            state: State::Init,
        }
    }

    pub fn notify_one(&self) {
        let waker = self.inner.lock().unwrap().notify_one();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub fn notify_waiters(&self) {
        let wakers: Vec<Waker> = {
            let mut inner = self.inner.lock().unwrap();
            self.broadcasts.fetch_add(1, Ordering::SeqCst);
            let waiters = std::mem::take(&mut inner.waiters);
            waiters
                .into_iter()
                .filter_map(|(id, waker)| {
                    inner.woken.push((id, false));
                    waker
                })
                .collect()
        };
        for waker in wakers {
            waker.wake();
        }
    }
}

#[derive(PartialEq)]
enum State {
    Init,
    Waiting,
    Done,
}

pub struct Notified<'a> {
    notify: &'a Notify,
    id: u64,
    broadcasts: usize,
    state: State,
}

impl Notified<'_> {
    /// Registers as a waiter (or takes a notification already there): from
    /// here on a `notify_one` cannot be missed. True when already notified.
    pub fn enable(self: Pin<&mut Self>) -> bool {
        self.get_mut().poll_with(None)
    }

    /// One poll; `waker` is recorded when it has to wait.
    fn poll_with(&mut self, waker: Option<&Waker>) -> bool {
        let mut inner = self.notify.inner.lock().unwrap();
        match self.state {
            State::Done => return true,
            State::Init => {
                let broadcasts = self.notify.broadcasts.load(Ordering::SeqCst);
                if broadcasts != self.broadcasts || std::mem::take(&mut inner.permit) {
                    self.state = State::Done;
                    return true;
                }
                inner.waiters.push_back((self.id, waker.cloned()));
                self.state = State::Waiting;
            }
            State::Waiting => {
                if inner.take_woken(self.id).is_some() {
                    self.state = State::Done;
                    return true;
                }
                if let Some(waker) = waker {
                    let id = self.id;
                    if let Some(entry) = inner.waiters.iter_mut().find(|(w, _)| *w == id) {
                        entry.1 = Some(waker.clone());
                    }
                }
            }
        }
        false
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.get_mut().poll_with(Some(cx.waker())) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        if self.state != State::Waiting {
            return;
        }
        let waker = {
            let mut inner = self.notify.inner.lock().unwrap();
            let id = self.id;
            match inner.take_woken(id) {
                // Woken by `notify_one` but never completed: pass it on.
                Some(true) => inner.notify_one(),
                Some(false) => None,
                None => {
                    inner.waiters.retain(|(w, _)| *w != id);
                    None
                }
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}
