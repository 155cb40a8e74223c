//! What a client process counts, one struct: its connection tasks add to it, it
//! reports it to the harness as a JSON line, and the harness merges the reports
//! with `+=`.

use std::collections::BTreeMap;
use std::ops::AddAssign;
use std::sync::Mutex;

use hdrhistogram::Histogram;
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

/// The counts of one client process, or of all of them merged.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Connections opened and initialized.
    pub connected: u64,
    /// Connections that failed to open or initialize.
    pub failed: u64,
    /// Calls scheduled during the run (over every connection).
    pub due: u64,
    /// Calls sent.
    pub sent: u64,
    /// Calls answered with a result (by the deadline).
    pub answered: u64,
    /// Answered before the run's end (the achieved rate counts these).
    pub answered_in_run: u64,
    /// The server answered with a JSON-RPC error.
    pub error_replies: u64,
    /// No reply by the run's end + [`crate::schedule::GRACE`], or the connection broke.
    pub unanswered: u64,
    /// Calls never sent: due so late that the client stopped, or after the
    /// connection broke.
    pub not_sent: u64,
    /// Latency samples recorded at the deadline, as lower bounds.
    pub censored: u64,
    /// Connections whose every due call was answered with a result.
    pub fully_answered: u64,
    /// Connections with calls due and at least one not answered with a result.
    pub short: u64,
    /// Connections with no call due (a run shorter than one interval).
    pub no_calls_due: u64,
    /// Connections that spoke the handshake generation (HTTP) or initialized (TCP).
    pub handshake: u64,
    /// Connections that spoke the stateless generation (HTTP).
    pub stateless: u64,
    /// Sessions ended with DELETE.
    pub deleted: u64,
    /// DELETEs refused or unanswered.
    pub delete_failed: u64,
    /// Connections the server closed between requests that were opened again.
    pub reconnects: u64,
}

impl AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        self.connected += o.connected;
        self.failed += o.failed;
        self.due += o.due;
        self.sent += o.sent;
        self.answered += o.answered;
        self.answered_in_run += o.answered_in_run;
        self.error_replies += o.error_replies;
        self.unanswered += o.unanswered;
        self.not_sent += o.not_sent;
        self.censored += o.censored;
        self.fully_answered += o.fully_answered;
        self.short += o.short;
        self.no_calls_due += o.no_calls_due;
        self.handshake += o.handshake;
        self.stateless += o.stateless;
        self.deleted += o.deleted;
        self.delete_failed += o.delete_failed;
        self.reconnects += o.reconnects;
    }
}

impl Counters {
    /// Calls lost: answered with an error, or never answered.
    pub fn lost(&self) -> u64 {
        self.error_replies + self.unanswered
    }
}

/// What a client process reports, one JSON object per line.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ClientReport {
    /// Where it is.
    pub phase: Phase,
    /// Its counts so far.
    #[serde(flatten)]
    pub counters: Counters,
    /// Failures by reason (final report only).
    pub errors: BTreeMap<String, u64>,
    /// Latency histogram as (value ns, count) pairs (final report only).
    pub latency: Vec<(u64, u64)>,
    /// The same for each step before the calls, in [`Step`] order (final report
    /// only).
    pub steps: [Vec<(u64, u64)>; 3],
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

/// A latency histogram: 1 ns to one hour, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds")
}

/// A client process's counts, shared by its connection tasks (one thread: the
/// locks are never contended).
#[derive(Default)]
pub struct Tally {
    counters: Mutex<Counters>,
    errors: Mutex<BTreeMap<String, u64>>,
    latency: Mutex<Option<Histogram<u64>>>,
    steps: Mutex<[Option<Histogram<u64>>; 3]>,
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

