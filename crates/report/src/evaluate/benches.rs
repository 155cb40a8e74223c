//! The Criterion tests: each group's benches with their ceiling ratios and
//! baseline verdicts, the headline against the throughput and latency targets.

use std::collections::BTreeMap;

use super::{BenchLine, CeilingRatio, Ctx, ExecRow, Out, Status, TestBlock, headline_latency_of};
use crate::baseline::Baseline;
use crate::compare::{Channel, Gate, Verdict, compare};
use crate::criterion::Unit;
use crate::format::human_rate;
use crate::inputs::Run;
use crate::targets::Test;

/// Each bench's change against `baseline` and its verdict (the wall clock only:
/// a saved baseline's counts are not the latest run's).
pub(super) fn baseline_verdicts(
    run: &Run,
    baseline: Option<(&str, &Baseline)>,
    threshold_pct: f64,
) -> BTreeMap<String, (Option<f64>, Verdict)> {
    baseline
        .map(|(_, b)| {
            let latest = Baseline::new(run.benches.clone(), BTreeMap::new());
            let gate = Gate {
                threshold_pct,
                instructions_threshold_pct: crate::DEFAULT_INSTRUCTIONS_THRESHOLD_PCT,
                allocations_threshold_pct: crate::DEFAULT_ALLOCATIONS_THRESHOLD_PCT,
                noise: None,
                paired: None,
                allow_removed: true,
            };
            // The time rows only: a saved baseline's counts are not the latest
            // run's (which has none), and the column is the time's change.
            let mut only_times = b.clone();
            only_times.instructions.clear();
            only_times.allocations.clear();
            only_times.memory.clear();
            compare(
                std::slice::from_ref(&only_times),
                std::slice::from_ref(&latest),
                &gate,
            )
            .unwrap_or_default()
            .into_iter()
            .filter(|r| matches!(r.channel, None | Some(Channel::WallClock)))
            .map(|r| (r.id, (r.change_pct, r.verdict)))
            .collect()
        })
        .unwrap_or_default()
}

impl Ctx<'_> {
    /// `bench` against its ceiling, when the targets pair it with one and both ran.
    pub(super) fn ratio_of(&self, bench: &str) -> Option<CeilingRatio> {
        let r = self.targets.ratio.iter().find(|r| r.bench == bench)?;
        let ours = self.run.benches.get(bench)?.per_second()?;
        let ceiling = self.run.benches.get(&r.ceiling)?.per_second()?;
        let ratio = ours / ceiling;
        let spread = |id: &str| {
            self.noise
                .and_then(|n| n.benches.get(id))
                .map(|b| b.spread_pct)
        };
        let margin_pct = match (spread(bench), spread(&r.ceiling)) {
            (Some(a), Some(b)) => a.max(b),
            _ => self.threshold_pct,
        };
        Some(CeilingRatio {
            ceiling: r.ceiling.clone(),
            ratio,
            min: r.min,
            status: Status::of(ratio >= r.min),
            too_weak: ratio > 1.0 + margin_pct / 100.0,
            note: r.note.clone(),
        })
    }
}

/// The benches the targets' ratios name that the run does not have.
pub(super) fn missing_ratio_benches(c: &Ctx, out: &mut Out) {
    for r in &c.targets.ratio {
        for id in [&r.bench, &r.ceiling] {
            if !c.run.benches.contains_key(id) && !out.missing.contains(id) {
                out.missing.push(id.clone());
            }
        }
    }
}

/// Test `t` of kind Criterion: its group's benches and its headline.
pub(super) fn criterion(t: &Test, c: &Ctx, block: &mut TestBlock, out: &mut Out) {
    let prefix = format!("{}/", t.name);
    for (id, m) in c
        .run
        .benches
        .range(prefix.clone()..)
        .take_while(|(id, _)| id.starts_with(&prefix))
    {
        let (change, verdict) = c
            .verdicts
            .get(id)
            .map_or((None, None), |(change, v)| (*change, Some(*v)));
        block.benches.push(BenchLine {
            id: id.clone(),
            measured: m.clone(),
            per_second: m.per_second(),
            latency: c.run.latency.get(id).cloned(),
            ceiling: c.ratio_of(id),
            unstable_spread_pct: c
                .noise
                .filter(|n| n.unstable(id))
                .and_then(|n| n.benches.get(id))
                .map(|b| b.spread_pct),
            baseline_change_pct: change,
            baseline_verdict: verdict,
        });
    }
    let headline = t.headline.as_deref().unwrap_or_default();
    match block.benches.iter().find(|b| b.id == headline) {
        None => out.missing.push(headline.to_string()),
        Some(h) => {
            block.ops_per_s = h.per_second;
            let mut status = Status::of(h.per_second.unwrap_or(0.0) >= c.targets.min_ops_per_s);
            if let Some(l) = headline_latency_of(t, &c.run.latency) {
                status = status.and(c.latency_status(l));
            }
            for b in &block.benches {
                if let Some(ceiling) = &b.ceiling {
                    status = status.and(ceiling.status);
                }
            }
            block.status = status;
        }
    }
    out.executive.push(ExecRow {
        metric: format!("{}: `{headline}`", t.title),
        value: block
            .ops_per_s
            .map_or("—".into(), |r| human_rate(r, Some(Unit::Elements))),
        target: format!("≥ {}", human_rate(c.targets.min_ops_per_s, None)),
        status: block
            .ops_per_s
            .map_or(Status::NoData, |r| Status::of(r >= c.targets.min_ops_per_s)),
    });
}
