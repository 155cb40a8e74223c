//! When each call of one connection is due (open-loop: the schedule does not wait
//! for replies).

use std::time::Duration;

/// How long after the run's end a client still sends due calls and waits for
/// replies; a reply not in by then is lost, a call not sent by then is "not sent".
pub const GRACE: Duration = Duration::from_secs(10);

/// tokio's timer fires at the first millisecond tick at or after the instant it
/// is given: a call slept until its due time goes out 0-1 ms late, and an
/// open-loop latency counted from the due time would carry that lateness. So a
/// call is woken this much before its due time ([`wait_until_due`]).
pub const TIMER_SLACK: Duration = Duration::from_millis(1);

/// Waits for a call due at `due` and returns the instant its latency counts
/// from: `due` when the call goes out at or after it (a late call's wait is the
/// server's, open-loop), the send time when the timer woke it early (by less
/// than [`TIMER_SLACK`]). Either way the generator's timer is not counted.
pub async fn wait_until_due(due: tokio::time::Instant) -> tokio::time::Instant {
    let wake = due.checked_sub(TIMER_SLACK).unwrap_or(due);
    tokio::time::sleep_until(wake).await;
    tokio::time::Instant::now().min(due)
}

/// One connection's calls: `first`, then every `interval`, while before `end`.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// When the run's calls start (every connection's schedule shares it).
    pub start: tokio::time::Instant,
    /// When call 0 is due.
    pub first: tokio::time::Instant,
    /// Between two calls.
    pub interval: Duration,
    /// The run's end: calls due at or after it are not made.
    pub end: tokio::time::Instant,
}

impl Schedule {
    /// The schedule of connection `k` of a run starting at `start`: its first call
    /// offset by a golden-ratio share of one interval, so the connections' calls
    /// are spread evenly over each interval.
    pub fn of_connection(
        k: u64,
        start: tokio::time::Instant,
        interval: Duration,
        run_for: Duration,
    ) -> Schedule {
        let phase = interval.mul_f64((k as f64 * 0.618_033_988_7) % 1.0);
        Schedule {
            start,
            first: start + phase,
            interval,
            end: start + run_for,
        }
    }

    /// When call `n` (from 0) is due.
    pub fn at(&self, n: u64) -> tokio::time::Instant {
        self.first
            + self
                .interval
                .saturating_mul(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// How long after the run's start call `n` is due.
    pub fn offset(&self, n: u64) -> Duration {
        self.at(n).saturating_duration_since(self.start)
    }

    /// How many calls are due before the end.
    pub fn due(&self) -> u64 {
        if self.first >= self.end {
            return 0;
        }
        let span = self.end.duration_since(self.first).as_nanos();
        let interval = self.interval.as_nanos().max(1);
        u64::try_from(span.div_ceil(interval)).unwrap_or(u64::MAX)
    }

    /// A schedule in milliseconds from now, for tests.
    #[cfg(test)]
    pub fn test(first_ms: u64, interval_ms: u64, end_ms: u64) -> Schedule {
        let t0 = tokio::time::Instant::now();
        Schedule {
            start: t0,
            first: t0 + Duration::from_millis(first_ms),
            interval: Duration::from_millis(interval_ms),
            end: t0 + Duration::from_millis(end_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_is_woken_before_its_due_time_and_timed_from_it_or_from_its_send() {
        // Whatever the timer's tick, the wait ends no later than one tick after
        // `due - slack`, and latency counts from an instant at or before `due`.
        for ms in [0u64, 3, 10, 25] {
            let due = tokio::time::Instant::now() + Duration::from_millis(ms);
            let from = wait_until_due(due).await;
            let woke = tokio::time::Instant::now();
            assert!(from <= due, "{ms} ms: counted from after the due time");
            assert!(from <= woke, "{ms} ms");
            // Late by at most one tick past the due time (a loaded machine may
            // add scheduling delay; 50 ms bounds it without timing the test).
            assert!(woke < due + Duration::from_millis(50), "{ms} ms");
        }
        // A call already late is timed from its due time.
        let due = tokio::time::Instant::now() - Duration::from_millis(5);
        assert_eq!(wait_until_due(due).await, due);
    }

    #[test]
    fn calls_due_are_those_before_the_end() {
        assert_eq!(Schedule::test(0, 1000, 3000).due(), 3, "0, 1, 2 s");
        assert_eq!(Schedule::test(500, 1000, 3000).due(), 3, "0.5, 1.5, 2.5 s");
        assert_eq!(Schedule::test(2900, 1000, 3000).due(), 1, "2.9 s");
        assert_eq!(
            Schedule::test(3000, 1000, 3000).due(),
            0,
            "due at the end is after it"
        );
        assert_eq!(Schedule::test(0, 100, 1000).due(), 10, "10 msg/s for 1 s");
    }

    #[test]
    fn connections_start_spread_over_one_interval() {
        let t0 = tokio::time::Instant::now();
        let second = Duration::from_secs(1);
        let offsets: Vec<Duration> = (0..100)
            .map(|k| Schedule::of_connection(k, t0, second, second * 30).first - t0)
            .collect();
        assert!(offsets.iter().all(|o| *o < second));
        // Every tenth of the interval holds some connection's first call.
        for tenth in 0..10 {
            let lo = second / 10 * tenth;
            let hi = second / 10 * (tenth + 1);
            assert!(offsets.iter().any(|o| *o >= lo && *o < hi), "{tenth}");
        }
    }
}
