//! One server's search for its edge: which rate to try next, and what the
//! trials so far conclude. Pure (no I/O): its rule is tested on recorded trials
//! (`tests.rs`).

use mcpbench_files::capacity::{CapacityEntry, CapacityStatus, Trial};

use super::MACHINE_BOUND_PER_S;

/// How many times a figure may be withdrawn before the search gives up.
pub const MAX_WITHDRAWALS: u32 = 2;

/// How many times the lowest rejected rate is tried again (each time the
/// search ends below it).
pub const MAX_RECHECKS: u32 = 2;

/// The next rate of the search, given the best pass and the first failure so
/// far: doubling until a failure, then the midpoint; `None` when it is done.
pub fn next_rate(
    lo: Option<f64>,
    hi: Option<f64>,
    bisections_left: u32,
    start: f64,
    max: f64,
) -> Option<f64> {
    match (lo, hi) {
        (None, None) => Some(start.min(max)),
        (Some(lo), None) => (lo < max).then_some((lo * 2.0).min(max)),
        (None, Some(hi)) => (hi / 2.0 >= start / 64.0).then_some(hi / 2.0),
        (Some(lo), Some(hi)) => (bisections_left > 0).then_some((lo + hi) / 2.0),
    }
}

/// Where a server's search is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Looking for the edge.
    Search,
    /// Repeating `rate`: `done` trials so far, all passing.
    Repeat { rate: f64, done: u32 },
    /// Trying again the lowest rate rejected: `done` trials so far, all
    /// passing. All passing overturn the rejection; one failure upholds it.
    Recheck { rate: f64, done: u32 },
    /// Finished.
    Done,
}

/// One server's search: which rate to try next, and what the trials so far
/// conclude. Pure (no I/O), so its rule is tested on recorded trials.
#[derive(Debug, Clone)]
pub struct Search {
    start: f64,
    max: f64,
    repeats: u32,
    bisections_left: u32,
    lo: Option<f64>,
    hi: Option<f64>,
    withdrawals: u32,
    rechecks: u32,
    steps: u32,
    /// The rate found held all its repeats.
    confirmed: bool,
    phase: Phase,
    /// Every trial recorded, in order.
    pub trials: Vec<Trial>,
}

impl Search {
    /// A search from `start` up to `max` calls/s per connection, `steps`
    /// bisections, `repeats` repeats of the rate found.
    pub fn new(start: f64, max: f64, steps: u32, repeats: u32) -> Search {
        Search {
            start,
            max,
            repeats,
            bisections_left: steps,
            lo: None,
            hi: None,
            withdrawals: 0,
            rechecks: 0,
            steps,
            confirmed: false,
            phase: Phase::Search,
            trials: Vec::new(),
        }
    }

    /// The rate of the next trial, and whether it is a repeat; `None` when done.
    pub fn next_trial(&mut self) -> Option<(f64, bool)> {
        loop {
            match self.phase {
                Phase::Done => return None,
                Phase::Repeat { rate, done } if done < self.repeats => return Some((rate, true)),
                Phase::Repeat { .. } => {
                    // Every repeat passed (or none was wanted).
                    self.confirmed = true;
                    self.phase = Phase::Done;
                    return None;
                }
                Phase::Recheck { rate, done } if done < self.repeats => {
                    return Some((rate, true));
                }
                Phase::Recheck { .. } => self.phase = Phase::Done,
                Phase::Search => {
                    match next_rate(self.lo, self.hi, self.bisections_left, self.start, self.max) {
                        Some(rate) => return Some((rate, false)),
                        None => {
                            self.phase = match (self.lo, self.hi) {
                                // One trial rejected the edge: it is tried again,
                                // as the rate found will be (a stall must not
                                // end the search below the server's capacity).
                                (_, Some(hi))
                                    if self.rechecks < MAX_RECHECKS && self.repeats > 0 =>
                                {
                                    Phase::Recheck { rate: hi, done: 0 }
                                }
                                (Some(rate), _) => Phase::Repeat { rate, done: 0 },
                                (None, _) => Phase::Done,
                            };
                        }
                    }
                }
            }
        }
    }

