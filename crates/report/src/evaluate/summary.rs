//! The rows over every test: worst headline latencies, the ceiling ratios, the
//! capacity at the SLO, the tests passing, and the bottleneck sentences.

use mcpbench_files::capacity::{CapacityStatus, VsBare};
use mcpbench_files::latency::LatencyFile;

use super::{CeilingRatio, Ctx, ExecRow, Out, Status, TestBlock, headline_latency_of};
use crate::format::{human_rate, ms};

/// The worst P95 and P99 over every headline (and the sustained run).
pub(super) fn worst_latency(c: &Ctx, out: &mut Out) {
    // Worst latencies over every headline (and the sustained run).
    let mut headline_latency: Vec<&LatencyFile> = c
        .targets
        .test
        .iter()
        .filter_map(|t| headline_latency_of(t, &c.run.latency))
        .collect();
    if let Some(s) = &c.run.sustained {
        headline_latency.push(&s.latency);
    }
    for (name, limit, pick) in [
        ("P95", c.targets.max_p95_ns, 0),
        ("P99", c.targets.max_p99_ns, 1),
    ] {
        let value = |l: &LatencyFile| if pick == 0 { l.p95 } else { l.p99 };
        let worst = headline_latency.iter().max_by_key(|l| value(l));
        out.executive.push(ExecRow {
            metric: format!("{name} latency, worst headline"),
            value: worst.map_or("—".into(), |l| {
                format!(
                    "{} (`{}`, {} samples, {}, {})",
                    ms(value(l)),
                    l.id,
                    l.count,
                    l.method,
                    l.load
                )
            }),
            target: format!("≤ {}", ms(limit)),
            status: worst.map_or(Status::NoData, |l| Status::of(value(l) <= limit)),
        });
    }
}

/// Every bench with a ceiling ratio, with its ratio.
pub(super) fn ratios(tests: &[TestBlock]) -> Vec<(&String, &CeilingRatio)> {
    tests
        .iter()
        .flat_map(|t| &t.benches)
        .filter_map(|b| b.ceiling.as_ref().map(|c| (&b.id, c)))
        .collect()
}

/// How many ceiling ratios are met.
pub(super) fn ratios_row(c: &Ctx, ratios: &[(&String, &CeilingRatio)], out: &mut Out) {
    out.executive.push(ExecRow {
        metric: "Ceiling ratios met (component / raw library, same run)".into(),
        value: format!(
            "{} / {}",
            ratios
                .iter()
                .filter(|(_, c)| c.status == Status::Pass)
                .count(),
            c.targets.ratio.len()
        ),
        target: "all".into(),
        status: if ratios.len() < c.targets.ratio.len() {
            Status::NoData
        } else {
            Status::of(ratios.iter().all(|(_, c)| c.status == Status::Pass))
        },
    });
}

