//! The report: built from a run, the targets and optionally a baseline; written
//! as Markdown (with an SVG chart), JSON, and the `customBiggerIsBetter` file
//! that github-action-benchmark and Bencher read.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::baseline::Baseline;
use crate::compare::{Channel, Gate, Verdict, compare};
use crate::criterion::{Measured, Unit};
use crate::inputs::Run;
use crate::noise::NoiseFile;
use crate::targets::{Kind, Targets};
use mcpbench_files::ConnectionsFile;
use mcpbench_files::bench::{MemoryFile, SustainedFile};
use mcpbench_files::env::Environment;
use mcpbench_files::latency::LatencyFile;

/// Whether a target is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Met.
    Pass,
    /// Missed.
    Fail,
    /// No result to judge.
    NoData,
}

impl Status {
    fn cell(self) -> &'static str {
        match self {
            Status::Pass => "✓ PASS",
            Status::Fail => "✗ FAIL",
            Status::NoData => "— no data",
        }
    }

    fn and(self, other: Status) -> Status {
        match (self, other) {
            (Status::Fail, _) | (_, Status::Fail) => Status::Fail,
            (Status::NoData, _) | (_, Status::NoData) => Status::NoData,
            _ => Status::Pass,
        }
    }

    fn of(ok: bool) -> Status {
        if ok { Status::Pass } else { Status::Fail }
    }
}

/// One line of the executive table.
#[derive(Debug, Clone, Serialize)]
pub struct ExecRow {
    /// What is measured.
    pub metric: String,
    /// The figure.
    pub value: String,
    /// The target, as written in the targets file.
    pub target: String,
    /// Met or not.
    pub status: Status,
}

/// A bench against its ceiling.
#[derive(Debug, Clone, Serialize)]
pub struct CeilingRatio {
    /// The ceiling bench.
    pub ceiling: String,
    /// bench throughput / ceiling throughput, same run.
    pub ratio: f64,
    /// Least ratio expected.
    pub min: f64,
    /// Met or not.
    pub status: Status,
    /// The ratio is above 1.0 by more than the two benches' run-to-run noise (or
    /// the default threshold without a noise file): the component beats its
    /// ceiling, so the ceiling is not the library's limit and must be fixed.
    pub too_weak: bool,
    /// The targets file's explanation of this ratio, if it has one.
    pub note: Option<String>,
}

/// One bench in a component block.
#[derive(Debug, Clone, Serialize)]
pub struct BenchLine {
    /// Bench id.
    pub id: String,
    /// The Criterion result.
    pub measured: Measured,
    /// Units per second (ops, or bytes for byte benches).
    pub per_second: Option<f64>,
    /// Latency side file, when the bench wrote one.
    pub latency: Option<LatencyFile>,
    /// Against its ceiling, when the targets pair it with one.
    pub ceiling: Option<CeilingRatio>,
    /// The bench's run-to-run spread, percent, when the noise file names it
    /// unstable.
    pub unstable_spread_pct: Option<f64>,
    /// Change of the typical time against the baseline, percent (+ = slower).
    pub baseline_change_pct: Option<f64>,
    /// The compare verdict against the baseline.
    pub baseline_verdict: Option<Verdict>,
}

/// One of the eight tests.
#[derive(Debug, Clone, Serialize)]
pub struct TestBlock {
    /// Group name.
    pub name: String,
    /// Heading.
    pub title: String,
    /// Headline bench id.
    pub headline: Option<String>,
    /// Headline throughput, ops/s.
    pub ops_per_s: Option<f64>,
    /// The erlmcp report's published figure.
    pub seed_ops_per_s: Option<f64>,
    /// What the erlmcp report's code really measured.
    pub seed_note: Option<String>,
    /// Overall status against the targets.
    pub status: Status,
    /// Every bench of the group.
    pub benches: Vec<BenchLine>,
}