    /// Records `t`, a trial at the rate [`Search::next_trial`] gave.
    pub fn record(&mut self, t: Trial) {
        let (rate, passed) = (t.rate_per_connection, t.passed);
        self.trials.push(t);
        match self.phase {
            Phase::Search => {
                if self.lo.is_some() && self.hi.is_some() {
                    self.bisections_left = self.bisections_left.saturating_sub(1);
                }
                if passed {
                    self.lo = Some(rate);
                } else {
                    self.hi = Some(rate);
                }
            }
            Phase::Repeat { rate, done } if passed => {
                self.phase = Phase::Repeat {
                    rate,
                    done: done + 1,
                };
            }
            Phase::Repeat { rate, .. } => {
                // A failed repeat withdraws the figure: the rate is rejected, and
                // the next lower rate that passed (if any) is repeated instead.
                self.hi = Some(self.hi.map_or(rate, |h| h.min(rate)));
                self.withdrawals += 1;
                let below = self
                    .trials
                    .iter()
                    .filter(|t| !t.repeat && t.passed && t.rate_per_connection < rate)
                    .map(|t| t.rate_per_connection)
                    .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
                self.phase = match below {
                    Some(r) if self.withdrawals <= MAX_WITHDRAWALS => {
                        self.lo = Some(r);
                        Phase::Repeat { rate: r, done: 0 }
                    }
                    // No lower rate to try, or too many withdrawn: no capacity.
                    _ => {
                        self.lo = None;
                        Phase::Done
                    }
                };
            }
            Phase::Recheck { rate, done } if passed => {
                if done + 1 < self.repeats {
                    self.phase = Phase::Recheck {
                        rate,
                        done: done + 1,
                    };
                } else {
                    // Overturned: the rate holds; the search goes on above it.
                    self.rechecks += 1;
                    self.bisections_left = self.steps;
                    self.lo = Some(self.lo.map_or(rate, |l| l.max(rate)));
                    self.hi = self
                        .trials
                        .iter()
                        .filter(|t| !t.repeat && !t.passed && t.rate_per_connection > rate)
                        .map(|t| t.rate_per_connection)
                        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.min(r))));
                    self.phase = Phase::Search;
                }
            }
            Phase::Recheck { .. } => {
                // Upheld: the edge is where the search put it.
                self.rechecks += 1;
                self.phase = match self.lo {
                    Some(rate) => Phase::Repeat { rate, done: 0 },
                    None => Phase::Done,
                };
            }
            Phase::Done => {}
        }
    }

    /// What the trials conclude (meaningful once [`Search::next_trial`] gave `None`).
    pub fn conclude(&self, name: &str, description: String) -> CapacityEntry {
        let at_edge: Vec<&Trial> = match self.lo {
            Some(lo) => self
                .trials
                .iter()
                .filter(|t| t.rate_per_connection == lo)
                .collect(),
            None => Vec::new(),
        };
        let status = match (self.lo, self.hi) {
            _ if self.trials.is_empty() => CapacityStatus::NotRun,
            (Some(_), None) if self.confirmed => CapacityStatus::Capped,
            (Some(_), Some(_)) if self.confirmed => CapacityStatus::Confirmed,
            _ if self.trials.iter().any(|t| t.passed) => CapacityStatus::Withdrawn,
            _ => CapacityStatus::NoPass,
        };
        let rejected = match (self.lo, status) {
            (Some(lo), CapacityStatus::Confirmed) => self
                .trials
                .iter()
                .filter(|t| !t.passed && t.rate_per_connection > lo)
                .map(|t| t.rate_per_connection)
                .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.min(r)))),
            _ => None,
        };
        let mut why = Vec::new();
        let lowest = self
            .trials
            .iter()
            .map(|t| t.rate_per_connection)
            .fold(f64::INFINITY, f64::min);
        match status {
            CapacityStatus::NoPass => why.push(format!(
                "no rate passed (lowest tried: {lowest:.4} calls/s per connection)"
            )),
            CapacityStatus::Withdrawn => why.push(format!(
                "rates passed but failed when repeated ({} withdrawn, at most {MAX_WITHDRAWALS} tried again lower): no rate held its repeats",
                self.withdrawals
            )),
            CapacityStatus::Capped => why.push(format!(
                "every trial passed up to the highest rate, {:.4} calls/s per connection: a lower bound (raise --max-rate; without it, the bound is {MACHINE_BOUND_PER_S} calls/s over all connections)",
                self.max
            )),
            _ => {}
        }
        CapacityEntry {
            name: name.into(),
            description,
            status,
            capacity_per_connection: self.lo.filter(|_| status == CapacityStatus::Confirmed),
            rejected_per_connection: rejected,
            lower_bound_per_connection: self.lo.filter(|_| status == CapacityStatus::Capped),
            repeats_achieved_per_s: at_edge.iter().map(|t| t.achieved_per_s).collect(),
            repeats_p99_ns: at_edge.iter().map(|t| t.p99_ns).collect(),
            repeats_passed: at_edge.iter().filter(|t| t.passed).count() as u64,
            trials: self.trials.clone(),
            why,
        }
    }
}
