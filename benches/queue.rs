//! Test 3, queue: the seed's 100K enqueue/dequeue cycles on one mailbox (the seed
//! made a new queue per op), 1 producer + 1 consumer thread, 2 + 2 threads, and
//! batch calls. Ceiling: a bare `crossbeam_queue::ArrayQueue` doing the same.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::Backoff;
use mcpbench::group::Group;
use mcpbench::parallel::run_threads;
use mcpbench_queue::Mailbox;
use std::hint::black_box;

const N: u64 = 100_000;
use mcpbench::workloads::{self, queue::CAPACITY};

/// The operations a workload needs, so one workload runs on the mailbox and on
/// the bare queue alike.
trait Queue: Sync {
    fn push(&self, v: u64) -> Result<(), u64>;
    fn pop(&self) -> Option<u64>;
}

impl Queue for Mailbox<u64> {
    #[inline]
    fn push(&self, v: u64) -> Result<(), u64> {
        self.try_push(v).map_err(|e| e.into_inner())
    }
    #[inline]
    fn pop(&self) -> Option<u64> {
        self.try_pop()
    }
}

impl Queue for ArrayQueue<u64> {
    #[inline]
    fn push(&self, v: u64) -> Result<(), u64> {
        ArrayQueue::push(self, v)
    }
    #[inline]
    fn pop(&self) -> Option<u64> {
        ArrayQueue::pop(self)
    }
}

/// `producers` threads push `N` messages in all, `consumers` threads pop them all;
/// a full or empty queue backs off (crossbeam's `Backoff`: a few spins, then
/// yields), so a waiting thread neither burns its core's share with yields at once
/// nor sleeps through a slot freed a moment later. Returns the wall time.
fn threaded<Q: Queue>(q: &Q, producers: usize, consumers: usize) -> Duration {
    let per_producer = N / producers as u64;
    let total = per_producer * producers as u64;
    let popped = std::sync::atomic::AtomicU64::new(0);
    let (elapsed, sums) = run_threads(producers + consumers, |t| {
        if t < producers {
            let backoff = Backoff::new();
            for i in 0..per_producer {
                let mut v = i;
                while let Err(back) = q.push(v) {
                    v = back;
                    backoff.snooze();
                }
                backoff.reset();
            }
            0
        } else {
            let backoff = Backoff::new();
            let mut sum = 0u64;
            while popped.load(std::sync::atomic::Ordering::Relaxed) < total {
                match q.pop() {
                    Some(v) => {
                        sum = sum.wrapping_add(v);
                        popped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        backoff.reset();
                    }
                    None => backoff.snooze(),
                }
            }
            sum
        }
    });
    // Every message arrived exactly once: the sums of what was pushed and popped agree.
    let expect = producers as u64 * (per_producer * (per_producer - 1) / 2);
    assert_eq!(
        sums.iter().sum::<u64>(),
        expect,
        "messages lost or duplicated"
    );
    elapsed
}

fn benches(c: &mut Criterion) {
    let mailbox = Mailbox::<u64>::bounded(CAPACITY);
    let bare = ArrayQueue::<u64>::new(CAPACITY);
    let mut g = Group::new(c, "queue");
    g.elements(N);

    // One op = one push + one pop on the same thread (the seed's cycle).
    g.workload(workloads::get("queue/push_pop/100k"));
    g.batched("ceiling_arrayqueue", "100k", N, |i| {
        bare.push(i).expect("room");
        black_box(bare.pop());
    });

    // Batches of 64 pushed then popped; one op = one message through.
    g.workload(workloads::get("queue/batch64/100k"));
    g.elements(N);

    for (name, producers, consumers) in [("spsc_threads", 1, 1), ("mpmc_2p2c", 2, 2)] {
        let ceiling = format!("ceiling_arrayqueue_{name}");
        g.timed(name, "100k", |iters| {
            (0..iters)
                .map(|_| threaded(&mailbox, producers, consumers))
                .sum()
        });
        g.timed(&ceiling, "100k", |iters| {
            (0..iters)
                .map(|_| threaded(&bare, producers, consumers))
                .sum()
        });
    }
    g.finish();
}

criterion_group! { name = queue; config = mcpbench::criterion(); targets = benches }
criterion_main!(queue);
