//! The workload registry: one definition of each gated workload, run by every
//! measurement channel.
//!
//! A [`Workload`] builds its fixture once ([`Workload::build`]) and then runs
//! iterations: [`Iteration::prepare`] outside the measured region (fresh inputs,
//! dropping the previous iteration's output), [`Iteration::run`] inside it. The
//! same definition is
//!
//! - timed by Criterion (`benches/<group>.rs`, through [`crate::group::Group::workload`]),
//! - counted under callgrind (`benches/instructions.rs`),
//! - counted by the counting allocator (`benches/allocations.rs`),
//! - timed base-against-head, sample by sample (`benches/paired.rs`),
//!
//! so a counted workload *is* the timed one: the same threads, the same set-up
//! outside the measured region, the same operations.

mod fixtures;
pub mod integrated;
pub mod netio;
pub mod pool;
pub mod queue;
pub mod registry;
pub mod session;

use std::time::{Duration, Instant};

pub use fixtures::{NoopManager, Route, SeedMix, upstream_routes};

use crate::latency::Recorder;
use crate::parallel::{threaded_batches, timed_batches};

/// What one iteration processes, for Criterion's throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Operations.
    Elements,
    /// Bytes.
    Bytes,
}

/// One gated workload. See the [module docs](self).
pub struct Workload {
    /// Its bench id, `group/function/parameter` (`registry/lookup/100k`).
    pub id: &'static str,
    /// Units (operations or bytes) one iteration processes.
    pub per_iteration: u64,
    /// What those units are.
    pub unit: Unit,
    /// Threads the measured region runs on (1: the caller's own).
    pub threads: usize,
    /// Operations per latency batch in the Criterion bench's side file
    /// (`Method::BatchMean`; 1: each op timed, `Method::PerOp`), or `None` when it
    /// records no latency.
    pub batch: Option<u64>,
    /// Whether its instruction and allocation counts repeat from run to run
    /// (single-threaded, no I/O): only then is it counted.
    pub counted: bool,
    /// Builds the fixture (outside every measurement).
    pub build: fn() -> Box<dyn Iteration>,
}

impl Workload {
    /// The id's group (`registry`).
    pub fn group(&self) -> &'static str {
        self.id.split('/').next().unwrap_or(self.id)
    }
}

/// A built workload: its iterations.
pub trait Iteration {
    /// Outside the measured region, before each iteration: fresh inputs, the
    /// previous iteration's output dropped. Default: nothing.
    fn prepare(&mut self) {}
    /// The measured region: one iteration.
    fn run(&mut self);
    /// One iteration for the Criterion bench: its latency recorded in `rec` as
    /// the workload's [`Workload::batch`] says; returns the iteration's time.
    /// Default: the whole iteration, timed once, recorded as one batch of `ops`.
    fn run_batches(&mut self, ops: u64, rec: &mut Recorder) -> Duration {
        let start = Instant::now();
        self.run();
        let elapsed = start.elapsed();
        rec.record_batch(elapsed, ops);
        elapsed
    }
}

/// An iteration made of `ops` calls `op(i)`, `i` in `0..ops`, timed in
/// batches of `batch`: the shape of most component workloads. The loop is
/// monomorphised over `F`, so the operation is inlined as in a hand-written bench.
pub struct Ops<F: FnMut(u64)> {
    ops: u64,
    batch: u64,
    op: F,
}

impl<F: FnMut(u64) + 'static> Ops<F> {
    /// `ops` calls of `op`, timed in batches of `batch`, boxed as an [`Iteration`].
    pub fn boxed(ops: u64, batch: u64, op: F) -> Box<dyn Iteration> {
        Box::new(Ops { ops, batch, op })
    }
}

impl<F: FnMut(u64)> Iteration for Ops<F> {
    fn run(&mut self) {
        for i in 0..self.ops {
            (self.op)(i);
        }
    }

    fn run_batches(&mut self, _ops: u64, rec: &mut Recorder) -> Duration {
        timed_batches(self.ops, self.batch, &mut self.op, |d, n| {
            rec.record_batch(d, n)
        })
    }
}

/// An iteration of `ops` calls `op(i)` split over `threads` threads released
/// together, each timing batches of [`crate::parallel::BATCH`]; one wall clock from
/// the first thread's start to the last one's end ([`threaded_batches`]). Its
/// `run` is the same, its latencies dropped: the threads' clocks are part of the
/// workload as the bench measures it.
pub struct Threaded<F> {
    threads: usize,
    ops: u64,
    op: F,
}

impl<R, F: Fn(u64) -> R + Sync + 'static> Threaded<F> {
    /// `ops` calls of `op` on `threads` threads, boxed as an [`Iteration`].
    pub fn boxed(threads: usize, ops: u64, op: F) -> Box<dyn Iteration> {
        Box::new(Threaded { threads, ops, op })
    }
}

