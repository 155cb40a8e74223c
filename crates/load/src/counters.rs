//! What a shard counts: its connection tasks add to a [`Tally`], which reports
//! progress to the harness as JSON lines and ends as the shard's file; shard
//! files are merged into one result with [`Merged::of`].

use crate::error::LoadError;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use mcpbench_files::shard::{EncodedHistograms, ShardFile, decode_histogram, encode_histogram};
use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;

/// Where a client process is.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Opening its connections.
    #[default]
    Connecting,
    /// Every connection opened (or failed); waiting for "go".
    Connected,
    /// Calling.
    Running,
    /// Finished: the report carries the errors and the latency histogram.
    Done,
}

pub use mcpbench_files::shard::Counters;

/// What a shard process run by the local harness reports on stdout, one JSON
/// object per line: its progress. Its result is its [`ShardFile`].
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ClientReport {
    /// Where it is.
    pub phase: Phase,
    /// Its counts so far.
    #[serde(flatten)]
    pub counters: Counters,
}

/// A step of opening a connection, each with its latency histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// TCP connect.
    Connect = 0,
    /// initialize (+ initialized), or server/discover.
    Handshake = 1,
    /// tools/list.
    ToolsList = 2,
}

pub use mcpbench_files::latency::histogram;

/// A client process's counts, shared by its connection tasks (one thread: the
/// locks are never contended).
#[derive(Default)]
pub struct Tally {
    counters: Mutex<Counters>,
    errors: Mutex<BTreeMap<String, u64>>,
    latency: Mutex<Option<Histogram<u64>>>,
    steps: Mutex<[Option<Histogram<u64>>; 3]>,
    windows: Mutex<Windows>,
}

/// The calls' histograms by window of their due time.
#[derive(Default)]
struct Windows {
    /// Window length (0: none kept).
    window_ms: u64,
    each: Vec<Histogram<u64>>,
}

impl Windows {
    fn record(&mut self, due: Duration, ns: u64) {
        if self.window_ms == 0 {
            return;
        }
        let k = (due.as_millis() / u128::from(self.window_ms)) as usize;
        // A call due past the planned end (never: the schedule ends there) goes
        // to the last window rather than growing the list without bound.
        let k = k.min(mcpbench_files::latency::MAX_WINDOWS as usize - 1);
        while self.each.len() <= k {
            self.each.push(mcpbench_files::latency::window_histogram());
        }
        let _ = self.each[k].record(ns.clamp(1, mcpbench_files::latency::HISTOGRAM_MAX_NS));
    }
}

impl Tally {
    /// Changes the counters.
    pub fn add(&self, change: impl FnOnce(&mut Counters)) {
        if let Ok(mut c) = self.counters.lock() {
            change(&mut c);
        }
    }

    /// The counters now.
    pub fn counters(&self) -> Counters {
        self.counters.lock().map(|c| *c).unwrap_or_default()
    }

    /// Counts a failure by its reason.
    pub fn note(&self, why: String) {
        if let Ok(mut errors) = self.errors.lock() {
            *errors.entry(why).or_default() += 1;
        }
    }

    /// A tally that keeps the calls' latency by windows of `window_ms` of their
    /// due time (see [`mcpbench_files::latency::window_ms`]).
    pub fn with_windows(window_ms: u64) -> Tally {
        let t = Tally::default();
        if let Ok(mut w) = t.windows.lock() {
            w.window_ms = window_ms;
        }
        t
    }

    /// Records one call's latency, `ns`, the call due `due` after the start.
    pub fn record(&self, due: Duration, ns: u64) {
        if let Ok(mut h) = self.latency.lock() {
            let _ = h.get_or_insert_with(histogram).record(ns.max(1));
        }
        if let Ok(mut w) = self.windows.lock() {
            w.record(due, ns);
        }
    }

    /// Records how long `step` took for one connection.
    pub fn record_step(&self, step: Step, ns: u64) {
        if let Ok(mut steps) = self.steps.lock() {
            let _ = steps[step as usize]
                .get_or_insert_with(histogram)
                .record(ns.max(1));
        }
    }

