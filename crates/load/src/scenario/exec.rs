//! Running a scenario: one task per connection slot, open-loop.
//!
//! - **Stages:** the number of connections goes linearly from the previous
//!   stage's (0 before the first) to the stage's own over its duration; slot k
//!   is active while that number is above k ([`Timeline::activity`]), so a ramp
//!   up opens slots one by one and a ramp down ends the highest first. The rate
//!   per connection is the stage's own.
//! - **Open-loop:** each slot's calls are due on its schedule (evenly spaced, or
//!   exponential gaps for Poisson arrivals), whatever the replies do; a call sent
//!   late because the previous reply was late counts its latency from its due
//!   time. One call is outstanding per connection. A call is woken up to 1 ms
//!   early (tokio's timer ticks in milliseconds) so that the timer's lateness
//!   is not counted ([`crate::schedule::wait_until_due`]).
//! - **Sessions:** a slot opens its session as soon as it is active and, with
//!   churn, a new one right after every `session_calls` calls (over HTTP the
//!   keep-alive connection is kept, as a client's pool keeps it; over TCP the
//!   session is the connection). A session ends with DELETE where there is one.
//! - **The end:** calls due before the last stage ends are made; a reply not in
//!   by then plus [`GRACE`] is lost.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::spec::{Arrivals, Stage};
pub use super::timeline::Timeline;
use super::wire::{exchange, open_conn};
use crate::cli::Protocol;
use crate::client_error::{Answer, ClientError};
use crate::connection::{McpConn, connect};
use crate::http_client::HttpMcp;
use crate::schedule::GRACE;
use crate::target::Target;

/// One operation of the mix, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedOp {
    /// How results and thresholds name it.
    pub label: String,
    /// The JSON-RPC method.
    pub method: String,
    /// The members of its `params` object (JSON text without the braces).
    pub params: String,
    /// The tool, prompt or resource (the `Mcp-Name` header, stateless).
    pub name: Option<String>,
    /// Its weight.
    pub weight: u32,
}
pub use super::stats::{OpStats, SessionStats, Stats};

/// A run in progress.
pub struct Exec {
    /// Where.
    pub target: Target,
    /// Which generation.
    pub protocol: Protocol,
    /// When and how fast.
    pub timeline: Timeline,
    /// A new session every this many calls.
    pub session_calls: Option<u64>,
    /// The mix.
    pub ops: Vec<PreparedOp>,
    /// The counts.
    pub stats: Mutex<Stats>,
    /// Sessions open now.
    pub open: AtomicU64,
    /// Most sessions open at once.
    pub peak_open: AtomicU64,
}

/// A small deterministic generator (SplitMix64): each slot draws its
/// operations and Poisson gaps from its own seed, so a run is reproducible.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
}

impl Exec {
    /// A run of `ops` against `target`.
    pub fn new(
        target: Target,
        protocol: Protocol,
        timeline: Timeline,
        session_calls: Option<u64>,
        ops: Vec<PreparedOp>,
    ) -> Exec {
        let stats = Stats::new(ops.len());
        Exec {
            target,
            protocol,
            timeline,
            session_calls,
            ops,
            stats: Mutex::new(stats),
            open: AtomicU64::new(0),
            peak_open: AtomicU64::new(0),
        }
    }

    /// The counts (a poisoned lock only means a slot panicked mid-count).
    pub fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Which operation a draw `r` picks, by weight.
    fn pick(&self, r: u64) -> usize {
        let total: u64 = self.ops.iter().map(|o| u64::from(o.weight)).sum();
        let mut x = r % total.max(1);
        for (i, o) in self.ops.iter().enumerate() {
            if x < u64::from(o.weight) {
                return i;
            }
            x -= u64::from(o.weight);
        }
        self.ops.len() - 1
    }

