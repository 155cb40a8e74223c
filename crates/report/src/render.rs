//! The report: built from a run, the targets and optionally a baseline; written
//! as Markdown (with an SVG chart), JSON, and the `customBiggerIsBetter` file
//! that github-action-benchmark and Bencher read.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::baseline::Baseline;
use crate::compare::{Gate, Verdict, compare, human_ns};
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
                noise: None,
            };
            compare(
                std::slice::from_ref(b),
                std::slice::from_ref(&latest),
                &gate,
            )
            .into_iter()
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
                        .filter(|c| c.leaked_bytes > targets.max_leaked_bytes)
                        .map(|c| format!("{} ({} B)", c.id, c.leaked_bytes))
                        .collect();
                    block.status = Status::of(leaking.is_empty() && !m.components.is_empty());
                    executive.push(ExecRow {
                        metric: "Leaks (allocation-counted, after teardown)".into(),
                        value: if leaking.is_empty() {
                            format!("none in {} components", m.components.len())
                        } else {
                            leaking.join(", ")
                        },
                        target: format!("≤ {} B per component", targets.max_leaked_bytes),
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
                        let per = c.server_memory.bytes_per_idle_connection;
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
                        c.server_memory.bytes_per_idle_connection,
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
        bottleneck.push(format!(
            "Ceiling too weak: `{id}` runs at {:.2}× `{}`, beyond noise: that ceiling is not the library's limit.",
            c.ratio, c.ceiling
        ));
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
    }
}