/// Capacity at the SLO against the bare ceiling, when `scripts/load capacity` ran.
pub(super) fn capacity(c: &Ctx, out: &mut Out) {
    let Some(cap) = &c.run.capacity else { return };
    let (ours, bare) = (cap.total("mcpbench"), cap.total("bare"));
    let verdict = cap.vs_bare("mcpbench");
    let status = |name: &str| {
        cap.servers
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.status)
    };
    let at_least = |name: &str| {
        if status(name) == Some(CapacityStatus::Capped) {
            "≥ "
        } else {
            ""
        }
    };
    let said = |name: &str| {
        cap.servers.iter().find(|s| s.name == name).map_or_else(
            || format!("{name}: not in the run"),
            |s| format!("{name}: {}", s.why.join("; ")),
        )
    };
    out.executive.push(ExecRow {
        metric: format!(
            "Capacity at the SLO (`scripts/load capacity`: every call answered, p99 ≤ {}, {} connections)",
            ms(cap.slo_p99_ns),
            cap.connections
        ),
        value: match (ours, bare, verdict) {
            (Some(o), Some(b), VsBare::Capped) => format!(
                "{}{o:.0} calls/s; bare ceiling {}{b:.0} calls/s (a search reached its highest rate: a lower bound, no ratio)",
                at_least("mcpbench"),
                at_least("bare")
            ),
            (Some(o), Some(b), VsBare::Suspect(r)) => format!(
                "{o:.0} calls/s; bare ceiling {b:.0} calls/s ({r:.2}×: above its ceiling, so the ceiling's search met a stall; no verdict, rerun)"
            ),
            (Some(o), Some(b), _) => format!(
                "{o:.0} calls/s; bare ceiling {b:.0} calls/s ({:.2}×)",
                o / b
            ),
            (Some(o), None, _) => format!(
                "{}{o:.0} calls/s (no bare ceiling: {})",
                at_least("mcpbench"),
                said("bare")
            ),
            _ => format!("no capacity ({}; {})", said("mcpbench"), said("bare")),
        },
        target: c
            .targets
            .min_capacity_ratio
            .map_or("—".into(), |m| format!("≥ {m:.2}× the bare ceiling")),
        status: match (verdict, c.targets.min_capacity_ratio) {
            (VsBare::Ratio(r), Some(m)) => Status::of(r >= m),
            _ => Status::NoData,
        },
    });
}

/// How many of the tests pass.
pub(super) fn tests_passing(tests: &[TestBlock], out: &mut Out) {
    out.executive.push(ExecRow {
        metric: "Tests passing".into(),
        value: format!(
            "{} / {}",
            tests.iter().filter(|t| t.status == Status::Pass).count(),
            tests.len()
        ),
        target: format!("{} / {}", tests.len(), tests.len()),
        status: if tests.iter().any(|t| t.status == Status::NoData) {
            Status::NoData
        } else {
            Status::of(tests.iter().all(|t| t.status == Status::Pass))
        },
    });
}

/// One sentence per finding worth reading first: the test furthest from the
/// throughput target, the bench furthest from its ceiling, ceilings beaten.
pub(super) fn bottleneck(
    c: &Ctx,
    tests: &[TestBlock],
    ratios: &[(&String, &CeilingRatio)],
) -> Vec<String> {
    let mut bottleneck = Vec::new();
    if let Some(t) = tests
        .iter()
        .filter(|t| t.ops_per_s.is_some())
        .min_by(|a, b| {
            a.ops_per_s
                .partial_cmp(&b.ops_per_s)
                .unwrap_or(std::cmp::Ordering::Equal)
        })
    {
        let r = t.ops_per_s.unwrap_or_default();
        bottleneck.push(format!(
            "Furthest from the throughput target: **{}** (`{}`) at {}, {:.2}× the {} target.",
            t.title,
            t.headline.as_deref().unwrap_or(&t.name),
            human_rate(r, None),
            r / c.targets.min_ops_per_s,
            human_rate(c.targets.min_ops_per_s, None)
        ));
    }
    if let Some((id, c)) = ratios.iter().min_by(|a, b| {
        (a.1.ratio / a.1.min)
            .partial_cmp(&(b.1.ratio / b.1.min))
            .unwrap_or(std::cmp::Ordering::Equal)
    }) {
        bottleneck.push(format!(
            "Furthest from its ceiling: `{id}` at {:.2}× `{}` (expected ≥ {:.2}×).",
            c.ratio, c.ceiling, c.min
        ));
    }
    for (id, c) in ratios.iter().filter(|(_, c)| c.too_weak) {
        bottleneck.push(match &c.note {
        Some(note) => format!(
            "Above its ceiling: `{id}` runs at {:.2}× `{}`, beyond noise; explained: {note}",
            c.ratio, c.ceiling
        ),
        None => format!(
            "Ceiling too weak: `{id}` runs at {:.2}× `{}`, beyond noise: that ceiling is not the library's limit.",
            c.ratio, c.ceiling
        ),
    });
    }
    bottleneck
}
