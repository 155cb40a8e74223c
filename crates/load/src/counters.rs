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
        ClientReport {
            phase,
            counters: self.counters(),
            errors: match self.errors.lock() {
                Ok(e) if last => e.clone(),
                _ => BTreeMap::new(),
            },
            latency: match self.latency.lock() {
                Ok(h) if last => h
                    .iter()
                    .flat_map(|h| h.iter_recorded())
                    .map(|v| (v.value_iterated_to(), v.count_at_value()))
                    .collect(),
                _ => Vec::new(),
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
            m.unfinished += u64::from(r.phase != Phase::Done);
        }
        m
    }

    /// The `q` quantile of the latency, 0 when there is no sample.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.latency.is_empty() {
            0
        } else {
            self.latency.value_at_quantile(q)
        }
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
        let running = Tally::default().report(Phase::Running);
        let m = Merged::of(&[a.report(Phase::Done), b.report(Phase::Done), running]);
        assert_eq!(m.counters.connected, 5);
        assert_eq!(m.counters.lost(), 3);
        assert_eq!(m.errors["connect: refused"], 2);
        assert_eq!(m.latency.len(), 2);
        assert_eq!(m.unfinished, 1, "a client whose last word was not done");
        assert!(m.quantile(1.0) >= 1_990_000);
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
