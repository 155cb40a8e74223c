//! The trigger side of `listen`: `touch` calls at the event rate and `tools/list`
//! calls on a control connection, both open-loop from one start; every trigger stamped
//! with its due time on the host's monotonic clock, which every process of the
//! run reads alike.

use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::listeners::Endpoint;
use crate::cli::ListenPlan;
use crate::counters::histogram;
use crate::schedule::wait_until_due;

/// `CLOCK_MONOTONIC` now, ns: the same clock in every process of this host
/// (tokio's `Instant` reads it too, but cannot be sent to another process).
pub fn mono_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// [`mono_ns`] of the instant `t`.
fn mono_at(t: Instant) -> u64 {
    let (now, mono) = (Instant::now(), mono_ns());
    if t <= now {
        mono.saturating_sub((now - t).as_nanos() as u64)
    } else {
        mono + (t - now).as_nanos() as u64
    }
}

/// Longest a trigger or control call may take.
const CALL_LIMIT: Duration = Duration::from_secs(30);

fn late() -> crate::client_error::ClientError {
    crate::client_error::ClientError::Broken(format!("no answer within {CALL_LIMIT:?}"))
}

/// What the triggering did.
pub(super) struct Driven {
    /// `touch` calls answered with a result.
    pub(super) acked: u64,
    /// `touch` calls that failed.
    pub(super) trigger_errors: u64,
    /// Their latency from due time.
    pub(super) trigger: Histogram<u64>,
    /// Control calls' latency from due time.
    pub(super) control: Histogram<u64>,
    /// Control calls that failed.
    pub(super) control_errors: u64,
}

/// Triggers `plan.event_count()` updates and runs the control calls, from
/// `start`; each failure is handed to `fail`.
pub(super) async fn drive(
    plan: &ListenPlan,
    endpoint: &Endpoint,
    trigger: &mut crate::http_client::HttpMcp,
    fail: &(dyn Fn(String) + Sync),
    start: Instant,
) -> Driven {
    let interval = Duration::from_secs_f64(1.0 / plan.events);
    let uri = serde_json::to_string(&plan.uri).unwrap_or_default();
    let trigger_run = async {
        let mut h = histogram();
        let (mut ok, mut errors) = (0u64, 0u64);
        for k in 0..plan.event_count() {
            let due = start + interval.mul_f64(k as f64);
            let from = wait_until_due(due).await;
            let arguments = format!(r#"{{"uri":{uri},"stamp":"{}"}}"#, mono_at(due));
            // A keep-alive timeout (Node: 5 s) closes the connection while the
            // listeners open or between two triggers: reopen it.
            if trigger.is_closed() {
                match endpoint.client().await {
                    Ok(c) => *trigger = c,
                    Err(e) => {
                        errors += 1;
                        fail(format!("touch: reconnect: {e}"));
                        continue;
                    }
                }
            }
            let call = tokio::time::timeout(CALL_LIMIT, trigger.call_tool("touch", &arguments));
            match call.await.unwrap_or_else(|_| Err(late())) {
                Ok(reply) if reply.is_result() => {
                    ok += 1;
                    let _ = h.record(from.elapsed().as_nanos() as u64);
                }
                Ok(reply) => {
                    errors += 1;
                    fail(format!("touch refused: {}", reply.why()));
                }
                Err(e) => {
                    errors += 1;
                    fail(format!("touch: {e}"));
                }
            }
        }
        (ok, errors, h)
    };
    let control_run = async {
        let mut h = histogram();
        let mut errors = 0u64;
        if plan.control_rate <= 0.0 {
            return (h, errors);
        }
        let mut control = match endpoint.client().await {
            Ok(c) => c,
            Err(e) => {
                fail(format!("control connection: {e}"));
                return (h, 1);
            }
        };
        let every = Duration::from_secs_f64(1.0 / plan.control_rate);
        let calls = ((plan.duration * plan.control_rate).round() as u64).max(1);
        for k in 0..calls {
            let from = wait_until_due(start + every.mul_f64(k as f64)).await;
            if control.is_closed() {
                match endpoint.client().await {
                    Ok(c) => control = c,
                    Err(e) => {
                        errors += 1;
                        fail(format!("control tools/list: reconnect: {e}"));
                        continue;
                    }
                }
            }
            let call = tokio::time::timeout(CALL_LIMIT, control.list_tools());
            match call.await.unwrap_or_else(|_| Err(late())) {
                Ok(reply) if reply.is_result() => {
                    let _ = h.record(from.elapsed().as_nanos() as u64);
                }
                Ok(reply) => {
                    errors += 1;
                    fail(format!("control tools/list refused: {}", reply.why()));
                }
                Err(e) => {
                    errors += 1;
                    fail(format!("control tools/list: {e}"));
                }
            }
        }
        (h, errors)
    };
    let ((acked, trigger_errors, trigger), (control, control_errors)) =
        tokio::join!(trigger_run, control_run);
    Driven {
        acked,
        trigger_errors,
        trigger,
        control,
        control_errors,
    }
}
