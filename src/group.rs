//! A Criterion benchmark group that also records latency side files.
//!
//! Every bench id is `group/function/parameter`, which is also where Criterion
//! writes it (`target/criterion/group/function/parameter/`) and where the latency
//! side file goes (`target/mcpbench/latency/group/function/parameter.json`).

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};

use crate::latency::{Method, Recorder};
use crate::parallel::timed_batches;

/// Set (to anything) to skip every registry workload's Criterion bench: the
/// gate's rounds then time only the benches the paired clock does not run.
pub const SKIP_WORKLOADS_ENV: &str = "MCPBENCH_SKIP_WORKLOADS";

pub use crate::parallel::BATCH;

/// A named group of benches. See the [module docs](self).
pub struct Group<'a> {
    name: String,
    inner: BenchmarkGroup<'a, WallTime>,
}

impl<'a> Group<'a> {
    /// A group named `name` (one of the eight tests).
    pub fn new(c: &'a mut Criterion, name: &str) -> Group<'a> {
        Group {
            name: name.to_string(),
            inner: c.benchmark_group(name),
        }
    }

    /// The ops one iteration of the following benches performs.
    pub fn elements(&mut self, ops: u64) -> &mut Self {
        self.inner.throughput(Throughput::Elements(ops));
        self
    }

    /// The bytes one iteration of the following benches moves.
    pub fn bytes(&mut self, bytes: u64) -> &mut Self {
        self.inner.throughput(Throughput::Bytes(bytes));
        self
    }

    /// Criterion's group, for settings such as `sample_size`.
    pub fn criterion(&mut self) -> &mut BenchmarkGroup<'a, WallTime> {
        &mut self.inner
    }

    /// The full id of `function/parameter` in this group.
    pub fn id(&self, function: &str, parameter: &str) -> String {
        format!("{}/{function}/{parameter}", self.name)
    }

    /// One iteration = `ops` calls of `op(i)`, timed in batches of [`BATCH`]; the
    /// per-op batch means go to the latency side file.
    pub fn batched(&mut self, function: &str, parameter: &str, ops: u64, mut op: impl FnMut(u64)) {
        self.custom(
            function,
            parameter,
            Method::BatchMean(BATCH),
            |iters, rec| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += timed_batches(ops, BATCH, &mut op, |d, n| rec.record_batch(d, n));
                }
                total
            },
        );
    }

    /// A bench whose routine runs `iters` iterations, records latencies (as `method`
    /// says) in the recorder it is given, and returns the wall-clock time they took.
    /// Setup excluded from that time is the routine's business.
    pub fn custom(
        &mut self,
        function: &str,
        parameter: &str,
        method: Method,
        mut routine: impl FnMut(u64, &mut Recorder) -> Duration,
    ) {
        let mut rec = Recorder::new(
            self.id(function, parameter),
            method,
            crate::recorder_warm_up(),
        );
        self.inner
            .bench_function(BenchmarkId::new(function, parameter), |b| {
                b.iter_custom(|iters| routine(iters, &mut rec))
            });
        rec.finish();
    }

    /// A bench without a latency side file (throughput only), timed by `routine`
    /// as Criterion's `iter_custom`.
    pub fn timed(
        &mut self,
        function: &str,
        parameter: &str,
        mut routine: impl FnMut(u64) -> Duration,
    ) {
        self.inner
            .bench_function(BenchmarkId::new(function, parameter), |b| {
                b.iter_custom(&mut routine)
            });
    }

    /// The registry's workload `w` (`crate::workloads`), timed as its
    /// [`Iteration`](crate::workloads::Iteration) says: `prepare` outside the
    /// clock, `run_batches` inside, its latency recorded when it has a batch size.
    /// The workload sets its own throughput.
    ///
    /// With [`SKIP_WORKLOADS_ENV`] set (the gate's rounds, when the paired clock
    /// judges these workloads), the bench is not run at all.
    pub fn workload(&mut self, w: &'static crate::workloads::Workload) {
        if std::env::var_os(SKIP_WORKLOADS_ENV).is_some() {
            return;
        }
        let mut parts = w.id.splitn(3, '/');
        let (group, function, parameter) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        assert_eq!(group, self.name, "{} is not a workload of this group", w.id);
        match w.unit {
            crate::workloads::Unit::Elements => self.elements(w.per_iteration),
            crate::workloads::Unit::Bytes => self.bytes(w.per_iteration),
        };
        let mut iteration = (w.build)();
        let routine = move |iters: u64, rec: &mut Recorder| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                iteration.prepare();
                total += iteration.run_batches(w.per_iteration, rec);
            }
            total
        };
        match w.batch {
            Some(1) => self.custom(function, parameter, Method::PerOp, routine),
            Some(b) => self.custom(function, parameter, Method::BatchMean(b), routine),
            None => {
                // No latency side file: a recorder that is never written.
                let mut rec = Recorder::new(w.id, Method::PerOp, Duration::ZERO);
                let mut routine = routine;
                self.timed(function, parameter, move |iters| routine(iters, &mut rec));
            }
        }
    }

    /// Ends the group.
    pub fn finish(self) {
        self.inner.finish();
    }
}
