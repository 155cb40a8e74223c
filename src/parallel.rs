//! Running a workload on several threads with one wall clock around all of them.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::runtime::Runtime;

use crate::latency::{Recorder, histogram};

/// Timer reads per batch for sub-microsecond operations (docs/method.md).
pub const BATCH: u64 = 100;

/// Runs `work(thread_index)` on `threads` threads released together, and returns
/// the wall-clock time from the first thread's start to the last thread's end
/// (docs/method.md: throughput is ops over wall-clock time, never a sum of per-thread
/// rates) with each thread's result. Threads are spawned before the clock starts,
/// and each reads the clock itself: a coordinating thread woken late by the
/// scheduler would start the clock after the work began.
pub fn run_threads<T: Send>(
    threads: usize,
    work: impl Fn(usize) -> T + Sync,
) -> (Duration, Vec<T>) {
    let barrier = Barrier::new(threads);
    let timed: Vec<(Instant, Instant, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, work) = (&barrier, &work);
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let out = work(t);
                    (start, Instant::now(), out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let first = timed.iter().map(|(s, _, _)| *s).min();
    let last = timed.iter().map(|(_, e, _)| *e).max();
    let elapsed = match (first, last) {
        (Some(first), Some(last)) => last.duration_since(first),
        _ => Duration::ZERO,
    };
    (elapsed, timed.into_iter().map(|(_, _, out)| out).collect())
}

/// Runs `ops` operations `op(i)` for `i` in `0..ops`, timing batches of `batch`
/// and passing each batch's duration and size to `record`. Returns the total time.
/// The timer is read once per batch, so its cost is spread over `batch` operations.
pub fn timed_batches(
    ops: u64,
    batch: u64,
    mut op: impl FnMut(u64),
    mut record: impl FnMut(Duration, u64),
) -> Duration {
    let start = Instant::now();
    let mut i = 0;
    while i < ops {
        let n = batch.min(ops - i);
        let t = Instant::now();
        for j in i..i + n {
            op(j);
        }
        record(t.elapsed(), n);
        i += n;
    }
    start.elapsed()
}

/// One Criterion routine of `iters` iterations, each running `ops` calls of
/// `op(i)` split over `threads` threads released together ([`run_threads`]),
/// timed in batches of [`BATCH`] whose per-op means go to `rec`. Returns the summed
/// wall time.
pub fn threaded_batches<R>(
    iters: u64,
    threads: usize,
    ops: u64,
    rec: &mut Recorder,
    op: impl Fn(u64) -> R + Sync,
) -> Duration {
    let share = ops / threads as u64;
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (elapsed, hists) = run_threads(threads, |t| {
            let mut h = histogram();
            timed_batches(
                share,
                BATCH,
                |i| drop(std::hint::black_box(op(t as u64 * share + i))),
                |d, n| {
                    h.saturating_record((d.as_nanos() as u64 / n).max(1));
                },
            );
            h
        });
        total += elapsed;
        hists.iter().for_each(|h| rec.merge(h));
    }
    total
}

/// Runs `tasks` tokio tasks on `rt`, each calling `op(task, i)` for `i` in
/// `0..ops`, timing batches of [`BATCH`]. Returns the wall time from the first
/// spawn to the last task's end, and each task's histogram of per-op batch means.
pub fn run_tasks<F, Fut>(
    rt: &Runtime,
    tasks: usize,
    ops: u64,
    op: F,
) -> (Duration, Vec<Histogram<u64>>)
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    rt.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let op = op.clone();
                tokio::spawn(async move {
                    let mut h = histogram();
                    let mut i = 0;
                    while i < ops {
                        let n = BATCH.min(ops - i);
                        let b = Instant::now();
                        for j in i..i + n {
                            op(t, j).await;
                        }
                        h.saturating_record((b.elapsed().as_nanos() as u64 / n).max(1));
                        i += n;
                    }
                    h
                })
            })
            .collect();
        let mut hists = Vec::with_capacity(tasks);
        for h in handles {
            hists.push(
                h.await
                    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())),
            );
        }
        (start.elapsed(), hists)
    })
}

/// Runs `once` `iters` times (a Criterion `iter_custom` routine), merging the
/// histograms it returns into `rec`; returns the summed wall time.
pub fn repeat(
    iters: u64,
    rec: &mut Recorder,
    mut once: impl FnMut() -> (Duration, Vec<Histogram<u64>>),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (elapsed, hists) = once();
        total += elapsed;
        hists.iter().for_each(|h| rec.merge(h));
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_thread_runs_once_and_results_keep_their_order() {
        let ran = AtomicUsize::new(0);
        let (elapsed, out) = run_threads(3, |t| {
            ran.fetch_add(1, Ordering::SeqCst);
            t * 10
        });
        assert_eq!(out, vec![0, 10, 20]);
        assert_eq!(ran.load(Ordering::SeqCst), 3);
        assert!(elapsed > Duration::ZERO);
    }

    #[test]
    fn batches_cover_every_op_once() {
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        timed_batches(10, 4, |i| seen.push(i), |_, n| sizes.push(n));
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert_eq!(sizes, vec![4, 4, 2]);
    }
}
