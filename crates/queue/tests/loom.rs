//! Loom model of the bounded mailbox's wake-ups: capacity 1, two pushers that
//! wait for room (`Mailbox::push`), one consumer that waits for messages
//! (`Mailbox::pop`), and a `close`. Loom runs every interleaving (and every
//! value each atomic load may legally return) of the real mailbox code in
//! `src/lib.rs`, on loom models of `ArrayQueue` and `Notify` (`src/loom_model.rs`).
//!
//! What it checks, in every execution:
//! - no lost wake-up: a pusher or the consumer parked with nobody left to wake
//!   it is a deadlock, which loom reports as a failure;
//! - every message is either popped exactly once or handed back to its pusher
//!   by a failed push (`Closed`), never both, never neither;
//! - `pop` returns `None` only after `close`, and only once every pushed
//!   message was popped (closed *and* drained).
//!
//! Run (a target dir of its own, so the normal build is not invalidated):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p mcpbench-queue --test loom --release
//! ```
//!
//! `LOOM_MAX_PREEMPTIONS` bounds the search (unset here: 3, about 85 s).
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::Arc;
use loom::thread;
use mcpbench_queue::{Closed, Mailbox};

/// Wakes a loom thread parked in [`block_on`].
struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives `future` on this loom thread, parking it while the future is
/// pending. (`loom::future::block_on` does the same but also wakes spuriously,
/// which multiplies the executions without exercising anything the mailbox's
/// loops do not already get from real wake-ups.) A future that is never woken
/// leaves its thread parked for good: loom reports that as a deadlock.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(std::sync::Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

/// Runs `scenario` under loom and prints how many executions it took.
fn check(name: &str, scenario: fn(bool), close_first_join: bool) {
    // Executions explored, printed at the end (std, not loom: bookkeeping).
    let executions = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = executions.clone();
    let started = std::time::Instant::now();
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_BRANCHES").is_none() {
        // An execution here is a few hundred steps; spins (a pop waiting for a
        // stamp, `try_finish` waiting for a push in flight) can stretch one past
        // loom's default 1,000.
        builder.max_branches = 10_000;
    }
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        // 3: both scenarios in about 85 s on two cores (2: 5 s; unbounded does
        // not finish in reasonable time).
        builder.preemption_bound = Some(3);
    }
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        scenario(close_first_join);
    });
    println!(
        "{name}: {} executions in {:.1?}",
        executions.load(Ordering::Relaxed),
        started.elapsed()
    );
}

/// Two waiting pushers (messages 1 and 2) and a waiting consumer on a mailbox
/// of capacity 1. With `close_after_pushes` the closer waits for both pushes to
/// return first (so both must succeed: every wake-up of a pusher for room has
/// to happen); otherwise `close` races with everything.
fn scenario(close_after_pushes: bool) {
    let mailbox = Arc::new(Mailbox::<u32>::bounded(1));

    let pushers: Vec<_> = [1u32, 2]
        .into_iter()
        .map(|msg| {
            let mailbox = mailbox.clone();
            thread::spawn(move || block_on(mailbox.push(msg)).map_err(|Closed(m)| m))
        })
        .collect();

    let consumer = {
        let mailbox = mailbox.clone();
        thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(msg) = block_on(mailbox.pop()) {
                got.push(msg);
            }
            // `None` only after close.
            assert!(mailbox.is_closed(), "pop ended on an open mailbox");
            got
        })
    };

    let results: Vec<Result<(), u32>> = if close_after_pushes {
        let results = pushers.into_iter().map(|p| p.join().unwrap()).collect();
        mailbox.close();
        results
    } else {
        mailbox.close();
        pushers.into_iter().map(|p| p.join().unwrap()).collect()
    };
    let got = consumer.join().unwrap();

    let mut delivered = Vec::new();
    let mut handed_back = Vec::new();
    for (msg, result) in [1u32, 2].into_iter().zip(&results) {
        match result {
            Ok(()) => delivered.push(msg),
            Err(back) => {
                assert_eq!(*back, msg, "a failed push handed back another message");
                handed_back.push(msg);
            }
        }
    }
    if close_after_pushes {
        assert!(
            handed_back.is_empty(),
            "a push before close failed: {results:?}"
        );
    }
    // Popped exactly once each, and nothing popped that was handed back: `got`
    // is exactly the delivered set. Since the consumer stops at its first
    // `None`, this also says that `None` came only after the drain.
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted, delivered,
        "popped {got:?}, pushes returned {results:?}"
    );
    assert_eq!(
        mailbox.try_pop(),
        None,
        "a message was left behind after pop's None"
    );
    assert!(mailbox.is_drained());
}

#[test]
fn close_after_both_pushes_return() {
    check("close_after_both_pushes_return", scenario, true);
}

#[test]
fn close_races_pushers_and_consumer() {
    check("close_races_pushers_and_consumer", scenario, false);
}
