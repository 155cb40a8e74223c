//! The mailbox's gated workloads: the seed's enqueue/dequeue cycle and batches.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use crossbeam_utils::Backoff;
use mcpbench_queue::Mailbox;

use super::{Iteration, Ops, Unit, Workload};
use crate::latency::Recorder;
use crate::parallel::BATCH;
use crate::parallel::run_threads;

const N: u64 = 100_000;
/// The mailbox's capacity in every queue bench.
pub const CAPACITY: usize = 1024;
const BATCH_OPS: u64 = 64;

pub(super) const ALL: &[Workload] = &[
    Workload {
        id: "queue/push_pop/100k",
        per_iteration: N,
        unit: Unit::Elements,
        threads: 1,
        batch: Some(BATCH),
        counted: true,
        build: push_pop,
    },
    Workload {
        id: "queue/spsc_threads/100k",
        per_iteration: N,
        unit: Unit::Elements,
        threads: 2,
        batch: None,
        counted: false,
        build: || threads(1, 1),
    },
    Workload {
        id: "queue/mpmc_2p2c/100k",
        per_iteration: N,
        unit: Unit::Elements,
        threads: 4,
        batch: None,
        counted: false,
        build: || threads(2, 2),
    },
    Workload {
        id: "queue/batch64/100k",
        per_iteration: N,
        unit: Unit::Elements,
        threads: 1,
        batch: Some(BATCH_OPS),
        counted: true,
        build: batch64,
    },
];

/// The operations a threaded workload needs, so one workload runs on the mailbox and on
/// the bare queue alike.
pub trait Queue: Sync {
    /// Pushes, or hands the message back when full.
    fn push(&self, v: u64) -> Result<(), u64>;
    /// Pops, if anything is there.
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
pub fn threaded<Q: Queue>(q: &Q, producers: usize, consumers: usize) -> Duration {
    threaded_counted(q, producers, consumers).elapsed
}

/// What one [`threaded`] run did: its wall time and how often a thread found the
/// queue full (a push handed back) or empty (a pop with nothing), which tells the
/// regime it ran in (free-running, or producers and consumers in lockstep).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadedRun {
    /// First thread's start to last thread's end.
    pub elapsed: Duration,
    /// Pushes that found the queue full, every producer.
    pub full_retries: u64,
    /// Pops that found the queue empty, every consumer.
    pub empty_retries: u64,
}

/// [`threaded`], with its retries counted (a local counter per thread, touched
/// only on a retry).
pub fn threaded_counted<Q: Queue>(q: &Q, producers: usize, consumers: usize) -> ThreadedRun {
    let per_producer = N / producers as u64;
    let total = per_producer * producers as u64;
    let popped = std::sync::atomic::AtomicU64::new(0);
    let (elapsed, outs) = run_threads(producers + consumers, |t| {
        if t < producers {
            let backoff = Backoff::new();
            let mut retries = 0u64;
            for i in 0..per_producer {
                let mut v = i;
                while let Err(back) = q.push(v) {
                    v = back;
                    retries += 1;
                    backoff.snooze();
                }
                backoff.reset();
            }
            (0, retries)
        } else {
            let backoff = Backoff::new();
            let (mut sum, mut retries) = (0u64, 0u64);
            while popped.load(std::sync::atomic::Ordering::Relaxed) < total {
                match q.pop() {
                    Some(v) => {
                        sum = sum.wrapping_add(v);
                        popped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        backoff.reset();
                    }
                    None => {
                        retries += 1;
                        backoff.snooze();
                    }
                }
            }
            (sum, retries)
        }
    });
    // Every message arrived exactly once: the sums of what was pushed and popped agree.
    let expect = producers as u64 * (per_producer * (per_producer - 1) / 2);
    assert_eq!(
        outs.iter().map(|(sum, _)| sum).sum::<u64>(),
        expect,
        "messages lost or duplicated"
    );
    let retries = |threads: &[(u64, u64)]| threads.iter().map(|(_, r)| r).sum();
    ThreadedRun {
        elapsed,
        full_retries: retries(&outs[..producers]),
        empty_retries: retries(&outs[producers..]),
    }
}

/// One op = one push + one pop on the same thread (the seed's cycle).
fn push_pop() -> Box<dyn Iteration> {
    let mailbox = Mailbox::<u64>::bounded(CAPACITY);
    Ops::boxed(N, BATCH, move |i| {
        mailbox.try_push(i).expect("room");
        black_box(mailbox.try_pop());
    })
}

struct Batch64 {
    mailbox: Mailbox<u64>,
    out: Vec<u64>,
}

impl Batch64 {
    fn one(&mut self, b: u64) {
        self.mailbox
            .try_push_batch(b * BATCH_OPS..b * BATCH_OPS + BATCH_OPS)
            .expect("room");
        self.out.clear();
        self.mailbox
            .try_pop_batch(BATCH_OPS as usize, &mut self.out);
        black_box(&self.out);
    }
}

impl Iteration for Batch64 {
    fn run(&mut self) {
        for b in 0..N / BATCH_OPS {
            self.one(b);
        }
    }
    /// Each batch of 64 pushed and popped is one latency value.
    fn run_batches(&mut self, _ops: u64, rec: &mut Recorder) -> Duration {
        let start = Instant::now();
        for b in 0..N / BATCH_OPS {
            let t = Instant::now();
            self.one(b);
            rec.record_batch(t.elapsed(), BATCH_OPS);
        }
        start.elapsed()
    }
}

/// Batches of 64 pushed then popped; one op = one message through.
fn batch64() -> Box<dyn Iteration> {
    Box::new(Batch64 {
        mailbox: Mailbox::bounded(CAPACITY),
        out: Vec::with_capacity(BATCH_OPS as usize),
    })
}

struct Threads {
    mailbox: Mailbox<u64>,
    producers: usize,
    consumers: usize,
}

impl Iteration for Threads {
    fn run(&mut self) {
        threaded(&self.mailbox, self.producers, self.consumers);
    }
    /// The threads' own wall clock: first start to last end.
    fn run_batches(&mut self, _ops: u64, _rec: &mut Recorder) -> Duration {
        threaded(&self.mailbox, self.producers, self.consumers)
    }
}

/// `producers` + `consumers` threads through one mailbox ([`threaded`]).
fn threads(producers: usize, consumers: usize) -> Box<dyn Iteration> {
    Box::new(Threads {
        mailbox: Mailbox::bounded(CAPACITY),
        producers,
        consumers,
    })
}