    /// Calls `from..to` of `schedule` had no reply by `deadline` (or were never
    /// sent): each is a latency sample of at least `deadline - due`, recorded as
    /// that lower bound so percentiles keep every late call (docs/method.md: every
    /// sample), not only the ones that made it.
    pub fn censor(&self, schedule: &Schedule, from: u64, to: u64, deadline: tokio::time::Instant) {
        self.add(|c| c.censored += to.saturating_sub(from));
        for n in from..to {
            let ns = deadline
                .saturating_duration_since(schedule.at(n))
                .as_nanos() as u64;
            self.record(schedule.offset(n), ns);
        }
    }

    /// The progress report of `phase`.
    pub fn report(&self, phase: Phase) -> ClientReport {
        ClientReport {
            phase,
            counters: self.counters(),
        }
    }

    /// Failures by reason so far.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// The histograms so far, in HdrHistogram's serialized form.
    pub fn histograms(&self) -> EncodedHistograms {
        let encode = |h: Option<&Histogram<u64>>| match h {
            Some(h) => encode_histogram(h),
            None => encode_histogram(&histogram()),
        };
        let calls = match self.latency.lock() {
            Ok(h) => encode(h.as_ref()),
            Err(_) => encode(None),
        };
        let steps: [String; 3] = match self.steps.lock() {
            Ok(s) => [
                encode(s[0].as_ref()),
                encode(s[1].as_ref()),
                encode(s[2].as_ref()),
            ],
            Err(_) => [encode(None), encode(None), encode(None)],
        };
        let [connect, handshake, tools_list] = steps;
        let (windows, window_ms) = match self.windows.lock() {
            Ok(w) => (w.each.iter().map(encode_histogram).collect(), w.window_ms),
            Err(_) => (Vec::new(), 0),
        };
        EncodedHistograms {
            calls,
            connect,
            handshake,
            tools_list,
            windows,
            window_ms,
        }
    }
}

/// Shards merged: counters added, errors added by reason, histograms added
/// (exactly: the same buckets, never percentiles averaged).
pub struct Merged {
    /// The counters of every shard.
    pub counters: Counters,
    /// Failures by reason.
    pub errors: BTreeMap<String, u64>,
    /// Every latency sample.
    pub latency: Histogram<u64>,
    /// Every sample of each [`Step`].
    pub steps: [Histogram<u64>; 3],
    /// The calls by window of their due time, every shard's window `k` added.
    pub windows: Vec<Histogram<u64>>,
    /// The window length (0: no shard kept windows).
    pub window_ms: u64,
}

impl Merged {
    /// Merges `shards`; a histogram that does not decode is an error naming the
    /// shard (`name(i)`) and the histogram.
    pub fn of(shards: &[ShardFile], name: impl Fn(usize) -> String) -> Result<Merged, LoadError> {
        let mut m = Merged {
            counters: Counters::default(),
            errors: BTreeMap::new(),
            latency: histogram(),
            steps: [histogram(), histogram(), histogram()],
            windows: Vec::new(),
            window_ms: 0,
        };
        for (i, s) in shards.iter().enumerate() {
            m.counters += s.counters;
            for (k, n) in &s.errors {
                *m.errors.entry(k.clone()).or_default() += n;
            }
            let h = &s.histograms;
            let [connect, handshake, tools_list] = &mut m.steps;
            let parts = [
                (&mut m.latency, &h.calls, "histograms.calls"),
                (connect, &h.connect, "histograms.connect"),
                (handshake, &h.handshake, "histograms.handshake"),
                (tools_list, &h.tools_list, "histograms.tools_list"),
            ];
            for (into, text, field) in parts {
                let one = decode_histogram(text, field).map_err(|e| format!("{}: {e}", name(i)))?;
                into.add(&one)
                    .map_err(|e| format!("{}: {field}: cannot be added: {e:?}", name(i)))?;
            }
            if h.windows.is_empty() {
                continue;
            }
            if m.window_ms != 0 && h.window_ms != m.window_ms {
                return Err(LoadError::Run(format!(
                    "{}: histograms.window_ms {} differs from the other shards' {}",
                    name(i),
                    h.window_ms,
                    m.window_ms
                )));
            }
            m.window_ms = h.window_ms;
            for (k, text) in h.windows.iter().enumerate() {
                let field = format!("histograms.windows[{k}]");
                let one =
                    decode_histogram(text, &field).map_err(|e| format!("{}: {e}", name(i)))?;
                if m.windows.len() <= k {
                    m.windows.push(mcpbench_files::latency::window_histogram());
                }
                m.windows[k]
                    .add(&one)
                    .map_err(|e| format!("{}: {field}: cannot be added: {e:?}", name(i)))?;
            }
        }
        Ok(m)
    }