/// The whole report (`report.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where the report was made (the run's files carry their own).
    pub environment: Environment,
    /// The baseline compared against, if any.
    pub baseline: Option<String>,
    /// The executive table.
    pub executive: Vec<ExecRow>,
    /// The eight tests.
    pub tests: Vec<TestBlock>,
    /// Bottleneck findings, one sentence each.
    pub bottleneck: Vec<String>,
    /// Benches or files the targets name that the run does not have.
    pub missing: Vec<String>,
    /// The memory test's results.
    pub memory: Option<MemoryFile>,
    /// The sustained test's results.
    pub sustained: Option<SustainedFile>,
    /// The connection load's results (`scripts/load connections`).
    pub connections: Option<ConnectionsFile>,
    /// The same load against the bare ceiling (`--server bare`).
    pub connections_bare: Option<ConnectionsFile>,
    /// The connection load over HTTP (`--transport http`).
    pub connections_http: Option<ConnectionsFile>,
    /// The same against the bare hyper ceiling.
    pub connections_http_bare: Option<ConnectionsFile>,
    /// Several MCP servers under the same load (`scripts/load compare`).
    pub compare: Option<mcpbench_files::compare::CompareFile>,
    /// Each server's capacity at the SLO (`scripts/load capacity`).
    pub capacity: Option<mcpbench_files::compare::CapacityFile>,
    /// Sessions ended, abandoned, past the cap (`scripts/load lifecycle`).
    pub lifecycle: Option<mcpbench_files::lifecycle::LifecycleFile>,
    /// Growing session counts (`scripts/load scaling`).
    pub scaling: Option<mcpbench_files::lifecycle::ScalingFile>,
}

impl Report {
    /// True when every target is met and nothing the targets name is missing.
    pub fn all_met(&self) -> bool {
        self.missing.is_empty() && self.executive.iter().all(|r| r.status == Status::Pass)
    }
}

/// Ops (or bytes) per second, readable.
pub fn human_rate(per_s: f64, unit: Option<Unit>) -> String {
    if unit == Some(Unit::Bytes) {
        return format!("{:.2} GiB/s", per_s / (1u64 << 30) as f64);
    }
    match per_s {
        r if r >= 1e6 => format!("{:.2}M/s", r / 1e6),
        r if r >= 1e3 => format!("{:.1}K/s", r / 1e3),
        r => format!("{r:.0}/s"),
    }
}

fn ms(ns: u64) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

/// The latency file that stands for test `t`: its `latency` bench, else its headline.
fn headline_latency_of<'a>(
    t: &super::targets::Test,
    latency: &'a BTreeMap<String, LatencyFile>,
) -> Option<&'a LatencyFile> {
    latency.get(t.latency.as_ref().or(t.headline.as_ref())?)
}

