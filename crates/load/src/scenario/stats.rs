//! What a scenario counts: per operation (sent, answered, errors, lost, not
//! sent, latency histograms), per session, and how late requests went out.

use std::collections::HashMap;

use hdrhistogram::Histogram;

/// What one operation counted.
pub struct OpStats {
    /// Requests sent.
    pub sent: u64,
    /// Answered with a result.
    pub answered: u64,
    /// Of those, answered before the last stage ended (what a rate over the
    /// stages counts; answers in the grace period after are not).
    pub answered_in_run: u64,
    /// Answered with an error.
    pub error_replies: u64,
    /// Sent and never answered.
    pub lost: u64,
    /// Due, but no session could be opened to send it on.
    pub not_sent: u64,
    /// Answered calls' latency from their due time, ns.
    pub histogram: Histogram<u64>,
    /// The same since the interval log last took it.
    pub interval: Histogram<u64>,
    /// Why calls failed, by text.
    pub errors: HashMap<String, u64>,
}

impl OpStats {
    /// Nothing counted yet.
    pub fn empty() -> OpStats {
        OpStats {
            sent: 0,
            answered: 0,
            answered_in_run: 0,
            error_replies: 0,
            lost: 0,
            not_sent: 0,
            histogram: mcpbench_files::latency::histogram(),
            interval: mcpbench_files::latency::histogram(),
            errors: HashMap::new(),
        }
    }

    /// Adds `other`'s counts, histograms and errors.
    pub fn add(&mut self, other: &OpStats) {
        self.sent += other.sent;
        self.answered += other.answered;
        self.answered_in_run += other.answered_in_run;
        self.error_replies += other.error_replies;
        self.lost += other.lost;
        self.not_sent += other.not_sent;
        // Both use the one histogram configuration: adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
        for (why, n) in &other.errors {
            *self.errors.entry(why.clone()).or_default() += n;
        }
    }
}

/// What the sessions counted.
pub struct SessionStats {
    /// Opened.
    pub opened: u64,
    /// Could not be opened.
    pub failed: u64,
    /// Ended with DELETE.
    pub deleted: u64,
    /// DELETE refused or broken.
    pub delete_failed: u64,
    /// Time to open one, ns.
    pub histogram: Histogram<u64>,
    /// Why sessions could not be opened, by text.
    pub errors: HashMap<String, u64>,
}

/// Everything counted, shared by the slots.
pub struct Stats {
    /// Per operation, in the mix's order.
    pub ops: Vec<OpStats>,
    /// Sessions.
    pub sessions: SessionStats,
    /// How late after its due time each request was sent, ns (waiting for the
    /// previous reply, or the generator late).
    pub send_lag: Histogram<u64>,
}

impl Stats {
    /// Nothing counted yet, for `ops` operations.
    pub fn new(ops: usize) -> Stats {
        Stats {
            ops: (0..ops).map(|_| OpStats::empty()).collect(),
            sessions: SessionStats {
                opened: 0,
                failed: 0,
                deleted: 0,
                delete_failed: 0,
                histogram: mcpbench_files::latency::histogram(),
                errors: HashMap::new(),
            },
            send_lag: mcpbench_files::latency::histogram(),
        }
    }
}