    /// Records one latency sample.
    pub fn record(&self, ns: u64) {
        if let Ok(mut h) = self.latency.lock() {
            let _ = h.get_or_insert_with(histogram).record(ns.max(1));
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
        if let Ok(mut h) = self.latency.lock() {
            let h = h.get_or_insert_with(histogram);
            for n in from..to {
                let ns = deadline
                    .saturating_duration_since(schedule.at(n))
                    .as_nanos() as u64;
                let _ = h.record(ns.max(1));
            }
        }
    }

    /// The report of `phase`; the final one carries the errors and the histogram.
    pub fn report(&self, phase: Phase) -> ClientReport {
        let last = phase == Phase::Done;
        let pairs = |h: &Option<Histogram<u64>>| -> Vec<(u64, u64)> {
            h.iter()
                .flat_map(|h| h.iter_recorded())
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect()
        };
        ClientReport {
            phase,
            counters: self.counters(),
            errors: match self.errors.lock() {
                Ok(e) if last => e.clone(),
                _ => BTreeMap::new(),
            },
            latency: match self.latency.lock() {
                Ok(h) if last => pairs(&h),
                _ => Vec::new(),
            },
            steps: match self.steps.lock() {
                Ok(s) if last => [pairs(&s[0]), pairs(&s[1]), pairs(&s[2])],
                _ => Default::default(),
            },
        }
    }
}

/// Every client's final report, merged: counters added, errors added by reason,
/// histograms added (exactly: the same buckets, never percentiles averaged).
pub struct Merged {
    /// The counters of every client.
    pub counters: Counters,
    /// Failures by reason.
    pub errors: BTreeMap<String, u64>,
    /// Every latency sample.
    pub latency: Histogram<u64>,
    /// Every sample of each [`Step`].
    pub steps: [Histogram<u64>; 3],
    /// Clients whose last report was not "done".
    pub unfinished: u64,
}

impl Merged {
    /// Merges `reports`.
    pub fn of(reports: &[ClientReport]) -> Merged {
        let mut m = Merged {
            counters: Counters::default(),
            errors: BTreeMap::new(),
            latency: histogram(),
            steps: [histogram(), histogram(), histogram()],
            unfinished: 0,
        };
        for r in reports {
            m.counters += r.counters;
            for (k, n) in &r.errors {
                *m.errors.entry(k.clone()).or_default() += n;
            }
            for &(v, n) in &r.latency {
                let _ = m.latency.record_n(v, n);
            }
            for (h, pairs) in m.steps.iter_mut().zip(&r.steps) {
                for &(v, n) in pairs {
                    let _ = h.record_n(v, n);
                }
            }
            m.unfinished += u64::from(r.phase != Phase::Done);
        }
        m
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
        tally.record(1_000_000);
        tally.censor(&s, 1, 3, deadline);
        let r = tally.report(Phase::Done);
        assert_eq!(r.counters.censored, 2);
        assert_eq!(
            r.latency.iter().map(|(_, n)| n).sum::<u64>(),
            3,
            "every call is a sample"
        );
        let max = r.latency.iter().map(|(v, _)| *v).max().unwrap();
        // Call 1 was due at 1 s: 4 s before the deadline (3 significant digits).
        assert!((3_990_000_000..=4_010_000_000).contains(&max), "{max}");
    }

    #[test]
    fn reports_merge_by_adding_counts_and_histograms() {
        let a = Tally::default();
        a.add(|c| {
            c.connected += 2;
            c.sent += 5;
            c.answered += 4;
            c.unanswered += 1;
        });
        a.record(1_000);
        a.note("connect: refused".into());
        let b = Tally::default();
        b.add(|c| {
            c.connected += 3;
            c.error_replies += 2;
        });
        b.record(2_000_000);
        b.note("connect: refused".into());
        a.record_step(Step::Connect, 5_000);
        b.record_step(Step::Connect, 7_000);
        b.record_step(Step::ToolsList, 9_000);
        let running = Tally::default().report(Phase::Running);
        let m = Merged::of(&[a.report(Phase::Done), b.report(Phase::Done), running]);
        assert_eq!(m.counters.connected, 5);
        assert_eq!(m.counters.lost(), 3);
        assert_eq!(m.errors["connect: refused"], 2);
        assert_eq!(m.latency.len(), 2);
        assert_eq!(m.unfinished, 1, "a client whose last word was not done");
        assert!(m.quantile(1.0) >= 1_990_000);
        let connect = m.step(Step::Connect);
        assert_eq!(connect.count, 2, "one sample per connection, every process");
        assert!((6_990..=7_010).contains(&connect.max), "{connect:?}");
        assert_eq!(m.step(Step::ToolsList).count, 1);
        assert_eq!(m.step(Step::Handshake).count, 0);
        assert_eq!(m.step(Step::Handshake).p99, 0);
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