    /// The windows' percentiles, for the result file.
    pub fn latency_windows(&self) -> mcpbench_files::LatencyWindows {
        mcpbench_files::LatencyWindows {
            window_ms: self.window_ms,
            windows: self
                .windows
                .iter()
                // Two significant digits: the bucket's middle, within 0.5% of
                // the sample, so a window just under the SLO is not read over it.
                .map(|h| mcpbench_files::WindowLatency {
                    count: h.len(),
                    p50: h.median_equivalent(quantile(h, 0.5)),
                    p99: h.median_equivalent(quantile(h, 0.99)),
                    max: h.max(),
                })
                .collect(),
        }
    }

    /// The `q` quantile of the latency, 0 when there is no sample.
    pub fn quantile(&self, q: f64) -> u64 {
        quantile(&self.latency, q)
    }

    /// p50, p99, p99.9 and max of `step`, with the sample count.
    pub fn step(&self, step: Step) -> mcpbench_files::PhaseLatency {
        let h = &self.steps[step as usize];
        mcpbench_files::PhaseLatency {
            count: h.len(),
            p50: quantile(h, 0.5),
            p99: quantile(h, 0.99),
            p999: quantile(h, 0.999),
            max: h.max(),
        }
    }
}

fn quantile(h: &Histogram<u64>, q: f64) -> u64 {
    if h.is_empty() {
        0
    } else {
        h.value_at_quantile(q)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn calls_without_a_reply_count_at_the_deadline() {
        let s = Schedule::test(0, 1000, 3000);
        let deadline = s.end + Duration::from_secs(2);
        let tally = Tally::default();
        tally.record(Duration::ZERO, 1_000_000);
        tally.censor(&s, 1, 3, deadline);
        assert_eq!(tally.counters().censored, 2);
        let h = decode_histogram(&tally.histograms().calls, "calls").unwrap();
        assert_eq!(h.len(), 3, "every call is a sample");
        // Call 1 was due at 1 s: 4 s before the deadline (3 significant digits).
        assert!(
            (3_990_000_000..=4_010_000_000).contains(&h.max()),
            "{}",
            h.max()
        );
    }

    #[test]
    fn calls_go_to_the_window_of_their_due_time() {
        let t = Tally::with_windows(1_000);
        t.record(Duration::from_millis(10), 1_000_000);
        t.record(Duration::from_millis(999), 2_000_000);
        t.record(Duration::from_millis(2_500), 80_000_000);
        let h = t.histograms();
        assert_eq!(h.window_ms, 1_000);
        let count = |text: &str| decode_histogram(text, "w").unwrap().len();
        let counts: Vec<u64> = h.windows.iter().map(|w| count(w)).collect();
        assert_eq!(counts, [2, 0, 1], "second 1 had no call due");
        assert_eq!(count(&h.calls), 3, "the whole run has every call");
        // A tally without windows keeps none.
        let plain = Tally::default();
        plain.record(Duration::from_millis(10), 1_000);
        assert!(plain.histograms().windows.is_empty());
    }

    #[test]
    fn each_step_has_its_own_histogram() {
        let t = Tally::default();
        t.record_step(Step::Connect, 5_000);
        t.record_step(Step::Connect, 7_000);
        t.record_step(Step::ToolsList, 9_000);
        let h = t.histograms();
        let count = |text: &str| decode_histogram(text, "step").unwrap().len();
        assert_eq!(count(&h.connect), 2);
        assert_eq!(count(&h.handshake), 0);
        assert_eq!(count(&h.tools_list), 1);
        assert_eq!(count(&h.calls), 0);
    }

    #[test]
    fn a_report_line_reads_back() {
        let t = Tally::default();
        t.add(|c| c.due += 7);
        let line = serde_json::to_string(&t.report(Phase::Connected)).unwrap();
        assert!(line.contains(r#""phase":"connected""#), "{line}");
        let back: ClientReport = serde_json::from_str(&line).unwrap();
        assert_eq!(back.counters.due, 7);
        assert_eq!(back.phase, Phase::Connected);
    }
}
