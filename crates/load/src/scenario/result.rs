//! The result of a scenario: the counts as a [`ScenarioFile`], the thresholds
//! judged, the exit code it calls for.

use std::collections::HashMap;
use std::time::Duration;

use mcpbench_files::scenario::{
    DiscoveredTool, ErrorCount, GeneratorCost, OperationRun, SCENARIO_SCHEMA, ScenarioFile,
    SessionsRun, StageRun, percentiles,
};
use mcpbench_files::shard::encode_histogram;

use super::Prepared;
use super::exec::{Exec, OpStats};
use super::threshold::Observed;
use crate::output::EXIT_NOT_RUN;

pub(super) use crate::cpu::self_cpu as cpu_time;

/// Errors by count, most frequent first (ties by text).
fn by_count(errors: &HashMap<String, u64>) -> Vec<ErrorCount> {
    let mut v: Vec<ErrorCount> = errors
        .iter()
        .map(|(why, &count)| ErrorCount {
            why: why.clone(),
            count,
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.why.cmp(&b.why)));
    v
}

/// What a threshold judges of `o`, over `duration_s` seconds.
fn observed(o: &OpStats, duration_s: f64) -> Observed<'_> {
    Observed {
        histogram: &o.histogram,
        due: o.sent + o.not_sent,
        failed: o.error_replies + o.lost + o.not_sent,
        answered: o.answered_in_run,
        duration_s,
    }
}

/// The result of `exec`, thresholds judged.
pub(super) fn file(
    p: &Prepared,
    exec: &Exec,
    discovered: Vec<DiscoveredTool>,
    cpu: Duration,
) -> ScenarioFile {
    let s = exec.stats();
    let total_s = p.timeline.total_s();
    let run = |label: String, method: String, weight: u32, o: &OpStats| OperationRun {
        label,
        method,
        weight,
        sent: o.sent,
        answered: o.answered,
        error_replies: o.error_replies,
        lost: o.lost,
        not_sent: o.not_sent,
        latency_ns: percentiles(&o.histogram),
        histogram: encode_histogram(&o.histogram),
        errors: by_count(&o.errors),
    };
    let operations: Vec<OperationRun> = exec
        .ops
        .iter()
        .zip(&s.ops)
        .map(|(op, o)| run(op.label.clone(), op.method.clone(), op.weight, o))
        .collect();
    let mut all = OpStats::empty();
    for o in &s.ops {
        all.add(o);
    }
    let overall = run("all".into(), String::new(), 0, &all);
    let thresholds = p
        .thresholds
        .iter()
        .map(|t| {
            let stats = match &t.operation {
                Some(label) => exec
                    .ops
                    .iter()
                    .position(|o| &o.label == label)
                    .map_or(&all, |i| &s.ops[i]),
                None => &all,
            };
            t.judge(&observed(stats, total_s))
        })
        .collect();
    let per = |n: u64| (n > 0).then(|| cpu.as_secs_f64() * 1e6 / n as f64);
    ScenarioFile {
        schema: SCENARIO_SCHEMA.into(),
        scenario: p.source.clone(),
        target: p.target.0.clone(),
        protocol: p.protocol.name().into(),
        stages: p
            .timeline
            .stages
            .iter()
            .map(|st| StageRun {
                duration_s: st.duration_s,
                connections: st.connections,
                rate_per_connection: st.rate_per_connection,
                arrivals: st.arrivals.name().into(),
            })
            .collect(),
        session_calls: p.session_calls,
        duration_s: total_s,
        achieved_per_s: all.answered_in_run as f64 / total_s,
        operations,
        generator: GeneratorCost {
            threads: 1,
            cpu_s: cpu.as_secs_f64(),
            cpu_us_per_call: per(all.sent),
            cpu_us_per_session: per(s.sessions.opened),
            peak_connections: exec.peak_open.load(std::sync::atomic::Ordering::Relaxed),
            send_lag_ns: percentiles(&s.send_lag),
        },
        sessions: SessionsRun {
            opened: s.sessions.opened,
            failed: s.sessions.failed,
            deleted: s.sessions.deleted,
            delete_failed: s.sessions.delete_failed,
            open_latency_ns: percentiles(&s.sessions.histogram),
            errors: by_count(&s.sessions.errors),
        },
        overall,
        thresholds,
        discovered,
    }
}

/// The exit code `file` calls for, and the lines that say why: 3 when no
/// session could be opened, 1 when a threshold failed, else 0.
pub fn verdict(file: &ScenarioFile) -> (u8, Vec<String>) {
    if file.sessions.opened == 0 {
        let why = file
            .sessions
            .errors
            .first()
            .map_or("no reason recorded".into(), |e| e.why.clone());
        return (
            EXIT_NOT_RUN,
            vec![format!(
                "no session could be opened on {}: {why}",
                file.target
            )],
        );
    }
    let failed: Vec<String> = file
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| format!("threshold {} failed", t.expr))
        .collect();
    (u8::from(!failed.is_empty()), failed)
}