    /// Runs slot `k` from `t0` to the end.
    pub async fn slot(&self, k: u64, t0: Instant) {
        let total = self.timeline.total_s();
        let run_end = t0 + Duration::from_secs_f64(total);
        let hard_end = run_end + GRACE;
        let mut rng = SplitMix(k.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x6D63_7062);
        let mut id = 0u64;
        // Past the run's end and its grace: every call still due is counted as
        // not sent, none is made.
        let mut ended = false;
        for (from, to) in self.timeline.activity(k) {
            let stop = t0 + Duration::from_secs_f64(to);
            let mut conn = None;
            if !ended {
                tokio::time::sleep_until(t0 + Duration::from_secs_f64(from)).await;
                conn = self.open_session(None).await;
            }
            let mut in_session = 0u64;
            // The first call of each slot a golden-ratio share of one gap in, so
            // the slots' calls spread over every interval.
            let rate = self.timeline.stage_at(from).1.rate_per_connection;
            let mut due =
                t0 + Duration::from_secs_f64(from + (k as f64 * 0.618_033_988_7).fract() / rate);
            let mut skipped = 0u64;
            while due < stop {
                let from = if ended {
                    due
                } else {
                    crate::schedule::wait_until_due(due).await
                };
                ended |= Instant::now() > hard_end;
                let op = self.pick(rng.next());
                if ended {
                    self.stats().ops[op].not_sent += 1;
                    due = self.next_due(due, t0, &mut rng);
                    // Counting a long backlog yields now and then: the runtime
                    // has one thread, and Ctrl-C must still be heard.
                    skipped += 1;
                    if skipped % 4096 == 0 {
                        tokio::task::yield_now().await;
                    }
                    continue;
                }
                if conn.is_none() {
                    conn = self.open_session(None).await;
                    in_session = 0;
                    ended |= Instant::now() > hard_end;
                }
                let Some(c) = conn.as_mut().filter(|_| !ended) else {
                    self.stats().ops[op].not_sent += 1;
                    due = self.next_due(due, t0, &mut rng);
                    continue;
                };
                id += 1;
                {
                    let mut s = self.stats();
                    s.ops[op].sent += 1;
                    let lag = Instant::now().saturating_duration_since(due).as_nanos() as u64;
                    let high = s.send_lag.high();
                    let _ = s.send_lag.record(lag.clamp(1, high));
                }
                let answer = tokio::time::timeout_at(hard_end, self.send(c, id, op)).await;
                let now = Instant::now();
                // What to do after counting (the lock is not held across an await).
                let gone = matches!(&answer, Ok(Ok(e)) if e.session_gone);
                let answer = answer.map(|r| r.map(|e| e.answer));
                let broken = {
                    let mut s = self.stats();
                    let o = &mut s.ops[op];
                    match answer {
                        Ok(Ok(Answer::Result(_))) => {
                            o.answered += 1;
                            o.answered_in_run += u64::from(now <= run_end);
                            let ns = now.duration_since(from).as_nanos() as u64;
                            let ns = ns.clamp(1, o.histogram.high());
                            let _ = o.histogram.record(ns);
                            let _ = o.interval.record(ns);
                            None
                        }
                        Ok(Ok(Answer::Error(why))) => {
                            o.error_replies += 1;
                            *o.errors.entry(why).or_default() += 1;
                            None
                        }
                        Ok(Err(e)) => {
                            o.lost += 1;
                            *o.errors.entry(e.to_string()).or_default() += 1;
                            Some(false)
                        }
                        Err(_) => {
                            o.lost += 1;
                            *o.errors
                                .entry(format!("no reply by the run's end + {} s", GRACE.as_secs()))
                                .or_default() += 1;
                            Some(true)
                        }
                    }
                };
                // The connection broke (or a call is still out on it past the
                // run's end and its grace): its session is ended over a new
                // connection; the next call opens a new session.
                if let Some(past_end) = broken {
                    ended |= past_end;
                    self.close(conn.take(), true).await;
                    due = self.next_due(due, t0, &mut rng);
                    continue;
                }
                if gone {
                    // The server ended the session: nothing to DELETE; the next
                    // call opens a new one, as the spec tells a client to.
                    conn = None;
                    self.open.fetch_sub(1, Ordering::Relaxed);
                    due = self.next_due(due, t0, &mut rng);
                    continue;
                }
                in_session += 1;
                due = self.next_due(due, t0, &mut rng);
                if self.session_calls.is_some_and(|n| in_session >= n) {
                    in_session = 0;
                    if due < stop {
                        conn = self.renew(conn.take()).await;
                    } else {
                        self.close(conn.take(), false).await;
                    }
                }
            }
            self.close(conn.take(), false).await;
        }
    }

