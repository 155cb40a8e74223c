//! The integrated mix: the seed's 256 tasks x 400 ops over shared components,
//! on two tokio workers (`seed_mix`, timed only: threads make its counts vary)
//! and the same ops on one thread, tasks in turn (`seed_mix_1thread`, timed and
//! counted).

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;

use super::{Iteration, SeedMix, Unit, Workload};
use crate::latency::Recorder;
use crate::parallel::BATCH;
use crate::parallel::{run_tasks, timed_batches};

/// Tasks of the mix.
pub const TASKS: usize = 256;
/// Operations per task.
pub const OPS_PER_TASK: u64 = 400;

pub(super) const ALL: &[Workload] = &[
    Workload {
        id: "integrated/seed_mix/256x400",
        per_iteration: TASKS as u64 * OPS_PER_TASK,
        unit: Unit::Elements,
        threads: 2,
        batch: Some(BATCH),
        counted: false,
        build: two_workers,
    },
    Workload {
        id: "integrated/seed_mix_1thread/256x400",
        per_iteration: TASKS as u64 * OPS_PER_TASK,
        unit: Unit::Elements,
        threads: 1,
        batch: Some(BATCH),
        counted: true,
        build: one_thread,
    },
];

struct TwoWorkers {
    rt: Runtime,
    mix: Arc<SeedMix>,
}

impl TwoWorkers {
    fn tasks(&self) -> (Duration, Vec<hdrhistogram::Histogram<u64>>) {
        let shared = self.mix.clone();
        run_tasks(&self.rt, TASKS, OPS_PER_TASK, move |t, i| {
            shared.op(t, i);
            std::future::ready(())
        })
    }
}

impl Iteration for TwoWorkers {
    /// The previous run's registrations undone, outside.
    fn prepare(&mut self) {
        self.mix.reset();
    }
    fn run(&mut self) {
        self.tasks();
    }
    fn run_batches(&mut self, _ops: u64, rec: &mut Recorder) -> Duration {
        let (elapsed, hists) = self.tasks();
        hists.iter().for_each(|h| rec.merge(h));
        elapsed
    }
}

/// 256 tasks on two tokio workers, each timing batches of its own ops.
fn two_workers() -> Box<dyn Iteration> {
    Box::new(TwoWorkers {
        rt: crate::runtime(2),
        mix: Arc::new(SeedMix::new(TASKS)),
    })
}

struct OneThread(SeedMix);

impl Iteration for OneThread {
    fn prepare(&mut self) {
        self.0.reset();
    }
    fn run(&mut self) {
        for i in 0..OPS_PER_TASK {
            for t in 0..TASKS {
                self.0.op(t, i);
            }
        }
    }
    /// Batches of 100 consecutive ops of the round-robin order.
    fn run_batches(&mut self, _ops: u64, rec: &mut Recorder) -> Duration {
        let mix = &self.0;
        timed_batches(
            TASKS as u64 * OPS_PER_TASK,
            BATCH,
            |k| mix.op((k % TASKS as u64) as usize, k / TASKS as u64),
            |d, n| rec.record_batch(d, n),
        )
    }
}

/// The same 102,400 ops on the caller's thread, task by task in turn.
fn one_thread() -> Box<dyn Iteration> {
    Box::new(OneThread(SeedMix::new(TASKS)))
}
