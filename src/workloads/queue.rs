//! The mailbox's gated workloads: the seed's enqueue/dequeue cycle and batches.

use std::hint::black_box;
use std::time::{Duration, Instant};

use mcpbench_queue::Mailbox;

use super::{Iteration, Ops, Unit, Workload};
use crate::group::BATCH;
use crate::latency::Recorder;

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
        id: "queue/batch64/100k",
        per_iteration: N,
        unit: Unit::Elements,
        threads: 1,
        batch: Some(BATCH_OPS),
        counted: true,
        build: batch64,
    },
];

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