/// Builds the report.
pub fn build(
    run: &Run,
    targets: &Targets,
    baseline: Option<(&str, &Baseline)>,
    threshold_pct: f64,
    noise: Option<&NoiseFile>,
) -> Report {
    let mut missing = Vec::new();
    let verdicts: BTreeMap<String, (Option<f64>, Verdict)> = baseline
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
        .unwrap_or_default();
    let ratio_of = |bench: &str| -> Option<CeilingRatio> {
        let r = targets.ratio.iter().find(|r| r.bench == bench)?;
        let ours = run.benches.get(bench)?.per_second()?;
        let ceiling = run.benches.get(&r.ceiling)?.per_second()?;
        let ratio = ours / ceiling;
        let spread = |id: &str| noise.and_then(|n| n.benches.get(id)).map(|b| b.spread_pct);
        let margin_pct = match (spread(bench), spread(&r.ceiling)) {
            (Some(a), Some(b)) => a.max(b),
            _ => threshold_pct,
        };
        Some(CeilingRatio {
            ceiling: r.ceiling.clone(),
            ratio,
            min: r.min,
            status: Status::of(ratio >= r.min),
            too_weak: ratio > 1.0 + margin_pct / 100.0,
            note: r.note.clone(),
        })
    };
    for r in &targets.ratio {
        for id in [&r.bench, &r.ceiling] {
            if !run.benches.contains_key(id) && !missing.contains(id) {
                missing.push(id.clone());
            }
        }
    }

    let latency_status =
        |l: &LatencyFile| Status::of(l.p95 <= targets.max_p95_ns && l.p99 <= targets.max_p99_ns);
    let mut executive = Vec::new();
    let mut tests = Vec::new();
    for t in &targets.test {
        let mut block = TestBlock {
            name: t.name.clone(),
            title: t.title.clone(),
            headline: t.headline.clone(),
            ops_per_s: None,
            seed_ops_per_s: t.seed_ops_per_s,
            seed_note: t.seed_note.clone(),
            status: Status::NoData,
            benches: Vec::new(),
        };
        match t.kind {
            Kind::Criterion => {
                let prefix = format!("{}/", t.name);
                for (id, m) in run
                    .benches
                    .range(prefix.clone()..)
                    .take_while(|(id, _)| id.starts_with(&prefix))
                {
                    let (change, verdict) = verdicts
                        .get(id)
                        .map_or((None, None), |(c, v)| (*c, Some(*v)));
                    block.benches.push(BenchLine {
                        id: id.clone(),
                        measured: m.clone(),
                        per_second: m.per_second(),
                        latency: run.latency.get(id).cloned(),
                        ceiling: ratio_of(id),
                        unstable_spread_pct: noise
                            .filter(|n| n.unstable(id))
                            .and_then(|n| n.benches.get(id))
                            .map(|b| b.spread_pct),
                        baseline_change_pct: change,
                        baseline_verdict: verdict,
                    });
                }
                let headline = t.headline.as_deref().unwrap_or_default();
                match block.benches.iter().find(|b| b.id == headline) {
                    None => missing.push(headline.to_string()),
                    Some(h) => {
                        block.ops_per_s = h.per_second;
                        let mut status =
                            Status::of(h.per_second.unwrap_or(0.0) >= targets.min_ops_per_s);
                        if let Some(l) = headline_latency_of(t, &run.latency) {
                            status = status.and(latency_status(l));
                        }
                        for b in &block.benches {
                            if let Some(c) = &b.ceiling {
                                status = status.and(c.status);
                            }
                        }
                        block.status = status;
                    }
                }
                executive.push(ExecRow {
                    metric: format!("{}: `{headline}`", t.title),
                    value: block
                        .ops_per_s
                        .map_or("—".into(), |r| human_rate(r, Some(Unit::Elements))),
                    target: format!("≥ {}", human_rate(targets.min_ops_per_s, None)),
                    status: block
                        .ops_per_s
                        .map_or(Status::NoData, |r| Status::of(r >= targets.min_ops_per_s)),
                });
            }
            Kind::Memory => match &run.memory {
                None => missing.push("target/mcpbench/memory.json".into()),
                Some(m) => {
                    let leaking: Vec<String> = m
                        .components
                        .iter()
                        .filter(|c| c.leaks(targets.max_leak_per_item_bytes))
                        .map(|c| match c.leak_per_item {
                            Some(slope) => format!("{} ({slope:.2} B per {})", c.id, c.item),
                            None => format!("{} ({} B)", c.id, c.leaked_bytes),
                        })
                        .collect();
                    block.status = Status::of(leaking.is_empty() && !m.components.is_empty());
                    executive.push(ExecRow {
                        metric: "Leaks (allocation-counted, after teardown)".into(),
                        value: if leaking.is_empty() {
                            format!("none in {} components", m.components.len())
                        } else {
                            leaking.join(", ")
                        },
                        target: format!(
                            "≤ {} B kept per item (N vs 2N items)",
                            targets.max_leak_per_item_bytes
                        ),
                        status: block.status,
                    });
                }
            },
            Kind::Sustained => match &run.sustained {
                None => missing.push("target/mcpbench/sustained.json".into()),
                Some(s) => {
                    block.ops_per_s = Some(s.ops_per_s);
                    let growth_ok = s.memory.live_bytes_delta <= targets.max_sustained_growth_bytes;
                    block.status = Status::of(s.ops_per_s >= targets.min_ops_per_s && growth_ok)
                        .and(latency_status(&s.latency));
                    executive.push(ExecRow {
                        metric: format!(
                            "System throughput (sustained {:.0} s, {} workers)",
                            s.seconds, s.workers
                        ),
                        value: human_rate(s.ops_per_s, Some(Unit::Elements)),
                        target: format!("≥ {}", human_rate(targets.min_ops_per_s, None)),
                        status: Status::of(s.ops_per_s >= targets.min_ops_per_s),
                    });
                    executive.push(ExecRow {
                        metric: "Sustained memory growth (allocation-counted)".into(),
                        value: format!("{} B", s.memory.live_bytes_delta),
                        target: format!("≤ {} B", targets.max_sustained_growth_bytes),
                        status: Status::of(growth_ok),
                    });
                }
            },
            Kind::Connections => match &run.connections {
                None => missing
                    .push("target/mcpbench/connections.json (scripts/load connections)".into()),
                Some(c) => {
                    let mut status = Status::of(c.all_answered());
                    let requested = c.requested.connections;
                    let established = c.connections.established;
                    let m = &c.messages;
                    // The same load against the bare ceiling, when it ran with the same plan.
                    let ceiling = run
                        .connections_bare
                        .as_ref()
                        .filter(|b| b.requested.connections == requested)
                        .map_or(String::new(), |b| {
                            format!(
                                " (bare ceiling, same load: {} msg/s)",
                                b.messages.achieved_per_s.round()
                            )
                        });
                    executive.push(ExecRow {
                    metric: "Concurrent MCP connections, actually opened (`scripts/load`)".into(),
                    value: format!(
                        "{established} of {requested}; {} msg/s answered of {} requested{ceiling}; {} lost, {} not sent; every call answered on {} connections",
                        m.achieved_per_s.round(),
                        m.requested_per_s.round(),
                        m.lost,
                        m.not_sent_too_late,
                        c.per_connection.every_call_answered
                    ),
                    target: "all, each answered, none lost".into(),
                    status: Status::of(c.all_answered()),
                });
                    let (p99, count) = (c.latency_ns.p99, c.latency_ns.count);
                    executive.push(ExecRow {
                        metric: "P99 latency under the connection load (open-loop)".into(),
                        value: format!("{} ({count} samples)", ms(p99)),
                        target: format!("≤ {}", ms(targets.max_p99_ns)),
                        status: if count == 0 {
                            Status::NoData
                        } else {
                            Status::of(p99 <= targets.max_p99_ns)
                        },
                    });
                    if let Some(max) = targets.max_bytes_per_idle_connection {
                        let per = c
                            .server_memory
                            .as_ref()
                            .and_then(|m| m.bytes_per_idle_connection);
                        executive.push(ExecRow {
                            metric: "Server heap per idle connection (allocation-counted)".into(),
                            value: per.map_or("—".into(), |b| format!("{b:.0} B")),
                            target: format!("≤ {max:.0} B"),
                            status: per.map_or(Status::NoData, |b| Status::of(b <= max)),
                        });
                    }

                    block.ops_per_s = Some(c.messages.achieved_per_s);
                    status = status.and(Status::of(
                        c.latency_ns.count > 0 && c.latency_ns.p99 <= targets.max_p99_ns,
                    ));
                    if let (Some(max), Some(per)) = (
                        targets.max_bytes_per_idle_connection,
                        c.server_memory
                            .as_ref()
                            .and_then(|m| m.bytes_per_idle_connection),
                    ) {
                        status = status.and(Status::of(per <= max));
                    }
                    block.status = status;
                }
            },
        }
        tests.push(block);
    }

    // Worst latencies over every headline (and the sustained run).
    let mut headline_latency: Vec<&LatencyFile> = targets
        .test
        .iter()
        .filter_map(|t| headline_latency_of(t, &run.latency))
        .collect();
    if let Some(s) = &run.sustained {
        headline_latency.push(&s.latency);
    }
    for (name, limit, pick) in [
        ("P95", targets.max_p95_ns, 0),
        ("P99", targets.max_p99_ns, 1),
    ] {
        let value = |l: &LatencyFile| if pick == 0 { l.p95 } else { l.p99 };
        let worst = headline_latency.iter().max_by_key(|l| value(l));
        executive.push(ExecRow {
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
    let ratios: Vec<(&String, &CeilingRatio)> = tests
        .iter()
        .flat_map(|t| &t.benches)
        .filter_map(|b| b.ceiling.as_ref().map(|c| (&b.id, c)))
        .collect();
    executive.push(ExecRow {
        metric: "Ceiling ratios met (component / raw library, same run)".into(),
        value: format!(
            "{} / {}",
            ratios
                .iter()
                .filter(|(_, c)| c.status == Status::Pass)
                .count(),
            targets.ratio.len()
        ),
        target: "all".into(),
        status: if ratios.len() < targets.ratio.len() {
            Status::NoData
        } else {
            Status::of(ratios.iter().all(|(_, c)| c.status == Status::Pass))
        },
    });
    if let Some(cap) = &run.capacity {
        let total = |name: &str| {
            cap.servers
                .iter()
                .find(|s| s.name == name)
                .and_then(|s| s.capacity_per_connection)
                .map(|r| r * cap.connections as f64)
        };
        let (ours, bare) = (total("mcpbench"), total("bare"));
        // A search stopped at --max-rate found a lower bound, not a capacity.
        let capped = cap
            .servers
            .iter()
            .any(|s| s.capped && (s.name == "mcpbench" || s.name == "bare"));
        // Above its ceiling by more than the margin: the ceiling was not measured.
        let suspect = ours
            .zip(bare)
            .is_some_and(|(o, b)| o / b > mcpbench_files::compare::SUSPECT_ABOVE_CEILING);
        let ratio = ours
            .zip(bare)
            .map(|(o, b)| o / b)
            .filter(|_| !capped && !suspect);
        executive.push(ExecRow {
            metric: format!(
                "Capacity at the SLO (`scripts/load capacity`: every call answered, p99 ≤ {}, {} connections)",
                ms(cap.slo_p99_ns),
                cap.connections
            ),
            value: match (ours, bare) {
                (Some(o), Some(b)) if capped => format!(
                    "≥ {o:.0} calls/s; bare ceiling ≥ {b:.0} calls/s (the search stopped at --max-rate: no ratio)"
                ),
                (Some(o), Some(b)) if suspect => format!(
                    "{o:.0} calls/s; bare ceiling {b:.0} calls/s ({:.2}×: above its ceiling, so the ceiling's search met a stall; no verdict, rerun)",
                    o / b
                ),
                (Some(o), Some(b)) => format!(
                    "{o:.0} calls/s; bare ceiling {b:.0} calls/s ({:.2}×)",
                    o / b
                ),
                (Some(o), None) => format!("{o:.0} calls/s (no bare ceiling in the run)"),
                _ => "no rate passed".into(),
            },
            target: targets
                .min_capacity_ratio
                .map_or("—".into(), |m| format!("≥ {m:.2}× the bare ceiling")),
            status: match (ratio, targets.min_capacity_ratio) {
                (Some(r), Some(m)) => Status::of(r >= m),
                (None, _) | (Some(_), None) => Status::NoData,
            },
        });
    }
    executive.push(ExecRow {
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
            r / targets.min_ops_per_s,
            human_rate(targets.min_ops_per_s, None)
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

    Report {
        environment: Environment::capture(),
        baseline: baseline.map(|(n, _)| n.to_string()),
        executive,
        tests,
        bottleneck,
        missing,
        memory: run.memory.clone(),
        sustained: run.sustained.clone(),
        connections: run.connections.clone(),
        connections_bare: run.connections_bare.clone(),
        connections_http: run.connections_http.clone(),
        connections_http_bare: run.connections_http_bare.clone(),
        compare: run.compare.clone(),
        capacity: run.capacity.clone(),
        lifecycle: run.lifecycle.clone(),
        scaling: run.scaling.clone(),
    }
}

pub mod charts;
mod json;
mod markdown;
mod svg;

pub use json::bench_results;
pub use markdown::markdown;
pub use svg::svg;
