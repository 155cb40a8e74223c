//! Latency distributions, the way docs/method.md asks: every sample into an
//! HdrHistogram at nanosecond resolution, the count printed beside the
//! percentiles, sub-microsecond operations timed in batches.
//!
//! Criterion keeps no per-operation distribution, so benches that report
//! percentiles record them here and write one side file per bench id:
//! `target/mcpbench/latency/<id>.json`, schema [`LatencyFile`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::env::Environment;
use crate::results;

pub use mcpbench_files::latency::{LATENCY_SCHEMA, LatencyFile};

/// How each recorded value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Each operation timed on its own (operations of a microsecond or more).
    PerOp,
    /// The mean per operation of a timed batch of this many operations (for
    /// operations under a microsecond, where the timer's ~25 ns would dominate).
    BatchMean(u64),
}

impl Method {
    /// The label written to the side file and the report.
    pub fn label(self) -> String {
        match self {
            Method::PerOp => "per-op".to_string(),
            Method::BatchMean(k) => format!("per-op, batches of {k}"),
        }
    }
}

/// Whether latency is measured from the actual or the intended send time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// The next operation starts when the previous one ends.
    ClosedLoop,
    /// Operations are due at a fixed rate; latency counts from when each was due.
    OpenLoop,
}

impl Load {
    /// The label written to the side file and the report.
    pub fn label(self) -> &'static str {
        match self {
            Load::ClosedLoop => "closed-loop",
            Load::OpenLoop => "open-loop",
        }
    }
}

pub use mcpbench_files::latency::histogram;

/// Records the latency of one bench id, skipping Criterion's warm-up.
///
/// Criterion calls a routine repeatedly: first for its warm-up time, then for the
/// measurement. The recorder keeps only values recorded after `warm_up` has passed
/// since its first value, i.e. those of the measurement phase (in `--test` mode,
/// where Criterion runs each bench once, pass a zero warm-up).
pub struct Recorder {
    id: String,
    method: Method,
    load: Load,
    warm_up: Duration,
    first: Option<Instant>,
    histogram: Histogram<u64>,
}

impl Recorder {
    /// A closed-loop recorder for bench `id`.
    pub fn new(id: impl Into<String>, method: Method, warm_up: Duration) -> Recorder {
        Recorder {
            id: id.into(),
            method,
            load: Load::ClosedLoop,
            warm_up,
            first: None,
            histogram: histogram(),
        }
    }

    /// Marks the load as open-loop (values measured from intended send times).
    pub fn open_loop(mut self) -> Recorder {
        self.load = Load::OpenLoop;
        self
    }

    /// True once the warm-up is over: values recorded now are kept.
    pub fn measuring(&mut self) -> bool {
        let first = *self.first.get_or_insert_with(Instant::now);
        first.elapsed() >= self.warm_up
    }

    /// Records one value in nanoseconds (after the warm-up).
    pub fn record(&mut self, nanos: u64) {
        if self.measuring() {
            self.histogram.saturating_record(nanos.max(1));
        }
    }

    /// Records the per-operation mean of a batch of `ops` operations that took
    /// `elapsed` (after the warm-up).
    pub fn record_batch(&mut self, elapsed: Duration, ops: u64) {
        self.record(elapsed.as_nanos() as u64 / ops.max(1));
    }

    /// Adds values recorded elsewhere (another thread's histogram), after the warm-up.
    pub fn merge(&mut self, other: &Histogram<u64>) {
        if self.measuring() {
            // Same bounds everywhere (`histogram()`), so adding cannot fail.
            let _ = self.histogram.add(other);
        }
    }

    /// The side file contents, or `None` when nothing was recorded.
    pub fn summary(&self) -> Option<LatencyFile> {
        summarize(&self.id, self.method, self.load, &self.histogram)
    }

    /// Writes the side file (if anything was recorded) and returns its path.
    pub fn write(&self) -> std::io::Result<Option<PathBuf>> {
        let Some(summary) = self.summary() else {
            return Ok(None);
        };
        let path = results::side_file("latency", &self.id);
        results::write_json(&path, &summary)?;
        Ok(Some(path))
    }

    /// Writes the side file, reporting a failure on stderr instead of aborting the
    /// remaining benches.
    pub fn finish(self) {
        if let Err(e) = self.write() {
            eprintln!(
                "warning: could not write the latency file of {}: {e}",
                self.id
            );
        }
    }
}

/// Summarizes a histogram into a side file body; `None` when it is empty.
pub fn summarize(id: &str, method: Method, load: Load, h: &Histogram<u64>) -> Option<LatencyFile> {
    if h.is_empty() {
        return None;
    }
    Some(LatencyFile {
        schema: LATENCY_SCHEMA.to_string(),
        id: id.to_string(),
        method: method.label(),
        load: load.label().to_string(),
        unit: "ns".to_string(),
        count: h.len(),
        min: h.min(),
        p50: h.value_at_quantile(0.50),
        p95: h.value_at_quantile(0.95),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
        mean: h.mean(),
        environment: Environment::capture(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_value_after_warm_up_and_orders_percentiles() {
        let mut r = Recorder::new("t/x/1", Method::PerOp, Duration::ZERO);
        for v in 1..=1000u64 {
            r.record(v * 100);
        }
        r.record(0); // a zero is kept (as 1 ns), never dropped
        let s = r.summary().unwrap();
        assert_eq!(s.count, 1001);
        assert_eq!(s.min, 1);
        assert!(s.p50 <= s.p95 && s.p95 <= s.p99 && s.p99 <= s.p999 && s.p999 <= s.max);
        assert!((49_900..=50_100).contains(&s.p50), "{}", s.p50);
        assert!((99_900..=100_100).contains(&s.max), "{}", s.max);
        assert_eq!(
            (s.method.as_str(), s.load.as_str()),
            ("per-op", "closed-loop")
        );
    }

    #[test]
    fn values_during_warm_up_are_skipped() {
        let mut r = Recorder::new("t/x/2", Method::BatchMean(10), Duration::from_secs(3600));
        r.record_batch(Duration::from_nanos(1000), 10);
        assert!(r.summary().is_none());
    }

    #[test]
    fn batch_mean_and_merge() {
        let mut r = Recorder::new("t/x/3", Method::BatchMean(10), Duration::ZERO).open_loop();
        r.record_batch(Duration::from_nanos(1000), 10);
        let mut other = histogram();
        other.record(500).unwrap();
        r.merge(&other);
        let s = r.summary().unwrap();
        assert_eq!((s.count, s.min, s.max), (2, 100, 500));
        assert_eq!(
            (s.method.as_str(), s.load.as_str()),
            ("per-op, batches of 10", "open-loop")
        );
    }
}