    /// The call after one due at `due`, by the stage in force then. A gap that
    /// crosses into the next stage is redrawn there at that stage's rate: a
    /// constant one keeps its phase (the share of the gap left, at the new
    /// rate), a Poisson one starts afresh at the boundary (it has no memory).
    fn next_due(&self, due: Instant, t0: Instant, rng: &mut SplitMix) -> Instant {
        let at = due.duration_since(t0).as_secs_f64();
        let stage = self.timeline.stage_at(at).1;
        let gap = |stage: &Stage, rng: &mut SplitMix| {
            let mean = 1.0 / stage.rate_per_connection;
            match stage.arrivals {
                Arrivals::Constant => mean,
                Arrivals::Poisson => -rng.unit().ln() * mean,
            }
        };
        let g = gap(stage, rng);
        let boundary = self.timeline.stage_end(at);
        let mut next = at + g;
        if next > boundary && boundary < self.timeline.total_s() {
            let after = self.timeline.stage_at(boundary).1;
            next = match after.arrivals {
                Arrivals::Constant => {
                    boundary + (next - boundary) / g * (1.0 / after.rate_per_connection)
                }
                Arrivals::Poisson => boundary + gap(after, rng),
            };
        }
        // At least a microsecond: the rate is capped at 1e6 calls/s per
        // connection, and a gap rounded to nothing would never advance.
        t0 + Duration::from_secs_f64(next).max(due.duration_since(t0) + Duration::from_micros(1))
    }

    /// A new session: over `reuse`'s HTTP connection when given and usable, else
    /// over a new connection. Counted either way; `None` when it failed.
    async fn open_session(&self, reuse: Option<Box<HttpMcp>>) -> Option<McpConn> {
        let t = Instant::now();
        let opened = tokio::time::timeout(crate::connection::OPEN_LIMIT, self.start(reuse))
            .await
            .unwrap_or_else(|_| {
                Err(ClientError::Broken(format!(
                    "not open within {} s",
                    crate::connection::OPEN_LIMIT.as_secs()
                )))
            });
        let mut s = self.stats();
        match opened {
            Ok(c) => {
                s.sessions.opened += 1;
                let high = s.sessions.histogram.high();
                let ns = (t.elapsed().as_nanos() as u64).clamp(1, high);
                let _ = s.sessions.histogram.record(ns);
                let now = self.open.fetch_add(1, Ordering::Relaxed) + 1;
                self.peak_open.fetch_max(now, Ordering::Relaxed);
                Some(c)
            }
            Err(e) => {
                s.sessions.failed += 1;
                *s.sessions.errors.entry(e.to_string()).or_default() += 1;
                None
            }
        }
    }

    async fn start(&self, reuse: Option<Box<HttpMcp>>) -> Result<McpConn, ClientError> {
        open_conn(&self.target, self.protocol, reuse).await
    }

    /// Ends `conn`'s session (DELETE where there is one) and opens the next one
    /// (over the same HTTP connection).
    async fn renew(&self, conn: Option<McpConn>) -> Option<McpConn> {
        match conn {
            Some(McpConn::Http(mut h)) => {
                self.end_session(&mut h, false).await;
                self.open.fetch_sub(1, Ordering::Relaxed);
                self.open_session(Some(h)).await
            }
            other => {
                self.close(other, false).await;
                self.open_session(None).await
            }
        }
    }

