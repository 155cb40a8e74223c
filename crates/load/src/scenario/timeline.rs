//! When each connection slot is active and at what rate it calls: the stages
//! as a timeline (a ramp is linear, a held count is constant).

use super::spec::Stage;

/// When each slot is active and at what rate it calls.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// Connections at the start, before the first stage ramps them (0 by
    /// default; the one-liner's flags start at --count: no ramp).
    pub start: u64,
    /// The stages, in order.
    pub stages: Vec<Stage>,
}

impl Timeline {
    /// Seconds of all stages.
    pub fn total_s(&self) -> f64 {
        self.stages.iter().map(|s| s.duration_s).sum()
    }

    /// Most connections open at once.
    pub fn peak(&self) -> u64 {
        self.stages
            .iter()
            .map(|s| s.connections)
            .max()
            .unwrap_or(0)
            .max(self.start)
    }

    /// When the stage in force `t` seconds in ends, in seconds (the last one's
    /// end past the end).
    pub fn stage_end(&self, t: f64) -> f64 {
        let mut end = 0.0;
        for s in &self.stages {
            end += s.duration_s;
            if t < end {
                return end;
            }
        }
        end
    }

    /// The stage in force `t` seconds in (the last one past the end).
    pub fn stage_at(&self, t: f64) -> (usize, &Stage) {
        let mut end = 0.0;
        for (i, s) in self.stages.iter().enumerate() {
            end += s.duration_s;
            if t < end {
                return (i, s);
            }
        }
        let last = self.stages.len() - 1;
        (last, &self.stages[last])
    }

    /// Connections open `t` seconds in (a real number: a ramp is linear).
    pub fn connections_at(&self, t: f64) -> f64 {
        let (mut from, mut start) = (self.start as f64, 0.0);
        for s in &self.stages {
            let to = s.connections as f64;
            if t < start + s.duration_s {
                return from + (to - from) * (t - start) / s.duration_s;
            }
            from = to;
            start += s.duration_s;
        }
        from
    }

    /// The intervals (seconds from the start) in which slot `k` is active: while
    /// the connections open (a real number on a ramp) are above k, so a ramp's
    /// slots open one by one from its start and a held count N keeps slots 0..N.
    /// Adjacent intervals are joined.
    pub fn activity(&self, k: u64) -> Vec<(f64, f64)> {
        let need = k as f64;
        let mut out: Vec<(f64, f64)> = Vec::new();
        let (mut from, mut start) = (self.start as f64, 0.0f64);
        for s in &self.stages {
            let to = s.connections as f64;
            let end = start + s.duration_s;
            let span = if from > need && to > need {
                Some((start, end))
            } else if to > from && to > need {
                Some((start + (need - from) / (to - from) * s.duration_s, end))
            } else if from > to && from > need {
                Some((start, start + (from - need) / (from - to) * s.duration_s))
            } else {
                None
            };
            if let Some((a, b)) = span.filter(|(a, b)| b > a) {
                match out.last_mut() {
                    Some(last) if (last.1 - a).abs() < 1e-9 => last.1 = b,
                    _ => out.push((a, b)),
                }
            }
            from = to;
            start = end;
        }
        out
    }
}

/// A stage of `connections` at 1 call/s, constant arrivals, for tests.
#[cfg(test)]
pub(crate) fn test_stage(duration_s: f64, connections: u64) -> Stage {
    Stage {
        duration_s,
        connections,
        rate_per_connection: 1.0,
        arrivals: crate::cli::Arrivals::Constant,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_stage as stage;

    #[test]
    fn a_ramp_opens_slots_in_turn_and_a_ramp_down_ends_the_highest_first() {
        // 0 -> 10 over 10 s, hold 10 for 10 s, 10 -> 0 over 10 s.
        let t = Timeline {
            start: 0,
            stages: vec![stage(10.0, 10), stage(10.0, 10), stage(10.0, 0)],
        };
        assert_eq!(t.total_s(), 30.0);
        assert_eq!(t.peak(), 10);
        // Slot k is active while more than k connections are open: slot 0 from
        // the start, slot 9 from 9 s; on the way down slot 9 ends first (at 21
        // s), slot 0 last (at 30 s).
        let close = |a: Vec<(f64, f64)>, b: Vec<(f64, f64)>| {
            a.len() == b.len()
                && a.iter()
                    .zip(&b)
                    .all(|(x, y)| (x.0 - y.0).abs() < 1e-9 && (x.1 - y.1).abs() < 1e-9)
        };
        assert!(
            close(t.activity(0), vec![(0.0, 30.0)]),
            "{:?}",
            t.activity(0)
        );
        assert!(
            close(t.activity(9), vec![(9.0, 21.0)]),
            "{:?}",
            t.activity(9)
        );
        assert!(t.activity(10).is_empty());
        // At every instant, the active slots are as many as the ramp says.
        for tenth in 0..300 {
            let at = tenth as f64 / 10.0 + 0.05;
            let active = (0..10)
                .filter(|&k| t.activity(k).iter().any(|(a, b)| *a <= at && at < *b))
                .count();
            assert_eq!(active as f64, t.connections_at(at).ceil(), "at {at} s");
        }
    }

    #[test]
    fn connections_open_at_the_start_need_no_ramp() {
        let t = Timeline {
            start: 3,
            stages: vec![stage(4.0, 3)],
        };
        for k in 0..3 {
            assert_eq!(t.activity(k), vec![(0.0, 4.0)], "slot {k}");
        }
        assert!(t.activity(3).is_empty());
        assert_eq!(t.connections_at(0.0), 3.0);
    }

    #[test]
    fn a_hold_from_the_start_is_one_interval_and_stages_join() {
        let t = Timeline {
            start: 0,
            stages: vec![stage(5.0, 3), stage(5.0, 3)],
        };
        // The first stage ramps 0 -> 3: slot 0 starts at once, slot 2 at 10/3 s.
        assert_eq!(t.activity(0), vec![(0.0, 10.0)]);
        let a = t.activity(2);
        assert_eq!(a.len(), 1);
        assert!(
            (a[0].0 - 10.0 / 3.0).abs() < 1e-9 && a[0].1 == 10.0,
            "{a:?}"
        );
        // One connection ramped from none runs (from the start), not never.
        let one = Timeline {
            start: 0,
            stages: vec![stage(4.0, 1)],
        };
        assert_eq!(one.activity(0), vec![(0.0, 4.0)]);
        assert_eq!(t.stage_at(7.0).0, 1);
        assert_eq!(t.stage_at(99.0).0, 1, "past the end: the last stage");
    }
}