/// The report as Markdown. `chart` is the file name of the SVG to embed.
pub fn markdown(r: &Report, chart: Option<&str>) -> String {
    let mut o = String::new();
    let e = &r.environment;
    let _ = writeln!(o, "# mcpbench report\n");
    let _ = writeln!(
        o,
        "Made {} at commit `{}` on {} ({} cores), {}, {}.\n",
        e.date, e.git_commit, e.cpu_model, e.cores, e.os, e.rustc
    );
    o.push_str(
        "How these figures were obtained: throughput is operations over wall-clock time (Criterion's typical time per iteration: \
         the slope estimate where there is one, else the mean, with its 95% confidence interval); latency percentiles come from every \
         sample in an HdrHistogram, with the sample count and the method beside them; ceilings are the raw library operation measured \
         in the same run. Targets come from `baselines/targets.toml`, applied as written.\n\n",
    );
    if !r.missing.is_empty() {
        let _ = writeln!(
            o,
            "**Missing from this run:** {}\n",
            r.missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    o.push_str("## Executive metrics\n\n| Metric | Value | Target | Status |\n|---|---|---|---|\n");
    for row in &r.executive {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            row.metric,
            row.value,
            row.target,
            row.status.cell()
        );
    }
    if let Some(chart) = chart {
        let _ = writeln!(
            o,
            "\n![Throughput of each test's headline bench against its ceiling, the target and the erlmcp report's published figure]({chart})\n"
        );
    }
    for (n, t) in r.tests.iter().enumerate() {
        let _ = writeln!(
            o,
            "\n## Test {}: {} — {}\n",
            n + 1,
            t.title,
            t.status.cell()
        );
        if let (Some(h), Some(ops)) = (&t.headline, t.ops_per_s) {
            let _ = writeln!(o, "Headline: `{h}` at **{}**.", human_rate(ops, None));
        }
        if let Some(seed) = t.seed_ops_per_s {
            let ours = t
                .ops_per_s
                .map_or("—".into(), |ops| format!("{:.2}× its figure", ops / seed));
            let _ = writeln!(
                o,
                "The erlmcp report published {} for this test ({ours}); {}",
                human_rate(seed, None),
                t.seed_note
                    .as_deref()
                    .unwrap_or("see docs/erlmcp-report.md")
            );
        }
        if !t.benches.is_empty() {
            o.push_str("\n| bench | throughput (95% CI) | time/iter | samples | p50 | p95 | p99 | p99.9 | max | latency samples, method | vs ceiling | vs baseline |\n");
            o.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|\n");
            for b in &t.benches {
                let m = &b.measured;
                let rate = match (b.per_second, m.per_second_ci()) {
                    (Some(r), Some((lo, hi))) => format!(
                        "{} ({}–{})",
                        human_rate(r, m.unit),
                        human_rate(lo, m.unit),
                        human_rate(hi, m.unit)
                    ),
                    _ => "—".into(),
                };
                let lat = |f: fn(&LatencyFile) -> u64| {
                    b.latency
                        .as_ref()
                        .map_or("—".into(), |l| human_ns(f(l) as f64))
                };
                let method = b.latency.as_ref().map_or("—".into(), |l| {
                    format!("{} ({}, {})", l.count, l.method, l.load)
                });
                let ceiling = b.ceiling.as_ref().map_or("—".into(), |c| {
                    let weak = if c.too_weak { ", ceiling too weak" } else { "" };
                    format!("{:.2}× (≥ {:.2}) {}{weak}", c.ratio, c.min, c.status.cell())
                });
                let unstable = b.unstable_spread_pct.map_or(String::new(), |p| {
                    format!(" (unstable: run-to-run spread {p:.0}%)")
                });
                let change = match (b.baseline_change_pct, b.baseline_verdict) {
                    (Some(c), Some(v)) => format!(
                        "{c:+.1}% {}",
                        if v == Verdict::Regression {
                            "REGRESSION"
                        } else {
                            ""
                        }
                    ),
                    (None, Some(Verdict::Added)) => "new".into(),
                    _ => "—".into(),
                };
                let _ = writeln!(
                    o,
                    "| `{}`{unstable} | {rate} | {} | {} | {} | {} | {} | {} | {} | {method} | {ceiling} | {change} |",
                    b.id,
                    human_ns(m.typical_ns),
                    m.samples,
                    lat(|l| l.p50),
                    lat(|l| l.p95),
                    lat(|l| l.p99),
                    lat(|l| l.p999),
                    lat(|l| l.max)
                );
            }
        }
        if t.name == "memory"
            && let Some(m) = &r.memory
        {
            o.push_str("\n| component | items | live before | live after teardown | leaked | bytes per item | RSS after (context) |\n|---|---:|---:|---:|---:|---|---:|\n");
            for c in &m.components {
                let per: Vec<String> = c
                    .bytes_per_item
                    .iter()
                    .map(|(k, v)| format!("{v:.0} B/{} ({k})", c.item))
                    .collect();
                let _ = writeln!(
                    o,
                    "| `{}` | {} | {} B | {} B | {} B | {} | {:.1} MiB |",
                    c.id,
                    c.items,
                    c.before.live_bytes,
                    c.after.live_bytes,
                    c.leaked_bytes,
                    per.join("; "),
                    c.after.rss_bytes as f64 / 1048576.0
                );
            }
        }
        if t.name == "sustained"
            && let Some(s) = &r.sustained
        {
            let windows: Vec<String> = s
                .windows
                .iter()
                .map(|w| {
                    format!(
                        "{:.0}–{:.0} s: {}",
                        w.start_s,
                        w.end_s,
                        human_rate(w.ops_per_s, None)
                    )
                })
                .collect();
            let l = &s.latency;
            let _ = writeln!(
                o,
                "\n{} ops in {:.1} s by {} workers after {:.0} s of warm-up: **{}**. Windows: {} (spread {:.1}%). Per-op latency ({}, {}, {} samples): p50 {}, p95 {}, p99 {}, p99.9 {}, max {}. Live bytes {} B at the start, {} B at the end (workers parked both times); RSS {:.1} → {:.1} MiB.",
                s.ops,
                s.seconds,
                s.workers,
                s.warm_up_s,
                human_rate(s.ops_per_s, None),
                windows.join(", "),
                s.window_spread_pct,
                l.method,
                l.load,
                l.count,
                human_ns(l.p50 as f64),
                human_ns(l.p95 as f64),
                human_ns(l.p99 as f64),
                human_ns(l.p999 as f64),
                human_ns(l.max as f64),
                s.memory.live_bytes_start,
                s.memory.live_bytes_end,
                s.memory.rss_bytes_start as f64 / 1048576.0,
                s.memory.rss_bytes_end as f64 / 1048576.0
            );
        }
    }
    if r.connections.is_some() || r.connections_bare.is_some() {
        connections_table(&mut o, r.connections.as_ref(), r.connections_bare.as_ref());
    }
    o.push_str("\n## Bottleneck\n\n");
    for line in &r.bottleneck {
        let _ = writeln!(o, "- {line}");
    }
    if let Some(b) = &r.baseline {
        let _ = writeln!(
            o,
            "\nChanges are against baseline `{b}` (typical time of one run each; a regression needs the threshold exceeded and the 95% intervals apart: a hint, not the gate's verdict, which `scripts/gate` reaches from interleaved rounds and instruction counts)."
        );
    }
    o
}

/// A horizontal bar chart (log scale) of each test's headline throughput, its
/// The connection load (`scripts/load connections`), ours and the bare ceiling side
/// by side, one row per figure.
fn connections_table(
    o: &mut String,
    ours: Option<&ConnectionsFile>,
    bare: Option<&ConnectionsFile>,
) {
    let _ = writeln!(
        o,
        "\n## Concurrent connections (`scripts/load connections`)\n\n| | mcpbench-server | bare ceiling (`--server bare`) |\n|---|---:|---:|"
    );
    fn ms(ns: u64) -> String {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
    type Cell = fn(&ConnectionsFile) -> String;
    let rows: [(&str, Cell); 12] = [
        ("connections requested", |c| {
            c.requested.connections.to_string()
        }),
        ("calls per connection per second, for", |c| {
            format!(
                "{} /s, {} s",
                c.requested.rate_per_connection, c.requested.duration_s
            )
        }),
        ("established / failed", |c| {
            format!("{} / {}", c.connections.established, c.connections.failed)
        }),
        ("connect time", |c| {
            format!(
                "{:.1} s ({:.0}/s)",
                c.connections.connect_s, c.connections.connect_per_s
            )
        }),
        ("answered in the run / requested", |c| {
            format!(
                "{:.0} / {:.0} msg/s",
                c.messages.achieved_per_s, c.messages.requested_per_s
            )
        }),
        ("due / sent / answered", |c| {
            format!(
                "{} / {} / {}",
                c.messages.due, c.messages.sent, c.messages.answered
            )
        }),
        ("lost (error replies + unanswered) / not sent", |c| {
            format!(
                "{} ({} + {}) / {}",
                c.messages.lost,
                c.messages.error_replies,
                c.messages.unanswered,
                c.messages.not_sent_too_late
            )
        }),
        ("connections with every call answered", |c| {
            c.per_connection.every_call_answered.to_string()
        }),
        ("latency p50 / p99 / p99.9 / max (open-loop)", |c| {
            let l = &c.latency_ns;
            format!(
                "{} / {} / {} / {}",
                ms(l.p50),
                ms(l.p99),
                ms(l.p999),
                ms(l.max)
            )
        }),
        ("latency samples (recorded at the deadline)", |c| {
            format!("{} ({})", c.latency_ns.count, c.latency_ns.censored)
        }),
        (
            "server heap per idle connection (allocation-counted)",
            |c| {
                c.server_memory
                    .bytes_per_idle_connection
                    .map_or("—".into(), |b| format!("{b:.0} B"))
            },
        ),
        ("sessions left after every connection closed", |c| {
            c.server_memory.sessions_after_close.to_string()
        }),
    ];
    for (label, cell) in rows {
        let _ = writeln!(
            o,
            "| {label} | {} | {} |",
            ours.map_or("—".into(), cell),
            bare.map_or("—".into(), cell)
        );
    }
}

/// ceiling, and the seed's figure, with the target as a line.
pub fn svg(r: &Report, targets: &Targets) -> String {
    let rows: Vec<(&TestBlock, f64, Option<f64>)> = r
        .tests
        .iter()
        .filter_map(|t| {
            let ours = t.ops_per_s?;
            let ceiling = t
                .benches
                .iter()
                .find(|b| Some(&b.id) == t.headline.as_ref())
                .and_then(|b| b.ceiling.as_ref())
                .map(|c| ours / c.ratio);
            Some((t, ours, ceiling))
        })
        .collect();
    let (left, width, row_h, top) = (230.0, 820.0, 54.0, 40.0);
    let (lo, hi) = (3.0f64, 9.0f64); // 1K/s .. 1G/s
    let x =
        |v: f64| left + (v.max(1.0).log10().clamp(lo, hi) - lo) / (hi - lo) * (width - left - 20.0);
    let height = top + row_h * rows.len() as f64 + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">Headline throughput, ops/s (log scale)</text>"#
    );
    for p in 3..=9 {
        let xp = x(10f64.powi(p));
        let _ = writeln!(
            s,
            r##"<line x1="{xp}" y1="{top}" x2="{xp}" y2="{}" stroke="#ddd"/><text x="{xp}" y="{}" text-anchor="middle" fill="#666">1e{p}</text>"##,
            height - 30.0,
            height - 15.0
        );
    }
    for (i, (t, ours, ceiling)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let _ = writeln!(
            s,
            r#"<text x="10" y="{}">{}</text>"#,
            y + 22.0,
            xml(&t.title)
        );
        let bars = [
            ("#2a7ab0", Some(*ours), "ours"),
            ("#9cc3e0", *ceiling, "ceiling"),
            ("#e0a050", t.seed_ops_per_s, "erlmcp report"),
        ];
        for (j, (color, value, label)) in bars.iter().enumerate() {
            if let Some(v) = value {
                let yb = y + 6.0 + 14.0 * j as f64;
                let _ = writeln!(
                    s,
                    r#"<rect x="{left}" y="{yb}" width="{:.1}" height="12" fill="{color}"><title>{label}: {}</title></rect><text x="{:.1}" y="{}" font-size="10">{label} {}</text>"#,
                    x(*v) - left,
                    human_rate(*v, None),
                    x(*v) + 4.0,
                    yb + 10.0,
                    human_rate(*v, None)
                );
            }
        }
    }
    let xt = x(targets.min_ops_per_s);
    let _ = writeln!(
        s,
        r##"<line x1="{xt}" y1="{top}" x2="{xt}" y2="{}" stroke="#c00" stroke-dasharray="6,4"/><text x="{xt}" y="{}" fill="#c00" text-anchor="middle">target {}</text>"##,
        height - 30.0,
        top - 6.0,
        human_rate(targets.min_ops_per_s, None)
    );
    s.push_str("</svg>\n");
    s
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Every bench with a throughput, in github-action-benchmark's
/// `customBiggerIsBetter` format (also read by Bencher).
pub fn bench_results(run: &Run) -> serde_json::Value {
    let mut out: Vec<serde_json::Value> = run
        .benches
        .iter()
        .filter_map(|(id, m)| {
            let r = m.per_second()?;
            let (lo, hi) = m.per_second_ci()?;
            let unit = if m.unit == Some(Unit::Bytes) { "bytes/s" } else { "ops/s" };
            Some(serde_json::json!({
                "name": id,
                "unit": unit,
                "value": r,
                "range": format!("{:.0}..{:.0}", lo, hi),
                "extra": format!("{} samples, typical {} per iteration ({})", m.samples, human_ns(m.typical_ns), m.estimator),
            }))
        })
        .collect();
    if let Some(s) = &run.sustained {
        out.push(serde_json::json!({"name": s.id, "unit": "ops/s", "value": s.ops_per_s, "extra": format!("{} ops in {:.1} s", s.ops, s.seconds)}));
    }
    serde_json::Value::Array(out)
}