impl<R, F: Fn(u64) -> R + Sync> Iteration for Threaded<F> {
    fn run(&mut self) {
        let mut scratch = Recorder::new("", crate::latency::Method::PerOp, Duration::ZERO);
        self.run_batches(self.ops, &mut scratch);
    }
    fn run_batches(&mut self, _ops: u64, rec: &mut Recorder) -> Duration {
        threaded_batches(1, self.threads, self.ops, rec, &self.op)
    }
}

/// An iteration with a step outside the measured region before each run.
pub struct Prepared<S, P: FnMut(&mut S), R: FnMut(&mut S)> {
    state: S,
    prepare: P,
    run: R,
}

impl<S: 'static, P: FnMut(&mut S) + 'static, R: FnMut(&mut S) + 'static> Prepared<S, P, R> {
    /// `prepare(state)` outside, `run(state)` inside the measured region.
    pub fn boxed(state: S, prepare: P, run: R) -> Box<dyn Iteration> {
        Box::new(Prepared {
            state,
            prepare,
            run,
        })
    }
}

impl<S, P: FnMut(&mut S), R: FnMut(&mut S)> Iteration for Prepared<S, P, R> {
    fn prepare(&mut self) {
        (self.prepare)(&mut self.state);
    }
    fn run(&mut self) {
        (self.run)(&mut self.state);
    }
}

/// Every gated workload, in the report's order.
pub fn all() -> impl Iterator<Item = &'static Workload> {
    [
        registry::ALL,
        queue::ALL,
        session::ALL,
        netio::ALL,
        pool::ALL,
        integrated::ALL,
    ]
    .into_iter()
    .flatten()
}

/// The counted workloads (`counted: true`) the command line selects, for the
/// counting harnesses (`benches/instructions.rs`, `benches/allocations.rs`); `None`
/// in `--list` mode, after listing them as Criterion does.
pub fn counted_selected(h: &crate::harness::Harness) -> Option<Vec<&'static Workload>> {
    let counted: Vec<&'static Workload> = all().filter(|w| w.counted).collect();
    let ids: Vec<&str> = counted.iter().map(|w| w.id).collect();
    if h.list(&ids) {
        return None;
    }
    Some(counted.into_iter().filter(|w| h.selected(w.id)).collect())
}

/// The workload with bench id `id`.
pub fn find(id: &str) -> Option<&'static Workload> {
    all().find(|w| w.id == id)
}

/// The workload with bench id `id`, for a bench file that names it; panics
/// (a bench file out of step with the registry) when there is none.
pub fn get(id: &str) -> &'static Workload {
    find(id).unwrap_or_else(|| panic!("no workload {id:?} in mcpbench::workloads"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_name_their_group() {
        let mut ids: Vec<&str> = all().map(|w| w.id).collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "a workload id defined twice");
        for w in all() {
            assert_eq!(
                w.id.split('/').count(),
                3,
                "{}: group/function/parameter",
                w.id
            );
            assert!(w.per_iteration > 0, "{}", w.id);
            assert!(
                !w.counted || w.threads == 1,
                "{}: a counted workload runs on one thread",
                w.id
            );
        }
    }

    #[test]
    fn prepare_runs_outside_and_run_inside() {
        let mut it = Prepared::boxed(
            (0u32, 0u32),
            |s: &mut (u32, u32)| s.0 += 1,
            |s: &mut (u32, u32)| s.1 += 1,
        );
        it.prepare();
        it.run();
        it.prepare();
        let mut rec = Recorder::new(
            "t/x/1",
            crate::latency::Method::BatchMean(7),
            Duration::ZERO,
        );
        it.run_batches(7, &mut rec);
        assert_eq!(
            rec.summary().map(|s| s.count),
            Some(1),
            "one batch recorded"
        );
    }

    #[test]
    fn ops_run_every_index_once_in_batches() {
        use std::sync::{Arc, Mutex};
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let mut it = Ops::boxed(250, 100, move |i| s.lock().expect("not poisoned").push(i));
        let mut rec = Recorder::new(
            "t/x/1",
            crate::latency::Method::BatchMean(100),
            Duration::ZERO,
        );
        it.run_batches(250, &mut rec);
        assert_eq!(
            rec.summary().map(|s| s.count),
            Some(3),
            "batches of 100, 100 and 50"
        );
        it.run();
        let seen = seen.lock().expect("not poisoned");
        assert_eq!(seen.len(), 500);
        assert_eq!(seen[..250], (0..250).collect::<Vec<_>>()[..]);
    }
}