    /// Ends `conn`'s session and drops it; `stuck`: a request is still out on
    /// the connection (or it broke), so the DELETE goes over a new one.
    async fn close(&self, conn: Option<McpConn>, stuck: bool) {
        let Some(conn) = conn else { return };
        if let McpConn::Http(mut h) = conn {
            self.end_session(&mut h, stuck).await;
        }
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// DELETE of `h`'s session, where it has one, as a client ends it: over a
    /// new connection when this one is closed or `stuck`; bounded by [`GRACE`].
    /// Counted as deleted, or as refused (an error status, a broken connection,
    /// no answer in time).
    async fn end_session(&self, h: &mut HttpMcp, stuck: bool) {
        enum Ending {
            NoSession,
            Status(u16),
            Failed,
        }
        let ended = tokio::time::timeout(GRACE, async {
            if stuck || h.is_closed() {
                let Ok(stream) = connect(&self.target, None).await else {
                    return Ending::Failed;
                };
                if h.reconnect(stream).await.is_err() {
                    return Ending::Failed;
                }
            }
            match h.delete().await {
                None => Ending::NoSession,
                Some(Ok(status)) => Ending::Status(status),
                Some(Err(_)) => Ending::Failed,
            }
        })
        .await
        .unwrap_or(Ending::Failed);
        let mut s = self.stats();
        match ended {
            Ending::NoSession => {}
            Ending::Status(200..=204) => s.sessions.deleted += 1,
            Ending::Status(_) | Ending::Failed => s.sessions.delete_failed += 1,
        }
    }

    /// Sends operation `op` as request `id` on `conn`.
    async fn send(
        &self,
        conn: &mut McpConn,
        id: u64,
        op: usize,
    ) -> Result<super::wire::Exchanged, ClientError> {
        let op = &self.ops[op];
        exchange(
            conn,
            &self.target,
            id,
            &op.method,
            &op.params,
            op.name.as_deref(),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::scenario::timeline::test_stage as stage;

    #[test]
    fn weights_pick_operations_in_proportion() {
        let op = |label: &str, weight| PreparedOp {
            label: label.into(),
            method: "ping".into(),
            params: String::new(),
            name: None,
            weight,
        };
        let exec = Exec::new(
            "tcp://127.0.0.1:1".parse().unwrap(),
            Protocol::Handshake,
            Timeline {
                start: 0,
                stages: vec![stage(1.0, 1)],
            },
            None,
            vec![op("a", 3), op("b", 1)],
        );
        let mut rng = SplitMix(7);
        let mut counts = [0u32; 2];
        for _ in 0..40_000 {
            counts[exec.pick(rng.next())] += 1;
        }
        let share = f64::from(counts[0]) / 40_000.0;
        assert!((share - 0.75).abs() < 0.01, "{counts:?}");
    }

    #[test]
    fn a_faster_stage_starts_at_its_own_rate_at_its_boundary() {
        // 0.1 calls/s for 10 s, then 10 calls/s for 10 s: a gap drawn at the slow
        // rate at 8 s is redrawn at the boundary, so the fast stage gets its
        // 100 calls, not the 18 left after a 10 s gap.
        let exec = Exec::new(
            "tcp://127.0.0.1:1".parse().unwrap(),
            Protocol::Handshake,
            Timeline {
                start: 1,
                stages: vec![
                    Stage {
                        duration_s: 10.0,
                        connections: 1,
                        rate_per_connection: 0.1,
                        arrivals: Arrivals::Constant,
                    },
                    Stage {
                        duration_s: 10.0,
                        connections: 1,
                        rate_per_connection: 10.0,
                        arrivals: Arrivals::Constant,
                    },
                ],
            },
            None,
            Vec::new(),
        );
        let t0 = Instant::now();
        let mut rng = SplitMix(3);
        let mut due = t0 + Duration::from_secs(8);
        let mut in_second = 0;
        while due < t0 + Duration::from_secs(20) {
            if due >= t0 + Duration::from_secs(10) {
                in_second += 1;
            }
            due = exec.next_due(due, t0, &mut rng);
        }
        assert!(
            (99..=101).contains(&in_second),
            "{in_second} calls in the fast stage"
        );
    }

    #[test]
    fn poisson_gaps_have_the_stage_s_mean() {
        let exec = Exec::new(
            "tcp://127.0.0.1:1".parse().unwrap(),
            Protocol::Handshake,
            Timeline {
                start: 0,
                stages: vec![Stage {
                    duration_s: 1e6,
                    connections: 1,
                    rate_per_connection: 4.0,
                    arrivals: Arrivals::Poisson,
                }],
            },
            None,
            Vec::new(),
        );
        let t0 = Instant::now();
        let mut rng = SplitMix(1);
        let mut due = t0;
        let n = 20_000;
        let mut gaps = Vec::new();
        for _ in 0..n {
            let next = exec.next_due(due, t0, &mut rng);
            gaps.push(next.duration_since(due).as_secs_f64());
            due = next;
        }
        let mean = gaps.iter().sum::<f64>() / n as f64;
        assert!((mean - 0.25).abs() < 0.01, "mean gap {mean}");
        // Exponential: about 1 - 1/e of the gaps are shorter than the mean.
        let short = gaps.iter().filter(|g| **g < 0.25).count() as f64 / n as f64;
        assert!((short - 0.632).abs() < 0.02, "{short}");
    }
}
